#!/usr/bin/env bash
# Debian: the real ifupdown brings the issue's /etc/network/interfaces up and down with
# teqlctl linked into /etc/network/if-*.d: both stanza orders, ifup -a / ifdown -a, single
# ifup/ifdown, ifup teql0 alone, parallel ifup of every line, re-runs, the last line leaving,
# and bad stanzas that fail alone.
# vm-timeout: 1200
# vm-cost: 433
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

BUNDLE_ROUTE_ONLINK=0
check "ifupdown is installed (the real package)" test -x /usr/sbin/ifup
check "lab_up 4" lab_up 4
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" deb_fresh_lines

for order in lines-first master-first; do
    info "---- /etc/network/interfaces with the $order"
    deb_write "$order"
    out=$(ifup -a 2>&1)
    check_eq "ifup -a ($order) exits 0" 0 "$?"
    [ -n "$out" ] && info "$out"
    lab_sync_return
    check_bundle_up 2 3 4 5
    check_eq "ifupdown configured teql0 itself ($order)" "teql0=teql0" "$(deb_state teql0)"
    traffic_over_every_line
    snap=$(kernel_snapshot)
    check "ifup -a again ($order)" ifup -a
    check_eq "a second ifup -a changes nothing ($order)" "$snap" "$(kernel_snapshot)"
    check "ifdown -a ($order)" ifdown -a
    check_eq "ifdown -a: teql0 down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
    check_eq "ifdown -a: no line attached" "noqueue noqueue noqueue noqueue" \
        "$(for k in 2 3 4 5; do root_qdisc_kind "eth$k"; done | xargs)"
    check_eq "ifdown -a: no default route" "[]" "$(ip -j route show default)"
    check_eq "ifdown -a: ifupdown has nothing configured" "" "$(ifquery --state)"
    deb_reset
done

# --- single ifup / ifdown ----------------------------------------------------------------
deb_write lines-first
check "ifup eth2 alone" ifup eth2
lab_sync_return
check_bundle_up 2
check_eq "teql0 was brought up through ifupdown" "teql0=teql0" "$(deb_state teql0)"
check "ping over the one line" ping -c 2 -W 2 "$LAB_HOST"
for k in 3 4 5; do check "ifup eth$k" ifup "eth$k"; done
lab_sync_return
check_bundle_up 2 3 4 5
check "ifdown eth4" ifdown eth4
lab_sync_return
check_eq "eth4 detached" noqueue "$(root_qdisc_kind eth4)"
check_bundle_up 2 3 5
check "ping over the three lines left" ping -c 2 -W 2 "$LAB_HOST"
check "ifup eth4" ifup eth4
lab_sync_return
check_bundle_up 2 3 4 5
traffic_over_every_line

# One planned run per hook (issue 16, point 10): eth4's post-up again, as run-parts starts it,
# reads the kernel once (one link dump) and only eth4's and "all"'s rp_filter; it changes nothing.
snap=$(kernel_snapshot)
hook_env eth4 post-up IF_TEQL_MASTER=teql0 -- strace -f -qq -e trace=%network,openat -o "$VM_STATE/hook.strace" "$TEQLCTL"
# (strace does not name the type of rtnetlink's link dump request, 18: RTM_GETLINK.)
check_eq "eth4's post-up again: one link dump" 1 \
    "$(grep -cE '(sendto|sendmsg)\(.*nlmsg_type=(RTM_GETLINK|0x12)[ ,]' "$VM_STATE/hook.strace")"
check_eq "... the rp_filter of eth4 and all only" "all eth4" \
    "$(grep -o 'conf/[^/]*/rp_filter' "$VM_STATE/hook.strace" | cut -d/ -f2 | sort -u | xargs)"
check_eq "... and no change" "$snap" "$(kernel_snapshot)"

# --- the last line leaving goes through ifdown teql0; the first back through ifup teql0 ---
for k in 2 3 4; do ifdown "eth$k"; done
check_bundle_up 5
# --dry-run shows the whole hook: the last line's detach, then ifupdown's own `ifdown teql0`.
snap=$(kernel_snapshot)
out=$(hook_env eth5 pre-down IF_TEQL_MASTER=teql0 -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check_eq "--dry-run hook ifupdown, the last line's pre-down: its detach, then ifdown teql0" \
    "tc qdisc del dev eth5 root|ifdown teql0" "$(grep -v '^#' <<<"$out" | paste -sd '|')"
check_eq "... and no change" "$snap" "$(kernel_snapshot)"
check "ifdown eth5, the last line" ifdown eth5
check_eq "teql0 was taken down through ifupdown" "" "$(deb_state teql0)"
check_eq "teql0 is down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "no default route black-holes traffic" "[]" "$(ip -j route show default)"
ip link set eth3 up
out=$(hook_env eth3 post-up IF_TEQL_MASTER=teql0 -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check "--dry-run hook ifupdown, a line's post-up while teql0 is down: its attach ..." \
    grep -qx "tc qdisc add dev eth3 root teql0" <<<"$out"
check_eq "... then ifup teql0, last" "ifup teql0" "$(grep -v '^#' <<<"$out" | tail -n 1)"
ip link set eth3 down
check "ifup eth3 brings the bundle back" ifup eth3
lab_sync_return
check_bundle_up 3
check_eq "... through ifup teql0" "teql0=teql0" "$(deb_state teql0)"
check "ping over eth3" ping -c 2 -W 2 "$LAB_HOST"
deb_reset

# --- ifup teql0 alone: its lines come up through ifupdown ---------------------------------
deb_write master-first
out=$(hook_env teql0 pre-up -- "$TEQLCTL" --dry-run hook ifupdown 2>&1)
check_eq "--dry-run hook ifupdown, teql0's pre-up with every line down: the ifup of each line" \
    "eth2 eth3 eth4 eth5" "$(sed -n 's/^ifup \(eth[0-9]\)    # a failure is a warning$/\1/p' <<<"$out" | xargs)"
check "... then teql0 must have a line" grep -q "^# then teql0 must have a line, else: teql0: none of its lines" <<<"$out"
check "ifup teql0 alone" ifup teql0
lab_sync_return
for k in 2 3 4 5; do
    check_eq "eth$k was brought up through ifupdown" "eth$k=eth$k" "$(deb_state "eth$k")"
done
check_bundle_up 2 3 4 5
traffic_over_every_line
check "ifdown teql0" ifdown teql0
check_eq "ifdown teql0 unbonds its lines" "noqueue noqueue noqueue noqueue" \
    "$(for k in 2 3 4 5; do root_qdisc_kind "eth$k"; done | xargs)"
check_eq "the lines stay configured" "eth2=eth2" "$(deb_state eth2)"
check "ifup teql0 again bonds the lines that are up" ifup teql0
check_bundle_up 2 3 4 5
deb_reset

# --- every line at once (systemd's ifup@.service) -------------------------------------------
deb_write lines-first
pids=()
for k in 2 3 4 5; do
    ifup "eth$k" >"/run/teqlctl-vm/ifup-eth$k.log" 2>&1 &
    pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do
    wait "$p"
    rcs+="$? "
done
check_eq "four parallel ifup all exit 0" "0 0 0 0 " "$rcs"
lab_sync_return
check_bundle_up 2 3 4 5
check_eq "teql0 configured once, by ifupdown" "teql0=teql0" "$(deb_state teql0)"
traffic_over_every_line
deb_reset

# --- VERBOSITY=1 makes teqlctl say what it does -------------------------------------------
deb_write lines-first
out=$(ifup -v eth2 2>&1)
check "ifup -v: teqlctl says what it changes" grep -q "teqlctl: tc qdisc add dev eth2 root teql0" <<<"$out"
deb_reset

# --- bad stanzas fail alone, with one clear line ------------------------------------------
deb_write lines-first 5=eth9
out=$(ifup -a 2>&1)
check "ifup -a with teql-master eth9 on eth5 reports a failure" test $? -ne 0
info "$out"
check "... naming the option and its value" grep -q 'line eth5 names bundle eth9 (teql-master "eth9"), but no bundle eth9 is configured' <<<"$out"
check "... and the stanza" grep -q "iface eth5 inet static" <<<"$out"
check_eq "eth5 was not brought up" "" "$(deb_state eth5)"
lab_sync_return
check_bundle_up 2 3 4
check "the other lines work" ping -c 2 -W 2 "$LAB_HOST"
deb_reset

modprobe sch_teql
deb_write lines-first 5=teql7
out=$(ifup -a 2>&1)
check "ifup -a with teql-master teql7 (one master loaded) reports a failure" test $? -ne 0
info "$out"
check "... saying what to put in modprobe.d" grep -q "options sch_teql max_equalizers=8" <<<"$out"
check_eq "eth5 was not brought up" "" "$(deb_state eth5)"
lab_sync_return
check_bundle_up 2 3 4
check "the other lines work" ping -c 2 -W 2 "$LAB_HOST"
deb_reset

# --- interfaces that are not ours: silent -------------------------------------------------
printf 'auto eth5\niface eth5 inet static\n    address 198.18.5.1/30\n' >"$DEB_FILE"
out=$(ifup eth5 2>&1)
check_eq "ifup of an interface that is not ours exits 0" 0 "$?"
check_eq "... and teqlctl says nothing" "" "$out"
check "... and loads nothing" test ! -d /sys/module/sch_teql
deb_reset

check "lab_down" lab_down
finish
