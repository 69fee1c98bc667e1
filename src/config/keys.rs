//! The one validation core of both readers (issue 16, point 12).
//!
//! network-scripts' ifcfg files and Debian's /etc/network/interfaces spell teqlctl's keys
//! differently (TEQL_WEIGHT=2, `teql-weight 2`), but what a key means, where it may be set and
//! which values it takes is the same. Both readers used to repeat those checks with their own
//! spellings, and a fix made in one was easily missed in the other. Here every key is one entry
//! of `KEYS`; a reader only finds the raw values (`Values`) and says how its format writes a key
//! and names its files (`Format`), and the checks and parsers below turn them into the same
//! settings and the same problems, worded in the reader's own spelling.

use std::net::Ipv4Addr;

use super::{
    is_unicast_host, parse_decimal, parse_prefixes, quoted, shown, BundleName, BundleRouting, ConnectionOptions,
    IfName, LinePath, Mode, MultipathOptions, Probe, RpFilter, EXPECT_IPV4, EXPECT_MASTER_OR_BUNDLE, EXPECT_YES_NO,
    PROBE_DOWN, PROBE_MAX_TARGETS, PROBE_TIMEOUT_MS, PROBE_UP,
};

/// A teqlctl key, whatever format it is written in. The order is `KEYS`' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Master,
    RpFilter,
    Probe,
    ProbeVia,
    ProbeTimeout,
    ProbeDown,
    ProbeUp,
    Mode,
    Hash,
    Defroute,
    Weight,
    Gateway,
    Table,
    Nat,
    Prefer,
    PreferDst,
    LocalSource,
    Route,
    PeerRoute,
    PeerNat,
}

/// What a key configures, which says where it may be set and which messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A line's tie to its bundle (its master and rp_filter).
    Line,
    /// A line's health check (`teqlctl check`).
    Probe,
    /// A line's weight, gateway and table in a multipath bundle.
    Path,
    /// A bundle's mode and its multipath options.
    Mode,
    /// A connection bundle's own keys.
    Connection,
    /// A TEQL bundle's routes and NAT (tunnels as lines). Its NAT key is also a connection
    /// bundle's: which one it is depends on the bundle's mode.
    Routing,
}

/// One key: how each format spells it and what it belongs to.
pub(crate) struct KeyDef {
    pub key: Key,
    /// The ifcfg variable, which is also the name ifupdown exports the option under (IF_ left
    /// out), so the interfaces reader and the hooks look values up by it too.
    pub ifcfg: &'static str,
    /// The option as written in /etc/network/interfaces, for messages.
    pub interfaces: &'static str,
    /// The NetworkManager user data key in a keyfile profile's [user] section.
    pub keyfile: &'static str,
    pub scope: Scope,
}

const fn def(key: Key, ifcfg: &'static str, interfaces: &'static str, keyfile: &'static str, scope: Scope) -> KeyDef {
    KeyDef { key, ifcfg, interfaces, keyfile, scope }
}

/// Every key teqlctl reads; any other TEQL_ key or teql option is most likely a typo that would
/// silently leave a line out of its bundle. A new key is one line here, plus its parsing in the
/// reader of its scope below (`read_probe`, `read_line_path`, `read_mode`, `read_routing`);
/// both formats then read it, and the placement checks of its scope cover it.
pub(crate) const KEYS: [KeyDef; 20] = [
    def(Key::Master, "TEQL_MASTER", "teql-master", "teqlctl.master", Scope::Line),
    def(Key::RpFilter, "TEQL_RP_FILTER", "teql-rp-filter", "teqlctl.rp-filter", Scope::Line),
    def(Key::Probe, "TEQL_PROBE", "teql-probe", "teqlctl.probe", Scope::Probe),
    def(Key::ProbeVia, "TEQL_PROBE_VIA", "teql-probe-via", "teqlctl.probe-via", Scope::Probe),
    def(Key::ProbeTimeout, "TEQL_PROBE_TIMEOUT", "teql-probe-timeout", "teqlctl.probe-timeout", Scope::Probe),
    def(Key::ProbeDown, "TEQL_PROBE_DOWN", "teql-probe-down", "teqlctl.probe-down", Scope::Probe),
    def(Key::ProbeUp, "TEQL_PROBE_UP", "teql-probe-up", "teqlctl.probe-up", Scope::Probe),
    def(Key::Mode, "TEQL_MODE", "teql-mode", "teqlctl.mode", Scope::Mode),
    def(Key::Hash, "TEQL_HASH", "teql-hash", "teqlctl.hash", Scope::Mode),
    def(Key::Defroute, "TEQL_DEFROUTE", "teql-defroute", "teqlctl.defroute", Scope::Mode),
    def(Key::Weight, "TEQL_WEIGHT", "teql-weight", "teqlctl.weight", Scope::Path),
    def(Key::Gateway, "TEQL_GATEWAY", "teql-gateway", "teqlctl.gateway", Scope::Path),
    def(Key::Table, "TEQL_TABLE", "teql-table", "teqlctl.table", Scope::Path),
    def(Key::Nat, "TEQL_NAT", "teql-nat", "teqlctl.nat", Scope::Routing),
    def(Key::Prefer, "TEQL_PREFER", "teql-prefer", "teqlctl.prefer", Scope::Connection),
    def(Key::PreferDst, "TEQL_PREFER_DST", "teql-prefer-dst", "teqlctl.prefer-dst", Scope::Connection),
    def(Key::LocalSource, "TEQL_LOCAL_SOURCE", "teql-local-source", "teqlctl.local-source", Scope::Connection),
    def(Key::Route, "TEQL_ROUTE", "teql-route", "teqlctl.route", Scope::Routing),
    def(Key::PeerRoute, "TEQL_PEER_ROUTE", "teql-peer-route", "teqlctl.peer-route", Scope::Routing),
    def(Key::PeerNat, "TEQL_PEER_NAT", "teql-peer-nat", "teqlctl.peer-nat", Scope::Routing),
];

impl KeyDef {
    /// The key in a bundle's file: the user data key without `teqlctl.`, except TEQL_DEFROUTE,
    /// which is the file's `default-route`, the key a TEQL bundle's file has for the same
    /// question (whether the bundle installs the main table's default route).
    pub fn bundle(&self) -> &'static str {
        if self.key == Key::Defroute {
            return "default-route";
        }
        self.keyfile.strip_prefix("teqlctl.").unwrap_or(self.keyfile)
    }
}

impl Key {
    pub fn def(self) -> &'static KeyDef {
        // `KEYS` lists the keys in the enum's order (checked by a test).
        &KEYS[self as usize]
    }
}

/// The raw values of every key of one line or bundle, as written; None when absent. Empty
/// values count as absent: network-scripts treats an empty variable as unset, and ifupdown
/// never exports an empty option (the interfaces reader refuses one as a syntax error), so an
/// empty one can only come from a hand-made environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct Values<'a>([Option<&'a str>; KEYS.len()]);

impl<'a> Values<'a> {
    /// The values `get` gives for each key's ifcfg (and exported) name.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Values<'a> {
        Values(KEYS.each_ref().map(|d| get(d.ifcfg).filter(|v| !v.is_empty())))
    }

    pub(crate) fn get(&self, key: Key) -> Option<&'a str> {
        self.0[key as usize]
    }

    /// The first key of `scope` that is set, in `KEYS`' order, with its value.
    pub(crate) fn first_set(&self, scope: Scope) -> Option<(Key, &'a str)> {
        KEYS.iter().filter(|d| d.scope == scope).find_map(|d| self.get(d.key).map(|v| (d.key, v)))
    }

    /// The first routing key that is set, TEQL_NAT left out: a connection bundle reads it too.
    fn first_routing_but_nat(&self) -> Option<(Key, &'a str)> {
        KEYS.iter()
            .filter(|d| d.scope == Scope::Routing && d.key != Key::Nat)
            .find_map(|d| self.get(d.key).map(|v| (d.key, v)))
    }
}

/// Which reader a message speaks for (and which one read a line: its messages name that
/// stack's keys and files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    Ifcfg,
    Interfaces,
    Keyfile,
    /// teqlctl's own bundle files (/etc/teqlctl/bundles/NAME.conf), next to NetworkManager's
    /// profiles: the keyfile spelling without its `teqlctl.` prefix (`mode=multipath`).
    Bundle,
}

/// How one format writes keys and names its files, for messages, and the few values whose
/// syntax is the format's own.
pub(crate) struct Format {
    pub spelling: Spelling,
    /// Between a key and its value: `TEQL_MASTER="teql0"`, `teql-master "teql0"`.
    pub assign: &'static str,
    /// What the format calls its keys ("keys", "options").
    pub keys: &'static str,
    /// What the format calls the places a line or bundle is configured in ("files", "stanzas").
    pub places: &'static str,
    /// Where a TEQL bundle's own keys go.
    pub bundle_place: &'static str,
    /// The setting that makes a bundle multipath, as written.
    pub multipath: &'static str,
    /// The format's own keys for a bundle's device (address, gateway, MTU), which configure
    /// nothing on a multipath bundle: it has no device.
    pub device_keys: &'static [&'static str],
    /// Where a multipath line's address and gateway go instead, for that message.
    pub line_gateway: &'static str,
    /// What a multipath bundle named NAME needs, for "create it" hints.
    pub bundle_file: fn(&str) -> String,
    /// The format's booleans (network-scripts' is_true also takes t and f, for instance).
    pub yes_no: fn(&str) -> Option<bool>,
}

impl Format {
    /// `key` as this format spells it.
    pub fn name(&self, key: Key) -> &'static str {
        match self.spelling {
            Spelling::Ifcfg => key.def().ifcfg,
            Spelling::Interfaces => key.def().interfaces,
            Spelling::Keyfile => key.def().keyfile,
            Spelling::Bundle => key.def().bundle(),
        }
    }

    /// `key` set to `value` as a message quotes it.
    pub fn set(&self, key: Key, value: &str) -> String {
        format!("{}{}{}", self.name(key), self.assign, quoted(value))
    }

    /// What one writes to name a teqlN master, for "add ..." hints.
    fn add_master(&self) -> String {
        format!("{}{}teqlN", self.name(Key::Master), self.assign)
    }
}

/// Where a reader files the problems of the line or bundle it is reading: each reader knows its
/// file, the device, and (interfaces) the stanza that messages start with.
pub(crate) trait Problems {
    /// `key`'s `value` does not parse.
    fn invalid(&mut self, key: &str, value: &str, expected: &str);

    /// Values that are fine alone but wrong together or in this place.
    fn inconsistent(&mut self, msg: String);

    /// Every bad value of a group of keys, in the group's order.
    fn bad_values(&mut self, bad: Vec<BadValue>) {
        for b in bad {
            self.invalid(b.key, &b.value, b.expected);
        }
    }

    /// One value: Ok(None) when absent, Err(()) when it does not parse (recorded).
    fn field<T>(
        &mut self,
        key: &str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, ()> {
        match value {
            None => Ok(None),
            Some(v) => match parse(v) {
                Some(t) => Ok(Some(t)),
                None => {
                    self.invalid(key, v, expected);
                    Err(())
                }
            },
        }
    }
}

/// A line's master and rp_filter, both read before either is acted on so that one load reports
/// both mistakes.
pub(crate) fn read_line_tie(
    p: &mut impl Problems,
    fmt: &Format,
    v: &Values,
) -> (Result<Option<BundleName>, ()>, Result<Option<RpFilter>, ()>) {
    let master = p.field(fmt.name(Key::Master), v.get(Key::Master), BundleName::new, EXPECT_MASTER_OR_BUNDLE);
    let rp_filter = p.field(fmt.name(Key::RpFilter), v.get(Key::RpFilter), RpFilter::parse, EXPECT_RP_FILTER);
    (master, rp_filter)
}

/// Line keys set where no master is: a valid rp_filter, else the first probe key. (A file or
/// stanza may mention teql in a comment only, or be a template; without any of them it is
/// simply not a line.)
pub(crate) fn line_keys_without_master(
    p: &mut impl Problems,
    fmt: &Format,
    v: &Values,
    rp_filter: &Result<Option<RpFilter>, ()>,
) {
    let master = fmt.name(Key::Master);
    if let (Ok(Some(_)), Some(rp)) = (rp_filter, v.get(Key::RpFilter)) {
        p.inconsistent(format!(
            "{} is set but {master} is not: add {} or remove {}",
            fmt.set(Key::RpFilter, rp),
            fmt.add_master(),
            fmt.name(Key::RpFilter)
        ));
    } else if let Some((key, value)) = v.first_set(Scope::Probe) {
        p.inconsistent(format!(
            "{} is set but {master} is not: the probe {} belong to a line of a bundle; add {} or remove {}",
            fmt.set(key, value),
            fmt.keys,
            fmt.add_master(),
            fmt.name(key)
        ));
    }
}

/// Line keys set on a bundle (teqlN, or a bundle of another mode): each is reported, and none
/// is read.
pub(crate) fn line_keys_on_bundle(p: &mut impl Problems, fmt: &Format, v: &Values, device: &str) {
    if let Some(m) = v.get(Key::Master) {
        p.inconsistent(format!(
            "{} is set, but {device} is a teql master itself: {} belongs in the {} of its member lines",
            fmt.set(Key::Master, m),
            fmt.name(Key::Master),
            fmt.places
        ));
    }
    if let Some(rp) = v.get(Key::RpFilter) {
        p.inconsistent(format!(
            "{} is set on the master {device}: it applies to member lines; set it in their {}",
            fmt.set(Key::RpFilter, rp),
            fmt.places
        ));
    }
    if let Some((key, value)) = v.first_set(Scope::Probe) {
        p.inconsistent(format!(
            "{} is set on the master {device}: the probe {} apply to member lines (each line is probed \
             on its own); set them in their {}",
            fmt.set(key, value),
            fmt.keys,
            fmt.places
        ));
    }
    if let Some((key, value)) = v.first_set(Scope::Path) {
        p.inconsistent(format!(
            "{} is set on the bundle {}: it belongs in the {} of its lines",
            fmt.set(key, value),
            shown(device),
            fmt.places
        ));
    }
}

/// A TEQL bundle's routing keys set on a line: they belong to its bundle.
pub(crate) fn routing_keys_on_line(p: &mut impl Problems, fmt: &Format, v: &Values, device: &str) {
    if let Some((key, value)) = v.first_routing_but_nat() {
        p.inconsistent(format!(
            "{} is set on {}, which is not a bundle: it belongs in the {}; move it there",
            fmt.set(key, value),
            shown(device),
            fmt.bundle_place
        ));
    }
}

/// A line's probe keys; None when one is bad (every bad one is recorded).
pub(crate) fn line_probe(p: &mut impl Problems, fmt: &Format, v: &Values) -> Option<Probe> {
    read_probe(v, fmt).map_err(|bad| p.bad_values(bad)).ok()
}

/// A line's multipath keys; None when one is bad (every bad one is recorded).
pub(crate) fn line_path(p: &mut impl Problems, fmt: &Format, v: &Values) -> Option<LinePath> {
    read_line_path(v, fmt).map_err(|bad| p.bad_values(bad)).ok()
}

/// A bundle named teqlN past the cap (another name is a multipath bundle's: check_bundles
/// checks that its mode fits its name once every file is read).
pub(crate) fn master_past_cap(p: &mut impl Problems, device: &str) {
    if super::master_index(device).is_some() && !super::is_usable_master(device) {
        p.inconsistent(format!(
            "{} is past the last master teqlctl configures: masters are teql0..teql63; rename the master",
            shown(device)
        ));
    }
}

/// The bundle a bundle's file or stanza configures, checked once here so that the rest of
/// teqlctl holds a `BundleName`; None (the problem recorded) for a name teqlctl takes for no
/// bundle: a teqlN past the cap, a name starting with teql that the kernel never gives a
/// master, or no interface name at all. Such a bundle could have no line anyway (a line's
/// TEQL_MASTER is checked the same way).
pub(crate) fn bundle_name(p: &mut impl Problems, device: &str) -> Option<BundleName> {
    master_past_cap(p, device);
    let name = BundleName::new(device);
    if name.is_none() && super::master_index(device).is_none() {
        p.inconsistent(format!(
            "{} cannot name a bundle: a bundle is a teql master teql0..teql63, or a multipath bundle named by {} \
             not starting with teql (such as wan); rename it",
            shown(device),
            crate::names::refusal(device)
        ));
    }
    name
}

/// A bundle's mode and, for a TEQL bundle, its routing; None when a value is bad or a key does
/// not fit the mode (recorded).
pub(crate) fn read_bundle(
    p: &mut impl Problems,
    fmt: &Format,
    v: &Values,
    device: &str,
) -> Option<(Mode, BundleRouting)> {
    let teql_mode = is_teql_mode(v.get(Key::Mode));
    if !teql_mode {
        if let Some((key, value)) = v.first_routing_but_nat() {
            p.inconsistent(format!(
                "{} is set on the bundle {}, which is not a TEQL bundle: routes through a bundle and the far \
                 end's {} are for TEQL bundles of tunnels (teqlctl-config(5)); remove {}",
                fmt.set(key, value),
                shown(device),
                fmt.keys,
                fmt.name(key)
            ));
            return None;
        }
    }
    let routing =
        if teql_mode { read_routing(v, fmt).map_err(|bad| p.bad_values(bad)).ok()? } else { BundleRouting::default() };
    let mode = read_mode(v, fmt).map_err(|bad| p.bad_values(bad)).ok()?;
    Some((mode.unwrap_or_default(), routing))
}

/// The format's device keys set on a multipath bundle, which has no device for them: reported
/// (the first one), and true when there was one.
pub(crate) fn device_keys_on_multipath(
    p: &mut impl Problems,
    fmt: &Format,
    device: &str,
    is_set: impl Fn(&str) -> bool,
) -> bool {
    let Some(k) = fmt.device_keys.iter().find(|k| is_set(k)) else { return false };
    p.inconsistent(format!(
        "{k} is set on the multipath bundle {}, which has no device of its own: {}; remove {k}",
        shown(device),
        fmt.line_gateway
    ));
    true
}

// What each key's value may be, by scope: the parsers both readers share.

const EXPECT_MODE: &str = "teql, multipath or connection";
const EXPECT_PREFIXES: &str =
    "IPv4 networks such as 203.0.113.0/24 or addresses, separated by spaces or commas (at most 64)";
const EXPECT_PREFER: &str = "interface names of the bundle's lines, separated by spaces or commas";
const EXPECT_CONNECTION_ONLY: &str = "nothing: it is read only on a connection bundle (mode connection)";
const EXPECT_PREFER_FIRST: &str = "a preferred line too: set the preferred line(s) first";

/// `eth1 eth2` (commas or spaces): distinct interface names.
fn parse_iface_list(v: &str) -> Option<Vec<IfName>> {
    let mut out: Vec<IfName> = Vec::new();
    for word in v.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let name = IfName::new(word)?;
        if out.contains(&name) {
            return None;
        }
        out.push(name);
    }
    (!out.is_empty()).then_some(out)
}
const EXPECT_WEIGHT: &str = "a weight from 1 to 256";
const EXPECT_TABLE: &str = "a routing table number from 1 to 4294967295, not 253, 254 or 255 (default, main, local)";
const EXPECT_HASH: &str = "l4, l3 or keep";
const EXPECT_GATEWAY: &str = "a dotted unicast IPv4 address";

const EXPECT_RP_FILTER: &str = "loose, strict, off or keep";

/// Parses a line's multipath keys; every bad value is reported.
fn read_line_path(v: &Values, fmt: &Format) -> std::result::Result<LinePath, Vec<BadValue>> {
    let mut bad = Vec::new();
    let mut out = LinePath::default();
    if let Some(w) = v.get(Key::Weight) {
        match parse_decimal(w).filter(|n| (1..=256).contains(n)).and_then(|n| u16::try_from(n).ok()) {
            Some(n) => out.weight = Some(n),
            None => bad.push(BadValue { key: fmt.name(Key::Weight), value: w.to_string(), expected: EXPECT_WEIGHT }),
        }
    }
    if let Some(g) = v.get(Key::Gateway) {
        match g.parse::<Ipv4Addr>().ok().filter(|a| is_unicast_host(*a)) {
            Some(a) => out.gateway = Some(a),
            None => bad.push(BadValue { key: fmt.name(Key::Gateway), value: g.to_string(), expected: EXPECT_GATEWAY }),
        }
    }
    if let Some(t) = v.get(Key::Table) {
        match parse_decimal(t).filter(|n| *n != 0 && !(253..=255).contains(n)) {
            Some(n) => out.table = Some(n),
            None => bad.push(BadValue { key: fmt.name(Key::Table), value: t.to_string(), expected: EXPECT_TABLE }),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// One connection key: read only on a connection bundle (elsewhere it is a mistake), and then
/// parsed; every bad value goes to `bad`.
fn connection_key<T>(
    bad: &mut Vec<BadValue>,
    connection: bool,
    key: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Option<T> {
    let v = value?;
    let parsed = if connection { parse(v) } else { None };
    if parsed.is_none() {
        let expected = if connection { expected } else { EXPECT_CONNECTION_ONLY };
        bad.push(BadValue { key, value: v.to_string(), expected });
    }
    parsed
}

fn parse_host(v: &str) -> Option<Ipv4Addr> {
    v.parse::<Ipv4Addr>().ok().filter(|a| is_unicast_host(*a))
}

/// Parses a bundle's mode keys: None when none is set (a TEQL bundle). On a TEQL bundle the
/// NAT key is its own (the aggregator's NAT, `read_routing`), not a connection bundle's.
fn read_mode(values: &Values, fmt: &Format) -> std::result::Result<Option<Mode>, Vec<BadValue>> {
    let mode = values.get(Key::Mode);
    let nat = if is_teql_mode(mode) { None } else { values.get(Key::Nat) };
    let (prefer, prefer_dst) = (values.get(Key::Prefer), values.get(Key::PreferDst));
    let local_source = values.get(Key::LocalSource);
    let mut bad = Vec::new();
    let m = mode.map(|v| (v, v.to_ascii_lowercase()));
    let (multipath, connection) = match &m {
        None => (false, false),
        Some((_, l)) if l == "teql" => (false, false),
        Some((_, l)) if l == "multipath" => (true, false),
        Some((_, l)) if l == "connection" => (true, true),
        Some((v, _)) => {
            bad.push(BadValue { key: fmt.name(Key::Mode), value: v.to_string(), expected: EXPECT_MODE });
            (false, false)
        }
    };
    let b = &mut bad;
    let name = |k| fmt.name(k);
    let copts = ConnectionOptions {
        nat: connection_key(b, connection, name(Key::Nat), nat, parse_prefixes, EXPECT_PREFIXES).unwrap_or_default(),
        prefer: connection_key(b, connection, name(Key::Prefer), prefer, parse_iface_list, EXPECT_PREFER)
            .unwrap_or_default(),
        prefer_dst: connection_key(b, connection, name(Key::PreferDst), prefer_dst, parse_prefixes, EXPECT_PREFIXES)
            .unwrap_or_default(),
        local_source: connection_key(b, connection, name(Key::LocalSource), local_source, parse_host, EXPECT_GATEWAY),
    };
    if connection && prefer.is_none() {
        if let Some(v) = prefer_dst {
            bad.push(BadValue { key: name(Key::PreferDst), value: v.to_string(), expected: EXPECT_PREFER_FIRST });
        }
    }
    let mut options = MultipathOptions::default();
    if let Some(v) = values.get(Key::Hash) {
        match super::HashPolicy::parse(v) {
            Some(h) => options.hash = h,
            None => bad.push(BadValue { key: name(Key::Hash), value: v.to_string(), expected: EXPECT_HASH }),
        }
    }
    if let Some(v) = values.get(Key::Defroute) {
        match (fmt.yes_no)(v) {
            Some(d) => options.defroute = d,
            None => bad.push(BadValue { key: name(Key::Defroute), value: v.to_string(), expected: EXPECT_YES_NO }),
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(match (m, multipath, connection) {
        (None, ..) => None,
        (Some(_), false, _) => Some(Mode::Teql),
        (Some(_), true, false) => Some(Mode::Multipath(options)),
        (Some(_), true, true) => Some(Mode::Connection(options, copts)),
    })
}

/// A value that does not parse: the reader turns it into its InvalidValue.
pub(crate) struct BadValue {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

const EXPECT_PROBE_TARGETS: &str =
    "1 to 8 dotted IPv4 addresses separated by commas or spaces, such as 198.51.100.10,192.0.2.1";
const EXPECT_PROBE_TIMEOUT: &str = "a time in milliseconds from 50 to 5000";
const EXPECT_ROUNDS: &str = "a number of rounds from 1 to 100";
const EXPECT_PROBES: &str = "a number of probes from 1 to 100";

/// Parses the probe keys; every bad value is reported, not only the first.
fn read_probe(v: &Values, fmt: &Format) -> std::result::Result<Probe, Vec<BadValue>> {
    let mut bad = Vec::new();
    let mut check = |key: &'static str, value: Option<&str>, ok: bool, expected: &'static str| {
        if let (Some(value), false) = (value, ok) {
            bad.push(BadValue { key, value: value.to_string(), expected });
        }
    };
    let raw = |k: Key| (fmt.name(k), v.get(k));
    let (targets_key, targets_raw) = raw(Key::Probe);
    let targets = targets_raw.map(parse_probe_targets);
    check(targets_key, targets_raw, !matches!(targets, Some(None)), EXPECT_PROBE_TARGETS);
    let (via_key, via_raw) = raw(Key::ProbeVia);
    let via = via_raw.map(|s| s.parse::<Ipv4Addr>().ok());
    check(via_key, via_raw, !matches!(via, Some(None)), EXPECT_IPV4);
    let (timeout_key, timeout_raw) = raw(Key::ProbeTimeout);
    let timeout = timeout_raw.map(|s| parse_decimal(s).filter(|t| (50..=5000).contains(t)));
    check(timeout_key, timeout_raw, !matches!(timeout, Some(None)), EXPECT_PROBE_TIMEOUT);
    let (down_key, down_raw) = raw(Key::ProbeDown);
    let down = down_raw.map(parse_rounds);
    check(down_key, down_raw, !matches!(down, Some(None)), EXPECT_PROBES);
    let (up_key, up_raw) = raw(Key::ProbeUp);
    let up = up_raw.map(parse_rounds);
    check(up_key, up_raw, !matches!(up, Some(None)), EXPECT_ROUNDS);
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Probe {
        targets: targets.flatten().unwrap_or_default(),
        via: via.flatten(),
        timeout_ms: timeout.flatten().unwrap_or(PROBE_TIMEOUT_MS),
        down: down.flatten().unwrap_or(PROBE_DOWN),
        up: up.flatten().unwrap_or(PROBE_UP),
    })
}

/// `198.51.100.10,192.0.2.1` or `198.51.100.10 192.0.2.1`: distinct unicast IPv4 addresses.
fn parse_probe_targets(v: &str) -> Option<Vec<Ipv4Addr>> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for word in v.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let a: Ipv4Addr = word.parse().ok()?;
        // Nothing answers an echo to these on a line's behalf.
        if !is_unicast_host(a) || out.contains(&a) {
            return None;
        }
        out.push(a);
    }
    (!out.is_empty() && out.len() <= PROBE_MAX_TARGETS).then_some(out)
}

fn parse_rounds(v: &str) -> Option<u32> {
    parse_decimal(v).filter(|n| (1..=100).contains(n))
}

const EXPECT_ROUTES: &str =
    "IPv4 networks such as 198.51.100.0/24, separated by spaces or commas (at most 64; not 0.0.0.0/0: \
     the default route comes from the gateway)";

/// Parses a TEQL bundle's routing keys; every bad value is reported, not only the first.
fn read_routing(v: &Values, fmt: &Format) -> std::result::Result<BundleRouting, Vec<BadValue>> {
    let mut bad = Vec::new();
    // A default route here would fight the gateway's (and a loop on the aggregator).
    let routes = |key: &'static str, value: Option<&str>, bad: &mut Vec<BadValue>| {
        let v = value?;
        let p = parse_prefixes(v).filter(|ps| ps.iter().all(|p| p.prefix_len > 0));
        if p.is_none() {
            bad.push(BadValue { key, value: v.to_string(), expected: EXPECT_ROUTES });
        }
        p
    };
    let r = BundleRouting {
        routes: routes(fmt.name(Key::Route), v.get(Key::Route), &mut bad).unwrap_or_default(),
        nat: v
            .get(Key::Nat)
            .and_then(|n| {
                let p = parse_prefixes(n);
                if p.is_none() {
                    bad.push(BadValue { key: fmt.name(Key::Nat), value: n.to_string(), expected: EXPECT_PREFIXES });
                }
                p
            })
            .unwrap_or_default(),
        peer_routes: routes(fmt.name(Key::PeerRoute), v.get(Key::PeerRoute), &mut bad).unwrap_or_default(),
        peer_nat: match v.get(Key::PeerNat) {
            None => false,
            Some(n) => (fmt.yes_no)(n).unwrap_or_else(|| {
                bad.push(BadValue { key: fmt.name(Key::PeerNat), value: n.to_string(), expected: EXPECT_YES_NO });
                false
            }),
        },
    };
    if bad.is_empty() {
        Ok(r)
    } else {
        Err(bad)
    }
}

/// Whether a bundle's mode value (absent, or `teql` in any case) makes it a TEQL bundle.
fn is_teql_mode(mode: Option<&str>) -> bool {
    mode.is_none_or(|m| m.eq_ignore_ascii_case("teql"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ifcfg, interfaces, Config, ConfigError};
    use std::path::{Path, PathBuf};

    /// Probe values as the ifcfg reader finds them (TEQL_PROBE=...).
    fn probe_values<'a>(targets: &'a str, via: &'a str, timeout: &'a str, down: &'a str, up: &'a str) -> Values<'a> {
        Values::from_lookup(|k| match k {
            "TEQL_PROBE" => Some(targets),
            "TEQL_PROBE_VIA" => Some(via),
            "TEQL_PROBE_TIMEOUT" => Some(timeout),
            "TEQL_PROBE_DOWN" => Some(down),
            "TEQL_PROBE_UP" => Some(up),
            _ => None,
        })
    }

    #[test]
    fn probe_defaults_and_values() {
        let fmt = &ifcfg::FORMAT;
        assert_eq!(read_probe(&Values::default(), fmt).ok(), Some(Probe::default()));
        let v = probe_values("198.51.100.10, 192.0.2.1 203.0.113.9", "198.18.2.2", "250", "1", "100");
        let p = read_probe(&v, fmt).ok().unwrap();
        assert_eq!(
            p.targets,
            vec![Ipv4Addr::new(198, 51, 100, 10), Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(203, 0, 113, 9)]
        );
        assert_eq!((p.via, p.timeout_ms, p.down, p.up), (Some(Ipv4Addr::new(198, 18, 2, 2)), 250, 1, 100));
    }

    #[test]
    fn probe_bad_values_are_all_reported() {
        let fmt = &ifcfg::FORMAT;
        let v = probe_values("198.51.100.10,198.51.100.10", "gateway", "5001", "0", "+3");
        let bad = read_probe(&v, fmt).err().unwrap();
        assert_eq!(
            bad.iter().map(|b| b.key).collect::<Vec<_>>(),
            ["TEQL_PROBE", "TEQL_PROBE_VIA", "TEQL_PROBE_TIMEOUT", "TEQL_PROBE_DOWN", "TEQL_PROBE_UP"]
        );
        // In the other format's spelling, from the same values.
        let bad = read_probe(&v, &interfaces::FORMAT).err().unwrap();
        assert_eq!(
            bad.iter().map(|b| b.key).collect::<Vec<_>>(),
            ["teql-probe", "teql-probe-via", "teql-probe-timeout", "teql-probe-down", "teql-probe-up"]
        );
        for t in [
            "",
            "1.2.3",
            "224.0.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9",
        ] {
            assert!(parse_probe_targets(t).is_none(), "{t}");
        }
        let v = Values::from_lookup(|k| (k == "TEQL_PROBE_TIMEOUT").then_some("49"));
        assert!(read_probe(&v, fmt).is_err());
    }

    #[test]
    fn the_table_is_in_the_order_of_the_keys() {
        for (i, d) in KEYS.iter().enumerate() {
            assert_eq!(d.key as usize, i, "{}", d.ifcfg);
        }
    }

    /// One of the two readers, for the tests that both must pass with their own spelling.
    struct Reader {
        fmt: &'static Format,
        load: fn(&Path) -> Config,
    }

    const READERS: [Reader; 2] = [
        Reader { fmt: &ifcfg::FORMAT, load: ifcfg::load },
        Reader { fmt: &interfaces::FORMAT, load: interfaces::load },
    ];

    /// A line or bundle: its device and its teqlctl keys, written in either format.
    struct Unit {
        device: &'static str,
        keys: Vec<(Key, String)>,
    }

    fn unit(device: &'static str, keys: &[(Key, &str)]) -> Unit {
        Unit { device, keys: keys.iter().map(|(k, v)| (*k, v.to_string())).collect() }
    }

    /// A problem a case expects, its text as a template (see `render`).
    enum Want {
        Invalid { device: &'static str, key: Key, value: String, text: &'static str },
        Inconsistent { device: &'static str, parts: &'static [&'static str] },
    }

    struct Case {
        what: &'static str,
        units: Vec<Unit>,
        problems: Vec<Want>,
        /// The lines and bundles that load.
        members: &'static [&'static str],
        masters: &'static [&'static str],
    }

    /// Writes `units` below `root` in `fmt` and returns the file each unit's problems name.
    fn write(root: &Path, fmt: &Format, units: &[Unit]) -> Vec<PathBuf> {
        match fmt.spelling {
            Spelling::Ifcfg => {
                let dir = ifcfg::scripts_dir(root);
                std::fs::create_dir_all(&dir).unwrap();
                units
                    .iter()
                    .map(|u| {
                        let mut text = format!("DEVICE={}\n", u.device);
                        for (k, v) in &u.keys {
                            // Single quotes keep every character of the tests' values literal.
                            text.push_str(&format!("{}='{v}'\n", fmt.name(*k)));
                        }
                        let path = dir.join(format!("ifcfg-{}", u.device));
                        std::fs::write(&path, text).unwrap();
                        path
                    })
                    .collect()
            }
            Spelling::Interfaces => {
                let path = interfaces::interfaces_file(root);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let mut text = String::new();
                for u in units {
                    text.push_str(&format!("iface {} inet manual\n", u.device));
                    for (k, v) in &u.keys {
                        text.push_str(&format!("    {} {v}\n", fmt.name(*k)));
                    }
                }
                std::fs::write(&path, text).unwrap();
                units.iter().map(|_| path.clone()).collect()
            }
            // Its lines and bundles live in different files with different keys: the keyfile
            // reader's own tests cover it.
            Spelling::Keyfile | Spelling::Bundle => {
                unreachable!("the table runs the ifcfg and interfaces readers only")
            }
        }
    }

    /// `template` in `fmt`'s words: <<teql-master>> is the key's name, <<teql-master eth9>> the
    /// key set to eth9 as messages quote it, <<=>> what stands between a key and its value,
    /// <<places>> and <<bundle-place>> the format's words, <<bundle-file NAME>> what a
    /// multipath bundle NAME needs.
    fn render(fmt: &Format, template: &str) -> String {
        let key = |spelling: &str| {
            KEYS.iter().find(|d| d.interfaces == spelling).unwrap_or_else(|| panic!("no key {spelling}")).key
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("<<") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find(">>").unwrap() + start;
            let inner = &rest[start + 2..end];
            out.push_str(&match inner.split_once(' ') {
                _ if inner == "=" => fmt.assign.to_string(),
                _ if inner == "places" => fmt.places.to_string(),
                _ if inner == "bundle-place" => fmt.bundle_place.to_string(),
                Some(("bundle-file", name)) => (fmt.bundle_file)(name),
                Some((k, v)) => fmt.set(key(k), v),
                None => fmt.name(key(inner)).to_string(),
            });
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn check(reader: &Reader, case: &Case) {
        let fmt = reader.fmt;
        let root = tempfile::tempdir().unwrap();
        let files = write(root.path(), fmt, &case.units);
        let file_of = |device: &str| &files[case.units.iter().position(|u| u.device == device).unwrap()];
        let c = (reader.load)(root.path());
        let ctx = format!("{} ({:?})", case.what, fmt.spelling);
        assert_eq!(c.problems.len(), case.problems.len(), "{ctx}: {:#?}", c.problems);
        for (got, want) in c.problems.iter().zip(&case.problems) {
            let text = got.to_string();
            assert!(!text.chars().any(char::is_control), "{ctx}: {text:?}");
            match want {
                Want::Invalid { device, key, value, text: t } => {
                    let ConfigError::InvalidValue { path, key: k, value: v, at, .. } = got else {
                        panic!("{ctx}: not InvalidValue: {got:?}")
                    };
                    assert_eq!((path, k.as_str(), v), (file_of(device), fmt.name(*key), value), "{ctx}");
                    assert_eq!(got.device(), Some(*device), "{ctx}");
                    // An interfaces file holds many stanzas: its messages say which, and on which
                    // line (`interfaces:3: iface eth2 inet manual: teql-weight "ten" ...`).
                    let at = match (fmt.spelling, at.as_deref()) {
                        (Spelling::Interfaces, Some(crate::config::At { line: Some(l), stanza: s })) => {
                            format!(":{l}: {s}:")
                        }
                        (Spelling::Interfaces, ..) => panic!("{ctx}: no line or stanza: {got:?}"),
                        _ => ":".to_string(),
                    };
                    assert!(text.starts_with(&format!("{}{at} ", file_of(device).display())), "{ctx}: {text}");
                    let t = render(fmt, t);
                    assert!(text.contains(&t), "{ctx}: {text:?} lacks {t:?}");
                }
                Want::Inconsistent { device, parts } => {
                    assert!(matches!(got, ConfigError::Inconsistent { .. }), "{ctx}: {got:?}");
                    // A missing bundle's problem is filed under its name, and is its lines' too.
                    let orphan_of = c.orphans.get(*device).map(String::as_str);
                    assert!(got.device() == Some(*device) || got.device() == orphan_of, "{ctx}: {got:?}");
                    assert!(c.problems_for(device).contains(&got), "{ctx}: {got:?}");
                    assert!(text.starts_with(&format!("{}: ", file_of(device).display())), "{ctx}: {text}");
                    for p in *parts {
                        let p = render(fmt, p);
                        assert!(text.contains(&p), "{ctx}: {text:?} lacks {p:?}");
                    }
                }
            }
        }
        assert_eq!(c.members.keys().collect::<Vec<_>>(), case.members, "{ctx}");
        assert_eq!(c.masters.keys().collect::<Vec<_>>(), case.masters, "{ctx}");
        // sch_teql is asked for exactly the masters that loaded, never one past the cap.
        let needed = case.masters.iter().filter_map(|m| crate::config::master_index(m)).map(|i| i + 1).max();
        assert_eq!(c.masters_needed(), needed.unwrap_or(0), "{ctx}");
    }

    fn invalid(device: &'static str, key: Key, value: &str, text: &'static str) -> Want {
        Want::Invalid { device, key, value: value.to_string(), text }
    }

    fn inconsistent(device: &'static str, parts: &'static [&'static str]) -> Want {
        Want::Inconsistent { device, parts }
    }

    /// The line keys' checks, which both readers used to have a test of their own for.
    fn line_key_cases() -> Vec<Case> {
        use Key::*;
        let long = format!("{}\x07", "y".repeat(3000));
        let mut cases = vec![
            Case {
                what: "a master that is not teqlN and no bundle",
                units: vec![unit("eth2", &[(Master, "eth9")])],
                problems: vec![inconsistent(
                    "eth2",
                    &[
                        "line eth2 names bundle eth9 (<<teql-master eth9>>), but no bundle eth9 is configured: add \
                         <<bundle-file eth9>> (teqlN names are TEQL bundles, teql0..teql63)",
                    ],
                )],
                members: &[],
                masters: &[],
            },
            Case {
                // One problem, not one per line: three lines of a bundle without a file said
                // the same thing three times.
                what: "two lines of a bundle that is not configured",
                units: vec![unit("eth2", &[(Master, "eth9")]), unit("eth3", &[(Master, "eth9")])],
                problems: vec![inconsistent("eth2", &["lines eth2, eth3", "name bundle eth9 (<<teql-master eth9>>)"])],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a bad value is reported before the missing bundle",
                units: vec![unit("eth2", &[(Master, "eth9"), (RpFilter, "bogus")])],
                problems: vec![invalid("eth2", RpFilter, "bogus", "expected loose, strict, off or keep")],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a bad rp_filter",
                units: vec![unit("eth2", &[(Master, "teql0"), (RpFilter, "sometimes")])],
                problems: vec![invalid("eth2", RpFilter, "sometimes", "expected loose, strict, off or keep")],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a bad rp_filter without a master",
                units: vec![unit("eth2", &[(RpFilter, "bogus")])],
                problems: vec![invalid("eth2", RpFilter, "bogus", "expected loose, strict, off or keep")],
                members: &[],
                masters: &[],
            },
            Case {
                what: "rp_filter in any case",
                units: vec![unit("eth2", &[(Master, "teql0"), (RpFilter, "STRICT")])],
                problems: vec![],
                members: &["eth2"],
                masters: &["teql0"],
            },
            Case {
                what: "an rp_filter without a master",
                units: vec![unit("eth2", &[(RpFilter, "off")])],
                problems: vec![inconsistent(
                    "eth2",
                    &["<<teql-rp-filter off>> is set but <<teql-master>> is not: add <<teql-master>><<=>>teqlN or \
                       remove <<teql-rp-filter>>"],
                )],
                members: &[],
                masters: &[],
            },
            Case {
                what: "the highest master teqlctl configures",
                units: vec![unit("eth2", &[(Master, "teql63")])],
                problems: vec![],
                members: &["eth2"],
                masters: &["teql63"],
            },
            Case {
                what: "a bundle past the cap",
                units: vec![unit("eth2", &[(Master, "teql63")]), unit("teql64", &[])],
                problems: vec![inconsistent(
                    "teql64",
                    &["teql64 is past the last master teqlctl configures: masters are teql0..teql63; rename the \
                       master"],
                )],
                members: &["eth2"],
                masters: &["teql63"],
            },
            Case {
                what: "line keys on a master",
                units: vec![unit("teql0", &[(Master, "teql1"), (RpFilter, "off")])],
                problems: vec![
                    inconsistent(
                        "teql0",
                        &["<<teql-master teql1>> is set, but teql0 is a teql master itself: <<teql-master>> belongs \
                           in the <<places>> of its member lines"],
                    ),
                    inconsistent(
                        "teql0",
                        &["<<teql-rp-filter off>> is set on the master teql0: it applies to member lines; set it \
                           in their <<places>>"],
                    ),
                ],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a bad probe target",
                units: vec![unit("eth3", &[(Master, "teql0"), (Probe, "isp.example")])],
                problems: vec![invalid(
                    "eth3",
                    Probe,
                    "isp.example",
                    "<<teql-probe>><<=>>\"isp.example\" is not valid: expected 1 to 8 dotted IPv4 addresses \
                     separated by commas or spaces, such as 198.51.100.10,192.0.2.1",
                )],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a bad probe timeout",
                units: vec![unit("eth3", &[(Master, "teql0"), (ProbeTimeout, "2s")])],
                problems: vec![invalid(
                    "eth3",
                    ProbeTimeout,
                    "2s",
                    "<<teql-probe-timeout>><<=>>\"2s\" is not valid: expected a time in milliseconds from 50 to 5000",
                )],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a probe key without a master",
                units: vec![unit("eth3", &[(ProbeDown, "3")])],
                problems: vec![inconsistent("eth3", &["<<teql-probe-down 3>> is set but <<teql-master>> is not"])],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a probe key on a master",
                units: vec![unit("teql0", &[(Probe, "198.51.100.10")])],
                problems: vec![inconsistent("teql0", &["<<teql-probe 198.51.100.10>> is set on the master teql0"])],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a routing key on a line",
                units: vec![unit("tl1", &[(Master, "teql1"), (PeerNat, "yes")]), unit("teql1", &[])],
                problems: vec![inconsistent(
                    "tl1",
                    &["<<teql-peer-nat yes>> is set on tl1, which is not a bundle: it belongs in the \
                       <<bundle-place>>; move it there"],
                )],
                members: &[],
                masters: &["teql1"],
            },
            // Issue 11, point 3: what a message quotes from a file is escaped and cut.
            Case {
                what: "control and bidi characters in a value",
                units: vec![unit("eth2", &[(Master, "teql0\x1b[2J\u{202e}0")])],
                problems: vec![invalid(
                    "eth2",
                    Master,
                    "teql0\x1b[2J\u{202e}0",
                    "<<teql-master>><<=>>\"teql0\\e[2J\\u{202E}0\" is not valid: expected a teql master name teql0..teql63",
                )],
                members: &[],
                masters: &[],
            },
            Case {
                what: "a long value",
                units: vec![unit("eth2", &[(Master, "teql0"), (RpFilter, &long)])],
                // Cut after 64 characters, the control character at its end with the rest.
                problems: vec![invalid("eth2", RpFilter, &long, "…(+2937 chars)\" is not valid")],
                members: &[],
                masters: &[],
            },
        ];
        // Issue 11, point 6: master numbers are capped at MAX_MASTERS.
        for name in ["teql64", "teql99999999", "teql4294967295", "teql18446744073709551616"] {
            cases.push(Case {
                what: "a master past the cap",
                units: vec![unit("eth2", &[(Master, name)])],
                problems: vec![invalid("eth2", Master, name, "expected a teql master name teql0..teql63")],
                members: &[],
                masters: &[],
            });
        }
        cases
    }

    /// A box without the format's files (or without the root itself) has nothing configured,
    /// and no problem either.
    #[test]
    fn no_files_is_an_empty_configuration() {
        for reader in &READERS {
            let dir = tempfile::tempdir().unwrap();
            let c = (reader.load)(dir.path());
            assert!(c.masters.is_empty() && c.members.is_empty() && c.files.is_empty() && c.problems.is_empty());
            let c = (reader.load)(&dir.path().join("nowhere"));
            assert!(c.problems.is_empty(), "{:?}", reader.fmt.spelling);
        }
    }

    #[test]
    fn line_keys_read_the_same_in_both_formats() {
        for case in line_key_cases() {
            for reader in &READERS {
                check(reader, &case);
            }
        }
    }
}
