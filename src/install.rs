//! `teqlctl hooks install|uninstall|status`: the hook links that fit the system.
//!
//! An admin's own hook at one of those paths (a hand-written /sbin/ifup-local, typically) is
//! kept working: it is renamed to PATH.teqlctl-chained and teqlctl runs it, with the same
//! arguments, after its own work (see `chained_hook`). Uninstall renames it back, so it is
//! restored exactly (contents, mode, owner, even a symlink). The `.` in the suffix keeps
//! run-parts from running the renamed file itself in /etc/network/if-*.d.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where network-scripts looks for hooks (one path a line, `#` comments).
const NETWORK_SCRIPTS_LINKS: &str = include_str!("../hooks/network-scripts.links");

/// ifupdown runs every executable in these directories.
const IFUPDOWN_DIRS: [&str; 4] = ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"];

pub const CHAINED_SUFFIX: &str = ".teqlctl-chained";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    NetworkScripts,
    Ifupdown,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::NetworkScripts => "network-scripts",
            System::Ifupdown => "ifupdown",
        })
    }
}

/// The hook paths of a system, absolute as on the target (without the root).
pub fn hook_paths(system: System) -> Vec<PathBuf> {
    match system {
        System::NetworkScripts => NETWORK_SCRIPTS_LINKS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(PathBuf::from)
            .collect(),
        System::Ifupdown => IFUPDOWN_DIRS.iter().map(|d| Path::new("/etc/network").join(d).join("teqlctl")).collect(),
    }
}

/// The systems whose configuration directories exist below `root`.
pub fn detect(root: &Path) -> Vec<System> {
    let mut found = Vec::new();
    if root.join("etc/sysconfig/network-scripts").is_dir() {
        found.push(System::NetworkScripts);
    }
    if root.join("etc/network").is_dir() {
        found.push(System::Ifupdown);
    }
    found
}

fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn chained_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(CHAINED_SUFFIX);
    PathBuf::from(s)
}

/// A link of ours: a symlink whose target is named teqlctl.
fn is_ours(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|t| t.file_name().is_some_and(|n| n == "teqlctl"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Rename the admin's hook out of the way; it stays in use through the chain.
    Keep { path: PathBuf, to: PathBuf },
    Link { path: PathBuf, target: PathBuf },
    /// `target` is kept so a failed uninstall can put the link back.
    Unlink { path: PathBuf, target: PathBuf },
    Restore { from: PathBuf, path: PathBuf },
    MkDir { path: PathBuf },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Keep { path, to } => write!(f, "mv {} {}", path.display(), to.display()),
            Step::Link { path, target } => write!(f, "ln -sfn {} {}", target.display(), path.display()),
            Step::Unlink { path, .. } => write!(f, "rm {}", path.display()),
            Step::Restore { from, path } => write!(f, "mv {} {}", from.display(), path.display()),
            Step::MkDir { path } => write!(f, "mkdir -p {}", path.display()),
        }
    }
}

/// What `install` must do below `root` so every hook path of `systems` is our link to `binary`.
pub fn plan_install(root: &Path, systems: &[System], binary: &Path) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for &system in systems {
        for hook in hook_paths(system) {
            let path = under(root, &hook);
            if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
                if !steps.contains(&Step::MkDir { path: dir.to_path_buf() }) {
                    steps.push(Step::MkDir { path: dir.to_path_buf() });
                }
            }
            if is_ours(&path) {
                if std::fs::read_link(&path).is_ok_and(|t| t == binary) {
                    continue;
                }
            } else if path.symlink_metadata().is_ok() {
                let to = chained_path(&path);
                if to.symlink_metadata().is_ok() {
                    return Err(Error::Refused(format!(
                        "{} is not teqlctl's and {} exists too: move one of them away by hand",
                        path.display(),
                        to.display()
                    )));
                }
                steps.push(Step::Keep { path: path.clone(), to });
            }
            steps.push(Step::Link { path, target: binary.to_path_buf() });
        }
    }
    Ok(steps)
}

/// What `uninstall` must do: remove our links, put chained hooks back.
pub fn plan_uninstall(root: &Path, systems: &[System]) -> Vec<Step> {
    let mut steps = Vec::new();
    for &system in systems {
        for hook in hook_paths(system) {
            let path = under(root, &hook);
            let chained = chained_path(&path);
            if let Some(target) = std::fs::read_link(&path).ok().filter(|_| is_ours(&path)) {
                steps.push(Step::Unlink { path: path.clone(), target });
                if chained.symlink_metadata().is_ok() {
                    steps.push(Step::Restore { from: chained, path });
                }
            }
        }
    }
    steps
}

/// Carries out `steps`; if one fails, undoes the ones done (newest first) so a failed install
/// leaves no half-installed hooks behind.
pub fn apply(steps: &[Step]) -> Result<()> {
    let mut done: Vec<&Step> = Vec::new();
    for s in steps {
        if let Err(e) = apply_one(s) {
            for d in done.iter().rev() {
                let undo = match d {
                    Step::Keep { path, to } => std::fs::rename(to, path),
                    Step::Link { path, .. } => std::fs::remove_file(path),
                    Step::Unlink { path, target } => std::os::unix::fs::symlink(target, path),
                    Step::Restore { from, path } => std::fs::rename(path, from),
                    Step::MkDir { path } => std::fs::remove_dir(path),
                };
                if let Err(u) = undo {
                    crate::log::error(&format!("undo `{d}` failed: {u}; check this by hand"));
                }
            }
            return Err(e);
        }
        done.push(s);
    }
    Ok(())
}

fn apply_one(s: &Step) -> Result<()> {
    let r = match s {
        Step::Keep { path, to } => std::fs::rename(path, to),
        Step::Link { path, target } => {
            // Replace an older link of ours atomically: link beside it, then rename over.
            let tmp = chained_path(path).with_extension("teqlctl-new");
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).and_then(|()| std::fs::rename(&tmp, path))
        }
        Step::Unlink { path, .. } => std::fs::remove_file(path),
        Step::Restore { from, path } => std::fs::rename(from, path),
        Step::MkDir { path } => std::fs::create_dir_all(path),
    };
    r.map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::Permission(s.to_string()),
        _ => Error::Io(s.to_string(), e),
    })?;
    crate::log::info(&s.to_string());
    Ok(())
}

/// One line per hook path: what is there.
pub fn status(root: &Path, systems: &[System]) -> String {
    let mut out = String::new();
    for &system in systems {
        out.push_str(&format!("{system}:\n"));
        for hook in hook_paths(system) {
            let path = under(root, &hook);
            let chained = chained_path(&path);
            let what = if is_ours(&path) {
                let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                if chained.symlink_metadata().is_ok() {
                    format!("installed -> {target}, chaining to {}", chained.display())
                } else {
                    format!("installed -> {target}")
                }
            } else if path.symlink_metadata().is_ok() {
                "not installed (someone else's hook is there)".to_string()
            } else {
                "not installed".to_string()
            };
            out.push_str(&format!("  {}: {what}\n", hook.display()));
        }
    }
    out
}

/// The admin's hook to run after ours when the binary was started as `argv0` (a hook path).
pub fn chained_hook(argv0: &str) -> Option<PathBuf> {
    // network-scripts and run-parts start hooks by absolute path; a bare name has no chain.
    if !argv0.contains('/') {
        return None;
    }
    let chained = chained_path(Path::new(argv0));
    chained.is_file().then_some(chained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_link_list_is_what_is_installed() {
        let paths = hook_paths(System::NetworkScripts);
        assert_eq!(paths.len(), 6);
        assert!(paths.contains(&PathBuf::from("/sbin/ifup-local")));
        assert!(paths.contains(&PathBuf::from("/etc/sysconfig/network-scripts/ifup-teql")));
        for p in &paths {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(crate::hooks::Hook::from_name(name).is_some(), "{name} is not a hook the binary answers to");
        }
    }

    #[test]
    fn chained_name_is_never_run_by_run_parts() {
        // run-parts only runs names matching ^[a-zA-Z0-9_-]+$.
        let p = chained_path(Path::new("/etc/network/if-up.d/teqlctl"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.contains('.'));
    }
}
