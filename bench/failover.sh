# shellcheck shell=bash
# Sourced by bench/guest.sh: 4. failover. A line's uplink dies (its carrier stays up) while
# `teqlctl check` runs at the shipped timer's interval with the default probe keys, and 100
# pings a second go through teql0 to the internet host. Figures: the time from the cut to the
# line's detach, and the pings lost before and after the detach.
#
# Needs tests/vm/lib.sh and netscripts.sh (lab_up, ns_write_office...) and bench/lib.sh (put).

# failover_parse PINGLOG T_CUT T_OUT: "sent_during lost_during sent_after lost_after" from
# `ping -D` output (times in us). A lost ping's send time is interpolated from the received
# ones around it (each sent at its receive time minus its RTT).
failover_parse() {
    awk -v cut="$2" -v out="$3" '
        /icmp_seq=/ {
            ts = substr($1, 2, length($1) - 2) * 1e6
            seq = $0; sub(/.*icmp_seq=/, "", seq); sub(/ .*/, "", seq)
            rtt = $0; sub(/.*time=/, "", rtt); sub(/ .*/, "", rtt)
            sent[seq + 0] = ts - rtt * 1000
            if (seq + 0 > max) max = seq + 0
        }
        /packets transmitted/ { total = $1 }
        END {
            if (total > max) max = total
            prev = -1
            for (s = 1; s <= max; s++) {
                if (s in sent) { prev = s; continue }
                # next received after s
                for (n = s + 1; n <= max && !(n in sent); n++) ;
                if (prev >= 0 && n <= max) t = sent[prev] + (sent[n] - sent[prev]) * (s - prev) / (n - prev)
                else if (prev >= 0) t = sent[prev] + (s - prev) * 10000
                else t = sent[n] - (n - s) * 10000
                lost[s] = t
            }
            sd = ld = sa = la = 0
            for (s = 1; s <= max; s++) {
                t = (s in sent) ? sent[s] : lost[s]
                if (t >= cut && t < out) { sd++; if (s in lost) ld++ }
                if (t >= out) { sa++; if (s in lost) la++ }
            }
            printf "%d %d %d %d\n", sd, ld, sa, la
        }' "$1"
}

# failover_case NAME SECONDS: one cut of eth3's uplink in a 4-line bundle, pinging for SECONDS.
failover_case() {
    local name=$1 secs=$2 k timer interval t_cut t_out i figures
    local log=$BENCH_OUT/failover.$name.ping state=$VM_STATE/failover
    lab_up 4 || return 1
    for k in 2 3 4 5; do
        # The internet stops routing back over a dead line, as an ISP's network would.
        ip netns exec isp sysctl -q -w "net.ipv4.conf.r$k.ignore_routes_with_linkdown=1"
    done
    ns_write_office 4 || return 1
    # The default probe keys: only the target.
    for k in 2 3 4 5; do echo "TEQL_PROBE=$LAB_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
    "$TEQLCTL" up >/dev/null || return 1
    lab_sync_return
    rm -rf "$state"
    interval=$(sed -n 's/^OnUnitActiveSec=\([0-9]*\)s$/\1/p' "$repo/distro/systemd/teqlctl-check.timer")
    put "failover.$name.interval_s" "$interval"
    (
        export TEQLCTL_STATE_DIR=$state
        while :; do
            t0=${EPOCHREALTIME/./}
            "$TEQLCTL" check 2>/dev/null
            left=$((interval * 1000000 - (${EPOCHREALTIME/./} - t0)))
            [ "$left" -gt 0 ] && sleep "$(printf '0.%06d' "$left")"
        done
    ) &
    timer=$!
    sleep 3
    # -c, not -w: with a deadline ping quits at the first ICMP error (the dead router sends one).
    ping -D -i 0.01 -W 2 -c $((secs * 100)) "$LAB_HOST" >"$log" 2>&1 &
    local pinger=$!
    sleep 2
    t_cut=${EPOCHREALTIME/./}
    ip -n r3 link set wan down
    t_out=
    for ((i = 0; i < 600; i++)); do
        if [ "$(root_qdisc_kind eth3)" != teql0 ]; then
            t_out=${EPOCHREALTIME/./}
            break
        fi
        sleep 0.02
    done
    wait "$pinger"
    kill "$timer"
    wait "$timer" 2>/dev/null
    if [ -z "$t_out" ]; then
        echo "failover: eth3 was not taken out" >&2
        lab_down
        return 1
    fi
    read -r -a figures <<<"$(failover_parse "$log" "$t_cut" "$t_out")"
    put "failover.$name.detach_ms" $(((t_out - t_cut) / 1000))
    put "failover.$name.sent_during" "${figures[0]}"
    put "failover.$name.lost_during" "${figures[1]}"
    put "failover.$name.sent_after" "${figures[2]}"
    put "failover.$name.lost_after" "${figures[3]}"
    # What a failing round costs here (with eth3 still silent): the part of the detach time
    # that is not the timer's interval. Whole run, and check's own part of it.
    rm -rf "$state-timing"
    cp -r "$state" "$state-timing"
    local t0=${EPOCHREALTIME/./} inner
    inner=$(TEQLCTL_STATE_DIR=$state-timing "$TEQLCTL" -v check 2>/dev/null | sed -n 's/^round [0-9]*: \([0-9]*\) ms.*/\1/p')
    put "failover.$name.round_ms" $(((${EPOCHREALTIME/./} - t0) / 1000))
    put "failover.$name.round_inner_ms" "$inner"
    lab_down
}
