#!/usr/bin/env bash
# Debian's ifupdown (0.8), the real package, with teqlctl linked into /etc/network/if-*.d: the
# stack's smoke (issue 27, point 5), showing that its events reach teqlctl for each mode. What
# a mode does with them (traffic over every line, status counters, marks, NAT, one stream's
# share of the lines' sum) is shown once, by the mode's own tests (tests/README.md).
# TEQL, on the four-line lab: an interface that is not ours (silent, nothing loaded); the
# issue's file with the lines first: `ifup -a`, a second `ifup -a` changing nothing, a line's
# post-up again reading the kernel once, `ifdown -a`; with teql0 first: `ifup teql0` alone
# bringing every line up through ifupdown, then `ifup -a` over it changing nothing, `ifdown
# teql0` / `ifup teql0`, the lines leaving one by one (the last one through `ifdown teql0`,
# with its --dry-run), the first back through `ifup teql0`, `ifup -v` of a line, `ifdown -a`
# (the last line's nested `ifdown teql0`); four parallel `ifup`s; two bad stanzas failing alone.
# Multipath, on the ISP lab: `ifup -a` builds each line's table and rule and the weighted
# resilient group; a second `ifup -a` and `ifup --force wan` change nothing; `ifdown wan` /
# `ifup wan` leave the admin's rule, routes and nftables table; `ifdown eth2` / `ifup eth2`;
# `ifdown -a` leaves nothing; then eth2 alone as `inet dhcp` (ifupdown's dhclient and the exit
# hook the .deb installs) is a bundle of one by the lease's router, and its `ifdown` (a
# release) leaves nothing. Connection: `ifup -a` writes the table inet
# teqlctl and the fwmark rules over the multipath tables, `ifdown eth2` / `ifup eth2` take the
# line out of the weights map and back, `ifdown wan` leaves the admin's nftables table, `ifdown
# -a` leaves nothing. Tunnels: ifupdown's own `inet tunnel` (IPIP) and a `pre-up ip tunnel add`
# one as lines of teql0 over the ISP lines' multipath bundle, the aggregator's stanzas by
# `teqlctl peer-config` brought up by its own ifupdown in its namespace, the office LAN reaching
# the host behind it, `ifdown tl2` / `ifup tl2` on both ends, `ifdown -a` on both ends.
# vm-timeout: 900
# vm-cost: 340
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"
# shellcheck source-path=SCRIPTDIR source=tunnel.sh
. "$(dirname "${BASH_SOURCE[0]}")/tunnel.sh"

# mp_state: the multipath bundle wan as the kernel has it, one line of text per fact: the main
# table's default routes and the group the first one uses (its kind, each member's device and
# weight), then per line (as `status` lists them) its rule from its address and its table's
# default route, or that it has none. One jq over four dumps: isp_check_bundle (isp-debian.sh)
# checks the same in some twenty checks, 5-6 s of process starts under TCG each time.
mp_state() {
    { "$TEQLCTL" status --json wan; ip -j -d nexthop show; ip -j rule show; ip -j route show table all; } 2>/dev/null \
        | jq -r -s --arg a1 "${ISP_ADDR[1]}" --arg a2 "${ISP_ADDR[2]}" --arg a3 "${ISP_ADDR[3]}" '
        .[0] as $st | .[1] as $nh | .[2] as $rules | .[3] as $routes
        | [$routes[] | select(.dst == "default" and .table == null)] as $defs
        | ([$nh[] | select(.id == $defs[0].nhid)][0] // {}) as $g
        | "default: \($defs | length) route(s), by a \($g.type // "no") group of"
            + ([$g.group[]? | .id as $id | " \([$nh[] | select(.id == $id)][0].dev):\(.weight // 1)"] | join("")),
          ([$a1, $a2, $a3] as $addrs | $st.masters[0].lines | to_entries[]
           | (.value.multipath.table | tostring) as $t | $addrs[.key] as $a | .value.name as $n
           | [$rules[] | select(.src == $a) | .table] as $r
           | [$routes[] | select(.table == $t)] as $tr
           | if $r == [] then
                 "\($n): no rule, its table \(if $tr == [] then "empty" else "holding \([$tr[].dst] | join(" "))" end)"
             else
                 "\($n): rule to \(if $r == [$t] then "its table" else "table \($r | join(" "))" end), default via \([$tr[] | select(.dst == "default") | .gateway // "none"] | join(" "))"
             end)'
}

# mp_check LINES...: wan holds exactly LINES (e.g. eth1 eth3): the one default route by a
# resilient group of them with their weights, each with its rule to its table and that table's
# default via its ISP; the other lines with no rule and an empty table.
mp_check() {
    local k want
    want="default: 1 route(s), by a resilient group of"
    for k in "$@"; do want+=" $k:${ISP_WEIGHTS[${k#eth}]}"; done
    for k in 1 2 3; do
        if [[ " $* " == *" eth$k "* ]]; then
            want+=$'\n'"eth$k: rule to its table, default via ${ISP_GW[$k]}"
        else
            want+=$'\n'"eth$k: no rule, its table empty"
        fi
    done
    check_eq "wan holds $*: the group, each line's rule and table, no other line's" "$want" "$(mp_state)"
}

# deb_configured IFACE...: what ifupdown has configured of IFACE..., on one line.
deb_configured() {
    local i
    for i in "$@"; do deb_state "$i"; done | xargs
}

teql0_down_and_empty() {
    check_eq "$1: teql0 down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
    check_eq "$1: no line attached" "noqueue noqueue noqueue noqueue" \
        "$(for k in 2 3 4 5; do root_qdisc_kind "eth$k"; done | xargs)"
    check_eq "$1: no default route" "[]" "$(ip -j route show default)"
    check_eq "$1: ifupdown has nothing configured" "" "$(ifquery --state)"
}

check "ifupdown is installed (the real package)" test -x /usr/sbin/ifup

# ================================ TEQL ================================================
BUNDLE_ROUTE_ONLINK=0
check "lab_up 4" lab_up 4
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" deb_fresh_lines

# --- an interface that is not ours: silent, nothing loaded ---------------------------------
printf 'auto eth5\niface eth5 inet static\n    address 198.18.5.1/30\n' >"$DEB_FILE"
said=$(ifup eth5 2>&1)
check_eq "ifup of an interface that is not ours exits 0" 0 "$?"
check_eq "... and teqlctl says nothing" "" "$said"
check "... and loads nothing" test ! -d /sys/module/sch_teql
said=$(ifdown eth5 2>&1)
check_eq "ifdown of it exits 0, and nothing is said" "0 " "$? $said"

# --- the lines first: ifup -a, again, a post-up again, ifdown -a ---------------------------
deb_write lines-first
said=$(ifup -a 2>&1)
check_eq "ifup -a (lines-first) exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
lab_sync_return
check_bundle_up 2 3 4 5
check_eq "ifupdown configured teql0 itself" "teql0=teql0" "$(deb_state teql0)"
check "ping through teql0" ping -c 2 -W 2 "$LAB_HOST"
# (One master: the file names teql0 only. The bad stanzas below count on it.)
check_eq "sch_teql loaded with the one master the file names" "teql0" "$(cd /sys/class/net && echo teql*)"
snap=$(kernel_snapshot)
check "ifup -a again" ifup -a
check_eq "a second ifup -a changes nothing" "$snap" "$(kernel_snapshot)"

# One planned run per hook (issue 16, point 10): eth4's post-up again, as run-parts starts it,
# reads the kernel once (one link dump) and only eth4's and "all"'s rp_filter; it changes nothing.
hook_env eth4 post-up IF_TEQL_MASTER=teql0 -- strace -f -qq -e trace=%network,openat -o "$VM_STATE/hook.strace" "$TEQLCTL"
# (strace does not name the type of rtnetlink's link dump request, 18: RTM_GETLINK.)
check_eq "eth4's post-up again: one link dump" 1 \
    "$(grep -cE '(sendto|sendmsg)\(.*nlmsg_type=(RTM_GETLINK|0x12)[ ,]' "$VM_STATE/hook.strace")"
check_eq "... the rp_filter of eth4 and all only" "all eth4" \
    "$(grep -o 'conf/[^/]*/rp_filter' "$VM_STATE/hook.strace" | cut -d/ -f2 | sort -u | xargs)"
check_eq "... and no change" "$snap" "$(kernel_snapshot)"

check "ifdown -a (lines-first: teql0 first, then each line)" ifdown -a
teql0_down_and_empty "ifdown -a (lines-first)"

# --- teql0 first: ifup teql0 alone brings its lines up through ifupdown ---------------------
deb_write master-first
said=$(hook_env teql0 pre-up -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check_eq "--dry-run hook ifupdown, teql0's pre-up with every line down: the ifup of each line" \
    "eth2 eth3 eth4 eth5" "$(sed -n 's/^ifup \(eth[0-9]\)    # a failure is a warning$/\1/p' <<<"$said" | xargs)"
check "... then teql0 must have a line" grep -q "^# then teql0 must have a line, else: teql0: none of its lines" <<<"$said"
check "ifup teql0 alone" ifup teql0
lab_sync_return
check_eq "every line was brought up through ifupdown" "eth2=eth2 eth3=eth3 eth4=eth4 eth5=eth5" \
    "$(deb_configured eth2 eth3 eth4 eth5)"
check_bundle_up 2 3 4 5
check "ping through teql0" ping -c 2 -W 2 "$LAB_HOST"
# ifup -a with teql0 first is this `ifup teql0`, then the lines, configured by then. (It also
# brings up ifupdown's built-in lo, which the ifdown -a above took down: lo first, so that the
# comparison is of what teqlctl does.)
ifup lo
snap=$(kernel_snapshot)
check "ifup -a (master-first) over it" ifup -a
check_eq "... changes nothing" "$snap" "$(kernel_snapshot)"
check "ifdown teql0" ifdown teql0
check_eq "ifdown teql0 unbonds its lines" "noqueue noqueue noqueue noqueue" \
    "$(for k in 2 3 4 5; do root_qdisc_kind "eth$k"; done | xargs)"
check_eq "the lines stay configured" "eth2=eth2 eth3=eth3 eth4=eth4 eth5=eth5" "$(deb_configured eth2 eth3 eth4 eth5)"
check "ifup teql0 again bonds the lines that are up" ifup teql0
check_bundle_up 2 3 4 5

# --- the lines leave one by one: the last one through ifdown teql0; the first back through
# ifup teql0 ---------------------------------------------------------------------------------
check "ifdown eth2, eth3, eth4" ifdown eth2 eth3 eth4
lab_sync_return
check_eq "eth2, eth3, eth4 detached" "noqueue noqueue noqueue" "$(for k in 2 3 4; do root_qdisc_kind "eth$k"; done | xargs)"
check_bundle_up 5
# --dry-run shows the whole hook: the last line's detach, then ifupdown's own `ifdown teql0`.
snap=$(kernel_snapshot)
said=$(hook_env eth5 pre-down IF_TEQL_MASTER=teql0 -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check_eq "--dry-run hook ifupdown, the last line's pre-down: its detach, then ifdown teql0" \
    "tc qdisc del dev eth5 root|ifdown teql0" "$(grep -v '^#' <<<"$said" | paste -sd '|')"
check_eq "... and no change" "$snap" "$(kernel_snapshot)"
check "ifdown eth5, the last line" ifdown eth5
check_eq "teql0 was taken down through ifupdown" "" "$(deb_state teql0)"
check_eq "teql0 is down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "no default route black-holes traffic" "[]" "$(ip -j route show default)"
ip link set eth3 up
said=$(hook_env eth3 post-up IF_TEQL_MASTER=teql0 -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check "--dry-run hook ifupdown, a line's post-up while teql0 is down: its attach ..." \
    grep -qx "tc qdisc add dev eth3 root teql0" <<<"$said"
check_eq "... then ifup teql0, last" "ifup teql0" "$(grep -v '^#' <<<"$said" | tail -n 1)"
ip link set eth3 down
check "ifup eth3 brings the bundle back" ifup eth3
lab_sync_return
check_bundle_up 3
check_eq "... through ifup teql0" "teql0=teql0" "$(deb_state teql0)"
check "ping over eth3" ping -c 2 -W 2 "$LAB_HOST"
# VERBOSITY=1 (ifup -v) makes teqlctl say what it does.
said=$(ifup -v eth2 2>&1)
check_eq "ifup -v eth2 exits 0" 0 "$?"
check "ifup -v: teqlctl says what it changes" grep -q "teqlctl: tc qdisc add dev eth2 root teql0" <<<"$said"
check_bundle_up 2 3
# ifdown -a with teql0 first goes the other way: eth3 leaves, then eth2, the last line, whose
# pre-down runs `ifdown teql0` inside ifdown -a.
check "ifdown -a (master-first: the lines, the last one taking teql0 down)" ifdown -a
teql0_down_and_empty "ifdown -a (master-first)"

# --- every line at once (systemd's ifup@.service) -------------------------------------------
deb_write lines-first
pids=()
for k in 2 3 4 5; do
    ifup "eth$k" >"$VM_STATE/ifup-eth$k.log" 2>&1 &
    pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do
    wait "$p"
    rcs+="$? "
done
check_eq "four parallel ifup all exit 0" "0 0 0 0 " "$rcs"
lab_sync_return
check_bundle_up 2 3 4 5
check_eq "teql0 configured once, by ifupdown" "teql0=teql0" "$(deb_state teql0)"
check "ping through teql0" ping -c 2 -W 2 "$LAB_HOST"

# --- bad stanzas fail alone, each with one clear line ----------------------------------------
# eth4 names a bundle no stanza configures; eth5 names teql7 while sch_teql has one master.
check "ifdown eth4 eth5" ifdown eth4 eth5
deb_write lines-first 4=eth9 5=teql7
said=$(ifup -a 2>&1)
check "ifup -a with teql-master eth9 on eth4 and teql7 on eth5 reports a failure" test $? -ne 0
info "$said"
check "... naming eth4's option and its value" grep -q 'line eth4 names bundle eth9 (teql-master "eth9"), but no bundle eth9 is configured' <<<"$said"
check "... and its stanza" grep -q "iface eth4 inet static" <<<"$said"
check "... saying, for eth5, what to put in modprobe.d" grep -q "options sch_teql max_equalizers=8" <<<"$said"
check_eq "eth4 and eth5 were not brought up" "" "$(deb_configured eth4 eth5)"
lab_sync_return
check_bundle_up 2 3
check "the other lines work" ping -c 2 -W 2 "$LAB_HOST"
check "lab_down" lab_down

# ================================ multipath ===========================================
# The ISP lab with the aggregator of the tunnels' part (built once for all three parts).
check "the lab of three ISPs, with an aggregator" tun_up
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" isp_fresh_lines
check "write /etc/network/interfaces (three lines, wan inet manual)" isp_deb_write
info "$(cat "$DEB_FILE")"

said=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
mp_check eth1 eth2 eth3
check_eq "ifupdown configured every line and wan" "eth1=eth1 eth2=eth2 eth3=eth3 wan=wan" \
    "$(deb_configured eth1 eth2 eth3 wan)"
check "eth3's table (no teql-table) is its default one (20000-29999)" test "$(isp_table 3)" -ge 20000 -a "$(isp_table 3)" -lt 30000
isp_check_status "$("$TEQLCTL" status --json wan)"
check "the LAN reaches the internet through wan" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"
check "isp_admin_add: the admin's own rule and routes" isp_admin_add
admin=$(isp_admin_objects)

snap=$(isp_snapshot)
check "ifup -a again" ifup -a
check_eq "a second ifup -a changes nothing" "$snap" "$(isp_snapshot)"
# ifupdown skips what it has configured; --force runs wan's hooks again for real.
check "ifup --force wan (its hooks run again)" ifup --force wan
check_eq "... and change nothing" "$snap" "$(isp_snapshot)"

# --- the bundle down and up: nothing of the admin's touched ----------------------------------
check "ifdown wan" ifdown wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[] | "\(.gateway // .nhid)"')"
check_eq "nothing of ours left (rules, tables, nexthops)" "" "$(isp_ours)"
check_eq "the admin's rule, routes and nftables table are untouched" "$admin" "$(isp_admin_objects)"
check_eq "the lines stay up and configured" "eth1=eth1 eth2=eth2 eth3=eth3" "$(deb_configured eth1 eth2 eth3 wan)"
check_json "status: wan is down" '.masters[0].up | not' "$("$TEQLCTL" status --json wan)"
check "ifup wan" ifup wan
mp_check eth1 eth2 eth3
check_eq "the admin's objects are still there" "$admin" "$(isp_admin_objects)"

# --- a line down and up ------------------------------------------------------------------
check "ifdown eth2" ifdown eth2
mp_check eth1 eth3
check_eq "ifupdown no longer has eth2" "" "$(deb_state eth2)"
check_json "status: eth2 out, and why" \
    '.masters[0].lines[] | select(.name == "eth2") | .multipath | (.live | not) and .why == "down"' \
    "$("$TEQLCTL" status --json wan)"
check "the LAN still reaches the internet" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"
check "ifup eth2" ifup eth2
mp_check eth1 eth2 eth3

# --- ifdown -a: nothing of ours left -------------------------------------------------------------
check "ifdown -a" ifdown -a
check_eq "ifdown -a: nothing of ours left" "" "$(isp_ours)"
check_eq "ifdown -a: ifupdown has nothing configured" "" "$(ifquery --state)"
ip rule del priority 1000
ip route flush table 100
ip route del 198.18.201.0/24

# --- a DHCP line (`inet dhcp`) alone, wan not configured: ifupdown's own dhclient, with
# Debian's dhclient-script, runs the exit hook the .deb installs; the line's if-up.d hook
# brings up a bundle of one by the lease's router -------------------------------------------------
check "install the dhclient exit hook as the .deb does" isp_dhcp_install_hook
check "DHCP server in ISP 2's namespace, router 192.0.2.1" isp_dhcp_server 192.0.2.1
ISP_DEB_DHCP=2
check "eth2 by DHCP in /etc/network/interfaces" isp_deb_write
ISP_DEB_DHCP=
said=$(ifup eth2 2>&1)
check_eq "ifup eth2 (inet dhcp) alone exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
check_eq "eth2 has the leased address" "${ISP_ADDR[2]}/24" \
    "$(ip -j addr show dev eth2 | jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"')"
check_eq "teqlctl recorded the lease's router" 192.0.2.1 "$(jq -r '.router' /run/teqlctl/dhcp-eth2.json 2>/dev/null)"
# (mp_check also finds no default route of dhclient-script's own: one default route only.)
mp_check eth2
check "ping -I eth2's leased address" ping -c 2 -W 2 -I "${ISP_ADDR[2]}" "$ISP_HOST"
check "the LAN reaches the internet over eth2 alone" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"
check "ifdown eth2 (ifupdown releases the lease)" ifdown eth2
check_eq "... nothing of ours left" "" "$(isp_ours)"
check "the lease record is gone" test ! -e /run/teqlctl/dhcp-eth2.json
check "no dhclient left on eth2" sh -c '! pgrep -f "dhclient.* eth2$" >/dev/null'
isp_dhcp_server_stop

# ================================ connection ==========================================
# shellcheck disable=SC2317  # run through check
write_files() {
    isp_deb_write "teql-nat 198.18.100.0/24" "teql-prefer eth3 eth1" "teql-prefer-dst 198.18.64.0/18" \
        && sed -i 's/^    teql-mode multipath$/    teql-mode connection/' "$DEB_FILE" \
        && grep -q '^    teql-mode connection$' "$DEB_FILE"
}
check "write /etc/network/interfaces (three lines, wan a connection bundle)" write_files
# The admin's own table (the lab's masquerade, beside teql-nat's) must be untouched at the end.
admin_nft=$(nft list table ip adminnat)
said=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
mp_check eth1 eth2 eth3
check "the table inet teqlctl is in" nft list table inet teqlctl
mark3=$(printf '0x%x' $((0x54450000 | ($(isp_table 3) & 0xffff))))
marks=(0x54451069 0x5445106a "$mark3")
check_eq "a fwmark rule per line, to its table" "0x54451069:4201 0x5445106a:4202 $mark3:$(isp_table 3)" \
    "$(ip -j rule show | jq -r '.[] | select(.priority == 30050) | "\(.fwmark):\(.table)"' | xargs)"
check_json "status --json: a connection bundle with each line's mark" \
    "[.masters[0] | .mode, (.lines[].multipath.connection.mark)] == [\"connection\", $(printf '"%s",' "${marks[@]}" | sed 's/,$//')]" \
    "$("$TEQLCTL" status --json wan)"
check "the LAN reaches the internet through wan" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"

check "ifdown eth2" ifdown eth2
mp_check eth1 eth3
check "eth2 is out of the weights map" sh -c "! nft list map inet teqlctl weights | grep -q 0x5445106a"
check_eq "eth2's fwmark rule is gone" "" "$(ip -j rule show | jq -r '.[] | select(.fwmark == "0x5445106a") | .table')"
check "ifup eth2" ifup eth2
mp_check eth1 eth2 eth3
check "eth2 is back in the weights map" sh -c "nft list map inet teqlctl weights | grep -q 0x5445106a"

check "ifdown wan" ifdown wan
check "no table inet teqlctl left" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "no fwmark rule of ours left" "" "$(ip -j rule show | jq -r '.[] | select(.priority == 30050) | .table')"
check_eq "the admin's nftables table is byte-identical" "$admin_nft" "$(nft list table ip adminnat)"
check "ifup wan" ifup wan
check "... the table is back" nft list table inet teqlctl
check "ifdown -a" ifdown -a
check "no table inet teqlctl left after ifdown -a" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "nothing else of ours either" "" "$(isp_ours; ip -j rule show | jq -r '.[] | select(.priority == 30050) | .table')"

# ================================ tunnels =============================================
# IPIP tunnels (t-80 has keyed GRE). The ISP lines are a multipath bundle `wan` with
# `teql-defroute no`; tl1 is ifupdown's own `inet tunnel` in IPIP mode (which needs an inner
# address in ifupdown 0.8), tl2 an IPIP tunnel made by `pre-up ip tunnel add` in an `inet
# manual` stanza; both `teql-master teql0`, whose stanza says what the aggregator routes back
# and masquerades (teql-peer-route, teql-peer-nat).
TUN_KEY=(x "" "")
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
    mode ipip
    local ${TUN_LOCAL[1]}
    endpoint $AGG_ADDR
    address 198.18.201.2
    netmask 255.255.255.252
    teql-master teql0

auto tl2
iface tl2 inet manual
    pre-up ip tunnel add tl2 mode ipip local ${TUN_LOCAL[2]} remote $AGG_ADDR
    up ip link set tl2 up
    post-down ip tunnel del tl2
    teql-master teql0

auto teql0
iface teql0 inet static
    address 198.18.200.2/30
    gateway 198.18.200.1
    teql-peer-route 198.18.100.0/24
    teql-peer-nat yes
EOT
info "$(cat "$DEB_FILE")"

# The aggregator runs ifupdown too, in its namespace, with the stanzas `teqlctl peer-config`
# writes from the office's: its /etc/network is /etc/netns/agg/network, its ifupdown state its own.
AGG_NET=/etc/netns/agg/network
# No /etc/sysconfig on this box for ip netns exec to bind the aggregator's over.
rm -rf /etc/netns/agg/sysconfig
mkdir -p "$AGG_NET/interfaces.d" /run/network-agg
cp -a /etc/network/if-pre-up.d /etc/network/if-up.d /etc/network/if-down.d /etc/network/if-post-down.d "$AGG_NET/"
echo "source /etc/network/interfaces.d/*" >"$AGG_NET/interfaces"
check "the aggregator's stanzas, by teqlctl peer-config from the office's" tun_peer_config interfaces "$AGG_NET/interfaces.d"
info "$(cat "$AGG_NET"/interfaces.d/*)"
# The far host has no route back to the office LAN: only the aggregator's NAT lets it answer.
ip -n far route del default
said=$(on agg ifup -a 2>&1)
check_eq "aggregator: ifup -a exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
check_eq "aggregator: tl1 and tl2 are lines of teql1" "teql1 teql1" \
    "$(for k in 1 2; do tc -n agg -j qdisc show dev "tl$k" root | jq -r '.[0].kind'; done | xargs)"
check_eq "aggregator: the office LAN routed through teql1, and masqueraded (teql-route, teql-nat)" "1 1" \
    "$(tun_agg_routing)"

said=$(ifup -a 2>&1)
check_eq "office: ifup -a exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
check_eq "ifupdown configured everything" "eth1=eth1 eth2=eth2 wan=wan tl1=tl1 tl2=tl2 teql0=teql0" \
    "$(deb_configured eth1 eth2 wan tl1 tl2 teql0)"
for k in 1 2; do
    check_eq "tl$k's root qdisc is teql0" teql0 "$(root_qdisc_kind "tl$k")"
    check_eq "tl$k's outer packets leave by eth$k" "eth$k" \
        "$(ip -j route get "$AGG_ADDR" from "${TUN_LOCAL[$k]}" | jq -r '.[0].dev')"
done
check_eq "tl1 and tl2 are IPIP on both ends" "ipip ipip ipip ipip" \
    "$(for ns in "" agg; do for k in 1 2; do ip ${ns:+-n $ns} -j -d link show "tl$k" | jq -r '.[0].linkinfo.info_kind'; done; done | xargs)"
# tl1 has an inner address (ifupdown's tunnel method wants one): loose filtering works there.
check_eq "tl1 (with an address): rp_filter 2 (loose); tl2 (without): 0" "2 0" "$(rp_filter tl1) $(rp_filter tl2)"
check_eq "teql0: 198.18.200.2/30" "198.18.200.2/30" \
    "$(ip -j -4 addr show dev teql0 | jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")')"
check_json "the one default route is via 198.18.200.1 dev teql0 (teql-defroute no: none of wan's)" \
    'length == 1 and .[0].gateway == "198.18.200.1" and .[0].dev == "teql0"' "$(ip -j route show default)"
check "the office LAN reaches the host behind the aggregator (20 pings, no loss)" \
    ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

check "ifdown tl2" ifdown tl2
check_eq "tl2 is gone, teql0 keeps tl1" "teql0 none" "$(root_qdisc_kind tl1) $(ip link show tl2 >/dev/null 2>&1 && echo there || echo none)"
check "aggregator: ifdown tl2" on agg ifdown tl2
check "one tunnel: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"
check "ifup tl2" ifup tl2
check "aggregator: ifup tl2" on agg ifup tl2
check_eq "tl2 is a line of teql0 again" teql0 "$(root_qdisc_kind tl2)"
check "both tunnels: 20 pings, no loss" ip netns exec lan ping -q -c 20 -i 0.05 -W 2 "$FAR_HOST"

check "ifdown -a" ifdown -a
check_eq "ifdown -a: no rule, route or nexthop of the wan bundle left" "" "$(isp_ours)"
check_eq "ifdown -a: the tunnels are gone" "" "$(ip -j link show | jq -r '.[] | select(.ifname | startswith("tl")) | .ifname')"
check_json "ifdown -a: teql0 is down" '.[0].flags | index("UP") == null' "$(ip -j link show teql0)"
check_eq "ifdown -a: ifupdown has nothing configured" "" "$(ifquery --state)"
check "aggregator: ifdown -a" on agg ifdown -a
check_eq "aggregator: its route and NAT went with teql1" "0 0" "$(tun_agg_routing)"
check "the lab comes down" tun_down
finish
