//! A TEQL bundle's routing keys in both formats (issue 14, the aggregator's side): TEQL_ROUTE,
//! TEQL_NAT, TEQL_PEER_ROUTE and TEQL_PEER_NAT load into the same configuration, and a bad
//! value or a misplaced key is one problem naming the file, the key and what to do.

mod config_files;

use config_files::{ifcfg, interfaces, problems, Format, Options, Words, FORMATS};
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

/// The aggregator with the teql options `bundle` on teql1 and `line` on tl1, in `fmt`.
fn aggregator(fmt: Format, bundle: &[(&str, &str)], line: &[(&str, &str)]) -> TempDir {
    match fmt {
        Format::Ifcfg => {
            let t = redhat(&fmt.lines(bundle));
            if !line.is_empty() {
                ifcfg(t.path(), "tl1", &format!("DEVICE=tl1\n{}", fmt.lines(line)));
            }
            t
        }
        Format::Interfaces if line.is_empty() => debian(&fmt.lines(bundle)),
        Format::Interfaces => {
            let t = TempDir::new().unwrap();
            interfaces(
                t.path(),
                &format!("iface tl1 inet manual\n{}iface teql1 inet manual\n{}", fmt.lines(line), fmt.lines(bundle)),
            );
            t
        }
    }
}

#[test]
fn bad_values_and_misplaced_keys() {
    let cases: &[(Options, Words)] = &[
        (&[("teql-route", "198.18.100.1/24")], &["<<teql-route 198.18.100.1/24>>", "IPv4 networks"]),
        (&[("teql-route", "198.18.100.0/24 lan")], &["<<teql-route 198.18.100.0/24 lan>>", "IPv4 networks"]),
        (&[("teql-route", "0.0.0.0/0")], &["<<teql-route 0.0.0.0/0>>", "the default route comes from the gateway"]),
        (&[("teql-nat", "lan")], &["<<teql-nat lan>>", "IPv4 networks"]),
        (&[("teql-peer-route", "198.18.100.0/33")], &["<<teql-peer-route 198.18.100.0/33>>"]),
        (&[("teql-peer-nat", "maybe")], &["<<teql-peer-nat maybe>>", "yes or no"]),
        (&[("teql-peer-nat", "perhaps")], &["<<teql-peer-nat perhaps>>", "yes or no"]),
    ];
    for fmt in FORMATS {
        for (bundle, words) in cases {
            let c = config::load(aggregator(fmt, bundle, &[]).path());
            fmt.assert_one_problem(&c, "teql1", words);
            assert!(!c.masters.contains_key("teql1"), "{fmt:?} {bundle:?}");
        }
        // On a multipath bundle, and on a line.
        let t = TempDir::new().unwrap();
        let line = fmt.lines(&[("teql-master", "wan")]);
        let wan = fmt.lines(&[("teql-mode", "multipath"), ("teql-route", "198.18.100.0/24")]);
        match fmt {
            Format::Ifcfg => {
                ifcfg(t.path(), "eth1", &format!("DEVICE=eth1\n{line}"));
                ifcfg(t.path(), "wan", &format!("DEVICE=wan\nDEVICETYPE=teql\n{wan}"));
            }
            Format::Interfaces => {
                interfaces(t.path(), &format!("iface eth1 inet manual\n{line}iface wan inet manual\n{wan}"))
            }
        }
        fmt.assert_one_problem(
            &config::load(t.path()),
            "wan",
            &["<<teql-route 198.18.100.0/24>> is set on the bundle wan, which is not a TEQL bundle"],
        );
        for (option, value) in [("teql-peer-nat", "yes"), ("teql-route", "198.18.100.0/24")] {
            let t = aggregator(fmt, &[], &[("teql-master", "teql1"), (option, value)]);
            fmt.assert_one_problem(
                &config::load(t.path()),
                "tl1",
                &[&format!(
                    "<<{option} {value}>> is set on tl1, which is not a bundle: it belongs in the <<bundle-place>>"
                )],
            );
        }
    }
}
