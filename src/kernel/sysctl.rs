//! net.ipv4.conf.IFACE.rp_filter and net.ipv4.fib_multipath_hash_policy through /proc/sys
//! (no sysctl exec).

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

pub(crate) fn set_rp_filter(iface: &str, value: u8) -> Result<()> {
    let p = path(iface);
    std::fs::write(&p, format!("{value}\n")).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            Error::Permission(format!("sysctl -w net.ipv4.conf.{iface}.rp_filter={value}"))
        }
        std::io::ErrorKind::NotFound => Error::NoSuchInterface(iface.to_string()),
        _ => Error::Io(format!("cannot write {}", p.display()), e),
    })
}

const HASH_POLICY: &str = "/proc/sys/net/ipv4/fib_multipath_hash_policy";

/// net.ipv4.fib_multipath_hash_policy of this network namespace: 0 L3 (the default), 1 L4
/// (5-tuple), 2 L3 or inner L3, 3 custom fields (5.12+). None if the kernel has no multipath
/// routing (CONFIG_IP_ROUTE_MULTIPATH unset) or the file cannot be read.
pub fn multipath_hash_policy() -> Option<u8> {
    std::fs::read_to_string(HASH_POLICY).ok()?.trim().parse().ok()
}

const HASH_FIELDS: &str = "/proc/sys/net/ipv4/fib_multipath_hash_fields";

/// The fields hashed under policy 3: source and destination address, protocol, source and
/// destination port (the kernel's FIB_MULTIPATH_HASH_FIELD_* bits 0, 1, 2, 4, 5).
pub const L4_HASH_FIELDS: u32 = 0x0037;

/// net.ipv4.fib_multipath_hash_fields (5.12+; the kernel prints it in decimal, 55, though the
/// docs write it in hex; both are read). None when the kernel has no such sysctl, and so no
/// custom hash policy.
pub fn multipath_hash_fields() -> Option<u32> {
    let s = std::fs::read_to_string(HASH_FIELDS).ok()?;
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

pub fn set_multipath_hash_fields(value: u32) -> Result<()> {
    let what = || format!("sysctl -w net.ipv4.fib_multipath_hash_fields={value:#06x}");
    std::fs::write(HASH_FIELDS, format!("{value}\n")).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::Permission(what()),
        std::io::ErrorKind::NotFound => {
            Error::Refused(format!("{}: this kernel has no custom multipath hash (5.12+)", what()))
        }
        _ => Error::Io(format!("cannot write {HASH_FIELDS}"), e),
    })
}

pub fn set_multipath_hash_policy(value: u8) -> Result<()> {
    let what = || format!("sysctl -w net.ipv4.fib_multipath_hash_policy={value}");
    std::fs::write(HASH_POLICY, format!("{value}\n")).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::Permission(what()),
        std::io::ErrorKind::NotFound => {
            Error::Refused(format!("{}: this kernel has no multipath routing (CONFIG_IP_ROUTE_MULTIPATH)", what()))
        }
        // A value the kernel does not know (3 before 5.12, anything above 3).
        _ if e.raw_os_error() == Some(libc::EINVAL) => {
            Error::Refused(format!("{}: this kernel does not know hash policy {value}", what()))
        }
        _ => Error::Io(format!("cannot write {HASH_POLICY}"), e),
    })
}

/// net.ipv4.ip_forward: whether the box routes between its interfaces (an aggregator must).
pub fn ip_forward() -> Option<bool> {
    match std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").ok()?.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}
