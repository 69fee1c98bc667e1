# shellcheck shell=bash
# Sourced by bench/guest.sh: 6. multipath bundles (issue 12) on the lab of independent ISPs
# (tests/vm/isp.sh): goodput of LAN flows through the admin's masquerade against the sum of
# the lines, for 1, 4 and 16 flows, equal and unequal lines (bench/guest.sh measures TEQL on
# lines of the same rates next to it); and failover: an ISP dies (its line keeps its carrier)
# under 16 long-lived LAN flows while `teqlctl check` runs at the shipped timer's interval
# with the default probe keys: the time from the cut to the line's removal from the group,
# and how many flows on the other lines idle a whole second or break (bench/multipath.sh mp_stalls).
#
# Needs tests/vm/lib.sh, netscripts.sh, isp.sh, bench/lib.sh and bench/failover.sh (nap).

MP_FLOWS="$repo/tests/vm/flows.py"

# mp_iperf KEY FLOWS: one iperf3 upload from the LAN host to the internet host through the
# bundle; figures under KEY (bps, the lines the server saw the flows come from, tries).
#
# Which line a flow takes is a hash of its ports. With 16 flows over 3 lines the hash leaves a
# line without a flow about once in 50 runs (weights 2:1:1: 2 x 0.75^16), and the figure is
# then that of two lines whatever teqlctl does; such a run is repeated (at most twice) and the
# runs it took are recorded (KEY.tries), so the report says how often it happened. With 1 or 4
# flows missing a line is the normal case and the run stands as it came.
mp_iperf() {
    local key=$1 flows=$2 server json srv bps try tries=1
    [ "$flows" -ge 16 ] && tries=3
    for ((try = 1; try <= tries; try++)); do
        ip netns exec inet timeout $((IPERF_SECS + IPERF_OMIT + 40)) iperf3 -s -1 -J -B "$ISP_HOST" \
            >"$BENCH_TMP/mp-srv.json" 2>&1 &
        server=$!
        wait_for ip netns exec inet sh -c "ss -Hltn 'sport = :5201' | grep -q ." || bench_fail "iperf3 server did not listen" || return 1
        json=$(ip netns exec lan timeout $((IPERF_SECS + IPERF_OMIT + 30)) iperf3 -c "$ISP_HOST" -t "$IPERF_SECS" \
            -O "$IPERF_OMIT" -P "$flows" -J 2>&1)
        wait "$server" 2>/dev/null
        printf '%s\n' "$json" >"$BENCH_TMP/iperf.json"
        bps=$(jq -re '.end.sum_received.bits_per_second | select(. > 0) | floor' <<<"$json" 2>/dev/null) \
            || bench_fail "iperf3 gave no result" "$BENCH_TMP/iperf.json" || return 1
        srv=$(jq -r '[.start.connected[].remote_host] | unique | length' "$BENCH_TMP/mp-srv.json" 2>/dev/null)
        echo "    $((bps / 1000)) kbit/s over ${srv:-?} lines"
        [ "${srv:-0}" -ge 3 ] && break
        [ "$try" -lt "$tries" ] && echo "    the hash left a line without a flow: once more"
    done
    put "$key.bps" "$bps"
    put "$key.retransmits" "$(jq -r '.end.sum_sent.retransmits // 0' <<<"$json" 2>/dev/null)"
    put "$key.lines_used" "${srv:-0}"
    put "$key.tries" "$((try > tries ? tries : try))"
}

# mp_goodput_case NAME "RATE..." "WEIGHT...": the ISP lab with these rates (Mbit/s of eth1..3),
# the bundle up with these weights, measured with each of MP_FLOWS_LIST.
mp_goodput_case() {
    local name=$1 rates=$2 weights=$3 r names=()
    for r in "${MP_FLOWS_LIST[@]}"; do names+=("multipath.$name.p$r"); done
    echo "=== [guest ${SECONDS} s] 6. multipath goodput: $name, lines $rates Mbit/s, weights $weights"
    put "multipath.$name.rates_mbit" "$rates"
    put "multipath.$name.weights" "$weights"
    ISP_RATES=$(for r in $rates; do printf '%smbit ' "$r"; done)
    if ! isp_up >/dev/null 2>"$BENCH_TMP/isp.err" || ! isp_write_office "$weights" \
        || ! "$TEQLCTL" up wan >/dev/null 2>"$BENCH_TMP/up.err" || ! ip netns exec lan ping -c 2 -W 2 "$ISP_HOST" >/dev/null 2>&1; then
        head -n 5 "$BENCH_TMP/isp.err" "$BENCH_TMP/up.err" 2>/dev/null | sed 's/^/    | /'
        not_measured "${names[@]}" "the ISP lab or teqlctl up wan failed"
        isp_down >/dev/null 2>&1
        return
    fi
    put "multipath.$name.hash" "$(cat /proc/sys/net/ipv4/fib_multipath_hash_policy) $(cat /proc/sys/net/ipv4/fib_multipath_hash_fields 2>/dev/null)"
    for r in "${MP_FLOWS_LIST[@]}"; do
        measure "multipath.$name.p$r" mp_iperf "multipath.$name.p$r" "$r"
    done
    isp_down >/dev/null 2>&1
    ISP_RATES=
}

# group_without EVENT NHID: an `ip -ts monitor nexthop` event of a group that does not hold
# nexthop NHID. `ip` prints a member's weight only when it is not 1:
# "id 31234 group 20011,2/20012/20013 type resilient buckets 128 ...".
group_without() {
    [[ "$1" == *" group "* ]] || return 1
    local members=${1#* group }
    members=${members%% *}
    [[ "/$members/" != *"/$2/"* && "/$members/" != *"/$2,"* ]]
}

# mp_stalls RUN_JSON PEERS SINCE_US DEAD_ADDR: "FLOWS_ON_OTHERS IDLE_ON_OTHERS BROKEN_ON_OTHERS
# FLOWS_ON_DEAD" for a tests/vm/flows.py run. A flow on another line is idle when a whole
# second from the cut on brought it no byte (a retransmission timeout does that now and then
# under full queues); broken when after the cut it got less than a quarter of its rate before,
# or nothing in the run's last 3 seconds (as t-73 judges it).
mp_stalls() {
    python3 "$MP_FLOWS" report "$1" "$2" "$(awk -v t="$3" 'BEGIN { printf "%.6f", t / 1e6 }')" \
        | awk -v dead="$4" '
            $1 == dead { d++; next }
            { o++; if ($3 > 0) i++; if ($5 < 0.25 * $4 || $6 == 0) b++ }
            END { print o + 0, i + 0, b + 0, d + 0 }'
}

# mp_in_group NHID: whether nexthop NHID is a member of a group.
mp_in_group() {
    ip -j nexthop show | jq -e --argjson id "$1" '.[] | select(.group != null) | .group[] | select(.id == $id)' >/dev/null
}

# mp_rejoin NHID BIN [STATE_DIR]: rounds of `BIN check` (on STATE_DIR's health state, else the
# default one) until nexthop NHID is in a group again, 20 at the most.
mp_rejoin() {
    local nhid=$1 bin=$2 st=${3:-} i
    for ((i = 0; i < 20; i++)); do
        mp_in_group "$nhid" && return 0
        TEQLCTL_STATE_DIR=${st:-/run/teqlctl} "$bin" check 2>/dev/null
        nap 0.5
    done
    mp_in_group "$nhid"
}

# mp_round idle|flows BIN NHID [KEY]: what the round that takes a dead line out costs, the whole
# process and check's own part (`check -v`), with the guest idle or under 16 LAN flows (the
# part of the failover time that is not the timer's interval). With the timer stopped: eth2 in
# the group again, ISP 2 cut, then the timed round on a copy of the state, which must take
# eth2 out (its 2 probes fail, the second made at once); then ISP 2 back and eth2 with it.
mp_round() {
    local load=$1 bin=$2 nhid=$3 key=${4:-multipath.failover} t0 whole inner flows= st=/run/teqlctl-timing
    mp_rejoin "$nhid" "$bin" || bench_fail "eth2 did not come back before the $load round" || return 1
    if [ "$load" = flows ]; then
        ip netns exec lan nice -n 19 python3 "$MP_FLOWS" run "$ISP_HOST" 5300 16 20 "$BENCH_TMP/flows.round.json" &
        flows=$!
        sleep 4
    fi
    rm -rf "$st" && cp -r /run/teqlctl "$st" || return 1
    isp_cut 2
    t0=${EPOCHREALTIME/./}
    inner=$(TEQLCTL_STATE_DIR=$st "$bin" -v check 2>/dev/null | sed -n 's/^round [0-9]*: \([0-9]*\) ms.*/\1/p')
    whole=$(((${EPOCHREALTIME/./} - t0) / 1000))
    local out=1
    mp_in_group "$nhid" && out=0
    isp_mend 2
    mp_rejoin "$nhid" "$bin" "$st"
    [ -z "$flows" ] || wait "$flows"
    [ "$out" = 1 ] || bench_fail "the failing round ($load) did not take eth2 out" || return 1
    echo "    the round that takes eth2 out, guest $load: $whole ms (check's own part $inner ms)"
    put "$key.round_${load}_ms" "$whole"
    put "$key.round_${load}_inner_ms" "$inner"
}

# isp_failover KEY CUTS BIN NHID OUT_FN BACK_FN WHAT: the failover measurement of a bundle `wan`
# on the lab of independent ISPs, lines 10/5/5 Mbit/s, already up with the default probe keys
# (sections 6 and 7): a server for the LAN flows, `BIN check` at the shipped timer's interval,
# then CUTS cuts of ISP 2's uplink, each under 16 LAN flows and at a random point of the
# timer's interval; between cuts the uplink comes back and check puts eth2 back. `OUT_FN T_CUT`
# waits (15 s at most) for eth2 to be out and prints when (us) it left; `BACK_FN` succeeds once
# it is back; WHAT names what it leaves. Then what the round that takes it out costs (mp_round,
# NHID its nexthop) and the figures, all under KEY.
isp_failover() {
    local key=$1 cuts=$2 bin=$3 nhid=$4 out_fn=$5 back_fn=$6 what=$7 cut interval timer server flows t_cut t_out i figs
    local out=() cut_at=() others=0 idle=0 broken=0 on_dead=0
    # The traffic's two ends (flows.py) stand for other machines, the LAN host and a server on
    # the internet; here they share the guest's emulated CPUs with the box, and a python
    # process busy at 20 Mbit/s under TCG takes CPU a real box never gives them. Niced, they
    # leave the box's own work (forwarding, shaping, check) first in line, as on real hardware.
    : >"$BENCH_TMP/peers"
    ip netns exec inet nice -n 19 python3 "$MP_FLOWS" serve "$ISP_HOST" 5300 "$BENCH_TMP/peers" &
    server=$!
    if ! wait_for -t 30 ip netns exec inet sh -c "ss -Hltn 'sport = :5300' | grep -q ."; then
        kill "$server" 2>/dev/null
        bench_fail "flows.py did not listen"
        return 1
    fi
    interval=$(sed -n 's/^OnUnitActiveSec=\([0-9]*\)s$/\1/p' "$repo/distro/systemd/teqlctl-check.timer")
    put "$key.interval_s" "$interval"
    check_timer "$bin" "$interval" &
    timer=$!
    sleep 3
    for ((cut = 1; cut <= cuts; cut++)); do
        ip netns exec lan nice -n 19 python3 "$MP_FLOWS" run "$ISP_HOST" 5300 16 "$MP_FAILOVER_SECS" "$BENCH_TMP/$key.flows.$cut.json" &
        flows=$!
        # A random point of the timer's interval, after 3 s of flows.
        nap "3.$(printf '%03d' $((RANDOM % 1000)))"
        t_cut=${EPOCHREALTIME/./}
        isp_cut 2
        t_out=$("$out_fn" "$t_cut")
        wait "$flows"
        if [ -z "$t_out" ]; then
            echo "$key: cut $cut: eth2 did not leave $what" >&2
            break
        fi
        out+=($(((t_out - t_cut) / 1000)))
        cut_at+=("$t_cut")
        read -r -a figs <<<"$(mp_stalls "$BENCH_TMP/$key.flows.$cut.json" "$BENCH_TMP/peers" "$t_cut" "${ISP_ADDR[2]}")"
        others=$((others + figs[0])) idle=$((idle + figs[1])) broken=$((broken + figs[2])) on_dead=$((on_dead + figs[3]))
        echo "    cut $cut: out of $what ${out[-1]} ms after the cut; flows on the other lines ${figs[0]}, idle a second ${figs[1]}, broken ${figs[2]}; on eth2 ${figs[3]}"
        isp_mend 2
        [ "$cut" -lt "$cuts" ] || break
        for ((i = 0; i < 300; i++)); do
            "$back_fn" && break
            nap 0.1
        done
        sleep 1
    done
    kill "$timer" 2>/dev/null
    wait "$timer" 2>/dev/null
    if [ "${#out[@]}" -eq "$cuts" ]; then
        mp_round idle "$bin" "$nhid" "$key" || out=()
        mp_round flows "$bin" "$nhid" "$key" || out=()
    fi
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    [ "${#out[@]}" -eq "$cuts" ] || return 1
    put "$key.cuts" "$cuts"
    put "$key.out_ms" "${out[@]}"
    put "$key.cut_us" "${cut_at[@]}"
    put "$key.flows_others" "$others"
    put "$key.idle_others" "$idle"
    put "$key.broken_others" "$broken"
    put "$key.flows_dead" "$on_dead"
}

# mp_out T_CUT: when (us) eth2's nexthop (the caller's nhid) left the group after T_CUT: seen by
# polling, then read from the caller's `ip -ts monitor nexthop` log (mon_log) when that saw it
# earlier; nothing if it did not leave within 15 s.
mp_out() {
    local i t_out= t_mon
    for ((i = 0; i < 300; i++)); do
        if ! mp_in_group "$nhid"; then
            t_out=${EPOCHREALTIME/./}
            break
        fi
        nap 0.05
    done
    [ -n "$t_out" ] || return 0
    t_mon=$(monitor_time "$mon_log" "$1" group_without "$nhid")
    [ -n "$t_mon" ] && [ "$t_mon" -le "$t_out" ] && t_out=$t_mon
    echo "$t_out"
}

# mp_back: eth2's nexthop (the caller's nhid) is in the group again.
mp_back() {
    mp_in_group "$nhid"
}

# mp_failover CUTS: isp_failover for a multipath bundle: eth2 out of the nexthop group.
mp_failover() {
    local cuts=$1 nhid mon rc bin=$VM_STATE/failover-sbin/teqlctl mon_log=$BENCH_OUT/multipath.failover.nhmon
    ISP_RATES="10mbit 5mbit 5mbit"
    isp_up >/dev/null || return 1
    # The default probe keys: only the target.
    isp_write_office "2 1 1" "TEQL_PROBE=$ISP_HOST" || return 1
    mkdir -p "${bin%/*}" && cp "$TEQLCTL" "$bin" || return 1
    failover_nap_init || return 1
    "$bin" up wan >/dev/null || return 1
    nhid=$(ip -j nexthop show dev eth2 | jq -r '.[0].id // empty')
    [ -n "$nhid" ] || bench_fail "eth2 has no nexthop after teqlctl up wan" || return 1
    # The hooks' state directory, which check shares with them.
    rm -rf /run/teqlctl
    stdbuf -oL ip -ts monitor nexthop >"$mon_log" 2>&1 &
    mon=$!
    isp_failover multipath.failover "$cuts" "$bin" "$nhid" mp_out mp_back "the group"
    rc=$?
    kill "$mon" 2>/dev/null
    wait "$mon" 2>/dev/null
    isp_down >/dev/null 2>&1
    ISP_RATES=
    return "$rc"
}
