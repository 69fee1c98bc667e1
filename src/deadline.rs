//! The run's time bound, and the bounds of its steps nested inside it (issue 26, point 8).
//!
//! Every run has a watchdog (arm_watchdog: 30 s for a hook, 120 s for the manual
//! tool, about 32 s for `check`). Each step that may wait (the run lock, modprobe, nft, ifup)
//! has a bound of its own, and those used to be longer than the run's: nft alone could take
//! 60 s, twice per change with its rollback, so the watchdog ended the run in the middle of
//! applying a plan, without rollback, and the orphaned nft could commit after a newer run.
//! Now a step's bound is cut to what is left of the run's, less a reserve kept for the rollback
//! (a quarter of the run's bound, at least 5 s): a step that reaches its bound fails, and the
//! plan is rolled back within the reserve, before the watchdog. While a rollback runs, its
//! steps may use the reserve too, less one second for the watchdog's message.
//!
//! The watchdog stays the last resort; when it fires it also kills the process group of the
//! child that is running, if any (async-signal-safe: one kill(2)), so no nft outlives us.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The origin of the millisecond counts below: the first use, early in main.
static ORIGIN: OnceLock<Instant> = OnceLock::new();
/// The run's end, in ms after ORIGIN (0: no bound set).
static END_MS: AtomicU64 = AtomicU64::new(0);
/// The run's bound, in ms (for the reserve).
static TOTAL_MS: AtomicU64 = AtomicU64::new(0);
static ROLLING_BACK: AtomicBool = AtomicBool::new(false);
/// The process group of the child running now (0: none).
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);

const MIN_RESERVE: Duration = Duration::from_secs(5);
const WATCHDOG_MARGIN: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    let origin = ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The run ends `secs` from now (the watchdog's bound).
pub fn set(secs: u32) {
    let ms = u64::from(secs) * 1000;
    TOTAL_MS.store(ms, Ordering::Relaxed);
    END_MS.store(now_ms().saturating_add(ms), Ordering::Relaxed);
}

/// What is left of the run's bound (None: no bound set, as in unit tests).
pub(crate) fn remaining() -> Option<Duration> {
    match END_MS.load(Ordering::Relaxed) {
        0 => None,
        end => Some(Duration::from_millis(end.saturating_sub(now_ms()))),
    }
}

/// What is kept for a rollback: a quarter of the run's bound, at least MIN_RESERVE.
fn reserve() -> Duration {
    (Duration::from_millis(TOTAL_MS.load(Ordering::Relaxed)) / 4).max(MIN_RESERVE)
}

/// `limit`, cut so that the step ends inside the run's bound: before the reserve while
/// applying, before the watchdog's margin while rolling back. Zero when no time is left: the
/// step then fails at once (and the plan is rolled back).
pub fn step(limit: Duration) -> Duration {
    cut(limit, remaining(), ROLLING_BACK.load(Ordering::Relaxed), reserve())
}

fn cut(limit: Duration, remaining: Option<Duration>, rolling_back: bool, reserve: Duration) -> Duration {
    let Some(left) = remaining else { return limit };
    let keep = if rolling_back { WATCHDOG_MARGIN } else { reserve };
    limit.min(left.saturating_sub(keep))
}

/// Marks a rollback under way while it lives: its steps may use the reserve.
pub struct RollingBack(());

impl RollingBack {
    pub fn start() -> RollingBack {
        ROLLING_BACK.store(true, Ordering::Relaxed);
        RollingBack(())
    }
}

impl Drop for RollingBack {
    fn drop(&mut self) {
        ROLLING_BACK.store(false, Ordering::Relaxed);
    }
}

/// The child running now leads process group `pgid` (0: none any more).
pub(crate) fn set_child_group(pgid: i32) {
    CHILD_GROUP.store(pgid, Ordering::SeqCst);
}

/// From the watchdog's signal handler: kills the running child's process group.
/// Async-signal-safe: an atomic load and kill(2).
pub(crate) fn kill_child_group() {
    let pgid = CHILD_GROUP.load(Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: kill(2) is async-signal-safe; a group that is gone gets ESRCH, ignored.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Time bounds from the very start of a run, before any file is read: a FIFO where a
/// configuration file should be, a stuck modprobe or a kernel that never answers must not hold
/// boot or a shell. Each is the longest a healthy run of that kind can take with room to spare
/// (a hook: one modprobe bounded at 15 s and the lock wait of 10 s; the manual tool: up to
/// three modprobe runs for a reload with more masters). `check` sets a tighter one of its own.
pub const HOOK_BOUND_SECS: u32 = 30;
pub const IFUPDOWN_BOUND_SECS: u32 = 120;
pub const CLI_BOUND_SECS: u32 = 120;

/// The manual tool's bound: TEQLCTL_RUN_BOUND seconds (manual runs only, see `env`: an admin
/// or a test that wants a run to give up sooner), else CLI_BOUND_SECS.
pub(crate) fn cli_bound() -> u32 {
    run_bound().unwrap_or(CLI_BOUND_SECS)
}

/// A hook's bound: HOOK_BOUND_SECS, or TEQLCTL_RUN_BOUND for `teqlctl hook NAME` (a linked
/// hook ignores the variable, as every redirect).
pub(crate) fn hook_bound() -> u32 {
    run_bound().unwrap_or(HOOK_BOUND_SECS)
}

fn run_bound() -> Option<u32> {
    crate::env::redirect("TEQLCTL_RUN_BOUND").and_then(|s| s.to_str()?.parse().ok()).filter(|s| *s > 0)
}

/// What the watchdog prints: async-signal-safe, so a fixed text written with write(2).
const WATCHDOG_MSG: &[u8] =
    b"teqlctl: watchdog: this run took longer than its time bound and was stopped (see teqlctl(8), EXIT STATUS)\n";

extern "C" fn on_alarm(_: libc::c_int) {
    // No child outlives the run: an nft killed here cannot commit after a newer run's.
    kill_child_group();
    // The system log first (one sendto(2) of a message prepared when the watchdog was armed).
    crate::log::watchdog_fired();
    // SAFETY: write(2) and _exit(2) are async-signal-safe; nothing else is touched.
    unsafe {
        libc::write(2, WATCHDOG_MSG.as_ptr().cast(), WATCHDOG_MSG.len());
        libc::_exit(crate::exit::TIMEOUT);
    }
}

/// Arms the watchdog: SIGALRM after `secs` says so on stderr and ends the process.
pub(crate) fn arm_watchdog(secs: u32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_alarm), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only calls async-signal-safe functions.
    if unsafe { sigaction(Signal::SIGALRM, &action) }.is_err() {
        // The default action of SIGALRM still ends the process, only without the message.
    }
    crate::log::prepare_watchdog(secs);
    // The steps' bounds nest inside this one (`step` above).
    set(secs);
    nix::unistd::alarm::set(secs);
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn steps_end_inside_the_runs_bound_with_room_for_the_rollback() {
        // A hook (30 s, reserve 7.5 s): nft's 60 s is cut to what is left less the reserve.
        let reserve = S(30) / 4;
        assert_eq!(cut(S(60), Some(S(30)), false, reserve), S(30) - reserve);
        // A short step is left as it is.
        assert_eq!(cut(S(10), Some(S(30)), false, reserve), S(10));
        // Late in the run: the rollback may use the reserve, less the watchdog's margin.
        assert_eq!(cut(S(60), Some(S(6)), false, reserve), Duration::ZERO);
        assert_eq!(cut(S(60), Some(S(6)), true, reserve), S(5));
        // Past the bound: nothing, never an underflow.
        assert_eq!(cut(S(60), Some(Duration::ZERO), true, reserve), Duration::ZERO);
        // No bound set (unit tests, library use): the step's own.
        assert_eq!(cut(S(60), None, false, reserve), S(60));
    }
}
