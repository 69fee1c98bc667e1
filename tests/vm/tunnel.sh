# shellcheck shell=bash
# Sourced by scenarios after lib.sh, netscripts.sh and isp.sh: the independent-ISP lab with an
# aggregator, for bundles of tunnels (issue 14).
#
#   box eth1 198.51.100.10, eth2 192.0.2.10 (isp.sh), a multipath bundle `wan` over them
#       (TEQL_DEFROUTE=no), GRE tunnels tl1 over eth1 and tl2 over eth2 to 198.18.0.2 (keys 1, 2),
#       teql0 198.18.200.2/30 over tl1+tl2, default via 198.18.200.1.
#   inet agg0 198.19.9.1/30 ==veth== up0 198.19.9.2/30  agg (the aggregator's namespace; inet
#       forwards to it)
#       agg: 198.18.0.2/32 on lo (the tunnels' far end), tl1/tl2 back to the lines' addresses,
#       teql1 198.18.200.1/30 over them (sch_teql's second master, moved into agg), the office
#       LAN 198.18.100.0/24 routed via teql1.
#   agg lan1 198.18.60.1/24 ==veth== eth0 198.18.60.2/24  far (a host behind the aggregator)
#
# The aggregator runs teqlctl with its own files: `ip netns exec agg` binds
# /etc/netns/agg/sysconfig over /etc/sysconfig, and agg_hook binds a state directory of its
# own over /run/teqlctl, so the two boxes share nothing but the kernel and the lock.

AGG_ADDR=198.18.0.2
FAR_HOST=198.18.60.2
AGG_ETC=/etc/netns/agg/sysconfig/network-scripts
TUN_LOCAL=(x 198.51.100.10 192.0.2.10)
# Each tunnel's GRE key (empty: none); a scenario may change them before writing its files.
TUN_KEY=(x 1 2)

# tun_up: isp_up's lab plus the aggregator and the far host; sch_teql loaded with two masters,
# teql1 moved into agg.
tun_up() {
    isp_up || return 1
    local ns
    for ns in agg far; do ip netns add "$ns" || return 1; done
    modprobe sch_teql max_equalizers=2 && ip link set teql1 netns agg || return 1
    ip link add agg0 netns inet type veth peer name up0 netns agg || return 1
    {
        echo "addr add 198.19.9.1/30 dev agg0"
        echo "link set agg0 up"
    } | ip -n inet -batch - || return 1
    {
        echo "link set lo up"
        echo "addr add $AGG_ADDR/32 dev lo"
        echo "addr add 198.19.9.2/30 dev up0"
        echo "link set up0 up"
        echo "link add lan1 type veth peer name eth0 netns far"
        echo "addr add 198.18.60.1/24 dev lan1"
        echo "link set lan1 up"
    } | ip -n agg -batch - || return 1
    printf '%s\n' "link set lo up" "addr add $FAR_HOST/24 dev eth0" "link set eth0 up" \
        | ip -n far -batch - || return 1
    # Routes once both ends of each veth are up (a gateway behind a link without carrier).
    wait_for _tun_agg_up || return 1
    ip -n agg route add default via 198.19.9.1 || return 1
    ip -n far route add default via 198.18.60.1 || return 1
    ip -n inet route add "$AGG_ADDR/32" via 198.19.9.2 || return 1
    ip netns exec agg sysctl -q -w net.ipv4.ip_forward=1 || return 1
    # The internet host becomes a router too: the aggregator is behind it.
    ip netns exec inet sysctl -q -w net.ipv4.ip_forward=1 || return 1
    mkdir -p "$AGG_ETC" /run/teqlctl /run/teqlctl-agg
}

_tun_agg_up() {
    [ "$(ip netns exec agg cat /sys/class/net/up0/operstate)" = up ] \
        && [ "$(ip netns exec agg cat /sys/class/net/lan1/operstate)" = up ]
}

# tun_down: what tun_up added, then isp_down.
tun_down() {
    local ns pid
    for ns in agg far; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    ip link del tl1 2>/dev/null
    ip link del tl2 2>/dev/null
    rm -rf /etc/netns /run/teqlctl-agg /run/network-agg
    isp_down
}

# tun_write_office [N]: the office's files. The ISP lines are a multipath bundle `wan` that
# keeps its split access (each line's rule `from ADDR`) without a default route; tl1..tlN
# (default 2) are network-scripts' own GRE tunnels over them, lines of teql0. A tunnel past the
# second goes from its line's address with its number as key (bench/tunnel.sh's 4 lines).
tun_write_office() {
    local n=${1:-2} k
    mkdir -p "$NS_DIR" || return 1
    for ((k = 1; k <= n; k++)); do
        [ -v "TUN_LOCAL[$k]" ] || TUN_LOCAL[k]=${ISP_ADDR[k]}
        [ -v "TUN_KEY[$k]" ] || TUN_KEY[k]=$k
        printf 'DEVICE=eth%s\nONBOOT=yes\nBOOTPROTO=static\nIPADDR=%s\nPREFIX=%s\nGATEWAY=%s\nTEQL_MASTER=wan\n' \
            "$k" "${ISP_ADDR[$k]}" "${ISP_LEN[$k]}" "${ISP_GW[$k]}" >"$NS_DIR/ifcfg-eth$k" || return 1
        tun_write_tunnel "$NS_DIR" "$k" "${TUN_LOCAL[$k]}" "$AGG_ADDR" teql0 || return 1
    done
    printf 'DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\nTEQL_DEFROUTE=no\n' >"$NS_DIR/ifcfg-wan"
    printf 'DEVICE=teql0\nONBOOT=yes\nIPADDR=198.18.200.2\nPREFIX=30\nGATEWAY=198.18.200.1\n' >"$NS_DIR/ifcfg-teql0"
    # What the aggregator routes back to the office and masquerades (peer-config writes it there).
    printf 'TEQL_PEER_ROUTE=198.18.100.0/24\nTEQL_PEER_NAT=yes\n' >>"$NS_DIR/ifcfg-teql0"
}

# tun_peer_config FORMAT DIR: the aggregator's files for the office's teql0, as teql1, written
# into DIR by `teqlctl peer-config` (never over a file that is there).
tun_peer_config() {
    mkdir -p "$2" && "$TEQLCTL" peer-config teql0 --master teql1 --format "$1" --write "$2"
}

# tun_agg_routing: what TEQL_ROUTE and TEQL_NAT give the aggregator while teql1 is up: the
# office LAN through teql1 (teqlctl's own route), its NAT table; prints "route nat".
tun_agg_routing() {
    local r n
    r=$(ip -n agg -j route show 198.18.100.0/24 | jq -r '[.[] | select(.dev == "teql1")] | length')
    n=$(ip netns exec agg nft list table inet teqlctl_teql1 2>/dev/null \
        | grep -c 'oifname != "teql1" ip saddr { 198.18.100.0/24, 198.18.200.0/30 } masquerade')
    echo "$r $n"
}

# tun_write_agg: the aggregator's files: a tunnel back to each office line, teql1 over them.
tun_write_agg() {
    local k
    mkdir -p "$AGG_ETC" || return 1
    for k in 1 2; do
        tun_write_tunnel "$AGG_ETC" "$k" "$AGG_ADDR" "${TUN_LOCAL[$k]}" teql1 || return 1
    done
    printf 'DEVICE=teql1\nONBOOT=yes\nIPADDR=198.18.200.1\nPREFIX=30\n' >"$AGG_ETC/ifcfg-teql1"
    # Its own ifup-teql / ifdown-teql, as the package links them (the /sbin hooks are shared).
    ln -sf "$TEQLCTL" "$AGG_ETC/ifup-teql" && ln -sf "$TEQLCTL" "$AGG_ETC/ifdown-teql"
}

# tun_write_tunnel DIR K LOCAL REMOTE MASTER: ifcfg-tlK as network-scripts' ifup-tunnel reads it.
tun_write_tunnel() {
    {
        printf 'DEVICE=tl%s\nTYPE=GRE\nONBOOT=yes\nMY_OUTER_IPADDR=%s\nPEER_OUTER_IPADDR=%s\nTEQL_MASTER=%s\n' \
            "$2" "$3" "$4" "$5"
        [ -z "${TUN_KEY[$2]}" ] || echo "KEY=${TUN_KEY[$2]}"
    } >"$1/ifcfg-tl$2"
}

# on WHERE CMD...: CMD on the office box (WHERE "box") or in the aggregator's namespace with
# its own /etc/sysconfig and /run/teqlctl ("agg").
on() {
    local where=$1
    shift
    if [ "$where" = box ]; then
        "$@"
    else
        # ifupdown's state too, when the aggregator runs ifupdown (its /etc/network is
        # /etc/netns/agg/network, by ip netns exec).
        # shellcheck disable=SC2016  # expanded by the inner sh
        ip netns exec agg sh -c 'mount --bind /run/teqlctl-agg /run/teqlctl \
            && { [ ! -d /run/network-agg ] || mount --bind /run/network-agg /run/network; } && exec "$@"' sh "$@"
    fi
}

# tun_ifup WHERE K: `ifup tlK` as network-scripts does it: ifup-pre-local, ifup-tunnel's own
# commands (ip tunnel add, link up), then ifup-post's ifup-local.
tun_ifup() {
    local where=$1 k=$2 local remote
    if [ "$where" = box ]; then local=${TUN_LOCAL[$k]} remote=$AGG_ADDR; else local=$AGG_ADDR remote=${TUN_LOCAL[$k]}; fi
    _tun_ns_hook "$where" ifup-pre-local "ifcfg-tl$k" || return 1
    _tun_ip "$where" tunnel add "tl$k" mode gre local "$local" remote "$remote" ${TUN_KEY[$k]:+key "${TUN_KEY[$k]}"} || return 1
    _tun_ip "$where" link set "tl$k" up || return 1
    _tun_ns_hook "$where" ifup-local "tl$k"
}

# tun_ifdown WHERE K: `ifdown tlK`: ifdown-pre-local, ifdown-tunnel's link down and tunnel del,
# ifdown-post's ifdown-local.
tun_ifdown() {
    local where=$1 k=$2
    _tun_ns_hook "$where" ifdown-pre-local "tl$k" || return 1
    _tun_ip "$where" link set "tl$k" down || return 1
    _tun_ip "$where" tunnel del "tl$k" || return 1
    _tun_ns_hook "$where" ifdown-local "tl$k"
}

_tun_ip() {
    local where=$1
    shift
    if [ "$where" = box ]; then ip "$@"; else ip -n agg "$@"; fi
}

# _tun_ns_hook WHERE NAME ARGS...: ns_hook on WHERE (the aggregator's hooks see its files).
_tun_ns_hook() {
    local where=$1 name=$2 path
    shift 2
    case $name in
    ifup-teql | ifdown-teql) path=$NS_DIR/$name ;;
    *) path=$NS_SBIN/$name ;;
    esac
    on "$where" sh -c 'cd "$1" && shift && exec env -i PATH=/sbin:/usr/sbin:/bin:/usr/bin "$@"' sh "$NS_DIR" "$path" "$@"
}

# tun_teqlctl WHERE ARGS...: the manual tool on WHERE.
tun_teqlctl() {
    local where=$1
    shift
    on "$where" "$TEQLCTL" "$@"
}
