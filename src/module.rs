//! Loading sch_teql. The kernel never autoloads it for `tc qdisc add ... root teql0`, and its
//! masters (teql0..teqlN-1) exist only once it is loaded with max_equalizers >= N. modprobe is
//! the one external command teqlctl runs, because it honours the admin's modprobe.d.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub fn loaded() -> bool {
    Path::new("/sys/module/sch_teql").exists()
}

/// How many consecutive masters teql0, teql1, ... exist.
pub fn masters_present() -> u32 {
    (0..).take_while(|i| Path::new(&format!("/sys/class/net/teql{i}")).exists()).count() as u32
}

/// What `ensure` would run, for --dry-run.
pub fn plan(needed: u32) -> Option<String> {
    if needed == 0 || (loaded() && masters_present() >= needed) {
        return None;
    }
    Some(if needed > 1 { format!("modprobe sch_teql max_equalizers={needed}") } else { "modprobe sch_teql".to_string() })
}

/// Makes sure teql0..teql{needed-1} exist. Returns what it did, for the log.
pub fn ensure(needed: u32) -> Result<Option<String>> {
    if needed == 0 {
        return Ok(None);
    }
    if loaded() {
        let have = masters_present();
        if have >= needed {
            return Ok(None);
        }
        return Err(too_few(have, needed));
    }
    // The admin's modprobe.d may already ask for enough masters: load plainly first.
    modprobe(&["sch_teql"])?;
    let have = masters_present();
    if have >= needed {
        return Ok(Some("modprobe sch_teql".to_string()));
    }
    // Nothing can be using a module we loaded a moment ago under the lock: reload it with
    // enough masters rather than make the admin edit modprobe.d for the common case.
    let param = format!("max_equalizers={needed}");
    modprobe(&["-r", "sch_teql"])?;
    modprobe(&["sch_teql", &param])?;
    let have = masters_present();
    if have < needed {
        return Err(too_few(have, needed));
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
    let mut child = Command::new("modprobe")
        .args(args)
        .env("PATH", path_with_sbin())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Module(format!(
                "{shown}: modprobe not found; install kmod"
            )),
            _ => Error::Io(shown.clone(), e),
        })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < Duration::from_secs(15) => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Module(format!("{shown}: no answer in 15 s; killed")));
            }
            Err(e) => return Err(Error::Io(shown, e)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let said = stderr.lines().next().unwrap_or("").trim().to_string();
    if args.first() == Some(&"-r") {
        return Err(Error::Module(format!("{shown} failed: {said}")));
    }
    Err(Error::Module(format!(
        "cannot load sch_teql ({shown}: {}): this kernel needs CONFIG_NET_SCH_TEQL \
         (distribution kernels ship it as a module; check /lib/modules/$(uname -r))",
        if said.is_empty() { format!("exit status {}", status.code().unwrap_or(-1)) } else { said }
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
