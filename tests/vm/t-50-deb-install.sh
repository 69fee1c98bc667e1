#!/usr/bin/env bash
# The .deb built by distro/build-deb, installed with dpkg in the guest (/usr is a throwaway
# overlay there): the Debian end-to-end scenario from the installed files only, the modprobe
# aliases letting the kernel load sch_teql by itself, then removal leaving nothing behind but
# the conffile, and purge removing that too.
# vm-timeout: 420
# vm-cost: 135
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
check "dpkg -i installs it" dpkg -i "$deb"
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
check "and not enabled" sh -c '! ls /etc/systemd/system/timers.target.wants/teqlctl-check.timer 2>/dev/null'
check "bash completion installed" test -s /usr/share/bash-completion/completions/teqlctl

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

# Removal: nothing left but the conffile; purge takes that too.
check "dpkg -r teqlctl" dpkg -r teqlctl
check "no binary left" test ! -e /usr/sbin/teqlctl
check "no hook link left" sh -c '! ls /etc/network/if-*.d/teqlctl 2>/dev/null | grep -q .'
check "no NetworkManager file left" sh -c '! ls /usr/lib/NetworkManager/dispatcher.d/90-teqlctl \
    /usr/lib/NetworkManager/dispatcher.d/pre-*.d/90-teqlctl /usr/lib/NetworkManager/conf.d/90-teqlctl.conf 2>/dev/null | grep -q .'
check "no man page left" test ! -e /usr/share/man/man8/teqlctl.8.gz -a ! -e /usr/share/man/man5/teqlctl-config.5.gz
check "no systemd unit left" test ! -e "$unit"
check_eq "only the conffile stays after remove" "/etc/modprobe.d/teqlctl.conf" \
    "$(dpkg-query -W -f='${Conffiles}\n' teqlctl 2>/dev/null | awk 'NF {print $1}')"
check "dpkg --purge teqlctl" dpkg --purge teqlctl
check "the conffile is gone after purge" test ! -e /etc/modprobe.d/teqlctl.conf
check "no systemd state of the timer left after purge" \
    sh -c '! find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "*teqlctl*" 2>/dev/null | grep -q .'
check "dpkg knows nothing of teqlctl" sh -c '! dpkg -s teqlctl >/dev/null 2>&1'

check "lab_down" lab_down
finish
