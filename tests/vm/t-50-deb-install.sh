#!/usr/bin/env bash
# The .deb built by distro/build-deb, installed, upgraded, removed and purged with dpkg in the
# guest (/usr is a throwaway overlay there): the Debian end-to-end scenario from the installed
# files only, the modprobe aliases letting the kernel load sch_teql by itself; an upgrade with
# the check timer enabled (issue 16, point 1); then removal leaving nothing behind but the
# conffile, and purge removing that too, the timer's enablement with it.
#
# The maintainer scripts, run for real by dpkg, must neither enable nor start the timer on a
# fresh install, must keep it enabled and ask systemd to restart it on the upgrade (never only
# to stop it), and must ask to stop it on removal. What this proves, and what not: the guest
# has no systemd as PID 1 (virtme-ng), so no timer really runs here. Around each dpkg call the
# scenario makes /run/systemd/system exist, the test every dh_installsystemd snippet makes for
# "systemd is running", so the scripts take their systemd branch (the one without runs a subset
# of it: no daemon-reload, no try-restart); the real deb-systemd-invoke and deb-systemd-helper
# run (systemctl fails without a manager; the scripts ignore that, as they do on a real system
# whose systemctl fails). It checks the enablement state deb-systemd-helper keeps on disk and
# the actions the scripts ask: a wrapper of the same name in front of each of systemctl,
# deb-systemd-invoke and deb-systemd-helper on PATH logs its arguments and runs the real one
# (the scripts call them by name, which distro/check-packages checks; deb-systemd-invoke passes
# the action to systemctl unless a policy-rc.d forbids it: the guest shares the host's /usr,
# and a Docker-built host has one that exits 101). It cannot check that systemd then runs the
# timer.
#
# "The next build" is the .deb of distro/build-deb with only its control file's Version set
# forward (0.1.0 -> 0.1.0+vmnext; the same data.tar): the upgrade runs the installed package's
# prerm and the next one's preinst and postinst, which are what decide whether the timer
# survives. (t-51-deb-upgrade did this in a guest of its own until issue 27, with strace
# recording every exec of dpkg: 265 s of the suite's cost, most of it strace and a second
# install and removal.)
# vm-timeout: 480
# vm-cost: 165
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
BUNDLE_ROUTE_ONLINK=0

deb=$(ls "$VM_DIR"/../../target/packages/teqlctl_*_amd64.deb 2>/dev/null | head -n 1)
check "the .deb was built (distro/build-deb)" test -f "$deb"
check "/usr is writable in the guest" sh -c 'touch /usr/.teqlctl-test && rm /usr/.teqlctl-test'
# man-db's trigger would rebuild the whole man index under emulation: switch it off (the
# guest's /var is a throwaway overlay).
rm -f /var/lib/man-db/auto-update
[ -x /usr/sbin/policy-rc.d ] && info "/usr/sbin/policy-rc.d is there: deb-systemd-invoke asks it before any systemctl call"
work=$(mktemp -d)
version=$(dpkg-deb -f "$deb" Version)
next="$work/teqlctl_next.deb"
# next_build: the .deb's members as they are, but for control.tar's control with the new Version.
next_build() {
    mkdir -p "$work/next/control" && (
        cd "$work/next" && ar x "$deb" &&
            tar -xf control.tar.* -C control &&
            sed -i "s/^Version: .*/Version: ${version}+vmnext/" control/control &&
            rm control.tar.* && tar --owner=0 --group=0 -czf control.tar.gz -C control . &&
            ar rc "$next" debian-binary control.tar.gz data.tar.*
    )
}
check "the next build: the same package as version ${version}+vmnext" next_build

# The wrappers: each logs "NAME ARGS" to $calls and runs the real command.
calls=$work/calls.log
mkdir -p "$work/bin"
for c in systemctl deb-systemd-invoke deb-systemd-helper; do
    real=$(command -v "$c") || { check "$c is installed" false; continue; }
    printf '#!/bin/sh\necho "%s $*" >>%s\nexec %s "$@"\n' "$c" "$calls" "$real" >"$work/bin/$c"
    chmod +x "$work/bin/$c"
done
made_run_systemd=0
[ -d /run/systemd/system ] || made_run_systemd=1
# sd_dpkg LOG ARGS...: dpkg ARGS with "systemd running" and the wrappers first on PATH; LOG gets
# the calls the maintainer scripts made.
sd_dpkg() {
    local log=$1 rc
    shift
    : >"$calls"
    [ "$made_run_systemd" = 1 ] && mkdir -p /run/systemd/system
    PATH="$work/bin:$PATH" dpkg "$@"
    rc=$?
    [ "$made_run_systemd" = 1 ] && rmdir /run/systemd/system
    cp "$calls" "$log"
    return "$rc"
}
# asked LOG ERE: the scripts asked for ERE (deb-systemd-invoke, or systemctl itself).
asked() {
    grep -qE "^(deb-systemd-invoke|systemctl) $2" "$1"
}

# --- a fresh install: everything in place, the timer neither enabled nor started --------------
check "dpkg -i installs it" sd_dpkg "$work/install.log" -i "$deb"
check_eq "the binary is /usr/sbin/teqlctl" /usr/sbin/teqlctl "$(command -v teqlctl)"
for d in if-pre-up.d if-up.d if-down.d if-post-down.d; do
    check_eq "/etc/network/$d/teqlctl links to it" /usr/sbin/teqlctl "$(readlink "/etc/network/$d/teqlctl")"
done
for d in dispatcher.d dispatcher.d/pre-up.d dispatcher.d/pre-down.d; do
    check_eq "/usr/lib/NetworkManager/$d/90-teqlctl links to it" /usr/sbin/teqlctl \
        "$(readlink -f "/usr/lib/NetworkManager/$d/90-teqlctl")"
done
check "NetworkManager's snippet leaving teqlN alone is installed" test -f /usr/lib/NetworkManager/conf.d/90-teqlctl.conf
check "man page installed" test -f /usr/share/man/man8/teqlctl.8.gz
check "teqlctl-config(5) installed" test -f /usr/share/man/man5/teqlctl-config.5.gz
unit=$(dpkg -L teqlctl | grep '/systemd/system/teqlctl-check.timer$')
check "the check timer is installed ($unit)" test -f "$unit"
check "bash completion installed" test -s /usr/share/bash-completion/completions/teqlctl
# The log sees the scripts' calls (else the checks of what they did not ask would prove nothing).
check "the wrappers saw postinst's deb-systemd-helper calls" grep -q '^deb-systemd-helper .*teqlctl-check.timer' "$work/install.log"
check "fresh install: the timer is not enabled" test ! -e /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "fresh install: no enable requested" sh -c "! grep -E '(deb-systemd-helper|systemctl) .*enable .*teqlctl-check' '$work/install.log'"
check "fresh install: no start or restart requested" sh -c "! grep -E '(deb-systemd-invoke|systemctl) .*(start|restart) .*teqlctl-check' '$work/install.log'"

# The aliases let `tc qdisc add ... root teql0` load sch_teql without teqlctl.
check "lab_up 4" lab_up 4
check "sch_teql not loaded yet" test ! -d /sys/module/sch_teql
check "tc qdisc add dev eth2 root teql0 loads sch_teql by itself (modprobe.d aliases)" tc qdisc add dev eth2 root teql0
tc qdisc del dev eth2 root
modprobe -r sch_teql

# The Debian scenario with the installed hooks: nothing from the build tree.
unset TEQLCTL
check "lines start down with no address" deb_fresh_lines
deb_write master-first
check "ifup -a with the installed package" ifup -a
lab_sync_return
check_bundle_up 2 3 4 5
before=$(tx_counts 2 3 4 5)
upload_best 20000000 4 "$VM_STATE/upload.json"
json=$(cat "$VM_STATE/upload.json")
check_json "iperf3 through teql0 reaches $LAB_HOST above 20 Mbit/s (the fastest of up to 3 transfers)" '.end.sum_received.bits_per_second > 20000000' "$json"
check_even_shares "$before" "$(tx_counts 2 3 4 5)" 2 3 4 5
check_json "the installed teqlctl status sees the bundle" '.masters[0].up and ([.masters[0].lines[] | select(.attached)] | length) == 4' \
    "$(/usr/sbin/teqlctl status --json)"
check "ifdown -a" ifdown -a
deb_reset
check "lab_down" lab_down

# --- the admin enables the timer; an upgrade keeps it and asks for a restart -----------------
# `systemctl enable` without a running systemd works offline (it makes the [Install] links and
# nothing else), as in a chroot: /run/systemd/system is only there around dpkg.
dsh() {
    DPKG_MAINTSCRIPT_PACKAGE=teqlctl deb-systemd-helper "$@"
}
check "the admin enables the timer (systemctl enable)" systemctl enable teqlctl-check.timer
check "it is enabled" test -L /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "dpkg -i the next build: an upgrade" sd_dpkg "$work/upgrade.log" -i "$next"
check_eq "the next version is installed" "${version}+vmnext" "$(dpkg-query -W -f='${Version}' teqlctl)"
check "after the upgrade the timer is still enabled" test -L /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "deb-systemd-helper still records it as enabled" dsh was-enabled teqlctl-check.timer
check "the upgrade asks systemd to restart the timer (try-restart)" asked "$work/upgrade.log" 'try-restart .*teqlctl-check.timer'
check "the upgrade never asks only to stop it" sh -c "! grep -E ' stop .*teqlctl-check' '$work/upgrade.log'"
info "upgrade requested: $(tr '\n' ';' <"$work/upgrade.log")"

# --- removal: the timer stopped, nothing left but the conffile; purge takes that too ---------
check "dpkg -r teqlctl" sd_dpkg "$work/remove.log" -r teqlctl
check "removal asks systemd to stop the timer" asked "$work/remove.log" 'stop .*teqlctl-check.timer'
check "no binary left" test ! -e /usr/sbin/teqlctl
check "no hook link left" sh -c '! ls /etc/network/if-*.d/teqlctl 2>/dev/null | grep -q .'
check "no NetworkManager file left" sh -c '! ls /usr/lib/NetworkManager/dispatcher.d/90-teqlctl \
    /usr/lib/NetworkManager/dispatcher.d/pre-*.d/90-teqlctl /usr/lib/NetworkManager/conf.d/90-teqlctl.conf 2>/dev/null | grep -q .'
check "no man page left" test ! -e /usr/share/man/man8/teqlctl.8.gz -a ! -e /usr/share/man/man5/teqlctl-config.5.gz
check "no systemd unit left" test ! -e "$unit"
check_eq "only the conffile stays after remove" "/etc/modprobe.d/teqlctl.conf" \
    "$(dpkg-query -W -f='${Conffiles}\n' teqlctl 2>/dev/null | awk 'NF {print $1}')"
check "dpkg --purge teqlctl" sd_dpkg "$work/purge.log" --purge teqlctl
check "the conffile is gone after purge" test ! -e /etc/modprobe.d/teqlctl.conf
check "purge forgets the timer's enablement" test ! -e /etc/systemd/system/timers.target.wants/teqlctl-check.timer
check "no systemd state of the timer left after purge" \
    sh -c '! find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "*teqlctl*" 2>/dev/null | grep -q .'
check "dpkg knows nothing of teqlctl" sh -c '! dpkg -s teqlctl >/dev/null 2>&1'

rm -rf "$work"
finish
