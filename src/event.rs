//! Events in, one run (issue 27, point 1).
//!
//! Every caller (the network-scripts hooks, NetworkManager's dispatcher, dhclient, the CLI)
//! turns what happened into events and hands them to `run`, which takes the run lock once for
//! the whole batch, hands each event's bundle to its mode (`mode.rs`) and returns the last
//! plan. No caller knows a mode: "eth2 came up" means the same to all of them, and the bundle's
//! mode decides what it asks of the kernel.

use crate::config::{BundleName, Config, IfName};
use crate::error::Result;
use crate::ops::Ctx;
use crate::plan::Plan;

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
    BundleRefreshed(String),
    /// A DHCP client's lease of a line (dhclient, NetworkManager). `joining`: the line comes up
    /// on purpose with it. A line whose bundle's mode takes no leases is not concerned.
    Lease { lease: crate::dhcp::Event, joining: bool },
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
    let _lock = if ctx.dry_run { None } else { Some(crate::lock::acquire()?) };
    let mut last = Plan::default();
    for e in events {
        last = one(ctx, cfg, e)?;
    }
    Ok(last)
}

fn checked(ctx: &Ctx, cfg: &Config, e: &Event) -> Result<()> {
    match e {
        Event::LinesUp { lines, over } => crate::ops::attach_checked(cfg, lines, over.as_ref()).map(drop),
        Event::BundleUp { bundle, .. } | Event::BundleDown { bundle } => {
            crate::ops::bundles_to_act_on(&ctx.root, cfg, bundle.as_ref()).map(drop)
        }
        Event::Preparing(_) | Event::LinesDown { .. } | Event::BundleRefreshed(_) | Event::Lease { .. } => Ok(()),
    }
}

fn one(ctx: &Ctx, cfg: &Config, e: &Event) -> Result<Plan> {
    match e {
        Event::Preparing(device) => crate::ops::load_module(ctx, cfg, device).map(|()| Plan::default()),
        Event::LinesUp { lines, over } => crate::ops::attach(ctx, cfg, lines, over.as_ref()),
        Event::LinesDown { lines, missing_ok } => crate::ops::detach_configured(ctx, cfg, lines, *missing_ok),
        Event::BundleUp { bundle, need_a_line } => crate::ops::up(ctx, cfg, bundle.as_ref(), *need_a_line),
        Event::BundleDown { bundle } => crate::ops::down(ctx, cfg, bundle.as_ref()),
        Event::BundleRefreshed(name) => crate::ops::master_up(ctx, cfg, name),
        Event::Lease { lease, joining } => cfg
            .members
            .get(lease.interface.as_str())
            .and_then(|m| crate::mode::bundle_of_member(cfg, m))
            .and_then(|b| b.lease(ctx, lease, *joining))
            .unwrap_or_else(|| Ok(Plan::default())),
    }
}
