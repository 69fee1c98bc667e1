//! Loading sch_teql. The kernel never autoloads it for `tc qdisc add ... root teql0`, and its
//! masters (teql0..teqlN-1) exist only once it is loaded with max_equalizers >= N. modprobe is
//! the one external command teqlctl runs, because it honours the admin's modprobe.d.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{self, Outcome};

pub fn loaded() -> bool {
    Path::new("/sys/module/sch_teql").exists()
}

/// How many consecutive masters teql0, teql1, ... exist.
pub fn masters_present() -> u32 {
    (0..).take_while(|i| Path::new(&format!("/sys/class/net/teql{i}")).exists()).count() as u32
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
    fn total(self) -> u32 {
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
pub fn ensure(need: Need) -> Result<Option<String>> {
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
pub fn unload() -> Result<()> {
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

/// Runs modprobe with a time bound: a hook must never hang boot.
fn modprobe(args: &[&str]) -> Result<()> {
    let shown = format!("modprobe {}", args.join(" "));
    let mut cmd = Command::new("modprobe");
    cmd.args(args).env("PATH", path_with_sbin()).stdout(Stdio::null());
    // stderr is captured for the message; modprobe itself starts no daemon.
    let outcome = exec::run_bounded(cmd.stderr(Stdio::piped()), Duration::from_secs(15), true).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Module(format!("{shown}: modprobe not found; install kmod")),
        _ => Error::Io(shown.clone(), e),
    })?;
    let (code, stderr) = match outcome {
        Outcome::TimedOut => return Err(Error::Module(format!("{shown}: no answer in 15 s; killed"))),
        Outcome::Exited { ok: true, .. } => return Ok(()),
        Outcome::Exited { ok: false, code, output } => (code, output),
    };
    let said = stderr.lines().next().unwrap_or("").trim().to_string();
    if args.first() == Some(&"-r") {
        return Err(Error::Module(format!("{shown} failed: {said}")));
    }
    Err(Error::Module(format!(
        "cannot load sch_teql ({shown}: {}): this kernel needs CONFIG_NET_SCH_TEQL \
         (distribution kernels ship it as a module; check /lib/modules/$(uname -r))",
        if said.is_empty() { format!("exit status {}", code.unwrap_or(-1)) } else { said }
    )))
}

/// network-scripts gives hooks PATH=/sbin:/usr/sbin:/bin:/usr/bin, Debian's ifupdown a sane
/// PATH too, but a manual run under sudo or cron may lack sbin.
fn path_with_sbin() -> String {
    let p = std::env::var("PATH").unwrap_or_default();
    let mut parts: Vec<&str> = p.split(':').filter(|s| !s.is_empty()).collect();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !parts.contains(&extra) {
            parts.push(extra);
        }
    }
    parts.join(":")
}
