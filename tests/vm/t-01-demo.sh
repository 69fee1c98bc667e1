#!/usr/bin/env bash
# The newcomer's demo (`tests/demo`): a simulated office with four 10 Mbit DSL lines, bonded
# with one `teqlctl up`, shown with `teqlctl status`, and measured with iperf3.
# vm-timeout: 240
# vm-cost: 21
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

check "build the office: 4 routers sharing gateway $LAB_GW, an internet host $LAB_HOST" lab_up 4
check "write /etc/sysconfig/network-scripts/ifcfg-eth2..eth5 and ifcfg-teql0" ns_write_office 4
echo
echo "\$ cat /etc/sysconfig/network-scripts/ifcfg-eth2"
cat "$NS_DIR/ifcfg-eth2"
echo "\$ cat /etc/sysconfig/network-scripts/ifcfg-teql0"
cat "$NS_DIR/ifcfg-teql0"
echo "\$ teqlctl --verbose up"
"$TEQLCTL" --verbose up
check_eq "teqlctl up exits 0" 0 "$?"
upload_best 25000000 5 "$VM_STATE/upload.json"
json=$(cat "$VM_STATE/upload.json")
mbit=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' <<<"$json")
echo "\$ teqlctl status"
"$TEQLCTL" status
echo
echo "iperf3, one TCP stream through teql0 over 4 x 10 Mbit/s lines: $mbit Mbit/s"
echo
check_json "the bundle carries more than 25 Mbit/s (the fastest of up to 3 transfers)" '.end.sum_received.bits_per_second > 25000000' "$json"
check_json "status: 4 lines attached and carrying traffic" \
    '[.masters[0].lines[] | select(.attached and .tx_packets > 1000)] | length == 4' "$("$TEQLCTL" status --json)"
check "lab_down" lab_down
finish
