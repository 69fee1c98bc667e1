//! Running the few external commands teqlctl needs (modprobe, nft; under ifupdown, ifup, ifdown
//! and ifquery), always with a time bound: a hook must never hang boot.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The PATH of the commands teqlctl runs as root: never the caller's (a writable directory
/// early in it would run anything as root), and a hook's caller may have none at all
/// (NetworkManager's dispatcher passes its scripts no PATH).
pub const SAFE_PATH: &str = "/usr/sbin:/sbin:/usr/bin:/bin";

/// The first of `candidates` that is a regular file owned by `owner` (root, outside tests) and
/// not writable by group or others, after following symlinks: a program teqlctl may run as
/// root. Err: why each existing candidate was passed over.
pub fn find_trusted(candidates: &[&Path], owner: u32) -> std::result::Result<PathBuf, Vec<String>> {
    let mut passed_over = Vec::new();
    for &c in candidates {
        // metadata follows symlinks: /usr/sbin/modprobe -> /bin/kmod is judged by kmod itself.
        let Ok(m) = std::fs::metadata(c) else { continue };
        if !m.is_file() {
            passed_over.push(format!("{} is not a regular file", c.display()));
        } else if m.uid() != owner {
            passed_over.push(format!("{} is owned by uid {}, not root", c.display(), m.uid()));
        } else if m.mode() & 0o022 != 0 {
            passed_over.push(format!("{} is writable by group or others", c.display()));
        } else {
            return Ok(c.to_path_buf());
        }
    }
    Err(passed_over)
}

/// "none of A, B is a root-owned regular file (or a link to one) (why)", for find_trusted's
/// callers' errors.
pub fn untrusted_message(candidates: &[&Path], passed_over: &[String]) -> String {
    let names: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    let why = if passed_over.is_empty() { String::new() } else { format!(" ({})", passed_over.join("; ")) };
    format!("none of {} is a root-owned regular file (or a link to one){why}", names.join(", "))
}

/// How a bounded run ended.
pub enum Outcome {
    /// Exited; `ok` is a zero status. `output` is stdout then stderr (empty unless captured).
    Exited { ok: bool, code: Option<i32>, output: String },
    /// Killed after the bound.
    TimedOut,
}

/// Runs `cmd` with stdin closed. With `capture`, stdout and stderr are collected (only for
/// commands that start no daemon: a daemon keeping the pipe open would hold us); without, they
/// go where ours go.
pub fn run_bounded(cmd: &mut Command, limit: Duration, capture: bool) -> std::io::Result<Outcome> {
    cmd.stdin(Stdio::null());
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() >= limit {
            // Not reaped yet, so the pid is still ours to kill.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Outcome::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut output = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut output);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut output);
    }
    Ok(Outcome::Exited { ok: status.success(), code: status.code(), output })
}
