# shellcheck shell=bash
# Sourced by bench/guest.sh: 4. failover. A line's uplink dies (its carrier stays up) while
# `teqlctl check` runs at the shipped timer's interval with the default probe keys, and 100
# pings a second go through teql0 to the internet host. Figures: the time from the cut to the
# line's detach, and the pings lost before and after the detach.
#
# Needs tests/vm/lib.sh and netscripts.sh (lab_up, ns_write_office...) and bench/lib.sh (put).

# failover_parse PINGLOG T_CUT T_OUT: "sent_during lost_during sent_after lost_after" from
# `ping -D` output (times in us). A lost ping's send time is interpolated from the received
# ones around it (each sent at its receive time minus its RTT). It counts as lost after the
# detach only when it was surely sent after it, that is when the received ping before it was:
# a ping sent within one interval (10 ms) of the detach may have been queued on the dead line
# just before it, and interpolation cannot tell which side it fell on.
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
                # The earliest it can have been sent.
                early[s] = (prev >= 0) ? sent[prev] : t
            }
            sd = ld = sa = la = 0
            for (s = 1; s <= max; s++) {
                t = (s in sent) ? sent[s] : lost[s]
                te = (s in sent) ? sent[s] : early[s]
                if (te >= out) { sa++; if (s in lost) la++ }
                else if (t >= cut) { sd++; if (s in lost) ld++ }
            }
            printf "%d %d %d %d\n", sd, ld, sa, la
        }' "$1"
}

# nap SECONDS: a sleep without a process start (an external sleep costs ~0.1 s under TCG,
# which would stretch the timer's interval and the polling). Needs failover_nap_init.
nap() {
    read -r -t "$1" -u "$NAP_FD" _ || :
}
failover_nap_init() {
    local fifo=$VM_STATE/failover-nap
    rm -f "$fifo" && mkfifo "$fifo" || return 1
    # A FIFO opened read-write never sees EOF: read -t waits out its timeout.
    exec {NAP_FD}<>"$fifo"
}

# monitor_time LOG T_CUT MATCH [ARGS...]: the time (us) of the first event after T_CUT in a
# `tc -ts monitor` or `ip -ts monitor` log for which `MATCH EVENT ARGS...` succeeds, or
# nothing. Lines look like "[2026-11-22T11:45:12.123456]deleted qdisc teql0 0: dev eth3 root".
monitor_time() {
    local log=$1 cut=$2 match=$3 line ts t
    shift 3
    while IFS= read -r line; do
        [[ "$line" =~ ^\[([0-9T:.-]+)\]\ ?(.*)$ ]] || continue
        ts=${BASH_REMATCH[1]}
        "$match" "${BASH_REMATCH[2]}" "$@" || continue
        t=$(date -d "$ts" +%s%6N) || continue
        if [ "$t" -ge "$cut" ]; then
            echo "$t"
            return
        fi
    done <"$log"
}

# check_timer BIN INTERVAL: `BIN check` start to start every INTERVAL seconds, as the shipped
# timer's OnUnitActiveSec runs it (a round longer than the interval is followed at once by the
# next), at the shipped service's niceness (its Nice=), until killed. Run it in the background:
# the loop itself takes that niceness (no `nice` exec per round, which systemd does not pay).
check_timer() {
    local bin=$1 interval=$2 t0 left prio
    prio=$(sed -n 's/^Nice=\(-\{0,1\}[0-9]*\)$/\1/p' "$repo/distro/systemd/teqlctl-check.service")
    renice -n "${prio:-0}" -p "$BASHPID" >/dev/null || return 1
    while :; do
        t0=${EPOCHREALTIME/./}
        "$bin" check 2>/dev/null
        left=$((interval * 1000000 - (${EPOCHREALTIME/./} - t0)))
        [ "$left" -gt 0 ] && nap "$(printf '0.%06d' "$left")"
    done
}

# eth3_detached EVENT: a change to eth3's root qdisc that is not teql0 coming back (the
# re-attach after a cut).
eth3_detached() {
    [[ "$1" == *"dev eth3 root"* ]] && [[ "$1" != "qdisc teql0 "* ]]
}

# failover_case NAME SECONDS CUTS: CUTS cuts of eth3's uplink in a 4-line bundle, each inside
# SECONDS of pings; between cuts the uplink comes back and check puts eth3 back. The cut falls
# at a random point of the timer's interval, so one cut is one sample of a spread: the report
# gives the median and the worst.
#
# check runs from a copy of the binary on tmpfs, as an installed /usr/sbin/teqlctl runs from
# the page cache. The guest sees the build through virtme-ng's 9p share, which reads the
# binary's pages from the host again at each exec; the figures show what that costs.
failover_case() {
    local name=$1 secs=$2 cuts=$3 k timer interval t_cut t_out i cut figures
    local log state=$VM_STATE/failover bin=$VM_STATE/failover-sbin/teqlctl
    local detach=() cut_at=() sd=0 ld=0 sa=0 la=0
    lab_up 4 || return 1
    for k in 2 3 4 5; do
        # The internet stops routing back over a dead line, as an ISP's network would.
        ip netns exec isp sysctl -q -w "net.ipv4.conf.r$k.ignore_routes_with_linkdown=1"
    done
    ns_write_office 4 || return 1
    # The default probe keys: only the target.
    for k in 2 3 4 5; do echo "TEQL_PROBE=$LAB_HOST" >>"$NS_DIR/ifcfg-eth$k"; done
    mkdir -p "${bin%/*}" && cp "$TEQLCTL" "$bin" || return 1
    failover_nap_init || return 1
    "$bin" up >/dev/null || return 1
    lab_sync_return
    rm -rf "$state"
    interval=$(sed -n 's/^OnUnitActiveSec=\([0-9]*\)s$/\1/p' "$repo/distro/systemd/teqlctl-check.timer")
    put "failover.$name.interval_s" "$interval"
    TEQLCTL_STATE_DIR=$state check_timer "$bin" "$interval" &
    timer=$!
    # The detach's time comes from the kernel's notification (tc stamps it as it reads it);
    # the polling below only tells when to look.
    local mon_log=$BENCH_OUT/failover.$name.tcmon t_mon mon
    stdbuf -oL tc -ts monitor >"$mon_log" 2>&1 &
    mon=$!
    sleep 3
    for ((cut = 1; cut <= cuts; cut++)); do
        log=$BENCH_OUT/failover.$name.$cut.ping
        # -c, not -w: with a deadline ping quits at the first ICMP error (the dead router sends one).
        ping -D -i 0.01 -W 2 -c $((secs * 100)) "$LAB_HOST" >"$log" 2>&1 &
        local pinger=$!
        # A random point of the timer's interval, on top of 2 s of pings.
        nap "2.$(printf '%03d' $((RANDOM % 1000)))"
        t_cut=${EPOCHREALTIME/./}
        ip -n r3 link set wan down
        t_out=
        for ((i = 0; i < 600; i++)); do
            if [ "$(root_qdisc_kind eth3)" != teql0 ]; then
                t_out=${EPOCHREALTIME/./}
                break
            fi
            nap 0.02
        done
        wait "$pinger"
        if [ -z "$t_out" ]; then
            echo "failover: cut $cut: eth3 was not taken out" >&2
            break
        fi
        t_mon=$(monitor_time "$mon_log" "$t_cut" eth3_detached)
        if [ -n "$t_mon" ] && [ "$t_mon" -le "$t_out" ]; then
            echo "    cut $cut: seen by tc monitor $(((t_out - t_mon) / 1000)) ms before the polling saw it"
            t_out=$t_mon
        else
            echo "    cut $cut: tc monitor saw no change of eth3's root qdisc; the polling's time is used"
        fi
        detach+=($(((t_out - t_cut) / 1000)))
        cut_at+=("$t_cut")
        read -r -a figures <<<"$(failover_parse "$log" "$t_cut" "$t_out")"
        echo "    cut $cut: detach ${detach[-1]} ms, lost ${figures[1]} of ${figures[0]} before, ${figures[3]} of ${figures[2]} after"
        sd=$((sd + figures[0])) ld=$((ld + figures[1])) sa=$((sa + figures[2])) la=$((la + figures[3]))
        # The uplink comes back; check puts eth3 back after TEQL_PROBE_UP good rounds.
        ip -n r3 link set wan up
        ip -n r3 route replace 198.51.100.0/24 via 198.19.3.1 dev wan
        [ "$cut" -lt "$cuts" ] || break
        for ((i = 0; i < 300; i++)); do
            [ "$(root_qdisc_kind eth3)" = teql0 ] && break
            nap 0.1
        done
        if [ "$(root_qdisc_kind eth3)" != teql0 ]; then
            echo "failover: cut $cut: eth3 did not come back within 30 s of its uplink" >&2
            break
        fi
        sleep 1
    done
    kill "$timer" "$mon"
    wait "$timer" "$mon" 2>/dev/null
    if [ "${#detach[@]}" -ne "$cuts" ]; then
        lab_down
        return 1
    fi
    put "failover.$name.cuts" "$cuts"
    put "failover.$name.detach_ms" "${detach[@]}"
    # The cuts' times (us), to read the ping logs and the tc monitor log again.
    put "failover.$name.cut_us" "${cut_at[@]}"
    put "failover.$name.sent_during" "$sd"
    put "failover.$name.lost_during" "$ld"
    put "failover.$name.sent_after" "$sa"
    put "failover.$name.lost_after" "$la"
    # What a failing round costs here (eth3 silent again): the part of the detach time that is
    # not the timer's interval. Whole run, and check's own part of it; then the same run of
    # the build on the 9p share, to show why check runs from a copy.
    ip -n r3 link set wan down
    local t0 inner r9
    for bin9 in "$bin" "$TEQLCTL"; do
        rm -rf "$state-timing"
        cp -r "$state" "$state-timing"
        t0=${EPOCHREALTIME/./}
        inner=$(TEQLCTL_STATE_DIR=$state-timing "$bin9" -v check 2>/dev/null | sed -n 's/^round [0-9]*: \([0-9]*\) ms.*/\1/p')
        r9=$(((${EPOCHREALTIME/./} - t0) / 1000))
        if [ "$bin9" = "$bin" ]; then
            put "failover.$name.round_ms" "$r9"
            put "failover.$name.round_inner_ms" "$inner"
        else
            put "failover.$name.round_9p_ms" "$r9"
        fi
    done
    lab_down
}
