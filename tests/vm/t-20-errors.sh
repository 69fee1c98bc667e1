#!/usr/bin/env bash
# Bad input and hostile states: each gets one clear line, its documented exit code, and
# leaves the system exactly as it was.
# vm-timeout: 300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netscripts.sh
. "$(dirname "${BASH_SOURCE[0]}")/netscripts.sh"

# expect CODE PATTERN DESCRIPTION CMD...: CMD exits CODE and its stderr matches PATTERN
# (grep -E) on exactly one line.
expect() {
    local code=$1 pattern=$2 desc=$3 err rc
    shift 3
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    check_eq "$desc: exit $code" "$code" "$rc"
    if [ "$(grep -cE -- "$pattern" <<<"$err")" -ge 1 ] && [ "$(grep -c . <<<"$err")" -eq 1 ]; then
        _vm_ok "$desc: one clear line"
    else
        _vm_not_ok "$desc: one clear line" "stderr does not match /$pattern/ on a single line:" "$err"
    fi
}

check "lab_up 2" lab_up 2
check "write the office" ns_write_office 2

# --- a kernel without teql: modprobe fails ---------------------------------------------------
echo "install sch_teql /bin/false" >/etc/modprobe.d/teqlctl-test.conf
snap=$(kernel_snapshot)
expect 4 "cannot load sch_teql .*CONFIG_NET_SCH_TEQL" "attach on a kernel without teql" "$TEQLCTL" attach eth2
check_eq "... leaves the system as it was" "$snap" "$(kernel_snapshot)"
expect 4 "ifup-local: cannot load sch_teql" "ifup-local on a kernel without teql" ns_hook ifup-local eth2
check_eq "... leaves the system as it was" "$snap" "$(kernel_snapshot)"
rm -f /etc/modprobe.d/teqlctl-test.conf

# --- a modprobe that never answers cannot hang boot ----------------------------------------
echo "install sch_teql /bin/sleep 120" >/etc/modprobe.d/teqlctl-test.conf
t0=$SECONDS
expect 4 "modprobe sch_teql: no answer in 15 s; killed" "ifup-pre-local with a hanging modprobe" \
    ns_hook ifup-pre-local ifcfg-eth2 boot
took=$((SECONDS - t0))
info "ifup-pre-local gave up after $took s"
# 15 s for modprobe plus process starts under emulation; the hook's own watchdog is 30 s.
check "... within 25 s" test "$took" -le 25
rm -f /etc/modprobe.d/teqlctl-test.conf
pkill -f "/bin/sleep 120"

# --- unknown interface: nothing is loaded or changed ---------------------------------------
expect 6 "^teqlctl: eth9: no such interface" "attach of an unknown interface" "$TEQLCTL" attach eth9
check "... sch_teql not even loaded" test ! -d /sys/module/sch_teql

# --- a master the loaded module does not have ------------------------------------------------
modprobe sch_teql
sed -i 's/TEQL_MASTER=teql0/TEQL_MASTER=teql1/' "$NS_DIR/ifcfg-eth3"
snap=$(kernel_snapshot)
expect 4 "max_equalizers=2" "teql1 with sch_teql loaded with one master" "$TEQLCTL" attach eth3
check_eq "... leaves the system as it was" "$snap" "$(kernel_snapshot)"
modprobe -r sch_teql
# Not loaded yet: teqlctl loads it with enough masters itself.
check "attach eth3 to teql1 when the module is not loaded yet" "$TEQLCTL" attach eth3
check_eq "eth3's root qdisc is teql1" teql1 "$(root_qdisc_kind eth3)"
check "teqlctl detach eth3" "$TEQLCTL" detach eth3
check_eq "teql1 went down with its last line" DOWN "$(ip -j link show teql1 | jq -r '.[0].operstate')"
sed -i 's/TEQL_MASTER=teql1/TEQL_MASTER=teql0/' "$NS_DIR/ifcfg-eth3"
modprobe -r sch_teql

# --- an admin's root qdisc is not replaced without --force --------------------------------
tc qdisc add dev eth2 root handle 1: htb default 10
snap=$(kernel_snapshot)
expect 4 "eth2 has a root qdisc htb \(handle 1:\).*--force" "attach over an admin's htb" "$TEQLCTL" attach eth2
check_eq "... htb is still there" htb "$(root_qdisc_kind eth2)"
check_eq "... and nothing else changed" "$snap" "$(kernel_snapshot)"
check "attach --force replaces it" "$TEQLCTL" attach --force eth2
check_eq "eth2's root qdisc is teql0" teql0 "$(root_qdisc_kind eth2)"
"$TEQLCTL" down >/dev/null 2>&1
modprobe -r sch_teql

# --- no permission --------------------------------------------------------------------------
modprobe sch_teql
snap=$(kernel_snapshot)
expect 5 "permission denied; run as root" "attach as nobody" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TEQLCTL" attach eth2
chmod 1777 /run/teqlctl-vm
expect 5 "permission denied; run as root" "attach as nobody with a lock it may take" \
    env TEQLCTL_LOCK=/run/teqlctl-vm/nobody.lock setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TEQLCTL" attach eth2
check_eq "... leaves the system as it was" "$snap" "$(kernel_snapshot)"
check "status works without privileges" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TEQLCTL" status
modprobe -r sch_teql

# --- a run that fails halfway is undone ---------------------------------------------------
# The kernel refuses a multicast gateway (EINVAL) at the very last step, after rp_filter,
# qdisc, link up and address were changed: all of it must be rolled back, module included.
sed -i 's/^GATEWAY=.*/GATEWAY=224.0.0.1/' "$NS_DIR/ifcfg-teql0"
ip route add default via 198.18.2.2 dev eth2
snap=$(kernel_snapshot)
out=$("$TEQLCTL" up 2>&1)
rc=$?
info "$out"
check_eq "up with a gateway the kernel refuses: exit 4" 4 "$rc"
check "... the error names the command and the kernel's reason" grep -q "ip route replace default via 224.0.0.1 dev teql0 onlink: Invalid argument" <<<"$out"
check "... every step is rolled back" grep -q "rolled back: tc qdisc add dev eth2 root teql0" <<<"$out"
check_eq "... the system is exactly as it was (default route, rp_filter, qdiscs, module)" "$snap" "$(kernel_snapshot)"
ip route del default via 198.18.2.2 dev eth2
sed -i 's/^GATEWAY=.*/GATEWAY=203.0.113.1/' "$NS_DIR/ifcfg-teql0"

# --- another run holds the lock -------------------------------------------------------------
flock /run/teqlctl.lock sleep 8 &
holder=$!
check "the other holder has the lock" wait_for sh -c '! flock -n /run/teqlctl.lock true'
expect 7 "another teqlctl has held /run/teqlctl.lock for 1 s" "attach while the lock is held" \
    env TEQLCTL_LOCK_TIMEOUT=1 "$TEQLCTL" attach eth2
wait "$holder"
check "attach after the lock is released" "$TEQLCTL" attach eth2
"$TEQLCTL" down >/dev/null 2>&1
modprobe -r sch_teql

# --- a malformed file: its line refuses, the other line still works ------------------------
printf 'DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=sometimes\n' >"$NS_DIR/ifcfg-eth3"
snap=$(kernel_snapshot)
expect 3 "ifcfg-eth3: TEQL_RP_FILTER=\"sometimes\" is not valid" "ifup-local of a line with a bad key" ns_hook ifup-local eth3
check_eq "... leaves the system as it was" "$snap" "$(kernel_snapshot)"
check "ifup-local eth2 still bonds eth2" ns_hook ifup-local eth2
check_eq "eth2's root qdisc is teql0" teql0 "$(root_qdisc_kind eth2)"
check "ping through the good line" ping -c 2 -W 2 "$LAB_HOST"
# The admin breaks eth2's file while it is bonded: ifdown must still take it out.
printf 'DEVICE=eth2\nTEQL_MASTER=teql0\nIPADDR="198.18.2.1\n' >"$NS_DIR/ifcfg-eth2"
check "ifdown-pre-local of a bonded line whose file is now broken exits 0" ns_hook ifdown-pre-local eth2
check_eq "... and still detaches it" noqueue "$(root_qdisc_kind eth2)"

check "lab_down" lab_down
finish
