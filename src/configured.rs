//! The configuration as every run sees it: the files (config::load), with what a stack
//! recorded while it ran. NetworkManager names a modem's line by its control port, and the
//! dispatcher records the interface that carries its IP (nm.rs); every later run plans the
//! line on that interface. The files are config's; the records are runtime state, read here,
//! above the reader, so that reading the configuration depends on no state directory.

use std::path::Path;

use crate::config::{Config, IfName, Spelling};

/// Everything configured below `root`, with the recorded IP interfaces of profiles' lines.
pub fn load(root: &Path) -> Config {
    let mut cfg = crate::config::load(root);
    // Every run sees a modem's line by the interface its dispatcher event named, not by the
    // control port its profile names: a check round or another line's event would otherwise
    // plan the bundle without it.
    apply_recorded_ip_ifaces(&mut cfg, &crate::statefile::state_dir());
    cfg
}

/// `cfg` with the profile's line `from` (a modem's control port) on interface `to`.
pub(crate) fn rename_line(cfg: &mut Config, from: &str, to: &IfName) {
    // Only a profile's line: an ifcfg file or a stanza names the interface itself.
    let Some(mut m) = cfg.members.remove(from) else { return };
    if m.spelling != Spelling::Keyfile || cfg.members.contains_key(to.as_str()) {
        cfg.members.insert(from.to_string(), m);
        return;
    }
    m.device = to.clone();
    cfg.members.insert(to.to_string(), m);
    for device in cfg.files.values_mut() {
        if device == from {
            *device = to.to_string();
        }
    }
    let profile_name = cfg.ip_ifaces.remove(from).unwrap_or_else(|| from.to_string());
    cfg.ip_ifaces.insert(to.to_string(), profile_name);
}

/// Where the dispatcher records the IP interface of a profile whose interface-name is a
/// control port, while the line is up: `nm-ip-iface.CONTROL` holding the interface's name.
pub(crate) fn ip_iface_record(dir: &Path, control: &str) -> std::path::PathBuf {
    dir.join(format!("nm-ip-iface.{control}"))
}

/// Applies the IP interfaces the dispatcher recorded (`ip_iface_record`) to the profiles'
/// lines of `cfg`.
pub(crate) fn apply_recorded_ip_ifaces(cfg: &mut Config, dir: &Path) {
    let controls: Vec<String> =
        cfg.members.values().filter(|m| m.spelling == Spelling::Keyfile).map(|m| m.device.to_string()).collect();
    for control in controls {
        let Some(text) = crate::statefile::read_record(&ip_iface_record(dir, &control)) else { continue };
        if let Some(ip) = IfName::new(text.trim()) {
            rename_line(cfg, &control, &ip);
        }
    }
}
