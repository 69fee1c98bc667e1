//! net.ipv4.conf.IFACE.rp_filter through /proc/sys (no sysctl exec).

use std::path::PathBuf;

use crate::error::{Error, Result};

fn path(iface: &str) -> PathBuf {
    // Interface names may contain dots; /proc/sys takes them literally (only the sysctl
    // command turns dots into slashes).
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{iface}/rp_filter"))
}

pub fn rp_filter(iface: &str) -> Option<u8> {
    std::fs::read_to_string(path(iface)).ok()?.trim().parse().ok()
}

pub fn set_rp_filter(iface: &str, value: u8) -> Result<()> {
    let p = path(iface);
    std::fs::write(&p, format!("{value}\n")).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::Permission(format!("sysctl -w net.ipv4.conf.{iface}.rp_filter={value}")),
        std::io::ErrorKind::NotFound => Error::NoSuchInterface(iface.to_string()),
        _ => Error::Io(format!("cannot write {}", p.display()), e),
    })
}
