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
    *:version | *:dryrun | *:true | *:modprobe) echo 1 ;;
    esac
}

variant_name() {
    case $1 in
    shell) echo "shell recipe (bond_by_hand 4)" ;;
    shell_nomod) echo "shell recipe without its modprobe" ;;
    up) echo "teqlctl up" ;;
    hooks) echo "4 x ifup-local ethK" ;;
    true) echo "probe: /bin/true (the process-start floor)" ;;
    modprobe) echo "probe: modprobe sch_teql alone" ;;
    version) echo "probe: teqlctl --version (the binary's start)" ;;
    dryrun) echo "probe: teqlctl --dry-run up (read, plan; no change)" ;;
    esac
}

table_bringup() {
    local st v shell_m m
    printf 'sch_teql before\tvariant\tprocess starts\tmedian ms\tmin-max ms\tvs shell\n'
    for st in unloaded loaded; do
        shell_m=$(med "bringup.$st.shell.us")
        for v in shell shell_nomod up hooks true modprobe version dryrun; do
            [ -n "${R[bringup.$st.$v.us]:-}" ] || continue
            m=$(med "bringup.$st.$v.us")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$st" "$(variant_name "$v")" "$(starts "$st" "$v")" \
                "$(ms "$m")" "$(range "bringup.$st.$v.us")" "$(ratio "$m" "$shell_m")"
        done
    done
}

# clock_line: the timer and its resolution as measured in the guest.
clock_line() {
    echo "timer: ${R[clock.timer]:-?}; guest clocksource ${R[clock.source]:-?} (available: ${R[clock.available]:-?}), clock_getres ${R[clock.getres_ns]:-?} ns; smallest step between back-to-back reads ${R[clock.min_step_us]:-?} us (${R[clock.repeats]:-?} of ${R[clock.reads]:-?} reads repeated the previous value); sleep 0.25 read as $(ms "${R[clock.sleep_250ms_us]:--}") ms"
}

# sub A B: A - B in microseconds, or "-".
sub() {
    if [ "$1" = - ] || [ "$2" = - ]; then echo -; else echo $(($1 - $2)); fi
}

# table_breakdown: where `teqlctl up`'s time goes, from the probes' medians (differences of
# medians of separate runs: approximate).
table_breakdown() {
    local t mp v d u uu mu shn
    t=$(med bringup.loaded.true.us)
    v=$(med bringup.loaded.version.us)
    d=$(med bringup.loaded.dryrun.us)
    u=$(med bringup.loaded.up.us)
    uu=$(med bringup.unloaded.up.us)
    mu=$(med bringup.unloaded.modprobe.us)
    mp=$(med bringup.loaded.modprobe.us)
    shn=$(med bringup.loaded.shell_nomod.us)
    printf 'part\tms\tof teqlctl up\tfrom\n'
    printf '%s\t%s\t%s\t%s\n' "any process start (fork + exec + exit of /bin/true)" "$(ms "$t")" "$(ratio "$t" "$u")" "/bin/true"
    printf '%s\t%s\t%s\t%s\n' "teqlctl's own start beyond that (load, link, parse)" "$(ms "$(sub "$v" "$t")")" "$(ratio "$(sub "$v" "$t")" "$u")" "--version - /bin/true"
    printf '%s\t%s\t%s\t%s\n' "its work: configuration, kernel state, plan, lock, apply" "$(ms "$(sub "$u" "$v")")" "$(ratio "$(sub "$u" "$v")" "$u")" "up - --version"
    printf '%s\t%s\t%s\t%s\n' "teqlctl up, sch_teql loaded" "$(ms "$u")" 1.00 "up"
    printf '%s\t%s\t%s\t%s\n' "(--dry-run up: the same reading and planning, no lock, no change; prints the plan)" "$(ms "$d")" "$(ratio "$d" "$u")" "--dry-run up"
    printf '%s\t%s\t%s\t%s\n' "+ loading sch_teql (sch_teql not loaded)" "$(ms "$(sub "$uu" "$u")")" "-" "up unloaded - up loaded; modprobe alone: $(ms "$mu") ms"
    printf '%s\t%s\t%s\t%s\n' "shell recipe: one command on average (11, loaded)" "$(ms "$(calc '%d' "$shn / 11")")" "-" "shell without modprobe / 11"
    printf '%s\t%s\t%s\t%s\n' "shell recipe: its no-op modprobe (loaded)" "$(ms "$mp")" "-" "modprobe alone, loaded"
}

# mega N: N / 1e6 with two decimals, or "-".
mega() {
    if [ "$1" = - ]; then echo -; else calc '%.2f' "$1 / 1000000"; fi
}

# table_instr: the headline: instructions executed by the whole bring-up (callgrind in the
# guest; every process from its loader's first instruction; the kernel's work not counted).
table_instr() {
    local st own other
    printf 'sch_teql before\tshell recipe: M instructions (processes)\tteqlctl up: M instructions (processes)\tteqlctl up / shell\tof which modprobe sch_teql: M, shell / up\tmodprobe left out: up / shell\tTCG time, up / shell (above)\n'
    for st in unloaded loaded; do
        [ -n "${R[instr.$st.up]:-}" ] || continue
        own=-
        other=-
        if [ -n "${R[instr.$st.up.modprobe]:-}" ]; then
            own=$(calc '%d' "${R[instr.$st.up]}-${R[instr.$st.up.modprobe]}")
            other=$(calc '%d' "${R[instr.$st.shell]}-${R[instr.$st.shell.modprobe]}")
        fi
        printf '%s\t%s (%s)\t%s (%s)\t%s\t%s / %s\t%s\t%s\n' "$st" "$(mega "${R[instr.$st.shell]}")" "${R[instr.$st.shell.processes]}" \
            "$(mega "${R[instr.$st.up]}")" "${R[instr.$st.up.processes]}" "$(ratio "${R[instr.$st.up]}" "${R[instr.$st.shell]}")" \
            "$(mega "${R[instr.$st.shell.modprobe]:--}")" "$(mega "${R[instr.$st.up.modprobe]:--}")" "$(ratio "$own" "$other")" \
            "$(ratio "$(med "bringup.$st.up.us")" "$(med "bringup.$st.shell.us")")"
    done
}

# instr_line: the binary's size and start.
instr_line() {
    [ -n "${R[instr.version]:-}" ] || return 0
    echo "the binary: $(calc '%d' "${R[binary.bytes]:-0} / 1024") KiB (release, stripped); its start alone (teqlctl --version): $(mega "${R[instr.version]}") M instructions, $(ratio "${R[instr.version]}" "${R[instr.loaded.up]:--}") of teqlctl up's"
}

# table_codesize: distinct and executed instructions (host, callgrind) next to the guest's
# median time of the same program, and the time per thousand distinct instructions.
table_codesize() {
    local name what t d
    printf 'program\tdistinct instructions run\tinstructions executed\tms under TCG (median)\tms per 1000 distinct\n'
    for name in true tc ip sysctl teqlctl_version teqlctl_dryrun_up; do
        [ -n "${R[code.$name.distinct]:-}" ] || continue
        case $name in
        true) what="/bin/true" t=$(med bringup.loaded.true.us) ;;
        tc) what="tc qdisc show" t=- ;;
        ip) what="ip link show" t=- ;;
        sysctl) what="sysctl (read)" t=- ;;
        teqlctl_version) what="teqlctl --version" t=$(med bringup.loaded.version.us) ;;
        teqlctl_dryrun_up) what="teqlctl --dry-run up (host: 1 line; guest: 4)" t=$(med bringup.loaded.dryrun.us) ;;
        esac
        d=${R[code.$name.distinct]}
        printf '%s\t%s\t%s\t%s\t%s\n' "$what" "$d" "${R[code.$name.executed]:--}" "$(ms "$t")" \
            "$(if [ "$t" = - ]; then echo -; else calc '%.1f' "$t / $d"; fi)"
    done
    t=$(med bringup.loaded.shell_nomod.us)
    [ "$t" = - ] || printf '%s\t%s\t%s\t%s\t%s\n' "shell recipe's commands (sysctl, tc, ip), on average" \
        "~${R[code.tc.distinct]:--}" - "$(ms "$(calc '%d' "$t / 11")")" \
        "$(if [ -z "${R[code.tc.distinct]:-}" ]; then echo -; else calc '%.1f' "$t / 11 / ${R[code.tc.distinct]}"; fi)"
}

# floor_ratio: what a bring-up that is one bare process start (/bin/true) would score
# against the shell recipe, with sch_teql loaded.
floor_ratio() {
    ratio "$(med bringup.loaded.true.us)" "$(med bringup.loaded.shell.us)"
}

# table_noaslr: the same variants with ASLR off in the guest, next to ASLR on (loaded).
table_noaslr() {
    local v on off
    printf 'variant\tASLR on (above), median ms\tASLR off, median ms\toff / on\n'
    for v in shell_nomod up true version dryrun; do
        [ -n "${R[bringup.noaslr.$v.us]:-}" ] || continue
        on=$(med "bringup.loaded.$v.us")
        off=$(med "bringup.noaslr.$v.us")
        printf '%s\t%s\t%s\t%s\n' "$(variant_name "$v")" "$(ms "$on")" "$(ms "$off")" "$(ratio "$off" "$on")"
    done
    on=$(ratio "$(med bringup.loaded.up.us)" "$(med bringup.loaded.shell_nomod.us)")
    off=$(ratio "$(med bringup.noaslr.up.us)" "$(med bringup.noaslr.shell_nomod.us)")
    printf '%s\t%s\t%s\t%s\n' "teqlctl up / shell without modprobe" "$on" "$off" -
}

# trace_line: what strace saw of one `teqlctl up`.
trace_line() {
    local st
    for st in loaded unloaded; do
        [ -n "${R[trace.$st.syscalls]:-}" ] || continue
        echo "teqlctl up under strace, sch_teql $st: ${R[trace.$st.syscalls]} system calls, ${R[trace.$st.execve]:-?} execve (its own included), ${R[trace.$st.clone]:-?} clone/fork, ${R[trace.$st.netlink_sends]:-?} sendto/sendmsg (netlink requests), ${R[trace.$st.mmap]:-?} mmap/mprotect, ${R[trace.$st.file_opens]:-?} opens, ${R[trace.$st.proc_sys_writes]:-?} /proc/sys writes"
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
    if [ -n "${R[goodput.plain.bps]:-}" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "1, no teql (lab ceiling)" 10 10 1 \
            "$(calc '%.1f' "${R[goodput.plain.bps]} / 1000000")" "$(ratio "${R[goodput.plain.bps]}" 10000000)" \
            "${R[goodput.plain.retransmits]:--}" - - -
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
    # A missing figure is a lone "-" (a negative number is a figure).
    case " $1 " in
    *" - "*) echo "not measured" ;;
    *) awk "BEGIN { print (($1) ? \"met\" : \"NOT met\") }" ;;
    esac
}

# worst_share CASE P: the worst relative deviation (%) of a line's share from 1/N.
worst_share() {
    goodput_fields "$1" "$2" 2>/dev/null | awk -F'\t' '{ print $8 }'
}

# table_failover: the failover case's figures.
table_failover() {
    local c=failover.n4 m=- lo=- hi=- n=-
    read -r m lo hi n <<<"$(stats "$c.detach_ms" || echo - - - -)"
    printf 'lines\ttimer interval\tcut -> detach: median (min-max, cuts)\tone failing round (check alone; from 9p)\tpings lost before the detach\tpings lost after it\n'
    printf '%s\t%s s\t%s ms (%s-%s, n=%s)\t%s ms (%s ms; %s ms)\t%s of %s (%s)\t%s of %s\n' 4 "${R[$c.interval_s]:--}" "$m" "$lo" "$hi" "$n" \
        "${R[$c.round_ms]:--}" "${R[$c.round_inner_ms]:--}" "${R[$c.round_9p_ms]:--}" "${R[$c.lost_during]:--}" "${R[$c.sent_during]:--}" \
        "$(ratio "${R[$c.lost_during]:--}" "${R[$c.sent_during]:--}")" "${R[$c.lost_after]:--}" "${R[$c.sent_after]:--}"
}

# mp_cases: the multipath goodput cases this run measured.
mp_cases() {
    local c
    for c in equal unequal; do [ -n "${R[multipath.$c.rates_mbit]:-}" ] && echo "$c"; done
}

# mp_lines_used KEY: "3 of 3", and which run it was when the hash left a line without a flow
# in the runs before (bench/multipath.sh mp_iperf repeats such a 16-flow run).
mp_lines_used() {
    local tries=${R[$1.tries]:-1}
    printf '%s of 3' "${R[$1.lines_used]:--}"
    [ "$tries" -gt 1 ] || return 0
    if [ "${R[$1.lines_used]:-0}" -ge 3 ]; then
        printf ' (run %s; the %s before missed a line)' "$tries" "$((tries - 1))"
    else
        printf ' (each of %s runs missed a line)' "$tries"
    fi
}

# table_multipath: multipath goodput next to TEQL's on lines of the same rates.
table_multipath() {
    local c p sum t teql
    printf 'lines Mbit/s\tweights\tflows\tmultipath Mbit/s\tof sum\tlines used\tTEQL Mbit/s (same rates)\tof sum\n'
    for c in $(mp_cases); do
        sum=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"${R[multipath.$c.rates_mbit]}")
        t=teql3eq
        [ "$c" = unequal ] && t=teql3un
        for p in 1 4 16; do
            [ -n "${R[multipath.$c.p$p.bps]:-}${R[goodput.$t.p$p.bps]:-}" ] || continue
            teql=${R[goodput.$t.p$p.bps]:--}
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${R[multipath.$c.rates_mbit]}" "${R[multipath.$c.weights]:--}" "$p" \
                "$(calc '%.1f' "${R[multipath.$c.p$p.bps]:--} / 1000000")" "$(ratio "${R[multipath.$c.p$p.bps]:--}" "$sum * 1000000")" \
                "$(mp_lines_used "multipath.$c.p$p")" "$(calc '%.1f' "$teql / 1000000")" "$(ratio "$teql" "$sum * 1000000")"
        done
    done
}

# table_isp_failover KEY WHAT ROUND: the failover figures of a bundle on the ISP lab (section 6:
# multipath.failover, out of the group; section 7: connection.failover, out of the weights map).
table_isp_failover() {
    local c=$1 m=- lo=- hi=- n=-
    read -r m lo hi n <<<"$(stats "$c.out_ms" || echo - - - -)"
    printf 'lines\ttimer interval\tcut -> out of %s: median (min-max, cuts)\t%s, idle (check alone)\tthe same under 16 flows\tLAN flows on the other lines\tof them broken\tof them idle a whole second\tflows on the dead line\n' "$2" "$3"
    printf '%s\t%s s\t%s ms (%s-%s, n=%s)\t%s ms (%s ms)\t%s ms (%s ms)\t%s\t%s\t%s\t%s\n' "3 (10/5/5, 2:1:1)" "${R[$c.interval_s]:--}" "$m" "$lo" "$hi" "$n" \
        "${R[$c.round_idle_ms]:--}" "${R[$c.round_idle_inner_ms]:--}" "${R[$c.round_flows_ms]:--}" "${R[$c.round_flows_inner_ms]:--}" \
        "${R[$c.flows_others]:--}" "${R[$c.broken_others]:--}" "${R[$c.idle_others]:--}" "${R[$c.flows_dead]:--}"
}

table_mp_failover() {
    table_isp_failover multipath.failover "the group" "the round that takes it out"
}

# cn_worst_share KIND: the largest distance (in thousandths) of a line's share of the KIND
# (lan, box) connections from its weight's (2:1:1: 500, 250, 250), or "-".
cn_worst_share() {
    local c=${R[connection.shares.$1.counts]:-}
    [ -n "$c" ] || { echo -; return; }
    awk '{ t = $1 + $2 + $3; if (t == 0) { print "-"; exit }
           split("500 250 250", w, " "); m = 0
           for (i = 1; i <= 3; i++) { d = $i * 1000 / t - w[i]; if (d < 0) d = -d; if (d > m) m = d }
           printf "%.0f\n", m }' <<<"$c"
}

# table_connection: connection goodput next to multipath's on the same lines.
table_connection() {
    local c=connection.p16 m=multipath.unequal.p16
    printf 'lines Mbit/s\tweights\tflows\tconnection Mbit/s\tof sum\tlines used\tmultipath Mbit/s (section 6)\tof sum\n'
    [ -n "${R[$c.bps]:-}" ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${R[connection.rates_mbit]:--}" "${R[connection.weights]:--}" 16 \
        "$(calc '%.1f' "${R[$c.bps]} / 1000000")" "$(ratio "${R[$c.bps]}" 20000000)" "$(mp_lines_used "$c")" \
        "$(calc '%.1f' "${R[$m.bps]:--} / 1000000")" "$(ratio "${R[$m.bps]:--}" 20000000)"
}

# table_cn_shares: each line's share of new connections against its weight's.
table_cn_shares() {
    local k n t e1 e2 e3
    printf '%s\n' $'new connections from\tsent\tarrived\teth1 (weight 2: 0.50)\teth2 (weight 1: 0.25)\teth3 (weight 1: 0.25)\tworst line, off its weight\'s share'
    for k in lan box; do
        [ -n "${R[connection.shares.$k.counts]:-}" ] || continue
        read -r e1 e2 e3 <<<"${R[connection.shares.$k.counts]}"
        t=$((e1 + e2 + e3))
        n=$([ "$k" = lan ] && echo "the LAN host" || echo "the box itself")
        printf '%s\t%s\t%s\t%s (%s)\t%s (%s)\t%s (%s)\t%s\n' "$n" "${R[connection.shares.$k.sent]:--}" "$t" \
            "$e1" "$(ratio "$e1" "$t")" "$e2" "$(ratio "$e2" "$t")" "$e3" "$(ratio "$e3" "$t")" \
            "$(calc '%.3f' "$(cn_worst_share "$k") / 1000")"
    done
}

table_cn_failover() {
    table_isp_failover connection.failover "the weights map" "the round that changes the weights"
}

# tn_cases: the tunnel cases this run measured, in order.
tn_cases() {
    local c
    for c in eq2 un2 eq4 un4; do [ -n "${R[tunnel.$c.rates_mbit]:-}" ] && echo "$c"; done
}

# tn_case_name CASE: "2 equal", "4 unequal"...
tn_case_name() {
    local n=${1#??}
    case $1 in
    eq*) echo "$n equal" ;;
    *) echo "$n unequal" ;;
    esac
}

# tn_fig KEY SUM_BPS: "Mbit/s (of sum)" of R[KEY.bps], or "-".
tn_fig() {
    local b=${R[$1.bps]:--}
    [ "$b" = - ] && { echo -; return; }
    echo "$(calc '%.1f' "$b / 1000000") ($(ratio "$b" "$2"))"
}

# table_tunnel: one TCP stream over tunnelled lines against round robin's prediction, next to a
# multipath and a connection bundle of the same lines.
table_tunnel() {
    local c rates sum pred w
    printf 'lines\tMbit/s\tpredicted for tunnels (slowest x lines)\ttunnels: Mbit/s (of sum)\ttheir retransmits\tmultipath (of sum; weights, lines used)\tconnection (of sum; lines used)\n'
    for c in $(tn_cases); do
        rates=${R[tunnel.$c.rates_mbit]}
        w=${R[tunnel.$c.weights]:--}
        read -r sum pred <<<"$(awk '{ s = 0; m = $1; for (i = 1; i <= NF; i++) { s += $i; if ($i < m) m = $i }
            print s, m * NF }' <<<"$rates")"
        printf '%s\t%s\t%s (%s)\t%s\t%s\t%s; %s, %s\t%s; %s\n' "$(tn_case_name "$c")" "${rates// //}" \
            "$pred" "$(ratio "$pred" "$sum")" "$(tn_fig "tunnel.$c.tunnel" "$sum * 1000000")" "${R[tunnel.$c.tunnel.retransmits]:--}" \
            "$(tn_fig "tunnel.$c.multipath" "$sum * 1000000")" "${w// /:}" "${R[tunnel.$c.multipath.lines_used]:--}" \
            "$(tn_fig "tunnel.$c.connection" "$sum * 1000000")" "${R[tunnel.$c.connection.lines_used]:--}"
    done
}

# tn_mbit_stats KEY: "median (min-max)" in Mbit/s of the bit/s list R[KEY], or "-".
tn_mbit_stats() {
    local m lo hi n
    read -r m lo hi n <<<"$(stats "$1" || echo - - - -)"
    [ "$m" = - ] && { echo -; return; }
    echo "$(calc '%.1f' "$m / 1000000") ($(calc '%.1f' "$lo / 1000000")-$(calc '%.1f' "$hi / 1000000"))"
}

# table_tn_failover: cut -> out on both ends, and the stream before and after.
table_tn_failover() {
    local c=tunnel.failover om=- olo=- ohi=- on=- am=- alo=- ahi=- an=- sum=20000000
    read -r om olo ohi on <<<"$(stats "$c.office_ms" || echo - - - -)"
    read -r am alo ahi an <<<"$(stats "$c.agg_ms" || echo - - - -)"
    printf 'lines\ttimer interval\tcut -> out of teql0 (office): median (min-max, cuts)\tcut -> out of teql1 (aggregator)\tstream before the cut (its seconds 1-3), Mbit/s\tits last 3 s, Mbit/s\tof the sum\n'
    printf '%s\t%s s\t%s ms (%s-%s, n=%s)\t%s ms (%s-%s, n=%s)\t%s\t%s\t%s\n' "2 (10/10)" "${R[$c.interval_s]:--}" \
        "$om" "$olo" "$ohi" "$on" "$am" "$alo" "$ahi" "$an" \
        "$(tn_mbit_stats "$c.before_bps")" "$(tn_mbit_stats "$c.tail_bps")" "$(ratio "$(med "$c.tail_bps")" "$sum")"
}

table_targets() {
    local st v r shell_m m frac dev s1 s2 sr st256 cmd
    printf 'target\tfigure\tverdict\n'
    for st in unloaded loaded; do
        r=$(ratio "${R[instr.$st.up]:--}" "${R[instr.$st.shell]:--}")
        printf '%s\t%s\t%s\n' "1. teqlctl up <= 1/10 of the shell's instructions (headline; sch_teql $st before)" \
            "$r of the shell's ($(mega "${R[instr.$st.up]:--}") vs $(mega "${R[instr.$st.shell]:--}") M)" "$(verdict "$r <= 0.10")"
    done
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
        local v
        if [ "$s1" != - ] && [ "$s2" != - ] && awk -v a="$s1" -v b="$s2" 'BEGIN { exit !(a <= 0 || b < 0) }'; then
            # More lines measured faster than fewer: the noise is larger than the growth.
            v="inconclusive (noise)"
        else
            v=$(verdict "$sr <= 2")
        fi
        printf '%s\t%s\t%s\n' "3. linear growth: $(scale_cmd_name "$cmd")" \
            "$s1 ms/line (8->64), $s2 ms/line (64->256)" "$v"
    done
    st256=$(med scale.256.status.us)
    printf '%s\t%s\t%s\n' "3. status of 256 lines well under a second" "$(ms "$st256") ms" "$(verdict "$st256 < 1000000")"
    local d la=${R[failover.n4.lost_after]:--} dm=- dlo=- dhi=- dn=-
    read -r dm _ dhi dn <<<"$(stats failover.n4.detach_ms || echo - - - -)"
    d=$dhi
    printf '%s\t%s\t%s\n' "4. a dead line of 4 detached within 3 s of the cut (shipped timer; the worst of $dn cuts)" "$d ms (median $dm ms)" "$(verdict "$d <= 3000")"
    printf '%s\t%s\t%s\n' "4. not one packet lost after the detach" "$la of ${R[failover.n4.sent_after]:--} pings" "$(verdict "$la == 0")"
    frac=$(ratio "${R[multipath.unequal.p16.bps]:--}" 20000000)
    printf '%s\t%s\t%s\n' "6. multipath: 16 LAN flows over 10+5+5 Mbit/s (2:1:1) >= 0.85 of the sum" \
        "$frac ($(calc '%.1f' "${R[multipath.unequal.p16.bps]:--} / 1000000") of 20 Mbit/s)" "$(verdict "$frac >= 0.85")"
    read -r dm _ dhi dn <<<"$(stats multipath.failover.out_ms || echo - - - -)"
    printf '%s\t%s\t%s\n' "6. multipath: a dead ISP out of the group within 3 s (shipped timer; the worst of $dn cuts)" \
        "$dhi ms (median $dm ms)" "$(verdict "$dhi <= 3000")"
    local st=${R[multipath.failover.broken_others]:--}
    printf '%s\t%s\t%s\n' "6. multipath: no LAN flow on the other lines stalls (broken: under a quarter of its rate, or silent at the end)" \
        "$st of ${R[multipath.failover.flows_others]:--} flows ($(calc '%d' "${R[multipath.failover.idle_others]:--}") idle a whole second)" "$(verdict "$st == 0")"
    frac=$(ratio "${R[connection.p16.bps]:--}" 20000000)
    printf '%s\t%s\t%s\n' "7. connection: 16 LAN flows over 10+5+5 Mbit/s (2:1:1) >= 0.85 of the sum" \
        "$frac ($(calc '%.1f' "${R[connection.p16.bps]:--} / 1000000") of 20 Mbit/s)" "$(verdict "$frac >= 0.85")"
    local wl wb
    wl=$(cn_worst_share lan) wb=$(cn_worst_share box)
    printf '%s\t%s\t%s\n' "7. connection: every line's share of new connections within 0.08 of its weight's (LAN; the box's own)" \
        "worst line $(calc '%.3f' "$wl / 1000") off; $(calc '%.3f' "$wb / 1000") off" "$(verdict "$wl <= 80 && $wb <= 80")"
    read -r dm _ dhi dn <<<"$(stats connection.failover.out_ms || echo - - - -)"
    printf '%s\t%s\t%s\n' "7. connection: a dead ISP out of the weights map within 3 s (shipped timer; the worst of $dn cuts)" \
        "$dhi ms (median $dm ms)" "$(verdict "$dhi <= 3000")"
    st=${R[connection.failover.broken_others]:--}
    printf '%s\t%s\t%s\n' "7. connection: no LAN flow on the other lines stalls" \
        "$st of ${R[connection.failover.flows_others]:--} flows ($(calc '%d' "${R[connection.failover.idle_others]:--}") idle a whole second)" "$(verdict "$st == 0")"
}

# ---------------------------------------------------------------- sanity

# Sanity checks of the figures, one per measurement that ran: every figure it should have left
# is there and is a plausible number. Targets play no part: a slow or unfair result passes;
# a missing, empty, zero or absurd one fails.

# _insane WHY: prints why and fails.
_insane() {
    echo "bench: insane figure: $1" >&2
    return 1
}

# us_list KEY [COUNT]: R[KEY] is COUNT (default: at least one) times in microseconds, each
# above 0 and below 10 minutes.
us_list() {
    local v=${R[$1]:-} x n=0
    [ -n "$v" ] || _insane "$1 is missing" || return 1
    for x in $v; do
        [[ "$x" =~ ^[0-9]+$ ]] && [ "$x" -gt 0 ] && [ "$x" -lt 600000000 ] || _insane "$1 = '$v': '$x' is not a time in microseconds" || return 1
        n=$((n + 1))
    done
    [ -z "${2:-}" ] || [ "$n" = "$2" ] || _insane "$1 has $n figures, expected $2" || return 1
}

# pos_int KEY: R[KEY] is a whole number above 0.
pos_int() {
    if [[ "${R[$1]:-}" =~ ^[0-9]+$ ]] && [ "${R[$1]}" -gt 0 ]; then
        return 0
    fi
    _insane "$1 = '${R[$1]:-}' is not a number above 0"
}

# one_of KEY WORD...: R[KEY] is one of the words.
one_of() {
    local k=$1 w
    shift
    for w in "$@"; do [ "${R[$k]:-}" = "$w" ] && return 0; done
    _insane "$k = '${R[$k]:-}', expected one of: $*"
}

# _within_rates M K: K's lines' rates are recorded and M's rate is one they can carry (a little
# slack for iperf3's own accounting).
_within_rates() {
    local m=$1 k=$2 rates=${R[$2.rates_mbit]:-} sum
    [ -n "$rates" ] || _insane "$k.rates_mbit is missing" || return 1
    sum=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s * 1000000 }' <<<"$rates")
    pos_int "$m.bps" || return 1
    [ "${R[$m.bps]}" -le $((sum * 105 / 100)) ] || _insane "$m.bps = ${R[$m.bps]} exceeds the lines' $sum bit/s" || return 1
}

# sane MEASUREMENT: the figures of one measurement that ran.
sane() {
    local m=$1 rounds=${R[env.rounds]:-} reps=${R[env.scale_reps]:-} v k c p n rates sum d
    case $m in
    clock)
        pos_int clock.min_step_us && pos_int clock.reads && us_list clock.sleep_250ms_us 1 || return 1
        # The timer must resolve far below the times it measures (hundreds of ms).
        [ "${R[clock.min_step_us]}" -lt 5000 ] || _insane "the clock's smallest step is ${R[clock.min_step_us]} us" || return 1
        # sleep 0.25 must read as at least 250 ms and not absurdly more.
        [ "${R[clock.sleep_250ms_us]}" -ge 250000 ] && [ "${R[clock.sleep_250ms_us]}" -lt 5000000 ] \
            || _insane "sleep 0.25 read as ${R[clock.sleep_250ms_us]} us" || return 1
        ;;
    bringup.unloaded | bringup.loaded)
        k=${m#bringup.}
        v="shell up hooks true modprobe"
        [ "$k" = loaded ] && v+=" shell_nomod version dryrun"
        for c in $v; do us_list "bringup.$k.$c.us" "$rounds" || return 1; done
        # Different end states would make the comparison meaningless.
        one_of "bringup.$k.same_result" yes || return 1
        ;;
    bringup.noaslr)
        [ -n "${R[env.noaslr_variants]:-}" ] || _insane "env.noaslr_variants is missing" || return 1
        for c in ${R[env.noaslr_variants]}; do us_list "bringup.noaslr.$c.us" "$rounds" || return 1; done
        ;;
    bringup.instr)
        for k in unloaded loaded; do
            for c in shell up; do pos_int "instr.$k.$c" && pos_int "instr.$k.$c.processes" || return 1; done
            # The recipe is 12 commands (11 processes' worth when each is one): fewer means some
            # were not counted.
            [ "${R[instr.$k.shell.processes]}" -ge 12 ] || _insane "instr.$k.shell.processes = ${R[instr.$k.shell.processes]}, not 12" || return 1
        done
        pos_int instr.version && pos_int binary.bytes || return 1
        ;;
    bringup.trace)
        [ -n "${R[env.trace_states]:-}" ] || _insane "env.trace_states is missing" || return 1
        for k in ${R[env.trace_states]}; do pos_int "trace.$k.syscalls" && pos_int "trace.$k.execve" || return 1; done
        ;;
    hook.notours)
        us_list floor.true.us "${R[env.notours_runs]:-}" && us_list hook.notours.ifup-local.us "${R[env.notours_runs]:-}" \
            && us_list hook.notours.ifup-pre-local.us "${R[env.notours_runs]:-}" \
            && us_list hook.notours.ifup-local.unloaded.us 1 && us_list hook.notours.ifup-pre-local.unloaded.us 1 || return 1
        ;;
    goodput.*)
        k=${m%.*}
        p=${m##*.}
        if [ "$m" = goodput.plain ]; then rates=10; else rates=${R[$k.rates_mbit]:-}; fi
        [ -n "$rates" ] || _insane "$k.rates_mbit is missing" || return 1
        sum=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s * 1000000 }' <<<"$rates")
        pos_int "$m.bps" || return 1
        # No more than the lines can carry (a little slack for iperf3's own accounting).
        [ "${R[$m.bps]}" -le $((sum * 105 / 100)) ] || _insane "$m.bps = ${R[$m.bps]} exceeds the lines' $sum bit/s" || return 1
        [[ "${R[$m.retransmits]:-}" =~ ^[0-9]+$ ]] || _insane "$m.retransmits = '${R[$m.retransmits]:-}'" || return 1
        n=0
        for d in ${R[$m.tx_deltas]:-}; do
            [[ "$d" =~ ^[0-9]+$ ]] && [ "$d" -gt 0 ] || _insane "$m.tx_deltas = '${R[$m.tx_deltas]:-}': a line sent nothing" || return 1
            n=$((n + 1))
        done
        [ "$n" = "$(wc -w <<<"$rates")" ] || _insane "$m.tx_deltas has $n lines, expected $(wc -w <<<"$rates")" || return 1
        ;;
    scale.*)
        n=${m#scale.}
        for c in attach status status_json hook_notours hook_detach hook_attach detach; do
            us_list "scale.$n.$c.us" "$reps" || return 1
        done
        ;;
    rss.*)
        n=${m#rss.}
        for c in attach status status_json hook_notours hook_detach hook_attach detach; do
            pos_int "rss.$n.$c.kb" || return 1
            [ "${R[rss.$n.$c.kb]}" -lt 1048576 ] || _insane "rss.$n.$c.kb = ${R[rss.$n.$c.kb]} kB" || return 1
        done
        ;;
    connection.goodput)
        pos_int connection.p16.bps || return 1
        [ "${R[connection.p16.bps]}" -le 21000000 ] || _insane "connection.p16.bps = ${R[connection.p16.bps]} exceeds the lines' 20 Mbit/s" || return 1
        [[ "${R[connection.p16.lines_used]:-}" =~ ^[1-3]$ ]] || _insane "connection.p16.lines_used = '${R[connection.p16.lines_used]:-}'" || return 1
        for k in lan box; do
            pos_int "connection.shares.$k.sent" || return 1
            [[ "${R[connection.shares.$k.counts]:-}" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] \
                || _insane "connection.shares.$k.counts = '${R[connection.shares.$k.counts]:-}' is not 3 counts" || return 1
            local t
            t=$(awk '{ print $1 + $2 + $3 }' <<<"${R[connection.shares.$k.counts]}")
            [ "$t" -gt 0 ] && [ "$t" -le "${R[connection.shares.$k.sent]}" ] \
                || _insane "connection.shares.$k: $t arrived of ${R[connection.shares.$k.sent]} sent" || return 1
        done
        ;;
    multipath.failover | connection.failover)
        for k in cuts interval_s flows_others round_idle_ms round_idle_inner_ms round_flows_ms round_flows_inner_ms; do
            pos_int "$m.$k" || return 1
        done
        for k in idle flows; do
            [ "${R[$m.round_${k}_inner_ms]}" -le "${R[$m.round_${k}_ms]}" ] \
                || _insane "$m: check's own part of the $k round exceeds the whole process" || return 1
        done
        [[ "${R[$m.out_ms]:-}" =~ ^[1-9][0-9]*(\ [1-9][0-9]*)*$ ]] \
            && [ "$(wc -w <<<"${R[$m.out_ms]}")" -eq "${R[$m.cuts]}" ] \
            || _insane "$m.out_ms = '${R[$m.out_ms]:-}' is not one time above 0 per cut" || return 1
        for k in idle_others broken_others flows_dead; do
            [[ "${R[$m.$k]:-}" =~ ^[0-9]+$ ]] || _insane "$m.$k = '${R[$m.$k]:-}' is not a count" || return 1
        done
        [ "${R[$m.broken_others]}" -le "${R[$m.flows_others]}" ] && [ "${R[$m.idle_others]}" -le "${R[$m.flows_others]}" ] \
            || _insane "$m: more flows broken or idle than ran" || return 1
        ;;
    multipath.*)
        _within_rates "$m" "${m%.*}" || return 1
        [[ "${R[$m.lines_used]:-}" =~ ^[1-3]$ ]] || _insane "$m.lines_used = '${R[$m.lines_used]:-}'" || return 1
        [[ "${R[$m.tries]:-}" =~ ^[1-3]$ ]] || _insane "$m.tries = '${R[$m.tries]:-}' (1 to 3 runs)" || return 1
        ;;
    tunnel.failover)
        pos_int "$m.cuts" && pos_int "$m.interval_s" || return 1
        for k in office_ms agg_ms; do
            [[ "${R[$m.$k]:-}" =~ ^[1-9][0-9]*(\ [1-9][0-9]*)*$ ]] && [ "$(wc -w <<<"${R[$m.$k]}")" -eq "${R[$m.cuts]}" ] \
                || _insane "$m.$k = '${R[$m.$k]:-}' is not one time above 0 per cut" || return 1
        done
        for k in before_bps tail_bps; do
            [[ "${R[$m.$k]:-}" =~ ^[0-9]+(\ [0-9]+)*$ ]] && [ "$(wc -w <<<"${R[$m.$k]}")" -eq "${R[$m.cuts]}" ] \
                || _insane "$m.$k = '${R[$m.$k]:-}' is not one rate per cut" || return 1
        done
        ;;
    tunnel.*)
        _within_rates "$m" "${m%.*}" || return 1
        rates=${R[${m%.*}.rates_mbit]}
        if [ "${m##*.}" = tunnel ]; then
            n=0
            for d in ${R[$m.tx_deltas]:-}; do
                [[ "$d" =~ ^[0-9]+$ ]] && [ "$d" -gt 0 ] || _insane "$m.tx_deltas = '${R[$m.tx_deltas]:-}': a tunnel sent nothing" || return 1
                n=$((n + 1))
            done
            [ "$n" = "$(wc -w <<<"$rates")" ] || _insane "$m.tx_deltas has $n tunnels, expected $(wc -w <<<"$rates")" || return 1
        else
            [[ "${R[$m.lines_used]:-}" =~ ^[1-4]$ ]] || _insane "$m.lines_used = '${R[$m.lines_used]:-}'" || return 1
        fi
        ;;
    failover.*)
        for k in cuts round_ms round_inner_ms round_9p_ms sent_during sent_after interval_s; do
            pos_int "$m.$k" || return 1
        done
        # One detach time per cut, each above 0.
        [[ "${R[$m.detach_ms]:-}" =~ ^[1-9][0-9]*(\ [1-9][0-9]*)*$ ]] \
            && [ "$(wc -w <<<"${R[$m.detach_ms]}")" -eq "${R[$m.cuts]}" ] \
            || _insane "$m.detach_ms = '${R[$m.detach_ms]:-}' is not one time above 0 per cut" || return 1
        for k in lost_during lost_after; do
            [[ "${R[$m.$k]:-}" =~ ^[0-9]+$ ]] || _insane "$m.$k = '${R[$m.$k]:-}' is not a count" || return 1
        done
        [ "${R[$m.lost_during]}" -le "${R[$m.sent_during]}" ] || _insane "$m lost more than it sent" || return 1
        ;;
    *)
        _insane "no sanity check for measurement $m"
        ;;
    esac
}

# ---------------------------------------------------------------- output

print_report() {
    local kind="${R[env.mode]:-?} run"
    echo "bench: $kind, teqlctl ${R[host.version]:-?} (commit ${R[host.commit]:-?}$([ "${R[host.dirty]:-}" = yes ] && echo ", uncommitted changes")), kernel ${R[env.kernel]:-?} under TCG, ${R[env.guest_cpus]:-?} vCPUs; host $(host_line)"
    if [ "${R[host.overlap_seconds]:-0}" != 0 ]; then
        echo "bench: WARNING: another VM ran during about ${R[host.overlap_seconds]} s of this run: timings are skewed"
    fi
    echo "bench: $(clock_line)"
    echo
    if [ -n "${R[instr.loaded.up]:-}" ]; then
        echo "1. Bring-up of a 4-line bundle: instructions executed (the headline; valgrind callgrind in the guest, every process and its loader)"
        table_instr | render_text
        instr_line | sed 's/^/   /'
        echo
    fi
    echo "1. Bring-up of a 4-line bundle (${R[env.rounds]:-?} rounds, alternating; ms)"
    table_bringup | render_text
    echo "   same kernel state as the shell's: sch_teql unloaded ${R[bringup.unloaded.same_result]:--}, loaded ${R[bringup.loaded.same_result]:--}"
    echo
    echo "   Where teqlctl up's time goes (differences of medians):"
    table_breakdown | render_text
    echo "   one bare process start against the shell recipe (the best any one-process tool can score): $(floor_ratio)"
    trace_line | sed 's/^/   /'
    if [ -n "${R[code.true.distinct]:-}" ]; then
        echo
        echo "   How much code each runs (host, valgrind callgrind) against its time under TCG:"
        table_codesize | render_text
    fi
    if [ -n "${R[bringup.noaslr.up.us]:-}" ]; then
        echo
        echo "   Diagnosis: the same with ASLR off in the guest (can TCG reuse its translations across processes?):"
        table_noaslr | render_text
    fi
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
    echo "4. Failover (teqlctl check every ${R[failover.n4.interval_s]:-?} s, default probe keys; 100 pings/s through teql0)"
    table_failover | render_text
    echo
    echo "5. Peak RSS, kB (${R[env.rss_tool]:-?}; /bin/true measured the same way: ${R[rss.floor.true.kb]:--} kB)"
    table_rss | render_text
    echo
    echo "6. Multipath bundles: LAN goodput through the admin's masquerade (iperf3 upload), TEQL on lines of the same rates"
    table_multipath | render_text
    echo "   Failover: teqlctl check every ${R[multipath.failover.interval_s]:-?} s, default probe keys, 16 long-lived LAN flows"
    table_mp_failover | render_text
    echo
    echo "7. Connection bundles: LAN goodput through TEQL_NAT (iperf3 upload), next to multipath's"
    table_connection | render_text
    echo "   Shares of new connections (one UDP datagram each)"
    table_cn_shares | render_text
    echo "   Failover: teqlctl check every ${R[connection.failover.interval_s]:-?} s, default probe keys, 16 long-lived LAN flows"
    table_cn_failover | render_text
    echo
    echo "8. Tunnels as lines: one TCP stream (iperf3 upload from the LAN host; tunnels: to the host behind the aggregator)"
    table_tunnel | render_text
    echo "   Failover: teqlctl check every ${R[tunnel.failover.interval_s]:-?} s on both ends, default probe keys, one LAN stream"
    table_tn_failover | render_text
    [ -z "${R[tunnel.failover.cuts_made_again]:-}" ] \
        || echo "   (streams that were reset at once and started again: ${R[tunnel.failover.stream_restarts]:--}; cuts made again: ${R[tunnel.failover.cuts_made_again]:--})"
    if [ -n "${R[tunnel.start_s]:-}" ] && [ -n "${R[tunnel.end_s]:-}" ]; then
        echo "   (section 8 took $((R[tunnel.end_s] - R[tunnel.start_s])) s of guest time)"
    fi
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
    {
        echo "# flows mp_equal teql_equal mp_unequal teql_unequal (Mbit/s)"
        local p
        for p in 1 4 16; do
            printf '%s %s %s %s %s\n' "$p" "$(calc '%.2f' "${R[multipath.equal.p$p.bps]:--} / 1000000")" \
                "$(calc '%.2f' "${R[goodput.teql3eq.p$p.bps]:--} / 1000000")" \
                "$(calc '%.2f' "${R[multipath.unequal.p$p.bps]:--} / 1000000")" \
                "$(calc '%.2f' "${R[goodput.teql3un.p$p.bps]:--} / 1000000")"
        done
    } >"$d/multipath.dat"
    local title
    title="teqlctl ${R[host.version]:-} (${R[host.commit]:-}), kernel ${R[env.kernel]:-} under TCG, ${R[host.date]:-}"
    # gnuplot warns about every series a smoke run has no points for: shown only on failure.
    gnuplot -c "$_report_dir/plot.gp" "$png" "$d" "$title" 2>"$d/gnuplot.err" || {
        cat "$d/gnuplot.err" >&2
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
  ${R[host.qemu]:-?}, ${R[host.vng]:-?}, the guest's root over ${R[host.rootfs]:-9p}.
- **Conditions:** a machine shared with other engineers' VM runs. bench/run takes the
  machine-wide VM lock and waits for any other VM to end before it boots; another VM ran during
  ${R[host.overlap_seconds]:-?} s of this run. Host load average at boot ${R[host.load_start]:-?}, highest 1-minute figure
  during the run ${R[host.load_max]:-?} (this VM's two vCPU threads alone make about 2).
- **Clock:** $(clock_line).
- **Run time:** ${mins} min ${secs} s for the whole boot.

Under TCG every process start costs about a hundred milliseconds (the floor below), so
absolute times are far above a real machine's, and the shares of a run's time are TCG's, not
a real CPU's. Figures are medians unless a column says otherwise. Throughput and timing on a
shared 2-core machine are noisy: the min-max columns show how much.

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
- **probes** (same rounds, on the torn-down state): \`/bin/true\`, the floor of any process
  start from the same shell; \`modprobe sch_teql\` alone; and with sch_teql loaded
  \`teqlctl --version\`, the binary's start and argument parsing alone, and
  \`teqlctl --dry-run up\`, which also reads the configuration and the kernel's state and plans,
  but takes no lock, changes nothing, and prints the plan.

**Headline: instructions executed.** Under TCG a process's time follows the distinct code it
runs more than the work it does, so the wall-clock ratio below says little about real hardware.
The headline is what a real CPU pays: the instructions executed by the whole bring-up, counted
by valgrind's callgrind in the guest for every process (each from its dynamic loader's first
instruction to its exit, children included; the kernel's own work, the same on both sides, is
not counted). The shell recipe's twelve commands each run under callgrind (the shell that runs
them is not counted); \`teqlctl up\` is one process, plus its modprobe when sch_teql is not
loaded (that modprobe under callgrind would outlast teqlctl's 15 s bound on it under TCG, so it
runs natively inside \`teqlctl up\` and the same \`modprobe sch_teql\` is counted alone). Goal: 1/10 of the shell's instructions or less.
The shell recipe runs \`modprobe sch_teql\` whether the module is loaded or not, teqlctl only when
it is not; kmod's work (its configuration, its indexes) is the same either way, and alone it is
more than 1/10 of the whole recipe: with sch_teql unloaded the goal cannot be met while
teqlctl loads the module through modprobe, which it keeps on purpose (modprobe.d's options and
install lines, softdeps, compressed modules and the kernel command line's options are the
admin's, and only modprobe honours all of them). The column "modprobe left out" compares
teqlctl's own instructions with the shell's other eleven commands.

$(table_instr | render_md)

$(instr_line)

Each variant's resulting kernel state (root qdiscs, links, addresses, routes, rp_filter) was
compared with the shell's in round 1: same with sch_teql unloaded:
**${R[bringup.unloaded.same_result]:--}**, loaded: **${R[bringup.loaded.same_result]:--}**.

$(table_bringup | render_md)

### Where teqlctl up's time goes

Differences of the medians above (separate runs, so approximate: a difference smaller than the
min-max spread of its terms means little, as for the module load below in a noisy run):

$(table_breakdown | render_md)

A bring-up that was one bare process start (\`/bin/true\`) would take $(floor_ratio) of the shell
recipe's time: that is the best any one-process tool can score under TCG here. teqlctl's own
start, before it reads anything (\`--version\`), already takes $(ratio "$(med bringup.loaded.version.us)" "$(med bringup.loaded.shell.us)") of it, so the 1/10 target is out
of reach for \`teqlctl up\` under TCG unless the binary runs much less code (the table below).
The hooks are four processes by network-scripts' design, each a whole teqlctl run: four bare
process starts alone would be $(ratio "$(calc '%d' "4 * $(med bringup.loaded.true.us)")" "$(med bringup.loaded.shell.us)") of the shell's time.

What strace saw of one \`teqlctl up\` (counts only; strace's own slowdown makes its times useless):

$(trace_line | sed 's/^/- /')

$(codesize_md)

$(noaslr_md)

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
teqlctl (and the hooks) run from a copy on tmpfs (${R[env.scale_binary]:-?}), as an installed binary runs
from the page cache: the build sits on virtme-ng's 9p share, which reads a binary's pages from
the host again at every exec (section 4 shows what that costs a \`check\` round).

$(table_scale | render_md)

Growth from 8 to 256 lines; "linear" in the targets means the cost of one more line between
64 and 256 lines is at most twice what it is between 8 and 64 (quadratic growth would make it
4.4 times).

$(table_growth | render_md)

$(growth_remark)

## 4. Failover

\`lab_up 4\`, the office's ifcfg files with \`TEQL_PROBE=198.51.100.10\` (the internet host) on
every line and no other probe key (timeout 500 ms, out after 2 failed probes in a row, the
second made at once in the same round), \`teqlctl up\`,
and \`teqlctl check\` run at the shipped timer's interval (distro/systemd/teqlctl-check.timer,
start to start, as systemd's OnUnitActiveSec does; at the service's niceness, Nice=-10 in
distro/systemd/teqlctl-check.service), from a copy of the binary on tmpfs, as an
installed binary runs from the page cache (the build itself sits on virtme-ng's 9p share,
whose pages are read from the host again at each exec: see "from 9p" below). Then
${R[env.failover_cuts]:-?} cuts: each time 100 pings a second go through teql0 to the internet
host (${R[env.failover_secs]:-?} s worth), and 2 to 3 s into them (a random point of the
timer's interval) eth3's router loses its uplink (\`ip link set wan down\` in its namespace:
eth3's carrier stays up, the internet stops routing back over it); after the detach the
uplink comes back and check puts eth3 back before the next cut. "cut -> detach" is the time
until the kernel reports eth3's root qdisc deleted (\`tc -ts monitor\`); a ping counts as
lost before or after the detach by when it was sent (lost ones interpolated between the
received ones around them), summed over the cuts; a lost ping counts as after the detach only
if the received ping before it was sent after the detach, since a ping sent within one
interval (10 ms) of the detach may have been queued on the dead line just before it. "One failing round" is one more \`teqlctl check\` with
eth3 silent, the round that detaches (its two probes, the second at once): the whole process, in brackets check's own part (\`teqlctl -v check\`, the rest
being the process start and exit under TCG), then the same round of the build on the 9p share.

$(table_failover | render_md)

Until the detach about a quarter of the pings are lost (teql sends every fourth packet down
the dead line); after it, none should be. The detach takes at most one timer interval plus
one failing round (the first round begun after the cut, or the one under way at the cut,
probes eth3 twice and detaches): on a real machine that round costs its two 500 ms timeouts
and a few milliseconds, so about 2 s at worst and 1.5 s on average.

## 5. Memory

Peak resident set size in kB (${R[env.rss_tool]:-?}), one run of each command at each scale. The
wrapper's own share is small: /bin/true measured the same way peaks at ${R[rss.floor.true.kb]:--} kB.

$(table_rss | render_md)

## 6. Multipath bundles

The lab of independent ISPs (tests/vm/isp.sh): three routers, each with its own subnet,
anti-spoofing (strict rp_filter on its customer side) and tbf both ways (latency 100 ms); a
LAN host behind the box, masqueraded per line by the admin's own nftables table; a bundle
\`wan\` with \`TEQL_MODE=multipath\`, \`teqlctl up wan\`. Goodput: iperf3 from the LAN host to
the internet host (an upload, as in section 2), 1, 4 and 16 flows, ${R[env.iperf_secs]:-?} s after
${R[env.iperf_omit]:-?} s left out; "lines used" counts the masquerade addresses the server saw.
Which line a flow takes is a hash of its ports: a 16-flow run whose flows left a line unused
(about 1 run in 50) measures the hash's luck, not teqlctl, so it is repeated, at most twice;
the table says when that happened, and the result of the run that used every line stands.
One flow gets one line (which one is the hash's choice); many flows get the sum. The TEQL
column is section 2's measurement (\`lab_up 3\`, upload from the box, tbf on the routers'
uplinks, latency 50 ms) on lines of the same rates: TEQL needs an ISP that balances the
return traffic to one shared address, so it cannot run on the lab of independent ISPs.

$(table_multipath | render_md)

Failover: lines 10/5/5 Mbit/s with weights 2:1:1, \`TEQL_PROBE\` (the internet host) and no other
probe key on every line, \`teqlctl check\` at the shipped timer's interval and the service's
niceness from a copy on tmpfs.
${R[multipath.failover.cuts]:-?} cuts: 16 LAN flows (tests/vm/flows.py: the internet host sends to each as fast as it
takes) run, and 3 to 4 s into them ISP 2 loses its uplink (its line keeps its carrier). "cut
-> out" is the time until the kernel reports the group without eth2 (\`ip -ts monitor
nexthop\`). A flow on another line is "broken" when after the cut it got less than a quarter of
its rate before, or nothing in the run's last 3 seconds (a flow moved to another line behind
its old masquerade address gets nothing more); "idle a whole second" counts those that went a
whole second from the cut on without a byte, which a TCP retransmission timeout under full
queues also does. The flows on the dead line keep its masquerade address and wait for it.
The two ends of the flows stand for other machines (the LAN host, a server on the internet);
here they share the guest's emulated CPUs with the box, so they run at nice 19 and leave the
box's own work first in line, as separate machines would. "The round that takes it out" is,
with the timer stopped, the first failing \`teqlctl check\` (it probes eth2 twice, the second
time at once, and removes it): the whole process, in brackets check's own part
(\`check -v\`); once with the guest idle, once under 16 LAN flows. A line is out at most one
timer interval plus that round after the cut (less the part of a round before its probe is
answered); a round longer than the interval is followed at once by the next (OnUnitActiveSec
counts from its start). On a real machine that round costs its two 500 ms probe timeouts and a
few milliseconds, so about 2 s at worst.

$(table_mp_failover | render_md)

## 7. Connection bundles

The same lab of independent ISPs, lines 10/5/5 Mbit/s, a bundle \`wan\` with
\`TEQL_MODE=connection\`, weights 2:1:1 and \`TEQL_NAT\` masquerading the LAN per line (the
admin's own masquerade of section 6 removed). Each new connection gets a line's mark by
\`numgen random\` over the weights map and keeps it for its life; so the flows of one
iperf3 run spread by weight, not by a hash of their ports. Goodput: 16 LAN flows, measured as
in section 6, next to multipath's figure on the same lines.

$(table_connection | render_md)

Shares: ${R[connection.shares.lan.sent]:-?} new connections from the LAN host, then as many from
the box itself (each one UDP datagram from its own socket, so its own conntrack entry), counted
by a sink on the internet host by the address it came from (each line's masquerade or own
address). With a fair draw over 300 connections one standard deviation of a share is about
0.029 (weight 2) and 0.025 (weight 1): the target's 0.08 is about 3 of them.

$(table_cn_shares | render_md)

Failover: \`TEQL_PROBE\` (the internet host) and no other probe key on every line, \`teqlctl
check\` at the shipped timer's interval and the service's niceness from a copy on tmpfs, as in
section 6. ${R[connection.failover.cuts]:-?} cuts: 16 LAN flows run, and 3 to 4 s into them ISP 2
loses its uplink (its line keeps its carrier). "cut -> out of the weights map" is the time until
\`nft monitor\` shows the transaction that takes eth2's mark out of the weights map (its
lines stamped as they are read); the same round takes eth2 out of the group and flushes its
conntrack entries. Flows on other lines are judged as in section 6; the flows on the dead line
lose their connections (flushed) and their masquerade address. "The round that changes the
weights" is, with the timer stopped, the first failing \`teqlctl check\` (two probes of eth2, a
map-only nft transaction, the group change and the conntrack flush): the whole process, in
brackets check's own part, idle and under 16 flows.

$(table_cn_failover | render_md)

## 8. Tunnels as lines

The lab of independent ISPs with an aggregator (tests/vm/tunnel.sh): behind the internet host
a namespace of its own runs the aggregator (teqlctl with its own files and state) and, behind
it, a far host with no route back to the office LAN. The office's ISP lines are a multipath
bundle \`wan\` without a default route (\`TEQL_DEFROUTE=no\`: each line keeps its rule
\`from ADDR\`), and a keyed GRE tunnel per line (tlK over ethK) is a line of teql0; the
aggregator's files are written by \`teqlctl peer-config\` from the office's (its tunnels back,
teql1 with \`TEQL_ROUTE\` and \`TEQL_NAT\`); both ends are brought up by \`teqlctl up\`. One
TCP stream (iperf3 upload, ${R[env.iperf_secs]:-?} s after ${R[env.iperf_omit]:-?} s left out) from the LAN host to the far host.
teql sends round robin, blindly: every tunnel gets the same number of packets, so the bundle
should run at about the slowest line's rate times the number of lines ("predicted"; for equal
lines the sum, less the GRE and TCP headers: TCP over keyed GRE in a 1500-byte frame carries
1420 bytes of 1514). Next to it, on the same lab and rates without the aggregator, the same
single stream (LAN host to the internet host) over a multipath bundle of the lines
(\`teqlctl up wan\`, weights by rate, the admin's masquerade), then over a connection bundle
(\`TEQL_MODE=connection\`, \`TEQL_NAT\`): there one stream gets one line, the hash's or the
draw's; "lines used" counts the addresses the server saw.

$(table_tunnel | render_md)

Failover: the 2 x 10 Mbit/s lab, \`teqlctl check\` at the shipped timer's interval on both
ends (start to start, the service's niceness, from a copy on tmpfs; the aggregator's loop runs
inside its namespace with its own state), the default probe keys (a tunnel is probed on the line
under it: an echo from its local address to the far end's outer address). ${R[tunnel.failover.cuts]:-?} cuts: one LAN
stream to the far host runs ${R[env.tunnel_failover_secs]:-?} s, and 3 to 4 s into it (a random point of the
interval) ISP 2 loses its uplink; "cut -> out" is the time until each end's kernel reports tl2's
root qdisc deleted (\`tc -ts monitor\` on the office and in the aggregator's namespace); the
stream's rate in its seconds 1 to 3 (both tunnels; the first second, slow start filling the
queues, left out) and in its last 3 s (tl1 alone: at best half the sum). After a recovery the
stream's first connection could be reset at once ("Connection reset by peer": the tunnel
answered its first packets with ICMP "host unreachable" for the errors the outage left in it,
which check clears since issue 26, point 13): such a stream is started again before the cut (in
this run: ${R[tunnel.failover.stream_restarts]:-?}), and a cut
whose stream still did not run is made again (in this run: ${R[tunnel.failover.cuts_made_again]:-?}).

$(table_tn_failover | render_md)

## Running it

    bench/run                # full run: prints these tables (about ${mins} min under TCG)
    bench/run --write        # the same, then rewrites BENCHMARKS.md and bench/benchmarks.png
    bench/run --smoke        # 1 round, 2 s iperf3 runs, 4 lines only, scale 8 only
    bench/run --only bringup # one section (bringup, goodput, scale, failover, multipath,
                             # connection, tunnel); never with --write

**The smoke** (\`bench/run --smoke\`, run by hand after a change to bench/; CI's
\`tests/run-all\` left it out on 2026-12-01 to fit its 90 min): every section's code path with
tiny sizes, plus this file and the plot rendered into target/, so that none of it rots. The full run, whose figures are above, is run by hand. The last line is
\`bench: N passed, N failed\`: one check per measurement (it ran, and its figures exist and
are plausible numbers) and, in the smoke, the rendering. Missed targets never fail a run.
bench/run waits for any other VM on the machine to end before it boots, since they share the
CPUs. The plot needs gnuplot (Debian: gnuplot-nox, installed by .ci/setup).
EOF
}

# codesize_md: the code-size table for BENCHMARKS.md, when valgrind was there.
codesize_md() {
    [ -n "${R[code.true.distinct]:-}" ] || return 0
    cat <<EOT
Under TCG, what a process costs follows the amount of distinct code it runs, which QEMU
translates before running it, more closely than the instructions it executes: the shell's
commands execute 0.3 to 1.2 million instructions each, \`teqlctl --version\` 0.46 million, yet
they take less time on average. Counted on the
host with valgrind's callgrind (ld.so, libraries and every thread included), next to the
medians above:

$(table_codesize | render_md)
EOT
}

# noaslr_md: the ASLR diagnosis for BENCHMARKS.md, when it was measured.
noaslr_md() {
    [ -n "${R[bringup.noaslr.up.us]:-}" ] || return 0
    cat <<EOT
Diagnosis: QEMU looks up code it has already translated by virtual address as well as by
physical page, so with address space layout randomisation each new process, whose code lands
at new addresses, may have all of it translated afresh. If that were the main cost, turning
randomisation off would cut every start. The same variants with it off in the guest
(\`kernel.randomize_va_space=0\`, same boot, ${R[env.rounds]:-?} rounds, sch_teql loaded; only this
diagnosis, every other figure is with it on). These rounds run after the ASLR-on rounds, not
interleaved with them, so a change of load on the host between the two shows up here too:

$(table_noaslr | render_md)
EOT
}

# growth_remark: a warning when the scale medians do not grow with the lines (noise).
growth_remark() {
    local a b c
    a=$(med scale.8.status.us)
    b=$(med scale.64.status.us)
    c=$(med scale.256.status.us)
    [ "$a" != - ] && [ "$b" != - ] && [ "$c" != - ] || return 0
    if [ "$b" -gt "$c" ] || [ "$a" -gt "$b" ]; then
        echo "**In this run the noise is larger than the growth:** more lines were measured faster"
        echo "than fewer (status: $(ms "$a") ms at 8 lines, $(ms "$b") ms at 64, $(ms "$c") ms at 256), so these"
        echo "figures say nothing about how the cost grows; the host's load rose to ${R[host.load_max]:-?} during the"
        echo "run (this VM alone makes about 2). What they do show is an upper bound on each command's"
        echo "time at each size."
    fi
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
