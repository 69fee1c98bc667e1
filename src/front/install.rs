//! `teqlctl hooks install|uninstall|status`: the hook links that fit the system.
//!
//! An admin's own hook at one of those paths (a hand-written /sbin/ifup-local, typically) is
//! kept working: it is kept as PATH.teqlctl-chained and teqlctl runs it, with the same
//! arguments, after its own work (see `chained_hook`). Uninstall renames it back, so it is
//! restored exactly (contents, mode, owner, even a symlink). The `.` in the suffix keeps
//! run-parts from running the renamed file itself in /etc/network/if-*.d.
//!
//! Crash safety: every step is one atomic system call (mkdir, symlink, link, rename, unlink),
//! ordered so that a run killed between any two of them leaves the hook path either the
//! admin's hook or our link, never nothing, and leaves only states that `status` names and
//! that both `uninstall` and a second `install` finish from. Install, per hook path P:
//!
//! 1. `ln -sfn BINARY P.teqlctl-new`: our link under a temporary name (run-parts skips it);
//! 2. `ln -P P P.teqlctl-chained`: a hard link, a second name of the admin's very file (same
//!    inode: content, mode, owner and a symlink's target are kept by construction), while P
//!    still runs it;
//! 3. `mv -T P.teqlctl-new P`: rename(2) replaces the admin's name with our link atomically.
//!
//! Uninstall is one step per path: `mv -T P.teqlctl-chained P` (rename over our link: the
//! admin's file is back under its name in the same instant our link goes), or `rm P` when
//! nothing is chained; after an interrupted install, `rm P.teqlctl-chained` when it is a
//! second name of the file at P, or `rm P.teqlctl-new`. An admin's hook renamed away with
//! nothing at P (an interrupted install of teqlctl before this order) is renamed back too.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where network-scripts looks for hooks (one path a line, `#` comments).
const NETWORK_SCRIPTS_LINKS: &str = include_str!("../../hooks/network-scripts.links");

/// ifupdown runs every executable in these directories.
const IFUPDOWN_DIRS: [&str; 4] = ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"];

/// NetworkManager's dispatcher runs dispatcher.d's scripts for `up` and `down`, and waits for
/// the ones in pre-up.d and pre-down.d (which must be there, or linked there).
const NM_DISPATCHER_DIRS: [&str; 3] = ["", "pre-up.d", "pre-down.d"];

pub const CHAINED_SUFFIX: &str = ".teqlctl-chained";
/// Our link's name while it is made (run-parts skips it too, for the dot).
pub const TMP_SUFFIX: &str = ".teqlctl-new";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    NetworkScripts,
    Ifupdown,
    NetworkManager,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::NetworkScripts => "network-scripts",
            System::Ifupdown => "ifupdown",
            System::NetworkManager => "NetworkManager",
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
        System::NetworkManager => NM_DISPATCHER_DIRS
            .iter()
            .map(|d| {
                Path::new("/etc/NetworkManager/dispatcher.d").join(d).join(crate::front::hooks::NM_DISPATCHER_LINK)
            })
            .collect(),
    }
}

/// The systems whose configuration directories exist below `root`.
pub(crate) fn detect(root: &Path) -> Vec<System> {
    let mut found = Vec::new();
    if root.join("etc/sysconfig/network-scripts").is_dir() {
        found.push(System::NetworkScripts);
    }
    if root.join("etc/network").is_dir() {
        found.push(System::Ifupdown);
    }
    // Installed, not necessarily running: a box that switches to NetworkManager later keeps
    // its lines bonded.
    if root.join("etc/NetworkManager").is_dir() {
        found.push(System::NetworkManager);
    }
    found
}

fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn chained_path(path: &Path) -> PathBuf {
    with_suffix(path, CHAINED_SUFFIX)
}

/// Where our link is made before it is renamed over the hook path.
fn tmp_path(path: &Path) -> PathBuf {
    with_suffix(path, TMP_SUFFIX)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The target of a link of ours: a symlink whose target is named teqlctl.
fn our_target(path: &Path) -> Option<PathBuf> {
    std::fs::read_link(path).ok().filter(|t| t.file_name().is_some_and(|n| n == "teqlctl"))
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Both names are one file (hard links), without following symlinks.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.symlink_metadata(), b.symlink_metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// What is at one hook path P and its two companion names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    path: PathBuf,
    chained: PathBuf,
    tmp: PathBuf,
    at_path: AtPath,
    at_chained: AtChained,
    /// Our temporary link, left by an interrupted run.
    tmp_left: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AtPath {
    Nothing,
    /// Our link, to this binary path.
    Ours(PathBuf),
    /// Someone else's hook.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtChained {
    Nothing,
    /// A second name of the file at P: an install interrupted after step 2.
    SameAsPath,
    /// A file of its own: the admin's hook, kept by a complete install (P is ours) or orphaned
    /// (P is empty); next to someone else's hook, not ours to touch.
    Own,
}

fn inspect(path: PathBuf) -> Found {
    let chained = chained_path(&path);
    let tmp = tmp_path(&path);
    let at_path = match our_target(&path) {
        Some(t) => AtPath::Ours(t),
        None if exists(&path) => AtPath::Other,
        None => AtPath::Nothing,
    };
    let at_chained = if !exists(&chained) {
        AtChained::Nothing
    } else if at_path == AtPath::Other && same_file(&path, &chained) {
        AtChained::SameAsPath
    } else {
        AtChained::Own
    };
    // Only a symlink is ours to remove there; anything else makes our symlink(2) fail loudly.
    let tmp_left = tmp.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
    Found { path, chained, tmp, at_path, at_chained, tmp_left }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    MkDir {
        path: PathBuf,
    },
    /// Our link under its temporary name `path` (replacing a leftover temporary link).
    Symlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// A second name (hard link) `to` for the admin's hook at `path`; it stays in use at `path`.
    Keep {
        path: PathBuf,
        to: PathBuf,
    },
    /// Rename our link `from` over the hook path. `before` is what the path held, for undo.
    Replace {
        from: PathBuf,
        path: PathBuf,
        before: Before,
    },
    /// Rename the admin's hook `from` back over the hook path; `ours` is the link it replaces
    /// (None: the path was empty), for undo.
    Restore {
        from: PathBuf,
        path: PathBuf,
        ours: Option<PathBuf>,
    },
    /// Remove our link; `target` is kept so a failed uninstall can put it back.
    Unlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// Remove `path`, a second name of the admin's hook at `of` (an interrupted install's).
    Forget {
        path: PathBuf,
        of: PathBuf,
    },
    /// Remove a temporary link of ours left by an interrupted run.
    Discard {
        path: PathBuf,
        target: PathBuf,
    },
}

/// What a hook path held before `Step::Replace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    Nothing,
    /// Our link to another binary path.
    Ours(PathBuf),
    /// The admin's hook, also reachable as PATH.teqlctl-chained (made by `Step::Keep`).
    Kept,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::MkDir { path } => write!(f, "mkdir -p {}", path.display()),
            Step::Symlink { path, target } => write!(f, "ln -sfn {} {}", target.display(), path.display()),
            Step::Keep { path, to } => write!(f, "ln -P {} {}", path.display(), to.display()),
            Step::Replace { from, path, .. } | Step::Restore { from, path, .. } => {
                write!(f, "mv -T {} {}", from.display(), path.display())
            }
            Step::Unlink { path, .. } | Step::Forget { path, .. } | Step::Discard { path, .. } => {
                write!(f, "rm {}", path.display())
            }
        }
    }
}

/// Where the packages install teqlctl, and the links' target on a tree that is not this
/// system's (`--root DIR`, an image): this binary's own path means nothing there.
pub const PACKAGED_BINARY: &str = "/usr/sbin/teqlctl";

/// `hooks install`'s target without `--binary`: on this very system (root /), the binary that
/// runs, wherever it was installed (/usr/local/sbin, say), so the links never point to a
/// /usr/sbin/teqlctl that is not there (issue 28, point 8); on another tree, PACKAGED_BINARY.
pub(crate) fn default_binary(root: &Path) -> PathBuf {
    let own = std::env::current_exe().ok().filter(|p| p.is_absolute());
    match own {
        Some(own) if is_this_system(root) => own,
        _ => PathBuf::from(PACKAGED_BINARY),
    }
}

fn is_this_system(root: &Path) -> bool {
    std::fs::canonicalize(root).is_ok_and(|r| r == Path::new("/"))
}

/// Why `binary`, as seen below `root`, is no program the hooks could run; None when it is one.
/// Below a tree that is not this system's, a program at `binary` on this system counts too: a
/// tree whose hooks run here (a test's) reaches its target as this system has it.
fn missing_binary(root: &Path, binary: &Path) -> Option<String> {
    let below = program(&under(root, binary));
    match below {
        Some(_) if !is_this_system(root) && program(binary).is_none() => None,
        why => why,
    }
}

/// Why `path` is no program; None when it is one.
fn program(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => None,
        Ok(m) if m.is_file() => Some("is not executable".into()),
        Ok(_) => Some("is not a file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read ({e})")),
    }
}

/// The links' target must be a program: a link to nothing is a hook that network-scripts skips
/// in silence (`[ -x /sbin/ifup-local ]`) and run-parts fails on, at every ifup. On this
/// system that is refused; on another tree (an image, a package's scratch root) teqlctl may be
/// installed there later, so it is a warning, returned for the caller to say.
pub(crate) fn check_binary(root: &Path, binary: &Path) -> Result<Option<String>> {
    let Some(why) = missing_binary(root, binary) else { return Ok(None) };
    if is_this_system(root) {
        return Err(Error::Usage(format!(
            "--binary {}: {why}, so the hooks linked to it would never run; give the path teqlctl \
             is installed at (this one is {})",
            binary.display(),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "unknown".into())
        )));
    }
    Ok(Some(format!(
        "{}: {why}: the hooks linked to it do not run until teqlctl is installed there (or pass \
         --binary with the path it has on that system)",
        under(root, binary).display()
    )))
}

/// What `install` must do below `root` so every hook path of `systems` is our link to `binary`.
/// From any state an interrupted install or uninstall leaves, this completes the install.
pub fn plan_install(root: &Path, systems: &[System], binary: &Path) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for &system in systems {
        for hook in hook_paths(system) {
            let f = inspect(under(root, &hook));
            if let Some(dir) = f.path.parent().filter(|d| !d.is_dir()) {
                if !steps.contains(&Step::MkDir { path: dir.to_path_buf() }) {
                    steps.push(Step::MkDir { path: dir.to_path_buf() });
                }
            }
            if f.at_path == AtPath::Ours(binary.to_path_buf()) {
                if f.tmp_left {
                    steps.push(discard(&f));
                }
                continue;
            }
            if f.at_path == AtPath::Other && f.at_chained == AtChained::Own {
                return Err(Error::Refused(format!(
                    "{} is not teqlctl's and {} exists too: move one of them away by hand",
                    f.path.display(),
                    f.chained.display()
                )));
            }
            steps.push(Step::Symlink { path: f.tmp.clone(), target: binary.to_path_buf() });
            let before = match &f.at_path {
                AtPath::Nothing => Before::Nothing,
                AtPath::Ours(t) => Before::Ours(t.clone()),
                AtPath::Other => {
                    if f.at_chained == AtChained::Nothing {
                        steps.push(Step::Keep { path: f.path.clone(), to: f.chained.clone() });
                    }
                    Before::Kept
                }
            };
            steps.push(Step::Replace { from: f.tmp, path: f.path, before });
        }
    }
    Ok(steps)
}

fn discard(f: &Found) -> Step {
    Step::Discard { path: f.tmp.clone(), target: std::fs::read_link(&f.tmp).unwrap_or_default() }
}

/// What `uninstall` must do: remove our links, put the admin's hooks back under their names,
/// from a complete install or from any state an interrupted install or uninstall leaves.
pub fn plan_uninstall(root: &Path, systems: &[System]) -> Vec<Step> {
    let mut steps = Vec::new();
    for &system in systems {
        for hook in hook_paths(system) {
            let f = inspect(under(root, &hook));
            if f.tmp_left {
                steps.push(discard(&f));
            }
            match (&f.at_path, f.at_chained) {
                (AtPath::Ours(t), AtChained::Own) => {
                    steps.push(Step::Restore { from: f.chained, path: f.path, ours: Some(t.clone()) })
                }
                (AtPath::Ours(t), _) => steps.push(Step::Unlink { path: f.path, target: t.clone() }),
                (AtPath::Nothing, AtChained::Own) => {
                    steps.push(Step::Restore { from: f.chained, path: f.path, ours: None })
                }
                (AtPath::Other, AtChained::SameAsPath) => steps.push(Step::Forget { path: f.chained, of: f.path }),
                // Someone else's hook with a file of its own at PATH.teqlctl-chained is not
                // a state teqlctl makes; `status` says so and both are left alone.
                (AtPath::Other, _) | (AtPath::Nothing, _) => {}
            }
        }
    }
    steps
}

/// `teqlctl validate`'s one-line verdict on the configuration below `root` (what the hooks
/// will meet), for `hooks install` to print after the links are made.
pub(crate) fn validate_summary(root: &Path) -> String {
    crate::front::validate::validate(root, false).summary()
}

/// Carries out `steps`; if one fails, undoes the ones done (newest first) so a failed run
/// leaves things as they were.
pub fn apply(steps: &[Step]) -> Result<()> {
    for (i, s) in steps.iter().enumerate() {
        if let Err(e) = apply_one(s) {
            for d in steps[..i].iter().rev() {
                if let Err(u) = undo(d) {
                    crate::log::error(&format!("undo `{d}` failed: {u}; check this by hand"));
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Our link at `path`, made beside it and renamed over it so `path` is never missing.
fn link_atomically(path: &Path, target: &Path) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    remove_leftover_link(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, path)
}

/// Removes `path` if it is a symlink (a temporary link of ours); anything else is left for
/// symlink(2) to fail on, loudly.
fn remove_leftover_link(path: &Path) -> std::io::Result<()> {
    if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

fn undo(s: &Step) -> std::io::Result<()> {
    match s {
        Step::MkDir { path } => std::fs::remove_dir(path),
        Step::Symlink { path, .. } => remove_leftover_link(path),
        // Only while it is still a second name: `Replace`'s undo may have renamed it back.
        Step::Keep { path, to } if same_file(path, to) => std::fs::remove_file(to),
        Step::Keep { .. } => Ok(()),
        Step::Replace { path, before, .. } => match before {
            Before::Nothing => std::fs::remove_file(path),
            Before::Ours(t) => link_atomically(path, t),
            Before::Kept => std::fs::rename(chained_path(path), path),
        },
        Step::Restore { from, path, ours } => match ours {
            Some(t) => std::fs::hard_link(path, from).and_then(|()| link_atomically(path, t)),
            None => std::fs::rename(path, from),
        },
        Step::Unlink { path, target } => link_atomically(path, target),
        Step::Forget { path, of } => std::fs::hard_link(of, path),
        Step::Discard { path, target } => std::os::unix::fs::symlink(target, path),
    }
}

fn apply_one(s: &Step) -> Result<()> {
    let r = match s {
        Step::MkDir { path } => std::fs::create_dir_all(path),
        Step::Symlink { path, target } => {
            remove_leftover_link(path).and_then(|()| std::os::unix::fs::symlink(target, path))
        }
        // link(2) does not follow a symlink: an admin's hook that is a symlink gets a second
        // name of the symlink itself, its target unchanged.
        Step::Keep { path, to } => std::fs::hard_link(path, to),
        Step::Replace { from, path, .. } | Step::Restore { from, path, .. } => std::fs::rename(from, path),
        Step::Unlink { path, .. } | Step::Forget { path, .. } | Step::Discard { path, .. } => {
            std::fs::remove_file(path)
        }
    };
    r.map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::Permission(s.to_string()),
        _ => Error::Io(s.to_string(), e),
    })?;
    crate::log::info(&s.to_string());
    Ok(())
}

/// One line per hook path: what is there, including what an interrupted run left and how to
/// finish from it.
pub fn status(root: &Path, systems: &[System]) -> String {
    let mut out = String::new();
    for &system in systems {
        out.push_str(&format!("{system}:\n"));
        for hook in hook_paths(system) {
            let f = inspect(under(root, &hook));
            let chained = f.chained.display();
            let mut what = match (&f.at_path, f.at_chained) {
                (AtPath::Ours(t), _) if missing_binary(root, t).is_some() => format!(
                    "BROKEN: installed -> {}, which {}: the hooks never run; run `teqlctl hooks install` \
                     (--binary PATH){}",
                    t.display(),
                    missing_binary(root, t).unwrap_or_default(),
                    if f.at_chained == AtChained::Own { format!(", chaining to {chained}") } else { String::new() }
                ),
                (AtPath::Ours(t), AtChained::Own) => format!("installed -> {}, chaining to {chained}", t.display()),
                (AtPath::Ours(t), _) => format!("installed -> {}", t.display()),
                (AtPath::Other, AtChained::SameAsPath) => format!(
                    "not installed: an interrupted install left {chained}, a second name of the admin's hook \
                     here (`hooks install` completes the install, `hooks uninstall` removes that name)"
                ),
                (AtPath::Other, AtChained::Own) => format!(
                    "not installed (someone else's hook is there), and {chained} is another file: not \
                     teqlctl's to touch; move one of them away by hand"
                ),
                (AtPath::Other, AtChained::Nothing) => "not installed (someone else's hook is there)".to_string(),
                (AtPath::Nothing, AtChained::Own) => format!(
                    "not installed, and the admin's hook is orphaned at {chained} by an interrupted run \
                     (`hooks uninstall` puts it back here, `hooks install` chains it)"
                ),
                (AtPath::Nothing, _) => "not installed".to_string(),
            };
            if f.tmp_left {
                what.push_str(&format!(
                    "; {} is left from an interrupted run (install or uninstall removes it)",
                    f.tmp.display()
                ));
            }
            out.push_str(&format!("  {}: {what}\n", hook.display()));
        }
    }
    out
}

/// Every hook path of `system` below `root` is a link of ours.
pub fn installed(root: &Path, system: System) -> bool {
    hook_paths(system).iter().all(|h| matches!(inspect(under(root, h)).at_path, AtPath::Ours(_)))
}

/// The dispatcher links the packages install in NetworkManager's vendor directory (its files
/// in /etc shadow them by name).
pub const NM_VENDOR_DIR: &str = "/usr/lib/NetworkManager/dispatcher.d";

/// All three of the packages' dispatcher links are there below `root`.
pub(crate) fn nm_vendor_links(root: &Path) -> bool {
    NM_DISPATCHER_DIRS.iter().all(|d| {
        let p = under(root, &Path::new(NM_VENDOR_DIR).join(d).join(crate::front::hooks::NM_DISPATCHER_LINK));
        our_target(&p).is_some()
    })
}

/// The admin's hook to run after ours when the binary was started as `argv0` (a hook path).
pub(crate) fn chained_hook(argv0: &str) -> Option<PathBuf> {
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
            assert!(crate::front::hooks::Hook::from_name(name).is_some(), "{name} is not a hook the binary answers to");
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
