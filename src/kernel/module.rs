//! Loading sch_teql. The kernel never autoloads it for `tc qdisc add ... root teql0`, and its
//! masters (teql0..teqlN-1) exist only once it is loaded with max_equalizers >= N. modprobe is
//! the one external command teqlctl runs, because it honours the admin's modprobe.d.
//!
//! It runs as root from hooks, timers and sudo, so it is never looked up in the caller's PATH
//! (a writable directory early in PATH would otherwise run anything as root): it is the first
//! of `MODPROBE_PATHS` that is a root-owned regular file no one else may write, or a symlink
//! to one (kmod's), and it gets a fixed environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{self, Outcome};

/// Whether sch_teql is loaded.
pub fn loaded() -> bool {
    is_loaded("sch_teql")
}

/// Whether module `name` is loaded: /sys/module has it.
pub(crate) fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module").join(name).exists()
}

/// How many masters the loaded module made, as far as this network namespace shows: one more
/// than the highest teqlN here. Masters are made in the initial namespace and may be moved
/// out (an aggregator's teql1 in a namespace of its own, with teql0 left behind), so the ones
/// here need not start at teql0; a missing one is the planner's to name.
pub(crate) fn masters_present() -> u32 {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else { return 0 };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(crate::config::master_index))
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

/// Masters a run needs: `now` for the interfaces at hand (required), `all` for everything
/// the configuration names (asked for only when teqlctl loads the module itself, so that a
/// later bundle does not need a reload). A broken line naming teql7 must not stop teql0's lines
/// when the module is already loaded with one master.
///
/// `all` comes from `Config::masters_needed`, which is at most `config::MAX_MASTERS` (64):
/// the readers refuse master names past teql63, so a typo never asks the kernel for millions
/// of net devices. `now` is only as bounded as the names its caller passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    pub now: u32,
    pub all: u32,
}

impl Need {
    pub fn total(self) -> u32 {
        self.now.max(self.all)
    }
}

/// What `ensure` would run, for --dry-run.
pub fn plan(need: Need) -> Option<String> {
    if need.total() == 0 || (loaded() && masters_present() >= need.now) {
        return None;
    }
    let n = need.total();
    Some(if n > 1 { format!("modprobe sch_teql max_equalizers={n}") } else { "modprobe sch_teql".to_string() })
}

/// Makes sure teql0..teql{now-1} exist. Returns what it did, for the log.
pub(crate) fn ensure(need: Need) -> Result<Option<String>> {
    if need.total() == 0 {
        return Ok(None);
    }
    if loaded() {
        let have = masters_present();
        if have >= need.now {
            return Ok(None);
        }
        return Err(too_few(have, need.now));
    }
    // The admin's modprobe.d may already ask for enough masters: load plainly first.
    modprobe(&["sch_teql"])?;
    let want = need.total();
    let have = masters_present();
    if have >= want {
        return Ok(Some("modprobe sch_teql".to_string()));
    }
    // Nothing can be using a module we loaded a moment ago under the lock: reload it with
    // enough masters rather than make the admin edit modprobe.d for the common case.
    let param = format!("max_equalizers={want}");
    modprobe(&["-r", "sch_teql"])?;
    modprobe(&["sch_teql", &param])?;
    let have = masters_present();
    if have < need.now {
        return Err(too_few(have, need.now));
    }
    Ok(Some(format!("modprobe sch_teql {param}")))
}

/// Undoes a load of ours when the run that needed it failed.
pub(crate) fn unload() -> Result<()> {
    modprobe(&["-r", "sch_teql"])
}

fn too_few(have: u32, needed: u32) -> Error {
    Error::Module(format!(
        "sch_teql is loaded with {have} master(s) but the configuration names teql{}: add \
         `options sch_teql max_equalizers={needed}` to /etc/modprobe.d/teql.conf, then take the \
         bundles down and `modprobe -r sch_teql` (or reboot)",
        needed - 1
    ))
}

/// Where modprobe may be, in order of preference (kmod installs it in sbin; merged-/usr systems
/// have both sbin paths, some distributions only a bin one).
pub const MODPROBE_PATHS: [&str; 4] = ["/usr/sbin/modprobe", "/sbin/modprobe", "/usr/bin/modprobe", "/bin/modprobe"];

/// modprobe's whole environment. Nothing is inherited: not the caller's PATH, nor
/// MODPROBE_OPTIONS (which adds options to every modprobe run, -C another config directory
/// among them). An admin who sets MODPROBE_OPTIONS deliberately loses it here on purpose: the
/// place for sch_teql's options is /etc/modprobe.d, which modprobe still reads.
const MODPROBE_ENV: [(&str, &str); 1] = [("PATH", exec::SAFE_PATH)];

/// The first of `candidates` that is trusted to run as root (exec::find_trusted); the error
/// names every candidate, and why an existing one was passed over.
pub(crate) fn find_modprobe(candidates: &[&Path], owner: u32) -> Result<PathBuf> {
    exec::find_trusted(candidates, owner).map_err(|passed_over| {
        Error::Module(format!(
            "no trusted modprobe: {}; install kmod",
            exec::untrusted_message(candidates, &passed_over)
        ))
    })
}

/// Runs modprobe with a time bound: a hook must never hang boot. A failure is a
/// Error::Module that says what sch_teql needs.
fn modprobe(args: &[&str]) -> Result<()> {
    let shown = format!("modprobe {}", args.join(" "));
    let said = match run_modprobe(args)? {
        None => return Ok(()),
        Some(said) => said,
    };
    if args.first() == Some(&"-r") {
        return Err(Error::Module(format!("{shown} failed: {said}")));
    }
    Err(Error::Module(format!(
        "cannot load sch_teql ({shown}: {said}): this kernel needs CONFIG_NET_SCH_TEQL \
         (distribution kernels ship it as a module; check /lib/modules/$(uname -r))"
    )))
}

/// Loads `modules` (none of them sch_teql) in one modprobe run; the error says which.
pub(crate) fn load_all(modules: &[&str]) -> Result<()> {
    let mut args = vec!["-a", "--"];
    args.extend_from_slice(modules);
    match run_modprobe(&args)? {
        None => Ok(()),
        Some(said) => Err(Error::Module(format!("modprobe -a {}: {said}", modules.join(" ")))),
    }
}

/// Runs modprobe, found as MODPROBE_PATHS says, with a fixed environment and a time bound.
/// None when it succeeded, else what it said (its first line of stderr, or its exit status).
fn run_modprobe(args: &[&str]) -> Result<Option<String>> {
    let shown = format!("modprobe {}", args.join(" "));
    let candidates = MODPROBE_PATHS.map(Path::new);
    let path = find_modprobe(&candidates, 0)?;
    let mut cmd = Command::new(&path);
    cmd.args(args).env_clear().envs(MODPROBE_ENV).stdout(Stdio::null());
    // stderr is captured for the message; modprobe itself starts no daemon.
    let outcome = exec::run_bounded(cmd.stderr(Stdio::piped()), Duration::from_secs(15), true)
        .map_err(|e| Error::Io(format!("{shown} ({})", path.display()), e))?;
    match outcome {
        Outcome::TimedOut(d) => Err(Error::Module(format!("{shown}: no answer in {} s; killed", d.as_secs()))),
        Outcome::Exited { ok: true, .. } => Ok(None),
        Outcome::Exited { ok: false, code, output } => {
            let said = output.lines().next().unwrap_or("").trim().to_string();
            Ok(Some(if said.is_empty() { format!("exit status {}", code.unwrap_or(-1)) } else { said }))
        }
    }
}

/// Masters sch_teql must provide for `masters` now, and the configuration's total (loading
/// the module with too few would make a later bundle need a reload).
pub(crate) fn needed_for(cfg: &crate::config::Config, masters: &std::collections::BTreeSet<String>) -> Need {
    Need {
        now: masters.iter().filter_map(|m| crate::config::master_index(m)).map(|i| i + 1).max().unwrap_or(0),
        all: cfg.masters_needed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn the_first_trusted_candidate_wins() {
        let d = tempfile::TempDir::new().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("kmod"), "").unwrap();
        std::fs::set_permissions(p("kmod"), std::fs::Permissions::from_mode(0o755)).unwrap();
        symlink(p("kmod"), p("sbin-modprobe")).unwrap();
        std::fs::write(p("bin-modprobe"), "").unwrap();
        std::fs::set_permissions(p("bin-modprobe"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (missing, link, file) = (p("missing"), p("sbin-modprobe"), p("bin-modprobe"));
        assert_eq!(find_modprobe(&[&missing, &link, &file], me()).unwrap(), link, "a symlink to a trusted file");
        assert_eq!(find_modprobe(&[&missing, &file, &link], me()).unwrap(), file, "order decides");
    }

    #[test]
    fn untrusted_candidates_are_passed_over_and_named() {
        let d = tempfile::TempDir::new().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("writable"), "").unwrap();
        std::fs::set_permissions(p("writable"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::create_dir(p("dir")).unwrap();
        symlink(p("nowhere"), p("dangling")).unwrap();
        std::fs::write(p("good"), "").unwrap();
        std::fs::set_permissions(p("good"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (w, dir, dangling, good) = (p("writable"), p("dir"), p("dangling"), p("good"));
        assert_eq!(find_modprobe(&[&w, &dir, &dangling, &good], me()).unwrap(), good);
        let e = find_modprobe(&[&w, &dir, &dangling], me()).unwrap_err().to_string();
        assert!(e.starts_with("no trusted modprobe: none of "), "{e}");
        assert!(e.contains(&format!("{} is writable by group or others", w.display())), "{e}");
        assert!(e.contains(&format!("{} is not a regular file", dir.display())), "{e}");
        assert!(e.contains(&dangling.display().to_string()) && e.ends_with("install kmod"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        // Owned by someone else than the owner asked for (root in real runs).
        let e = find_modprobe(&[&good], me() + 1).unwrap_err().to_string();
        assert!(e.contains(&format!("is owned by uid {}, not root", me())), "{e}");
    }
}
