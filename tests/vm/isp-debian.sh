# shellcheck shell=bash
# Sourced by the Debian scenarios of the ISP lab (t-40 ifupdown, t-45 ifupdown2) after lib.sh,
# isp.sh and debian.sh: the office of three independent ISPs in /etc/network/interfaces, and
# the checks both make of the bundle the real ifup/ifdown leave. tests/netns/multipath.sh
# sources it too, for the status counters' checks.

ISP_WEIGHTS=(x 2 1 1)

# isp_deb_write [WAN_OPTION...]: each line `iface ethK inet static` with its address and the
# multipath options (teql-gateway, not gateway: ifupdown would add a default route per line);
# eth1 and eth2 in tables of their own choosing (teql-table), eth3 in its default one; the
# bundle `iface wan inet manual` with teql-mode multipath and any extra options given.
# ISP_DEB_DHCP="2": line 2 is `inet dhcp` instead (its gateway is the lease's router).
isp_deb_write() {
    local k o
    {
        echo "# written by the teqlctl VM tests (multipath)"
        for k in 1 2 3; do
            if [[ " ${ISP_DEB_DHCP:-} " == *" $k "* ]]; then
                printf 'auto eth%s\niface eth%s inet dhcp\n    teql-master wan\n    teql-weight %s\n' \
                    "$k" "$k" "${ISP_WEIGHTS[$k]}"
                [ "$k" -lt 3 ] && printf '    teql-table 420%s\n' "$k"
                echo
                continue
            fi
            printf 'auto eth%s\niface eth%s inet static\n    address %s/%s\n    teql-master wan\n' \
                "$k" "$k" "${ISP_ADDR[$k]}" "${ISP_LEN[$k]}"
            printf '    teql-weight %s\n    teql-gateway %s\n' "${ISP_WEIGHTS[$k]}" "${ISP_GW[$k]}"
            [ "$k" -lt 3 ] && printf '    teql-table 420%s\n' "$k"
            echo
        done
        printf 'auto wan\niface wan inet manual\n    teql-mode multipath\n'
        for o in "$@"; do printf '    %s\n' "$o"; done
    } >"$DEB_FILE"
}

# isp_fresh_lines: the lines as a box has them before ifupdown: down, no address.
isp_fresh_lines() {
    local k
    for k in 1 2 3; do
        ip addr flush dev "eth$k" && ip link set "eth$k" down || return 1
    done
}

# isp_table K: the table of line ethK as teqlctl status reports it (eth3 has no teql-table).
isp_table() {
    "$TEQLCTL" status --json wan | jq -r --arg l "eth$1" '.masters[0].lines[] | select(.name == $l) | .multipath.table'
}

# isp_ours: every kernel object of the bundle's kind (rules at teqlctl's priority, routes of
# protocol 200 in any table, nexthops), one per line: empty when nothing of ours is left.
isp_ours() {
    ip -j rule show | jq -r '.[] | select(.priority == 30100) | "rule from \(.src) lookup \(.table)"'
    ip -j route show table all | jq -r '.[] | select(.protocol == "200" or .protocol == 200)
        | "route \(.dst) table \(.table // "main")"'
    ip -j nexthop show | jq -r '.[] | "nexthop \(.id)"'
}

# isp_snapshot: what a second run must leave exactly as it was (IPv4: a dummy wan brings
# IPv6 link-local routes of its own).
isp_snapshot() {
    ip -j rule show
    ip -4 -j route show table all
    ip -j nexthop show
    cat /proc/sys/net/ipv4/fib_multipath_hash_policy /proc/sys/net/ipv4/fib_multipath_hash_fields
}

# isp_check_bundle LINES...: the bundle as it must be with exactly LINES (e.g. eth1 eth3) in
# its group: a resilient group with their weights as the main default route, each line's rule
# and table, and no rule or table left of the other lines.
isp_check_bundle() {
    local want="$*" g k t weights=() tag="($*)"
    check_eq "the group holds $want" "$want" "$(isp_members)"
    g=$(ip -j route show default | jq -r '.[] | select(.nhid != null) | .nhid' | head -n 1)
    check "the default route uses the group $tag" test -n "$g"
    [ -n "$g" ] || return
    check_eq "... a resilient group $tag" resilient "$(ip -j -d nexthop show id "$g" | jq -r '.[0].type')"
    for k in "$@"; do weights+=("${ISP_WEIGHTS[${k#eth}]}"); done
    check_eq "... with weights ${weights[*]}" "${weights[*]}" \
        "$(ip -j nexthop show id "$g" | jq -r '[.[0].group[] | .weight // 1] | map(tostring) | join(" ")')"
    for k in 1 2 3; do
        t=$(isp_table "$k")
        if [[ " $want " == *" eth$k "* ]]; then
            check_eq "rule: from eth$k's address to its table $t" "$t" \
                "$(ip -j rule show | jq -r --arg a "${ISP_ADDR[$k]}" '.[] | select(.src == $a) | .table')"
            check_eq "table $t: default via ISP $k" "${ISP_GW[$k]}" \
                "$(ip -j route show table "$t" default | jq -r '.[0].gateway')"
        else
            check_eq "no rule for eth$k's address" "" \
                "$(ip -j rule show | jq -r --arg a "${ISP_ADDR[$k]}" '.[] | select(.src == $a) | .table')"
            check_eq "table $t (eth$k's) is empty" "" "$(ip -j route show table "$t" | jq -r '.[].dst')"
        fi
    done
}

# isp_check_paths: ping -I from each line's address, and the internet host reaching each.
isp_check_paths() {
    local k
    for k in 1 2 3; do
        check "ping -I ${ISP_ADDR[$k]} the internet host" ping -c 2 -W 2 -I "${ISP_ADDR[$k]}" "$ISP_HOST"
        check "the internet reaches eth$k's address" ip netns exec inet ping -c 2 -W 2 "${ISP_ADDR[$k]}"
    done
}

# isp_check_status JSON: `status --json wan` shows an up multipath bundle on a resilient group,
# every line live with its address, gateway and weight.
isp_check_status() {
    check_json "status --json: wan is an up multipath bundle on a resilient group" \
        '.masters[0] | .mode == "multipath" and .up and .resilient' "$1"
    check_json "status --json: every line live with its address, gateway and weight" \
        '[.masters[0].lines[] | .multipath | "\(.live) \(.address) \(.gateway) \(.weight)"] == ["true 198.51.100.10/29 198.51.100.9 2", "true 192.0.2.10/24 192.0.2.1 1", "true 203.0.113.10/24 203.0.113.1 1"]' "$1"
}

# isp_counters: each line's "tx_packets tx_bytes rx_packets rx_bytes" from teqlctl status
# --json, one line per line of the bundle.
isp_counters() {
    "$TEQLCTL" status --json wan | jq -r '.masters[0].lines[] | "\(.tx_packets) \(.tx_bytes) \(.rx_packets) \(.rx_bytes)"'
}

# isp_check_counters BEFORE: every line's four counters in status grew since BEFORE (an
# isp_counters output), and none is ahead of the kernel's own (sysfs, read after).
isp_check_counters() {
    local before=$1 after k b a s sys
    after=$(isp_counters)
    info "status counters (tx pkts, tx bytes, rx pkts, rx bytes) before: $(xargs <<<"$before")"
    info "... after: $(xargs <<<"$after")"
    for k in 1 2 3; do
        read -r -a b <<<"$(sed -n "${k}p" <<<"$before")"
        read -r -a a <<<"$(sed -n "${k}p" <<<"$after")"
        check "status: eth$k's tx and rx packets and bytes all grew (${b[*]} -> ${a[*]})" \
            test "${a[0]:-0}" -gt "${b[0]:-0}" -a "${a[1]:-0}" -gt "${b[1]:-0}" \
            -a "${a[2]:-0}" -gt "${b[2]:-0}" -a "${a[3]:-0}" -gt "${b[3]:-0}"
        sys=$(cat /sys/class/net/eth"$k"/statistics/{tx_packets,tx_bytes,rx_packets,rx_bytes} | xargs)
        read -r -a s <<<"$sys"
        check "status: eth$k's counters are the kernel's (not ahead of sysfs: $sys)" \
            test "${a[0]:-0}" -le "${s[0]}" -a "${a[1]:-0}" -le "${s[1]}" \
            -a "${a[2]:-0}" -le "${s[2]}" -a "${a[3]:-0}" -le "${s[3]}"
    done
}

# isp_admin_objects: the admin's own rule, route and nftables table, which teqlctl must never
# touch (set up by isp_admin_add once the lines are up).
isp_admin_add() {
    ip rule add priority 1000 from 198.18.100.77 lookup 100 &&
        ip route add 198.18.200.0/24 via "${ISP_GW[1]}" dev eth1 table 100 &&
        ip route add 198.18.201.0/24 via "${ISP_GW[1]}" dev eth1
}

isp_admin_objects() {
    ip -j rule show | jq -r '.[] | select(.priority == 1000) | "rule \(.src) \(.table)"'
    ip route show table 100
    ip route show 198.18.201.0/24
    nft list table ip adminnat
}
