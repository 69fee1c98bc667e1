#!/usr/bin/env bash
# TEQL over per-line GRE tunnels to an aggregator (issue 14, points 1, 2 and 5), network-scripts
# on both ends: the office's ISP lines are a multipath bundle without a default route
# (TEQL_DEFROUTE=no) whose per-line rules keep each tunnel's outer packets on its own line;
# keyed GRE tunnels tl1/tl2 (ifcfg TYPE=GRE) are lines of teql0 on the office and of teql1 on
# the aggregator, each configured by its own files. One TCP stream from the office LAN to a
# host behind the aggregator gets at least 0.85 of the two 10 Mbit/s lines' sum, with
# even per-tunnel counters; one tunnel alone gives at most about half. Tunnels that would loop
# through teql0, leave by another ISP, or are Ethernet-over-GRE are refused with the reason
# and leave the kernel as it was. `teqlctl check` on each end under the shipped timer's
# interval: ISP 2 dies under the stream, tl2 leaves both bundles in the round that finds it dead
# while the stream goes on over tl1, and comes back when the ISP recovers; the first 50 new
# connections after that comeback are not reset (the outage's ICMP errors are cleared from the
# tunnel first: issue 26, point 13). ifdown of a tunnel and of the bundle, on both ends.
# vm-timeout: 540
# vm-cost: 181
# vm-alone: yes (one stream against the sum)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=tunnel.sh
. "$(dirname "${BASH_SOURCE[0]}")/tunnel.sh"

ISP_RATES="10mbit 10mbit 10mbit"
SUM_BPS=20000000
check "the lab with an aggregator" tun_up
check "the office's files" tun_write_office
# The aggregator's files come from the office's: its tunnels back, teql1, TEQL_ROUTE, TEQL_NAT.
check "the aggregator's files, by teqlctl peer-config from the office's" tun_peer_config ifcfg "$AGG_ETC"
info "$(for f in "$AGG_ETC"/ifcfg-*; do echo "== $f"; cat "$f"; done)"
check_eq "peer-config: tl1 back to eth1's address, key 1" "198.18.0.2 198.51.100.10 1 teql1" \
    "$(. "$AGG_ETC/ifcfg-tl1" && echo "$MY_OUTER_IPADDR $PEER_OUTER_IPADDR $KEY $TEQL_MASTER")"
out=$(tun_peer_config ifcfg "$AGG_ETC" 2>&1)
check "peer-config never writes over a file that is there" test $? -ne 0
info "$out"
ln -sf "$TEQLCTL" "$AGG_ETC/ifup-teql" && ln -sf "$TEQLCTL" "$AGG_ETC/ifdown-teql"
# The far host has no route back to the office LAN: only the aggregator's NAT lets it answer.
ip -n far route del default
check "link the hooks" ns_link_hooks

# --- the ISP lines: split access without a default route -------------------------------------
for k in 1 2; do check "ifup-local eth$k" ns_hook ifup-local "eth$k"; done
check_eq "TEQL_DEFROUTE=no: wan installs no default route" "[]" "$(ip -j route show default)"
for k in 1 2; do
    check_eq "eth$k's rule from ${ISP_ADDR[$k]} is in place" 1 \
        "$(ip -j rule show | jq --arg a "${ISP_ADDR[$k]}" '[.[] | select(.src == $a)] | length')"
done

# --- the office's tunnels: lines of teql0 -----------------------------------------------------
for k in 1 2; do check "office: ifup tl$k" tun_ifup box "$k"; done
for k in 1 2; do
    check_eq "office: tl$k's root qdisc is teql0" teql0 "$(root_qdisc_kind "tl$k")"
    # No address of its own: loose filtering would drop every packet it receives.
    check_eq "office: tl$k's rp_filter is 0" 0 "$(rp_filter "tl$k")"
    check_eq "office: tl$k's outer packets leave by eth$k" "eth$k" \
        "$(ip -j route get "$AGG_ADDR" from "${TUN_LOCAL[$k]}" | jq -r '.[0].dev')"
done
json=$(ip -j link show teql0)
check_json "office: teql0 is up" '.[0].flags | index("UP") != null' "$json"
# Keyed GRE over a 1500-byte line: 1500 - 20 (outer IPv4) - 8 (GRE with key).
check_json "office: teql0's MTU follows the tunnels' (1472)" '.[0].mtu == 1472' "$json"
check_eq "office: teql0 has 198.18.200.2/30" "198.18.200.2/30" \
    "$(ip -j -4 addr show dev teql0 | jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")')"
check_json "office: the one default route is via 198.18.200.1 dev teql0" \
    'length == 1 and .[0].gateway == "198.18.200.1" and .[0].dev == "teql0"' "$(ip -j route show default)"

# --- the aggregator's tunnels: lines of teql1 -------------------------------------------------
for k in 1 2; do check "aggregator: ifup tl$k" tun_ifup agg "$k"; done
for k in 1 2; do
    check_eq "aggregator: tl$k's root qdisc is teql1" teql1 \
        "$(tc -n agg -j qdisc show dev "tl$k" root | jq -r '.[0].kind')"
done
check_eq "aggregator: teql1 has 198.18.200.1/30" "198.18.200.1/30" \
    "$(ip -n agg -j -4 addr show dev teql1 | jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")')"
check_eq "aggregator: the office LAN routed through teql1, and masqueraded (TEQL_ROUTE, TEQL_NAT)" "1 1" \
    "$(tun_agg_routing)"
check_eq "aggregator: the route is teqlctl's own, from teql1's address" "teql1 198.18.200.1" \
    "$(ip -n agg -j route show 198.18.100.0/24 | jq -r '.[0] | "\(.dev) \(.prefsrc)"')"
out=$(on agg "$TEQLCTL" --dry-run up teql1)
check_eq "aggregator: a second up plans nothing" "" "$(grep -v '^# ' <<<"$out")"
check "... and says so" grep -qx '# nothing to change' <<<"$out"
check "the office LAN reaches the host behind the aggregator, which has no route back (20 pings, no loss)" \
    ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

# --- one TCP stream gets the sum ------------------------------------------------------------
# stream NAME ARGS...: one TCP stream from the LAN host to the far host for 10 s (2 s of slow
# start left out); prints the receiver's Mbit/s and the fraction of the sum.
stream() {
    local name=$1 srv bps
    shift
    ip netns exec far timeout 60 iperf3 -s -1 -B "$FAR_HOST" >/dev/null 2>&1 &
    srv=$!
    wait_for ip netns exec far sh -c "ss -Hltn 'sport = :5201' | grep -q ." || return 1
    ip netns exec lan timeout 50 iperf3 -c "$FAR_HOST" -t 10 -O 2 -J "$@" >"$VM_STATE/$name.json" 2>&1
    wait "$srv"
    bps=$(jq -r '.end.sum_received.bits_per_second // 0' "$VM_STATE/$name.json")
    awk -v b="$bps" -v s="$SUM_BPS" 'BEGIN { printf "%.2f Mbit/s, %.3f of the sum\n", b / 1e6, b / s }'
    echo "$bps" >"$VM_STATE/$name.bps"
}
tx() { cat "/sys/class/net/$1/statistics/tx_packets"; }
at_least() { awk -v b="$(cat "$VM_STATE/$1.bps")" -v s="$SUM_BPS" -v f="$2" 'BEGIN { exit !(b >= f * s) }'; }
at_most() { awk -v b="$(cat "$VM_STATE/$1.bps")" -v s="$SUM_BPS" -v f="$2" 'BEGIN { exit !(b <= f * s) }'; }

b1=$(tx tl1) b2=$(tx tl2) e1=$(tx eth1) e2=$(tx eth2)
info "upload over 2 tunnels: $(stream up2)"
d1=$(($(tx tl1) - b1)) d2=$(($(tx tl2) - b2)) o1=$(($(tx eth1) - e1)) o2=$(($(tx eth2) - e2))
check "one stream up over 2 tunnelled 10 Mbit/s lines: at least 0.85 of the sum" at_least up2 0.85
info "packets sent: tl1 $d1, tl2 $d2; eth1 $o1, eth2 $o2"
check "per-tunnel counters even (tl1 $d1, tl2 $d2: within 10% of the mean)" \
    test $((2 * (d1 > d2 ? d1 - d2 : d2 - d1) * 10)) -le $((d1 + d2))
check "tl1's outer packets left by eth1 ($o1 >= $d1)" test "$o1" -ge "$d1"
check "tl2's outer packets left by eth2 ($o2 >= $d2)" test "$o2" -ge "$d2"

# --- refused: a loop, another ISP, Ethernet over GRE; nothing changes -------------------------
before=$(kernel_snapshot)
# From the LAN side's address there is no per-line rule: the outer packets would take the
# default route, through teql0 itself.
ip tunnel add tlx mode gre local 198.18.100.1 remote "$AGG_ADDR" key 9 && ip link set tlx up
out=$("$TEQLCTL" attach --master teql0 tlx 2>&1)
check "a tunnel whose outer packets would loop through teql0 is refused" test $? -ne 0
check "... saying so" grep -q "tlx: its outer packets from 198.18.100.1 to $AGG_ADDR would leave by teql0, through a teql bundle: a loop" <<<"$out"
ip tunnel del tlx
# Bound to the other line's device: its packets would leave by eth2 with eth1's address.
ip tunnel add tlx mode gre local "${TUN_LOCAL[1]}" remote "$AGG_ADDR" key 9 dev eth2 && ip link set tlx up
out=$("$TEQLCTL" attach --master teql0 tlx 2>&1)
check "a tunnel whose outer packets would leave by another ISP is refused" test $? -ne 0
check "... saying so" grep -q "tlx: its outer packets from ${TUN_LOCAL[1]} to $AGG_ADDR would leave by eth2, not by eth1" <<<"$out"
ip tunnel del tlx
ip link add gtx type gretap local "${TUN_LOCAL[1]}" remote "$AGG_ADDR" key 9 && ip link set gtx up
out=$("$TEQLCTL" attach --master teql0 gtx 2>&1)
check "an Ethernet-over-GRE tunnel is refused" test $? -ne 0
check "... with the reason" grep -q "gtx is a gretap tunnel: Ethernet-over-GRE tunnels as teql lines crash kernels" <<<"$out"
ip link del gtx
check_eq "the refusals changed nothing" "$before" "$(kernel_snapshot)"

# --- health: a dead ISP takes its tunnel out on both ends, in the round that finds it ----------
# `teqlctl check` every second on each end (start to start, as the shipped timer's
# OnUnitActiveSec), each with its own files and state. A tunnel line is probed on the line under
# it: echo requests from its local address to the far end's outer address, by its ISP.
check_loop() {
    local where=$1 log=$2 t0 left
    while [ ! -e "$VM_STATE/rounds.stop" ]; do
        t0=${EPOCHREALTIME/./}
        echo "round $EPOCHREALTIME" >>"$log"
        on "$where" "$TEQLCTL" check >>"$log" 2>&1
        left=$((1000000 - (${EPOCHREALTIME/./} - t0)))
        [ "$left" -gt 0 ] && sleep "$(printf '0.%06d' "$left")"
    done
}
OFFICE_LOG=$VM_STATE/office-rounds.log AGG_LOG=$VM_STATE/agg-rounds.log
rm -f "$VM_STATE/rounds.stop"
: >"$OFFICE_LOG"
: >"$AGG_LOG"
check_loop box "$OFFICE_LOG" &
office_loop=$!
check_loop agg "$AGG_LOG" &
agg_loop=$!
sleep 4
check_json "office: both tunnels healthy under the timer" \
    '[.masters[0].lines[] | .health.state] == ["healthy", "healthy"]' "$("$TEQLCTL" status --json teql0)"
check_json "aggregator: both tunnels healthy under the timer" \
    '[.masters[0].lines[] | .health.state] == ["healthy", "healthy"]' "$(on agg "$TEQLCTL" status --json teql1)"

# taken_out_in LOG LINE MASTER CUT: how many rounds began after epoch CUT up to the one that took
# LINE out (its message), or nothing if none did.
taken_out_in() {
    awk -v cut="$4" -v msg="$2 ($3): taken out" '/^round / { n += ($2 > cut) } index($0, msg) { print n; exit }' "$1"
}
# A stream from the LAN for 24 s; ISP 2 dies 8 s in.
ip netns exec far timeout 80 iperf3 -s -1 -B "$FAR_HOST" >/dev/null 2>&1 &
wait_for ip netns exec far sh -c "ss -Hltn 'sport = :5201' | grep -q ."
ip netns exec lan timeout 70 iperf3 -c "$FAR_HOST" -t 24 -i 1 -J >"$VM_STATE/cut.json" 2>&1 &
stream_pid=$!
sleep 8
t_cut=$EPOCHREALTIME
isp_cut 2
wait_for -t 20 sh -c "[ \"\$(tc -j qdisc show dev tl2 root | jq -r '.[0].kind')\" != teql0 ]"
t_office=$EPOCHREALTIME
wait_for -t 20 sh -c "[ \"\$(tc -n agg -j qdisc show dev tl2 root | jq -r '.[0].kind')\" != teql1 ]"
t_agg=$EPOCHREALTIME
info "ISP 2 cut: tl2 out of teql0 after $(awk -v a="$t_cut" -v b="$t_office" 'BEGIN { printf "%.1f", b - a }') s, of teql1 after $(awk -v a="$t_cut" -v b="$t_agg" 'BEGIN { printf "%.1f", b - a }') s (polled)"
n=$(taken_out_in "$OFFICE_LOG" tl2 teql0 "$t_cut")
check "office: tl2 taken out by the first round begun after the cut, or the one under way (${n:-none})" test -n "$n" -a "${n:-9}" -le 1
n=$(taken_out_in "$AGG_LOG" tl2 teql1 "$t_cut")
check "aggregator: tl2 taken out likewise (${n:-none})" test -n "$n" -a "${n:-9}" -le 1
check_eq "office: tl1 stays" teql0 "$(root_qdisc_kind tl1)"
wait "$stream_pid"
# For the first connections after the comeback (below): listening before anything crosses the
# tunnels again.
ip netns exec far python3 "$VM_DIR/conns.py" serve "$FAR_HOST" 7777 >/dev/null 2>&1 &
conns_srv=$!
# The last 8 of 24 intervals run over tl1 alone: a line's worth, about half the sum.
check_json "the stream goes on over tl1 (its last 8 s above 0.35 of the sum)" \
    "([.intervals[-8:][].sum.bits_per_second] | add / length) > 0.35 * $SUM_BPS" "$(cat "$VM_STATE/cut.json")"
info "the stream's last 8 s: $(jq -r '[.intervals[-8:][].sum.bits_per_second] | add / length / 1e6 | . * 100 | round / 100' "$VM_STATE/cut.json") Mbit/s"
isp_mend 2
check "office: tl2 back in teql0 when ISP 2 recovers" \
    wait_for -t 20 sh -c "[ \"\$(tc -j qdisc show dev tl2 root | jq -r '.[0].kind')\" = teql0 ]"
check "aggregator: tl2 back in teql1" \
    wait_for -t 20 sh -c "[ \"\$(tc -n agg -j qdisc show dev tl2 root | jq -r '.[0].kind')\" = teql1 ]"
check "... said" grep -q "tl2 (teql0): put back" "$OFFICE_LOG"
# The first connections after the comeback (issue 26, point 13). While ISP 2 was dead its
# routers answered tl2's outer packets with ICMP errors (the internet host's "host unreachable"
# for the aggregator's, once its ARP for ISP 2 gave up, after tl2 had left teql1), and a GRE
# tunnel answers, for 30 s after such an error, as many of its next packets as it got errors
# with a "host unreachable" of its own to their sender: the far host, told so of its SYN-ACK,
# dropped the half-open connection and reset the client's ACK. teqlctl spends those errors
# before it puts a tunnel back; these 50 connections are the first traffic through tl2 since.
icmp_in() { ip netns exec far nstat -asz IcmpInDestUnreachs | awk '$1 == "IcmpInDestUnreachs" { print $2 }'; }
unreach_before=$(icmp_in)
wait_for ip netns exec far sh -c "ss -Hltn 'sport = :7777' | grep -q ."
out=$(ip netns exec lan python3 "$VM_DIR/conns.py" run "$FAR_HOST" 7777 50 2>&1)
info "$out"
check "50 new connections right after the comeback: none reset" grep -qx "50 connections, 0 failed" <<<"$out"
check_eq "... and the far host was told of no unreachable host meanwhile" 0 "$(($(icmp_in) - unreach_before))"
check "the outage's ICMP errors were cleared from tl2 before it went back (on either end)" \
    grep -q "tl2 (teql[01]): [0-9]* ICMP error(s) from its outage cleared" "$OFFICE_LOG" "$AGG_LOG"
info "$(grep -h "ICMP error(s) from its outage cleared" "$OFFICE_LOG" "$AGG_LOG")"
kill "$conns_srv" 2>/dev/null
wait "$conns_srv" 2>/dev/null
touch "$VM_STATE/rounds.stop"
wait "$office_loop" "$agg_loop"
check "both tunnels after the recovery: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

# --- ifdown of one tunnel on both ends: the stream goes on over the other ---------------------
check "office: ifdown tl2" tun_ifdown box 2
check_eq "office: teql0 keeps tl1" teql0 "$(root_qdisc_kind tl1)"
check "aggregator: ifdown tl2" tun_ifdown agg 2
check "one tunnel left: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"
info "upload over 1 tunnel: $(stream up1)"
check "one tunnelled line alone gives about half the sum (at most 0.55)" at_most up1 0.55
for where in box agg; do check "$where: ifup tl2 again" tun_ifup "$where" 2; done
check_eq "office: tl2 is a line of teql0 again" teql0 "$(root_qdisc_kind tl2)"
check "both tunnels again: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

# --- ifdown of the bundle on both ends ----------------------------------------------------------
check "office: ifdown-teql ifcfg-teql0" ns_hook ifdown-teql ifcfg-teql0
check_json "office: teql0 is down" '.[0].flags | index("UP") == null' "$(ip -j link show teql0)"
check_eq "office: no default route left" "[]" "$(ip -j route show default)"
for k in 1 2; do check "office: tl$k detached" test "$(root_qdisc_kind "tl$k")" != teql0; done
check "aggregator: ifdown-teql ifcfg-teql1" _tun_ns_hook agg ifdown-teql ifcfg-teql1
check_json "aggregator: teql1 is down" '.[0].flags | index("UP") == null' "$(ip -n agg -j link show teql1)"
check_eq "aggregator: its route and NAT went with it" "0 0" "$(tun_agg_routing)"
for k in 1 2; do
    check "aggregator: tl$k detached" test "$(tc -n agg -j qdisc show dev "tl$k" root | jq -r '.[0].kind')" != teql1
done
check_eq "the ISP lines' rules stay (the wan bundle is not the tunnels')" 2 \
    "$(ip -j rule show | jq '[.[] | select(.src == "198.51.100.10" or .src == "192.0.2.10")] | length')"
check "office: ifup-teql ifcfg-teql0 brings the tunnels back" ns_hook ifup-teql ifcfg-teql0
check "aggregator: ifup-teql ifcfg-teql1" _tun_ns_hook agg ifup-teql ifcfg-teql1
check_eq "aggregator: its route and NAT are back" "1 1" "$(tun_agg_routing)"
check_eq "office: tl1 and tl2 are lines of teql0 again" "teql0 teql0" "$(root_qdisc_kind tl1) $(root_qdisc_kind tl2)"
check "the bundle is back: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

check "the lab comes down" tun_down
finish
