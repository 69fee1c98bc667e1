# shellcheck shell=bash
# Sourced by scenarios after lib.sh: a lab of independent ISPs for multipath bundles.
#
#   lan ns 198.18.100.2/24 ==veth== lan0 198.18.100.1/24  box (root ns)
#   box eth1 198.51.100.10/29 ==veth== lan r1 198.51.100.9/29  wan 198.19.1.2/30 ==veth== r1 inet
#   box eth2 192.0.2.10/24    ==veth== lan r2 192.0.2.1/24     wan 198.19.2.2/30 ==veth== r2 inet
#   box eth3 203.0.113.10/24  ==veth== lan r3 203.0.113.1/24   wan 198.19.3.2/30 ==veth== r3 inet
#  (box eth4 198.51.100.18/29 ==veth== lan r4 198.51.100.17/29 wan 198.19.4.2/30 ==veth== r4 inet,
#   only with ISP_LINES=4; ISP_LINES=2 leaves out eth3)
#   inet: the internet host 198.18.0.1/32 on lo, each line's subnet routed back via its ISP.
#
# Each ISP drops packets whose source is not its own customer's (strict rp_filter on its lan
# side: anti-spoofing), and shapes the line both ways (ISP_RATES, default 10/5/5 Mbit/s).
# ISP_LINES (default 3; 2 to 4) is the number of lines isp_up builds, isp_down removes and
# isp_write_office writes; set it before isp_up and leave it until after isp_down.
# The box forwards the LAN and masquerades it per line, as the admin's own nftables table
# `ip adminnat` does (teqlctl never touches it).

ISP_HOST=198.18.0.1
ISP_RATES=${ISP_RATES:-"10mbit 5mbit 5mbit"}
ISP_LINES=${ISP_LINES:-3}
ISP_ADDR=(x 198.51.100.10 192.0.2.10 203.0.113.10 198.51.100.18)
ISP_GW=(x 198.51.100.9 192.0.2.1 203.0.113.1 198.51.100.17)
ISP_NET=(x 198.51.100.8/29 192.0.2.0/24 203.0.113.0/24 198.51.100.16/29)
ISP_LEN=(x 29 24 24 29)

# _isp_lines VAR: the lines' numbers, 1..ISP_LINES, into the array VAR.
_isp_lines() {
    local -n _isp_ks=$1
    local _k
    _isp_ks=()
    for ((_k = 1; _k <= ISP_LINES; _k++)); do _isp_ks+=("$_k"); done
}

# isp_up: the lab with ISP_LINES lines (eth1..eth3 by default) up and addressed, no routing of the box's own.
# Batched (`ip -batch`, `tc -batch`, one sysctl per namespace): under TCG every process start
# costs 0.1-0.3 s on 6.1 and about 2 s on Debian 11's 5.10 (tests/vm/k-71), and the lab is
# built in most multipath scenarios.
isp_up() {
    _vm_require_guest || return 1
    local k rates rate ns ks oifs
    read -r -a rates <<<"$ISP_RATES"
    _isp_lines ks
    for ns in inet "${ks[@]/#/r}" lan; do ip netns add "$ns" || return 1; done
    {
        for k in "${ks[@]}"; do
            echo "link add eth$k type veth peer name lan netns r$k"
            echo "link add inet$k type veth peer name wan netns r$k"
            echo "link set inet$k netns inet"
        done
        echo "link add lan0 type veth peer name eth0 netns lan"
        echo "addr add 198.18.100.1/24 dev lan0"
        echo "link set lan0 up"
        # The box's side, as ifup-eth leaves it: address and link up, no default route.
        for k in "${ks[@]}"; do
            echo "link set eth$k up"
            echo "addr add ${ISP_ADDR[$k]}/${ISP_LEN[$k]} dev eth$k"
        done
    } | ip -batch - || return 1
    {
        echo "link set lo up"
        echo "addr add $ISP_HOST/32 dev lo"
        for k in "${ks[@]}"; do
            echo "link set inet$k name r$k"
            echo "addr add 198.19.$k.1/30 dev r$k"
            echo "link set r$k up"
        done
    } | ip -n inet -batch - || return 1
    for k in "${ks[@]}"; do
        rate=${rates[$((k - 1))]:-10mbit}
        {
            echo "link set lo up"
            echo "addr add ${ISP_GW[$k]}/${ISP_LEN[$k]} dev lan"
            echo "addr add 198.19.$k.2/30 dev wan"
            echo "link set lan up"
            echo "link set wan up"
            echo "route add default via 198.19.$k.1"
        } | ip -n "r$k" -batch - || return 1
        ip netns exec "r$k" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.lan.rp_filter=1 || return 1
        printf 'qdisc add dev %s root tbf rate %s burst %s latency 100ms\n' wan "$rate" "$LAB_BURST" lan "$rate" "$LAB_BURST" \
            | tc -n "r$k" -batch - || return 1
    done
    # Routes once both ends of each veth are up (a gateway behind a link without carrier).
    for k in "${ks[@]}"; do echo "route add ${ISP_NET[$k]} via 198.19.$k.2"; done | ip -n inet -batch - || return 1
    printf '%s\n' "link set lo up" "addr add 198.18.100.2/24 dev eth0" "link set eth0 up" "route add default via 198.18.100.1" \
        | ip -n lan -batch - || return 1
    sysctl -q -w net.ipv4.ip_forward=1
    oifs=$(printf '"eth%s", ' "${ks[@]}")
    nft -f - <<EOT
table ip adminnat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname { ${oifs%, } } masquerade
    }
}
EOT
    # Under heavy loss conntrack calls some replies out of its TCP window (invalid); those are
    # not de-NATed, reach the box's own stack and are answered with a reset that kills the LAN
    # connection. Being liberal about the window is the usual cure on a NAT router. (tests/netns/multipath.sh also
    # drops invalid packets in INPUT, as firewalld does, which teqlctl check's probes survive.)
    sysctl -q -w net.netfilter.nf_conntrack_tcp_be_liberal=1
    for k in "${ks[@]}"; do wait_for _vm_link_up "eth$k" || return 1; done
}

# isp_down: everything isp_up made, and whatever teqlctl left in the kernel.
isp_down() {
    local k ns pid ks
    _isp_lines ks
    # A DHCP client on a line (tests/netns/multipath-lines.sh) first: it would react to its line vanishing.
    lab_dhcp_cleanup
    for ns in inet "${ks[@]/#/r}" lan; do
        # A namespace lives on while a process (the iperf3 server) holds it.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    nft delete table ip adminnat 2>/dev/null
    # A connection scenario that stopped halfway: its table and the admin's of t-78.
    nft delete table inet teqlctl 2>/dev/null
    nft delete table inet admin 2>/dev/null
    for k in "${ks[@]}"; do ip link del "eth$k" 2>/dev/null; done
    ip link del lan0 2>/dev/null
    ip route del default 2>/dev/null
    ip nexthop flush 2>/dev/null
    sysctl -q -w net.ipv4.ip_forward=0
    sysctl -q -w net.netfilter.nf_conntrack_tcp_be_liberal=0 2>/dev/null
    # Rules, config files and the rest: lab_down (guest.sh runs it after every scenario).
    lab_down
}

# isp_write_office "WEIGHT1 WEIGHT2 WEIGHT3" [KEY=VALUE...]: network-scripts files of a
# multipath bundle `wan` over eth1..eth3 (eth1..ethISP_LINES; static, each line with its ISP's address and
# gateway); each KEY=VALUE is added to every line's file, with %k standing for the line's
# number (TEQL_TABLE=420%k).
isp_write_office() {
    local k extra ks
    local -a weights
    read -r -a weights <<<"$1"
    shift
    _isp_lines ks
    mkdir -p "$NS_DIR" || return 1
    for k in "${ks[@]}"; do
        {
            printf 'DEVICE=eth%s\nONBOOT=yes\nBOOTPROTO=static\nIPADDR=%s\nPREFIX=%s\n' "$k" "${ISP_ADDR[$k]}" "${ISP_LEN[$k]}"
            printf 'GATEWAY=%s\nTEQL_MASTER=wan\nTEQL_WEIGHT=%s\n' "${ISP_GW[$k]}" "${weights[$((k - 1))]:-1}"
            for extra in "$@"; do echo "${extra//%k/$k}"; done
        } >"$NS_DIR/ifcfg-eth$k" || return 1
    done
    printf 'DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\n' >"$NS_DIR/ifcfg-wan"
}

# isp_write_connection_office: the office of the connection scenarios (the VM's t-78 and
# tests/netns/connection.sh): lines eth1..eth3 weighted 2 1 1 in tables 4201..4203, probing
# the ISPs' host, and bundle wan in connection mode with its NAT, preferred lines, preferred
# destinations and a local source.
isp_write_connection_office() {
    isp_write_office "2 1 1" "TEQL_TABLE=420%k" "TEQL_PROBE=$ISP_HOST" || return 1
    cat >"$NS_DIR/ifcfg-wan" <<'EOT'
DEVICE=wan
DEVICETYPE=teql
ONBOOT=yes
TEQL_MODE=connection
TEQL_NAT="198.18.100.0/24"        # the LAN, masqueraded per line
TEQL_PREFER="eth3 eth1"           # the preferred line, then the next in order
TEQL_PREFER_DST="198.18.64.0/18"
TEQL_LOCAL_SOURCE=198.18.100.1    # the box's LAN address: its unbound connections balanced
EOT
}

# isp_check_spread: 64 UDP flows from the LAN (each its own socket, so its own source port:
# the L4 hash spreads them), 5 datagrams each, through the admin's NAT, into a sink on the
# internet host; every line carries some, and nearly all leave.
isp_check_spread() {
    local sink k d total=0
    declare -A before
    ip netns exec inet python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.1", 9))
while True:
    s.recv(2048)' &
    sink=$!
    # (ss exits 0 with no socket listed: wait until it lists the sink's.)
    wait_for sh -c "ip netns exec inet ss -Hlun 'sport = :9' | grep -q ."
    for k in 1 2 3; do before[$k]=$(isp_tx "$k"); done
    # shellcheck disable=SC2016  # expanded by the inner bash
    ip netns exec lan bash -c 'for f in $(seq 64); do
        exec 3>/dev/udp/198.18.0.1/9 || exit 1
        for i in 1 2 3 4 5; do echo "flow $f datagram $i" >&3; done
        exec 3>&-
    done'
    check_eq "64 LAN flows sent" 0 "$?"
    for k in 1 2 3; do
        d=$(($(isp_tx "$k") - before[$k]))
        total=$((total + d))
        info "eth$k sent $d packets"
        check "eth$k carried LAN flows ($d packets: at least one flow of 5)" test "$d" -ge 5
    done
    check "at least 90% of the 320 datagrams left by the lines ($total)" test "$total" -ge 288
    kill "$sink" 2>/dev/null
    wait "$sink" 2>/dev/null
    return 0
}

# isp_tx K: packets sent by line ethK so far.
isp_tx() {
    cat "/sys/class/net/eth$1/statistics/tx_packets"
}

# isp_cut K...: ISP K loses its uplink; its line to the box keeps its carrier (a dead ISP
# behind a live modem).
isp_cut() {
    local k
    for k in "$@"; do ip -n "r$k" link set wan down || return 1; done
}

# isp_mend K...: ISP K's uplink back, with the default route that went down with it.
isp_mend() {
    local k
    for k in "$@"; do
        ip -n "r$k" link set wan up && ip -n "r$k" route replace default via "198.19.$k.1" || return 1
    done
}

# isp_check_tables: split access for an office written with TEQL_TABLE=420%k: each line's
# rule `from ADDR lookup 420K`, and table 420K's default via the line's ISP.
isp_check_tables() {
    local k
    for k in 1 2 3; do
        check_eq "rule: from eth$k's address to table 420$k" "420$k" \
            "$(ip -j rule show | jq -r --arg a "${ISP_ADDR[$k]}" '.[] | select(.src == $a) | .table')"
        check_eq "table 420$k: default via ISP $k" "${ISP_GW[$k]}" "$(ip -j route show table "420$k" default | jq -r '.[0].gateway')"
    done
}

# isp_ns_down K / isp_ns_up K: line K taken down and brought back up as network-scripts'
# ifdown/ifup of a static line does it, with the hooks it runs (ifdown-pre-local, then the
# address and link gone, ifdown-local; the link and address back, ifup-local).
isp_ns_down() {
    ns_hook ifdown-pre-local "eth$1" && ip addr flush dev "eth$1" && ip link set "eth$1" down \
        && ns_hook ifdown-local "eth$1"
}
isp_ns_up() {
    ip link set "eth$1" up && ip addr add "${ISP_ADDR[$1]}/${ISP_LEN[$1]}" dev "eth$1" \
        && wait_for _vm_link_up "eth$1" && ns_hook ifup-local "eth$1"
}

# isp_members: the lines in the bundle's nexthop group, by name, in order ("eth1 eth3").
isp_members() {
    local g ids id out=()
    g=$(ip -j nexthop show | jq -r '[.[] | select(.group != null)][0].id // empty')
    [ -n "$g" ] || { echo; return; }
    ids=$(ip -j nexthop show id "$g" | jq -r '.[0].group[].id')
    for id in $ids; do out+=("$(ip -j nexthop show id "$id" | jq -r '.[0].dev')"); done
    echo "${out[*]}"
}

# ------------------------------------------------------- connection bundles (t-78, t-40)
SINK_LOG=$VM_STATE/sink.log

# The modules of the expressions in teqlctl's connection table (nft_counter is one on 5.10;
# 6.1 builds it into nf_tables, and then it is neither unloaded nor seen in /sys/module), and
# nft_expr_modules_unload: unloads those of them nothing uses.
NFT_EXPR_MODULES="nft_counter nft_chain_nat nft_masq nft_numgen nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_fib nft_ct"
nft_expr_modules_unload() {
    local m
    for m in $NFT_EXPR_MODULES; do modprobe -r "$m" 2>/dev/null; done
}
# modules_loaded MODULE...: those of the modules that are loaded, on one line.
modules_loaded() {
    local m
    for m in "$@"; do [ -e "/sys/module/$m" ] && echo "$m"; done | xargs
}
# kernel_requests_start / kernel_requests_stop: meanwhile the kernel's own module requests (it
# runs /proc/sys/kernel/modprobe for them) are logged; kernel_nft_requests prints the nftables
# ones (nft-expr-*, nft-chain-*) the log holds, on one line. teqlctl loads its table's
# expression modules before the transaction: one the kernel must load itself aborts and
# replays the whole transaction (seen: 30 replays, 7-10 s under TCG).
kernel_requests_start() {
    KERNEL_MODPROBE=$(cat /proc/sys/kernel/modprobe)
    printf '#!/bin/sh\necho "$*" >>%s/kernel-modprobe.log\nexec %s "$@"\n' "$VM_STATE" "$KERNEL_MODPROBE" >"$VM_STATE/kernel-modprobe"
    chmod 755 "$VM_STATE/kernel-modprobe"
    : >"$VM_STATE/kernel-modprobe.log"
    echo "$VM_STATE/kernel-modprobe" >/proc/sys/kernel/modprobe
}
kernel_requests_stop() { echo "$KERNEL_MODPROBE" >/proc/sys/kernel/modprobe; }
kernel_nft_requests() { grep -E 'nft-(expr|chain)' "$VM_STATE/kernel-modprobe.log" | sort -u | xargs; }

# sink_start: a UDP sink on the internet host (every address of it) that logs the source
# address of each datagram; sink_count ADDR: datagrams seen from ADDR since the last reset.
# (Not run under `check`: its command substitution would wait for the sink's end.) Its receive
# buffer holds a burst of 300 datagrams (SO_RCVBUFFORCE, 33: root's, above rmem_max): on the
# host's kernel (tests/netns/connection.sh) they come faster than it logs them, and the default
# buffer dropped 44 of 300.
sink_start() {
    : >"$SINK_LOG"
    ip netns exec inet python3 -u -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 22)
s.bind(("0.0.0.0", 9))
while True:
    data, peer = s.recvfrom(2048)
    print(peer[0], flush=True)' >>"$SINK_LOG" &
    SINK=$!
    wait_for sh -c "ip netns exec inet ss -Hlun 'sport = :9' | grep -q ."
}
sink_count() { grep -cx "$1" "$SINK_LOG"; }
# udp_flows NS DST N: N connections (each its own socket, so its own source port and its own
# conntrack entry), one datagram each. NS "-" is the box itself.
udp_flows() {
    local run=()
    [ "$1" = - ] || run=(ip netns exec "$1")
    # shellcheck disable=SC2016  # expanded by the inner bash
    "${run[@]}" bash -c 'for f in $(seq '"$3"'); do
        exec 3>/dev/udp/'"$2"'/9 || exit 1
        echo "flow $f" >&3
        exec 3>&-
    done'
}

# ---------------------------------------------------------------- lines of other kinds (t-74)
# Line 2 by DHCP: busybox udhcpd in r2's namespace, the real dhclient with Debian's
# /sbin/dhclient-script on the box, and teqlctl's exit hook installed as the .deb installs it.
# Line K point-to-point: a /32 with a peer on both ends of the veth (isp_p2p). lab_down
# (lab_dhcp_cleanup) stops the client and removes what isp_dhcp_install_hook installed,
# whatever the scenario did.
ISP_DHCP_DIR=$VM_DHCP_DIR

# isp_dhcp_server ROUTER: (re)starts the DHCP server on r2's lan. It leases eth2 ISP_ADDR[2]
# (a static lease by eth2's MAC, so that a restarted server still answers the renewals of a
# lease it did not hand out itself) with ROUTER as the router option, for 20 s: dhclient
# renews every ~10 s.
isp_dhcp_server() {
    local router=$1 mac
    mkdir -p "$ISP_DHCP_DIR" || return 1
    isp_dhcp_server_stop
    mac=$(cat /sys/class/net/eth2/address) || return 1
    cat >"$ISP_DHCP_DIR/udhcpd.conf" <<EOT
interface lan
start 192.0.2.100
end 192.0.2.110
max_leases 10
lease_file $ISP_DHCP_DIR/udhcpd.leases
pidfile $ISP_DHCP_DIR/udhcpd.pid
static_lease $mac ${ISP_ADDR[2]}
option subnet 255.255.255.0
option router $router
option lease 20
min_lease 20
EOT
    : >>"$ISP_DHCP_DIR/udhcpd.leases"
    ip netns exec r2 busybox udhcpd -f "$ISP_DHCP_DIR/udhcpd.conf" </dev/null >>"$ISP_DHCP_DIR/udhcpd.log" 2>&1 &
    wait_for ip netns exec r2 sh -c "ss -Hlun 'sport = :67' | grep -q ."
}

# isp_dhcp_server_stop: the DHCP server gone (its leases stay in its lease file).
isp_dhcp_server_stop() {
    local pid
    pid=$(cat "$ISP_DHCP_DIR/udhcpd.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    wait_for sh -c "! kill -0 $pid 2>/dev/null"
    rm -f "$ISP_DHCP_DIR/udhcpd.pid"
}

# isp_dhclient [ARGS...]: the real dhclient on eth2 (-1: one try; it then stays in the
# background and renews), or `isp_dhclient -r`: release the lease and stop it. Its own state
# and output stay in ISP_DHCP_DIR.
isp_dhclient() {
    mkdir -p "$ISP_DHCP_DIR" || return 1
    timeout 90 dhclient -4 -v -1 -lf "$ISP_DHCP_DIR/dhclient.leases" -pf "$ISP_DHCP_DIR/dhclient.pid" "$@" eth2 \
        </dev/null >>"$ISP_DHCP_DIR/dhclient.log" 2>&1
}

# isp_dhcp_install_hook: what the .deb installs for dhclient (distro/debian/teqlctl.links):
# the snippet in /usr/share/teqlctl, linked into /etc/dhcp/dhclient-exit-hooks.d, and the
# binary as /usr/sbin/teqlctl (here a link to the test binary; the guest's /usr is a
# throwaway overlay). Plus an observer of ours after it, which records each call's reason and
# routers in ISP_DHCP_DIR/events.
isp_dhcp_install_hook() {
    mkdir -p "$ISP_DHCP_DIR" /etc/dhcp/dhclient-exit-hooks.d || return 1
    [ -e /usr/sbin/teqlctl ] && { echo "/usr/sbin/teqlctl exists already" >&2; return 1; }
    ln -s "$TEQLCTL" /usr/sbin/teqlctl || return 1
    install -D -m 0644 "$VM_DIR/../../distro/dhclient/exit-hook.debian" /usr/share/teqlctl/dhclient-exit-hook || return 1
    ln -s /usr/share/teqlctl/dhclient-exit-hook /etc/dhcp/dhclient-exit-hooks.d/teqlctl || return 1
    # shellcheck disable=SC2016  # expanded by dhclient-script
    printf 'echo "$reason ${new_routers:-} ${old_routers:-}" >>%s/events\n' "$ISP_DHCP_DIR" \
        >/etc/dhcp/dhclient-exit-hooks.d/zz-teqlctl-vm-events
}

# isp_p2p K: line K point-to-point: the box has ISP_ADDR[K]/32 with peer ISP_GW[K], the ISP
# the reverse, and answers ARP for what it routes elsewhere (proxy_arp), as an ISP's end of a
# /32 Ethernet line does: the box's routes go by the device, with no gateway.
isp_p2p() {
    local k=$1
    ip addr flush dev "eth$k" || return 1
    ip addr add "${ISP_ADDR[$k]}/32" peer "${ISP_GW[$k]}/32" dev "eth$k" || return 1
    ip -n "r$k" addr flush dev lan || return 1
    ip -n "r$k" addr add "${ISP_GW[$k]}/32" peer "${ISP_ADDR[$k]}/32" dev lan || return 1
    ip netns exec "r$k" sysctl -q -w net.ipv4.conf.lan.proxy_arp=1
}
