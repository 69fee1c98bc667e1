//! Messages go to stderr and to syslog (the journal reads /dev/log too), because hooks run at
//! boot where nobody watches stderr and network-scripts throws our exit status away.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static SYSLOG_OPEN: AtomicBool = AtomicBool::new(false);
/// 0 quiet (errors and warnings only), 1 verbose (what is changed, on stderr too).
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

pub fn set_verbose(v: bool) {
    VERBOSITY.store(u8::from(v), Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSITY.load(Ordering::Relaxed) > 0
}

/// The longest message sent anywhere: a message quotes configuration values, which are
/// bounded already, but a line names interfaces and paths too.
const MAX_MESSAGE_CHARS: usize = 4096;

/// Every message passes here on its way out: control characters, escape sequences and bidi
/// or zero-width characters that came from a file or an interface name are escaped, so that
/// what reaches a terminal or the journal is exactly what it says (issue 11, point 3).
fn clean(msg: &str) -> String {
    crate::text::escape_for_message(msg, MAX_MESSAGE_CHARS)
}

fn syslog(priority: libc::c_int, msg: &str) {
    if !SYSLOG_OPEN.swap(true, Ordering::Relaxed) {
        // LOG_NDELAY is not set: the socket is only opened when the first message is sent, so
        // a run that has nothing to say costs nothing.
        unsafe { libc::openlog(c"teqlctl".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    }
    // Interior NULs cannot come from our own texts, but interface names are user input.
    let text = CString::new(clean(msg)).unwrap_or_default();
    // "%s" so that a '%' in an interface name is never read as a format directive.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}

/// A change that was made: syslog always, stderr when verbose.
pub fn info(msg: &str) {
    syslog(libc::LOG_INFO, msg);
    if verbose() {
        eprintln!("teqlctl: {}", clean(msg));
    }
}

/// A change of state the admin should hear of even when nobody asked for --verbose (a line
/// put back into its bundle): syslog at notice, and stderr.
pub fn notice(msg: &str) {
    syslog(libc::LOG_NOTICE, msg);
    eprintln!("teqlctl: {}", clean(msg));
}

/// Something the admin should know about but that did not stop the run.
pub fn warn(msg: &str) {
    syslog(libc::LOG_WARNING, msg);
    eprintln!("teqlctl: warning: {}", clean(msg));
}

/// A warning on stderr only: for what a timer would otherwise repeat into syslog every run
/// (the caller sends it to syslog once, with `warn`).
pub fn warn_stderr(msg: &str) {
    eprintln!("teqlctl: warning: {}", clean(msg));
}

/// The one line that explains why the run failed.
pub fn error(msg: &str) {
    syslog(libc::LOG_ERR, msg);
    eprintln!("teqlctl: {}", clean(msg));
}
