#!/usr/bin/env bash
# teqlctl check, the line health check: a router whose uplink dies (carrier up) is taken out
# within the documented time while the timer runs, traffic then flows without loss over the
# other lines, and it comes back after TEQL_PROBE_UP good rounds; probes leave through their
# own line whatever the routes say; a cut carrier; every line dead; a target that never
# answers; two checks at once. The rounds run in the shipped unit's sandbox (as_check_unit: its
# capabilities and read-only file system), so the sandbox is shown to leave check working.
# vm-timeout: 420
# vm-cost: 124
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

export TEQLCTL_STATE_DIR=$VM_STATE/check
CHECK_LOG=$VM_STATE/check.log
TIMER=$VM_DIR/../../distro/systemd/teqlctl-check.timer
rm -rf "$TEQLCTL_STATE_DIR"

# The interval the shipped timer runs check at (OnUnitActiveSec=1s -> 1).
interval=$(sed -n 's/^OnUnitActiveSec=\([0-9.]*\)s$/\1/p' "$TIMER")
check_eq "the shipped timer runs check every second" 1 "$interval"
# TEQL_PROBE_DOWN's default: a line leaves after 2 failed probes, the second made at once in
# the same round: out by the end of the first round begun after the cut.
DOWN=2
OUT_WITHIN=1

# ms_of CMD...: how long CMD takes, in milliseconds.
ms_of() {
    local t0=${EPOCHREALTIME/./}
    "$@" >/dev/null 2>&1
    echo $(((${EPOCHREALTIME/./} - t0) / 1000))
}

check "lab_up 4" lab_up 4
# A journal, to show that transitions reach it with fields a fleet can filter on.
check "journald runs" journal_up
# The internet's routers stop using a next hop whose link is down (as an ISP's would drop a
# dead DSL line), so replies only come back over live lines.
for k in 2 3 4 5; do
    ip netns exec isp sysctl -q -w "net.ipv4.conf.r$k.ignore_routes_with_linkdown=1"
done
check "write the office" ns_write_office 4
# A longer timeout than the default 500 ms: a TCG guest on a busy host can take that long to
# answer on a healthy line. What is checked below counts rounds, not milliseconds; the
# failover benchmark measures the shipped defaults.
for k in 2 3 4 5; do printf 'TEQL_PROBE=%s\nTEQL_PROBE_TIMEOUT=1500\n' "$LAB_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
check "teqlctl up" "$TEQLCTL" up
lab_sync_return

# uplink K down|up: the router's uplink dies or comes back; its line's carrier stays up.
uplink() {
    ip -n "r$1" link set wan "$2"
    if [ "$2" = up ]; then
        ip -n "r$1" route replace 198.51.100.0/24 via "198.19.$1.1" dev wan
        wait_for ip netns exec "r$1" ping -c 1 -W 1 "$LAB_HOST"
    fi
}
attached() { [ "$(root_qdisc_kind "eth$1")" = teql0 ]; }
attached_lines() {
    local k out=()
    for k in 2 3 4 5; do attached "$k" && out+=("eth$k"); done
    echo "${out[*]}"
}
health() { "$TEQLCTL" status --json | jq -r --arg l "$1" ".masters[0].lines[] | select(.name == \$l) | .health.$2"; }
rounds() { jq -r .round "$TEQLCTL_STATE_DIR/health.json"; }
# check_rounds N: N rounds, one after the other.
check_rounds() {
    local i
    for ((i = 0; i < $1; i++)); do as_check_unit "$TEQLCTL" check 2>>"$CHECK_LOG" || return 1; done
}

# --- a healthy bundle ---------------------------------------------------------------------
snap=$(kernel_snapshot)
check "check on a healthy bundle exits 0" check_rounds 1
check_eq "it changed nothing" "$snap" "$(kernel_snapshot)"
json=$("$TEQLCTL" status --json)
check_json "status shows every line healthy with an RTT" \
    '[.masters[0].lines[].health | .state == "healthy" and .last == "ok" and (.rtt_ms | type) == "number"] == [true, true, true, true]' "$json"
check "status text shows health" sh -c "'$TEQLCTL' status | grep -q 'health: healthy, last round'"
plan=$("$TEQLCTL" --dry-run check 2>&1)
check_eq "check --dry-run on a healthy bundle plans nothing" "" "$plan"
info "run times under TCG: --version $(ms_of "$TEQLCTL" --version) ms, status $(ms_of "$TEQLCTL" status) ms, a healthy check $(ms_of "$TEQLCTL" check) ms"

# --- an uplink dies while the timer runs; the probes must not follow the routes ------------
# Everything for the internet host would now leave through eth2, whatever the line.
ip route add "$LAB_HOST/32" via 198.18.2.2 dev eth2
: >"$CHECK_LOG"
ROUNDS=$VM_STATE/rounds
: >"$ROUNDS"
STOP=$VM_STATE/stop-timer
rm -f "$STOP"
(
    # The timer: a run every $interval s, start to start (OnUnitActiveSec); each round is
    # recorded as: start end eth3's-root-qdisc. It stops when asked, after recording the round
    # in progress: killed, it could lose the very round that took eth3 out (tc and jq take a
    # while under TCG).
    while ! [ -e "$STOP" ]; do
        t0=${EPOCHREALTIME/./}
        as_check_unit "$TEQLCTL" check 2>>"$CHECK_LOG"
        t1=${EPOCHREALTIME/./}
        echo "$t0 $t1 $(root_qdisc_kind eth3)" >>"$ROUNDS"
        left=$((interval * 1000000 - (t1 - t0)))
        [ "$left" -gt 0 ] && sleep "$(printf '0.%06d' "$left")"
    done
) &
timer=$!
sleep 2
info "a healthy round, verbose: $("$TEQLCTL" -v check 2>&1 | tail -n 1)"
t_cut=${EPOCHREALTIME/./}
uplink 3 down
wait_for -t 60 bash -c "! [ \"\$(tc -j qdisc show dev eth3 root | jq -r '.[0].kind')\" = teql0 ]"
# The round in progress ends, is recorded, and the loop sleeps out its interval at most.
touch "$STOP"
wait "$timer" 2>/dev/null
# Every round that started after the cut failed on eth3: by the end of the first of them
# eth3 must be out, having failed its DOWN probes in it. The round under way at the cut may
# already take it out (round 0); then the wait above may end, and the loop stop, before any
# round starts after the cut, so that round counts too.
k=0
out_after=
while read -r t0 t1 q; do
    [ "$t1" -gt "$t_cut" ] || continue
    [ "$t0" -gt "$t_cut" ] && k=$((k + 1))
    if [ "$q" != teql0 ]; then
        out_after=$k
        ms=$(((t1 - t_cut) / 1000))
        break
    fi
done <"$ROUNDS"
if [ -n "$out_after" ]; then
    info "eth3 out at the end of round $out_after after the cut, ${ms} ms after it"
    check "eth3 taken out within $OUT_WITHIN round started after the cut (round $out_after)" test "$out_after" -le "$OUT_WITHIN"
else
    check "eth3 taken out by the timer's checks" false
fi
check_eq "the other lines stay" "eth2 eth4 eth5" "$(attached_lines)"
check "the transition is logged with line, master and reason" \
    grep -q "eth3 (teql0): taken out after $DOWN failed probes: no answer from $LAB_HOST via $LAB_GW" "$CHECK_LOG"
check "a probe through eth3 is not saved by the route via eth2" test "$(health eth3 state)" = dead
# journalctl -t teqlctl, as teqlctl(8) says; the fields of the transition (teqlctl's own
# native-protocol entry, sent from inside the unit's sandbox).
check "the journal has the transition" wait_for -t 10 bash -c \
    'journalctl -q -t teqlctl --no-pager TEQLCTL_EVENT=taken-out TEQLCTL_LINE=eth3 | grep -q "eth3 (teql0): taken out"'
check_json "... with its fields: event, line, master, command, priority" \
    'length == 1 and (.[0] | .TEQLCTL_MASTER == "teql0" and .TEQLCTL_COMMAND == "check" and .PRIORITY == "4" and .SYSLOG_IDENTIFIER == "teqlctl")' \
    "$(journalctl -q -t teqlctl --no-pager -o json TEQLCTL_EVENT=taken-out TEQLCTL_LINE=eth3 | jq -s .)"
ip route del "$LAB_HOST/32" via 198.18.2.2 dev eth2
check_eq "eth2, which the route favoured, stays healthy" healthy "$(health eth2 state)"
# Traffic through teql0 now: not one packet lost.
out=$(ping -q -c 100 -i 0.02 -W 2 "$LAB_HOST" 2>&1)
check "100 pings through teql0 after the detach, none lost" grep -q ' 0% packet loss' <<<"$out"
info "$(grep 'packet loss' <<<"$out")"
json=$("$TEQLCTL" status --json)
check_json "status: eth3 dead, taken out, with the reason" \
    '.masters[0].lines[] | select(.name == "eth3") | .health | .state == "dead" and .taken_out and (.last | startswith("no answer from"))' "$json"

# --- it comes back after TEQL_PROBE_UP (3) good rounds ----------------------------------------
uplink 3 up
check "round 1 after recovery" check_rounds 1
check "eth3 still out after 1 good round" bash -c "! [ \"\$(tc -j qdisc show dev eth3 root | jq -r '.[0].kind')\" = teql0 ]"
check "round 2" check_rounds 1
check "eth3 still out after 2 good rounds" bash -c "! [ \"\$(tc -j qdisc show dev eth3 root | jq -r '.[0].kind')\" = teql0 ]"
# Round 3 also writes the metrics file (teqlctl(8), METRICS): the round that puts eth3 back.
prom=$VM_STATE/teqlctl.prom
metrics_round() { as_check_unit "$TEQLCTL" check --metrics-file "$prom" 2>>"$CHECK_LOG"; }
check "round 3, with --metrics-file" metrics_round
check_eq "eth3 back after 3 good rounds" "eth2 eth3 eth4 eth5" "$(attached_lines)"
check "logged" grep -q "eth3 (teql0): put back after 3 good rounds" "$CHECK_LOG"
info "$(grep -v '^#' "$prom" 2>&1 | head -c 3000)"
for want in 'teqlctl_bundle_lines_configured{bundle="teql0"} 4' 'teqlctl_bundle_lines_live{bundle="teql0"} 4' \
    'teqlctl_line_attached{bundle="teql0",line="eth3"} 1' 'teqlctl_line_healthy{bundle="teql0",line="eth3"} 1' \
    'teqlctl_line_taken_out_total{bundle="teql0",line="eth3"} 1' 'teqlctl_line_put_back_total{bundle="teql0",line="eth3"} 1' \
    'teqlctl_line_probe_loss_ratio{bundle="teql0",line="eth3"} 0'; do
    check "metrics: $want" grep -qxF "$want" "$prom"
done
check "metrics: every line has an RTT in seconds" \
    test "$(grep -cE '^teqlctl_line_probe_rtt_seconds\{bundle="teql0",line="eth[2-5]"\} [0-9.e-]+$' "$prom")" = 4
check "metrics: no temporary file left" bash -c '! ls -A "$1" | grep -q "^\.teqlctl\.prom\."' _ "$VM_STATE"
lab_sync_return
before=$(tx_counts 2 3 4 5)
out=$(ping -q -c 40 -i 0.02 -W 2 "$LAB_HOST" 2>&1)
after=$(tx_counts 2 3 4 5)
check "pings after the return, none lost" grep -q ' 0% packet loss' <<<"$out"
read -r -a b <<<"$before"
read -r -a a <<<"$after"
check "eth3 carries its share again" test $((a[1] - b[1])) -ge 5

# --- a cut carrier ----------------------------------------------------------------------------
ip -n r4 link set lan down
wait_for bash -c "! ip -j link show eth4 | jq -e '.[0].flags | index(\"LOWER_UP\")' >/dev/null"
# The probes' replies come back to teql0's address over whichever router the isp's ECMP
# hash picks (one per boot): a far end that kept sending over the cut line would fail every
# line's probes, which is the lab's fault, not teqlctl's.
lab_sync_return
check "a round without carrier" check_rounds 1
check_eq "eth4 out in the round that sees no carrier" "eth2 eth3 eth5" "$(attached_lines)"
check_eq "status says why" "no carrier" "$(health eth4 last)"
check "logged" grep -q "eth4 (teql0): taken out: no carrier" "$CHECK_LOG"
ip -n r4 link set lan up
wait_for _vm_link_up eth4
lab_sync_return
check "3 rounds with the carrier back" check_rounds 3
check_eq "eth4 back" "eth2 eth3 eth4 eth5" "$(attached_lines)"

# --- every line dead ------------------------------------------------------------------------
: >"$CHECK_LOG"
for k in 2 3 4 5; do uplink "$k" down; done
# The first round probes every line twice, at once (TEQL_PROBE_DOWN), so it takes at least two
# timeouts (1.5 s each here) of probing: -v says how long.
out=$("$TEQLCTL" -v check 2>>"$CHECK_LOG")
ms=$(sed -n 's/^round [0-9]*: .*, probes \([0-9]*\) ms,.*/\1/p' <<<"$out")
info "the first round with every uplink dead: ${out##*$'\n'}"
check "it probed each silent line twice, at once ($ms ms of probes)" test "${ms:-0}" -ge 3000
check "1 more round with every uplink dead" check_rounds 1
check_eq "one line stays attached (the last line is never taken out)" "eth2" "$(attached_lines)"
check_eq "status: eth2 kept" kept "$(health eth2 state)"
check "teql0 is still up with its default route" bash -c "ip -j route show default | jq -e '.[0].dev == \"teql0\"' && ip -j link show teql0 | jq -e '.[0].flags | index(\"UP\")'"
check "the admin is told once" test "$(grep -c 'every line of teql0 looks dead; keeping eth2 attached' "$CHECK_LOG")" = 1
check "2 more rounds" check_rounds 2
check_eq "still one line" "eth2" "$(attached_lines)"
check "still told only once" test "$(grep -c 'every line of teql0 looks dead' "$CHECK_LOG")" = 1
for k in 2 3 4 5; do uplink "$k" up; done
check "3 rounds with every uplink back" check_rounds 3
check_eq "every line back" "eth2 eth3 eth4 eth5" "$(attached_lines)"
check_eq "eth2 no longer kept" healthy "$(health eth2 state)"

# --- a probe target that never answers: a warning, not a flapping line ----------------------
: >"$CHECK_LOG"
sed -i 's/^TEQL_PROBE=.*/TEQL_PROBE=198.51.100.99/' "$NS_DIR/ifcfg-eth5"
check "5 rounds with eth5 probing a host that does not exist" check_rounds 5
check_eq "eth5 never left" "eth2 eth3 eth4 eth5" "$(attached_lines)"
check_eq "eth5 healthy" healthy "$(health eth5 state)"
check "warned once, naming the file and the target" \
    test "$(grep -c "$NS_DIR/ifcfg-eth5: eth5: probe target 198.51.100.99 has never answered on any line of teql0" "$CHECK_LOG")" = 1
check "status shows the warning" sh -c "'$TEQLCTL' status | grep -q 'warning: .*198.51.100.99 has never answered'"

# --- two checks at once -------------------------------------------------------------------
# A slow round (the silent target, 3 s timeout) and a second check started during it.
echo "TEQL_PROBE_TIMEOUT=3000" >>"$NS_DIR/ifcfg-eth5"
r0=$(rounds)
"$TEQLCTL" -v check >"$VM_STATE/first.out" 2>&1 &
first=$!
sleep 1
"$TEQLCTL" -v check >"$VM_STATE/second.out" 2>&1
check_eq "the second check exits 0" 0 "$?"
wait "$first"
check_eq "the first exits 0" 0 "$?"
check_eq "exactly one of them did nothing and said so" 1 \
    "$(cat "$VM_STATE/first.out" "$VM_STATE/second.out" | grep -c 'another teqlctl check is running')"
check_eq "one round counted, not two" $((r0 + 1)) "$(rounds)"

finish
