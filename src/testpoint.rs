//! Pause points for tests that must interleave two runs deterministically (issue 26, point 7:
//! a hook that starts while `check` is between changing the kernel and recording it).
//!
//! Only in debug builds, which is what `cargo test` runs: a release build (what the packages
//! ship) has no pause point at all, so no environment can stall a root process through one.
//! With TEQLCTL_TEST_PAUSE=NAME:PATH in a manual run (never a hook's, see `env`), reaching the
//! point NAME creates PATH.reached and waits, at most 20 s, while PATH exists.

#[cfg(debug_assertions)]
pub fn pause(name: &str) {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};
    let Some(v) = crate::env::redirect("TEQLCTL_TEST_PAUSE") else { return };
    let Some((point, path)) = v.to_str().and_then(|v| v.split_once(':')) else { return };
    if point != name {
        return;
    }
    let path = PathBuf::from(path);
    let mut reached = path.clone().into_os_string();
    reached.push(".reached");
    // A test's own file in its own temporary directory: plain fs calls are enough here.
    let _ = std::fs::write(&reached, b"");
    let start = Instant::now();
    while path.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn pause(_name: &str) {}
