//! The binary as a NetworkManager dispatcher script (issue 15).
//!
//! NetworkManager runs dispatcher.d/90-teqlctl (and the links to it in pre-up.d and pre-down.d)
//! with `$1` the interface and `$2` the action, and names the profile in CONNECTION_FILENAME
//! and CONNECTION_UUID. Its scripts run one at a time and may run late: by then the line may
//! be down again. So a run does not replay its event; it makes the line what its profile says,
//! against the kernel as it is now, as the other hooks do:
//! - `pre-up` (NetworkManager waits for pre-up.d): the module is loaded;
//! - `up`: the line joins its bundle, and the bundle comes up with its first line;
//! - `pre-down` (waited for too) and `down`: the line leaves, and the bundle goes down with its
//!   last line.
//!
//! Every other action, an event without an interface (`hostname`, `connectivity-change`) and
//! every profile that is not ours return at once, silently: the dispatcher runs the script for
//! every connection of the box. The profile is the one NetworkManager names; the interface name
//! alone never picks one (a box may have several profiles for one interface).

use std::path::Path;

use crate::config::{self, keyfile, read_config_file, Config, MAX_FILE_BYTES};
use crate::error::{Error, Result};
use crate::log;
use crate::ops::{self, Ctx};

/// The dispatcher actions teqlctl acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PreUp,
    Up,
    PreDown,
    Down,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pre-up" => Some(Action::PreUp),
            "up" => Some(Action::Up),
            "pre-down" => Some(Action::PreDown),
            "down" => Some(Action::Down),
            _ => None,
        }
    }
}

/// One dispatcher event, as NetworkManager passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub iface: String,
    pub action: Action,
    pub filename: Option<String>,
    pub uuid: Option<String>,
}

impl Event {
    /// The event from the arguments and the environment; None for events teqlctl ignores.
    pub fn from(args: &[String], var: impl Fn(&str) -> Option<String>) -> Option<Event> {
        let iface = args.first().filter(|i| !i.is_empty() && *i != "none")?;
        let action = Action::parse(args.get(1)?)?;
        Some(Event {
            iface: iface.clone(),
            action,
            filename: var("CONNECTION_FILENAME").filter(|v| !v.is_empty()),
            uuid: var("CONNECTION_UUID").filter(|v| !v.is_empty()),
        })
    }
}

/// What a profile file must contain to concern teqlctl: a keyfile's user data key, or an
/// ifcfg file's key (RHEL 8 and 9 with the ifcfg-rh plugin).
const MARKERS: [&[u8]; 2] = [b"teqlctl.", b"TEQL_"];

/// The hook: `args` are the dispatcher's ($1 interface, $2 action).
pub fn hook(ctx: &Ctx, args: &[String]) -> Result<()> {
    let Some(ev) = Event::from(args, |k| std::env::var(k).ok()) else { return Ok(()) };
    run(ctx, &ev)
}

pub fn run(ctx: &Ctx, ev: &Event) -> Result<()> {
    let Some(profile) = keyfile::profile_path(&ctx.root, ev.filename.as_deref(), ev.uuid.as_deref()) else {
        return Ok(());
    };
    // The cheap test first: most profiles of a box are not ours, and their events must cost
    // one small read. An unreadable profile is not ours either: NetworkManager reports it.
    let Ok(bytes) = read_config_file(&profile, MAX_FILE_BYTES) else { return Ok(()) };
    if !MARKERS.iter().any(|m| keyfile::mentions(&bytes, m)) {
        return Ok(());
    }
    let cfg = config::load(&ctx.root);
    let line = line_of(&cfg, &profile).map(|m| m.device.clone());
    let Some(line) = line else {
        // Ours by its text, but no line came of it: a broken profile. Its problems are said;
        // a line leaving is still taken out (detaching needs no configuration).
        let mut problems = cfg.problems.iter().filter(|p| p.path() == profile.as_path());
        let Some(first) = problems.next() else {
            return Ok(()); // `teqlctl.` or `TEQL_` in a comment, say
        };
        for p in problems {
            log::warn(&p.to_string());
        }
        if matches!(ev.action, Action::PreDown | Action::Down) {
            log::warn(&first.to_string());
            ops::detach(ctx, std::slice::from_ref(&ev.iface), true)?;
            return Ok(());
        }
        return Err(Error::Config(first.clone()));
    };
    if line != ev.iface {
        return Err(Error::Usage(format!(
            "{}: the profile's line is {line}, but NetworkManager activated it on {}; \
             set interface-name={} in its [connection] section",
            profile.display(),
            ev.iface,
            ev.iface
        )));
    }
    match ev.action {
        Action::PreUp => {
            ops::check_config(&cfg, &[&line])?;
            ops::report_problems(&cfg, &line);
            ops::load_module(ctx, &cfg, &line)
        }
        Action::Up => {
            ops::check_config(&cfg, &[&line])?;
            ops::report_problems(&cfg, &line);
            ops::attach(ctx, &cfg, std::slice::from_ref(&line), None).map(drop)
        }
        Action::PreDown | Action::Down => {
            // Taking a line out works even when its profile broke since it came up.
            for p in cfg.problems_for(&line) {
                log::warn(&p.to_string());
            }
            ops::report_problems(&cfg, &line);
            ops::detach_configured(ctx, &cfg, std::slice::from_ref(&line), true).map(drop)
        }
    }
}

/// The line configured by `profile` (a keyfile or an ifcfg file), compared as paths and, for
/// a profile reached through a symlink, as the files they resolve to.
fn line_of<'a>(cfg: &'a Config, profile: &Path) -> Option<&'a config::Member> {
    if let Some(m) = cfg.members.values().find(|m| m.source == profile) {
        return Some(m);
    }
    let real = profile.canonicalize().ok()?;
    cfg.members.values().find(|m| m.source.canonicalize().ok().as_deref() == Some(real.as_path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn events_teqlctl_acts_on() {
        let e = Event::from(
            &args(&["eth2", "up"]),
            env(&[("CONNECTION_FILENAME", "/etc/NetworkManager/system-connections/dsl1.nmconnection")]),
        )
        .unwrap();
        assert_eq!(e.iface, "eth2");
        assert_eq!(e.action, Action::Up);
        assert_eq!(e.filename.as_deref(), Some("/etc/NetworkManager/system-connections/dsl1.nmconnection"));
        assert_eq!(e.uuid, None);
        for (a, want) in
            [("pre-up", Action::PreUp), ("up", Action::Up), ("pre-down", Action::PreDown), ("down", Action::Down)]
        {
            assert_eq!(Event::from(&args(&["eth2", a]), env(&[])).unwrap().action, want);
        }
    }

    #[test]
    fn events_teqlctl_ignores() {
        for a in [
            &["", "connectivity-change"][..],
            &["none", "hostname"],
            &["eth2", "dhcp4-change"],
            &["eth2", "vpn-up"],
            &["eth2", "reapply"],
            &["eth2"],
            &[],
            &["", "up"],
        ] {
            assert_eq!(Event::from(&args(a), env(&[])), None, "{a:?}");
        }
    }
}
