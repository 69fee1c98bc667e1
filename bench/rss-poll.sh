#!/usr/bin/env bash
# Peak RSS without GNU time: rss-poll.sh OUTFILE PROGRAM [ARGS...]
# Runs PROGRAM and, while it runs, keeps reading VmHWM (the kernel's own high-water mark of
# its resident set) from /proc/PID/status with builtins; writes the last value seen, in kB, to
# OUTFILE and exits with PROGRAM's status. An approximation: growth in the last moments
# before exit can be missed. bench/lib.sh uses it only when /usr/bin/time is not GNU time.
out=$1
shift
"$@" &
pid=$!
hwm=
state=R
# Until it exits: a zombie's status (still there until `wait`) has State Z and no VmHWM.
while [ "$state" != Z ] && [ -r "/proc/$pid/status" ]; do
    while read -r key value _; do
        case $key in
        State:) state=$value ;;
        VmHWM:)
            hwm=$value
            break
            ;;
        esac
    done <"/proc/$pid/status" 2>/dev/null
done
wait "$pid"
rc=$?
echo "${hwm:-unknown}" >"$out"
exit "$rc"
