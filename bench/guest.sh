#!/usr/bin/env bash
# Guest side of the benchmark: runs inside the virtme-ng guest as root (started by bench/run).
# Builds labs with tests/vm/lib.sh, measures, and leaves the figures in RESULTS_DIR (format:
# bench/lib.sh). Prints figures; asserts nothing: a measurement fails only when it cannot run.
#
# Usage: guest.sh REPO_ROOT RESULTS_DIR full|smoke [SECTIONS]
#   SECTIONS: comma-separated bringup,goodput,scale,failover,multipath,connection,tunnel (default:
#   all); the clock probe always runs.
#
#   0. the clock: clocksource, clock_getres, smallest step of the timer (bench/lib.sh).
#   1. bring-up of a 4-line bundle: the shell recipe (tests/vm/lib.sh bond_by_hand) against
#      `teqlctl up` and against four ifup-local hook calls, alternating, sch_teql unloaded and
#      loaded; ifup-local's cost for an interface that is not ours.
#   2. goodput through teql0 with iperf3 over 1, 2, 4, 8 lines (and 10/10/5/5 Mbit/s), 1 and 4
#      streams, and each line's share of the packets.
#   3. scale: attach, status, detach (and hooks) with 8, 64, 256 lines.
#   4. failover: a router's uplink dies while `teqlctl check` runs at the shipped timer's
#      interval; time from the cut to the detach, pings lost before and after (bench/failover.sh).
#   5. peak RSS of hooks and of status at each scale.
#   6. multipath bundles on the lab of independent ISPs: LAN goodput for 1, 4, 16 flows on
#      equal and unequal lines next to TEQL on lines of the same rates; failover under 16 LAN
#      flows (bench/multipath.sh).
#   7. connection bundles on the same lab: 16 LAN flows over 10/5/5 Mbit/s (2:1:1), the share of
#      new connections per line against the weights, failover under 16 LAN flows and the cost of
#      the round that changes the weights (bench/connection.sh).
#   8. tunnels as lines on the same lab with an aggregator (tests/vm/tunnel.sh): one TCP stream
#      over 2 and 4 tunnelled lines, equal and unequal, next to a multipath and a connection
#      bundle of the same lines; failover of a tunnel on both ends under the stream
#      (bench/tunnel.sh).
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

# The first bytes on the serial console can be lost while the host attaches to it.
echo

if [ $# -lt 3 ] || [ $# -gt 4 ] || { [ "$3" != full ] && [ "$3" != smoke ]; }; then
    echo "usage: $0 REPO_ROOT RESULTS_DIR full|smoke [SECTIONS]" >&2
    exit 2
fi
repo=$1
export BENCH_OUT=$2
mode=$3
sections=,${4:-bringup,goodput,scale,failover,multipath,connection,tunnel},
# section NAME: true if this run measures section NAME.
section() {
    [[ "$sections" == *",$1,"* ]]
}

# This script deletes interfaces and namespaces: refuse anywhere but a virtme-ng guest.
if ! grep -q virtme /proc/cmdline || [ "$(id -u)" -ne 0 ]; then
    echo "guest.sh: not root inside a virtme-ng guest; use bench/run" >&2
    exit 2
fi

# bench/run copies the binary it built here, so a rebuild on the host during the run cannot
# swap it under the measurements.
export TEQLCTL="$repo/target/bench/teqlctl"
export VM_GUEST=1
export VM_STATE=/run/teqlctl-vm
# lib.sh as a library: no scenario counters, no exit trap.
# shellcheck disable=SC2034  # read by lib.sh
VM_LIB_ROLE=runner
# shellcheck source-path=SCRIPTDIR source=../tests/vm/lib.sh
. "$repo/tests/vm/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/vm/netscripts.sh
. "$repo/tests/vm/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$repo/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=failover.sh
. "$repo/bench/failover.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/vm/isp.sh
. "$repo/tests/vm/isp.sh"
# shellcheck source-path=SCRIPTDIR source=multipath.sh
. "$repo/bench/multipath.sh"
# shellcheck source-path=SCRIPTDIR source=connection.sh
. "$repo/bench/connection.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/vm/tunnel.sh
. "$repo/tests/vm/tunnel.sh"
# shellcheck source-path=SCRIPTDIR source=tunnel.sh
. "$repo/bench/tunnel.sh"

mkdir -p "$BENCH_OUT"
: >"$BENCH_OUT/results.tsv"
: >"$BENCH_OUT/measurements.tsv"
: >"$BENCH_OUT/planned.tsv"
[ -x "$TEQLCTL" ] || { echo "guest.sh: $TEQLCTL is missing or not executable"; exit 2; }
vm_record_boot_state || exit 2

# ---------------------------------------------------------------- settings

if [ "$mode" = full ]; then
    ROUNDS=5          # bring-up rounds per variant and sch_teql state
    SETTLE=0.5        # pause after each teardown, so no kernel work left over runs into a timing
    NOASLR_VARIANTS=(shell_nomod up true version dryrun)
    TRACE_STATES=(loaded unloaded)
    NOTOURS_RUNS=10   # calls of a hook for an interface that is not ours
    IPERF_SECS=10     # measured seconds per iperf3 run
    IPERF_OMIT=2      # seconds of slow start left out before them
    GOODPUT_CASES=("n1:10" "n2:10 10" "n4:10 10 10 10" "n8:10 10 10 10 10 10 10 10" "unequal:10 10 5 5")
    SCALES=(8 64 256)
    SCALE_REPS=7       # the 8->64 step is ~30 ms: a median of 3 left the growth verdict to noise
    FAILOVER_SECS=10  # seconds of pings (100 a second) around each cut
    FAILOVER_CUTS=5   # cuts: each falls at a random point of the timer's interval
    MP_CASES=("equal:10 10 10:1 1 1" "unequal:10 5 5:2 1 1")
    MP_FLOWS_LIST=(1 4 16)
    MP_TEQL_CASES=("teql3eq:10 10 10" "teql3un:10 5 5")
    MP_CUTS=5
    MP_FAILOVER_SECS=12
    CN_CONNECTIONS=300 # new connections per share measurement (LAN, box)
    # Tunnels: 4 lines at 5 Mbit/s each, not 10: 4 x 10 Mbit/s of GRE may be CPU-bound under TCG.
    TN_CASES=("eq2:10 10" "un2:10 5" "eq4:5 5 5 5" "un4:8 4 4 4")
    TN_CUTS=5
else
    ROUNDS=1
    SETTLE=0.2
    NOASLR_VARIANTS=(up true)
    TRACE_STATES=(loaded)
    NOTOURS_RUNS=2
    IPERF_SECS=2
    IPERF_OMIT=1
    # One case, in the bring-up's lab (same 4 x 10 Mbit/s): no second lab to build.
    GOODPUT_CASES=("n4:10 10 10 10")
    SCALES=(8)
    SCALE_REPS=1
    FAILOVER_SECS=8
    FAILOVER_CUTS=2
    # The acceptance case only, and one cut.
    MP_CASES=("unequal:10 5 5:2 1 1")
    MP_FLOWS_LIST=(16)
    MP_TEQL_CASES=()
    MP_CUTS=1
    MP_FAILOVER_SECS=10
    CN_CONNECTIONS=40
    TN_CASES=("eq2:10 10")
    TN_CUTS=2
fi
TN_FAILOVER_CASE=eq2   # the case whose lab also serves the failover (2 equal lines)
TN_FAILOVER_SECS=10    # the stream under each cut (cut 3-4 s in, its last 3 s measured)
STREAMS=(1 4)

put env.mode "$mode"
put env.sections "$(sections=${sections#,} && echo "${sections%,}")"
put env.kernel "$(uname -r)"
put env.guest_cpus "$(nproc)"
put env.guest_mem_mb $(($(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024))
put env.rounds "$ROUNDS"
put env.settle_s "$SETTLE"
put env.noaslr_variants "${NOASLR_VARIANTS[*]}"
put env.trace_states "${TRACE_STATES[*]}"
put env.notours_runs "$NOTOURS_RUNS"
put env.iperf_secs "$IPERF_SECS"
put env.iperf_omit "$IPERF_OMIT"
put env.scale_reps "$SCALE_REPS"
put env.failover_secs "$FAILOVER_SECS"
put env.failover_cuts "$FAILOVER_CUTS"
put env.rss_tool "$BENCH_RSS_TOOL"
put env.lab_burst "$LAB_BURST"
put env.iperf3 "$(iperf3 --version 2>/dev/null | head -n 1)"

# Every measurement this run will try, before any runs.
plan=(clock)
section bringup && plan+=(bringup.unloaded bringup.loaded bringup.noaslr bringup.trace bringup.instr hook.notours)
if section goodput; then
    for c in "${GOODPUT_CASES[@]}"; do
        [ "$c" = "${GOODPUT_CASES[0]}" ] && plan+=(goodput.plain)
        for p in "${STREAMS[@]}"; do plan+=("goodput.${c%%:*}.p$p"); done
    done
fi
if section scale; then
    for n in "${SCALES[@]}"; do plan+=("scale.$n" "rss.$n"); done
fi
section failover && plan+=(failover.n4)
if section multipath; then
    for c in "${MP_CASES[@]}"; do
        for p in "${MP_FLOWS_LIST[@]}"; do plan+=("multipath.${c%%:*}.p$p"); done
    done
    for c in "${MP_TEQL_CASES[@]}"; do
        for p in "${MP_FLOWS_LIST[@]}"; do plan+=("goodput.${c%%:*}.p$p"); done
    done
    plan+=(multipath.failover)
fi
section connection && plan+=(connection.goodput connection.failover)
if section tunnel; then
    for c in "${TN_CASES[@]}"; do
        plan+=("tunnel.${c%%:*}.tunnel")
        [ "${c%%:*}" = "$TN_FAILOVER_CASE" ] && plan+=(tunnel.failover)
        plan+=("tunnel.${c%%:*}.multipath" "tunnel.${c%%:*}.connection")
    done
fi
planned "${plan[@]}"
echo "guest: kernel $(uname -r), $mode run, measurements: ${plan[*]}"

bench_hook_init

# ================================================================ 0. the clock

echo "=== [guest ${SECONDS} s] 0. the clock"
measure clock clock_probe

# ================================================================ 1. bring-up

BU_LINES=(eth2 eth3 eth4 eth5)
LAB_KEPT=
# bond_by_hand's guard (_vm_require_guest) costs two process starts (grep, id) that are no
# part of the recipe; it is switched off around the timed call only. This script checked the
# guest once above.
BENCH_GUARD_DEF=$(declare -f _vm_require_guest)

# shellcheck disable=SC2317  # the stand-in functions below are called by bond_by_hand
# bu_shell: the classic recipe, 12 process starts: modprobe, 4 x (sysctl, tc), 3 x ip.
bu_shell() {
    local rc
    _vm_require_guest() { return 0; }
    bond_by_hand 4
    rc=$?
    eval "$BENCH_GUARD_DEF"
    return "$rc"
}

# shellcheck disable=SC2317
# bu_shell_nomod: the same without its modprobe (11 process starts), for a loaded sch_teql.
bu_shell_nomod() {
    local rc
    _vm_require_guest() { return 0; }
    modprobe() { return 0; }
    bond_by_hand 4
    rc=$?
    unset -f modprobe
    eval "$BENCH_GUARD_DEF"
    return "$rc"
}

# bu_up: one `teqlctl up` (one process; plus modprobe when sch_teql is not loaded).
bu_up() {
    "$TEQLCTL" up >/dev/null 2>"$BENCH_TMP/hook.err"
}

# Probes, measured in the same rounds, to split teqlctl's time (bench/report.sh turns them
# into the breakdown): the process-start floor (/bin/true, started from this shell as
# teqlctl is), modprobe alone (with sch_teql loaded: the no-op exec the shell recipe pays;
# not loaded: the load teqlctl up and the first hook pay too), the binary's start and argument
# parsing (--version), and a run that reads configuration and kernel state and plans, but
# takes no lock and changes nothing (--dry-run up).
bu_true() {
    /bin/true
}
bu_modprobe() {
    modprobe sch_teql 2>"$BENCH_TMP/hook.err"
}
bu_version() {
    "$TEQLCTL" --version >/dev/null 2>"$BENCH_TMP/hook.err"
}
bu_dryrun() {
    "$TEQLCTL" --dry-run up >/dev/null 2>"$BENCH_TMP/hook.err"
}

# bu_hooks: ifup-local for each line, as network-scripts runs it at the end of `ifup ethK`.
bu_hooks() {
    local l
    for l in "${BU_LINES[@]}"; do
        bench_hook ifup-local "$l" || return 1
    done
}

# bu_teardown loaded|unloaded: back to the state before a bring-up: bundle down, lines'
# rp_filter back to 0 (teqlctl down leaves it, and a second attach would then skip it),
# sch_teql loaded or not. Then a pause, so no kernel work left over runs into the next timing.
bu_teardown() {
    "$TEQLCTL" down >/dev/null 2>"$BENCH_TMP/down.err" || bench_fail "teqlctl down" "$BENCH_TMP/down.err" || return 1
    set_rp_filter 0 "${BU_LINES[@]}" || return 1
    if [ "$1" = unloaded ]; then
        unload_teql || bench_fail "modprobe -r sch_teql" || return 1
    else
        modprobe sch_teql || return 1
    fi
    sleep "$SETTLE"
}

# bringup STATE: ROUNDS rounds of every variant, alternating the order round by round.
bringup() {
    local state=$1 r v us order=() variants=(shell up hooks) all snap_before snap
    local -A runs=() snaps=()
    [ "$state" = loaded ] && variants=(shell shell_nomod up hooks)
    all=("${variants[@]}" true modprobe)
    [ "$state" = loaded ] && all+=(version dryrun)
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then
            order=("${all[@]}")
        else
            order=()
            for ((v = ${#all[@]} - 1; v >= 0; v--)); do order+=("${all[v]}"); done
        fi
        for v in "${order[@]}"; do
            bu_teardown "$state" || return 1
            snap_before=
            [ "$r" = 1 ] && bu_changes "$v" && snap_before=$(kernel_snapshot)
            time_us us "bu_$v" || bench_fail "$v (round $r, sch_teql $state before)" "$BENCH_TMP/hook.err" || return 1
            runs[$v]+="$us "
            echo "    round $r, $v: $(ms "$us") ms"
            if [ "$r" = 1 ] && [ -n "${snap_before}" ]; then
                snap=$(kernel_snapshot)
                snaps[$v]=$snap
                [ "$snap" != "$snap_before" ] || bench_fail "$v changed nothing" || return 1
            fi
        done
    done
    for v in "${all[@]}"; do
        put "bringup.$state.$v.us" "${runs[$v]% }"
    done
    # The same result: every variant's kernel state equals the shell's (round 1).
    local same=yes
    for v in "${variants[@]}"; do
        if [ "${snaps[$v]}" != "${snaps[shell]}" ]; then
            same=no
            echo "    state after $v differs from the shell's:"
            diff <(echo "${snaps[shell]}") <(echo "${snaps[$v]}") | head -n 20 | sed 's/^/    | /'
        fi
    done
    put "bringup.$state.same_result" "$same"
    bu_teardown "$state"
}

# bu_changes VARIANT: true for the variants that bring the bundle up (the others are probes).
bu_changes() {
    case $1 in
    shell | shell_nomod | up | hooks) return 0 ;;
    *) return 1 ;;
    esac
}

# bu_noaslr: a diagnosis of where a process start's time goes under TCG. QEMU looks up the
# code it has translated by virtual address too, so with address space layout randomisation
# every process, whose code lands at new addresses, may have all of it translated afresh.
# With randomize_va_space=0 the same binary maps at the same addresses each run: if reuse
# across processes were the story, starts would get much cheaper. The same variants, ROUNDS
# times, with sch_teql loaded; the setting is restored after. Only a diagnosis: the
# comparison above is with ASLR on.
# (A smoke run only tries two of the variants.)
bu_noaslr() {
    local aslr r v us
    local -A runs=()
    read -r aslr </proc/sys/kernel/randomize_va_space || return 1
    echo 0 >/proc/sys/kernel/randomize_va_space || return 1
    for ((r = 1; r <= ROUNDS; r++)); do
        for v in "${NOASLR_VARIANTS[@]}"; do
            bu_teardown loaded || break 2
            time_us us "bu_$v" || { bench_fail "$v with ASLR off" "$BENCH_TMP/hook.err"; break 2; }
            runs[$v]+="$us "
            echo "    ASLR off, round $r, $v: $(ms "$us") ms"
        done
    done
    echo "$aslr" >/proc/sys/kernel/randomize_va_space
    [ "$r" -gt "$ROUNDS" ] || return 1
    for v in "${NOASLR_VARIANTS[@]}"; do
        put "bringup.noaslr.$v.us" "${runs[$v]% }"
    done
    bu_teardown loaded
}

# bu_trace: one `teqlctl up` under strace with sch_teql loaded, and one with it not loaded
# (a smoke run: loaded only),
# for what timing cannot show: system calls, netlink requests, processes and threads started.
# strace slows every call, so its times are not used; the traces stay in the results dir.
bu_trace() {
    local st f
    command -v strace >/dev/null 2>&1 || bench_fail "strace is not installed" || return 1
    for st in "${TRACE_STATES[@]}"; do
        bu_teardown "$st" || return 1
        f=$BENCH_OUT/strace-up-$st.txt
        strace -f -tt -T -o "$f" "$TEQLCTL" up >/dev/null 2>"$BENCH_TMP/hook.err" \
            || bench_fail "teqlctl up under strace (sch_teql $st)" "$BENCH_TMP/hook.err" || return 1
        # Lines of the main process and its children; "resumed" halves are not counted twice.
        put "trace.$st.syscalls" "$(grep -vc -e 'resumed>' -e '+++ exited' -e '^[0-9]* *[0-9:.]* --- ' "$f")"
        put "trace.$st.execve" "$(grep -c ' execve(' "$f")"
        put "trace.$st.clone" "$(grep -c -E ' (clone|clone3|vfork|fork)\(' "$f")"
        put "trace.$st.netlink_sends" "$(grep -c -E ' (sendto|sendmsg)\(' "$f")"
        put "trace.$st.mmap" "$(grep -c -E ' (mmap|mprotect)\(' "$f")"
        put "trace.$st.file_opens" "$(grep -c -E ' open(at)?\(' "$f")"
        put "trace.$st.proc_sys_writes" "$(grep -c -E 'openat\(.*/proc/sys/net/.*O_WRONLY' "$f")"
    done
    bu_teardown loaded
}

# bu_instr: the bring-up's headline figure (issue 16, point 15): instructions executed, counted
# by valgrind's callgrind for every process of a variant (each from its first instruction, in
# the dynamic loader, to its exit; children too), not by TCG's clock, which follows the distinct
# code a process runs more than the work. The shell recipe's commands each run under callgrind
# (functions shadowing modprobe, sysctl, tc and ip for bond_by_hand: bash itself, the admin's
# shell, is not counted); `teqlctl up` is one process, plus its modprobe when sch_teql is not
# loaded (counted alone: see below). Both sch_teql states, and `teqlctl --version` (the binary's start alone). The
# kernel's own work is not counted on either side. Needs valgrind.
bu_instr() {
    local st d v n v2
    command -v valgrind >/dev/null 2>&1 || bench_fail "valgrind is not installed (apt-get install valgrind)" || return 1
    for st in unloaded loaded; do
        for v in shell up; do
            bu_teardown "$st" || return 1
            d=$BENCH_TMP/cg-$st-$v
            rm -rf "$d" && mkdir -p "$d" || return 1
            if [ "$v" = shell ]; then
                bu_cg_shell "$d" || bench_fail "the shell recipe under callgrind (sch_teql $st)" "$BENCH_TMP/hook.err" || return 1
            else
                # teqlctl's modprobe child under callgrind would outlast teqlctl's bound on it (15 s
                # under TCG): it runs natively here, and the same modprobe is counted alone first.
                if [ "$st" = unloaded ]; then
                    bu_cg "$d" modprobe sch_teql 2>"$BENCH_TMP/hook.err" \
                        || bench_fail "modprobe sch_teql under callgrind" "$BENCH_TMP/hook.err" || return 1
                    bu_teardown "$st" || return 1
                fi
                valgrind -q --tool=callgrind --callgrind-out-file="$d/cg.%p" "$TEQLCTL" up >/dev/null 2>"$BENCH_TMP/hook.err" \
                    || bench_fail "teqlctl up under callgrind (sch_teql $st)" "$BENCH_TMP/hook.err" || return 1
            fi
            read -r n v2 <<<"$(bu_cg_sum "$d")"
            [ "${n:-0}" -gt 0 ] || bench_fail "no callgrind totals for $v (sch_teql $st)" || return 1
            # Every process's file is kept (target/bench-results), and modprobe's part is put
            # apart: both sides run the same `modprobe sch_teql`.
            mkdir -p "$BENCH_OUT/callgrind-$st-$v" && cp "$d"/cg.* "$BENCH_OUT/callgrind-$st-$v/"
            put "instr.$st.$v.modprobe" "$(bu_cg_sum_of "$d" modprobe)"
            put "instr.$st.$v" "$n"
            put "instr.$st.$v.processes" "$v2"
            echo "    sch_teql $st before, $v: $n instructions in $v2 processes"
        done
    done
    d=$BENCH_TMP/cg-version
    rm -rf "$d" && mkdir -p "$d" || return 1
    bu_cg "$d" "$TEQLCTL" --version >/dev/null 2>"$BENCH_TMP/hook.err" || bench_fail "teqlctl --version under callgrind" "$BENCH_TMP/hook.err" || return 1
    read -r n v2 <<<"$(bu_cg_sum "$d")"
    put instr.version "$n"
    put binary.bytes "$(stat -c %s "$(readlink -f "$TEQLCTL")")"
    bu_teardown loaded
}

# bu_cg DIR CMD...: CMD under callgrind, one output file per process in DIR.
bu_cg() {
    local d=$1
    shift
    valgrind -q --tool=callgrind --trace-children=yes --callgrind-out-file="$d/cg.%p" "$@"
}

# shellcheck disable=SC2317  # the stand-ins are called by bond_by_hand
# bu_cg_shell DIR: bond_by_hand 4 with each of its commands under callgrind.
bu_cg_shell() {
    local d=$1 rc
    _vm_require_guest() { return 0; }
    modprobe() { bu_cg "$d" modprobe "$@"; }
    sysctl() { bu_cg "$d" sysctl "$@"; }
    tc() { bu_cg "$d" tc "$@"; }
    ip() { bu_cg "$d" ip "$@"; }
    bond_by_hand 4 2>"$BENCH_TMP/hook.err"
    rc=$?
    unset -f modprobe sysctl tc ip
    eval "$BENCH_GUARD_DEF"
    return "$rc"
}

# bu_cg_sum_of DIR PROGRAM: the instructions of DIR's processes whose command is PROGRAM.
bu_cg_sum_of() {
    awk -v p="$2" '/^cmd:/ { split($0, w, " "); mine[FILENAME] = (w[2] == p) }
         /^(summary|totals):/ { if (mine[FILENAME] && !(FILENAME in seen)) { seen[FILENAME] = 1; s += $2 } }
         END { printf "%d\n", s }' "$1"/cg.*
}

# bu_cg_sum DIR: "INSTRUCTIONS PROCESSES" over DIR's callgrind files (each one's totals).
bu_cg_sum() {
    awk '/^(summary|totals):/ { if (!(FILENAME in seen)) { seen[FILENAME] = 1; n++; s += $2 } }
         END { printf "%d %d\n", s, n }' "$1"/cg.*
}

# hook_notours: ifup-pre-local and ifup-local for eth0, a DHCP interface with its own ifcfg
# file that is no line (network-scripts runs the hooks for every interface of a box), next to
# the process-start floor: the same fork + exec of /bin/true.
hook_notours() {
    local i h us t_true="" t_local="" t_pre=""
    for ((i = 1; i <= NOTOURS_RUNS; i++)); do
        time_us us bench_exec_clean /bin/true || return 1
        t_true+="$us "
        time_us us bench_hook ifup-local eth0 || bench_fail "ifup-local eth0" "$BENCH_TMP/hook.err" || return 1
        if [ -s "$BENCH_TMP/hook.err" ]; then
            bench_fail "ifup-local eth0 was not silent" "$BENCH_TMP/hook.err"
            return 1
        fi
        t_local+="$us "
        time_us us bench_hook ifup-pre-local ifcfg-eth0 boot || bench_fail "ifup-pre-local ifcfg-eth0" "$BENCH_TMP/hook.err" || return 1
        t_pre+="$us "
    done
    put floor.true.us "${t_true% }"
    put hook.notours.ifup-local.us "${t_local% }"
    put hook.notours.ifup-pre-local.us "${t_pre% }"
    # The same two hooks once with sch_teql not loaded (the state at boot before any line):
    # does a hook for an interface that is not ours load the module?
    local loaded
    for h in "ifup-local eth0" "ifup-pre-local ifcfg-eth0 boot"; do
        unload_teql || bench_fail "modprobe -r sch_teql" || return 1
        sleep "$SETTLE"
        # shellcheck disable=SC2086  # h is a hook name and its arguments
        time_us us bench_hook $h || bench_fail "$h" "$BENCH_TMP/hook.err" || return 1
        loaded=no
        [ -d /sys/module/sch_teql ] && loaded=yes
        put "hook.notours.${h%% *}.unloaded.us" "$us"
        put "hook.notours.${h%% *}.loads_sch_teql" "$loaded"
    done
    unload_teql
}

write_eth0() {
    cat >"$NS_DIR/ifcfg-eth0" <<'EOT'
DEVICE=eth0
ONBOOT=yes
BOOTPROTO=dhcp
EOT
}

if section bringup; then
    echo "=== [guest ${SECONDS} s] 1. bring-up of a 4-line bundle"
    if lab_up 4 && ns_write_office 4 && write_eth0; then
        measure bringup.unloaded bringup unloaded
        measure bringup.loaded bringup loaded
        measure bringup.noaslr bu_noaslr
        measure bringup.trace bu_trace
        measure bringup.instr bu_instr
        measure hook.notours hook_notours
    else
        not_measured bringup.unloaded bringup.loaded bringup.noaslr bringup.trace bringup.instr hook.notours "lab_up 4 or the office's ifcfg files failed"
    fi
    # The same lab (4 x LAB_RATE, 10 Mbit/s) serves a first goodput case of 4 x 10 Mbit/s.
    if section goodput && [ "${GOODPUT_CASES[0]}" = "n4:10 10 10 10" ] && [ "$LAB_RATE" = 10mbit ] && [ -z "$LAB_RATES" ] \
        && [ -e /sys/class/net/eth5 ]; then
        LAB_KEPT="n4:10 10 10 10"
        "$TEQLCTL" down >/dev/null 2>&1
    else
        lab_down >/dev/null 2>&1
    fi
fi

# ================================================================ 2. goodput

# tx_list K...: tx_packets of ethK..., space-separated (builtin reads).
tx_list() {
    local k v out=()
    for k in "$@"; do
        read -r v <"/sys/class/net/eth$k/statistics/tx_packets" || return 1
        out+=("$v")
    done
    echo "${out[*]}"
}

# iperf_run KEY STREAMS K...: one iperf3 upload from the box to the internet host, with the
# lines' tx_packets deltas; figures under KEY.
iperf_run() {
    local key=$1 streams=$2 server json before after
    shift 2
    ip netns exec isp timeout $((IPERF_SECS + IPERF_OMIT + 40)) iperf3 -s -1 -B "$LAB_HOST" >/dev/null 2>&1 &
    server=$!
    wait_for ip netns exec isp sh -c "ss -Hltn 'sport = :5201' | grep -q ." || bench_fail "iperf3 server did not listen" || return 1
    before=$(tx_list "$@") || return 1
    json=$(timeout $((IPERF_SECS + IPERF_OMIT + 30)) iperf3 -c "$LAB_HOST" -t "$IPERF_SECS" -O "$IPERF_OMIT" -P "$streams" -J 2>&1)
    after=$(tx_list "$@") || return 1
    wait "$server" 2>/dev/null
    printf '%s\n' "$json" >"$BENCH_TMP/iperf.json"
    local bps retr
    bps=$(jq -re '.end.sum_received.bits_per_second | select(. > 0) | floor' <<<"$json" 2>/dev/null) \
        || bench_fail "iperf3 gave no result" "$BENCH_TMP/iperf.json" || return 1
    retr=$(jq -r '.end.sum_sent.retransmits // 0' <<<"$json" 2>/dev/null)
    local -a b a d
    read -r -a b <<<"$before"
    read -r -a a <<<"$after"
    local i
    for i in "${!a[@]}"; do d+=($((a[i] - b[i]))); done
    put "$key.bps" "$bps"
    put "$key.retransmits" "${retr:-0}"
    put "$key.tx_deltas" "${d[*]}"
    echo "    $((bps / 1000)) kbit/s, tx_packets deltas: ${d[*]}"
}

# goodput_case NAME "RATE..." (Mbit/s of eth2, eth3, ...): the office with these lines,
# bonded with `teqlctl up`, measured with 1 and 4 streams. The first case also measures the
# lab's ceiling (goodput.plain). A lab the bring-up left for this case (LAB_KEPT) is reused.
goodput_case() {
    local name=$1 r k n ks=() names=()
    local -a rates
    read -r -a rates <<<"$2"
    n=${#rates[@]}
    for ((k = 2; k <= n + 1; k++)); do ks+=("$k"); done
    for r in "${STREAMS[@]}"; do names+=("goodput.$name.p$r"); done
    echo "=== [guest ${SECONDS} s] 2. goodput: $name, lines ${rates[*]} Mbit/s"
    LAB_RATES=
    for r in "${rates[@]}"; do LAB_RATES+="${r}mbit "; done
    put "goodput.$name.rates_mbit" "${rates[*]}"
    local first=no
    [ "$name:$2" = "${GOODPUT_CASES[0]}" ] && first=yes
    if [ "$LAB_KEPT" = "$name:$2" ]; then
        echo "    (the bring-up's lab, kept)"
        LAB_KEPT=
    elif ! lab_up "$n" || ! ns_write_office "$n"; then
        [ "$first" = yes ] && not_measured goodput.plain "lab_up $n failed"
        not_measured "${names[@]}" "lab_up $n failed"
        lab_down >/dev/null 2>&1
        return
    fi
    if [ "$first" = yes ]; then
        # The lab's ceiling: one 10 Mbit/s line without teql (a host route via its router).
        measure goodput.plain goodput_plain
    fi
    if "$TEQLCTL" up >/dev/null 2>"$BENCH_TMP/up.err" && ping -c 2 -W 2 "$LAB_HOST" >/dev/null 2>&1; then
        for r in "${STREAMS[@]}"; do
            measure "goodput.$name.p$r" iperf_run "goodput.$name.p$r" "$r" "${ks[@]}"
        done
    else
        head -n 5 "$BENCH_TMP/up.err" 2>/dev/null | sed 's/^/    | /'
        not_measured "${names[@]}" "teqlctl up or the ping through teql0 failed"
    fi
    lab_down >/dev/null 2>&1
    LAB_RATES=
}

goodput_plain() {
    ip route add "$LAB_HOST/32" via 198.18.2.2 dev eth2 || return 1
    iperf_run goodput.plain 1 2
    local rc=$?
    ip route del "$LAB_HOST/32" via 198.18.2.2 dev eth2
    return "$rc"
}

if section goodput; then
    for c in "${GOODPUT_CASES[@]}"; do
        goodput_case "${c%%:*}" "${c#*:}"
    done
fi

# ================================================================ 4. failover

if section failover; then
    echo "=== [guest ${SECONDS} s] 4. failover"
    # A lab the bring-up kept for a goodput case that did not run.
    lab_down >/dev/null 2>&1
    LAB_KEPT=
    measure failover.n4 failover_case n4 "$FAILOVER_SECS" "$FAILOVER_CUTS"
fi

# ================================================================ 3. scale, 5. memory

SCALE_HAVE=0

# scale_grow N: lines eth2..eth(N+1), veths whose peers are in the namespace "scale", each
# with an ifcfg file naming teql0 (a bare line: no address), plus teql0's and eth0's files.
scale_grow() {
    local n=$1 k from=$((SCALE_HAVE + 2)) last=$(($1 + 1)) v
    if [ "$SCALE_HAVE" = 0 ]; then
        # The hook links and ifcfg-teql0 (ns_write_office's eth2 file is replaced below).
        ns_write_office 1 && write_eth0 || return 1
        ip netns add scale || return 1
    fi
    {
        for ((k = from; k <= last; k++)); do
            echo "link add eth$k type veth peer name p$k netns scale"
            echo "link set eth$k up"
        done
    } | ip -batch - || return 1
    {
        for ((k = from; k <= last; k++)); do echo "link set p$k up"; done
    } | ip -n scale -batch - || return 1
    for ((k = from; k <= last; k++)); do
        printf 'DEVICE=eth%d\nONBOOT=yes\nBOOTPROTO=none\nTEQL_MASTER=teql0\n' "$k" >"$NS_DIR/ifcfg-eth$k" || return 1
    done
    for ((k = 2; k <= last; k++)); do
        wait_for -t 30 _vm_link_up "eth$k" || bench_fail "eth$k has no carrier" || return 1
    done
    SCALE_HAVE=$n
}

# scale N: SCALE_REPS times: attach all N lines in one command, status, status --json, the
# three hooks a box runs (not ours, one line down, one line up), detach all in one command.
scale() {
    local n=$1 r us k json lines=()
    local -A t=()
    for ((k = 2; k <= n + 1; k++)); do lines+=("eth$k"); done
    scale_grow "$n" || return 1
    modprobe sch_teql || return 1
    for ((r = 1; r <= SCALE_REPS; r++)); do
        set_rp_filter 0 "${lines[@]}" || return 1
        sleep "$SETTLE"
        time_us us "$TEQLCTL" attach "${lines[@]}" >/dev/null 2>"$BENCH_TMP/cli.err" \
            || bench_fail "teqlctl attach of $n lines" "$BENCH_TMP/cli.err" || return 1
        t[attach]+="$us "
        if [ "$r" = 1 ]; then
            json=$("$TEQLCTL" status --json)
            [ "$(jq '[.masters[] | select(.name == "teql0") | .lines[] | select(.attached)] | length' <<<"$json")" = "$n" ] \
                || bench_fail "status --json does not show $n attached lines" || return 1
        fi
        time_us us "$TEQLCTL" status >/dev/null 2>"$BENCH_TMP/cli.err" || bench_fail "status" "$BENCH_TMP/cli.err" || return 1
        t[status]+="$us "
        time_us us "$TEQLCTL" status --json >/dev/null 2>"$BENCH_TMP/cli.err" || bench_fail "status --json" "$BENCH_TMP/cli.err" || return 1
        t[status_json]+="$us "
        time_us us bench_hook ifup-local eth0 || bench_fail "ifup-local eth0" "$BENCH_TMP/hook.err" || return 1
        t[hook_notours]+="$us "
        time_us us bench_hook ifdown-local eth2 || bench_fail "ifdown-local eth2" "$BENCH_TMP/hook.err" || return 1
        t[hook_detach]+="$us "
        time_us us bench_hook ifup-local eth2 || bench_fail "ifup-local eth2" "$BENCH_TMP/hook.err" || return 1
        t[hook_attach]+="$us "
        time_us us "$TEQLCTL" detach "${lines[@]}" >/dev/null 2>"$BENCH_TMP/cli.err" \
            || bench_fail "teqlctl detach of $n lines" "$BENCH_TMP/cli.err" || return 1
        t[detach]+="$us "
        if [ "$r" = 1 ]; then
            json=$("$TEQLCTL" status --json)
            [ "$(jq '[.masters[] | .lines[] | select(.attached)] | length' <<<"$json")" = 0 ] \
                || bench_fail "lines still attached after detach" || return 1
        fi
        local last_a=${t[attach]% } last_s=${t[status]% } last_d=${t[detach]% }
        echo "    rep $r: attach $(ms "${last_a##* }") ms, status $(ms "${last_s##* }") ms, detach $(ms "${last_d##* }") ms"
    done
    for k in attach status status_json hook_notours hook_detach hook_attach detach; do
        put "scale.$n.$k.us" "${t[$k]% }"
    done
}

# rss N: peak RSS of each command of `scale N`, once each.
rss() {
    local n=$1 kb k lines=()
    for ((k = 2; k <= n + 1; k++)); do lines+=("eth$k"); done
    set_rp_filter 0 "${lines[@]}" || return 1
    rss_cli kb attach "${lines[@]}" || return 1
    put "rss.$n.attach.kb" "$kb"
    rss_cli kb status || return 1
    put "rss.$n.status.kb" "$kb"
    rss_cli kb status --json || return 1
    put "rss.$n.status_json.kb" "$kb"
    rss_hook kb ifup-local eth0 || return 1
    put "rss.$n.hook_notours.kb" "$kb"
    rss_hook kb ifdown-local eth2 || return 1
    put "rss.$n.hook_detach.kb" "$kb"
    rss_hook kb ifup-local eth2 || return 1
    put "rss.$n.hook_attach.kb" "$kb"
    rss_cli kb detach "${lines[@]}" || return 1
    put "rss.$n.detach.kb" "$kb"
    if [ "$n" = "${SCALES[0]}" ]; then
        rss_true kb || return 1
        put "rss.floor.true.kb" "$kb"
    fi
}

# rss_true VAR: the same measurement of /bin/true, the floor the wrapper itself adds.
rss_true() {
    rm -f "$BENCH_TMP/rss"
    "${BENCH_RSS[@]}" /bin/true && rss_read "$1"
}

if section scale; then
    echo "=== [guest ${SECONDS} s] 3. scale and 5. memory"
    # teqlctl as installed: a copy on tmpfs, run from the page cache, as /usr/sbin/teqlctl is
    # on a real box. The build sits on virtme-ng's 9p share, which reads a binary's pages from
    # the host again at every exec (4. failover shows the cost); this section times teqlctl
    # alone, so no side of a comparison is favoured. The hooks (linked by scale_grow) too.
    TEQLCTL_BUILD=$TEQLCTL
    mkdir -p "$VM_STATE/installed" && cp "$TEQLCTL" "$VM_STATE/installed/teqlctl" \
        && TEQLCTL=$VM_STATE/installed/teqlctl
    put env.scale_binary "$TEQLCTL"
    for n in "${SCALES[@]}"; do
        measure "scale.$n" scale "$n"
        measure "rss.$n" rss "$n"
    done
    ip netns del scale 2>/dev/null
    lab_down >/dev/null 2>&1
    TEQLCTL=$TEQLCTL_BUILD
fi

# ================================================================ 6. multipath

if section multipath; then
    echo "=== [guest ${SECONDS} s] 6. multipath"
    lab_down >/dev/null 2>&1
    for c in "${MP_CASES[@]}"; do
        IFS=: read -r name rates weights <<<"$c"
        mp_goodput_case "$name" "$rates" "$weights"
    done
    # TEQL on lines of the same rates, as section 2 measures it.
    saved_streams=("${STREAMS[@]}")
    STREAMS=("${MP_FLOWS_LIST[@]}")
    for c in "${MP_TEQL_CASES[@]}"; do
        goodput_case "${c%%:*}" "${c#*:}"
    done
    STREAMS=("${saved_streams[@]}")
    echo "=== [guest ${SECONDS} s] 6. multipath failover"
    measure multipath.failover mp_failover "$MP_CUTS"
fi

# ================================================================ 7. connection

if section connection; then
    echo "=== [guest ${SECONDS} s] 7. connection"
    lab_down >/dev/null 2>&1
    measure connection.goodput cn_goodput
    echo "=== [guest ${SECONDS} s] 7. connection failover"
    measure connection.failover cn_failover "$MP_CUTS"
fi

# ================================================================ 8. tunnels

if section tunnel; then
    echo "=== [guest ${SECONDS} s] 8. tunnels as lines"
    lab_down >/dev/null 2>&1
    put tunnel.start_s "$SECONDS"
    put env.tunnel_failover_secs "$TN_FAILOVER_SECS"
    for c in "${TN_CASES[@]}"; do
        tn_case "${c%%:*}" "${c#*:}"
    done
    put tunnel.end_s "$SECONDS"
fi

echo "guest: $_bench_ok ran, $_bench_failed failed"
echo "$_bench_ok ran, $_bench_failed failed" >"$BENCH_OUT/done"
[ "$_bench_failed" -eq 0 ]
