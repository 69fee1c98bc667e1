//! The one validation core of both readers (issue 16, point 12).
//!
//! network-scripts' ifcfg files and Debian's /etc/network/interfaces spell teqlctl's keys
//! differently (TEQL_WEIGHT=2, `teql-weight 2`), but what a key means, where it may be set and
//! which values it takes is the same. Both readers used to repeat those checks with their own
//! spellings, and a fix made in one was easily missed in the other. Here every key is one entry
//! of `KEYS`; a reader only finds the raw values (`Values`) and says how its format writes a key
//! and names its files (`Format`), and the checks below turn them into the same settings and the
//! same problems, worded in the reader's own spelling.

use super::{
    parse_master_name, quoted, read_line_path, read_mode, read_probe, read_routing, shown, BadValue, BundleRouting,
    LinePath, Mode, Probe, RpFilter, EXPECT_MASTER_OR_BUNDLE, EXPECT_RP_FILTER,
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
    pub scope: Scope,
}

const fn def(key: Key, ifcfg: &'static str, interfaces: &'static str, scope: Scope) -> KeyDef {
    KeyDef { key, ifcfg, interfaces, scope }
}

/// Every key teqlctl reads; any other TEQL_ key or teql option is most likely a typo that would
/// silently leave a line out of its bundle. A new key is one line here, plus its parsing in the
/// reader of its scope (`read_probe`, `read_line_path`, `read_mode`, `read_routing`).
pub(crate) const KEYS: [KeyDef; 19] = [
    def(Key::Master, "TEQL_MASTER", "teql-master", Scope::Line),
    def(Key::RpFilter, "TEQL_RP_FILTER", "teql-rp-filter", Scope::Line),
    def(Key::Probe, "TEQL_PROBE", "teql-probe", Scope::Probe),
    def(Key::ProbeVia, "TEQL_PROBE_VIA", "teql-probe-via", Scope::Probe),
    def(Key::ProbeTimeout, "TEQL_PROBE_TIMEOUT", "teql-probe-timeout", Scope::Probe),
    def(Key::ProbeDown, "TEQL_PROBE_DOWN", "teql-probe-down", Scope::Probe),
    def(Key::ProbeUp, "TEQL_PROBE_UP", "teql-probe-up", Scope::Probe),
    def(Key::Mode, "TEQL_MODE", "teql-mode", Scope::Mode),
    def(Key::Hash, "TEQL_HASH", "teql-hash", Scope::Mode),
    def(Key::Defroute, "TEQL_DEFROUTE", "teql-defroute", Scope::Mode),
    def(Key::Weight, "TEQL_WEIGHT", "teql-weight", Scope::Path),
    def(Key::Gateway, "TEQL_GATEWAY", "teql-gateway", Scope::Path),
    def(Key::Table, "TEQL_TABLE", "teql-table", Scope::Path),
    def(Key::Nat, "TEQL_NAT", "teql-nat", Scope::Routing),
    def(Key::Prefer, "TEQL_PREFER", "teql-prefer", Scope::Connection),
    def(Key::PreferDst, "TEQL_PREFER_DST", "teql-prefer-dst", Scope::Connection),
    def(Key::Route, "TEQL_ROUTE", "teql-route", Scope::Routing),
    def(Key::PeerRoute, "TEQL_PEER_ROUTE", "teql-peer-route", Scope::Routing),
    def(Key::PeerNat, "TEQL_PEER_NAT", "teql-peer-nat", Scope::Routing),
];

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
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Values<'a> {
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

/// Which reader a message speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    Ifcfg,
    Interfaces,
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
) -> (Result<Option<String>, ()>, Result<Option<RpFilter>, ()>) {
    let master = p.field(fmt.name(Key::Master), v.get(Key::Master), parse_master_name, EXPECT_MASTER_OR_BUNDLE);
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

/// A bundle's mode and, for a TEQL bundle, its routing; None when a value is bad or a key does
/// not fit the mode (recorded).
pub(crate) fn read_bundle(
    p: &mut impl Problems,
    fmt: &Format,
    v: &Values,
    device: &str,
) -> Option<(Mode, BundleRouting)> {
    let teql_mode = super::is_teql_mode(v.get(Key::Mode));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_order_of_the_keys() {
        for (i, d) in KEYS.iter().enumerate() {
            assert_eq!(d.key as usize, i, "{}", d.ifcfg);
        }
    }
}
