# shellcheck shell=bash
# Sourced by scenarios after lib.sh, netscripts.sh and debian.sh: Debian's ifupdown2 instead of
# the classic ifupdown, run from the .deb that tests/vm/ifupdown2-setup unpacked on the host
# under target/ifupdown2 (the package conflicts with ifupdown, which stays installed).
#
# ifupdown2 passes its caller's environment (PATH included) on to the if-*.d scripts, so with
# I2_SBIN first in PATH every ifup/ifdown/ifquery, the nested ones teqlctl runs included, is
# ifupdown2's.

I2_SRC=$(cd "$VM_DIR/../.." && pwd)/target/ifupdown2
# Run from a copy on tmpfs: python reads ~100 modules at every ifup, ifdown and ifquery, and
# the 9p root has no page cache. (The wrappers find the program relative to themselves.)
I2_HOME=/run/teqlctl-ifupdown2
I2_SBIN=$I2_HOME/sbin
I2_PROG=$I2_HOME/root/usr/share/ifupdown2
I2_CONF=/etc/network/ifupdown2
# Where ifupdown2 keeps what it configured (state_dir in ifupdown2.conf).
I2_STATE_DIR=/var/tmp/network
# Written by the probe: one line per hook call; what a nested ifup/ifquery did.
I2_PROBE_LOG=$VM_STATE/ifupdown2-probe.log
I2_NESTED_LOG=$VM_STATE/ifupdown2-nested.log

# i2_available: the unpacked package is there (copied to I2_HOME, once per boot) and Debian's
# python3 can run it.
i2_available() {
    if ! [ -x "$I2_SRC/sbin/ifup" ] || ! [ -f "$I2_SRC/root/usr/share/ifupdown2/__main__.py" ]; then
        echo "no ifupdown2 under $I2_SRC: run tests/vm/ifupdown2-setup on the host (as root)"
        return 1
    fi
    if ! [ -x "$I2_SBIN/ifup" ]; then
        rm -rf "$I2_HOME" && cp -a "$I2_SRC" "$I2_HOME" || {
            echo "cannot copy $I2_SRC to $I2_HOME"
            return 1
        }
    fi
    /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))' || {
        echo "/usr/bin/python3 is missing or older than 3.7"
        return 1
    }
}

# i2_install: ifupdown2's configuration (the package's own files; they are read from /etc only)
# and PATH with ifupdown2's ifup/ifdown/ifquery first. Call in the scenario's shell, not in a
# subshell: PATH must stay.
i2_install() {
    mkdir -p "$I2_CONF" || return 1
    cp "$I2_HOME/root/etc/network/ifupdown2/ifupdown2.conf" "$I2_HOME/root/etc/network/ifupdown2/addons.conf" \
        "$I2_CONF/" || return 1
    # The shipped default renders /etc/network/interfaces through mako, which is only a
    # Suggests (not installed here): off, so ifupdown2 does not warn on every run.
    sed -i 's/^template_enable=.*/template_enable=0/' "$I2_CONF/ifupdown2.conf" || return 1
    grep -qx 'addon_scripts_support=1' "$I2_CONF/ifupdown2.conf" || return 1
    export PATH="$I2_SBIN:$PATH"
    [ "$(command -v ifup)" = "$I2_SBIN/ifup" ] && [ "$(command -v ifquery)" = "$I2_SBIN/ifquery" ]
}

# i2_state IFACE: IFACE when ifupdown2's saved state says it is configured, else nothing.
# (ifupdown2's ifquery has no --state; its hidden --print-savedstate prints the stanzas.)
i2_state() {
    ifquery --print-savedstate "$1" 2>/dev/null | awk -v i="$1" '$1 == "iface" && $2 == i { print i; exit }'
}

# i2_probe_on / i2_probe_off: a script in each if-*.d teqlctl uses that logs what ifupdown2
# gives it: directory, PHASE, MODE, IFACE, LOGICAL, ADDRFAM, METHOD, VERBOSITY, IF_TEQL_MASTER
# (unset when absent), and I2_CALLER (exported by the caller, to see the environment pass
# through). Its first if-up.d call for eth2 also tries what teqlctl's hook does under ifupdown:
# a nested `ifup teql0` and `ifquery --state teql0`, into I2_NESTED_LOG.
i2_probe_on() {
    local d
    : >"$I2_PROBE_LOG"
    rm -f "$I2_NESTED_LOG"
    for d in if-pre-up.d if-up.d if-down.d if-post-down.d; do
        mkdir -p "/etc/network/$d" || return 1
        cat >"/etc/network/$d/teqlprobe" <<EOF
#!/bin/sh
echo "$d PHASE=\$PHASE MODE=\$MODE IFACE=\$IFACE LOGICAL=\${LOGICAL-unset} ADDRFAM=\${ADDRFAM-unset} METHOD=\${METHOD-unset} VERBOSITY=\${VERBOSITY-unset} IF_TEQL_MASTER=\${IF_TEQL_MASTER-unset} I2_CALLER=\${I2_CALLER-unset}" >>"$I2_PROBE_LOG"
EOF
        [ "$d" = if-up.d ] && cat >>"/etc/network/$d/teqlprobe" <<EOF
if [ "\$IFACE" = eth2 ] && ! [ -e "$I2_NESTED_LOG" ]; then
    out=\$(ifup teql0 2>&1); rc=\$?
    echo "ifup teql0: rc=\$rc \$(echo \$out)" >>"$I2_NESTED_LOG"
    out=\$(ifquery --state teql0 2>&1); rc=\$?
    echo "ifquery --state teql0: rc=\$rc \$(echo "\$out" | tail -n 1)" >>"$I2_NESTED_LOG"
fi
EOF
        chmod 755 "/etc/network/$d/teqlprobe" || return 1
    done
}

i2_probe_off() {
    rm -f /etc/network/if-*.d/teqlprobe
}

# i2_probe DIR IFACE: the probe's line(s) for that directory and interface.
i2_probe() {
    grep "^$1 .* IFACE=$2 " "$I2_PROBE_LOG"
}

# i2_reset: everything down through ifupdown2, its state and lock gone, teqlctl's marker of a
# master it set down gone, lines back to fresh.
# i2_reset [--after-ifdown]: everything down and forgotten. --after-ifdown skips the
# `ifdown -a` (one more ifupdown2 run, ~40 s under TCG) when the test has just run it.
i2_reset() {
    [ "${1:-}" = --after-ifdown ] || ifdown -a >/dev/null 2>&1
    rm -f "$I2_STATE_DIR/ifstatenew" /run/network/ifstatelock /run/teqlctl.teql*.emptied
    deb_fresh_lines
    [ -d /sys/module/sch_teql ] && modprobe -r sch_teql
    return 0
}

# i2_check DESCRIPTION CMD [ARGS...]: as check (passes if CMD exits 0), and always shows how
# long CMD took and what it printed: ifupdown2 keeps its hooks' output to itself unless one
# fails, and each of its runs costs seconds under TCG.
i2_check() {
    local desc=$1 out rc t0=$SECONDS
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        _vm_ok "$desc"
    else
        _vm_not_ok "$desc" "exit status $rc from: $*"
    fi
    info "$* took $((SECONDS - t0)) s"
    [ -n "$out" ] && printf '%s\n' "$out" | head -n 40 | sed 's/^/#   | /'
    return "$rc"
}

# i2_attached K...: the lines among ethK... whose root qdisc is still teql0. (ifupdown2 runs
# if-down.d after it has set the line down, where a detached line shows no root qdisc at all
# until it is up again; classic ifupdown runs it before, where it shows noqueue.)
i2_attached() {
    local k out=()
    for k in "$@"; do
        [ "$(root_qdisc_kind "eth$k")" = teql0 ] && out+=("eth$k")
    done
    echo "${out[*]}"
}
