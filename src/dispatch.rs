//! Multi-call dispatch: the name the binary was started under picks the entry point, as in
//! uutils/coreutils. Nothing else belongs in main.rs.

use std::ffi::OsString;
use std::path::Path;

use crate::error::exit;
use crate::hooks::{self, Hook};
use crate::ops::Ctx;

pub enum Entry {
    Cli,
    Hook(Hook),
}

/// The entry point for a program name (a path or a bare name).
pub fn entry(argv0: &str) -> Option<Entry> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    if name == "teqlctl" {
        return Some(Entry::Cli);
    }
    Hook::from_name(name).map(Entry::Hook)
}

/// Hooks take no flags (network-scripts passes none) and read the real configuration under /:
/// their environment is their caller's, so it may not redirect them (see `env`).
/// `teqlctl --root DIR hook NAME ARGS` runs a hook against another tree.
fn hook_ctx() -> Ctx {
    // `teqlctl --dry-run hook NAME ARGS` is the way to see what a hook would do.
    Ctx { root: "/".into(), dry_run: false, force: false }
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
fn cli_bound() -> u32 {
    run_bound().unwrap_or(CLI_BOUND_SECS)
}

/// A hook's bound: HOOK_BOUND_SECS, or TEQLCTL_RUN_BOUND for `teqlctl hook NAME` (a linked
/// hook ignores the variable, as every redirect).
pub fn hook_bound() -> u32 {
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
    crate::deadline::kill_child_group();
    // The system log first (one sendto(2) of a message prepared when the watchdog was armed).
    crate::log::watchdog_fired();
    // SAFETY: write(2) and _exit(2) are async-signal-safe; nothing else is touched.
    unsafe {
        libc::write(2, WATCHDOG_MSG.as_ptr().cast(), WATCHDOG_MSG.len());
        libc::_exit(crate::error::exit::TIMEOUT);
    }
}

/// Arms the watchdog: SIGALRM after `secs` says so on stderr and ends the process.
pub fn arm_watchdog(secs: u32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_alarm), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only calls async-signal-safe functions.
    if unsafe { sigaction(Signal::SIGALRM, &action) }.is_err() {
        // The default action of SIGALRM still ends the process, only without the message.
    }
    crate::log::prepare_watchdog(secs);
    // The steps' bounds nest inside this one (deadline.rs).
    crate::deadline::set(secs);
    nix::unistd::alarm::set(secs);
}

pub fn main(args: Vec<OsString>) -> i32 {
    let code = run(args);
    crate::log::report_dropped();
    code
}

fn run(args: Vec<OsString>) -> i32 {
    let argv0 = args.first().and_then(|a| a.to_str()).unwrap_or("teqlctl").to_string();
    match entry(&argv0) {
        // run-parts starts the ifupdown hooks with no arguments and ifupdown's environment.
        Some(Entry::Cli) if args.len() == 1 => match crate::ifupdown::HookEnv::from_env(std::env::vars()) {
            Some(env) => {
                crate::env::set_hook_mode();
                crate::log::set_command("ifupdown");
                arm_watchdog(IFUPDOWN_BOUND_SECS);
                let code = crate::ifupdown::run(&env, &hook_ctx());
                chain(&argv0, &args, code)
            }
            None => {
                arm_watchdog(cli_bound());
                crate::cli::main(args)
            }
        },
        Some(Entry::Cli) => {
            arm_watchdog(cli_bound());
            crate::cli::main(args)
        }
        Some(Entry::Hook(h)) => {
            crate::env::set_hook_mode();
            crate::log::set_command(
                std::path::Path::new(&argv0).file_name().and_then(|n| n.to_str()).unwrap_or("hook"),
            );
            arm_watchdog(HOOK_BOUND_SECS);
            let rest: Vec<String> = args[1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let code = hooks::run(h, &rest, &hook_ctx());
            chain(&argv0, &args, code)
        }
        None => {
            let names: Vec<&str> = hooks::HOOKS.iter().map(|(n, _)| *n).collect();
            crate::out::eprintln(&format!(
                "teqlctl: started as {argv0:?}, which is not a name it answers to; call it teqlctl or link it as one of: {}",
                names.join(", ")
            ));
            exit::USAGE
        }
    }
}

/// Hands over to the admin's own hook that `teqlctl hooks install` kept (PATH.teqlctl-chained),
/// with the same arguments; its exit status becomes ours, as if it had been called directly.
/// Without one, returns `code`.
fn chain(argv0: &str, args: &[OsString], code: i32) -> i32 {
    let Some(chained) = crate::install::chained_hook(argv0) else { return code };
    // The admin's hook was never under our time bound; do not kill it with our watchdog.
    nix::unistd::alarm::cancel();
    crate::log::report_dropped();
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&chained).args(&args[1..]).exec();
    crate::log::error(&format!("cannot run the chained hook {}: {err}", chained.display()));
    if code == exit::OK {
        exit::FAILURE
    } else {
        code
    }
}
