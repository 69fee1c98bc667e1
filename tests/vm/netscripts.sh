# shellcheck shell=bash
# Sourced by scenarios after lib.sh: the issue's RedHat office as network-scripts sees it, and
# calls of the hooks exactly as network-scripts makes them (arguments, cwd, PATH-only env).

NS_DIR=/etc/sysconfig/network-scripts
# Where the /sbin hooks are linked: the guest's /sbin is the host's, read-only.
NS_SBIN=/run/teqlctl-vm/sbin

# ns_write_office N: ifcfg files for eth2..eth(N+1) in teql0, and teql0 itself; the binary
# linked under every hook name, as the admin installs it.
ns_write_office() {
    local n=$1 k
    mkdir -p "$NS_DIR" "$NS_SBIN" || return 1
    for ((k = 2; k <= n + 1; k++)); do
        cat >"$NS_DIR/ifcfg-eth$k" <<EOT
DEVICE=eth$k
ONBOOT=yes
BOOTPROTO=static
IPADDR=198.18.$k.1
NETMASK=255.255.255.252
TEQL_MASTER=teql0
EOT
    done
    cat >"$NS_DIR/ifcfg-teql0" <<EOT
DEVICE=teql0
ONBOOT=yes
BOOTPROTO=static
IPADDR=203.0.113.2
PREFIX=28
GATEWAY=203.0.113.1
EOT
    ns_link_hooks
}

# ns_link_hooks: the binary linked under every hook name, as the admin installs it.
ns_link_hooks() {
    mkdir -p "$NS_DIR" "$NS_SBIN" || return 1
    # The documented list of hook paths; /sbin maps to NS_SBIN (the guest's /sbin is read-only).
    local path
    while read -r path; do
        case $path in
        '' | '#'*) continue ;;
        /sbin/*) ln -sf "$TEQLCTL" "$NS_SBIN/${path#/sbin/}" || return 1 ;;
        *) ln -sf "$TEQLCTL" "$path" || return 1 ;;
        esac
    done <"$VM_DIR/../../hooks/network-scripts.links"
    [ -x "$NS_SBIN/ifup-local" ] && [ -x "$NS_DIR/ifup-teql" ]
}

# ns_hook NAME ARGS...: one hook call as network-scripts makes it.
ns_hook() {
    local name=$1 path
    shift
    case $name in
    ifup-teql | ifdown-teql) path=$NS_DIR/$name ;;
    *) path=$NS_SBIN/$name ;;
    esac
    (cd "$NS_DIR" && env -i PATH=/sbin:/usr/sbin:/bin:/usr/bin "$path" "$@")
}

# ns_ifup K [boot]: what `ifup ethK` does around the hooks: ifup-pre-local, ifup-eth's address
# and link up (already done by lab_up; repeated when the line was taken down), ifup-local.
ns_ifup() {
    local k=$1
    ns_hook ifup-pre-local "ifcfg-eth$k" ${2:+"$2"} || return 1
    ip link set "eth$k" up
    ip addr replace "198.18.$k.1/30" dev "eth$k"
    ns_hook ifup-local "eth$k" || return 1
    wait_for _vm_link_up "eth$k" && lab_sync_return
}

# ns_ifdown K: `ifdown ethK`: ifdown-pre-local, ifdown-eth's flush and link down, ifdown-local.
ns_ifdown() {
    local k=$1
    ns_hook ifdown-pre-local "eth$k" || return 1
    ip addr flush dev "eth$k"
    ip link set "eth$k" down
    ns_hook ifdown-local "eth$k" || return 1
    lab_sync_return
}

# kernel_snapshot: everything teqlctl may change, as text, to compare before and after.
kernel_snapshot() {
    local f v
    # One jq for the lot, rp_filter read with builtins: each process costs 0.1-0.9 s under TCG
    # (jq the most). bench/guest.sh compares its bring-ups with this too.
    { tc -j qdisc show; echo; ip -j link show; echo; ip -j -4 addr show; echo; ip -j route show table main; } \
        | jq -c -s '(.[0] | [.[] | select(.root == true) | {dev, kind}] | sort_by(.dev)),
            (.[1] | [.[] | {ifname, flags, mtu}] | sort_by(.ifname)),
            (.[2] | [.[] | {ifname, a: [.addr_info[] | "\(.local)/\(.prefixlen)"]}] | sort_by(.ifname)),
            (.[3] | sort_by(.dst, .dev))'
    for f in /proc/sys/net/ipv4/conf/*/rp_filter; do
        read -r v <"$f"
        echo "$f:$v"
    done
    [ -d /sys/module/sch_teql ] && echo "sch_teql loaded"
    return 0
}

# check_bundle_up K...: the state the issue asks for with lines ethK... attached, one by one.
check_bundle_up() {
    local k json
    for k in "$@"; do
        check_eq "eth$k: root qdisc teql0" teql0 "$(root_qdisc_kind "eth$k")"
        check_eq "eth$k: rp_filter 2 (loose)" 2 "$(rp_filter "eth$k")"
    done
    json=$(ip -j link show teql0)
    check_json "teql0 is up" '.[0].flags | index("UP") != null' "$json"
    json=$(ip -j -4 addr show dev teql0)
    check_json "teql0 has 203.0.113.2/28" \
        '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] == ["203.0.113.2/28"]' "$json"
    json=$(ip -j route show default)
    if [ "${BUNDLE_ROUTE_ONLINK:-1}" = 1 ]; then
        check_json "the one default route is via 203.0.113.1 dev teql0 onlink" \
            'length == 1 and .[0].gateway == "203.0.113.1" and .[0].dev == "teql0" and (.[0].flags | index("onlink") != null)' "$json"
    else
        # ifupdown adds the route itself, onlink or not: the gateway is in teql0's subnet.
        check_json "the one default route is via 203.0.113.1 dev teql0" \
            'length == 1 and .[0].gateway == "203.0.113.1" and .[0].dev == "teql0"' "$json"
    fi
}

# tx_counts K1 K2...: tx_packets of the listed lines, space-separated.
tx_counts() {
    local k out=()
    for k in "$@"; do out+=("$(line_tx_packets "eth$k")"); done
    echo "${out[*]}"
}

# check_even_shares "BEFORE" "AFTER" K...: every listed line's delta within 10% of the mean.
check_even_shares() {
    local -a b a
    read -r -a b <<<"$1"
    read -r -a a <<<"$2"
    shift 2
    local i sum=0 n=$# d dev
    local -a deltas
    for ((i = 0; i < n; i++)); do
        deltas[i]=$((a[i] - b[i]))
        sum=$((sum + deltas[i]))
    done
    info "tx_packets deltas of eth$(echo "$@" | sed 's/ /,eth/g'): ${deltas[*]}"
    check "traffic flowed ($sum packets > 1000)" test "$sum" -gt 1000
    i=0
    for k in "$@"; do
        dev=$((n * deltas[i] - sum))
        dev=${dev#-}
        check "eth$k carried its share (${deltas[i]} packets, within 10% of the mean)" test $((10 * dev)) -le "$sum"
        i=$((i + 1))
    done
}
