//! Environment variables that redirect teqlctl (TEQLCTL_ROOT, TEQLCTL_STATE_DIR, TEQLCTL_LOCK,
//! TEQLCTL_LOCK_TIMEOUT, TEQLCTL_JOURNAL_SOCKET, TEQLCTL_SYSLOG_SOCKET, TEQLCTL_NFT,
//! TEQLCTL_RUN_BOUND). The manual tool honours them:
//! whoever runs it chose them. A hook does not: its environment is whatever its caller had
//! (network-scripts passes PATH only, ifupdown rebuilds it, but an `ifup` run through sudo or a
//! service may carry anything), and a redirected configuration root, lock or state file would
//! let that environment steer a root process. Hooks therefore always use the built-in paths;
//! `teqlctl --root DIR hook NAME ...` is the documented way to run a hook against another tree.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};

static HOOK_MODE: AtomicBool = AtomicBool::new(false);

/// Called once by dispatch when the binary runs as a hook (a hook name, or run-parts).
pub(crate) fn set_hook_mode() {
    HOOK_MODE.store(true, Ordering::Relaxed);
}

pub(crate) fn hook_mode() -> bool {
    HOOK_MODE.load(Ordering::Relaxed)
}

/// A redirecting variable's value, or None in hook mode (and when unset or empty).
pub(crate) fn redirect(name: &str) -> Option<OsString> {
    if hook_mode() {
        return None;
    }
    std::env::var_os(name).filter(|v| !v.is_empty())
}
