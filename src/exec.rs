//! Running the few external commands teqlctl needs (modprobe; under ifupdown, ifup, ifdown and
//! ifquery), always with a time bound: a hook must never hang boot.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
