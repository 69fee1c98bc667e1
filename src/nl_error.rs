//! A netlink request's failure: the errno the kernel answered. Below every module that reports
//! one (error.rs turns it into a message), so that the error types need no netlink code.

use std::time::Duration;

/// How long a netlink request may wait for its answer (nexthop requests, whose answers the
/// kernel may hold back): past it the request fails with ETIMEDOUT.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// A failed netlink exchange: the kernel's errno, the socket's own errno, or a connection that
/// ended without one (errno 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*.errno))]
pub struct NlError {
    /// Positive errno (EPERM = 1, ...), 0 when the socket itself failed.
    pub errno: i32,
}

fn describe(errno: i32) -> String {
    if errno == 0 {
        "netlink connection failed".to_string()
    } else if errno == libc::ETIMEDOUT {
        // rtnetlink itself never answers ETIMEDOUT: it is our own time bound (nexthop requests).
        format!("no answer from the kernel within {} s", TIMEOUT.as_secs())
    } else {
        std::io::Error::from_raw_os_error(errno).to_string()
    }
}
