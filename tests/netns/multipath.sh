#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (see vmlab.sh): what tests/vm/t-72-multipath.sh
# checked in the VM until issue 27, point 5, every check moved here with its name and meaning
# (the VM's lab, tests/vm/isp.sh, and its assertions, on the host's kernel, in seconds).
# A multipath bundle over three independent ISPs (issue 12), driven the way network-scripts
# drives its hooks: split access (each line's table and rule), the weighted resilient nexthop
# group as the default route, `ping -I` from each line's address, the internet reaching each
# line, LAN connections spread over every line with status counting them on each line (from
# t-76 and t-77, issue 27 point 5), ifdown/ifup of a line, the bundle down and up
# (ifdown-teql/ifup-teql of DEVICETYPE=teql), detach/attach, a dead ISP taken out by `check`
# (run in the check unit's sandbox) and back, a broken line file, nothing of the admin's touched.
# shellcheck source-path=SCRIPTDIR source=vmlab.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmlab.sh"
# shellcheck source-path=SCRIPTDIR source=../vm/isp-debian.sh
. "$NETNS_DIR/../vm/isp-debian.sh"

check "isp_up" isp_up
write_files() {
    isp_write_office "2 1 1" "TEQL_TABLE=420%k"
}
check "write the office's files" write_files
check "link the hooks" ns_link_hooks
admin_nft=$(nft list table ip adminnat)
# The admin's strict filtering on eth1 (split access works with it) stays as it is.
sysctl -q -w net.ipv4.conf.eth1.rp_filter=1
rp_before=$(cat /proc/sys/net/ipv4/conf/eth{1,2,3}/rp_filter)

# --- dry run: the plan as ip commands, nothing changed ------------------------------------
plan=$("$TEQLCTL" --dry-run up wan 2>&1)
info "$plan"
check "dry run prints the group with its weights" grep -q "ip nexthop replace id [0-9]* group 4201,2/4202,1/4203,1 type resilient buckets 128" <<<"$plan"
check "dry run prints each line's rule" grep -q "ip rule add priority 30100 from 192.0.2.10/32 lookup 4202" <<<"$plan"
check_eq "... and changes nothing" "" "$(ip nexthop show)"

# --- each line comes up as network-scripts brings it up (ifup-local DEVICE) --------------
for k in 1 2 3; do
    check "ifup-local eth$k" ns_hook ifup-local "eth$k"
done
check_eq "the group holds every line" "eth1 eth2 eth3" "$(isp_members)"
g=$(ip -j route show default | jq -r '.[0].nhid // empty')
check "the default route uses the group (nhid $g)" test -n "$g"
check_eq "... a resilient group" resilient "$(ip -j -d nexthop show id "$g" | jq -r '.[0].type')"
check_eq "... with weights 2:1:1" "2 1 1" "$(ip -j nexthop show id "$g" | jq -r '[.[0].group[] | .weight // 1] | map(tostring) | join(" ")')"
check_eq "the hash policy is the custom one (3)" 3 "$(cat /proc/sys/net/ipv4/fib_multipath_hash_policy)"
check_eq "... over the 5-tuple (fields 0x37)" 55 "$(cat /proc/sys/net/ipv4/fib_multipath_hash_fields)"
check_eq "the lines' rp_filter is the admin's (no TEQL_RP_FILTER)" "$rp_before" "$(cat /proc/sys/net/ipv4/conf/eth{1,2,3}/rp_filter)"
isp_check_tables
json=$("$TEQLCTL" status --json wan)
check_json "status --json: wan is an up multipath bundle on a resilient group" \
    '.masters[0] | .mode == "multipath" and .up and .resilient' "$json"
check_json "status --json: every line live with its address, gateway, weight and table" \
    '[.masters[0].lines[] | .multipath | "\(.live) \(.address) \(.gateway) \(.weight) \(.table)"] == ["true 198.51.100.10/29 198.51.100.9 2 4201", "true 192.0.2.10/24 192.0.2.1 1 4202", "true 203.0.113.10/24 203.0.113.1 1 4203"]' "$json"
check "status text names the mode" sh -c "'$TEQLCTL' status wan | grep -q '^wan: up (multipath)'"
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show)
check "a second ifup-local changes nothing" ns_hook ifup-local eth2
check_eq "... exactly nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show)"

# --- split access: each line's address leaves by its own ISP (the others drop it) --------
# (Each line's status counters before: the pings and flows below make them grow both ways.)
counters=$(isp_counters)
for k in 1 2 3; do
    check "ping -I ${ISP_ADDR[$k]} the internet host" ping -c 2 -W 2 -I "${ISP_ADDR[$k]}" "$ISP_HOST"
    tx=$(isp_tx "$k")
    check "the internet reaches eth$k's address" ip netns exec inet ping -c 4 -W 2 "${ISP_ADDR[$k]}"
    check "... and the 4 replies leave by eth$k (its ISP)" test $(($(isp_tx "$k") - tx)) -ge 4
done

# --- LAN flows spread over every line; status counted the pings above and them on each ----
# (iperf3 is not used here: t-73 measures goodput.) The counters' checks came from
# t-76-multipath-ifupdown (issue 27, point 5): what status reads is the mode's, not the stack's.
isp_check_spread
isp_check_counters "$counters"
check_json "status --json: every line has tx and rx counters" \
    '[.masters[0].lines[] | [.tx_packets, .tx_bytes, .rx_packets, .rx_bytes] | map(type == "number") | all] | all' \
    "$("$TEQLCTL" status --json wan)"
check "status text shows rx beside tx" sh -c "'$TEQLCTL' status wan | grep -q 'tx [0-9]* pkts [0-9]* bytes, rx [0-9]* pkts [0-9]* bytes'"

# --- ifdown of a line: out of the group, its table and rule gone; the others stay --------
check "ifdown eth2 as network-scripts does (ifdown-pre-local, ifdown-local)" isp_ns_down 2
check_eq "the group holds eth1 and eth3" "eth1 eth3" "$(isp_members)"
check_json "status: eth2 out, and why" '.masters[0].lines[] | select(.name == "eth2") | .multipath | (.live | not) and .why == "down"' \
    "$("$TEQLCTL" status --json wan)"
check_eq "eth2's rule is gone" "" "$(ip -j rule show | jq -r '.[] | select(.src == "192.0.2.10") | .table')"
check_eq "table 4202 is empty" "" "$(ip -j route show table 4202 | jq -r '.[].dst')"
check "traffic still flows from the LAN" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
check "ifup eth2 again as network-scripts does (ifup-local)" isp_ns_up 2
check_eq "eth2 is back in the group" "eth1 eth2 eth3" "$(isp_members)"

# --- the bundle down and up, as `ifdown wan` / `ifup wan` run them --------------------------
check "ifdown-teql ifcfg-wan" ns_hook ifdown-teql ifcfg-wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[].dst')"
check_eq "no nexthop left" "" "$(ip nexthop show)"
check_eq "no rule of ours left" "" "$(ip -j rule show | jq -r '.[] | select(.priority == 30100) | .table')"
check_eq "no table of ours left" "" "$(for k in 1 2 3; do ip -j route show table "420$k" | jq -r '.[].dst'; done)"
check_eq "the admin's nftables table is untouched" "$admin_nft" "$(nft list table ip adminnat)"
check "ifup-teql ifcfg-wan" ns_hook ifup-teql ifcfg-wan
check_eq "the bundle is back with every line" "eth1 eth2 eth3" "$(isp_members)"
check "teqlctl down wan" "$TEQLCTL" down wan
check_eq "... nothing of ours left" "" "$(ip nexthop show; ip -j rule show | jq -r '.[] | select(.priority == 30100) | .table')"
check "teqlctl up wan" "$TEQLCTL" up wan
check_eq "... every line back" "eth1 eth2 eth3" "$(isp_members)"

# --- teqlctl detach / attach of one line, as of a TEQL line ------------------------------
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show)
snap_rr=$(ip -j rule show; ip -j route show table all)
plan=$("$TEQLCTL" --dry-run detach eth3 2>&1)
info "$plan"
check "dry run of detach eth3: the group without it" grep -q "ip nexthop replace id [0-9]* group 4201,2/4202,1 " <<<"$plan"
check "... and its rule removed" grep -q "ip rule del priority 30100 from 203.0.113.10/32 lookup 4203" <<<"$plan"
check_eq "... and changes nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show)"
check "teqlctl detach eth3" "$TEQLCTL" detach eth3
check_eq "... eth3 leaves the group" "eth1 eth2" "$(isp_members)"
check_eq "... its rule goes" "" "$(ip -j rule show | jq -r '.[] | select(.src == "203.0.113.10") | .table')"
check "teqlctl attach eth3" "$TEQLCTL" attach eth3
check_eq "... back in the group" "eth1 eth2 eth3" "$(isp_members)"
check_eq "... with its rule" 4203 "$(ip -j rule show | jq -r '.[] | select(.src == "203.0.113.10") | .table')"
# (The group's own figures, such as how long it has been unbalanced, change with its members.)
check_eq "... rules and routes exactly as before" "$(ip -j rule show; ip -j route show table all)" "$snap_rr"

# --- teqlctl check: a dead ISP (its line keeps its carrier) leaves the group, and returns --
# The default state directory: the hooks (which ignore TEQLCTL_STATE_DIR) must see what check
# took out.
rm -rf /run/teqlctl
# A longer timeout than the default: a TCG guest on a busy host can be slow to answer; what
# is checked counts rounds, not milliseconds.
for k in 1 2 3; do printf 'TEQL_PROBE=%s\nTEQL_PROBE_TIMEOUT=1500\n' "$ISP_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
# The admin's firewall drops what conntrack calls invalid in INPUT, as firewalld does. The
# probes leave by a packet socket that conntrack never sees, so their replies are invalid:
# check must read them before netfilter.
nft -f - <<'EOT'
table inet adminfw {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state invalid counter drop
    }
}
EOT
check "a healthy round" "$TEQLCTL" check
check "... though the admin's firewall dropped the replies in INPUT" \
    sh -c "nft list chain inet adminfw input | grep -q 'counter packets [1-9]'"
check_json "every line healthy" '[.masters[0].lines[].health.state] == ["healthy", "healthy", "healthy"]' "$("$TEQLCTL" status --json wan)"
isp_cut 2
out=$("$TEQLCTL" check 2>&1)
info "$out"
check_eq "ISP 2 dead: eth2 out of the group after one round (its 2 probes fail at once)" "eth1 eth3" "$(isp_members)"
check "... said with the reason" grep -q "eth2 (wan): taken out after 2 failed probes: no answer from $ISP_HOST via 192.0.2.1" <<<"$out"
check_eq "... its rule stays (replies from its address still leave by it)" 4202 \
    "$(ip -j rule show | jq -r '.[] | select(.src == "192.0.2.10") | .table')"
check "... and its own router still answers it" ping -c 2 -W 2 -I 192.0.2.10 192.0.2.1
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"
check "an ifup-local of another line keeps eth2 out" ns_hook ifup-local eth1
check_eq "... still out" "eth1 eth3" "$(isp_members)"
check_json "status: eth2 dead, taken out" '.masters[0].lines[] | select(.name == "eth2") | .health.taken_out and .multipath.why == "taken out by teqlctl check"' \
    "$("$TEQLCTL" status --json wan)"
isp_mend 2
wait_for ip netns exec r2 ping -c 1 -W 1 "$ISP_HOST"
for i in 1 2 3; do as_check_unit "$TEQLCTL" check 2>>"$VM_STATE/mp-check.log"; done
check_eq "ISP 2 back: eth2 in the group after 3 good rounds" "eth1 eth2 eth3" "$(isp_members)"
# Every line dead: none is taken out (the bundle keeps its default route).
isp_cut 1 2 3
for i in 1 2 3; do as_check_unit "$TEQLCTL" check 2>>"$VM_STATE/mp-check.log"; done
check "every line dead: the group is never emptied" test -n "$(isp_members)"
check "... and the default route stays" test -n "$(ip -j route show default | jq -r '.[0].nhid // empty')"
isp_mend 1 2 3
for i in 1 2 3 4; do as_check_unit "$TEQLCTL" check 2>>"$VM_STATE/mp-check.log"; done
check_eq "all back" "eth1 eth2 eth3" "$(isp_members)"

# --- a broken line file: the manual tool refuses, nothing changes -------------------------
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show)
printf 'DEVICE=eth3\nTEQL_MASTER=wan\nTEQL_WEIGHT=0\n' >"$NS_DIR/ifcfg-eth3"
out=$("$TEQLCTL" up wan 2>&1)
check_eq "up wan with a bad TEQL_WEIGHT exits 3" 3 "$?"
check "... naming the file and key" grep -q 'ifcfg-eth3: TEQL_WEIGHT="0" is not valid' <<<"$out"
check_eq "... and changes nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show)"

nft delete table inet adminfw
check "isp_down" isp_down
finish
