# Booting Debian's kernel under virtme-ng, shared by tests/vm/run and bench/run (sourced; both
# set $repo, the project's root, and a give_up MESSAGE function that prints their failed total
# and exits). .ci/setup sources it too, for vm_kernel_dir.
#
# The kernels live in the project, never in the host's /boot or /lib/modules (issue 16, point
# 6: "try it" must be safe on an admin's own machine): .ci/setup unpacks each Debian package
# into target/vm-kernels/VER (boot/vmlinuz-VER, lib/modules/VER, depmod'ed there), and vng,
# given that image, finds the modules beside it and shows them to the guest as
# /lib/modules/VER.
# shellcheck shell=bash

# vm_kernel_dir VER: where .ci/setup unpacks kernel VER.
vm_kernel_dir() {
    echo "$repo/target/vm-kernels/$1"
}

# vm_kernel_image VER: the image vng boots.
vm_kernel_image() {
    echo "$(vm_kernel_dir "$1")/boot/vmlinuz-$1"
}

# vm_kernel_ready VER: kernel VER is unpacked with its modules.
vm_kernel_ready() {
    [ -n "$1" ] && [ -f "$(vm_kernel_image "$1")" ] && [ -f "$(vm_kernel_dir "$1")/lib/modules/$1/modules.dep" ]
}

# vm_recorded_kernel FILE: the version .ci/setup recorded in FILE (target/kernel-version or
# target/kernel-version-old), if that kernel is unpacked; else fails with a message to print.
vm_recorded_kernel() {
    local ver
    ver=$(tr -d '[:space:]' <"$1" 2>/dev/null)
    if [ -z "$ver" ]; then
        echo "no kernel recorded in ${1#"$repo"/}: run .ci/setup"
        return 1
    fi
    if ! vm_kernel_ready "$ver"; then
        echo "kernel $ver (${1#"$repo"/}) is not unpacked in target/vm-kernels/$ver: run .ci/setup"
        return 1
    fi
    echo "$ver"
}

# vm_tools: what a boot needs on the host, or give_up. virtiofsd from .ci/setup (target/tools)
# goes first on PATH: vng then serves the guest's root over virtio-fs with the page cache on
# rather than 9p without one, about twice as fast under TCG (.ci/setup says more). Without it a
# guest still boots, on 9p. Sets vm_rootfs to the one the guest will get.
vm_tools() {
    # .ci/setup's tools: virtiofsd, and vng where no virtme-ng was on PATH (its virtualenv).
    [ -d "$repo/target/tools/bin" ] && export PATH="$repo/target/tools/bin:$PATH"
    # vng runs virtme-run and its other programs from PATH: the virtualenv's, after the
    # system's (so that its python3 shadows nobody's).
    [ -d "$repo/target/tools/venv/bin" ] && export PATH="$PATH:$repo/target/tools/venv/bin"
    command -v vng >/dev/null 2>&1 || give_up "vng (virtme-ng) not found: run .ci/setup"
    # virtme-ng needs a busybox to build the initramfs of a kernel whose virtio drivers are
    # modules.
    command -v busybox >/dev/null 2>&1 || command -v busybox-static >/dev/null 2>&1 \
        || give_up "busybox not found (virtme-ng needs it for a modular kernel): apt-get install busybox-static, or run .ci/setup"
    vm_rootfs=9p
    command -v virtiofsd >/dev/null 2>&1 && vm_rootfs=virtio-fs
}

# vm_lock WHO MINUTES: one VM user at a time on this machine (tests/vm/run and bench/run share
# one lock for every checkout, so git worktrees share it too): a second run would take the CPUs
# the first one's guests are balanced or measured on. Waits up to MINUTES, then give_up. The
# lock is fd 9, held until the script exits.
vm_lock() {
    local lock=${TEQLCTL_VM_LOCK:-/tmp/teqlctl-vm-run.lock}
    exec 9>"$lock"
    if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
        echo "$1: another tests/vm/run or bench/run holds the VM lock ($lock); waiting for it"
        flock -w $(($2 * 60)) 9 || give_up "another tests/vm/run or bench/run kept the VM lock for $2 minutes"
    fi
}

# vm_boot VER LIMIT CPUS RWDIR CMD [VNG_ARGS...]: boots kernel VER under TCG (KVM aborts on
# this kind of machine) with 2 GB and CPUS vCPUs, runs CMD (a shell command line) in the guest,
# and prints the console on stdout. Only RWDIR is shared writable (sharing /tmp breaks iperf3
# on 9p). stdin from /dev/null: CI has none, and vng must not wait on a terminal. Killed after
# LIMIT (timeout(1) syntax). Returns vng's status (124: out of time).
vm_boot() {
    local ver=$1 limit=$2 cpus=$3 rwdir=$4 cmd=$5
    shift 5
    timeout --kill-after=30s "$limit" \
        vng -r "$(vm_kernel_image "$ver")" --disable-kvm --memory 2G --cpus "$cpus" \
            --rwdir "$rwdir" "$@" --exec "$cmd" </dev/null 2>&1
}
