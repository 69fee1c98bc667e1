#!/usr/bin/env bash
# A connection bundle (issue 13) driven by the real ifupdown (0.8) with teqlctl linked into
# /etc/network/if-*.d, as t-78 drives it with network-scripts' hooks: `ifup -a` writes the
# table inet teqlctl and the fwmark rules over the multipath bundle's tables; LAN connections
# spread over every line, PREFER_DST destinations leave by the preferred line; `ifdown eth2` /
# `ifup eth2` take the line out of the weights map and back; `ifdown wan`
# removes the table and rules and leaves the admin's nftables table as it was; `ifdown -a`
# leaves nothing of ours.
# vm-timeout: 480
# vm-cost: 143
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"

PREFERRED_HOST=198.18.64.1
check "ifupdown is installed (the real package)" test -x /usr/sbin/ifup
check "isp_up" isp_up
ip -n inet addr add "$PREFERRED_HOST/32" dev lo
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" isp_fresh_lines
write_files() {
    isp_deb_write "teql-nat 198.18.100.0/24" "teql-prefer eth3 eth1" "teql-prefer-dst 198.18.64.0/18" \
        && sed -i 's/^    teql-mode multipath$/    teql-mode connection/' "$DEB_FILE" \
        && grep -q '^    teql-mode connection$' "$DEB_FILE"
}
check "write /etc/network/interfaces (three lines, wan a connection bundle)" write_files
info "$(cat "$DEB_FILE")"
# The admin's own table (the lab's masquerade, beside TEQL_NAT's) must be untouched at the end.
admin_nft=$(nft list table ip adminnat)

# --- ifup -a ---------------------------------------------------------------------------------
out=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$out" ] && info "$out"
isp_check_bundle eth1 eth2 eth3
check "the table inet teqlctl is in" nft list table inet teqlctl
mark3=$(printf '0x%x' $((0x54450000 | ($(isp_table 3) & 0xffff))))
marks="0x54451069 0x5445106a $mark3"
check_eq "a fwmark rule per line, to its table" "0x54451069:4201 0x5445106a:4202 $mark3:$(isp_table 3)" \
    "$(ip -j rule show | jq -r '.[] | select(.priority == 30050) | "\(.fwmark):\(.table)"' | xargs)"
check_json "status --json: a connection bundle with each line's mark" \
    "[.masters[0] | .mode, (.lines[].multipath.connection.mark)] == [\"connection\", $(printf '"%s",' $marks | sed 's/,$//')]" \
    "$("$TEQLCTL" status --json wan)"

# --- LAN connections spread; PREFER_DST by the preferred line --------------------------------
isp_check_spread
sink_start
check "the sink on the internet host listens" sh -c "ip netns exec inet ss -Hlun 'sport = :9' | grep -q ."
check "30 LAN connections to the preferred destination" udp_flows lan "$PREFERRED_HOST" 30
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 29 ]"
check_eq "every one left by eth3 (the preferred line)" "$(wc -l <"$SINK_LOG")" "$(sink_count "${ISP_ADDR[3]}")"

# --- ifdown / ifup of a line: out of the weights map and back -------------------------------
check "ifdown eth2" ifdown eth2
isp_check_bundle eth1 eth3
check "eth2 is out of the weights map" sh -c "! nft list map inet teqlctl weights | grep -q 0x5445106a"
check_eq "eth2's fwmark rule is gone" "" "$(ip -j rule show | jq -r '.[] | select(.fwmark == "0x5445106a") | .table')"
check "ifup eth2" ifup eth2
isp_check_bundle eth1 eth2 eth3
check "eth2 is back in the weights map" sh -c "nft list map inet teqlctl weights | grep -q 0x5445106a"
: >"$SINK_LOG"
check "30 LAN connections after eth2's return" udp_flows lan "$ISP_HOST" 30
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 29 ]"
check "... eth2 takes some again" test "$(sink_count "${ISP_ADDR[2]}")" -ge 1
kill "$SINK" 2>/dev/null
wait "$SINK" 2>/dev/null

# --- ifdown / ifup of the bundle, then ifdown -a ---------------------------------------------
check "ifdown wan" ifdown wan
check "no table inet teqlctl left" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "no fwmark rule of ours left" "" "$(ip -j rule show | jq -r '.[] | select(.priority == 30050) | .table')"
check_eq "the admin's nftables table is byte-identical" "$admin_nft" "$(nft list table ip adminnat)"
check "ifup wan" ifup wan
check "... the table is back" nft list table inet teqlctl
check "ifdown -a" ifdown -a
check "no table inet teqlctl left after ifdown -a" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "nothing else of ours either" "" "$(isp_ours; ip -j rule show | jq -r '.[] | select(.priority == 30050) | .table')"
check "isp_down" isp_down
finish
