//! Multipath bundles in both formats (issue 12, point 1): the user story's files load into the
//! same configuration, and every bad value or misplaced key is one problem naming the file,
//! the key and what to do.

use std::fs;
use std::net::Ipv4Addr;

mod config_files;

use config_files::{assert_one_problem, ifcfg, interfaces, problems, Format, Options, Words, FORMATS};
use tempfile::TempDir;
use teqlctl::config::{self, LinePath, Mode, MultipathOptions};
use teqlctl::plan::multipath::HashPolicy;

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
    interfaces(t.path(), &debian_text(""));
    t
}

/// The Debian office's interfaces file without the stanza of `skip`.
fn debian_text(skip: &str) -> String {
    let mut text = String::new();
    for (n, addr, gw, w) in [
        (1, "198.51.100.10", "198.51.100.9", 2),
        (2, "192.0.2.10", "192.0.2.1", 1),
        (3, "203.0.113.10", "203.0.113.1", 1),
    ] {
        if skip != format!("eth{n}") {
            text.push_str(&format!(
                "auto eth{n}\niface eth{n} inet static\n    address {addr}/24\n    teql-master wan\n    \
                 teql-weight {w}\n    teql-gateway {gw}\n    teql-probe 198.18.0.1\n"
            ));
        }
    }
    if skip != "wan" {
        text.push_str("auto wan\niface wan inet manual\n    teql-mode multipath\n");
    }
    text
}

/// The office in `fmt` with `unit` (a line, the bundle, or another bundle) configured by the
/// teql options `options` alone.
fn office_with(fmt: Format, unit: &str, options: &[(&str, &str)]) -> TempDir {
    match fmt {
        Format::Ifcfg => {
            let t = redhat();
            ifcfg(t.path(), unit, &format!("DEVICE={unit}\n{}", fmt.lines(options)));
            t
        }
        Format::Interfaces => {
            let t = TempDir::new().unwrap();
            let text = format!("{}iface {unit} inet manual\n{}", debian_text(unit), fmt.lines(options));
            interfaces(t.path(), &text);
            t
        }
    }
}

#[test]
fn the_user_story_loads_the_same_from_both_formats() {
    for root in [redhat(), debian()] {
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        assert_eq!(c.masters["wan"].mode, Mode::Multipath(MultipathOptions { hash: HashPolicy::L4, defroute: true }));
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
    assert_eq!(c.masters["wan"].mode, Mode::Multipath(MultipathOptions { hash: HashPolicy::L3, defroute: false }));
    assert_eq!(c.masters["wan"].metric, 10);
}

#[test]
fn bad_values_and_misplaced_keys() {
    const WAN: (&str, &str) = ("teql-master", "wan");
    const MULTIPATH: (&str, &str) = ("teql-mode", "multipath");
    let cases: &[(&str, Options, Words)] = &[
        ("eth1", &[WAN, ("teql-weight", "0")], &["<<teql-weight 0>>", "from 1 to 256"]),
        ("eth1", &[WAN, ("teql-weight", "257")], &["<<teql-weight 257>>"]),
        ("eth1", &[WAN, ("teql-gateway", "isp")], &["<<teql-gateway isp>>", "unicast IPv4"]),
        ("eth1", &[WAN, ("teql-gateway", "224.0.0.1")], &["<<teql-gateway 224.0.0.1>>"]),
        ("eth1", &[WAN, ("teql-table", "254")], &["<<teql-table 254>>", "not 253, 254 or 255"]),
        (
            "eth1",
            &[("teql-master", "lan")],
            &["<<teql-master lan>>", "no bundle lan is configured", "<<bundle-file lan>>"],
        ),
        (
            "eth1",
            &[("teql-master", "teql0"), ("teql-weight", "2")],
            &["<<teql-weight>> is set but teql0 is a TEQL bundle"],
        ),
        (
            "eth1",
            &[("teql-master", "teql0"), ("teql-weight", "3")],
            &["<<teql-weight>> is set but teql0 is a TEQL bundle"],
        ),
        ("wan", &[("teql-mode", "perflow")], &["<<teql-mode perflow>>", "teql, multipath or connection"]),
        ("wan", &[MULTIPATH, ("teql-hash", "l7")], &["<<teql-hash l7>>", "l4, l3 or keep"]),
        ("wan", &[MULTIPATH, ("teql-defroute", "maybe")], &["<<teql-defroute maybe>>"]),
        (
            "wan",
            &[MULTIPATH, ("teql-weight", "2")],
            &["<<teql-weight 2>> is set on the bundle wan: it belongs in the <<places>> of its lines"],
        ),
        ("wan", &[MULTIPATH, ("teql-table", "100")], &["<<teql-table 100>> is set on the bundle wan"]),
        ("wan", &[("teql-mode", "teql")], &["must be a multipath bundle: add <<multipath>>"]),
        ("teql0", &[MULTIPATH], &["<<multipath>> on teql0", "teqlN names are TEQL bundles"]),
    ];
    for fmt in FORMATS {
        for (unit, options, words) in cases {
            let c = config::load(office_with(fmt, unit, options).path());
            fmt.assert_one_problem(&c, unit, words);
            // The broken unit's own line or bundle is left out; nothing else is.
            if *unit == "eth1" {
                assert!(!c.members.contains_key("eth1") && c.members.contains_key("eth2"), "{fmt:?} {options:?}");
            }
        }
    }
}

/// What each format has of its own: a bundle's device keys, and network-scripts' DEVICETYPE.
#[test]
fn device_keys_on_a_multipath_bundle() {
    let t = redhat();
    ifcfg(t.path(), "wan", "DEVICE=wan\nTEQL_MODE=multipath\nIPADDR=192.0.2.1\n");
    assert_one_problem(&config::load(t.path()), "ifcfg-wan", &["IPADDR is set on the multipath bundle wan"]);
    // DEVICETYPE=teql alone makes a TEQL bundle (ifup-teql runs), which wan cannot be.
    ifcfg(t.path(), "wan", "DEVICE=wan\nDEVICETYPE=teql\n");
    assert_one_problem(&config::load(t.path()), "ifcfg-wan", &["must be a multipath bundle: add TEQL_MODE=multipath"]);
    let t = TempDir::new().unwrap();
    interfaces(
        t.path(),
        &debian_text("").replace("teql-mode multipath\n", "teql-mode multipath\n    address 192.0.2.99/24\n"),
    );
    assert_one_problem(&config::load(t.path()), "interfaces", &["address is set on the multipath bundle wan"]);
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
    let default = teqlctl::plan::multipath::default_table("eth3");
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
