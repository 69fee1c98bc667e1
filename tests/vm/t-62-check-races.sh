#!/usr/bin/env bash
# teqlctl check under races and interruptions (issue 11, points 4 and 5):
# - the other live line leaves (the admin's detach) while check is probing: the dead line that
#   check decided to take out is the last line now, and stays in (teql0 never runs empty);
# - runs killed (SIGTERM, SIGINT, SIGKILL) at random points, while a line dies and while it
#   recovers: after every kill, a line that is out is recorded as taken out by check (so a
#   later round puts it back), health.json always parses, teql0 always has a line; then the
#   bundle converges back to every line attached and healthy.
# vm-timeout: 420
# vm-cost: 75
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

export TEQLCTL_STATE_DIR=$VM_STATE/check-races
rm -rf "$TEQLCTL_STATE_DIR"
LOG=$VM_STATE/check-races.log

check "lab_up 2" lab_up 2
for k in 2 3; do
    ip netns exec isp sysctl -q -w "net.ipv4.conf.r$k.ignore_routes_with_linkdown=1"
done
check "write the office" ns_write_office 2
# A long timeout: the race below happens inside a probe's wait.
for k in 2 3; do printf 'TEQL_PROBE=%s\nTEQL_PROBE_TIMEOUT=3000\n' "$LAB_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
check "teqlctl up" "$TEQLCTL" up
lab_sync_return

attached() { [ "$(root_qdisc_kind "eth$1")" = teql0 ]; }
health() { jq -r --arg l "$1" ".lines[\$l].$2 | tostring" "$TEQLCTL_STATE_DIR/health.json"; }
uplink() {
    ip -n "r$1" link set wan "$2"
    if [ "$2" = up ]; then
        ip -n "r$1" route replace 198.51.100.0/24 via "198.19.$1.1" dev wan
        wait_for ip netns exec "r$1" ping -c 1 -W 1 "$LAB_HOST"
    fi
}

check "a healthy round" "$TEQLCTL" check
check_eq "both lines attached" "teql0 teql0" "$(root_qdisc_kind eth2) $(root_qdisc_kind eth3)"

# --- point 4: the other live line leaves while check probes ----------------------------------
uplink 3 down
# The round decides to take eth3 out (eth2 is live when it reads the kernel), and waits 3 s for
# each of eth3's two probes (TEQL_PROBE_DOWN is 2, the second made at once); meanwhile the
# admin takes eth2 out.
"$TEQLCTL" check 2>"$LOG" &
run=$!
sleep 1
check "the admin detaches eth2 while check probes" "$TEQLCTL" detach eth2
wait "$run"
rc=$?
info "$(cat "$LOG")"
check_eq "check exits 0" 0 "$rc"
check_eq "eth3, now the last line, stays attached" teql0 "$(root_qdisc_kind eth3)"
check_eq "teql0 is still up" UP "$(ip -j link show teql0 | jq -r '.[0].flags | if index("UP") then "UP" else "DOWN" end')"
check "check says why eth3 stayed" grep -q "eth3 (teql0): dead, but kept attached: it is the last line of teql0 now" "$LOG"
check "... and never announces a detach it did not make" sh -c "! grep -q 'eth3 (teql0): taken out' '$LOG'"
check_eq "health.json: eth3 kept, not taken out" "true false" "$(health eth3 kept) $(health eth3 detached)"
check "the admin puts eth2 back" "$TEQLCTL" attach eth2
uplink 3 up
lab_sync_return
# Three good rounds (TEQL_PROBE_UP) make the kept eth3 healthy again.
for i in 1 2 3; do "$TEQLCTL" check 2>>"$LOG"; done
check_eq "eth3 healthy again, attached" "true teql0" "$(health eth3 healthy) $(root_qdisc_kind eth3)"

# --- point 5: runs killed at chosen and at random points -------------------------------------
# The kills below come at check's saves, not inside a probe's wait: the shorter timeout of the
# other scenarios (t-60) will do (a dying round waits for two).
sed -i 's/^TEQL_PROBE_TIMEOUT=.*/TEQL_PROBE_TIMEOUT=1500/' "$NS_DIR/ifcfg-eth2" "$NS_DIR/ifcfg-eth3"
# invariant: after a killed run, every line that is out of teql0 is recorded as taken out by
# check (else no round would ever put it back), health.json parses, and teql0 has a line.
bad=0
invariant() {
    local k
    if ! jq -e . "$TEQLCTL_STATE_DIR/health.json" >/dev/null 2>&1; then
        info "health.json does not parse after $1"
        return 1
    fi
    for k in 2 3; do
        if ! attached "$k" && [ "$(health "eth$k" detached)" != true ]; then
            info "eth$k is out but health.json does not say check took it out, after $1"
            return 1
        fi
    done
    attached 2 || attached 3 || { info "teql0 has no line after $1"; return 1; }
}
# killed_at SIGNAL N: one check run that gets SIGNAL on entry to its Nth rename(2), the
# syscall that commits a save of health.json (a run that changes something saves twice: its
# intent before the change, the result after it; the counters for status's rates are saved
# after both). Prints the run's exit status.
killed_at() {
    strace -f -qq -o /dev/null -e trace=rename -e "inject=rename:signal=$1:when=$2" \
        "$TEQLCTL" check 2>>"$LOG"
    echo $?
}
: >"$LOG"
# Deterministic points first. eth3 dies; the next round takes it out.
uplink 3 down
rc=$(killed_at SIGKILL 2)
check_eq "SIGKILL between the detach and its final save: killed" 137 "$rc"
check_eq "... eth3 is out" noqueue "$(root_qdisc_kind eth3)"
check_eq "... and recorded as taken out by check (the intent)" true "$(health eth3 detached)"
invariant "SIGKILL before the final save" || bad=$((bad + 1))
uplink 3 up
lab_sync_return
for i in 1 2; do "$TEQLCTL" check 2>>"$LOG"; done
rc=$(killed_at SIGKILL 1)
check_eq "SIGKILL before the intent of putting eth3 back is saved: killed" 137 "$rc"
check_eq "... eth3 is still out, still recorded as taken out by check" "noqueue true" "$(root_qdisc_kind eth3) $(health eth3 detached)"
"$TEQLCTL" check 2>>"$LOG"
check_eq "the next round puts eth3 back" teql0 "$(root_qdisc_kind eth3)"
uplink 3 down
rc=$(killed_at SIGTERM 1)
check_eq "SIGTERM at the intent's save: the run finishes its change, then ends (143)" 143 "$rc"
check_eq "... eth3 is out and recorded as taken out" "noqueue true" "$(root_qdisc_kind eth3) $(health eth3 detached)"
check "... the transition was logged before the run ended" grep -q "eth3 (teql0): taken out after" "$LOG"
uplink 3 up
lab_sync_return
for i in 1 2 3; do "$TEQLCTL" check 2>>"$LOG"; done
check_eq "eth3 back after 3 good rounds" teql0 "$(root_qdisc_kind eth3)"

# Then random points: N runs, each killed by a random signal after a random delay up to MAX
# seconds (dying: the first round's two probe waits of 1.5 s and the change after them, then
# rounds that probe the dead eth3 once, 1.5 s; recovering: a fast round).
kills=0
kill_runs() {
    local i sig delay run
    for ((i = 0; i < $1; i++)); do
        case $((RANDOM % 3)) in 0) sig=TERM ;; 1) sig=INT ;; *) sig=KILL ;; esac
        delay=$(printf '%d.%03d' $((RANDOM % $3)) $((RANDOM % 1000)))
        "$TEQLCTL" check 2>>"$LOG" &
        run=$!
        sleep "$delay"
        kill -s "$sig" "$run" 2>/dev/null && kills=$((kills + 1))
        wait "$run" 2>/dev/null
        invariant "$2 run $i (SIG$sig after $delay s)" || bad=$((bad + 1))
    done
}
uplink 3 down
kill_runs 8 "dying" 2
uplink 3 up
lab_sync_return
kill_runs 8 "recovering" 1
info "$kills of 16 runs were still running when killed"
check_eq "after every killed run a line out of teql0 is recorded as taken out by check" 0 "$bad"
check "some runs were killed before they ended" test "$kills" -ge 4
# Whatever the kills left: normal rounds bring everything back (TEQL_PROBE_UP is 3).
for i in 1 2 3 4 5; do "$TEQLCTL" check 2>>"$LOG"; done
check_eq "every line back in teql0" "teql0 teql0" "$(root_qdisc_kind eth2) $(root_qdisc_kind eth3)"
check_eq "... healthy and not marked as taken out" "true false true false" \
    "$(health eth2 healthy) $(health eth2 detached) $(health eth3 healthy) $(health eth3 detached)"
check "no stray temporary state file left by the killed runs" sh -c "! ls -A '$TEQLCTL_STATE_DIR' | grep -q '^\.health'"
check "ping through teql0" ping -c 3 -W 2 "$LAB_HOST"

check "lab_down" lab_down
finish
