//! Running the few external commands teqlctl needs (modprobe, nft; under ifupdown, ifup, ifdown
//! and ifquery), always with a time bound: a hook must never hang boot.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
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
pub(crate) fn find_trusted(candidates: &[&Path], owner: u32) -> std::result::Result<PathBuf, Vec<String>> {
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
pub(crate) fn untrusted_message(candidates: &[&Path], passed_over: &[String]) -> String {
    let names: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    let why = if passed_over.is_empty() { String::new() } else { format!(" ({})", passed_over.join("; ")) };
    format!("none of {} is a root-owned regular file (or a link to one){why}", names.join(", "))
}

/// How a bounded run ended.
pub enum Outcome {
    /// Exited; `ok` is a zero status. `output` is stdout then stderr (empty unless captured),
    /// each cut at MAX_CAPTURE bytes.
    Exited { ok: bool, code: Option<i32>, output: String },
    /// Killed, with its whole process group, after the bound it was given (the step's own, or
    /// less: see `deadline`).
    TimedOut(Duration),
}

/// What is kept of each of a command's stdout and stderr: enough for any message nft or
/// modprobe gives; the rest is read (so the command never stalls on a full pipe) and dropped.
pub const MAX_CAPTURE: usize = 64 * 1024;

/// A pipe from the child being read while it runs, and what was kept of it.
struct Captured {
    fd: Option<std::os::fd::OwnedFd>,
    kept: Vec<u8>,
}

impl Captured {
    fn new(fd: Option<std::os::fd::OwnedFd>) -> Captured {
        if let Some(fd) = &fd {
            // Non-blocking: a read never waits for more, so the loop keeps its deadline.
            // SAFETY: fcntl on a descriptor we own.
            unsafe {
                let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Captured { fd, kept: Vec::new() }
    }

    /// Reads what is there now into `buf`, up to `chunks` reads; closes the pipe at EOF or on
    /// an error. `buf` is the caller's, made once per command: zeroing a fresh one at every
    /// look (every 10 ms while the child runs) made a run's instruction count follow how long
    /// the child took (bench section 1: modprobe under emulation).
    fn read_some(&mut self, chunks: usize, buf: &mut [u8]) {
        let Some(fd) = &self.fd else { return };
        for _ in 0..chunks {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match usize::try_from(n) {
                Ok(0) => {
                    self.fd = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_CAPTURE.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(_) => {
                    let e = std::io::Error::last_os_error();
                    match e.kind() {
                        std::io::ErrorKind::Interrupted => {}
                        std::io::ErrorKind::WouldBlock => return,
                        _ => {
                            self.fd = None;
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `cmd` with stdin closed, in a process group of its own. With `capture`, stdout and
/// stderr are read while it runs (a command that writes more than a pipe holds never stalls)
/// and kept up to MAX_CAPTURE bytes each; what a child left running writes after the command
/// exited is not waited for. Without, they go where ours go. At the bound the whole group is
/// killed, so that nothing the command started outlives it holding our pipes or locks.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration, capture: bool) -> std::io::Result<Outcome> {
    // Inside the run's bound, with room for a rollback (issue 26, point 8).
    let limit = crate::deadline::step(limit);
    cmd.stdin(Stdio::null()).process_group(0);
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    // The watchdog kills this group too, should it fire while the command runs.
    let _group = ChildGroup::new(&child);
    let mut pipes = [
        Captured::new(child.stdout.take().map(std::os::fd::OwnedFd::from)),
        Captured::new(child.stderr.take().map(std::os::fd::OwnedFd::from)),
    ];
    let mut buf = vec![0u8; 16 * 1024];
    let status = loop {
        if let Some(s) = child.try_wait()? {
            // What it wrote before it exited is in the pipes already; a child it left behind
            // holding them is not waited for.
            for p in &mut pipes {
                p.read_some(64, &mut buf);
            }
            break s;
        }
        if start.elapsed() >= limit {
            // Not reaped yet, so the pid (and with it the group's id) is still ours to kill.
            kill_group(&child);
            let _ = child.wait();
            return Ok(Outcome::TimedOut(limit));
        }
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .filter_map(|p| p.fd.as_ref())
            .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        if fds.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        } else {
            // Woken by output, or after 10 ms to look at the child again.
            // SAFETY: fds is a valid array of pollfd of the length given.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10) };
            for p in &mut pipes {
                p.read_some(8, &mut buf);
            }
        }
    };
    let [out, err] = pipes;
    let mut output = String::from_utf8_lossy(&out.kept).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.kept));
    Ok(Outcome::Exited { ok: status.success(), code: status.code(), output })
}

/// The running child's group, known to the watchdog while this lives.
struct ChildGroup;

impl ChildGroup {
    fn new(child: &std::process::Child) -> ChildGroup {
        crate::deadline::set_child_group(libc::pid_t::try_from(child.id()).unwrap_or(0));
        ChildGroup
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        crate::deadline::set_child_group(0);
    }
}

/// SIGKILL to the child's process group (its pid: spawned with process_group(0)), and to the
/// child itself should the group be gone.
fn kill_group(child: &std::process::Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else { return };
    // SAFETY: kill(2) on our own child's group.
    if unsafe { libc::kill(-pid, libc::SIGKILL) } != 0 {
        // SAFETY: as above, the child alone.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_larger_than_a_pipe_is_read_while_the_command_runs() {
        let t = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "head -c 1048576 /dev/zero | tr '\\0' x; echo oops >&2"]);
        let Ok(Outcome::Exited { ok, output, .. }) = run_bounded(&mut cmd, Duration::from_secs(5), true) else {
            panic!("the command did not finish in its bound")
        };
        assert!(ok);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        // Kept: the first MAX_CAPTURE bytes of stdout, then stderr.
        assert_eq!(output.len(), MAX_CAPTURE + "oops\n".len());
        assert!(output.starts_with("xxxx") && output.ends_with("xoops\n"), "{}", &output[output.len() - 10..]);
    }

    #[test]
    fn the_whole_group_is_killed_at_the_bound() {
        let t = tempfile::TempDir::new().unwrap();
        let pidfile = t.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]);
        let r = run_bounded(&mut cmd, Duration::from_millis(300), true).unwrap();
        assert!(matches!(r, Outcome::TimedOut(_)));
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        let pid: libc::pid_t = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // The grandchild (holding the pipes) died with its group: it is gone or a zombie
        // waiting for init (it was reparented), never still sleeping.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
                .unwrap_or(true)
        };
        let until = Instant::now() + Duration::from_secs(2);
        while !gone() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone(), "the grandchild {pid} outlived the bound");
    }
}
