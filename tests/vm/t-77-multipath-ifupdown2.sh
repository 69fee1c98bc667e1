#!/usr/bin/env bash
# A multipath bundle over three independent ISPs (issue 12) driven by Debian's ifupdown2 (3.x,
# unpacked by tests/vm/ifupdown2-setup) with teqlctl linked into /etc/network/if-*.d, as t-76
# does with ifupdown: `ifup -a` builds split access and the weighted resilient group, traffic
# by each line and spread over all, status counters growing, a second `ifup -a` (which runs
# every hook again under ifupdown2) changes nothing, `ifdown eth2` / `ifup eth2`, the bundle
# down and up, `ifdown -a`.
#
# Where ifupdown2 differs: `wan` has no kernel device, and ifupdown2 runs nothing at all for an
# interface without one on ifdown (scheduler.run_iface_list_ops: not even the if-*.d scripts),
# and warns "wan: interface not recognized" on ifup. Shown below; the documented cure is
# `link-type dummy` in wan's stanza: ifupdown2 itself then creates a dummy device wan (pre-up)
# and deletes it (post-down), and runs wan's hooks both ways. Each ifupdown2 run costs
# 25-60 s under TCG: about 10 runs here.
# vm-timeout: 900
# vm-cost: 189
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=ifupdown2.sh
. "$(dirname "${BASH_SOURCE[0]}")/ifupdown2.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"

check "ifupdown2 is unpacked under target/ifupdown2" i2_available
i2_available >/dev/null || finish
# Not through check: that runs its command in a subshell, and PATH must stay changed.
i2_install
check_eq "ifupdown2's configuration in /etc/network/ifupdown2, its ifup/ifdown/ifquery first in PATH" 0 "$?"
info "ifupdown2 $(cat "$I2_HOME/version")"
check "isp_up" isp_up
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" isp_fresh_lines
check "write /etc/network/interfaces (three lines, wan inet manual)" isp_deb_write
sysctl -q -w net.ipv4.conf.eth1.rp_filter=1

# wan_kind: the kind of the device named wan, or nothing when there is none.
wan_kind() {
    local j
    j=$(ip -d -j link show wan 2>/dev/null) || { echo none; return; }
    jq -r '.[0].linkinfo.info_kind // "none"' <<<"$j"
}

# --- ifup -a: every line, then the bundle ---------------------------------------------------
said=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
info "$said"
isp_check_bundle eth1 eth2 eth3
check "ifupdown2 warns that wan has no device (and runs its hooks all the same)" \
    grep -q "wan: interface not recognized" <<<"$said"
check_eq "no default route of ifupdown2's own (teql-gateway, not gateway)" "" \
    "$(ip -j route show default | jq -r '.[] | select(.nhid == null) | .gateway')"
check_eq "the hash policy is the custom 5-tuple one" "3 55" "$(cat /proc/sys/net/ipv4/fib_multipath_hash_{policy,fields} | xargs)"
check_eq "eth1 keeps the admin's strict rp_filter" 1 "$(rp_filter eth1)"
json=$("$TEQLCTL" status --json wan)
isp_check_status "$json"
check "isp_admin_add: the admin's own rule and routes" isp_admin_add
admin=$(isp_admin_objects)

# --- traffic and counters -------------------------------------------------------------------
counters=$(isp_counters)
isp_check_paths
isp_check_spread
isp_check_counters "$counters"

# --- a second ifup -a runs every hook again and changes nothing ------------------------------
snap=$(isp_snapshot)
i2_check "ifup -a again" ifup -a
check_eq "a second ifup -a changes nothing" "$snap" "$(isp_snapshot)"

# --- ifdown / ifup of a line ----------------------------------------------------------------
i2_check "ifdown eth2" ifdown eth2
isp_check_bundle eth1 eth3
check_json "status: eth2 out, and why" \
    '.masters[0].lines[] | select(.name == "eth2") | .multipath | (.live | not) and .why == "down"' \
    "$("$TEQLCTL" status --json wan)"
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
i2_check "ifup eth2" ifup eth2
isp_check_bundle eth1 eth2 eth3
check "ping -I eth2's address again" ping -c 2 -W 2 -I "${ISP_ADDR[2]}" "$ISP_HOST"

# --- the limit: without a device, ifdown wan runs nothing -------------------------------------
snap=$(isp_snapshot)
i2_check "ifdown wan (no device named wan)" ifdown wan
check_eq "the limit: ifupdown2 ran no hook for wan, the bundle is as it was" "$snap" "$(isp_snapshot)"

# --- the cure: link-type dummy in wan's stanza ------------------------------------------------
check "add link-type dummy to wan's stanza" isp_deb_write "link-type dummy"
said=$(ifup wan 2>&1)
check_eq "ifup wan exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
check_eq "ifupdown2 created wan, a dummy device" dummy "$(wan_kind)"
check "... and no longer warns" test -z "$(grep "not recognized" <<<"$said")"
check_eq "... the bundle is as it was" "$snap" "$(isp_snapshot)"
i2_check "ifdown wan" ifdown wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[] | "\(.gateway // .nhid)"')"
check_eq "nothing of ours left (rules, tables, nexthops)" "" "$(isp_ours)"
check_eq "the admin's rule, routes and nftables table are untouched" "$admin" "$(isp_admin_objects)"
check_eq "ifupdown2 deleted its dummy wan" none "$(wan_kind)"
check_eq "the lines stay up" "UP UP UP" \
    "$(for k in 1 2 3; do ip -j link show "eth$k" | jq -r '.[0].operstate'; done | xargs)"
i2_check "ifup wan" ifup wan
isp_check_bundle eth1 eth2 eth3
check_eq "the admin's objects are still there" "$admin" "$(isp_admin_objects)"
check "ping -I from eth3's address" ping -c 2 -W 2 -I "${ISP_ADDR[3]}" "$ISP_HOST"

# --- ifdown -a: nothing of ours left ------------------------------------------------------------
i2_check "ifdown -a" ifdown -a
check_eq "ifdown -a: nothing of ours left" "" "$(isp_ours)"
check_eq "ifdown -a: no device wan" none "$(wan_kind)"

rm -f "$I2_STATE_DIR/ifstatenew" /run/network/ifstatelock
check "isp_down" isp_down
finish
