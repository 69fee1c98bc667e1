//! Typed errors and the exit codes they map to (documented in teqlctl(8)).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::netlink::NlError;
use crate::plan::Action;

/// Exit codes. Hooks return them too, although network-scripts ignores them.
pub mod exit {
    pub const OK: i32 = 0;
    /// Anything not covered below (I/O on our own files, an unexpected netlink failure).
    pub const FAILURE: i32 = 1;
    /// Bad command line (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// A configuration file is malformed or inconsistent.
    pub const CONFIG: i32 = 3;
    /// The kernel refused a change, lacks sch_teql, or the system's state forbids it (an
    /// admin's qdisc, an MTU mismatch).
    pub const KERNEL: i32 = 4;
    /// Not root / no CAP_NET_ADMIN.
    pub const PERMISSION: i32 = 5;
    /// An interface named on the command line or in the configuration does not exist.
    pub const NO_SUCH_INTERFACE: i32 = 6;
    /// Another teqlctl held the lock for longer than the wait bound.
    pub const BUSY: i32 = 7;
    /// The run took longer than its time bound and the watchdog stopped it.
    pub const TIMEOUT: i32 = 8;
    /// A line of a multipath bundle had a problem of its own (a router the kernel would refuse,
    /// a change of it the kernel refused) and was left out; the bundle's other lines' changes
    /// were made.
    pub const PARTIAL: i32 = 9;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),

    #[error("{0}")]
    Usage(String),

    /// The configuration lacks what the command needs (a master without a line): no file is
    /// broken, but it is the files that must change.
    #[error("{0}")]
    NotConfigured(String),

    #[error("{0}: no such interface; check the name with `ip link`")]
    NoSuchInterface(String),

    /// The system's state forbids the change; the text says what to do.
    #[error("{0}")]
    Refused(String),

    /// The kernel answered a request with an error. `what` is the equivalent command.
    #[error("{what}: {err}{hint}")]
    Kernel { what: String, err: NlError, hint: String },

    #[error("{0}: permission denied; run as root (teqlctl needs CAP_NET_ADMIN)")]
    Permission(String),

    /// sch_teql cannot be loaded or has too few masters.
    #[error("{0}")]
    Module(String),

    /// nft is missing, too old, or refused a ruleset of ours (the text says which and what to do).
    #[error("{0}")]
    Nft(String),

    #[error("another teqlctl has held {0} for {1} s; giving up (is one stuck? see `ps -C teqlctl`)")]
    Busy(PathBuf, u64),

    #[error("{0}: {1}")]
    Io(String, std::io::Error),

    /// `teqlctl peer-config` cannot mirror the bundle, or cannot write its files.
    #[error("{0}")]
    Peer(#[from] crate::peer::PeerError),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::NotConfigured(_) => exit::CONFIG,
            Error::Usage(_) => exit::USAGE,
            Error::NoSuchInterface(_) => exit::NO_SUCH_INTERFACE,
            Error::Refused(_) | Error::Module(_) | Error::Nft(_) => exit::KERNEL,
            Error::Kernel { err, .. } => match err.errno {
                0 => exit::FAILURE,
                _ => exit::KERNEL,
            },
            Error::Permission(_) => exit::PERMISSION,
            Error::Busy(..) => exit::BUSY,
            Error::Io(_, e) if e.kind() == std::io::ErrorKind::PermissionDenied => exit::PERMISSION,
            Error::Io(..) => exit::FAILURE,
            Error::Peer(e) => e.exit_code(),
        }
    }

    /// Turns a netlink failure of the request `what` (a dump, opening the socket) into the
    /// clearest error we can give.
    pub fn from_netlink(what: &str, iface: &str, err: NlError) -> Error {
        Error::netlink(what.to_string(), iface, None, err)
    }

    /// Turns the failure of a planned change into the clearest error we can give: the hint
    /// is chosen by the change itself, not by its printed command.
    pub fn from_action(action: &Action, err: NlError) -> Error {
        Error::netlink(action.to_string(), action.iface(), Some(action), err)
    }

    fn netlink(what: String, iface: &str, action: Option<&Action>, err: NlError) -> Error {
        match err.errno {
            libc::EPERM | libc::EACCES => Error::Permission(what),
            libc::ENODEV => Error::NoSuchInterface(iface.to_string()),
            e => Error::Kernel { what, err, hint: hint(action, e) },
        }
    }
}

/// What an errno means for the change at hand (None: a request that changes nothing): raw
/// errnos are not an answer for an admin.
fn hint(action: Option<&Action>, errno: i32) -> String {
    let h = match (errno, action) {
        (libc::EUNATCH, Some(Action::LinkUp { .. })) => {
            "the master has no line attached, and teql cannot go up without one"
        }
        (libc::EINVAL, Some(Action::Attach { .. })) => {
            "the master is up and this line lacks a flag it has (broadcast, multicast, pointopoint) or has a smaller MTU"
        }
        (libc::EINVAL, Some(Action::SetMtu { .. })) => "teql's MTU cannot exceed the smallest line's MTU",
        (libc::ELOOP, _) => "a teql master cannot be its own line",
        (libc::ENETDOWN, _) => "the interface is down",
        (libc::ENOENT, Some(Action::Attach { .. })) => "the kernel has no such teql master",
        _ => "",
    };
    if h.is_empty() {
        String::new()
    } else {
        format!(" ({h})")
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_hint(action: &Action, errno: i32) -> String {
        match Error::from_action(action, NlError { errno }) {
            Error::Kernel { hint, .. } => hint,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn hints_follow_the_change_not_its_text() {
        let attach = Action::Attach { iface: "eth2".into(), index: 2, master: "teql0".into(), replacing: None };
        let detach = Action::Detach { iface: "eth2".into(), index: 2, master: "teql0".into() };
        let up = Action::LinkUp { iface: "teql0".into(), index: 9 };
        let mtu = Action::SetMtu { iface: "teql0".into(), index: 9, mtu: 1500, previous: 1400 };
        assert!(kernel_hint(&attach, libc::EINVAL).contains("lacks a flag"));
        assert!(kernel_hint(&attach, libc::ENOENT).contains("no such teql master"));
        // Deleting a root qdisc that is not there is not "no such master" (the old text match
        // on "tc qdisc" said so).
        assert_eq!(kernel_hint(&detach, libc::ENOENT), "");
        assert!(kernel_hint(&up, libc::EUNATCH).contains("no line attached"));
        assert!(kernel_hint(&mtu, libc::EINVAL).contains("smallest line's MTU"));
        assert_eq!(kernel_hint(&mtu, libc::EUNATCH), "");
        assert!(kernel_hint(&detach, libc::ENETDOWN).contains("down"));
        // Permission and a vanished interface are their own errors, named after the change.
        assert!(
            matches!(Error::from_action(&up, NlError { errno: libc::EPERM }), Error::Permission(w) if w == up.to_string())
        );
        assert!(
            matches!(Error::from_action(&up, NlError { errno: libc::ENODEV }), Error::NoSuchInterface(i) if i == "teql0")
        );
        // A dump gets only the hints that do not depend on a change.
        match Error::from_netlink("ip -j link show", "", NlError { errno: libc::EINVAL }) {
            Error::Kernel { hint, .. } => assert_eq!(hint, ""),
            e => panic!("{e:?}"),
        }
    }
}
