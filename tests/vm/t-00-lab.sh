#!/usr/bin/env bash
# Proves the lab: four 10 Mbit lines bonded by hand into teql0 reach the internet host, every
# line carries its share of one iperf3 stream, and the bundle beats any single line.
# vm-timeout: 240
# vm-cost: 28
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lines=4
check "lab_up $lines" lab_up "$lines"
check "bond_by_hand $lines" bond_by_hand "$lines"

check "ping the internet host $LAB_HOST through teql0" ping -c 3 -W 2 "$LAB_HOST"
for ((k = 2; k <= lines + 1; k++)); do
    check_eq "eth$k root qdisc is teql0" teql0 "$(root_qdisc_kind "eth$k")"
    check_eq "eth$k rp_filter is loose" 2 "$(rp_filter_effective "eth$k")"
done

declare -A tx_before
for ((k = 2; k <= lines + 1; k++)); do
    tx_before[$k]=$(line_tx_packets "eth$k")
done
upload_best 25000000 5 "$VM_STATE/upload.json"
json=$(cat "$VM_STATE/upload.json")
check_json "iperf3 through teql0 completed" '.end.sum_received.bits_per_second > 0' "$json"

sum=0
deltas=()
for ((k = 2; k <= lines + 1; k++)); do
    d=$(($(line_tx_packets "eth$k") - tx_before[$k]))
    deltas+=("$d")
    sum=$((sum + d))
done
info "tx_packets deltas eth2..eth$((lines + 1)): ${deltas[*]} (mean $((sum / lines)))"
check "some packets went out (sum of deltas $sum > 1000)" test "$sum" -gt 1000
# Within 10% of the mean: |d - sum/n| <= sum/n/10, i.e. 10 * |n*d - sum| <= sum (integers).
for ((k = 2; k <= lines + 1; k++)); do
    d=${deltas[$((k - 2))]}
    dev=$((lines * d - sum))
    dev=${dev#-}
    check "eth$k carried its share: $d packets, within 10% of the mean" test $((10 * dev)) -le "$sum"
done

sent=$(jq -r '.end.sum_sent.bits_per_second // empty' <<<"$json" 2>/dev/null)
received=$(jq -r '.end.sum_received.bits_per_second // empty' <<<"$json" 2>/dev/null)
retrans=$(jq -r '.end.sum_sent.retransmits // empty' <<<"$json" 2>/dev/null)
info "$(awk -v s="${sent:-0}" -v r="${received:-0}" -v x="${retrans:-?}" 'BEGIN {
    printf "iperf3: sent %.1f Mbit/s, received %.1f Mbit/s, %s retransmits", s / 1e6, r / 1e6, x }')"
check_json "bundle throughput (received) above 25 Mbit/s (the fastest of up to 3 transfers)" \
    '.end.sum_received.bits_per_second > 25000000' "$json"

check "lab_down" lab_down
check "no lab namespace left" sh -c '! ip netns list | grep -q .'
check "sch_teql unloaded" test ! -d /sys/module/sch_teql
finish
