# shellcheck shell=bash
# Sourced by scenarios after lib.sh and netscripts.sh: the office as Debian's ifupdown
# sees it, with the real ifupdown package and teqlctl linked into /etc/network/if-*.d.

DEB_FILE=/etc/network/interfaces

# deb_install_hooks: the whole installation: a link named teqlctl in each hook directory.
deb_install_hooks() {
    local d
    for d in if-pre-up.d if-up.d if-down.d if-post-down.d; do
        mkdir -p "/etc/network/$d" && ln -sf "$TEQLCTL" "/etc/network/$d/teqlctl" || return 1
    done
}

# deb_fresh_lines: the lines as a box has them before ifupdown: down, no address.
deb_fresh_lines() {
    local k
    for k in 2 3 4 5; do
        ip addr flush dev "eth$k" && ip link set "eth$k" down || return 1
    done
    lab_sync_return
}

# deb_line K [MASTER]: one line's stanza.
deb_line() {
    printf 'auto eth%s\niface eth%s inet static\n    address 198.18.%s.1/30\n    teql-master %s\n\n' "$1" "$1" "$1" "${2:-teql0}"
}

deb_master() {
    printf 'auto teql0\niface teql0 inet static\n    address 203.0.113.2/28\n    gateway 203.0.113.1\n\n'
}

# deb_write ORDER [K=MASTER...]: the file with the lines first (lines-first) or the
# master first (master-first); K=MASTER overrides one line's teql-master.
deb_write() {
    local order=$1 k m
    shift
    declare -A over=()
    for a in "$@"; do over[${a%%=*}]=${a#*=}; done
    {
        echo "# written by the teqlctl VM tests"
        [ "$order" = master-first ] && deb_master
        for k in 2 3 4 5; do
            m=${over[$k]:-teql0}
            deb_line "$k" "$m"
        done
        [ "$order" = lines-first ] && deb_master
    } >"$DEB_FILE"
}

# hook_env IFACE PHASE [IF_OPTION=VALUE...] -- CMD...: CMD in the environment ifupdown gives its
# hooks for IFACE's stanza at PHASE (inet static, not verbose), and nothing else.
hook_env() {
    local iface=$1 phase=$2 mode=start
    shift 2
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    case $phase in *down) mode=stop ;; esac
    env -i PATH="$PATH" IFACE="$iface" LOGICAL="$iface" PHASE="$phase" MODE="$mode" ADDRFAM=inet \
        METHOD=static VERBOSITY=0 "${opts[@]}" "$@"
}

# deb_state IFACE: what ifupdown believes (empty when not configured).
deb_state() {
    ifquery --state "$1" 2>/dev/null
}

# deb_reset: everything down through ifupdown, state clean, lines back to fresh.
deb_reset() {
    ifdown -a >/dev/null 2>&1
    ifdown --force teql0 >/dev/null 2>&1
    rm -f /run/network/ifstate*
    deb_fresh_lines
    [ -d /sys/module/sch_teql ] && modprobe -r sch_teql
    return 0
}

# traffic_over_every_line: a transfer through teql0 reaches the internet host over all four:
# more than one 10 Mbit/s line could carry, in even shares. (Not half the sum: with two guests
# on a 2-CPU host the same bundle gave 15 to 33 Mbit/s, and this checks the hooks, not TCG.)
traffic_over_every_line() {
    local before json
    before=$(tx_counts 2 3 4 5)
    upload_best 10000000 4 "$VM_STATE/upload.json"
    json=$(cat "$VM_STATE/upload.json")
    check_json "iperf3 through teql0 reaches $LAB_HOST, faster than one line (the fastest of up to 3 transfers)" '.end.sum_received.bits_per_second > 10000000' "$json"
    check_even_shares "$before" "$(tx_counts 2 3 4 5)" 2 3 4 5
}
