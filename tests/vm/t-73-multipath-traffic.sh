#!/usr/bin/env bash
# A multipath bundle under real LAN traffic (issue 12, point 7): 16 LAN TCP flows through the
# admin's masquerade over 10+5+5 Mbit/s lines with weights 2:1:1 reach at least 0.85 of the
# lines' sum, both ways; a dead ISP (its line keeps its carrier) leaves the group after two
# failed probes (one round) of `teqlctl check` run at the shipped timer's interval, while the LAN flows on
# the other lines keep going (each gets at least a quarter of its rate before, to the end); it
# comes back when the ISP recovers, and new flows use it again. Times are printed, not asserted: bench/run measures
# them (section multipath).
# vm-timeout: 540
# vm-cost: 168
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"

check "isp_up" isp_up
SUM_BPS=20000000 # ISP_RATES: 10 + 5 + 5 Mbit/s
write_files() {
    isp_write_office "2 1 1" "TEQL_PROBE=$ISP_HOST" "TEQL_PROBE_TIMEOUT=1000"
}
check "write the office's files" write_files
check "link the hooks" ns_link_hooks
for k in 1 2 3; do check "ifup-local eth$k" ns_hook ifup-local "eth$k"; done
check_eq "the group holds every line" "eth1 eth2 eth3" "$(isp_members)"

# iperf_lan NAME SECS INTERVAL ARGS...: one iperf3 test from the LAN host to the internet host,
# with a one-shot server; leaves the client's JSON in $VM_STATE/NAME.json and the server's in
# $VM_STATE/NAME.srv.json.
iperf_lan() {
    local name=$1 secs=$2 interval=$3 srv rc
    shift 3
    ip netns exec inet timeout $((secs + 60)) iperf3 -s -1 -J -B "$ISP_HOST" >"$VM_STATE/$name.srv.json" 2>&1 &
    srv=$!
    wait_for ip netns exec inet sh -c "ss -Hltn 'sport = :5201' | grep -q ." || return 1
    ip netns exec lan timeout $((secs + 50)) iperf3 -c "$ISP_HOST" -t "$secs" -i "$interval" -J "$@" \
        >"$VM_STATE/$name.json" 2>&1
    rc=$?
    wait "$srv"
    return $rc
}

# lines_used NAME: the lines' addresses the server saw the test's streams come from (the
# admin's masquerade gives each stream its line's address), sorted.
lines_used() {
    jq -r '[.start.connected[].remote_host] | unique | join(" ")' "$VM_STATE/$1.srv.json"
}

# --- 16 LAN flows reach at least 0.85 of the sum ----------------------------------------
# Which line a flow takes is a hash of its ports: 16 flows leave one of the 5 Mbit/s lines
# without a flow about once in 50 runs, and the goodput is then that of two lines whatever
# teqlctl does. Such a run is repeated (at most twice), said, and never counted.
goodput() {
    local dir=$1 label=$2 try used bps best=-1
    shift 2
    # Up to three runs, to the first with a flow on every line and 0.85 of the sum: the hash can
    # leave a line without a flow, and under TCG beside another guest one run in many is short
    # of CPU (see upload_best in lib.sh). The best run with every line used is what counts.
    for try in 1 2 3; do
        if ! iperf_lan "gp$dir$try" 10 1 -O 2 -P 16 "$@"; then
            info "$label: iperf3 failed: $(jq -r '.error // empty' "$VM_STATE/gp$dir$try.json" 2>/dev/null)"
            echo "iperf3 failed"
            return 1
        fi
        used=$(lines_used "gp$dir$try")
        bps=$(jq -r '.end.sum_received.bits_per_second' "$VM_STATE/gp$dir$try.json")
        info "$label, run $try: $(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e6 }') Mbit/s over lines $used"
        if [ "$(wc -w <<<"$used")" != 3 ]; then
            info "$label: the hash left a line without a flow; once more"
            continue
        fi
        best=$(awk -v a="$best" -v b="$bps" 'BEGIN { print (b > a ? b : a) }')
        awk -v b="$best" -v s="$SUM_BPS" 'BEGIN { exit !(b >= 0.85 * s) }' && break
    done
    [ "$best" != -1 ] || { echo "3 runs in a row left a line without a flow"; return 1; }
    awk -v b="$best" -v s="$SUM_BPS" 'BEGIN { printf "%.3f of the sum\n", b / s; exit !(b >= 0.85 * s) }'
}
check "16 LAN flows down (10+5+5 Mbit/s, weights 2:1:1): at least 0.85 of the sum (best of up to 3 runs)" goodput R "download" -R
check "16 LAN flows up: at least 0.85 of the sum (best of up to 3 runs)" goodput U "upload"

# --- a dead ISP: out after two failed probes, the other lines' LAN flows keep going --------
# The shipped timer (distro/systemd/teqlctl-check.timer) runs check every second; so does
# this loop ($TEQLCTL is guest.sh's copy on tmpfs, as an installed binary runs). The default
# state directory: the hooks (which ignore TEQLCTL_STATE_DIR) must see what check took out.
rm -rf /run/teqlctl
: >"$VM_STATE/rounds.log"
# Start to start, as OnUnitActiveSec does: a round that takes longer than the interval is
# followed at once by the next.
check_loop() {
    local t0 left
    while [ ! -e "$VM_STATE/rounds.stop" ]; do
        t0=${EPOCHREALTIME/./}
        echo "round $EPOCHREALTIME" >>"$VM_STATE/rounds.log"
        "$TEQLCTL" check >>"$VM_STATE/rounds.log" 2>&1
        echo "end $EPOCHREALTIME" >>"$VM_STATE/rounds.log"
        left=$((1000000 - (${EPOCHREALTIME/./} - t0)))
        [ "$left" -gt 0 ] && sleep "$(printf '0.%06d' "$left")"
    done
}
rm -f "$VM_STATE/rounds.stop"
check_loop &
loop=$!
wait_for -t 20 grep -q "^round" "$VM_STATE/rounds.log"
sleep 3
check_json "every line healthy under the timer" '[.masters[0].lines[].health.state] == ["healthy", "healthy", "healthy"]' \
    "$("$TEQLCTL" status --json wan)"

# Long-lived LAN flows (tests/vm/flows.py: the internet host sends to each as fast as it
# takes; iperf3's own control connection would be one more hashed flow, lost with the line).
FLOWS="$(dirname "${BASH_SOURCE[0]}")/flows.py"
: >"$VM_STATE/peers"
ip netns exec inet python3 "$FLOWS" serve "$ISP_HOST" 5300 "$VM_STATE/peers" &
server=$!
wait_for ip netns exec inet sh -c "ss -Hltn 'sport = :5300' | grep -q ."
# flows_report NAME SINCE: per flow of run NAME, "LINE_ADDRESS PORT IDLE_SECONDS RATE_BEFORE
# RATE_AFTER LAST_3S": its line (the masquerade address the server saw; the masquerade keeps a
# LAN source port that is free), the whole seconds from epoch SINCE on without a byte, its
# mean bytes a second before SINCE (the first second, slow start, left out) and from SINCE on,
# and its bytes in the run's last 3 seconds. A flow moved to another line behind its old
# masquerade address gets nothing more; one that only lost a packet or two to a full queue
# and waited out a retransmission timeout (TCP backs off 1, 2... s) idles a second or two and
# goes on: so a flow "kept going" when after SINCE it got at least a quarter of its rate
# before, and bytes at the end.
flows_report() {
    python3 "$(dirname "${BASH_SOURCE[0]}")/flows.py" report "$VM_STATE/$1.json" "$VM_STATE/peers" "$2"
}
# broken REPORT DEAD_ADDR: the flows on the other lines that did not keep going.
broken() {
    awk -v dead="$2" '$1 != dead && ($5 < 0.25 * $4 || $6 == 0)' <<<"$1"
}

# 16 LAN flows down for 30 s, the cut at about 10 s.
ip netns exec lan python3 "$FLOWS" run "$ISP_HOST" 5300 16 30 "$VM_STATE/failover.json" &
flows=$!
sleep 10
t_cut=$EPOCHREALTIME
isp_cut 2
while [ "$(isp_members)" != "eth1 eth3" ]; do
    (($(date +%s) - ${t_cut%.*} < 20)) || break
    sleep 0.1
done
check_eq "ISP 2 dead: eth2 leaves the group" "eth1 eth3" "$(isp_members)"
check "... said with the reason" grep -q "eth2 (wan): taken out after 2 failed probes" "$VM_STATE/rounds.log"
# The rounds that began after the cut, up to the one that took eth2 out, and when that one
# ended. The first round begun after the cut fails its 2 probes (the second made at once), so
# at most 1 round begins after the cut (the round under way at the cut may take it out too).
read -r rounds t_out < <(awk -v a="$t_cut" '
    /^round / { if ($2 > a) n++ }
    /^end / { last = $2 }
    /eth2 \(wan\): taken out/ { out = 1 }
    out && /^end / { print n + 0, $2; exit }' "$VM_STATE/rounds.log")
info "cut -> out of the group: $(awk -v a="$t_cut" -v b="$t_out" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }') (TEQL_PROBE_TIMEOUT=1000, a check every second; under TCG with the flows running; bench/run measures it with the default keys)"
check "... by at most 1 round begun after the cut ($rounds)" test "${rounds:-99}" -le 1
wait "$flows"
check_eq "the LAN flows' run ended" 0 "$?"
report=$(flows_report failover "$t_cut")
info "per flow (line, port, idle seconds after the cut, bytes/s before, after, bytes in the last 3 s):"
info "$report"
check "flows on eth1 and eth3 were there" test -n "$(awk '$1 != "192.0.2.10"' <<<"$report")"
check_eq "every flow's line is known" "" "$(awk '$1 == "?"' <<<"$report")"
check_eq "every flow on eth1 and eth3 kept going after the cut" "" "$(broken "$report" 192.0.2.10)"
info "of them idle for a whole second or more: $(awk '$1 != "192.0.2.10" && $3 > 0' <<<"$report" | wc -l)"
info "flows on eth2 when it died: $(awk '$1 == "192.0.2.10"' <<<"$report" | wc -l) (their masquerade address is eth2's: they wait for it)"

# --- ISP 2 recovers: back after 3 good rounds, new flows use it, the others keep going -----
ip netns exec lan python3 "$FLOWS" run "$ISP_HOST" 5300 16 20 "$VM_STATE/recover.json" &
flows=$!
sleep 4
t_back=$EPOCHREALTIME
isp_mend 2
while [ "$(isp_members)" != "eth1 eth2 eth3" ]; do
    (($(date +%s) - ${t_back%.*} < 30)) || break
    sleep 0.1
done
info "recovery -> back in the group: $(awk -v a="$t_back" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }')"
check_eq "ISP 2 back: eth2 in the group again" "eth1 eth2 eth3" "$(isp_members)"
wait "$flows"
check_eq "the LAN flows' run through the return ended" 0 "$?"
report=$(flows_report recover "$t_back")
info "$report"
check_eq "every flow on eth1 and eth3 kept going when eth2 came back" "" "$(broken "$report" 192.0.2.10)"
info "of them idle for a whole second or more: $(awk '$1 != "192.0.2.10" && $3 > 0' <<<"$report" | wc -l)"
kill "$server" 2>/dev/null
touch "$VM_STATE/rounds.stop"
wait "$loop"
check "new LAN flows use eth2 again" goodput B "download after the return" -R

check "isp_down" isp_down
finish
