#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (see vmlab.sh): what
# tests/vm/t-78-connection.sh checked in the VM until issue 27, point 5, every check moved here
# with its name and meaning (the VM's lab, tests/vm/isp.sh, and its assertions, on the host's
# kernel), but the two of nftables modules, which t-78 keeps (loading modules needs the VM).
# A connection bundle over three independent ISPs (issue 13), driven the way network-scripts
# drives its hooks: teqlctl's own nftables table `inet teqlctl` and fwmark rules on top of the
# multipath bundle's per-line tables; new LAN connections and the box's own spread by weight
# (2:1:1) over 300 connections each; a long-lived connection stays on its line while the
# weights change (a change of the map only); connections from the internet to a line's
# address answered by that line; PREFER_DST destinations leave by the preferred line, and by
# the next one when it is taken out (by hand, and by `check` when its ISP dies) and back; a
# dead ISP's share moved to the others by `check`, with its conntrack entries (and only its)
# flushed, and back when it recovers; every ISP dead: the last line stays; the bundle down
# leaves no table, rule or route of ours and the admin's own table byte-identical.
# shellcheck source-path=SCRIPTDIR source=vmlab.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmlab.sh"

# A destination preferred to eth3 (a service that ties a login to the client's address).
PREFERRED_HOST=198.18.64.1

check "isp_up" isp_up
# The datagrams' conntrack entries are counted well after they were sent (status, and before
# and after a check round flushes one line's): an unanswered UDP entry lives 30 s, which TCG
# under load has overrun, and then "only eth2's were flushed" cannot be told from "they
# expired". 600 s for this scenario, the default back at its end.
udp_timeout=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout)
sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600
# The admin's own firewall: no NAT of theirs (TEQL_NAT does it), a set, and a counter no test
# traffic touches; it must be byte-identical after everything below.
nft delete table ip adminnat
nft -f - <<'EOT'
table inet admin {
    set blocked { type ipv4_addr; elements = { 198.18.200.1 } }
    chain admin_forward {
        type filter hook forward priority filter; policy accept;
        ip daddr @blocked counter drop
    }
}
EOT
check "the admin's table is in" nft list table inet admin
admin_nft=$(nft list table inet admin)
ip -n inet addr add "$PREFERRED_HOST/32" dev lo

check "write the office's files (mode connection)" isp_write_connection_office
check "link the hooks" ns_link_hooks

# check_shares WHAT TOTAL: each line's share of the sink's datagrams is within 0.12 of its
# weight's (2:1:1: 1/2, 1/4, 1/4); 0.12 of 300 is about 4 standard deviations of a fair draw.
check_shares() {
    local what=$1 total=$2 k n want got
    local -a share=(x 500 250 250)
    for k in 1 2 3; do
        n=$(sink_count "${ISP_ADDR[$k]}")
        got=$((n * 1000 / total))
        want=${share[$k]}
        info "$what: eth$k carried $n of $total (${got}/1000, weight's ${want}/1000)"
        check "$what: eth$k's share within 0.12 of its weight's ($got/1000)" test $((got > want ? got - want : want - got)) -le 120
    done
}

# --- dry run: the nft transaction and the rules, nothing changed ---------------------------
plan=$("$TEQLCTL" --dry-run up wan 2>&1)
info "$plan"
check "dry run prints the nft transaction" grep -q "^nft -f - <<'EOF'" <<<"$plan"
check "... with the weights map (500/250/250 slots)" grep -q "0-499 : 0x54451069, 500-749 : 0x5445106a, 750-999 : 0x5445106b" <<<"$plan"
check "... and each line's fwmark rule" grep -q "ip rule add priority 30050 fwmark 0x5445106a/0xffffffff lookup 4202" <<<"$plan"
check "... and changes nothing" sh -c "! nft list table inet teqlctl 2>/dev/null"

# --- the lines come up as network-scripts brings them up -----------------------------------
for k in 1 2 3; do
    check "ifup-local eth$k" ns_hook ifup-local "eth$k"
done
check "the table inet teqlctl is in" nft list table inet teqlctl
check_eq "the group holds every line (the box's own connections)" "eth1 eth2 eth3" "$(isp_members)"
for k in 1 2 3; do
    check_eq "rule: fwmark of eth$k to table 420$k" "420$k" \
        "$(ip -j rule show | jq -r --arg m "$(printf '0x%x' $((0x54451068 + k)))" '.[] | select(.fwmark == $m) | .table')"
done
isp_check_tables
json=$("$TEQLCTL" status --json wan)
check_json "status --json: wan is an up connection bundle" '.masters[0] | .mode == "connection" and .up' "$json"
check "status text names the mode" sh -c "'$TEQLCTL' status wan | grep -q '^wan: up (connection)'"
snap=$(ip -j rule show; ip -j route show table all; ip -j nexthop show; nft -a list table inet teqlctl)
check "a second ifup-local changes nothing" ns_hook ifup-local eth2
check_eq "... exactly nothing" "$snap" "$(ip -j rule show; ip -j route show table all; ip -j nexthop show; nft -a list table inet teqlctl)"

# --- new connections spread by weight: the LAN's, and the box's own ------------------------
sink_start
check "the sink on the internet host listens" sh -c "ip netns exec inet ss -Hlun 'sport = :9' | grep -q ."
check "300 new LAN connections" udp_flows lan "$ISP_HOST" 300
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 290 ]"
check "at least 290 of them arrived, masqueraded to a line's address" \
    test $(($(sink_count "${ISP_ADDR[1]}") + $(sink_count "${ISP_ADDR[2]}") + $(sink_count "${ISP_ADDR[3]}"))) -ge 290
check_shares "LAN" "$(wc -l <"$SINK_LOG")"
json=$("$TEQLCTL" status --json wan)
info "$("$TEQLCTL" status wan)"
check_json "status --json: each line's mark and share (500/250/250)" \
    '[.masters[0].lines[].multipath.connection | "\(.mark) \(.share_permille)"] == ["0x54451069 500", "0x5445106a 250", "0x5445106b 250"]' "$json"
check_json "... its new connections (the table's counters: at least the 290 that arrived)" \
    '[.masters[0].lines[].multipath.connection.new_connections] | add >= 290' "$json"
check_json "... and its entries in conntrack" \
    '[.masters[0].lines[].multipath.connection.conntrack_entries | . > 0] == [true, true, true]' "$json"
check_json "... the part of the new connections each took, near its weight's (within 120/1000)" \
    '[.masters[0].lines[].multipath.connection.new_connections_permille] as $p | [500, 250, 250] as $w | [range(3) | ($p[.] - $w[.]) | (if . < 0 then -. else . end) <= 120] == [true, true, true]' "$json"
check_json "... and its part of the entries in conntrack (the parts add up to 1000, give or take rounding)" \
    '[.masters[0].lines[].multipath.connection.conntrack_permille] | add | . >= 998 and . <= 1002' "$json"
: >"$SINK_LOG"
check "300 new connections of the box's own" udp_flows - "$ISP_HOST" 300
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 290 ]"
check_shares "the box" "$(wc -l <"$SINK_LOG")"
# TCP of the box's own (issue 26, point 14): the kernel picks a TCP connection's source
# address before its port exists, so with the L4 hash every connection to one host took the
# same line. From TEQL_LOCAL_SOURCE (the default route's src) they are unbound, balanced by
# the output chain and masqueraded to the line they leave by.
check_eq "the default route's source is TEQL_LOCAL_SOURCE" 198.18.100.1 "$(ip -j route show default | jq -r '.[0].prefsrc')"
: >"$SINK_LOG"
ip netns exec inet python3 -u -c 'import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7))
s.listen(64)
while True:
    c, peer = s.accept()
    print(peer[0], flush=True)
    c.close()' >>"$SINK_LOG" &
tcp_sink=$!
wait_for sh -c "ip netns exec inet ss -Hltn 'sport = :7' | grep -q ."
# shellcheck disable=SC2016  # expanded by the inner bash
check "300 TCP connections of the box's own to one host" bash -c 'for f in $(seq 300); do
    exec 3<>/dev/tcp/'"$ISP_HOST"'/7 || exit 1
    exec 3>&-
done'
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 300 ]"
check_shares "the box (TCP)" "$(wc -l <"$SINK_LOG")"
kill "$tcp_sink" 2>/dev/null
wait "$tcp_sink" 2>/dev/null

# --- the internet reaches each line's address; the replies leave by that line --------------
for k in 1 2 3; do
    tx=$(isp_tx "$k")
    check "the internet reaches eth$k's address" ip netns exec inet ping -c 4 -W 2 "${ISP_ADDR[$k]}"
    check "... and the 4 replies leave by eth$k (its ISP)" test $(($(isp_tx "$k") - tx)) -ge 4
done

# --- PREFER_DST: always the preferred line (eth3) ------------------------------------------
: >"$SINK_LOG"
check "40 LAN connections to the preferred destination" udp_flows lan "$PREFERRED_HOST" 40
check "20 of the box's own" udp_flows - "$PREFERRED_HOST" 20
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 58 ]"
check_eq "every one left by eth3 (the preferred line)" "$(wc -l <"$SINK_LOG")" "$(sink_count "${ISP_ADDR[3]}")"

# --- a long-lived connection stays on its line while the weights change -------------------
# The internet host's TCP server (tests/vm/flows.py) for the rest of the scenario; lan_flows N
# SECS starts N LAN connections to it for SECS seconds in the background ($flows).
ip netns exec inet python3 "$VM_DIR/flows.py" serve "$ISP_HOST" 5201 "$VM_STATE/peers" &
server=$!
wait_for sh -c "ip netns exec inet ss -Hltn 'sport = :5201' | grep -q ."
lan_flows() {
    : >"$VM_STATE/peers"
    rm -f "$VM_STATE/run.json"
    ip netns exec lan python3 "$VM_DIR/flows.py" run "$ISP_HOST" 5201 "$1" "$2" "$VM_STATE/run.json" &
    flows=$!
}
lan_flows 4 12
sleep 4
handles=$(nft -a list chain inet teqlctl prerouting | grep -o 'handle [0-9]*')
sed -i 's/^TEQL_WEIGHT=2$/TEQL_WEIGHT=1/' "$NS_DIR/ifcfg-eth1"
plan=$("$TEQLCTL" --dry-run up wan 2>&1)
info "$plan"
maps_only() { grep -q '^flush map inet teqlctl weights' <<<"$plan" && ! grep -q 'delete table' <<<"$plan"; }
check "a change of weights is a change of the map only" maps_only
t_change=$(date +%s)
check "teqlctl up wan with the new weights" "$TEQLCTL" up wan
check "... now 334/333/333" sh -c "nft list map inet teqlctl weights | grep -q '0-333 : 0x54451069'"
check_eq "the rules were not rewritten (same handles)" "$handles" "$(nft -a list chain inet teqlctl prerouting | grep -o 'handle [0-9]*')"
wait "$flows"
check "the 4 flows ran" test -s "$VM_STATE/run.json"
report=$(python3 "$VM_DIR/flows.py" report "$VM_STATE/run.json" "$VM_STATE/peers" "$t_change")
info "$report"
# A flow moved to another line would be dropped there (its masqueraded source is the old
# line's): it would go silent.
check_eq "4 flows reported" 4 "$(grep -c . <<<"$report")"
check "no flow went silent after the change, each kept its line" awk '$1 == "?" || $3 > 1 || $5 == 0 { bad = 1 } END { exit bad }' <<<"$report"

# --- the preferred line taken out: PREFER_DST fails over to eth1, in order -----------------
# new_to_preferred: no conntrack entry to the preferred destination left, so that the next
# connections to it are new ones. An earlier datagram's entry (alive: see udp_timeout) whose
# source port a new one happens to reuse would keep the earlier line, as it should: a sticky
# connection, not the test's new one.
new_to_preferred() {
    conntrack -D -d "$PREFERRED_HOST" >/dev/null 2>&1
    [ "$(conntrack -L -d "$PREFERRED_HOST" 2>/dev/null | grep -c .)" = 0 ]
}
check "detach eth3" "$TEQLCTL" detach eth3
check "the prefer map now names eth1" sh -c "nft list map inet teqlctl prefer | grep -q '198.18.64.0/18 : 0x54451069'"
: >"$SINK_LOG"
check "no connection to the preferred destination in conntrack" new_to_preferred
check "20 LAN connections to the preferred destination" udp_flows lan "$PREFERRED_HOST" 20
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 19 ]"
check_eq "every one left by eth1, the next preferred line" "$(wc -l <"$SINK_LOG")" "$(sink_count "${ISP_ADDR[1]}")"
check "attach eth3" "$TEQLCTL" attach eth3
check "the prefer map names eth3 again" sh -c "nft list map inet teqlctl prefer | grep -q '198.18.64.0/18 : 0x5445106b'"

# --- a dead ISP: its share moves to the others, its connections (only its) are flushed ---
mark2=0x5445106a
# conn_count MARK: conntrack entries with that mark (conntrack -L prints its summary on stderr).
conn_count() { conntrack -L --mark "$1" 2>/dev/null | grep -c .; }
lan_flows 8 16
t_udp=$(date +%s)
check "60 more LAN connections (UDP)" udp_flows lan "$ISP_HOST" 60
sleep 3
before=$(for m in 0x54451069 $mark2 0x5445106b; do conn_count "$m"; done | paste -sd' ')
info "conntrack entries by line (eth1 eth2 eth3): $before"
check "every line has connections in conntrack" awk '{ exit !($1 > 0 && $2 > 0 && $3 > 0) }' <<<"$before"
t_cut=$(date +%s)
check "ISP 2 loses its uplink (eth2 keeps its carrier)" isp_cut 2
check "one check round takes eth2 out (its 2 probes fail, the second at once)" as_check_unit "$TEQLCTL" check
check "the weights map has no eth2 any more" sh -c "! nft list map inet teqlctl weights | grep -q $mark2"
check "... eth1 and eth3 share it (weights 1:1 since the change above)" sh -c "nft list map inet teqlctl weights | grep -q '0-499 : 0x54451069'"
check_eq "eth2's connections were flushed" 0 "$(conn_count $mark2)"
after=$(for m in 0x54451069 0x5445106b; do conn_count "$m"; done | paste -sd' ')
info "conntrack entries of eth1 and eth3 after the flush, $(($(date +%s) - t_udp)) s after the datagrams: $after"
check "... and the other lines' were not" awk '{ exit !($1 > 0 && $2 > 0) }' <<<"$after"
: >"$SINK_LOG"
check "60 new LAN connections after the cut" udp_flows lan "$ISP_HOST" 60
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 58 ]"
check_eq "none of them took eth2" 0 "$(sink_count "${ISP_ADDR[2]}")"
wait "$flows"
report=$(python3 "$VM_DIR/flows.py" report "$VM_STATE/run.json" "$VM_STATE/peers" "$t_cut")
info "$report"
check_eq "8 flows reported" 8 "$(grep -c . <<<"$report")"
check "the flows on eth1 and eth3 kept going after the cut" \
    awk -v dead="${ISP_ADDR[2]}" '$1 == "?" || ($1 != dead && ($3 > 1 || $5 == 0)) { bad = 1 } END { exit bad }' <<<"$report"
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
check "ISP 2 back" isp_mend 2
for r in 1 2 3; do check "check round $r after the return" as_check_unit "$TEQLCTL" check; done
check "eth2 is back in the weights map" sh -c "nft list map inet teqlctl weights | grep -q $mark2"

# --- the preferred line dies: check moves PREFER_DST to the next in order, and back ---------
weights() { nft list map inet teqlctl weights | grep -o '0x5445[0-9a-f]*' | sort -u | paste -sd' '; }
check "ISP 3 (the preferred line's) loses its uplink" isp_cut 3
check "one check round takes eth3 out" as_check_unit "$TEQLCTL" check
check_eq "the weights map holds eth1 and eth2" "0x54451069 $mark2" "$(weights)"
check "the prefer map names eth1, the next line of TEQL_PREFER" sh -c "nft list map inet teqlctl prefer | grep -q '198.18.64.0/18 : 0x54451069'"
: >"$SINK_LOG"
check "no connection to the preferred destination in conntrack" new_to_preferred
check "20 LAN connections to the preferred destination" udp_flows lan "$PREFERRED_HOST" 20
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 19 ]"
check_eq "every one left by eth1" "$(wc -l <"$SINK_LOG")" "$(sink_count "${ISP_ADDR[1]}")"

# --- every ISP dead: the last live line is never taken out ---------------------------------
check "ISPs 1 and 2 lose their uplinks too" isp_cut 1 2
for r in 1 2; do check "check round $r with every ISP dead" as_check_unit "$TEQLCTL" check; done
check_eq "one line stays in the weights map (eth1: carrier, fewest failures, then by name)" 0x54451069 "$(weights)"
check_eq "... and in the group, so the default route stays" "eth1" "$(isp_members)"
check "the prefer map still names eth1" sh -c "nft list map inet teqlctl prefer | grep -q '198.18.64.0/18 : 0x54451069'"
check "status says eth1 is kept" sh -c "'$TEQLCTL' status --json wan | jq -e '.masters[0].lines[] | select(.name == \"eth1\") | .health.state == \"kept\"'"
check "every ISP back" isp_mend 1 2 3
for r in 1 2 3; do check "check round $r after the return" as_check_unit "$TEQLCTL" check; done
check_eq "every line back in the weights map" "0x54451069 $mark2 0x5445106b" "$(weights)"
check "the prefer map names eth3 again" sh -c "nft list map inet teqlctl prefer | grep -q '198.18.64.0/18 : 0x5445106b'"
: >"$SINK_LOG"
check "no connection to the preferred destination in conntrack" new_to_preferred
check "20 LAN connections to the preferred destination" udp_flows lan "$PREFERRED_HOST" 20
wait_for sh -c "[ \$(wc -l <'$SINK_LOG') -ge 19 ]"
check_eq "every one left by eth3 again" "$(wc -l <"$SINK_LOG")" "$(sink_count "${ISP_ADDR[3]}")"
kill "$SINK" 2>/dev/null
wait "$SINK" 2>/dev/null

# --- the bundle down: nothing of ours left, the admin's table as it was -------------------
check "ifdown-teql ifcfg-wan" ns_hook ifdown-teql ifcfg-wan
check "no table inet teqlctl left" sh -c "! nft list table inet teqlctl 2>/dev/null"
check_eq "no rule of ours left" "" "$(ip -j rule show | jq -r '.[] | select(.priority == 30100 or .priority == 30050) | .table')"
check_eq "no default route or nexthop of ours left" "" "$(ip -j route show default | jq -r '.[].dst'; ip nexthop show)"
check_eq "the admin's nftables table is byte-identical" "$admin_nft" "$(nft list table inet admin)"
check "ifup-teql ifcfg-wan brings it all back" ns_hook ifup-teql ifcfg-wan
check "... the table" nft list table inet teqlctl
check "teqlctl down wan" "$TEQLCTL" down wan
check "... no table left" sh -c "! nft list table inet teqlctl 2>/dev/null"
nft delete table inet admin
# The long-lived entries of the datagrams are not left to the next scenario in this guest.
sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$udp_timeout"
conntrack -D -p udp --dport 9 >/dev/null 2>&1
isp_down
finish
