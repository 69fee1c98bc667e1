//! Events in, one run (issue 27, point 1).
//!
//! Every caller (the network-scripts hooks, NetworkManager's dispatcher, dhclient, the CLI)
//! turns what happened into events and hands them to `run`, which takes the run lock once for
//! the whole batch, hands each event's bundle to its mode (`mode.rs`) and returns the last
//! plan. No caller knows a mode: "eth2 came up" means the same to all of them, and the bundle's
//! mode decides what it asks of the kernel.

use crate::config::{BundleName, Config, IfName, RpFilter, EXPECT_MASTER};
use crate::error::Result;
use crate::plan::Plan;
use crate::run::ops::Ctx;

/// What happened, as a caller says it.
#[derive(Debug, Clone)]
pub enum Event {
    /// An interface is about to come up (ifup-pre-local, NetworkManager's pre-up): what its
    /// bundle needs of the kernel first (sch_teql with enough masters) is made ready.
    Preparing(String),
    /// Lines come up on purpose (their ifup, `teqlctl attach`, NetworkManager's up) and join
    /// their bundle: `over` (attach --master), else the one their files name, else teql0.
    LinesUp { lines: Vec<IfName>, over: Option<BundleName> },
    /// Lines go down on purpose (ifdown, `teqlctl detach`, NetworkManager's down) and leave
    /// their bundle. `missing_ok`: a line already gone is not an error (a modem unplugged).
    LinesDown { lines: Vec<IfName>, missing_ok: bool },
    /// A bundle (None: every configured one) comes up with its lines that are up.
    /// `need_a_line`: fail when no line can carry it (manual runs; at boot its lines' own
    /// events bring it up later).
    BundleUp { bundle: Option<BundleName>, need_a_line: bool },
    /// A bundle (None: every configured one) goes down.
    BundleDown { bundle: Option<BundleName> },
    /// A bundle's own interface came up (network-scripts' ifup-local for it): what its mode
    /// keeps on it is made whole again.
    BundleRefreshed(BundleName),
    /// A DHCP client's lease of a line (dhclient, NetworkManager). `joining`: the line comes up
    /// on purpose with it. A line whose bundle's mode takes no leases is not concerned.
    Lease { lease: crate::run::dhcp::Event, joining: bool },
}

/// Runs `events` in order under one hold of the run lock (none in a dry run): a second run,
/// another hook or `check`, waits for the whole batch, not between its steps. Returns the last
/// plan made.
pub fn run(ctx: &Ctx, cfg: &Config, events: &[Event]) -> Result<Plan> {
    // What needs no kernel is checked before the lock: a typo or a broken file must cost
    // nothing, not a wait behind another run, and say so.
    for e in events {
        checked(ctx, cfg, e)?;
    }
    let _lock = if ctx.dry_run { None } else { Some(crate::run::lock::acquire()?) };
    let mut last = Plan::default();
    for e in events {
        last = one(ctx, cfg, e)?;
    }
    Ok(last)
}

fn checked(ctx: &Ctx, cfg: &Config, e: &Event) -> Result<()> {
    match e {
        Event::LinesUp { lines, over } => attach_checked(ctx, cfg, lines, over.as_ref()).map(drop),
        Event::BundleUp { bundle, .. } | Event::BundleDown { bundle } => {
            bundles_to_act_on(&ctx.root, cfg, bundle.as_ref()).map(drop)
        }
        Event::Preparing(_) | Event::LinesDown { .. } | Event::BundleRefreshed(_) | Event::Lease { .. } => Ok(()),
    }
}

fn one(ctx: &Ctx, cfg: &Config, e: &Event) -> Result<Plan> {
    match e {
        Event::Preparing(device) => crate::run::ops::load_module(ctx, cfg, device).map(|()| Plan::default()),
        Event::LinesUp { lines, over } => attach(ctx, cfg, lines, over.as_ref()),
        Event::LinesDown { lines, missing_ok } => detach_configured(ctx, cfg, lines, *missing_ok),
        Event::BundleUp { bundle, need_a_line } => up(ctx, cfg, bundle.as_ref(), *need_a_line),
        Event::BundleDown { bundle } => down(ctx, cfg, bundle.as_ref()),
        Event::BundleRefreshed(name) => master_up(ctx, cfg, name),
        Event::Lease { lease, joining } => cfg
            .members
            .get(lease.interface.as_str())
            .and_then(|m| crate::run::mode::bundle_of_member(cfg, m))
            .and_then(|b| b.lease(ctx, lease, *joining))
            .unwrap_or_else(|| Ok(Plan::default())),
    }
}

/// The changes a round of `teqlctl check` decided, each planned against the kernel state read
/// under the lock (not the state the round read before probing, which may be seconds old),
/// with the same rules: never the last line of a bundle, only put back a line that is still
/// up and free. One lock for the whole list; each change is its own plan, so that one the
/// kernel refuses does not undo the others.
///
/// The caller holds the lock (`_held`, None only in a dry run) from before it records its
/// intent until after it records the outcome: a hook that reads health.json (which lines check
/// took out) then sees either the state before the round or the state after it, never one that
/// disagrees with the kernel (issue 26, point 7).
pub fn health_changes(
    ctx: &Ctx,
    cfg: &Config,
    changes: &[crate::run::health::Change],
    rp: &dyn Fn(&str) -> RpFilter,
    held: Option<&crate::run::lock::Lock>,
) -> Result<Vec<crate::run::ops::Applied>> {
    use crate::run::health::Change;
    let master_of = |c: &Change| match c {
        Change::Detach { master, .. } | Change::Attach { master, .. } => master.clone(),
    };
    // Each bundle's changes go to its mode together (a multipath bundle plans them as one run),
    // in the order the bundles first appear; the outcomes are put back in the changes' order.
    let mut order: Vec<BundleName> = Vec::new();
    for c in changes {
        let m = master_of(c);
        if !order.contains(&m) {
            order.push(m);
        }
    }
    let mut outcome: Vec<Option<crate::run::ops::Applied>> = changes.iter().map(|_| None).collect();
    for b in &order {
        let at: Vec<usize> = (0..changes.len()).filter(|&i| master_of(&changes[i]) == *b).collect();
        let mine: Vec<&Change> = at.iter().map(|&i| &changes[i]).collect();
        let applied = crate::run::mode::bundle_or_bare(cfg, b).health(ctx, &mine, rp, held)?;
        for (i, a) in at.into_iter().zip(applied) {
            outcome[i] = Some(a);
        }
    }
    Ok(outcome
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| crate::run::ops::Applied::Failed(crate::error::Error::Refused("no outcome".into())))
        })
        .collect())
}

/// `teqlctl attach`, and ifup-local for a member: lines join their bundle (`over`, else the
/// one their file names, else teql0), which comes up with them if it was not up yet. Every
/// line is checked before anything is loaded or locked (a typo must cost nothing and say so);
/// then each bundle's lines go to its mode together.
pub fn attach(ctx: &Ctx, cfg: &Config, ifaces: &[IfName], over: Option<&BundleName>) -> Result<Plan> {
    let bundles = attach_checked(ctx, cfg, ifaces, over)?;
    let mut last = Plan::default();
    for (b, lines) in &bundles {
        last = b.lines_up(ctx, lines, true)?;
    }
    Ok(last)
}

/// What `attach` checks before anything is loaded or locked (a typo must cost nothing and say
/// so): every line exists and its file and its bundle's are sound. The lines by bundle.
#[allow(clippy::type_complexity)]
pub(crate) fn attach_checked<'a>(
    ctx: &Ctx,
    cfg: &'a Config,
    ifaces: &[IfName],
    over: Option<&BundleName>,
) -> Result<Vec<(Box<dyn crate::run::mode::BundleMode + 'a>, Vec<IfName>)>> {
    let mut bundles: Vec<(Box<dyn crate::run::mode::BundleMode + 'a>, Vec<IfName>)> = Vec::new();
    for iface in ifaces {
        crate::run::ops::check_iface_exists(ctx, iface)?;
        crate::run::ops::check_config(cfg, &[iface])?;
        let b = crate::run::mode::bundle_of_line(cfg, iface, over);
        crate::run::ops::check_config(cfg, &[b.name()])?;
        match bundles.iter_mut().find(|(x, _)| x.name() == b.name()) {
            Some((_, lines)) => lines.push(iface.clone()),
            None => bundles.push((b, vec![iface.clone()])),
        }
    }
    Ok(bundles)
}

/// As `detach`, for configured lines: each leaves its bundle as its mode says (a multipath
/// line out of its group, its table and rule removed; a TEQL line detached from its master).
pub(crate) fn detach_configured(ctx: &Ctx, cfg: &Config, ifaces: &[IfName], missing_ok: bool) -> Result<Plan> {
    let mut bundles: Vec<(Box<dyn crate::run::mode::BundleMode + '_>, Vec<IfName>)> = Vec::new();
    for iface in ifaces {
        let b = crate::run::mode::bundle_of_line(cfg, iface, None);
        match bundles.iter_mut().find(|(x, _)| x.name() == b.name()) {
            Some((_, lines)) => lines.push(iface.clone()),
            None => bundles.push((b, vec![iface.clone()])),
        }
    }
    let mut last = Plan::default();
    for (b, lines) in &bundles {
        last = b.lines_down(ctx, lines, missing_ok)?;
    }
    Ok(last)
}

pub(crate) fn bundles_to_act_on<'a>(
    root: &std::path::Path,
    cfg: &'a Config,
    master: Option<&BundleName>,
) -> Result<Vec<Box<dyn crate::run::mode::BundleMode + 'a>>> {
    match master {
        Some(m) => match crate::run::mode::bundle(cfg, m) {
            None => {
                Err(crate::error::Error::Usage(format!("{m}: not {EXPECT_MASTER}, nor a configured multipath bundle")))
            }
            Some(b) => {
                crate::run::ops::check_config(cfg, &[m])?;
                Ok(vec![b])
            }
        },
        None => {
            crate::run::ops::check_whole_config(cfg)?;
            if cfg.masters.is_empty() {
                return Err(crate::error::Error::Usage(format!(
                    "no teql master is configured: add {}, or name one; see teqlctl(8)",
                    crate::config::line_of_hint(root, "teqlN")
                )));
            }
            Ok(cfg.masters.values().map(|m| crate::run::mode::of(cfg, m)).collect())
        }
    }
}

/// `teqlctl up`, and ifup-teql: each bundle as its mode brings it up. `need_a_line`: fail when
/// no line can carry a bundle (manual runs); ifup-teql at boot instead leaves it to the lines'
/// own ifup-local.
pub fn up(ctx: &Ctx, cfg: &Config, master: Option<&BundleName>, need_a_line: bool) -> Result<Plan> {
    let mut last = Plan::default();
    for b in bundles_to_act_on(&ctx.root, cfg, master)? {
        last = b.up(ctx, need_a_line)?;
    }
    Ok(last)
}

/// `teqlctl down`, and ifdown-teql.
pub fn down(ctx: &Ctx, cfg: &Config, master: Option<&BundleName>) -> Result<Plan> {
    let mut last = Plan::default();
    for b in bundles_to_act_on(&ctx.root, cfg, master)? {
        last = b.down(ctx)?;
    }
    Ok(last)
}

/// ifup-local for a master: its lines are already attached; make sure it has its address,
/// default route and the rest as its mode wants them (network-scripts' own ifup-post may have
/// flushed or replaced them).
pub fn master_up(ctx: &Ctx, cfg: &Config, master: &BundleName) -> Result<Plan> {
    crate::run::mode::bundle_or_bare(cfg, master).refresh(ctx)
}
