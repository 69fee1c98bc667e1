//! DHCP lines of multipath bundles: the dhclient hook (`teqlctl hook dhclient`).
//!
//! A line whose address comes from DHCP has the gateway its DHCP client learned, and that
//! gateway can change when the lease is renewed. The DHCP client's script tells us: Debian's
//! /sbin/dhclient-script sources every file of /etc/dhcp/dhclient-exit-hooks.d/, RedHat's
//! sources /etc/dhcp/dhclient.d/NAME.sh and calls NAME_config / NAME_restore. The snippets
//! teqlctl ships there (distro/dhclient/) run the binary as
//!
//! ```text
//! teqlctl hook dhclient reason=RENEW interface=eth2 new_ip_address=192.0.2.10 new_routers='192.0.2.1'
//! ```
//!
//! with the values of dhclient-script's own variables as arguments (not the environment, which
//! dhclient builds for the script and a sourced snippet may not have exported). The hook:
//! - returns at once, silently, for a reason it has nothing to do with or an interface that is
//!   not a line of a multipath bundle;
//! - on BOUND, RENEW, REBIND, REBOOT (and TIMEOUT, an old lease found still good) records the
//!   lease (the address and the first router) in /run/teqlctl/dhcp-IFACE.json, then plans
//!   the bundle as a line coming up does: the line's table and its nexthop in the group get
//!   the (possibly new) router;
//! - on EXPIRE, FAIL, RELEASE, STOP removes the record and takes the line out of the group
//!   (dhclient-script has flushed its address by then; never the last live line, as `check`).
//!
//! The planner takes a configured gateway first, then the recorded lease's router (while the
//! line has the lease's address), then what the kernel shows (multipath::gateway_of). A router
//! the kernel would refuse as the line's gateway (multipath::router_refused: off the line's
//! subnet, 0.0.0.0, broadcast...) is recorded as the client said but never planned: the line
//! keeps its last good gateway or stays out of the group, and the plan says why.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::IfName;
use crate::error::{Error, Result};
use crate::plan::multipath::Lease;

/// What a dhclient-script reason means for a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// BOUND, RENEW, REBIND, REBOOT, TIMEOUT: the line has a lease (maybe a new one).
    Bound,
    /// EXPIRE, FAIL, RELEASE, STOP: the line has lost its lease (and its address).
    Lost,
}

impl Reason {
    /// The reasons of IPv4 leases; every other (PREINIT, MEDIUM, ARPCHECK, ARPSEND, NBI, the
    /// *6 ones of DHCPv6) is not ours.
    pub fn parse(s: &str) -> Option<Reason> {
        match s {
            "BOUND" | "RENEW" | "REBIND" | "REBOOT" | "TIMEOUT" => Some(Reason::Bound),
            "EXPIRE" | "FAIL" | "RELEASE" | "STOP" => Some(Reason::Lost),
            _ => None,
        }
    }
}

/// One call of the hook, as its arguments say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: Reason,
    /// As dhclient-script spelled it, for messages.
    pub reason_name: String,
    pub interface: IfName,
    /// The new lease's address and first router (Bound with both known), else None.
    pub lease: Option<Lease>,
}

/// Reads the hook's arguments (`KEY=VALUE` each: reason, interface, new_ip_address,
/// new_routers; others are ignored, so a newer snippet may pass more). Ok(None) when there
/// is nothing to do: a reason that is not ours, or an interface name no line can have.
pub(crate) fn parse_args(args: &[String]) -> Result<Option<Event>> {
    let mut reason = None;
    let mut interface = None;
    let mut address = None;
    let mut routers = None;
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            return Err(Error::Usage(format!(
                "dhclient: {:?} is not KEY=VALUE (the dhclient snippets pass reason=, interface=, new_ip_address=, \
                 new_routers=)",
                crate::text::escape_for_message(a, 64)
            )));
        };
        match k {
            "reason" => reason = Some(v),
            "interface" => interface = Some(v),
            "new_ip_address" => address = Some(v),
            "new_routers" => routers = Some(v),
            _ => {}
        }
    }
    let Some(reason_name) = reason else {
        return Err(Error::Usage(
            "dhclient expects reason=REASON interface=IFACE [new_ip_address=A] [new_routers='R ...'], as the \
             dhclient snippets pass them"
                .into(),
        ));
    };
    let Some(r) = Reason::parse(reason_name) else { return Ok(None) };
    let Some(interface) = interface.and_then(IfName::new) else { return Ok(None) };
    let lease = match r {
        Reason::Lost => None,
        Reason::Bound => lease_of(address, routers),
    };
    Ok(Some(Event { reason: r, reason_name: reason_name.to_string(), interface, lease }))
}

/// A lease from its address and its routers in the server's order, space-separated (as
/// dhclient-script's new_routers, and NetworkManager's DHCP4_ROUTERS, pass them): the address
/// and the first router, or None without both.
pub fn lease_of(address: Option<&str>, routers: Option<&str>) -> Option<Lease> {
    let address = address?.trim().parse::<Ipv4Addr>().ok()?;
    let router = routers?.split_whitespace().next()?.parse::<Ipv4Addr>().ok()?;
    Some(Lease { address, router })
}

/// The record of `line`'s lease in the state directory.
pub fn record_path(dir: &Path, line: &IfName) -> PathBuf {
    dir.join(format!("dhcp-{line}.json"))
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    address: Ipv4Addr,
    router: Ipv4Addr,
}

/// The lease recorded for `line`, if any (a record that cannot be read is no record: the
/// next lease event replaces it). Never read through a symlink (statefile).
pub fn load(dir: &Path, line: &IfName) -> Option<Lease> {
    let body = crate::statefile::read(&record_path(dir, line)).ok().flatten()?;
    let r: Record = serde_json::from_slice(&body).ok()?;
    Some(Lease { address: r.address, router: r.router })
}

/// The text of the record of `lease` (None: no record), as `save` writes it.
pub(crate) fn record_text(lease: Option<Lease>) -> Result<Option<String>> {
    let Some(l) = lease else { return Ok(None) };
    serde_json::to_string(&Record { address: l.address, router: l.router })
        .map(Some)
        .map_err(|e| Error::Io("cannot encode a DHCP lease record".into(), std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_lease_is_the_address_and_the_first_router() {
        let ev = parse_args(&args(&[
            "reason=RENEW",
            "interface=eth2",
            "new_ip_address=192.0.2.10",
            "new_routers=192.0.2.254 192.0.2.1",
            "old_routers=192.0.2.1",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ev.reason, Reason::Bound);
        assert_eq!(ev.reason_name, "RENEW");
        assert_eq!(ev.interface, "eth2");
        assert_eq!(ev.lease, Some(Lease { address: ip("192.0.2.10"), router: ip("192.0.2.254") }));
        for r in ["BOUND", "REBIND", "REBOOT", "TIMEOUT"] {
            let ev = parse_args(&args(&[&format!("reason={r}"), "interface=eth2"])).unwrap().unwrap();
            assert_eq!(ev.reason, Reason::Bound, "{r}");
            // No address or router: no lease to record (the kernel's guess stands).
            assert_eq!(ev.lease, None);
        }
        let no_router =
            parse_args(&args(&["reason=BOUND", "interface=eth2", "new_ip_address=192.0.2.10", "new_routers="]));
        assert_eq!(no_router.unwrap().unwrap().lease, None);
        let bad_router = parse_args(&args(&[
            "reason=BOUND",
            "interface=eth2",
            "new_ip_address=192.0.2.10",
            "new_routers=192.0.2.x",
        ]));
        assert_eq!(bad_router.unwrap().unwrap().lease, None);
    }

    #[test]
    fn lost_leases_and_reasons_that_are_not_ours() {
        for r in ["EXPIRE", "FAIL", "RELEASE", "STOP"] {
            let ev = parse_args(&args(&[&format!("reason={r}"), "interface=eth2", "new_routers=192.0.2.1"]))
                .unwrap()
                .unwrap();
            assert_eq!((ev.reason, ev.lease), (Reason::Lost, None), "{r}");
        }
        for r in ["PREINIT", "MEDIUM", "ARPCHECK", "ARPSEND", "BOUND6", "RENEW6", "EXPIRE6", "STOP6", ""] {
            assert_eq!(parse_args(&args(&[&format!("reason={r}"), "interface=eth2"])).unwrap(), None, "{r}");
        }
        // An interface name no line can have (nor a path) is never ours.
        for i in ["", "../../etc", "eth0:1", "a-name-longer-than-15"] {
            assert_eq!(parse_args(&args(&["reason=BOUND", &format!("interface={i}")])).unwrap(), None, "{i}");
        }
        assert_eq!(parse_args(&args(&["reason=BOUND"])).unwrap(), None);
    }

    #[test]
    fn malformed_calls_are_usage_errors() {
        let e = parse_args(&args(&["BOUND", "eth2"])).unwrap_err();
        assert!(e.to_string().contains("not KEY=VALUE"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        let e = parse_args(&args(&["interface=eth2"])).unwrap_err();
        assert!(e.to_string().contains("expects reason="), "{e}");
        assert!(parse_args(&[]).is_err());
    }

    #[test]
    fn records_round_trip_and_are_removed_and_garbage_is_none() {
        let t = tempfile::TempDir::new().unwrap();
        let dir = t.path().join("state");
        // As the plan's record action writes it (record_text at record_path) or removes it.
        let save = |dir: &Path, line: &IfName, lease: Option<Lease>| -> std::io::Result<()> {
            match record_text(lease).unwrap() {
                Some(body) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(record_path(dir, line), body)),
                None => match std::fs::remove_file(record_path(dir, line)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            }
        };
        assert_eq!(load(&dir, &"eth2".into()), None);
        let l = Lease { address: ip("192.0.2.10"), router: ip("192.0.2.1") };
        save(&dir, &"eth2".into(), Some(l)).unwrap();
        assert_eq!(load(&dir, &"eth2".into()), Some(l));
        assert_eq!(load(&dir, &"eth3".into()), None);
        save(&dir, &"eth2".into(), None).unwrap();
        assert_eq!(load(&dir, &"eth2".into()), None);
        // Removing what is not there is fine; garbage is no record.
        save(&dir, &"eth2".into(), None).unwrap();
        std::fs::write(record_path(&dir, &"eth2".into()), "{not json").unwrap();
        assert_eq!(load(&dir, &"eth2".into()), None);
    }
}
