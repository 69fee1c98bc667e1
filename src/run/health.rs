//! The health of lines across `teqlctl check` runs: the state kept under /run between runs,
//! and the pure decision of what one round of probe results changes. There is no I/O here
//! (probing is `probe`, changing the kernel is `ops`), so every rule is tested on the host.
//!
//! Rules, as teqlctl(8) documents them:
//! - a round is good for a line when its carrier is up and, if it has probe targets, one of
//!   them answered; it fails on a lost carrier, a router that no longer answers ARP, or no
//!   answer from any target that has ever answered on a line of the same bundle;
//! - a target that has never answered on any line of the bundle is a configuration warning,
//!   not a dead line: the line is then judged by its carrier and its router;
//! - a line is taken out after `down` failed probes in a row and put back after `up` good
//!   rounds (only lines check took out are put back). A round probes a failing line of its
//!   bundle again at once (`probe_again`), so a dead line leaves in the round that first finds
//!   it dead: the shipped timer's second-long interval is paid once, not `down` times. A line
//!   without carrier fails all `down` probes at once (the bonding driver's miimon, whose
//!   downdelay is 0 by default, also drops a slave at the first carrier loss);
//! - the last attached line of a bundle is never taken out: when every line looks dead, the
//!   one that looks least dead stays, so teqlN stays up with its address and default route.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names::{BundleName, IfName};

/// Bumped when the file's meaning changes; a file of another version is ignored (it lives in
/// /run, so the worst case is one round of hysteresis lost after an upgrade).
pub const VERSION: u32 = 2;

/// Everything check remembers between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Health {
    pub version: u32,
    /// Rounds run since the state was created (since boot: /run is a tmpfs).
    pub round: u64,
    /// Names are checked again when the file is read: a name teqlctl does not take makes the
    /// file unreadable, and `load` starts afresh, as from any other broken file.
    pub lines: BTreeMap<IfName, LineHealth>,
    /// Per master, the probe targets that have answered on at least one of its lines.
    pub answered: BTreeMap<BundleName, BTreeSet<Ipv4Addr>>,
    /// The configuration problems of the last round, so that syslog hears of each only once.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// What check makes of a line, as status and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineState {
    Healthy,
    /// Taken out, or about to be.
    Dead,
    /// Dead, but the last line of its master: kept attached.
    Kept,
}

impl LineState {
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Healthy => "healthy",
            LineState::Dead => "dead",
            LineState::Kept => "kept",
        }
    }
}

impl std::fmt::Display for LineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LineHealth {
    pub master: BundleName,
    /// The verdict after hysteresis.
    pub healthy: bool,
    /// Failed probes in a row (a round may make several, see `probe_again`).
    pub fails: u32,
    /// Good rounds in a row.
    pub oks: u32,
    /// "ok", or why the last round failed.
    pub last: String,
    /// Round-trip time of the fastest answer of the last good round.
    pub rtt_ms: Option<f64>,
    /// Unix time the verdict last changed (or the line was first checked).
    pub since: u64,
    /// Unix time of the last round.
    pub checked: u64,
    /// Taken out by check: only such lines are put back by check.
    pub detached: bool,
    /// Dead, but kept attached as the last line of its bundle.
    pub kept: bool,
    /// Configuration warnings of the last round (a target that never answers...).
    pub warnings: Vec<String>,
    /// Times check took the line out of its bundle, and put it back, since the line was first
    /// checked (counted by `check` once the kernel change is made; absent from older files).
    #[serde(default)]
    pub taken_out: u64,
    #[serde(default)]
    pub put_back: u64,
}

impl LineHealth {
    /// The line's state (the state file keeps it as its two flags, `healthy` and `kept`).
    pub fn state(&self) -> LineState {
        match (self.healthy, self.kept) {
            (true, _) => LineState::Healthy,
            (false, true) => LineState::Kept,
            (false, false) => LineState::Dead,
        }
    }
}

/// What one round found on one line.
#[derive(Debug, Clone)]
pub struct Observation {
    pub line: IfName,
    pub master: BundleName,
    /// The config file of the line, for warnings.
    pub source: PathBuf,
    pub down: u32,
    pub up: u32,
    /// Its root qdisc is the master now.
    pub attached: bool,
    /// Out of its bundle, though up, configured and not taken out on purpose or by check: its
    /// hook failed or never ran. Put in at its first good round.
    pub missing: bool,
    pub carrier: bool,
    /// The last probe's outcome: every probe of this round before it failed.
    pub outcome: Outcome,
    /// Probes made this round (1, or more when `probe_again` asked for more).
    pub probes: u32,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// No probe target is configured: the carrier decides.
    CarrierOnly,
    /// Probes were sent. `via`: the next hop asked by ARP and whether it answered (None when
    /// no next hop was needed); `targets`: each target's round-trip time, None if silent.
    Probed { via: Option<(Ipv4Addr, bool)>, targets: Vec<(Ipv4Addr, Option<Duration>)> },
    /// The line could not be probed (no address to send from, no next hop): the round counts
    /// neither way, and the reason is a configuration warning.
    Unknown(String),
}

/// A change to the kernel decided by a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Attach { line: IfName, master: BundleName },
    Detach { line: IfName, master: BundleName },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
}

/// A message for syslog: transitions and new warnings, never the same one every round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub level: Level,
    pub msg: String,
    /// What happened, for the journal's TEQLCTL_EVENT: taken-out, put-back, all-dead,
    /// answers-again, probe-warning.
    pub kind: &'static str,
    /// The line and its master (TEQLCTL_LINE, TEQLCTL_MASTER).
    pub line: IfName,
    pub master: BundleName,
    /// The change this event announces: logged only once the change has been made (the kernel
    /// state under the lock may forbid it, see `ops::health_changes`).
    pub change: Option<Change>,
}

/// The verdict of one round on one line: Some(good) or None (counts neither way).
struct Verdict {
    good: Option<bool>,
    reason: String,
    rtt: Option<Duration>,
    warnings: Vec<String>,
}

fn list(addrs: &[Ipv4Addr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn verdict(o: &Observation, answered: &BTreeSet<Ipv4Addr>) -> Verdict {
    let mut v = Verdict { good: None, reason: String::new(), rtt: None, warnings: Vec::new() };
    if !o.carrier {
        v.good = Some(false);
        v.reason = "no carrier".into();
        return v;
    }
    match &o.outcome {
        Outcome::CarrierOnly => {
            v.good = Some(true);
            v.reason = "ok (carrier; no probe target)".into();
        }
        Outcome::Unknown(why) => {
            v.reason = format!("not probed: {why}");
            v.warnings.push(format!("{}: {}: {why}", o.source.display(), o.line));
        }
        Outcome::Probed { via, targets } => {
            let silent: Vec<Ipv4Addr> = targets.iter().filter(|t| t.1.is_none()).map(|t| t.0).collect();
            let never: Vec<Ipv4Addr> = silent.iter().copied().filter(|t| !answered.contains(t)).collect();
            if !never.is_empty() {
                v.warnings.push(format!(
                    "{}: {}: probe target {} has never answered on any line of {}: check the \
                     address (the line is judged by its other targets, its router and its carrier)",
                    o.source.display(),
                    o.line,
                    list(&never),
                    o.master
                ));
            }
            v.rtt = targets.iter().filter_map(|t| t.1).min();
            let counted: Vec<Ipv4Addr> = silent.iter().copied().filter(|t| answered.contains(t)).collect();
            if v.rtt.is_some() {
                v.good = Some(true);
                v.reason = "ok".into();
            } else if let Some((gw, false)) = via {
                v.good = Some(false);
                v.reason = format!("no ARP answer from the router {gw}");
            } else if !counted.is_empty() {
                v.good = Some(false);
                v.reason = match via {
                    Some((gw, _)) => format!("no answer from {} via {gw}", list(&counted)),
                    None => format!("no answer from {}", list(&counted)),
                };
            } else {
                // Only targets that never answered anywhere: a mistake in the configuration,
                // which must not make every line of the bundle flap.
                v.good = Some(true);
                v.reason = match via {
                    Some((gw, _)) => format!("ok (router {gw} answers; no target ever has)"),
                    None => "ok (carrier; no target ever answered)".into(),
                };
            }
        }
    }
    v
}

/// The targets that have answered on a line of each bundle, this round's answers included:
/// they count for the whole bundle from now on.
fn answered_now(prev: &Health, obs: &[Observation]) -> BTreeMap<BundleName, BTreeSet<Ipv4Addr>> {
    let mut answered = prev.answered.clone();
    for o in obs {
        if let Outcome::Probed { targets, .. } = &o.outcome {
            let set = answered.entry(o.master.clone()).or_default();
            set.extend(targets.iter().filter(|t| t.1.is_some()).map(|t| t.0));
        }
    }
    answered
}

/// The observations (indices into `obs`) whose line must be probed again at once: probed, in
/// its bundle, healthy so far, its carrier up, and failed by its last probe, with fewer than
/// `down` failed probes in a row. Probing again at once instead of waiting for the next round
/// is what keeps a dead line's exit within 3 s of the failure with a timer of one round a
/// second: with `down` rounds it took up to `down` intervals plus a round. The evidence is
/// the same kind: `down` probes in a row, each resent a few times within its timeout, none
/// answered. A target that never answered anywhere, a lost carrier (it fails every probe at
/// once) and a line already out are not probed again.
pub(crate) fn probe_again(prev: &Health, obs: &[Observation]) -> Vec<usize> {
    let answered = answered_now(prev, obs);
    let empty = BTreeSet::new();
    obs.iter()
        .enumerate()
        .filter(|(_, o)| o.attached && o.carrier && matches!(o.outcome, Outcome::Probed { .. }))
        .filter(|(_, o)| verdict(o, answered.get(&o.master).unwrap_or(&empty)).good == Some(false))
        .filter(|(_, o)| {
            let before = match prev.lines.get(&o.line) {
                Some(h) if h.master == o.master => {
                    if !h.healthy {
                        return false;
                    }
                    h.fails
                }
                _ => 0,
            };
            before.saturating_add(o.probes) < o.down
        })
        .map(|(i, _)| i)
        .collect()
}

/// One round: the new state, the kernel changes to make, and what to log.
pub fn round(prev: &Health, obs: &[Observation], now: u64) -> (Health, Vec<Change>, Vec<Event>) {
    let mut next = Health {
        version: VERSION,
        round: prev.round + 1,
        lines: BTreeMap::new(),
        answered: answered_now(prev, obs),
        problems: prev.problems.clone(),
    };
    let mut events = Vec::new();
    for o in obs {
        let answered = next.answered.get(&o.master).cloned().unwrap_or_default();
        let h = line_after(prev, o, &answered, now, &mut events);
        next.lines.insert(o.line.clone(), h);
    }
    let mut changes = Vec::new();
    let masters: BTreeSet<&BundleName> = obs.iter().map(|o| &o.master).collect();
    for m in masters {
        master_changes(m, obs, prev, &mut next, &mut changes, &mut events);
    }
    (next, changes, events)
}

/// A line's health after this round's observation `o` (`answered`: its master's targets
/// that answered on some line); new probe warnings go to `events`.
fn line_after(
    prev: &Health,
    o: &Observation,
    answered: &BTreeSet<Ipv4Addr>,
    now: u64,
    events: &mut Vec<Event>,
) -> LineHealth {
    let v = verdict(o, answered);
    let mut h = match prev.lines.get(&o.line) {
        Some(h) if h.master == o.master => h.clone(),
        _ => LineHealth {
            master: o.master.clone(),
            healthy: true,
            fails: 0,
            oks: 0,
            last: String::new(),
            rtt_ms: None,
            since: now,
            checked: now,
            detached: false,
            kept: false,
            warnings: Vec::new(),
            taken_out: 0,
            put_back: 0,
        },
    };
    match v.good {
        Some(true) => {
            h.oks = h.oks.saturating_add(1);
            h.fails = 0;
            h.rtt_ms = v.rtt.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0);
        }
        Some(false) => {
            let failed = if o.carrier { o.probes.max(1) } else { o.down };
            h.fails = h.fails.saturating_add(failed);
            h.oks = 0;
            h.rtt_ms = None;
        }
        None => {}
    }
    h.last = v.reason;
    h.checked = now;
    for w in &v.warnings {
        if !h.warnings.contains(w) {
            events.push(Event {
                level: Level::Warning,
                msg: w.clone(),
                kind: "probe-warning",
                line: o.line.clone(),
                master: o.master.clone(),
                change: None,
            });
        }
    }
    h.warnings = v.warnings;
    if h.healthy && h.fails >= o.down {
        h.healthy = false;
        h.since = now;
    } else if !h.healthy && h.oks >= o.up {
        h.healthy = true;
        h.since = now;
    }
    // A line the admin attached again by hand is no longer one check took out.
    if o.attached {
        h.detached = false;
    }
    h
}

/// One master's decisions: lines to take out or put back (`changes`), never its last line
/// (it is kept, and the admin told once), and what to log (`events`).
fn master_changes(
    m: &BundleName,
    obs: &[Observation],
    prev: &Health,
    next: &mut Health,
    changes: &mut Vec<Change>,
    events: &mut Vec<Event>,
) {
    let mine: Vec<&Observation> = obs.iter().filter(|o| o.master == *m).collect();
    // The lines that carry the bundle after this round: attached ones, and those put back.
    let mut carrying: Vec<&Observation> = Vec::new();
    for o in &mine {
        let h = &next.lines[&o.line];
        match (o.attached, h.healthy) {
            (true, _) => carrying.push(o),
            (false, true) if prev.lines.get(&o.line).is_some_and(|p| p.detached) => {
                changes.push(Change::Attach { line: o.line.clone(), master: m.clone() });
                carrying.push(o);
            }
            // Good this round, not merely not yet failed `down` times: it was never seen to work.
            (false, true) if o.missing && h.oks > 0 => {
                changes.push(Change::Attach { line: o.line.clone(), master: m.clone() });
                carrying.push(o);
            }
            (false, _) => {}
        }
    }
    // Never the last line (plan::last_line): keep the one that looks least dead (carrier,
    // fewest failed rounds, the one already kept, then by name for a stable choice).
    let (stay, kept_dead) = crate::plan::last_line::staying(
        carrying,
        |o| !next.lines[&o.line].healthy,
        crate::plan::last_line::Keep::One,
        |o| {
            let h = &next.lines[&o.line];
            (!o.carrier, h.fails, !prev.lines.get(&o.line).is_some_and(|p| p.kept), o.line.clone())
        },
    );
    let keep = if kept_dead { stay.first().map(|o| o.line.clone()) } else { None };
    for o in &mine {
        let was_kept = prev.lines.get(&o.line).is_some_and(|p| p.kept);
        let h = next.lines.get_mut(&o.line).expect("inserted above");
        if keep.as_deref() == Some(o.line.as_str()) {
            h.kept = true;
            if !was_kept {
                events.push(Event {
                    level: Level::Warning,
                    msg: format!(
                        "every line of {m} looks dead; keeping {} attached ({}): taking out the \
                         last line would take {m} down with its address and default route",
                        o.line, h.last
                    ),
                    kind: "all-dead",
                    line: o.line.clone(),
                    master: m.clone(),
                    change: None,
                });
            }
            continue;
        }
        h.kept = false;
        if o.attached && !h.healthy {
            h.detached = true;
            changes.push(Change::Detach { line: o.line.clone(), master: m.clone() });
            events.push(Event {
                level: Level::Warning,
                msg: if o.carrier {
                    format!("{} ({m}): taken out after {} failed probes: {}", o.line, h.fails, h.last)
                } else {
                    format!("{} ({m}): taken out: {}", o.line, h.last)
                },
                kind: "taken-out",
                line: o.line.clone(),
                master: m.clone(),
                change: changes.last().cloned(),
            });
        } else if !o.attached && h.healthy && prev.lines.get(&o.line).is_some_and(|p| p.detached) {
            h.detached = false;
            events.push(Event {
                level: Level::Notice,
                msg: format!("{} ({m}): put back after {} good rounds: {}", o.line, h.oks, h.last),
                kind: "put-back",
                line: o.line.clone(),
                master: m.clone(),
                change: Some(Change::Attach { line: o.line.clone(), master: m.clone() }),
            });
        } else if !o.attached && o.missing && h.healthy && h.oks > 0 {
            events.push(Event {
                level: Level::Notice,
                msg: format!(
                    "{} ({m}): up and configured but not in {m} (its hook failed or did not run); \
                     put in: {}",
                    o.line, h.last
                ),
                kind: "picked-up",
                line: o.line.clone(),
                master: m.clone(),
                change: Some(Change::Attach { line: o.line.clone(), master: m.clone() }),
            });
        } else if was_kept && h.healthy {
            events.push(Event {
                level: Level::Notice,
                msg: format!("{} ({m}): answers again: {}", o.line, h.last),
                kind: "answers-again",
                line: o.line.clone(),
                master: m.clone(),
                change: None,
            });
        }
    }
}

pub(crate) fn state_file(dir: &Path) -> PathBuf {
    dir.join("health.json")
}

/// The last state, or an empty one when there is none (first run, reboot) or it cannot be read
/// (a broken file in /run must not stop health checks; the next save replaces it). Never read
/// through a symlink (statefile).
pub fn load(dir: &Path) -> Health {
    crate::statefile::read(&state_file(dir))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Health>(&b).ok())
        .filter(|h| h.version == VERSION)
        .unwrap_or_default()
}

/// Writes the state atomically (a reader, or a run killed half-way, never sees half a file).
/// No fsync: the file lives in /run, which a crash or reboot empties anyway, and a round a
/// second must stay cheap.
pub(crate) fn save(dir: &Path, h: &Health) -> crate::error::Result<()> {
    let body = serde_json::to_vec_pretty(h).map_err(|e| {
        crate::error::Error::Io(format!("cannot encode {}", state_file(dir).display()), std::io::Error::other(e))
    })?;
    crate::statefile::write_atomic(&state_file(dir), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_state_is_named_as_status_json_documents_it() {
        let mut h = LineHealth { healthy: true, kept: true, ..line_health_for_test() };
        assert_eq!(h.state(), LineState::Healthy);
        h.healthy = false;
        assert_eq!(h.state(), LineState::Kept);
        h.kept = false;
        assert_eq!(h.state(), LineState::Dead);
        let names: Vec<String> = [LineState::Healthy, LineState::Dead, LineState::Kept]
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(names, ["\"healthy\"", "\"dead\"", "\"kept\""]);
        assert_eq!(LineState::Kept.to_string(), "kept");
    }

    fn line_health_for_test() -> LineHealth {
        LineHealth {
            master: "teql0".into(),
            healthy: true,
            fails: 0,
            oks: 0,
            last: String::new(),
            rtt_ms: None,
            since: 0,
            checked: 0,
            detached: false,
            kept: false,
            warnings: Vec::new(),
            taken_out: 0,
            put_back: 0,
        }
    }

    const GW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const WRONG: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 99);

    fn obs(line: &str, attached: bool, outcome: Outcome) -> Observation {
        Observation {
            line: line.into(),
            master: "teql0".into(),
            source: PathBuf::from(format!("ifcfg-{line}")),
            down: 2,
            up: 3,
            attached,
            missing: false,
            carrier: true,
            outcome,
            probes: 1,
        }
    }

    fn answers(rtt_ms: Option<u64>) -> Outcome {
        Outcome::Probed { via: Some((GW, true)), targets: vec![(HOST, rtt_ms.map(Duration::from_millis))] }
    }

    /// Four attached lines, each round probed as `check` does: every line once, then again
    /// what `probe_again` asks for; `outcome_of(round, line)` answers every probe of a round.
    fn run(
        rounds: usize,
        mut outcome_of: impl FnMut(usize, &str) -> Outcome,
    ) -> (Health, Vec<Vec<Change>>, Vec<Event>) {
        run_probes(rounds, |r, _, l| outcome_of(r, l))
    }

    /// `run` with `outcome_of(round, probe, line)`: probe 0 is the round's first.
    fn run_probes(
        rounds: usize,
        mut outcome_of: impl FnMut(usize, u32, &str) -> Outcome,
    ) -> (Health, Vec<Vec<Change>>, Vec<Event>) {
        let mut h = Health::default();
        let mut all = Vec::new();
        let mut events = Vec::new();
        let mut attached: BTreeMap<String, bool> =
            ["eth2", "eth3", "eth4", "eth5"].iter().map(|l| (l.to_string(), true)).collect();
        for r in 0..rounds {
            let mut o: Vec<Observation> = attached.iter().map(|(l, a)| obs(l, *a, outcome_of(r, 0, l))).collect();
            loop {
                let again = probe_again(&h, &o);
                if again.is_empty() {
                    break;
                }
                for i in again {
                    o[i].outcome = outcome_of(r, o[i].probes, &o[i].line);
                    o[i].probes += 1;
                }
            }
            let (next, changes, ev) = round(&h, &o, r as u64);
            for c in &changes {
                match c {
                    Change::Attach { line, .. } => attached.insert(line.to_string(), true),
                    Change::Detach { line, .. } => attached.insert(line.to_string(), false),
                };
            }
            h = next;
            all.push(changes);
            events.extend(ev);
        }
        (h, all, events)
    }

    fn detach(l: &str) -> Change {
        Change::Detach { line: l.into(), master: "teql0".into() }
    }

    fn attach(l: &str) -> Change {
        Change::Attach { line: l.into(), master: "teql0".into() }
    }

    #[test]
    fn dead_line_leaves_in_the_round_that_finds_it_dead_and_returns_after_up_rounds() {
        // eth3 silent in rounds 1..=3, answering from round 4 on.
        let (h, changes, events) =
            run(9, |r, l| answers(if l == "eth3" && (1..=3).contains(&r) { None } else { Some(5) }));
        assert_eq!(changes[0], []);
        assert_eq!(changes[1], [detach("eth3")], "down after 2 failed probes, the second at once");
        assert_eq!(changes[2..6], [[], [], [], []], "out while silent, then 1 and 2 good rounds");
        assert_eq!(changes[6], [attach("eth3")], "up after 3 good rounds");
        assert_eq!(changes[7], []);
        assert!(h.lines["eth3"].healthy && !h.lines["eth3"].detached);
        assert_eq!(h.round, 9);
        assert!(
            events[0].msg.starts_with(
                "eth3 (teql0): taken out after 2 failed probes: no answer from 198.51.100.10 via 203.0.113.1"
            ),
            "{events:?}"
        );
        assert!(events[1].msg.starts_with("eth3 (teql0): put back after 3 good rounds"), "{events:?}");
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn one_lost_probe_is_not_enough() {
        // Every other round eth3's first probe goes unanswered and the one made at once after
        // it is answered: never 2 failed probes in a row.
        let mut probes = 0;
        let (h, changes, _) = run_probes(10, |r, p, l| {
            if l == "eth3" {
                probes += 1;
            }
            answers(if l == "eth3" && r % 2 == 1 && p == 0 { None } else { Some(5) })
        });
        assert!(changes.iter().all(Vec::is_empty), "{changes:?}");
        assert_eq!(probes, 15, "10 rounds, 5 of them with a second probe");
        assert_eq!((h.lines["eth3"].fails, h.lines["eth3"].oks), (0, 10), "a round answered at last is good");
    }

    #[test]
    fn probe_again_asks_only_for_lines_that_can_still_fail_out() {
        let prev = run(1, |_, _| answers(Some(5))).0;
        let mut no_carrier = obs("eth4", true, answers(None));
        no_carrier.carrier = false;
        let mut enough = obs("eth5", true, answers(None));
        enough.probes = 2;
        let o = vec![
            obs("eth2", true, answers(Some(5))),
            obs("eth3", true, answers(None)),
            no_carrier,
            enough,
            obs("eth6", false, answers(None)),
            obs("eth7", true, Outcome::Probed { via: Some((GW, true)), targets: vec![(WRONG, None)] }),
            obs("eth8", true, Outcome::Probed { via: Some((GW, false)), targets: vec![(HOST, None)] }),
            obs("eth9", true, Outcome::CarrierOnly),
        ];
        // eth3 silent, eth8's router silent: again. eth4 has no carrier (fails every probe at
        // once), eth5 has made its 2, eth6 is out of its bundle, eth7's only target never
        // answered anywhere, eth9 has nothing to probe.
        assert_eq!(probe_again(&prev, &o), [1, 6]);
        // A line out already is not probed again (it needs good rounds, not more failures).
        let (out, _, _) = run(2, |r, l| answers(if l == "eth3" && r == 1 { None } else { Some(5) }));
        assert!(!out.lines["eth3"].healthy);
        assert_eq!(probe_again(&out, &[obs("eth3", true, answers(None))]), Vec::<usize>::new());
    }

    #[test]
    fn a_lost_carrier_takes_the_line_out_at_once() {
        let prev = run(1, |_, _| answers(Some(5))).0;
        let mut o: Vec<Observation> = ["eth2", "eth3"].iter().map(|l| obs(l, true, answers(Some(5)))).collect();
        o[1].carrier = false;
        let (h, changes, events) = round(&prev, &o, 9);
        assert_eq!(changes, [detach("eth3")]);
        assert_eq!(h.lines["eth3"].fails, 2);
        assert_eq!(events[0].msg, "eth3 (teql0): taken out: no carrier");
    }

    #[test]
    fn lost_carrier_and_silent_router_fail_the_round() {
        let mut o = obs("eth2", true, answers(Some(1)));
        o.carrier = false;
        let v = verdict(&o, &BTreeSet::new());
        assert_eq!((v.good, v.reason.as_str()), (Some(false), "no carrier"));
        let o = obs("eth2", true, Outcome::Probed { via: Some((GW, false)), targets: vec![(HOST, None)] });
        let v = verdict(&o, &BTreeSet::new());
        assert_eq!((v.good, v.reason.as_str()), (Some(false), "no ARP answer from the router 203.0.113.1"));
        let v = verdict(&obs("eth2", true, Outcome::CarrierOnly), &BTreeSet::new());
        assert_eq!(v.good, Some(true));
    }

    #[test]
    fn a_target_that_never_answered_is_a_warning_not_a_dead_line() {
        let (h, changes, events) =
            run(6, |_, _| Outcome::Probed { via: Some((GW, true)), targets: vec![(WRONG, None)] });
        assert!(changes.iter().all(Vec::is_empty), "{changes:?}");
        assert!(h.lines.values().all(|l| l.healthy && l.fails == 0), "{h:#?}");
        // One warning per line, once, not every round.
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(events[0].msg.contains("probe target 198.51.100.99 has never answered on any line of teql0"));
        assert_eq!(events[0].level, Level::Warning);
        assert!(!h.lines["eth2"].warnings.is_empty());
    }

    #[test]
    fn a_wrong_target_next_to_a_right_one_warns_and_the_right_one_decides() {
        let (h, changes, events) = run(5, |r, l| Outcome::Probed {
            via: Some((GW, true)),
            targets: vec![
                (HOST, if l == "eth4" && r >= 2 { None } else { Some(Duration::from_millis(3)) }),
                (WRONG, None),
            ],
        });
        assert_eq!(changes[2], [detach("eth4")]);
        assert!(!h.lines["eth4"].healthy);
        assert!(events.iter().filter(|e| e.msg.contains("198.51.100.99 has never answered")).count() == 4);
    }

    #[test]
    fn once_a_target_answered_somewhere_its_silence_counts() {
        // Round 0: only eth2 gets an answer (the others' uplinks are dead from boot on).
        let (_, changes, _) = run(3, |_, l| answers(if l == "eth2" { Some(5) } else { None }));
        assert_eq!(changes[0], [detach("eth3"), detach("eth4"), detach("eth5")]);
    }

    #[test]
    fn the_last_line_is_kept_when_every_line_looks_dead() {
        let (h, changes, events) = run(4, |r, l| {
            if r == 0 {
                return answers(Some(5));
            }
            // eth5 died one round later than the others.
            answers(if l == "eth5" && r == 1 { Some(5) } else { None })
        });
        assert_eq!(changes[1], [detach("eth2"), detach("eth3"), detach("eth4")]);
        assert_eq!(changes[2..], [[], []], "eth5 stays: it is the last line");
        assert!(h.lines["eth5"].kept && !h.lines["eth5"].healthy);
        let kept: Vec<&Event> = events.iter().filter(|e| e.msg.starts_with("every line of teql0 looks dead")).collect();
        assert_eq!(kept.len(), 1, "said once: {events:?}");
        assert!(kept[0].msg.contains("keeping eth5 attached"));
    }

    #[test]
    fn all_dead_at_once_keeps_one_and_a_recovered_line_replaces_it() {
        let (h, changes, _) = run(9, |r, l| match r {
            0 => answers(Some(5)),
            1..=2 => answers(None),
            _ => answers(if l == "eth4" { Some(5) } else { None }),
        });
        assert_eq!(changes[1], [detach("eth3"), detach("eth4"), detach("eth5")], "eth2 kept (stable choice)");
        // eth4 good from round 3: back after 3 good rounds (round 5); then eth2 can go.
        assert_eq!(changes[5], [attach("eth4"), detach("eth2")]);
        assert!(!h.lines["eth2"].kept && h.lines["eth2"].detached);
    }

    #[test]
    fn a_line_the_admin_took_out_is_not_put_back() {
        let prev = run(1, |_, _| answers(Some(5))).0;
        let o = vec![obs("eth2", true, answers(Some(5))), obs("eth3", false, answers(Some(5)))];
        let (_, changes, _) = round(&prev, &o, 9);
        assert_eq!(changes, []);
    }

    #[test]
    fn a_missing_line_is_put_in_at_its_first_good_round_and_never_while_failing() {
        // eth3 is up and configured, not in teql0, not taken out by anyone: its hook failed.
        let missing = |outcome| Observation { missing: true, ..obs("eth3", false, outcome) };
        let prev = run(1, |_, _| answers(Some(5))).0;
        let silent = vec![obs("eth2", true, answers(Some(5))), missing(answers(None))];
        let (next, changes, events) = round(&prev, &silent, 9);
        assert_eq!(changes, [], "not while its probes fail");
        assert!(events.iter().all(|e| e.kind != "picked-up"), "{events:?}");
        let good = vec![obs("eth2", true, answers(Some(5))), missing(answers(Some(5)))];
        let (_, changes, events) = round(&next, &good, 10);
        assert_eq!(changes, [attach("eth3")]);
        let e = events.iter().find(|e| e.kind == "picked-up").expect("announced");
        assert!(e.msg.starts_with("eth3 (teql0): up and configured but not in teql0"), "{}", e.msg);
        assert_eq!(e.change, Some(attach("eth3")));
    }

    #[test]
    fn an_unprobeable_line_counts_neither_way() {
        let prev = run(1, |_, _| answers(Some(5))).0;
        let o: Vec<Observation> = ["eth2", "eth3"]
            .iter()
            .map(|l| obs(l, true, Outcome::Unknown("teql0 has no IPv4 address".into())))
            .collect();
        let (h, changes, events) = round(&prev, &o, 9);
        assert_eq!(changes, []);
        assert_eq!((h.lines["eth2"].oks, h.lines["eth2"].fails), (1, 0));
        assert_eq!(events.len(), 2);
        let (_, _, again) = round(&h, &o, 10);
        assert_eq!(again, [], "the same warning is not repeated every round");
    }

    /// A health.json of the version before the transition counters still loads (they start
    /// at 0), so an upgrade keeps the hysteresis.
    #[test]
    fn a_state_file_without_transition_counters_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (h, _, _) = run(3, |_, l| answers(if l == "eth3" { None } else { Some(2) }));
        let mut v = serde_json::to_value(&h).unwrap();
        for l in v["lines"].as_object_mut().unwrap().values_mut() {
            let l = l.as_object_mut().unwrap();
            assert!(l.remove("taken_out").is_some() && l.remove("put_back").is_some());
        }
        fs::write(state_file(dir.path()), serde_json::to_vec(&v).unwrap()).unwrap();
        let loaded = load(dir.path());
        assert_eq!(loaded, h);
        assert_eq!(loaded.lines["eth3"].taken_out, 0);
    }

    /// health.json as teqlctl wrote it while its names were plain strings (issue 27, point 2):
    /// it loads, and is written back byte for byte the same; a name in it that teqlctl does not
    /// take (a line, a master past teql63, a bundle's name) makes it a broken file, which a
    /// round starts afresh from, never a name that reaches a plan.
    #[test]
    fn state_file_names_are_plain_strings_checked_when_read() {
        let text = r#"{
  "version": 2,
  "round": 7,
  "lines": {
    "eth2": {
      "master": "teql0",
      "healthy": false,
      "fails": 3,
      "oks": 0,
      "last": "no carrier",
      "rtt_ms": null,
      "since": 100,
      "checked": 106,
      "detached": true,
      "kept": false,
      "warnings": [],
      "taken_out": 1,
      "put_back": 0
    }
  },
  "answered": {
    "teql0": [
      "198.51.100.10"
    ]
  },
  "problems": []
}"#;
        let dir = tempfile::tempdir().unwrap();
        fs::write(state_file(dir.path()), text).unwrap();
        let h = load(dir.path());
        assert_eq!((h.round, h.lines["eth2"].master.as_str()), (7, "teql0"));
        assert!(h.answered["teql0"].contains(&HOST));
        save(dir.path(), &h).unwrap();
        assert_eq!(fs::read_to_string(state_file(dir.path())).unwrap(), text);
        for (from, to) in [
            ("\"eth2\"", "\"eth*\""),
            ("\"master\": \"teql0\"", "\"master\": \"teql64\""),
            ("\"teql0\": [", "\"a b\": ["),
        ] {
            fs::write(state_file(dir.path()), text.replace(from, to)).unwrap();
            assert_eq!(load(dir.path()), Health::default(), "{to}");
        }
    }

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), Health::default());
        let (h, _, _) = run(3, |_, l| answers(if l == "eth3" { None } else { Some(2) }));
        save(dir.path(), &h).unwrap();
        assert_eq!(load(dir.path()), h);
        fs::write(state_file(dir.path()), "{ broken").unwrap();
        assert_eq!(load(dir.path()), Health::default());
    }
}
