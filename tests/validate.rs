//! `teqlctl validate` over a corpus of good and broken trees of every stack
//! (tests/corpus/validate: ifcfg, interfaces, NetworkManager keyfiles and bundle files): exit
//! codes, one line per problem naming its file and key, the JSON, nft's check of the rulesets
//! (a fake nft, and the real one where it is installed), and `hooks install`'s summary.

mod kernel_gate;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/validate").join(name)
}

/// teqlctl below `root`, with nft redirected to `nft` (a path that does not exist: no nft).
fn teqlctl(root: &Path, nft: &Path) -> Command {
    let mut c = Command::cargo_bin("teqlctl").unwrap();
    c.env_remove("TEQLCTL_ROOT").env("TEQLCTL_NFT", nft).arg("--root").arg(root);
    c
}

fn no_nft() -> PathBuf {
    PathBuf::from("/nonexistent/nft")
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run(mut c: Command, args: &[&str]) -> Run {
    let o = c.args(args).output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}: {}", r.out))
}

fn problems(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["problems"].as_array().unwrap()
}

/// A fake nft: `--version` answers 1.0.6; `-c -f FILE` copies FILE into `dir` (one file per
/// run) and then says `say` on stderr and exits `code`.
fn fake_nft(dir: &Path, say: &str, code: i32) -> PathBuf {
    let path = dir.join("nft");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'nftables v1.0.6 (Lester Gooch #5)'; exit 0; fi\n\
             [ \"$1\" = -c ] && [ \"$2\" = -f ] || exit 99\n\
             cp \"$3\" \"{d}/checked.$$\"\necho '{say}' >&2\nexit {code}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn checked(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("checked."))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect();
    v.sort();
    v
}

const GOOD: [&str; 3] = ["good-ifcfg", "good-interfaces", "good-keyfile"];

#[test]
fn good_trees_of_every_stack_are_clean() {
    for tree in GOOD {
        let r = run(teqlctl(&corpus(tree), &no_nft()), &["validate"]);
        assert_eq!(r.code, 0, "{tree}: {}{}", r.out, r.err);
        assert!(
            r.out.lines().last().unwrap_or("").starts_with("teqlctl validate: configuration OK ("),
            "{tree}: {}",
            r.out
        );
        let v = json(&run(teqlctl(&corpus(tree), &no_nft()), &["validate", "--json"]));
        assert_eq!(v["ok"], true, "{tree}: {v}");
        assert!(problems(&v).is_empty(), "{tree}: {v}");
        let r = run(teqlctl(&corpus(tree), &no_nft()), &["validate", "--quiet"]);
        assert_eq!((r.code, r.out.lines().count()), (0, 1), "{tree}: {}", r.out);
    }
    // An empty box: nothing to check is no problem, and says so.
    let empty = TempDir::new().unwrap();
    let r = run(teqlctl(empty.path(), &no_nft()), &["validate"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("nothing is configured for teqlctl yet"), "{}", r.out);
    // A root that is not there is a mistake, not an empty box.
    let r = run(teqlctl(&empty.path().join("missing"), &no_nft()), &["validate"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("missing: no such directory"), "{}", r.err);
}

/// (tree, the file the problem is in, below the tree, the key it names).
const BROKEN: [(&str, &str, &str); 10] = [
    ("bad-ifcfg-value", "etc/sysconfig/network-scripts/ifcfg-eth2", "TEQL_WEIGHT"),
    ("bad-ifcfg-unknown-key", "etc/sysconfig/network-scripts/ifcfg-eth2", "TEQL_WIEGHT"),
    ("bad-ifcfg-name", "etc/sysconfig/network-scripts/ifcfg-eth2", "TEQL_MASTER"),
    ("bad-interfaces-value", "etc/network/interfaces", "teql-weight"),
    ("bad-interfaces-unknown-key", "etc/network/interfaces", "teql-wieght"),
    ("bad-interfaces-name", "etc/network/interfaces", "teql-master"),
    ("bad-keyfile-value", "etc/NetworkManager/system-connections/dsl2.nmconnection", "teqlctl.probe-down"),
    ("bad-keyfile-unknown-key", "etc/NetworkManager/system-connections/dsl2.nmconnection", "teqlctl.mastr"),
    ("bad-keyfile-name", "etc/NetworkManager/system-connections/dsl2.nmconnection", "teqlctl.master"),
    ("bad-bundle-file", "etc/teqlctl/bundles/wan.conf", "hash"),
];

#[test]
fn broken_trees_of_every_stack_name_the_file_and_the_key() {
    for (tree, file, key) in BROKEN {
        let root = corpus(tree);
        let path = root.join(file).display().to_string();
        let r = run(teqlctl(&root, &no_nft()), &["validate"]);
        assert_eq!(r.code, 3, "{tree}: {}{}", r.out, r.err);
        let lines: Vec<&str> = r.out.lines().collect();
        // One line for the problem, then the verdict (no ruleset here, so no note about nft).
        assert_eq!(lines.len(), 2, "{tree}: {}", r.out);
        assert!(lines[0].starts_with(&format!("{path}:")) && lines[0].contains(key), "{tree}: {}", lines[0]);
        assert_eq!(lines[1], "teqlctl validate: 1 problem in the configuration", "{tree}");
        let v = json(&run(teqlctl(&root, &no_nft()), &["validate", "--json"]));
        assert_eq!(v["ok"], false, "{tree}: {v}");
        let p = problems(&v);
        assert_eq!(p.len(), 1, "{tree}: {v}");
        assert_eq!((p[0]["kind"].as_str(), p[0]["file"].as_str()), (Some("config"), Some(path.as_str())), "{tree}");
        assert_eq!(p[0]["key"].as_str(), Some(key), "{tree}: {v}");
        assert_eq!(p[0]["message"].as_str(), Some(lines[0]), "{tree}");
        let r = run(teqlctl(&root, &no_nft()), &["validate", "-q"]);
        assert_eq!(r.code, 3, "{tree}");
        assert_eq!(r.out, "teqlctl validate: 1 problem in the configuration; `teqlctl validate` lists them\n");
    }
}

#[test]
fn every_problem_of_a_tree_is_reported_not_only_the_first() {
    let t = TempDir::new().unwrap();
    let d = t.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("ifcfg-eth2"), "DEVICE=eth2\nTEQL_MASTER=teql0\nTEQL_PROBE_DOWN=often\n").unwrap();
    fs::write(d.join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=sometimes\n").unwrap();
    let r = run(teqlctl(t.path(), &no_nft()), &["validate"]);
    assert_eq!(r.code, 3, "{}", r.out);
    assert!(r.out.contains("ifcfg-eth2: TEQL_PROBE_DOWN=\"often\""), "{}", r.out);
    assert!(r.out.contains("ifcfg-eth3: TEQL_RP_FILTER=\"sometimes\""), "{}", r.out);
    assert!(r.out.ends_with("teqlctl validate: 2 problems in the configuration\n"), "{}", r.out);
}

#[test]
fn nft_checks_the_rulesets_the_planner_would_write() {
    let d = TempDir::new().unwrap();
    let nft = fake_nft(d.path(), "", 0);
    let r = run(teqlctl(&corpus("good-ifcfg"), &nft), &["validate"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(!r.out.contains("note:"), "{}", r.out);
    let seen = checked(d.path());
    assert_eq!(seen.len(), 2, "the connection bundle's table and teql0's NAT: {seen:#?}");
    let conn = seen.iter().find(|s| s.contains("connection bundle wan")).unwrap();
    // The configured lines and settings, addresses left out (the kernel's), the overlapping
    // PREFER_DST written as the covering network only.
    assert!(conn.contains("map line_mark { type ifname : mark; elements = { \"eth2\" : "), "{conn}");
    assert!(conn.contains("map addr_mark { type ipv4_addr : mark; }"), "{conn}");
    assert!(conn.contains("oifname \"eth3\" ip saddr { 203.0.113.128/25 } masquerade"), "{conn}");
    assert!(conn.contains("elements = { 198.18.64.0/18 : ") && !conn.contains("198.18.64.0/24"), "{conn}");
    let nat = seen.iter().find(|s| s.contains("NAT of the TEQL bundle teql0")).unwrap();
    assert!(nat.contains("oifname != \"teql0\" ip saddr { 192.0.2.0/24 } masquerade"), "{nat}");
    // A multipath bundle has no ruleset: nft is not run.
    let d = TempDir::new().unwrap();
    let nft = fake_nft(d.path(), "", 0);
    assert_eq!(run(teqlctl(&corpus("good-interfaces"), &nft), &["validate"]).code, 0);
    assert!(checked(d.path()).is_empty());
}

#[test]
fn a_ruleset_nft_refuses_is_a_problem_naming_its_bundle() {
    let d = TempDir::new().unwrap();
    let nft = fake_nft(d.path(), "Error: conflicting intervals specified", 1);
    let root = corpus("good-ifcfg");
    let r = run(teqlctl(&root, &nft), &["validate"]);
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    let wan = root.join("etc/sysconfig/network-scripts/ifcfg-wan").display().to_string();
    assert!(
        r.out.lines().any(|l| l.starts_with(&format!("{wan}: wan: nft refuses the ruleset"))
            && l.ends_with("Error: conflicting intervals specified")),
        "{}",
        r.out
    );
    let v = json(&run(teqlctl(&root, &nft), &["validate", "--json"]));
    let p = problems(&v);
    assert_eq!(p.len(), 2, "{v}");
    let mut bundles: Vec<&str> = p.iter().map(|p| p["bundle"].as_str().unwrap()).collect();
    bundles.sort();
    assert_eq!(bundles, ["teql0", "wan"]);
    assert!(p.iter().all(|p| p["kind"] == "nft"), "{v}");
}

#[test]
fn nft_that_cannot_check_is_said_not_a_problem() {
    let root = corpus("good-keyfile");
    let r = run(teqlctl(&root, &no_nft()), &["validate"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("note: the nftables rulesets were not checked: teql0 needs nftables"), "{}", r.out);
    let d = TempDir::new().unwrap();
    let nft = fake_nft(d.path(), "netlink: Error: cache initialization failed: Operation not permitted", 1);
    let v = json(&run(teqlctl(&root, &nft), &["validate", "--json"]));
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["notes"][0].as_str().unwrap().contains("nft -c needs CAP_NET_ADMIN"), "{v}");
}

fn has_nft() -> bool {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"].iter().any(|p| Path::new(p).exists())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The real nft accepts what teqlctl would write (in a network namespace of the test's own when
/// root: `nft -c` changes nothing, but a test touches no namespace it did not make).
#[test]
fn the_real_nft_accepts_the_rulesets_of_the_good_trees() {
    if !has_nft() {
        eprintln!("skipped: nft is not installed");
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin("teqlctl");
    for tree in ["good-ifcfg", "good-keyfile"] {
        let mut c = if is_root() {
            let mut c = Command::new("unshare");
            c.arg("-n").arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        c.env_remove("TEQLCTL_ROOT").env_remove("TEQLCTL_NFT").arg("--root").arg(corpus(tree));
        let r = run(c, &["validate", "--json"]);
        if is_root() && r.code != 0 && r.err.contains("unshare") {
            kernel_gate::cannot_run("validate with the real nft", &format!("unshare -n is not available: {}", r.err));
            return;
        }
        assert_eq!(r.code, 0, "{tree}: {}{}", r.out, r.err);
        let v = json(&r);
        if is_root() {
            assert_eq!(v["notes"], serde_json::json!([]), "{tree}: {v}");
        } else {
            assert!(v["notes"][0].as_str().unwrap().contains("CAP_NET_ADMIN"), "{tree}: {v}");
        }
    }
}

#[test]
fn the_kernel_preflight_only_adds_problems_of_the_box() {
    let r = run(teqlctl(&corpus("good-ifcfg"), &no_nft()), &["validate", "--kernel", "--json"]);
    // Whatever this box has: 0, or 4 with problems that are the box's, each saying what to
    // install. The missing nft is one of them here.
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    let v = json(&r);
    let p = problems(&v);
    assert!(p.iter().all(|p| p["kind"] == "kernel" && p["message"].as_str().unwrap().starts_with("kernel ")), "{v}");
    assert!(p.iter().any(|p| p["message"].as_str().unwrap().contains("install the nftables package")), "{v}");
    // Config problems win: 3.
    let r = run(teqlctl(&corpus("bad-ifcfg-value"), &no_nft()), &["validate", "--kernel"]);
    assert_eq!(r.code, 3, "{}", r.out);
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn hooks_install_says_what_validate_found_and_installs_anyway() {
    let t = TempDir::new().unwrap();
    copy_tree(&corpus("bad-ifcfg-value"), t.path());
    let bin = assert_cmd::cargo::cargo_bin("teqlctl");
    let r = run(
        teqlctl(t.path(), &no_nft()),
        &["hooks", "install", "--network-scripts", "--binary", &bin.display().to_string()],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        r.out.ends_with("teqlctl validate: 1 problem in the configuration; `teqlctl validate` lists them\n"),
        "{}",
        r.out
    );
    assert!(t.path().join("etc/sysconfig/network-scripts/ifup-teql").exists());
    let t = TempDir::new().unwrap();
    copy_tree(&corpus("good-ifcfg"), t.path());
    let install = ["hooks", "install", "--network-scripts", "--binary", &bin.display().to_string()];
    let r = run(teqlctl(t.path(), &no_nft()), &install);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(r.out, "teqlctl validate: configuration OK (2 bundles, 4 lines)\n");
    // A dry run installs nothing: its commands, no verdict.
    let mut dry = vec!["--dry-run"];
    dry.extend(install);
    let r = run(teqlctl(t.path(), &no_nft()), &dry);
    assert_eq!((r.code, r.out.as_str()), (0, "# nothing to change\n"), "{}", r.err);
}
