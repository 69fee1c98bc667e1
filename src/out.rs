//! Standard output and standard error that a closed pipe cannot crash (issue 28, point 5).
//!
//! main.rs ignores SIGPIPE, so a reader that went away (`teqlctl --dry-run up | head -1`)
//! shows up as EPIPE on a write; std's print!/eprintln! panic on it (exit 134). Here a write
//! error closes stdout for the rest of the run instead: nothing more is printed, but a change
//! that is under way is finished, because a half-made change is worse than a lost line of
//! output. When the run ends, `finish` ends it as coreutils' tools end when their reader goes
//! away: killed by SIGPIPE (141 in the shell, no message), and on any other write error (a
//! full disk, `>/dev/full`) with one line on stderr and exit status 1.

use std::io::Write;
use std::sync::Mutex;

/// The first error of a write to stdout; once set, stdout is not written to again.
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes `text` to stdout now (flushed, so a closed pipe is seen at the write that met it).
pub fn print(text: &str) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        *failed = Some(e);
    }
}

/// `print` with a newline.
pub fn println(text: &str) {
    print(&(text.to_string() + "\n"));
}

/// Writes to stderr, ignoring errors: a caller that closed our stderr must not stop a change
/// half-way (nor is there anywhere left to say so; the system log has the messages).
pub(crate) fn eprint(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The exit status of a run that would end with `code`, given what became of stdout; on a
/// closed pipe this does not return (the process ends by SIGPIPE, as coreutils' do).
pub fn finish(code: i32) -> i32 {
    let failed = FAILED.lock().unwrap_or_else(|e| e.into_inner()).take();
    match failed.as_ref().map(|e| (e.kind(), e)) {
        None => code,
        // A run that failed on its own says so with its own status (its error is on stderr).
        Some((std::io::ErrorKind::BrokenPipe, _)) if code == crate::exit::OK => die_of_sigpipe(),
        Some((std::io::ErrorKind::BrokenPipe, _)) => code,
        Some((_, e)) => {
            eprint(&format!("teqlctl: cannot write standard output: {e}\n"));
            if code == crate::exit::OK {
                crate::exit::FAILURE
            } else {
                code
            }
        }
    }
}

/// Ends the process by SIGPIPE with its default disposition (what `yes | head -1` does), so a
/// shell says 141 and `set -o pipefail` sees the reader went away. Should the signal not end
/// the process (blocked by whoever started us), 128 + SIGPIPE is returned instead, as a shell
/// would report it.
fn die_of_sigpipe() -> i32 {
    crate::log::report_dropped();
    // SAFETY: restoring a signal's default disposition and raising it; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
    }
    128 + libc::SIGPIPE
}

/// `eprint` with a newline.
pub fn eprintln(text: &str) {
    eprint(&(text.to_string() + "\n"));
}
