#!/usr/bin/env bash
# The connection mode on the suite's kernel (issue 13), driven the way network-scripts drives
# its hooks, for what only the VM can show: the nftables modules. teqlctl loads the modules of
# its table's expressions before the transaction (without, the table was seen and then gone by
# `nft list` while the kernel replayed it): none is loaded before the first line, and the
# kernel requests none itself during the transactions. And the LAN reaches the internet through
# the bundle.
# Everything else this scenario checked (issue 27, point 5) runs on the host's kernel in
# tests/netns/connection.sh, with the same names: the table and rules, the dry run, shares by
# weight, PREFER_DST, a weight change, dead ISPs and conntrack flushes, the bundle down.
# vm-timeout: 300
# vm-cost: 15
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"

check "isp_up" isp_up
# No NAT of the admin's (TEQL_NAT does it): its masquerade would keep modules of the table's
# expressions in use.
nft delete table ip adminnat

check "write the office's files (mode connection)" isp_write_connection_office
check "link the hooks" ns_link_hooks

# --- the lines come up as network-scripts brings them up -----------------------------------
# The modules the lab's NAT left loaded go first (nothing uses them now), and the kernel's own
# requests are logged (kernel_requests_start).
nft_expr_modules_unload
# shellcheck disable=SC2086  # a list of names
check_eq "no expression module of the table loaded before the first line" "" "$(modules_loaded $NFT_EXPR_MODULES)"
kernel_requests_start
for k in 1 2 3; do
    check "ifup-local eth$k" ns_hook ifup-local "eth$k"
done
kernel_requests_stop
check "the table inet teqlctl is in" nft list table inet teqlctl
check_eq "the kernel loaded no nftables module on its own during the transactions (teqlctl had)" "" \
    "$(kernel_nft_requests)"
check "the LAN reaches the internet through the bundle" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"

check "teqlctl down wan" "$TEQLCTL" down wan
check "... no table left" sh -c "! nft list table inet teqlctl 2>/dev/null"
isp_down
finish
