#!/usr/bin/env bash
# The manual tool: --dry-run prints the plan and changes nothing; up, down, attach, detach and
# status do what the man page says, twice in a row without change.
# vm-timeout: 300
# vm-cost: 62
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

check "lab_up 4" lab_up 4
check "write the office" ns_write_office 4
# The line's router also offers a default route, as a DSL modem's DHCP would: teqlctl replaces
# it (same metric) the way network-scripts does, and a rollback would put it back.

# --- dry run --------------------------------------------------------------------------------
snap=$(kernel_snapshot)
plan=$("$TEQLCTL" --dry-run up)
check_eq "up --dry-run exits 0" 0 "$?"
expected="modprobe sch_teql
sysctl -w net.ipv4.conf.eth2.rp_filter=2
tc qdisc add dev eth2 root teql0
sysctl -w net.ipv4.conf.eth3.rp_filter=2
tc qdisc add dev eth3 root teql0
sysctl -w net.ipv4.conf.eth4.rp_filter=2
tc qdisc add dev eth4 root teql0
sysctl -w net.ipv4.conf.eth5.rp_filter=2
tc qdisc add dev eth5 root teql0
ip link set dev teql0 up
ip address add 203.0.113.2/28 dev teql0
ip route replace default via 203.0.113.1 dev teql0 onlink"
check_eq "up --dry-run prints the plan as commands" "$expected" "$plan"
check_eq "the dry run changed nothing (module not even loaded)" "$snap" "$(kernel_snapshot)"

# The plan, run by a shell, gives the same kernel state as teqlctl itself.
check "the printed plan runs as a shell script" sh -e -c "$plan"
by_shell=$(kernel_snapshot)
check "teqlctl down after the shell's bundle" "$TEQLCTL" down
modprobe -r sch_teql

# --- up / status / down --------------------------------------------------------------------
check "teqlctl up" "$TEQLCTL" up
check_bundle_up 2 3 4 5
check_eq "teqlctl up gives the same state as its printed plan" "$by_shell" "$(kernel_snapshot)"
snap=$(kernel_snapshot)
check "teqlctl up again" "$TEQLCTL" up
check_eq "a second up changes nothing" "$snap" "$(kernel_snapshot)"

ping -c 20 -i 0.05 -W 2 "$LAB_HOST" >/dev/null
json=$("$TEQLCTL" status --json)
check_json "status --json: every line attached, carrier, rp_filter 2, counting packets" \
    '[.masters[0].lines[] | select(.attached and .carrier and .up and .rp_filter == 2 and .tx_packets > 0 and .tx_bytes > 0)] | length == 4' "$json"
check_json "status --json: schema 2, and \"slaves\" the same array as \"lines\" (deprecated alias, one release)" \
    '.schema == 2 and (.masters | length) > 0 and all(.masters[]; .slaves == .lines)' "$json"
check_json "status --json: master up, mtu 1500, address and route" \
    '.masters[0] | .up and .mtu == 1500 and .addresses == ["203.0.113.2/28"] and .default_route == {"via": "203.0.113.1", "metric": 0}' "$json"
text=$("$TEQLCTL" status)
info "$text"
check "status text shows teql0 up with its route" grep -q "^teql0: up, mtu 1500, 203.0.113.2/28, default via 203.0.113.1" <<<"$text"
check "status text shows 4 of 4 lines" grep -q "lines: 4 of 4 attached" <<<"$text"

check "teqlctl detach eth2 eth3" "$TEQLCTL" detach eth2 eth3
check_bundle_up 4 5
json=$("$TEQLCTL" status --json)
check_json "status shows eth2 and eth3 configured but not attached" \
    '[.masters[0].lines[] | select(.configured and (.attached | not)) | .name] == ["eth2", "eth3"]' "$json"
check "detach eth2 again is harmless" "$TEQLCTL" detach eth2
check "teqlctl attach eth2 eth3" "$TEQLCTL" attach eth2 eth3
check_bundle_up 2 3 4 5

check "teqlctl down" "$TEQLCTL" down
check_eq "down: teql0 down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "down: no line attached" "noqueue noqueue noqueue noqueue" \
    "$(for k in 2 3 4 5; do root_qdisc_kind "eth$k"; done | xargs)"
check_eq "down: no default route" "[]" "$(ip -j route show default)"
snap=$(kernel_snapshot)
check "teqlctl down again" "$TEQLCTL" down
check_eq "a second down changes nothing" "$snap" "$(kernel_snapshot)"

# --- a line that is down is not attached by up; it joins on its own ifup-local ------------
ip link set eth5 down
check "up with eth5 down" "$TEQLCTL" up
check_bundle_up 2 3 4
check_eq "eth5 (down) was left alone" noqueue "$(root_qdisc_kind eth5)"
ip link set eth5 up
check "ifup-local eth5" ns_hook ifup-local eth5
check_bundle_up 2 3 4 5
"$TEQLCTL" down

# --- MTU: configured on the master, set after it comes up ---------------------------------
echo MTU=1400 >>"$NS_DIR/ifcfg-teql0"
check "up with MTU=1400" "$TEQLCTL" up
check_eq "teql0's MTU is 1400" 1400 "$(ip -j link show teql0 | jq '.[0].mtu')"
"$TEQLCTL" down
sed -i 's/^MTU=1400/MTU=9000/' "$NS_DIR/ifcfg-teql0"
out=$("$TEQLCTL" up 2>&1)
check_eq "MTU larger than the lines' is refused: exit 3" 3 "$?"
check "... naming the file, key, value and the line" grep -q "ifcfg-teql0: MTU=\"9000\" is not valid: expected at most 1500, the MTU of its line eth2" <<<"$out"
check_eq "... and nothing is left attached" noqueue "$(root_qdisc_kind eth2)"
sed -i '/^MTU=/d' "$NS_DIR/ifcfg-teql0"

# --- explicit master and the manual attach of an unconfigured line --------------------------
rm -f "$NS_DIR"/ifcfg-*
check "attach --master teql0 eth4 with no configuration at all" "$TEQLCTL" attach --master teql0 eth4
check_eq "eth4 is a line of teql0" teql0 "$(root_qdisc_kind eth4)"
check_eq "teql0 is up (no address: none configured)" true "$(ip -j link show teql0 | jq '.[0].flags | index("UP") != null')"
json=$("$TEQLCTL" status --json)
check_json "status lists the unconfigured line" '.masters[0].lines == [.masters[0].lines[0]] and .masters[0].lines[0].name == "eth4" and (.masters[0].lines[0].configured | not)' "$json"
check "detach eth4" "$TEQLCTL" detach eth4

check "lab_down" lab_down
finish
