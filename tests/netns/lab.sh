# Sourced by the tests/netns/*.sh scripts, which tests/netns.rs runs inside `unshare -m -n`:
# a box (this namespace) with veth "lines" eth1..ethN, each to a router namespace rK that
# holds the line's gateway and the probe target 203.0.113.1; a configuration tree in
# $T/root for `teqlctl --root`. Only documentation addresses, only in these namespaces.
# Needs T (a temporary directory) and TEQLCTL.

LAB_ROOT=$T/root
LAB_FAILED=0
LAB_PASSED=0
# Line K's network, the box's address on it and its gateway.
LAB_NET=("" 192.0.2 198.51.100 203.0.113)

# A tmpfs on /run: the hooks' built-in state (/run/teqlctl) and lock (/run/teqlctl.lock) are
# then this test's, and `ip netns` keeps its files there too.
mount -t tmpfs tmpfs /run || exit 1
# sysfs shows the network namespace of whoever mounted it: mount this namespace's.
mount -t sysfs sysfs /sys || exit 1
ip link set lo up

# expect NAME WANT GOT
expect() {
    if [ "$2" = "$3" ]; then
        echo "ok $1"
        LAB_PASSED=$((LAB_PASSED + 1))
    else
        echo "FAIL $1: want '$2', got '$3'"
        LAB_FAILED=$((LAB_FAILED + 1))
    fi
}

# run NAME ARGS...: teqlctl --root LAB_ROOT ARGS, expected to exit 0.
run() {
    local name=$1 out rc
    shift
    out=$("$TEQLCTL" --root "$LAB_ROOT" "$@" 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" >&2
    expect "$name" 0 "$rc"
}

lab_summary() {
    echo "$LAB_PASSED passed, $LAB_FAILED failed"
    [ "$LAB_FAILED" -eq 0 ]
}

# lab_lines N: lines eth1..ethN, up with their addresses, their routers answering.
lab_lines() {
    local k n=$1
    for k in $(seq "$n"); do
        ip netns add "r$k" || exit 1
        ip link add "eth$k" type veth peer name lan netns "r$k" || exit 1
        ip addr add "${LAB_NET[$k]}.10/24" dev "eth$k"
        ip link set "eth$k" up
        ip -n "r$k" link set lo up
        # The far end: the gateway, and the probe target behind it.
        ip -n "r$k" addr add "${LAB_NET[$k]}.1/24" dev lan
        ip -n "r$k" addr add 203.0.113.1/32 dev lo
        ip -n "r$k" link set lan up
    done
    for k in $(seq "$n"); do lab_wait_carrier "eth$k"; done
}

lab_wait_carrier() {
    local i
    for i in $(seq 200); do
        grep -q 1 "/sys/class/net/$1/carrier" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# lab_multipath_office BUNDLE [KEY=VALUE...]: network-scripts files of a multipath bundle over
# every line, each KEY=VALUE in every line's file.
lab_multipath_office() {
    local bundle=$1 k dir=$LAB_ROOT/etc/sysconfig/network-scripts f
    shift
    mkdir -p "$dir"
    for f in /sys/class/net/eth*; do
        k=${f##*/eth}
        {
            printf 'DEVICE=eth%s\nONBOOT=yes\nBOOTPROTO=static\nIPADDR=%s.10\nPREFIX=24\n' "$k" "${LAB_NET[$k]}"
            printf 'GATEWAY=%s.1\nTEQL_MASTER=%s\n' "${LAB_NET[$k]}" "$bundle"
            printf '%s\n' "$@"
        } >"$dir/ifcfg-eth$k"
    done
    printf 'DEVICE=%s\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\n' "$bundle" >"$dir/ifcfg-$bundle"
}

# lab_members BUNDLE: the lines in its nexthop group, by name, sorted.
lab_members() {
    # (Only one bundle per test: every group in this namespace is its.)
    ip -j nexthop show | jq -r '
        (map({key: (.id | tostring), value: .dev}) | from_entries) as $dev
        | .[] | select(.group) | .group[] | $dev[(.id | tostring)]' | sort | tr '\n' ' ' | sed 's/ $//'
}

# lab_health LINE FIELD: a field of the line in check's state.
lab_health() {
    jq -r --arg l "$1" ".lines[\$l].$2 | tostring" /run/teqlctl/health.json
}
