//! The declarative side: what the admin asked for, read from the distribution's own files.
//!
//! This module only describes and reads configuration. Deciding what to change lives in
//! `plan`, changing the kernel in `apply`; keeping them apart is what lets `--dry-run` print
//! exactly what a real run would do.

pub mod ifcfg;
pub mod interfaces;
pub mod shell;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Everything configured below `root`, from whichever formats are present: network-scripts'
/// ifcfg files and Debian's /etc/network/interfaces (a box normally has one of them).
pub fn load(root: &std::path::Path) -> Config {
    let mut cfg = ifcfg::load(root);
    let deb = interfaces::load(root);
    for (name, m) in deb.masters {
        // A master with a file of its own beats a bare one named by a line.
        match cfg.masters.get(&name) {
            Some(existing) if existing.source.is_some() && m.source.is_none() => {}
            _ => {
                cfg.masters.insert(name, m);
            }
        }
    }
    cfg.members.extend(deb.members);
    cfg.files.extend(deb.files);
    cfg.problems.extend(deb.problems);
    cfg
}

/// What a member line's reverse-path filter should be while it is bonded. Replies to traffic
/// sent through teqlN arrive on the lines, not on teqlN, so strict filtering drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpFilter {
    /// 2: accept a packet if any route leads back to its source (the default).
    Loose,
    /// 1: the admin insists; replies on the lines will be dropped.
    Strict,
    /// 0: only effective when net.ipv4.conf.all.rp_filter is 0 too.
    Off,
    /// Leave whatever the system has.
    Keep,
}

impl RpFilter {
    /// The value to write to net.ipv4.conf.IFACE.rp_filter, or None for `Keep`.
    pub fn sysctl_value(self) -> Option<u8> {
        match self {
            RpFilter::Loose => Some(2),
            RpFilter::Strict => Some(1),
            RpFilter::Off => Some(0),
            RpFilter::Keep => None,
        }
    }

    /// Parses the config spelling (`loose`, `strict`, `off`, `keep`, any case).
    pub fn parse(s: &str) -> Option<RpFilter> {
        match s.to_ascii_lowercase().as_str() {
            "loose" => Some(RpFilter::Loose),
            "strict" => Some(RpFilter::Strict),
            "off" => Some(RpFilter::Off),
            "keep" => Some(RpFilter::Keep),
            _ => None,
        }
    }
}

/// An IPv4 address with its prefix length, as configured on a master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A line that belongs to a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Kernel interface name (DEVICE= wins over the file name).
    pub device: String,
    /// The teqlN master it joins.
    pub master: String,
    pub rp_filter: RpFilter,
    /// ONBOOT: whether `teqlctl up` / `ifup teql0` attach it. Default true, like network-scripts.
    pub onboot: bool,
    /// The file it was read from, for messages.
    pub source: PathBuf,
}

/// A teqlN master and what it needs once a line is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub device: String,
    pub address: Option<Ipv4Prefix>,
    pub gateway: Option<Ipv4Addr>,
    /// Whether teqlctl installs `default via gateway dev teqlN onlink`, already resolved from
    /// DEFROUTE and GATEWAYDEV (master file over /etc/sysconfig/network) the way network-scripts
    /// resolves them. Never true without a gateway.
    pub default_route: bool,
    pub mtu: Option<u32>,
    /// METRIC: the default route's metric (0 unless set), as network-scripts uses it.
    pub metric: u32,
    pub onboot: bool,
    /// None when only members name this master and it has no file of its own.
    pub source: Option<PathBuf>,
}

impl Master {
    /// A master named by members but with no configuration file: it is brought up with no
    /// address and no route.
    pub fn bare(device: &str) -> Master {
        Master {
            device: device.to_string(),
            address: None,
            gateway: None,
            default_route: false,
            mtu: None,
            metric: 0,
            onboot: true,
            source: None,
        }
    }
}

/// Everything teqlctl was told, from whichever distribution format it was read.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub masters: BTreeMap<String, Master>,
    pub members: BTreeMap<String, Member>,
    /// Config file basename (e.g. `ifcfg-uplink`) to the device it configures, for every file
    /// that concerns teql. Used by ifup-pre-local, which is given the basename only.
    pub files: BTreeMap<String, String>,
    /// Errors in files that concern teql. Commands that act on the whole configuration refuse
    /// to run while there are any; a hook only refuses when one concerns its own interface or
    /// that interface's master (a broken file elsewhere must not stop other lines at boot).
    pub problems: Vec<ConfigError>,
}

/// The role an interface has in the configuration.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    Member(&'a Member),
    Master(&'a Master),
}

impl Config {
    pub fn role(&self, device: &str) -> Option<Role<'_>> {
        if let Some(m) = self.members.get(device) {
            return Some(Role::Member(m));
        }
        self.masters.get(device).map(Role::Master)
    }

    pub fn members_of<'a>(&'a self, master: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.values().filter(move |m| m.master == master)
    }

    /// How many masters sch_teql must create (max_equalizers) for every teqlN named here.
    pub fn masters_needed(&self) -> u32 {
        self.masters
            .keys()
            .chain(self.members.values().map(|m| &m.master))
            .filter_map(|n| master_index(n))
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    }

    /// Problems that concern `device` (its own file, or its master's).
    pub fn problems_for(&self, device: &str) -> Vec<&ConfigError> {
        let master = self.members.get(device).map(|m| m.master.as_str());
        self.problems
            .iter()
            .filter(|p| {
                let d = p.device();
                d == Some(device) || (master.is_some() && d == master)
            })
            .collect()
    }
}

/// The kernel's dev_valid_name: 1 to 15 bytes, no '/', ':' or whitespace, not "." or "..".
/// Checked before a name is used in a /proc or /sys path. (':' is for network-scripts' alias
/// names, which are never lines.)
pub fn valid_iface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
}

/// Plain decimal digits only: `u32::from_str` would also take "+5".
pub(crate) fn parse_decimal(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

pub(crate) fn parse_mtu(v: &str) -> Option<u32> {
    parse_decimal(v).filter(|m| (68..=65535).contains(m))
}

pub(crate) fn parse_prefix_len(v: &str) -> Option<u8> {
    parse_decimal(v).filter(|&p| p <= 32).and_then(|p| u8::try_from(p).ok())
}

/// A contiguous dotted netmask (255.255.255.240) as a prefix length.
pub(crate) fn parse_netmask(v: &str) -> Option<u8> {
    let bits = u32::from(v.parse::<Ipv4Addr>().ok()?);
    let ones = bits.leading_ones();
    if ones + bits.trailing_zeros() < 32 {
        return None;
    }
    u8::try_from(ones).ok()
}

/// `teql12` -> Some(12); anything else -> None. The kernel names masters teql0..teqlN-1.
pub fn master_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("teql")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // "teql01" is not a name the kernel creates.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// A configuration error. Every variant names the file; the Display text is the one line the
/// admin sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {reason}")]
    Io { path: PathBuf, reason: String, device: Option<String> },

    #[error("{path}:{line}:{col}: {msg}")]
    Syntax { path: PathBuf, line: usize, col: usize, msg: String, device: Option<String> },

    #[error("{path}: {key}={value:?} is not valid: expected {expected}")]
    InvalidValue { path: PathBuf, key: String, value: String, expected: String, device: Option<String> },

    #[error("{path}: {msg}")]
    Inconsistent { path: PathBuf, msg: String, device: Option<String> },
}

impl ConfigError {
    /// The interface the broken file configures, when it is known.
    pub fn device(&self) -> Option<&str> {
        match self {
            ConfigError::Io { device, .. }
            | ConfigError::Syntax { device, .. }
            | ConfigError::InvalidValue { device, .. }
            | ConfigError::Inconsistent { device, .. } => device.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_names() {
        assert_eq!(master_index("teql0"), Some(0));
        assert_eq!(master_index("teql12"), Some(12));
        assert_eq!(master_index("teql"), None);
        assert_eq!(master_index("teql01"), None);
        assert_eq!(master_index("eth0"), None);
        assert_eq!(master_index("teql0x"), None);
    }

    #[test]
    fn masters_needed_counts_every_name() {
        let mut c = Config::default();
        assert_eq!(c.masters_needed(), 0);
        c.masters.insert("teql0".into(), Master::bare("teql0"));
        assert_eq!(c.masters_needed(), 1);
        c.members.insert(
            "eth2".into(),
            Member {
                device: "eth2".into(),
                master: "teql2".into(),
                rp_filter: RpFilter::Loose,
                onboot: true,
                source: "x".into(),
            },
        );
        assert_eq!(c.masters_needed(), 3);
    }
}
