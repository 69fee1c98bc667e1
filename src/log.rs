//! Messages go to stderr and to the system log, because hooks run at boot where nobody
//! watches stderr and network-scripts throws our exit status away.
//!
//! The system log is the journal when there is one: each message is sent in its native
//! protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL) with the syslog identifier `teqlctl` (so
//! `journalctl -t teqlctl` finds it, as it finds what syslog(3) sends) and fields a fleet can
//! filter on: TEQLCTL_COMMAND (what ran: `check`, `up`, `ifup-local`...), and for line health
//! TEQLCTL_EVENT, TEQLCTL_LINE, TEQLCTL_MASTER. Without a journal, a datagram to /dev/log as
//! syslog(3) sends it (RFC 3164, LOG_DAEMON).
//!
//! Logging never holds a run (issue 26, point 9): a stalled journald or syslog daemon leaves its
//! socket full, and a blocking send would stop every command and hook before it did anything.
//! So stderr comes first, every send is non-blocking (syslog(3) is not: it blocks on a full
//! /dev/log, hence our own datagram), and a message the system log does not take is dropped
//! and counted: the count goes with the next message that gets through (TEQLCTL_DROPPED) and to
//! stderr when the run ends.
//! The watchdog's message is prepared in advance and sent from its signal handler with one
//! sendto(2), so a killed run says so in the log too.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// A line on stderr, errors ignored: a caller that closed our stderr must not stop a change
/// half-way, and the system log has the message anyway. The same as out::eprintln, which
/// sits above log (it reports what log dropped when the run ends): log writes its own.
fn to_stderr(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), format!("{text}\n").as_bytes());
}

/// 0 quiet (errors and warnings only), 1 verbose (what is changed, on stderr too).
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

pub(crate) fn set_verbose(v: bool) {
    VERBOSITY.store(u8::from(v), Ordering::Relaxed);
}

pub(crate) fn verbose() -> bool {
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

pub(crate) fn set_command(what: &str) {
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
pub(crate) fn journal_entry(priority: libc::c_int, msg: &str, command: &str, fields: &[Field]) -> Vec<u8> {
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

/// The sockets messages go to the journal and to /dev/log through, non-blocking: each opened
/// with the first message for it (a run that has nothing to say opens nothing); None if that
/// failed.
static JOURNAL: OnceLock<Option<UnixDatagram>> = OnceLock::new();
static SYSLOG: OnceLock<Option<UnixDatagram>> = OnceLock::new();
/// Set once sending to the journal failed for another reason than a full socket: no journal
/// here, and /dev/log takes the messages from then on.
static JOURNAL_FAILED: AtomicBool = AtomicBool::new(false);

/// Messages the system log did not take in this run (its socket full), for the report at exit;
/// and those not yet said in a message that got through.
static DROPPED: AtomicU64 = AtomicU64::new(0);
static DROPPED_UNSAID: AtomicU64 = AtomicU64::new(0);

/// How many messages of this run the system log did not take so far.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn nonblocking_socket() -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// What became of one message sent to the system log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Taken,
    /// The socket was full: dropped (and counted) rather than waited for.
    Dropped,
    /// Nobody listens there.
    Nobody,
}

fn send(sock: &UnixDatagram, body: &[u8], to: &std::path::Path) -> Sent {
    match sock.send_to(body, to) {
        Ok(_) => Sent::Taken,
        // A full queue (EAGAIN), or no buffer for it: the daemon is not reading.
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) => {
            Sent::Dropped
        }
        Err(_) => Sent::Nobody,
    }
}

/// Sends one entry to the journal.
fn journal(priority: libc::c_int, msg: &str, fields: &[Field]) -> Sent {
    if JOURNAL_FAILED.load(Ordering::Relaxed) {
        return Sent::Nobody;
    }
    let Some(sock) = JOURNAL.get_or_init(nonblocking_socket) else { return Sent::Nobody };
    let command = COMMAND.lock().map(|c| c.clone()).unwrap_or_default();
    let unsaid = DROPPED_UNSAID.load(Ordering::Relaxed);
    let count = unsaid.to_string();
    let mut fields = fields.to_vec();
    if unsaid > 0 {
        fields.push(("DROPPED", &count));
    }
    let sent = send(sock, &journal_entry(priority, &with_dropped(msg, unsaid), &command, &fields), &journal_path());
    if sent == Sent::Taken {
        DROPPED_UNSAID.fetch_sub(unsaid, Ordering::Relaxed);
    }
    if sent == Sent::Nobody {
        JOURNAL_FAILED.store(true, Ordering::Relaxed);
    }
    sent
}

/// `msg`, and how many messages before it were dropped, if any.
fn with_dropped(msg: &str, unsaid: u64) -> String {
    match unsaid {
        0 => msg.to_string(),
        n => format!("{msg} ({n} earlier message(s) of teqlctl dropped: the system log was not taking them)"),
    }
}

/// Where syslog datagrams go: TEQLCTL_SYSLOG_SOCKET (manual runs only, see `env`; the tests use
/// it), else /dev/log.
fn syslog_path() -> PathBuf {
    crate::env::redirect("TEQLCTL_SYSLOG_SOCKET").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/dev/log"))
}

/// A datagram for /dev/log as syslog(3) makes it (RFC 3164): `<PRI>Mmm dd hh:mm:ss
/// teqlctl[PID]: message`, facility daemon, local time.
pub(crate) fn syslog_datagram(priority: libc::c_int, msg: &str, now: libc::time_t) -> Vec<u8> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // SAFETY: tm is plain data; localtime_r fills it from `now` (or fails and leaves zeros).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    let month = MONTHS[usize::try_from(tm.tm_mon).unwrap_or(0).min(11)];
    format!(
        "<{}>{month} {:2} {:02}:{:02}:{:02} teqlctl[{}]: {msg}",
        libc::LOG_DAEMON | priority,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        std::process::id()
    )
    .into_bytes()
}

/// Sends one message to /dev/log.
fn syslog_send(priority: libc::c_int, msg: &str) -> Sent {
    let Some(sock) = SYSLOG.get_or_init(nonblocking_socket) else { return Sent::Nobody };
    let unsaid = DROPPED_UNSAID.load(Ordering::Relaxed);
    // SAFETY: time(2) with no pointer to fill.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let sent = send(sock, &syslog_datagram(priority, &with_dropped(msg, unsaid), now), &syslog_path());
    if sent == Sent::Taken {
        DROPPED_UNSAID.fetch_sub(unsaid, Ordering::Relaxed);
    }
    sent
}

fn syslog(priority: libc::c_int, msg: &str) {
    log_with(priority, msg, &[]);
}

/// The system log: the journal with `fields`, else /dev/log with the message alone. Never
/// waits: what a full socket does not take is dropped and counted.
fn log_with(priority: libc::c_int, msg: &str, fields: &[Field]) {
    let text = clean(msg);
    let sent = match journal(priority, &text, fields) {
        Sent::Nobody => syslog_send(priority, &text),
        other => other,
    };
    if sent == Sent::Dropped {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        DROPPED_UNSAID.fetch_add(1, Ordering::Relaxed);
    }
}

/// At the end of a run: says on stderr how many messages the system log did not take (once;
/// they were all on stderr already, or not meant for it).
pub(crate) fn report_dropped() {
    let n = DROPPED.swap(0, Ordering::Relaxed);
    if n > 0 {
        to_stderr(&format!(
            "teqlctl: warning: {n} message(s) of this run were not sent to the system log: its socket was full (journald or the syslog daemon is not reading)"
        ));
    }
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
pub(crate) fn prepare_watchdog(secs: u32) {
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
pub(crate) fn watchdog_fired() {
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

/// A change that was made: syslog always, stderr when verbose. Stderr first, here and below:
/// it is what a run that the system log holds up would still show.
pub(crate) fn info(msg: &str) {
    if verbose() {
        to_stderr(&format!("teqlctl: {}", clean(msg)));
    }
    syslog(libc::LOG_INFO, msg);
}

/// A change of state the admin should hear of even when nobody asked for --verbose (a line
/// put back into its bundle): syslog at notice, and stderr.
pub(crate) fn notice(msg: &str) {
    notice_with(msg, &[]);
}

/// `notice` with journal fields.
pub(crate) fn notice_with(msg: &str, fields: &[Field]) {
    to_stderr(&format!("teqlctl: {}", clean(msg)));
    log_with(libc::LOG_NOTICE, msg, fields);
}

/// Something the admin should know about but that did not stop the run.
pub(crate) fn warn(msg: &str) {
    warn_with(msg, &[]);
}

/// `warn` with journal fields.
pub(crate) fn warn_with(msg: &str, fields: &[Field]) {
    to_stderr(&format!("teqlctl: warning: {}", clean(msg)));
    log_with(libc::LOG_WARNING, msg, fields);
}

/// A warning for the system log only: for what the run shows on stdout itself (`status`
/// lists the configuration problems in its text), so the terminal hears it once.
pub(crate) fn warn_log_only(msg: &str) {
    log_with(libc::LOG_WARNING, msg, &[]);
}

/// A warning on stderr only: for what a timer would otherwise repeat into syslog every run
/// (the caller sends it to syslog once, with `warn`).
pub(crate) fn warn_stderr(msg: &str) {
    to_stderr(&format!("teqlctl: warning: {}", clean(msg)));
}

/// A notice on stderr only: what a dry run would have changed (never the system log's).
pub(crate) fn notice_stderr(msg: &str) {
    to_stderr(&format!("teqlctl: {}", clean(msg)));
}

/// The one line that explains why the run failed.
pub fn error(msg: &str) {
    to_stderr(&format!("teqlctl: {}", clean(msg)));
    syslog(libc::LOG_ERR, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syslog_datagram_is_what_syslog3_sends() {
        // 2024-03-05 07:08:09 UTC; the test's TZ may be anything, so only the shape is fixed.
        let d = String::from_utf8(syslog_datagram(libc::LOG_WARNING, "eth3: 100% lost", 1_709_622_489)).unwrap();
        let (head, rest) = d.split_once('>').unwrap();
        assert_eq!(head, "<28"); // daemon (3) * 8 + warning (4)
        let (stamp, tail) = rest.split_at(15);
        assert!(["Mar ", "Feb "].iter().any(|m| stamp.starts_with(m)), "{stamp}");
        assert_eq!(stamp.as_bytes()[9], b':', "{stamp}");
        assert_eq!(tail, format!(" teqlctl[{}]: eth3: 100% lost", std::process::id()));
    }

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
