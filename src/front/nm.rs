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
//! A line of a multipath or connection bundle joins and leaves its bundle the same way. When its
//! profile has no gateway (DHCP), the gateway is the lease's: NetworkManager passes the lease's
//! options to the dispatcher (DHCP4_IP_ADDRESS, DHCP4_ROUTERS) with `up` and, when a renewal
//! changes them, with `dhcp4-change`; each records the lease as the dhclient hook does
//! (src/run/dhcp.rs) and plans the bundle with it. NetworkManager before 1.42.6 runs the dispatcher
//! for the first lease only, not for a renewal (RHBZ#2179537; Debian 12 has 1.42.4), but it
//! rewrites its device state file at every renewal: `teqlctl check` compares that file with the
//! recorded lease at each round (`sync_leases`), so a new router is taken within a round.
//!
//! Every other action, an event without an interface (`hostname`, `connectivity-change`) and
//! every profile that is not ours return at once, silently: the dispatcher runs the script for
//! every connection of the box. The profile is the one NetworkManager names; the interface name
//! alone never picks one (a box may have several profiles for one interface).

use std::path::Path;

use crate::config::{self, keyfile, read_config_file, Config, IfName, MAX_FILE_BYTES};
use crate::configured::{ip_iface_record, rename_line};
use crate::error::{Error, Result};
use crate::log;
use crate::plan::multipath::Lease;
use crate::run::event::Event as Happened;
use crate::run::ops::{self, Ctx};

/// The dispatcher actions teqlctl acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PreUp,
    Up,
    PreDown,
    Down,
    /// The DHCP lease changed (a renewal with another router, say): only a DHCP line of a
    /// multipath bundle has anything to do then.
    Dhcp4Change,
}

/// Each action as the dispatcher spells it.
const ACTIONS: [(&str, Action); 5] = [
    ("pre-up", Action::PreUp),
    ("up", Action::Up),
    ("pre-down", Action::PreDown),
    ("down", Action::Down),
    ("dhcp4-change", Action::Dhcp4Change),
];

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        ACTIONS.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }

    fn name(self) -> &'static str {
        ACTIONS.iter().find(|(_, a)| *a == self).map_or("?", |(n, _)| n)
    }
}

/// One dispatcher event, as NetworkManager passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub iface: IfName,
    pub action: Action,
    pub filename: Option<String>,
    pub uuid: Option<String>,
    /// The DHCP lease NetworkManager passes (its address and first router), if the line has
    /// one with both.
    pub lease: Option<Lease>,
    /// DEVICE_IFACE: the device's control interface, which a profile's interface-name names.
    /// For a modem (a gsm profile) that is its control port (cdc-wdm0, ttyUSB2), not the
    /// interface that carries IP.
    pub control: Option<IfName>,
    /// DEVICE_IP_IFACE: the interface IP is configured on (wwan0, ppp0): the line's interface.
    pub ip_iface: Option<IfName>,
}

impl Event {
    /// The event from the arguments and the environment; None for events teqlctl ignores.
    pub fn from(args: &[String], var: impl Fn(&str) -> Option<String>) -> Option<Event> {
        // `none` and "" come with events of no device; anything else no interface can be called
        // is no line either.
        let iface = IfName::new(args.first().filter(|i| *i != "none")?)?;
        let action = Action::parse(args.get(1)?)?;
        Some(Event {
            iface,
            action,
            filename: var("CONNECTION_FILENAME").filter(|v| !v.is_empty()),
            uuid: var("CONNECTION_UUID").filter(|v| !v.is_empty()),
            // The DHCP options, named as dhclient names them, prefixed with DHCP4_.
            lease: crate::run::dhcp::lease_of(var("DHCP4_IP_ADDRESS").as_deref(), var("DHCP4_ROUTERS").as_deref()),
            control: var("DEVICE_IFACE").as_deref().and_then(IfName::new),
            ip_iface: var("DEVICE_IP_IFACE").as_deref().and_then(IfName::new),
        })
    }

    /// The interface that carries the line's IP: DEVICE_IP_IFACE, else the interface the
    /// dispatcher names ($1, which NetworkManager makes the IP interface where it has one).
    pub(crate) fn line_iface(&self) -> &IfName {
        self.ip_iface.as_ref().unwrap_or(&self.iface)
    }

    /// Whether `configured` (a profile's interface-name) is the device of this event: its IP
    /// interface, or its control interface (a modem's control port).
    fn is_device(&self, configured: &str) -> bool {
        configured == self.iface.as_str()
            || self.ip_iface.as_ref().is_some_and(|i| i.as_str() == configured)
            || self.control.as_ref().is_some_and(|c| c.as_str() == configured)
    }
}

/// `cfg` with line `from` (a modem's control port, as its profile names it) on interface `to`
/// (the interface that carries its IP): everything teqlctl does to a line (its qdisc, its
/// table's routes, its nexthop) is done to the IP interface, the control port has no IP.
fn with_line_on(mut cfg: Config, from: &str, to: &IfName) -> Config {
    rename_line(&mut cfg, from, to);
    cfg
}

/// Records (`ip`: Some) or forgets the IP interface of the profile's line `control`. A failure
/// only costs later runs the line (they plan it by its control port), so it is logged.
fn record_ip_iface(control: &str, ip: Option<&IfName>) {
    let dir = crate::statefile::state_dir();
    let path = ip_iface_record(&dir, control);
    let r = match ip {
        Some(ip) => crate::statefile::private_dir(&dir)
            .and_then(|()| crate::statefile::write_atomic(&path, format!("{ip}\n").as_bytes())),
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io(path.display().to_string(), e)),
            _ => Ok(()),
        },
    };
    if let Err(e) = r {
        log::warn(&format!("{control}: {e}"));
    }
}

/// What a profile file must contain to concern teqlctl: a keyfile's user data key, or an
/// ifcfg file's key (RHEL 8 and 9 with the ifcfg-rh plugin).
const MARKERS: [&[u8]; 2] = [b"teqlctl.", b"TEQL_"];

/// The hook: `args` are the dispatcher's ($1 interface, $2 action).
pub fn hook(ctx: &Ctx, args: &[String]) -> Result<()> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(ev) = Event::from(args, var) else {
        return refused_interface(ctx, args, var("CONNECTION_FILENAME"), var("CONNECTION_UUID"));
    };
    run(ctx, &ev)
}

/// An event of a profile of ours on an interface whose name teqlctl refuses (names::name_fault,
/// such as `eth*`, which nftables would read as a wildcard): no line can have that name, and
/// the profile's own problem says so; NetworkManager gets it, as for any broken profile of ours.
/// Events of other profiles, and of no interface, stay silent.
fn refused_interface(ctx: &Ctx, args: &[String], filename: Option<String>, uuid: Option<String>) -> Result<()> {
    let (Some(iface), Some(action)) = (args.first(), args.get(1).and_then(|a| Action::parse(a))) else {
        return Ok(());
    };
    if iface.is_empty() || iface == "none" || IfName::new(iface).is_some() {
        return Ok(());
    }
    let Some(profile) = keyfile::profile_path(&ctx.root, filename.as_deref(), uuid.as_deref()) else { return Ok(()) };
    let Ok(bytes) = read_config_file(&profile, MAX_FILE_BYTES) else { return Ok(()) };
    if !MARKERS.iter().any(|m| keyfile::mentions(&bytes, m)) {
        return Ok(());
    }
    let cfg = crate::configured::load(&ctx.root);
    let problems: Vec<&config::ConfigError> = cfg.problems.iter().filter(|p| p.path() == profile.as_path()).collect();
    let error = match problems.split_first() {
        Some((first, rest)) => {
            for p in rest {
                log::warn(&p.to_string());
            }
            Error::Config((*first).clone())
        }
        None => Error::Usage(format!(
            "{}: NetworkManager activated the profile on \"{}\", which is not {}",
            config::shown_path(&profile),
            crate::names::shown(iface),
            crate::names::refusal(iface)
        )),
    };
    if matches!(action, Action::PreDown | Action::Down) {
        // Nothing of teqlctl's can be on it: no line has its name.
        log::warn(&error.to_string());
        return Ok(());
    }
    Err(error)
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
    let cfg = crate::configured::load(&ctx.root);
    let configured = line_of(&cfg, &profile).map(|m| m.device.clone());
    let Some(configured) = configured else {
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
            crate::run::event::run(
                ctx,
                &cfg,
                &[Happened::LinesDown { lines: vec![ev.iface.clone()], missing_ok: true }],
            )?;
            return Ok(());
        }
        return Err(Error::Config(first.clone()));
    };
    // The profile's own interface-name, when a recorded IP interface stands for it.
    let named = cfg.ip_ifaces.get(configured.as_str()).cloned().unwrap_or_else(|| configured.to_string());
    if !ev.is_device(&named) && !ev.is_device(&configured) {
        return Err(Error::Usage(format!(
            "{}: the profile's line is {configured}, but NetworkManager activated it on {}; \
             set interface-name={} in its [connection] section",
            profile.display(),
            ev.iface,
            ev.control.as_ref().unwrap_or(&ev.iface)
        )));
    }
    // The profile names the device by its control interface (a modem's cdc-wdm0); the line
    // is the interface that carries IP (wwan0, ppp0), which the profile cannot name.
    let line = ev.line_iface().clone();
    let cfg = if line != configured { with_line_on(cfg, &configured, &line) } else { cfg };
    let done = act(ctx, ev, &cfg, &line);
    // Once it worked: a line that could not join is not planned on by later runs either.
    if done.is_ok() && !ctx.dry_run && named != line.as_str() {
        let up = !matches!(ev.action, Action::PreDown | Action::Down);
        record_ip_iface(&named, up.then_some(&line));
    }
    done
}

/// What the dispatcher's action does to `line`, a line of `cfg`.
fn act(ctx: &Ctx, ev: &Event, cfg: &Config, line: &IfName) -> Result<()> {
    match ev.action {
        Action::PreUp => {
            ops::check_config(cfg, &[line])?;
            ops::report_problems(cfg, line);
            crate::run::event::run(ctx, cfg, &[Happened::Preparing(line.to_string())]).map(drop)
        }
        Action::Up | Action::Dhcp4Change => {
            ops::check_config(cfg, &[line])?;
            ops::report_problems(cfg, line);
            // Without a lease in the event (DHCP not done yet, a static profile without a
            // gateway) the bundle is planned with what was recorded, as a line coming up.
            let event = match (dhcp_line(cfg, line).is_some() && ev.lease.is_some(), ev.action) {
                (true, _) => Happened::Lease {
                    lease: crate::run::dhcp::Event {
                        reason: crate::run::dhcp::Reason::Bound,
                        reason_name: format!("NetworkManager {}", ev.action.name()),
                        interface: line.clone(),
                        lease: ev.lease,
                    },
                    joining: ev.action == Action::Up,
                },
                (false, Action::Dhcp4Change) => return Ok(()),
                (false, _) => Happened::LinesUp { lines: vec![line.clone()], over: None },
            };
            crate::run::event::run(ctx, cfg, &[event]).map(drop)
        }
        Action::PreDown | Action::Down => {
            // Taking a line out works even when its profile broke since it came up.
            for p in cfg.problems_for(line) {
                log::warn(&p.to_string());
            }
            ops::report_problems(cfg, line);
            crate::run::event::run(ctx, cfg, &[Happened::LinesDown { lines: vec![line.clone()], missing_ok: true }])
                .map(drop)
        }
    }
}

/// Where NetworkManager (1.40 and later) keeps each device's state, below the root: a key file
/// named by the interface index, whose [dhcp4] section holds the lease's options as
/// `dhcp4.NAME` (dhcp4.ip_address, dhcp4.routers), rewritten at every renewal.
pub const DEVICE_STATE_DIR: &str = "run/NetworkManager/devices";

/// The DHCP lease NetworkManager's state file for interface `ifindex` records, if any.
pub(crate) fn device_lease(root: &Path, ifindex: u32) -> Option<Lease> {
    let path = root.join(DEVICE_STATE_DIR).join(ifindex.to_string());
    let bytes = read_config_file(&path, MAX_FILE_BYTES).ok()?;
    let ini = ini::Ini::load_from_str_opt(&String::from_utf8(bytes).ok()?, keyfile::parse_options()).ok()?;
    let ini = keyfile::as_glib_reads(&ini);
    let d = ini.section(Some("dhcp4"))?;
    crate::run::dhcp::lease_of(d.get("dhcp4.ip_address"), d.get("dhcp4.routers"))
}

/// `teqlctl check`'s part for NetworkManager's DHCP lines of multipath bundles: a lease in
/// NetworkManager's state file that differs from the recorded one is recorded and planned, as
/// the dispatcher's dhcp4-change would have (see the top of this file). A line whose lease
/// cannot be taken is said and the others go on: the round's own work is done by then.
pub(crate) fn sync_leases(ctx: &Ctx, cfg: &Config, index_of: impl Fn(&str) -> Option<u32>) {
    let dir = crate::statefile::state_dir();
    for m in cfg.members.values() {
        if !keyfile::is_profile(&ctx.root, &m.source) {
            continue;
        }
        let Some(bundle) = dhcp_line(cfg, &m.device) else { continue };
        let Some(lease) = index_of(&m.device).and_then(|i| device_lease(&ctx.root, i)) else { continue };
        if crate::run::dhcp::load(&dir, &m.device) == Some(lease) || !cfg.problems_for(&m.device).is_empty() {
            continue;
        }
        let ev = crate::run::dhcp::Event {
            reason: crate::run::dhcp::Reason::Bound,
            reason_name: "NetworkManager renewal".to_string(),
            interface: m.device.clone(),
            lease: Some(lease),
        };
        if let Err(e) = crate::run::event::run(ctx, cfg, &[Happened::Lease { lease: ev, joining: false }]) {
            log::error(&format!("{} ({}): NetworkManager's lease not taken: {e}", m.device, bundle.name()));
        }
    }
}

/// The multipath bundle of `line` when its gateway is not configured: it comes from DHCP.
/// (A lease record left behind when such a line goes down is harmless: the planner uses a
/// record only while the line has the lease's address.)
fn dhcp_line<'a>(cfg: &'a Config, line: &str) -> Option<Box<dyn crate::run::mode::BundleMode + 'a>> {
    let m = cfg.members.get(line).filter(|m| m.path.gateway().is_none())?;
    crate::run::mode::bundle_of_member(cfg, m).filter(|b| b.takes_leases())
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
    use std::net::Ipv4Addr;

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
    fn the_lease_in_networkmanagers_device_state_file() {
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join(DEVICE_STATE_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        // As NetworkManager 1.42 writes it (the [dhcp4] section trimmed).
        std::fs::write(
            dir.join("4"),
            "[device]\nmanaged=true\nperm-hw-addr-fake=\nconnection-uuid=7e91c0de-0000-4000-8000-000000000102\n\n\
             [dhcp4]\ndhcp4.dhcp_lease_time=20\ndhcp4.ip_address=192.0.2.10\ndhcp4.routers=192.0.2.254\n\
             dhcp4.subnet_mask=255.255.255.0\n",
        )
        .unwrap();
        std::fs::write(dir.join("5"), "[device]\nmanaged=true\n").unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(device_lease(root.path(), 4), Some(Lease { address: ip("192.0.2.10"), router: ip("192.0.2.254") }));
        assert_eq!(device_lease(root.path(), 5), None, "a static line has no [dhcp4]");
        assert_eq!(device_lease(root.path(), 6), None, "no file");
    }

    #[test]
    fn the_lease_of_a_dhcp_line() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let e = Event::from(
            &args(&["eth2", "dhcp4-change"]),
            env(&[("DHCP4_IP_ADDRESS", "192.0.2.10"), ("DHCP4_ROUTERS", "192.0.2.254 192.0.2.1")]),
        )
        .unwrap();
        assert_eq!(e.action, Action::Dhcp4Change);
        assert_eq!(e.lease, Some(Lease { address: ip("192.0.2.10"), router: ip("192.0.2.254") }));
        // A lease without a router, or no lease: nothing to record.
        for vars in [
            &[("DHCP4_IP_ADDRESS", "192.0.2.10")][..],
            &[("DHCP4_ROUTERS", "192.0.2.1")],
            &[("DHCP4_IP_ADDRESS", "192.0.2.10"), ("DHCP4_ROUTERS", "")],
            &[("DHCP4_IP_ADDRESS", "192.0.2"), ("DHCP4_ROUTERS", "192.0.2.1")],
            &[],
        ] {
            let vars: &'static [(&str, &str)] = Box::leak(vars.to_vec().into_boxed_slice());
            assert_eq!(Event::from(&args(&["eth2", "up"]), env(vars)).unwrap().lease, None, "{vars:?}");
        }
    }

    #[test]
    fn a_modems_line_is_its_ip_interface() {
        let e =
            Event::from(&args(&["wwan0", "up"]), env(&[("DEVICE_IFACE", "cdc-wdm0"), ("DEVICE_IP_IFACE", "wwan0")]))
                .unwrap();
        assert_eq!((e.line_iface().as_str(), e.is_device("cdc-wdm0"), e.is_device("cdc-wdm1")), ("wwan0", true, false));
        // The profile's line, read as interface-name=cdc-wdm0, is planned on wwan0.
        let root = tempfile::TempDir::new().unwrap();
        let put = |p: &str, t: &str| {
            let p = root.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        put("etc/teqlctl/bundles/wan.conf", "[bundle]\nmode=multipath\n");
        put(
            "etc/NetworkManager/system-connections/lte.nmconnection",
            "[connection]\nid=lte\ntype=gsm\ninterface-name=cdc-wdm0\n[user]\nteqlctl.master=wan\nteqlctl.weight=2\n",
        );
        let cfg = with_line_on(config::load(root.path()), "cdc-wdm0", e.line_iface());
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        let lines = ops::multipath_lines(&cfg, "wan");
        assert_eq!(lines.iter().map(|l| (l.device.as_str(), l.weight)).collect::<Vec<_>>(), [("wwan0", 2)]);
        assert!(!cfg.members.contains_key("cdc-wdm0"));
        assert_eq!(cfg.ip_ifaces.get("wwan0").map(String::as_str), Some("cdc-wdm0"));
        // What the dispatcher recorded is what every later run (check, another line's event)
        // plans with; an ifcfg line of the same name is never renamed.
        let state = tempfile::TempDir::new().unwrap();
        std::fs::write(ip_iface_record(state.path(), "cdc-wdm0"), "wwan0\n").unwrap();
        std::fs::write(ip_iface_record(state.path(), "eth7"), "wwan7\n").unwrap();
        put("etc/sysconfig/network-scripts/ifcfg-eth7", "DEVICE=eth7\nTEQL_MASTER=teql0\n");
        let mut cfg = config::load(root.path());
        crate::configured::apply_recorded_ip_ifaces(&mut cfg, state.path());
        assert_eq!(cfg.members.keys().map(String::as_str).collect::<Vec<_>>(), ["eth7", "wwan0"]);
        assert_eq!(cfg.members["wwan0"].device, "wwan0");
        // Without DEVICE_IP_IFACE the line is $1.
        let e = Event::from(&args(&["ppp0", "up"]), env(&[("DEVICE_IFACE", "ttyUSB2")])).unwrap();
        assert_eq!((e.line_iface().as_str(), e.is_device("ttyUSB2")), ("ppp0", true));
    }

    #[test]
    fn events_teqlctl_ignores() {
        for a in [
            &["", "connectivity-change"][..],
            &["none", "hostname"],
            &["eth2", "dhcp6-change"],
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
