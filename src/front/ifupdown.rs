//! The binary as a Debian ifupdown (and ifupdown2) hook: linked as `teqlctl` into
//! /etc/network/if-pre-up.d, if-up.d, if-down.d and if-post-down.d, it learns everything from
//! ifupdown's environment (IFACE, PHASE, MODE, ADDRFAM, VERBOSITY, IF_* options).
//!
//! ifupdown configures the master (address, gateway, mtu) from its own stanza; teqlctl makes
//! that possible: sch_teql is loaded before ifupdown touches teqlN, and since teqlN cannot go
//! up without a line, its pre-up attaches the lines that are up or brings them up through
//! ifupdown itself, as Debian's ifenslave does for bonds. Whatever teqlctl brings up or down
//! besides the interface at hand goes through `ifup`/`ifdown`, never behind ifupdown's back:
//! ifupdown's state file must keep telling the truth, or a later `ifup teql0` is a no-op.
//!
//! Recursion: ifupdown marks interfaces in progress with IFUPDOWN_<iface> in the environment
//! (and refuses a nested run on a locked one); teqlctl never asks ifupdown for an interface
//! that is marked or already in ifupdown's state, and never holds its own lock while a nested
//! ifup/ifdown runs (that run's hooks need it).
//!
//! ifupdown2 (3.x, `addon_scripts_support=1`) runs the same links, but differently enough that
//! the ifenslave way cannot work there, so the hook tells the two apart (VERBOSITY: ifupdown
//! always sets it, ifupdown2 never does) and deviates under ifupdown2 only:
//! - ifupdown2 holds one global lock (/run/network/.lock) for its whole run: a nested `ifup` or
//!   `ifdown` from a hook fails at once (exit status 89), and its ifquery has no `--state`.
//!   Nothing can go through ifupdown2 from a hook.
//! - ifupdown2 sets a stanza's addresses (pre-up) only on a link its netlink cache knew when the
//!   run started, silently skipping the others, and builds a script's environment before it
//!   exports that call's LOGICAL/ADDRFAM/METHOD (a script sees the previous call's, or none).
//!
//! So under ifupdown2 the pre-up of teqlN attaches every configured line that exists, up or
//! down (teql only needs a slave attached to go up; a slave that is down is skipped when
//! sending), and brings teqlN up with its own stanza's address and gateway, which ifupdown2
//! then finds in place: this is ifupdown2's own `ifup teqlN`, completed, not a change behind
//! its back. A line coming up never brings up a master that ifupdown2 has not configured (it
//! would be behind its back: `ifup teqlN`, or `ifup -a`, does it). A line leaving its master
//! empty sets the master down (an empty teql drops everything), and records that in a marker
//! file; the next line to come up restores the master from its stanza, as ifupdown2 left it,
//! unless ifupdown2 itself has brought the master up or down since (its hooks remove the
//! marker).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::config::{self, interfaces, BundleName, Config, Member};
use crate::error::{exit, Error, Result};
use crate::exec::{self, Outcome};
use crate::kernel::module::Need;
use crate::kernel::netlink::Netlink;
use crate::kernel::state::State;
use crate::log;
use crate::plan::teql::Planner;
use crate::plan::{Plan, Then};
use crate::run::ops::{self, Ctx, Reads};

/// What ifupdown told us about this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnv {
    pub iface: String,
    /// LOGICAL: the stanza's name (differs from IFACE under mappings).
    pub logical: String,
    pub phase: Phase,
    /// PHASE as ifupdown spelled it, for messages.
    pub phase_name: String,
    pub addrfam: String,
    pub method: String,
    pub verbose: bool,
    /// Called by ifupdown2 (no VERBOSITY), not ifupdown 0.8.
    pub ifupdown2: bool,
    /// IF_* options of the stanza (IF_TEQL_MASTER -> "TEQL_MASTER").
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PreUp,
    /// ifupdown's post-up; ifupdown2 also calls `up`.
    Up,
    /// ifupdown's pre-down; ifupdown2 also calls `down`.
    Down,
    PostDown,
}

impl HookEnv {
    /// Reads the environment. None when this is not an ifupdown hook call (no PHASE or IFACE):
    /// the binary is then the manual tool.
    pub(crate) fn from_env(vars: impl Iterator<Item = (String, String)>) -> Option<HookEnv> {
        let vars: BTreeMap<String, String> = vars.collect();
        let phase = match vars.get("PHASE")?.as_str() {
            "pre-up" => Phase::PreUp,
            "up" | "post-up" => Phase::Up,
            "pre-down" | "down" => Phase::Down,
            "post-down" => Phase::PostDown,
            _ => return None,
        };
        let options =
            vars.iter().filter_map(|(k, v)| k.strip_prefix("IF_").map(|o| (o.to_string(), v.clone()))).collect();
        Some(HookEnv {
            iface: vars.get("IFACE")?.clone(),
            logical: vars.get("LOGICAL").or(vars.get("IFACE"))?.clone(),
            phase,
            phase_name: vars.get("PHASE").cloned().unwrap_or_default(),
            addrfam: vars.get("ADDRFAM").cloned().unwrap_or_default(),
            method: vars.get("METHOD").cloned().unwrap_or_default(),
            verbose: vars.get("VERBOSITY").is_some_and(|v| v == "1"),
            // ifupdown 0.8 rebuilds the environment from scratch and always sets VERBOSITY (0 or
            // 1); ifupdown2 never sets it (it passes its caller's environment on).
            ifupdown2: !vars.contains_key("VERBOSITY"),
            options,
        })
    }

    fn stanza(&self) -> String {
        if self.ifupdown2 {
            // ifupdown2's LOGICAL, ADDRFAM and METHOD belong to its previous script call.
            return format!("iface {}", self.iface);
        }
        // The reader names stanzas the same way, so hook and file errors read alike.
        format!("iface {} {} {}", self.logical, self.addrfam, self.method)
    }
}

/// What ifupdown says of its interfaces, read once before a hook plans (issue 27: planning does
/// no I/O): which it has configured (its state, `ifquery --state`), which a run up the process
/// tree is configuring now (its IFUPDOWN_<iface> markers), and, under ifupdown2, whether
/// teqlctl set `master` down when its last line left.
#[derive(Debug, Clone, Default)]
struct Ifstate {
    configured: std::collections::BTreeSet<String>,
    markers: std::collections::BTreeSet<String>,
    emptied: bool,
}

impl Ifstate {
    fn read(env: &HookEnv, master: &str) -> Ifstate {
        Ifstate {
            // ifupdown2 has no state to ask for from a hook (see the top of this file).
            configured: if env.ifupdown2 { Default::default() } else { ifupdown_state() },
            markers: std::env::vars_os()
                .filter_map(|(k, _)| k.to_str()?.strip_prefix("IFUPDOWN_").map(str::to_string))
                .collect(),
            emptied: env.ifupdown2 && emptied_marker(master).exists(),
        }
    }

    /// ifupdown's own marker that `iface` is being configured by a run up the process tree.
    fn being_processed(&self, iface: &str) -> bool {
        let name: String = iface.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        self.markers.contains(&name)
    }

    /// ifupdown's state says `iface` is configured (or being configured: ifup records the
    /// state before it runs the stanza).
    fn has(&self, iface: &str) -> bool {
        self.configured.contains(iface)
    }
}

/// Runs the hook; returns the exit status. Non-zero only to abort an ifup on purpose.
pub fn run(env: &HookEnv, ctx: &Ctx) -> i32 {
    // Cheap exits first: every interface of the box runs every hook.
    if env.iface == "--all" || env.addrfam == "meta" {
        return exit::OK;
    }
    // ifupdown2's ADDRFAM is stale (see the top of this file): there, an inet6 stanza of a line
    // runs the same idempotent steps a second time.
    if env.addrfam != "inet" && !env.ifupdown2 {
        return exit::OK;
    }
    let master_opt = env.options.get("TEQL_MASTER").filter(|v| !v.is_empty());
    // A bundle's stanza: teqlN, or one with teql-mode (a multipath bundle: `iface wan inet manual`).
    let is_master = crate::run::mode::is_teql_name(&env.iface) || env.options.contains_key("TEQL_MODE");
    // A stanza with teql options but no teql-master is a mistake the hook reports.
    if master_opt.is_none() && !is_master && !env.options.keys().any(|k| k.starts_with("TEQL_")) {
        return exit::OK;
    }
    log::set_verbose(env.verbose);
    // Nested ifup of lines can take a DHCP round or two: dispatch bounded the run at
    // IFUPDOWN_BOUND_SECS from its start.
    let result = if is_master { master_hook(env, ctx) } else { line_hook(env, ctx) };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            log::error(&format!("{}, {}: {e}", env.stanza(), env.phase_name));
            // Only pre-up may abort: after that ifupdown has done its part and a failing hook
            // would only leave its state file lying. (Debian's ifenslave does the same.)
            if env.phase == Phase::PreUp {
                e.exit_code().max(1)
            } else {
                exit::OK
            }
        }
    }
}

/// The configuration, with every problem in it logged (the hook stays lenient: other lines
/// come up, but nothing broken passes in silence).
fn load_config(ctx: &Ctx, iface: &str) -> Config {
    let cfg = crate::configured::load(&ctx.root);
    ops::report_problems(&cfg, iface);
    cfg
}

/// The line as this stanza describes it; ifupdown's environment is authoritative for the
/// interface at hand, the file for the others.
fn line_member(env: &HookEnv, ctx: &Ctx) -> Result<Member> {
    let values = interfaces::option_values(|k| env.options.get(k).map(String::as_str));
    interfaces::member_from_options(&env.iface, values, &interfaces::interfaces_file(&ctx.root), &env.stanza())
        .map_err(Error::Config)
}

fn line_hook(env: &HookEnv, ctx: &Ctx) -> Result<()> {
    let member = line_member(env, ctx)?;
    let cfg = load_config(ctx, &member.device);
    let b = crate::run::mode::bundle(&cfg, &member.master);
    match b {
        // A bundle that is a device of its own ifupdown configures too (teqlN): each phase plans
        // the line and what ifupdown must do to the bundle next. The others: events.
        Some(b) if b.has_device() => teql_line_hook(env, ctx, &cfg, &member),
        Some(b) => bundle_line_hook(env, ctx, &cfg, &member, b.as_ref()),
        None => {
            // A bundle no file configures: whether it exists is a question for the whole file
            // (check_bundles), whose answer is among this line's problems.
            ops::check_config(&cfg, &[&member.device])?;
            Err(Error::Usage(format!("{}: not a configured multipath bundle", crate::names::shown(&member.master))))
        }
    }
}

/// The hook for a line of a bundle whose mode needs nothing of ifupdown's own (multipath and
/// connection bundles): the line joins on ifup and leaves on ifdown, as every stack's does.
pub(crate) fn bundle_line_hook(
    env: &HookEnv,
    ctx: &Ctx,
    cfg: &Config,
    member: &Member,
    bundle: &dyn crate::run::mode::BundleMode,
) -> Result<()> {
    ops::check_config(cfg, &[&member.device])?;
    match env.phase {
        Phase::PreUp => Ok(()),
        Phase::Up => bundle.lines_up(ctx, std::slice::from_ref(&member.device), false).map(drop),
        Phase::Down | Phase::PostDown => bundle.lines_down(ctx, std::slice::from_ref(&member.device), true).map(drop),
    }
}

/// The hook for a line of a TEQL bundle: ifupdown configures the master itself, so each phase
/// plans the line and what ifupdown must do to the master next.
pub(crate) fn teql_line_hook(env: &HookEnv, ctx: &Ctx, cfg: &Config, member: &Member) -> Result<()> {
    let master = &member.master;
    let needed = crate::kernel::module::needed_for(cfg, &[member.master.to_string()].into());
    // Each phase is one planned run: one kernel read, every decision (the master too) taken on
    // it, then ifupdown's own steps; `teqlctl --dry-run hook ifupdown` prints all of it.
    let plan = match env.phase {
        Phase::PreUp => return ops::load_module_for(ctx, needed),
        Phase::Up => {
            let line = [member.device.as_str()];
            let st = Ifstate::read(env, master);
            ops::hook_run(ctx, needed, Reads::RpFilterOf(&line), |p| {
                p.attach(&member.device, master, member.rp_filter, ctx.force)?;
                if env.ifupdown2 {
                    restore_master_i2(p, cfg, master, &st)
                } else {
                    ensure_master_up(p, cfg, master, &st)
                }
            })?
        }
        Phase::Down | Phase::PostDown => {
            let st = Ifstate::read(env, master);
            ops::hook_run(ctx, Need::default(), Reads::NetlinkOnly, |p| {
                // Not a line of any master (or gone already): nothing more to decide.
                let Some(left) = p.detach(&member.device, true)? else { return Ok(()) };
                if env.ifupdown2 {
                    set_master_down_i2(p, &left);
                } else {
                    take_master_down_if_empty(p, &left, &st);
                }
                Ok(())
            })?
        }
    };
    follow_up(ctx, &plan)
}

fn master_hook(env: &HookEnv, ctx: &Ctx) -> Result<()> {
    let master = env.iface.clone();
    let cfg = load_config(ctx, &master);
    // The stanza's name, checked once: a teqlN past the cap is its stanza's problem (said by
    // check_config), anything else that no bundle can be called is said here.
    let Some(bundle) = BundleName::new(&master) else {
        ops::check_config(&cfg, &[&master])?;
        return Err(Error::Usage(format!(
            "{}: not {}, nor a multipath bundle's name ({})",
            crate::names::shown(&master),
            config::EXPECT_MASTER,
            crate::names::refusal(&master)
        )));
    };
    let b = crate::run::mode::bundle(&cfg, &master);
    match b {
        Some(b) if b.has_device() => teql_master_hook(env, ctx, &cfg, &bundle),
        Some(b) => named_bundle_hook(env, ctx, &cfg, &bundle, b.as_ref()),
        None => {
            ops::check_config(&cfg, &[&master])?;
            Err(Error::Usage(format!("{}: not a configured multipath bundle", crate::names::shown(&master))))
        }
    }
}

/// The hook for the stanza of a bundle with no device of its own (multipath and connection
/// bundles, `iface wan inet manual` with teql-mode): ifupdown configures nothing for it; its
/// pre-up brings the bundle up with the lines that are up (the others join as they come up),
/// its post-down takes it down.
pub(crate) fn named_bundle_hook(
    env: &HookEnv,
    ctx: &Ctx,
    cfg: &Config,
    bundle: &BundleName,
    b: &dyn crate::run::mode::BundleMode,
) -> Result<()> {
    let master = bundle.as_str();
    ops::check_config(cfg, &[master])?;
    match env.phase {
        Phase::PreUp => {
            let exists = PathBuf::from("/sys/class/net").join(master).exists();
            if let Some(w) = bundle_without_device_i2(master, env.ifupdown2, exists) {
                log::warn(&w);
            }
            b.up(ctx, false).map(drop)
        }
        Phase::Up | Phase::Down => Ok(()),
        Phase::PostDown => b.down(ctx).map(drop),
    }
}

/// The hook for a teqlN's own stanza: ifupdown configures its address and route; teqlctl gives
/// it its lines and its routes and NAT.
pub(crate) fn teql_master_hook(env: &HookEnv, ctx: &Ctx, cfg: &Config, bundle: &BundleName) -> Result<()> {
    let master = bundle;
    if env.ifupdown2 {
        // ifupdown2 itself is bringing the master up or down: teqlctl's record of having set it
        // down is over.
        forget_master_emptied(ctx, master);
    }
    let needed = crate::kernel::module::needed_for(cfg, &[master.to_string()].into());
    match env.phase {
        Phase::PreUp => {
            // The lines it may attach: only their rp_filter sysctls are read.
            let lines: Vec<&str> = cfg.members_of(master).map(|m| m.device.as_str()).collect();
            let st = Ifstate::read(env, master);
            let plan = ops::hook_run(ctx, needed, Reads::RpFilterOf(&lines), |p| {
                if env.ifupdown2 {
                    attach_every_line_i2(p, ctx, cfg, master)?;
                    ops::check_config(cfg, &[master])?;
                    p.master_up(&ops::master_cfg(cfg, master))
                } else {
                    give_master_a_line(p, ctx, cfg, master, &st)
                }
            })?;
            follow_up(ctx, &plan)
        }
        // ifupdown itself set the address, mtu and default route; the bundle's own routes and
        // NAT are ours.
        Phase::Up => ops::master_routing(ctx, cfg, master).map(drop),
        Phase::Down => Ok(()),
        // `ifdown teqlN` unbonds its lines; the next `ifup teqlN` bonds them again.
        // ifupdown has already removed the master's address; only the lines are left to detach.
        Phase::PostDown => ops::teql_down(ctx, &config::Master::bare(master.clone())).map(drop),
    }
}

/// A hook's steps after its plan was applied, in order (in a dry run the plan printed them).
fn follow_up(ctx: &Ctx, plan: &Plan) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    for t in &plan.then {
        match t {
            Then::Ifup { iface, must: true } => ifupdown("ifup", iface)?,
            Then::Ifup { iface, must: false } => {
                if let Err(e) = ifupdown("ifup", iface) {
                    log::warn(&e.to_string());
                }
            }
            Then::Ifdown { iface } => ifupdown("ifdown", iface)?,
            Then::NeedLine { master, error } => {
                if master_lines(master)? == 0 {
                    return Err(Error::Refused(error.clone()));
                }
            }
            Then::Info(msg) => log::info(msg),
        }
    }
    Ok(())
}

/// Under ifupdown2, a multipath bundle without a device of its name: ifupdown2 skips every step
/// of `ifdown` for an interface that has none, the if-*.d scripts included, so the bundle would
/// stay up. (`link-type dummy` in its stanza makes ifupdown2 create one; ifupdown needs none.)
fn bundle_without_device_i2(bundle: &str, ifupdown2: bool, exists: bool) -> Option<String> {
    (ifupdown2 && !exists).then(|| {
        format!(
            "{bundle} has no device, and ifupdown2 runs no hook on `ifdown {bundle}` of an interface without one \
             (the bundle would stay up): add `link-type dummy` to its stanza (teqlctl-config(5)), or take it \
             down with `teqlctl down {bundle}`"
        )
    })
}

/// How many lines `master` has now (after nested ifups attached them).
fn master_lines(master: &str) -> Result<usize> {
    let mut nl = Netlink::open().map_err(|e| Error::from_netlink("netlink socket", "", e))?;
    Ok(State::read_netlink(&mut nl)?.slaves_of(master).count())
}

/// After a line came up: the master must come up too, through ifupdown when it has a stanza.
fn ensure_master_up(p: &mut Planner, cfg: &Config, master: &BundleName, st: &Ifstate) -> Result<()> {
    if p.is_up(master) || st.being_processed(master) || st.has(master) {
        // Up already, or a run up the tree (or a parallel ifup of teqlN) is configuring it.
        return Ok(());
    }
    if cfg.masters.get(master).and_then(|m| m.source.as_ref()).is_some() {
        p.then(Then::Ifup { iface: master.to_string(), must: true });
        return Ok(());
    }
    // No stanza: nobody else will bring it up; a bare master (no address) is still a pipe.
    ops::check_config(cfg, &[master])?;
    p.master_up(&ops::master_cfg(cfg, master))
}

/// Before teqlN goes up it needs a line: attach the configured lines that are up; failing
/// that, bring them up through ifupdown (their post-up attaches them).
fn give_master_a_line(p: &mut Planner, ctx: &Ctx, cfg: &Config, master: &BundleName, st: &Ifstate) -> Result<()> {
    let members: Vec<&Member> = cfg.members_of(master).collect();
    let up: Vec<&&Member> = members.iter().filter(|m| p.is_up(&m.device)).collect();
    for m in up {
        p.attach(&m.device, master, m.rp_filter, ctx.force)?;
    }
    if p.lines_of(master) > 0 {
        return Ok(());
    }
    let names: Vec<&str> = members.iter().map(|m| m.device.as_str()).collect();
    let error = if names.is_empty() {
        format!("{master} has no line: no stanza has `teql-master {master}`; teql cannot go up without one")
    } else {
        format!(
            "{master}: none of its lines ({}) is up or could be brought up; teql cannot go up without one",
            names.join(", ")
        )
    };
    let mut asked = false;
    for m in members.iter().filter(|m| m.onboot && !st.being_processed(&m.device) && !st.has(&m.device)) {
        p.then(Then::Ifup { iface: m.device.to_string(), must: false });
        asked = true;
    }
    if !asked {
        return Err(Error::Refused(error));
    }
    p.then(Then::NeedLine { master: master.to_string(), error });
    Ok(())
}

/// After a line left: an emptied master must go down (it would drop everything routed to it),
/// through ifupdown when ifupdown configured it.
fn take_master_down_if_empty(p: &mut Planner, master: &BundleName, st: &Ifstate) {
    if p.lines_of(master) > 0 || !p.is_up(master) || st.being_processed(master) {
        return;
    }
    if st.has(master) {
        p.then(Then::Ifdown { iface: master.to_string() });
    } else {
        p.down_if_empty(master);
    }
}

/// ifupdown2's pre-up of a master: every configured line that exists joins, up or down, since
/// nothing can be brought up through ifupdown2 from here (see the top of this file). teql
/// skips a line that is down when it sends; the line's own ifup later finds it attached.
fn attach_every_line_i2(p: &mut Planner, ctx: &Ctx, cfg: &Config, master: &BundleName) -> Result<()> {
    let members: Vec<&Member> = cfg.members_of(master).collect();
    let state = p.state();
    for m in members.iter().filter(|m| state.link(&m.device).is_some()) {
        p.attach(&m.device, master, m.rp_filter, ctx.force)?;
    }
    if p.lines_of(master) > 0 {
        return Ok(());
    }
    let names: Vec<&str> = members.iter().map(|m| m.device.as_str()).collect();
    Err(Error::Refused(if names.is_empty() {
        format!("{master} has no line: no stanza has `teql-master {master}`; teql cannot go up without one")
    } else {
        format!("{master}: none of its lines ({}) exists; teql cannot go up without one", names.join(", "))
    }))
}

/// The marker that teqlctl set `master` down under ifupdown2 because its last line left.
fn emptied_marker(master: &str) -> PathBuf {
    crate::run::lock::lock_path().with_file_name(format!("teqlctl.{master}.emptied"))
}

fn forget_master_emptied(ctx: &Ctx, master: &str) {
    if !ctx.dry_run {
        let _ = std::fs::remove_file(emptied_marker(master));
    }
}

/// The marker's text now (None: no marker). Read whole whatever it holds: a marker that is
/// there is removed when its record is over, even one that is not teqlctl's text.
fn emptied_now(master: &str) -> Option<String> {
    let body = crate::statefile::read(&emptied_marker(master)).ok().flatten()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

const EMPTIED: &str = "set down by teqlctl: its last line left\n";

/// Under ifupdown2, after a line left: an emptied master would drop everything sent to it, and
/// `ifdown teqlN` cannot be run from here; set it down (its routes go with it) and remember it.
fn set_master_down_i2(p: &mut Planner, master: &BundleName) {
    if p.lines_of(master) > 0 || !p.is_up(master) {
        return;
    }
    p.down_if_empty(master);
    p.record(
        emptied_marker(master),
        Some(EMPTIED.to_string()),
        emptied_now(master),
        format!("teqlctl set {master} down (its next line's post-up brings it back)"),
    );
}

/// Under ifupdown2, after a line came up: a master that teqlctl set down when its last line
/// left comes back as its stanza says; one that ifupdown2 never brought up stays down (only
/// `ifup teqlN` may configure it: it cannot be asked from here).
fn restore_master_i2(p: &mut Planner, cfg: &Config, master: &BundleName, st: &Ifstate) -> Result<()> {
    if p.is_up(master) {
        return Ok(());
    }
    let has_stanza = cfg.masters.get(master).and_then(|m| m.source.as_ref()).is_some();
    let emptied = st.emptied;
    if has_stanza && !emptied {
        p.then(Then::Info(format!(
            "{master} is down and ifupdown2 cannot be asked to bring it up from a hook: `ifup {master}` (or `ifup -a`) does"
        )));
        return Ok(());
    }
    ops::check_config(cfg, &[master])?;
    p.master_up(&ops::master_cfg(cfg, master))?;
    if emptied {
        p.record(
            emptied_marker(master),
            None,
            emptied_now(master),
            format!("teqlctl set {master} down, and it is up again"),
        );
    }
    Ok(())
}

/// The interfaces ifupdown's state lists as configured (`ifquery --state`, one `IFACE=LOGICAL`
/// line each); none when it cannot be asked.
fn ifupdown_state() -> std::collections::BTreeSet<String> {
    match exec::run_bounded(Command::new("ifquery").arg("--state"), Duration::from_secs(10), true) {
        Ok(Outcome::Exited { output, .. }) => {
            output.lines().filter_map(|l| l.split('=').next()).filter(|n| !n.is_empty()).map(str::to_string).collect()
        }
        _ => Default::default(),
    }
}

/// `ifup IFACE` / `ifdown IFACE`, inheriting our environment so ifupdown sees its
/// IFUPDOWN_* markers and refuses any recursion. Output is not captured: a stanza may start a
/// DHCP client that keeps it open.
fn ifupdown(cmd: &str, iface: &str) -> Result<()> {
    log::info(&format!("{cmd} {iface}"));
    match exec::run_bounded(Command::new(cmd).arg(iface), Duration::from_secs(90), false) {
        Ok(Outcome::Exited { ok: true, .. }) => Ok(()),
        Ok(Outcome::Exited { code, .. }) => {
            Err(Error::Refused(format!("`{cmd} {iface}` failed (exit status {})", code.unwrap_or(-1))))
        }
        Ok(Outcome::TimedOut(d)) => {
            Err(Error::Refused(format!("`{cmd} {iface}` did not finish in {} s; killed", d.as_secs())))
        }
        Err(e) => Err(Error::Io(format!("cannot run {cmd}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RpFilter;
    use crate::kernel::netlink::{Link, Qdisc, ARPHRD_VOID, IFF_NOARP, IFF_UP};
    use crate::names::IfName;
    use crate::plan::Action;

    fn env(pairs: &[(&str, &str)]) -> Option<HookEnv> {
        HookEnv::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// An interfaces file with teql0 (a stanza when `stanza`) and lines eth1, eth2.
    fn config(stanza: bool) -> (tempfile::TempDir, Config) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/network");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from(
            "auto eth1\niface eth1 inet static\n    address 198.51.100.10/29\n    teql-master teql0\n\n\
             auto eth2\niface eth2 inet static\n    address 192.0.2.10/24\n    teql-master teql0\n",
        );
        if stanza {
            text.push_str("\nauto teql0\niface teql0 inet static\n    address 198.18.200.2/30\n");
        }
        std::fs::write(dir.join("interfaces"), text).unwrap();
        let cfg = config::load(root.path());
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        (root, cfg)
    }

    /// teql0 (up when `master_up`), eth1 and eth2 up; `attached` lines have teql0 as root qdisc.
    fn kernel(master_up: bool, attached: &[&str]) -> State {
        let mut s = State { teql_loaded: true, ..State::default() };
        let up = if master_up { IFF_UP } else { 0 };
        s.links.push(Link {
            index: 1,
            name: "teql0".into(),
            flags: IFF_NOARP | up,
            mtu: 1500,
            link_type: ARPHRD_VOID,
            ..Link::default()
        });
        for (index, name) in [(2, "eth1"), (3, "eth2")] {
            s.links.push(Link { index, name: name.into(), flags: IFF_UP, mtu: 1500, link_type: 1, ..Link::default() });
            let kind = if attached.contains(&name) { "teql0" } else { "pfifo_fast" };
            s.qdiscs.insert(index, Qdisc { ifindex: index, kind: kind.into(), handle: 0 });
            s.rp_filter.insert(name.into(), 0);
        }
        s.rp_filter.insert("all".into(), 0);
        s
    }

    fn ctx() -> Ctx {
        Ctx { root: "/".into(), dry_run: true, ..Ctx::default() }
    }

    #[test]
    fn a_line_up_brings_a_master_with_a_stanza_up_through_ifup_in_the_same_plan() {
        let (_root, cfg) = config(true);
        let state = kernel(false, &[]);
        let mut p = Planner::new(&state);
        p.attach(&IfName::from("eth1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        ensure_master_up(&mut p, &cfg, &BundleName::from("teql0"), &Ifstate::default()).unwrap();
        let plan = p.finish();
        assert!(matches!(plan.actions.last(), Some(Action::Attach { iface, .. }) if iface == "eth1"), "{plan}");
        assert_eq!(plan.then, vec![Then::Ifup { iface: "teql0".into(), must: true }]);
        assert!(plan.to_string().contains("ifup teql0\n"), "{plan}");
    }

    #[test]
    fn a_line_up_brings_a_master_without_a_stanza_up_itself_and_an_up_master_is_left_alone() {
        let (_root, cfg) = config(false);
        let state = kernel(false, &[]);
        let mut p = Planner::new(&state);
        p.attach(&IfName::from("eth1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        ensure_master_up(&mut p, &cfg, &BundleName::from("teql0"), &Ifstate::default()).unwrap();
        let plan = p.finish();
        assert!(plan.then.is_empty(), "{plan}");
        assert!(plan.actions.iter().any(|a| matches!(a, Action::LinkUp { iface, .. } if iface == "teql0")), "{plan}");

        let state = kernel(true, &["eth2"]);
        let mut p = Planner::new(&state);
        p.attach(&IfName::from("eth1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        ensure_master_up(&mut p, &cfg, &BundleName::from("teql0"), &Ifstate::default()).unwrap();
        let plan = p.finish();
        assert!(plan.then.is_empty(), "{plan}");
        assert!(!plan.actions.iter().any(|a| matches!(a, Action::LinkUp { .. } | Action::AddAddress { .. })), "{plan}");
    }

    #[test]
    fn the_last_line_leaving_takes_the_master_down_and_under_ifupdown2_records_it() {
        for i2 in [false, true] {
            let state = kernel(true, &["eth1"]);
            let mut p = Planner::new(&state);
            let left = p.detach(&IfName::from("eth1"), true).unwrap().unwrap();
            if i2 {
                set_master_down_i2(&mut p, &left);
            } else {
                take_master_down_if_empty(&mut p, &left, &Ifstate::default());
            }
            let plan = p.finish();
            assert!(
                plan.actions.iter().any(|a| matches!(a, Action::LinkDown { iface, .. } if iface == "teql0")),
                "{plan}"
            );
            // Under ifupdown2 the marker is written after the master went down, as an action:
            // a rollback removes it again, and the dry run shows it.
            let records: Vec<&Action> = plan.actions.iter().filter(|a| matches!(a, Action::Record { .. })).collect();
            if i2 {
                let Action::Record { path, contents: Some(_), .. } = records[0] else { panic!("{plan}") };
                assert_eq!(*path, emptied_marker("teql0"));
                assert!(matches!(plan.actions.last(), Some(Action::Record { .. })), "{plan}");
                assert!(plan.to_string().contains("# record "), "{plan}");
            }
            assert_eq!(records.len(), usize::from(i2), "{plan}");
            assert!(plan.then.is_empty(), "{plan}");
        }
        // Another line stays: the master stays up.
        let state = kernel(true, &["eth1", "eth2"]);
        let mut p = Planner::new(&state);
        let left = p.detach(&IfName::from("eth1"), true).unwrap().unwrap();
        take_master_down_if_empty(&mut p, &left, &Ifstate::default());
        let plan = p.finish();
        assert_eq!(plan.actions.len(), 1, "{plan}");
    }

    #[test]
    fn what_ifupdown_has_configured_or_is_configuring_is_left_to_it() {
        let (_root, cfg) = config(true);
        // ifupdown's state has teql0 (its ifup is under way): the line's ifup plans no second
        // `ifup teql0`, and the last line leaving asks ifupdown to take it down.
        let st = Ifstate { configured: ["teql0".to_string()].into(), ..Ifstate::default() };
        let state = kernel(false, &[]);
        let mut p = Planner::new(&state);
        p.attach(&IfName::from("eth1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        ensure_master_up(&mut p, &cfg, &BundleName::from("teql0"), &st).unwrap();
        assert!(p.finish().then.is_empty());
        let state = kernel(true, &["eth1"]);
        let mut p = Planner::new(&state);
        let left = p.detach(&IfName::from("eth1"), true).unwrap().unwrap();
        take_master_down_if_empty(&mut p, &left, &st);
        let plan = p.finish();
        assert_eq!(plan.then, vec![Then::Ifdown { iface: "teql0".into() }], "{plan}");
        assert!(!plan.actions.iter().any(|a| matches!(a, Action::LinkDown { .. })), "{plan}");
        // A run up the process tree is configuring eth2 (IFUPDOWN_eth2): it is not asked again.
        let st = Ifstate { markers: ["eth2".to_string()].into(), ..Ifstate::default() };
        let mut state = kernel(false, &[]);
        for l in state.links.iter_mut().filter(|l| l.name.starts_with("eth")) {
            l.flags = 0;
        }
        let mut p = Planner::new(&state);
        give_master_a_line(&mut p, &ctx(), &cfg, &BundleName::from("teql0"), &st).unwrap();
        let plan = p.finish();
        assert!(plan.then.contains(&Then::Ifup { iface: "eth1".into(), must: false }), "{plan}");
        assert!(!plan.then.contains(&Then::Ifup { iface: "eth2".into(), must: false }), "{plan}");
    }

    #[test]
    fn a_master_pre_up_attaches_the_lines_that_are_up_or_plans_their_ifup_then_needs_a_line() {
        let (_root, cfg) = config(true);
        let state = kernel(false, &[]);
        let mut p = Planner::new(&state);
        give_master_a_line(&mut p, &ctx(), &cfg, &BundleName::from("teql0"), &Ifstate::default()).unwrap();
        let plan = p.finish();
        assert_eq!(plan.actions.iter().filter(|a| matches!(a, Action::Attach { .. })).count(), 2, "{plan}");
        assert!(plan.then.is_empty(), "{plan}");

        // Both lines down: their ifup, then the check that one of them attached.
        let mut state = kernel(false, &[]);
        for l in state.links.iter_mut().filter(|l| l.name.starts_with("eth")) {
            l.flags = 0;
        }
        let mut p = Planner::new(&state);
        give_master_a_line(&mut p, &ctx(), &cfg, &BundleName::from("teql0"), &Ifstate::default()).unwrap();
        let plan = p.finish();
        assert!(plan.actions.is_empty(), "{plan}");
        let shown = plan.to_string();
        assert!(shown.starts_with("ifup eth1    # a failure is a warning\nifup eth2    # a failure is a warning\n# then teql0 must have a line, else: teql0: none of its lines (eth1, eth2) is up"), "{shown}");

        // No line configured: refused at once.
        let mut p = Planner::new(&state);
        let e = give_master_a_line(&mut p, &ctx(), &cfg, &BundleName::from("teql1"), &Ifstate::default()).unwrap_err();
        assert!(e.to_string().contains("teql1 has no line: no stanza has `teql-master teql1`"), "{e}");
    }

    #[test]
    fn a_plan_of_notes_only_changes_nothing() {
        let mut plan = Plan::default();
        plan.then.push(Then::Info("teql0 is down".into()));
        assert!(plan.is_empty());
        plan.then.push(Then::Ifdown { iface: "teql0".into() });
        assert!(!plan.is_empty());
        assert_eq!(plan.to_string(), "# teql0 is down\nifdown teql0\n");
    }

    #[test]
    fn reads_ifupdown_environment() {
        let e = env(&[
            ("IFACE", "eth2"),
            ("PHASE", "post-up"),
            ("MODE", "start"),
            ("ADDRFAM", "inet"),
            ("METHOD", "static"),
            ("VERBOSITY", "1"),
            ("IF_TEQL_MASTER", "teql0"),
            ("IF_ADDRESS", "198.18.2.1/30"),
        ])
        .unwrap();
        assert_eq!(e.phase, Phase::Up);
        assert!(e.verbose);
        assert_eq!(e.options.get("TEQL_MASTER").map(String::as_str), Some("teql0"));
        assert_eq!(e.stanza(), "iface eth2 inet static");
    }

    #[test]
    fn ifupdown2_phases_map_to_ours() {
        for (p, want) in
            [("pre-up", Phase::PreUp), ("up", Phase::Up), ("down", Phase::Down), ("post-down", Phase::PostDown)]
        {
            assert_eq!(env(&[("IFACE", "eth2"), ("PHASE", p)]).unwrap().phase, want);
        }
    }

    #[test]
    fn tells_ifupdown2_from_ifupdown() {
        let classic = env(&[
            ("IFACE", "eth2"),
            ("PHASE", "post-up"),
            ("ADDRFAM", "inet"),
            ("METHOD", "static"),
            ("VERBOSITY", "0"),
        ])
        .unwrap();
        assert!(!classic.ifupdown2);
        assert_eq!(classic.stanza(), "iface eth2 inet static");
        // ifupdown2 never sets VERBOSITY; its ADDRFAM/METHOD are the previous call's.
        let i2 =
            env(&[("IFACE", "eth2"), ("LOGICAL", "teql0"), ("PHASE", "up"), ("ADDRFAM", "inet6"), ("METHOD", "dhcp")])
                .unwrap();
        assert!(i2.ifupdown2);
        assert_eq!(i2.stanza(), "iface eth2");
    }

    #[test]
    fn a_bundle_without_a_device_is_a_warning_under_ifupdown2_only() {
        let w = bundle_without_device_i2("wan", true, false).unwrap();
        assert!(w.contains("`ifdown wan`") && w.contains("link-type dummy") && w.contains("teqlctl down wan"), "{w}");
        assert_eq!(bundle_without_device_i2("wan", true, true), None);
        assert_eq!(bundle_without_device_i2("wan", false, false), None);
    }

    #[test]
    fn not_an_ifupdown_call() {
        assert!(env(&[("IFACE", "eth2")]).is_none());
        assert!(env(&[("PHASE", "pre-up")]).is_none());
        assert!(env(&[("IFACE", "eth2"), ("PHASE", "sideways")]).is_none());
    }

    #[test]
    fn cheap_exits_need_no_kernel() {
        let ctx = Ctx { root: "/nonexistent".into(), ..Ctx::default() };
        for vars in [
            vec![("IFACE", "--all"), ("PHASE", "pre-up"), ("ADDRFAM", "meta"), ("VERBOSITY", "0")],
            vec![
                ("IFACE", "eth2"),
                ("PHASE", "pre-up"),
                ("ADDRFAM", "inet6"),
                ("IF_TEQL_MASTER", "teql0"),
                ("VERBOSITY", "0"),
            ],
            vec![("IFACE", "eth0"), ("PHASE", "post-up"), ("ADDRFAM", "inet"), ("VERBOSITY", "0")],
            // ifupdown2: no VERBOSITY, and ADDRFAM left over from another interface's call.
            vec![("IFACE", "eth0"), ("PHASE", "up"), ("ADDRFAM", "inet")],
            vec![("IFACE", "lo"), ("PHASE", "pre-up")],
        ] {
            assert_eq!(run(&env(&vars).unwrap(), &ctx), exit::OK);
        }
    }
}
