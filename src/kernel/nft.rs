//! Running nft for connection bundles: one `nft -f FILE` per change (one atomic transaction),
//! `nft list table` to read back our own table when we do not have what we last wrote (for a
//! rollback, and to know whether a change of weights can be a change of the maps alone), a
//! netlink question whether the table exists (no process start), and the version check.
//! Always time-bounded: a hook must never hang boot.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{run_bounded, Outcome};
use crate::kernel::nfnetlink;

/// The nftables table of every connection bundle (there is one per box: see
/// config::check_connection_bundles).
pub const NFT_TABLE: &str = "teqlctl";
pub const NFT_FAMILY: &str = "inet";

/// nft loads nf_tables and its expression modules on first use; under emulation that alone has
/// taken half a minute, so the bound is generous (on hardware a run takes milliseconds).
const NFT_LIMIT: Duration = Duration::from_secs(60);
/// The oldest nft with `typeof` in map declarations (the `weights` map needs it).
pub const MIN_VERSION: (u32, u32, u32) = (0, 9, 4);

/// Where nft may be, in order of preference (nftables installs it in sbin; merged-/usr
/// systems have both sbin paths).
pub const NFT_PATHS: [&str; 4] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"];

/// The nft binary: $TEQLCTL_NFT for tests that must see a missing or old one, else the first
/// trusted one of NFT_PATHS. It runs as root from hooks, so, as modprobe, it is never looked up
/// in the caller's PATH; NetworkManager's dispatcher gives its scripts no PATH at all, where
/// a lookup found no nft.
fn nft(bundle: &str) -> Result<PathBuf> {
    if let Some(p) = crate::env::redirect("TEQLCTL_NFT") {
        return Ok(PathBuf::from(p));
    }
    let candidates = NFT_PATHS.map(std::path::Path::new);
    crate::exec::find_trusted(&candidates, 0).map_err(|passed_over| {
        if passed_over.is_empty() {
            missing(bundle)
        } else {
            Error::Nft(format!(
                "{bundle} needs nftables ({}), but no trusted nft was found: {}",
                why(bundle),
                crate::exec::untrusted_message(&candidates, &passed_over)
            ))
        }
    })
}

/// Why a bundle needs nft, for messages.
fn why(bundle: &str) -> &'static str {
    if crate::config::master_index(bundle).is_some() {
        "its TEQL_NAT"
    } else {
        "a connection bundle"
    }
}

fn missing(bundle: &str) -> Error {
    let what = why(bundle);
    Error::Nft(format!(
        "{bundle} needs nftables ({what}), but nft cannot be run: install the \
         nftables package (nft {}.{}.{} or newer)",
        MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
    ))
}

fn run(args: &[&str], bundle: &str) -> Result<(bool, String)> {
    let mut cmd = Command::new(nft(bundle)?);
    cmd.args(args).env_clear().env("PATH", crate::exec::SAFE_PATH);
    match run_bounded(&mut cmd, NFT_LIMIT, true) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(bundle)),
        Err(e) => Err(Error::Io(format!("nft {}", args.join(" ")), e)),
        Ok(Outcome::TimedOut(d)) => {
            Err(Error::Nft(format!("nft {} took longer than {:.1} s and was stopped", args.join(" "), d.as_secs_f64())))
        }
        Ok(Outcome::Exited { ok, output, .. }) => Ok((ok, output)),
    }
}

/// `nftables v1.0.6 (Lester Gooch #5)` -> (1, 0, 6).
pub(crate) fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let v = s.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    // Each part's leading digits: `9rc1` is 9.
    let mut parts = v.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    Some((parts.next()??, parts.next().flatten().unwrap_or(0), parts.next().flatten().unwrap_or(0)))
}

/// Refuses an nft that is missing or too old for our ruleset, with what to install.
pub(crate) fn check_version(bundle: &str) -> Result<()> {
    let (ok, out) = run(&["--version"], bundle)?;
    let v = if ok { parse_version(&out) } else { None };
    match v {
        Some(v) if v >= MIN_VERSION => Ok(()),
        Some((a, b, c)) => Err(Error::Nft(format!(
            "{bundle} needs nft {}.{}.{} or newer ({}); this one is {a}.{b}.{c}: \
             upgrade the nftables package",
            MIN_VERSION.0,
            MIN_VERSION.1,
            MIN_VERSION.2,
            why(bundle)
        ))),
        None => Err(Error::Nft(format!(
            "{bundle}: `nft --version` did not say which nft this is ({}): is nftables installed right?",
            crate::text::escape_for_message(out.trim(), 300)
        ))),
    }
}

/// Our table as nft lists it (a script that recreates it), or None when there is none.
pub fn current(bundle: &str) -> Result<Option<String>> {
    current_named(bundle, NFT_TABLE)
}

/// The inet table `table` as nft lists it (a TEQL bundle's NAT table too), or None.
pub(crate) fn current_named(bundle: &str, table: &str) -> Result<Option<String>> {
    let (ok, out) = run(&["list", "table", NFT_FAMILY, table], bundle)?;
    if ok {
        Ok(Some(out))
    } else if out.contains("No such file or directory") {
        Ok(None)
    } else {
        Err(Error::Nft(format!(
            "nft list table {NFT_FAMILY} {table}: {}",
            crate::text::escape_for_message(out.trim(), 300)
        )))
    }
}

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFPROTO_INET: u8 = 1;
const NFTA_TABLE_NAME: u16 = 1;

/// NFT_MSG_GETTABLE for `inet NAME`, with an ACK: nlmsghdr, nfgenmsg, NFTA_TABLE_NAME.
fn get_table_msg(name: &str, seq: u32) -> Vec<u8> {
    let mut value = name.as_bytes().to_vec();
    value.push(0);
    let mut attrs = Vec::with_capacity(value.len() + 8);
    nfnetlink::attr(&mut attrs, NFTA_TABLE_NAME, &value);
    nfnetlink::request(
        NFNL_SUBSYS_NFTABLES,
        NFT_MSG_GETTABLE,
        nfnetlink::NLM_F_REQUEST | nfnetlink::NLM_F_ACK,
        seq,
        NFPROTO_INET,
        &attrs,
    )
}

/// What the kernel's first answer to get_table_msg says: Some(exists), None if it is neither
/// the table nor an error.
fn table_answer(buf: &[u8]) -> Option<std::io::Result<bool>> {
    if let Some(e) = nfnetlink::ack_errno(buf) {
        return Some(match e {
            libc::ENOENT => Ok(false),
            0 => Err(std::io::Error::from_raw_os_error(libc::EPROTO)),
            e => Err(std::io::Error::from_raw_os_error(e)),
        });
    }
    let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
    (kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE).then_some(Ok(true))
}

const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFTA_TABLE_USE: u16 = 3;
const NFTA_TABLE_HANDLE: u16 = 4;
const NFTA_RULE_TABLE: u16 = 1;

/// What netlink tells of a table cheaply: enough to see that it is no longer the one teqlctl
/// wrote, without starting nft.
///
/// Why these three and not `nft list`, nor the ruleset generation (NFT_MSG_GETGEN): the
/// generation moves with every transaction of every table in the namespace (a firewall
/// manager, a container runtime), so it would send most `check` rounds to `nft list`, a
/// process start costing a few hundred milliseconds of a failover under emulation. The handle
/// is new whenever the table is created again (a reload of a saved `nft list ruleset`, or
/// `delete table` and `add table`); the use count falls when a chain or set goes; the rule
/// count falls to 0 after `nft flush table` and moves when anyone adds or deletes a rule. What
/// stays unseen is an element changed in a map, which the next health change rewrites anyway.
/// When the fingerprint differs from the one recorded after our write, the caller lists the
/// table with nft (for a rollback) and writes it anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// NFTA_TABLE_HANDLE (None on kernels that do not send it).
    pub handle: Option<u64>,
    /// NFTA_TABLE_USE: the table's chains, sets, objects and flowtables.
    pub uses: u32,
    /// Rules in all its chains.
    pub rules: u32,
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.handle {
            Some(h) => write!(f, "handle {h}")?,
            None => write!(f, "handle -")?,
        }
        write!(f, " use {} rules {}", self.uses, self.rules)
    }
}

impl Fingerprint {
    /// Reads back what Display wrote (a state file of ours); None if it is not that.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let w: Vec<&str> = s.split_whitespace().collect();
        let ["handle", h, "use", u, "rules", r] = w.as_slice() else { return None };
        let handle = if *h == "-" { None } else { Some(h.parse().ok()?) };
        Some(Fingerprint { handle, uses: u.parse().ok()?, rules: r.parse().ok()? })
    }
}

/// The netlink attributes of one message after its nlmsghdr and nfgenmsg: (type, value).
fn attributes(msg: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 20;
    while let (Some(len), Some(kind)) = (msg.get(at..at + 2), msg.get(at + 2..at + 4)) {
        let len = usize::from(u16::from_ne_bytes([len[0], len[1]]));
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags in the type's top bits.
        let kind = u16::from_ne_bytes([kind[0], kind[1]]) & 0x3fff;
        if len < 4 {
            break;
        }
        let Some(value) = msg.get(at + 4..at + len) else { break };
        out.push((kind, value));
        at += (len + 3) & !3;
    }
    out
}

/// The messages of one datagram: (type, the whole message).
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(kind)) = (buf.get(at..at + 4), buf.get(at + 4..at + 6)) {
        let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len < 16 {
            break;
        }
        let Some(m) = buf.get(at..at + len) else { break };
        out.push((u16::from_ne_bytes([kind[0], kind[1]]), m));
        at += (len + 3) & !3;
    }
    out
}

fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// A NEWTABLE answer's handle and use count.
fn table_fingerprint(msg: &[u8]) -> (Option<u64>, u32) {
    let attrs = attributes(msg);
    let handle = attrs.iter().find(|(k, _)| *k == NFTA_TABLE_HANDLE).and_then(|(_, v)| be_u64(v));
    let uses = attrs.iter().find(|(k, _)| *k == NFTA_TABLE_USE).and_then(|(_, v)| be_u32(v)).unwrap_or(0);
    (handle, uses)
}

/// Whether a NEWRULE message is a rule of table `name` (kernels before 4.17 dump every
/// table's rules whatever the request names).
fn rule_of(msg: &[u8], name: &str) -> bool {
    attributes(msg).iter().any(|(k, v)| *k == NFTA_RULE_TABLE && v.split(|b| *b == 0).next() == Some(name.as_bytes()))
}

/// The fingerprint of the inet table `name`, None when there is no such table.
pub fn fingerprint(name: &str) -> std::io::Result<Option<Fingerprint>> {
    let proto = || std::io::Error::from_raw_os_error(libc::EPROTO);
    let fd = nfnetlink::socket()?;
    nfnetlink::send(&fd, &get_table_msg(name, 1))?;
    let mut buf = vec![0u8; 65536];
    let n = nfnetlink::recv(&fd, &mut buf)?;
    let (handle, uses) = match table_answer(&buf[..n]) {
        Some(Ok(true)) => table_fingerprint(&buf[..n]),
        Some(Ok(false)) => return Ok(None),
        Some(Err(e)) => return Err(e),
        None => return Err(proto()),
    };
    // The table's ACK follows its answer; a fresh socket keeps the dump's answers apart.
    let fd = nfnetlink::socket()?;
    let mut value = name.as_bytes().to_vec();
    value.push(0);
    let mut attrs = Vec::new();
    nfnetlink::attr(&mut attrs, NFTA_RULE_TABLE, &value);
    let req = nfnetlink::request(
        NFNL_SUBSYS_NFTABLES,
        NFT_MSG_GETRULE,
        nfnetlink::NLM_F_REQUEST | nfnetlink::NLM_F_DUMP,
        2,
        NFPROTO_INET,
        &attrs,
    );
    nfnetlink::send(&fd, &req)?;
    let mut rules = 0u32;
    // Bounded: a dump ends with NLMSG_DONE; a kernel that never sent it would hit the socket's
    // receive timeout.
    loop {
        let n = nfnetlink::recv(&fd, &mut buf)?;
        if n == 0 {
            return Err(proto());
        }
        for (kind, msg) in messages(&buf[..n]) {
            match kind {
                nfnetlink::NLMSG_DONE => return Ok(Some(Fingerprint { handle, uses, rules })),
                nfnetlink::NLMSG_ERROR => match nfnetlink::ack_errno(msg) {
                    Some(0) | None => {}
                    Some(e) => return Err(std::io::Error::from_raw_os_error(e)),
                },
                k if k == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE && rule_of(msg, name) => rules += 1,
                _ => {}
            }
        }
    }
}

/// New connections each line has taken since the table was written: the per-line counters of
/// our postrouting chain. None when there is no table.
pub(crate) fn new_connections(bundle: &str) -> Result<Option<std::collections::BTreeMap<String, u64>>> {
    let (ok, out) = run(&["list", "chain", NFT_FAMILY, NFT_TABLE, "postrouting"], bundle)?;
    if !ok {
        return Ok(None);
    }
    Ok(Some(parse_counters(&out)))
}

/// `ct state new oifname "eth1" counter packets 12 bytes 720` -> eth1: 12.
pub(crate) fn parse_counters(listing: &str) -> std::collections::BTreeMap<String, u64> {
    listing
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("ct state new oifname \"")?;
            let (name, rest) = rest.split_once('"')?;
            let packets = rest.trim().strip_prefix("counter packets ")?.split_whitespace().next()?.parse().ok()?;
            Some((name.to_string(), packets))
        })
        .collect()
}

/// The modules the expressions of our scripts live in, by a word that shows the expression is
/// used. When a transaction meets an expression whose module is not loaded, nf_tables asks for
/// the module, aborts the whole transaction and replays it once the module is in: one round
/// per module. The VM tests saw the first write of a connection table take 7 to 10 s under
/// emulation that way (the kernel asked for modules 30 times), and `nft list` find the table
/// there, then gone, while it replayed. Loading them first makes the transaction one pass.
const EXPR_MODULES: [(&str, &str); 6] = [
    ("type nat ", "nft_chain_nat"),
    ("ct ", "nft_ct"),
    ("fib ", "nft_fib_inet"),
    ("numgen ", "nft_numgen"),
    ("masquerade", "nft_masq"),
    ("counter", "nft_counter"),
];

/// Modules some kernels build into another: Debian's 6.1 has nft_counter inside nf_tables,
/// 5.10 as a module of its own. Asked for only where the running kernel has a file for it, so
/// that a box where it is built in does not start modprobe for it at every write.
const BUILT_INTO_NF_TABLES_ON_SOME: [&str; 1] = ["nft_counter"];

/// The modules `script` needs that are not loaded (`loaded`: /sys/module has it); those of
/// BUILT_INTO_NF_TABLES_ON_SOME only when `has_file` (the kernel has it as a module file).
fn to_preload(script: &str, loaded: impl Fn(&str) -> bool, has_file: impl Fn(&str) -> bool) -> Vec<&'static str> {
    EXPR_MODULES
        .iter()
        .filter(|(word, _)| script.contains(word))
        .map(|(_, m)| *m)
        .filter(|m| !loaded(m) && (!BUILT_INTO_NF_TABLES_ON_SOME.contains(m) || has_file(m)))
        .collect()
}

/// Whether the running kernel has `module` as a file where distribution kernels keep
/// netfilter's modules (/lib/modules/RELEASE/kernel/net/netfilter), compressed or not.
fn has_module_file(module: &str) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else { return false };
    let dir = std::path::Path::new("/lib/modules").join(release.trim()).join("kernel/net/netfilter");
    ["ko", "ko.xz", "ko.zst", "ko.gz"].iter().any(|ext| dir.join(format!("{module}.{ext}")).exists())
}

/// Loads what `script` needs before it runs (to_preload). Best effort: a module modprobe
/// cannot load is left to nft, which loads it itself or says what is missing.
fn preload(script: &str, bundle: &str) {
    let missing = to_preload(script, crate::kernel::module::is_loaded, has_module_file);
    if missing.is_empty() {
        return;
    }
    match crate::kernel::module::load_all(&missing) {
        Ok(()) => crate::log::info(&format!("modprobe -a {}  # {bundle}'s nftables expressions", missing.join(" "))),
        Err(e) => crate::log::info(&format!("{bundle}: {e}; nft loads what is missing itself")),
    }
}

/// Writes `script` where nft reads it from: a file of this run's in teqlctl's own directory,
/// made new (statefile rules: a symlink planted there is refused, never followed).
fn write_script(dir: &std::path::Path, script: &str) -> Result<std::path::PathBuf> {
    crate::statefile::private_dir(dir)?;
    let path = dir.join(format!("nft-{}.nft", std::process::id()));
    crate::statefile::write_private(&path, script.as_bytes())?;
    Ok(path)
}

/// Runs `script` as one transaction: all of it or nothing.
pub fn apply(script: &str, bundle: &str) -> Result<()> {
    preload(script, bundle);
    let path = write_script(&crate::statefile::state_dir(), script)?;
    let r = run(&["-f", &path.to_string_lossy()], bundle);
    let _ = std::fs::remove_file(&path);
    let (ok, out) = r?;
    if ok {
        Ok(())
    } else {
        Err(Error::Nft(format!(
            "nft refused the ruleset of {bundle} (nothing of it was applied): {}",
            crate::text::escape_for_message(out.trim(), 300)
        )))
    }
}

/// What `nft -c -f` said of a ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Accepted,
    /// nft's own words.
    Refused(String),
    /// Why it was not checked (no nft, no privilege).
    NotChecked(String),
}

/// Has nft check `script` (`nft -c -f`: the kernel sees the transaction and it is aborted, so
/// nothing changes) for `teqlctl validate`. The file goes to a directory made new for it under
/// the temporary directory, since validate runs as any user. nft's check mode still needs
/// CAP_NET_ADMIN (it asks the kernel); without it, or without nft, the answer is that the
/// script was not checked, and why.
pub(crate) fn check_script(script: &str, bundle: &str) -> Checked {
    let template = std::env::temp_dir().join("teqlctl-validate.XXXXXX");
    let dir = match nix::unistd::mkdtemp(&template) {
        Ok(d) => d,
        Err(e) => return Checked::NotChecked(format!("cannot make a directory in {}: {e}", template.display())),
    };
    let path = dir.join("ruleset.nft");
    let r = crate::statefile::write_private(&path, script.as_bytes())
        .and_then(|()| run(&["-c", "-f", &path.to_string_lossy()], bundle));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
    match r {
        Err(e) => Checked::NotChecked(e.to_string()),
        Ok((true, _)) => Checked::Accepted,
        Ok((false, out)) if out.contains("Operation not permitted") || out.contains("Permission denied") => {
            Checked::NotChecked(format!(
                "nft -c needs CAP_NET_ADMIN (run teqlctl validate as root): {}",
                crate::text::escape_for_message(out.trim(), 200)
            ))
        }
        Ok((false, out)) => Checked::Refused(crate::text::escape_for_message(out.trim(), 300)),
    }
}

// The records of the tables teqlctl wrote (their netlink fingerprints, a connection bundle's
// last ruleset): the state reader asks whether a table is still ours, and the runs that write
// one record it, so they live here, with the fingerprint, below both.

/// Why connection bundle `name`'s table is not the one teqlctl last wrote, if it is not: only
/// for a bundle teqlctl wrote a table for, and the table is there (a missing table is the
/// bundle down). Netlink only; None when it cannot tell.
pub(crate) fn connection_table_problem(name: &str) -> Option<String> {
    if !ruleset_file(name).exists() {
        return None;
    }
    match fingerprint(NFT_TABLE) {
        Ok(Some(now)) => table_as_written(&fingerprint_file(name), now),
        Ok(None) => Some("it is missing".to_string()),
        Err(_) => None,
    }
}

/// Whether a table's fingerprint `now` is the one recorded in `file` after our last write:
/// None if so, else why not (as status and the log say it).
pub(crate) fn table_as_written(file: &std::path::Path, now: Fingerprint) -> Option<String> {
    let recorded = crate::statefile::read_record(file).and_then(|s| Fingerprint::parse(&s));
    match recorded {
        Some(r) if r == now => None,
        Some(r) if r.handle != now.handle => {
            Some("the table was created again by someone else (a reload of a saved ruleset?)".to_string())
        }
        Some(r) => Some(format!(
            "it has {} rules and {} chains and sets where teqlctl wrote {} and {} (flushed or edited by hand?)",
            now.rules, now.uses, r.rules, r.uses
        )),
        None => Some("no fingerprint of it was recorded after teqlctl wrote it".to_string()),
    }
}

/// Where the netlink fingerprint of connection bundle `name`'s table is kept, as read right
/// after teqlctl wrote it.
pub(crate) fn fingerprint_file(name: &str) -> std::path::PathBuf {
    crate::statefile::state_dir().join(format!("connection-{name}.fingerprint"))
}

/// Records the fingerprint of inet table `table` as it is now (right after our write) in
/// `file`, or removes the record when the table is gone. A failure only costs the next run an
/// `nft list` and a rewrite, so it is logged, not returned.
pub(crate) fn record_fingerprint(file: &std::path::Path, now: std::io::Result<Option<Fingerprint>>, who: &str) {
    let r = match now {
        Ok(Some(fp)) => crate::statefile::write_atomic(file, format!("{fp}\n").as_bytes()),
        Ok(None) => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io(file.display().to_string(), e)),
            _ => Ok(()),
        },
        Err(e) => {
            let _ = std::fs::remove_file(file);
            Err(Error::Io(format!("netlink: nftables table of {who}"), e))
        }
    };
    if let Err(e) = r {
        crate::log::warn(&format!(
            "{who}: the fingerprint of its nftables table is not recorded ({e}): the next run lists the table"
        ));
    }
}

/// Where the ruleset last written for connection bundle `name` is kept: comparing with it tells
/// a change of the maps alone (health) from one that needs the table written anew.
pub(crate) fn ruleset_file(name: &str) -> std::path::PathBuf {
    crate::statefile::state_dir().join(format!("connection-{name}.nft"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_of_the_expressions_are_loaded_first() {
        let conn = "chain nat {\n\t\ttype nat hook postrouting priority srcnat;\n\t\tct state new meta mark set numgen random mod 1000 map @weights\n\t\tct state new fib daddr type local return\n\t\toifname \"eth1\" masquerade\n\t\tct state new oifname \"eth1\" counter\n";
        let none = |_: &str| false;
        let all = |_: &str| true;
        assert_eq!(
            to_preload(conn, none, all),
            ["nft_chain_nat", "nft_ct", "nft_fib_inet", "nft_numgen", "nft_masq", "nft_counter"]
        );
        // Loaded ones are not asked for again; nft_counter not where it is no module file of
        // the kernel's (6.1 builds it into nf_tables).
        let some = |m: &str| m == "nf_tables" || m == "nft_ct";
        assert_eq!(to_preload(conn, some, none), ["nft_chain_nat", "nft_fib_inet", "nft_numgen", "nft_masq"]);
        assert_eq!(to_preload(conn, |m: &str| m != "nft_counter", all), ["nft_counter"]);
        // A teardown and a maps update use no expression module.
        assert!(to_preload(&crate::plan::connection::teardown(), none, all).is_empty());
        assert!(to_preload(
            "flush map inet teqlctl weights\nadd element inet teqlctl weights { 0-999 : 0x54450001 }\n",
            none,
            all
        )
        .is_empty());
    }

    #[test]
    fn the_script_is_never_written_through_a_symlink() {
        let t = tempfile::TempDir::new().unwrap();
        let dir = t.path().join("state");
        let path = write_script(&dir, "flush ruleset\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "flush ruleset\n");
        // A leftover of ours (a run killed before removing it) is replaced.
        let path = write_script(&dir, "add table inet teqlctl\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "add table inet teqlctl\n");
        std::fs::remove_file(&path).unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = write_script(&dir, "flush ruleset\n").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn counters_of_our_chain() {
        let listing = "table inet teqlctl {\n\tchain postrouting {\n\t\ttype filter hook postrouting priority mangle; policy accept;\n\t\tct state new ct mark set oifname map @line_mark\n\t\tct state new oifname \"eth1\" counter packets 12 bytes 720\n\t\tct state new oifname \"eth2\" counter packets 0 bytes 0\n\t}\n}\n";
        let c = parse_counters(listing);
        assert_eq!(c.len(), 2);
        assert_eq!((c["eth1"], c["eth2"]), (12, 0));
    }

    #[test]
    fn the_table_question_is_what_nft_list_table_asks() {
        let m = get_table_msg("teqlctl", 3);
        // 16 (nlmsghdr) + 4 (nfgenmsg) + 4 + "teqlctl\0" (8).
        assert_eq!(m.len(), 32);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 0x0a01);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x5);
        assert_eq!(&m[16..20], &[1, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes(m[20..22].try_into().unwrap()), 12);
        assert_eq!(u16::from_ne_bytes(m[22..24].try_into().unwrap()), 1);
        assert_eq!(&m[24..32], b"teqlctl\0");
        // A name whose attribute needs padding.
        assert_eq!(get_table_msg("t", 1).len(), 28);
    }

    #[test]
    fn the_answers() {
        let mut table = vec![0u8; 40];
        table[4..6].copy_from_slice(&0x0a00u16.to_ne_bytes());
        assert!(matches!(table_answer(&table), Some(Ok(true))));
        let mut err = vec![0u8; 36];
        err[4..6].copy_from_slice(&2u16.to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert!(matches!(table_answer(&err), Some(Ok(false))));
        err[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert!(matches!(table_answer(&err), Some(Err(e)) if e.raw_os_error() == Some(libc::EPERM)));
        table[4..6].copy_from_slice(&0x0a03u16.to_ne_bytes());
        assert!(table_answer(&table).is_none());
    }

    #[test]
    fn fingerprints_are_read_from_the_answers_and_kept_as_text() {
        // NEWTABLE: name "teqlctl", use 8 (big endian), handle 42 (big endian, 8 bytes).
        let mut attrs = Vec::new();
        nfnetlink::attr(&mut attrs, NFTA_TABLE_NAME, b"teqlctl\0");
        nfnetlink::attr(&mut attrs, NFTA_TABLE_USE, &8u32.to_be_bytes());
        nfnetlink::attr(&mut attrs, NFTA_TABLE_HANDLE, &42u64.to_be_bytes());
        let m = nfnetlink::request(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWTABLE, 0, 1, NFPROTO_INET, &attrs);
        assert!(matches!(table_answer(&m), Some(Ok(true))));
        assert_eq!(table_fingerprint(&m), (Some(42), 8));
        // Rules of our table are counted, another table's not (old kernels dump them all).
        let rule = |t: &[u8]| {
            let mut a = Vec::new();
            nfnetlink::attr(&mut a, NFTA_RULE_TABLE, t);
            nfnetlink::request(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWRULE, 0, 2, NFPROTO_INET, &a)
        };
        let mut datagram = rule(b"teqlctl\0");
        datagram.extend(rule(b"teqlctl_teql0\0"));
        datagram.extend(rule(b"teqlctl\0"));
        let ours = messages(&datagram).iter().filter(|(_, m)| rule_of(m, "teqlctl")).count();
        assert_eq!((messages(&datagram).len(), ours), (3, 2));
        let fp = Fingerprint { handle: Some(42), uses: 8, rules: 16 };
        assert_eq!(fp.to_string(), "handle 42 use 8 rules 16");
        assert_eq!(Fingerprint::parse(&format!("{fp}\n")), Some(fp));
        let old = Fingerprint { handle: None, ..fp };
        assert_eq!(Fingerprint::parse(&old.to_string()), Some(old));
        assert_eq!(Fingerprint::parse("handle 42 use 8"), None);
        assert_eq!(Fingerprint::parse("handle x use 8 rules 16"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("nftables v1.0.6 (Lester Gooch #5)"), Some((1, 0, 6)));
        assert_eq!(parse_version("nftables v0.9.3 (Topsy)"), Some((0, 9, 3)));
        assert_eq!(parse_version("nftables v1.1"), Some((1, 1, 0)));
        assert_eq!(parse_version("nftables v1.0.9rc1"), Some((1, 0, 9)));
        assert_eq!(parse_version("something else"), None);
        assert!(parse_version("nftables v0.9.3").unwrap() < MIN_VERSION);
        assert!(parse_version("nftables v0.9.4").unwrap() >= MIN_VERSION);
    }
}
