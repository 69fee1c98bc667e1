# shellcheck shell=bash
# Sourced by bench/run (host side): turns what bench/guest.sh left (results.tsv, host.tsv) into
# the printed tables, BENCHMARKS.md and the plot. Times in results.tsv are microseconds; every
# figure shown is a median unless it says otherwise. Missing figures (a smoke run, a
# measurement that failed) show as "-".

declare -gA R=()
_report_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# load_results DIR: results.tsv and host.tsv into R (a key given twice: the last wins).
load_results() {
    local k v f
    R=()
    for f in "$1/host.tsv" "$1/results.tsv"; do
        [ -f "$f" ] || continue
        while IFS=$'\t' read -r k v; do
            [ -n "$k" ] && R[$k]=$v
        done <"$f"
    done
    return 0
}

# ---------------------------------------------------------------- arithmetic

# calc FORMAT EXPR: awk arithmetic, printed with FORMAT ("-" if EXPR uses a missing figure,
# which callers pass as "-").
calc() {
    case $2 in
    *-\ * | *\ -* | -) echo - ;;
    *) awk "BEGIN { printf \"$1\", $2 }" ;;
    esac
}

# stats KEY: "median min max count" of the microsecond list R[KEY]; fails if there is none.
stats() {
    local v=${R[$1]:-}
    [ -n "$v" ] || return 1
    tr ' ' '\n' <<<"$v" | grep . | sort -n | awk '{ a[NR] = $1 }
        END { if (NR == 0) exit 1
              m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
              printf "%d %d %d %d\n", m, a[1], a[NR], NR }'
}

# med KEY: median in microseconds, or "-".
med() {
    local s
    s=$(stats "$1") || {
        echo -
        return
    }
    echo "${s%% *}"
}

# ms US: milliseconds for a table (no decimals from 100 ms up).
ms() {
    [ "$1" = - ] && {
        echo -
        return
    }
    awk -v u="$1" 'BEGIN { m = u / 1000; if (m >= 100) printf "%.0f", m; else printf "%.1f", m }'
}

# range KEY: "min-max ms (n)" of a list.
range() {
    local s m lo hi n
    s=$(stats "$1") || {
        echo -
        return
    }
    read -r m lo hi n <<<"$s"
    echo "$(ms "$lo")-$(ms "$hi") (n=$n)"
}

# ratio A B: A/B to two decimals, or "-".
ratio() {
    if [ "$1" = - ] || [ "$2" = - ] || [ "$2" = 0 ]; then
        echo -
    else
        calc '%.2f' "($1) / ($2)"
    fi
}

# ---------------------------------------------------------------- tables

# A table is TSV on stdin, first line the header; render as aligned text or markdown.
render_text() {
    awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
                  if (NF > nf) nf = NF; nr = NR }
        END { for (r = 1; r <= nr; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf("%-*s", w[i] + 2, c[r, i])
                sub(/ +$/, "", line); print "  " line
                if (r == 1) { line = ""; for (i = 1; i <= nf; i++) { d = ""; for (j = 0; j < w[i]; j++) d = d "-"; line = line d "  " }
                              sub(/ +$/, "", line); print "  " line } } }'
}

render_md() {
    awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
                  if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line (i == 1 ? "---|" : "--:|"); print line } }'
}

# Process starts of each bring-up variant: teqlctl runs modprobe only when sch_teql is not
# loaded; the shell recipe always runs it (a no-op when loaded) except in shell_nomod.
starts() {
    case $1:$2 in
    *:shell) echo 12 ;;
    *:shell_nomod) echo 11 ;;
    unloaded:up) echo "2 (teqlctl, modprobe)" ;;
    loaded:up) echo 1 ;;
    unloaded:hooks) echo "5 (4 hooks, modprobe)" ;;
    loaded:hooks) echo 4 ;;
    *:version | *:dryrun) echo 1 ;;
    esac
}

variant_name() {
    case $1 in
    shell) echo "shell recipe (bond_by_hand 4)" ;;
    shell_nomod) echo "shell recipe without its modprobe" ;;
    up) echo "teqlctl up" ;;
    hooks) echo "4 x ifup-local ethK" ;;
    version) echo "probe: teqlctl --version (the binary's start)" ;;
    dryrun) echo "probe: teqlctl --dry-run up (read, plan; no change)" ;;
    esac
}

table_bringup() {
    local st v shell_m m
    printf 'sch_teql before\tvariant\tprocess starts\tmedian ms\tmin-max ms\tvs shell\n'
    for st in unloaded loaded; do
        shell_m=$(med "bringup.$st.shell.us")
        for v in shell shell_nomod up hooks version dryrun; do
            [ -n "${R[bringup.$st.$v.us]:-}" ] || continue
            m=$(med "bringup.$st.$v.us")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$st" "$(variant_name "$v")" "$(starts "$st" "$v")" \
                "$(ms "$m")" "$(range "bringup.$st.$v.us")" "$(ratio "$m" "$shell_m")"
        done
    done
}

table_notours() {
    local floor
    floor=$(med floor.true.us)
    printf 'call\tsch_teql\tmedian ms\tmin-max ms\tvs fork+exec of /bin/true\n'
    printf '%s\t%s\t%s\t%s\t%s\n' "fork + exec /bin/true (floor)" - "$(ms "$floor")" "$(range floor.true.us)" 1.00
    for h in ifup-local ifup-pre-local; do
        local arg=eth0
        [ "$h" = ifup-pre-local ] && arg="ifcfg-eth0 boot"
        printf '%s\t%s\t%s\t%s\t%s\n' "$h $arg" loaded "$(ms "$(med "hook.notours.$h.us")")" \
            "$(range "hook.notours.$h.us")" "$(ratio "$(med "hook.notours.$h.us")" "$floor")"
        if [ -n "${R[hook.notours.$h.unloaded.us]:-}" ]; then
            printf '%s\t%s\t%s\t%s\t%s\n' "$h $arg" "not loaded (once)" "$(ms "${R[hook.notours.$h.unloaded.us]}")" \
                "-" "loaded sch_teql: ${R[hook.notours.$h.loads_sch_teql]:-?}"
        fi
    done
}

# goodput_row CASE P: the row of one iperf3 run.
goodput_fields() {
    local c=$1 p=$2 key="goodput.$1.p$2" rates sum bps frac
    rates=${R[goodput.$c.rates_mbit]:-}
    [ -n "$rates" ] || return 1
    sum=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"$rates")
    bps=${R[$key.bps]:--}
    frac=$(ratio "$bps" "$sum * 1000000")
    # shares of the packets, in % and the worst deviation from 1/N relative to 1/N
    local sh
    sh=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; if (s == 0) { print "-\t-\t-"; exit }
                  out = ""; dmax = 0; amax = 0
                  for (i = 1; i <= NF; i++) { f = $i / s; out = out sprintf("%s%.1f", i > 1 ? " " : "", 100 * f)
                      d = f * NF - 1; if (d < 0) d = -d; if (d > dmax) dmax = d
                      a = f - 1 / NF; if (a < 0) a = -a; if (a > amax) amax = a }
                  printf "%s\t%.2f\t%.2f\n", out, 100 * dmax, 100 * amax }' <<<"${R[$key.tx_deltas]:-}")
    [ -n "$sh" ] || sh=$'-\t-\t-'
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rates" "$sum" "$p" \
        "$(calc '%.1f' "$bps / 1000000")" "$frac" "${R[$key.retransmits]:--}" "$sh"
}

table_goodput() {
    local c p n
    printf 'lines\tline rates Mbit/s\tsum Mbit/s\tstreams\tgoodput Mbit/s\tof sum\tretransmits\tshare of packets per line %%\tworst share vs 1/N (rel. %%)\tworst share vs 1/N (abs. points)\n'
    if [ -n "${R[goodput.n1.plain.bps]:-}" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "1, no teql (lab ceiling)" 10 10 1 \
            "$(calc '%.1f' "${R[goodput.n1.plain.bps]} / 1000000")" "$(ratio "${R[goodput.n1.plain.bps]}" 10000000)" \
            "${R[goodput.n1.plain.retransmits]:--}" - - -
    fi
    for c in n1 n2 n4 n8 unequal; do
        [ -n "${R[goodput.$c.rates_mbit]:-}" ] || continue
        n=$(wc -w <<<"${R[goodput.$c.rates_mbit]}")
        for p in 1 4; do
            printf '%s\t' "$n$([ "$c" = unequal ] && echo ", unequal")"
            goodput_fields "$c" "$p"
        done
    done
}

scale_ns() {
    local n
    for n in 8 64 256; do [ -n "${R[scale.$n.attach.us]:-}" ] && echo "$n"; done
}

table_scale() {
    local n a
    printf 'lines\tattach all\tper line\tstatus\tstatus --json\tdetach all\tifup-local not ours\tifdown-local one line\tifup-local one line\n'
    for n in $(scale_ns); do
        a=$(med "scale.$n.attach.us")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$(ms "$a")" "$(calc '%.2f' "$a / 1000 / $n")" \
            "$(ms "$(med "scale.$n.status.us")")" "$(ms "$(med "scale.$n.status_json.us")")" \
            "$(ms "$(med "scale.$n.detach.us")")" "$(ms "$(med "scale.$n.hook_notours.us")")" \
            "$(ms "$(med "scale.$n.hook_detach.us")")" "$(ms "$(med "scale.$n.hook_attach.us")")"
    done
}

# slopes CMD: per-line cost in ms between 8 and 64 lines, and between 64 and 256, and their
# ratio ("-" without all three scales).
slopes() {
    local a b c
    a=$(med "scale.8.$1.us")
    b=$(med "scale.64.$1.us")
    c=$(med "scale.256.$1.us")
    if [ "$a" = - ] || [ "$b" = - ] || [ "$c" = - ]; then
        echo "- - -"
        return
    fi
    awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { s1 = (b - a) / 56 / 1000; s2 = (c - b) / 192 / 1000
        printf "%.2f %.2f %s\n", s1, s2, (s1 > 0 ? sprintf("%.2f", s2 / s1) : "-") }'
}

table_growth() {
    local cmd s1 s2 r a c
    printf 'command\t8 lines ms\t256 lines ms\tx (lines x32)\tms per extra line, 8->64\tms per extra line, 64->256\tslope ratio\n'
    for cmd in attach status status_json detach hook_notours hook_attach; do
        read -r s1 s2 r <<<"$(slopes "$cmd")"
        a=$(med "scale.8.$cmd.us")
        c=$(med "scale.256.$cmd.us")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(scale_cmd_name "$cmd")" "$(ms "$a")" "$(ms "$c")" "$(ratio "$c" "$a")" "$s1" "$s2" "$r"
    done
}

scale_cmd_name() {
    case $1 in
    attach) echo "teqlctl attach (all lines)" ;;
    status) echo "teqlctl status" ;;
    status_json) echo "teqlctl status --json" ;;
    detach) echo "teqlctl detach (all lines)" ;;
    hook_notours) echo "ifup-local eth0 (not ours)" ;;
    hook_detach) echo "ifdown-local eth2 (one line)" ;;
    hook_attach) echo "ifup-local eth2 (one line)" ;;
    esac
}

table_rss() {
    local n
    printf 'lines\tattach all\tstatus\tstatus --json\tifup-local not ours\tifdown-local one line\tifup-local one line\tdetach all\n'
    for n in 8 64 256; do
        [ -n "${R[rss.$n.status.kb]:-}" ] || continue
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "${R[rss.$n.attach.kb]:--}" "${R[rss.$n.status.kb]:--}" \
            "${R[rss.$n.status_json.kb]:--}" "${R[rss.$n.hook_notours.kb]:--}" "${R[rss.$n.hook_detach.kb]:--}" \
            "${R[rss.$n.hook_attach.kb]:--}" "${R[rss.$n.detach.kb]:--}"
    done
}

# ---------------------------------------------------------------- targets

# verdict OK_EXPR: "met" / "not met" / "-" (awk boolean over figures; "-" when one is missing).
verdict() {
    case $1 in
    -* | *\ -*) echo "not measured" ;;
    *) awk "BEGIN { print (($1) ? \"met\" : \"NOT met\") }" ;;
    esac
}

# worst_share CASE P: the worst relative deviation (%) of a line's share from 1/N.
worst_share() {
    goodput_fields "$1" "$2" 2>/dev/null | awk -F'\t' '{ print $8 }'
}

table_targets() {
    local st v r shell_m m frac dev s1 s2 sr st256 cmd
    printf 'target\tfigure\tverdict\n'
    for st in unloaded loaded; do
        shell_m=$(med "bringup.$st.shell.us")
        for v in up hooks; do
            m=$(med "bringup.$st.$v.us")
            r=$(ratio "$m" "$shell_m")
            printf '%s\t%s\t%s\n' "1. $(variant_name "$v") <= 1/10 of the shell's time (sch_teql $st before)" \
                "$r of the shell's time ($(ms "$m") vs $(ms "$shell_m") ms)" "$(verdict "$r <= 0.10")"
        done
    done
    frac=$(ratio "${R[goodput.n4.p1.bps]:--}" 40000000)
    printf '%s\t%s\t%s\n' "2. one stream over 4 x 10 Mbit/s >= 0.9 of the sum" \
        "$frac ($(calc '%.1f' "${R[goodput.n4.p1.bps]:--} / 1000000") of 40 Mbit/s)" "$(verdict "$frac >= 0.9")"
    dev=$(worst_share n4 1)
    dev=${dev:--}
    printf '%s\t%s\t%s\n' "2. every line's share within 2% of 1/N (one stream, 4 lines)" \
        "worst line $dev% off 1/4 (relative)" "$(verdict "$dev <= 2")"
    for cmd in attach status detach; do
        read -r s1 s2 sr <<<"$(slopes "$cmd")"
        printf '%s\t%s\t%s\n' "3. linear growth: $(scale_cmd_name "$cmd")" \
            "$s1 ms/line (8->64), $s2 ms/line (64->256)" "$(verdict "$sr <= 2")"
    done
    st256=$(med scale.256.status.us)
    printf '%s\t%s\t%s\n' "3. status of 256 lines well under a second" "$(ms "$st256") ms" "$(verdict "$st256 < 1000000")"
}

# ---------------------------------------------------------------- output

print_report() {
    local kind="${R[env.mode]:-?} run"
    echo "bench: $kind, teqlctl ${R[host.version]:-?} (commit ${R[host.commit]:-?}$([ "${R[host.dirty]:-}" = yes ] && echo ", uncommitted changes")), kernel ${R[env.kernel]:-?} under TCG, ${R[env.guest_cpus]:-?} vCPUs; host $(host_line)"
    if [ "${R[host.overlap_seconds]:-0}" != 0 ]; then
        echo "bench: WARNING: another VM ran during about ${R[host.overlap_seconds]} s of this run: timings are skewed"
    fi
    echo
    echo "1. Bring-up of a 4-line bundle (${R[env.rounds]:-?} rounds, alternating; ms)"
    table_bringup | render_text
    echo "   same kernel state as the shell's: sch_teql unloaded ${R[bringup.unloaded.same_result]:--}, loaded ${R[bringup.loaded.same_result]:--}"
    echo
    echo "   Hooks for an interface that is not ours (${R[env.notours_runs]:-?} calls each):"
    table_notours | render_text
    echo
    echo "2. Goodput through teql0 (iperf3 ${R[env.iperf_secs]:-?} s after ${R[env.iperf_omit]:-?} s left out)"
    table_goodput | render_text
    echo
    echo "3. Scale (${R[env.scale_reps]:-?} repetitions, median ms; sch_teql loaded before)"
    table_scale | render_text
    if scale_ns | grep -qx 256; then
        echo
        table_growth | render_text
    fi
    echo
    echo "5. Peak RSS, kB (${R[env.rss_tool]:-?}; /bin/true measured the same way: ${R[rss.floor.true.kb]:--} kB)"
    table_rss | render_text
    echo
    echo "Targets (reported, not asserted)"
    table_targets | render_text
}

host_line() {
    echo "${R[host.nproc]:-?} x ${R[host.cpu]:-?}"
}

# ---------------------------------------------------------------- plot

# write_plot PNG: goodput against lines, and the bring-up times, with gnuplot.
write_plot() {
    local png=$1 d c n st v
    d=$(mktemp -d) || return 1
    {
        echo "# lines sum_mbit p1_mbit p4_mbit"
        for c in n1 n2 n4 n8; do
            [ -n "${R[goodput.$c.rates_mbit]:-}" ] || continue
            n=${c#n}
            printf '%s %s %s %s\n' "$n" $((n * 10)) \
                "$(calc '%.2f' "${R[goodput.$c.p1.bps]:--} / 1000000")" "$(calc '%.2f' "${R[goodput.$c.p4.bps]:--} / 1000000")"
        done
    } >"$d/goodput.dat"
    {
        echo "# lines sum_mbit p1_mbit p4_mbit (10/10/5/5)"
        printf '4 30 %s %s\n' "$(calc '%.2f' "${R[goodput.unequal.p1.bps]:--} / 1000000")" \
            "$(calc '%.2f' "${R[goodput.unequal.p4.bps]:--} / 1000000")"
    } >"$d/unequal.dat"
    {
        echo "# state shell up hooks up_ratio hooks_ratio"
        for st in unloaded loaded; do
            local sm um hm
            sm=$(med "bringup.$st.shell.us")
            um=$(med "bringup.$st.up.us")
            hm=$(med "bringup.$st.hooks.us")
            printf '"sch_teql %s" %s %s %s %s %s\n' "$st" "$(calc '%.1f' "$sm / 1000")" "$(calc '%.1f' "$um / 1000")" \
                "$(calc '%.1f' "$hm / 1000")" "$(ratio "$um" "$sm")" "$(ratio "$hm" "$sm")"
        done
    } >"$d/bringup.dat"
    local title
    title="teqlctl ${R[host.version]:-} (${R[host.commit]:-}), kernel ${R[env.kernel]:-} under TCG, ${R[host.date]:-}"
    gnuplot -c "$_report_dir/plot.gp" "$png" "$d" "$title" || {
        rm -rf "$d"
        return 1
    }
    rm -rf "$d"
}

# ---------------------------------------------------------------- BENCHMARKS.md

write_markdown() {
    local mins=$((${R[host.vm_seconds]:-0} / 60)) secs=$((${R[host.vm_seconds]:-0} % 60))
    cat <<EOF
# Benchmarks

Figures of one full run of \`bench/run --write\` (this file and
[bench/benchmarks.png](bench/benchmarks.png) are written by it; do not edit them by hand).

- **When:** ${R[host.date]:-?}
- **What:** teqlctl ${R[host.version]:-?}, commit ${R[host.commit]:-?}$([ "${R[host.dirty]:-}" = yes ] && echo " plus uncommitted changes to src/") (release build, ${R[host.binary_bytes]:-?} bytes)
- **On what:** a virtme-ng guest under **TCG emulation** (no KVM), Debian kernel ${R[env.kernel]:-?},
  ${R[env.guest_cpus]:-?} vCPUs, ${R[env.guest_mem_mb]:-?} MB; host: \`nproc\` = ${R[host.nproc]:-?}, ${R[host.cpu]:-?},
  ${R[host.qemu]:-?}, ${R[host.vng]:-?}. No other VM was running (bench/run waits for none).
- **Run time:** ${mins} min ${secs} s for the whole boot (\`bench/run --smoke\`, which CI runs: see the end).

Under TCG every process start costs about a hundred milliseconds (the floor below), so
absolute times are far above a real machine's; the ratios are what carries over. Figures are
medians unless a column says otherwise.

![goodput against lines, and bring-up times](bench/benchmarks.png)

## Targets

Reported, not asserted: a benchmark prints figures; no run fails because a target is missed.

$(table_targets | render_md)

## 1. Bring-up of a 4-line bundle

The lab of tests/vm/lib.sh (\`lab_up 4\`: four routers behind veth lines eth2..eth5) with the
office's ifcfg files (tests/vm/netscripts.sh \`ns_write_office 4\`). In one boot, ${R[env.rounds]:-?} rounds; each
round runs every variant once, in the reverse order every other round, and before each run
tears the bundle down (\`teqlctl down\`, the lines' rp_filter back to 0, \`modprobe -r sch_teql\`
when measuring "unloaded") and pauses half a second. Variants:

- **shell recipe**: \`bond_by_hand 4\` from tests/vm/lib.sh: modprobe, 4 x (sysctl, tc), 3 x ip;
  12 process starts. It always runs \`modprobe sch_teql\`, which is a no-op exec when the module is
  loaded; "without its modprobe" is the same recipe minus that line, for the loaded case. (Its
  test-harness guard, two more process starts, is switched off around the timed call.)
- **teqlctl up**: one process; it runs modprobe only when sch_teql is not loaded.
- **4 x ifup-local ethK**: the hook once per line, called as network-scripts calls it (fork and
  exec with cwd /etc/sysconfig/network-scripts and an environment of PATH only; the cleaning is
  done with shell builtins, not \`env -i\`, which would be one more exec per call). The first
  call runs modprobe when sch_teql is not loaded.
- **probes** (sch_teql loaded, same rounds, on the torn-down state): \`teqlctl --version\`, the
  binary's start and argument parsing alone, and \`teqlctl --dry-run up\`, which also reads the
  configuration and the kernel's state and plans, but takes no lock and changes nothing. With the
  process-start floor below they split teqlctl's time into start, reading, and applying.

Each variant's resulting kernel state (root qdiscs, links, addresses, routes, rp_filter) was
compared with the shell's in round 1: same with sch_teql unloaded:
**${R[bringup.unloaded.same_result]:--}**, loaded: **${R[bringup.loaded.same_result]:--}**.

$(table_bringup | render_md)

### Hooks for an interface that is not ours

Every interface of a box runs ifup-pre-local and ifup-local. Here eth0, a DHCP interface with
its own ifcfg file next to the office's, ${R[env.notours_runs]:-?} calls each with sch_teql loaded,
and once each with it not loaded; the floor is the same fork and exec of /bin/true.

$(table_notours | render_md)

$(notours_remark)

## 2. Bonded goodput

\`lab_up N\` with the given line rates (tbf on each router's uplink, burst ${R[env.lab_burst]:-?}), the office's
ifcfg files, \`teqlctl up\`, then iperf3 from the box to the internet host behind the routers:
${R[env.iperf_secs]:-?} s measured after ${R[env.iperf_omit]:-?} s left out (\`-O\`), 1 stream and 4 (\`-P 4\`). Goodput is
iperf3's received rate; "of sum" divides it by the sum of the line rates. Shares are each line's
part of the tx_packets sent by all lines during the run. The first row is the lab's own
ceiling: one line without teql (a host route via its router). TCP over Ethernet cannot exceed
1448/1514 = 0.956 of a line rate that tbf counts in frame bytes.

$(table_goodput | render_md)

teql sends packets round robin whatever the lines' speeds: with 10/10/5/5 Mbit/s every line
still gets a quarter of the packets, the slow lines' routers drop what exceeds their rate,
and TCP's losses cap the bundle near N times the slowest line or below.

## 3. Scale

N veth pairs, the peers in one namespace (no routers), an ifcfg file per line naming teql0
plus teql0's (with address and gateway) and eth0's; sch_teql loaded before. Each of
${R[env.scale_reps]:-?} repetitions: \`teqlctl attach\` of all N lines in one command, \`status\`, \`status --json\`,
the three hooks a box runs (ifup-local for eth0, not ours; ifdown-local and ifup-local for one
line), then \`teqlctl detach\` of all N lines. The lines' rp_filter is reset to 0 before each attach.

$(table_scale | render_md)

Growth from 8 to 256 lines; "linear" in the targets means the cost of one more line between
64 and 256 lines is at most twice what it is between 8 and 64 (quadratic growth would make it
4.4 times).

$(table_growth | render_md)

## 4. Failover

Not measured: how fast the bundle stops using a dead line needs the line health check
(\`teqlctl check\`), which does not exist yet. It is the next issue; the benchmark gets its
failover measurement with it.

## 5. Memory

Peak resident set size in kB (${R[env.rss_tool]:-?}), one run of each command at each scale. The
wrapper's own share is small: /bin/true measured the same way peaks at ${R[rss.floor.true.kb]:--} kB.

$(table_rss | render_md)

## Running it

    bench/run                # full run: prints these tables (about ${mins} min under TCG)
    bench/run --write        # the same, then rewrites BENCHMARKS.md and bench/benchmarks.png
    bench/run --smoke        # CI: 1 round, 2 s iperf3 runs, 1 and 4 lines, scale 8 only

The last line is \`bench: N passed, N failed\`: measurements that ran and that failed. Missed
targets never fail a run. bench/run waits for any other VM on the machine to end before it
boots, since they share the CPUs. --write needs gnuplot (Debian: gnuplot-nox).
EOF
}

# notours_remark: what the not-loaded calls showed, in words.
notours_remark() {
    if [ "${R[hook.notours.ifup-pre-local.loads_sch_teql]:-}" = yes ]; then
        echo "Note: ifup-pre-local for eth0, which is neither a line nor a master, loaded sch_teql when it was not"
        echo "loaded (it loads the module for any interface with an ifcfg file once the configuration names a"
        echo "teql master), so its first call at boot costs a modprobe."
    fi
    if [ "${R[hook.notours.ifup-local.loads_sch_teql]:-}" = yes ]; then
        echo "Note: ifup-local for eth0 loaded sch_teql although eth0 is not ours."
    fi
}
