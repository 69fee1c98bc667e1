//! Serialises runs that change the kernel: network-scripts, ifup@.service and an admin may
//! bring several lines of one bundle up at the same moment, and "is teql0 up yet?" followed by
//! "bring it up" must not interleave.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

pub struct Lock {
    _flock: Flock<File>,
}

pub fn lock_path() -> PathBuf {
    crate::env::redirect("TEQLCTL_LOCK").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/teqlctl.lock"))
}

/// How long to wait for the lock. Bounded so a stuck run cannot hang boot; a normal run holds
/// it for milliseconds.
fn wait_bound() -> Duration {
    let secs = crate::env::redirect("TEQLCTL_LOCK_TIMEOUT").and_then(|s| s.to_str()?.parse().ok()).unwrap_or(10);
    Duration::from_secs(secs)
}

pub fn acquire() -> Result<Lock> {
    let path = lock_path();
    let file = crate::statefile::open_lock(&path)?;
    // Inside the run's bound (deadline.rs): a run that waited its whole time for the lock
    // would have none left to apply and roll back.
    let bound = crate::deadline::step(wait_bound());
    let start = Instant::now();
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => return Ok(Lock { _flock: flock }),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < bound => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(Error::Busy(path, bound.as_secs())),
            Err((_, e)) => return Err(Error::Io(format!("cannot lock {}", path.display()), std::io::Error::from(e))),
        }
    }
}
