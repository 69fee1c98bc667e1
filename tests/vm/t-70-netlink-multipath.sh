#!/usr/bin/env bash
# The kernel primitives of the multipath mode (src/netlink.rs: rules, routes of tables above
# 255, nexthop objects and resilient groups, multipath routes, the hash-policy sysctl), run by
# the integration test tests/netlink_vm.rs inside a fresh network namespace. tests/vm/run builds
# that test (cargo test --no-run) and leaves it at target/vm-bin/netlink_vm.
# vm-timeout: 180
# vm-cost: 13
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${NETLINK_VM_TEST:-$VM_DIR/../../target/vm-bin/netlink_vm}
ns=nlt

# nl_lab: three lines in namespace $ns, addresses from the documentation ranges only.
#   nl1 198.51.100.10/24 (gateway 198.51.100.1 on its peer), nl2 192.0.2.2/24 (gateway
#   192.0.2.1), nlp 203.0.113.2 peer 203.0.113.1/32 (a point-to-point line).
nl_lab() {
    ip netns add "$ns" || return 1
    ip -n "$ns" -batch - <<'IP' || return 1
link set lo up
link add nl1 type veth peer name nl1p
link add nl2 type veth peer name nl2p
link add nlp type veth peer name nlpp
link set nl1 up
link set nl1p up
link set nl2 up
link set nl2p up
link set nlp up
link set nlpp up
address add 198.51.100.10/24 dev nl1
address add 198.51.100.1/24 dev nl1p
address add 192.0.2.2/24 dev nl2
address add 192.0.2.1/24 dev nl2p
address add 203.0.113.2 peer 203.0.113.1/32 dev nlp
address add 203.0.113.1 peer 203.0.113.2/32 dev nlpp
IP
}

ip netns del "$ns" 2>/dev/null
check "the test binary was built by tests/vm/run ($bin)" test -x "$bin"
check "a fresh namespace with three lines" nl_lab
info "kernel $(uname -r)"

# One run of the whole file: --ignored runs the kernel tests, TEQLCTL_VM=1 lets them change
# the namespace (without it they would pass without doing anything).
out=$(ip netns exec "$ns" env TEQLCTL_VM=1 RUST_BACKTRACE=1 "$bin" --ignored --test-threads=1 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(test |running |test result)' | sed 's/^/# /'
check_eq "netlink primitives: the test binary exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 80 | sed 's/^/    | /'
ran=$(printf '%s\n' "$out" | sed -n 's/^running \([0-9]*\) tests*$/\1/p' | head -n 1)
check "netlink primitives: tests ran (${ran:-none})" test "${ran:-0}" -ge 7
for t in rules_add_dump_delete routes_of_a_table_above_255 nexthop_objects_and_a_resilient_group \
    nexthop_errors_keep_their_errno a_dump_of_many_nexthops_spans_several_datagrams \
    plain_multipath_route_with_weights multipath_hash_policy_sysctl; do
    check_eq "netlink: $t" "test $t ... ok" "$(printf '%s\n' "$out" | grep -E "^test $t \.\.\. ")"
done

# What the tests leave behind, as ip sees it: nothing of theirs.
check_eq "no nexthop object left" "" "$(ip -n "$ns" nexthop show)"
check_eq "only the three boot rules left" "0 32766 32767" \
    "$(ip -n "$ns" -j rule show | jq -r '[.[].priority] | map(tostring) | join(" ")')"
check_eq "no route of protocol 200 left" "" "$(ip -n "$ns" route show table all proto 200)"

check "delete the namespace" ip netns del "$ns"
finish
