#!/usr/bin/env bash
# A real `teqlctl hooks install` (then `hooks uninstall`) SIGKILLed before each of its
# file-changing system calls, on the guest's own network-scripts hook paths: /sbin (the /usr
# overlay) and /etc/sysconfig/network-scripts (made on the /etc overlay). After every kill:
# the admin's hooks are still at their paths (and /sbin/ifup-local still runs the admin's
# script), `hooks status` names what the kill left, and `hooks uninstall` puts the admin's
# hooks back identical (mode, owner, symlink target, inode, mtime; bytes checked at the end)
# or, every other time, a second `hooks install` completes first. ifupdown's paths go through
# the same code; tests/install.rs cuts both systems' plans after every step on the host.
#
# The kill: strace injects SIGKILL on entry to the Nth such call, which then never runs (the
# kernel skips a syscall whose tracee has a fatal signal pending at syscall-entry stop).
# (Not --seccomp-bpf, which would spare the ptrace stops: with it, strace 6.1's `when=N`
# never fires.) About 60-75 s in the guest.
# vm-timeout: 240
# vm-cost: 65
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# It writes the real /sbin and /etc: only ever inside the throwaway guest.
_vm_require_guest || exit 1
T=$TEQLCTL
SYSTEMS=(--network-scripts)
# The syscalls through which an install or uninstall changes the file system.
CALLS=symlink,symlinkat,link,linkat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat
HOOKS=(/sbin/ifup-pre-local /sbin/ifup-local /sbin/ifdown-pre-local /sbin/ifdown-local
    /etc/sysconfig/network-scripts/ifup-teql /etc/sysconfig/network-scripts/ifdown-teql)
RAN=/run/t55-admin-ifup-local.ran

check "strace is installed (.ci/setup)" command -v strace
check "/sbin is writable in the guest (the /usr overlay)" sh -c 'touch /sbin/.t55 && rm /sbin/.t55'
had_sysconfig=0
[ -d /etc/sysconfig ] && had_sysconfig=1

# The admin's own hooks: a script owned by 1234:4321 with mode 0750 that records its
# arguments, and a symlink.
admin_hooks() {
    printf '#!/bin/sh\necho "$@" >>%s\n' "$RAN" >/sbin/ifup-local
    chmod 0750 /sbin/ifup-local
    chown 1234:4321 /sbin/ifup-local
    ln -sfn /usr/local/lib/admin-ifdown /sbin/ifdown-local
}

# NAMES: every hook path and its two companion names, in a fixed order.
NAMES=()
for p in "${HOOKS[@]}"; do
    NAMES+=("$p" "$p.teqlctl-chained" "$p.teqlctl-new")
done

# fingerprint [-n]: sets FP to one line per name that exists: type, mode, owner, inode, size,
# mtime and link target (directories are left out: uninstall leaves the ones install made).
# Same inode and mtime is the same unchanged file: teqlctl only renames and links, never
# writes, so contents are hashed once at the end rather than after every cut. With `-n`, no
# inodes or mtimes (our links are new ones on every install). One find, no subshell, no sort
# (find prints its arguments in order): each process start costs ~0.2 s under TCG.
fingerprint() {
    local fmt='%p %y %m %U:%G %i %s %T@ %l\n'
    [ "${1:-}" = -n ] && fmt='%p %y %m %U:%G %s %l\n'
    find "${NAMES[@]}" -maxdepth 0 -printf "$fmt" >/run/t55.fp 2>/dev/null
    local lines
    mapfile -t lines </run/t55.fp
    FP="${lines[*]}"
}

# on_disk NAME / ours NAME: bash builtins only (-ef: the link resolves to teqlctl itself).
on_disk() { [ -e "$1" ] || [ -L "$1" ]; }
ours() { [ -L "$1" ] && [ "$1" -ef "$T" ]; }

# status_is_true: `hooks status` has a line per hook path that says what is on disk.
status_is_true() {
    local p line c n bad="" l out
    "$T" hooks status "${SYSTEMS[@]}" >/run/t55.status 2>&1
    mapfile -t out </run/t55.status
    for p in "${HOOKS[@]}"; do
        c=$p.teqlctl-chained
        n=$p.teqlctl-new
        line=
        for l in "${out[@]}"; do
            [[ $l == "  $p: "* ]] && line=$l
        done
        [ -n "$line" ] || { bad+="no line for $p; "; continue; }
        if ours "$p"; then
            [[ $line == *"installed -> $T"* ]] || bad+="$p is ours: $line; "
        else
            [[ $line == *"not installed"* ]] || bad+="$p is not ours: $line; "
        fi
        if on_disk "$c"; then
            [[ $line == *"$c"* ]] || bad+="$c not named: $line; "
            ours "$p" || [[ $line == *interrupted* ]] || bad+="no interruption said: $line; "
        fi
        if on_disk "$n"; then
            [[ $line == *"$n"* ]] || bad+="$n not named: $line; "
        fi
    done
    [ -z "$bad" ] || { echo "$bad"; printf '%s\n' "${out[@]}"; return 1; }
}

# admin_hooks_in_use [run]: each admin hook is at its path, itself or as our link with it
# chained; with `run`, /sbin/ifup-local is run and must run the admin's script either way.
admin_hooks_in_use() {
    local p lines before
    for p in /sbin/ifup-local /sbin/ifdown-local; do
        on_disk "$p" || { echo "$p is missing"; return 1; }
        if ours "$p" && ! on_disk "$p.teqlctl-chained"; then
            echo "$p is ours and chains nothing"
            return 1
        fi
    done
    [ "${1:-}" = run ] || return 0
    mapfile -t lines <"$RAN"
    before=${#lines[@]}
    /sbin/ifup-local eth99 || return 1
    mapfile -t lines <"$RAN"
    [ "${#lines[@]}" -eq $((before + 1)) ] || { echo "the admin's ifup-local did not run ($before -> ${#lines[@]} lines)"; return 1; }
}

cleanup() {
    local p
    for p in "${HOOKS[@]}"; do
        rm -f "$p" "$p.teqlctl-chained" "$p.teqlctl-new"
    done
    [ "$had_sysconfig" = 1 ] || rm -rf /etc/sysconfig
    rm -f "$RAN" /run/t55.out /run/t55.fp /run/t55.status /run/t55-before.sha256 /run/t55-install.log /run/t55-uninstall.log
    : >"$RAN"
}

# kill_at CMD... : runs `teqlctl CMD` killed on entry to the Nth call of the list SEQ (global):
# the per-syscall count strace's `when` needs is worked out from the order recorded.
# Succeeds when teqlctl was killed.
kill_at() {
    local n=$1 name count=0 i
    shift
    name=${SEQ[n - 1]}
    for ((i = 0; i < n; i++)); do
        [ "${SEQ[i]}" = "$name" ] && count=$((count + 1))
    done
    # The braces carry the redirection that silences bash's "Killed" notice for each cut.
    { strace -qq -o /dev/null -e trace="$name" -e inject="$name:signal=KILL:when=$count" "$T" "$@"; } 2>/dev/null
    [ $? -eq 137 ]
}

# record LOG CMD...: the file-changing syscalls `teqlctl CMD` makes, in order, into SEQ (and
# strace's lines into LOG).
record() {
    local log=$1
    shift
    strace -qq -o "$log" -e trace="$CALLS" "$T" "$@" || return 1
    mapfile -t SEQ < <(sed -n 's/^\([0-9]* *\)\?\([a-z0-9]*\)(.*/\2/p' "$log")
}

cleanup
admin_hooks
fingerprint
before=$FP
sha256sum /sbin/ifup-local >/run/t55-before.sha256
record /run/t55-install.log hooks install "${SYSTEMS[@]}" --binary "$T"
check "a full install makes file-changing syscalls (${#SEQ[@]}: ${SEQ[*]})" test "${#SEQ[@]}" -ge 14
fingerprint -n
installed=$FP
check "status after the full install" status_is_true
check "uninstall after the full install restores the admin's hooks" "$T" hooks uninstall "${SYSTEMS[@]}"
fingerprint
check_eq "identical after the full install and uninstall" "$before" "$FP"
INSTALL_SEQ=("${SEQ[@]}")

# Kill the install before each call. The result of each cut is summed into a few checks (one
# line per cut would drown the log); a failure names the cut and shows the evidence.
cut_fail=0
# The calls that change /sbin come first; the /sbin/ifup-local the admin's script runs through
# is exercised while they do.
sbin_calls=0
first_mkdir=${#INSTALL_SEQ[@]}
mapfile -t calls </run/t55-install.log
for ((k = 0; k < ${#calls[@]}; k++)); do
    [[ ${calls[k]} == *'"/sbin/'* ]] && sbin_calls=$((k + 1))
    [ "${INSTALL_SEQ[k]}" = mkdir ] && ((k + 1 < first_mkdir)) && first_mkdir=$((k + 1))
done
for ((k = 1; k <= ${#INSTALL_SEQ[@]}; k++)); do
    SEQ=("${INSTALL_SEQ[@]}")
    what="install killed at call $k (${SEQ[k - 1]})"
    # From the first mkdir on, the directories the recorded install made must be missing
    # again, or its calls shift.
    ((k >= first_mkdir)) && [ "$had_sysconfig" = 0 ] && rm -rf /etc/sysconfig
    run=
    ((k <= sbin_calls + 1)) && run=run
    if ! kill_at "$k" hooks install "${SYSTEMS[@]}" --binary "$T"; then
        _vm_not_ok "$what" "teqlctl was not killed"
        cut_fail=1
        continue
    fi
    status_is_true >/run/t55.out 2>&1 || { _vm_not_ok "$what: hooks status is true" "" "$(</run/t55.out)"; cut_fail=1; }
    admin_hooks_in_use $run >/run/t55.out 2>&1 || { _vm_not_ok "$what: the admin's hooks stay in use" "" "$(</run/t55.out)"; cut_fail=1; }
    if ((k % 2 == 0)); then
        "$T" hooks install "${SYSTEMS[@]}" --binary "$T" >/dev/null 2>&1 && fingerprint -n && [ "$FP" = "$installed" ] \
            || { _vm_not_ok "$what: a second install completes it" "" "$FP"; cut_fail=1; }
    fi
    "$T" hooks uninstall "${SYSTEMS[@]}" >/dev/null 2>&1 && fingerprint && [ "$FP" = "$before" ] \
        || { _vm_not_ok "$what: uninstall restores the admin's hooks identical" "" "before: $before"$'\n'"after:  $FP"; cut_fail=1; }
done
check_eq "install killed at each of ${#INSTALL_SEQ[@]} calls: hooks in use, status true, install completes, uninstall restores" 0 "$cut_fail"

# The same for uninstall, from a complete install.
"$T" hooks install "${SYSTEMS[@]}" --binary "$T" >/dev/null
record /run/t55-uninstall.log hooks uninstall "${SYSTEMS[@]}"
UNINSTALL_SEQ=("${SEQ[@]}")
check_eq "a full uninstall is one call per hook path (${SEQ[*]})" "${#HOOKS[@]}" "${#SEQ[@]}"
cut_fail=0
for ((k = 1; k <= ${#UNINSTALL_SEQ[@]}; k++)); do
    SEQ=("${UNINSTALL_SEQ[@]}")
    what="uninstall killed at call $k (${SEQ[k - 1]})"
    "$T" hooks install "${SYSTEMS[@]}" --binary "$T" >/dev/null 2>&1
    if ! kill_at "$k" hooks uninstall "${SYSTEMS[@]}"; then
        _vm_not_ok "$what" "teqlctl was not killed"
        cut_fail=1
        continue
    fi
    status_is_true >/run/t55.out 2>&1 || { _vm_not_ok "$what: hooks status is true" "" "$(</run/t55.out)"; cut_fail=1; }
    run=
    ((k <= 4)) && run=run # uninstall's first 4 calls are the /sbin ones
    admin_hooks_in_use $run >/run/t55.out 2>&1 || { _vm_not_ok "$what: the admin's hooks stay in use" "" "$(</run/t55.out)"; cut_fail=1; }
    "$T" hooks uninstall "${SYSTEMS[@]}" >/dev/null 2>&1 && fingerprint && [ "$FP" = "$before" ] \
        || { _vm_not_ok "$what: uninstall restores the admin's hooks identical" "" "before: $before"$'\n'"after:  $FP"; cut_fail=1; }
done
check_eq "uninstall killed at each of ${#UNINSTALL_SEQ[@]} calls: hooks in use, status true, uninstall restores" 0 "$cut_fail"
check "every file of the admin's is byte-identical at the end" sha256sum -c /run/t55-before.sha256
check_eq "the admin's ifup-local is the script it was" \
    "$(printf '#!/bin/sh\necho "$@" >>%s\n' "$RAN" | sha256sum | cut -d' ' -f1)" "$(sha256sum </sbin/ifup-local | cut -d' ' -f1)"
check_eq "and still 0750 1234:4321; the symlink still points where it did" "750 1234:4321 /usr/local/lib/admin-ifdown" \
    "$(stat -c '%a %u:%g' /sbin/ifup-local) $(readlink /sbin/ifdown-local)"

cleanup
rm -f "$RAN"
finish
