#!/usr/bin/env bash
# The issue's user story on network-scripts: four DSL lines eth2..eth5 bonded into teql0 by
# the hooks alone, called exactly as network-scripts calls them. Asserts the kernel state,
# traffic through teql0 over every line, ifdown of one line under traffic, the last line
# leaving, ifup/ifdown teql0, a second run changing nothing, and parallel ifup-local.
# vm-timeout: 420
# vm-cost: 117
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

# syslog: nothing listens on /dev/log in the guest; a tiny listener records what is said there.
syslog_file=/run/teqlctl-vm/syslog
check "a syslog listener on /dev/log" syslog_listen "$syslog_file"

check "lab_up 4" lab_up 4
check "write the office's ifcfg files and link the hooks" ns_write_office 4

# --- boot: network-scripts brings eth2..eth5 up, then teql0 -----------------------------
check "ifup-pre-local ifcfg-eth2 boot exits 0" ns_hook ifup-pre-local ifcfg-eth2 boot
check "ifup-pre-local loaded sch_teql (so network-scripts finds teql0)" test -d /sys/module/sch_teql
check "teql0 exists" test -d /sys/class/net/teql0
check_eq "teql0 is still down before any line is attached" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check "ifup-local eth2 exits 0" ns_hook ifup-local eth2
check_eq "after the first line teql0 is up" true "$(ip -j link show teql0 | jq '.[0].flags | index("UP") != null')"
for k in 3 4 5; do
    check "ifup eth$k (pre-local + local) exits 0" ns_ifup "$k" boot
done
check "ifup-pre-local ifcfg-teql0 boot exits 0" ns_hook ifup-pre-local ifcfg-teql0 boot
check "ifup-teql ifcfg-teql0 boot exits 0" ns_hook ifup-teql ifcfg-teql0 boot
check_bundle_up 2 3 4 5
check "ping $LAB_HOST through teql0" ping -c 3 -W 2 "$LAB_HOST"
check "syslog got the attach of eth2" grep -q "teqlctl\[[0-9]*\]: tc qdisc add dev eth2 root teql0" "$syslog_file"

json=$("$TEQLCTL" status --json)
check_json "status --json: teql0 up with 4 attached lines, rp_filter 2, default route" \
    '.masters[0] | .name == "teql0" and .up and ([.lines[] | select(.attached and .rp_filter == 2 and .carrier)] | length) == 4
     and .default_route.via == "203.0.113.1" and .addresses == ["203.0.113.2/28"]' "$json"
info "$("$TEQLCTL" status)"

# --- traffic: one stream, every line carries a quarter ------------------------------------
before=$(tx_counts 2 3 4 5)
upload_best 25000000 5 "$VM_STATE/upload.json"
after=$(tx_counts 2 3 4 5)
json=$(cat "$VM_STATE/upload.json")
check_json "iperf3 through teql0 completed" '.end.sum_received.bits_per_second > 0' "$json"
check_json "4 x 10 Mbit lines give more than 25 Mbit/s (the fastest of up to 3 transfers)" '.end.sum_received.bits_per_second > 25000000' "$json"
check_even_shares "$before" "$after" 2 3 4 5

# --- a second run changes nothing ------------------------------------------------------------
snap1=$(kernel_snapshot)
rerun_ok=0
for k in 2 3 4 5; do
    ns_hook ifup-pre-local "ifcfg-eth$k" boot && ns_hook ifup-local "eth$k" || rerun_ok=1
done
ns_hook ifup-teql ifcfg-teql0 && ns_hook ifup-local teql0 || rerun_ok=1
check_eq "every hook succeeds again" 0 "$rerun_ok"
check_eq "a second run changes nothing" "$snap1" "$(kernel_snapshot)"
check_eq "dry-run up plans nothing" "# nothing to change" "$("$TEQLCTL" --dry-run up)"

# --- one line's ifdown while traffic flows ------------------------------------------------
ip netns exec isp timeout 60 iperf3 -s -1 -B "$LAB_HOST" >/dev/null 2>&1 &
server=$!
wait_for ip netns exec isp sh -c "ss -Hltn 'sport = :5201' | grep -q ."
timeout 40 iperf3 -c "$LAB_HOST" -t 8 -J >/run/teqlctl-vm/iperf-ifdown.json 2>&1 &
client=$!
sleep 3
check "ifdown eth3 (ifdown-pre-local, flush, down, ifdown-local) exits 0" ns_ifdown 3
check_eq "eth3 is no longer a line (kernel default qdisc back)" noqueue "$(root_qdisc_kind eth3)"
wait "$client"
check_eq "the transfer survived eth3 leaving" 0 "$?"
wait "$server" 2>/dev/null
json=$(cat /run/teqlctl-vm/iperf-ifdown.json)
info "iperf3 across the ifdown: $(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' <<<"$json") Mbit/s"
check_json "... and delivered data" '.end.sum_received.bytes > 0' "$json"
# Measured on a transfer of its own, so the check does not depend on how long ifdown took.
before=$(tx_counts 2 4 5)
tx3=$(line_tx_packets eth3)
json=$(upload 4)
check_json "a new transfer over the three lines left completes" '.end.sum_received.bits_per_second > 0' "$json"
check_even_shares "$before" "$(tx_counts 2 4 5)" 2 4 5
check_eq "eth3 sent nothing" "$tx3" "$(line_tx_packets eth3)"
check_bundle_up 2 4 5
check "ping still works over eth2, eth4, eth5" ping -c 2 -W 2 "$LAB_HOST"

check "ifup eth3 again exits 0" ns_ifup 3
check_bundle_up 2 3 4 5

# --- the last line leaving ----------------------------------------------------------------
for k in 2 3 4; do ns_ifdown "$k"; done
check_bundle_up 5
check "ifdown the last line eth5 exits 0" ns_ifdown 5
check_eq "with no line left teql0 is set down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "and its default route is gone with it (no black hole)" "[]" "$(ip -j route show default)"
check "a ping fails at once instead of vanishing" sh -c "! ping -c 1 -W 1 $LAB_HOST"
check "the first line back: ifup eth4" ns_ifup 4
check_eq "teql0 is up again" true "$(ip -j link show teql0 | jq '.[0].flags | index("UP") != null')"
check_json "its default route is back" '.[0].gateway == "203.0.113.1" and .[0].dev == "teql0"' "$(ip -j route show default)"
check "ping through the one line" ping -c 2 -W 2 "$LAB_HOST"
for k in 2 3 5; do ns_ifup "$k"; done
check_bundle_up 2 3 4 5

# --- ifdown teql0 / ifup teql0 --------------------------------------------------------------
check "ifdown-teql ifcfg-teql0 exits 0" ns_hook ifdown-teql ifcfg-teql0
check_eq "teql0 down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "teql0 has no address" "[]" "$(ip -j -4 addr show dev teql0 | jq -c '[.[].addr_info[]]')"
for k in 2 3 4 5; do
    check_eq "eth$k detached" noqueue "$(root_qdisc_kind "eth$k")"
done
check_eq "no default route" "[]" "$(ip -j route show default)"
check "ifdown-teql again changes nothing and exits 0" ns_hook ifdown-teql ifcfg-teql0
check "ifup-teql ifcfg-teql0 exits 0" ns_hook ifup-teql ifcfg-teql0
check_bundle_up 2 3 4 5
check "ping after ifup teql0" ping -c 2 -W 2 "$LAB_HOST"

# ifup-teql hands over to ifup-post like ifup-eth does (route-teql0, ifup-local for teql0).
printf '#!/bin/sh\necho "$@" >/run/teqlctl-vm/ifup-post.args\n' >"$NS_DIR/ifup-post"
chmod +x "$NS_DIR/ifup-post"
ns_hook ifup-teql ifcfg-teql0 boot
check_eq "ifup-teql ran ifup-post with its arguments" "ifcfg-teql0 boot" "$(cat /run/teqlctl-vm/ifup-post.args 2>&1)"
rm -f "$NS_DIR/ifup-post"

# --- all four lines' ifup-local at once -----------------------------------------------------
snap_sequential=$(kernel_snapshot)
ns_hook ifdown-teql ifcfg-teql0
pids=()
for k in 2 3 4 5; do
    ns_hook ifup-local "eth$k" &
    pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do
    wait "$p"
    rcs+="$? "
done
check_eq "four concurrent ifup-local all exit 0" "0 0 0 0 " "$rcs"
check_bundle_up 2 3 4 5
check_eq "concurrent ifup-local ends in the same state as sequential" "$snap_sequential" "$(kernel_snapshot)"

syslog_stop
rm -f /dev/log
check "lab_down" lab_down
finish
