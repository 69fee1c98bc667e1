#!/usr/bin/env bash
# NetworkManager (issue 15): the four DSL lines eth2..eth5 as keyfile profiles with teqlctl's
# user data, teql0's address and gateway in /etc/teqlctl/bundles/teql0.conf, the binary linked
# as the dispatcher script, and the real NetworkManager and nmcli driving it: the lines up one
# by one and in parallel, one line down under traffic, the whole set down and up, NetworkManager
# restarted under the running bundle, a profile with a bad value, and a connection that is not
# ours. The same kernel checks as the network-scripts scenario, and NetworkManager leaving teql0
# alone (the shipped conf.d snippet).
# vm-timeout: 600
# vm-cost: 150
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
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
    for k in 2 3 4 5; do nm_line_profile $k || return 1; done
    nm_bundle_file
}
check "profiles dsl2..dsl5 with teqlctl.master=teql0, teql0's bundle file" write_office
check "teqlctl hooks install --networkmanager" "$TEQLCTL" hooks install --networkmanager --binary "$TEQLCTL"
for l in "${NM_DISPATCHER_LINKS[@]}"; do
    check_eq "$l links to the binary" "$TEQLCTL" "$(readlink "$l")"
done
check "NetworkManager starts" nm_start
info "NetworkManager $(NetworkManager --version)"

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
check_eq "teql0 is not NetworkManager's (unmanaged)" unmanaged "$(nm_state teql0)"

before=$(tx_counts 2 3 4 5)
upload_best 25000000 5 "$VM_STATE/upload.json"
json=$(cat "$VM_STATE/upload.json")
check_json "4 x 10 Mbit lines give more than 25 Mbit/s (the fastest of up to 3 transfers)" \
    '.end.sum_received.bits_per_second > 25000000' "$json"
check_even_shares "$before" "$(tx_counts 2 3 4 5)" 2 3 4 5

json=$("$TEQLCTL" status --json)
check_json "status --json: the four lines attached, NetworkManager's, no warning" \
    '([.masters[0].lines[] | select(.attached and .stack == "NetworkManager")] | length == 4) and .warnings == []' "$json"
check "status text names the stack" sh -c "'$TEQLCTL' status | grep -q '^  eth2 .*(NetworkManager)\$'"

# --- one line down under traffic -------------------------------------------------------------
ip netns exec isp timeout 60 iperf3 -s -1 -B "$LAB_HOST" >/dev/null 2>&1 &
wait_for ip netns exec isp sh -c "ss -Hltn 'sport = :5201' | grep -q ."
timeout 40 iperf3 -c "$LAB_HOST" -t 8 -J >"$VM_STATE/iperf-down.json" 2>&1 &
client=$!
sleep 3
check "nmcli connection down dsl3 under traffic" nmcli -w 60 connection down dsl3
check "eth3 left teql0 (pre-down)" wait_for -t 30 detached 3
# NetworkManager leaves eth3's link up (network-scripts' ifdown sets it down), and the lab's
# isp returns traffic over every router whose LAN has carrier (hashed on addresses alone, so in
# one boot of four all of it went over r3 and stalled). The far end of a real bonded service
# stops sending over a line the box took out: here r3's LAN goes down until dsl3 is back.
info "eth3 after the down: $(cat /sys/class/net/eth3/operstate), rp_filter $(rp_filter eth3), addresses $(ip -j -4 addr show dev eth3 | jq -c '[.[0].addr_info[]?.local]')"
ip -n r3 link set lan down
lab_sync_return
wait "$client"
check_json "the transfer across the down went on" '.end.sum_received.bytes > 0' "$(cat "$VM_STATE/iperf-down.json")"
lab_sync_return
check_bundle_up 2 4 5
check "ping over the three lines left" ping -c 2 -W 2 "$LAB_HOST"
ip -n r3 link set lan up
check "nmcli connection up dsl3" nmcli -w 60 connection up dsl3
check "eth3 joined again" wait_for -t 30 attached 3
lab_sync_return
check_bundle_up 2 3 4 5

# --- the whole set down and up; up in parallel ---------------------------------------------
for k in 2 3 4 5; do
    check "nmcli connection down dsl$k" nmcli -w 60 connection down dsl$k
done
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

# --- NetworkManager restarted under the running bundle ---------------------------------------
snap=$(kernel_snapshot)
check "NetworkManager stops (SIGTERM)" nm_stop
check "NetworkManager starts again" nm_start
all_connected() {
    local k
    for k in 2 3 4 5; do [ "$(nm_state "eth$k")" = connected ] || return 1; done
}
check "the lines are NetworkManager's again (connected)" wait_for -t 60 all_connected
sleep 3
check_eq "the bundle survived the restart: nothing changed" "$snap" "$(kernel_snapshot)"
check_bundle_up 2 3 4 5
check "ping after the restart" ping -c 2 -W 2 "$LAB_HOST"

# --- without teqlctl's snippet -----------------------------------------------------------------
# What NetworkManager makes of teql0 on its own, started without the snippet under the running
# bundle (a figure: the check above is that the shipped configuration leaves teql0 alone).
rm -f "$NM_SHIPPED_CONF"
nm_restart && wait_for -t 60 all_connected
sleep 3
info "NetworkManager started without the shipped snippet has teql0 as: $(nm_state teql0); teql0's addresses: $(ip -j -4 addr show dev teql0 | jq -c '[.[0].addr_info[].local]'), default routes: $(ip -j route show default | jq -c '[.[].dev]')"
cp "$VM_DIR/../../distro/networkmanager/90-teqlctl.conf" "$NM_SHIPPED_CONF"
check "NetworkManager restarted with the snippet" nm_restart
check "the lines are connected again" wait_for -t 60 all_connected
check_eq "teql0 is not NetworkManager's again" unmanaged "$(nm_state teql0)"
# --- a connection that is not ours -----------------------------------------------------------
snap=$(kernel_snapshot)
ip link add dummy7 type dummy
cat >"$NM_PROFILES/other.nmconnection" <<'EOF'
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
EOF
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
# As distro/debian/teqlctl.links and the .rpm make them (relative there; the binary here).
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

# --- the end ---------------------------------------------------------------------------------
for k in 2 3 4 5; do nmcli -w 60 connection down dsl$k >/dev/null 2>&1; done
check "every line left at the end" wait_for -t 30 detached 2 3 4 5
info "dispatcher runs logged by teqlctl: $(grep -c 'teqlctl\[' "$syslog_file")"
grep -v 'teqlctl\[' "$syslog_file" | grep -i "dispatch" | tail -n 8 | sed 's/^/# syslog: /'
grep -i "dispatch" "$NM_LOG" | tail -n 8 | sed 's/^/# nm: /'
nm_cleanup
syslog_stop
check "lab_down" lab_down
finish
