//! The multipath primitives of src/netlink.rs against a real kernel: rules, routes of any
//! table, nexthop objects, the multipath hash sysctl. Each result is also compared with what
//! `ip -j` reads back, so the dump's parser is not only checked against itself.
//!
//! Ignored by default, and a no-op unless run as root with TEQLCTL_VM=1 inside a throw-away
//! network namespace prepared by tests/vm/t-70-netlink-multipath.sh (`ip netns exec`):
//!
//!   nl1  veth  198.51.100.10/24 (peer nl1p)     line 1, gateway 198.51.100.1
//!   nl2  veth  192.0.2.2/24     (peer nl2p)     line 2, gateway 192.0.2.1
//!   nlp  veth  203.0.113.2 peer 203.0.113.1/32  (peer nlpp) a point-to-point line
//!
//! Run with `--ignored --test-threads=1` (the tests share the namespace and clean up after
//! themselves).

use std::net::Ipv4Addr;
use std::process::Command;

use serde_json::Value;
use teqlctl::kernel::netlink::{self, Netlink, Nexthop, NlError, Rule, TableRoute, RTPROT_TEQLCTL};

/// Whether this run may change the network: TEQLCTL_VM=1 (the scenario's namespace). Asked
/// for without root, the tests fail rather than pass without doing anything.
fn in_lab() -> bool {
    if std::env::var("TEQLCTL_VM").as_deref() != Ok("1") {
        eprintln!("skipped: needs root and TEQLCTL_VM=1 (tests/vm/t-70-netlink-multipath.sh)");
        return false;
    }
    assert!(nix::unistd::geteuid().is_root(), "TEQLCTL_VM=1 but not root");
    true
}

fn nl() -> Netlink {
    Netlink::open().expect("netlink socket")
}

fn ifindex(nl: &mut Netlink, name: &str) -> u32 {
    let links = nl.links().expect("ip link show");
    links.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no interface {name}: run the scenario's lab")).index
}

/// `ip -j ARGS`, parsed.
fn ip_json(args: &[&str]) -> Value {
    let out = Command::new("ip").arg("-j").args(args).output().expect("ip");
    assert!(out.status.success(), "ip -j {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("ip -j {}: {}", args.join(" "), text.trim());
    if text.trim().is_empty() {
        return Value::Array(Vec::new());
    }
    serde_json::from_str(&text).expect("ip's JSON")
}

fn errno(e: Result<(), NlError>) -> i32 {
    e.expect_err("the kernel should refuse this").errno
}

fn ip4(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

#[test]
#[ignore]
fn rules_add_dump_delete() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let from = Rule { priority: 30100, src: Some((ip4([198, 51, 100, 10]), 32)), fwmark: None, table: 4200 };
    let mark = Rule { priority: 30200, src: None, fwmark: Some((0x2, 0xff)), table: 4201 };
    nl.add_rule(&from).expect("ip rule add from 198.51.100.10 lookup 4200 priority 30100");
    nl.add_rule(&mark).expect("ip rule add fwmark 0x2/0xff lookup 4201 priority 30200");

    let rules = nl.rules().expect("ip rule show");
    assert!(rules.contains(&from) && rules.contains(&mark), "{rules:?}");
    // The kernel's default rules come back too (local 0, main 32766, default 32767).
    assert!(rules.contains(&Rule { priority: 32766, src: None, fwmark: None, table: 254 }), "{rules:?}");

    let shown = ip_json(&["rule", "show"]);
    let by_prio =
        |p: u64| shown.as_array().unwrap().iter().find(|r| r["priority"] == p).cloned().unwrap_or(Value::Null);
    let r = by_prio(30100);
    assert_eq!((r["src"].as_str(), r["table"].as_str()), (Some("198.51.100.10"), Some("4200")), "{r}");
    let r = by_prio(30200);
    assert_eq!(
        (r["fwmark"].as_str(), r["fwmask"].as_str(), r["table"].as_str()),
        (Some("0x2"), Some("0xff"), Some("4201")),
        "{r}"
    );

    // errno kept: the same rule twice.
    assert_eq!(errno(nl.add_rule(&from)), libc::EEXIST);
    assert_eq!(errno(nl.add_rule(&mark)), libc::EEXIST);

    nl.del_rule(&from).expect("ip rule del from");
    nl.del_rule(&mark).expect("ip rule del fwmark");
    let rules = nl.rules().expect("ip rule show");
    assert!(!rules.iter().any(|r| r.priority == 30100 || r.priority == 30200), "{rules:?}");
    assert_eq!(errno(nl.del_rule(&from)), libc::ENOENT);
    let shown = ip_json(&["rule", "show"]);
    assert!(!shown.as_array().unwrap().iter().any(|r| r["priority"] == 30100 || r["priority"] == 30200), "{shown}");
}

#[test]
#[ignore]
fn routes_of_a_table_above_255() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let (nl1, nlp) = (ifindex(&mut nl, "nl1"), ifindex(&mut nl, "nlp"));
    // Table 4200's line: its connected subnet with the line's source, and its default route.
    let connected = TableRoute {
        table: 4200,
        dst: ip4([198, 51, 100, 0]),
        dst_len: 24,
        oif: Some(nl1),
        prefsrc: Some(ip4([198, 51, 100, 10])),
        scope_link: true,
        protocol: RTPROT_TEQLCTL,
        ..TableRoute::default()
    };
    let default = TableRoute {
        table: 4200,
        gateway: Some(ip4([198, 51, 100, 1])),
        oif: Some(nl1),
        protocol: RTPROT_TEQLCTL,
        ..TableRoute::default()
    };
    // A point-to-point line needs no gateway.
    let p2p = TableRoute {
        table: 4201,
        oif: Some(nlp),
        scope_link: true,
        metric: 10,
        protocol: RTPROT_TEQLCTL,
        ..TableRoute::default()
    };
    // 4200 & 0xff = 104: a table whose low byte is 4200's must not be mistaken for it.
    let alias =
        TableRoute { table: 104, oif: Some(nlp), scope_link: true, protocol: RTPROT_TEQLCTL, ..TableRoute::default() };
    for r in [&connected, &default, &p2p, &alias] {
        nl.replace_route(r).unwrap_or_else(|e| panic!("ip route replace {r:?}: {e}"));
    }
    // Twice is harmless: replace.
    nl.replace_route(&default).expect("ip route replace (again)");

    let mut got = nl.table_routes(4200).expect("ip route show table 4200");
    got.sort_by_key(|r| r.dst_len);
    assert_eq!(got, vec![default.clone(), connected.clone()]);
    assert_eq!(nl.table_routes(4201).expect("table 4201"), vec![p2p.clone()]);
    assert_eq!(nl.table_routes(104).expect("table 104"), vec![alias.clone()]);

    let shown = ip_json(&["route", "show", "table", "4200"]);
    let arr = shown.as_array().unwrap();
    assert_eq!(arr.len(), 2, "{shown}");
    let d = arr.iter().find(|r| r["dst"] == "default").expect("default in table 4200");
    assert_eq!(
        (d["gateway"].as_str(), d["dev"].as_str(), d["protocol"].as_str()),
        (Some("198.51.100.1"), Some("nl1"), Some("200")),
        "{d}"
    );
    let c = arr.iter().find(|r| r["dst"] == "198.51.100.0/24").expect("subnet in table 4200");
    assert_eq!(
        (c["prefsrc"].as_str(), c["scope"].as_str(), c["dev"].as_str()),
        (Some("198.51.100.10"), Some("link"), Some("nl1")),
        "{c}"
    );
    let shown = ip_json(&["route", "show", "table", "4201"]);
    assert_eq!(
        (shown[0]["dst"].as_str(), shown[0]["dev"].as_str(), shown[0]["metric"].as_u64()),
        (Some("default"), Some("nlp"), Some(10)),
        "{shown}"
    );

    // Replace changes the gateway in place.
    let moved = TableRoute { gateway: Some(ip4([198, 51, 100, 2])), ..default.clone() };
    nl.replace_route(&moved).expect("ip route replace default via 198.51.100.2");
    let got = nl.table_routes(4200).expect("table 4200");
    assert!(got.contains(&moved) && !got.contains(&default), "{got:?}");

    // A protocol in del_route deletes only a route of that protocol (teqlctl's own).
    let as_static = TableRoute { protocol: 4, ..moved.clone() };
    assert_eq!(errno(nl.del_route(&as_static)), libc::ESRCH);
    assert!(nl.table_routes(4200).expect("table 4200").contains(&moved));

    for r in [&connected, &moved, &p2p, &alias] {
        nl.del_route(r).unwrap_or_else(|e| panic!("ip route del {r:?}: {e}"));
    }
    assert_eq!(errno(nl.del_route(&moved)), libc::ESRCH);
    assert!(nl.table_routes(4200).expect("table 4200").is_empty());
    assert_eq!(ip_json(&["route", "show", "table", "4200"]), Value::Array(Vec::new()));
}

#[test]
#[ignore]
fn nexthop_objects_and_a_resilient_group() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let (nl1, nl2) = (ifindex(&mut nl, "nl1"), ifindex(&mut nl, "nl2"));
    let resilient = netlink::kernel_has_resilient_groups();
    eprintln!("kernel_has_resilient_groups: {resilient}");
    assert!(nl.nexthops().expect("ip nexthop show").is_empty(), "a fresh namespace has no nexthop objects");

    let hop1 = Nexthop {
        id: 4201,
        gateway: Some(ip4([198, 51, 100, 1])),
        oif: Some(nl1),
        protocol: RTPROT_TEQLCTL,
        ..Nexthop::default()
    };
    let hop2 = Nexthop {
        id: 4202,
        gateway: Some(ip4([192, 0, 2, 1])),
        oif: Some(nl2),
        protocol: RTPROT_TEQLCTL,
        ..Nexthop::default()
    };
    let group = Nexthop {
        id: 4200,
        group: vec![(4201, 2), (4202, 1)],
        resilient: resilient.then_some(64),
        protocol: RTPROT_TEQLCTL,
        ..Nexthop::default()
    };
    for n in [&hop1, &hop2, &group] {
        nl.replace_nexthop(n).unwrap_or_else(|e| panic!("ip nexthop replace {n:?}: {e}"));
    }
    let route =
        TableRoute { table: 254, nhid: Some(4200), metric: 4200, protocol: RTPROT_TEQLCTL, ..TableRoute::default() };
    nl.replace_route(&route).expect("ip route replace default nhid 4200 metric 4200");

    let mut got = nl.nexthops().expect("ip nexthop show");
    got.sort_by_key(|n| n.id);
    assert_eq!(got, vec![group.clone(), hop1.clone(), hop2.clone()]);
    let main = nl.table_routes(254).expect("ip route show table main");
    assert!(main.contains(&route), "{main:?}");

    let shown = ip_json(&["-d", "nexthop", "show"]);
    let by_id =
        |v: &Value, id: u64| v.as_array().unwrap().iter().find(|n| n["id"] == id).cloned().unwrap_or(Value::Null);
    let g = by_id(&shown, 4200);
    assert_eq!(g["group"], serde_json::json!([{"id": 4201, "weight": 2}, {"id": 4202}]), "{g}");
    if resilient {
        assert_eq!((g["type"].as_str(), g["resilient_args"]["buckets"].as_u64()), (Some("resilient"), Some(64)), "{g}");
    }
    let h = by_id(&shown, 4202);
    assert_eq!(
        (h["gateway"].as_str(), h["dev"].as_str(), h["protocol"].as_str()),
        (Some("192.0.2.1"), Some("nl2"), Some("200")),
        "{h}"
    );
    let shown = ip_json(&["route", "show", "default"]);
    assert!(shown.as_array().unwrap().iter().any(|r| r["nhid"] == 4200 && r["metric"] == 4200), "{shown}");

    // Line 2 gone: the group keeps line 1 only (same type and bucket count).
    let one = Nexthop { group: vec![(4201, 2)], ..group.clone() };
    nl.replace_nexthop(&one).expect("ip nexthop replace id 4200 group 4201,2");
    let got = nl.nexthops().expect("ip nexthop show");
    assert!(got.contains(&one) && got.contains(&hop2), "{got:?}");
    assert_eq!(by_id(&ip_json(&["nexthop", "show"]), 4200)["group"], serde_json::json!([{"id": 4201, "weight": 2}]));
    // The route still uses the group.
    assert!(nl.table_routes(254).expect("main").contains(&route));

    // Delete in order: the route, the group, its members.
    nl.del_route(&route).expect("ip route del default nhid 4200");
    nl.del_nexthop(4200).expect("ip nexthop del id 4200");
    nl.del_nexthop(4201).expect("ip nexthop del id 4201");
    nl.del_nexthop(4202).expect("ip nexthop del id 4202");
    assert_eq!(errno(nl.del_nexthop(4200)), libc::ENOENT);
    assert!(nl.nexthops().expect("ip nexthop show").is_empty());
    assert_eq!(ip_json(&["nexthop", "show"]), Value::Array(Vec::new()));
    assert!(!nl.table_routes(254).expect("main").iter().any(|r| r.nhid.is_some()));
}

#[test]
#[ignore]
fn nexthop_errors_keep_their_errno() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let nl1 = ifindex(&mut nl, "nl1");
    assert_eq!(errno(nl.del_nexthop(4299)), libc::ENOENT);
    // A group of a member that does not exist.
    let bad = Nexthop { id: 4298, group: vec![(4297, 1)], ..Nexthop::default() };
    assert_eq!(errno(nl.replace_nexthop(&bad)), libc::EINVAL);
    // onlink lets a gateway outside the line's subnet through; without it the kernel refuses
    // ("Nexthop has invalid gateway").
    let far = Nexthop { id: 4296, gateway: Some(ip4([203, 0, 113, 99])), oif: Some(nl1), ..Nexthop::default() };
    assert_eq!(errno(nl.replace_nexthop(&far)), libc::ENETUNREACH);
    let far = Nexthop { onlink: true, ..far };
    nl.replace_nexthop(&far).expect("ip nexthop add id 4296 via 203.0.113.99 dev nl1 onlink");
    assert!(nl.nexthops().expect("ip nexthop show").contains(&far));
    let shown = ip_json(&["nexthop", "show", "id", "4296"]);
    assert_eq!(shown[0]["flags"], serde_json::json!(["onlink"]), "{shown}");
    nl.del_nexthop(4296).expect("ip nexthop del id 4296");
}

#[test]
#[ignore]
fn a_dump_of_many_nexthops_spans_several_datagrams() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let nl1 = ifindex(&mut nl, "nl1");
    // About 48 bytes each: 1000 take more than one 32 KiB dump part.
    let ids = 5000..6000u32;
    for id in ids.clone() {
        let n = Nexthop {
            id,
            gateway: Some(ip4([198, 51, 100, 1])),
            oif: Some(nl1),
            protocol: RTPROT_TEQLCTL,
            ..Nexthop::default()
        };
        nl.replace_nexthop(&n).unwrap_or_else(|e| panic!("ip nexthop replace id {id}: {e}"));
    }
    let got: Vec<u32> = nl.nexthops().expect("ip nexthop show").iter().map(|n| n.id).collect();
    assert_eq!(got, ids.clone().collect::<Vec<_>>());
    let out = Command::new("ip").args(["-j", "nexthop", "show"]).output().expect("ip");
    let shown: Value = serde_json::from_slice(&out.stdout).expect("ip's JSON");
    assert_eq!(shown.as_array().map(Vec::len), Some(1000));
    for id in ids {
        nl.del_nexthop(id).unwrap_or_else(|e| panic!("ip nexthop del id {id}: {e}"));
    }
    assert!(nl.nexthops().expect("ip nexthop show").is_empty());
}

#[test]
#[ignore]
fn plain_multipath_route_with_weights() {
    if !in_lab() {
        return;
    }
    let mut nl = nl();
    let (nl1, nl2) = (ifindex(&mut nl, "nl1"), ifindex(&mut nl, "nl2"));
    let route = TableRoute {
        table: 4202,
        multipath: vec![(Some(ip4([198, 51, 100, 1])), nl1, 2), (Some(ip4([192, 0, 2, 1])), nl2, 1)],
        protocol: RTPROT_TEQLCTL,
        ..TableRoute::default()
    };
    nl.replace_route(&route).expect("ip route replace default table 4202 nexthop ... weight 2 nexthop ... weight 1");
    assert_eq!(nl.table_routes(4202).expect("table 4202"), vec![route.clone()]);
    let shown = ip_json(&["route", "show", "table", "4202"]);
    let hops = &shown[0]["nexthops"];
    assert_eq!(
        (hops[0]["gateway"].as_str(), hops[0]["dev"].as_str(), hops[0]["weight"].as_u64()),
        (Some("198.51.100.1"), Some("nl1"), Some(2)),
        "{shown}"
    );
    assert_eq!(
        (hops[1]["gateway"].as_str(), hops[1]["dev"].as_str(), hops[1]["weight"].as_u64()),
        (Some("192.0.2.1"), Some("nl2"), Some(1)),
        "{shown}"
    );
    nl.del_route(&route).expect("ip route del table 4202 default");
    assert!(nl.table_routes(4202).expect("table 4202").is_empty());
}

#[test]
#[ignore]
fn multipath_hash_policy_sysctl() {
    if !in_lab() {
        return;
    }
    let before = teqlctl::kernel::sysctl::multipath_hash_policy().expect("net.ipv4.fib_multipath_hash_policy");
    teqlctl::kernel::sysctl::set_multipath_hash_policy(1).expect("sysctl -w ...=1");
    assert_eq!(teqlctl::kernel::sysctl::multipath_hash_policy(), Some(1));
    let out = Command::new("sysctl").args(["-n", "net.ipv4.fib_multipath_hash_policy"]).output().expect("sysctl");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(teqlctl::kernel::sysctl::set_multipath_hash_policy(200).is_err(), "the kernel refuses an unknown policy");
    teqlctl::kernel::sysctl::set_multipath_hash_policy(before).expect("restore");
    assert_eq!(teqlctl::kernel::sysctl::multipath_hash_policy(), Some(before));

    // The custom policy's fields (5.12+; Debian's 6.1 has them), read back as the kernel prints
    // them (in decimal, whatever base they were written in).
    let fields = teqlctl::kernel::sysctl::multipath_hash_fields().expect("net.ipv4.fib_multipath_hash_fields");
    teqlctl::kernel::sysctl::set_multipath_hash_fields(teqlctl::kernel::sysctl::L4_HASH_FIELDS)
        .expect("sysctl -w ..._fields=0x37");
    let out = Command::new("sysctl").args(["-n", "net.ipv4.fib_multipath_hash_fields"]).output().expect("sysctl");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "55");
    assert_eq!(teqlctl::kernel::sysctl::multipath_hash_fields(), Some(0x37));
    teqlctl::kernel::sysctl::set_multipath_hash_fields(fields).expect("restore the fields");
    assert_eq!(teqlctl::kernel::sysctl::multipath_hash_fields(), Some(fields));
}
