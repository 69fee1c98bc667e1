# shellcheck shell=bash
# Sourced by bench/guest.sh: 7. connection bundles (TEQL_MODE=connection, issue 13) on the lab
# of independent ISPs (tests/vm/isp.sh), lines 10/5/5 Mbit/s with weights 2:1:1, the LAN
# masqueraded per line by TEQL_NAT:
# - goodput of 16 LAN flows (iperf3 upload) against the lines' sum, next to multipath's;
# - the share of new connections each line takes against its weight's, over 300 LAN
#   connections and 300 of the box's own (one UDP datagram each, counted by a sink on the
#   internet host by the masquerade address it came from);
# - failover: an ISP dies (its line keeps its carrier) under 16 long-lived LAN flows while
#   `teqlctl check` runs at the shipped timer's interval with the default probe keys: the time
#   from the cut to the transaction that takes its mark out of the weights map (`nft monitor`),
#   and the flows on the other lines that idle or break;
# - what the round that changes the weights costs (the whole process and check's own part),
#   idle and under 16 flows (bench/multipath.sh mp_round).
#
# Needs tests/vm/lib.sh, netscripts.sh, isp.sh, bench/lib.sh, bench/failover.sh and
# bench/multipath.sh.

# The lines' marks: 0x5445 in the high half, the table's low 16 bits in the low half (tables
# 4201..4203 here, TEQL_TABLE=420%k), as teqlctl(8), CONNECTION BUNDLES, documents.
CN_MARK=(x 0x54451069 0x5445106a 0x5445106b)

# cn_write_office [LINE_KEY...]: the ISP lab's line files (weights 2:1:1, tables 420K, and the
# extra keys) and a connection bundle masquerading the LAN.
cn_write_office() {
    isp_write_office "2 1 1" "TEQL_TABLE=420%k" "$@" || return 1
    printf 'DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=connection\nTEQL_NAT="198.18.100.0/24"\n' \
        >"$NS_DIR/ifcfg-wan"
}

# cn_up [LINE_KEY...]: the lab at 10/5/5 Mbit/s and the bundle up; the LAN reaches the internet.
cn_up() {
    ISP_RATES="10mbit 5mbit 5mbit"
    isp_up >/dev/null 2>"$BENCH_TMP/isp.err" || { bench_fail "isp_up failed" "$BENCH_TMP/isp.err"; return 1; }
    # The lab's own masquerade (isp_up's admin table) would hide whether TEQL_NAT works: off.
    nft delete table ip adminnat 2>/dev/null
    cn_write_office "$@" || return 1
    "$TEQLCTL" up wan >/dev/null 2>"$BENCH_TMP/up.err" || { bench_fail "teqlctl up wan failed" "$BENCH_TMP/up.err"; return 1; }
    ip netns exec lan ping -c 2 -W 2 "$ISP_HOST" >/dev/null 2>&1 || bench_fail "the LAN does not reach the internet"
}

# cn_shares KEY NS N: N new connections from NS ("-": the box itself) into the sink; KEY gets
# each line's count ("N1 N2 N3", by masquerade or source address) and the number sent.
cn_shares() {
    local key=$1 ns=$2 n=$3 k i got counts=()
    sink_start || return 1
    udp_flows "$ns" "$ISP_HOST" "$n" || { kill "$SINK"; bench_fail "udp_flows $ns failed"; return 1; }
    # Every datagram that left arrives within a second or so; a few may be lost to full queues.
    for ((i = 0; i < 50; i++)); do
        got=$(wc -l <"$SINK_LOG")
        [ "$got" -ge "$n" ] && break
        sleep 0.2
    done
    kill "$SINK" 2>/dev/null
    wait "$SINK" 2>/dev/null
    for k in 1 2 3; do counts+=("$(sink_count "${ISP_ADDR[$k]}")"); done
    echo "    $key: ${counts[*]} of $n (eth1 eth2 eth3)"
    put "$key.counts" "${counts[@]}"
    put "$key.sent" "$n"
}

# cn_goodput: 16 LAN flows through the bundle, then the shares of new connections.
cn_goodput() {
    cn_up || { isp_down >/dev/null 2>&1; return 1; }
    put "connection.rates_mbit" "10 5 5"
    put "connection.weights" "2 1 1"
    local ok=0
    mp_iperf connection.p16 16 || ok=1
    [ "$ok" = 0 ] && { cn_shares connection.shares.lan lan "$CN_CONNECTIONS" || ok=1; }
    [ "$ok" = 0 ] && { cn_shares connection.shares.box - "$CN_CONNECTIONS" || ok=1; }
    isp_down >/dev/null 2>&1
    ISP_RATES=
    return "$ok"
}

# cn_without_mark LINE MARK: an `nft monitor` line (after its time stamp) that takes MARK out of
# the weights map: the map-only transaction of a check round deletes every element and adds
# the new ones.
cn_without_mark() {
    [[ "$1" == "delete element inet teqlctl weights "* && "$1" == *"$2"* ]]
}

# cn_out T_CUT: when (us) the transaction that took eth2's mark out of the weights map ran after
# T_CUT, read from the caller's stamped `nft monitor` log (mon_log); nothing if none within 15 s.
cn_out() {
    local i ts line
    for ((i = 0; i < 300; i++)); do
        while read -r ts line; do
            if [ "$ts" -ge "$1" ] && cn_without_mark "$line" "${CN_MARK[2]}"; then
                echo "$ts"
                return 0
            fi
        done <"$mon_log"
        nap 0.05
    done
}

# cn_back: eth2's mark is in the weights map again.
cn_back() {
    nft list map inet teqlctl weights 2>/dev/null | grep -q "${CN_MARK[2]}"
}

# cn_failover CUTS: isp_failover (bench/multipath.sh) for a connection bundle: eth2's mark out of
# the weights map.
cn_failover() {
    local cuts=$1 nhid mon rc bin=$VM_STATE/failover-sbin/teqlctl mon_log=$BENCH_OUT/connection.failover.nftmon
    # The default probe keys: only the target.
    cn_up "TEQL_PROBE=$ISP_HOST" || { isp_down >/dev/null 2>&1; return 1; }
    mkdir -p "${bin%/*}" && cp "$TEQLCTL" "$bin" || return 1
    failover_nap_init || return 1
    nhid=$(ip -j nexthop show dev eth2 | jq -r '.[0].id // empty')
    [ -n "$nhid" ] || bench_fail "eth2 has no nexthop after teqlctl up wan" || return 1
    rm -rf /run/teqlctl/health.json
    # nft monitor prints no time: each line is stamped as it is read (bash's clock, no exec).
    (stdbuf -oL nft monitor 2>&1 | while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"; done) >"$mon_log" &
    mon=$!
    isp_failover connection.failover "$cuts" "$bin" "$nhid" cn_out cn_back "the weights map"
    rc=$?
    kill "$mon" 2>/dev/null
    pkill -f '^nft monitor$' 2>/dev/null
    wait "$mon" 2>/dev/null
    isp_down >/dev/null 2>&1
    ISP_RATES=
    return "$rc"
}
