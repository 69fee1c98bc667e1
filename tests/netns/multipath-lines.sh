#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (see vmlab.sh): what
# tests/vm/t-74-multipath-lines.sh checked in the VM until issue 27, point 5, every check moved
# here with its name and meaning (the VM's lab, tests/vm/isp.sh, and its assertions, on the
# host's kernel).
# Lines of every kind in one multipath bundle (issue 12, point 2): eth1 static (its gateway in
# its ifcfg file), eth2 by DHCP (the real dhclient with Debian's /sbin/dhclient-script and
# teqlctl's exit hook installed as the .deb installs it, a DHCP server in ISP 2's namespace),
# eth3 point-to-point (a /32 with a peer on a veth: no gateway, routed by the device).
# Shows the DHCP router in the line's nexthop and table, a lease renewed with another router
# moving them, a released and an expired lease taking the line out, dhclient-script's own
# default route replaced by the bundle's, ping -I from each line and the internet reaching each.
# Needs dhclient, dhclient-script and busybox (udhcpd); tests/netns.rs skips it without them
# (and fails under CI).
# shellcheck source-path=SCRIPTDIR source=vmlab.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmlab.sh"

# check's memory of an earlier scenario in this boot must not take a line out here.
rm -f /run/teqlctl/health.json
check "isp_up" isp_up
# eth2's address comes from DHCP; eth3 is a /32 with a peer on both ends.
ip addr flush dev eth2
check "eth3 point-to-point: 203.0.113.10/32 peer 203.0.113.1" isp_p2p 3
write_files() {
    mkdir -p "$NS_DIR" || return 1
    cat >"$NS_DIR/ifcfg-eth1" <<EOT
DEVICE=eth1
ONBOOT=yes
BOOTPROTO=static
IPADDR=${ISP_ADDR[1]}
PREFIX=${ISP_LEN[1]}
GATEWAY=${ISP_GW[1]}
TEQL_MASTER=wan
TEQL_WEIGHT=2
TEQL_TABLE=4201
EOT
    cat >"$NS_DIR/ifcfg-eth2" <<EOT
DEVICE=eth2
ONBOOT=yes
BOOTPROTO=dhcp
TEQL_MASTER=wan
TEQL_TABLE=4202
EOT
    # The address and its peer are the link's own (here set by isp_p2p, as pppd would).
    cat >"$NS_DIR/ifcfg-eth3" <<EOT
DEVICE=eth3
ONBOOT=yes
BOOTPROTO=none
TEQL_MASTER=wan
TEQL_TABLE=4203
EOT
    printf 'DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\n' >"$NS_DIR/ifcfg-wan"
}
check "write the office's files (eth1 static, eth2 dhcp, eth3 point-to-point)" write_files
check "link the network-scripts hooks" ns_link_hooks
check "install the dhclient exit hook as the .deb does" isp_dhcp_install_hook
check_eq "... /etc/dhcp/dhclient-exit-hooks.d/teqlctl" /usr/share/teqlctl/dhclient-exit-hook \
    "$(readlink /etc/dhcp/dhclient-exit-hooks.d/teqlctl)"
check "DHCP server in ISP 2's namespace, router 192.0.2.1" isp_dhcp_server 192.0.2.1

# nexthop_of ID: "GATEWAY DEV" of nexthop ID ("null eth3" without a gateway).
nexthop_of() {
    ip -j nexthop show id "$1" 2>/dev/null | jq -r '.[0] | "\(.gateway) \(.dev)"'
}
# table_default T: the gateway of table T's default route.
table_default() {
    ip -j route show table "$1" default | jq -r '.[0].gateway // empty'
}
# lease_router: the router teqlctl recorded for eth2's lease.
lease_router() {
    jq -r '.router' /run/teqlctl/dhcp-eth2.json 2>/dev/null
}

# --- the first lease, with no default route yet: dhclient-script adds its own, the hook
# brings the bundle up (every line that is up joins, as a line's ifup-local does) and the
# bundle's route replaces dhclient's.
check_eq "no default route before the lease" "" "$(ip -j route show default | jq -r '.[].dst')"
check "dhclient gets a lease on eth2 (BOUND)" isp_dhclient
info "$(cat "$VM_DHCP_DIR/events" 2>/dev/null)"
check_eq "eth2 has the leased address" 192.0.2.10/24 \
    "$(ip -j -4 addr show dev eth2 | jq -r '.[0].addr_info[0] | "\(.local)/\(.prefixlen)"')"
check "the exit hook ran for BOUND" grep -q '^BOUND 192.0.2.1' "$VM_DHCP_DIR/events"
check_eq "the lease's router is recorded" 192.0.2.1 "$(lease_router)"
check_eq "the group holds every line" "eth1 eth2 eth3" "$(isp_members)"
json=$(ip -j route show default)
check_json "one default route: the bundle's (dhclient's own, metric 0, replaced)" \
    'length == 1 and .[0].nhid != null and (.[0].protocol | tostring) == "200"' "$json"
g=$(jq -r '.[0].nhid' <<<"$json")
check_eq "eth2's nexthop goes via the DHCP router" "192.0.2.1 eth2" "$(nexthop_of 4202)"
check_eq "table 4202: default via the DHCP router" 192.0.2.1 "$(table_default 4202)"
check_eq "eth1's nexthop via its configured gateway" "${ISP_GW[1]} eth1" "$(nexthop_of 4201)"

# --- the static and the point-to-point lines' own ifup-local: nothing more to do
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show)
check "ifup-local eth1" ns_hook ifup-local eth1
check "ifup-local eth3" ns_hook ifup-local eth3
check_eq "... changes nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show)"
check_eq "eth3's nexthop goes by the device" "null eth3" "$(nexthop_of 4203)"
check_json "table 4203: the peer route and default dev eth3, both src 203.0.113.10" \
    '[.[] | "\(.dst) \(.gateway // "-") \(.dev) \(.prefsrc)"] | sort == ["203.0.113.1 - eth3 203.0.113.10", "default - eth3 203.0.113.10"]' \
    "$(ip -j route show table 4203)"
check_eq "weights 2:1:1" "2 1 1" "$(ip -j nexthop show id "$g" | jq -r '[.[0].group[] | .weight // 1] | map(tostring) | join(" ")')"
json=$("$TEQLCTL" status --json wan)
check_json "status: every line live; eth2's gateway is the lease's, eth3 has none" \
    '[.masters[0].lines[] | .multipath | "\(.live) \(.address) \(.gateway)"] == ["true 198.51.100.10/29 198.51.100.9", "true 192.0.2.10/24 192.0.2.1", "true 203.0.113.10/32 null"]' "$json"
# What the plan uses, not "no gateway known" (issue 28, point 9): eth3 is routed by its device.
check_json "status --json: eth3 is point-to-point, the others are not" \
    '[.masters[0].lines[] | .multipath.pointopoint] == [false, false, true]' "$json"
text=$("$TEQLCTL" status wan 2>/dev/null)
info "$text"
in_text() { grep -q -e "$1" <<<"$text"; }
check "status: eth2 (DHCP) via its lease's router" in_text '192.0.2.10/24 via 192.0.2.1,'
check "status: eth3 (point-to-point) by its device" in_text '203.0.113.10/32 dev eth3,'
not_in_text() { ! grep -q -e "$1" <<<"$text"; }
check "status: no line without a way out" not_in_text 'no gateway known'

# --- split access on each kind of line
for k in 1 2 3; do
    check "ping -I ${ISP_ADDR[$k]} the internet host" ping -c 2 -W 2 -I "${ISP_ADDR[$k]}" "$ISP_HOST"
    check "the internet reaches eth$k's address" ip netns exec inet ping -c 2 -W 2 "${ISP_ADDR[$k]}"
done
check "the LAN reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"

# --- teqlctl check probes each kind of line through its own next hop (eth2: the lease's
# router, from its nexthop; eth3: its peer)
for k in 1 2 3; do printf 'TEQL_PROBE=%s\nTEQL_PROBE_TIMEOUT=1500\n' "$ISP_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
check "a check round" "$TEQLCTL" check
check_json "every line healthy" '[.masters[0].lines[].health.state] == ["healthy", "healthy", "healthy"]' \
    "$("$TEQLCTL" status --json wan)"

# --- the lease renewed with another router (r2 has that address too)
ip -n r2 addr add 192.0.2.254/24 dev lan
check "DHCP server restarted with router 192.0.2.254" isp_dhcp_server 192.0.2.254
check "at the next renewal eth2's nexthop moves to 192.0.2.254" \
    wait_for -t 60 sh -c '[ "$(ip -j nexthop show id 4202 | jq -r ".[0].gateway")" = 192.0.2.254 ]'
check "... on a RENEW from 192.0.2.1 to 192.0.2.254" grep -q '^RENEW 192.0.2.254 192.0.2.1$' "$VM_DHCP_DIR/events"
check_eq "table 4202: default via 192.0.2.254" 192.0.2.254 "$(table_default 4202)"
check_eq "the recorded lease: 192.0.2.254" 192.0.2.254 "$(lease_router)"
check_eq "the group still holds every line" "eth1 eth2 eth3" "$(isp_members)"
check_eq "... the same group behind the same default route" "$g" "$(ip -j route show default | jq -r '.[0].nhid')"
check_json "status: eth2's gateway 192.0.2.254" '.masters[0].lines[1].multipath.gateway == "192.0.2.254"' \
    "$("$TEQLCTL" status --json wan)"
check "ping -I 192.0.2.10 through the new router" ping -c 2 -W 2 -I 192.0.2.10 "$ISP_HOST"
check "the internet reaches eth2's address" ip netns exec inet ping -c 2 -W 2 192.0.2.10
# The hook run again with the same lease, as dhclient-script sources it: nothing changes.
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show)
check_eq "the exit hook sourced with the same lease returns 0" 0 \
    "$(env reason=RENEW interface=eth2 new_ip_address=192.0.2.10 new_routers=192.0.2.254 \
        sh -c '. /etc/dhcp/dhclient-exit-hooks.d/teqlctl; echo $?')"
check_eq "... and changes nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show)"

# --- release: eth2 out of the group, its table and rule gone, its record too
check "dhclient -r (RELEASE)" isp_dhclient -r
check "the exit hook ran for RELEASE" grep -q '^RELEASE' "$VM_DHCP_DIR/events"
check_eq "the group holds eth1 and eth3" "eth1 eth3" "$(isp_members)"
check_eq "eth2's rule is gone" "" "$(ip -j rule show | jq -r '.[] | select(.src == "192.0.2.10") | .table')"
check_eq "table 4202 is empty" "" "$(ip -j route show table 4202 | jq -r '.[].dst')"
check "the lease record is gone" test ! -e /run/teqlctl/dhcp-eth2.json
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"

# --- a new lease while the bundle's route exists: dhclient-script's `ip route add default`
# fails (harmlessly), the hook puts eth2 back with the lease's router
check "dhclient again" isp_dhclient
check_eq "eth2 is back in the group" "eth1 eth2 eth3" "$(isp_members)"
check_json "still one default route: the bundle's" 'length == 1 and .[0].nhid != null' "$(ip -j route show default)"
check_eq "eth2's nexthop via 192.0.2.254" "192.0.2.254 eth2" "$(nexthop_of 4202)"
check "ping -I 192.0.2.10" ping -c 2 -W 2 -I 192.0.2.10 "$ISP_HOST"

# --- expiry: the server gone, the lease runs out (20 s) and eth2 leaves the group
check "DHCP server stopped" isp_dhcp_server_stop
check "the lease expires: eth2 leaves the group" \
    wait_for -t 90 sh -c '[ "$(ip -j nexthop show | jq -r "[.[] | select(.group != null)][0].group | length")" = 2 ]'
check "the exit hook ran for EXPIRE" grep -q '^EXPIRE' "$VM_DHCP_DIR/events"
check_eq "the group holds eth1 and eth3" "eth1 eth3" "$(isp_members)"
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
info "dhclient-script calls: $(tr '\n' ';' <"$VM_DHCP_DIR/events")"

check "isp_down" isp_down
# lab_down (from isp_down, and after every scenario) leaves nothing of the DHCP lab behind.
check "no dhclient left" sh -c '! pgrep -x dhclient'
check "no exit hook or test binary left" \
    sh -c '! ls /etc/dhcp/dhclient-exit-hooks.d/teqlctl /etc/dhcp/dhclient-exit-hooks.d/zz-teqlctl-vm-events /usr/share/teqlctl /usr/sbin/teqlctl 2>/dev/null | grep -q .'
check "no lease record left" sh -c '! ls /run/teqlctl/dhcp-* 2>/dev/null | grep -q .'
finish
