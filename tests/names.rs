//! Interface names with characters the kernel takes but teqlctl does not (issue 26, point 5),
//! through each reader: every one is one problem that names the file and the key or stanza,
//! says which character is refused and why, and shows it escaped; no line comes of it.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use teqlctl::config::{self, Config};

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

fn problems(c: &Config) -> Vec<String> {
    c.problems.iter().map(ToString::to_string).collect()
}

/// Each refused character (in the middle of a name) and what its refusal says.
const CASES: &[(&str, &str)] = &[
    ("\"", "an nftables string cannot hold it"),
    ("\\", "an nftables string cannot hold it"),
    ("*", "nftables reads it as a wildcard"),
    (";", "it is special to nftables"),
    ("{", "it is special to nftables"),
    ("#", "it is special to nftables"),
    ("@", "it is special to nftables"),
    (",", "it is special to nftables, the shell or teqlctl's own lists"),
    ("\u{1b}", "a control character would reach terminals"),
    ("\u{7f}", "a control character would reach terminals"),
    ("\u{202e}", "only ASCII is taken"),
    ("é", "only ASCII is taken"),
];

/// The character as a message shows it.
fn shown(c: &str) -> String {
    match c {
        "\u{1b}" => "'\\e'".to_string(),
        "\u{7f}" => "'\\u{007F}'".to_string(),
        "\u{202e}" => "'\\u{202E}'".to_string(),
        c => format!("'{c}'"),
    }
}

fn check(c: &Config, reader: &str, file: &Path, key: &str, ch: &str, why: &str) {
    let p = problems(c);
    assert_eq!(p.len(), 1, "{reader} {ch:?}: {p:?}");
    let msg = &p[0];
    assert!(msg.starts_with(&format!("{}: ", file.display())), "{reader} {ch:?}: {msg}");
    for w in [key, &format!("{} is refused: {why}", shown(ch)), "ASCII letter, a digit, '.', '_' or '-'"] {
        assert!(msg.contains(w), "{reader} {ch:?}: {w:?} not in {msg}");
    }
    assert!(!msg.chars().any(|c| c.is_control() || c == '\u{202e}'), "{reader} {ch:?}: raw in {msg:?}");
    assert!(c.members.is_empty(), "{reader} {ch:?}: {:?}", c.members.keys());
}

#[test]
fn ifcfg_device() {
    for (ch, why) in CASES {
        let t = TempDir::new().unwrap();
        let name = format!("eth{ch}1");
        // Single quotes hold every character as it is (a `"` or `\` too).
        let text = format!("DEVICE='{name}'\nTEQL_MASTER=teql0\n");
        let file = write(t.path(), "etc/sysconfig/network-scripts/ifcfg-uplink", &text);
        check(&config::ifcfg::load(t.path()), "ifcfg", &file, "DEVICE=", ch, why);
    }
}

#[test]
fn interfaces_stanza() {
    for (ch, why) in CASES {
        let t = TempDir::new().unwrap();
        let name = format!("eth{ch}1");
        let text = format!("iface {name} inet manual\n    teql-master teql0\n");
        let file = write(t.path(), "etc/network/interfaces", &text);
        check(&config::interfaces::load(t.path()), "interfaces", &file, "cannot be a line of teql0", ch, why);
    }
}

#[test]
fn keyfile_interface_name() {
    for (ch, why) in CASES {
        let t = TempDir::new().unwrap();
        let name = format!("eth{ch}1");
        let dir = t.path().join("etc/NetworkManager/system-connections");
        fs::create_dir_all(&dir).unwrap();
        let file: PathBuf = dir.join("isp.nmconnection");
        fs::write(&file, format!("[connection]\nid=isp\ninterface-name={name}\n[user]\nteqlctl.master=teql0\n"))
            .unwrap();
        check(&config::keyfile::load(t.path()), "keyfile", &file, "interface-name=", ch, why);
    }
}

/// A bundle's own file or stanza under a name no bundle can have (issue 27, point 2): the
/// readers hold a bundle's name as a BundleName from there on, so the name is checked where it
/// is read, one problem naming the file, and no bundle comes of it. Before, such a multipath
/// bundle was taken silently, and no line could ever name it.
#[test]
fn a_bundle_under_a_name_no_bundle_can_have() {
    for (name, why) in [("teqlx", "not starting with teql"), ("wan*", "'*' is refused")] {
        let t = TempDir::new().unwrap();
        let file = write(
            t.path(),
            "etc/sysconfig/network-scripts/ifcfg-wan",
            &format!("DEVICE='{name}'\nDEVICETYPE=teql\nTEQL_MODE=multipath\n"),
        );
        let c = config::ifcfg::load(t.path());
        let p = problems(&c);
        assert_eq!(p.len(), 1, "ifcfg {name}: {p:?}");
        assert!(p[0].starts_with(&format!("{}: ", file.display())), "ifcfg {name}: {p:?}");
        for w in ["cannot name a bundle", why, "rename it"] {
            assert!(p[0].contains(w), "ifcfg {name}: {w:?} not in {p:?}");
        }
        assert!(c.masters.is_empty(), "ifcfg {name}: {:?}", c.masters.keys());

        let t = TempDir::new().unwrap();
        let file =
            write(t.path(), "etc/network/interfaces", &format!("iface {name} inet manual\n    teql-mode multipath\n"));
        let c = config::interfaces::load(t.path());
        let p = problems(&c);
        assert_eq!(p.len(), 1, "interfaces {name}: {p:?}");
        assert!(p[0].starts_with(&format!("{}: ", file.display())), "interfaces {name}: {p:?}");
        for w in ["cannot name a bundle", why] {
            assert!(p[0].contains(w), "interfaces {name}: {w:?} not in {p:?}");
        }
        assert!(c.masters.is_empty(), "interfaces {name}: {:?}", c.masters.keys());
    }
}
