#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (see lab.sh). Issue 26, point 11: a line that is
# configured and up but missing from its bundle for no recorded reason (its hook failed at
# boot, or never ran) is put in by the next `check`; a line taken out on purpose (`teqlctl
# detach`, ifdown) is not, and stays out through other lines' events until its own ifup or
# `teqlctl attach`.
set -uo pipefail
TEQLCTL=$1
T=$(mktemp -d)
. "$(dirname "$0")/lab.sh"

lab_lines 2
lab_multipath_office wan "TEQL_PROBE=203.0.113.1" "TEQL_PROBE_UP=1" "TEQL_PROBE_TIMEOUT=300"
# Boot: eth2 has no carrier yet when eth1's hook runs, and its own hook never runs.
ip -n r2 link set lan down
run "ifup-local eth1" hook ifup-local eth1
expect "only eth1 in the group" "eth1" "$(lab_members wan)"
ip -n r2 link set lan up
lab_wait_carrier eth2
out=$("$TEQLCTL" --root "$LAB_ROOT" check 2>&1)
expect "check exits 0" 0 "$?"
printf '%s\n' "$out" >&2
expect "check puts the missing eth2 in" "eth1 eth2" "$(lab_members wan)"
expect "... and says why" yes "$(grep -q 'eth2 (wan): up and configured but not in wan' <<<"$out" && echo yes)"

# The admin takes eth2 out on purpose: check leaves it out, and so does eth1's next event.
run "teqlctl detach eth2" detach eth2
expect "eth2 out" "eth1" "$(lab_members wan)"
run "a round after the detach" check
expect "check leaves the admin's eth2 out" "eth1" "$(lab_members wan)"
run "eth1's ifup again" hook ifup-local eth1
expect "... and so does another line's ifup" "eth1" "$(lab_members wan)"
run "teqlctl attach eth2" attach eth2
expect "attach brings eth2 back" "eth1 eth2" "$(lab_members wan)"
# Out again for no recorded reason (someone's `ip nexthop`): the next round puts it back.
gid=$(ip -j nexthop show | jq -r '.[] | select(.group) | .id')
eth1_nh=$(ip -j nexthop show | jq -r '.[] | select(.dev == "eth1") | .id')
ip nexthop replace id "$gid" group "$eth1_nh" type resilient buckets 128
expect "eth2 dropped by hand" "eth1" "$(lab_members wan)"
run "the next round" check
expect "check puts it back" "eth1 eth2" "$(lab_members wan)"
lab_summary
