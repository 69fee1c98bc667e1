//! Typed errors and the exit codes they map to (documented in teqlctl(8)).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::nl_error::NlError;

// The exit codes live below every module that returns one (out, peer), which error sits
// above; the path `error::exit` stays for the callers that name it so.
pub use crate::exit;

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

    /// `teqlctl peer-config` cannot mirror the bundle, or cannot write its files (the
    /// message of its `PeerError`, and the exit status it asks for: peer.rs converts).
    #[error("{message}")]
    Peer { message: String, code: i32 },
}

impl Error {
    pub(crate) fn exit_code(&self) -> i32 {
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
            Error::Peer { code, .. } => *code,
        }
    }

    /// Turns a netlink failure of the request `what` (a dump, opening the socket) into the
    /// clearest error we can give.
    pub(crate) fn from_netlink(what: &str, iface: &str, err: NlError) -> Error {
        Error::netlink(what.to_string(), iface, "", err)
    }

    /// Turns the failure of a planned change into the clearest error we can give: `what` is
    /// the change as printed, and `change_hint` what the errno means for that change, chosen
    /// by the change itself, not by its printed command (plan::Action::error), "" if nothing
    /// in particular.
    pub(crate) fn from_change(what: String, iface: &str, change_hint: &str, err: NlError) -> Error {
        Error::netlink(what, iface, change_hint, err)
    }

    fn netlink(what: String, iface: &str, change_hint: &str, err: NlError) -> Error {
        match err.errno {
            libc::EPERM | libc::EACCES => Error::Permission(what),
            libc::ENODEV => Error::NoSuchInterface(iface.to_string()),
            e => Error::Kernel { what, err, hint: hint(change_hint, e) },
        }
    }
}

/// What an errno means: the change's own hint, else what it means for any request. Raw
/// errnos are not an answer for an admin.
fn hint(change_hint: &str, errno: i32) -> String {
    let h = match errno {
        _ if !change_hint.is_empty() => change_hint,
        libc::ELOOP => "a teql master cannot be its own line",
        libc::ENETDOWN => "the interface is down",
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

    #[test]
    fn a_dump_gets_only_the_hints_that_do_not_depend_on_a_change() {
        match Error::from_netlink("ip -j link show", "", NlError { errno: libc::EINVAL }) {
            Error::Kernel { hint, .. } => assert_eq!(hint, ""),
            e => panic!("{e:?}"),
        }
        match Error::from_netlink("ip -j link show", "", NlError { errno: libc::ENETDOWN }) {
            Error::Kernel { hint, .. } => assert_eq!(hint, " (the interface is down)"),
            e => panic!("{e:?}"),
        }
    }
}
