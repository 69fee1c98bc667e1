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

use crate::config::{self, interfaces, master_index, Config, Member};
use crate::error::{exit, Error, Result};
use crate::exec::{self, Outcome};
use crate::log;
use crate::netlink::Netlink;
use crate::ops::{self, Ctx};
use crate::state::State;

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
    pub fn from_env(vars: impl Iterator<Item = (String, String)>) -> Option<HookEnv> {
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

/// ifupdown's own marker that `iface` is being configured by a run up the process tree.
fn being_processed(iface: &str) -> bool {
    let name: String = iface.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    std::env::var_os(format!("IFUPDOWN_{name}")).is_some()
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
    let is_master = master_index(&env.iface).is_some() || env.options.contains_key("TEQL_MODE");
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
    let cfg = config::load(&ctx.root);
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
    if master_index(&member.master).is_none() {
        // A multipath bundle's line: whether that bundle exists is a question for the whole
        // file (check_bundles), whose answer is among this line's problems.
        ops::check_config(&cfg, &[&member.device])?;
        return match env.phase {
            Phase::PreUp => Ok(()),
            Phase::Up => ops::multipath(ctx, &cfg, &member.master, &ops::MpEvent::Up).map(drop),
            Phase::Down | Phase::PostDown => {
                ops::multipath(ctx, &cfg, &member.master, &ops::MpEvent::Leaving(vec![member.device.clone()])).map(drop)
            }
        };
    }
    match env.phase {
        Phase::PreUp => ops::load_module_for(ctx, ops::needed_for(&cfg, &[member.master.clone()].into())),
        Phase::Up => {
            let joins = [ops::Join::of(&member, &member.master)];
            ops::attach_lines(ctx, &cfg, &joins, false)?;
            if env.ifupdown2 {
                restore_master_i2(ctx, &cfg, &member.master)
            } else {
                ensure_master_up(ctx, &cfg, &member.master)
            }
        }
        Phase::Down | Phase::PostDown => {
            let left = ops::detach_lines(ctx, std::slice::from_ref(&member.device), true, false)?;
            if left.actions.is_empty() {
                return Ok(());
            }
            if env.ifupdown2 {
                set_master_down_i2(ctx, &member.master)
            } else {
                take_master_down_if_empty(ctx, &member.master)
            }
        }
    }
}

fn master_hook(env: &HookEnv, ctx: &Ctx) -> Result<()> {
    let master = env.iface.clone();
    let cfg = load_config(ctx, &master);
    if master_index(&master).is_none() {
        // `iface wan inet manual` with teql-mode: ifupdown configures nothing for it; its
        // pre-up brings the bundle up with the lines that are up (the others join as they
        // come up), its post-down takes it down.
        ops::check_config(&cfg, &[&master])?;
        return match env.phase {
            Phase::PreUp => {
                let exists =
                    config::valid_iface_name(&master) && PathBuf::from("/sys/class/net").join(&master).exists();
                if let Some(w) = bundle_without_device_i2(&master, env.ifupdown2, exists) {
                    log::warn(&w);
                }
                ops::multipath(ctx, &cfg, &master, &ops::MpEvent::Up).map(drop)
            }
            Phase::Up | Phase::Down => Ok(()),
            Phase::PostDown => ops::multipath(ctx, &cfg, &master, &ops::MpEvent::Down).map(drop),
        };
    }
    if env.ifupdown2 {
        // ifupdown2 itself is bringing the master up or down: teqlctl's record of having set it
        // down is over.
        forget_master_emptied(ctx, &master);
    }
    match env.phase {
        Phase::PreUp if env.ifupdown2 => {
            ops::load_module_for(ctx, ops::needed_for(&cfg, &[master.clone()].into()))?;
            attach_every_line_i2(ctx, &cfg, &master)?;
            ops::master_up(ctx, &cfg, &master).map(drop)
        }
        Phase::PreUp => {
            ops::load_module_for(ctx, ops::needed_for(&cfg, &[master.clone()].into()))?;
            give_master_a_line(ctx, &cfg, &master)
        }
        // ifupdown itself set the address, mtu and default route; the bundle's own routes and
        // NAT are ours.
        Phase::Up => ops::master_routing(ctx, &cfg, &master).map(drop),
        Phase::Down => Ok(()),
        // `ifdown teqlN` unbonds its lines; the next `ifup teqlN` bonds them again.
        Phase::PostDown => ops::down(ctx, &cfg_with_bare_master(&cfg, &master), Some(&master)).map(drop),
    }
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

/// ifupdown has already removed the master's address; only the lines are left to detach.
fn cfg_with_bare_master(cfg: &Config, master: &str) -> Config {
    let mut c = cfg.clone();
    c.masters.insert(master.to_string(), config::Master::bare(master));
    c.problems.retain(|p| p.device() != Some(master));
    c
}

struct MasterNow {
    up: bool,
    lines: usize,
}

fn master_now(master: &str) -> Result<MasterNow> {
    let mut nl = Netlink::open().map_err(|e| Error::from_netlink("netlink socket", "", e))?;
    let state = State::read(&mut nl)?;
    Ok(MasterNow { up: state.link(master).is_some_and(State::is_up), lines: state.slaves_of(master).count() })
}

/// After a line came up: the master must come up too, through ifupdown when it has a stanza.
fn ensure_master_up(ctx: &Ctx, cfg: &Config, master: &str) -> Result<()> {
    if ctx.dry_run || master_now(master)?.up {
        return Ok(());
    }
    if being_processed(master) || ifupdown_has(master) {
        // A run up the tree (or a parallel ifup of teqlN) is configuring it right now.
        return Ok(());
    }
    match cfg.masters.get(master).and_then(|m| m.source.as_ref()) {
        Some(_) => ifupdown("ifup", master),
        // No stanza: nobody else will bring it up; a bare master (no address) is still a pipe.
        None => ops::master_up(ctx, cfg, master).map(drop),
    }
}

/// Before teqlN goes up it needs a line: attach the configured lines that are up; failing
/// that, bring them up through ifupdown (their post-up attaches them).
fn give_master_a_line(ctx: &Ctx, cfg: &Config, master: &str) -> Result<()> {
    let members: Vec<&Member> = cfg.members_of(master).collect();
    let up: Vec<ops::Join> =
        members.iter().filter(|m| link_is_up(&m.device)).map(|m| ops::Join::of(m, master)).collect();
    if !up.is_empty() {
        ops::attach_lines(ctx, cfg, &up, false)?;
    }
    if ctx.dry_run || master_now(master)?.lines > 0 {
        return Ok(());
    }
    for m in members.iter().filter(|m| m.onboot && !being_processed(&m.device) && !ifupdown_has(&m.device)) {
        if let Err(e) = ifupdown("ifup", &m.device) {
            log::warn(&e.to_string());
        }
    }
    if master_now(master)?.lines > 0 {
        return Ok(());
    }
    let names: Vec<&str> = members.iter().map(|m| m.device.as_str()).collect();
    Err(Error::Refused(if names.is_empty() {
        format!("{master} has no line: no stanza has `teql-master {master}`; teql cannot go up without one")
    } else {
        format!(
            "{master}: none of its lines ({}) is up or could be brought up; teql cannot go up without one",
            names.join(", ")
        )
    }))
}

/// After a line left: an emptied master must go down (it would drop everything routed to it),
/// through ifupdown when ifupdown configured it.
fn take_master_down_if_empty(ctx: &Ctx, master: &str) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let now = master_now(master)?;
    if now.lines > 0 || !now.up || being_processed(master) {
        return Ok(());
    }
    if ifupdown_has(master) {
        ifupdown("ifdown", master)
    } else {
        ops::set_down_if_empty(ctx, master).map(drop)
    }
}

/// ifupdown2's pre-up of a master: every configured line that exists joins, up or down, since
/// nothing can be brought up through ifupdown2 from here (see the top of this file). teql
/// skips a line that is down when it sends; the line's own ifup later finds it attached.
fn attach_every_line_i2(ctx: &Ctx, cfg: &Config, master: &str) -> Result<()> {
    let members: Vec<&Member> = cfg.members_of(master).collect();
    let joins: Vec<ops::Join> = members
        .iter()
        .filter(|m| config::valid_iface_name(&m.device) && PathBuf::from("/sys/class/net").join(&m.device).exists())
        .map(|m| ops::Join::of(m, master))
        .collect();
    if !joins.is_empty() {
        ops::attach_lines(ctx, cfg, &joins, false)?;
    }
    if ctx.dry_run || master_now(master)?.lines > 0 {
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
    crate::lock::lock_path().with_file_name(format!("teqlctl.{master}.emptied"))
}

fn forget_master_emptied(ctx: &Ctx, master: &str) {
    if !ctx.dry_run {
        let _ = std::fs::remove_file(emptied_marker(master));
    }
}

/// Under ifupdown2, after a line left: an emptied master would drop everything sent to it, and
/// `ifdown teqlN` cannot be run from here; set it down (its routes go with it) and remember it.
fn set_master_down_i2(ctx: &Ctx, master: &str) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let now = master_now(master)?;
    if now.lines > 0 || !now.up {
        return Ok(());
    }
    ops::set_down_if_empty(ctx, master)?;
    if let Err(e) =
        crate::statefile::write_atomic(&emptied_marker(master), b"set down by teqlctl: its last line left\n")
    {
        log::warn(&format!("{master}: cannot record that it was set down: {e}"));
    }
    Ok(())
}

/// Under ifupdown2, after a line came up: a master that teqlctl set down when its last line
/// left comes back as its stanza says; one that ifupdown2 never brought up stays down (only
/// `ifup teqlN` may configure it: it cannot be asked from here).
fn restore_master_i2(ctx: &Ctx, cfg: &Config, master: &str) -> Result<()> {
    if ctx.dry_run || master_now(master)?.up {
        return Ok(());
    }
    let has_stanza = cfg.masters.get(master).and_then(|m| m.source.as_ref()).is_some();
    if has_stanza && !emptied_marker(master).exists() {
        log::info(&format!(
            "{master} is down and ifupdown2 cannot be asked to bring it up from a hook: `ifup {master}` (or `ifup -a`) does"
        ));
        return Ok(());
    }
    ops::master_up(ctx, cfg, master)?;
    forget_master_emptied(ctx, master);
    Ok(())
}

fn link_is_up(iface: &str) -> bool {
    if !config::valid_iface_name(iface) {
        return false;
    }
    std::fs::read_to_string(PathBuf::from("/sys/class/net").join(iface).join("flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & crate::netlink::IFF_UP != 0)
}

/// ifupdown's state says `iface` is configured (or being configured: ifup records the state
/// before it runs the stanza).
fn ifupdown_has(iface: &str) -> bool {
    match exec::run_bounded(Command::new("ifquery").args(["--state", iface]), Duration::from_secs(10), true) {
        Ok(Outcome::Exited { output, .. }) => output.lines().any(|l| l.split('=').next() == Some(iface)),
        _ => false,
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
        Ok(Outcome::TimedOut) => Err(Error::Refused(format!("`{cmd} {iface}` did not finish in 90 s; killed"))),
        Err(e) => Err(Error::Io(format!("cannot run {cmd}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HookEnv> {
        HookEnv::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
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
