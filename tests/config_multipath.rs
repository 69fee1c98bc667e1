//! Multipath bundles in both formats (issue 12, point 1): the user story's files load into the
//! same configuration, and every bad value or misplaced key is one problem naming the file,
//! the key and what to do.

use std::fs;
use std::net::Ipv4Addr;

mod config_files;

use config_files::{assert_one_problem, ifcfg, interfaces, problems};
use tempfile::TempDir;
use teqlctl::config::{self, LinePath, Mode, MultipathOptions};
use teqlctl::multipath::HashPolicy;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The office on RedHat: three lines to three ISPs, 10, 5 and 5 Mbit/s.
fn redhat() -> TempDir {
    let t = TempDir::new().unwrap();
    for (n, addr, gw, w) in [
        (1, "198.51.100.10", "198.51.100.9", 2),
        (2, "192.0.2.10", "192.0.2.1", 1),
        (3, "203.0.113.10", "203.0.113.1", 1),
    ] {
        ifcfg(
            t.path(),
            &format!("eth{n}"),
            &format!(
                "DEVICE=eth{n}\nONBOOT=yes\nBOOTPROTO=static\nIPADDR={addr}\nPREFIX=24\nGATEWAY={gw}\nTEQL_MASTER=wan\n\
                 TEQL_WEIGHT={w}\nTEQL_PROBE=198.18.0.1\n"
            ),
        );
    }
    ifcfg(t.path(), "wan", "DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\n");
    t
}

/// The same office on Debian.
fn debian() -> TempDir {
    let t = TempDir::new().unwrap();
    let mut text = String::new();
    for (n, addr, gw, w) in [
        (1, "198.51.100.10", "198.51.100.9", 2),
        (2, "192.0.2.10", "192.0.2.1", 1),
        (3, "203.0.113.10", "203.0.113.1", 1),
    ] {
        text.push_str(&format!(
            "auto eth{n}\niface eth{n} inet static\n    address {addr}/24\n    teql-master wan\n    teql-weight {w}\n    \
             teql-gateway {gw}\n    teql-probe 198.18.0.1\n"
        ));
    }
    text.push_str("auto wan\niface wan inet manual\n    teql-mode multipath\n");
    interfaces(t.path(), &text);
    t
}

#[test]
fn the_user_story_loads_the_same_from_both_formats() {
    for root in [redhat(), debian()] {
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        assert_eq!(
            c.masters["wan"].mode,
            Mode::Multipath(MultipathOptions { hash: HashPolicy::L4, defroute: true, connection: None })
        );
        assert!(c.masters["wan"].onboot);
        let weights: Vec<Option<u16>> = ["eth1", "eth2", "eth3"].iter().map(|l| c.members[*l].path.weight).collect();
        assert_eq!(weights, [Some(2), Some(1), Some(1)]);
        assert_eq!(c.members["eth1"].path.gateway(), Some(ip("198.51.100.9")));
        assert_eq!(c.members["eth1"].master, "wan");
        assert_eq!(c.members["eth1"].probe.targets, [ip("198.18.0.1")]);
    }
}

#[test]
fn teql_gateway_wins_over_gateway_and_options_are_read() {
    let t = redhat();
    ifcfg(
        t.path(),
        "eth1",
        "DEVICE=eth1\nGATEWAY=198.51.100.9\nTEQL_GATEWAY=198.51.100.14\nTEQL_TABLE=4201\nTEQL_MASTER=wan\n",
    );
    ifcfg(
        t.path(),
        "wan",
        "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\nTEQL_HASH=l3\nTEQL_DEFROUTE=no\nMETRIC=10\n",
    );
    let c = config::load(t.path());
    assert!(c.problems.is_empty(), "{:?}", problems(&c));
    let p = &c.members["eth1"].path;
    assert_eq!((p.gateway(), p.table, p.weight), (Some(ip("198.51.100.14")), Some(4201), None));
    assert_eq!(
        c.masters["wan"].mode,
        Mode::Multipath(MultipathOptions { hash: HashPolicy::L3, defroute: false, connection: None })
    );
    assert_eq!(c.masters["wan"].metric, 10);
}

#[test]
fn bad_values_and_misplaced_keys_in_ifcfg() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_WEIGHT=0\n", &["TEQL_WEIGHT=\"0\"", "from 1 to 256"]),
        ("eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_WEIGHT=257\n", &["TEQL_WEIGHT=\"257\""]),
        ("eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_GATEWAY=isp\n", &["TEQL_GATEWAY=\"isp\"", "unicast IPv4"]),
        ("eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_TABLE=254\n", &["TEQL_TABLE=\"254\"", "not 253, 254 or 255"]),
        (
            "eth1",
            "DEVICE=eth1\nTEQL_MASTER=lan\n",
            &["TEQL_MASTER=\"lan\"", "no bundle lan is configured", "ifcfg-lan with DEVICETYPE=teql"],
        ),
        ("eth1", "DEVICE=eth1\nTEQL_MASTER=teql0\nTEQL_WEIGHT=2\n", &["TEQL_WEIGHT is set but teql0 is a TEQL bundle"]),
        ("wan", "DEVICE=wan\nTEQL_MODE=perflow\n", &["TEQL_MODE=\"perflow\"", "teql, multipath or connection"]),
        ("wan", "DEVICE=wan\nTEQL_MODE=multipath\nTEQL_HASH=l7\n", &["TEQL_HASH=\"l7\"", "l4, l3 or keep"]),
        ("wan", "DEVICE=wan\nTEQL_MODE=multipath\nTEQL_DEFROUTE=maybe\n", &["TEQL_DEFROUTE=\"maybe\""]),
        ("wan", "DEVICE=wan\nTEQL_MODE=multipath\nIPADDR=192.0.2.1\n", &["IPADDR is set on the multipath bundle wan"]),
        (
            "wan",
            "DEVICE=wan\nTEQL_MODE=multipath\nTEQL_WEIGHT=2\n",
            &["TEQL_WEIGHT=\"2\" is set on the bundle wan: it belongs in the files of its lines"],
        ),
        ("wan", "DEVICE=wan\nDEVICETYPE=teql\n", &["must be a multipath bundle: add TEQL_MODE=multipath"]),
        (
            "teql0",
            "DEVICE=teql0\nTEQL_MODE=multipath\n",
            &["TEQL_MODE=multipath on teql0", "teqlN names are TEQL bundles"],
        ),
    ];
    for (file, text, words) in cases {
        let t = redhat();
        ifcfg(t.path(), file, text);
        let c = config::load(t.path());
        assert_one_problem(&c, &format!("ifcfg-{file}"), words);
        // The broken file's own line or bundle is left out; nothing else is.
        if *file == "eth1" {
            assert!(!c.members.contains_key("eth1") && c.members.contains_key("eth2"), "{text}");
        }
    }
}

#[test]
fn bad_values_and_misplaced_options_in_interfaces() {
    let base = debian();
    let text = fs::read_to_string(base.path().join("etc/network/interfaces")).unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("    teql-weight 2\n", "    teql-weight 0\n", &["teql-weight=\"0\"", "from 1 to 256"]),
        ("    teql-gateway 192.0.2.1\n", "    teql-gateway 224.0.0.1\n", &["teql-gateway=\"224.0.0.1\""]),
        ("    teql-mode multipath\n", "    teql-mode multipath\n    teql-hash l7\n", &["teql-hash=\"l7\""]),
        (
            "    teql-mode multipath\n",
            "    teql-mode multipath\n    address 192.0.2.99/24\n",
            &["address is set on the multipath bundle wan"],
        ),
        (
            "    teql-mode multipath\n",
            "    teql-mode multipath\n    teql-table 100\n",
            &["teql-table \"100\" is set on the bundle wan"],
        ),
        (
            "    teql-mode multipath\n",
            "    teql-mode perflow\n",
            &["teql-mode=\"perflow\"", "teql, multipath or connection"],
        ),
        (
            "    teql-mode multipath\n",
            "    teql-mode teql\n",
            &["must be a multipath bundle: add `teql-mode multipath`"],
        ),
    ];
    for (from, to, words) in cases {
        let t = TempDir::new().unwrap();
        interfaces(t.path(), &text.replacen(from, to, 1));
        let c = config::load(t.path());
        assert_one_problem(&c, "etc/network/interfaces", words);
    }
    // A line of a bundle that has no stanza, and multipath options on a TEQL line.
    let t = TempDir::new().unwrap();
    interfaces(t.path(), "iface eth1 inet manual\n    teql-master lan\n");
    assert_one_problem(
        &config::load(t.path()),
        "interfaces",
        &["no bundle lan is configured", "iface lan inet manual"],
    );
    interfaces(t.path(), "iface eth1 inet manual\n    teql-master teql0\n    teql-weight 3\n");
    assert_one_problem(&config::load(t.path()), "interfaces", &["teql-weight is set but teql0 is a TEQL bundle"]);
}

#[test]
fn a_teql_bundle_is_unchanged() {
    let t = TempDir::new().unwrap();
    ifcfg(t.path(), "eth2", "DEVICE=eth2\nTEQL_MASTER=teql0\nGATEWAY=198.18.2.2\n");
    let c = config::load(t.path());
    assert!(c.problems.is_empty(), "{:?}", problems(&c));
    assert_eq!(c.masters["teql0"].mode, Mode::Teql);
    // GATEWAY= on a TEQL line is network-scripts' business, not a multipath key.
    assert_eq!(c.members["eth2"].path, LinePath { plain_gateway: Some(ip("198.18.2.2")), ..LinePath::default() });
}

#[test]
fn tables_never_clash_with_each_other_or_with_rt_tables() {
    // Two lines given the same table: the second one is the problem.
    let t = redhat();
    ifcfg(t.path(), "eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_TABLE=4200\n");
    ifcfg(t.path(), "eth2", "DEVICE=eth2\nTEQL_MASTER=wan\nTEQL_TABLE=4200\n");
    assert_one_problem(
        &config::load(t.path()),
        "ifcfg-eth2",
        &["eth2: its routing table 4200 is also eth1's", "set TEQL_TABLE"],
    );
    // A default table that iproute2 names for something else; a chosen one may be named.
    let t = redhat();
    let default = teqlctl::multipath::default_table("eth3");
    fs::create_dir_all(t.path().join("etc/iproute2/rt_tables.d")).unwrap();
    fs::write(
        t.path().join("etc/iproute2/rt_tables.d/vpn.conf"),
        format!("# the admin's\n{default}\tvpn\n4201 isp1\n"),
    )
    .unwrap();
    ifcfg(t.path(), "eth1", "DEVICE=eth1\nTEQL_MASTER=wan\nTEQL_TABLE=4201\n");
    assert_one_problem(
        &config::load(t.path()),
        "ifcfg-eth3",
        &[&format!("its default routing table {default} is vpn in"), "vpn.conf"],
    );
    // The Debian reader says the same with its own spelling.
    let d = debian();
    fs::create_dir_all(d.path().join("etc/iproute2")).unwrap();
    fs::write(d.path().join("etc/iproute2/rt_tables"), format!("{default} vpn\n")).unwrap();
    assert_one_problem(&config::load(d.path()), "interfaces", &["set teql-table to a free table number"]);
}
