#!/usr/bin/env bash
# Bad input and hostile states: each gets one clear line, its documented exit code, and
# leaves the system exactly as it was.
# vm-timeout: 420
# vm-cost: 125
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

# --- a broken file of one line stops every manual change (issue 11, point 1) ---------------
# The four ways the hostile tests found to break a line's file silently. Each time: `up`,
# `up teql0`, `attach eth2` and `down teql0` refuse with exit 3 and one line naming the file;
# nothing changes; the hook of the good line still bonds it but says what is broken; status
# lists the problem.
ns_write_office 2
broken_eth3() {
    rm -f "$NS_DIR/ifcfg-eth3"
    case $1 in
    rp) printf 'DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n' >"$NS_DIR/ifcfg-eth3" ;;
    master) printf 'DEVICE=eth3\nTEQL_MASTER=eth9\n' >"$NS_DIR/ifcfg-eth3" ;;
    quote) printf 'DEVICE=eth3\nTEQL_MASTER="teql0\n' >"$NS_DIR/ifcfg-eth3" ;;
    dangling) ln -s /nonexistent/ifcfg-eth3 "$NS_DIR/ifcfg-eth3" ;;
    esac
}
for how in rp master quote dangling; do
    broken_eth3 "$how"
    snap=$(kernel_snapshot)
    expect 3 "ifcfg-eth3" "$how: up" "$TEQLCTL" up
    expect 3 "ifcfg-eth3" "$how: up teql0" "$TEQLCTL" up teql0
    expect 3 "ifcfg-eth3" "$how: attach eth2" "$TEQLCTL" attach eth2
    expect 3 "ifcfg-eth3" "$how: down teql0" "$TEQLCTL" down teql0
    check_eq "$how: ... nothing changed" "$snap" "$(kernel_snapshot)"
    err=$(ns_hook ifup-local eth2 2>&1 >/dev/null)
    rc=$?
    check_eq "$how: ifup-local eth2 at boot still bonds eth2 (exit 0)" "0/teql0" "$rc/$(root_qdisc_kind eth2)"
    check "$how: ... and says what is broken in ifcfg-eth3" grep -q "warning: .*ifcfg-eth3" <<<"$err"
    json=$("$TEQLCTL" status --json 2>/dev/null)
    check_json "$how: status --json lists the problem" '[.problems[] | select(contains("ifcfg-eth3"))] | length == 1' "$json"
    check "$how: status text lists it" sh -c "'$TEQLCTL' status 2>/dev/null | grep -A1 '^configuration problems: 1' | grep -q ifcfg-eth3"
    check "$how: detach needs no configuration" "$TEQLCTL" detach eth2
    modprobe -r sch_teql
done
ns_write_office 2

# --- a FIFO where a file should be never blocks (issue 11, point 7) ------------------------
# Every command returns within its bound with a line naming the file: status and check go on
# (the lines they concern are left alone), up refuses, a hook of a line stays lenient.
took_ms() { echo $(((${EPOCHREALTIME/./} - $1) / 1000)); }
for fifo in /etc/sysconfig/network "$NS_DIR/ifcfg-eth3"; do
    rm -f "$fifo"
    mkfifo "$fifo"
    for cmd in "status" "check" "up" "hook-ifup-local" "hook-ifup-pre-local"; do
        t0=${EPOCHREALTIME/./}
        case $cmd in
        hook-ifup-local) err=$(timeout 60 bash -c "$(declare -f ns_hook); NS_DIR=$NS_DIR NS_SBIN=$NS_SBIN ns_hook ifup-local eth2" 2>&1 >/dev/null) ;;
        hook-ifup-pre-local) err=$(timeout 60 bash -c "$(declare -f ns_hook); NS_DIR=$NS_DIR NS_SBIN=$NS_SBIN ns_hook ifup-pre-local ifcfg-eth2 boot" 2>&1 >/dev/null) ;;
        # status lists the problems in its text (stdout), the others on stderr (issue 28, point 9).
        status) err=$(TEQLCTL_STATE_DIR=$VM_STATE/fifo-check timeout 60 "$TEQLCTL" $cmd 2>&1) ;;
        *) err=$(TEQLCTL_STATE_DIR=$VM_STATE/fifo-check timeout 60 "$TEQLCTL" $cmd 2>&1 >/dev/null) ;;
        esac
        rc=$?
        ms=$(took_ms "$t0")
        info "FIFO at $fifo, $cmd: exit $rc after $ms ms: $err"
        check "FIFO at $fifo: $cmd returns at once (no hang: not 124)" test "$rc" -ne 124 -a "$ms" -lt 10000
        check "FIFO at $fifo: $cmd names the file as not a regular file" grep -q "$fifo.*not a regular file" <<<"$err"
    done
    rm -f "$fifo"
    "$TEQLCTL" down >/dev/null 2>&1
    modprobe -r sch_teql 2>/dev/null
done
ns_write_office 2

check "lab_down" lab_down
finish
