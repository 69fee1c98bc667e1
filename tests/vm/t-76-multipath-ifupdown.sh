#!/usr/bin/env bash
# A multipath bundle over three independent ISPs (issue 12) driven by the real ifupdown (0.8)
# with teqlctl linked into /etc/network/if-*.d, as tests/netns/multipath.sh (once t-72) drives it with network-scripts' hooks:
# `ifup -a` builds split access (each line's table and rule) and the weighted resilient group
# as the default route; ping -I from each line, the internet reaching each line, LAN flows
# spread over every line, status counters growing; a second ifup changes nothing; `ifdown
# eth2` / `ifup eth2` take one line out and back; `ifdown wan` / `ifup wan` take the bundle
# down (nothing of the admin's) and back; `ifdown -a` leaves nothing of ours; then eth2 as
# `inet dhcp`: ifupdown's dhclient and the exit hook put it in with the lease's router, and
# `ifdown eth2` (a release) takes it out.
# vm-timeout: 600
# vm-cost: 210
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"

check "ifupdown is installed (the real package)" test -x /usr/sbin/ifup
check "isp_up" isp_up
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" isp_fresh_lines
check "write /etc/network/interfaces (three lines, wan inet manual)" isp_deb_write
info "$(cat "$DEB_FILE")"
# The admin's strict filtering on eth1 stays as it is (split access works with it).
sysctl -q -w net.ipv4.conf.eth1.rp_filter=1

# --- ifup -a: every line, then the bundle ---------------------------------------------------
out=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$out" ] && info "$out"
isp_check_bundle eth1 eth2 eth3
check_eq "ifupdown configured every line and wan" "eth1=eth1 eth2=eth2 eth3=eth3 wan=wan" \
    "$(for i in eth1 eth2 eth3 wan; do deb_state "$i"; done | xargs)"
check_eq "no default route of ifupdown's own (teql-gateway, not gateway)" "" \
    "$(ip -j route show default | jq -r '.[] | select(.nhid == null) | .gateway')"
check_eq "the hash policy is the custom 5-tuple one" "3 55" "$(cat /proc/sys/net/ipv4/fib_multipath_hash_{policy,fields} | xargs)"
check_eq "eth1 keeps the admin's strict rp_filter" 1 "$(rp_filter eth1)"
check "eth3's table is its default one (20000-29999)" test "$(isp_table 3)" -ge 20000 -a "$(isp_table 3)" -lt 30000
json=$("$TEQLCTL" status --json wan)
isp_check_status "$json"
check_json "status --json: every line has tx and rx counters" \
    '[.masters[0].lines[] | [.tx_packets, .tx_bytes, .rx_packets, .rx_bytes] | map(type == "number") | all] | all' "$json"
check "isp_admin_add: the admin's own rule and routes" isp_admin_add
admin=$(isp_admin_objects)

# --- traffic: each line by its own ISP, LAN flows over every line, counters -------------------
counters=$(isp_counters)
isp_check_paths
isp_check_spread
isp_check_counters "$counters"
check "status text shows rx beside tx" sh -c "'$TEQLCTL' status wan | grep -q 'tx [0-9]* pkts [0-9]* bytes, rx [0-9]* pkts [0-9]* bytes'"

# --- a second ifup changes nothing ----------------------------------------------------------
snap=$(isp_snapshot)
check "ifup -a again" ifup -a
check_eq "a second ifup -a changes nothing" "$snap" "$(isp_snapshot)"
# ifupdown skips what it has configured; --force runs wan's hooks again for real.
check "ifup --force wan (its hooks run again)" ifup --force wan
check_eq "... and change nothing" "$snap" "$(isp_snapshot)"

# --- ifdown / ifup of a line ----------------------------------------------------------------
check "ifdown eth2" ifdown eth2
isp_check_bundle eth1 eth3
check_eq "ifupdown no longer has eth2" "" "$(deb_state eth2)"
check_json "status: eth2 out, and why" \
    '.masters[0].lines[] | select(.name == "eth2") | .multipath | (.live | not) and .why == "down"' \
    "$("$TEQLCTL" status --json wan)"
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
check "ifup eth2" ifup eth2
isp_check_bundle eth1 eth2 eth3
check "ping -I eth2's address again" ping -c 2 -W 2 -I "${ISP_ADDR[2]}" "$ISP_HOST"

# --- ifdown / ifup of the bundle ------------------------------------------------------------
check "ifdown wan" ifdown wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[] | "\(.gateway // .nhid)"')"
check_eq "nothing of ours left (rules, tables, nexthops)" "" "$(isp_ours)"
check_eq "the admin's rule, routes and nftables table are untouched" "$admin" "$(isp_admin_objects)"
check_eq "the lines stay up and configured" "eth1=eth1 eth2=eth2 eth3=eth3" \
    "$(for i in eth1 eth2 eth3 wan; do deb_state "$i"; done | xargs)"
check_json "status: wan is down" '.masters[0].up | not' "$("$TEQLCTL" status --json wan)"
check "ifup wan" ifup wan
isp_check_bundle eth1 eth2 eth3
check_eq "the admin's objects are still there" "$admin" "$(isp_admin_objects)"
check "ping -I from eth3's address" ping -c 2 -W 2 -I "${ISP_ADDR[3]}" "$ISP_HOST"

# --- ifdown -a: nothing of ours left; ifup of one line alone brings up a bundle of one ------
check "ifdown -a" ifdown -a
check_eq "ifdown -a: nothing of ours left" "" "$(isp_ours)"
check_eq "ifdown -a: ifupdown has nothing configured" "" "$(ifquery --state)"
check "ifup eth3 alone" ifup eth3
isp_check_bundle eth3
check "the LAN reaches the internet over eth3 alone" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
check "ifdown eth3" ifdown eth3
check_eq "... nothing of ours left" "" "$(isp_ours)"

# --- a DHCP line under ifupdown (`inet dhcp`): ifupdown's own dhclient, with Debian's
# dhclient-script, runs the exit hook the .deb installs; the if-up.d hook runs too -----------
check "install the dhclient exit hook as the .deb does" isp_dhcp_install_hook
check "DHCP server in ISP 2's namespace, router 192.0.2.1" isp_dhcp_server 192.0.2.1
check "lines start down with no address" isp_fresh_lines
ISP_DEB_DHCP=2
check "eth2 by DHCP in /etc/network/interfaces" isp_deb_write
ISP_DEB_DHCP=
info "$(cat "$DEB_FILE")"
out=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$out" ] && info "$out"
check_eq "eth2 has the leased address" "${ISP_ADDR[2]}/24" \
    "$(ip -j addr show dev eth2 | jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"')"
check_eq "teqlctl recorded the lease's router" 192.0.2.1 "$(jq -r '.router' /run/teqlctl/dhcp-eth2.json 2>/dev/null)"
isp_check_bundle eth1 eth2 eth3
check_eq "no default route of dhclient-script's own left" "" \
    "$(ip -j route show default | jq -r '.[] | select(.nhid == null) | .gateway')"
check "ping -I eth2's leased address" ping -c 2 -W 2 -I "${ISP_ADDR[2]}" "$ISP_HOST"
check "ifdown eth2 (ifupdown releases the lease)" ifdown eth2
isp_check_bundle eth1 eth3
check "the lease record is gone" test ! -e /run/teqlctl/dhcp-eth2.json
check "ifup eth2 (a new lease)" ifup eth2
isp_check_bundle eth1 eth2 eth3
check "ifdown -a" ifdown -a
check_eq "nothing of ours left" "" "$(isp_ours)"
check "no dhclient left on eth2" sh -c '! pgrep -f "dhclient.* eth2$" >/dev/null'
isp_dhcp_server_stop

check "isp_down" isp_down
finish
