//! Connection bundles in both formats (issue 13): the user story's files load into the same
//! configuration, and every bad value or misplaced key is one problem naming the file, the key
//! and what to do.

mod config_files;

use config_files::{assert_one_problem, ifcfg, interfaces, problems, Format, Options, Words, FORMATS};
use std::fs;
use tempfile::TempDir;
use teqlctl::config::{self, ConnectionOptions, Ipv4Prefix, Mode};

fn net(s: &str) -> Ipv4Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Ipv4Prefix { addr: a.parse().unwrap(), prefix_len: l.parse().unwrap() }
}

const LINES: [(u32, &str, &str, u32); 3] =
    [(1, "198.51.100.10", "198.51.100.9", 2), (2, "192.0.2.10", "192.0.2.1", 1), (3, "198.18.3.10", "198.18.3.1", 1)];

/// The user story on RedHat.
fn redhat(bundle: &str) -> TempDir {
    let t = TempDir::new().unwrap();
    for (n, addr, gw, w) in LINES {
        ifcfg(
            t.path(),
            &format!("eth{n}"),
            &format!(
                "DEVICE=eth{n}\nONBOOT=yes\nBOOTPROTO=static\nIPADDR={addr}\nPREFIX=24\nGATEWAY={gw}\nTEQL_MASTER=wan\n\
                 TEQL_WEIGHT={w}\n"
            ),
        );
    }
    ifcfg(t.path(), "wan", bundle);
    t
}

const STORY: &str = "DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=connection\n\
    TEQL_NAT=\"203.0.113.0/24\"                       # LAN sources to masquerade per line\n\
    TEQL_PREFER=eth1\nTEQL_PREFER_DST=\"192.0.2.128/25 198.18.64.0/18\"\n\
    TEQL_LOCAL_SOURCE=198.18.0.1\n";

/// The same on Debian.
fn debian(bundle: &str) -> TempDir {
    let t = TempDir::new().unwrap();
    let mut text = String::new();
    for (n, addr, gw, w) in LINES {
        text.push_str(&format!(
            "auto eth{n}\niface eth{n} inet static\n    address {addr}/24\n    teql-master wan\n    teql-weight {w}\n    \
             teql-gateway {gw}\n"
        ));
    }
    text.push_str("auto wan\niface wan inet manual\n");
    text.push_str(bundle);
    interfaces(t.path(), &text);
    t
}

const STORY_DEB: &str = "    teql-mode connection\n    teql-nat 203.0.113.0/24\n    teql-prefer eth1\n    \
    teql-prefer-dst 192.0.2.128/25 198.18.64.0/18\n    teql-local-source 198.18.0.1\n";

#[test]
fn the_user_story_loads_the_same_from_both_formats() {
    let want = ConnectionOptions {
        nat: vec![net("203.0.113.0/24")],
        prefer: vec![config::IfName::new("eth1").unwrap()],
        prefer_dst: vec![net("192.0.2.128/25"), net("198.18.64.0/18")],
        local_source: Some("198.18.0.1".parse().unwrap()),
    };
    for root in [redhat(STORY), debian(STORY_DEB)] {
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        let m = &c.masters["wan"];
        assert_eq!(m.mode.name(), "connection");
        let Mode::Connection(_, o) = &m.mode else { panic!("{:?}", m.mode) };
        assert_eq!(o, &want);
        assert_eq!(c.members["eth1"].path.weight, Some(2));
    }
    // Connection mode alone: no NAT, nothing preferred.
    let c = config::load(redhat("DEVICE=wan\nTEQL_MODE=connection\n").path());
    assert!(c.problems.is_empty(), "{:?}", problems(&c));
    let Mode::Connection(_, o) = &c.masters["wan"].mode else { panic!("{:?}", c.masters["wan"].mode) };
    assert_eq!(o, &ConnectionOptions::default());
}

/// The user story's lines with the teql options `bundle` on wan, in `fmt`.
fn office(fmt: Format, bundle: &[(&str, &str)]) -> TempDir {
    match fmt {
        Format::Ifcfg => redhat(&format!("DEVICE=wan\nDEVICETYPE=teql\n{}", fmt.lines(bundle))),
        Format::Interfaces => debian(&fmt.lines(bundle)),
    }
}

#[test]
fn bad_values_and_misplaced_keys() {
    const CONNECTION: (&str, &str) = ("teql-mode", "connection");
    const MULTIPATH: (&str, &str) = ("teql-mode", "multipath");
    let cases: &[(Options, Words)] = &[
        (&[CONNECTION, ("teql-nat", "203.0.113.0/33")], &["<<teql-nat 203.0.113.0/33>>", "IPv4 networks"]),
        (&[CONNECTION, ("teql-nat", "203.0.113.5/24")], &["<<teql-nat 203.0.113.5/24>>"]),
        (&[CONNECTION, ("teql-nat", "lan")], &["<<teql-nat lan>>"]),
        (&[CONNECTION, ("teql-nat", "203.0.113.0/24,lan")], &["<<teql-nat 203.0.113.0/24,lan>>"]),
        (&[CONNECTION, ("teql-prefer", "eth1 eth1")], &["<<teql-prefer eth1 eth1>>", "interface names"]),
        (&[CONNECTION, ("teql-prefer-dst", "192.0.2.0/24")], &["<<teql-prefer-dst>>", "set the preferred line"]),
        (&[MULTIPATH, ("teql-nat", "203.0.113.0/24")], &["<<teql-nat 203.0.113.0/24>>", "connection bundle"]),
        (&[MULTIPATH, ("teql-prefer", "eth1")], &["<<teql-prefer eth1>>", "connection bundle"]),
        (&[CONNECTION, ("teql-prefer", "eth9")], &["preferred line eth9 is not a line of wan"]),
        (&[CONNECTION, ("teql-prefer", "eth4")], &["preferred line eth4 is not a line of wan"]),
        (&[CONNECTION, ("teql-local-source", "lan0")], &["<<teql-local-source lan0>>", "unicast IPv4 address"]),
        (&[CONNECTION, ("teql-local-source", "198.18.0.1/24")], &["<<teql-local-source 198.18.0.1/24>>"]),
        (&[CONNECTION, ("teql-local-source", "127.0.0.1")], &["<<teql-local-source 127.0.0.1>>"]),
        (&[MULTIPATH, ("teql-local-source", "198.18.0.1")], &["<<teql-local-source>>", "connection bundle"]),
        (&[("teql-mode", "roundrobin")], &["<<teql-mode roundrobin>>", "teql, multipath or connection"]),
    ];
    for fmt in FORMATS {
        for (bundle, words) in cases {
            let c = config::load(office(fmt, bundle).path());
            fmt.assert_one_problem(&c, "wan", words);
            assert!(!c.masters.contains_key("wan"), "{fmt:?} {bundle:?}");
        }
    }
}

#[test]
fn a_box_has_one_connection_bundle() {
    let t = redhat(STORY);
    ifcfg(t.path(), "eth4", "DEVICE=eth4\nTEQL_MASTER=wan2\n");
    ifcfg(t.path(), "wan2", "DEVICE=wan2\nDEVICETYPE=teql\nTEQL_MODE=connection\n");
    let c = config::load(t.path());
    assert_one_problem(&c, "ifcfg-wan2", &["wan2 is a second connection bundle (wan is one)"]);
    assert!(c.masters.contains_key("wan"));
}

/// The ids the kernel sees (connection marks, nexthop ids) are unique: a clash is one problem
/// naming the file and the key, and the line or bundle is left out (issue 26, point 4).
#[test]
fn marks_and_nexthop_ids_never_clash() {
    // Tables 100 and 65636 share their low 16 bits: one mark for two lines.
    let t = redhat(STORY);
    ifcfg(t.path(), "eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_GATEWAY=198.51.100.9\nTEQL_TABLE=100\n");
    ifcfg(t.path(), "eth2", "DEVICE=eth2\nTEQL_MASTER=wan\nTEQL_GATEWAY=192.0.2.1\nTEQL_TABLE=65636\n");
    let c = config::load(t.path());
    assert_one_problem(
        &c,
        "ifcfg-eth2",
        &[
            "eth2: its connection mark 0x54450064 (the low 16 bits of table 65636) is also eth1's (table 100)",
            "TEQL_TABLE",
        ],
    );
    assert!(c.members.contains_key("eth1") && !c.members.contains_key("eth2"));
    // In a plain multipath bundle marks are not used: the same tables are fine.
    let t = redhat("DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n");
    ifcfg(t.path(), "eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_GATEWAY=198.51.100.9\nTEQL_TABLE=100\n");
    ifcfg(t.path(), "eth2", "DEVICE=eth2\nTEQL_MASTER=wan\nTEQL_GATEWAY=192.0.2.1\nTEQL_TABLE=65636\n");
    assert!(problems(&config::load(t.path())).is_empty());

    // A line's table (its nexthop's id) equal to the bundle's nexthop group id.
    let gid = teqlctl::plan::multipath::group_id("wan");
    let t = redhat(STORY);
    ifcfg(t.path(), "eth3", &format!("DEVICE=eth3\nTEQL_MASTER=wan\nTEQL_GATEWAY=198.18.3.1\nTEQL_TABLE={gid}\n"));
    assert_one_problem(
        &config::load(t.path()),
        "ifcfg-eth3",
        &[&format!("eth3: its routing table {gid} is also the nexthop group id of bundle wan"), "set TEQL_TABLE"],
    );
    // The same in the Debian spelling.
    let d = debian(STORY_DEB);
    let text = fs::read_to_string(d.path().join("etc/network/interfaces")).unwrap();
    interfaces(
        d.path(),
        &text.replace(
            "    teql-weight 1\n    teql-gateway 198.18.3.1\n",
            &format!("    teql-weight 1\n    teql-gateway 198.18.3.1\n    teql-table {gid}\n"),
        ),
    );
    assert_one_problem(&config::load(d.path()), "interfaces", &["nexthop group id of bundle wan", "set teql-table"]);

    // Two bundles whose names hash to one group id: the second (by name) is refused.
    // (x... sorts after wan.)
    let other = (0..100_000)
        .map(|i| format!("x{i}"))
        .find(|n| teqlctl::plan::multipath::group_id(n) == gid)
        .expect("a name with wan's group id");
    let t = redhat(STORY);
    ifcfg(t.path(), &other, &format!("DEVICE={other}\nDEVICETYPE=teql\nTEQL_MODE=multipath\n"));
    let c = config::load(t.path());
    assert_one_problem(
        &c,
        &format!("ifcfg-{other}"),
        &[&format!("{other}: its nexthop group id {gid} (a hash of the name) is also wan's: rename one")],
    );
    assert!(c.masters.contains_key("wan") && !c.masters.contains_key(other.as_str()));
}
