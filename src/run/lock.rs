//! Serialises runs that change the kernel: network-scripts, ifup@.service and an admin may
//! bring several lines of one bundle up at the same moment, and "is teql0 up yet?" followed by
//! "bring it up" must not interleave.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// The run lock, held until dropped. A process that holds it already (the one entry took it
/// for its whole batch of events) gets a nested guard at once: the lock is per process, and
/// the steps of one run never wait for each other.
pub struct Lock {
    _private: (),
}

/// This process's hold on the lock: the flock and how many guards share it.
static HELD: std::sync::Mutex<(usize, Option<Flock<File>>)> = std::sync::Mutex::new((0, None));

impl Drop for Lock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.0 = held.0.saturating_sub(1);
        if held.0 == 0 {
            // The last guard: the flock is released as its file closes.
            held.1 = None;
        }
    }
}

/// Whether this process holds the run lock now.
pub fn held() -> bool {
    HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0 > 0
}

pub(crate) fn lock_path() -> PathBuf {
    crate::env::redirect("TEQLCTL_LOCK").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/teqlctl.lock"))
}

/// How long to wait for the lock. Bounded so a stuck run cannot hang boot; a normal run holds
/// it for milliseconds.
fn wait_bound() -> Duration {
    let secs = crate::env::redirect("TEQLCTL_LOCK_TIMEOUT").and_then(|s| s.to_str()?.parse().ok()).unwrap_or(10);
    Duration::from_secs(secs)
}

pub fn acquire() -> Result<Lock> {
    {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.0 > 0 {
            held.0 += 1;
            return Ok(Lock { _private: () });
        }
    }
    let path = lock_path();
    let file = crate::statefile::open_lock(&path)?;
    // Inside the run's bound (deadline.rs): a run that waited its whole time for the lock
    // would have none left to apply and roll back.
    let bound = crate::deadline::step(wait_bound());
    let start = Instant::now();
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => {
                let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *held = (1, Some(flock));
                return Ok(Lock { _private: () });
            }
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < bound => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            // To the nearest second: a bound cut to 2.995 s by the run's deadline waited "3 s".
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(Error::Busy(path, (bound + Duration::from_millis(500)).as_secs()))
            }
            Err((_, e)) => return Err(Error::Io(format!("cannot lock {}", path.display()), std::io::Error::from(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_holds_the_lock_takes_it_again_at_once_and_releases_it_with_its_last_guard() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("teqlctl.lock");
        std::env::set_var("TEQLCTL_LOCK", &path);
        let outer = acquire().unwrap();
        let started = Instant::now();
        let inner = acquire().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "a nested acquire waited");
        assert!(held());
        drop(outer);
        // Still held by the inner guard: another process (a second open file) cannot take it.
        let other = File::open(&path).unwrap();
        let other = match Flock::lock(other, FlockArg::LockExclusiveNonblock) {
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => f,
            r => panic!("the lock was free with a guard alive: {:?}", r.is_ok()),
        };
        drop(inner);
        assert!(!held());
        assert!(Flock::lock(other, FlockArg::LockExclusiveNonblock).is_ok(), "the lock was not released");
    }
}
