//! The binary as a network-scripts hook. Arguments are exactly what network-scripts passes
//! (see shared notes hooks.md): ifup-pre-local and ifup-TYPE get the config basename
//! (`ifcfg-eth2`) and maybe `boot`; ifup-local, ifdown-pre-local and ifdown-local get the
//! device name. network-scripts ignores our exit status, so every failure is also logged.
//!
//! A hook runs for every interface of the box at boot: for one that is not ours it must return
//! at once, silently, and it must never hang (a watchdog alarm bounds every run).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{ifcfg, BundleName, Config, IfName, Role};
use crate::error::{Error, Result};
use crate::log;
use crate::run::event::Event;
use crate::run::ops::{self, Ctx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    IfupPreLocal,
    IfupLocal,
    IfdownPreLocal,
    IfdownLocal,
    IfupTeql,
    IfdownTeql,
    /// Not network-scripts': the DHCP client's (src/run/dhcp.rs), run by the shipped dhclient
    /// snippets as `teqlctl hook dhclient reason=... interface=...`.
    Dhclient,
    /// NetworkManager's dispatcher (src/front/nm.rs): linked as dispatcher.d/90-teqlctl and in
    /// pre-up.d and pre-down.d under the same name.
    NmDispatcher,
}

/// Every name the binary answers to as a hook.
pub const HOOKS: &[(&str, Hook)] = &[
    ("ifup-pre-local", Hook::IfupPreLocal),
    ("ifup-local", Hook::IfupLocal),
    ("ifdown-pre-local", Hook::IfdownPreLocal),
    ("ifdown-local", Hook::IfdownLocal),
    ("ifup-teql", Hook::IfupTeql),
    ("ifdown-teql", Hook::IfdownTeql),
    ("dhclient", Hook::Dhclient),
    ("nm-dispatcher", Hook::NmDispatcher),
];

/// The name the dispatcher links have: NetworkManager runs dispatcher.d's scripts in the order
/// of their names, and its own scripts and most packages' use a number prefix.
pub const NM_DISPATCHER_LINK: &str = "90-teqlctl";

impl Hook {
    pub(crate) fn from_name(name: &str) -> Option<Hook> {
        if is_dispatcher_name(name) {
            return Some(Hook::NmDispatcher);
        }
        HOOKS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }

    pub fn name(self) -> &'static str {
        HOOKS.iter().find(|(_, h)| *h == self).map(|(n, _)| *n).unwrap_or("hook")
    }
}

/// `90-teqlctl`, or the same with another order number: an admin may rename the link to run it
/// before or after another dispatcher script.
fn is_dispatcher_name(name: &str) -> bool {
    name.strip_suffix("-teqlctl").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Runs a hook and returns the exit status.
pub fn run(hook: Hook, args: &[String], ctx: &Ctx) -> i32 {
    // Bounded from here when run as `teqlctl hook NAME` (a linked hook was bounded by dispatch
    // before it read anything): the bound holds even if the kernel or modprobe never answers.
    crate::deadline::arm_watchdog(crate::deadline::hook_bound());
    crate::testpoint::pause("hook");
    match dispatch(hook, args, ctx) {
        // PARTIAL when a line was left out of its bundle (already said in the system log).
        Ok(()) => ops::exit_status(),
        Err(e) => {
            log::error(&format!("{}: {e}", hook.name()));
            e.exit_code()
        }
    }
}

fn dispatch(hook: Hook, args: &[String], ctx: &Ctx) -> Result<()> {
    if hook == Hook::Dhclient {
        return dhclient(ctx, args);
    }
    if hook == Hook::NmDispatcher {
        return crate::front::nm::hook(ctx, args);
    }
    let Some(first) = args.first() else {
        return Err(Error::Usage(format!(
            "{} expects {} as network-scripts passes it",
            hook.name(),
            if matches!(hook, Hook::IfupPreLocal | Hook::IfupTeql | Hook::IfdownTeql) {
                "CONFIG [boot]"
            } else {
                "DEVICE"
            }
        )));
    };
    match hook {
        Hook::IfupPreLocal => {
            // Cheap exits first: most interfaces of a box are not ours.
            let Some(basename) = config_basename(first) else { return Ok(()) };
            let cfg = ifcfg::load(&ctx.root);
            let Some(device) = cfg.files.get(&basename).cloned() else { return Ok(()) };
            ops::check_config(&cfg, &[&device])?;
            ops::report_problems(&cfg, &device);
            crate::run::event::run(ctx, &cfg, &[Event::Preparing(device)]).map(drop)
        }
        Hook::IfupLocal => {
            let Some((cfg, role)) = ours(ctx, first)? else { return Ok(()) };
            match role {
                Owned::Member(line) => {
                    crate::run::event::run(ctx, &cfg, &[Event::LinesUp { lines: vec![line], over: None }]).map(drop)
                }
                Owned::Master(bundle) => crate::run::event::run(ctx, &cfg, &[Event::BundleRefreshed(bundle)]).map(drop),
            }
        }
        Hook::IfdownPreLocal | Hook::IfdownLocal => {
            // Aliases (eth0:1) and names no interface can have are never lines.
            let Some(line) = IfName::new(first) else { return Ok(()) };
            let cfg = ifcfg::load(&ctx.root);
            // Taking a line out must work even when its file was broken since it came up:
            // detaching only ever removes a teql root qdisc, so it needs no configuration.
            let broken = !cfg.problems_for(first).is_empty();
            if !broken && !matches!(cfg.role(first), Some(Role::Member(_))) {
                // Not ours; or a master, which ifdown-teql takes down.
                return Ok(());
            }
            for p in cfg.problems_for(first) {
                log::warn(&p.to_string());
            }
            ops::report_problems(&cfg, first);
            // The interface may already be gone (a USB modem unplugged): nothing to undo.
            crate::run::event::run(ctx, &cfg, &[Event::LinesDown { lines: vec![line], missing_ok: true }]).map(drop)
        }
        Hook::IfupTeql | Hook::IfdownTeql => {
            let cfg = ifcfg::load(&ctx.root);
            let master = master_of_config(&cfg, first)?;
            ops::report_problems(&cfg, &master);
            let event = if hook == Hook::IfupTeql {
                // At boot teqlN may come before its lines; their ifup-local brings it up then.
                Event::BundleUp { bundle: Some(master), need_a_line: false }
            } else {
                Event::BundleDown { bundle: Some(master) }
            };
            crate::run::event::run(ctx, &cfg, &[event])?;
            chain_post_script(ctx, hook, args)
        }
        Hook::Dhclient | Hook::NmDispatcher => unreachable!("handled above"),
    }
}

enum Owned {
    /// A line, by its configured (checked) name.
    Member(IfName),
    /// A bundle, by its configured (checked) name.
    Master(BundleName),
}

/// The configuration and the interface's role, or None when the interface is not ours.
fn ours(ctx: &Ctx, device: &str) -> Result<Option<(Config, Owned)>> {
    // network-scripts calls ifup-local once per alias (eth0:1) too; aliases are never lines.
    if device.contains(':') {
        return Ok(None);
    }
    let cfg = ifcfg::load(&ctx.root);
    ops::check_config(&cfg, &[device])?;
    let role = match cfg.role(device) {
        Some(Role::Member(m)) => Owned::Member(m.device.clone()),
        Some(Role::Master(m)) => Owned::Master(m.device.clone()),
        None => return Ok(None),
    };
    ops::report_problems(&cfg, device);
    Ok(Some((cfg, role)))
}

/// `ifcfg-eth2`, or a path ending in it, to `ifcfg-eth2`; None for anything else.
fn config_basename(arg: &str) -> Option<String> {
    let base = Path::new(arg).file_name()?.to_str()?;
    base.starts_with("ifcfg-").then(|| base.to_string())
}

/// ifup-teql/ifdown-teql get the master's config basename; DEVICE= inside wins over the name.
fn master_of_config(cfg: &Config, arg: &str) -> Result<BundleName> {
    let basename = config_basename(arg).unwrap_or_else(|| format!("ifcfg-{arg}"));
    let device = cfg.files.get(&basename).cloned().unwrap_or_else(|| basename["ifcfg-".len()..].to_string());
    ops::check_config(cfg, &[&device])?;
    match BundleName::new(&device) {
        Some(b) if crate::run::mode::configured(cfg, &device).is_some() => Ok(b),
        _ => Err(Error::Usage(format!(
            "{basename} does not configure a teql master (DEVICE=teqlN) or a multipath bundle \
             (TEQL_MODE=multipath); ifup-teql only handles those"
        ))),
    }
}

/// Like ifup-eth and ifdown-eth, hand over to ifup-post / ifdown-post when they exist, so the
/// admin's route-teql0 file and ifup-local still run for the master.
fn chain_post_script(ctx: &Ctx, hook: Hook, args: &[String]) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let post = if hook == Hook::IfupTeql { "ifup-post" } else { "ifdown-post" };
    let path: PathBuf = ifcfg::scripts_dir(&ctx.root).join(post);
    if !path.is_file() {
        return Ok(());
    }
    match Command::new(&path).args(args).current_dir(ifcfg::scripts_dir(&ctx.root)).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => {
            log::warn(&format!("{} exited with {s}", path.display()));
            Ok(())
        }
        Err(e) => Err(Error::Io(format!("cannot run {}", path.display()), e)),
    }
}
/// dhclient's hook: see the top of dhcp.rs.
fn dhclient(ctx: &Ctx, args: &[String]) -> Result<()> {
    // Its caller is dhclient-script, whose environment is the DHCP client's: the state and the
    // lock are always the built-in ones (see `env`).
    crate::env::set_hook_mode();
    let Some(ev) = crate::run::dhcp::parse_args(args)? else { return Ok(()) };
    let cfg = crate::configured::load(&ctx.root);
    // Only a configured line's leases matter, and only to a mode that takes them.
    let Some(member) = cfg.members.get(ev.interface.as_str()) else { return Ok(()) };
    let Some(bundle) = crate::run::mode::bundle_of_member(&cfg, member) else { return Ok(()) };
    if !bundle.takes_leases() {
        return Ok(());
    }
    ops::check_config(&cfg, &[&ev.interface])?;
    ops::report_problems(&cfg, &ev.interface);
    crate::run::event::run(ctx, &cfg, &[crate::run::event::Event::Lease { lease: ev, joining: false }]).map(drop)
}
