//! Multi-call dispatch: the name the binary was started under picks the entry point, as in
//! uutils/coreutils. Nothing else belongs in main.rs.

use std::ffi::OsString;
use std::path::Path;

use crate::deadline::{arm_watchdog, cli_bound, HOOK_BOUND_SECS, IFUPDOWN_BOUND_SECS};
use crate::exit;
use crate::front::hooks::{self, Hook};
use crate::run::ops::Ctx;

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
    Ctx { root: "/".into(), ..Ctx::default() }
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
        Some(Entry::Cli) if args.len() == 1 => match crate::front::ifupdown::HookEnv::from_env(std::env::vars()) {
            Some(env) => {
                crate::env::set_hook_mode();
                crate::log::set_command("ifupdown");
                arm_watchdog(IFUPDOWN_BOUND_SECS);
                let code = crate::front::ifupdown::run(&env, &hook_ctx());
                chain(&argv0, &args, code)
            }
            None => {
                arm_watchdog(cli_bound());
                crate::front::cli::main(args)
            }
        },
        Some(Entry::Cli) => {
            arm_watchdog(cli_bound());
            crate::front::cli::main(args)
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
    let Some(chained) = crate::front::install::chained_hook(argv0) else { return code };
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
