#!/usr/bin/env bash
# Debian's ifupdown2 (3.x, unpacked from its .deb by tests/vm/ifupdown2-setup: it conflicts with
# the installed ifupdown) brings the issue's /etc/network/interfaces up and down with the same
# teqlctl links in /etc/network/if-*.d, through its script support (addon_scripts_support=1):
# what the hooks are given, both stanza orders with ifup -a / ifdown -a, single ifup/ifdown of
# a line, the last line leaving, ifup teql0 alone.
#
# ifupdown2 holds one global lock (/run/network/.lock) for a whole run, so a hook can never run
# a nested ifup/ifdown under it: teqlctl configures the master itself where under ifupdown it
# goes through `ifup teql0`. Each ifupdown2 run costs ~20 s under TCG (python), hence the
# timeout and the grouped `ifup eth3 eth4 eth5`.
# vm-timeout: 1500
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"
# shellcheck source-path=SCRIPTDIR source=debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
# shellcheck source-path=SCRIPTDIR source=ifupdown2.sh
. "$(dirname "${BASH_SOURCE[0]}")/ifupdown2.sh"

BUNDLE_ROUTE_ONLINK=0
check "ifupdown2 is unpacked under target/ifupdown2" i2_available
i2_available >/dev/null || finish
# Not through check: that runs its command in a subshell, and PATH must stay changed.
i2_install
check_eq "ifupdown2's configuration in /etc/network/ifupdown2, its ifup/ifdown/ifquery first in PATH" 0 "$?"
check_eq "ifup is ifupdown2's" "$I2_SBIN/ifup" "$(command -v ifup)"
info "ifupdown2 $(cat "$I2_HOME/version")"
check "lab_up 4" lab_up 4
check "link teqlctl into /etc/network/if-*.d" deb_install_hooks
check "lines start down with no address" deb_fresh_lines

# traffic_over_every_line: a transfer through teql0 reaches the internet host over all four.
traffic_over_every_line() {
    local before json
    before=$(tx_counts 2 3 4 5)
    json=$(upload 4)
    check_json "iperf3 through teql0 reaches $LAB_HOST" '.end.sum_received.bits_per_second > 20000000' "$json"
    check_even_shares "$before" "$(tx_counts 2 3 4 5)" 2 3 4 5
}

# --- the issue's file, both orders: ifup -a / ifdown -a -----------------------------------
for order in lines-first master-first; do
    info "---- /etc/network/interfaces with the $order"
    deb_write "$order"
    # The first round also logs what ifupdown2 gives the if-*.d scripts.
    [ "$order" = lines-first ] && check "a probe script beside teqlctl in each if-*.d" i2_probe_on
    i2_check "ifup -a ($order)" env I2_CALLER=yes ifup -a
    lab_sync_return
    check_bundle_up 2 3 4 5
    check_eq "ifupdown2 configured teql0 itself ($order)" teql0 "$(i2_state teql0)"
    check "ping $LAB_HOST" ping -c 2 -W 2 "$LAB_HOST"
    traffic_over_every_line
    snap=$(kernel_snapshot)
    i2_check "ifup -a again ($order)" ifup -a
    check_eq "a second ifup -a changes nothing ($order)" "$snap" "$(kernel_snapshot)"
    i2_check "ifdown -a ($order)" env I2_CALLER=yes ifdown -a
    check_eq "ifdown -a: teql0 down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
    check_eq "ifdown -a: no line attached" "" "$(i2_attached 2 3 4 5)"
    check_eq "ifdown -a: no default route" "[]" "$(ip -j route show default)"
    check_eq "ifdown -a: ifupdown2 has nothing configured" "" "$(ifquery --print-savedstate -a 2>/dev/null)"
    if [ "$order" = lines-first ]; then
        info "what the hooks were given (eth2 and teql0):"
        grep -E 'IFACE=(eth2|teql0) ' "$I2_PROBE_LOG" | sed 's/^/#   /'
        for dp in if-pre-up.d=pre-up if-up.d=up if-down.d=down if-post-down.d=post-down; do
            check "${dp%%=*} is run with PHASE=${dp#*=}" grep -q "^${dp%%=*} PHASE=${dp#*=} " "$I2_PROBE_LOG"
        done
        check_eq "VERBOSITY is never set" "" "$(grep -v 'VERBOSITY=unset' "$I2_PROBE_LOG")"
        check_eq "the caller's environment is passed on" "" "$(grep -v 'I2_CALLER=yes' "$I2_PROBE_LOG")"
        check_eq "IF_TEQL_MASTER=teql0 from each line's stanza" "" \
            "$(grep 'IFACE=eth' "$I2_PROBE_LOG" | grep -v 'IF_TEQL_MASTER=teql0')"
        # ifupdown2 builds a script's environment before it exports this call's ADDRFAM, METHOD
        # and LOGICAL: the first call of a run has none, later ones the previous call's.
        check_eq "the run's first call (eth2 pre-up) has no ADDRFAM" "ADDRFAM=unset" \
            "$(i2_probe if-pre-up.d eth2 | grep -o 'ADDRFAM=[^ ]*')"
        i2_probe_off
    fi
    i2_reset
done

# --- single ifup / ifdown ----------------------------------------------------------------
deb_write lines-first
i2_check "ifup eth2 alone" ifup eth2
lab_sync_return
check_bundle_up 2
info "ifupdown2's saved state for teql0: '$(i2_state teql0)' (its lock forbids a nested ifup teql0)"
check "ping over the one line" ping -c 2 -W 2 "$LAB_HOST"
i2_check "ifup eth3 eth4 eth5" ifup eth3 eth4 eth5
lab_sync_return
check_bundle_up 2 3 4 5
i2_check "ifdown eth4" ifdown eth4
lab_sync_return
check_eq "eth4 detached" "" "$(i2_attached 4)"
check_bundle_up 2 3 5
check "ping over the three lines left" ping -c 2 -W 2 "$LAB_HOST"
i2_check "ifup eth4" ifup eth4
lab_sync_return
check_bundle_up 2 3 4 5

# --- the last line leaving takes teql0 down; the first back brings it up ------------------
i2_check "ifdown eth2 eth3 eth4" ifdown eth2 eth3 eth4
lab_sync_return
check_bundle_up 5
i2_check "ifdown eth5, the last line" ifdown eth5
check_eq "teql0 is down" DOWN "$(ip -j link show teql0 | jq -r '.[0].operstate')"
check_eq "no default route black-holes traffic" "[]" "$(ip -j route show default)"
i2_check "ifup eth3 brings the bundle back" ifup eth3
lab_sync_return
check_bundle_up 3
check "ping over eth3" ping -c 2 -W 2 "$LAB_HOST"
i2_reset

# --- ifup teql0 alone, lines down: ifupdown2 cannot ifup them from teql0's hook -----------
deb_write master-first
i2_check "ifup teql0 alone" ifup teql0
check_eq "its lines are attached, though down" "eth2 eth3 eth4 eth5" "$(i2_attached 2 3 4 5)"
i2_check "ifup eth2 eth3 eth4 eth5" ifup eth2 eth3 eth4 eth5
lab_sync_return
check_bundle_up 2 3 4 5
check "ping over the four lines" ping -c 2 -W 2 "$LAB_HOST"

rm -f "$I2_STATE_DIR/ifstatenew"
check "lab_down" lab_down
finish
