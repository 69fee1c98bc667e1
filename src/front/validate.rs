//! `teqlctl validate`: the configuration check an admin runs before `up`, in the spirit of
//! `nginx -t` and `visudo -c`. It reads what every other command reads (config::load: ifcfg,
//! /etc/network/interfaces, NetworkManager keyfiles and teqlctl's bundle files) and reports
//! every problem, not only the first; it has nft check the rulesets the planner would write
//! (`nft -c`, which changes nothing); and with `--kernel` it says what this box lacks for the
//! configuration (modules, a kernel new enough, nft). It reads no kernel state over netlink, so
//! it works as any user and on a box whose lines do not exist yet (an image, a chroot).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::config::{BundleName, Config, ConfigError, TunnelKind};

/// One problem, as `--json` prints it; fields that the problem cannot name are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// "config" (a file), "nft" (nft refuses the ruleset the file asks for), or "kernel" (this
    /// box lacks something the configuration needs; `--kernel` only).
    pub kind: &'static str,
    pub file: Option<String>,
    /// The line in `file`, when the problem names one.
    pub line: Option<usize>,
    /// The key or option, when the problem names one.
    pub key: Option<String>,
    /// The bundle an nft or kernel problem concerns.
    pub bundle: Option<String>,
    /// The one line printed for it (it names the file itself).
    pub message: String,
}

/// What `validate` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub ok: bool,
    pub problems: Vec<Problem>,
    /// What could not be checked, and why (no nft, no privilege for `nft -c`): said, never a
    /// problem.
    pub notes: Vec<String>,
    /// Bundles and lines configured (for the summary).
    pub bundles: usize,
    pub lines: usize,
}

impl Report {
    /// 0 when clean, 3 when a file (or nft, about a file's data) has a problem, 4 when only
    /// the box lacks something (`--kernel`).
    pub(crate) fn exit_code(&self) -> i32 {
        use crate::error::exit;
        if self.problems.iter().any(|p| p.kind != "kernel") {
            exit::CONFIG
        } else if self.problems.is_empty() {
            exit::OK
        } else {
            exit::KERNEL
        }
    }

    /// The one-line verdict (all that `--quiet`, the packages' scripts and `hooks install`
    /// print), with where to see the problems.
    pub fn summary(&self) -> String {
        if self.problems.is_empty() {
            return format!("teqlctl validate: {}", self.verdict());
        }
        let kernel = if self.problems.iter().any(|p| p.kind == "kernel") { " --kernel" } else { "" };
        format!("teqlctl validate: {}; `teqlctl validate{kernel}` lists them", self.verdict())
    }

    fn verdict(&self) -> String {
        let n = self.problems.len();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if n > 0 {
            let only_box = self.problems.iter().all(|p| p.kind == "kernel");
            return format!(
                "{n} problem{} {}",
                plural(n),
                if only_box { "of this box (it lacks what the configuration needs)" } else { "in the configuration" }
            );
        }
        if self.bundles == 0 && self.lines == 0 {
            return "nothing is configured for teqlctl yet (see teqlctl-config(5))".into();
        }
        format!(
            "configuration OK ({} bundle{}, {} line{})",
            self.bundles,
            plural(self.bundles),
            self.lines,
            plural(self.lines)
        )
    }

    pub(crate) fn to_text(&self) -> String {
        let mut o = String::new();
        for p in &self.problems {
            o.push_str(&p.message);
            o.push('\n');
        }
        for n in &self.notes {
            o.push_str(&format!("teqlctl validate: note: {n}\n"));
        }
        o.push_str(&format!("teqlctl validate: {}\n", self.verdict()));
        o
    }

    pub(crate) fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            ok: bool,
            problems: &'a [Problem],
            notes: &'a [String],
        }
        // Serializing plain strings, numbers and options cannot fail.
        serde_json::to_string_pretty(&Out { ok: self.ok, problems: &self.problems, notes: &self.notes })
            .unwrap_or_else(|_| "{\"ok\": false}".into())
    }
}

/// Checks everything configured below `root`; with `kernel`, this box too.
pub fn validate(root: &Path, kernel: bool) -> Report {
    let cfg = crate::configured::load(root);
    let mut r = Report { bundles: cfg.masters.len(), lines: cfg.members.len(), ..Report::default() };
    // One line per problem: the readers may meet the same one from two sides.
    let mut seen = BTreeSet::new();
    for e in &cfg.problems {
        let p = from_config(e);
        if seen.insert(p.message.clone()) {
            r.problems.push(p);
        }
    }
    check_rulesets(&cfg, &mut r, crate::kernel::nft::check_script);
    if kernel {
        r.problems.extend(preflight(&cfg, &Host::real()));
    }
    r.ok = r.problems.is_empty();
    r
}

/// A configuration problem as a record. The file and key come from the error's own fields;
/// the readers put some in the text only (an interfaces option's line, an unknown key), and
/// those are read back from it where the text has them in a fixed form.
pub(crate) fn from_config(e: &ConfigError) -> Problem {
    let message = e.to_string();
    let (mut line, mut key) = match e {
        ConfigError::Syntax { line, key, .. } => (Some(*line), key.clone()),
        // An interfaces stanza's value error knows its line (`at`); the other formats' do not.
        ConfigError::InvalidValue { key, at, .. } => (at.as_ref().and_then(|a| a.line), Some(key.clone())),
        _ => (None, None),
    };
    let (l, k) = parse_line_and_key(&message);
    line = line.or(l);
    key = key.or(k);
    Problem { kind: "config", file: Some(e.path().display().to_string()), line, key, bundle: None, message }
}

/// `(line N)` and `unknown key [section] KEY=` / `unknown option NAME ` in a message.
fn parse_line_and_key(msg: &str) -> (Option<usize>, Option<String>) {
    let line = msg.split_once("(line ").and_then(|(_, rest)| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        rest[digits.len()..].starts_with(')').then(|| digits.parse().ok()).flatten()
    });
    let key = if let Some((_, rest)) = msg.split_once("unknown key ") {
        let rest = rest.strip_prefix('[').and_then(|r| r.split_once("] ")).map_or(rest, |(_, r)| r);
        rest.split_once('=').map(|(k, _)| k.to_string())
    } else if let Some((_, rest)) = msg.split_once("unknown option ") {
        rest.split_once(' ').map(|(k, _)| k.to_string())
    } else {
        None
    };
    (line, key.filter(|k| !k.is_empty() && !k.contains(char::is_whitespace)))
}

use crate::kernel::nft::Checked;

/// The rulesets the planner would write, as far as the configuration alone gives them (a
/// line's address is the kernel's: the address maps are left empty), each checked by `check`.
fn check_rulesets(cfg: &Config, r: &mut Report, check: impl Fn(&str, &str) -> Checked) {
    let scripts: Vec<(String, String)> = cfg
        .masters
        .values()
        .filter_map(|m| crate::run::mode::of(cfg, m).requirements().nft_ruleset.map(|r| (m.device.to_string(), r)))
        .collect();
    let mut not_checked = BTreeSet::new();
    for (bundle, script) in scripts {
        match check(&script, &bundle) {
            Checked::Accepted => {}
            Checked::NotChecked(why) => {
                not_checked.insert(why);
            }
            Checked::Refused(out) => {
                let file =
                    cfg.masters.get(bundle.as_str()).and_then(|m| m.source.as_ref()).map(|p| p.display().to_string());
                r.problems.push(Problem {
                    kind: "nft",
                    message: format!(
                        "{}{bundle}: nft refuses the ruleset teqlctl would write for it: {out}",
                        file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default()
                    ),
                    file,
                    line: None,
                    key: None,
                    bundle: Some(bundle),
                });
            }
        }
    }
    for why in not_checked {
        r.notes.push(format!("the nftables rulesets were not checked: {why}"));
    }
}

/// nft's version check for a bundle: check_version's error text when it fails.
pub type NftCheck = Box<dyn Fn(&str) -> Result<(), String>>;

/// What the preflight reads of this box, so that the tests can give it another.
pub struct Host {
    /// `uname -r`.
    pub release: String,
    /// Whether a module is loaded or can be (a module file, or built in).
    pub module: Box<dyn Fn(&str) -> Availability>,
    pub resilient_groups: bool,
    /// nft's version check, for a bundle (check_version's error text).
    pub nft: NftCheck,
}

/// Whether a kernel module can be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Yes,
    No,
    /// The kernel's module directory is not there (a container): cannot tell.
    Unknown(String),
}

impl Host {
    fn real() -> Host {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let rel = release.clone();
        Host {
            release,
            module: Box::new(move |m| module_available(m, &rel)),
            resilient_groups: crate::kernel::netlink::kernel_has_resilient_groups(),
            nft: Box::new(|b| crate::kernel::nft::check_version(b).map_err(|e| e.to_string())),
        }
    }
}

/// Loaded (/sys/module), built in (modules.builtin) or a module file depmod knows
/// (modules.dep) of the running kernel.
fn module_available(module: &str, release: &str) -> Availability {
    if crate::kernel::module::is_loaded(module) {
        return Availability::Yes;
    }
    let dir = Path::new("/lib/modules").join(release);
    let named = |text: &str| {
        text.lines().any(|l| {
            let path = l.split(':').next().unwrap_or("");
            let base = path.rsplit('/').next().unwrap_or("");
            base.split(".ko").next().is_some_and(|b| b.replace('-', "_") == module) && base.contains(".ko")
        })
    };
    let dep = std::fs::read_to_string(dir.join("modules.dep"));
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    match dep {
        Ok(dep) if named(&dep) || named(&builtin) => Availability::Yes,
        Ok(_) => Availability::No,
        Err(_) => Availability::Unknown(format!("{}/modules.dep cannot be read", dir.display())),
    }
}

const MODULES_PACKAGE: &str =
    "install the running kernel's modules (Debian/Ubuntu: linux-modules-extra-RELEASE or linux-image-*; Fedora/RHEL: kernel-modules-extra)";

/// What this box lacks for the configuration: one problem per missing thing, saying what to
/// install.
pub(crate) fn preflight(cfg: &Config, b: &Host) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |bundle: Option<&str>, message: String| {
        out.push(Problem {
            kind: "kernel",
            file: None,
            line: None,
            key: None,
            bundle: bundle.map(str::to_string),
            message: format!("kernel {}: {message}", b.release),
        })
    };
    let install = MODULES_PACKAGE.replace("RELEASE", &b.release);
    let module = |name: &str, why: String, problem: &mut dyn FnMut(Option<&str>, String)| match (b.module)(name) {
        Availability::Yes => {}
        Availability::No => problem(None, format!("{name} is not available, and {why} needs it: {install}")),
        Availability::Unknown(how) => {
            problem(None, format!("cannot tell whether {name} is available ({how}), and {why} needs it: {install}"))
        }
    };
    // Every bundle named, by its file or only by its lines (a teqlN no file configures).
    let names: BTreeSet<&str> =
        cfg.masters.keys().map(BundleName::as_str).chain(cfg.members.values().map(|l| l.master.as_str())).collect();
    let needs: Vec<(&str, crate::run::mode::Requirements, &'static str)> = names
        .into_iter()
        .filter_map(|n| crate::run::mode::bundle(cfg, n).map(|b| (n, b.requirements(), b.mode_name())))
        .collect();
    let teql: Vec<&str> = needs.iter().filter(|(_, r, _)| r.sch_teql).map(|(n, _, _)| *n).collect();
    if let Some(first) = teql.first() {
        module("sch_teql", format!("the TEQL bundle {first}"), &mut problem);
    }
    let mut kinds: Vec<(TunnelKind, &str)> = Vec::new();
    for l in cfg.members.values() {
        if let Some(t) = l.tunnel {
            if !kinds.iter().any(|(k, _)| *k == t.kind) {
                kinds.push((t.kind, l.device.as_str()));
            }
        }
    }
    for (kind, line) in kinds {
        let name = match kind {
            TunnelKind::Gre => "ip_gre",
            TunnelKind::Ipip => "ipip",
        };
        module(name, format!("the {} tunnel line {line}", kind.ip_mode()), &mut problem);
    }
    let multipath = needs.iter().find(|(_, r, _)| r.resilient_groups);
    if let (Some((name, _, mode)), false) = (multipath, b.resilient_groups) {
        problem(
            Some(name),
            format!(
                "no resilient nexthop groups (Linux 5.13 and later): the {mode} bundle {name} falls back to a plain group, \
                 where a line that fails or comes back moves the other lines' flows too; install a kernel 5.13 or newer"
            ),
        );
    }
    let nft_bundle = needs.iter().find(|(n, r, _)| r.nft && cfg.masters.contains_key(*n));
    if let Some((name, _, _)) = nft_bundle {
        if let Err(e) = (b.nft)(name) {
            problem(Some(name), e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    #[test]
    fn lines_and_keys_are_read_from_the_texts_that_carry_them() {
        assert_eq!(
            parse_line_and_key("/e/n/interfaces: iface eth2: unknown option teql-x0 \"1\" (line 3): hint"),
            (Some(3), Some("teql-x0".into()))
        );
        assert_eq!(
            parse_line_and_key("/e/ifcfg-eth2: unknown key TEQL_FOO=\"1\": teqlctl reads only ..."),
            (None, Some("TEQL_FOO".into()))
        );
        assert_eq!(
            parse_line_and_key("/e/dsl.nmconnection: unknown key [user] teqlctl.mastr=\"teql0\": did you mean"),
            (None, Some("teqlctl.mastr".into()))
        );
        assert_eq!(parse_line_and_key("/e/ifcfg-eth2: no bundle lan (line x) is configured"), (None, None));
    }

    #[test]
    fn the_json_has_ok_and_one_record_per_problem() {
        let e = ConfigError::InvalidValue {
            path: "/etc/sysconfig/network-scripts/ifcfg-eth2".into(),
            key: "TEQL_WEIGHT".into(),
            value: "ten".into(),
            expected: "a weight from 1 to 256".into(),
            device: Some("eth2".into()),
            at: None,
        };
        let s = ConfigError::Syntax {
            path: "/etc/network/interfaces".into(),
            line: 12,
            col: 5,
            key: Some("teql-weight".into()),
            msg: "bad".into(),
            device: None,
        };
        let mut r = Report { problems: vec![from_config(&e), from_config(&s)], ..Report::default() };
        r.notes.push("n".into());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["notes"][0], "n");
        let p = v["problems"].as_array().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["kind"], "config");
        assert_eq!(p[0]["file"], "/etc/sysconfig/network-scripts/ifcfg-eth2");
        assert_eq!(p[0]["key"], "TEQL_WEIGHT");
        assert_eq!(p[0]["line"], serde_json::Value::Null);
        assert_eq!(p[0]["message"], e.to_string());
        assert_eq!((p[1]["line"].as_u64(), p[1]["key"].as_str()), (Some(12), Some("teql-weight")));
        // Every record has the same fields, null where unknown.
        for q in p {
            let keys: Vec<&String> = q.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["bundle", "file", "key", "kind", "line", "message"]);
        }
        assert_eq!(r.exit_code(), crate::error::exit::CONFIG);
        r.problems.clear();
        r.ok = true;
        assert_eq!(r.exit_code(), 0);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&r.to_json()).unwrap()["problems"], serde_json::json!([]));
    }

    fn office(mode: &str) -> Config {
        let t = tempfile::TempDir::new().unwrap();
        let d = t.path().join("etc/sysconfig/network-scripts");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("ifcfg-wan"),
            format!("DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE={mode}\nTEQL_NAT=192.0.2.0/24\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("ifcfg-tun1"),
            "DEVICE=tun1\nTYPE=GRE\nMY_OUTER_IPADDR=198.51.100.2\nPEER_OUTER_IPADDR=203.0.113.1\nTEQL_MASTER=teql0\n",
        )
        .unwrap();
        for n in 2..=3 {
            std::fs::write(d.join(format!("ifcfg-eth{n}")), format!("DEVICE=eth{n}\nTEQL_MASTER=wan\n")).unwrap();
        }
        let c = crate::config::load(t.path());
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        c
    }

    fn bare_box(missing: &'static [&'static str]) -> Host {
        Host {
            release: "5.10.0-test".into(),
            module: Box::new(move |m| if missing.contains(&m) { Availability::No } else { Availability::Yes }),
            resilient_groups: false,
            nft: Box::new(|b| Err(format!("{b} needs nftables: install the nftables package"))),
        }
    }

    #[test]
    fn the_preflight_names_what_the_configuration_needs_and_the_box_lacks() {
        let c = office("connection");
        let p = preflight(&c, &bare_box(&["sch_teql", "ip_gre"]));
        let m: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(m.len(), 4, "{m:#?}");
        assert!(m[0].starts_with("kernel 5.10.0-test: sch_teql is not available") && m[0].contains("teql0"), "{m:#?}");
        assert!(m[0].contains("linux-modules-extra-5.10.0-test"), "{m:#?}");
        assert!(m[1].contains("ip_gre") && m[1].contains("tun1"), "{m:#?}");
        assert!(m[2].contains("resilient nexthop groups") && m[2].contains("connection bundle wan"), "{m:#?}");
        assert!(m[3].contains("install the nftables package"), "{m:#?}");
        assert!(p.iter().all(|p| p.kind == "kernel"));
        let r = Report { problems: p, ..Report::default() };
        assert_eq!(r.exit_code(), crate::error::exit::KERNEL);
        // A box that has it all, and a multipath bundle (no nft): nothing to say.
        let all = Host { resilient_groups: true, nft: Box::new(|_| Ok(())), ..bare_box(&[]) };
        assert!(preflight(&c, &all).is_empty());
        let mp = Host { resilient_groups: true, ..bare_box(&[]) };
        let mut cfg = Config::default();
        cfg.masters.insert(
            "wan".into(),
            crate::config::Master::multipath("wan".into(), Mode::Multipath(Default::default()), true, 0, "x".into()),
        );
        assert!(preflight(&cfg, &mp).is_empty());
    }

    #[test]
    fn nft_refusals_name_the_bundle_and_its_file() {
        let c = office("connection");
        let mut r = Report::default();
        let seen = std::cell::RefCell::new(Vec::new());
        check_rulesets(&c, &mut r, |script, bundle| {
            seen.borrow_mut().push((bundle.to_string(), script.to_string()));
            Checked::Refused("Error: conflicting intervals specified".into())
        });
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 1, "only the connection bundle has a ruleset here");
        assert_eq!(seen[0].0, "wan");
        assert!(seen[0].1.contains("oifname \"eth2\" ip saddr { 192.0.2.0/24 } masquerade"), "{}", seen[0].1);
        assert_eq!(r.problems.len(), 1);
        let p = &r.problems[0];
        assert_eq!((p.kind, p.bundle.as_deref()), ("nft", Some("wan")));
        assert!(p.file.as_deref().is_some_and(|f| f.ends_with("ifcfg-wan")), "{p:?}");
        assert!(p.message.contains("wan: nft refuses the ruleset") && p.message.contains("conflicting"), "{p:?}");
        let mut r = Report::default();
        check_rulesets(&c, &mut r, |_, _| Checked::NotChecked("nft is not installed".into()));
        assert!(r.problems.is_empty());
        assert_eq!(r.notes, ["the nftables rulesets were not checked: nft is not installed"]);
    }
}
