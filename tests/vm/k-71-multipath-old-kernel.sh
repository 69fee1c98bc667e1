#!/usr/bin/env bash
# A multipath bundle on a kernel before 5.12 (issue 12, point 3): Debian 11's 5.10, which has
# neither resilient nexthop groups (5.13) nor fib_multipath_hash_fields (5.12). teqlctl falls
# back to one plain weighted multipath default route and the L4 hash policy 1, says so once in
# `status`, and everything that goes through that route works as on a new kernel: split access
# (the per-line tables and rules), LAN flows over every line, a line's ifdown, `teqlctl check`
# taking a dead ISP out and back and leaving one line alone in the route, the bundle down; then
# the same lines as a connection bundle, its nftables modules (nft_counter among them, a module
# on this kernel) loaded by teqlctl before its transaction. What is the same on every kernel
# is shown on the host's (tests/netns/multipath.sh): `ping -I` from each line's address, and
# the last live line kept when every ISP is dead.
# Not in the default suite: tests/run-all boots the old kernel for it
# (VM_KERNEL=$(cat target/kernel-version-old) tests/vm/run k-71-multipath-old-kernel).
# vm-timeout: 600
# vm-cost: 90
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"

# Every check below is about the fallbacks: on a newer kernel they would not be exercised.
release=$(uname -r)
check "the kernel ($release) is older than 5.12" awk -v r="$release" \
    'BEGIN { split(r, v, /[.-]/); exit !(v[1] < 5 || (v[1] == 5 && v[2] < 12)) }'
check "... it has no fib_multipath_hash_fields" test ! -e /proc/sys/net/ipv4/fib_multipath_hash_fields

# route_members: the devices of the main table's default route, in order ("eth1 eth3"), and
# their weights after a colon ("eth1 eth3:2 1").
route_members() {
    ip -j route show default | jq -r '.[0] // {} | if .nexthops then
        "\([.nexthops[].dev] | join(" ")):\([.nexthops[] | .weight // 1 | tostring] | join(" "))"
        elif .dev then "\(.dev):1" else ":" end'
}

check "isp_up" isp_up
check "write the office's files" isp_write_office "2 1 1" "TEQL_TABLE=420%k"
check "link the hooks" ns_link_hooks
admin_nft=$(nft list table ip adminnat)

plan=$("$TEQLCTL" --dry-run up wan 2>&1)
info "$plan"
check "dry run: one plain multipath default route with the weights" grep -q \
    "ip route replace default nexthop via 198.51.100.9 dev eth1 weight 2 nexthop via 192.0.2.1 dev eth2 weight 1 nexthop via 203.0.113.1 dev eth3 weight 1 proto 200 table main" <<<"$plan"
check_eq "... no nexthop group" "" "$(grep 'ip nexthop' <<<"$plan")"
check "... the hash policy 1, no hash fields" grep -q "fib_multipath_hash_policy=1" <<<"$plan"

for k in 1 2 3; do check "ifup-local eth$k" ns_hook ifup-local "eth$k"; done
check_eq "the default route: every line, weights 2:1:1" "eth1 eth2 eth3:2 1 1" "$(route_members)"
check_eq "... no nexthop object" "" "$(ip nexthop show)"
check_eq "the hash policy is L4 (1)" 1 "$(cat /proc/sys/net/ipv4/fib_multipath_hash_policy)"
isp_check_tables
json=$("$TEQLCTL" status --json wan)
check_json "status --json: an up multipath bundle, not on a resilient group" \
    '.masters[0] | .mode == "multipath" and .up and .resilient == false' "$json"
st=$("$TEQLCTL" status wan)
info "$st"
check_eq "status says it once" 1 "$(grep -c 'a plain multipath route; this kernel has no resilient nexthop groups' <<<"$st")"
snap=$(ip -j rule show; ip -j route show table all)
check "a second ifup-local changes nothing" ns_hook ifup-local eth2
check_eq "... exactly nothing" "$snap" "$(ip -j rule show; ip -j route show table all)"

# `ping -I` from each line's address goes by its rule and table, not by the default route:
# the same on every kernel, shown by tests/netns/multipath.sh (on the host's kernel).
isp_check_spread

# --- ifdown of a line: it leaves the route; back with ifup ---------------------------------
check "ifdown eth2 as network-scripts does (ifdown-pre-local, ifdown-local)" isp_ns_down 2
check_eq "the route holds eth1 and eth3" "eth1 eth3:2 1" "$(route_members)"
check "traffic still flows from the LAN" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
check "ifup eth2 again as network-scripts does (ifup-local)" isp_ns_up 2
check_eq "eth2 is back" "eth1 eth2 eth3:2 1 1" "$(route_members)"

# --- teqlctl check: a dead ISP leaves the route in one round (2 probes), and returns -------
rm -rf /run/teqlctl
for k in 1 2 3; do printf 'TEQL_PROBE=%s\nTEQL_PROBE_TIMEOUT=1500\n' "$ISP_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
check "a healthy round" "$TEQLCTL" check
isp_cut 2
said=$("$TEQLCTL" check 2>&1)
info "$said"
check_eq "ISP 2 dead: eth2 out of the route after one round" "eth1 eth3:2 1" "$(route_members)"
check "... its rule stays" test "$(ip -j rule show | jq -r '.[] | select(.src == "192.0.2.10") | .table')" = 4202
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
isp_mend 2
for _ in 1 2 3; do "$TEQLCTL" check >/dev/null 2>&1; done
check_eq "ISP 2 back: eth2 back in the route after 3 good rounds" "eth1 eth2 eth3:2 1 1" "$(route_members)"
# The last live line is never removed.
isp_cut 1 3
said=$("$TEQLCTL" check 2>&1; "$TEQLCTL" check 2>&1; "$TEQLCTL" check 2>&1)
info "$said"
check_eq "ISPs 1 and 3 dead: eth2 alone in the route" "eth2:1" "$(route_members)"
# That the last line stays when it dies too is check's choice, not the kernel's: nothing is
# written then, on any kernel (tests/netns/multipath.sh: "every line dead: the group is never
# emptied"; src/run/health.rs: the_last_line_is_kept_when_every_line_looks_dead).
isp_mend 1 3

# --- the bundle down: nothing of ours left, nothing of the admin's touched --------------------
check "ifdown-teql ifcfg-wan" ns_hook ifdown-teql ifcfg-wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[].dst')"
check_eq "no rule of ours left" "" "$(ip -j rule show | jq -r '.[] | select(.priority == 30100) | .table')"
check_eq "no table of ours left" "" "$(for k in 1 2 3; do ip -j route show table "420$k" | jq -r '.[].dst'; done)"
check_eq "the admin's nftables table is untouched" "$admin_nft" "$(nft list table ip adminnat)"

# --- the same lines as a connection bundle (issue 13) ------------------------------------
# teqlctl loads its table's expression modules before the nftables transaction (a module the
# kernel loads itself aborts and replays the transaction); here nft_counter is a module too
# (6.1 builds it into nf_tables), asked for because its file is there. The admin's NAT goes
# (TEQL_NAT masquerades the LAN instead) so that its modules can be unloaded first.
nft delete table ip adminnat
# The health the rounds above left (ISPs 1 and 3 dead, since mended) is forgotten.
rm -rf /run/teqlctl
printf 'TEQL_MODE=connection\nTEQL_NAT=198.18.100.0/24\n' >>"$NS_DIR/ifcfg-wan"
nft_expr_modules_unload
check "nft_counter is a module file of this kernel" sh -c "ls /lib/modules/$release/kernel/net/netfilter/nft_counter.ko*"
# shellcheck disable=SC2086  # a list of names
check_eq "no expression module of the table loaded before the bundle" "" "$(modules_loaded $NFT_EXPR_MODULES)"
kernel_requests_start
check "ifup-teql ifcfg-wan (mode connection) takes the three lines" ns_hook ifup-teql ifcfg-wan
kernel_requests_stop
check "the table inet teqlctl is in" nft list table inet teqlctl
check "... with a counter per line" sh -c "[ \$(nft list chain inet teqlctl postrouting | grep -c 'counter packets') = 3 ]"
check_eq "nft_counter and nft_numgen are loaded" "nft_counter nft_numgen" "$(modules_loaded nft_counter nft_numgen)"
check_eq "the kernel loaded no nftables module on its own during the transaction (teqlctl had)" "" \
    "$(kernel_nft_requests)"
check_eq "the route still holds every line (the box's own connections)" "eth1 eth2 eth3:2 1 1" "$(route_members)"
sink_start
check "60 new LAN connections" udp_flows lan "$ISP_HOST" 60
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 58 ]"
by_line=$(for k in 1 2 3; do sink_count "${ISP_ADDR[$k]}"; done | xargs)
info "by line (eth1 eth2 eth3): $by_line"
check "every line took some, masqueraded to its address" awk '{ exit !($1 > 0 && $2 > 0 && $3 > 0) }' <<<"$by_line"
check_json "status --json: an up connection bundle whose counters saw them" \
    '.masters[0] | .mode == "connection" and .up and ([.lines[].multipath.connection.new_connections] | add >= 58)' \
    "$("$TEQLCTL" status --json wan)"
kill "$SINK" 2>/dev/null
wait "$SINK" 2>/dev/null
check "teqlctl down wan" "$TEQLCTL" down wan
check "... no table inet teqlctl left" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "... no default route left" "" "$(ip -j route show default | jq -r '.[].dst')"
isp_down
finish
