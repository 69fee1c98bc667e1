//! Connection bundles in both formats (issue 13): the user story's files load into the same
//! configuration, and every bad value or misplaced key is one problem naming the file, the key
//! and what to do.

mod config_files;

use config_files::{assert_one_problem, ifcfg, interfaces, problems};
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
    TEQL_PREFER=eth1\nTEQL_PREFER_DST=\"192.0.2.128/25 198.18.64.0/18\"\n";

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
    teql-prefer-dst 192.0.2.128/25 198.18.64.0/18\n";

#[test]
fn the_user_story_loads_the_same_from_both_formats() {
    let want = ConnectionOptions {
        nat: vec![net("203.0.113.0/24")],
        prefer: vec!["eth1".into()],
        prefer_dst: vec![net("192.0.2.128/25"), net("198.18.64.0/18")],
    };
    for root in [redhat(STORY), debian(STORY_DEB)] {
        let c = config::load(root.path());
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        let m = &c.masters["wan"];
        assert_eq!(m.mode.name(), "connection");
        let Mode::Multipath(o) = &m.mode else { panic!("{:?}", m.mode) };
        assert_eq!(o.connection.as_ref(), Some(&want));
        assert_eq!(c.members["eth1"].path.weight, Some(2));
    }
    // Connection mode alone: no NAT, nothing preferred.
    let c = config::load(redhat("DEVICE=wan\nTEQL_MODE=connection\n").path());
    assert!(c.problems.is_empty(), "{:?}", problems(&c));
    let Mode::Multipath(o) = &c.masters["wan"].mode else { panic!() };
    assert_eq!(o.connection, Some(ConnectionOptions::default()));
}

#[test]
fn bad_values_and_misplaced_keys_in_ifcfg() {
    let cases: &[(&str, &[&str])] = &[
        ("TEQL_MODE=connection\nTEQL_NAT=203.0.113.0/33\n", &["TEQL_NAT=\"203.0.113.0/33\"", "IPv4 networks"]),
        ("TEQL_MODE=connection\nTEQL_NAT=203.0.113.5/24\n", &["TEQL_NAT=\"203.0.113.5/24\""]),
        ("TEQL_MODE=connection\nTEQL_NAT=lan\n", &["TEQL_NAT=\"lan\""]),
        ("TEQL_MODE=connection\nTEQL_PREFER=\"eth1 eth1\"\n", &["TEQL_PREFER=\"eth1 eth1\"", "interface names"]),
        ("TEQL_MODE=connection\nTEQL_PREFER_DST=192.0.2.0/24\n", &["TEQL_PREFER_DST", "set the preferred line"]),
        ("TEQL_MODE=multipath\nTEQL_NAT=203.0.113.0/24\n", &["TEQL_NAT=\"203.0.113.0/24\"", "connection bundle"]),
        ("TEQL_MODE=multipath\nTEQL_PREFER=eth1\n", &["TEQL_PREFER=\"eth1\"", "connection bundle"]),
        ("TEQL_MODE=connection\nTEQL_PREFER=eth9\n", &["preferred line eth9 is not a line of wan"]),
        ("TEQL_MODE=roundrobin\n", &["TEQL_MODE=\"roundrobin\"", "teql, multipath or connection"]),
    ];
    for (text, words) in cases {
        let t = redhat(&format!("DEVICE=wan\nDEVICETYPE=teql\n{text}"));
        let c = config::load(t.path());
        assert_one_problem(&c, "ifcfg-wan", words);
        assert!(!c.masters.contains_key("wan"), "{text}");
    }
}

#[test]
fn bad_values_in_interfaces() {
    let cases: &[(&str, &[&str])] = &[
        ("    teql-mode connection\n    teql-nat 203.0.113.0/24,lan\n", &["teql-nat=\"203.0.113.0/24,lan\""]),
        (
            "    teql-mode connection\n    teql-prefer-dst 192.0.2.0/24\n",
            &["teql-prefer-dst", "set the preferred line"],
        ),
        ("    teql-mode multipath\n    teql-prefer eth1\n", &["teql-prefer=\"eth1\"", "connection bundle"]),
        ("    teql-mode connection\n    teql-prefer eth4\n", &["preferred line eth4 is not a line of wan"]),
    ];
    for (text, words) in cases {
        let t = debian(text);
        assert_one_problem(&config::load(t.path()), "etc/network/interfaces", words);
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
