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

/// Hooks take no flags (network-scripts passes none); their configuration root comes from the
/// environment so tests and chroots can point it elsewhere.
fn hook_ctx() -> Ctx {
    Ctx {
        root: std::env::var_os("TEQLCTL_ROOT").map(Into::into).unwrap_or_else(|| "/".into()),
        // `teqlctl --dry-run hook NAME ARGS` is the way to see what a hook would do.
        dry_run: false,
        force: false,
    }
}

pub fn main(args: Vec<OsString>) -> i32 {
    let argv0 = args.first().and_then(|a| a.to_str()).unwrap_or("teqlctl").to_string();
    match entry(&argv0) {
        // run-parts starts the ifupdown hooks with no arguments and ifupdown's environment.
        Some(Entry::Cli) if args.len() == 1 => match crate::ifupdown::HookEnv::from_env(std::env::vars()) {
            Some(env) => {
                let code = crate::ifupdown::run(&env, &hook_ctx());
                chain(&argv0, &args, code)
            }
            None => crate::cli::main(args),
        },
        Some(Entry::Cli) => crate::cli::main(args),
        Some(Entry::Hook(h)) => {
            let rest: Vec<String> = args[1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let code = hooks::run(h, &rest, &hook_ctx());
            chain(&argv0, &args, code)
        }
        None => {
            let names: Vec<&str> = hooks::HOOKS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "teqlctl: started as {argv0:?}, which is not a name it answers to; call it teqlctl or link it as one of: {}",
                names.join(", ")
            );
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
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&chained).args(&args[1..]).exec();
    crate::log::error(&format!("cannot run the chained hook {}: {err}", chained.display()));
    if code == exit::OK {
        exit::FAILURE
    } else {
        code
    }
}
