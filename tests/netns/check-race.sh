#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (a private network and mount namespace of the
# host's kernel, with a tmpfs on /run so the hooks' built-in state and lock are the test's own).
# Issue 26, point 7: a hook that starts while `check` is between putting a line back into its
# multipath group and recording it must wait for the record, not plan with the state before it
# (it used to take the line out again, while health.json said it was in: never probed again).
# Prints "ok NAME" / "FAIL NAME" per check; exits non-zero on any failure.
set -uo pipefail
TEQLCTL=$1
T=$(mktemp -d)
. "$(dirname "$0")/lab.sh"

lab_lines 2
lab_multipath_office wan "TEQL_PROBE=203.0.113.1" "TEQL_PROBE_UP=1" "TEQL_PROBE_DOWN=1" "TEQL_PROBE_TIMEOUT=300"
for k in 1 2; do run "ifup-local eth$k" hook ifup-local "eth$k"; done
expect "both lines in the group" "eth1 eth2" "$(lab_members wan)"

# eth2's ISP stops forwarding (its router answers ARP, the probe target behind it is gone):
# one round takes it out and records that.
ip -n r2 addr del 203.0.113.1/32 dev lo
run "a round with eth2 dead" check
expect "eth2 out of the group" "eth1" "$(lab_members wan)"
expect "health.json: eth2 taken out by check" true "$(lab_health eth2 detached)"

# eth2 comes back; the next round puts it back, and stops right after the kernel change.
ip -n r2 addr add 203.0.113.1/32 dev lo
touch "$T/pause"
TEQLCTL_TEST_PAUSE="check-applied:$T/pause" "$TEQLCTL" --root "$LAB_ROOT" check >"$T/check.log" 2>&1 &
check_pid=$!
for _ in $(seq 500); do [ -e "$T/pause.reached" ] && break; sleep 0.02; done
expect "check reached the point between the change and its record" yes "$([ -e "$T/pause.reached" ] && echo yes)"
expect "... with eth2 back in the group" "eth1 eth2" "$(lab_members wan)"
# eth1's ifup (a DHCP renewal, a second ifup) now.
"$TEQLCTL" --root "$LAB_ROOT" hook ifup-local eth1 >"$T/hook.log" 2>&1 &
hook_pid=$!
sleep 0.5
expect "the hook waits for check's record (the run lock)" running "$(kill -0 "$hook_pid" 2>/dev/null && echo running || echo finished)"
rm -f "$T/pause"
wait "$check_pid"
expect "check exits 0" 0 "$?"
wait "$hook_pid"
expect "the hook exits 0" 0 "$?"
cat "$T/check.log" "$T/hook.log" >&2
expect "eth2 stays in the group" "eth1 eth2" "$(lab_members wan)"
expect "health.json agrees: eth2 is not taken out" false "$(lab_health eth2 detached)"
lab_summary
