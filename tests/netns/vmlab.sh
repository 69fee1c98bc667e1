# shellcheck shell=bash
# Sourced by the tests/netns/*.sh scripts that run a VM scenario's checks on the host's own
# kernel (issue 27, point 5): tests/netns.rs runs them inside `unshare -m -n` with TEQLCTL (the
# debug build) as $1. It gives them the VM's own lab and assertions, tests/vm/lib.sh,
# netscripts.sh and isp.sh, unchanged (the same checks print the same names), on mounts of
# this namespace only: a tmpfs on /run (teqlctl's state and lock, `ip netns`), this
# namespace's /sys, and writable overlays on /etc and /usr (the network-scripts files and
# hooks, the dhclient exit hook), so that the hooks run exactly as network-scripts runs them,
# with no environment, and nothing reaches the host's files.
# Only in network and PID namespaces of its own (`pgrep` then sees the lab's processes only):
# everything here refuses to run in the host's network namespace.

NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# NETNS_HOST_NET: the network namespace tests/netns.rs ran in (readlink /proc/self/ns/net),
# which this one must not be. (Its own PID namespace hides the host's PID 1.)
_vmlab_isolated() {
    [ -n "${NETNS_HOST_NET:-}" ] && [ "$(readlink /proc/self/ns/net)" != "$NETNS_HOST_NET" ] && [ "$(id -u)" -eq 0 ]
}
if ! _vmlab_isolated; then
    echo "vmlab.sh: refusing to run outside a network namespace of its own (tests/netns.rs runs it under unshare)" >&2
    exit 2
fi
TEQLCTL=${1:?usage: $0 TEQLCTL}
export TEQLCTL
export LC_ALL=C
_vmlab_tmp=$(mktemp -d) || exit 2
mount -t tmpfs tmpfs /run || exit 2
mount -t sysfs sysfs /sys || exit 2
for _d in etc usr; do
    mkdir -p "$_vmlab_tmp/$_d.up" "$_vmlab_tmp/$_d.work" || exit 2
    mount -t tmpfs tmpfs "$_vmlab_tmp/$_d.up" || exit 2
    mkdir -p "$_vmlab_tmp/$_d.up/u" "$_vmlab_tmp/$_d.up/w" || exit 2
    mount -t overlay overlay -o "lowerdir=/$_d,upperdir=$_vmlab_tmp/$_d.up/u,workdir=$_vmlab_tmp/$_d.up/w" "/$_d" || exit 2
done
ip link set lo up
# No duplicate address detection for the lines' IPv6 link-local addresses: they (and their
# local routes) are there as soon as a line is up. Under TCG they settle long before the next
# check; here a check comparing `ip route show table all` before and after could otherwise
# catch one of a line taken down and up a moment ago still on its way.
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
export VM_STATE=/run/teqlctl-vm
# check run as the timer runs it (as_check_unit): its sandbox built afresh for each round (see
# tests/vm/lib.sh).
export CHECK_UNIT_KEEP=0
mkdir -p "$VM_STATE"
export VM_SCENARIO=${VM_SCENARIO:-$(basename "${0%.sh}")}
# shellcheck source-path=SCRIPTDIR source=../vm/lib.sh
. "$NETNS_DIR/../vm/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vm/netscripts.sh
. "$NETNS_DIR/../vm/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=../vm/isp.sh
. "$NETNS_DIR/../vm/isp.sh"

# The lab functions' guard, for this namespace: not the host's network namespace.
_vm_require_guest() { _vmlab_isolated; }
# The VM's teardown between scenarios: here the namespaces, and every mount above, end with
# this script; what runs in the lab's namespaces is stopped by isp_down, the rest here. The
# DHCP client is waited for: a scenario then checks that none is left.
lab_down() {
    lab_dhcp_cleanup
    wait_for -t 5 sh -c '! pgrep -x dhclient'
    check_unit_down
    return 0
}
_vmlab_exit() {
    local pid
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
}
trap '_vm_on_exit; _vmlab_exit' EXIT
