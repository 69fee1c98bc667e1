#!/usr/bin/env bash
# TEQL over per-line GRE tunnels (issue 14) on Debian: the office box under the real ifupdown
# (0.8) with teqlctl linked into /etc/network/if-*.d, the aggregator as in t-80. The ISP lines
# are a multipath bundle `wan` with `teql-defroute no`; tl1 is ifupdown's own `inet tunnel`
# (which needs an inner address and has no key option in ifupdown 0.8), tl2 a keyed GRE tunnel
# made by `pre-up ip tunnel add ... key 2` in an `inet manual` stanza; both `teql-master teql0`.
# `ifup -a` in file order brings the bundle up over both; the LAN reaches the host behind the
# aggregator and one stream gets at least 0.85 of the two lines' sum; ifdown/ifup of a tunnel
# and of teql0; `ifdown -a` leaves nothing of ours.
# vm-timeout: 420
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"
# shellcheck source-path=SCRIPTDIR source=tunnel.sh
. "$(dirname "${BASH_SOURCE[0]}")/tunnel.sh"

ISP_RATES="10mbit 10mbit 10mbit"
SUM_BPS=20000000
TUN_KEY=(x "" 2)
check "ifupdown is installed (the real package)" test -x /usr/sbin/ifup
check "the lab with an aggregator" tun_up
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" isp_fresh_lines
cat >"$DEB_FILE" <<EOT
# written by the teqlctl VM tests (tunnels)
auto eth1
iface eth1 inet static
    address ${ISP_ADDR[1]}/${ISP_LEN[1]}
    teql-master wan
    teql-gateway ${ISP_GW[1]}

auto eth2
iface eth2 inet static
    address ${ISP_ADDR[2]}/${ISP_LEN[2]}
    teql-master wan
    teql-gateway ${ISP_GW[2]}

auto wan
iface wan inet manual
    teql-mode multipath
    teql-defroute no

auto tl1
iface tl1 inet tunnel
    mode gre
    local ${TUN_LOCAL[1]}
    endpoint $AGG_ADDR
    address 198.18.201.2
    netmask 255.255.255.252
    teql-master teql0

auto tl2
iface tl2 inet manual
    pre-up ip tunnel add tl2 mode gre local ${TUN_LOCAL[2]} remote $AGG_ADDR key 2
    up ip link set tl2 up
    post-down ip tunnel del tl2
    teql-master teql0

auto teql0
iface teql0 inet static
    address 198.18.200.2/30
    gateway 198.18.200.1
EOT
info "$(cat "$DEB_FILE")"

# The aggregator: as in t-80 (network-scripts' files in its namespace), tl1 without a key.
check "the aggregator's files" tun_write_agg
check "link the network-scripts hooks (the aggregator's)" ns_link_hooks
for k in 1 2; do check "aggregator: ifup tl$k" tun_ifup agg "$k"; done
check "aggregator: the office LAN via teql1" ip -n agg route add 198.18.100.0/24 via 198.18.200.2 dev teql1 onlink

# --- ifup -a ------------------------------------------------------------------------------------
out=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$out" ] && info "$out"
check_eq "ifupdown configured everything" "eth1=eth1 eth2=eth2 wan=wan tl1=tl1 tl2=tl2 teql0=teql0" \
    "$(for i in eth1 eth2 wan tl1 tl2 teql0; do deb_state "$i"; done | xargs)"
for k in 1 2; do
    check_eq "tl$k's root qdisc is teql0" teql0 "$(root_qdisc_kind "tl$k")"
    check_eq "tl$k's outer packets leave by eth$k" "eth$k" \
        "$(ip -j route get "$AGG_ADDR" from "${TUN_LOCAL[$k]}" | jq -r '.[0].dev')"
done
# tl1 has an inner address (ifupdown's tunnel method wants one): loose filtering works there.
check_eq "tl1 (with an address): rp_filter 2 (loose)" 2 "$(rp_filter tl1)"
check_eq "tl2 (without): rp_filter 0" 0 "$(rp_filter tl2)"
check_eq "teql0: 198.18.200.2/30" "198.18.200.2/30" \
    "$(ip -j -4 addr show dev teql0 | jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")')"
check_json "the one default route is via 198.18.200.1 dev teql0" \
    'length == 1 and .[0].gateway == "198.18.200.1" and .[0].dev == "teql0"' "$(ip -j route show default)"
check "the office LAN reaches the host behind the aggregator (20 pings, no loss)" \
    ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

ip netns exec far timeout 60 iperf3 -s -1 -B "$FAR_HOST" >/dev/null 2>&1 &
wait_for ip netns exec far sh -c "ss -Hltn 'sport = :5201' | grep -q ."
b1=$(line_tx_packets tl1) b2=$(line_tx_packets tl2)
ip netns exec lan timeout 50 iperf3 -c "$FAR_HOST" -t 10 -O 2 -J >"$VM_STATE/up.json" 2>&1
d1=$(($(line_tx_packets tl1) - b1)) d2=$(($(line_tx_packets tl2) - b2))
bps=$(jq -r '.end.sum_received.bits_per_second // 0' "$VM_STATE/up.json")
info "one stream up: $(awk -v b="$bps" -v s="$SUM_BPS" 'BEGIN { printf "%.2f Mbit/s, %.3f of the sum", b / 1e6, b / s }'); tl1 $d1, tl2 $d2 packets"
check "one stream over the two tunnels: at least 0.85 of the sum" awk -v b="$bps" -v s="$SUM_BPS" 'BEGIN { exit !(b >= 0.85 * s) }'
check "per-tunnel counters even (within 10% of the mean)" test $((2 * (d1 > d2 ? d1 - d2 : d2 - d1) * 10)) -le $((d1 + d2))

# --- ifdown / ifup of a tunnel, of teql0 ----------------------------------------------------------
check "ifdown tl2" ifdown tl2
check_eq "tl2 is gone, teql0 keeps tl1" "teql0 none" "$(root_qdisc_kind tl1) $(ip link show tl2 >/dev/null 2>&1 && echo there || echo none)"
check "aggregator: ifdown tl2" tun_ifdown agg 2
check "one tunnel: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"
check "ifup tl2" ifup tl2
check "aggregator: ifup tl2" tun_ifup agg 2
check_eq "tl2 is a line of teql0 again" teql0 "$(root_qdisc_kind tl2)"
check "ifdown teql0" ifdown teql0
check_json "teql0 is down" '.[0].flags | index("UP") == null' "$(ip -j link show teql0)"
check_eq "no default route left" "[]" "$(ip -j route show default)"
check "ifup teql0" ifup teql0
check_eq "both tunnels are lines of teql0 again" "teql0 teql0" "$(root_qdisc_kind tl1) $(root_qdisc_kind tl2)"
check "the bundle is back: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

# --- ifdown -a: nothing of ours left ------------------------------------------------------------
check "ifdown -a" ifdown -a
check_eq "ifdown -a: no rule, route or nexthop of the wan bundle left" "" "$(isp_ours)"
check_eq "ifdown -a: the tunnels are gone" "" "$(ip -j link show type gre | jq -r '.[] | select(.ifname | startswith("tl")) | .ifname')"
check_json "ifdown -a: teql0 is down" '.[0].flags | index("UP") == null' "$(ip -j link show teql0)"
check_eq "ifdown -a: ifupdown has nothing configured" "" "$(ifquery --state)"

check "the lab comes down" tun_down
finish
