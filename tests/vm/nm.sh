# shellcheck shell=bash
# Sourced by scenarios after lib.sh: the real NetworkManager (Debian's, the host's /usr) in the
# guest, which has no systemd: a system D-Bus, then NetworkManager itself; its dispatcher is
# D-Bus activated through the service file's Exec= line (shared notes, networkmanager.md).

NM_ETC=/etc/NetworkManager
NM_PROFILES=$NM_ETC/system-connections
NM_LOG=/run/teqlctl-vm/nm.log
# The lab's own settings: keyfile profiles only (Debian's ifupdown plugin off), no automatic
# DHCP profile on the lab's veths, and nothing but the lines managed besides what teqlctl's
# snippet leaves out. teqlctl's snippet is the shipped file, as the packages install it.
NM_LAB_CONF=$NM_ETC/conf.d/00-teqlctl-vm-lab.conf
NM_SHIPPED_CONF=$NM_ETC/conf.d/90-teqlctl.conf
# The dispatcher links `teqlctl hooks install` makes.
NM_DISPATCHER_LINKS=("$NM_ETC/dispatcher.d/90-teqlctl" "$NM_ETC/dispatcher.d/pre-up.d/90-teqlctl"
    "$NM_ETC/dispatcher.d/pre-down.d/90-teqlctl")

# nm_setup: the lab's NetworkManager configuration and teqlctl's shipped snippet.
nm_setup() {
    mkdir -p "$NM_ETC/conf.d" "$NM_PROFILES" /run/dbus /run/NetworkManager /var/lib/NetworkManager || return 1
    cat >"$NM_LAB_CONF" <<'EOF' || return 1
[main]
plugins=keyfile
no-auto-default=*
[logging]
level=INFO
EOF
    cp "$VM_DIR/../../distro/networkmanager/90-teqlctl.conf" "$NM_SHIPPED_CONF"
}

# nm_start: a system bus (once) and NetworkManager; returns when nmcli gets answers.
nm_start() {
    if [ ! -S /run/dbus/system_bus_socket ]; then
        dbus-daemon --system --fork --nopidfile || return 1
    fi
    # --debug: its log on stderr (there is no journal in the guest), at the configured level.
    NetworkManager --no-daemon --debug >>"$NM_LOG" 2>&1 &
    echo $! >/run/teqlctl-vm/nm.pid
    wait_for -t 60 sh -c 'nmcli -t -f RUNNING general 2>/dev/null | grep -qx running'
}

# nm_stop: NetworkManager ends as `systemctl stop` ends it (SIGTERM): it leaves the devices as
# they are.
nm_stop() {
    local pid
    read -r pid </run/teqlctl-vm/nm.pid 2>/dev/null || pid=$(pgrep -x NetworkManager | head -n 1)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { rm -f /run/teqlctl-vm/nm.pid; return 0; }
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null
    rm -f /run/teqlctl-vm/nm.pid
    return 1
}

# nm_restart: as `systemctl restart NetworkManager`.
nm_restart() {
    nm_stop && nm_start
}

# nm_profile ID UUID-TAIL IFACE IPV4 [USER-DATA...]: the keyfile profile ID for interface IFACE
# (not autoconnected: the scenario brings it up), IPV4 the lines of its [ipv4] section,
# USER-DATA its [user] section; readable by root only, as NetworkManager wants.
nm_profile() {
    local id=$1 uuid=$2 iface=$3 ipv4=$4 f
    shift 4
    f=$NM_PROFILES/$id.nmconnection
    {
        cat <<EOF
[connection]
id=$id
uuid=7e91c0de-0000-4000-8000-$uuid
type=ethernet
interface-name=$iface
autoconnect=false

[ipv4]
$ipv4

[ipv6]
method=disabled

[user]
EOF
        printf '%s\n' "$@"
    } >"$f" && chmod 600 "$f"
}

# nm_line_profile K [USER-DATA...]: the profile dslK for line ethK, its address as the lab
# gives it, no gateway (the default route is teql0's), and teqlctl's keys in [user] (the
# default: teqlctl.master=teql0).
nm_line_profile() {
    local k=$1
    shift
    [ $# -gt 0 ] || set -- teqlctl.master=teql0
    nm_profile "dsl$k" "00000000000$k" "eth$k" "method=manual
address1=198.18.$k.1/30
never-default=true" "$@"
}

# nm_bundle_file: teql0's address and gateway, in teqlctl's own file.
nm_bundle_file() {
    mkdir -p /etc/teqlctl/bundles && cat >/etc/teqlctl/bundles/teql0.conf <<'EOF'
# The office bundle: NetworkManager cannot hold a teql device's settings.
[bundle]
address=203.0.113.2/28
gateway=203.0.113.1
EOF
}

# nm_isp_profile K IPV4 [USER-DATA...]: the profile ispK for the ISP lab's line ethK (isp.sh).
nm_isp_profile() {
    local k=$1 ipv4=$2
    shift 2
    nm_profile "isp$k" "00000000010$k" "eth$k" "$ipv4" "$@"
}

# nm_bundle NAME KEY=VALUE...: the bundle's file /etc/teqlctl/bundles/NAME.conf.
nm_bundle() {
    local name=$1
    shift
    mkdir -p /etc/teqlctl/bundles && printf '[bundle]\n' >"/etc/teqlctl/bundles/$name.conf" \
        && printf '%s\n' "$@" >>"/etc/teqlctl/bundles/$name.conf"
}

# nm_cleanup: NetworkManager stopped, and every file of the lab's gone.
nm_cleanup() {
    nm_stop
    rm -f "$NM_LAB_CONF" "$NM_SHIPPED_CONF" "${NM_DISPATCHER_LINKS[@]}" "$NM_PROFILES"/dsl*.nmconnection \
        "$NM_PROFILES"/isp*.nmconnection "$NM_PROFILES"/other.nmconnection "$NM_ETC/dispatcher.d/99-teqlctl-vm-events" /etc/teqlctl/bundles/teql0.conf \
        /etc/teqlctl/bundles/wan.conf \
        /usr/lib/NetworkManager/dispatcher.d/90-teqlctl /usr/lib/NetworkManager/dispatcher.d/pre-*.d/90-teqlctl
    rmdir /etc/teqlctl/bundles /etc/teqlctl 2>/dev/null
    rm -rf /run/NetworkManager /var/lib/NetworkManager
    return 0
}

# nm_state DEVICE: NetworkManager's state of DEVICE (connected, disconnected, unmanaged, ...).
nm_state() {
    nmcli -t -f DEVICE,STATE device status | awk -F: -v d="$1" '$1 == d { print $2 }'
}
