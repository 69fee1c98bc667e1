# shellcheck shell=bash
# Sourced by bench/guest.sh inside the virtme-ng guest, after tests/vm/lib.sh and
# tests/vm/netscripts.sh: recording figures, timing without process starts, hook calls as
# network-scripts makes them, peak RSS.
#
# What the guest leaves in BENCH_OUT for bench/run:
#   planned.tsv       one measurement name a line, written before anything runs
#   measurements.tsv  name <TAB> ok|fail <TAB> seconds it took
#   results.tsv       key <TAB> value: the figures (times in microseconds, RSS in kB)
#   done              written last: the guest got through its whole list
# A planned measurement without a line in measurements.tsv did not run: bench/run counts it
# as failed.

BENCH_OUT=${BENCH_OUT:?BENCH_OUT must be set}
BENCH_TMP=${BENCH_TMP:-/run/teqlctl-bench}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$BENCH_TMP"

_bench_ok=0
_bench_failed=0

# put KEY VALUE...: one figure for bench/run (and a copy on the console).
put() {
    local key=$1
    shift
    printf '%s\t%s\n' "$key" "$*" >>"$BENCH_OUT/results.tsv"
    echo "    $key = $*"
}

# planned NAME...: the measurements this run will try, so that one that never ran counts.
planned() {
    printf '%s\n' "$@" >>"$BENCH_OUT/planned.tsv"
}

# _bench_record NAME ok|fail SECONDS
_bench_record() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$BENCH_OUT/measurements.tsv"
    if [ "$2" = ok ]; then
        _bench_ok=$((_bench_ok + 1))
        echo "bench: $1 ran ($3 s)"
    else
        _bench_failed=$((_bench_failed + 1))
        echo "bench: $1 FAILED ($3 s)"
    fi
}

# measure NAME CMD [ARGS...]: runs CMD in this shell (a function of guest.sh) as the
# measurement NAME; it ran if CMD returns 0. A missed target is not a failure: CMD only
# fails when it could not measure.
measure() {
    local name=$1 t0=$SECONDS
    shift
    echo "--- $name"
    if "$@"; then
        _bench_record "$name" ok $((SECONDS - t0))
    else
        _bench_record "$name" fail $((SECONDS - t0))
    fi
}

# not_measured NAME... WHY: records measurements that could not even start (their setup failed).
not_measured() {
    local why=${!#} n
    for n in "${@:1:$#-1}"; do
        echo "--- $n"
        echo "    not measured: $why"
        _bench_record "$n" fail 0
    done
}

# bench_fail MESSAGE [FILE]: says why a measurement failed (with FILE's first lines); returns 1.
bench_fail() {
    echo "    FAILED: $1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        head -n 20 "$2" | sed 's/^/    | /'
    fi
    return 1
}

# time_us VAR CMD [ARGS...]: runs CMD in this shell and stores its wall-clock time in
# microseconds in VAR. EPOCHREALTIME is a bash variable: timing adds no process start.
time_us() {
    local __var=$1 __t0 __t1 __rc
    shift
    __t0=${EPOCHREALTIME/./}
    "$@"
    __rc=$?
    __t1=${EPOCHREALTIME/./}
    printf -v "$__var" '%d' $((__t1 - __t0))
    return "$__rc"
}

# clock_probe: what the timer of time_us can resolve in this guest, recorded with the figures
# (bench/run prints it above the tables). Three views: the kernel's clocksource, its
# clock_getres() (1 ns with high-resolution timers; one tick, 4 ms at HZ=250, without), and
# the smallest step seen between back-to-back reads of EPOCHREALTIME, which is an upper bound
# on the resolution (a read in a bash loop itself costs microseconds under TCG). A coarse
# clock shows as a large smallest step and most reads repeating the previous value.
clock_probe() {
    local f=/sys/devices/system/clocksource/clocksource0 cs=- avail=- res
    local t0 prev now d reads=0 same=0 steps=0 min=0 slept
    [ -r "$f/current_clocksource" ] && read -r cs <"$f/current_clocksource"
    [ -r "$f/available_clocksource" ] && read -r avail <"$f/available_clocksource"
    put clock.timer "bash EPOCHREALTIME (gettimeofday, 1 us units), read without a process start"
    put clock.source "$cs"
    put clock.available "$avail"
    res=$(perl -MTime::HiRes=clock_getres,CLOCK_REALTIME -e 'printf "%d", clock_getres(CLOCK_REALTIME) * 1e9' 2>/dev/null)
    [[ "$res" =~ ^[0-9]+$ ]] || res=-
    put clock.getres_ns "$res"
    # Back-to-back reads for 0.3 s.
    t0=${EPOCHREALTIME/./}
    prev=$t0
    while now=${EPOCHREALTIME/./} && ((now - t0 < 300000)); do
        reads=$((reads + 1))
        d=$((now - prev))
        if ((d == 0)); then
            same=$((same + 1))
        else
            steps=$((steps + 1))
            ((min == 0 || d < min)) && min=$d
        fi
        prev=$now
    done
    put clock.reads "$reads"
    put clock.repeats "$same"
    put clock.min_step_us "$min"
    # A known duration read with the same clock: sleep 0.25 (its exec adds a little).
    time_us slept sleep 0.25
    put clock.sleep_250ms_us "$slept"
    echo "    clock: $cs (available: $avail), clock_getres $res ns, $reads reads in 0.3 s," \
        "$same repeated the previous value, smallest step $min us; sleep 0.25 read as $(ms "$slept") ms"
    [ "$min" -gt 0 ] && [ "$min" -lt 1000 ]
}

# ms US: microseconds as milliseconds with one decimal, for the console.
ms() {
    printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100))
}

# Hooks are called the way network-scripts calls them: ifup forks and execs the hook (one
# process start), with cwd /etc/sysconfig/network-scripts and an environment holding little
# more than PATH. tests/vm/netscripts.sh's ns_hook gets the environment with `env -i`, which
# is one more exec per call; here the subshell clears it with builtins instead, so that a
# hook costs what it costs under network-scripts.
BENCH_ENV_NAMES=()
bench_hook_init() {
    mapfile -t BENCH_ENV_NAMES < <(compgen -e)
}

# bench_exec_clean PROGRAM [ARGS...]: fork, cd to the network-scripts directory, clear the
# environment, exec PROGRAM. stdout and stderr are left to the caller.
bench_exec_clean() {
    (
        cd "$NS_DIR" || exit 127
        unset "${BENCH_ENV_NAMES[@]}" 2>/dev/null
        PATH=/sbin:/usr/sbin:/bin:/usr/bin
        export PATH
        exec "$@"
    )
}

# bench_hook NAME ARGS...: one hook call as network-scripts makes it; its messages go to
# $BENCH_TMP/hook.err (shown by the caller on failure).
bench_hook() {
    local name=$1 path
    shift
    case $name in
    ifup-teql | ifdown-teql) path=$NS_DIR/$name ;;
    *) path=$NS_SBIN/$name ;;
    esac
    bench_exec_clean "$path" "$@" >/dev/null 2>"$BENCH_TMP/hook.err"
}

# ---------------------------------------------------------------- peak RSS

# GNU time reports the peak RSS of the process it runs (%M, kB). Without it, rss-poll.sh
# polls VmHWM from /proc/PID/status while the process runs (an approximation: a peak in
# the last moments before exit can be missed).
# shellcheck disable=SC2034  # BENCH_RSS_TOOL is recorded by guest.sh
if /usr/bin/time --version 2>&1 | grep -q 'GNU'; then
    BENCH_RSS_TOOL="GNU time %M"
    BENCH_RSS=(/usr/bin/time -f %M -o "$BENCH_TMP/rss")
else
    BENCH_RSS_TOOL="VmHWM polled from /proc/PID/status"
    BENCH_RSS=(bash "$BENCH_DIR/rss-poll.sh" "$BENCH_TMP/rss")
fi

# rss_read VAR: the figure the last BENCH_RSS run left (its last line: GNU time puts a
# "Command exited with non-zero status" line first when the command failed).
rss_read() {
    local __line __last=
    [ -s "$BENCH_TMP/rss" ] || return 1
    while read -r __line; do __last=$__line; done <"$BENCH_TMP/rss"
    [[ "$__last" =~ ^[0-9]+$ ]] || return 1
    printf -v "$1" '%s' "$__last"
}

# rss_cli VAR ARGS...: peak RSS in kB of `teqlctl ARGS...`; fails if teqlctl fails.
rss_cli() {
    local __var=$1
    shift
    rm -f "$BENCH_TMP/rss"
    "${BENCH_RSS[@]}" "$TEQLCTL" "$@" >/dev/null 2>"$BENCH_TMP/rss.err" \
        || bench_fail "teqlctl $* failed under ${BENCH_RSS[0]}" "$BENCH_TMP/rss.err" || return 1
    rss_read "$__var" || bench_fail "no peak RSS figure for teqlctl $*" "$BENCH_TMP/rss"
}

# rss_hook VAR NAME ARGS...: peak RSS in kB of one hook call made as network-scripts does.
rss_hook() {
    local __var=$1 name=$2
    shift 2
    rm -f "$BENCH_TMP/rss"
    bench_exec_clean "${BENCH_RSS[@]}" "$NS_SBIN/$name" "$@" >/dev/null 2>"$BENCH_TMP/rss.err" \
        || bench_fail "hook $name $* failed under ${BENCH_RSS[0]}" "$BENCH_TMP/rss.err" || return 1
    rss_read "$__var" || bench_fail "no peak RSS figure for hook $name $*" "$BENCH_TMP/rss"
}

# ---------------------------------------------------------------- state

# set_rp_filter VALUE IFACE...: with builtins (no sysctl process).
set_rp_filter() {
    local v=$1 i
    shift
    for i in "$@"; do
        echo "$v" >"/proc/sys/net/ipv4/conf/$i/rp_filter" || return 1
    done
}

# unload_teql: sch_teql gone (teql0 with it); waits for the module's users to leave.
unload_teql() {
    [ -d /sys/module/sch_teql ] || return 0
    wait_for -t 10 modprobe -r sch_teql && [ ! -d /sys/module/sch_teql ]
}
