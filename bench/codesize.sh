#!/usr/bin/env bash
# How much code a program runs: codesize.sh TEQLCTL OUT.tsv (host side, run by bench/run).
#
# Under TCG a process's time follows the amount of distinct code it runs (every basic block is
# translated before it runs, and again in the next process) more than the instructions it
# executes. This counts both on the host, where they do not depend on emulation, with
# valgrind's callgrind: "distinct" is the number of different instruction addresses executed
# (the program, ld.so and its libraries, every thread), "executed" the instructions run.
# Writes key <TAB> value lines: code.NAME.distinct, code.NAME.executed. Needs valgrind;
# without it writes nothing and says so.
set -uo pipefail
teqlctl=$1
out=$2

if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench: valgrind not found: no code-size figures (apt-get install valgrind)" >&2
    exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# A configuration for `teqlctl --dry-run up` that names the first interface of this host that
# is up and not loopback: reading, kernel dumps and planning, without root and without sch_teql.
line=
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    read -r st <"$d/operstate" 2>/dev/null || continue
    if [ "$st" = up ] || [ "$st" = unknown ]; then
        line=$n
        break
    fi
done
mkdir -p "$tmp/root/etc/sysconfig/network-scripts"
if [ -n "$line" ]; then
    printf 'DEVICE=%s\nONBOOT=yes\nBOOTPROTO=none\nTEQL_MASTER=teql0\n' "$line" >"$tmp/root/etc/sysconfig/network-scripts/ifcfg-$line"
    printf 'DEVICE=teql0\nONBOOT=yes\nIPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\n' >"$tmp/root/etc/sysconfig/network-scripts/ifcfg-teql0"
fi

# measure NAME CMD...: callgrind over CMD (its exit status does not matter: only what it ran).
measure() {
    local name=$1 distinct executed
    shift
    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
        --callgrind-out-file="$tmp/cg.out" "$@" >/dev/null 2>"$tmp/vg.err" </dev/null
    if [ ! -s "$tmp/cg.out" ]; then
        echo "bench: callgrind gave nothing for $*" >&2
        return
    fi
    # Instruction lines start with their address; an "ob=" line names the object they are in.
    distinct=$(awk '/^ob=/ { ob = $0 } /^0x/ { k = ob " " $1; if (!(k in s)) { s[k] = 1; n++ } } END { print n + 0 }' "$tmp/cg.out")
    executed=$(sed -n 's/^summary: //p' "$tmp/cg.out")
    printf 'code.%s.distinct\t%s\ncode.%s.executed\t%s\n' "$name" "$distinct" "$name" "$executed" >>"$out"
    rm -f "$tmp/cg.out"
}

measure true /bin/true
measure tc tc qdisc show
measure ip ip link show
measure sysctl sysctl -q net.ipv4.conf.lo.rp_filter
measure teqlctl_version "$teqlctl" --version
[ -n "$line" ] && measure teqlctl_dryrun_up "$teqlctl" --root "$tmp/root" --dry-run up
exit 0
