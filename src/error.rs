//! Typed errors and the exit codes they map to (documented in teqlctl(8)).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::netlink::NlError;

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
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),

    #[error("{0}")]
    Usage(String),

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
            Error::Config(_) => exit::CONFIG,
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

    /// Turns a netlink failure of the request `what` into the clearest error we can give.
    pub fn from_netlink(what: &str, iface: &str, err: NlError) -> Error {
        match err.errno {
            libc::EPERM | libc::EACCES => Error::Permission(what.to_string()),
            libc::ENODEV => Error::NoSuchInterface(iface.to_string()),
            e => Error::Kernel { what: what.to_string(), err, hint: hint(what, e) },
        }
    }
}

/// What an errno means for the request at hand: raw errnos are not an answer for an admin.
fn hint(what: &str, errno: i32) -> String {
    let h = match errno {
        libc::EUNATCH if what.contains("link set") => "the master has no line attached, and teql cannot go up without one",
        libc::EINVAL if what.starts_with("tc qdisc") => {
            "the master is up and this line lacks a flag it has (broadcast, multicast, pointopoint) or has a smaller MTU"
        }
        libc::EINVAL if what.contains(" mtu ") => "teql's MTU cannot exceed the smallest line's MTU",
        libc::ELOOP => "a teql master cannot be its own line",
        libc::ENETDOWN => "the interface is down",
        libc::ENOENT if what.starts_with("tc qdisc") => "the kernel has no such teql master",
        _ => "",
    };
    if h.is_empty() {
        String::new()
    } else {
        format!(" ({h})")
    }
}

pub type Result<T> = std::result::Result<T, Error>;
