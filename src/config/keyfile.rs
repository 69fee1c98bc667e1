//! NetworkManager: a line's keys in its keyfile profile, and a bundle's own settings in a small
//! file of teqlctl's (issue 15).
//!
//! NetworkManager never runs network-scripts' or ifupdown's hooks, and it has no teql device
//! type. A line is a keyfile profile (`[connection] interface-name=eth2`) whose `[user]`
//! section holds teqlctl's keys as NetworkManager user data (`teqlctl.master=teql0`).
//! NetworkManager keeps user data when other settings change, but nmcli 1.42 can neither show
//! nor set it and the dispatcher does not export it, so it is read from the profile's file
//! (shared notes, networkmanager.md). What no NetworkManager profile can hold goes in
//! /etc/teqlctl/bundles/NAME.conf, written in the same style: a TEQL bundle's address, gateway
//! and MTU (NAME is teqlN), or a multipath or connection bundle's mode and options (any other
//! NAME; such a bundle has no device NetworkManager could manage). Both are INI files, read
//! with rust-ini.
//!
//! A line of a multipath bundle keeps the address NetworkManager gives it; its gateway is
//! teqlctl.gateway, else the profile's own ([ipv4] gateway=, or address1's `,GATEWAY`), else
//! the DHCP lease NetworkManager reports to the dispatcher (src/front/nm.rs).
//!
//! As the other readers: only profiles with teqlctl keys are read strictly; a profile that is
//! not ours is never reported, whatever is wrong with it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption, Properties};

use super::keys::{self, Format, Key, Problems, Scope, Spelling, KEYS};
use super::{
    finish, parse_decimal, parse_ipv4, parse_mtu, parse_prefix_len, quoted, read_config_file, shown, shown_path,
    BundleName, Config, ConfigError, IfName, Ipv4Prefix, LinePath, Master, Member, ReadProblem, RpFilter, Values,
    EXPECT_IPV4, EXPECT_METRIC, EXPECT_MTU, EXPECT_YES_NO, MAX_FILE_BYTES,
};

/// Where NetworkManager's keyfile plugin keeps profiles, below the root: the admin's, the
/// runtime ones (`nmcli connection add ... save no`), and the distribution's.
pub const PROFILE_DIRS: [&str; 3] = [
    "etc/NetworkManager/system-connections",
    "run/NetworkManager/system-connections",
    "usr/lib/NetworkManager/system-connections",
];

/// Whether `path` is in one of NetworkManager's profile directories below `root`.
pub(crate) fn is_profile(root: &Path, path: &Path) -> bool {
    PROFILE_DIRS.iter().any(|d| path.starts_with(root.join(d)))
}

/// The bundles' own files, below the root: NAME.conf configures the bundle NAME.
pub const BUNDLE_DIR: &str = "etc/teqlctl/bundles";

/// The only files NetworkManager writes profiles to since 1.18 (and the only ones it reads in
/// /run and /usr/lib): other names in those directories are backups or leftovers.
const PROFILE_SUFFIX: &str = ".nmconnection";
const BUNDLE_SUFFIX: &str = ".conf";

/// teqlctl's user data keys start with this; NetworkManager requires a dot in user data keys.
const USER_PREFIX: &str = "teqlctl.";

/// A directory with more entries than this is not read past them (and that is said): a hook
/// must not spend boot time listing a runaway directory.
const MAX_DIR_ENTRIES: usize = 4096;

/// How messages spell the keys of a profile.
pub(crate) const FORMAT: Format = Format {
    spelling: Spelling::Keyfile,
    assign: "=",
    keys: "keys",
    places: "profiles",
    bundle_place: "bundle's file /etc/teqlctl/bundles/teqlN.conf",
    multipath: "mode=multipath",
    device_keys: &["address", "gateway", "mtu"],
    line_gateway: "each line keeps its own address and gateway, in its profile",
    bundle_file: bundle_file_hint,
    yes_no: parse_yes_no,
};

/// How messages spell the keys of a bundle's file (`mode=multipath`).
pub(crate) const BUNDLE_FORMAT: Format = Format { spelling: Spelling::Bundle, ..FORMAT };

fn bundle_file_hint(name: &str) -> String {
    format!("/etc/teqlctl/bundles/{name}.conf with [bundle] mode=multipath or mode=connection")
}

/// The keys a profile may set: a line's tie to its bundle, its health check and its path in a
/// multipath bundle.
fn line_key(scope: Scope) -> bool {
    matches!(scope, Scope::Line | Scope::Probe | Scope::Path)
}

/// The teqlctl keys a bundle's file may set besides its device's: its mode and the mode's
/// options, and a TEQL bundle's routing.
fn bundle_key(scope: Scope) -> bool {
    matches!(scope, Scope::Mode | Scope::Connection | Scope::Routing)
}

/// The keys of a bundle's file for its device, in the order the manual lists them
/// (`default-route` is also TEQL_DEFROUTE's name there: see KeyDef::bundle).
const DEVICE_KEYS: [&str; 5] = ["address", "gateway", "default-route", "metric", "mtu"];
const BUNDLE_SECTION: &str = "bundle";

/// GLib's key files, NetworkManager's format: `key=value`, `#` comments, no quoting (a quote
/// is part of the value). NetworkManager writes no escapes in the keys teqlctl reads.
pub(crate) fn parse_options() -> ParseOption {
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: false,
        enabled_preserve_key_leading_whitespace: false,
    }
}

/// A key file as GLib's parser, NetworkManager's, reads it: a group whose header appears again
/// is the same group, and a key set again in a group has the later value (g_key_file_add_group
/// finds the group by name; g_key_file_add_key_value_pair replaces the key in the group's
/// lookup table). rust-ini makes each header a section of its own, and its `get` gives a key's
/// first value: read as it parses, a profile with `interface-name` twice would be one line to
/// NetworkManager and another to teqlctl.
pub(crate) fn as_glib_reads(ini: &Ini) -> Ini {
    let mut out = Ini::new();
    for (section, props) in ini.iter() {
        let merged = out.entry(section.map(str::to_string)).or_insert(Properties::new());
        for (k, v) in props.iter() {
            merged.insert(k, v);
        }
    }
    out
}

/// NetworkManager's booleans (GLib's true/false, and the yes/no and 1/0 it also accepts).
pub(crate) fn parse_yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Reads every profile and bundle file below `root`. Never fails: every error lands in
/// `Config.problems`.
pub fn load(root: &Path) -> Config {
    let mut cfg = Config::default();
    let mut uuids = BTreeSet::new();
    for dir in PROFILE_DIRS {
        let dir = root.join(dir);
        let mut denied = 0;
        for path in files_in(&mut cfg, &dir, PROFILE_SUFFIX) {
            match read_config_file(&path, MAX_FILE_BYTES) {
                // NetworkManager keeps profiles readable by root only: a user's `teqlctl status`
                // gets one line for the lot rather than one per profile.
                Err(ReadProblem::PermissionDenied) => denied += 1,
                read => read_profile(&mut cfg, &mut uuids, &path, read),
            }
        }
        if denied > 0 {
            cfg.problems.push(ConfigError::Io {
                path: dir,
                reason: format!(
                    "{denied} NetworkManager profile(s) here cannot be read (permission denied): lines configured \
                     in them are not seen; run teqlctl as root"
                ),
                device: None,
            });
        }
    }
    let mut own = BTreeSet::new();
    for path in files_in(&mut cfg, &root.join(BUNDLE_DIR), BUNDLE_SUFFIX) {
        if let Some(m) = read_bundle_file(&mut cfg, &path) {
            own.insert(m.device.to_string());
            cfg.masters.insert(m.device.clone(), m);
        }
    }
    finish(&mut cfg, root, &FORMAT, &own);
    cfg
}

/// The files of `dir` ending in `suffix`, sorted; none when it does not exist.
fn files_in(cfg: &mut Config, dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for (n, entry) in entries.flatten().enumerate() {
        if n == MAX_DIR_ENTRIES {
            cfg.problems.push(ConfigError::Inconsistent {
                path: dir.to_path_buf(),
                msg: format!("more than {MAX_DIR_ENTRIES} entries: teqlctl read only the first ones"),
                device: None,
            });
            break;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(suffix) && !name.starts_with('.') {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

/// `needle` appears in `bytes`: the cheap test of whether a file concerns teqlctl at all.
pub(crate) fn mentions(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The problems of one file.
struct Ctx<'a> {
    path: &'a Path,
    device: Option<String>,
    problems: Vec<ConfigError>,
}

impl Problems for Ctx<'_> {
    fn invalid(&mut self, key: &str, value: &str, expected: &str) {
        self.problems.push(ConfigError::invalid(self.path, key, value, expected, self.device.clone()));
    }

    fn inconsistent(&mut self, msg: String) {
        self.problems.push(ConfigError::Inconsistent {
            path: self.path.to_path_buf(),
            msg,
            device: self.device.clone(),
        });
    }
}

/// The file's text parsed, or None when it is not ours or cannot be read (a problem is filed
/// only when the text shows it is ours: `marker` appears in it).
fn parse_file(cfg: &mut Config, path: &Path, marker: Option<&str>) -> Option<Ini> {
    parse_read(cfg, path, marker, read_config_file(path, MAX_FILE_BYTES))
}

/// As `parse_file`, for a file already read.
fn parse_read(cfg: &mut Config, path: &Path, marker: Option<&str>, read: Result<Vec<u8>, ReadProblem>) -> Option<Ini> {
    let bytes = match read {
        Ok(b) => b,
        Err(e) => {
            // Unread, it may be a line: say so rather than leave a line out in silence.
            cfg.problems.push(ConfigError::Io { path: path.to_path_buf(), reason: e.to_string(), device: None });
            return None;
        }
    };
    let ours = marker.is_none_or(|m| mentions(&bytes, m.as_bytes()));
    if !ours {
        return None;
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            cfg.problems.push(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: 1,
                col: 1,
                key: None,
                msg: format!(
                    "not UTF-8 text (byte {}): NetworkManager's files are UTF-8",
                    e.utf8_error().valid_up_to()
                ),
                device: None,
            });
            return None;
        }
    };
    // rust-ini reads a section name up to the next `]`, across lines: an unclosed header would
    // be reported at the end of the file, in its words. GLib refuses such a line where it is.
    if let Some((n, l)) = text.lines().enumerate().find(|(_, l)| {
        let l = l.trim();
        l.starts_with('[') && !l.ends_with(']')
    }) {
        cfg.problems.push(ConfigError::Syntax {
            path: path.to_path_buf(),
            line: n + 1,
            col: 1,
            key: None,
            msg: format!("{}: a section header is one line, from [ to ]", quoted(l.trim())),
            device: None,
        });
        return None;
    }
    match Ini::load_from_str_opt(&text, parse_options()) {
        Ok(ini) => Some(ini),
        Err(e) => {
            // rust-ini counts lines and columns from 1.
            cfg.problems.push(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: e.line,
                col: e.col,
                key: None,
                msg: e.msg.to_string(),
                device: None,
            });
            None
        }
    }
}

/// One profile: a line when its [user] section has teqlctl keys.
fn read_profile(cfg: &mut Config, uuids: &mut BTreeSet<String>, path: &Path, read: Result<Vec<u8>, ReadProblem>) {
    let Some(ini) = parse_read(cfg, path, Some(USER_PREFIX), read) else { return };
    let ini = as_glib_reads(&ini);
    let conn = ini.section(Some("connection"));
    // The same profile in /etc and in /run or /usr/lib: NetworkManager uses the first.
    if let Some(uuid) = conn.and_then(|c| c.get("uuid")) {
        if !uuids.insert(uuid.to_string()) {
            return;
        }
    }
    let Some(user) = ini.section(Some("user")) else { return };
    if !user.iter().any(|(k, _)| k.starts_with(USER_PREFIX)) {
        return;
    }
    let device = conn.and_then(|c| c.get("interface-name")).map(str::to_string);
    let mut ctx = Ctx { path, device: device.clone(), problems: Vec::new() };
    let member = build_member(&mut ctx, &ini, user, device.as_deref());
    if let Some(m) = member {
        match cfg.members.get(m.device.as_str()) {
            Some(other) => ctx.inconsistent(format!(
                "{} is a line in {} too: NetworkManager activates one profile of an interface at a time, \
                 and teqlctl cannot tell which one `teqlctl up` means; keep the teqlctl keys in one of them",
                shown(&m.device),
                shown_path(&other.source)
            )),
            None => {
                cfg.members.insert(m.device.to_string(), m);
            }
        }
    }
    cfg.problems.append(&mut ctx.problems);
}

fn build_member(ctx: &mut Ctx, ini: &Ini, user: &Properties, device: Option<&str>) -> Option<Member> {
    let conn = ini.section(Some("connection"));
    let known: Vec<&str> = KEYS.iter().filter(|d| line_key(d.scope)).map(|d| d.keyfile).collect();
    for (k, v) in user.iter().filter(|(k, _)| k.starts_with(USER_PREFIX) && !known.contains(k)) {
        let hint = match KEYS.iter().find(|d| d.keyfile == k) {
            Some(d) => format!(
                "{} is a bundle's key: it belongs in the bundle's file, as {}{}{} in /etc/teqlctl/bundles/NAME.conf \
                 (teqlctl-config(5), NETWORKMANAGER)",
                shown(k),
                d.bundle(),
                BUNDLE_FORMAT.assign,
                v
            ),
            None => super::unknown_key_hint(k, &known),
        };
        ctx.inconsistent(format!("unknown key [user] {}={}: {hint}", shown(k), quoted(v)));
    }
    let values = Values::from_lookup(|ifcfg| {
        KEYS.iter().find(|d| d.ifcfg == ifcfg && line_key(d.scope)).and_then(|d| user.get(d.keyfile))
    });
    let (master, rp_filter) = keys::read_line_tie(ctx, &FORMAT, &values);
    let Some(master) = master.ok()? else {
        keys::line_keys_without_master(ctx, &FORMAT, &values, &rp_filter);
        return None;
    };
    let probe = keys::line_probe(ctx, &FORMAT, &values);
    // The profile's own gateway is the line's unless teqlctl.gateway says otherwise, as ifcfg's
    // GATEWAY=; a bad one is NetworkManager's business (it refuses the profile).
    let path = keys::line_path(ctx, &FORMAT, &values).map(|p| LinePath {
        plain_gateway: ini.section(Some("ipv4")).and_then(profile_gateway),
        rp_filter: rp_filter.ok().flatten(),
        ..p
    });
    let autoconnect = ctx.field("autoconnect", conn.and_then(|c| c.get("autoconnect")), parse_yes_no, EXPECT_YES_NO);
    let Some(device) = device else {
        ctx.inconsistent(format!(
            "{} is set but the profile names no interface: teqlctl needs the line's interface name; \
             add interface-name=IFACE to [connection] (nmcli connection modify ID connection.interface-name IFACE)",
            FORMAT.set(Key::Master, &master)
        ));
        return None;
    };
    let Some(name) = IfName::new(device) else {
        ctx.invalid("interface-name", device, &crate::names::why_refused(device));
        return None;
    };
    let rp_filter = rp_filter.ok()?;
    Some(Member {
        device: name,
        master,
        rp_filter: rp_filter.unwrap_or(RpFilter::Loose),
        // NetworkManager's autoconnect, which is what brings the line up at boot.
        onboot: autoconnect.ok()?.unwrap_or(true),
        probe: probe?,
        path: path?,
        tunnel: None,
        source: ctx.path.to_path_buf(),
        spelling: Spelling::Keyfile,
    })
}

/// The gateway of a profile's [ipv4] section: `gateway=`, else the first `addressN=A/L,GW`
/// (NetworkManager's older spelling). None for a DHCP profile, whose gateway is its lease's.
fn profile_gateway(ipv4: &Properties) -> Option<std::net::Ipv4Addr> {
    if let Some(g) = ipv4.get("gateway") {
        return parse_ipv4(g.trim());
    }
    let mut addresses: Vec<(u32, &str)> =
        ipv4.iter().filter_map(|(k, v)| Some((k.strip_prefix("address")?.parse::<u32>().ok()?, v))).collect();
    addresses.sort();
    addresses.iter().find_map(|(_, v)| v.split_once(',').and_then(|(_, g)| parse_ipv4(g.trim())))
}

/// `203.0.113.2/28`: an address and its prefix length, both required.
fn parse_address(v: &str) -> Option<Ipv4Prefix> {
    let (addr, len) = v.split_once('/')?;
    Some(Ipv4Prefix { addr: parse_ipv4(addr)?, prefix_len: parse_prefix_len(len)? })
}

/// One bundle's file: the bundle its name gives.
fn read_bundle_file(cfg: &mut Config, path: &Path) -> Option<Master> {
    let name = path.file_name()?.to_str()?.strip_suffix(BUNDLE_SUFFIX)?.to_string();
    let ini = parse_file(cfg, path, None)?;
    let mut ctx = Ctx { path, device: Some(name.clone()), problems: Vec::new() };
    let master = build_master(&mut ctx, &ini, &name);
    cfg.problems.append(&mut ctx.problems);
    master
}

fn build_master(ctx: &mut Ctx, ini: &Ini, name: &str) -> Option<Master> {
    let Some(bundle) = BundleName::new(name) else {
        ctx.inconsistent(format!(
            "the file's name gives the bundle {}, which is neither a teql master (teql0.conf .. teql63.conf, a \
             TEQL bundle) nor a multipath bundle's name ({} not starting with teql, such as wan.conf); rename \
             the file",
            shown(name),
            crate::names::refusal(name)
        ));
        return None;
    };
    let known: Vec<&str> =
        DEVICE_KEYS.iter().copied().chain(KEYS.iter().filter(|d| bundle_key(d.scope)).map(|d| d.bundle())).collect();
    let mut broken = false;
    // teqlctl's own file, never NetworkManager's: a key set twice, even in two [bundle]
    // sections, is refused rather than read one way or the other.
    let mut seen = BTreeSet::new();
    for (section, props) in ini.iter() {
        match section {
            Some(BUNDLE_SECTION) => {
                for (k, v) in props.iter().filter(|(k, _)| known.contains(k)) {
                    if !seen.insert(k) {
                        ctx.inconsistent(format!(
                            "{}={} is a second {}: a key is set once in a bundle's file; remove one",
                            shown(k),
                            quoted(v),
                            shown(k)
                        ));
                        broken = true;
                    }
                }
                for (k, v) in props.iter().filter(|(k, _)| !known.contains(k)) {
                    let hint = match KEYS.iter().find(|d| d.bundle() == k || d.keyfile == k) {
                        Some(d) if !bundle_key(d.scope) => format!(
                            "{} is a line's key: it belongs in the [user] section of each line's profile, as {}",
                            shown(k),
                            d.keyfile
                        ),
                        Some(d) => format!("did you mean {}?", d.bundle()),
                        None => super::unknown_key_hint(k, &known),
                    };
                    ctx.inconsistent(format!("unknown key [bundle] {}={}: {hint}", shown(k), quoted(v)));
                    broken = true;
                }
            }
            // rust-ini always has the part before the first section, empty in a clean file.
            None if props.is_empty() => {}
            other => {
                let first = props.iter().next().map(|(k, _)| k.to_string()).unwrap_or_default();
                ctx.inconsistent(format!(
                    "{} is outside [bundle]: every key of a bundle's file goes in its [bundle] section",
                    match other {
                        Some(s) => format!("section [{}]", shown(s)),
                        None => format!("key {}", shown(&first)),
                    }
                ));
                broken = true;
            }
        }
    }
    // A key only in a second [bundle] section is read as well.
    let merged = as_glib_reads(ini);
    let empty = Properties::new();
    let b = merged.section(Some(BUNDLE_SECTION)).unwrap_or(&empty);
    // A teqlN's default-route is its device's (read below), not a multipath bundle's option.
    let teql = bundle.is_teql();
    let values = Values::from_lookup(|ifcfg| {
        KEYS.iter()
            .find(|d| d.ifcfg == ifcfg && bundle_key(d.scope) && !(teql && d.key == Key::Defroute))
            .and_then(|d| b.get(d.bundle()))
    });
    let mode_routing = keys::read_bundle(ctx, &BUNDLE_FORMAT, &values, name);
    let metric = ctx.field("metric", b.get("metric"), parse_decimal, EXPECT_METRIC);
    let (mode, routing) = mode_routing?;
    if mode.paths().is_some() {
        // The bundle is no device: address, gateway and MTU would do nothing. Its
        // default-route is TEQL_DEFROUTE, read with the mode.
        if keys::device_keys_on_multipath(ctx, &BUNDLE_FORMAT, name, |k| b.get(k).is_some()) || broken {
            return None;
        }
        // ONBOOT has no place here: the lines' autoconnect brings the bundle up.
        return Some(Master::multipath(bundle, mode, true, metric.ok()?.unwrap_or(0), ctx.path.to_path_buf()));
    }
    let address = ctx.field(
        "address",
        b.get("address"),
        parse_address,
        "an IPv4 address with its prefix length, such as 203.0.113.2/28",
    );
    let gateway =
        ctx.field("gateway", b.get("gateway"), |v| parse_ipv4(v).filter(|a| !a.is_unspecified()), EXPECT_IPV4);
    let default_route = ctx.field("default-route", b.get("default-route"), parse_yes_no, EXPECT_YES_NO);
    let mtu = ctx.field("mtu", b.get("mtu"), parse_mtu, EXPECT_MTU);
    let (address, gateway, default_route, metric, mtu) =
        (address.ok()?, gateway.ok()?, default_route.ok()?, metric.ok()?, mtu.ok()?);
    if default_route == Some(true) && gateway.is_none() {
        ctx.inconsistent("default-route=yes needs a gateway: add gateway=ADDRESS or remove default-route".into());
        return None;
    }
    if broken {
        return None;
    }
    Some(Master {
        device: bundle,
        address,
        gateway,
        // As ifupdown's static method: a gateway given is the default route, unless said not.
        default_route: gateway.is_some() && default_route != Some(false),
        mtu,
        metric: metric.unwrap_or(0),
        onboot: true,
        mode,
        routing,
        source: Some(ctx.path.to_path_buf()),
    })
}

/// The profile NetworkManager's dispatcher names: CONNECTION_FILENAME, else the keyfile whose
/// uuid is CONNECTION_UUID (a runtime profile of an older NetworkManager may come without a
/// file name). None when neither leads to a file.
pub(crate) fn profile_path(root: &Path, filename: Option<&str>, uuid: Option<&str>) -> Option<PathBuf> {
    if let Some(f) = filename.filter(|f| !f.is_empty()) {
        let f = Path::new(f);
        // The dispatcher gives absolute paths; under --root they are read below the root.
        return Some(if root == Path::new("/") {
            f.to_path_buf()
        } else {
            root.join(f.strip_prefix("/").unwrap_or(f))
        });
    }
    let uuid = uuid.filter(|u| !u.is_empty())?;
    let mut scratch = Config::default();
    for dir in PROFILE_DIRS {
        for path in files_in(&mut scratch, &root.join(dir), PROFILE_SUFFIX) {
            let Some(ini) = parse_file(&mut scratch, &path, Some(uuid)).map(|i| as_glib_reads(&i)) else { continue };
            if ini.section(Some("connection")).and_then(|c| c.get("uuid")) == Some(uuid) {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use std::net::Ipv4Addr;
    use tempfile::TempDir;

    const PROFILES: &str = "etc/NetworkManager/system-connections";

    fn put(root: &TempDir, rel: &str, text: &str) -> PathBuf {
        let p = root.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    /// A line's profile as nmcli writes one, with `user` as its [user] section.
    fn line(root: &TempDir, name: &str, iface: &str, user: &str) -> PathBuf {
        put(
            root,
            &format!("{PROFILES}/{name}.nmconnection"),
            &format!(
                "[connection]\nid={name}\nuuid=00000000-0000-4000-8000-{:012}\ntype=ethernet\ninterface-name={iface}\n\n\
                 [ipv4]\nmethod=manual\naddress1=203.0.113.2/28\n\n[user]\n{user}",
                name.len()
            ),
        )
    }

    fn messages(cfg: &Config) -> Vec<String> {
        cfg.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_line_and_its_bundle() {
        let root = TempDir::new().unwrap();
        let p = line(
            &root,
            "dsl1",
            "eth2",
            "teqlctl.master=teql0\nteqlctl.rp-filter=strict\nteqlctl.probe=198.51.100.10\n",
        );
        let b = put(
            &root,
            "etc/teqlctl/bundles/teql0.conf",
            "# the office bundle\n[bundle]\naddress=203.0.113.2/28\ngateway=203.0.113.1\nmtu=1400\nmetric=10\n",
        );
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        let m = &cfg.members["eth2"];
        assert_eq!((m.master.as_str(), m.rp_filter, m.onboot), ("teql0", RpFilter::Strict, true));
        assert_eq!(m.probe.targets, vec![Ipv4Addr::new(198, 51, 100, 10)]);
        assert_eq!(m.source, p);
        let t = &cfg.masters["teql0"];
        assert_eq!(t.address, Some(Ipv4Prefix { addr: Ipv4Addr::new(203, 0, 113, 2), prefix_len: 28 }));
        assert_eq!((t.gateway, t.default_route), (Some(Ipv4Addr::new(203, 0, 113, 1)), true));
        assert_eq!((t.mtu, t.metric, t.source.as_deref()), (Some(1400), 10, Some(b.as_path())));
    }

    #[test]
    fn lines_of_a_multipath_bundle() {
        let root = TempDir::new().unwrap();
        let profile = |name: &str, iface: &str, ipv4: &str, user: &str| {
            put(
                &root,
                &format!("{PROFILES}/{name}.nmconnection"),
                &format!(
                    "[connection]\nid={name}\ninterface-name={iface}\n[ipv4]\n{ipv4}\n[user]\nteqlctl.master=wan\n{user}"
                ),
            )
        };
        // NetworkManager writes a static gateway either way; teqlctl.gateway wins over both.
        profile("isp1", "eth1", "method=manual\naddress1=198.51.100.10/29,198.51.100.9", "teqlctl.weight=2\n");
        profile("isp2", "eth2", "method=auto\nnever-default=true", "teqlctl.table=4202\n");
        profile("isp3", "eth3", "method=manual\naddress1=203.0.113.10/24\ngateway=203.0.113.1", "");
        profile(
            "isp4",
            "eth4",
            "method=manual\naddress1=198.51.100.18/29,198.51.100.17",
            "teqlctl.gateway=198.51.100.22\nteqlctl.probe=198.18.0.1\n",
        );
        let b = put(&root, "etc/teqlctl/bundles/wan.conf", "[bundle]\nmode=multipath\nhash=l3\nmetric=5\n");
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        let wan = &cfg.masters["wan"];
        let Mode::Multipath(o) = &wan.mode else { panic!("{:?}", wan.mode) };
        assert_eq!((o.hash, o.defroute), (crate::config::HashPolicy::L3, true));
        assert_eq!((wan.metric, wan.source.as_deref()), (5, Some(b.as_path())));
        let ip = |s: &str| Some(s.parse::<Ipv4Addr>().unwrap());
        let path = |l: &str| &cfg.members[l].path;
        assert_eq!((path("eth1").weight, path("eth1").gateway()), (Some(2), ip("198.51.100.9")));
        assert_eq!((path("eth2").table, path("eth2").gateway()), (Some(4202), None), "DHCP: the lease's gateway");
        assert_eq!(path("eth3").gateway(), ip("203.0.113.1"));
        assert_eq!(path("eth4").gateway(), ip("198.51.100.22"));
        assert_eq!(cfg.members["eth4"].probe.targets, vec![Ipv4Addr::new(198, 18, 0, 1)]);
        // A multipath line keeps the admin's rp_filter unless its profile sets one.
        assert_eq!(path("eth1").rp_filter, None);
        assert_eq!(cfg.members_of("wan").count(), 4);
    }

    /// GLib, NetworkManager's parser, takes a key's last value in a group and merges a group
    /// whose header comes again (issue 26, point 6): teqlctl reads the profile the same way,
    /// so both see the same line, gateway and bundle.
    #[test]
    fn duplicate_keys_and_groups_read_as_networkmanager_reads_them() {
        let root = TempDir::new().unwrap();
        let p = put(
            &root,
            &format!("{PROFILES}/isp1.nmconnection"),
            "[connection]\nid=isp1\ninterface-name=eth1\ninterface-name=eth7\n\
             [ipv4]\nmethod=manual\naddress1=198.51.100.10/29,198.51.100.9\n\
             [user]\nteqlctl.master=teql0\nteqlctl.gateway=198.51.100.11\nteqlctl.gateway=198.51.100.12\n\
             [connection]\nautoconnect=false\n\
             [user]\nteqlctl.master=wan\nteqlctl.weight=3\n",
        );
        put(&root, "etc/teqlctl/bundles/wan.conf", "[bundle]\nmode=multipath\n");
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert_eq!(cfg.members.keys().collect::<Vec<_>>(), ["eth7"]);
        let m = &cfg.members["eth7"];
        assert_eq!((m.master.as_str(), m.onboot, m.source.as_path()), ("wan", false, p.as_path()));
        assert_eq!((m.path.gateway(), m.path.weight), (Some(Ipv4Addr::new(198, 51, 100, 12)), Some(3)));
        // The dispatcher finds the profile by its last uuid, as NetworkManager knows it.
        put(
            &root,
            &format!("{PROFILES}/isp2.nmconnection"),
            "[connection]\nuuid=old\nuuid=6ad1ef8e-0000-4000-8000-000000000002\ninterface-name=eth2\n",
        );
        let found = profile_path(root.path(), None, Some("6ad1ef8e-0000-4000-8000-000000000002"));
        assert_eq!(found, Some(root.path().join(PROFILES).join("isp2.nmconnection")));
        assert_eq!(profile_path(root.path(), None, Some("old")), None);
    }

    /// teqlctl's own bundle file takes each key once, in one [bundle] section or two.
    #[test]
    fn a_bundle_key_twice_is_refused_even_across_sections() {
        let root = TempDir::new().unwrap();
        line(&root, "isp1", "eth1", "teqlctl.master=wan\n");
        let b = put(&root, "etc/teqlctl/bundles/wan.conf", "[bundle]\nmode=multipath\nmetric=5\n[bundle]\nmetric=7\n");
        let cfg = load(root.path());
        let m = messages(&cfg);
        assert!(m.iter().any(|p| p.starts_with(&format!("{}: metric=\"7\" is a second metric", b.display()))), "{m:?}");
        assert!(!cfg.masters.contains_key("wan"));
        // A key only in the second section is read.
        put(&root, "etc/teqlctl/bundles/wan.conf", "[bundle]\nmode=multipath\n[bundle]\nmetric=7\n");
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert_eq!(cfg.masters["wan"].metric, 7);
    }

    #[test]
    fn a_connection_bundle_and_a_teql_bundle_with_routes() {
        let root = TempDir::new().unwrap();
        // (`line` makes each profile's uuid of its name's length.)
        line(&root, "isp1", "eth1", "teqlctl.master=office\n");
        line(&root, "isp22", "eth2", "teqlctl.master=office\n");
        line(&root, "tunnel", "gre1", "teqlctl.master=teql1\n");
        put(
            &root,
            "etc/teqlctl/bundles/office.conf",
            "[bundle]\nmode=connection\nnat=198.18.100.0/24\nprefer=eth2 eth1\nprefer-dst=198.18.64.0/18\n\
             local-source=198.18.0.1\ndefault-route=no\n",
        );
        put(
            &root,
            "etc/teqlctl/bundles/teql1.conf",
            "[bundle]\naddress=198.18.0.2/30\nroute=198.18.200.0/24\nnat=198.18.100.0/24\n",
        );
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        let Mode::Connection(o, c) = &cfg.masters["office"].mode else { panic!("a connection bundle") };
        assert!(!o.defroute);
        assert_eq!(c.prefer, vec!["eth2".to_string(), "eth1".to_string()]);
        assert_eq!((c.nat.len(), c.prefer_dst.len()), (1, 1));
        assert_eq!(c.local_source, Some(std::net::Ipv4Addr::new(198, 18, 0, 1)));
        let t = &cfg.masters["teql1"];
        assert_eq!(t.mode, Mode::Teql);
        assert_eq!((t.routing.routes.len(), t.routing.nat.len()), (1, 1));
    }

    #[test]
    fn a_line_without_a_bundle_file_gets_a_bare_master() {
        let root = TempDir::new().unwrap();
        line(&root, "dsl1", "eth2", "teqlctl.master=teql1\n");
        put(
            &root,
            &format!("{PROFILES}/dsl2.nmconnection"),
            "[connection]\nid=dsl2\ninterface-name=eth3\nautoconnect=false\n[user]\nteqlctl.master=teql1\n",
        );
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert!(cfg.masters["teql1"].source.is_none());
        assert!(!cfg.members["eth3"].onboot, "autoconnect=false is ONBOOT=no");
    }

    #[test]
    fn profiles_that_are_not_ours_are_never_reported() {
        let root = TempDir::new().unwrap();
        put(&root, &format!("{PROFILES}/office.nmconnection"), "[connection\nbroken line without a bracket\n");
        put(&root, &format!("{PROFILES}/wifi.nmconnection"), "[connection]\nid=wifi\n[user]\norg.example.x=1\n");
        put(&root, &format!("{PROFILES}/notes.txt"), "teqlctl.master=[[[");
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert!(cfg.members.is_empty() && cfg.masters.is_empty());
    }

    #[test]
    fn broken_profiles_of_ours_say_where_and_what() {
        let cases: &[(&str, &str)] = &[
            (
                "[connection]\ninterface-name=eth2\n[user\nteqlctl.master=teql0\n",
                "dsl.nmconnection:3:1: \"[user\": a section header is one line, from [ to ]",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\nteqlctl.mastr=teql0\n",
                "unknown key [user] teqlctl.mastr=\"teql0\": did you mean teqlctl.master?",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\nteqlctl.mode=multipath\n",
                "unknown key [user] teqlctl.mode=\"multipath\": teqlctl.mode is a bundle's key: it belongs in the \
                 bundle's file, as mode=multipath in /etc/teqlctl/bundles/NAME.conf",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\nteqlctl.weight=2\n",
                "teqlctl.weight is set but teql0 is a TEQL bundle: weights, gateways and tables belong to lines of \
                 multipath bundles",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=wan\nteqlctl.weight=0\n",
                "teqlctl.weight=\"0\" is not valid: expected a weight from 1 to 256",
            ),
            (
                "[connection]\nid=dsl\n[user]\nteqlctl.master=teql0\n",
                "teqlctl.master=\"teql0\" is set but the profile names no interface: teqlctl needs the line's \
                 interface name; add interface-name=IFACE to [connection]",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=wan\n",
                "line eth2 names bundle wan (teqlctl.master=\"wan\"), but no bundle wan is configured: add \
                 /etc/teqlctl/bundles/wan.conf with [bundle] mode=multipath or mode=connection",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql64\n",
                "teqlctl.master=\"teql64\" is not valid: expected a teql master name teql0..teql63",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\nteqlctl.rp-filter=lose\n",
                "teqlctl.rp-filter=\"lose\" is not valid: expected loose, strict, off or keep",
            ),
            (
                "[connection]\ninterface-name=eth2\n[user]\nteqlctl.rp-filter=loose\n",
                "teqlctl.rp-filter=\"loose\" is set but teqlctl.master is not",
            ),
            (
                "[connection]\ninterface-name=eth2\nautoconnect=maybe\n[user]\nteqlctl.master=teql0\n",
                "autoconnect=\"maybe\" is not valid: expected yes or no",
            ),
            (
                "[connection]\ninterface-name=eth2/x\n[user]\nteqlctl.master=teql0\n",
                "interface-name=\"eth2/x\" is not valid",
            ),
        ];
        for (text, want) in cases {
            let root = TempDir::new().unwrap();
            put(&root, &format!("{PROFILES}/dsl.nmconnection"), text);
            let cfg = load(root.path());
            let got = messages(&cfg);
            assert!(got.len() == 1 && got[0].contains(want), "{text:?}: want {want:?}, got {got:?}");
            assert!(got[0].contains("/etc/NetworkManager/system-connections/dsl.nmconnection"), "{got:?}");
            // Hooks refuse a line with a problem of its own; one that cannot be read is none.
            assert!(cfg.members.is_empty() || !cfg.problems_for("eth2").is_empty(), "{text:?}: a broken line is used");
        }
    }

    #[test]
    fn one_interface_in_two_profiles() {
        let root = TempDir::new().unwrap();
        line(&root, "dsl1", "eth2", "teqlctl.master=teql0\n");
        line(&root, "dsl1-backup", "eth2", "teqlctl.master=teql0\n");
        let got = messages(&load(root.path()));
        assert_eq!(got.len(), 1, "{got:?}");
        // Read in name order: dsl1-backup before dsl1.
        assert!(got[0].contains("dsl1.nmconnection: eth2 is a line in ") && got[0].contains("dsl1-backup"), "{got:?}");
    }

    #[test]
    fn the_same_profile_in_etc_and_run_is_read_once() {
        let root = TempDir::new().unwrap();
        let text = "[connection]\nuuid=5e1f0000-0000-4000-8000-000000000001\ninterface-name=eth2\n[user]\nteqlctl.master=teql0\n";
        let etc = put(&root, &format!("{PROFILES}/dsl.nmconnection"), text);
        put(&root, "run/NetworkManager/system-connections/dsl.nmconnection", text);
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert_eq!(cfg.members["eth2"].source, etc);
    }

    #[test]
    fn broken_bundle_files() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "teql0.conf",
                "[bundle]\naddress=203.0.113.2\n",
                "address=\"203.0.113.2\" is not valid: expected an IPv4 address with its prefix length",
            ),
            (
                "teql0.conf",
                "[bundle]\naddres=203.0.113.2/28\n",
                "unknown key [bundle] addres=\"203.0.113.2/28\": did you mean address?",
            ),
            ("teql0.conf", "address=203.0.113.2/28\n", "key address is outside [bundle]"),
            ("teql0.conf", "[bundle]\n[ipv4]\naddress=1.2.3.4/8\n", "section [ipv4] is outside [bundle]"),
            ("teql0.conf", "[bundle]\ndefault-route=yes\n", "default-route=yes needs a gateway"),
            ("teql0.conf", "[bundle]\nmtu=9\n", "mtu=\"9\" is not valid: expected a number from 68 to 65535"),
            (
                "wan.conf",
                "[bundle]\n",
                "wan is a bundle that is not named teqlN, so it must be a multipath bundle: add mode=multipath",
            ),
            ("teql1.conf", "[bundle]\nmode=multipath\n", "mode=multipath on teql1: teqlN names are TEQL bundles"),
            ("teqlx.conf", "[bundle]\nmode=multipath\n", "the file's name gives the bundle teqlx, which is neither"),
            (
                "wan.conf",
                "[bundle]\nmode=multipath\naddress=198.51.100.10/29\n",
                "address is set on the multipath bundle wan",
            ),
            ("wan.conf", "[bundle]\nmode=multipath\nmode=connection\n", "mode=\"connection\" is a second mode"),
            (
                "wan.conf",
                "[bundle]\nmode=connection\nprefer=eth1\nprefer-dst=198.18.64.0/18\nnat=198.18.100.5/24\n",
                "nat=\"198.18.100.5/24\" is not valid: expected IPv4 networks",
            ),
            (
                "wan.conf",
                "[bundle]\nmode=multipath\nnat=198.18.100.0/24\n",
                "nat=\"198.18.100.0/24\" is not valid: expected nothing: it is read only on a connection bundle",
            ),
            ("wan.conf", "[bundle]\nmode=multipath\nhash=l5\n", "hash=\"l5\" is not valid: expected l4, l3 or keep"),
            (
                "wan.conf",
                "[bundle]\nmode=multipath\nweight=2\n",
                "weight is a line's key: it belongs in the [user] section of each line's profile, as teqlctl.weight",
            ),
            ("wan.conf", "[bundle]\nmode=multipath\nteqlctl.mode=multipath\n", "did you mean mode?"),
            (
                "wan.conf",
                "[bundle]\nmode=multipath\ndefault-route=maybe\n",
                "default-route=\"maybe\" is not valid: expected yes or no",
            ),
            (
                "teql0.conf",
                "[bundle]\ndefault-route=maybe\n",
                "default-route=\"maybe\" is not valid: expected yes or no",
            ),
        ];
        for (name, text, want) in cases {
            let root = TempDir::new().unwrap();
            put(&root, &format!("etc/teqlctl/bundles/{name}"), text);
            let cfg = load(root.path());
            let got = messages(&cfg);
            assert!(got.len() == 1 && got[0].contains(want), "{text:?}: want {want:?}, got {got:?}");
            assert!(cfg.masters.is_empty(), "{text:?}: a broken bundle is not configured");
        }
        let root = TempDir::new().unwrap();
        put(
            &root,
            "etc/teqlctl/bundles/teql2.conf",
            "[bundle]\naddress=198.18.0.2/30\ngateway=198.18.0.1\ndefault-route=no\n",
        );
        let cfg = load(root.path());
        assert_eq!(messages(&cfg), Vec::<String>::new());
        assert!(!cfg.masters["teql2"].default_route);
    }

    #[test]
    fn the_dispatcher_profile_by_file_name_or_uuid() {
        let root = TempDir::new().unwrap();
        let p = put(&root, &format!("{PROFILES}/x.nmconnection"), "[connection]\nuuid=abc-1\ninterface-name=eth2\n");
        let r = root.path();
        assert_eq!(
            profile_path(r, Some("/etc/NetworkManager/system-connections/x.nmconnection"), None),
            Some(p.clone())
        );
        assert_eq!(profile_path(r, None, Some("abc-1")), Some(p));
        assert_eq!(profile_path(r, None, Some("abc-2")), None);
        assert_eq!(profile_path(r, Some(""), None), None);
        assert_eq!(profile_path(Path::new("/"), Some("/a/b"), None), Some(PathBuf::from("/a/b")));
    }
}
