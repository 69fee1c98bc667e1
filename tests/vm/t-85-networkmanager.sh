#!/usr/bin/env bash
# NetworkManager (issue 15), the one real-stack smoke of NetworkManager (issue 27, point 5): the
# real NetworkManager and nmcli drive teqlctl linked as the dispatcher script, first a TEQL
# bundle, then a multipath bundle that becomes a connection bundle (once
# t-86-networkmanager-multipath), in one boot and under one NetworkManager (started once,
# restarted once).
#
# TEQL (the office, lab_up 4): the four DSL lines eth2..eth5 as keyfile profiles with teqlctl's
# user data, teql0's address and gateway in /etc/teqlctl/bundles/teql0.conf; the lines up one by
# one and in parallel, the whole set down at once, teql0 left alone by NetworkManager (the
# shipped conf.d snippet), a connection that is not ours, a profile with a bad value, the
# dispatcher links of `hooks install` and of the packages.
# Multipath, then connection (the ISP lab, isp_up): the three ISP lines eth1..eth3 as keyfile
# profiles (eth1 and eth3 static with their gateway in the profile, eth2 by DHCP from
# NetworkManager's own client), teqlctl.master=wan and the lines' weights and tables in
# [user], the bundle's mode in /etc/teqlctl/bundles/wan.conf: `--dry-run` of the dispatcher's
# up, the lines up one by one (the weighted group, eth2's gateway the lease's), a renewal with
# another router (dhcp4-change, and NetworkManager's device state file read by `teqlctl
# check`), NetworkManager restarted under the bundle (nothing changes), a profile with a bad
# weight (its line down under LAN pings), the set down leaving nothing; then mode=connection
# with the lines up at once (teqlctl's table in and never gone while they came up), and the
# set down leaving nothing.
#
# What each mode does with the lines is not repeated here (tests/README.md, "Where each
# behaviour is tested"): traffic over every TEQL line is t-10-netscripts', multipath's split
# access and spread tests/netns/multipath.sh's, connection's spread by weight, NAT and
# preferred destinations tests/netns/connection.sh's and t-78-connection's.
# vm-timeout: 600
# vm-cost: 200
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=nm.sh
. "$(dirname "${BASH_SOURCE[0]}")/nm.sh"

# syslog: nothing listens on /dev/log in the guest; a tiny listener records what is said there.
syslog_file=/run/teqlctl-vm/syslog
check "a syslog listener on /dev/log" syslog_listen "$syslog_file"

# attached K...: every line ethK has teql0 as its root qdisc (the dispatcher's `up` runs after
# nmcli returns: NetworkManager waits for pre-up.d only).
attached() {
    local k
    for k in "$@"; do [ "$(root_qdisc_kind "eth$k")" = teql0 ] || return 1; done
}
# detached K...: no line ethK has teql0 as its root qdisc.
detached() {
    local k
    for k in "$@"; do [ "$(root_qdisc_kind "eth$k")" != teql0 ] || return 1; done
}

check "lab_up 4" lab_up 4
check "NetworkManager's lab settings and teqlctl's shipped snippet" nm_setup
write_office() {
    local k
    for k in 2 3 4 5; do nm_line_profile "$k" || return 1; done
    nm_bundle_file
}
check "profiles dsl2..dsl5 with teqlctl.master=teql0, teql0's bundle file" write_office
check "teqlctl hooks install --networkmanager" "$TEQLCTL" hooks install --networkmanager --binary "$TEQLCTL"
for l in "${NM_DISPATCHER_LINKS[@]}"; do
    check_eq "$l links to the binary" "$TEQLCTL" "$(readlink "$l")"
done
check "NetworkManager starts" nm_start
info "NetworkManager $(NetworkManager --version)"

# === TEQL ==================================================================================

# --- boot order: the lines come up one by one ------------------------------------------------
for k in 2 3 4 5; do
    check "nmcli connection up dsl$k" nmcli -w 60 connection up dsl$k
    check "eth$k joined teql0 (the dispatcher's up)" wait_for -t 30 attached $k
done
lab_sync_return
check_bundle_up 2 3 4 5
check "ping $LAB_HOST through teql0" ping -c 3 -W 2 "$LAB_HOST"
check "syslog got the attach of eth2 from the dispatcher" \
    grep -q "teqlctl\[[0-9]*\]: tc qdisc add dev eth2 root teql0" "$syslog_file"
check_eq "teql0 is not NetworkManager's (unmanaged: the shipped snippet)" unmanaged "$(nm_state teql0)"
json=$("$TEQLCTL" status --json)
check_json "status --json: the four lines attached, NetworkManager's, no warning" \
    '([.masters[0].lines[] | select(.attached and .stack == "NetworkManager")] | length == 4) and .warnings == []' "$json"
check "status text names the stack" sh -c "'$TEQLCTL' status | grep -q '^  eth2 .*(NetworkManager)\$'"

# --- the whole set down at once, and up in parallel ------------------------------------------
check "nmcli connection down dsl2 dsl3 dsl4 dsl5 (the pre-downs at once)" nmcli -w 60 connection down dsl2 dsl3 dsl4 dsl5
check "every line left" wait_for -t 30 detached 2 3 4 5
check_eq "with no line left teql0 is down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "and no default route is left" "[]" "$(ip -j route show default)"
pids=()
for k in 2 3 4 5; do
    nmcli -w 60 connection up dsl$k >"$VM_STATE/up.$k.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
check_eq "four nmcli connection up at once exit 0" 0 "$rc"
check "every line joined" wait_for -t 60 attached 2 3 4 5
lab_sync_return
check_bundle_up 2 3 4 5
check "ping after the parallel up" ping -c 2 -W 2 "$LAB_HOST"

# --- a connection that is not ours -----------------------------------------------------------
snap=$(kernel_snapshot)
ip link add dummy7 type dummy
cat >"$NM_PROFILES/other.nmconnection" <<'EOT'
[connection]
id=other
type=dummy
interface-name=dummy7
autoconnect=false
[ipv4]
method=manual
address1=192.0.2.7/32
[ipv6]
method=disabled
EOT
chmod 600 "$NM_PROFILES/other.nmconnection"
nmcli connection reload
lines_before=$(grep -c 'teqlctl\[' "$syslog_file")
check "nmcli connection up other" nmcli -w 60 connection up other
check "nmcli connection down other" nmcli -w 60 connection down other
sleep 2
ip link del dummy7
check_eq "nothing changed but the other connection's own device" "$snap" "$(kernel_snapshot)"
check_eq "and teqlctl said nothing" "$lines_before" "$(grep -c 'teqlctl\[' "$syslog_file")"

# --- a profile with a bad value ----------------------------------------------------------------
check "nmcli connection down dsl5" nmcli -w 60 connection down dsl5
check "eth5 left" wait_for -t 30 detached 5
nm_line_profile 5 teqlctl.master=teql0 teqlctl.rp-filter=lose
nmcli connection reload
check "nmcli connection up dsl5 with a bad teqlctl.rp-filter: the activation goes on" nmcli -w 60 connection up dsl5
check "the error names the profile and the key in syslog" \
    wait_for -t 30 grep -q 'dsl5.nmconnection: teqlctl.rp-filter="lose" is not valid' "$syslog_file"
check "eth5 did not join" detached 5
check "teqlctl status says it too" sh -c "'$TEQLCTL' status 2>&1 | grep -q 'teqlctl.rp-filter=\"lose\" is not valid'"
check "the other lines kept their bundle" attached 2 3 4
nm_line_profile 5
nmcli connection reload
check "nmcli connection down and up dsl5, repaired" sh -c 'nmcli -w 60 connection down dsl5 && nmcli -w 60 connection up dsl5'
check "eth5 joined" wait_for -t 30 attached 5

# --- the packages' links, in NetworkManager's vendor directory ---------------------------------
check "teqlctl hooks uninstall --networkmanager" "$TEQLCTL" hooks uninstall --networkmanager
check "no dispatcher link left in /etc" sh -c "! ls -d ${NM_DISPATCHER_LINKS[*]} 2>/dev/null | grep -q ."
json=$("$TEQLCTL" status --json 2>"$VM_STATE/status.err")
check_json "status warns that eth2's hooks cannot run now" \
    '.warnings | any(test("^(eth[0-9], )*eth2(, eth[0-9])*: configured in NetworkManager, but the dispatcher link teqlctl needs is not installed"))' "$json"
check "... on stderr too, once for all the lines" test "$(grep -c "configured in NetworkManager, but the dispatcher link" "$VM_STATE/status.err")" = 1
# As distro/debian/teqlctl.links and the .rpm make them (relative there; the binary here). They
# stay for the multipath part below.
vendor_links() {
    local d
    for d in "" pre-up.d/ pre-down.d/; do
        mkdir -p "/usr/lib/NetworkManager/dispatcher.d/$d" && ln -sfn "$TEQLCTL" "/usr/lib/NetworkManager/dispatcher.d/${d}90-teqlctl" || return 1
    done
}
check "the dispatcher links in /usr/lib/NetworkManager/dispatcher.d" vendor_links
check "nmcli connection down dsl4" nmcli -w 60 connection down dsl4
check "eth4 left (the vendor directory's pre-down.d)" wait_for -t 30 detached 4
check "nmcli connection up dsl4" nmcli -w 60 connection up dsl4
check "eth4 joined (the vendor directory's up)" wait_for -t 30 attached 4

# --- the end of the office -------------------------------------------------------------------
check "nmcli connection down dsl2 dsl3 dsl4 dsl5" nmcli -w 60 connection down dsl2 dsl3 dsl4 dsl5
check "every line left at the end" wait_for -t 30 detached 2 3 4 5
check_eq "... teql0 is down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
info "dispatcher runs logged by teqlctl for the office: $(grep -c 'teqlctl\[' "$syslog_file")"
# The office's profiles and bundle file go (status and check read every profile), then its lab;
# NetworkManager keeps running.
rm -f "$NM_PROFILES"/dsl*.nmconnection "$NM_PROFILES/other.nmconnection" /etc/teqlctl/bundles/teql0.conf
nmcli connection reload
check "lab_down (the office's lab)" lab_down

# === multipath, then connection (once t-86-networkmanager-multipath) ========================

# table_default T: the gateway of table T's default route.
table_default() {
    ip -j route show table "$1" default | jq -r '.[0].gateway // empty'
}
# ours: every rule, route and nexthop a multipath bundle may own, to compare before and after.
ours() {
    ip -j rule show
    ip -j nexthop show
    for t in 4201 4202 4203; do ip -j route show table "$t"; done
    ip -j route show default
}
# members_are LIST: the bundle's group holds exactly these lines ("eth1 eth3").
members_are() { [ "$(isp_members)" = "$1" ]; }
# rules_of_ours: the tables of the rules of ours left, one a line (none: nothing).
rules_of_ours() {
    ip -j rule show | jq -r '.[] | select(.table == "4201" or .table == "4202" or .table == "4203") | .table'
}

check "isp_up" isp_up
check "the DHCP server of ISP 2 (router 192.0.2.1)" isp_dhcp_server 192.0.2.1

write_isp() {
    nm_isp_profile 1 "method=manual
address1=${ISP_ADDR[1]}/${ISP_LEN[1]},${ISP_GW[1]}
never-default=true" teqlctl.master=wan teqlctl.weight=2 teqlctl.table=4201 || return 1
    nm_isp_profile 2 "method=auto
never-default=true" teqlctl.master=wan teqlctl.table=4202 || return 1
    nm_isp_profile 3 "method=manual
address1=${ISP_ADDR[3]}/${ISP_LEN[3]}
gateway=${ISP_GW[3]}
never-default=true" teqlctl.master=wan teqlctl.table=4203 || return 1
    nm_bundle wan "mode=multipath"
}
check "profiles isp1..isp3 (teqlctl.master=wan) and wan's file (mode=multipath)" write_isp
nmcli connection reload
# An observer after teqlctl's script: each event and the routers NetworkManager passed with it.
nm_events=/run/teqlctl-vm/nm-events
mkdir -p "$NM_ETC/dispatcher.d"
# shellcheck disable=SC2016  # expanded by the observer
printf '#!/bin/sh\necho "$1 $2 ${DHCP4_ROUTERS:-}" >>%s\n' "$nm_events" >"$NM_ETC/dispatcher.d/99-teqlctl-vm-events"
chmod 755 "$NM_ETC/dispatcher.d/99-teqlctl-vm-events"

# --- the dispatcher's plan, as --dry-run shows it (the lab's addresses still on the lines) ---
snap=$(ours)
plan=$(CONNECTION_FILENAME=$NM_PROFILES/isp1.nmconnection "$TEQLCTL" --dry-run hook nm-dispatcher eth1 up 2>&1)
info "$plan"
check "dry run of the dispatcher's up prints eth1's rule" \
    grep -q "ip rule add priority 30100 from ${ISP_ADDR[1]}/32 lookup 4201" <<<"$plan"
# eth2 has no lease yet: it is left out, and that is said.
check "... and the group of eth1 and eth3 with their weights" grep -q "group 4201,2/4203,1 type resilient" <<<"$plan"
check "... and that eth2 waits for its DHCP lease" grep -q "eth2: no gateway known .*wait for its DHCP lease" <<<"$plan"
check_eq "... and changes nothing" "$snap" "$(ours)"
# NetworkManager gives the lines their addresses: the lab's own go.
for k in 1 2 3; do ip addr flush dev "eth$k"; done

# --- the lines come up one by one ----------------------------------------------------------
check "nmcli connection up isp1" nmcli -w 60 connection up isp1
check "eth1 is in wan's group (the dispatcher's up)" wait_for -t 30 members_are eth1
check "nmcli connection up isp2 (DHCP)" nmcli -w 90 connection up isp2
check_eq "eth2 got its lease's address from NetworkManager" "${ISP_ADDR[2]}" \
    "$(ip -j -4 addr show dev eth2 | jq -r '.[0].addr_info[0].local')"
check "eth2 joined" wait_for -t 30 members_are "eth1 eth2"
check "nmcli connection up isp3" nmcli -w 60 connection up isp3
check "eth3 joined" wait_for -t 30 members_are "eth1 eth2 eth3"
g=$(ip -j route show default | jq -r '[.[] | select(.nhid != null)][0].nhid // empty')
check "the default route uses the group (nhid $g)" test -n "$g"
check_eq "... with weights 2:1:1" "2 1 1" "$(ip -j nexthop show id "$g" | jq -r '[.[0].group[] | .weight // 1] | map(tostring) | join(" ")')"
isp_check_tables
check_eq "eth2's gateway is its lease's router, from the dispatcher's DHCP4_ROUTERS" 192.0.2.1 "$(table_default 4202)"
check "the lease is recorded as the dhclient hook records it" \
    sh -c '[ "$(jq -r .router /run/teqlctl/dhcp-eth2.json)" = 192.0.2.1 ]'
json=$("$TEQLCTL" status --json wan)
check_json "status --json: every line live with its gateway, NetworkManager's, no warning" \
    '([.masters[0].lines[] | "\(.multipath.live) \(.multipath.gateway) \(.stack)"] == ["true 198.51.100.9 NetworkManager", "true 192.0.2.1 NetworkManager", "true 203.0.113.1 NetworkManager"]) and .warnings == []' "$json"
check "syslog got the group from the dispatcher" grep -q "teqlctl\[[0-9]*\]: ip nexthop replace id [0-9]* group" "$syslog_file"
check "the LAN reaches the internet" ip netns exec lan ping -c 2 -W 2 "$ISP_HOST"

# --- a renewal with another router ------------------------------------------------------------
# NetworkManager 1.42.6 and later run the dispatcher with dhcp4-change at a renewal; 1.42.4
# (Debian 12's, here) only for the first lease, but it rewrites its device state file at every
# renewal, which `teqlctl check` reads. Both ways are shown.
nm_devfile=/run/NetworkManager/devices/$(cat /sys/class/net/eth2/ifindex)
# nm_lease_router R: NetworkManager's state file for eth2 records router R.
nm_lease_router() { grep -qx "dhcp4.routers=$1" "$nm_devfile"; }
ip -n r2 addr add 192.0.2.254/24 dev lan
check "DHCP server restarted with router 192.0.2.254" isp_dhcp_server 192.0.2.254
check "at the next renewal NetworkManager records router 192.0.2.254" wait_for -t 60 nm_lease_router 192.0.2.254
grep "^dhcp4\.\(ip_address\|routers\)=" "$nm_devfile" | sed 's/^/# NetworkManager device state: /'
info "dispatcher events for eth2: $(grep -c '^eth2 ' "$nm_events") ($(grep '^eth2 ' "$nm_events" | cut -d' ' -f2 | tr '\n' ' '))"
dispatch_change() {
    env -i CONNECTION_FILENAME="$NM_PROFILES/isp2.nmconnection" DHCP4_IP_ADDRESS=192.0.2.10 DHCP4_ROUTERS="192.0.2.254 192.0.2.1" \
        "$TEQLCTL" hook nm-dispatcher eth2 dhcp4-change
}
check "the dispatcher's dhcp4-change, as NetworkManager 1.42.6 runs it (no PATH, the lease's options)" dispatch_change
check_eq "table 4202's default is the new router" 192.0.2.254 "$(table_default 4202)"
check "... said in syslog" grep -q "eth2 (wan): DHCP NetworkManager dhcp4-change: lease of 192.0.2.10 via 192.0.2.254 (was 192.0.2.10 via 192.0.2.1)" "$syslog_file"
check "ping -I 192.0.2.10 through the new router" ping -c 2 -W 2 -I 192.0.2.10 "$ISP_HOST"
check "DHCP server restarted with router 192.0.2.1" isp_dhcp_server 192.0.2.1
check "at the next renewal NetworkManager records router 192.0.2.1" wait_for -t 60 nm_lease_router 192.0.2.1
check "a teqlctl check round" "$TEQLCTL" check
check_eq "table 4202's default is 192.0.2.1 again, from NetworkManager's state file" 192.0.2.1 "$(table_default 4202)"
check "... said in syslog" grep -q "eth2 (wan): DHCP NetworkManager renewal: lease of 192.0.2.10 via 192.0.2.1 (was 192.0.2.10 via 192.0.2.254)" "$syslog_file"
snap=$(ours)
check "a second check round" "$TEQLCTL" check
check_eq "... changes nothing" "$snap" "$(ours)"

# --- NetworkManager restarted under the bundle --------------------------------------------
snap=$(ours)
check "NetworkManager stops (SIGTERM)" nm_stop
check "NetworkManager starts again" nm_start
all_connected() {
    local k
    for k in 1 2 3; do [ "$(nm_state "eth$k")" = connected ] || return 1; done
}
check "the lines are NetworkManager's again (connected)" wait_for -t 60 all_connected
sleep 3
check_eq "the bundle survived the restart: no rule, route or nexthop changed" "$snap" "$(ours)"
check "the LAN reaches the internet after the restart" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"

# --- a profile with a bad weight; its line down under LAN pings ----------------------------
ip netns exec lan ping -i 0.2 -c 30 -W 1 "$ISP_HOST" >"$VM_STATE/ping-down.log" 2>&1 &
pinger=$!
sleep 1
check "nmcli connection down isp3 under LAN pings" nmcli -w 60 connection down isp3
check "eth3 left the group" wait_for -t 30 members_are "eth1 eth2"
check_eq "eth3's rule is gone" "" "$(ip -j rule show | jq -r '.[] | select(.src == "'"${ISP_ADDR[3]}"'") | .table')"
check_eq "table 4203 is empty" "" "$(ip -j route show table 4203 | jq -r '.[].dst')"
wait "$pinger"
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$VM_STATE/ping-down.log")
info "LAN pings across the down: ${received:-?} of 30 answered"
check "the LAN's pings across the down were answered (at least 25 of 30)" test "${received:-0}" -ge 25
nm_isp_profile 3 "method=manual
address1=${ISP_ADDR[3]}/${ISP_LEN[3]}
gateway=${ISP_GW[3]}
never-default=true" teqlctl.master=wan teqlctl.weight=0
nmcli connection reload
check "nmcli connection up isp3 with teqlctl.weight=0: the activation goes on" nmcli -w 60 connection up isp3
check "the error names the profile and the key in syslog" \
    wait_for -t 30 grep -q 'isp3.nmconnection: teqlctl.weight="0" is not valid: expected a weight from 1 to 256' "$syslog_file"
check_eq "eth3 did not join" "eth1 eth2" "$(isp_members)"
check "teqlctl status says it too" sh -c "'$TEQLCTL' status 2>&1 | grep -q 'teqlctl.weight=\"0\" is not valid'"

# --- the whole set down: nothing of the bundle's is left -----------------------------------
check "nmcli connection down isp1 isp2 isp3" nmcli -w 60 connection down isp1 isp2 isp3
check "the group is gone with the last line" wait_for -t 30 sh -c '[ -z "$(ip -j nexthop show | jq -r ".[].id")" ]'
check_eq "no rule of ours is left" "" "$(rules_of_ours)"
check_eq "no default route is left" "[]" "$(ip -j route show default)"

# --- mode=connection: the lines up at once -----------------------------------------------
# teqlctl's own NAT (nat=) instead of the admin's.
nft delete table ip adminnat
rewrite() {
    nm_isp_profile 3 "method=manual
address1=${ISP_ADDR[3]}/${ISP_LEN[3]}
gateway=${ISP_GW[3]}
never-default=true" teqlctl.master=wan teqlctl.table=4203 || return 1
    nm_bundle wan "mode=connection" "nat=198.18.100.0/24" "prefer=eth3 eth1" "prefer-dst=198.18.64.0/18"
}
check "wan.conf: mode=connection, nat, prefer, prefer-dst; isp3 repaired" rewrite
nmcli connection reload
# A watcher, from here until every line has joined: once teqlctl's table is written it must
# stay (it is rewritten in one nft transaction), whatever order the dispatcher runs the three
# lines' events in. Each gap is recorded with the time, to be set against syslog.
syslog_mark=$(wc -l <"$syslog_file")
: >"$nm_events"
gaps=$VM_STATE/table-gaps
watch_stop=$VM_STATE/table-watch-stop
: >"$gaps"
rm -f "$watch_stop"
(
    seen=
    while ! [ -e "$watch_stop" ]; do
        if said=$(nft list table inet teqlctl 2>&1); then
            seen=1
        elif [ -n "$seen" ]; then
            echo "$(date +%T.%N) $said" >>"$gaps"
        fi
        sleep 0.1
    done
) &
watcher=$!
pids=()
for k in 1 2 3; do
    nmcli -w 90 connection up "isp$k" >"$VM_STATE/up.$k.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
check_eq "three nmcli connection up at once exit 0" 0 "$rc"
check "every line joined" wait_for -t 60 members_are "eth1 eth2 eth3"
grep "teqlctl\[" "$syslog_file" | tail -n 6 | sed 's/^/# syslog: /'
check "the table inet teqlctl is in" wait_for -t 30 nft list table inet teqlctl
check "... with the weights map (500/250/250 slots)" \
    sh -c "nft list table inet teqlctl | grep -q '0-499 : 0x54451069, 500-749 : 0x5445106a, 750-999 : 0x5445106b'"
for k in 1 2 3; do
    check_eq "rule: fwmark of eth$k to table 420$k" "420$k" \
        "$(ip -j rule show | jq -r --arg m "$(printf '0x%x' $((0x54451068 + k)))" '.[] | select(.fwmark == $m) | .table')"
done
check_json "status --json: wan is an up connection bundle" '.masters[0] | .mode == "connection" and .up' \
    "$("$TEQLCTL" status --json wan)"
touch "$watch_stop"
wait "$watcher"
check "the table never went away while the lines came up" test ! -s "$gaps"
if [ -s "$gaps" ]; then
    sed 's/^/# gap: /' "$gaps"
    tail -n +"$((syslog_mark + 1))" "$syslog_file" | grep "teqlctl\[" | sed 's/^/# syslog: /'
    sed 's/^/# event: /' "$nm_events"
fi

check "nmcli connection down isp1 isp2 isp3" nmcli -w 60 connection down isp1 isp2 isp3
check "the table inet teqlctl is gone with the last line" wait_for -t 30 sh -c '! nft list table inet teqlctl >/dev/null 2>&1'
check_eq "no rule of ours is left" "" "$(rules_of_ours)"
check_eq "no nexthop is left" "" "$(ip -j nexthop show | jq -r '.[].id')"

# --- the end ---------------------------------------------------------------------------------
info "dispatcher runs logged by teqlctl: $(grep -c 'teqlctl\[' "$syslog_file")"
grep -v 'teqlctl\[' "$syslog_file" | grep -i "dispatch" | tail -n 8 | sed 's/^/# syslog: /'
grep -i "dispatch" "$NM_LOG" | tail -n 8 | sed 's/^/# nm: /'
nm_cleanup
syslog_stop
check "isp_down" isp_down
finish
