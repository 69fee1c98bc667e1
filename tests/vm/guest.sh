#!/usr/bin/env bash
# Guest side of the VM test suite: runs inside the virtme-ng guest as root (started by
# tests/vm/run). Runs each scenario in its own bash process, one after another, each under a
# timeout, tears the lab down after each, and records the counts in RESULTS_DIR:
#   RESULTS_DIR/<scenario>.result   "N passed, N failed" (written by the scenario's finish)
#   RESULTS_DIR/summary.tsv         name <TAB> passed <TAB> failed <TAB> exit status
#   RESULTS_DIR/done                written last: the guest got through the whole list
#
# Usage: guest.sh REPO_ROOT RESULTS_DIR [SCENARIO...]   (none: every tests/vm/t-*.sh)
# A scenario may ask for a longer timeout with a line `# vm-timeout: SECONDS` in its file.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

# The first bytes on the serial console can be lost while the host attaches to it.
echo

if [ $# -lt 2 ]; then
    echo "usage: $0 REPO_ROOT RESULTS_DIR [SCENARIO...]" >&2
    exit 2
fi
repo=$1
results=$2
shift 2
vm_dir="$repo/tests/vm"

# This script deletes interfaces and namespaces: refuse anywhere but a virtme-ng guest.
if ! grep -q virtme /proc/cmdline || [ "$(id -u)" -ne 0 ]; then
    echo "guest.sh: not root inside a virtme-ng guest; use tests/vm/run" >&2
    exit 2
fi

export TEQLCTL="$repo/target/release/teqlctl"
# Every scenario runs a copy on tmpfs: the 9p root has no page cache, so each exec from
# target/ reads the whole binary over 9p again (a quarter of a check round, and many times
# over in every ifup). The hooks the scenarios install link to this copy.
if mkdir -p /run/teqlctl-bin && cp "$TEQLCTL" /run/teqlctl-bin/teqlctl; then
    TEQLCTL=/run/teqlctl-bin/teqlctl
fi
# jq 1.6 spends 0.8-1 s of TCG at every start compiling its builtins, and the checks run jq
# hundreds of times; gojq (Debian's, the same filter language) starts in 0.2 s. The guest's jq
# is gojq when .ci/setup installed it.
if command -v gojq >/dev/null 2>&1 && mkdir -p /run/vm-tools && cp "$(command -v gojq)" /run/vm-tools/jq; then
    export PATH="/run/vm-tools:$PATH"
fi
export VM_RESULTS="$results"
export VM_GUEST=1
# Guest-private state (tmpfs): what lab_down restores between scenarios.
export VM_STATE=/run/teqlctl-vm
mkdir -p "$results"

[ -x "$TEQLCTL" ] || echo "guest.sh: warning: $TEQLCTL is missing or not executable"

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    for f in "$vm_dir"/t-*.sh; do
        [ -f "$f" ] && scenarios+=("$(basename "$f" .sh)")
    done
fi

# lab_down for the teardown between scenarios; VM_LIB_ROLE keeps lib.sh from acting as a
# scenario here (no counters, no exit trap).
# shellcheck disable=SC2034  # read by lib.sh
VM_LIB_ROLE=runner
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$vm_dir/lib.sh"
vm_record_boot_state || exit 2

summary="$results/summary.tsv"
: >"$summary"
total_pass=0
total_fail=0
echo "guest: kernel $(uname -r), root over $(awk '$2 == "/" { print $3 }' /proc/mounts | tail -n 1), scenarios: ${scenarios[*]}"

for name in "${scenarios[@]}"; do
    name=$(basename "$name" .sh)
    file="$vm_dir/$name.sh"
    result="$results/$name.result"
    rm -f "$result"
    limit=${VM_SCENARIO_TIMEOUT:-300}
    declared=$(sed -n 's/^# *vm-timeout: *\([0-9][0-9]*\).*/\1/p' "$file" 2>/dev/null | head -n 1)
    [ -n "$declared" ] && [ -z "${VM_SCENARIO_TIMEOUT:-}" ] && limit=$declared

    echo "=== $name (timeout ${limit}s)"
    t0=$SECONDS
    if [ -f "$file" ]; then
        VM_SCENARIO=$name timeout --kill-after=10 "$limit" bash "$file"
        rc=$?
    else
        echo "FAIL - no such scenario: $file"
        rc=127
    fi

    p=0
    f=0
    if [ -f "$result" ] && read -r p _ f _ <"$result" && [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
        :
    else
        echo "FAIL - $name left no result"
        p=0
        f=1
    fi
    # A scenario that exited non-zero (a timeout: 124) failed, whatever it counted.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        [ "$rc" -eq 124 ] && echo "FAIL - $name timed out after ${limit}s" \
            || echo "FAIL - $name exited with status $rc"
        f=1
    fi
    printf '%s\t%d\t%d\t%d\n' "$name" "$p" "$f" "$rc" >>"$summary"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    echo "=== $name: $p passed, $f failed, exit $rc, $((SECONDS - t0)) s"

    lab_down >/dev/null 2>&1 || echo "guest: warning: lab_down after $name failed"
    # NetworkManager left running (a NetworkManager scenario stopped halfway) would take the
    # next scenario's lines.
    if pgrep -x NetworkManager >/dev/null 2>&1; then
        echo "guest: warning: $name left NetworkManager running; stopping it"
        # shellcheck source-path=SCRIPTDIR source=nm.sh
        . "$vm_dir/nm.sh"
        nm_cleanup
    fi
    # A package scenario stopped halfway (t-51 past its timeout, 2026-12-01) leaves the package
    # installed in /usr's overlay, and the next one that links its own /usr/sbin/teqlctl (t-74)
    # then refused to start.
    pkg=$(dpkg-query -W -f='${db:Status-Status}' teqlctl 2>/dev/null)
    if [ -n "$pkg" ] && [ "$pkg" != not-installed ]; then
        echo "guest: warning: $name left the teqlctl package $pkg; purging it"
        dpkg --purge --force-remove-reinstreq teqlctl >/dev/null 2>&1 || echo "guest: warning: dpkg --purge teqlctl failed"
    fi
done

echo "guest: $total_pass passed, $total_fail failed"
echo "$total_pass passed, $total_fail failed" >"$results/done"
[ "$total_fail" -eq 0 ]
