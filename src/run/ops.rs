//! The operations behind both the manual commands and the hooks: each reads the kernel's state,
//! asks the planner for the changes, and prints them (--dry-run) or applies them under the lock.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{BundleName, Config, IfName, Master, RpFilter, EXPECT_MASTER};
use crate::error::{Error, Result};
use crate::kernel::module::{self, Need};
use crate::kernel::nft::{
    connection_table_problem, fingerprint_file, record_fingerprint, ruleset_file, table_as_written,
};
use crate::kernel::state::State;
use crate::kernel::Kernel;
use crate::log;
use crate::plan::teql::Planner;
use crate::plan::Plan;
use crate::run::apply;
use crate::run::lock;

/// How a run was asked for.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Configuration is read below this directory (/ normally; a chroot or test tree).
    pub root: PathBuf,
    pub dry_run: bool,
    pub force: bool,
    /// The kernel the runs read and change: the box's, or a test's in memory.
    pub kernel: crate::kernel::Which,
}

/// Refuses to act on an interface whose own file (or its master's) is broken: acting on half a
/// configuration is how half bundles happen.
pub(crate) fn check_config(cfg: &Config, devices: &[&str]) -> Result<()> {
    for d in devices {
        if let Some(p) = cfg.problems_for(d).into_iter().next() {
            return Err(Error::Config(p.clone()));
        }
    }
    Ok(())
}

pub(crate) fn check_iface_exists(ctx: &Ctx, iface: &IfName) -> Result<()> {
    if !ctx.kernel.open()?.get().link_exists(iface.as_str()) {
        return Err(Error::NoSuchInterface(iface.to_string()));
    }
    Ok(())
}

/// The manual commands that change bundles (attach, up, down, and up/down of all of them)
/// refuse a configuration with any problem in a file that concerns teql: the broken file may
/// be a line of the bundle at hand that would otherwise be left out without a word. Every
/// problem is reported (the others as warnings before the refusal), and nothing changes.
pub(crate) fn check_whole_config(cfg: &Config) -> Result<()> {
    let Some((first, rest)) = cfg.problems.split_first() else { return Ok(()) };
    for p in rest {
        log::warn(&p.to_string());
    }
    Err(Error::Config(first.clone()))
}

/// Hooks stay lenient (at boot the other lines must come up) but never silent: every problem
/// in a file that concerns teql is logged, except those of `own` (its hook refuses with them).
pub(crate) fn report_problems(cfg: &Config, own: &str) {
    for p in cfg.problems.iter().filter(|p| !cfg.problems_for(own).contains(p)) {
        log::warn(&p.to_string());
    }
}

pub(crate) fn master_cfg(cfg: &Config, name: &BundleName) -> Master {
    cfg.masters.get(name).cloned().unwrap_or_else(|| Master::bare(name.clone()))
}

pub use crate::kernel::Reads;

/// Plans with `build` and then prints or applies, as one run under the lock. For the ifupdown
/// hook, which decides its follow-up steps (`Then`) with the same planner.
pub(crate) fn hook_run(
    ctx: &Ctx,
    needed: Need,
    reads: Reads,
    build: impl FnOnce(&mut Planner) -> Result<()>,
) -> Result<Plan> {
    run(ctx, needed, reads, build)
}

/// Plans with `build` and then prints or applies, as one run under the lock.
fn run(ctx: &Ctx, needed: Need, reads: Reads, build: impl FnOnce(&mut Planner) -> Result<()>) -> Result<Plan> {
    let _lock = if ctx.dry_run { None } else { Some(lock::acquire()?) };
    let mut h = ctx.kernel.open()?;
    let k = h.get();
    let loaded_by_us = if ctx.dry_run {
        false
    } else {
        match k.ensure_module(needed)? {
            Some(what) => {
                log::info(&what);
                true
            }
            None => false,
        }
    };
    let result = plan_and_apply(ctx, needed, reads, k, build);
    if result.is_err() && loaded_by_us {
        // Leave the system as we found it: the module we loaded holds nothing yet.
        if let Err(e) = k.unload_module() {
            log::warn(&format!("could not unload sch_teql after the failure: {e}"));
        }
    }
    result
}

/// Reads the kernel `k` (`reads`), plans with `build`, and prints or applies. Opening the
/// kernel is the caller's, so that tests run it on a `kernel::MemKernel`.
fn plan_and_apply(
    ctx: &Ctx,
    needed: Need,
    reads: Reads,
    k: &mut dyn Kernel,
    build: impl FnOnce(&mut Planner) -> Result<()>,
) -> Result<Plan> {
    let mut state = k.read(reads)?;
    k.read_bundle_routing(&mut state);
    let mut planner = Planner::new(&state);
    let built = build(&mut planner);
    let mut plan = planner.finish();
    let recorded = if ctx.dry_run { Ok(()) } else { record_intent(&mut plan, k) };
    if let Err(e) = built {
        if let Err(r) = recorded {
            log::warn(&r.to_string());
        }
        return Err(e);
    }
    recorded?;
    if ctx.dry_run {
        plan.module = module::plan(needed);
        crate::out::print(&format!("{plan}"));
        return Ok(plan);
    }
    // A TEQL bundle's NAT: a missing or old nft is refused before anything changes.
    let nat: BTreeSet<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            // Only TEQL runs come here (multipath ones check nft in `connection_step`).
            crate::plan::Action::Nft { bundle, .. } => Some(bundle.as_str()),
            _ => None,
        })
        .collect();
    for b in nat {
        k.nft_check_version(b)?;
    }
    apply_plan(&plan, k)?;
    crate::kernel::nat_now::record_fingerprints(plan.nft_scripts(), |bundle, table| k.nft_fingerprint(bundle, table));
    Ok(plan)
}

/// Records `plan`'s intent (Plan::intent) now, in a real run, and takes it out of the plan:
/// what was asked (a line held out or let go, a lease) is kept whether or not the plan can then
/// be made or applied, as when it was written before planning (issue 26, points 7 and 11). A
/// dry run leaves it in the plan, which prints it.
fn record_intent(plan: &mut Plan, k: &mut dyn Kernel) -> Result<()> {
    let intent = std::mem::take(&mut plan.intent);
    if intent.is_empty() {
        return Ok(());
    }
    let _held = HeldSignals::hold();
    apply::apply(&Plan { intent, ..Plan::default() }, k).map(drop)
}

/// Logs a plan's warnings and applies it, with SIGTERM, SIGINT, SIGHUP and SIGQUIT held until
/// it has finished or been rolled back: a run stopped by one of them never leaves half a
/// bundle (the signal then takes effect).
fn apply_plan(plan: &Plan, nl: &mut dyn Kernel) -> Result<()> {
    apply_plan_at(plan, nl, &mut BTreeSet::new()).map_err(|f| *f.error)
}

/// As `apply_plan`, saying which action failed. Warnings in `said` are not logged again (a
/// multipath run that plans again after a refusal says each once), and those logged are added.
fn apply_plan_at(
    plan: &Plan,
    nl: &mut dyn Kernel,
    said: &mut BTreeSet<String>,
) -> std::result::Result<(), apply::Failed> {
    for w in &plan.warnings {
        if said.insert(w.clone()) {
            log::warn(w);
        }
    }
    if log::verbose() {
        for n in &plan.notes {
            crate::out::eprintln(&format!("teqlctl: {n}"));
        }
    }
    let _held = HeldSignals::hold();
    apply::apply_at(plan, nl).map(drop)
}

/// Set when a line of a bundle had a problem of its own (a router the kernel would refuse, a
/// change of it the kernel refused) and the bundle went on without it: the run then ends with
/// exit::PARTIAL instead of OK (`exit_status`).
static LINE_PROBLEM: AtomicBool = AtomicBool::new(false);

fn note_line_problem() {
    LINE_PROBLEM.store(true, Ordering::Relaxed);
}

/// The exit status of a run that did not fail: OK, or PARTIAL when a line was left out of its
/// bundle for a problem of its own (each said on stderr and in the system log).
pub(crate) fn exit_status() -> i32 {
    if LINE_PROBLEM.load(Ordering::Relaxed) {
        crate::error::exit::PARTIAL
    } else {
        crate::error::exit::OK
    }
}

/// The signals that ask a run to stop, blocked while a guard lives. Dropping it restores the
/// mask, and a signal that arrived meanwhile is delivered then: the run stops right after the
/// change it was making, not in its middle. SIGKILL and the watchdog's SIGALRM cannot be held;
/// `check` records its intent before changing anything for them.
pub struct HeldSignals {
    previous: Option<nix::sys::signal::SigSet>,
}

impl HeldSignals {
    pub fn hold() -> HeldSignals {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let mut set = SigSet::empty();
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
            set.add(s);
        }
        let mut previous = SigSet::empty();
        let ok = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous)).is_ok();
        HeldSignals { previous: ok.then_some(previous) }
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&previous), None);
        }
    }
}

/// What became of one change `teqlctl check` asked for.
#[derive(Debug)]
pub enum Applied {
    /// Made (or, in a dry run, printed).
    Done,
    /// Not taken out: the kernel showed it as the last line of its bundle under the lock.
    Kept,
    /// Nothing to do any more (why): the kernel's state moved on while the round probed.
    Gone(String),
    /// The kernel (or the planner) refused; the line stays as it is.
    Failed(Error),
}

/// `health_changes` for a TEQL bundle: each change its own plan, so that one the kernel
/// refuses does not undo the others.
pub(crate) fn teql_health(
    ctx: &Ctx,
    changes: &[&crate::run::health::Change],
    rp: &dyn Fn(&str) -> RpFilter,
) -> Result<Vec<Applied>> {
    use crate::plan::teql::HealthStep;
    use crate::run::health::Change;
    // Read under the lock: a line the admin took out while the round probed stays out.
    let held = crate::run::held::load(&crate::statefile::state_dir());
    let mut h = ctx.kernel.open()?;
    let k = h.get();
    let mut out = Vec::new();
    for c in changes {
        let reads = if matches!(c, Change::Attach { .. }) { Reads::WithRpFilter } else { Reads::NetlinkOnly };
        let state = k.read(reads)?;
        let mut p = Planner::new(&state);
        let step = match c {
            Change::Attach { line, .. } if held.contains(line.as_str()) => Ok(HealthStep::Gone(held_out(line))),
            Change::Detach { line, master } => Ok(p.take_out_dead(line, master)),
            Change::Attach { line, master } => p.put_back(line, master, rp(line)),
        };
        let applied = match step {
            Ok(HealthStep::Kept) => Applied::Kept,
            Ok(HealthStep::Gone(why)) => Applied::Gone(why),
            Err(e) => Applied::Failed(e),
            Ok(HealthStep::Planned) => {
                let plan = p.finish();
                if ctx.dry_run {
                    crate::out::print(&format!("{plan}"));
                    Applied::Done
                } else {
                    if let Change::Attach { line, master } = c {
                        clear_tunnel_errors(&state, line, master);
                    }
                    match apply_plan(&plan, k) {
                        Ok(()) => Applied::Done,
                        Err(e) => Applied::Failed(e),
                    }
                }
            }
        };
        out.push(applied);
    }
    Ok(out)
}

/// `health_changes` for a multipath bundle: one planned run with its dead lines as they are
/// after this round, and each change judged by the group the plan leaves (never empty: the
/// planner keeps the last live lines).
pub(crate) fn multipath_health(
    ctx: &Ctx,
    cfg: &Config,
    p: Paths<'_>,
    changes: &[&crate::run::health::Change],
) -> Result<Vec<Applied>> {
    use crate::run::health::Change;
    let b = &p.master.device;
    let held = crate::run::held::load(&crate::statefile::state_dir());
    let mut h = ctx.kernel.open()?;
    let nl = h.get();
    let mut dead = kept_out(b);
    for c in changes {
        match c {
            Change::Detach { line, .. } => {
                dead.insert(line.to_string());
            }
            Change::Attach { line, .. } if !held.contains(line.as_str()) => {
                dead.remove(line.as_str());
            }
            _ => {}
        }
    }
    let result = multipath_with_lines(ctx, cfg, p, &MpEvent::Up, &dead, multipath_lines(cfg, b), Vec::new(), nl);
    Ok(changes
        .iter()
        .map(|c| match (&result, c) {
            (_, Change::Attach { line, .. }) if held.contains(line.as_str()) => Applied::Gone(held_out(line)),
            (Err(e), _) => Applied::Failed(Error::Refused(format!("{b}: {e}"))),
            (Ok((_, members)), Change::Detach { line, .. }) if members.iter().any(|m| line == m) => Applied::Kept,
            (Ok((_, members)), Change::Attach { line, .. }) if !members.iter().any(|m| line == m) => {
                Applied::Gone(format!("{line} cannot carry {b}'s traffic now (down, no address, carrier or gateway)"))
            }
            (Ok(_), _) => Applied::Done,
        })
        .collect())
}

/// A tunnel line about to be put back: the ICMP errors its outage left in the kernel's tunnel
/// are spent first, or its first packets through the bundle would make the tunnel answer their
/// senders "host unreachable" and reset new connections (tunnel_errors says how). Best effort:
/// a failure is logged and the line goes back all the same, as it did before.
fn clear_tunnel_errors(state: &crate::kernel::state::State, line: &str, master: &str) {
    let Some(link) = state.link(line) else { return };
    let Some(remote) = link.tunnel.as_ref().and_then(|t| t.remote) else { return };
    match crate::kernel::tunnel_errors::clear(link.index, remote) {
        Ok(0) => {}
        Ok(n) => log::notice(&format!(
            "{line} ({master}): {n} ICMP error(s) from its outage cleared from the tunnel before it is put back"
        )),
        Err(e) => log::warn(&format!("{line} ({master}): could not clear the tunnel's ICMP errors: {e}")),
    }
}

fn held_out(line: &str) -> String {
    format!("{line} was taken out on purpose (teqlctl detach, ifdown) while the round probed; its ifup or teqlctl attach brings it back")
}

/// A TEQL bundle's lines join it (`attach` after the dispatch).
pub(crate) fn teql_lines_up(
    ctx: &Ctx,
    cfg: &Config,
    master: &Master,
    lines: &[IfName],
    bring_up: bool,
) -> Result<Plan> {
    let name = BundleName::new(&master.device)
        .ok_or_else(|| Error::Usage(format!("{}: not {EXPECT_MASTER}", master.device)))?;
    let joins: Vec<Join> = lines
        .iter()
        .map(|l| Join {
            line: l.clone(),
            master: name.clone(),
            rp_filter: cfg.members.get(l.as_str()).map(|m| m.rp_filter).unwrap_or(RpFilter::Loose),
        })
        .collect();
    attach_lines(ctx, cfg, &joins, bring_up)
}

/// A line to attach to a teql master, with the rp_filter it needs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub line: IfName,
    /// Always a teqlN: multipath lines join their bundle through `multipath`.
    pub master: BundleName,
    pub rp_filter: RpFilter,
}

/// Attaches the lines of `joins`. `bring_masters_up`: also bring each master up with its
/// address and route (network-scripts and the CLI); ifupdown configures masters itself, so its
/// hooks pass false.
pub(crate) fn attach_lines(ctx: &Ctx, cfg: &Config, joins: &[Join], bring_masters_up: bool) -> Result<Plan> {
    let masters: BTreeSet<BundleName> = joins.iter().map(|j| j.master.clone()).collect();
    let needed = crate::kernel::module::needed_for(cfg, &masters.iter().map(ToString::to_string).collect());
    run(ctx, needed, Reads::WithRpFilter, |p| {
        for j in joins {
            p.attach(&j.line, &j.master, j.rp_filter, ctx.force)?;
        }
        for m in &masters {
            warn_independent_isps(p, cfg, m);
        }
        // Under the run lock (`run` holds it): lines asked in are no longer held out.
        let joining: Vec<&str> = joins.iter().map(|j| j.line.as_str()).collect();
        let dir = crate::statefile::state_dir();
        let body = crate::run::held::after(&dir, &[], &joining)?.1;
        for r in held_record(&dir, body, &[], &joining) {
            p.intend(Some(r));
        }
        if bring_masters_up {
            for m in &masters {
                p.master_up(&master_cfg(cfg, m))?;
            }
        }
        Ok(())
    })
}

/// `teqlctl detach`, and ifdown hooks for a member. A master left without lines goes down.
pub(crate) fn detach(ctx: &Ctx, ifaces: &[IfName], missing_ok: bool) -> Result<Plan> {
    detach_lines(ctx, ifaces, missing_ok, true)
}

/// As `detach`; `down_if_empty` false leaves an emptied master up (under ifupdown, which must
/// take it down itself or its state would say it is still configured).
pub(crate) fn detach_lines(ctx: &Ctx, ifaces: &[IfName], missing_ok: bool, down_if_empty: bool) -> Result<Plan> {
    run(ctx, Need::default(), Reads::NetlinkOnly, |p| {
        // Recorded first, under the run lock, as check records its intent: `check` never puts
        // a line taken out on purpose back (issue 26, point 11).
        let leaving: Vec<&str> = ifaces.iter().map(IfName::as_str).collect();
        let dir = crate::statefile::state_dir();
        let body = crate::run::held::after(&dir, &leaving, &[])?.1;
        for r in held_record(&dir, body, &leaving, &[]) {
            p.intend(Some(r));
        }
        let mut left = BTreeSet::new();
        for iface in ifaces {
            if let Some(m) = p.detach(iface, missing_ok)? {
                left.insert(m);
            }
        }
        if down_if_empty {
            for m in left {
                p.down_if_empty(&m);
            }
        }
        Ok(())
    })
}

/// `up` for a TEQL bundle: every ONBOOT line that is up joins, then the master comes up.
pub(crate) fn teql_up(ctx: &Ctx, cfg: &Config, m: &Master, need_a_line: bool) -> Result<Plan> {
    let names = BTreeSet::from([m.device.to_string()]);
    run(ctx, crate::kernel::module::needed_for(cfg, &names), Reads::WithRpFilter, |p| {
        for member in cfg.members_of(&m.device).filter(|x| x.onboot) {
            check_config(cfg, &[&member.device])?;
            match p.state().link(&member.device) {
                None => p.note(format!("{}: no such interface; skipped", member.device)),
                Some(l) if !State::is_up(l) => {
                    p.note(format!("{} is down; it joins {} when it comes up", member.device, m.device))
                }
                Some(_) => {
                    p.attach(&member.device, &m.device, member.rp_filter, ctx.force)?;
                }
            }
        }
        if p.lines_of(&m.device) == 0 {
            let names: Vec<&str> = cfg.members_of(&m.device).map(|x| x.device.as_str()).collect();
            if names.is_empty() {
                // Nothing the kernel or the lines' state can change: the files lack it.
                let msg = format!(
                    "{}: no line is configured for it (add {})",
                    m.device,
                    crate::config::line_of_hint(&ctx.root, &m.device)
                );
                if need_a_line {
                    return Err(Error::NotConfigured(msg));
                }
                p.note(msg);
            } else {
                let msg = format!("{}: none of its lines ({}) is up; bring one up first", m.device, names.join(", "));
                if need_a_line {
                    return Err(Error::Refused(msg));
                }
                p.note(msg);
            }
        }
        warn_independent_isps(p, cfg, &m.device);
        p.master_up(m)?;
        Ok(())
    })
}

/// A TEQL bundle whose lines' files give them gateways of independent ISPs gets the planner's
/// warning, spelled for the stack of its first line's file.
fn warn_independent_isps(p: &mut Planner, cfg: &Config, master: &str) {
    p.warn_with(|state| crate::plan::teql::independent_isps_of(cfg, state, master));
}

/// `down` for a TEQL bundle.
pub(crate) fn teql_down(ctx: &Ctx, m: &Master) -> Result<Plan> {
    run(ctx, Need::default(), Reads::NetlinkOnly, |p| p.master_down(m))
}

/// `master_up` for a TEQL bundle.
pub(crate) fn teql_master_up(ctx: &Ctx, cfg: &Config, m: &Master) -> Result<Plan> {
    check_config(cfg, &[&m.device])?;
    run(ctx, crate::kernel::module::needed_for(cfg, &BTreeSet::from([m.device.to_string()])), Reads::NetlinkOnly, |p| {
        p.master_up(m)
    })
}

/// A master's TEQL_ROUTE and TEQL_NAT, after ifupdown configured its address and gateway.
pub(crate) fn master_routing(ctx: &Ctx, cfg: &Config, master: &BundleName) -> Result<Plan> {
    check_config(cfg, &[master])?;
    let m = master_cfg(cfg, master);
    let r = &m.routing;
    // Most bundles have neither: their ifup asks the kernel nothing more.
    if r.routes.is_empty() && r.nat.is_empty() && !crate::plan::bundle_nat::record_path(master).exists() {
        return Ok(Plan::default());
    }
    run(ctx, Need::default(), Reads::NetlinkOnly, |p| p.master_routing(&m))
}

/// ifup-pre-local: load sch_teql with enough masters before network-scripts looks for teqlN.
/// `device` is the interface being brought up (a line or a master).
pub(crate) fn load_module(ctx: &Ctx, cfg: &Config, device: &str) -> Result<()> {
    let master = cfg.members.get(device).map(|m| m.master.to_string()).unwrap_or_else(|| device.to_string());
    load_module_for(ctx, crate::kernel::module::needed_for(cfg, &BTreeSet::from([master])))
}

/// Loads sch_teql with at least `needed.now` masters.
pub(crate) fn load_module_for(ctx: &Ctx, needed: Need) -> Result<()> {
    if ctx.dry_run {
        match module::plan(needed) {
            Some(m) => crate::out::println(&m.to_string()),
            None => crate::out::println("# nothing to change"),
        }
        return Ok(());
    }
    let _lock = lock::acquire()?;
    if let Some(what) = ctx.kernel.open()?.get().ensure_module(needed)? {
        log::info(&what);
    }
    Ok(())
}

/// What happened to a multipath bundle: every caller (CLI, network-scripts and ifupdown hooks)
/// says only this, and `multipath::plan` decides.
#[derive(Debug, Clone)]
pub enum MpEvent {
    /// The bundle comes up, or a line of it came up: every configured line that is up with
    /// an address joins.
    Up,
    /// These lines go down (ifdown, detach): out of the group, their tables and rules gone.
    Leaving(Vec<String>),
    /// The bundle goes down: every object of its own removed.
    Down,
}

/// A multipath or connection bundle as its runs take it: the bundle, the options of its
/// per-line tables, rules and group, and a connection bundle's nftables options (None for a
/// multipath bundle). The dispatch (run::mode) makes it from the bundle's mode.
#[derive(Clone, Copy)]
pub(crate) struct Paths<'a> {
    pub master: &'a Master,
    pub options: &'a crate::config::MultipathOptions,
    pub connection: Option<&'a crate::config::ConnectionOptions>,
}

/// One planned run for multipath bundle `name`: configuration and kernel state (read under
/// the lock) in, the plan printed (--dry-run) or applied with rollback. Lines that
/// `teqlctl check` took out stay out of the group.
pub(crate) fn multipath(ctx: &Ctx, cfg: &Config, p: Paths<'_>, event: &MpEvent) -> Result<Plan> {
    multipath_run(ctx, cfg, p, event, &[])
}

/// As `multipath` with `MpEvent::Up`, for lines that join on purpose (their ifup, `teqlctl
/// attach`): they are no longer held out (held.rs).
pub(crate) fn multipath_joining(ctx: &Ctx, cfg: &Config, p: Paths<'_>, joining: &[&str]) -> Result<Plan> {
    multipath_run(ctx, cfg, p, &MpEvent::Up, joining)
}

fn multipath_run(ctx: &Ctx, cfg: &Config, p: Paths<'_>, event: &MpEvent, joining: &[&str]) -> Result<Plan> {
    let name = p.master.device.as_str();
    let _lock = if ctx.dry_run { None } else { Some(lock::acquire()?) };
    // Recorded first, under the lock, as check records its intent (issue 26, point 11): the
    // plan's intent, made before its changes and kept if they fail.
    let dir = crate::statefile::state_dir();
    let leaving: Vec<&str> = match event {
        MpEvent::Leaving(l) => l.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let (held, body) = crate::run::held::after(&dir, &leaving, joining)?;
    let intent = held_record(&dir, body, &leaving, joining);
    // Under the lock: `check` writes health.json under it too, so a round that puts a line back
    // is either wholly before this read or wholly after this run (issue 26, point 7).
    let mut dead = kept_out_with(name, &held);
    for j in joining {
        dead.remove(*j);
    }
    let mut h = ctx.kernel.open()?;
    let k = h.get();
    multipath_with_lines(ctx, cfg, p, event, &dead, multipath_lines(cfg, name), intent, k).map(|(plan, _)| plan)
}

/// The lines of `bundle` that stay out of its group: those `teqlctl check` has taken out
/// (health.json), and those taken out on purpose (held.json: detach, ifdown), which only their
/// own ifup or `teqlctl attach` brings back; a lease renewed on another line does not.
fn kept_out(bundle: &str) -> BTreeSet<String> {
    kept_out_with(bundle, &crate::run::held::load(&crate::statefile::state_dir()))
}

/// As `kept_out`, with the lines `held` as this run leaves them.
fn kept_out_with(bundle: &str, held: &BTreeSet<String>) -> BTreeSet<String> {
    let health = crate::run::health::load(&crate::statefile::state_dir());
    health
        .lines
        .iter()
        .filter(|(l, h)| h.master == bundle && (h.detached || held.contains(l.as_str())))
        .map(|(l, _)| l.to_string())
        .chain(held.iter().filter(|l| !health.lines.contains_key(l.as_str())).cloned())
        .collect()
}

/// The lines of a multipath bundle as the planner takes them, with the DHCP lease each line
/// without a configured gateway last had (recorded by the dhclient hook).
pub fn multipath_lines(cfg: &Config, name: &str) -> Vec<crate::plan::multipath::Line> {
    let dir = crate::statefile::state_dir();
    cfg.members_of(name)
        .map(|m| {
            let gateway = m.path.gateway();
            crate::plan::multipath::Line {
                device: m.device.clone(),
                weight: m.path.weight.unwrap_or(1),
                gateway,
                dhcp: if gateway.is_none() { crate::run::dhcp::load(&dir, &m.device) } else { None },
                table: m.table(),
                rp_filter: m.path.rp_filter,
                gateway_hint: m.gateway_hint(),
            }
        })
        .collect()
}

/// The record of held.json's new text `body` (None: as it is) once `hold` are held and
/// `release` let go, as a record of the run's intent.
fn held_record(
    dir: &std::path::Path,
    body: Option<String>,
    hold: &[&str],
    release: &[&str],
) -> Vec<crate::plan::Action> {
    let Some(body) = body else { return Vec::new() };
    let path = crate::run::held::file(dir);
    let previous = crate::statefile::read_record(&path);
    let what = match (hold, release) {
        ([], []) => "records of interfaces that are gone dropped".to_string(),
        (h, []) => format!("{} taken out on purpose: `check` leaves it out", h.join(", ")),
        ([], r) => format!("{} no longer held out", r.join(", ")),
        (h, r) => format!("{} held out, {} no longer", h.join(", "), r.join(", ")),
    };
    crate::plan::Action::record(path, Some(body), previous, what).into_iter().collect()
}

/// `line` joins on purpose (NetworkManager's `up` of its profile, before the lease it carries
/// is planned by `dhcp_event`): it is no longer held out (held.rs). Under the lock.
pub(crate) fn let_go(ctx: &Ctx, line: &IfName) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let _lock = lock::acquire()?;
    crate::run::held::set(&crate::statefile::state_dir(), [line.as_str()], false)
}

/// The dhclient hook for `ev.interface`, a line of multipath bundle `bundle`: under the lock,
/// records its lease (or removes the record of a lost one), then plans the bundle as a line
/// coming up does; a line that lost its lease stays out of the group (never the last live
/// line). A dry run records nothing and plans with the new lease.
pub(crate) fn dhcp_event(ctx: &Ctx, cfg: &Config, p: Paths<'_>, ev: &crate::run::dhcp::Event) -> Result<Plan> {
    let bundle = p.master.device.as_str();
    let line = &ev.interface;
    let _lock = if ctx.dry_run { None } else { Some(lock::acquire()?) };
    // Under the lock, as in `multipath`.
    let mut dead = kept_out(bundle);
    if ev.reason == crate::run::dhcp::Reason::Lost {
        dead.insert(line.to_string());
    }
    let dir = crate::statefile::state_dir();
    let before = crate::run::dhcp::load(&dir, line);
    // The lease is recorded first, as the plan's intent: kept when the plan fails, so that
    // the next run (`check`, another line's hook) plans with it.
    let mut intent = Vec::new();
    if before != ev.lease {
        let what = match (ev.lease, before) {
            (Some(l), Some(b)) => {
                format!("lease of {} via {} (was {} via {})", l.address, l.router, b.address, b.router)
            }
            (Some(l), None) => format!("lease of {} via {}", l.address, l.router),
            (None, _) if ev.reason == crate::run::dhcp::Reason::Lost => "lease lost".to_string(),
            (None, _) => "no router in the lease: the gateway is the kernel's".to_string(),
        };
        let path = crate::run::dhcp::record_path(&dir, line);
        let previous = crate::statefile::read_record(&path);
        let record = crate::run::dhcp::record_text(ev.lease)?;
        intent.extend(crate::plan::Action::record(path, record, previous, format!("{line}'s DHCP {what}")));
        if !ctx.dry_run {
            log::info(&format!("{line} ({bundle}): DHCP {}: {what}", ev.reason_name));
        }
    }
    let mut lines = multipath_lines(cfg, bundle);
    for l in lines.iter_mut().filter(|l| l.device == line.as_str() && l.gateway.is_none()) {
        l.dhcp = ev.lease;
    }
    let mut h = ctx.kernel.open()?;
    let k = h.get();
    multipath_with_lines(ctx, cfg, p, &MpEvent::Up, &dead, lines, intent, k).map(|(plan, _)| plan)
}

fn mp_bundle(p: Paths<'_>) -> crate::plan::multipath::Bundle {
    crate::plan::multipath::Bundle {
        name: p.master.device.clone(),
        hash: p.options.hash,
        defroute: p.options.defroute,
        metric: p.master.metric,
        fwmark: p.connection.is_some(),
        local_source: p.connection.and_then(|c| c.local_source),
        source: p.master.source.clone(),
    }
}

/// The lines the planner would put in multipath bundle `name`'s group now, given the kernel's
/// `state` (with the lines' tables read): for `check`, a line out of its group is missing
/// for no recorded reason only if the planner would have it in (a router the kernel would
/// refuse, no carrier or no gateway are reasons the planner knows). Pure but for the lease
/// records it reads.
pub(crate) fn multipath_would_carry(cfg: &Config, p: Paths<'_>, state: &State) -> Vec<String> {
    let name = p.master.device.as_str();
    let req = crate::plan::multipath::Request {
        bundle_up: true,
        // What check read of the kernel: it asks only when no group says so.
        resilient: crate::kernel::netlink::kernel_has_resilient_groups(),
        dead: kept_out(name),
        ..crate::plan::multipath::Request::default()
    };
    crate::plan::multipath::plan(&mp_bundle(p), &multipath_lines(cfg, name), &req, state).members
}

/// One planned run of multipath bundle `master`, for a caller that holds the lock and a netlink
/// socket, with the lines that must stay out of the group (`dead`), the bundle's lines as the
/// planner takes them and the records of the run's intent (Plan::intent). Returns the plan and
/// the lines in the group after it.
#[allow(clippy::too_many_arguments)]
fn multipath_with_lines(
    ctx: &Ctx,
    cfg: &Config,
    p: Paths<'_>,
    event: &MpEvent,
    dead: &BTreeSet<String>,
    lines: Vec<crate::plan::multipath::Line>,
    intent: Vec<crate::plan::Action>,
    nl: &mut dyn Kernel,
) -> Result<(Plan, Vec<String>)> {
    use crate::plan::multipath::{self as mp, Request};
    let name = p.master.device.as_str();
    // The intent first, before anything else can fail (record_intent); a dry run shows it with
    // the plan.
    let mut recorded = Plan { intent, ..Plan::default() };
    if !ctx.dry_run {
        record_intent(&mut recorded, nl)?;
    }
    let mut intent = recorded.intent;
    check_config(cfg, &[name])?;
    let bundle = mp_bundle(p);
    let mut req = Request {
        bundle_up: !matches!(event, MpEvent::Down),
        resilient: nl.resilient_groups(),
        dead: dead.clone(),
        ..Request::default()
    };
    if let MpEvent::Leaving(l) = event {
        req.leaving = l.iter().cloned().collect();
    }
    // A change of one line the kernel refuses (its table's route, its rule, its nexthop) must
    // not stop the other lines': the plan is rolled back (the kernel is then as it was read),
    // the line is planned out (`Request::refused`: out of the group, nothing else of it
    // touched) and the bundle planned and applied again, from the kernel read anew. Planning
    // again rather than applying line by line keeps the planner the one place that derives
    // the group, the main default route and a connection bundle's table from the lines that
    // stay. Each round takes one line out, so there are at most as many rounds as lines. A
    // change of the whole bundle (the group, the default route, nftables, the hash policy)
    // fails the run as before, and so does a refusal that would leave an up bundle without a
    // line: the box never loses its default route to this.
    let mut first_error = None;
    let mut said = BTreeSet::new();
    loop {
        let mut state = nl.read(Reads::NetlinkOnly)?;
        let tables: Vec<u32> = lines.iter().map(|l| l.table).collect();
        nl.read_multipath(&mut state, &tables)?;
        // Only the lines that set TEQL_RP_FILTER: the others keep whatever the admin has.
        for l in lines.iter().filter(|l| l.rp_filter.is_some()) {
            if let Some(v) = nl.rp_filter(&l.device) {
                state.rp_filter.insert(l.device.to_string(), v);
            }
        }
        let mut mp = mp::plan(&bundle, &lines, &req, &state);
        if req.bundle_up && mp.members.is_empty() {
            if let Some(e) = first_error.take() {
                let refused: Vec<&str> = req.refused.iter().map(String::as_str).collect();
                return Err(Error::Refused(format!(
                    "{name}: the kernel refused a change of {}, and no other line can carry {name}: nothing was \
                     changed, to keep the box's default route ({e})",
                    refused.join(" and ")
                )));
            }
        }
        let mut actions = std::mem::take(&mut mp.actions);
        let mut notes = std::mem::take(&mut mp.notes);
        let mut warnings = std::mem::take(&mut mp.warnings);
        // Whether the table was written or removed: its fingerprint is recorded once it was.
        let mut fingerprint = false;
        if let Some(c) = p.connection {
            let step = connection_step(ctx, nl, &p.master.device, c, &lines, &mp, req.bundle_up)?;
            if let Some(ConnStep { action, saved: wanted, flush, warnings: w, repaired: why }) = step {
                warnings.extend(w);
                // The records follow the transaction at once, and come before the flushes
                // (last: they cannot be undone), so that a rollback puts them back with it.
                let mut step = vec![action];
                step.extend(connection_records(nl, name, wanted.as_deref(), why.as_deref()));
                // Up: the tables and rules the marks lead to exist first. Down: the marks stop
                // before the tables go.
                if req.bundle_up {
                    actions.extend(step);
                } else {
                    actions.splice(0..0, step);
                }
                actions.extend(flush);
                fingerprint = true;
            } else if ctx.dry_run {
                notes.push(format!("{name}: its nftables table is as it should be"));
            }
        } else if ruleset_file(name).exists() {
            // No longer a connection bundle: the marks stop before anything else changes, and
            // the record goes once they have (its fwmark rules go with the planner's, which
            // keeps them only for a connection bundle).
            let mut step: Vec<crate::plan::Action> =
                leftover_connection_table(ctx, nl, cfg, &p.master.device)?.into_iter().collect();
            step.extend(connection_records(nl, name, None, None));
            actions.splice(0..0, step);
            fingerprint = true;
        }
        if !mp.problems.is_empty() {
            note_line_problem();
        }
        // Shown by the first round only (a dry run has one).
        let intent = std::mem::take(&mut intent);
        let plan = Plan { module: None, intent, actions, then: Vec::new(), notes, warnings };
        if ctx.dry_run {
            crate::out::print(&format!("{plan}"));
            return Ok((plan, mp.members));
        }
        match apply_plan_at(&plan, nl, &mut said) {
            Ok(()) => {
                // Not an action of the plan, as the ruleset's record is: the fingerprint holds
                // the table's handle, which the kernel gives it in the transaction, so it is
                // read once the transaction ran. A failure costs the next run an `nft list`.
                if fingerprint {
                    let now = nl.nft_fingerprint(name, crate::plan::connection::NFT_TABLE);
                    record_fingerprint(&fingerprint_file(name), now, name);
                }
                return Ok((plan, mp.members));
            }
            Err(f) => {
                let line = plan.actions.get(f.at).and_then(|a| line_of_action(a, &lines));
                let line_problem = matches!(*f.error, Error::Kernel { .. } | Error::NoSuchInterface(_));
                match line {
                    Some(l) if line_problem && !req.refused.contains(l) => {
                        log::warn_with(
                            &format!(
                                "{l} ({name}): {}; {l} is left out of {name}, and its other lines' changes are made without it",
                                f.error
                            ),
                            &[("EVENT", "line-refused"), ("LINE", l), ("MASTER", name)],
                        );
                        note_line_problem();
                        req.refused.insert(l.to_string());
                        first_error = first_error.or(Some(*f.error));
                    }
                    _ => return Err(*f.error),
                }
            }
        }
    }
}

/// The configured line a change of a multipath plan belongs to: its rp_filter, a route or rule
/// of its table, its own nexthop. None for the bundle's own (the group, the main table's
/// default route, nftables, the hash policy).
fn line_of_action<'a>(a: &crate::plan::Action, lines: &'a [crate::plan::multipath::Line]) -> Option<&'a str> {
    use crate::plan::Action;
    let table = match a {
        Action::SetRpFilter { iface, .. } => {
            return lines.iter().find(|l| l.device == *iface).map(|l| l.device.as_str());
        }
        Action::ReplaceRoute { route, .. } | Action::DelRoute { route, .. } => route.table,
        Action::AddRule { rule, .. } | Action::DelRule { rule, .. } => rule.table,
        Action::ReplaceNexthop { nh, .. } | Action::DelNexthop { nh, .. } if nh.group.is_empty() => nh.id,
        _ => return None,
    };
    if table == crate::kernel::route::MAIN_TABLE {
        return None;
    }
    lines.iter().find(|l| l.table == table).map(|l| l.device.as_str())
}

/// Our table as the kernel has it, as a script that recreates it (for a rollback), or None;
/// and, when the table is there but not the one we wrote, why (the caller writes it anew).
/// When it exists with the netlink fingerprint recorded after our last write, the ruleset we
/// last wrote stands for it: the round of `check` that takes a dead line out then starts one
/// nft, for the change, instead of two (`nft list` as well), each a few hundred milliseconds
/// of the failover under emulation. A rollback then restores the table without its counters.
/// Trusting the record on the table's name alone was wrong: after `nft flush table inet
/// teqlctl`, or a reload of a saved `nft list ruleset`, the table kept its name and lost its
/// rules, and every run said all was well (see nft::Fingerprint for what is compared). Without
/// the record, or when netlink cannot tell, nft lists the table.
fn current_table(k: &mut dyn Kernel, name: &str, last: Option<&str>) -> Result<(Option<String>, Option<String>)> {
    use crate::plan::connection::NFT_TABLE;
    match (k.nft_fingerprint(name, NFT_TABLE), last) {
        (Ok(None), _) => Ok((None, None)),
        (Ok(Some(now)), Some(l)) => match table_as_written(&fingerprint_file(name), now) {
            None => Ok((Some(l.to_string()), None)),
            Some(why) => Ok((k.nft_list(name, NFT_TABLE)?, Some(why))),
        },
        _ => Ok((k.nft_list(name, NFT_TABLE)?, None)),
    }
}

/// `teqlctl check`'s look at each connection bundle's table (a netlink question, no nft
/// process): one that is not what teqlctl wrote is written anew with the bundle as it is now,
/// as `up` would. Errors are logged: a round's probes and changes stand on their own.
pub(crate) fn repair_connection_table(ctx: &Ctx, cfg: &Config, p: Paths<'_>) {
    let name = &p.master.device;
    if p.connection.is_some() {
        let Some(why) = connection_table_problem(name) else { return };
        if ctx.dry_run {
            crate::out::println(&format!("# {name}: nftables table inet teqlctl is not what teqlctl wrote ({why})"));
        }
        if let Err(e) = multipath(ctx, cfg, p, &MpEvent::Up) {
            log::error(&format!(
                "{name}: its nftables table is not what teqlctl wrote ({why}) and could not be written anew: {e}"
            ));
        }
    }
}

/// The default route of an up connection bundle with a local source (TEQL_LOCAL_SOURCE), when
/// the planner would change it: the kernel deletes every route whose `src` is an address that
/// goes away, the bundle's default route with it (measured on 6.18: `ip address del` of the
/// source, and the main table has no default route), and nothing else brings it back until
/// the next `up`; and when the address is back, the route should have it again. Each `check`
/// round plans such a bundle from the kernel it read, and runs `up` for it only if its main
/// default route would change, so the box is without a default route for about one round.
pub(crate) fn repair_local_source(ctx: &Ctx, cfg: &Config, p: Paths<'_>, state: &State) {
    use crate::plan::multipath as mp;
    use crate::plan::Action;
    let name = &p.master.device;
    {
        if p.connection.and_then(|c| c.local_source).is_none() || !p.options.defroute {
            return;
        }
        // Up, as far as the kernel says: its group is there (a bundle taken down has none).
        let gid = mp::group_id(name);
        if !state.nexthops.iter().any(|n| n.id == gid && !n.group.is_empty()) {
            return;
        }
        let req = mp::Request { bundle_up: true, resilient: true, dead: kept_out(name), ..mp::Request::default() };
        let plan = mp::plan(&mp_bundle(p), &multipath_lines(cfg, name), &req, state);
        let route_changes = plan.actions.iter().any(|a| {
            matches!(a, Action::ReplaceRoute { route, .. } if route.table == crate::kernel::route::MAIN_TABLE && route.is_default())
        });
        if !route_changes {
            return;
        }
        if ctx.dry_run {
            crate::out::println(&format!("# {name}: its default route is missing or its local source changed"));
        }
        if let Err(e) = multipath(ctx, cfg, p, &MpEvent::Up) {
            log::error(&format!(
                "{name}: its default route is missing or its local source changed, and `up` failed: {e}"
            ));
        }
    }
}

/// Where the last time teqlctl had to write a table that was not its own is kept, for status.
pub(crate) fn repair_file(name: &str) -> std::path::PathBuf {
    crate::statefile::state_dir().join(format!("connection-{name}.repaired"))
}

/// The last repair of connection bundle `name`'s table: (UNIX time, why).
pub(crate) fn last_repair(name: &str) -> Option<(u64, String)> {
    let s = crate::statefile::read_record(&repair_file(name))?;
    let (t, why) = s.trim_end().split_once(' ')?;
    Some((t.parse().ok()?, why.to_string()))
}

/// The records of connection bundle `name` once its table is `ruleset` (None: gone), as plan
/// actions (none for a record that holds that already): the ruleset as written, which the
/// next run compares with what it wants; and, for `status`, why the table had to be written
/// anew (`repaired`), or nothing once the bundle is down (its last repair is no longer news).
fn connection_records(
    k: &mut dyn Kernel,
    name: &str,
    ruleset: Option<&str>,
    repaired: Option<&str>,
) -> Vec<crate::plan::Action> {
    use crate::plan::Action;
    let path = ruleset_file(name);
    let previous = k.read_record(&path);
    let what = match ruleset {
        Some(_) => format!("the nftables ruleset written for {name}"),
        None => format!("{name} has no nftables table"),
    };
    let mut out: Vec<Action> = Action::record(path, ruleset.map(str::to_string), previous, what).into_iter().collect();
    let repair = match (ruleset, repaired) {
        (_, Some(why)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Some((Some(format!("{now} {why}\n")), format!("{name}: its table was not what teqlctl wrote ({why})")))
        }
        (None, None) => Some((None, format!("{name}: its last repair, now that it is down"))),
        (Some(_), None) => None,
    };
    if let Some((contents, what)) = repair {
        let path = repair_file(name);
        let previous = k.read_record(&path);
        out.extend(Action::record(path, contents, previous, what));
    }
    out
}

/// The nft transaction that removes the `inet teqlctl` table teqlctl wrote for `name` when it
/// was a connection bundle (its record says so), now that it is a multipath one: its marks
/// and masquerade rules are what the new mode no longer needs. None when the table is gone,
/// or when another configured bundle is the connection bundle now (the table is that one's,
/// and its own run writes it anew).
fn leftover_connection_table(
    ctx: &Ctx,
    k: &mut dyn Kernel,
    cfg: &Config,
    name: &BundleName,
) -> Result<Option<crate::plan::Action>> {
    use crate::plan::connection as conn;
    if cfg.connection_bundles().any(|(m, _)| m.device != *name) {
        return Ok(None);
    }
    let last = k.read_record(&ruleset_file(name));
    let current = match current_table(k, name, last.as_deref()) {
        Ok((c, _)) => c,
        Err(e) if ctx.dry_run => {
            eprintln!("teqlctl: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    let Some(cur) = current else { return Ok(None) };
    Ok(Some(crate::plan::Action::Nft {
        bundle: name.clone(),
        script: conn::teardown(),
        undo: format!("{}{cur}", conn::teardown()),
        what: format!(
            "{name}: nftables table {} {} removed (it is no longer a connection bundle)",
            conn::NFT_FAMILY,
            conn::NFT_TABLE
        ),
    }))
}

/// What a connection bundle's run does to nftables and conntrack.
struct ConnStep {
    /// The nft transaction.
    action: crate::plan::Action,
    /// The ruleset to remember once it ran (None: the table is gone).
    saved: Option<String>,
    /// Conntrack flushes of lines that stopped taking new connections.
    flush: Vec<crate::plan::Action>,
    /// What the plan must say besides (lines sharing an address).
    warnings: Vec<String>,
    /// Why the table is written anew although our record says it needs no change: it is not
    /// the table we wrote (for `status`, once it ran).
    repaired: Option<String>,
}

/// The nft transaction a connection bundle needs, if any, with the ruleset to remember once it
/// ran (None: the table is gone). The table is written whole when it is missing or its rules
/// must change (lines, addresses, NAT); a change of weights or of the preferred line alone
/// (health) rewrites the two maps and nothing else.
fn connection_step(
    ctx: &Ctx,
    k: &mut dyn Kernel,
    name: &BundleName,
    c: &crate::config::ConnectionOptions,
    lines: &[crate::plan::multipath::Line],
    mp: &crate::plan::multipath::MpPlan,
    bundle_up: bool,
) -> Result<Option<ConnStep>> {
    let (now, members) = (&mp.now, &mp.members);
    use crate::plan::connection::{self as conn, ConnLine, ConnSettings};
    use crate::plan::Action;
    let last = k.read_record(&ruleset_file(name));
    let (current, tampered) = match current_table(k, name, last.as_deref()) {
        Ok(c) => c,
        // A dry run shows the plan on a box without nft too, and says so.
        Err(e) if ctx.dry_run => {
            crate::out::eprintln(&format!("teqlctl: {e}"));
            (None, None)
        }
        Err(e) => return Err(e),
    };
    if let (Some(why), true) = (&tampered, bundle_up) {
        log::warn(&format!(
            "{name}: nftables table {} {} is not what teqlctl wrote ({why}): it is written anew",
            conn::NFT_FAMILY,
            conn::NFT_TABLE
        ));
    }
    // What the comparisons below trust as the kernel's table: nothing when it is not ours.
    let written = if tampered.is_some() { None } else { last.as_deref() };
    let undo = match &current {
        Some(cur) => format!("{}{cur}", conn::teardown()),
        None => conn::teardown(),
    };
    let live_any = !members.is_empty();
    if !bundle_up || !live_any {
        if current.is_none() {
            return Ok(None);
        }
        let what = format!("{name}: nftables table {} {} removed", conn::NFT_FAMILY, conn::NFT_TABLE);
        let action = Action::Nft { bundle: name.clone(), script: conn::teardown(), undo, what };
        return Ok(Some(ConnStep { action, saved: None, flush: Vec::new(), warnings: Vec::new(), repaired: None }));
    }
    let clines: Vec<ConnLine> = lines
        .iter()
        .map(|l| ConnLine {
            device: l.device.clone(),
            mark: conn::mark_of(l.table),
            weight: l.weight,
            addr: now.iter().find(|n| n.device == l.device).map(|n| n.addr),
            live: members.iter().any(|m| l.device == *m),
        })
        .collect();
    let warnings: Vec<String> = conn::shared_addresses(&clines).into_iter().map(|w| format!("{name}: {w}")).collect();
    let settings = ConnSettings {
        bundle: name.clone(),
        nat: c.nat.clone(),
        prefer: c.prefer.clone(),
        prefer_dst: c.prefer_dst.clone(),
        local_source: mp.local_source,
    };
    let wanted = conn::ruleset(&clines, &settings);
    let shares: Vec<String> = conn::slots(&clines)
        .iter()
        .filter_map(|(a, b, m)| {
            clines.iter().find(|l| l.mark == *m).map(|l| format!("{} {}/{}", l.device, b - a + 1, conn::SLOTS))
        })
        .collect();
    // Lines that took new connections before this run and take none after it: their
    // connections are dead (a line found dead, or gone down), flushed so that retries go to
    // live lines at once. The others' are never touched.
    let flush: Vec<Action> = match (&current, last.as_deref()) {
        (Some(_), Some(l)) => {
            let weights_before = l.lines().find(|x| x.trim_start().starts_with("map weights ")).unwrap_or("");
            clines
                .iter()
                .filter(|c| !c.live && weights_before.contains(&format!("{:#010x}", c.mark)))
                .map(|c| Action::FlushConntrack { bundle: name.clone(), line: c.device.clone(), mark: c.mark })
                .collect()
        }
        _ => Vec::new(),
    };
    let (script, what) = match (&current, written) {
        (Some(_), Some(l)) if l == wanted => return Ok(None),
        (Some(_), Some(l)) if conn::structure(l) == conn::structure(&wanted) => {
            (conn::maps_update(&clines, &settings), format!("{name}: new connections now go {}", shares.join(", ")))
        }
        _ => {
            // A table written whole needs nft 0.9.4 (typeof maps): checked here, before the
            // plan runs, so that a box without a usable nft gets no half of a bundle; a run that
            // leaves the table alone (most `check` rounds) starts no second nft for it.
            if !ctx.dry_run {
                k.nft_check_version(name)?;
            }
            (
                wanted.clone(),
                format!(
                    "{name}: nftables table {} {} written; new connections go {}",
                    conn::NFT_FAMILY,
                    conn::NFT_TABLE,
                    shares.join(", ")
                ),
            )
        }
    };
    let action = Action::Nft { bundle: name.clone(), script, undo, what };
    Ok(Some(ConnStep { action, saved: Some(wanted), flush, warnings, repaired: tampered }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::nft::Fingerprint;

    #[test]
    fn a_table_is_ours_only_with_the_fingerprint_recorded_after_our_write() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("connection-wan.fingerprint");
        let written = Fingerprint { handle: Some(7), uses: 8, rules: 16 };
        // No record (written by an older teqlctl, or the record failed): not trusted.
        assert!(table_as_written(&file, written).unwrap().contains("no fingerprint"));
        std::fs::write(&file, format!("{written}\n")).unwrap();
        assert_eq!(table_as_written(&file, written), None);
        // `nft flush table`: same handle, no rules.
        let flushed = Fingerprint { rules: 0, ..written };
        assert!(table_as_written(&file, flushed).unwrap().contains("it has 0 rules"));
        // A saved ruleset loaded again: the same counts, a new table.
        let reloaded = Fingerprint { handle: Some(9), ..written };
        assert!(table_as_written(&file, reloaded).unwrap().contains("created again"));
    }

    use crate::kernel::route::{Nexthop, Rule, TableRoute};
    use crate::plan::Action;

    #[test]
    fn a_refused_change_is_pinned_on_its_line_or_on_the_bundle() {
        let line = |d: &str, table| crate::plan::multipath::Line {
            device: d.into(),
            weight: 1,
            gateway: None,
            dhcp: None,
            table,
            rp_filter: None,
            gateway_hint: "",
        };
        let lines = [line("eth1", 4201), line("eth2", 4202)];
        let route = |table| Action::ReplaceRoute {
            bundle: "wan".into(),
            route: TableRoute { table, ..TableRoute::default() },
            previous: None,
            shown: String::new(),
        };
        let hop = |id, group: Vec<(u32, u16)>| Action::ReplaceNexthop {
            bundle: "wan".into(),
            nh: Nexthop { id, group, ..Nexthop::default() },
            previous: None,
            shown: String::new(),
        };
        let rule = Action::AddRule {
            bundle: "wan".into(),
            rule: Rule { priority: 30100, src: None, fwmark: None, table: 4202 },
            shown: String::new(),
        };
        let rp = Action::SetRpFilter { iface: "eth1".into(), value: 2, previous: None };
        assert_eq!(line_of_action(&route(4201), &lines), Some("eth1"));
        assert_eq!(line_of_action(&rule, &lines), Some("eth2"));
        assert_eq!(line_of_action(&hop(4202, vec![]), &lines), Some("eth2"));
        assert_eq!(line_of_action(&rp, &lines), Some("eth1"));
        // The bundle's own: the group (even with a line's number), the main table's route.
        assert_eq!(line_of_action(&hop(4202, vec![(4201, 1)]), &lines), None);
        assert_eq!(line_of_action(&route(crate::kernel::route::MAIN_TABLE), &lines), None);
        assert_eq!(line_of_action(&route(4299), &lines), None);
    }

    use crate::kernel::netlink::{
        Address, Link, Qdisc, ARPHRD_VOID, IFF_BROADCAST, IFF_LOWER_UP, IFF_NOARP, IFF_RUNNING, IFF_UP,
    };
    use crate::kernel::MemKernel;

    /// eth1..eth3 up with an address each, teql0 down.
    fn office() -> State {
        let mut s = State { teql_loaded: true, hash_policy: Some(0), ..State::default() };
        let teql0 = Link {
            index: 1,
            name: "teql0".into(),
            flags: IFF_NOARP,
            mtu: 1500,
            link_type: ARPHRD_VOID,
            ..Link::default()
        };
        s.links.push(teql0);
        for (i, name, addr) in [(11, "eth1", "198.51.100.10"), (12, "eth2", "192.0.2.10"), (13, "eth3", "203.0.113.10")]
        {
            let flags = IFF_UP | IFF_RUNNING | IFF_LOWER_UP | IFF_BROADCAST;
            s.links.push(Link { index: i, name: name.into(), flags, mtu: 1500, link_type: 1, ..Link::default() });
            s.qdiscs.insert(i, Qdisc { ifindex: i, kind: "fq_codel".into(), handle: 0 });
            s.addresses.push(Address { ifindex: i, addr: name_addr(addr), prefix_len: 24, peer: None });
            s.rp_filter.insert(name.into(), 2);
        }
        s
    }

    fn name_addr(a: &str) -> std::net::Ipv4Addr {
        a.parse().unwrap()
    }

    fn ctx() -> Ctx {
        Ctx { root: PathBuf::from("/nonexistent"), ..Ctx::default() }
    }

    /// The run of `teqlctl attach` goes through the kernel it is given: all of it applied, or,
    /// when a change fails, none of it.
    #[test]
    fn a_teql_run_applies_through_the_kernel_seam_and_rolls_back_whole() {
        let build = |p: &mut Planner| {
            for l in ["eth2", "eth3"] {
                p.attach(&IfName::from(l), &BundleName::from("teql0"), RpFilter::Loose, false)?;
            }
            p.master_up(&Master {
                address: Some(crate::config::Ipv4Prefix { addr: name_addr("198.18.0.2"), prefix_len: 30 }),
                ..Master::bare("teql0".into())
            })
        };
        let mut k = MemKernel::new(office());
        let before = k.snapshot();
        k.fail_when("address add", libc::EACCES);
        let e = plan_and_apply(&ctx(), Need::default(), Reads::WithRpFilter, &mut k, build).unwrap_err();
        assert!(matches!(e, Error::Permission(_)), "{e}");
        assert!(k.snapshot() == before, "{:?}", k.state());

        k.heal();
        let plan = plan_and_apply(&ctx(), Need::default(), Reads::WithRpFilter, &mut k, build).unwrap();
        assert_eq!(plan.actions.len(), 4, "{plan}");
        assert_eq!(k.state().slaves_of("teql0").count(), 2);
        assert!(k.state().link("teql0").is_some_and(State::is_up));
        assert!(k.state().addresses_of(1).any(|a| a.addr == name_addr("198.18.0.2")));
        let again = plan_and_apply(&ctx(), Need::default(), Reads::WithRpFilter, &mut k, build).unwrap();
        assert!(again.actions.is_empty(), "{again}");
    }

    /// A change of one line that the kernel refuses in the middle of a multipath run leaves
    /// that line out, and the others' changes are made without it (the retry loop of
    /// `multipath_with_lines`, run on the kernel seam).
    #[test]
    fn a_multipath_line_the_kernel_refuses_is_left_out_and_the_others_are_applied() {
        let t = tempfile::TempDir::new().unwrap();
        let dir = t.path().join("etc/sysconfig/network-scripts");
        std::fs::create_dir_all(&dir).unwrap();
        for (n, gw) in [(1, "198.51.100.1"), (2, "192.0.2.1"), (3, "203.0.113.1")] {
            std::fs::write(
                dir.join(format!("ifcfg-eth{n}")),
                format!("DEVICE=eth{n}\nGATEWAY={gw}\nTEQL_MASTER=wan\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
        let cfg = crate::config::load(t.path());
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        let lines = multipath_lines(&cfg, "wan");
        let eth2 = lines.iter().find(|l| l.device == "eth2").map(|l| l.table).unwrap();
        let master = &cfg.masters["wan"];
        let crate::config::Mode::Multipath(options) = &master.mode else { panic!("wan is multipath") };
        let p = Paths { master, options, connection: None };

        let mut k = MemKernel::new(office());
        // A record of the run's intent (a lease) is made before the changes and stays through
        // the rollback of the first round.
        let lease = Action::record("/run/t/dhcp-eth1.json".into(), Some("{}".into()), None, "a lease".into()).unwrap();
        // Its rule comes after its table's routes: the routes were made, then rolled back.
        k.fail_when(
            &format!("rule add Rule {{ priority: 30100, src: Some((192.0.2.10, 32)), fwmark: None, table: {eth2} }}"),
            libc::EINVAL,
        );
        let (plan, members) = multipath_with_lines(
            &ctx(),
            &cfg,
            p,
            &MpEvent::Up,
            &BTreeSet::new(),
            lines.clone(),
            vec![lease.clone()],
            &mut k,
        )
        .unwrap();
        assert_eq!(members, ["eth1", "eth3"]);
        assert_eq!(k.records.get(std::path::Path::new("/run/t/dhcp-eth1.json")).map(String::as_str), Some("{}"));
        assert_eq!(k.log.iter().filter(|c| c.starts_with("record ")).count(), 1, "recorded once: {:?}", k.log);
        let s = k.state();
        assert!(s.routes.iter().all(|r| r.table != eth2) && s.rules.iter().all(|r| r.table != eth2), "{s:?}");
        assert_eq!(s.rules.len(), 2);
        let group = crate::plan::multipath::group_id("wan");
        assert!(s.nexthops.iter().any(|n| n.id == group && n.group.len() == 2), "{plan}");

        // The kernel takes it now: the next run brings eth2 in.
        k.heal();
        let (_, members) =
            multipath_with_lines(&ctx(), &cfg, p, &MpEvent::Up, &BTreeSet::new(), lines, Vec::new(), &mut k).unwrap();
        assert_eq!(members, ["eth1", "eth2", "eth3"]);
    }

    /// A connection bundle's records are actions planned with its table: the ruleset when it
    /// changes (none when the record holds it already), why the table was written anew, and,
    /// once the bundle is down, neither.
    #[test]
    fn a_connection_bundle_s_records_are_planned_only_when_they_change() {
        let mut k = MemKernel::new(office());
        let records = |k: &mut MemKernel, ruleset, why| connection_records(k, "wan", ruleset, why);
        let first = records(&mut k, Some("table inet teqlctl {}\n"), None);
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(first[0].to_string().starts_with(&format!("# record {}: ", ruleset_file("wan").display())));
        let plan = Plan { actions: first, ..Plan::default() };
        crate::run::apply::apply(&plan, &mut k).unwrap();
        assert!(records(&mut k, Some("table inet teqlctl {}\n"), None).is_empty(), "unchanged: nothing planned");

        let repaired = records(&mut k, Some("table inet teqlctl {}\n"), Some("flushed"));
        let [Action::Record { path, contents: Some(c), previous: None, .. }] = &repaired[..] else {
            panic!("{repaired:?}")
        };
        assert_eq!((path, c.ends_with(" flushed\n")), (&repair_file("wan"), true));
        crate::run::apply::apply(&Plan { actions: repaired, ..Plan::default() }, &mut k).unwrap();

        let down = records(&mut k, None, None);
        let shown: Vec<String> = down.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown.iter().all(|s| s.starts_with("# remove record ")), "{shown:?}");
        crate::run::apply::apply(&Plan { actions: down, ..Plan::default() }, &mut k).unwrap();
        assert!(k.records.is_empty(), "{:?}", k.records);
        assert!(records(&mut k, None, None).is_empty());
    }

    /// What was asked (a line held out) is recorded before anything else can fail, as when it
    /// was written before planning: a plan that cannot be made keeps it; a dry run writes
    /// nothing and shows it.
    #[test]
    fn the_intent_is_recorded_even_when_the_plan_cannot_be_made() {
        let held = Action::record("/run/t/held.json".into(), Some("{}".into()), None, "eth2 held out".into());
        let build = |p: &mut Planner| {
            p.intend(held.clone());
            p.detach(&crate::config::IfName::new("eth9").unwrap(), false).map(drop)
        };
        let mut k = MemKernel::new(office());
        let dry = Ctx { dry_run: true, ..ctx() };
        let e = plan_and_apply(&dry, Need::default(), Reads::NetlinkOnly, &mut k, build).unwrap_err();
        assert!(matches!(e, Error::NoSuchInterface(_)), "{e}");
        assert!(k.records.is_empty());
        let e = plan_and_apply(&ctx(), Need::default(), Reads::NetlinkOnly, &mut k, build).unwrap_err();
        assert!(matches!(e, Error::NoSuchInterface(_)), "{e}");
        assert_eq!(k.records.get(std::path::Path::new("/run/t/held.json")).map(String::as_str), Some("{}"));

        let build = |p: &mut Planner| {
            p.intend(held.clone());
            Ok(())
        };
        let mut k = MemKernel::new(office());
        let plan = plan_and_apply(&dry, Need::default(), Reads::NetlinkOnly, &mut k, build).unwrap();
        assert_eq!(plan.to_string(), "# record /run/t/held.json: eth2 held out\n");
        assert!(k.records.is_empty());
    }
}
