#!/usr/bin/env bash
# An upgrade of the .deb with the check timer enabled (issue 16, point 1): the maintainer
# scripts, run for real by dpkg, must keep the timer enabled and ask systemd to restart it on
# the upgrade (never only to stop it), and must neither enable nor start it on a fresh install.
#
# What this proves, and what not: the guest has no systemd as PID 1 (virtme-ng), so no timer
# really runs here. The scenario makes /run/systemd/system exist, the test every dh_installsystemd
# snippet makes for "systemd is running", so the scripts take their systemd branch; the real
# deb-systemd-invoke and deb-systemd-helper run, and strace records every command they execute
# (systemctl fails without a manager; the scripts ignore that, as they do on a real system
# whose systemctl fails). It checks the enablement state deb-systemd-helper keeps on disk and the
# actions the scripts ask of deb-systemd-invoke (which passes them to systemctl, unless a
# policy-rc.d forbids it: the guest shares the host's /usr, and a Docker-built host has one
# that exits 101); it cannot check that systemd then runs the timer.
#
# "The previous build" is the .deb of distro/build-deb with its version set back (0.1.0 ->
# 0.1.0~vmold, repacked with dpkg-deb): the upgrade runs the old package's prerm and the new
# one's preinst and postinst, which are what decide whether the timer survives.
# vm-timeout: 600
# vm-cost: 265
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deb=$(ls "$VM_DIR"/../../target/packages/teqlctl_*_amd64.deb 2>/dev/null | head -n 1)
check "the .deb was built (distro/build-deb)" test -f "$deb"
check "strace is there (.ci/setup)" command -v strace
rm -f /var/lib/man-db/auto-update
[ -x /usr/sbin/policy-rc.d ] && info "/usr/sbin/policy-rc.d is there: deb-systemd-invoke asks it before any systemctl call"
work=$(mktemp -d)
version=$(dpkg-deb -f "$deb" Version)
old="$work/teqlctl_old.deb"
check "an older build: the same package as version ${version}~vmold" sh -c "
    dpkg-deb -R '$deb' '$work/old' &&
    sed -i 's/^Version: .*/Version: ${version}~vmold/' '$work/old/DEBIAN/control' &&
    dpkg-deb -b '$work/old' '$old' >/dev/null"

made_run_systemd=0
if [ ! -d /run/systemd/system ]; then
    mkdir -p /run/systemd/system && made_run_systemd=1
fi
# traced LOG CMD...: runs CMD under strace, LOG gets one line per command executed (its argv).
traced() {
    local log=$1
    shift
    strace -f -qq -s 200 -e trace=execve -e signal=none -o "$log.raw" "$@" || return 1
    grep -v 'ENOENT\|resumed>' "$log.raw" | sed -n 's/.*execve("[^"]*", \[\(.*\)\].*/\1/p' | tr -d '",' >"$log"
}

# Fresh install of the older build: nothing enabled, nothing started.
check "dpkg -i the older build (traced)" traced "$work/install.log" dpkg -i "$old"
check "fresh install: the timer is not enabled" test ! -e /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "fresh install: no enable requested" sh -c "! grep -E '(deb-systemd-helper|systemctl) .*enable .*teqlctl-check' '$work/install.log'"
check "fresh install: no start or restart requested" \
    sh -c "! grep -E '(deb-systemd-invoke|systemctl) .*(start|restart) .*teqlctl-check' '$work/install.log'"

# The admin enables the timer with `systemctl enable`. Without a running systemd it works
# offline (it makes the [Install] links and nothing else), as in a chroot; the guest's
# /run/systemd/system is this scenario's own, so it is away for that one call.
admin_enable() {
    local rc
    [ "$made_run_systemd" = 1 ] && rmdir /run/systemd/system
    systemctl enable teqlctl-check.timer
    rc=$?
    [ "$made_run_systemd" = 1 ] && mkdir -p /run/systemd/system
    return $rc
}
# deb-systemd-helper only runs as dpkg runs it, with DPKG_MAINTSCRIPT_PACKAGE set.
dsh() {
    DPKG_MAINTSCRIPT_PACKAGE=teqlctl deb-systemd-helper "$@"
}
check "the admin enables the timer (systemctl enable)" admin_enable
check "it is enabled" test -L /etc/systemd/system/timers.target.wants/teqlctl-check.timer

check "dpkg -i the new build: an upgrade (traced)" traced "$work/upgrade.log" dpkg -i "$deb"
check_eq "the new version is installed" "$version" "$(dpkg-query -W -f='${Version}' teqlctl)"
check "after the upgrade the timer is still enabled" test -L /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "deb-systemd-helper still records it as enabled" dsh was-enabled teqlctl-check.timer
check "the upgrade asks systemd to restart the timer (try-restart)" \
    grep -qE '^(deb-systemd-invoke|systemctl) try-restart .*teqlctl-check.timer' "$work/upgrade.log"
check "the upgrade never asks only to stop it" sh -c "! grep -E ' stop .*teqlctl-check' '$work/upgrade.log'"
info "upgrade requested: $(grep -E 'deb-systemd|systemctl' "$work/upgrade.log" | tr '\n' ';')"

# Removal stops it (prerm), purge forgets its enablement.
check "dpkg -r teqlctl (traced)" traced "$work/remove.log" dpkg -r teqlctl
check "removal asks systemd to stop the timer" grep -qE '^(deb-systemd-invoke|systemctl) stop .*teqlctl-check.timer' "$work/remove.log"
check "dpkg --purge teqlctl" dpkg --purge teqlctl
check "purge forgets the timer's enablement" test ! -e /etc/systemd/system/timers.target.wants/teqlctl-check.timer

[ "$made_run_systemd" = 1 ] && rm -rf /run/systemd/system
rm -rf "$work"
finish
