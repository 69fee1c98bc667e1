//! Every mode through the kernel seam (issue 27, point 3): configurations read from files,
//! planned against an in-memory kernel's state, applied to it, and then planned again, which
//! must change nothing. Before each apply, the same plan is applied once per change it makes
//! with that change failing: the rollback must leave the whole kernel as it was.

#[allow(dead_code)]
mod config_files;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Once;

use config_files::ifcfg;
use tempfile::TempDir;
use teqlctl::config::{self, BundleName, Config, IfName, Master, RpFilter};
use teqlctl::kernel::netlink::{
    Address, Link, OuterPath, Qdisc, Tunnel, ARPHRD_VOID, IFF_BROADCAST, IFF_LOWER_UP, IFF_MULTICAST, IFF_NOARP,
    IFF_POINTOPOINT, IFF_RUNNING, IFF_UP,
};
use teqlctl::kernel::state::State;
use teqlctl::kernel::{Kernel, MemKernel, Reads};
use teqlctl::plan::connection::{self as conn, ConnLine, ConnSettings};
use teqlctl::plan::multipath::{self as mp, Request};
use teqlctl::plan::teql::{HealthStep, Planner};
use teqlctl::plan::{Action, Plan};
use teqlctl::run::apply;

const UP: u32 = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

fn ifname(s: &str) -> IfName {
    IfName::new(s).expect("an interface name")
}

fn bundle(s: &str) -> BundleName {
    BundleName::new(s).expect("a bundle name")
}

/// The log and the state directory (DHCP leases) go to a directory of the test's: nothing of
/// the host's is read or written. Every test calls it before anything logs.
fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = std::env::temp_dir().join(format!("teqlctl-kernel-seam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("TEQLCTL_JOURNAL_SOCKET", dir.join("no-journal"));
        std::env::set_var("TEQLCTL_SYSLOG_SOCKET", dir.join("no-syslog"));
        std::env::set_var("TEQLCTL_STATE_DIR", &dir);
    });
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn link(index: u32, name: &str, flags: u32, mtu: u32) -> Link {
    Link { index, name: name.into(), flags, mtu, link_type: 1, ..Link::default() }
}

/// A box with eth1..eth3 up, each with an address in its own subnet, and `masters` (down).
/// A teql master's MTU is its smallest line's, as the kernel left it when its lines last
/// joined: the kernel sets it then and at each open, and a rollback neither can nor need put
/// back an older one (the next open sets it again).
fn office(masters: &[(u32, &str, u32)]) -> State {
    let mut s = State { teql_loaded: true, hash_policy: Some(0), ip_forward: Some(true), ..State::default() };
    for &(i, name, mtu) in masters {
        s.links.push(Link { link_type: ARPHRD_VOID, ..link(i, name, IFF_NOARP | IFF_BROADCAST | IFF_MULTICAST, mtu) });
    }
    for (i, name, addr) in [(11, "eth1", "198.51.100.10"), (12, "eth2", "192.0.2.10"), (13, "eth3", "203.0.113.10")] {
        s.links.push(link(i, name, UP | IFF_BROADCAST | IFF_MULTICAST, 1500));
        s.qdiscs.insert(i, Qdisc { ifindex: i, kind: "fq_codel".into(), handle: 0 });
        s.addresses.push(Address { ifindex: i, addr: ip(addr), prefix_len: 24, peer: None });
        // Strict: a line joining a TEQL bundle gets loose.
        s.rp_filter.insert(name.into(), 1);
    }
    s.rp_filter.insert("all".into(), 0);
    s
}

/// Applies `plan` to `k`. First, on copies of `k`, each change the plan makes fails in turn:
/// the run must fail and leave the whole kernel as it was (only a conntrack flush, the last
/// action and one that cannot be undone, may fail and let the run succeed).
fn apply_failing_everywhere(k: &mut MemKernel, plan: &Plan) {
    let before = k.snapshot();
    let start = k.changes();
    let mut clean = k.clone();
    if let Err(f) = apply::apply_at(plan, &mut clean) {
        panic!("action {} failed: {}\n{plan}", f.at, f.error);
    }
    let n = clean.changes() - start;
    assert!(n >= plan.actions.len(), "{n} changes for {} actions", plan.actions.len());
    for i in 0..n {
        let what = &clean.log[start + i];
        let mut t = k.clone();
        t.fail_nth(i, libc::EBUSY);
        match apply::apply_at(plan, &mut t) {
            Err(f) => assert!(
                t.snapshot() == before,
                "change {i} ({what}) failed at action {} (`{}`), and the rollback left\n{:#?}\ninstead of\n{:#?}",
                f.at,
                plan.actions[f.at],
                t.snapshot(),
                before
            ),
            Ok(_) => assert!(what.starts_with("conntrack"), "change {i} ({what}) failed, and the run went on"),
        }
    }
    *k = clean;
}

/// One event: planned by `plan_now` from what `k` reads, applied (failing everywhere first),
/// and planned again, which must change nothing. Returns the plan.
fn event(k: &mut MemKernel, plan_now: impl Fn(&mut MemKernel) -> Plan) -> Plan {
    let plan = plan_now(k);
    assert!(!plan.actions.is_empty(), "nothing planned:\n{plan}");
    apply_failing_everywhere(k, &plan);
    let again = plan_now(k);
    assert!(again.actions.is_empty(), "not idempotent: after\n{plan}\nit plans\n{again}");
    plan
}

/// What a TEQL run reads (`ops::plan_and_apply`).
fn teql_state(k: &mut MemKernel) -> State {
    let mut s = k.read(Reads::WithRpFilter).unwrap();
    k.read_bundle_routing(&mut s);
    s
}

fn teql_plan(k: &mut MemKernel, build: impl FnOnce(&mut Planner) -> teqlctl::error::Result<()>) -> Plan {
    let s = teql_state(k);
    let mut p = Planner::new(&s);
    build(&mut p).unwrap();
    p.finish()
}

fn master(cfg: &Config, name: &str) -> Master {
    cfg.masters.get(name).cloned().unwrap_or_else(|| panic!("{name} not configured: {:?}", cfg.problems))
}

/// teql0 over eth2 and eth3, with its address, default route, a routed network and its NAT.
fn teql_config() -> (TempDir, Config) {
    let t = TempDir::new().unwrap();
    for n in [2, 3] {
        ifcfg(t.path(), &format!("eth{n}"), &format!("DEVICE=eth{n}\nONBOOT=yes\nTEQL_MASTER=teql0\n"));
    }
    ifcfg(
        t.path(),
        "teql0",
        "DEVICE=teql0\nONBOOT=yes\nIPADDR=198.18.0.2\nPREFIX=30\nGATEWAY=198.18.0.1\nDEFROUTE=yes\nMETRIC=10\n\
         TEQL_ROUTE=198.18.100.0/24\nTEQL_NAT=198.18.100.0/24\n",
    );
    let cfg = config::load(t.path());
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    (t, cfg)
}

fn teql_up(k: &mut MemKernel, m: &Master, lines: &[&str]) -> Plan {
    event(k, |k| {
        teql_plan(k, |p| {
            for l in lines {
                p.attach(&ifname(l), &m.device, RpFilter::Loose, false)?;
            }
            p.master_up(m)
        })
    })
}

#[test]
fn teql_lines_join_fail_come_back_leave_and_the_bundle_goes_down() {
    quiet();
    let (_t, cfg) = teql_config();
    let m = master(&cfg, "teql0");
    let mut k = MemKernel::new(office(&[(1, "teql0", 1500)]));

    let plan = teql_up(&mut k, &m, &["eth2", "eth3"]);
    assert!(plan.actions.iter().any(|a| matches!(a, Action::Nft { .. })), "{plan}");
    let s = k.state();
    assert_eq!(s.slaves_of("teql0").map(|l| l.name.as_str()).collect::<Vec<_>>(), ["eth2", "eth3"]);
    assert!(s.link("teql0").is_some_and(State::is_up));
    assert!(s.addresses_of(1).any(|a| a.addr == ip("198.18.0.2") && a.prefix_len == 30));
    assert!(s.default_routes_via(1).any(|r| r.gateway == Some(ip("198.18.0.1")) && r.metric == 10));
    assert!(s.bundle_routes.iter().any(|r| r.dst == ip("198.18.100.0") && r.oif == Some(1)));
    assert_eq!(s.rp_filter.get("eth2"), Some(&2));
    assert!(k.nft_table("teql0").is_some_and(|t| t.contains("198.18.100.0/24")));
    // Its record is an action of the plan (shown by the dry run, rolled back with the table
    // by apply_failing_everywhere), and holds what the table was written with.
    let nat_record = teqlctl::plan::bundle_nat::record_path("teql0");
    assert!(plan.to_string().contains(&format!("# record {}: ", nat_record.display())), "{plan}");
    let record = k.records.get(&nat_record).cloned().unwrap_or_default();
    // The table, as nft lists it, is what follows the record's teardown.
    let listed = record.rsplit_once("delete table inet teqlctl_teql0\n").map_or("", |(_, t)| t);
    assert_eq!(Some(listed), k.nft_table("teql0"), "{record}");

    // `check` finds eth3 dead, then alive.
    event(&mut k, |k| {
        teql_plan(k, |p| {
            let step = p.take_out_dead(&ifname("eth3"), &bundle("teql0"));
            assert!(matches!(step, HealthStep::Planned | HealthStep::Gone(_)), "{step:?}");
            Ok(())
        })
    });
    assert_eq!(k.state().slaves_of("teql0").count(), 1);
    // The last line is never taken out.
    assert!(teql_plan(&mut k, |p| {
        assert_eq!(p.take_out_dead(&ifname("eth2"), &bundle("teql0")), HealthStep::Kept);
        Ok(())
    })
    .actions
    .is_empty());
    event(&mut k, |k| {
        teql_plan(k, |p| {
            let step = p.put_back(&ifname("eth3"), &bundle("teql0"), RpFilter::Loose)?;
            assert!(matches!(step, HealthStep::Planned | HealthStep::Gone(_)), "{step:?}");
            Ok(())
        })
    });
    assert_eq!(k.state().slaves_of("teql0").count(), 2);

    // ifdown of eth3, then of eth2: the master, empty, goes down.
    for (line, left) in [("eth3", 1), ("eth2", 0)] {
        event(&mut k, |k| {
            teql_plan(k, |p| {
                if p.detach(&ifname(line), true)?.is_some() {
                    p.down_if_empty(&bundle("teql0"));
                }
                Ok(())
            })
        });
        assert_eq!(k.state().slaves_of("teql0").count(), left);
    }
    assert!(!k.state().link("teql0").is_some_and(State::is_up));
    assert!(k.state().default_routes.is_empty());
}

#[test]
fn a_teql_bundle_goes_down_whole() {
    quiet();
    let (_t, cfg) = teql_config();
    // TEQL_ROUTE's route goes with the link: a rollback after `ip link set down` puts it back
    // with the default route.
    let m = master(&cfg, "teql0");
    let mut k = MemKernel::new(office(&[(1, "teql0", 1500)]));
    teql_up(&mut k, &m, &["eth2", "eth3"]);
    event(&mut k, |k| teql_plan(k, |p| p.master_down(&m)));
    let s = k.state();
    assert_eq!(s.slaves_of("teql0").count(), 0);
    assert!(!s.link("teql0").is_some_and(State::is_up));
    assert!(s.addresses_of(1).next().is_none() && s.default_routes.is_empty() && s.bundle_routes.is_empty());
    assert_eq!(k.nft_table("teql0"), None);
    assert!(k.records.is_empty(), "the NAT record goes with the table: {:?}", k.records);
}

/// A gre tunnel as a line of teql1, next to eth3: its outer packets leave by eth2, which owns
/// its local address; without an address of its own its rp_filter must be off.
#[test]
fn a_tunnel_line_joins_and_leaves() {
    quiet();
    let t = TempDir::new().unwrap();
    ifcfg(
        t.path(),
        "gre1",
        "DEVICE=gre1\nTYPE=GRE\nMY_OUTER_IPADDR=192.0.2.10\nPEER_OUTER_IPADDR=198.51.100.77\nTEQL_MASTER=teql1\n",
    );
    ifcfg(t.path(), "eth3", "DEVICE=eth3\nTEQL_MASTER=teql1\n");
    ifcfg(t.path(), "teql1", "DEVICE=teql1\nIPADDR=198.18.1.2\nPREFIX=30\n");
    let cfg = config::load(t.path());
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    let m = master(&cfg, "teql1");

    let mut s = office(&[(2, "teql1", 1476)]);
    let tunnel = Tunnel { local: Some(ip("192.0.2.10")), remote: Some(ip("198.51.100.77")), link: 0, overhead: 24 };
    s.links.push(Link {
        kind: Some("gre".into()),
        tunnel: Some(tunnel),
        ..link(21, "gre1", UP | IFF_POINTOPOINT | IFF_NOARP, 1476)
    });
    s.links.last_mut().unwrap().link_type = 778;
    s.qdiscs.insert(21, Qdisc { ifindex: 21, kind: "noqueue".into(), handle: 0 });
    s.rp_filter.insert("gre1".into(), 1);
    s.tunnel_paths.insert(21, Ok(OuterPath { oif: 12, gateway: Some(ip("192.0.2.1")) }));
    let mut k = MemKernel::new(s);

    let plan = event(&mut k, |k| {
        teql_plan(k, |p| {
            for l in ["gre1", "eth3"] {
                p.attach(&ifname(l), &bundle("teql1"), cfg.members[l].rp_filter, false)?;
            }
            p.master_up(&m)
        })
    });
    assert!(
        plan.actions.iter().any(|a| matches!(a, Action::SetRpFilter { iface, value: 0, .. } if iface == "gre1")),
        "{plan}"
    );
    assert_eq!(k.state().slaves_of("teql1").map(|l| l.name.as_str()).collect::<Vec<_>>(), ["eth3", "gre1"]);
    assert!(k.state().link("teql1").is_some_and(|l| State::is_up(l) && l.mtu == 1476));

    event(&mut k, |k| teql_plan(k, |p| p.detach(&ifname("gre1"), false).map(drop)));
    assert_eq!(k.state().slaves_of("teql1").count(), 1);
}

/// wan over eth1..eth3 (weights 2:1:1), multipath or connection.
fn wan_config(mode: &str) -> (TempDir, Config) {
    let t = TempDir::new().unwrap();
    for (n, gw, w) in [(1, "198.51.100.1", 2), (2, "192.0.2.1", 1), (3, "203.0.113.1", 1)] {
        ifcfg(
            t.path(),
            &format!("eth{n}"),
            &format!("DEVICE=eth{n}\nONBOOT=yes\nGATEWAY={gw}\nTEQL_MASTER=wan\nTEQL_WEIGHT={w}\n"),
        );
    }
    ifcfg(
        t.path(),
        "wan",
        &format!(
            "DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE={mode}\n{}",
            match mode {
                "connection" => "TEQL_NAT=198.18.200.0/24\n",
                _ => "",
            }
        ),
    );
    let cfg = config::load(t.path());
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    (t, cfg)
}

/// What a multipath run plans (`ops::multipath_with_lines`), with a connection bundle's nft
/// transaction and conntrack flushes as `ops::connection_step` makes them.
fn wan_plan(k: &mut MemKernel, cfg: &Config, bundle_up: bool, dead: &[&str]) -> Plan {
    let master = &cfg.masters["wan"];
    let options = master.mode.paths().expect("wan is a multipath or connection bundle");
    let lines = teqlctl::run::ops::multipath_lines(cfg, "wan");
    let b = mp::Bundle {
        name: bundle("wan"),
        hash: options.hash,
        defroute: options.defroute,
        metric: master.metric,
        fwmark: master.mode.connection().is_some(),
        local_source: None,
        source: master.source.clone(),
    };
    let mut s = k.read(Reads::NetlinkOnly).unwrap();
    let tables: Vec<u32> = lines.iter().map(|l| l.table).collect();
    k.read_multipath(&mut s, &tables).unwrap();
    let req = Request {
        bundle_up,
        resilient: true,
        dead: dead.iter().map(|d| d.to_string()).collect::<BTreeSet<_>>(),
        ..Request::default()
    };
    let p = mp::plan(&b, &lines, &req, &s);
    let mut actions = p.actions;
    if let Some(c) = master.mode.connection() {
        let current = k.nft_table("wan").map(str::to_string);
        let undo = format!("{}{}", conn::teardown(), current.as_deref().unwrap_or(""));
        let clines: Vec<ConnLine> = lines
            .iter()
            .map(|l| ConnLine {
                device: l.device.clone(),
                mark: conn::mark_of(l.table),
                weight: l.weight,
                addr: p.now.iter().find(|n| n.device == l.device).map(|n| n.addr),
                live: p.members.iter().any(|m| l.device == *m),
            })
            .collect();
        let settings = ConnSettings { nat: c.nat.clone(), ..ConnSettings::new(bundle("wan")) };
        let wanted = conn::ruleset(&clines, &settings);
        // The table as nft lists it once `wanted` is written: what follows its teardown,
        // without comments.
        let listed: String = wanted
            .rsplit_once("delete table inet teqlctl\n")
            .map_or(wanted.as_str(), |(_, t)| t)
            .split_inclusive('\n')
            .filter(|l| !l.starts_with('#'))
            .collect();
        let step = match (&current, bundle_up && !p.members.is_empty()) {
            (None, false) => None,
            (Some(_), false) => Some(conn::teardown()),
            (Some(cur), true) if *cur == listed => None,
            (Some(cur), true) if conn::structure(cur) == conn::structure(&wanted) => {
                Some(conn::maps_update(&clines, &settings))
            }
            (_, true) => Some(wanted),
        };
        if let Some(script) = step {
            let action = Action::Nft { bundle: bundle("wan"), script, undo, what: "wan: nftables".into() };
            if bundle_up {
                actions.push(action);
            } else {
                actions.insert(0, action);
            }
            if let Some(cur) = &current {
                let weights = cur.lines().find(|x| x.trim_start().starts_with("map weights ")).unwrap_or("");
                for c in clines.iter().filter(|c| !c.live && weights.contains(&format!("{:#010x}", c.mark))) {
                    actions.push(Action::FlushConntrack {
                        bundle: bundle("wan"),
                        line: c.device.clone(),
                        mark: c.mark,
                    });
                }
            }
        }
    }
    Plan { actions, ..Plan::default() }
}

fn group_members(k: &MemKernel) -> Vec<u32> {
    let g = mp::group_id("wan");
    k.state().nexthops.iter().find(|n| n.id == g).map(|n| n.group.iter().map(|m| m.0).collect()).unwrap_or_default()
}

/// `fields`: net.ipv4.fib_multipath_hash_fields (None: a kernel before 5.12).
fn run_wan(mode: &str, fields: Option<u32>) -> MemKernel {
    quiet();
    let (_t, cfg) = wan_config(mode);
    let mut k = MemKernel::new(State { hash_fields: fields, ..office(&[]) });
    let tables: Vec<u32> = teqlctl::run::ops::multipath_lines(&cfg, "wan").iter().map(|l| l.table).collect();

    event(&mut k, |k| wan_plan(k, &cfg, true, &[]));
    assert_eq!(group_members(&k), tables);
    let policy = if fields.is_some() { (Some(3), Some(0x37)) } else { (Some(1), None) };
    assert_eq!((k.state().hash_policy, k.state().hash_fields), policy);
    assert!(k.state().default_routes.iter().any(|r| r.gateway.is_none() && r.oif.is_none()), "{:?}", k.state().routes);
    assert_eq!(k.state().rules.iter().filter(|r| r.src.is_some()).count(), 3);

    // `check` finds eth2 dead (out of the group; its table and rule stay), then alive.
    event(&mut k, |k| wan_plan(k, &cfg, true, &["eth2"]));
    assert_eq!(group_members(&k), [tables[0], tables[2]]);
    assert_eq!(k.state().rules.iter().filter(|r| r.src.is_some()).count(), 3);
    event(&mut k, |k| wan_plan(k, &cfg, true, &[]));
    assert_eq!(group_members(&k), tables);

    event(&mut k, |k| wan_plan(k, &cfg, false, &[]));
    assert!(k.state().nexthops.is_empty() && k.state().rules.is_empty(), "{:?}", k.state());
    assert!(k.state().routes.iter().all(|r| !tables.contains(&r.table)));
    k
}

#[test]
fn a_multipath_bundle_comes_up_loses_a_line_gets_it_back_and_goes_down() {
    for fields in [None, Some(0)] {
        let k = run_wan("multipath", fields);
        assert_eq!(k.nft_table("wan"), None);
    }
}

#[test]
fn a_connection_bundle_writes_its_table_with_the_routing_and_removes_it_when_down() {
    quiet();
    let (_t, cfg) = wan_config("connection");
    let mut k = MemKernel::new(office(&[]));
    let up = event(&mut k, |k| wan_plan(k, &cfg, true, &[]));
    assert!(matches!(up.actions.last(), Some(Action::Nft { .. })), "{up}");
    assert!(k.nft_table("wan").is_some_and(|t| t.contains("198.18.200.0/24")));
    // Its lines' marks lead to their tables.
    assert_eq!(k.state().rules.iter().filter(|r| r.fwmark.is_some()).count(), 3);

    // eth2 found dead: the maps change, and its connections are flushed (last).
    let mark = conn::mark_of(cfg.members["eth2"].table());
    k.conntrack.insert(mark, 7);
    let dead = event(&mut k, |k| wan_plan(k, &cfg, true, &["eth2"]));
    assert!(matches!(dead.actions.last(), Some(Action::FlushConntrack { mark: m, .. }) if *m == mark), "{dead}");
    assert!(!k.conntrack.contains_key(&mark));

    let k = run_wan_down(k, &cfg);
    assert_eq!(k.nft_table("wan"), None);
}

fn run_wan_down(mut k: MemKernel, cfg: &Config) -> MemKernel {
    let down = event(&mut k, |k| wan_plan(k, cfg, false, &[]));
    assert!(matches!(down.actions.first(), Some(Action::Nft { .. })), "{down}");
    assert!(k.state().nexthops.is_empty() && k.state().rules.is_empty());
    k
}
