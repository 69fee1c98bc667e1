//! A TEQL bundle's routing keys in both formats (issue 14, the aggregator's side): TEQL_ROUTE,
//! TEQL_NAT, TEQL_PEER_ROUTE and TEQL_PEER_NAT load into the same configuration, and a bad
//! value or a misplaced key is one problem naming the file, the key and what to do.

mod config_files;

use config_files::{assert_one_problem, ifcfg, interfaces, problems};
use tempfile::TempDir;
use teqlctl::config::{self, BundleRouting, Ipv4Prefix};

fn net(s: &str) -> Ipv4Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Ipv4Prefix { addr: a.parse().unwrap(), prefix_len: l.parse().unwrap() }
}

/// The aggregator on RedHat: a tunnel line and teql1 with `master`'s keys.
fn redhat(master: &str) -> TempDir {
    let t = TempDir::new().unwrap();
    ifcfg(
        t.path(),
        "tl1",
        "DEVICE=tl1\nTYPE=GRE\nMY_OUTER_IPADDR=198.18.0.2\nPEER_OUTER_IPADDR=198.51.100.10\nTEQL_MASTER=teql1\n",
    );
    ifcfg(t.path(), "teql1", &format!("DEVICE=teql1\nIPADDR=198.18.200.1\nPREFIX=30\n{master}"));
    t
}

fn debian(master: &str) -> TempDir {
    let t = TempDir::new().unwrap();
    interfaces(
        t.path(),
        &format!(
            "auto tl1\niface tl1 inet manual\n    teql-master teql1\n\
             auto teql1\niface teql1 inet static\n    address 198.18.200.1/30\n{master}"
        ),
    );
    t
}

#[test]
fn the_aggregator_loads_the_same_from_both_formats() {
    let want = BundleRouting {
        routes: vec![net("198.18.100.0/24"), net("198.18.101.0/24")],
        nat: vec![net("198.18.100.0/24"), net("198.18.200.0/30")],
        peer_routes: vec![net("192.0.2.0/24")],
        peer_nat: true,
    };
    let rh = redhat(
        "TEQL_ROUTE=\"198.18.100.0/24 198.18.101.0/24\"\nTEQL_NAT=198.18.100.0/24,198.18.200.0/30\n\
         TEQL_PEER_ROUTE=192.0.2.0/24\nTEQL_PEER_NAT=yes\n",
    );
    let deb = debian(
        "    teql-route 198.18.100.0/24 198.18.101.0/24\n    teql-nat 198.18.100.0/24 198.18.200.0/30\n    \
         teql-peer-route 192.0.2.0/24\n    teql-peer-nat yes\n",
    );
    for root in [rh, deb] {
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        assert_eq!(c.masters["teql1"].routing, want);
    }
    // None of them: nothing routed, nothing masqueraded.
    let c = config::load(redhat("").path());
    assert_eq!(c.masters["teql1"].routing, BundleRouting::default());
}

#[test]
fn bad_values_and_misplaced_keys_in_ifcfg() {
    let cases: &[(&str, &[&str])] = &[
        ("TEQL_ROUTE=198.18.100.1/24\n", &["TEQL_ROUTE=\"198.18.100.1/24\"", "IPv4 networks"]),
        ("TEQL_ROUTE=0.0.0.0/0\n", &["TEQL_ROUTE=\"0.0.0.0/0\"", "the default route comes from the gateway"]),
        ("TEQL_NAT=lan\n", &["TEQL_NAT=\"lan\"", "IPv4 networks"]),
        ("TEQL_PEER_ROUTE=198.18.100.0/33\n", &["TEQL_PEER_ROUTE=\"198.18.100.0/33\""]),
        ("TEQL_PEER_NAT=maybe\n", &["TEQL_PEER_NAT=\"maybe\"", "yes or no"]),
    ];
    for (text, words) in cases {
        let c = config::load(redhat(text).path());
        assert_one_problem(&c, "ifcfg-teql1", words);
        assert!(!c.masters.contains_key("teql1"), "{text}");
    }
    // On a multipath bundle, and on a line.
    let t = TempDir::new().unwrap();
    ifcfg(t.path(), "eth1", "DEVICE=eth1\nTEQL_MASTER=wan\n");
    ifcfg(t.path(), "wan", "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\nTEQL_ROUTE=198.18.100.0/24\n");
    assert_one_problem(&config::load(t.path()), "ifcfg-wan", &["TEQL_ROUTE=\"198.18.100.0/24\"", "not a TEQL bundle"]);
    let t = redhat("");
    ifcfg(t.path(), "tl1", "DEVICE=tl1\nTEQL_MASTER=teql1\nTEQL_PEER_NAT=yes\n");
    assert_one_problem(&config::load(t.path()), "ifcfg-tl1", &["TEQL_PEER_NAT=\"yes\"", "ifcfg-teqlN"]);
}

#[test]
fn bad_values_and_misplaced_options_in_interfaces() {
    let cases: &[(&str, &[&str])] = &[
        ("    teql-route 198.18.100.0/24 lan\n", &["teql-route", "IPv4 networks"]),
        ("    teql-peer-nat perhaps\n", &["teql-peer-nat", "yes or no"]),
    ];
    for (text, words) in cases {
        assert_one_problem(&config::load(debian(text).path()), "etc/network/interfaces", words);
    }
    let t = TempDir::new().unwrap();
    interfaces(
        t.path(),
        "iface eth1 inet manual\n    teql-master teql0\n    teql-route 198.18.100.0/24\n\
         iface teql0 inet manual\n",
    );
    assert_one_problem(
        &config::load(t.path()),
        "etc/network/interfaces",
        &["teql-route", "stanza of the teqlN bundle"],
    );
}
