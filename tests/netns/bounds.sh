#!/usr/bin/env bash
# Run by tests/netns.rs inside `unshare -m -n` (see lab.sh). Issue 26, point 8: a step's bound
# nests inside the run's. An nft that never finishes (here a stand-in that hangs, with a child
# of its own holding its output) used to be waited for 60 s while the run's watchdog fired
# first, mid-apply, without rollback, and the orphaned nft could commit later. Now the step is
# cut with a reserve left for the rollback: the run fails on nft (exit 4, not the watchdog's 8),
# the kernel is as it was, and no process of the stand-in is left.
set -uo pipefail
TEQLCTL=$1
T=$(mktemp -d)
. "$(dirname "$0")/lab.sh"

lab_lines 2
lab_multipath_office wan
sed -i 's/^TEQL_MODE=multipath$/TEQL_MODE=connection/' "$LAB_ROOT/etc/sysconfig/network-scripts/ifcfg-wan"
cat >"$T/nft" <<EOS
#!/bin/sh
# --version answers; anything else hangs, as a stuck nft would, with a grandchild on the pipes.
case "\$1" in --version) exec /usr/sbin/nft --version ;; esac
sleep 1000 & sleep 1001
EOS
chmod 755 "$T/nft"
snapshot() { ip -4 rule; ip -4 route show table all; ip nexthop; }
before=$(snapshot)
start=$(date +%s%N)
out=$(TEQLCTL_NFT="$T/nft" TEQLCTL_RUN_BOUND=12 "$TEQLCTL" --root "$LAB_ROOT" up wan 2>&1)
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
printf '%s\n' "$out" >&2
expect "the run fails on nft, not by its watchdog (exit 4)" 4 "$rc"
expect "... within its bound of 12 s" yes "$([ "$took" -lt 12000 ] && echo yes || echo "no: $took ms")"
# nft's own bound (60 s) cut to what was left less the reserve: 7 s, less what the run spent
# before nft (more on a loaded machine), never less than a few seconds here.
cut=$(sed -n 's/.*nft -f .* took longer than \([0-9]*\)\.[0-9] s and was stopped.*/\1/p' <<<"$out" | head -n 1)
expect "nft's bound was cut to at most the run's 12 s less the 5 s reserve, and said so" yes \
    "$([ -n "$cut" ] && [ "$cut" -le 7 ] && [ "$cut" -ge 3 ] && echo yes || echo "no: '$cut'")"
expect "the plan was rolled back" yes "$(grep -q 'rolled back' <<<"$out" && echo yes)"
expect "the kernel is as it was" "$before" "$(snapshot)"
sleep 0.2
expect "no process of the stand-in nft is left" "" "$(pgrep -f 'sleep 100[01]')"
lab_summary
