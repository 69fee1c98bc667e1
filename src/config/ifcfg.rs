//! RedHat network-scripts configuration: /etc/sysconfig/network and
//! /etc/sysconfig/network-scripts/ifcfg-*.
//!
//! Members are ordinary line files with our own key TEQL_MASTER (not MASTER=, which would
//! hand the line to the bonding driver); masters are ifcfg-teqlN files with the usual
//! IPADDR/PREFIX/GATEWAY keys. Only files that concern teql are read strictly: hooks run on
//! every interface at boot, and a typo in someone else's file must never stop them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::keys::{self, Format, Key, Problems, Spelling, KEYS};
use super::shell::{self, ShellVars};
use super::{
    finish, master_index, parse_decimal, parse_ipv4, parse_mtu, parse_netmask, parse_prefix_len, quoted,
    read_config_file, shown, Config, ConfigError, IfName, Ipv4Prefix, LinePath, Master, Member, ReadProblem, RpFilter,
    Values, EXPECT_IPV4, EXPECT_METRIC, EXPECT_MTU, EXPECT_YES_NO, MAX_FILE_BYTES,
};
use super::{
    parse_outer_addr, parse_tunnel_key, TunnelConf, TunnelKind, TunnelOrigin, EXPECT_OUTER_ADDR, EXPECT_TUNNEL_KEY,
};

/// The names network-scripts itself ignores (`is_ignored_file` in init.d/functions).
const IGNORED_SUFFIXES: [&str; 7] = ["~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave"];

/// How messages spell the keys of ifcfg files, and network-scripts' booleans.
pub(crate) const FORMAT: Format = Format {
    spelling: Spelling::Ifcfg,
    assign: "=",
    keys: "keys",
    places: "files",
    bundle_place: "file of the teqlN bundle (ifcfg-teqlN)",
    multipath: "TEQL_MODE=multipath",
    device_keys: &["IPADDR", "PREFIX", "NETMASK", "GATEWAY", "MTU"],
    line_gateway: "each line keeps its own address and gateway (TEQL_GATEWAY in the line's file)",
    bundle_file: |name| format!("ifcfg-{name} with DEVICETYPE=teql and TEQL_MODE=multipath"),
    yes_no: parse_bool,
};

/// The values of teqlctl's keys in a file (an empty one is unset, as network-scripts has it).
fn values(vars: &ShellVars) -> Values<'_> {
    Values::from_lookup(|k| vars.get(k))
}

/// A bundle's own file: teqlN, or any file that says it is one (TEQL_MODE, or network-scripts'
/// DEVICETYPE=teql that makes `ifup NAME` run ifup-teql).
fn is_bundle_file(device: &str, vars: &ShellVars) -> bool {
    master_index(device).is_some()
        || vars.get(Key::Mode.def().ifcfg).is_some_and(|v| !v.is_empty())
        || vars.get("DEVICETYPE").is_some_and(|v| v.eq_ignore_ascii_case("teql"))
}

/// The directory network-scripts runs hooks in, below root.
pub(crate) fn scripts_dir(root: &Path) -> PathBuf {
    root.join("etc/sysconfig/network-scripts")
}

fn network_file(root: &Path) -> PathBuf {
    root.join("etc/sysconfig/network")
}

/// Reads ROOT/etc/sysconfig/network (optional) and ROOT/etc/sysconfig/network-scripts/ifcfg-*.
/// Never fails: every error lands in `Config.problems`.
pub fn load(root: &Path) -> Config {
    let mut config = Config::default();
    let dir = scripts_dir(root);
    let Ok(entries) = fs::read_dir(&dir) else {
        return config;
    };
    let (related, unrelated) = read_all(&dir, entries);
    let defaults = Defaults::read(&network_file(root));
    let has_teql_files = !related.is_empty();
    let mut claimed: BTreeMap<String, PathBuf> = BTreeMap::new();
    // Masters that have a file of their own, valid or not: a broken one must not be replaced
    // by a bare master as if it did not exist.
    let mut master_files: BTreeSet<String> = BTreeSet::new();
    for file in related {
        add_file(&mut config, file, &defaults, &unrelated, &mut claimed, &mut master_files);
    }

    // A syntax error in /etc/sysconfig/network only matters to the masters that take defaults
    // from it (reported above under their names). A file that cannot be read at all (a FIFO,
    // a directory, a file of gigabytes) is a broken system file whatever it holds: report it
    // once when teql is configured here, even if no master reported it.
    if let Defaults::Broken(b @ BrokenDefaults { kind: BrokenKind::Io(_), .. }) = &defaults {
        if has_teql_files
            && !config.problems.iter().any(|p| matches!(p, ConfigError::Io { path, .. } if path == &b.path))
        {
            config.problems.push(b.error_for_none());
        }
    }

    finish(&mut config, root, &FORMAT, &master_files);
    config
}

/// Reads every ifcfg file of `dir` (sorted, so that "the second file" of a duplicate is the
/// same on every run): the ones that concern teql, and the devices the others configure (to
/// catch a line that network-scripts would also bring up from another file).
fn read_all(dir: &Path, entries: fs::ReadDir) -> (Vec<RelatedFile>, BTreeMap<String, String>) {
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_config_name(n))
        .collect();
    names.sort();

    let mut related = Vec::new();
    let mut unrelated: BTreeMap<String, String> = BTreeMap::new();
    for name in names {
        match read_ifcfg(dir, name) {
            Read::Skip => {}
            Read::Unrelated { name, device } => {
                unrelated.entry(device).or_insert(name);
            }
            Read::Related(file) => related.push(file),
        }
    }
    (related, unrelated)
}

/// Adds one file that concerns teql: its line or master, or its problems. `claimed`: the
/// devices configured so far, with their file; `master_files`: masters that have a file.
fn add_file(
    config: &mut Config,
    file: RelatedFile,
    defaults: &Defaults,
    unrelated: &BTreeMap<String, String>,
    claimed: &mut BTreeMap<String, PathBuf>,
    master_files: &mut BTreeSet<String>,
) {
    let device = file.device.clone();
    if !device.is_empty() {
        config.files.insert(file.name.clone(), device.clone());
        if let Some(first) = claimed.get(&device) {
            config.problems.push(ConfigError::Inconsistent {
                path: file.path.clone(),
                msg: format!(
                    "{} also configures {}, which {} already configures; \
                     network-scripts would use only one of them: remove or merge one",
                    shown(&file.name),
                    shown(&device),
                    first.display()
                ),
                device: Some(device.clone()),
            });
            return;
        }
        claimed.insert(device.clone(), file.path.clone());
    }
    if master_index(&device).is_some() {
        master_files.insert(device.clone());
    }
    let mut ctx =
        Ctx { path: &file.path, device: Some(device.as_str()).filter(|d| !d.is_empty()), problems: Vec::new() };
    let vars = match file.content {
        Content::Unreadable(reason) => {
            ctx.problems.push(ConfigError::Io { path: file.path.clone(), reason, device: ctx.device() });
            config.problems.append(&mut ctx.problems);
            return;
        }
        Content::Broken(e) => {
            ctx.problems.push(ConfigError::Syntax {
                path: file.path.clone(),
                line: e.line,
                col: e.col,
                key: e.key,
                msg: e.msg,
                device: ctx.device(),
            });
            config.problems.append(&mut ctx.problems);
            return;
        }
        Content::Parsed(vars) => vars,
    };
    let entry = if is_bundle_file(&device, &vars) {
        master_files.insert(device.clone());
        build_master(&mut ctx, &vars, &device, defaults).map(Entry::Master)
    } else {
        build_member(&mut ctx, &vars, &device, unrelated).map(Entry::Member)
    };
    if ctx.problems.is_empty() {
        match entry {
            Some(Entry::Master(m)) => {
                config.masters.insert(m.device.clone(), m);
            }
            Some(Entry::Member(m)) => {
                config.members.insert(device, m);
            }
            None => {}
        }
    } else {
        config.problems.append(&mut ctx.problems);
    }
}

fn is_config_name(name: &str) -> bool {
    name.starts_with("ifcfg-")
        && name != "ifcfg-lo"
        && !name.contains(':')
        && !name.contains("-range")
        && !IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

enum Read {
    Skip,
    Unrelated { name: String, device: String },
    Related(RelatedFile),
}

struct RelatedFile {
    name: String,
    path: PathBuf,
    device: String,
    content: Content,
}

enum Content {
    Unreadable(String),
    Broken(shell::ShellError),
    Parsed(ShellVars),
}

enum Entry {
    Master(Master),
    Member(Member),
}

fn read_ifcfg(dir: &Path, name: String) -> Read {
    let path = dir.join(&name);
    let name_device = name.strip_prefix("ifcfg-").unwrap_or_default().to_string();
    let text = match read_config_file(&path, MAX_FILE_BYTES) {
        // Lossy: a Latin-1 comment must not make a file unreadable; a mangled character in
        // a value still fails validation of that value.
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // A directory is nobody's config (network-scripts' own `source` of it fails at once).
        Err(ReadProblem::NotRegular { kind: "a directory" }) => return Read::Skip,
        // Without the text nothing says whether the file concerns teql. network-scripts would
        // try to use it, so it may well be a line of a bundle: a problem, filed under the
        // device its name gives (a FIFO, a device node and a dangling symlink alike).
        Err(e) => {
            return Read::Related(RelatedFile {
                name,
                path,
                device: name_device,
                content: Content::Unreadable(e.to_string()),
            });
        }
    };
    // A raw scan, not the parsed keys: a file that does not parse may still be a line of a
    // bundle (an unterminated quote in TEQL_MASTER), and must then be a problem.
    let mentions_teql = text.contains("TEQL_");
    match shell::parse(&text) {
        Ok(vars) => {
            let device = match vars.get("DEVICE") {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => name_device,
            };
            if mentions_teql || is_bundle_file(&device, &vars) {
                Read::Related(RelatedFile { name, path, device, content: Content::Parsed(vars) })
            } else {
                Read::Unrelated { name, device }
            }
        }
        Err(e) => {
            let device = lenient_device(&text).unwrap_or(name_device);
            if mentions_teql || master_index(&device).is_some() {
                Read::Related(RelatedFile { name, path, device, content: Content::Broken(e) })
            } else {
                Read::Skip
            }
        }
    }
}

/// DEVICE= of a file that does not parse as a whole, so that its error is filed under the
/// device network-scripts would configure from it.
fn lenient_device(text: &str) -> Option<String> {
    text.split('\n').rev().find_map(|line| {
        let vars = shell::parse(line).ok()?;
        vars.get("DEVICE").filter(|d| !d.is_empty()).map(str::to_string)
    })
}

/// Collects the problems of one file.
struct Ctx<'a> {
    path: &'a Path,
    device: Option<&'a str>,
    problems: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn device(&self) -> Option<String> {
        self.device.map(str::to_string)
    }

    /// An invalid value found in `path` (the file itself, or /etc/sysconfig/network whose
    /// defaults it takes).
    fn invalid_in(&mut self, path: &Path, key: &str, value: &str, expected: &str) {
        self.problems.push(ConfigError::invalid(path, key, value, expected, self.device()));
    }

    /// Variable KEY of the file: Ok(None) when it is unset or empty (network-scripts treats
    /// both alike); Err(()) when the value is invalid, which is already recorded.
    fn var<T>(
        &mut self,
        vars: &ShellVars,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, ()> {
        let path = self.path;
        self.field_from(path, vars.get(key), key, parse, expected)
    }

    fn field_from<T>(
        &mut self,
        path: &Path,
        value: Option<&str>,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, ()> {
        match value {
            None | Some("") => Ok(None),
            Some(v) => match parse(v) {
                Some(t) => Ok(Some(t)),
                None => {
                    self.invalid_in(path, key, v, expected);
                    Err(())
                }
            },
        }
    }
}

impl Problems for Ctx<'_> {
    fn invalid(&mut self, key: &str, value: &str, expected: &str) {
        let path = self.path;
        self.invalid_in(path, key, value, expected);
    }

    fn inconsistent(&mut self, msg: String) {
        self.problems.push(ConfigError::Inconsistent { path: self.path.to_path_buf(), msg, device: self.device() });
    }
}

fn check_teql_keys(ctx: &mut Ctx, vars: &ShellVars) {
    let known: Vec<&str> = KEYS.iter().map(|d| d.ifcfg).collect();
    let unknown: Vec<String> =
        vars.keys().filter(|k| k.starts_with("TEQL_") && !known.contains(k)).map(str::to_string).collect();
    for key in unknown {
        ctx.inconsistent(format!(
            "unknown key {}={}: {}",
            shown(&key),
            quoted(vars.get(&key).unwrap_or_default()),
            super::unknown_key_hint(&key, &known)
        ));
    }
}

fn build_member(ctx: &mut Ctx, vars: &ShellVars, device: &str, unrelated: &BTreeMap<String, String>) -> Option<Member> {
    check_teql_keys(ctx, vars);
    let values = values(vars);
    let (master, rp_filter) = keys::read_line_tie(ctx, &FORMAT, &values);
    keys::routing_keys_on_line(ctx, &FORMAT, &values, device);
    let Some(master) = master.ok()? else {
        // A file may mention TEQL_ in a comment only; it is then simply not a member.
        keys::line_keys_without_master(ctx, &FORMAT, &values, &rp_filter);
        return None;
    };
    let probe = keys::line_probe(ctx, &FORMAT, &values);
    let onboot = ctx.var(vars, "ONBOOT", parse_bool, EXPECT_YES_NO);
    // GATEWAY= is network-scripts' own key: a multipath line uses it unless TEQL_GATEWAY is
    // set; a bad one is network-scripts' business (ifup-eth refuses it) until then.
    let path = keys::line_path(ctx, &FORMAT, &values).map(|p| LinePath {
        plain_gateway: vars.get("GATEWAY").and_then(|g| g.parse().ok()),
        rp_filter: rp_filter.ok().flatten(),
        ..p
    });
    let name = IfName::new(device);
    if name.is_none() {
        match vars.get("DEVICE") {
            Some(d) if !d.is_empty() => ctx.invalid("DEVICE", d, &crate::names::why_refused(d)),
            _ => ctx.inconsistent(format!(
                "the file name gives the device name {}, which is not {}: add DEVICE= with the line's \
                 interface name",
                quoted(device),
                crate::names::refusal(device)
            )),
        }
    }
    if let Some(bond) = vars.get("MASTER").filter(|v| !v.is_empty()) {
        ctx.inconsistent(format!(
            "MASTER={} and TEQL_MASTER={} are both set: MASTER= makes \
             network-scripts enslave {} to a bond and skip the teql hooks; remove MASTER=",
            quoted(bond),
            quoted(&master),
            shown(device)
        ));
    }
    if let Some(other) = unrelated.get(device) {
        ctx.inconsistent(format!(
            "{} is also configured by {} (which has no TEQL_MASTER); network-scripts \
             would bring up both files: remove or merge one",
            shown(device),
            shown(other)
        ));
    }
    let tunnel = read_tunnel(ctx, vars);
    Some(Member {
        device: name?,
        master,
        rp_filter: rp_filter.ok()?.unwrap_or(RpFilter::Loose),
        onboot: onboot.ok()?.unwrap_or(true),
        probe: probe?,
        path: path?,
        tunnel: tunnel.ok()?,
        source: ctx.path.to_path_buf(),
        spelling: Spelling::Ifcfg,
    })
}

/// The tunnel a line's file makes, as network-scripts' ifup-tunnel reads it: TYPE=GRE or
/// TYPE=IPIP (its `case` matches these spellings only), MY_OUTER_IPADDR, PEER_OUTER_IPADDR and
/// KEY, passed to `ip tunnel add` as local, remote and key. Ok(None) for any other type;
/// Err(()) when a value is bad (recorded).
fn read_tunnel(ctx: &mut Ctx, vars: &ShellVars) -> Result<Option<TunnelConf>, ()> {
    let Some(t) = vars.get("TYPE").filter(|v| !v.is_empty()) else { return Ok(None) };
    let kind = match TunnelKind::from_ifcfg_type(t) {
        Some(k) => k,
        None => {
            if let Some(k) = TunnelKind::from_ifcfg_type(&t.to_ascii_uppercase()) {
                ctx.invalid(
                    "TYPE",
                    t,
                    &format!("{} in upper case: network-scripts makes a tunnel for no other spelling", k.ifcfg_type()),
                );
                return Err(());
            }
            return Ok(None);
        }
    };
    let local = ctx.var(vars, "MY_OUTER_IPADDR", parse_outer_addr, EXPECT_OUTER_ADDR);
    let remote = ctx.var(vars, "PEER_OUTER_IPADDR", parse_outer_addr, EXPECT_OUTER_ADDR);
    let key = ctx.var(vars, "KEY", parse_tunnel_key, EXPECT_TUNNEL_KEY);
    let (local, remote, key) = (local?, remote?, key?);
    if let (TunnelKind::Ipip, Some(_)) = (kind, key) {
        ctx.inconsistent(format!(
            "KEY={} is set on an IPIP tunnel: only GRE tunnels have keys (ip tunnel add refuses it); \
             remove KEY or make it TYPE=GRE",
            quoted(vars.get("KEY").unwrap_or_default())
        ));
        return Err(());
    }
    Ok(Some(TunnelConf {
        kind,
        local: local.flatten(),
        remote: remote.flatten(),
        ikey: key,
        okey: key,
        origin: TunnelOrigin::Ifcfg,
    }))
}

fn build_master(ctx: &mut Ctx, vars: &ShellVars, device: &str, defaults: &Defaults) -> Option<Master> {
    check_teql_keys(ctx, vars);
    let bundle = keys::bundle_name(ctx, device);
    let values = values(vars);
    keys::line_keys_on_bundle(ctx, &FORMAT, &values, device);
    let (mode, routing) = keys::read_bundle(ctx, &FORMAT, &values, device)?;
    let get = |k: &str| vars.get(k).filter(|v| !v.is_empty());
    if mode.paths().is_some() {
        // The bundle is no device: network-scripts' own keys for one would do nothing.
        if keys::device_keys_on_multipath(ctx, &FORMAT, device, |k| get(k).is_some()) {
            return None;
        }
        let onboot = ctx.var(vars, "ONBOOT", parse_bool, EXPECT_YES_NO);
        let metric = ctx.var(vars, "METRIC", parse_decimal, EXPECT_METRIC);
        let (onboot, metric) = (onboot.ok()?.unwrap_or(true), metric.ok()?.unwrap_or(0));
        return Some(Master::multipath(bundle?, mode, onboot, metric, ctx.path.to_path_buf()));
    }
    let onboot = ctx.var(vars, "ONBOOT", parse_bool, EXPECT_YES_NO);
    let mtu = ctx.var(vars, "MTU", parse_mtu, EXPECT_MTU);
    // network-scripts' ifup-eth passes METRIC to `ip route replace default ... metric`.
    let metric = ctx.var(vars, "METRIC", parse_decimal, EXPECT_METRIC);
    let addr = ctx.var(vars, "IPADDR", parse_ipv4, EXPECT_IPV4);
    let prefix = ctx.var(vars, "PREFIX", parse_prefix_len, "a prefix length from 0 to 32");
    // network-scripts derives NETMASK from PREFIX when both are set, so NETMASK is only read
    // without PREFIX.
    let prefix = match prefix {
        Ok(None) => ctx.var(vars, "NETMASK", parse_netmask, "a contiguous dotted netmask such as 255.255.255.252"),
        other => other,
    };
    let address = match (addr, prefix) {
        (Ok(Some(addr)), Ok(Some(prefix_len))) => Some(Ipv4Prefix { addr, prefix_len }),
        (Ok(Some(addr)), Ok(None)) => {
            ctx.inconsistent(format!(
                "IPADDR={addr} has no PREFIX= or NETMASK=: add PREFIX= with the prefix length \
                 (for example PREFIX=28)"
            ));
            None
        }
        _ => None,
    };

    let route = resolve_default_route(ctx, vars, device, defaults, address);
    Some(Master {
        device: bundle?,
        address,
        gateway: route.0,
        default_route: route.1,
        mtu: mtu.ok()?,
        metric: metric.ok()?.unwrap_or(0),
        onboot: onboot.ok()?.unwrap_or(true),
        mode,
        routing,
        source: Some(ctx.path.to_path_buf()),
    })
}

/// GATEWAY, GATEWAYDEV and DEFROUTE come from the master's file, else from
/// /etc/sysconfig/network (the file is sourced first, so any assignment in the master's
/// file, even an empty one, overrides it).
fn resolve_default_route(
    ctx: &mut Ctx,
    vars: &ShellVars,
    device: &str,
    defaults: &Defaults,
    address: Option<Ipv4Prefix>,
) -> (Option<Ipv4Addr>, bool) {
    let keys = ["GATEWAY", "GATEWAYDEV", "DEFROUTE"];
    let net_vars = match defaults {
        Defaults::Absent => None,
        Defaults::Parsed(v) => Some(v),
        Defaults::Broken(b) => {
            if keys.iter().any(|k| vars.get(k).is_none()) {
                ctx.problems.push(b.error_for(device));
            }
            None
        }
    };
    let lookup = |key: &str| -> (Option<String>, Option<PathBuf>) {
        match vars.get(key) {
            Some(v) => (Some(v.to_string()), None),
            None => match (net_vars, defaults.path()) {
                (Some(n), Some(p)) => (n.get(key).map(str::to_string), Some(p.to_path_buf())),
                _ => (None, None),
            },
        }
    };

    let (gw_value, gw_inherited_from) = lookup("GATEWAY");
    let gw_path = gw_inherited_from.clone().unwrap_or_else(|| ctx.path.to_path_buf());
    let gateway = ctx.field_from(&gw_path, gw_value.as_deref(), "GATEWAY", parse_ipv4, EXPECT_IPV4);
    let (dr_value, dr_from) = lookup("DEFROUTE");
    let dr_path = dr_from.unwrap_or_else(|| ctx.path.to_path_buf());
    let defroute = ctx.field_from(&dr_path, dr_value.as_deref(), "DEFROUTE", parse_bool, EXPECT_YES_NO);
    let (gatewaydev, _) = lookup("GATEWAYDEV");
    let gatewaydev = gatewaydev.filter(|d| !d.is_empty());

    let Ok(Some(gw)) = gateway else {
        return (None, false);
    };
    // The global GATEWAY in /etc/sysconfig/network normally belongs to another interface;
    // network-scripts only installs it on an interface whose subnet contains it (or that
    // GATEWAYDEV names). Taking it onlink on teqlN regardless would steal the default route.
    if gw_inherited_from.is_some()
        && gatewaydev.as_deref() != Some(device)
        && !address.is_some_and(|a| in_subnet(gw, a))
    {
        return (None, false);
    }
    let default_route = defroute != Ok(Some(false)) && gatewaydev.as_deref().is_none_or(|d| d == device);
    (Some(gw), default_route)
}

/// /etc/sysconfig/network, read once for all masters.
enum Defaults {
    Absent,
    Parsed(ParsedDefaults),
    Broken(BrokenDefaults),
}

struct ParsedDefaults {
    path: PathBuf,
    vars: ShellVars,
}

impl ParsedDefaults {
    fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key)
    }
}

struct BrokenDefaults {
    path: PathBuf,
    kind: BrokenKind,
}

enum BrokenKind {
    Io(String),
    Syntax(shell::ShellError),
}

impl BrokenDefaults {
    /// The file on its own, when no master depends on it but it cannot be read at all.
    fn error_for_none(&self) -> ConfigError {
        let reason = match &self.kind {
            BrokenKind::Io(r) => r.clone(),
            BrokenKind::Syntax(e) => e.to_string(),
        };
        ConfigError::Io {
            path: self.path.clone(),
            reason: format!("{reason} (network-scripts reads this file before every ifcfg file)"),
            device: None,
        }
    }

    /// The file is not about any one master, so each master that depends on it gets the
    /// error under its own name: hooks refuse exactly the bundles whose route is unknown.
    fn error_for(&self, master: &str) -> ConfigError {
        let why = format!("{master} takes its GATEWAY, GATEWAYDEV and DEFROUTE defaults from this file");
        match &self.kind {
            BrokenKind::Io(reason) => ConfigError::Io {
                path: self.path.clone(),
                reason: format!("{reason} ({why})"),
                device: Some(master.to_string()),
            },
            BrokenKind::Syntax(e) => ConfigError::Syntax {
                path: self.path.clone(),
                line: e.line,
                col: e.col,
                key: e.key.clone(),
                msg: format!("{} ({why})", e.msg),
                device: Some(master.to_string()),
            },
        }
    }
}

impl Defaults {
    fn read(path: &Path) -> Defaults {
        let broken = |kind| Defaults::Broken(BrokenDefaults { path: path.to_path_buf(), kind });
        // Never a plain fs::read: a FIFO here would block every hook at boot.
        match read_config_file(path, MAX_FILE_BYTES) {
            Ok(bytes) => match shell::parse(&String::from_utf8_lossy(&bytes)) {
                Ok(vars) => Defaults::Parsed(ParsedDefaults { path: path.to_path_buf(), vars }),
                Err(e) => broken(BrokenKind::Syntax(e)),
            },
            Err(ReadProblem::NotFound) => Defaults::Absent,
            Err(e) => broken(BrokenKind::Io(e.to_string())),
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Defaults::Absent => None,
            Defaults::Parsed(p) => Some(&p.path),
            Defaults::Broken(b) => Some(&b.path),
        }
    }
}

/// network-scripts' is_true / is_false (init.d/functions), which also accept t/f and on/off.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" | "on" | "1" => Some(true),
        "no" | "false" | "n" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn in_subnet(gw: Ipv4Addr, net: Ipv4Prefix) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(net.prefix_len)).unwrap_or(0);
    u32::from(gw) & mask == u32::from(net.addr) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    struct Root {
        dir: TempDir,
    }

    impl Root {
        fn new() -> Root {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(scripts_dir(dir.path())).unwrap();
            Root { dir }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn ifcfg(&self, name: &str, text: &str) -> &Root {
            fs::write(scripts_dir(self.path()).join(name), text).unwrap();
            self
        }

        fn network(&self, text: &str) -> &Root {
            fs::write(network_file(self.path()), text).unwrap();
            self
        }

        fn file(&self, name: &str) -> PathBuf {
            scripts_dir(self.path()).join(name)
        }

        fn load(&self) -> Config {
            load(self.path())
        }
    }

    /// The example from the issue: four lines into teql0, which holds the public address.
    fn issue_example() -> Root {
        let root = Root::new();
        for n in 2..=5 {
            root.ifcfg(
                &format!("ifcfg-eth{n}"),
                &format!(
                    "DEVICE=eth{n}\nBOOTPROTO=none\nONBOOT=yes\nIPADDR=198.18.{n}.1\n\
                     NETMASK=255.255.255.252\nTEQL_MASTER=teql0\n"
                ),
            );
        }
        root.ifcfg("ifcfg-teql0", "DEVICE=teql0\nONBOOT=yes\nIPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\n");
        root
    }

    fn only_problem(c: &Config) -> &ConfigError {
        assert_eq!(c.problems.len(), 1, "{:#?}", c.problems);
        &c.problems[0]
    }

    fn teql0(c: &Config) -> &Master {
        c.masters.get("teql0").unwrap_or_else(|| panic!("no teql0: {c:#?}"))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn probe_keys_of_a_line() {
        let root = issue_example();
        root.ifcfg(
            "ifcfg-eth3",
            "DEVICE=eth3\nIPADDR=198.18.3.1\nPREFIX=30\nTEQL_MASTER=teql0\n\
             TEQL_PROBE=\"198.51.100.10, 192.0.2.1\"\nTEQL_PROBE_VIA=198.18.3.2\n\
             TEQL_PROBE_TIMEOUT=300\nTEQL_PROBE_DOWN=4\nTEQL_PROBE_UP=5\n",
        );
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let p = &c.members["eth3"].probe;
        assert_eq!(p.targets, [ip("198.51.100.10"), ip("192.0.2.1")]);
        assert_eq!((p.via, p.timeout_ms, p.down, p.up), (Some(ip("198.18.3.2")), 300, 4, 5));
        assert_eq!(c.members["eth2"].probe, crate::config::Probe::default());
    }

    #[test]
    fn misspelled_probe_key() {
        let root = issue_example();
        root.ifcfg("ifcfg-eth3", "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_PROBES=198.51.100.10\n");
        let e = only_problem(&root.load()).to_string();
        assert!(e.contains("unknown key TEQL_PROBES") && e.contains("did you mean TEQL_PROBE?"), "{e}");
    }

    #[test]
    fn issue_example_loads() {
        let root = issue_example();
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(c.members.keys().collect::<Vec<_>>(), ["eth2", "eth3", "eth4", "eth5"]);
        let eth3 = &c.members["eth3"];
        assert_eq!(
            eth3,
            &Member {
                device: "eth3".into(),
                master: "teql0".into(),
                rp_filter: RpFilter::Loose,
                onboot: true,
                probe: Default::default(),
                source: root.file("ifcfg-eth3"),
                spelling: Spelling::Ifcfg,
                path: Default::default(),
                tunnel: None,
            }
        );
        assert_eq!(
            teql0(&c),
            &Master {
                device: "teql0".into(),
                address: Some(Ipv4Prefix { addr: ip("203.0.113.2"), prefix_len: 28 }),
                gateway: Some(ip("203.0.113.1")),
                default_route: true,
                mtu: None,
                metric: 0,
                onboot: true,
                source: Some(root.file("ifcfg-teql0")),
                mode: Default::default(),
                routing: Default::default(),
            }
        );
        assert_eq!(c.files.len(), 5);
        assert_eq!(c.files["ifcfg-teql0"], "teql0");
        assert_eq!(c.masters_needed(), 1);
    }

    #[test]
    fn device_inside_the_file_wins() {
        let root = Root::new();
        root.ifcfg("ifcfg-uplink", "DEVICE=eth2\nTEQL_MASTER=teql1\nTEQL_RP_FILTER=keep\nONBOOT=no\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let m = &c.members["eth2"];
        assert_eq!((m.master.as_str(), m.rp_filter, m.onboot), ("teql1", RpFilter::Keep, false));
        assert_eq!(m.source, root.file("ifcfg-uplink"));
        assert_eq!(c.files["ifcfg-uplink"], "eth2");
        assert!(!c.members.contains_key("uplink"));
        // Named by a member, without a file of its own.
        assert_eq!(c.masters["teql1"], Master::bare("teql1".into()));
        assert_eq!(c.masters_needed(), 2);
    }

    #[test]
    fn master_found_by_device_key() {
        let root = Root::new();
        root.ifcfg("ifcfg-bundle", "DEVICE=teql0\nIPADDR=192.0.2.9\nNETMASK=255.255.255.0\nMTU=1400\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let m = teql0(&c);
        assert_eq!(m.address, Some(Ipv4Prefix { addr: ip("192.0.2.9"), prefix_len: 24 }));
        assert_eq!(m.mtu, Some(1400));
        assert_eq!((m.gateway, m.default_route), (None, false));
        assert_eq!(c.files["ifcfg-bundle"], "teql0");
    }

    #[test]
    fn prefix_wins_over_netmask() {
        let root = Root::new();
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nNETMASK=255.0.255.0\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(teql0(&c).address.map(|a| a.prefix_len), Some(28));
    }

    #[test]
    fn gatewaydev_teql0_in_network_file() {
        let root = issue_example();
        root.network("NETWORKING=yes\nGATEWAYDEV=teql0\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert!(teql0(&c).default_route);
    }

    #[test]
    fn gatewaydev_eth0_in_network_file() {
        let root = issue_example();
        root.network("NETWORKING=yes\nGATEWAY=192.0.2.1\nGATEWAYDEV=eth0\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let m = teql0(&c);
        assert_eq!(m.gateway, Some(ip("203.0.113.1")));
        assert!(!m.default_route);
    }

    #[test]
    fn master_file_overrides_gatewaydev() {
        let root = issue_example();
        root.network("GATEWAYDEV=eth0\n");
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\nGATEWAYDEV=\n");
        let c = root.load();
        assert!(teql0(&c).default_route);
    }

    #[test]
    fn gateway_inherited_from_network_file() {
        // In the master's subnet, as network-scripts requires of a global GATEWAY.
        let root = Root::new();
        root.network("GATEWAY=203.0.113.1\n");
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\n");
        let m = teql0(&root.load()).clone();
        assert_eq!((m.gateway, m.default_route), (Some(ip("203.0.113.1")), true));

        // Elsewhere: it is another interface's gateway and teql0 must not take it.
        root.network("GATEWAY=192.0.2.1\n");
        let m = teql0(&root.load()).clone();
        assert_eq!((m.gateway, m.default_route), (None, false));

        // Unless GATEWAYDEV hands the default route to teql0: then onlink.
        root.network("GATEWAY=192.0.2.1\nGATEWAYDEV=teql0\n");
        let m = teql0(&root.load()).clone();
        assert_eq!((m.gateway, m.default_route), (Some(ip("192.0.2.1")), true));
    }

    #[test]
    fn own_gateway_outside_the_subnet_is_fine() {
        let root = Root::new();
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=32\nGATEWAY=198.51.100.1\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let m = teql0(&c);
        assert_eq!((m.gateway, m.default_route), (Some(ip("198.51.100.1")), true));
    }

    #[test]
    fn defroute_no() {
        let root = issue_example();
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\nDEFROUTE=no\n");
        let m = teql0(&root.load()).clone();
        assert_eq!((m.gateway, m.default_route), (Some(ip("203.0.113.1")), false));

        // From the network file, and overridden by the master's own DEFROUTE.
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\n");
        root.network("DEFROUTE=NO\n");
        assert!(!teql0(&root.load()).default_route);
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\nDEFROUTE=yes\n");
        assert!(teql0(&root.load()).default_route);
    }

    #[test]
    fn booleans() {
        for (v, b) in [("yes", true), ("True", true), ("Y", true), ("1", true), ("on", true), ("t", true)] {
            assert_eq!(parse_bool(v), Some(b), "{v}");
        }
        for (v, b) in [("no", false), ("FALSE", false), ("n", false), ("0", false), ("Off", false), ("f", false)] {
            assert_eq!(parse_bool(v), Some(b), "{v}");
        }
        for v in ["", "yes ", "2", "nope", "ja"] {
            assert_eq!(parse_bool(v), None, "{v}");
        }
    }

    #[test]
    fn netmasks() {
        assert_eq!(parse_netmask("255.255.255.252"), Some(30));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("0.0.0.0"), Some(0));
        assert_eq!(parse_netmask("255.255.240.0"), Some(20));
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(parse_netmask("0.255.255.255"), None);
        assert_eq!(parse_netmask("24"), None);
    }

    #[test]
    fn subnets() {
        let net = Ipv4Prefix { addr: ip("203.0.113.2"), prefix_len: 28 };
        assert!(in_subnet(ip("203.0.113.1"), net));
        assert!(!in_subnet(ip("203.0.113.17"), net));
        assert!(in_subnet(ip("198.51.100.1"), Ipv4Prefix { addr: ip("203.0.113.2"), prefix_len: 0 }));
        assert!(!in_subnet(ip("203.0.113.3"), Ipv4Prefix { addr: ip("203.0.113.2"), prefix_len: 32 }));
    }

    fn assert_invalid(e: &ConfigError, path: &Path, dev: &str, key: &str, value: &str, expected_part: &str) {
        match e {
            ConfigError::InvalidValue { path: p, key: k, value: v, expected, device, .. } => {
                assert_eq!((p.as_path(), k.as_str(), v.as_str()), (path, key, value));
                assert!(expected.contains(expected_part), "{expected}");
                assert_eq!(device.as_deref(), Some(dev));
            }
            other => panic!("not InvalidValue: {other:?}"),
        }
        let text = e.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains(&format!("{key}={value:?}")), "{text}");
    }

    fn assert_inconsistent(e: &ConfigError, path: &Path, dev: &str, parts: &[&str]) {
        assert!(matches!(e, ConfigError::Inconsistent { .. }), "{e:?}");
        assert_eq!(e.device(), Some(dev));
        let text = e.to_string();
        assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
        for p in parts {
            assert!(text.contains(p), "{text:?} lacks {p:?}");
        }
    }

    #[test]
    fn bad_netmask() {
        let root = issue_example();
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nNETMASK=255.0.255.0\n");
        let c = root.load();
        assert_invalid(only_problem(&c), &root.file("ifcfg-teql0"), "teql0", "NETMASK", "255.0.255.0", "contiguous");
        // The broken master is not replaced by a bare one; its members stay, and the problem
        // reaches them through problems_for.
        assert!(!c.masters.contains_key("teql0"));
        assert_eq!(c.members.len(), 4);
        assert_eq!(c.problems_for("eth2").len(), 1);
        assert_eq!(c.problems_for("teql0").len(), 1);
    }

    #[test]
    fn ipaddr_without_prefix() {
        let root = Root::new();
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nGATEWAY=203.0.113.1\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.file("ifcfg-teql0"), "teql0", &["IPADDR=203.0.113.2", "PREFIX="]);
        assert!(c.masters.is_empty());
    }

    #[test]
    fn invalid_master_values() {
        let root = Root::new();
        let path = root.file("ifcfg-teql0");
        for (text, key, value, expected) in [
            ("MTU=20\n", "MTU", "20", "68 to 65535"),
            ("MTU=65536\n", "MTU", "65536", "68 to 65535"),
            ("MTU=+1500\n", "MTU", "+1500", "68 to 65535"),
            ("IPADDR=203.0.113.256\nPREFIX=28\n", "IPADDR", "203.0.113.256", "IPv4"),
            ("IPADDR=203.0.113.2\nPREFIX=33\n", "PREFIX", "33", "0 to 32"),
            ("GATEWAY=gw.example\n", "GATEWAY", "gw.example", "IPv4"),
            ("DEFROUTE=maybe\n", "DEFROUTE", "maybe", "yes or no"),
            ("ONBOOT=sometimes\n", "ONBOOT", "sometimes", "yes or no"),
        ] {
            root.ifcfg("ifcfg-teql0", text);
            let c = root.load();
            assert_invalid(only_problem(&c), &path, "teql0", key, value, expected);
            assert!(c.masters.is_empty(), "{text}");
        }
        root.ifcfg("ifcfg-teql0", "MTU=68\n");
        assert_eq!(teql0(&root.load()).mtu, Some(68));
        root.ifcfg("ifcfg-teql0", "MTU=65535\nONBOOT=no\n");
        let c = root.load();
        assert_eq!((teql0(&c).mtu, teql0(&c).onboot), (Some(65535), false));
    }

    #[test]
    fn invalid_value_in_network_file_is_filed_under_the_master() {
        let root = Root::new();
        root.network("GATEWAY=192.0.2.300\n");
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\n");
        let c = root.load();
        assert_invalid(only_problem(&c), &network_file(root.path()), "teql0", "GATEWAY", "192.0.2.300", "IPv4");
        // Its own GATEWAY makes the network file's irrelevant.
        root.ifcfg("ifcfg-teql0", "IPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\n");
        assert!(root.load().problems.is_empty());
    }

    #[test]
    fn broken_network_file() {
        let root = issue_example();
        root.network("NETWORKING=yes\nHOSTNAME=$(hostname)\n");
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Syntax { line: 2, col: 10, .. }), "{e:?}");
        assert_eq!(e.device(), Some("teql0"));
        assert!(e.to_string().starts_with(&format!("{}:2:10: ", network_file(root.path()).display())));
        assert!(!c.masters.contains_key("teql0"));

        // Nothing depends on it when the master sets all three keys, or when there are
        // members only.
        root.ifcfg("ifcfg-teql0", "GATEWAY=203.0.113.1\nGATEWAYDEV=\nDEFROUTE=yes\n");
        assert!(root.load().problems.is_empty());
        fs::remove_file(root.file("ifcfg-teql0")).unwrap();
        let c = root.load();
        assert!(c.problems.is_empty());
        assert_eq!(c.masters["teql0"], Master::bare("teql0".into()));
    }

    #[test]
    fn member_values() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "TEQL_MASTER=teql0\nTEQL_RP_FILTER=STRICT\nONBOOT=n\n");
        let c = root.load();
        let m = &c.members["eth2"];
        assert_eq!((m.rp_filter, m.onboot), (RpFilter::Strict, false));
        root.ifcfg("ifcfg-eth2", "TEQL_MASTER=teql0\nONBOOT=later\n");
        assert_invalid(only_problem(&root.load()), &root.file("ifcfg-eth2"), "eth2", "ONBOOT", "later", "yes or no");
    }

    #[test]
    fn stray_teql_keys() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "TEQL_MASTR=teql0\n");
        let c = root.load();
        assert_inconsistent(
            only_problem(&c),
            &root.file("ifcfg-eth2"),
            "eth2",
            &["TEQL_MASTR=\"teql0\"", "TEQL_MASTER"],
        );
        // A mention in a comment makes the file ours to read strictly, not a member.
        root.ifcfg("ifcfg-eth2", "# TEQL_MASTER=teql0 once the line is delivered\nONBOOT=whenever\n");
        let c = root.load();
        assert!(c.problems.is_empty() && c.members.is_empty() && c.masters.is_empty());
        assert_eq!(c.files["ifcfg-eth2"], "eth2");
    }

    #[test]
    fn bonding_master_conflicts() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "MASTER=bond0\nSLAVE=yes\nTEQL_MASTER=teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.file("ifcfg-eth2"), "eth2", &["MASTER=\"bond0\"", "TEQL_MASTER"]);
    }

    #[test]
    fn invalid_device_names() {
        let root = Root::new();
        root.ifcfg("ifcfg-uplink", "DEVICE=\"eth 2\"\nTEQL_MASTER=teql0\n");
        assert_invalid(
            only_problem(&root.load()),
            &root.file("ifcfg-uplink"),
            "eth 2",
            "DEVICE",
            "eth 2",
            "interface name",
        );
        fs::remove_file(root.file("ifcfg-uplink")).unwrap();
        root.ifcfg("ifcfg-a-very-long-line-name", "TEQL_MASTER=teql0\n");
        assert_inconsistent(
            only_problem(&root.load()),
            &root.file("ifcfg-a-very-long-line-name"),
            "a-very-long-line-name",
            &["DEVICE="],
        );
    }

    #[test]
    fn broken_unrelated_file_is_ignored() {
        let root = issue_example();
        root.ifcfg("ifcfg-eth0", "DEVICE=eth0\nNAME=\"System eth0\nIPADDR=$(cat /x)\nsource /etc/foo\n");
        root.ifcfg("ifcfg-eth1", "DEVICE=eth1\r\nONBOOT=yes\r\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(c.members.len(), 4);
        assert!(!c.files.contains_key("ifcfg-eth0"));
    }

    #[test]
    fn broken_related_files_report_syntax() {
        let root = Root::new();
        root.ifcfg("ifcfg-uplink", "DEVICE=eth2\nTEQL_MASTER=teql0\nNAME=\"uplink\n");
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Syntax { line: 3, col: 6, .. }), "{e:?}");
        // Filed under the device the file configures, found despite the error.
        assert_eq!(e.device(), Some("eth2"));
        assert_eq!(c.files["ifcfg-uplink"], "eth2");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}:3:6: NAME: unterminated", root.file("ifcfg-uplink").display())),
            "{text}"
        );
        // A member that is broken names no master, so none is made up.
        assert!(c.members.is_empty() && c.masters.is_empty());

        // A master's file is ours even without any TEQL_ key.
        let root = Root::new();
        root.ifcfg("ifcfg-teql0", "IPADDR=`hostname -i`\n");
        let c = root.load();
        assert!(matches!(only_problem(&c), ConfigError::Syntax { line: 1, col: 8, .. }));
        assert_eq!(c.problems_for("teql0").len(), 1);
    }

    #[test]
    fn backup_and_alias_files_are_skipped() {
        let root = issue_example();
        for name in [
            "ifcfg-teql0~",
            "ifcfg-teql0.bak",
            "ifcfg-teql0.old",
            "ifcfg-teql0.orig",
            "ifcfg-teql0.rpmnew",
            "ifcfg-teql0.rpmorig",
            "ifcfg-teql0.rpmsave",
            "ifcfg-teql0:1",
            "ifcfg-teql0-range0",
            "ifcfg-eth2.bak",
        ] {
            root.ifcfg(name, "TEQL_MASTER=broken\"\n");
        }
        root.ifcfg("ifcfg-lo", "DEVICE=lo\nTEQL_MASTER=teql0\n");
        root.ifcfg("route-teql0", "TEQL_ broken \"\n");
        fs::create_dir(root.file("ifcfg-teql7")).unwrap();
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(c.files.len(), 5);
        assert_eq!(c.members.len(), 4);
        assert_eq!(c.masters.keys().collect::<Vec<_>>(), ["teql0"]);
    }

    #[test]
    fn duplicate_device() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "TEQL_MASTER=teql0\n");
        root.ifcfg("ifcfg-uplink", "DEVICE=eth2\nTEQL_MASTER=teql1\n");
        let c = root.load();
        let first = root.file("ifcfg-eth2");
        let second = root.file("ifcfg-uplink");
        assert_inconsistent(only_problem(&c), &second, "eth2", &[&first.display().to_string(), "ifcfg-uplink"]);
        assert_eq!(c.members["eth2"].master, "teql0");
        assert_eq!(c.files.len(), 2);

        let root = Root::new();
        root.ifcfg("ifcfg-teql0", "MTU=1500\n");
        root.ifcfg("ifcfg-wan", "DEVICE=teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.file("ifcfg-wan"), "teql0", &["ifcfg-teql0"]);
    }

    #[test]
    fn member_device_also_in_an_unrelated_file() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "DEVICE=eth2\nBOOTPROTO=dhcp\n");
        root.ifcfg("ifcfg-uplink", "DEVICE=eth2\nTEQL_MASTER=teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &root.file("ifcfg-uplink"), "eth2", &["ifcfg-eth2"]);
        assert!(c.members.is_empty());
    }

    #[test]
    fn scripts_dir_is_below_root() {
        assert_eq!(scripts_dir(Path::new("/r")), Path::new("/r/etc/sysconfig/network-scripts"));
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_master_file() {
        use std::os::unix::fs::symlink;
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", "TEQL_MASTER=teql0\n");
        // A dangling symlink fails to read even as root, unlike a chmod 000 file.
        symlink("/nonexistent/teql0", root.file("ifcfg-teql0")).unwrap();
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Io { .. }), "{e:?}");
        assert_eq!(e.device(), Some("teql0"));
        assert!(e.to_string().starts_with(&format!("{}: cannot read: ", root.file("ifcfg-teql0").display())));
        assert!(!c.masters.contains_key("teql0"));
        assert_eq!(c.problems_for("eth2").len(), 1);
    }

    /// Issue 11, point 1: an unreadable ifcfg file of any name is a problem, since nothing
    /// says it does not configure a line of a bundle.
    #[test]
    fn unreadable_line_file() {
        use std::os::unix::fs::symlink;
        let root = issue_example();
        symlink("/nonexistent/eth1", root.file("ifcfg-eth1")).unwrap();
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Io { .. }), "{e:?}");
        assert_eq!(e.device(), Some("eth1"));
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot read: no such file (a symbolic link to a missing file?)",
                root.file("ifcfg-eth1").display()
            )
        );
        // The other lines are not affected.
        assert_eq!(c.members.len(), 4);
        assert!(c.problems_for("eth2").is_empty());
    }

    /// Issue 11, point 7: a FIFO is refused at once, with a problem naming it; reading it
    /// would block every hook at boot.
    #[test]
    fn fifo_is_not_read() {
        let root = issue_example();
        nix::unistd::mkfifo(&root.file("ifcfg-teql1"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{:?}", t.elapsed());
        let e = only_problem(&c);
        assert_eq!(e.device(), Some("teql1"));
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot read: not a regular file (a FIFO); teqlctl reads only regular files",
                root.file("ifcfg-teql1").display()
            )
        );
        assert!(!c.masters.contains_key("teql1"));
        assert_eq!(c.members.len(), 4);
    }

    #[test]
    fn fifo_as_network_file() {
        let root = issue_example();
        nix::unistd::mkfifo(&network_file(root.path()), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{:?}", t.elapsed());
        // teql0 takes GATEWAYDEV and DEFROUTE from it: filed under teql0.
        let e = only_problem(&c);
        assert_eq!(e.device(), Some("teql0"));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: cannot read: not a regular file (a FIFO)",
                network_file(root.path()).display()
            )),
            "{text}"
        );

        // With lines only, nothing depends on it, but it is still reported (once).
        fs::remove_file(root.file("ifcfg-teql0")).unwrap();
        let c = root.load();
        let e = only_problem(&c);
        assert_eq!(e.device(), None);
        assert!(e.to_string().contains("not a regular file (a FIFO)"), "{e}");
        assert_eq!(c.members.len(), 4);

        // Without any teql file it concerns nobody here.
        let root = Root::new();
        root.ifcfg("ifcfg-eth0", "DEVICE=eth0\n");
        nix::unistd::mkfifo(&network_file(root.path()), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(root.load().problems.is_empty());
    }

    #[test]
    fn directory_as_ifcfg_is_skipped_but_device_nodes_are_not() {
        let root = issue_example();
        fs::create_dir(root.file("ifcfg-teql7")).unwrap();
        assert!(root.load().problems.is_empty());
        std::os::unix::fs::symlink("/dev/zero", root.file("ifcfg-eth9")).unwrap();
        let e = root.load().problems.pop().unwrap();
        assert!(
            e.to_string().ends_with("not a regular file (a character device); teqlctl reads only regular files"),
            "{e}"
        );
    }

    #[test]
    fn unterminated_quote_in_teql_master() {
        let root = issue_example();
        root.ifcfg("ifcfg-eth6", "DEVICE=eth6\nTEQL_MASTER=\"teql0\n");
        let c = root.load();
        let e = only_problem(&c);
        assert!(matches!(e, ConfigError::Syntax { line: 2, col: 13, .. }), "{e:?}");
        assert_eq!(e.device(), Some("eth6"));
        assert_eq!(
            e.to_string(),
            format!("{}:2:13: TEQL_MASTER: unterminated double quote", root.file("ifcfg-eth6").display())
        );
        // Any syntax error in a file that mentions TEQL_ anywhere, even when the error is
        // elsewhere.
        root.ifcfg("ifcfg-eth6", "IPADDR=$(hostname -i)\nTEQL_MASTER=teql0\n");
        let e = only_problem(&root.load()).to_string();
        assert!(e.ends_with(":1:8: IPADDR: $(...) is command substitution, which teqlctl never runs; put the value in single quotes if the characters are meant literally"), "{e}");
    }

    /// Issue 11, point 12: absurd files get one error naming the file, quickly.
    #[test]
    fn huge_files_are_refused() {
        // 200,000 keys: over MAX_FILE_BYTES, so refused before it is parsed.
        let root = Root::new();
        let text: String = std::iter::once("TEQL_MASTER=teql0\n".to_string())
            .chain((0..200_000).map(|i| format!("K{i}=v\n")))
            .collect();
        root.ifcfg("ifcfg-eth2", &text);
        let t = std::time::Instant::now();
        let c = root.load();
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
        let e = only_problem(&c);
        assert_eq!(e.device(), Some("eth2"));
        assert!(e.to_string().contains("cannot read: larger than 1048576 bytes"), "{e}");

        // Under the size limit but over the assignment limit.
        let text: String = std::iter::once("TEQL_MASTER=teql0\n".to_string())
            .chain((0..20_000).map(|i| format!("K{i}=v\n")))
            .collect();
        root.ifcfg("ifcfg-eth2", &text);
        let e = only_problem(&root.load()).to_string();
        assert!(e.contains(":10001:1: more than 10000 assignments"), "{e}");

        // A line over MAX_LINE_CHARS.
        root.ifcfg("ifcfg-eth2", &format!("TEQL_MASTER=teql0\nNAME={}\n", "x".repeat(5000)));
        let e = only_problem(&root.load()).to_string();
        assert!(e.contains(":2:4097: line longer than 4096 characters"), "{e}");
    }

    /// Issue 11, point 3: what a message quotes from a file is escaped and cut.
    #[test]
    fn messages_escape_file_text() {
        let root = Root::new();
        root.ifcfg("ifcfg-eth2", &format!("TEQL_MASTER=teql0\nTEQL_MASTR='\x1b]0;{}'\n", "z".repeat(3000)));
        let e = only_problem(&root.load()).to_string();
        assert!(e.contains("unknown key TEQL_MASTR=\"\\e]0;zzz"), "{e}");
        assert!(e.len() < 400, "{e}");
    }

    #[test]
    fn quoting_in_real_files() {
        let root = Root::new();
        root.ifcfg(
            "ifcfg-eth2",
            "# line 1 to the exchange\nexport DEVICE='eth2'\nNAME=\"Line 1\"\nIPADDR=198.18.2.1 # CPE side\n\
             TEQL_MASTER=\"teql0\" # bundle\nTEQL_RP_FILTER='loose'\n",
        );
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(c.members["eth2"].master, "teql0");
    }

    /// The office's tunnels (README, Tunnels as lines) and other lines of teql0.
    fn tunnel_office() -> Root {
        let root = Root::new();
        root.ifcfg(
            "ifcfg-tl1",
            "DEVICE=tl1\nTYPE=GRE\nONBOOT=yes\nMY_OUTER_IPADDR=198.51.100.10\nPEER_OUTER_IPADDR=198.18.0.2\nKEY=1\n\
             TEQL_MASTER=teql0\n",
        );
        root.ifcfg(
            "ifcfg-tl2",
            "DEVICE=tl2\nTYPE=IPIP\nMY_OUTER_IPADDR=192.0.2.10\nPEER_OUTER_IPADDR=198.18.0.2\nTEQL_MASTER=teql0\n",
        );
        root.ifcfg("ifcfg-teql0", "DEVICE=teql0\nIPADDR=198.18.200.2\nPREFIX=30\nGATEWAY=198.18.200.1\n");
        root
    }

    #[test]
    fn tunnel_parameters_of_a_line() {
        use crate::config::{TunnelConf, TunnelKind, TunnelOrigin};
        let root = tunnel_office();
        // Not GRE or IPIP, or not a tunnel: no parameters, and no problem.
        root.ifcfg("ifcfg-tl3", "DEVICE=tl3\nTYPE=GRE6\nMY_OUTER_IPADDR=2001:db8::1\nTEQL_MASTER=teql0\n");
        root.ifcfg("ifcfg-eth4", "DEVICE=eth4\nTYPE=Ethernet\nMY_OUTER_IPADDR=bogus\nTEQL_MASTER=teql0\n");
        // `any` and absent are both unset; a hexadecimal key is ip's.
        root.ifcfg("ifcfg-tl5", "DEVICE=tl5\nTYPE=GRE\nMY_OUTER_IPADDR=any\nKEY=0x10\nTEQL_MASTER=teql0\n");
        // Not a line: its tunnel keys are network-scripts' business.
        root.ifcfg("ifcfg-tl6", "DEVICE=tl6\nTYPE=GRE\nMY_OUTER_IPADDR=bogus\n");
        let c = root.load();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert_eq!(
            c.members["tl1"].tunnel,
            Some(TunnelConf {
                kind: TunnelKind::Gre,
                local: Some(ip("198.51.100.10")),
                remote: Some(ip("198.18.0.2")),
                ikey: Some(1),
                okey: Some(1),
                origin: TunnelOrigin::Ifcfg,
            })
        );
        let tl2 = c.members["tl2"].tunnel.unwrap();
        assert_eq!((tl2.kind, tl2.local, tl2.ikey, tl2.okey), (TunnelKind::Ipip, Some(ip("192.0.2.10")), None, None));
        assert_eq!(c.members["tl3"].tunnel, None);
        assert_eq!(c.members["eth4"].tunnel, None);
        let tl5 = c.members["tl5"].tunnel.unwrap();
        assert_eq!((tl5.local, tl5.remote, tl5.ikey), (None, None, Some(16)));
        assert!(!c.members.contains_key("tl6"));
    }

    #[test]
    fn tunnel_parameters_bad_values() {
        let root = tunnel_office();
        root.ifcfg(
            "ifcfg-tl1",
            "DEVICE=tl1\nTYPE=GRE\nMY_OUTER_IPADDR=198.51.100\nPEER_OUTER_IPADDR=224.0.0.1\nKEY=-1\nTEQL_MASTER=teql0\n",
        );
        let c = root.load();
        let path = root.file("ifcfg-tl1");
        assert_eq!(c.problems.len(), 3, "{:#?}", c.problems);
        assert_invalid(&c.problems[0], &path, "tl1", "MY_OUTER_IPADDR", "198.51.100", "a dotted unicast IPv4 address");
        assert_invalid(&c.problems[1], &path, "tl1", "PEER_OUTER_IPADDR", "224.0.0.1", "a dotted unicast IPv4 address");
        assert_invalid(&c.problems[2], &path, "tl1", "KEY", "-1", "a GRE key");
        assert!(!c.members.contains_key("tl1"), "a line with a bad key is not a member");
        assert!(c.members.contains_key("tl2"));

        root.ifcfg("ifcfg-tl1", "DEVICE=tl1\nTYPE=gre\nTEQL_MASTER=teql0\n");
        let c = root.load();
        assert_invalid(only_problem(&c), &path, "tl1", "TYPE", "gre", "GRE in upper case");

        root.ifcfg("ifcfg-tl1", "DEVICE=tl1\nTYPE=IPIP\nKEY=1\nTEQL_MASTER=teql0\n");
        let c = root.load();
        assert_inconsistent(only_problem(&c), &path, "tl1", &["KEY=\"1\" is set on an IPIP tunnel", "remove KEY"]);
    }
}
