//! Messages go to stderr and to the system log, because hooks run at boot where nobody
//! watches stderr and network-scripts throws our exit status away.
//!
//! The system log is the journal when there is one: each message is sent in its native
//! protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL) with the syslog identifier `teqlctl` (so
//! `journalctl -t teqlctl` finds it, as it finds what syslog(3) sends) and fields a fleet can
//! filter on: TEQLCTL_COMMAND (what ran: `check`, `up`, `ifup-local`...), and for line health
//! TEQLCTL_EVENT, TEQLCTL_LINE, TEQLCTL_MASTER. Without a journal, syslog(3), as before.
//! The watchdog's message is prepared in advance and sent from its signal handler with one
//! sendto(2), so a killed run says so in the log too.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

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

/// A field of a journal entry: ("LINE", "eth3") is TEQLCTL_LINE=eth3.
pub type Field<'a> = (&'static str, &'a str);

/// What is running, for TEQLCTL_COMMAND (set once by dispatch and cli).
static COMMAND: Mutex<String> = Mutex::new(String::new());

pub fn set_command(what: &str) {
    if let Ok(mut c) = COMMAND.lock() {
        *c = clean(what);
    }
    let secs = WATCHDOG_SECS.load(Ordering::Relaxed);
    if secs > 0 {
        prepare_watchdog(secs);
    }
}

/// The journal's socket: TEQLCTL_JOURNAL_SOCKET (manual runs only, see `env`; the tests use it),
/// else systemd-journald's.
fn journal_path() -> PathBuf {
    crate::env::redirect("TEQLCTL_JOURNAL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/systemd/journal/socket"))
}

/// One entry in the journal's native protocol: KEY=value lines. Values never hold a newline
/// (everything passes `clean`, which escapes control characters), so the simple form serves.
pub fn journal_entry(priority: libc::c_int, msg: &str, command: &str, fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 160);
    let mut put = |key: &str, value: &str| {
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.replace('\n', " ").as_bytes());
        out.push(b'\n');
    };
    put("MESSAGE", msg);
    put("PRIORITY", &priority.to_string());
    put("SYSLOG_IDENTIFIER", "teqlctl");
    put("SYSLOG_FACILITY", &(libc::LOG_DAEMON >> 3).to_string());
    put("SYSLOG_PID", &std::process::id().to_string());
    if !command.is_empty() {
        put("TEQLCTL_COMMAND", command);
    }
    for (key, value) in fields {
        put(&format!("TEQLCTL_{key}"), &clean(value));
    }
    out
}

/// The socket messages go to the journal through: opened with the first message (a run that
/// has nothing to say opens nothing); None once sending failed (no journal here).
static JOURNAL: OnceLock<Option<UnixDatagram>> = OnceLock::new();
static JOURNAL_FAILED: AtomicBool = AtomicBool::new(false);

/// Sends one entry to the journal; false when there is none (then syslog(3) takes it).
fn journal(priority: libc::c_int, msg: &str, fields: &[Field]) -> bool {
    if JOURNAL_FAILED.load(Ordering::Relaxed) {
        return false;
    }
    let Some(sock) = JOURNAL.get_or_init(|| UnixDatagram::unbound().ok()) else { return false };
    let command = COMMAND.lock().map(|c| c.clone()).unwrap_or_default();
    if sock.send_to(&journal_entry(priority, msg, &command, fields), journal_path()).is_ok() {
        return true;
    }
    JOURNAL_FAILED.store(true, Ordering::Relaxed);
    false
}

fn syslog(priority: libc::c_int, msg: &str) {
    log_with(priority, msg, &[]);
}

/// The system log: the journal with `fields`, else syslog(3) with the message alone.
fn log_with(priority: libc::c_int, msg: &str, fields: &[Field]) {
    let text = clean(msg);
    if journal(priority, &text, fields) {
        return;
    }
    if !SYSLOG_OPEN.swap(true, Ordering::Relaxed) {
        // LOG_NDELAY is not set: the socket is only opened when the first message is sent, so
        // a run that has nothing to say costs nothing.
        unsafe { libc::openlog(c"teqlctl".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    }
    // Interior NULs cannot come from our own texts, but interface names are user input.
    let text = CString::new(text).unwrap_or_default();
    // "%s" so that a '%' in an interface name is never read as a format directive.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}

/// The watchdog's message, ready to go: the journal's address and entry, and /dev/log's
/// address and syslog datagram, for a signal handler that may only make system calls.
struct Prepared {
    /// WATCHDOG_SOCK's descriptor.
    sock: libc::c_int,
    journal: (libc::sockaddr_un, Vec<u8>),
    syslog: (libc::sockaddr_un, Vec<u8>),
}

static WATCHDOG: AtomicPtr<Prepared> = AtomicPtr::new(std::ptr::null_mut());
/// The one socket the watchdog sends through, opened when it is first armed (None if that
/// failed); each new message reuses it.
static WATCHDOG_SOCK: OnceLock<Option<OwnedFd>> = OnceLock::new();

fn sockaddr(path: &std::path::Path) -> libc::sockaddr_un {
    // SAFETY: sockaddr_un is plain data; all zeros is a valid (empty) address.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    // A path too long for sun_path (108 bytes) stays empty: sendto then fails, harmlessly.
    if bytes.len() < a.sun_path.len() {
        for (d, b) in a.sun_path.iter_mut().zip(bytes) {
            *d = *b as libc::c_char;
        }
    }
    a
}

/// The bound the watchdog was armed with (0: not armed), for the prepared message.
static WATCHDOG_SECS: AtomicU32 = AtomicU32::new(0);

/// Prepares what the watchdog logs when it stops this run after `secs`; called each time it
/// is armed, and again when the command becomes known (the message names both).
pub fn prepare_watchdog(secs: u32) {
    WATCHDOG_SECS.store(secs, Ordering::Relaxed);
    let command = COMMAND.lock().map(|c| c.clone()).unwrap_or_default();
    let what = if command.is_empty() { "this run".to_string() } else { format!("teqlctl {command}") };
    let msg = format!("watchdog: {what} took longer than its time bound ({secs} s) and was stopped");
    let journal = journal_entry(libc::LOG_ERR, &msg, &command, &[("EVENT", "watchdog")]);
    let syslog = format!("<{}>teqlctl[{}]: {msg}", libc::LOG_DAEMON | libc::LOG_ERR, std::process::id()).into_bytes();
    let sock = WATCHDOG_SOCK.get_or_init(|| {
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        // SAFETY: fd was just opened and is owned by nothing else.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    });
    let Some(sock) = sock.as_ref().map(AsRawFd::as_raw_fd) else { return };
    let new = Box::into_raw(Box::new(Prepared {
        sock,
        journal: (sockaddr(&journal_path()), journal),
        syslog: (sockaddr(std::path::Path::new("/dev/log")), syslog),
    }));
    // The one it replaces is leaked, never freed: the handler may be reading it right now. A
    // run arms at most three times.
    WATCHDOG.swap(new, Ordering::AcqRel);
}

/// From the watchdog's signal handler: sends the prepared message, to the journal or else to
/// /dev/log. Only sendto(2): async-signal-safe.
pub fn watchdog_fired() {
    // SAFETY: null or a Prepared leaked by prepare_watchdog, never freed.
    let Some(p) = (unsafe { WATCHDOG.load(Ordering::Acquire).as_ref() }) else { return };
    for (addr, buf) in [&p.journal, &p.syslog] {
        // SAFETY: a valid descriptor, buffer and address for the duration of the call.
        let sent = unsafe {
            libc::sendto(
                p.sock,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if sent >= 0 {
            return;
        }
    }
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
    notice_with(msg, &[]);
}

/// `notice` with journal fields.
pub fn notice_with(msg: &str, fields: &[Field]) {
    log_with(libc::LOG_NOTICE, msg, fields);
    eprintln!("teqlctl: {}", clean(msg));
}

/// Something the admin should know about but that did not stop the run.
pub fn warn(msg: &str) {
    warn_with(msg, &[]);
}

/// `warn` with journal fields.
pub fn warn_with(msg: &str, fields: &[Field]) {
    log_with(libc::LOG_WARNING, msg, fields);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_entry_carries_the_identifier_and_our_fields() {
        let e = journal_entry(
            libc::LOG_WARNING,
            "eth3 (teql0): taken out",
            "check",
            &[("EVENT", "taken-out"), ("LINE", "eth3\n\u{1b}[2J"), ("MASTER", "teql0")],
        );
        let text = String::from_utf8(e).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "MESSAGE=eth3 (teql0): taken out");
        assert!(lines.contains(&"PRIORITY=4"), "{text}");
        assert!(lines.contains(&"SYSLOG_IDENTIFIER=teqlctl"), "{text}");
        assert!(lines.contains(&"SYSLOG_FACILITY=3"), "{text}");
        assert!(lines.contains(&"TEQLCTL_COMMAND=check"), "{text}");
        assert!(lines.contains(&"TEQLCTL_EVENT=taken-out"), "{text}");
        assert!(lines.contains(&"TEQLCTL_MASTER=teql0"), "{text}");
        // A hostile interface name can neither add a field nor reach a terminal raw.
        let line = lines.iter().find(|l| l.starts_with("TEQLCTL_LINE=")).unwrap();
        assert!(!line.contains('\u{1b}'), "{line}");
        assert_eq!(lines.iter().filter(|l| !l.contains('=')).count(), 0, "{text}");
        assert!(text.ends_with('\n'));
    }
}
