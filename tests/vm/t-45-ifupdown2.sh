#!/usr/bin/env bash
# Debian's ifupdown2 (3.x, unpacked from its .deb by tests/vm/ifupdown2-setup: it conflicts with
# the installed ifupdown), the one real-stack smoke of ifupdown2 (issue 27, point 5): the same
# teqlctl links in /etc/network/if-*.d, run through its script support (addon_scripts_support=1),
# bring a TEQL bundle (the issue's office, lab_up 4) and then a multipath bundle (three ISPs,
# isp_up; once t-77-multipath-ifupdown2) up and down, in one boot.
#
# TEQL: what the hooks are given and ifupdown2's global lock (a probe beside teqlctl), ifup -a
# with the lines first, ifupdown2's saved state, a re-run (every hook runs again) changing
# nothing, ifdown -a; single ifup/ifdown of a line and of teql0, the last line leaving and
# coming back; ifup -a / ifdown -a with the master first and a bad stanza; an interface that is
# not ours.
# Multipath: ifup -a with `wan` a bundle without a kernel device, a line down, and the limit of
# ifupdown2 there and its cure (below).
#
# Where ifupdown2 differs from ifupdown 0.8 (see src/front/ifupdown.rs): it holds one global
# lock (/run/network/.lock) for a whole run, so a hook can never run a nested ifup/ifdown
# (shown below). teql0's own pre-up therefore attaches every configured line, up or down, and
# completes teql0's stanza; a single `ifup eth2` does not bring up a teql0 that ifupdown2 has
# not configured (the limit, checked below); the last line leaving sets teql0 down itself and
# the first line back restores it. Parallel ifup runs are not tested: ifupdown2's lock makes
# all but one fail at once, whatever the hooks do. `wan` has no kernel device, and ifupdown2
# runs nothing at all for an interface without one on ifdown (scheduler.run_iface_list_ops: not
# even the if-*.d scripts), and warns "wan: interface not recognized" on ifup; the documented
# cure is `link-type dummy` in wan's stanza: ifupdown2 itself then creates a dummy device wan
# (pre-up) and deletes it (post-down), and runs wan's hooks both ways.
#
# What each mode does with the lines is not repeated here (tests/README.md, "Where each
# behaviour is tested"): traffic over every TEQL line is t-10-netscripts', multipath's spread
# and status counters tests/netns/multipath.sh's. Each ifupdown2 run (ifup, ifdown, ifquery)
# costs 5-25 s under TCG (python), so every run here shows something no other run does: 13
# runs for TEQL, 5 for multipath.
# vm-timeout: 600
# vm-cost: 210
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=ifupdown2.sh
. "$(dirname "${BASH_SOURCE[0]}")/ifupdown2.sh"
# shellcheck source-path=SCRIPTDIR source=isp.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp.sh"
# shellcheck source-path=SCRIPTDIR source=isp-debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/isp-debian.sh"

BUNDLE_ROUTE_ONLINK=0
check "ifupdown2 is unpacked under target/ifupdown2" i2_available
i2_available >/dev/null || finish
# Not through check: that runs its command in a subshell, and PATH must stay changed.
i2_install
check_eq "ifupdown2's configuration in /etc/network/ifupdown2, its ifup/ifdown/ifquery first in PATH" 0 "$?"
check_eq "ifup is ifupdown2's" "$I2_SBIN/ifup" "$(command -v ifup)"
info "ifupdown2 $(cat "$I2_HOME/version")"
# The probe below looks for this in the hooks' environment: ifupdown2 passes its caller's on.
export I2_CALLER=yes
check "lab_up 4" lab_up 4
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" deb_fresh_lines

teql0_operstate() {
    ip -j link show teql0 | jq -r '.[0].operstate'
}

# === TEQL ==================================================================================

# --- the issue's file, lines first: ifup -a, the saved state, a re-run, ifdown -a ------------
deb_write lines-first
check "a probe script beside teqlctl in each if-*.d" i2_probe_on
i2_check "ifup -a (lines-first)" ifup -a
lab_sync_return
check_bundle_up 2 3 4 5
check "ping through teql0" ping -c 2 -W 2 "$LAB_HOST"
check_eq "ifupdown2 configured teql0 itself" teql0 "$(i2_state teql0)"
snap=$(kernel_snapshot)
i2_check "ifup -a again" ifup -a
check_eq "a second ifup -a (every hook run again) changes nothing" "$snap" "$(kernel_snapshot)"
i2_check "ifdown -a (lines-first)" ifdown -a
check_eq "ifdown -a: teql0 down (lines-first)" DOWN "$(teql0_operstate)"
check_eq "ifdown -a: no line attached (lines-first)" "" "$(i2_attached 2 3 4 5)"
check_eq "ifdown -a: no default route (lines-first)" "[]" "$(ip -j route show default)"
info "what the hooks were given (eth2 and teql0):"
grep -E 'IFACE=(eth2|teql0) ' "$I2_PROBE_LOG" | sed 's/^/#   /'
for dp in if-pre-up.d=pre-up if-up.d=up if-down.d=down if-post-down.d=post-down; do
    check "${dp%%=*} is run with PHASE=${dp#*=}" grep -q "^${dp%%=*} PHASE=${dp#*=} " "$I2_PROBE_LOG"
done
check_eq "VERBOSITY is never set (how teqlctl tells ifupdown2 from ifupdown)" "" \
    "$(grep -v 'VERBOSITY=unset' "$I2_PROBE_LOG")"
check_eq "the caller's environment is passed on" "" "$(grep -v 'I2_CALLER=yes' "$I2_PROBE_LOG")"
check_eq "IF_TEQL_MASTER=teql0 from each line's stanza" "" \
    "$(grep 'IFACE=eth' "$I2_PROBE_LOG" | grep -v 'IF_TEQL_MASTER=teql0')"
info "nested runs from eth2's if-up.d:"
sed 's/^/#   /' "$I2_NESTED_LOG"
check "a nested ifup from a hook fails at once on ifupdown2's lock" \
    grep -q '^ifup teql0: rc=89 .*Another instance of this program is already running' "$I2_NESTED_LOG"
check "ifupdown2's ifquery has no --state" \
    grep -q '^ifquery --state teql0: rc=2 .*unrecognized arguments: --state' "$I2_NESTED_LOG"
i2_probe_off
i2_reset --after-ifdown

# --- single ifup / ifdown ----------------------------------------------------------------
i2_check "ifup eth2 alone" ifup eth2
check_eq "eth2: root qdisc teql0" teql0 "$(root_qdisc_kind eth2)"
check_eq "eth2: rp_filter 2 (loose)" 2 "$(rp_filter eth2)"
# The limit: ifupdown2 cannot be asked for teql0 from eth2's hook, and teqlctl does not
# configure behind its back a teql0 it never configured.
check_eq "the limit: teql0 stays down after ifup eth2 alone" DOWN "$(teql0_operstate)"
i2_check "ifup teql0" ifup teql0
lab_sync_return
check_bundle_up 2
check_eq "teql0's pre-up attached its other lines, though down" "eth2 eth3 eth4 eth5" "$(i2_attached 2 3 4 5)"
check "ping over the one line that is up" ping -c 2 -W 2 "$LAB_HOST"
i2_check "ifup eth3 eth4 eth5" ifup eth3 eth4 eth5
lab_sync_return
check_bundle_up 2 3 4 5

# --- the last line leaving sets teql0 down; the first back restores it ---------------------
# One run for all four: the first three leave as any line does (the bundle stays up over the
# others), the fourth is the last.
i2_check "ifdown eth2 eth3 eth4 eth5, every line" ifdown eth2 eth3 eth4 eth5
check_eq "no line attached" "" "$(i2_attached 2 3 4 5)"
check_eq "teql0 is set down" DOWN "$(teql0_operstate)"
check_eq "no default route black-holes traffic" "[]" "$(ip -j route show default)"
check "teqlctl recorded that it set teql0 down" test -e /run/teqlctl.teql0.emptied
i2_check "ifup eth3 brings the bundle back" ifup eth3
lab_sync_return
check_bundle_up 3
check "... and the record is gone" test ! -e /run/teqlctl.teql0.emptied
check "ping over eth3" ping -c 2 -W 2 "$LAB_HOST"

# --- ifdown teql0: the bundle down whole ----------------------------------------------------
i2_check "ifdown teql0" ifdown teql0
check_eq "ifdown teql0 unbonds its lines" "" "$(i2_attached 2 3 4 5)"
check_eq "... and teql0 is down" DOWN "$(teql0_operstate)"
i2_reset --after-ifdown  # eth3 stays configured in ifupdown2's state: forgotten here

# --- the master first, and a bad stanza: the hook's failure is reported, the other lines work
# ifupdown2 goes on with the other interfaces and, unlike ifupdown, still exits 0: it reports
# the failed pre-up only as an error line. It has already set eth5's address (its pre-up
# modules run before the scripts), but no longer sets the link up. With teql0's stanza first,
# its pre-up runs before any line is configured.
deb_write master-first 5=eth9
said=$(ifup -a 2>&1)
check_eq "ifup -a (master-first) with teql-master eth9 on eth5: ifupdown2 still exits 0" 0 "$?"
info "$said"
check "... and reports eth5's failed pre-up" grep -q "eth5: pre-up cmd '/etc/network/if-pre-up.d/teqlctl' failed" <<<"$said"
check "... naming the option and its value" grep -q 'line eth5 names bundle eth9 (teql-master "eth9"), but no bundle eth9 is configured' <<<"$said"
check "... and the stanza" grep -q "iface eth5" <<<"$said"
check_eq "eth5 was not attached" "" "$(i2_attached 5)"
check_eq "eth5 was not set up" DOWN "$(ip -j link show eth5 | jq -r '.[0].flags | if index("UP") then "UP" else "DOWN" end')"
lab_sync_return
check_bundle_up 2 3 4
check "the other lines work" ping -c 2 -W 2 "$LAB_HOST"
i2_check "ifdown -a (master-first)" ifdown -a
check_eq "ifdown -a: teql0 down (master-first)" DOWN "$(teql0_operstate)"
check_eq "ifdown -a: no line attached (master-first)" "" "$(i2_attached 2 3 4 5)"
check_eq "ifdown -a: no default route (master-first)" "[]" "$(ip -j route show default)"
i2_reset --after-ifdown

# --- interfaces that are not ours: silent -------------------------------------------------
printf 'auto eth5\niface eth5 inet static\n    address 198.18.5.1/30\n' >"$DEB_FILE"
said=$(ifup eth5 2>&1)
check_eq "ifup of an interface that is not ours exits 0" 0 "$?"
# ifupdown2's own netlink listener sometimes reports its socket closed under it as it exits
# ("error: recv() error: [Errno 22] Invalid argument", once in the CI run of 2026-12-01): that
# is ifupdown2's line, not the hook's; anything else is.
ours=$(grep -v -E '^error: recv\(\) error: \[Errno [0-9]+\]' <<<"$said")
[ "$ours" != "$said" ] && info "ifupdown2 said (its own): $said"
check_eq "... and nothing is said" "" "$ours"
check "... and nothing is loaded" test ! -d /sys/module/sch_teql
i2_reset --after-ifdown  # eth5 is not ours: lab_down below removes what ifupdown2 set

rm -f "$I2_STATE_DIR/ifstatenew"
# lab_down also removes what was written in /etc/network: ifupdown2's configuration and the
# hooks' links are written again below.
check "lab_down" lab_down

# === multipath (once t-77-multipath-ifupdown2) =============================================

check "isp_up" isp_up
i2_install
check_eq "ifupdown2's configuration again (lab_down removed it)" 0 "$?"
check "link teqlctl into /etc/network/if-*.d again" deb_install_hooks
check "the ISP lines start down with no address" isp_fresh_lines
check "write /etc/network/interfaces (three lines, wan inet manual)" isp_deb_write

# wan_kind: the kind of the device named wan, or nothing when there is none.
wan_kind() {
    local j
    j=$(ip -d -j link show wan 2>/dev/null) || { echo none; return; }
    jq -r '.[0].linkinfo.info_kind // "none"' <<<"$j"
}

# --- ifup -a: every line, then the bundle ---------------------------------------------------
said=$(ifup -a 2>&1)
check_eq "ifup -a exits 0" 0 "$?"
info "$said"
isp_check_bundle eth1 eth2 eth3
check "ifupdown2 warns that wan has no device (and runs its hooks all the same)" \
    grep -q "wan: interface not recognized" <<<"$said"
check_eq "no default route of ifupdown2's own (teql-gateway, not gateway)" "" \
    "$(ip -j route show default | jq -r '.[] | select(.nhid == null) | .gateway')"
isp_check_status "$("$TEQLCTL" status --json wan)"
check "isp_admin_add: the admin's own rule and routes" isp_admin_add
admin=$(isp_admin_objects)

# --- ifdown of a line -------------------------------------------------------------------------
i2_check "ifdown eth2" ifdown eth2
isp_check_bundle eth1 eth3
check_json "status: eth2 out, and why" \
    '.masters[0].lines[] | select(.name == "eth2") | .multipath | (.live | not) and .why == "down"' \
    "$("$TEQLCTL" status --json wan)"
check "the LAN still reaches the internet" ip netns exec lan ping -c 3 -W 2 "$ISP_HOST"

# --- the limit: without a device, ifdown wan runs nothing -------------------------------------
snap=$(isp_snapshot)
i2_check "ifdown wan (no device named wan)" ifdown wan
check_eq "the limit: ifupdown2 ran no hook for wan, the bundle is as it was" "$snap" "$(isp_snapshot)"

# --- the cure: link-type dummy in wan's stanza ------------------------------------------------
check "add link-type dummy to wan's stanza" isp_deb_write "link-type dummy"
said=$(ifup wan 2>&1)
check_eq "ifup wan exits 0" 0 "$?"
[ -n "$said" ] && info "$said"
check_eq "ifupdown2 created wan, a dummy device" dummy "$(wan_kind)"
check "... and no longer warns" test -z "$(grep "not recognized" <<<"$said")"
check_eq "... the bundle is as it was (eth2 stays down)" "$snap" "$(isp_snapshot)"
i2_check "ifdown wan" ifdown wan
check_eq "no default route left" "" "$(ip -j route show default | jq -r '.[] | "\(.gateway // .nhid)"')"
check_eq "nothing of ours left (rules, tables, nexthops)" "" "$(isp_ours)"
check_eq "the admin's rule, routes and nftables table are untouched" "$admin" "$(isp_admin_objects)"
check_eq "ifupdown2 deleted its dummy wan" none "$(wan_kind)"
check_eq "the lines stay up" "UP UP" \
    "$(for k in 1 3; do ip -j link show "eth$k" | jq -r '.[0].operstate'; done | xargs)"

rm -f "$I2_STATE_DIR/ifstatenew" /run/network/ifstatelock
check "isp_down" isp_down
finish
