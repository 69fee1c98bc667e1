//! `teqlctl check`: one short round of line health checks. It probes every line of every
//! bundle at once (`probe`), lets `health` decide what changed, takes dead lines out and puts
//! recovered ones back through the same operations as `teqlctl detach`/`attach`, and keeps its
//! memory under /run for the next run. No daemon: a systemd timer (or cron) runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

use crate::config::{Config, Member, RpFilter};
use crate::error::{Error, Result};
use crate::kernel::netlink::{Address, Link, Netlink, OuterPath, IFF_LOWER_UP, IFF_NOARP, IFF_POINTOPOINT, IFF_UP};
use crate::kernel::probe::{self, Job, ProbeError};
use crate::kernel::state::State;
use crate::log;
use crate::run::health::{self, Change, Health, Level, LineState, Observation, Outcome};
use crate::run::ops::{self, Ctx};

/// What a run did, for the exit status and for tests.
#[derive(Debug, Default)]
pub struct Report {
    /// Another check held the state: this one did nothing.
    pub skipped: bool,
    pub changes: Vec<Change>,
    /// Changes the kernel refused (each already logged).
    pub failed: usize,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn in_subnet(a: Ipv4Addr, net: &Address) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(net.prefix_len)).unwrap_or(0);
    u32::from(a) & mask == u32::from(net.addr) & mask
}

/// What the round knows of one line before probing: its job, or an outcome without probes.
enum Plan {
    Probe(Job),
    Known(Outcome),
}

/// The next hop towards probe targets off a line's subnet when the line sets none
/// (TEQL_PROBE_VIA): its bundle's mode says which (BundleMode::probe_next_hop).
fn default_next_hop(m: &Member, link: &Link, state: &State, cfg: &Config) -> Option<Ipv4Addr> {
    crate::run::mode::bundle_or_bare(cfg, &m.master).probe_next_hop(m, link, state)
}

/// Whether line `m` is in its bundle now, as its mode tells (a TEQL line's root qdisc is its
/// master; a multipath line is in its bundle's nexthop group or its plain multipath route).
fn in_bundle(m: &Member, link: &Link, state: &State, cfg: &Config) -> bool {
    crate::run::mode::bundle_or_bare(cfg, &m.master).carries(m, link, state)
}

/// How to probe `m` on `link`: which targets by ARP (on the line's subnet) and which by echo
/// through the next hop, and from which address.
fn plan_line(m: &Member, link: &Link, state: &State, cfg: &Config) -> Plan {
    if let Some(path) = tunnel_path(link, state) {
        return plan_tunnel_line(m, link, path, state);
    }
    if m.probe.targets.is_empty() || link.flags & IFF_LOWER_UP == 0 {
        // No target: the carrier decides. No carrier: nothing to probe, the round has failed.
        return Plan::Known(Outcome::CarrierOnly);
    }
    let line_addrs: Vec<&Address> = state.addresses_of(link.index).collect();
    let master_link = state.link(&m.master);
    let master_addr = master_link.and_then(|l| state.addresses_of(l.index).next()).map(|a| a.addr);
    let uses_arp = uses_arp(link);
    let mut arp = Vec::new();
    let mut icmp = Vec::new();
    for &t in &m.probe.targets {
        match line_addrs.iter().find(|a| uses_arp && in_subnet(t, a)) {
            Some(a) => arp.push((t, a.addr)),
            None => icmp.push(t),
        }
    }
    // The next hop: the line's own setting, else its bundle's (default_next_hop).
    let via = m.probe.via.or_else(|| default_next_hop(m, link, state, cfg));
    let mut source = line_addrs.first().map(|a| a.addr).or(master_addr);
    if !icmp.is_empty() && uses_arp {
        let Some(gw) = via else {
            return Plan::Known(Outcome::Unknown(format!(
                "no next hop for probe target {} (off the line's subnet): give {} a gateway or set \
                 the line's probe via key",
                icmp[0], m.master
            )));
        };
        // From the line's address when the next hop is on the line's subnet, else from the
        // master's address (the routers know the way back to it).
        source = line_addrs.iter().find(|a| in_subnet(gw, a) || a.peer == Some(gw)).map(|a| a.addr).or(master_addr);
    }
    let Some(source) = source else {
        return Plan::Known(Outcome::Unknown(format!(
            "neither the line nor {} has an IPv4 address to send probes from",
            m.master
        )));
    };
    Plan::Probe(Job {
        line: m.device.to_string(),
        ifindex: link.index,
        mac: if uses_arp { link.mac.clone() } else { Vec::new() },
        via: if uses_arp { via } else { None },
        source,
        icmp,
        arp,
        timeout: Duration::from_millis(u64::from(m.probe.timeout_ms)),
    })
}

/// Whether probes on `link` go by ARP and Ethernet frames: a link without a hardware address,
/// or a point-to-point or NOARP one, carries bare IP packets.
fn uses_arp(link: &Link) -> bool {
    link.mac.len() == 6 && link.flags & (IFF_NOARP | IFF_POINTOPOINT) == 0
}

/// A tunnel line's outer addresses and the path its outer packets take now; None for other
/// lines. `Some((.., None))`: the kernel has no route for them (the line under the tunnel lost
/// its address, say).
fn tunnel_path(link: &Link, state: &State) -> Option<(Ipv4Addr, Ipv4Addr, Option<OuterPath>)> {
    let t = link.tunnel?;
    let (local, remote) = (t.local?, t.remote?);
    Some((local, remote, state.tunnel_paths.get(&link.index).and_then(|p| p.ok())))
}

/// Whether a line has its carrier. A tunnel's own is always up: it has the carrier of the line
/// its outer packets leave by, and none while they have no way out.
fn carrier(link: &Link, state: &State) -> bool {
    let up = |l: &Link| l.flags & IFF_LOWER_UP != 0;
    match tunnel_path(link, state) {
        Some((_, _, Some(p))) => up(link) && state.link_by_index(p.oif).is_some_and(up),
        Some((_, _, None)) => false,
        None => up(link),
    }
}

/// A tunnel line is probed on the line under it: echo requests from the tunnel's local address
/// to the far end's outer address (or to the line's own probe targets) through the next hop its
/// outer packets take. The far end answers the local address by that same ISP, so a dead ISP
/// fails the tunnel above it. Not through the tunnel itself: the far end's teql master would
/// send the answer over whichever of its tunnels is next, judging two lines at once.
fn plan_tunnel_line(
    m: &Member,
    link: &Link,
    (local, remote, path): (Ipv4Addr, Ipv4Addr, Option<OuterPath>),
    state: &State,
) -> Plan {
    let Some(path) = path.filter(|_| carrier(link, state)) else { return Plan::Known(Outcome::CarrierOnly) };
    let Some(under) = state.link_by_index(path.oif) else { return Plan::Known(Outcome::CarrierOnly) };
    let targets = if m.probe.targets.is_empty() { vec![remote] } else { m.probe.targets.clone() };
    let uses_arp = uses_arp(under);
    let (mut arp, mut icmp) = (Vec::new(), Vec::new());
    for t in targets {
        // No next hop: the far end is on the line's own link (an aggregator next door).
        if path.gateway.is_none() && uses_arp && t == remote {
            arp.push((t, local));
        } else {
            icmp.push(t);
        }
    }
    Plan::Probe(Job {
        line: m.device.to_string(),
        ifindex: under.index,
        mac: if uses_arp { under.mac.clone() } else { Vec::new() },
        via: if uses_arp { path.gateway } else { None },
        source: local,
        icmp,
        arp,
        timeout: Duration::from_millis(u64::from(m.probe.timeout_ms)),
    })
}

/// How long a round goes on probing failing lines again (see `check`).
const PROBE_AGAIN_FOR: Duration = Duration::from_secs(10);

/// Takes the state lock without waiting: a second check started while one runs has nothing to
/// add (the first one's round is this one's too) and must not count a round twice.
fn try_lock(dir: &Path) -> Result<Option<Flock<fs::File>>> {
    crate::statefile::private_dir(dir)?;
    let path = dir.join("check.lock");
    let file = crate::statefile::open_lock(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(Error::Io(format!("cannot lock {}", path.display()), std::io::Error::from(e))),
    }
}

fn probe_error(e: ProbeError) -> Error {
    match e {
        ProbeError::Permission(what) => Error::Permission(what),
        ProbeError::Io(what, e) => Error::Io(what, e),
    }
}

/// One round. Lines with configuration problems are left alone (and named on stderr).
/// `started`: when the run began (before the configuration was read), for `-v`'s timings.
/// `metrics`: where to write the round's metrics (node_exporter's textfile collector), if
/// anywhere.
pub fn check(ctx: &Ctx, cfg: &Config, started: std::time::Instant, metrics: Option<&Path>) -> Result<Report> {
    // The run is bounded even if the kernel never answers: the probes (PROBE_AGAIN_FOR, and
    // the first and last passes of the longest timeout) plus the lock waits of the changes.
    // SIGALRM's default action ends the process.
    let configured = started.elapsed();
    let longest = cfg.members.values().map(|m| m.probe.timeout_ms).max().unwrap_or(0);
    crate::deadline::arm_watchdog(2 * longest.div_ceil(1000) + PROBE_AGAIN_FOR.as_secs() as u32 + 20);

    let dir = crate::statefile::state_dir();
    let Some(_lock) = try_lock(&dir)? else {
        if log::verbose() {
            crate::out::eprintln("teqlctl: another teqlctl check is running; this one does nothing");
        }
        return Ok(Report { skipped: true, ..Report::default() });
    };
    // A run killed between writing its temporary state file and renaming it leaves one
    // behind; under check.lock nobody else is writing one.
    crate::statefile::remove_temporaries(&health::state_file(&dir));
    crate::statefile::remove_temporaries(&crate::run::rates::file(&dir));
    let prev = health::load(&dir);
    let mut nl = Netlink::open().map_err(|e| Error::from_netlink("netlink socket", "", e))?;
    let mp_tables = crate::run::mode::routing_tables(cfg);
    let state = read_kernel(&mut nl, cfg, &mp_tables)?;
    // The counters as this round read them, for `status`'s rates (run::rates): every line of
    // the configuration, and any attached to a teqlN by hand. Recorded once health.json is
    // saved (a round's first saves are its intent and its outcome), and a failed write costs
    // status its rates, not the round its work.
    let counters = (!ctx.dry_run).then(|| {
        let masters = state.teql_masters();
        let lines = cfg
            .members
            .keys()
            .map(|l| l.as_str())
            .chain(masters.iter().flat_map(|(m, _)| state.slaves_of(m).map(|l| l.name.as_str())));
        crate::run::rates::sample(&state, lines, crate::run::rates::now_ms())
    });

    let problems = report_problems(cfg, &prev);
    let lines = round_lines(cfg, &state, &prev, &crate::run::held::load(&dir));
    let read = started.elapsed();
    let observations = probe_lines(&lines, &state, &prev, started, read)?;

    let probed = started.elapsed();
    let (mut next, changes, events) = health::round(&prev, &observations, now_secs());
    next.problems = problems;
    let rp: BTreeMap<&str, RpFilter> = lines.iter().map(|l| (l.member.device.as_str(), l.member.rp_filter)).collect();
    // From the intent to the final save, a SIGTERM or SIGINT waits (then ends the run): the
    // state file never disagrees with the kernel because a run stopped between the two.
    let held = ops::HeldSignals::hold();
    // health.json is read by hooks (the lines check took out stay out of their group) and
    // written here, both under the run lock: from the intent to the outcome, a hook waits, so
    // it never plans with a state that the kernel has already left behind (issue 26, point 7).
    let global = if ctx.dry_run { None } else { Some(crate::run::lock::acquire()?) };
    let applied = if changes.is_empty() {
        Vec::new()
    } else {
        if !ctx.dry_run {
            // The intent first: a run killed after this save (SIGKILL, the watchdog) leaves a
            // line it meant to take out marked as taken out by check, so a later round finishes
            // the job or puts it back; never a line out that looks taken out by the admin.
            health::save(&dir, &intent(&next, &changes))?;
        }
        let rp = |line: &str| rp.get(line).copied().unwrap_or(RpFilter::Loose);
        crate::run::event::health_changes(ctx, cfg, &changes, &rp, global.as_ref())?
    };
    crate::testpoint::pause("check-applied");
    let report = record_applied(&mut next, &changes, applied);
    // Announce only what was done: a change refused under the lock has its own message above.
    for e in events.iter().filter(|e| e.change.as_ref().is_none_or(|c| report.changes.contains(c))) {
        let fields = [("EVENT", e.kind), ("LINE", e.line.as_str()), ("MASTER", e.master.as_str())];
        match (e.level, ctx.dry_run) {
            // A dry run changed nothing: it says what a round would do, and only to whoever
            // ran it (the system log keeps what happened to the box).
            (Level::Warning, true) => log::warn_stderr(&would(e)),
            (Level::Notice, true) => log::notice_stderr(&would(e)),
            (Level::Warning, false) => log::warn_with(&e.msg, &fields),
            (Level::Notice, false) => log::notice_with(&e.msg, &fields),
        }
    }
    if !ctx.dry_run {
        health::save(&dir, &next)?;
    }
    if let Some(c) = &counters {
        let _ = crate::run::rates::record(&dir, c);
    }
    drop(global);
    drop(held);
    // What each mode keeps in the kernel and others may change behind our back (a connection
    // bundle's table flushed or replaced, its default route deleted with its local source).
    for m in cfg.masters.values() {
        crate::run::mode::of(cfg, m).repair(ctx, &state);
    }
    crate::front::nm::sync_leases(ctx, cfg, |line| state.link(line).map(|l| l.index));
    if let (Some(path), false) = (metrics, ctx.dry_run) {
        // The kernel as the round left it: read again after a round that changed it (rare),
        // so that the lines it took out or put back are shown as they are now.
        let state = if report.changes.is_empty() { state } else { read_kernel(&mut nl, cfg, &mp_tables)? };
        write_metrics(path, cfg, &state, &next, &observations)?;
    }
    if log::verbose() {
        crate::out::print(&summary(&next));
        let ms = |d: Duration| d.as_millis();
        crate::out::println(&format!(
            "round {}: {} ms (configuration {} ms, kernel state {} ms, probes {} ms, changes and state {} ms)",
            next.round,
            ms(started.elapsed()),
            ms(configured),
            ms(read - configured),
            ms(probed - read),
            ms(started.elapsed() - probed)
        ));
    }
    Ok(report)
}

/// What a round needs of the kernel: links, qdiscs, addresses and routes; for multipath
/// bundles their nexthop groups and the lines' tables (a multipath line is in its bundle when
/// it is in the group); for tunnel lines the line their outer packets take (they are probed on
/// it).
fn read_kernel(nl: &mut Netlink, cfg: &Config, mp_tables: &[u32]) -> Result<State> {
    let mut state = State::read_netlink(nl)?;
    if !mp_tables.is_empty() {
        state.read_multipath(nl, mp_tables)?;
    }
    let tunnel_lines: Vec<u32> = cfg
        .members
        .values()
        .filter_map(|m| state.link(&m.device))
        .filter(|l| l.tunnel.is_some())
        .map(|l| l.index)
        .collect();
    if !tunnel_lines.is_empty() {
        state.read_tunnel_paths(nl, |i| tunnel_lines.contains(&i));
    }
    Ok(state)
}

/// Names every configuration problem (its line is not checked): on stderr every run, in
/// syslog only when it is new since the last round. Returns them, for the state file.
fn report_problems(cfg: &Config, prev: &Health) -> Vec<String> {
    let problems: Vec<String> = cfg.problems.iter().map(ToString::to_string).collect();
    for p in &problems {
        let msg = format!("{p} (its line is not checked)");
        if prev.problems.contains(p) {
            log::warn_stderr(&msg);
        } else {
            log::warn(&msg);
        }
    }
    problems
}

/// A line of this round, with how to learn its health.
struct RoundLine<'a> {
    member: &'a Member,
    link: &'a Link,
    /// In its bundle now.
    attached: bool,
    /// Out of its bundle for no recorded reason (see round_lines).
    missing: bool,
    plan: Plan,
}

impl RoundLine<'_> {
    fn job(&self) -> Option<Job> {
        if let Plan::Probe(j) = &self.plan {
            Some(j.clone())
        } else {
            None
        }
    }
}

/// The lines of this round: configured without problems, present, administratively up, and
/// either in their bundle now, or taken out by an earlier check, or missing from it for no
/// recorded reason: not held out (`held`: the admin's detach, ifdown) while their bundle has
/// a line in it. Such a line is one whose hook failed (at boot, the run lock busy for 10 s),
/// was killed or never ran; it is put in once it answers (issue 26, point 11). Lines the
/// admin took out stay out. (A broken file leaves its line unchecked, as the hooks leave it
/// alone.)
fn round_lines<'a>(cfg: &'a Config, state: &'a State, prev: &Health, held: &BTreeSet<String>) -> Vec<RoundLine<'a>> {
    let mut lines = Vec::new();
    // The bundles with a line in them now: a bundle without one is down (or never came up),
    // which is not check's to change.
    let live_bundles: BTreeSet<&str> = cfg
        .members
        .values()
        .filter(|m| state.link(&m.device).is_some_and(|l| in_bundle(m, l, state, cfg)))
        .map(|m| m.master.as_str())
        .collect();
    // A multipath line out of its group is missing only if the planner would have it in.
    for m in cfg.members.values() {
        if !cfg.problems_for(&m.device).is_empty() {
            continue;
        }
        let Some(link) = state.link(&m.device) else { continue };
        if link.flags & IFF_UP == 0 {
            continue;
        }
        let attached = in_bundle(m, link, state, cfg);
        let taken_out = prev.lines.get(m.device.as_str()).is_some_and(|h| h.detached && m.master == h.master);
        let missing = !attached
            && !taken_out
            && !held.contains(m.device.as_str())
            && live_bundles.contains(m.master.as_str())
            && crate::run::mode::bundle_or_bare(cfg, &m.master).would_carry(m, state);
        if attached || taken_out || missing {
            lines.push(RoundLine { member: m, link, attached, missing, plan: plan_line(m, link, state, cfg) });
        }
    }
    lines
}

/// Probes the lines (all at once) and returns what was observed of each.
fn probe_lines(
    lines: &[RoundLine],
    state: &State,
    prev: &Health,
    started: std::time::Instant,
    read: Duration,
) -> Result<Vec<Observation>> {
    let jobs: Vec<Job> = lines.iter().filter_map(RoundLine::job).collect();
    let mut found = probe::run(&jobs).map_err(probe_error)?.into_iter();
    let mut observations: Vec<Observation> = lines
        .iter()
        .map(|l| Observation {
            line: l.member.device.clone(),
            master: l.member.master.clone(),
            source: l.member.source.clone(),
            down: l.member.probe.down,
            up: l.member.probe.up,
            attached: l.attached,
            missing: l.missing,
            carrier: carrier(l.link, state),
            outcome: match &l.plan {
                Plan::Known(o) => o.clone(),
                Plan::Probe(_) => match found.next() {
                    Some(f) => Outcome::Probed { via: f.via, targets: f.targets },
                    None => Outcome::Unknown("probe result missing".into()),
                },
            },
            probes: 1,
        })
        .collect();
    // A line that failed is probed again at once, until it answers or has failed its `down`
    // probes in a row (health::probe_again says why). Each pass is one probe::run of the lines
    // still failing, in parallel; the passes stop after PROBE_AGAIN_FOR so that a line with a
    // large TEQL_PROBE_DOWN cannot stretch a round past the service's timeout (its remaining
    // probes are counted in the next rounds).
    while started.elapsed() - read < PROBE_AGAIN_FOR {
        let again = health::probe_again(prev, &observations);
        let jobs: Vec<Job> = again.iter().filter_map(|&i| lines[i].job()).collect();
        if jobs.is_empty() || jobs.len() != again.len() {
            break;
        }
        for (i, f) in again.into_iter().zip(probe::run(&jobs).map_err(probe_error)?) {
            observations[i].outcome = Outcome::Probed { via: f.via, targets: f.targets };
            observations[i].probes += 1;
        }
    }
    Ok(observations)
}

/// Records in `next` what became of each change (counted, kept, gone, failed) and says so for
/// those that did not happen; the report lists the changes made.
fn record_applied(next: &mut Health, changes: &[Change], applied: Vec<ops::Applied>) -> Report {
    let mut report = Report::default();
    for (c, a) in changes.iter().zip(applied) {
        let (line, master, taking_out) = match c {
            Change::Detach { line, master } => (line, master, true),
            Change::Attach { line, master } => (line, master, false),
        };
        let h = next.lines.get_mut(line);
        match a {
            ops::Applied::Done => {
                if let Some(h) = h {
                    if taking_out {
                        h.taken_out = h.taken_out.saturating_add(1);
                    } else {
                        h.put_back = h.put_back.saturating_add(1);
                    }
                }
                report.changes.push(c.clone());
            }
            ops::Applied::Kept => {
                log::warn_with(
                    &format!(
                        "{line} ({master}): dead, but kept attached: it is the last line of {master} now (its \
                         other lines left while it was being probed)"
                    ),
                    &[("EVENT", "all-dead"), ("LINE", line.as_str()), ("MASTER", master.as_str())],
                );
                if let Some(h) = h {
                    h.detached = false;
                    h.kept = true;
                }
            }
            ops::Applied::Gone(why) => {
                let what = if taking_out { "not taken out" } else { "not put back" };
                log::info(&format!("{line} ({master}): {what}: {why}"));
                if let Some(h) = h {
                    // Taken out meanwhile by someone else: not ours to put back. Not put back:
                    // still out, and ours to put back when it can be.
                    h.detached = !taking_out;
                }
            }
            ops::Applied::Failed(e) => {
                report.failed += 1;
                log::error(&e.to_string());
                if let Some(h) = h {
                    // A line that could not be put back is still out: the next round tries again.
                    h.detached = !taking_out;
                }
            }
        }
    }
    report
}

/// The round's metrics file (node_exporter's textfile collector), from the kernel as the round
/// left it.
fn write_metrics(path: &Path, cfg: &Config, state: &State, next: &Health, observations: &[Observation]) -> Result<()> {
    let probes: BTreeMap<String, (u32, u32)> = observations
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Probed { targets, .. } => Some((
                o.line.to_string(),
                (targets.len() as u32, targets.iter().filter(|t| t.1.is_none()).count() as u32),
            )),
            _ => None,
        })
        .collect();
    let st = crate::run::status::collect(cfg, crate::run::mode::statuses(cfg, state, next, None));
    crate::statefile::remove_temporaries(path);
    crate::front::metrics::write(path, &crate::front::metrics::from_status(&st, next, &probes, now_secs()))
}

/// An event of a dry run, worded for what was not done (issue 28, point 7): health.rs words
/// its events before anyone knows whether the round changes the kernel.
fn would(e: &health::Event) -> String {
    let (done, not_done) = match e.kind {
        "taken-out" => ("): taken out", "): would be taken out"),
        "put-back" => ("): put back", "): would be put back"),
        "picked-up" => ("; put in:", "; would be put in:"),
        _ => return e.msg.clone(),
    };
    e.msg.replacen(done, not_done, 1)
}

/// The state to save before making `changes`: lines about to be put back still count as taken
/// out by check (they are, until the attach is made).
fn intent(next: &Health, changes: &[Change]) -> Health {
    let mut h = next.clone();
    for c in changes {
        if let Change::Attach { line, .. } = c {
            if let Some(l) = h.lines.get_mut(line) {
                l.detached = true;
            }
        }
    }
    h
}

/// One line per checked line, for `--verbose`.
fn summary(h: &Health) -> String {
    let mut out = String::new();
    for (name, l) in &h.lines {
        let verdict = match l.state() {
            LineState::Healthy => "healthy",
            LineState::Kept => "dead, kept (last line)",
            LineState::Dead => "dead",
        };
        out.push_str(&format!(
            "{name} ({}): {verdict}; last round: {}{}; {} good, {} failed in a row\n",
            l.master,
            l.last,
            l.rtt_ms.map(|r| format!(", {r} ms")).unwrap_or_default(),
            l.oks,
            l.fails
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let net = Address { ifindex: 1, addr: Ipv4Addr::new(198, 18, 2, 1), prefix_len: 30, peer: None };
        assert!(in_subnet(Ipv4Addr::new(198, 18, 2, 2), &net));
        assert!(!in_subnet(Ipv4Addr::new(198, 18, 2, 4), &net));
        let all = Address { prefix_len: 0, ..net };
        assert!(in_subnet(Ipv4Addr::new(1, 2, 3, 4), &all));
    }

    /// eth1 (198.51.100.10, router 198.51.100.9) and a GRE tunnel tl1 over it to 198.18.0.2, a
    /// line of teql0 with no probe targets of its own.
    fn tunnel_over_eth1(path: Option<OuterPath>) -> (Member, State) {
        let mut s = State::default();
        let up = IFF_UP | IFF_LOWER_UP;
        s.links.push(Link { index: 2, name: "eth1".into(), flags: up, mtu: 1500, mac: vec![2; 6], ..Link::default() });
        let tunnel = crate::kernel::netlink::Tunnel {
            local: Some(Ipv4Addr::new(198, 51, 100, 10)),
            remote: Some(Ipv4Addr::new(198, 18, 0, 2)),
            link: 0,
            overhead: 28,
        };
        s.links.push(Link {
            index: 7,
            name: "tl1".into(),
            flags: up | IFF_NOARP | IFF_POINTOPOINT,
            mtu: 1472,
            tunnel: Some(tunnel),
            ..Link::default()
        });
        s.addresses.push(Address { ifindex: 2, addr: Ipv4Addr::new(198, 51, 100, 10), prefix_len: 29, peer: None });
        if let Some(p) = path {
            s.tunnel_paths.insert(7, Ok(p));
        } else {
            s.tunnel_paths.insert(7, Err(22));
        }
        let m = Member {
            device: "tl1".into(),
            master: "teql0".into(),
            rp_filter: RpFilter::Loose,
            onboot: true,
            probe: crate::config::Probe::default(),
            path: Default::default(),
            tunnel: None,
            source: "/etc/sysconfig/network-scripts/ifcfg-tl1".into(),
            spelling: crate::config::Spelling::Ifcfg,
        };
        (m, s)
    }

    #[test]
    fn a_tunnel_line_is_probed_on_the_line_under_it_to_the_far_end() {
        let gw = Ipv4Addr::new(198, 51, 100, 9);
        let (m, s) = tunnel_over_eth1(Some(OuterPath { oif: 2, gateway: Some(gw) }));
        let Plan::Probe(job) = plan_line(&m, s.link("tl1").unwrap(), &s, &Config::default()) else {
            panic!("not probed")
        };
        assert_eq!((job.line.as_str(), job.ifindex, job.via), ("tl1", 2, Some(gw)));
        assert_eq!(
            (job.source, job.icmp.clone()),
            (Ipv4Addr::new(198, 51, 100, 10), vec![Ipv4Addr::new(198, 18, 0, 2)])
        );
        assert_eq!(job.mac, vec![2; 6]);
        assert!(carrier(s.link("tl1").unwrap(), &s));
    }

    #[test]
    fn a_tunnel_line_has_the_carrier_of_the_line_under_it() {
        let (m, mut s) = tunnel_over_eth1(Some(OuterPath { oif: 2, gateway: None }));
        s.links[0].flags &= !IFF_LOWER_UP;
        let tl1 = s.link("tl1").unwrap().clone();
        assert!(!carrier(&tl1, &s));
        assert!(matches!(plan_line(&m, &tl1, &s, &Config::default()), Plan::Known(Outcome::CarrierOnly)));
        // No way out at all (eth1 lost its address): no carrier either.
        let (m, s) = tunnel_over_eth1(None);
        let tl1 = s.link("tl1").unwrap();
        assert!(!carrier(tl1, &s));
        assert!(matches!(plan_line(&m, tl1, &s, &Config::default()), Plan::Known(Outcome::CarrierOnly)));
    }

    #[test]
    fn a_far_end_on_the_lines_own_link_is_asked_by_arp() {
        let (m, s) = tunnel_over_eth1(Some(OuterPath { oif: 2, gateway: None }));
        let Plan::Probe(job) = plan_line(&m, s.link("tl1").unwrap(), &s, &Config::default()) else {
            panic!("not probed")
        };
        assert_eq!(job.arp, vec![(Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 51, 100, 10))]);
        assert!(job.icmp.is_empty() && job.via.is_none());
    }

    fn obs(line: &str, attached: bool, missing: bool, carrier: bool) -> Observation {
        Observation {
            line: line.into(),
            master: "teql0".into(),
            source: format!("ifcfg-{line}").into(),
            down: 2,
            up: 1,
            attached,
            missing,
            carrier,
            outcome: Outcome::CarrierOnly,
            probes: 1,
        }
    }

    /// A dry run's events say what a round would do, from the words health.rs gives them
    /// (issue 28, point 7: `check --dry-run` said "taken out" of a line it left alone).
    #[test]
    fn a_dry_runs_events_say_would() {
        let h0 =
            health::round(&Health::default(), &[obs("eth2", true, false, true), obs("eth3", true, false, true)], 1).0;
        // eth3 loses its carrier: taken out.
        let (h1, _, out) = health::round(&h0, &[obs("eth2", true, false, true), obs("eth3", true, false, false)], 2);
        // It comes back: put back; eth4 is up and configured but missing: put in.
        let (_, _, back) = health::round(
            &h1,
            &[obs("eth2", true, false, true), obs("eth3", false, false, true), obs("eth4", false, true, true)],
            3,
        );
        let said: Vec<(&str, String)> = out.iter().chain(&back).map(|e| (e.kind, would(e))).collect();
        let kinds: Vec<&str> = said.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, ["taken-out", "put-back", "picked-up"], "{said:?}");
        assert!(said[0].1.starts_with("eth3 (teql0): would be taken out: "), "{said:?}");
        assert!(said[1].1.starts_with("eth3 (teql0): would be put back after "), "{said:?}");
        assert!(said[2].1.contains("; would be put in: "), "{said:?}");
        for (_, msg) in &said {
            assert!(!msg.contains("would be would"), "{msg}");
        }
    }
}
