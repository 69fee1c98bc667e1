//! The declarative side: what the admin asked for, read from the distribution's own files.
//!
//! This module only describes and reads configuration. Deciding what to change lives in
//! `plan`, changing the kernel in `apply`; keeping them apart is what lets `--dry-run` print
//! exactly what a real run would do.

pub mod ifcfg;
pub mod interfaces;
pub mod keyfile;
mod keys;
pub mod read;
pub mod shell;

pub use crate::names::{BundleName, IfName};
pub use keys::{Spelling, Values};
pub(crate) use read::read_config_file;
pub use read::ReadProblem;

use keys::Format;
pub(crate) use keys::Key;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Everything configured below `root`, from whichever formats are present: network-scripts'
/// ifcfg files, Debian's /etc/network/interfaces and NetworkManager's keyfile profiles with
/// teqlctl's bundle files (a box normally has one or two of them). The files only: a run reads
/// them through configured::load, which adds what NetworkManager's dispatcher recorded.
pub fn load(root: &std::path::Path) -> Config {
    let mut cfg = ifcfg::load(root);
    for other in [interfaces::load(root), keyfile::load(root)] {
        for (name, m) in other.masters {
            // A master with a file of its own beats a bare one named by a line.
            match cfg.masters.get(&name) {
                Some(existing) if existing.source.is_some() && m.source.is_none() => {}
                _ => {
                    cfg.masters.insert(name, m);
                }
            }
        }
        cfg.members.extend(other.members);
        cfg.orphans.extend(other.orphans);
        cfg.files.extend(other.files);
        cfg.problems.extend(other.problems);
    }
    cfg
}

/// net.ipv4.fib_multipath_hash_policy as TEQL_HASH / teql-hash spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    /// 0: source and destination address.
    L3,
    /// 1: the 5-tuple, so that connections to one host spread too (the default).
    L4,
    /// Leave whatever the system has.
    Keep,
}

impl HashPolicy {
    pub fn parse(s: &str) -> Option<HashPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "l3" => Some(HashPolicy::L3),
            "l4" => Some(HashPolicy::L4),
            "keep" => Some(HashPolicy::Keep),
            _ => None,
        }
    }
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
    pub(crate) fn sysctl_value(self) -> Option<u8> {
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
    pub device: IfName,
    /// The bundle it joins: a teqlN master, or a multipath or connection bundle.
    pub master: BundleName,
    pub rp_filter: RpFilter,
    /// ONBOOT: whether `teqlctl up` / `ifup teql0` attach it. Default true, like network-scripts.
    pub onboot: bool,
    /// How `teqlctl check` judges the line's health.
    pub probe: Probe,
    /// Its weight, gateway and table in a multipath bundle (all unset for TEQL lines).
    pub path: LinePath,
    /// The GRE or IPIP tunnel its file creates, as written there (`teqlctl peer-config`
    /// mirrors it for the far end); None for any other line.
    pub tunnel: Option<TunnelConf>,
    /// The file it was read from, for messages.
    pub source: PathBuf,
    /// The reader that read it: messages about the line name its own stack's keys.
    pub spelling: Spelling,
}

/// A tunnel line's parameters as its own file gives them: what network-scripts' ifup-tunnel or
/// ifupdown would pass to `ip tunnel add`. Read only for GRE and IPIP tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelConf {
    pub kind: TunnelKind,
    /// The outer source address (this end's address on the line under the tunnel); None when
    /// it is not set (or `any`).
    pub local: Option<Ipv4Addr>,
    /// The far end's outer address; None when it is not set (or `any`).
    pub remote: Option<Ipv4Addr>,
    /// The GRE key of the packets received (`ikey`; KEY and `key` set both).
    pub ikey: Option<u32>,
    /// The GRE key of the packets sent (`okey`).
    pub okey: Option<u32>,
    /// Where the parameters are written, for messages that name the one to add.
    pub origin: TunnelOrigin,
}

/// The two tunnel kinds that are lines (teqlctl-config(5), TUNNELS AS LINES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Gre,
    Ipip,
}

impl TunnelKind {
    /// As `ip tunnel add ... mode` and ifupdown's `mode` spell it.
    pub(crate) fn ip_mode(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Ipip => "ipip",
        }
    }

    /// As network-scripts' TYPE spells it (ifup-tunnel matches it case-sensitively).
    pub(crate) fn ifcfg_type(self) -> &'static str {
        match self {
            TunnelKind::Gre => "GRE",
            TunnelKind::Ipip => "IPIP",
        }
    }

    /// TYPE's value; None for any other type (GRE6, IPIP6, Ethernet, ...).
    pub(crate) fn from_ifcfg_type(v: &str) -> Option<TunnelKind> {
        [TunnelKind::Gre, TunnelKind::Ipip].into_iter().find(|k| k.ifcfg_type() == v)
    }

    /// A mode as `ip tunnel add` reads it (it also takes `gre/ip` and `ip/ip`); None for any
    /// other mode (sit, gretap, vti, ip6gre, ...).
    pub(crate) fn from_ip_mode(v: &str) -> Option<TunnelKind> {
        match v {
            "gre" | "gre/ip" => Some(TunnelKind::Gre),
            "ipip" | "ip/ip" => Some(TunnelKind::Ipip),
            _ => None,
        }
    }
}

/// Which keys of which format hold a tunnel's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelOrigin {
    /// network-scripts: TYPE, MY_OUTER_IPADDR, PEER_OUTER_IPADDR, KEY.
    Ifcfg,
    /// ifupdown's `inet tunnel` method: mode, local, endpoint.
    TunnelMethod,
    /// ifupdown2's tunnel-mode, tunnel-local, tunnel-endpoint.
    TunnelOptions,
    /// A `pre-up ip tunnel add NAME ...` or `pre-up ip link add NAME type ...` command.
    Command,
}

impl TunnelOrigin {
    /// The key or option that sets the local outer address.
    pub(crate) fn local_key(self) -> &'static str {
        match self {
            TunnelOrigin::Ifcfg => "MY_OUTER_IPADDR",
            TunnelOrigin::TunnelMethod => "local",
            TunnelOrigin::TunnelOptions => "tunnel-local",
            TunnelOrigin::Command => "local (in the pre-up command)",
        }
    }

    /// The key or option that sets the far end's outer address.
    pub(crate) fn remote_key(self) -> &'static str {
        match self {
            TunnelOrigin::Ifcfg => "PEER_OUTER_IPADDR",
            TunnelOrigin::TunnelMethod => "endpoint",
            TunnelOrigin::TunnelOptions => "tunnel-endpoint",
            TunnelOrigin::Command => "remote (in the pre-up command)",
        }
    }
}

pub(crate) const EXPECT_OUTER_ADDR: &str = "a dotted unicast IPv4 address (or any)";
pub(crate) const EXPECT_TUNNEL_KEY: &str =
    "a GRE key: a number from 0 to 4294967295 (decimal, 0x hexadecimal or 0 octal, as ip reads it) or a dotted quad";

/// A tunnel's outer address as `ip tunnel add ... local/remote` reads it: Some(None) for
/// `any` (unset), Some(Some(address)) for a unicast address.
pub(crate) fn parse_outer_addr(v: &str) -> Option<Option<Ipv4Addr>> {
    if v == "any" {
        return Some(None);
    }
    let a: Ipv4Addr = v.parse().ok()?;
    is_unicast_host(a).then_some(Some(a))
}

/// An address one host can have and another can reach: not 0.0.0.0, broadcast, multicast or
/// loopback (probe targets, tunnel ends).
fn is_unicast_host(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// A GRE key as iproute2's tnl_parse_key reads it: a dotted quad, or strtoul with base 0
/// (decimal, 0x hexadecimal, leading-0 octal) that fits 32 bits.
pub(crate) fn parse_tunnel_key(v: &str) -> Option<u32> {
    if v.contains('.') {
        return v.parse::<Ipv4Addr>().ok().map(u32::from);
    }
    let (digits, radix) = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        (h, 16)
    } else if v.len() > 1 && v.starts_with('0') {
        (&v[1..], 8)
    } else {
        (v, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

impl Member {
    /// How to give this line a gateway, in the words of the stack it was read from: a Debian
    /// admin told to set TEQL_GATEWAY looks for a key his files do not have.
    pub(crate) fn gateway_hint(&self) -> &'static str {
        match self.spelling {
            Spelling::Ifcfg => "set GATEWAY or TEQL_GATEWAY in its ifcfg file",
            Spelling::Interfaces => "set teql-gateway in its stanza",
            Spelling::Keyfile | Spelling::Bundle => {
                "set gateway in its profile's [ipv4] section, or teqlctl.gateway in [user]"
            }
        }
    }

    /// The routing table of a multipath line: TEQL_TABLE, else its default (see
    /// ids::default_table).
    pub fn table(&self) -> u32 {
        self.path.table.unwrap_or_else(|| crate::ids::default_table(&self.device))
    }
}

/// How a bundle balances (TEQL_MODE / teql-mode in the bundle's own file or stanza).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Per packet over sch_teql: the bundle is a teqlN device (the default, and the only mode
    /// of teqlN names).
    #[default]
    Teql,
    /// Per flow over independent ISPs: split access and a weighted nexthop group
    /// (`multipath`); the bundle is a name with no kernel device.
    Multipath(MultipathOptions),
    /// Per connection with nftables (`connection`): sticky conntrack marks, NAT per line,
    /// preferred lines. It stands on the same per-line tables, rules and group as a multipath
    /// bundle (the first options), and adds its nftables table (the second).
    Connection(MultipathOptions, ConnectionOptions),
}

impl Mode {
    /// The mode as TEQL_MODE spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Teql => "teql",
            Mode::Multipath(_) => "multipath",
            Mode::Connection(..) => "connection",
        }
    }

    /// The options of a connection bundle; None for the other modes.
    pub fn connection(&self) -> Option<&ConnectionOptions> {
        match self {
            Mode::Connection(_, c) => Some(c),
            Mode::Teql | Mode::Multipath(_) => None,
        }
    }

    /// The routing options of a bundle that stands on per-line tables, rules and a nexthop
    /// group (multipath and connection); None for TEQL.
    pub fn paths(&self) -> Option<&MultipathOptions> {
        match self {
            Mode::Multipath(o) | Mode::Connection(o, _) => Some(o),
            Mode::Teql => None,
        }
    }
}

/// The options of a multipath bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipathOptions {
    /// TEQL_HASH / teql-hash: l4 (default), l3 or keep.
    pub hash: HashPolicy,
    /// TEQL_DEFROUTE / teql-defroute: install the default route over the lines (default yes).
    pub defroute: bool,
}

impl Default for MultipathOptions {
    fn default() -> MultipathOptions {
        MultipathOptions { hash: HashPolicy::L4, defroute: true }
    }
}

/// The options of a connection bundle (TEQL_MODE=connection).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionOptions {
    /// TEQL_NAT / teql-nat: LAN sources masqueraded to the address of the line they leave by.
    pub nat: Vec<Ipv4Prefix>,
    /// TEQL_PREFER / teql-prefer: the preferred lines, in the order they fail over.
    pub prefer: Vec<IfName>,
    /// TEQL_PREFER_DST / teql-prefer-dst: destinations that always leave by the first live
    /// preferred line.
    pub prefer_dst: Vec<Ipv4Prefix>,
    /// TEQL_LOCAL_SOURCE / teql-local-source: the source address the main table's default
    /// route gives the box's own unbound connections (`src`), an address of the box on no line,
    /// so that the output chain can tell them from sockets bound to a line's address and
    /// balance them by weight. None: they take a line's address, as the kernel picks it.
    pub local_source: Option<Ipv4Addr>,
}

/// A line's multipath settings as written; None where the key is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinePath {
    /// TEQL_WEIGHT / teql-weight: 1 to 256 (default 1).
    pub weight: Option<u16>,
    /// TEQL_GATEWAY / teql-gateway (ifcfg: else GATEWAY): the line's ISP router. None: learned
    /// from the kernel (DHCP) or not needed (point-to-point).
    pub gateway: Option<Ipv4Addr>,
    /// TEQL_TABLE / teql-table: the line's routing table (default: see multipath::default_table).
    pub table: Option<u32>,
    /// ifcfg's own GATEWAY= of the line: the gateway when TEQL_GATEWAY is not set. Not a
    /// multipath key (a TEQL line may have one too).
    pub plain_gateway: Option<Ipv4Addr>,
    /// TEQL_RP_FILTER as written: a multipath line keeps the admin's rp_filter unless it is
    /// set (strict filtering works with split access), where a TEQL line defaults to loose.
    pub rp_filter: Option<RpFilter>,
}

impl LinePath {
    /// The line's gateway: TEQL_GATEWAY, else GATEWAY.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway.or(self.plain_gateway)
    }
}

impl LinePath {
    /// The first multipath key that is set, as `fmt` spells it, for "only for multipath
    /// bundles" messages.
    pub(crate) fn first_set(&self, fmt: &Format) -> Option<&'static str> {
        [
            (self.weight.is_some(), Key::Weight),
            (self.gateway.is_some(), Key::Gateway),
            (self.table.is_some(), Key::Table),
        ]
        .into_iter()
        .find_map(|(set, k)| set.then(|| fmt.name(k)))
    }
}

/// More networks than this in one key is a list pasted by mistake (each becomes a set element).
const MAX_PREFIXES: usize = 64;

/// `203.0.113.0/24 192.0.2.7` (commas or spaces): distinct networks; an address alone is a /32.
/// Host bits set under the prefix length are refused: `203.0.113.5/24` is most likely a typo of
/// the network, and nftables would refuse it.
pub(crate) fn parse_prefixes(v: &str) -> Option<Vec<Ipv4Prefix>> {
    let mut out: Vec<Ipv4Prefix> = Vec::new();
    for word in v.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let (a, len) = match word.split_once('/') {
            Some((a, l)) => (a, parse_prefix_len(l)?),
            None => (word, 32),
        };
        let addr: Ipv4Addr = a.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        if u32::from(addr) & !mask != 0 {
            return None;
        }
        let p = Ipv4Prefix { addr, prefix_len: len };
        if out.contains(&p) {
            return None;
        }
        out.push(p);
    }
    (!out.is_empty() && out.len() <= MAX_PREFIXES).then_some(out)
}

/// What to tell an admin about an unknown key: the known one it most likely misspells (at most
/// two edits away), else where the keys are listed. The whole list no longer fits one line.
pub(crate) fn unknown_key_hint(unknown: &str, known: &[&str]) -> String {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let best = known.iter().map(|k| (distance(unknown, k), *k)).min();
    match best {
        Some((d, k)) if d <= 2 => format!("did you mean {k}? (teqlctl-config(5) lists every key)"),
        _ => "teqlctl reads only the keys teqlctl-config(5) lists".to_string(),
    }
}

pub(crate) const EXPECT_YES_NO: &str = "yes or no";

pub(crate) const EXPECT_IPV4: &str = "a dotted IPv4 address";
pub(crate) const EXPECT_MTU: &str = "a number from 68 to 65535";
pub(crate) const EXPECT_METRIC: &str = "a route metric, a number from 0 to 4294967295";

/// The health-check settings of a line (`teqlctl check`), from its own keys: TEQL_PROBE* in
/// ifcfg, teql-probe* in /etc/network/interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Hosts to ping through this line; empty: the line is judged by its carrier alone.
    pub targets: Vec<Ipv4Addr>,
    /// The next hop on the line towards targets off its subnet; None: the master's gateway,
    /// which every router of a teql bundle answers on its own line.
    pub via: Option<Ipv4Addr>,
    /// How long a round waits for answers.
    pub timeout_ms: u32,
    /// Failed rounds in a row before the line is taken out.
    pub down: u32,
    /// Good rounds in a row before a line taken out comes back.
    pub up: u32,
}

pub const PROBE_TIMEOUT_MS: u32 = 500;
pub const PROBE_DOWN: u32 = 2;
pub const PROBE_UP: u32 = 3;
/// A round pings every target of every line at once; more than this per line is a mistake.
pub const PROBE_MAX_TARGETS: usize = 8;

impl Default for Probe {
    fn default() -> Probe {
        Probe { targets: Vec::new(), via: None, timeout_ms: PROBE_TIMEOUT_MS, down: PROBE_DOWN, up: PROBE_UP }
    }
}

/// A teqlN master and what it needs once a line is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub device: BundleName,
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
    pub mode: Mode,
    /// A TEQL bundle's routes and NAT (the aggregator's side of tunnels as lines), and what
    /// the far end should have (`teqlctl peer-config`).
    pub routing: BundleRouting,
    /// None when only members name this master and it has no file of its own.
    pub source: Option<PathBuf>,
}

impl Master {
    /// Whether a far end runs the other side of this bundle (`teqlctl peer-config` writes it):
    /// a TEQL bundle, over tunnels to an aggregator. (The error type of peer-config sits below
    /// the mode dispatch, so the configuration answers this.)
    pub(crate) fn has_peer(&self) -> bool {
        matches!(self.mode, Mode::Teql)
    }

    /// A master named by members but with no configuration file: it is brought up with no
    /// address and no route.
    pub(crate) fn bare(device: BundleName) -> Master {
        Master {
            device,
            address: None,
            gateway: None,
            default_route: false,
            mtu: None,
            metric: 0,
            onboot: true,
            mode: Mode::Teql,
            routing: BundleRouting::default(),
            source: None,
        }
    }

    /// A multipath or connection bundle as its file or stanza gives it: no device, so only its
    /// mode, ONBOOT, the metric of its default route, and where it was read.
    pub(crate) fn multipath(device: BundleName, mode: Mode, onboot: bool, metric: u32, source: PathBuf) -> Master {
        Master { mode, onboot, metric, source: Some(source), ..Master::bare(device) }
    }
}

/// What a TEQL bundle routes through itself, and what it masquerades: the aggregator's
/// office LAN (TEQL_ROUTE, TEQL_NAT), and the same for the far end as the office states it
/// (TEQL_PEER_ROUTE, TEQL_PEER_NAT), which only `teqlctl peer-config` reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BundleRouting {
    /// Networks routed `dev teqlN` (metric METRIC), while the bundle is up.
    pub routes: Vec<Ipv4Prefix>,
    /// Sources masqueraded when they leave by another interface than the bundle's.
    pub nat: Vec<Ipv4Prefix>,
    pub peer_routes: Vec<Ipv4Prefix>,
    /// The far end masquerades the peer routes and the bundle's own network.
    pub peer_nat: bool,
}

/// Everything teqlctl was told, from whichever distribution format it was read.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Keyed by the bundle's name (its `device`); `.get("teql0")` works through Borrow<str>.
    pub masters: BTreeMap<BundleName, Master>,
    pub members: BTreeMap<String, Member>,
    /// Config file basename (e.g. `ifcfg-uplink`) to the device it configures, for every file
    /// that concerns teql. Used by ifup-pre-local, which is given the basename only.
    pub files: BTreeMap<String, String>,
    /// Errors in files that concern teql. Commands that act on the whole configuration refuse
    /// to run while there are any; a hook only refuses when one concerns its own interface or
    /// that interface's master (a broken file elsewhere must not stop other lines at boot).
    pub problems: Vec<ConfigError>,
    /// Lines taken out because the bundle they name is not configured, to that bundle's name:
    /// the one problem of the missing bundle is filed under its name, and is theirs too.
    pub orphans: BTreeMap<String, String>,
    /// Lines NetworkManager brought up on another interface than their profile names (a
    /// modem's IP interface, wwan0, for its control port cdc-wdm0; see nm.rs): the line's
    /// interface to the profile's interface-name.
    pub ip_ifaces: BTreeMap<String, String>,
}

/// The role an interface has in the configuration.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    Member(&'a Member),
    Master(&'a Master),
}

impl Config {
    pub(crate) fn role(&self, device: &str) -> Option<Role<'_>> {
        if let Some(m) = self.members.get(device) {
            return Some(Role::Member(m));
        }
        self.masters.get(device).map(Role::Master)
    }

    /// The connection bundles of the configuration, with their options.
    pub(crate) fn connection_bundles(&self) -> impl Iterator<Item = (&Master, &ConnectionOptions)> {
        self.masters.values().filter_map(|m| m.mode.connection().map(|c| (m, c)))
    }

    pub(crate) fn members_of<'a>(&'a self, master: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.values().filter(move |m| m.master == master)
    }

    /// How many masters sch_teql must create (max_equalizers) for every teqlN named here.
    /// Never more than MAX_MASTERS: the readers refuse higher names, and any that reached a
    /// Config some other way are not counted.
    pub(crate) fn masters_needed(&self) -> u32 {
        self.masters
            .keys()
            .map(BundleName::as_str)
            .chain(self.members.values().map(|m| m.master.as_str()))
            .filter_map(master_index)
            .filter(|&i| i < MAX_MASTERS)
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    }

    /// Problems that concern `device` (its own file, or its master's).
    pub(crate) fn problems_for(&self, device: &str) -> Vec<&ConfigError> {
        let master = self
            .members
            .get(device)
            .map(|m| m.master.as_str())
            .or_else(|| self.orphans.get(device).map(String::as_str));
        self.problems
            .iter()
            .filter(|p| {
                let d = p.device();
                d == Some(device) || (master.is_some() && d == master)
            })
            .collect()
    }
}

pub(crate) fn parse_ipv4(v: &str) -> Option<Ipv4Addr> {
    v.parse().ok()
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

/// How many masters teqlctl configures at most: teql0..teql63. sch_teql takes any
/// max_equalizers, but each master is a net device created at module load; a typo such as
/// `teql99999999` must not ask the kernel for a hundred million of them.
pub use crate::names::MAX_MASTERS;

/// How the stack whose file is `source` makes a multipath bundle named `name` of lines, in its
/// own words, for messages outside the readers (a TEQL bundle over independent ISPs).
pub(crate) fn multipath_hint(source: &std::path::Path, name: &str) -> String {
    let fmt = format_of(source);
    format!("{}, and {}{}{name} on the lines", (fmt.bundle_file)(name), fmt.name(Key::Master), fmt.assign)
}

/// The stack whose file is `source`, by the file's name and place.
fn format_of(source: &std::path::Path) -> &'static Format {
    let file = source.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    if file.starts_with("ifcfg-") {
        &ifcfg::FORMAT
    } else if file.ends_with(".nmconnection") || source.to_string_lossy().contains(keyfile::BUNDLE_DIR) {
        &keyfile::FORMAT
    } else {
        &interfaces::FORMAT
    }
}

/// Bundle key `key` as the stack of the bundle's file `source` spells it, for messages outside
/// the readers (issue 28, point 10: each stack's messages in its own words). A bundle no file
/// configures has every stack's spelling.
pub(crate) fn bundle_key_words(source: Option<&std::path::Path>, key: Key) -> String {
    match source {
        Some(s) => format_of(s).name(key).to_string(),
        None => [&ifcfg::FORMAT, &interfaces::FORMAT, &keyfile::FORMAT].map(|f| f.name(key)).join(" / "),
    }
}

/// How a line joins bundle `bundle`, in the words of each stack configured below `root`
/// (every stack's when none is): an empty Debian box is not told about ifcfg files.
pub(crate) fn line_of_hint(root: &std::path::Path, bundle: &str) -> String {
    let b = shown(bundle);
    let forms = [
        ("etc/sysconfig/network-scripts", format!("TEQL_MASTER={b} in a line's ifcfg file")),
        ("etc/network/interfaces", format!("teql-master {b} in a line's stanza of /etc/network/interfaces")),
        (
            "etc/NetworkManager/system-connections",
            format!("teqlctl.master={b} in [user] of a line's NetworkManager profile"),
        ),
    ];
    let here: Vec<&str> = forms.iter().filter(|(p, _)| root.join(p).exists()).map(|(_, f)| f.as_str()).collect();
    if here.is_empty() {
        forms.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join(", or ")
    } else {
        here.join(", or ")
    }
}

/// What a master name must look like, for InvalidValue messages.
pub const EXPECT_MASTER: &str = "a teql master name teql0..teql63";

/// TEQL_MASTER / teql-master's values.
pub const EXPECT_MASTER_OR_BUNDLE: &str =
    "a teql master name teql0..teql63, or the name of a multipath bundle (a bundle with a file of its own)";

/// What both readers do once every file is read. A teqlN named by lines needs no file or
/// stanza of its own (it is brought up bare) unless it has one, valid or not (`own`): a broken
/// one must not be replaced by a bare master as if it did not exist. A multipath bundle always
/// needs one, and the cross-file checks say so.
pub(crate) fn finish(cfg: &mut Config, root: &std::path::Path, fmt: &Format, own: &BTreeSet<String>) {
    let named: BTreeSet<BundleName> =
        cfg.members.values().filter(|m| m.master.is_teql()).map(|m| m.master.clone()).collect();
    for master in named {
        if !own.contains(master.as_str()) {
            cfg.masters.entry(master.clone()).or_insert_with(|| Master::bare(master));
        }
    }
    check_bundles(cfg, fmt);
    check_tables(cfg, root, fmt);
    check_ids(cfg, fmt);
}

/// The checks that need every file: a line's bundle must exist with a mode that fits the line's
/// keys, and a bundle's name must fit its mode. Lines and bundles that fail are taken out of
/// the configuration and their problem filed under their own name (their hooks refuse, the
/// others go on).
fn check_bundles(cfg: &mut Config, fmt: &Format) {
    let mut bad_masters = Vec::new();
    for (name, m) in &cfg.masters {
        let multipath = m.mode.paths().is_some();
        let Some(path) = m.source.clone() else { continue };
        let msg = if master_index(name).is_some() && multipath {
            format!(
                "{} on {}: teqlN names are TEQL bundles (sch_teql devices); give the \
                 multipath bundle a name of its own, such as wan",
                fmt.multipath,
                shown(name)
            )
        } else if master_index(name).is_none() && !multipath {
            format!(
                "{} is a bundle that is not named teqlN, so it must be a multipath bundle: add \
                 {} (TEQL bundles are teql0..teql63)",
                shown(name),
                fmt.multipath
            )
        } else {
            continue;
        };
        bad_masters.push((name.clone(), ConfigError::Inconsistent { path, msg, device: Some(name.to_string()) }));
    }
    for (name, e) in bad_masters {
        cfg.masters.remove(&name);
        cfg.problems.push(e);
    }
    let mut bad_members = Vec::new();
    let mut orphans: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
    for (device, m) in &cfg.members {
        // A bundle whose own file is broken is reported under its name, and problems_for
        // gives that to its lines too.
        if cfg.problems.iter().any(|p| p.device() == Some(m.master.as_str())) {
            continue;
        }
        let mode = cfg.masters.get(m.master.as_str()).map(|x| &x.mode);
        let e = match mode {
            _ if !m.master.is_teql() && mode.and_then(Mode::paths).is_none() => {
                // One problem for the missing bundle, however many lines name it (filed below).
                orphans.entry(m.master.to_string()).or_default().push(m);
                continue;
            }
            Some(Mode::Teql) | None => match m.path.first_set(fmt) {
                Some(k) => ConfigError::Inconsistent {
                    path: m.source.clone(),
                    msg: format!(
                        "{k} is set but {} is a TEQL bundle: weights, gateways and tables belong to \
                         lines of multipath bundles; remove {k}",
                        shown(&m.master)
                    ),
                    device: Some(device.clone()),
                },
                None => continue,
            },
            Some(Mode::Multipath(_) | Mode::Connection(..)) => continue,
        };
        bad_members.push((device.clone(), e));
    }
    let mut missing = Vec::new();
    for (bundle, lines) in orphans {
        let Some(first) = lines.first() else { continue };
        let names: Vec<String> = lines
            .iter()
            .map(|l| {
                if l.source == first.source {
                    shown(&l.device)
                } else {
                    format!("{} ({})", shown(&l.device), shown_path(&l.source))
                }
            })
            .collect();
        let (lines_text, verb) = match names.len() {
            1 => (format!("line {}", names[0]), "names"),
            _ => (format!("lines {}", names.join(", ")), "name"),
        };
        let msg = format!(
            "{lines_text} {verb} bundle {} ({}), but no bundle {} is configured: add {} \
             (teqlN names are TEQL bundles, teql0..teql63)",
            shown(&bundle),
            fmt.set(Key::Master, &bundle),
            shown(&bundle),
            (fmt.bundle_file)(&bundle)
        );
        let devices: Vec<String> = lines.iter().map(|l| l.device.to_string()).collect();
        missing.push((devices, ConfigError::Inconsistent { path: first.source.clone(), msg, device: Some(bundle) }));
    }
    for (device, e) in bad_members {
        cfg.members.remove(&device);
        cfg.problems.push(e);
    }
    for (devices, e) in missing {
        // Filed under the bundle's name; its lines reach it through `orphans` (problems_for).
        let bundle = e.device().unwrap_or_default().to_string();
        for d in devices {
            cfg.members.remove(&d);
            cfg.orphans.insert(d, bundle.clone());
        }
        cfg.problems.push(e);
    }
    check_connection_bundles(cfg, fmt);
}

/// A connection bundle's preferred lines are lines of its own, and a box has one connection
/// bundle: its nftables table marks every new connection, and two would fight over them.
fn check_connection_bundles(cfg: &mut Config, fmt: &Format) {
    let mut bad = Vec::new();
    let mut first: Option<BundleName> = None;
    for (name, m) in &cfg.masters {
        let Some(c) = m.mode.connection() else { continue };
        let Some(path) = m.source.clone() else { continue };
        let msg = if let Some(other) = &first {
            Some(format!(
                "{} is a second connection bundle ({} is one): a box balances its connections over \
                 one bundle; make one of them a multipath bundle",
                shown(name),
                shown(other)
            ))
        } else {
            c.prefer.iter().find(|p| cfg.members.get(p.as_str()).map(|l| l.master.as_str()) != Some(name.as_str())).map(
                |p| {
                    format!(
                        "{}: the preferred line {} is not a line of {}: name lines whose {} is {}",
                        shown(name),
                        shown(p),
                        shown(name),
                        fmt.name(Key::Master),
                        shown(name)
                    )
                },
            )
        };
        first.get_or_insert_with(|| name.clone());
        if let Some(msg) = msg {
            bad.push((name.clone(), ConfigError::Inconsistent { path, msg, device: Some(name.to_string()) }));
        }
    }
    for (name, e) in bad {
        cfg.masters.remove(&name);
        cfg.problems.push(e);
    }
}

/// The routing tables iproute2 names (`NUMBER NAME` lines) below `root`: /etc/iproute2/rt_tables,
/// /etc/iproute2/rt_tables.d/*.conf, and the distribution's defaults under /usr/share/iproute2
/// and /usr/lib/iproute2. Unreadable files are skipped: they are iproute2's, not ours.
fn named_tables(root: &std::path::Path) -> BTreeMap<u32, (String, PathBuf)> {
    let mut files = Vec::new();
    for dir in ["etc/iproute2", "usr/share/iproute2", "usr/lib/iproute2"] {
        let dir = root.join(dir);
        files.push(dir.join("rt_tables"));
        if let Ok(entries) = std::fs::read_dir(dir.join("rt_tables.d")) {
            let mut conf: Vec<PathBuf> =
                entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect();
            conf.sort();
            files.extend(conf);
        }
    }
    let mut out = BTreeMap::new();
    for f in files {
        let Ok(bytes) = read_config_file(&f, MAX_FILE_BYTES) else { continue };
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            if let (Some(n), Some(name)) = (words.next(), words.next()) {
                let n = n.strip_prefix("0x").map_or_else(|| n.parse().ok(), |h| u32::from_str_radix(h, 16).ok());
                if let Some(n) = n {
                    out.entry(n).or_insert_with(|| (name.to_string(), f.clone()));
                }
            }
        }
    }
    out
}

/// The tables of multipath lines: two lines never share one, and a default table (no
/// TEQL_TABLE) never is one that iproute2's rt_tables names for something else. A table the
/// admin chose with TEQL_TABLE may be named there (that is how one gives it a name).
fn check_tables(cfg: &mut Config, root: &std::path::Path, fmt: &Format) {
    let lines: Vec<(String, u32, bool, PathBuf)> = cfg
        .members
        .values()
        .filter(|m| cfg.masters.get(m.master.as_str()).is_some_and(|x| x.mode.paths().is_some()))
        .map(|m| {
            let t = m.table();
            (m.device.to_string(), t, m.path.table.is_none(), m.source.clone())
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let named = named_tables(root);
    let mut seen: BTreeMap<u32, String> = BTreeMap::new();
    let mut bad = Vec::new();
    for (device, table, default, source) in lines {
        let clash = if let Some(other) = seen.get(&table) {
            Some(format!("its routing table {table} is also {}'s", shown(other)))
        } else if let (true, Some((name, file))) = (default, named.get(&table)) {
            Some(format!("its default routing table {table} is {} in {}", shown(name), shown_path(file)))
        } else {
            None
        };
        seen.entry(table).or_insert_with(|| device.clone());
        if let Some(why) = clash {
            let msg = format!("{}: {why}: set {} to a free table number", shown(&device), fmt.name(Key::Table));
            bad.push((device.clone(), ConfigError::Inconsistent { path: source, msg, device: Some(device) }));
        }
    }
    for (device, e) in bad {
        cfg.members.remove(&device);
        cfg.problems.push(e);
    }
}

/// The kernel ids derived from names and tables must be unique: a multipath bundle's nexthop
/// group id (multipath::group_id) shares the nexthop id space with its lines' single nexthops
/// (id = the line's table), and a connection line's mark (connection::mark_of) is the low 16
/// bits of its table. A clash used to reach the kernel: `ip nexthop replace id 39537 group
/// 39537,1` (Invalid argument, the whole `up` rolled back), or two lines with one mark (two
/// fwmark rules for one mark; one line's conntrack flush emptying the other's).
///
/// Refused here, not allocated around: an id that depended on the other bundles and lines
/// would move when one is added, orphaning a running bundle's group and re-pointing the marks
/// of live connections, and status, the CLI and the planner would have to agree on the whole
/// configuration to name one mark. As pure functions of the name and the table they agree by
/// construction; the rare clash (a hash in 10000, or a TEQL_TABLE chosen into a group's range
/// or past 65535) is named once with what to change.
fn check_ids(cfg: &mut Config, fmt: &Format) {
    let mut groups: BTreeMap<u32, BundleName> = BTreeMap::new();
    let mut bad_masters = Vec::new();
    for (name, m) in &cfg.masters {
        if m.mode.paths().is_none() {
            continue;
        }
        let id = crate::ids::group_id(name);
        if let Some(other) = groups.get(&id) {
            let msg = format!(
                "{}: its nexthop group id {id} (a hash of the name) is also {}'s: rename one of the two bundles",
                shown(name),
                shown(other)
            );
            if let Some(path) = m.source.clone() {
                bad_masters
                    .push((name.clone(), ConfigError::Inconsistent { path, msg, device: Some(name.to_string()) }));
            }
            continue;
        }
        groups.insert(id, name.clone());
    }
    for (name, e) in bad_masters {
        cfg.masters.remove(&name);
        groups.retain(|_, n| *n != name);
        cfg.problems.push(e);
    }
    let mut marks: BTreeMap<u32, (String, u32)> = BTreeMap::new();
    let mut bad = Vec::new();
    for m in cfg.members.values() {
        let Some(master) = cfg.masters.get(m.master.as_str()) else { continue };
        if master.mode.paths().is_none() {
            continue;
        }
        let table = m.table();
        let clash = if let Some(bundle) = groups.get(&table) {
            Some(format!("its routing table {table} is also the nexthop group id of bundle {}", shown(bundle)))
        } else if master.mode.connection().is_some() {
            let mark = crate::ids::mark_of(table);
            match marks.get(&mark) {
                Some((other, t)) => Some(format!(
                    "its connection mark {mark:#010x} (the low 16 bits of table {table}) is also {}'s (table {t})",
                    shown(other)
                )),
                None => {
                    marks.insert(mark, (m.device.to_string(), table));
                    None
                }
            }
        } else {
            None
        };
        if let Some(why) = clash {
            let msg = format!(
                "{}: {why}: set {} to another number (below 65536 and outside {}-{})",
                shown(&m.device),
                fmt.name(Key::Table),
                crate::ids::GROUP_BASE,
                crate::ids::GROUP_BASE + crate::ids::TABLE_SPAN - 1
            );
            bad.push((
                m.device.to_string(),
                ConfigError::Inconsistent { path: m.source.clone(), msg, device: Some(m.device.to_string()) },
            ));
        }
    }
    for (device, e) in bad {
        cfg.members.remove(&device);
        cfg.problems.push(e);
    }
}

/// A name `master_index` accepts and that is below MAX_MASTERS: a master teqlctl configures.
pub(crate) fn is_usable_master(name: &str) -> bool {
    BundleName::teql(name).is_some()
}

/// Limits on what the readers accept (teqlctl-config(5), LIMITS). Real files are far below
/// them; each one is there so that a broken or hostile file costs a bounded amount of time
/// and memory in a hook that runs at every boot, and gets one clear error instead.
///
/// The largest configuration file read (ifcfg, /etc/sysconfig/network, interfaces, sourced).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The longest line, in characters (an interfaces line after joining continuations).
pub const MAX_LINE_CHARS: usize = 4096;
/// Assignments in one ifcfg file (or /etc/sysconfig/network).
pub const MAX_ASSIGNMENTS: usize = 10_000;
/// iface stanzas in /etc/network/interfaces and everything it sources.
pub const MAX_STANZAS: usize = 4096;
/// Option lines of one iface stanza (its own, inherited ones not counted).
pub const MAX_OPTIONS: usize = 1024;
/// How deep `inherits` chains go: a stanza, its parent, ... at most this many parents.
pub const MAX_INHERIT_DEPTH: usize = 16;
/// Files read through source and source-directory, besides the main interfaces file.
pub const MAX_SOURCED_FILES: usize = 100;

/// How much of a value from a file a message quotes.
pub const MESSAGE_VALUE_CHARS: usize = 64;
/// How much of a path a message shows (paths can come from `source` lines).
const MESSAGE_PATH_CHARS: usize = 512;
/// A whole free-text message; its embedded values are already cut to MESSAGE_VALUE_CHARS.
const MESSAGE_TEXT_CHARS: usize = 2048;

/// A value from a file as messages quote it: in double quotes, escaped and cut.
pub(crate) fn quoted(value: &str) -> String {
    format!("\"{}\"", crate::text::escape_for_message(value, MESSAGE_VALUE_CHARS).replace('"', "\\\""))
}

/// A short piece of file text (a key, an option or device name) shown without quotes.
pub(crate) fn shown(text: &str) -> String {
    crate::text::escape_for_message(text, MESSAGE_VALUE_CHARS)
}

pub(crate) fn shown_path(p: &std::path::Path) -> String {
    crate::text::escape_for_message(&p.to_string_lossy(), MESSAGE_PATH_CHARS)
}

fn shown_text(t: &str) -> String {
    crate::text::escape_for_message(t, MESSAGE_TEXT_CHARS)
}

/// Where in an interfaces file a bad value is (boxed in ConfigError, which every Result of
/// teqlctl carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The option's line; None in a hook (ifupdown's environment has no lines).
    pub line: Option<usize>,
    /// `iface LINE inet METHOD`.
    pub stanza: String,
}

/// An InvalidValue as the admin reads it: `FILE:LINE: STANZA: key "value" is not valid: ...`
/// for an interfaces stanza, `FILE: KEY="value" is not valid: ...` for the other formats.
fn invalid_text(path: &std::path::Path, at: Option<&At>, key: &str, value: &str, expected: &str) -> String {
    let line = at.and_then(|a| a.line).map(|l| format!(":{l}")).unwrap_or_default();
    let (stanza, assign) = match at {
        Some(a) => (format!(" {}:", shown_text(&a.stanza)), " "),
        None => (String::new(), "="),
    };
    format!(
        "{}{line}:{stanza} {}{assign}{} is not valid: expected {}",
        shown_path(path),
        shown(key),
        quoted(value),
        shown_text(expected)
    )
}

fn shown_key(key: &Option<String>) -> String {
    key.as_deref().map(|k| format!("{}: ", shown(k))).unwrap_or_default()
}

/// `teql12` -> Some(12); anything else -> None. The kernel names masters teql0..teqlN-1.
/// Readers also check the index against MAX_MASTERS (`is_usable_master`).
pub fn master_index(name: &str) -> Option<u32> {
    crate::names::teql_index(name)
}

/// A configuration error. Every variant names the file; the Display text is the one line the
/// admin sees. Fields hold the text as read; Display escapes control and bidi characters and
/// cuts long values (`crate::text::escape_for_message`), since all of it may come from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {}", shown_path(.path), shown_text(.reason))]
    Io { path: PathBuf, reason: String, device: Option<String> },

    /// `key`: the variable (ifcfg) or option (interfaces) whose value broke the syntax, when
    /// the reader knows it.
    #[error("{}:{line}:{col}: {}{}", shown_path(.path), shown_key(.key), shown_text(.msg))]
    Syntax { path: PathBuf, line: usize, col: usize, key: Option<String>, msg: String, device: Option<String> },

    /// `line` and `stanza`: where in the file, when the reader knows it (interfaces: the
    /// option's line and its stanza, which `key "value"` follows as it is written there).
    #[error("{}", invalid_text(.path, .at.as_deref(), .key, .value, .expected))]
    InvalidValue {
        path: PathBuf,
        key: String,
        value: String,
        /// A Box<str>: the variant stays small enough for every Result to carry it.
        expected: Box<str>,
        device: Option<String>,
        at: Option<Box<At>>,
    },

    #[error("{}: {}", shown_path(.path), shown_text(.msg))]
    Inconsistent { path: PathBuf, msg: String, device: Option<String> },
}

impl ConfigError {
    /// `key`'s `value` in `path` does not parse: `expected` says what would.
    pub(crate) fn invalid(
        path: &std::path::Path,
        key: &str,
        value: &str,
        expected: &str,
        device: Option<String>,
    ) -> Self {
        ConfigError::InvalidValue {
            path: path.to_path_buf(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
            device,
            at: None,
        }
    }

    /// The file the problem is in.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ConfigError::Io { path, .. }
            | ConfigError::Syntax { path, .. }
            | ConfigError::InvalidValue { path, .. }
            | ConfigError::Inconsistent { path, .. } => path,
        }
    }

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
    /// The independent-ISPs warning names the multipath setting as the lines' stack writes it.
    #[test]
    fn the_multipath_hint_speaks_each_stack() {
        let hint = |p: &str| super::multipath_hint(std::path::Path::new(p), "wan");
        let ifcfg = hint("/etc/sysconfig/network-scripts/ifcfg-eth2");
        assert!(ifcfg.contains("TEQL_MODE=multipath") && ifcfg.ends_with("TEQL_MASTER=wan on the lines"), "{ifcfg}");
        let deb = hint("/etc/network/interfaces");
        assert!(deb.contains("`teql-mode multipath`") && deb.ends_with("teql-master wan on the lines"), "{deb}");
        let nm = hint("/etc/NetworkManager/system-connections/dsl2.nmconnection");
        assert!(nm.contains("/etc/teqlctl/bundles/wan.conf") && nm.contains("mode=multipath"), "{nm}");
        assert!(nm.ends_with("teqlctl.master=wan on the lines"), "{nm}");
    }

    use super::*;

    #[test]
    fn unknown_keys_get_the_closest_known_one() {
        let known = ["TEQL_MASTER", "TEQL_PREFER", "TEQL_PREFER_DST"];
        assert_eq!(
            unknown_key_hint("TEQL_MASTR", &known),
            "did you mean TEQL_MASTER? (teqlctl-config(5) lists every key)"
        );
        assert_eq!(
            unknown_key_hint("TEQL_PREFERDST", &known),
            "did you mean TEQL_PREFER_DST? (teqlctl-config(5) lists every key)"
        );
        assert_eq!(unknown_key_hint("TEQL_BANDWIDTH", &known), "teqlctl reads only the keys teqlctl-config(5) lists");
    }

    #[test]
    fn tunnel_keys_as_ip_reads_them() {
        for (v, k) in
            [("1", 1), ("0", 0), ("4294967295", u32::MAX), ("0x10", 16), ("0X1f", 31), ("010", 8), ("0.0.1.2", 258)]
        {
            assert_eq!(parse_tunnel_key(v), Some(k), "{v}");
        }
        for v in ["", "4294967296", "0x", "08", "+1", "-1", "1 ", "key", "1.2.3", "0x1g"] {
            assert_eq!(parse_tunnel_key(v), None, "{v:?}");
        }
    }

    #[test]
    fn outer_addresses() {
        assert_eq!(parse_outer_addr("198.51.100.10"), Some(Some(Ipv4Addr::new(198, 51, 100, 10))));
        assert_eq!(parse_outer_addr("any"), Some(None));
        for v in ["", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "198.51.100", "host.example", "ANY"] {
            assert_eq!(parse_outer_addr(v), None, "{v:?}");
        }
    }

    #[test]
    fn tunnel_kinds() {
        assert_eq!(TunnelKind::from_ifcfg_type("GRE"), Some(TunnelKind::Gre));
        assert_eq!(TunnelKind::from_ifcfg_type("IPIP"), Some(TunnelKind::Ipip));
        assert_eq!(TunnelKind::from_ifcfg_type("gre"), None);
        assert_eq!(TunnelKind::from_ifcfg_type("GRE6"), None);
        assert_eq!(TunnelKind::from_ip_mode("gre/ip"), Some(TunnelKind::Gre));
        assert_eq!(TunnelKind::from_ip_mode("ip/ip"), Some(TunnelKind::Ipip));
        assert_eq!(TunnelKind::from_ip_mode("gretap"), None);
        assert_eq!(TunnelKind::from_ip_mode("GRE"), None);
    }

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
        c.masters.insert("teql0".into(), Master::bare("teql0".into()));
        assert_eq!(c.masters_needed(), 1);
        c.members.insert(
            "eth2".into(),
            Member {
                device: "eth2".into(),
                master: "teql2".into(),
                rp_filter: RpFilter::Loose,
                onboot: true,
                probe: Probe::default(),
                source: "x".into(),
                spelling: Spelling::Ifcfg,
                path: Default::default(),
                tunnel: None,
            },
        );
        assert_eq!(c.masters_needed(), 3);
    }
}
