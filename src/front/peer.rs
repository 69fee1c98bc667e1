//! `teqlctl peer-config MASTER`: the aggregator's configuration files for an office's TEQL
//! bundle of tunnels (teqlctl-config(5), TUNNELS AS LINES).
//!
//! The office's files are the source of truth. Each line of MASTER is a GRE or IPIP tunnel to
//! the aggregator; the aggregator gets the mirror image: one tunnel back to each line (same
//! name, local and remote swapped, the receive and send keys swapped), a teqlN over them whose
//! address is the office master's GATEWAY with the office's prefix length, TEQL_ROUTE (the
//! office's TEQL_PEER_ROUTE: its LAN, routed through the bundle) and, with TEQL_PEER_NAT,
//! TEQL_NAT (those networks and the bundle's own, masqueraded when they leave by another
//! interface). No GATEWAY: the aggregator's default route is its uplink's.
//!
//! Like config -> plan, this is a pure function ([`generate`]) from the configuration to a list
//! of files; [`render`] prints them and [`write`] writes them, separately.
//!
//! # Formats
//!
//! `ifcfg` (network-scripts): `ifcfg-LINE` for each line (DEVICE, TYPE, ONBOOT=yes,
//! MY_OUTER_IPADDR, PEER_OUTER_IPADDR, KEY when keyed, TEQL_MASTER) and `ifcfg-teqlN` (DEVICE,
//! ONBOOT=yes, IPADDR, PREFIX, TEQL_ROUTE, TEQL_NAT; network-scripts runs ifup-teql for the
//! name teqlN, as for the office's own master).
//!
//! `interfaces` (ifupdown): one fragment named after the aggregator's master (`teqlN`, for
//! /etc/network/interfaces.d/teqlN): for each line an `inet manual` stanza whose `pre-up ip
//! tunnel add` makes the tunnel (ifupdown's own `inet tunnel` method has no key and needs an
//! inner address), then `iface teqlN inet static` with `address`, `teql-route` and `teql-nat`.
//!
//! Every file starts with comment lines saying that `teqlctl peer-config` generated it, from
//! which of the office's files, and that it is the aggregator's side.
//!
//! # Printed output
//!
//! Without `--write`, each file is printed as one header line `# ==> NAME <==` (NAME: the file
//! name, such as `ifcfg-tl1`) followed by the file's contents, each line ending in a newline;
//! one empty line separates a file from the next header. The header is a comment in both
//! formats and no file has a line of that form, so an admin can split the output on it
//! (`awk '/^# ==> .* <==$/ { f = $3; next } { print > f }'`).
//!
//! # Writing
//!
//! `--write DIR` writes the files into DIR (which must exist), mode 0644, each through a
//! temporary name in DIR that is then linked to the file's name: link(2) never replaces a file,
//! so an admin's file is never overwritten, even one created meanwhile. If any target exists,
//! nothing is written.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{
    BundleName, Config, Ipv4Prefix, Master, Member, TunnelConf, TunnelKind, TunnelOrigin, EXPECT_MASTER,
};
use crate::text::escape_for_message;

/// The format of the aggregator's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// network-scripts' ifcfg files
    Ifcfg,
    /// one /etc/network/interfaces fragment (ifupdown)
    Interfaces,
}

impl Format {
    /// The format a configuration file is in: the ifcfg reader reads only ifcfg-* files in a
    /// network-scripts directory; everything else comes from /etc/network/interfaces.
    pub(crate) fn of_file(path: &Path) -> Format {
        let ifcfg = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ifcfg-"))
            && path.parent().and_then(Path::file_name).is_some_and(|d| d == "network-scripts");
        if ifcfg {
            Format::Ifcfg
        } else {
            Format::Interfaces
        }
    }
}

/// What `teqlctl peer-config` was asked.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// None: the format of the office master's own file.
    pub format: Option<Format>,
    /// The aggregator's master (default: the office's name), checked where it came in
    /// (`Options::far_master`).
    pub far_master: Option<&'a BundleName>,
    /// The configuration root the office's files were read below (`--root`): comments name
    /// the files as they are on the office box.
    pub root: &'a Path,
}

/// One file for the aggregator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFile {
    /// The file's name (no directory): `ifcfg-tl1`, `teql0`.
    pub name: String,
    pub contents: String,
}

/// Why no files could be made or written. Each is one line naming the bundle, line, file and
/// key concerned, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{}: {}", shown(.name), .why)]
    NoSuchMaster { name: String, why: String },

    #[error("--master {}: not a teql master name: expected {}", shown(.0), EXPECT_MASTER)]
    BadFarMaster(String),

    #[error(
        "{}: {} is a {mode} bundle: peer-config mirrors TEQL bundles (teqlN) whose lines are GRE or IPIP tunnels",
        path_text(.path), shown(.name)
    )]
    NotTeql { path: PathBuf, name: String, mode: &'static str },

    #[error(
        "{} has no file of its own: peer-config needs its address and gateway; add ifcfg-{} (IPADDR, PREFIX, \
         GATEWAY) or an `iface {} inet static` stanza (address, gateway)",
        shown(.0), shown(.0), shown(.0)
    )]
    NoMasterFile(String),

    #[error("{}: {} has no {key}: {why}; add {key}", path_text(.path), shown(.master))]
    MasterKey { path: PathBuf, master: String, key: &'static str, why: &'static str },

    #[error(
        "{}: the gateway {gateway} of {} is not another address of its network {net}: the aggregator's end of \
         the bundle takes it as its address in that network; set {key} to the aggregator's address on the bundle",
        path_text(.path), shown(.master)
    )]
    GatewayOutside { path: PathBuf, master: String, gateway: Ipv4Addr, net: Ipv4Prefix, key: &'static str },

    #[error(
        "{} has no lines in the configuration: peer-config makes the aggregator one tunnel back to each line; \
         name {} in the tunnels' files ({})",
        shown(.0), shown(.0), master_key(*.1)
    )]
    NoLines(String, Format),

    #[error(
        "{}: {} is a line of {} but not a GRE or IPIP tunnel: the aggregator needs a tunnel back to each line; {}",
        path_text(.path), shown(.line), shown(.master), not_tunnel_hint(*.format, .line)
    )]
    NotTunnel { path: PathBuf, line: String, master: String, format: Format },

    #[error(
        "{}: the tunnel {} has no {what}: the aggregator's tunnel takes it as its {far}; add {}",
        path_text(.path), shown(.line), add_hint(*.origin, *.local)
    )]
    TunnelAddress {
        path: PathBuf,
        line: String,
        origin: TunnelOrigin,
        local: bool,
        what: &'static str,
        far: &'static str,
    },

    #[error(
        "{}: the tunnel {} receives with the key {} and sends with {}: network-scripts' KEY is both, so ifcfg \
         files cannot mirror it; use --format interfaces",
        path_text(.path), shown(.line), key_text(*.ikey), key_text(*.okey)
    )]
    KeysDiffer { path: PathBuf, line: String, ikey: Option<u32>, okey: Option<u32> },

    #[error(
        "{}: {} is not a name peer-config writes into the aggregator's files (letters, digits, '.', '_' and '-', \
         not first '.' or '-'); rename the line",
        path_text(.path), shown(.name)
    )]
    UnsafeName { path: PathBuf, name: String },

    #[error(
        "{}: {} would masquerade more than 64 networks (TEQL_PEER_ROUTE and the bundle's own): list fewer, wider networks",
        path_text(.path), shown(.master)
    )]
    TooManyNetworks { path: PathBuf, master: String },

    #[error("--write {}: not a directory; create it first", path_text(.0))]
    NotADirectory(PathBuf),

    #[error(
        "{} exists: peer-config never overwrites a file; move it away or write to another directory (nothing was written)",
        path_text(.0)
    )]
    Exists(PathBuf),

    #[error("cannot write {}: {err}", path_text(.path))]
    Io { path: PathBuf, err: std::io::Error },
}

impl PeerError {
    pub(crate) fn exit_code(&self) -> i32 {
        use crate::exit;
        match self {
            PeerError::NoSuchMaster { .. } | PeerError::BadFarMaster(_) | PeerError::NotADirectory(_) => exit::USAGE,
            PeerError::Exists(_) => exit::FAILURE,
            PeerError::Io { err, .. } if err.kind() == std::io::ErrorKind::PermissionDenied => exit::PERMISSION,
            PeerError::Io { .. } => exit::FAILURE,
            _ => exit::CONFIG,
        }
    }
}

impl From<PeerError> for crate::error::Error {
    fn from(e: PeerError) -> Self {
        crate::error::Error::Peer { message: e.to_string(), code: e.exit_code() }
    }
}

fn shown(text: &str) -> String {
    escape_for_message(text, crate::config::MESSAGE_VALUE_CHARS)
}

fn path_text(p: &Path) -> String {
    escape_for_message(&p.to_string_lossy(), 512)
}

fn key_text(k: Option<u32>) -> String {
    k.map_or_else(|| "none".to_string(), |k| k.to_string())
}

fn master_key(f: Format) -> &'static str {
    match f {
        Format::Ifcfg => "TEQL_MASTER",
        Format::Interfaces => "teql-master",
    }
}

fn not_tunnel_hint(format: Format, line: &str) -> String {
    match format {
        Format::Ifcfg => "make it one with TYPE=GRE (or IPIP), MY_OUTER_IPADDR (its ISP line's address) and \
                          PEER_OUTER_IPADDR (the aggregator's)"
            .to_string(),
        Format::Interfaces => format!(
            "make it `inet tunnel` with mode gre (or ipip), local and endpoint, or `inet manual` with `pre-up ip \
             tunnel add {} mode gre local ADDRESS remote ADDRESS`",
            shown(line)
        ),
    }
}

fn add_hint(origin: TunnelOrigin, local: bool) -> String {
    let key = if local { origin.local_key() } else { origin.remote_key() };
    match origin {
        TunnelOrigin::Ifcfg => format!("{key}=ADDRESS"),
        TunnelOrigin::TunnelMethod | TunnelOrigin::TunnelOptions => format!("`{key} ADDRESS` to its stanza"),
        TunnelOrigin::Command => {
            format!("`{} ADDRESS` to its pre-up ip command", if local { "local" } else { "remote" })
        }
    }
}

/// The most networks one key may list (as the readers' MAX_PREFIXES).
const MAX_NETWORKS: usize = 64;

/// What a line becomes on the aggregator.
struct FarTunnel<'a> {
    office: &'a Member,
    kind: TunnelKind,
    /// The aggregator's outer address (the office's remote).
    local: Ipv4Addr,
    /// The office line's outer address (the office's local).
    remote: Ipv4Addr,
    /// The aggregator's receive and send keys (the office's send and receive keys).
    ikey: Option<u32>,
    okey: Option<u32>,
}

/// `--master` of peer-config: the aggregator's master, a teqlN.
pub(crate) fn far_master(name: &str) -> Result<BundleName, PeerError> {
    BundleName::teql(name).ok_or_else(|| PeerError::BadFarMaster(name.to_string()))
}

/// The aggregator's files for the office's bundle `master`.
pub(crate) fn generate(cfg: &Config, master: &str, opts: &Options) -> Result<Vec<PeerFile>, PeerError> {
    let office = find_master(cfg, master)?;
    let far = opts.far_master.map_or(master, BundleName::as_str);
    let Some(source) = office.source.as_deref() else { return Err(PeerError::NoMasterFile(master.to_string())) };
    let master_format = Format::of_file(source);
    let format = opts.format.unwrap_or(master_format);
    let (address, gateway) = master_addresses(office, source, master_format)?;
    let far_address = Ipv4Prefix { addr: gateway, prefix_len: address.prefix_len };
    let routes = office.routing.peer_routes.clone();
    let nat = if office.routing.peer_nat {
        let mut n = routes.clone();
        let own = network(address);
        if !n.contains(&own) {
            n.push(own);
        }
        if n.len() > MAX_NETWORKS {
            return Err(PeerError::TooManyNetworks { path: source.to_path_buf(), master: master.to_string() });
        }
        n
    } else {
        Vec::new()
    };

    let lines: Vec<&Member> = cfg.members_of(master).collect();
    if lines.is_empty() {
        return Err(PeerError::NoLines(master.to_string(), master_format));
    }
    let tunnels = lines.into_iter().map(|m| far_tunnel(m, master, format)).collect::<Result<Vec<_>, _>>()?;

    let mut command = format!("teqlctl peer-config {master}");
    let mut renamed = String::new();
    if far != master {
        command.push_str(&format!(" --master {far}"));
        renamed = format!(" (as {far})");
    }
    let shown_file = |p: &Path| office_path(opts.root, p);
    Ok(match format {
        Format::Ifcfg => {
            let mut files: Vec<PeerFile> = tunnels
                .iter()
                .map(|t| {
                    let name = format!("ifcfg-{}", t.office.device);
                    let mut c = header(
                        &format!("the office's tunnel {} (a line of {master})", t.office.device),
                        &command,
                        &[shown_file(&t.office.source)],
                        &format!("/etc/sysconfig/network-scripts/{name}"),
                    );
                    let _ = writeln!(c, "DEVICE={}", t.office.device);
                    let _ = writeln!(c, "TYPE={}", t.kind.ifcfg_type());
                    c.push_str("ONBOOT=yes\n");
                    let _ = writeln!(c, "MY_OUTER_IPADDR={}", t.local);
                    let _ = writeln!(c, "PEER_OUTER_IPADDR={}", t.remote);
                    if let Some(k) = t.ikey {
                        let _ = writeln!(c, "KEY={k}");
                    }
                    let _ = writeln!(c, "TEQL_MASTER={far}");
                    PeerFile { name, contents: c }
                })
                .collect();
            let name = format!("ifcfg-{far}");
            let mut c = header(
                &format!("the office's bundle {master}{renamed}"),
                &command,
                &[shown_file(source)],
                &format!("/etc/sysconfig/network-scripts/{name}"),
            );
            let _ = writeln!(c, "DEVICE={far}");
            c.push_str("ONBOOT=yes\n");
            let _ = writeln!(c, "IPADDR={}", far_address.addr);
            let _ = writeln!(c, "PREFIX={}", far_address.prefix_len);
            if !routes.is_empty() {
                let _ = writeln!(c, "TEQL_ROUTE=\"{}\"", list(&routes));
            }
            if !nat.is_empty() {
                let _ = writeln!(c, "TEQL_NAT=\"{}\"", list(&nat));
            }
            files.push(PeerFile { name, contents: c });
            files
        }
        Format::Interfaces => {
            let mut sources: Vec<String> = Vec::new();
            for p in tunnels.iter().map(|t| t.office.source.as_path()).chain([source]) {
                let s = shown_file(p);
                if !sources.contains(&s) {
                    sources.push(s);
                }
            }
            let names: Vec<&str> = tunnels.iter().map(|t| t.office.device.as_str()).collect();
            let mut c = header(
                &format!("the office's bundle {master}{renamed} and its tunnels {}", names.join(", ")),
                &command,
                &sources,
                &format!("/etc/network/interfaces.d/{far}"),
            );
            for t in &tunnels {
                let d = &t.office.device;
                let mut add =
                    format!("ip tunnel add {d} mode {} local {} remote {}", t.kind.ip_mode(), t.local, t.remote);
                match (t.ikey, t.okey) {
                    (Some(i), Some(o)) if i == o => add.push_str(&format!(" key {i}")),
                    (i, o) => {
                        if let Some(i) = i {
                            add.push_str(&format!(" ikey {i}"));
                        }
                        if let Some(o) = o {
                            add.push_str(&format!(" okey {o}"));
                        }
                    }
                }
                let _ = write!(
                    c,
                    "\nauto {d}\niface {d} inet manual\n    pre-up {add} ttl 64\n    up ip link set {d} up\n    \
                     post-down ip tunnel del {d}\n    teql-master {far}\n"
                );
            }
            let _ = write!(c, "\nauto {far}\niface {far} inet static\n    address {far_address}\n");
            if !routes.is_empty() {
                let _ = writeln!(c, "    teql-route {}", list(&routes));
            }
            if !nat.is_empty() {
                let _ = writeln!(c, "    teql-nat {}", list(&nat));
            }
            vec![PeerFile { name: far.to_string(), contents: c }]
        }
    })
}

fn find_master<'a>(cfg: &'a Config, name: &str) -> Result<&'a Master, PeerError> {
    if let Some(m) = cfg.masters.get(name) {
        return if m.has_peer() {
            Ok(m)
        } else {
            Err(PeerError::NotTeql {
                path: m.source.clone().unwrap_or_default(),
                name: name.to_string(),
                mode: m.mode.name(),
            })
        };
    }
    let why = match cfg.members.get(name) {
        Some(line) => format!("a line of {}, not a bundle: give its bundle", shown(&line.master)),
        None => "no such bundle in the configuration (peer-config takes a TEQL bundle teqlN whose lines are \
                 tunnels)"
            .to_string(),
    };
    Err(PeerError::NoSuchMaster { name: name.to_string(), why })
}

/// The office master's address and gateway; the gateway must be another address of its
/// network (the aggregator takes it, with the same prefix length).
fn master_addresses(m: &Master, path: &Path, format: Format) -> Result<(Ipv4Prefix, Ipv4Addr), PeerError> {
    let (addr_key, gw_key) = match format {
        Format::Ifcfg => ("IPADDR", "GATEWAY"),
        Format::Interfaces => ("address", "gateway"),
    };
    let missing = |key, why| PeerError::MasterKey { path: path.to_path_buf(), master: m.device.to_string(), key, why };
    let address = m.address.ok_or_else(|| {
        missing(
            addr_key,
            "the aggregator's end of the bundle is its gateway in its network, and routes the office's address \
             back over the bundle",
        )
    })?;
    let gateway = m.gateway.ok_or_else(|| {
        missing(gw_key, "the aggregator's end of the bundle takes the gateway as its address (such as 198.18.200.1)")
    })?;
    let net = network(address);
    let usable = match address.prefix_len {
        32 => false,
        31 => true,
        _ => gateway != net.addr && gateway != broadcast(address),
    };
    if network(Ipv4Prefix { addr: gateway, prefix_len: address.prefix_len }) != net
        || gateway == address.addr
        || !usable
    {
        return Err(PeerError::GatewayOutside {
            path: path.to_path_buf(),
            master: m.device.to_string(),
            gateway,
            net,
            key: gw_key,
        });
    }
    Ok((address, gateway))
}

fn far_tunnel<'a>(m: &'a Member, master: &str, format: Format) -> Result<FarTunnel<'a>, PeerError> {
    if !safe_name(&m.device) {
        return Err(PeerError::UnsafeName { path: m.source.clone(), name: m.device.to_string() });
    }
    let Some(TunnelConf { kind, local, remote, ikey, okey, origin }) = m.tunnel else {
        return Err(PeerError::NotTunnel {
            path: m.source.clone(),
            line: m.device.to_string(),
            master: master.to_string(),
            format: Format::of_file(&m.source),
        });
    };
    let missing = |local: bool| PeerError::TunnelAddress {
        path: m.source.clone(),
        line: m.device.to_string(),
        origin,
        local,
        what: if local { "local address (its ISP line's)" } else { "remote address (the aggregator's)" },
        far: if local { "remote" } else { "local" },
    };
    let office_local = local.ok_or_else(|| missing(true))?;
    let office_remote = remote.ok_or_else(|| missing(false))?;
    if format == Format::Ifcfg && ikey != okey {
        return Err(PeerError::KeysDiffer { path: m.source.clone(), line: m.device.to_string(), ikey, okey });
    }
    Ok(FarTunnel { office: m, kind, local: office_remote, remote: office_local, ikey: okey, okey: ikey })
}

/// A name that is the same word in a shell-sourced ifcfg file, an interfaces stanza and a file
/// name: nothing there may be read as syntax.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn network(p: Ipv4Prefix) -> Ipv4Prefix {
    let mask = u32::MAX.checked_shl(32 - u32::from(p.prefix_len)).unwrap_or(0);
    Ipv4Prefix { addr: Ipv4Addr::from(u32::from(p.addr) & mask), prefix_len: p.prefix_len }
}

fn broadcast(p: Ipv4Prefix) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(p.prefix_len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(p.addr) | !mask)
}

fn list(ps: &[Ipv4Prefix]) -> String {
    ps.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// A file as the office box names it (below `root`, as if `root` were /), safe in a comment.
fn office_path(root: &Path, p: &Path) -> String {
    let shown = match p.strip_prefix(root) {
        Ok(rel) => Path::new("/").join(rel),
        Err(_) => p.to_path_buf(),
    };
    path_text(&shown)
}

/// The comment every file starts with: what it is the far end of, how and from which of the
/// office's files it was made, and where it goes.
fn header(what: &str, command: &str, sources: &[String], dest: &str) -> String {
    let mut c = format!("# The aggregator's end of {what}, generated by\n# `{command}` from the office's ");
    match sources {
        [one] => {
            let _ = writeln!(c, "{one}.");
        }
        many => {
            c.push_str("files\n");
            for s in many {
                let _ = writeln!(c, "#   {s}");
            }
        }
    }
    let _ = writeln!(c, "# Install it on the aggregator as {dest}, not on the office box.");
    c
}

/// The printed form: each file after its `# ==> NAME <==` line, an empty line between files.
pub fn render(files: &[PeerFile]) -> String {
    let mut out = String::new();
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "# ==> {} <==", f.name);
        out.push_str(&f.contents);
    }
    out
}

/// The paths `files` would have in `dir`, once checked: `dir` is a directory and none of them
/// exists (the first that does is the error).
pub fn targets(dir: &Path, files: &[PeerFile]) -> Result<Vec<PathBuf>, PeerError> {
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(PeerError::NotADirectory(dir.to_path_buf()));
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(&f.name)).collect();
    if let Some(p) = paths.iter().find(|p| fs::symlink_metadata(p).is_ok()) {
        return Err(PeerError::Exists(p.clone()));
    }
    Ok(paths)
}

/// Writes `files` into `dir` (see the module's documentation), all or none of them; returns
/// the paths written.
pub fn write(dir: &Path, files: &[PeerFile]) -> Result<Vec<PathBuf>, PeerError> {
    let paths = targets(dir, files)?;
    let mut done: Vec<PathBuf> = Vec::new();
    for (f, path) in files.iter().zip(&paths) {
        if let Err(e) = write_one(dir, f, path) {
            // All or none: the ones already written go (they are ours: made by link just now).
            for p in &done {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        done.push(path.clone());
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(done)
}

fn write_one(dir: &Path, f: &PeerFile, path: &Path) -> Result<(), PeerError> {
    let tmp = dir.join(format!(".{}.{}", f.name, std::process::id()));
    let io = |err| PeerError::Io { path: path.to_path_buf(), err };
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        file.write_all(f.contents.as_bytes())?;
        // The umask may have taken bits away; the aggregator's tools read these files as root,
        // and the admin's own files are 0644.
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    let result = match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PeerError::Exists(path.to_path_buf())),
        // A file system without hard links (some FUSE and FAT ones): rename, which replaces a
        // file, so only after one more look.
        Err(_) if fs::symlink_metadata(path).is_ok() => Err(PeerError::Exists(path.to_path_buf())),
        Err(_) => fs::rename(&tmp, path).map_err(io),
    };
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, BundleRouting, Mode, MultipathOptions, Probe, RpFilter};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Ipv4Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Ipv4Prefix { addr: ip(a), prefix_len: l.parse().unwrap() }
    }

    const ROOT: &str = "/office";
    const SCRIPTS: &str = "/office/etc/sysconfig/network-scripts";

    fn tunnel(local: &str, remote: &str, key: Option<u32>) -> TunnelConf {
        TunnelConf {
            kind: TunnelKind::Gre,
            local: Some(ip(local)),
            remote: Some(ip(remote)),
            ikey: key,
            okey: key,
            origin: TunnelOrigin::Ifcfg,
        }
    }

    fn line(device: &str, tunnel: Option<TunnelConf>) -> Member {
        Member {
            device: device.into(),
            master: "teql0".into(),
            rp_filter: RpFilter::Loose,
            onboot: true,
            probe: Probe::default(),
            path: Default::default(),
            tunnel,
            source: format!("{SCRIPTS}/ifcfg-{device}").into(),
            spelling: crate::config::Spelling::Ifcfg,
        }
    }

    /// The README's office, as the ifcfg reader would give it.
    fn office() -> Config {
        let mut c = Config::default();
        let mut m = Master::bare("teql0".into());
        m.address = Some(net("198.18.200.2/30"));
        m.gateway = Some(ip("198.18.200.1"));
        m.default_route = true;
        m.source = Some(format!("{SCRIPTS}/ifcfg-teql0").into());
        m.routing = BundleRouting { peer_routes: vec![net("198.18.100.0/24")], peer_nat: true, ..Default::default() };
        c.masters.insert("teql0".into(), m);
        c.members.insert("tl1".into(), line("tl1", Some(tunnel("198.51.100.10", "198.18.0.2", Some(1)))));
        c.members.insert("tl2".into(), line("tl2", Some(tunnel("192.0.2.10", "198.18.0.2", Some(2)))));
        c
    }

    /// As the CLI runs it: `far`, if any, checked by `far_master` first.
    fn gen(c: &Config, format: Option<Format>, far: Option<&str>) -> Result<Vec<PeerFile>, PeerError> {
        let far = far.map(far_master).transpose()?;
        generate(c, "teql0", &Options { format, far_master: far.as_ref(), root: Path::new(ROOT) })
    }

    fn err(c: &Config) -> String {
        gen(c, None, None).unwrap_err().to_string()
    }

    /// The file's lines that are not comments.
    fn body(f: &PeerFile) -> Vec<&str> {
        f.contents.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn the_office_example_as_ifcfg() {
        let files = gen(&office(), None, None).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["ifcfg-tl1", "ifcfg-tl2", "ifcfg-teql0"]);
        assert_eq!(
            body(&files[0]),
            [
                "DEVICE=tl1",
                "TYPE=GRE",
                "ONBOOT=yes",
                "MY_OUTER_IPADDR=198.18.0.2",
                "PEER_OUTER_IPADDR=198.51.100.10",
                "KEY=1",
                "TEQL_MASTER=teql0"
            ]
        );
        assert_eq!(
            files[0].contents.lines().take(3).collect::<Vec<_>>(),
            [
                "# The aggregator's end of the office's tunnel tl1 (a line of teql0), generated by",
                "# `teqlctl peer-config teql0` from the office's /etc/sysconfig/network-scripts/ifcfg-tl1.",
                "# Install it on the aggregator as /etc/sysconfig/network-scripts/ifcfg-tl1, not on the office box.",
            ]
        );
        assert_eq!(
            body(&files[2]),
            [
                "DEVICE=teql0",
                "ONBOOT=yes",
                "IPADDR=198.18.200.1",
                "PREFIX=30",
                "TEQL_ROUTE=\"198.18.100.0/24\"",
                "TEQL_NAT=\"198.18.100.0/24 198.18.200.0/30\""
            ]
        );
        assert!(files[2].contents.contains("from the office's /etc/sysconfig/network-scripts/ifcfg-teql0.\n"));
    }

    #[test]
    fn the_office_example_as_interfaces_with_another_master() {
        let files = gen(&office(), Some(Format::Interfaces), Some("teql1")).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "teql1");
        let text = &files[0].contents;
        assert!(text.starts_with(
            "# The aggregator's end of the office's bundle teql0 (as teql1) and its tunnels tl1, tl2, generated by\n\
             # `teqlctl peer-config teql0 --master teql1` from the office's files\n\
             #   /etc/sysconfig/network-scripts/ifcfg-tl1\n\
             #   /etc/sysconfig/network-scripts/ifcfg-tl2\n\
             #   /etc/sysconfig/network-scripts/ifcfg-teql0\n\
             # Install it on the aggregator as /etc/network/interfaces.d/teql1, not on the office box.\n\n"
        ));
        assert!(text.ends_with(
            "auto tl2\n\
             iface tl2 inet manual\n    \
             pre-up ip tunnel add tl2 mode gre local 198.18.0.2 remote 192.0.2.10 key 2 ttl 64\n    \
             up ip link set tl2 up\n    \
             post-down ip tunnel del tl2\n    \
             teql-master teql1\n\
             \n\
             auto teql1\n\
             iface teql1 inet static\n    \
             address 198.18.200.1/30\n    \
             teql-route 198.18.100.0/24\n    \
             teql-nat 198.18.100.0/24 198.18.200.0/30\n"
        ));
    }

    #[test]
    fn keys_are_swapped_and_ipip_has_none() {
        let mut c = office();
        let t = c.members.get_mut("tl1").unwrap().tunnel.as_mut().unwrap();
        (t.ikey, t.okey) = (Some(5), Some(6));
        let t = c.members.get_mut("tl2").unwrap().tunnel.as_mut().unwrap();
        (t.kind, t.ikey, t.okey) = (TunnelKind::Ipip, None, None);
        let files = gen(&c, Some(Format::Interfaces), None).unwrap();
        let text = &files[0].contents;
        assert!(text.contains(
            "pre-up ip tunnel add tl1 mode gre local 198.18.0.2 remote 198.51.100.10 ikey 6 okey 5 ttl 64\n"
        ));
        assert!(text.contains("pre-up ip tunnel add tl2 mode ipip local 198.18.0.2 remote 192.0.2.10 ttl 64\n"));
        // network-scripts has one KEY for both directions.
        let e = gen(&c, None, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{SCRIPTS}/ifcfg-tl1: the tunnel tl1 receives with the key 5 and sends with 6: network-scripts' KEY is \
                 both, so ifcfg files cannot mirror it; use --format interfaces"
            )
        );
        let t = c.members.get_mut("tl1").unwrap().tunnel.as_mut().unwrap();
        (t.ikey, t.okey) = (None, Some(7));
        let files = gen(&c, Some(Format::Interfaces), None).unwrap();
        assert!(files[0].contents.contains("remote 198.51.100.10 ikey 7 ttl 64\n"));
    }

    #[test]
    fn routes_and_nat_follow_the_peer_keys() {
        let mut c = office();
        c.masters.get_mut("teql0").unwrap().routing.peer_nat = false;
        let f = gen(&c, None, None).unwrap();
        assert!(f[2].contents.contains("TEQL_ROUTE=") && !f[2].contents.contains("TEQL_NAT="));
        c.masters.get_mut("teql0").unwrap().routing = BundleRouting { peer_nat: true, ..Default::default() };
        let f = gen(&c, None, None).unwrap();
        assert_eq!(body(&f[2])[4..], ["TEQL_NAT=\"198.18.200.0/30\""]);
        // The bundle's network listed by the office already is not repeated (the readers refuse
        // a network twice).
        c.masters.get_mut("teql0").unwrap().routing.peer_routes = vec![net("198.18.200.0/30"), net("10.1.0.0/16")];
        let f = gen(&c, None, None).unwrap();
        assert_eq!(body(&f[2])[5], "TEQL_NAT=\"198.18.200.0/30 10.1.0.0/16\"");
        c.masters.get_mut("teql0").unwrap().routing = BundleRouting::default();
        let f = gen(&c, None, None).unwrap();
        assert_eq!(body(&f[2]).len(), 4, "no TEQL_ROUTE, no TEQL_NAT");
        let many: Vec<Ipv4Prefix> =
            (0..64).map(|i| Ipv4Prefix { addr: Ipv4Addr::new(10, i, 0, 0), prefix_len: 16 }).collect();
        c.masters.get_mut("teql0").unwrap().routing =
            BundleRouting { peer_routes: many, peer_nat: true, ..Default::default() };
        assert!(err(&c).contains("would masquerade more than 64 networks"), "{}", err(&c));
    }

    #[test]
    fn the_master_needs_an_address_and_a_gateway_in_its_network() {
        let mut c = office();
        c.masters.get_mut("teql0").unwrap().gateway = None;
        assert_eq!(
            err(&c),
            format!(
                "{SCRIPTS}/ifcfg-teql0: teql0 has no GATEWAY: the aggregator's end of the bundle takes the gateway as \
                 its address (such as 198.18.200.1); add GATEWAY"
            )
        );
        c.masters.get_mut("teql0").unwrap().address = None;
        assert!(err(&c).contains("teql0 has no IPADDR: "), "{}", err(&c));
        for (addr, gw) in [
            ("198.18.200.2/30", "198.18.201.1"),
            ("198.18.200.2/30", "198.18.200.2"),
            ("198.18.200.2/30", "198.18.200.3"),
            ("198.18.200.2/30", "198.18.200.0"),
            ("198.18.200.2/32", "198.18.200.1"),
        ] {
            let m = c.masters.get_mut("teql0").unwrap();
            (m.address, m.gateway) = (Some(net(addr)), Some(ip(gw)));
            let e = err(&c);
            assert!(e.contains(&format!("the gateway {gw} of teql0 is not another address of its network")), "{e}");
        }
        let m = c.masters.get_mut("teql0").unwrap();
        (m.address, m.gateway) = (Some(net("198.18.200.0/31")), Some(ip("198.18.200.1")));
        let f = gen(&c, None, None).unwrap();
        assert_eq!(body(&f[2])[2..4], ["IPADDR=198.18.200.1", "PREFIX=31"]);
        // Without a file of its own (named by its lines only).
        c.masters.insert("teql0".into(), Master::bare("teql0".into()));
        assert!(err(&c).starts_with("teql0 has no file of its own"), "{}", err(&c));
    }

    #[test]
    fn every_line_must_be_a_tunnel_with_both_addresses() {
        let mut c = office();
        c.members.insert("eth3".into(), line("eth3", None));
        assert_eq!(
            err(&c),
            format!(
                "{SCRIPTS}/ifcfg-eth3: eth3 is a line of teql0 but not a GRE or IPIP tunnel: the aggregator needs a \
                 tunnel back to each line; make it one with TYPE=GRE (or IPIP), MY_OUTER_IPADDR (its ISP line's \
                 address) and PEER_OUTER_IPADDR (the aggregator's)"
            )
        );
        c.members.get_mut("eth3").unwrap().source = "/office/etc/network/interfaces".into();
        assert!(err(&c).contains("make it `inet tunnel` with mode gre"), "{}", err(&c));
        let mut c = office();
        c.members.get_mut("tl2").unwrap().tunnel.as_mut().unwrap().local = None;
        assert_eq!(
            err(&c),
            format!(
                "{SCRIPTS}/ifcfg-tl2: the tunnel tl2 has no local address (its ISP line's): the aggregator's tunnel \
                 takes it as its remote; add MY_OUTER_IPADDR=ADDRESS"
            )
        );
        for (origin, hint) in [
            (TunnelOrigin::TunnelMethod, "add `endpoint ADDRESS` to its stanza"),
            (TunnelOrigin::TunnelOptions, "add `tunnel-endpoint ADDRESS` to its stanza"),
            (TunnelOrigin::Command, "add `remote ADDRESS` to its pre-up ip command"),
        ] {
            let t = c.members.get_mut("tl2").unwrap().tunnel.as_mut().unwrap();
            (t.local, t.remote, t.origin) = (Some(ip("192.0.2.10")), None, origin);
            assert!(err(&c).ends_with(hint), "{}", err(&c));
        }
        // A name peer-config could not write into a shell-sourced file never gets this far: the
        // readers take only names that IfName takes (names::name_fault).
        assert!(crate::names::IfName::new("tl$(reboot)").is_none());
    }

    #[test]
    fn bundles_that_are_not_mirrored() {
        let mut c = office();
        assert_eq!(
            generate(&c, "teql7", &Options { format: None, far_master: None, root: Path::new(ROOT) })
                .unwrap_err()
                .to_string(),
            "teql7: no such bundle in the configuration (peer-config takes a TEQL bundle teqlN whose lines are tunnels)"
        );
        let e = generate(&c, "tl1", &Options { format: None, far_master: None, root: Path::new(ROOT) }).unwrap_err();
        assert_eq!((e.to_string().as_str(), e.exit_code()), ("tl1: a line of teql0, not a bundle: give its bundle", 2));
        for bad in ["teql64", "eth0", "teql01", "wan"] {
            let e = gen(&c, None, Some(bad)).unwrap_err();
            assert_eq!(e.to_string(), format!("--master {bad}: not a teql master name: expected {EXPECT_MASTER}"));
        }
        c.members.clear();
        assert_eq!(err(&c), "teql0 has no lines in the configuration: peer-config makes the aggregator one tunnel back to each line; name teql0 in the tunnels' files (TEQL_MASTER)");
        c.masters.get_mut("teql0").unwrap().mode = Mode::Multipath(MultipathOptions::default());
        let e = gen(&c, None, None).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        assert_eq!(
            e.to_string(),
            format!(
                "{SCRIPTS}/ifcfg-teql0: teql0 is a multipath bundle: peer-config mirrors TEQL bundles (teqlN) whose \
                 lines are GRE or IPIP tunnels"
            )
        );
    }

    #[test]
    fn printed_files_have_a_header_each() {
        let files = vec![
            PeerFile { name: "ifcfg-tl1".into(), contents: "DEVICE=tl1\n".into() },
            PeerFile { name: "ifcfg-teql0".into(), contents: "DEVICE=teql0\n".into() },
        ];
        assert_eq!(render(&files), "# ==> ifcfg-tl1 <==\nDEVICE=tl1\n\n# ==> ifcfg-teql0 <==\nDEVICE=teql0\n");
    }

    #[test]
    fn write_makes_every_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let files = gen(&office(), None, None).unwrap();
        let written = write(dir.path(), &files).unwrap();
        assert_eq!(written.len(), 3);
        for f in &files {
            let p = dir.path().join(&f.name);
            assert_eq!(fs::read_to_string(&p).unwrap(), f.contents);
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o7777, 0o644);
        }
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["ifcfg-teql0", "ifcfg-tl1", "ifcfg-tl2"], "no temporary file is left");

        // One target exists: nothing is written, the admin's file is untouched.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ifcfg-teql0"), "mine\n").unwrap();
        let e = write(dir.path(), &files).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::FAILURE);
        assert!(e.to_string().starts_with(&format!("{}/ifcfg-teql0 exists: ", dir.path().display())), "{e}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(fs::read_to_string(dir.path().join("ifcfg-teql0")).unwrap(), "mine\n");
        // A dangling symlink is a file too.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("ifcfg-tl2")).unwrap();
        assert!(matches!(write(dir.path(), &files), Err(PeerError::Exists(_))));
        assert!(matches!(write(&dir.path().join("nope"), &files), Err(PeerError::NotADirectory(_))));
        assert!(matches!(write(&dir.path().join("ifcfg-tl2"), &files), Err(PeerError::NotADirectory(_))));
    }

    /// The files written under a fresh root, read back by teqlctl's own reader there.
    fn read_back(files: &[PeerFile], format: Format) -> (tempfile::TempDir, Config) {
        let root = tempfile::tempdir().unwrap();
        let dir = match format {
            Format::Ifcfg => config::ifcfg::scripts_dir(root.path()),
            Format::Interfaces => root.path().join("etc/network/interfaces.d"),
        };
        fs::create_dir_all(&dir).unwrap();
        write(&dir, files).unwrap();
        if format == Format::Interfaces {
            fs::write(config::interfaces::interfaces_file(root.path()), "source /etc/network/interfaces.d/*\n")
                .unwrap();
        }
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        (root, c)
    }

    /// `agg` is the mirror image of `office()`'s teql0 as `far`.
    fn assert_mirror(agg: &Config, far: &str, origin: TunnelOrigin) {
        let o = office();
        assert_eq!(agg.members.keys().collect::<Vec<_>>(), ["tl1", "tl2"]);
        for (name, line) in &o.members {
            let a = &agg.members[name];
            let (ot, at) = (line.tunnel.unwrap(), a.tunnel.unwrap());
            assert_eq!(a.master, far);
            assert_eq!((at.kind, at.local, at.remote), (ot.kind, ot.remote, ot.local), "{name}");
            assert_eq!((at.ikey, at.okey, at.origin), (ot.okey, ot.ikey, origin), "{name}");
        }
        let m = &agg.masters[far];
        assert_eq!(m.mode, Mode::Teql);
        assert_eq!(m.address, Some(net("198.18.200.1/30")));
        assert_eq!((m.gateway, m.default_route, m.onboot), (None, false, true));
        assert_eq!(
            m.routing,
            BundleRouting {
                routes: vec![net("198.18.100.0/24")],
                nat: vec![net("198.18.100.0/24"), net("198.18.200.0/30")],
                peer_routes: vec![],
                peer_nat: false,
            }
        );
    }

    #[test]
    fn ifcfg_files_read_back_as_the_mirror_image() {
        let (_root, agg) = read_back(&gen(&office(), None, Some("teql1")).unwrap(), Format::Ifcfg);
        assert_mirror(&agg, "teql1", TunnelOrigin::Ifcfg);
        // And mirrored again, the office's own lines and bundle come back.
        let mut again = agg.clone();
        let m = again.masters.get_mut("teql1").unwrap();
        m.gateway = Some(ip("198.18.200.2"));
        m.routing = BundleRouting { peer_routes: vec![net("198.18.100.0/24")], peer_nat: true, ..Default::default() };
        let back =
            generate(&again, "teql1", &Options { format: None, far_master: Some(&"teql0".into()), root: _root.path() });
        let back = back.unwrap();
        let (_r, office_again) = read_back(&back, Format::Ifcfg);
        for (name, line) in &office().members {
            assert_eq!(office_again.members[name].tunnel, line.tunnel, "{name}");
        }
        assert_eq!(office_again.masters["teql0"].address, Some(net("198.18.200.2/30")));
    }

    #[test]
    fn the_interfaces_fragment_reads_back_as_the_mirror_image() {
        let files = gen(&office(), Some(Format::Interfaces), None).unwrap();
        let (_root, agg) = read_back(&files, Format::Interfaces);
        assert_mirror(&agg, "teql0", TunnelOrigin::Command);
        assert!(agg.members.values().all(|m| m.onboot) && agg.masters["teql0"].onboot, "auto lines");
    }

    #[test]
    fn an_office_under_ifupdown() {
        // The office of t-40's tunnels (once t-81's): an unkeyed `inet tunnel`, a keyed tunnel made by pre-up.
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/network")).unwrap();
        fs::write(
            config::interfaces::interfaces_file(root.path()),
            "auto tl1\niface tl1 inet tunnel\n    mode gre\n    local 198.51.100.10\n    endpoint 198.18.0.2\n    \
             address 198.18.201.2\n    netmask 255.255.255.252\n    teql-master teql0\n\n\
             auto tl2\niface tl2 inet manual\n    pre-up ip tunnel add tl2 mode gre local 192.0.2.10 remote 198.18.0.2 key 2\n    \
             up ip link set tl2 up\n    post-down ip tunnel del tl2\n    teql-master teql0\n\n\
             auto teql0\niface teql0 inet static\n    address 198.18.200.2/30\n    gateway 198.18.200.1\n    \
             teql-peer-route 198.18.100.0/24\n    teql-peer-nat yes\n",
        )
        .unwrap();
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let files = generate(&c, "teql0", &Options { format: None, far_master: None, root: root.path() }).unwrap();
        assert_eq!(files.len(), 1, "the office's own format");
        let text = &files[0].contents;
        assert!(
            text.contains("generated by\n# `teqlctl peer-config teql0` from the office's /etc/network/interfaces.\n")
        );
        assert!(text.contains("pre-up ip tunnel add tl1 mode gre local 198.18.0.2 remote 198.51.100.10 ttl 64\n"));
        assert!(text.contains("pre-up ip tunnel add tl2 mode gre local 198.18.0.2 remote 192.0.2.10 key 2 ttl 64\n"));
        let e = generate(&c, "teql0", &Options { format: Some(Format::Ifcfg), far_master: None, root: root.path() });
        let files = e.unwrap();
        assert_eq!(body(&files[0])[5], "TEQL_MASTER=teql0", "tl1 has no key");
        assert_eq!(body(&files[1])[5], "KEY=2");
        let mut c = c;
        c.masters.get_mut("teql0").unwrap().gateway = None;
        let e = generate(&c, "teql0", &Options { format: None, far_master: None, root: root.path() }).unwrap_err();
        assert!(e.to_string().contains("teql0 has no gateway: "), "{e}");
    }
}
