//! Every mode x every event through the one entry (issue 27, points 1 and 3): configurations
//! read from files, events handed to `event::run` as the hooks, NetworkManager's dispatcher,
//! dhclient and the CLI hand them, on an in-memory kernel (`Ctx::kernel`). What each event
//! leaves in the kernel is checked, a second run of it must change nothing, and the event is
//! run once more per change it makes with that change failing: a run that fails must leave the
//! whole kernel as it found it (sch_teql included), and a multipath run that goes on without a
//! refused line must still leave the box a default route.

#[allow(dead_code)]
mod config_files;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use config_files::ifcfg;
use tempfile::TempDir;
use teqlctl::config::{self, BundleName, Config, IfName};
use teqlctl::kernel::netlink::{Address, Link, Qdisc, IFF_BROADCAST, IFF_LOWER_UP, IFF_MULTICAST, IFF_RUNNING, IFF_UP};
use teqlctl::kernel::route::MAIN_TABLE;
use teqlctl::kernel::state::State;
use teqlctl::kernel::{MemKernel, Which};
use teqlctl::run::event::{self, Event};
use teqlctl::run::health::Change;
use teqlctl::run::ops::{Applied, Ctx};

const UP: u32 = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

/// The state directory, the lock and the log are the test's own (environment variables: one
/// test at a time).
static ENV: Mutex<()> = Mutex::new(());

struct Lab {
    _root: TempDir,
    cfg: Config,
    root: PathBuf,
    kernel: MemKernel,
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

fn bundle(s: &str) -> BundleName {
    BundleName::new(s).unwrap()
}

/// A box with eth1..eth3 up, each with an address in its own subnet, sch_teql not loaded.
fn office() -> State {
    let mut s = State { hash_policy: Some(0), ip_forward: Some(true), ..State::default() };
    for (i, n, addr) in [(11, "eth1", "198.51.100.10"), (12, "eth2", "192.0.2.10"), (13, "eth3", "203.0.113.10")] {
        s.links.push(Link {
            index: i,
            name: n.into(),
            flags: UP | IFF_BROADCAST | IFF_MULTICAST,
            mtu: 1500,
            link_type: 1,
            ..Link::default()
        });
        s.qdiscs.insert(i, Qdisc { ifindex: i, kind: "fq_codel".into(), handle: 0 });
        s.addresses.push(Address { ifindex: i, addr: ip(addr), prefix_len: 24, peer: None });
        s.rp_filter.insert(n.into(), 1);
    }
    s.rp_filter.insert("all".into(), 0);
    s
}

fn lab(files: &[(&str, &str)]) -> Lab {
    let t = TempDir::new().unwrap();
    for (n, text) in files {
        ifcfg(t.path(), n, text);
    }
    let cfg = config::load(t.path());
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    let root = t.path().to_path_buf();
    let mut kernel = MemKernel::new(office());
    // Leases and held.json are read from the state directory: the records go there too.
    kernel.records_on_disk = true;
    Lab { _root: t, cfg, root, kernel }
}

/// teql0 (its address and gateway) over eth2 and eth3.
fn teql_lab() -> Lab {
    lab(&[
        ("teql0", "DEVICE=teql0\nONBOOT=yes\nIPADDR=198.18.0.2\nPREFIX=30\nGATEWAY=198.18.0.1\n"),
        ("eth2", "DEVICE=eth2\nONBOOT=yes\nTEQL_MASTER=teql0\n"),
        ("eth3", "DEVICE=eth3\nONBOOT=yes\nTEQL_MASTER=teql0\n"),
    ])
}

/// wan over eth1..eth3 in `mode`; eth3 without a gateway (its router comes from DHCP).
fn wan_lab(mode: &str) -> Lab {
    let nat = if mode == "connection" { "TEQL_NAT=198.18.200.0/24\n" } else { "" };
    lab(&[
        ("wan", &format!("DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE={mode}\n{nat}")),
        ("eth1", "DEVICE=eth1\nONBOOT=yes\nGATEWAY=198.51.100.1\nTEQL_MASTER=wan\nTEQL_WEIGHT=2\n"),
        ("eth2", "DEVICE=eth2\nONBOOT=yes\nGATEWAY=192.0.2.1\nTEQL_MASTER=wan\n"),
        ("eth3", "DEVICE=eth3\nONBOOT=yes\nTEQL_MASTER=wan\n"),
    ])
}

/// The run's environment: a state directory (a copy of `from`, when given), the lock, the log.
fn environment(state: &Path) {
    std::env::set_var("TEQLCTL_STATE_DIR", state);
    std::env::set_var("TEQLCTL_LOCK", state.join("lock"));
    std::env::set_var("TEQLCTL_JOURNAL_SOCKET", state.join("no-journal"));
    std::env::set_var("TEQLCTL_SYSLOG_SOCKET", state.join("no-syslog"));
}

/// The kernel and teqlctl's records, but for the intent a run records before it changes anything
/// (held.json, a line's lease: kept when a change fails, on purpose; see `Plan::intent`).
fn without_intent(mut s: teqlctl::kernel::Snapshot) -> teqlctl::kernel::Snapshot {
    s.records.retain(|p, _| {
        let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
        f != "held.json" && !f.starts_with("dhcp-")
    });
    s
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `events` on `k` as the one entry does for a caller; returns the kernel after, and
/// whether the run succeeded.
fn run_on(root: &Path, cfg: &Config, k: MemKernel, events: &[Event]) -> (MemKernel, Result<(), String>) {
    let which = Which::mem(k);
    let ctx = Ctx { root: root.to_path_buf(), kernel: which.clone(), ..Ctx::default() };
    let r = event::run(&ctx, cfg, events).map(drop).map_err(|e| e.to_string());
    drop(ctx);
    let Which::Mem(rc) = which else { unreachable!() };
    let Ok(k) = std::rc::Rc::try_unwrap(rc) else { panic!("the kernel is still held") };
    let k = k.into_inner();
    (k, r)
}

/// What a run may do when one of its changes fails, besides failing whole.
#[derive(Clone, Copy, PartialEq)]
enum Refused {
    /// Nothing else: the run fails and the kernel is as it was (TEQL).
    FailsWhole,
    /// A multipath bundle goes on without the line whose change the kernel refused, and the
    /// box keeps a default route.
    LineLeftOut,
    /// As LineLeftOut, for a bundle going down (it has no default route left by design).
    LineLeftOutDown,
}

/// One event of `lab`: first, on copies of the kernel (and of the state directory), each change
/// it makes fails in turn; then it runs for real and must succeed, and once more, which must
/// change nothing.
fn event(lab: &mut Lab, state: &Path, events: &[Event], refused: Refused) {
    let before = without_intent(lab.kernel.snapshot());
    let start = lab.kernel.changes();
    // How many changes the run makes, on a copy.
    let probe = TempDir::new().unwrap();
    copy_dir(state, probe.path());
    environment(probe.path());
    let (clean, r) = run_on(&lab.root, &lab.cfg, lab.kernel.clone(), events);
    r.unwrap_or_else(|e| panic!("{events:?} failed: {e}"));
    let n = clean.changes() - start;
    for i in 0..n {
        let what = clean.log[start + i].clone();
        let t = TempDir::new().unwrap();
        copy_dir(state, t.path());
        environment(t.path());
        let mut k = lab.kernel.clone();
        k.fail_nth(i, libc::EBUSY);
        let (after, r) = run_on(&lab.root, &lab.cfg, k, events);
        match r {
            Err(e) => assert!(
                without_intent(after.snapshot()) == before,
                "{events:?}: change {i} ({what}) failed ({e}), and the kernel was left\n{:#?}\ninstead of\n{:#?}",
                without_intent(after.snapshot()),
                before
            ),
            Ok(()) if what.starts_with("conntrack") => {}
            Ok(()) => {
                assert!(refused != Refused::FailsWhole, "{events:?}: change {i} ({what}) failed, and the run went on");
                let s = after.state();
                assert!(
                    refused == Refused::LineLeftOutDown
                        || s.routes.iter().any(|r| r.table == MAIN_TABLE && r.is_default()),
                    "{events:?}: change {i} ({what}) failed, and the box was left without a default route"
                );
            }
        }
    }
    environment(state);
    let (k, r) = run_on(&lab.root, &lab.cfg, lab.kernel.clone(), events);
    r.unwrap_or_else(|e| panic!("{events:?} failed: {e}"));
    let done = k.changes();
    let (k, r) = run_on(&lab.root, &lab.cfg, k, events);
    r.unwrap_or_else(|e| panic!("{events:?} failed the second time: {e}"));
    assert_eq!(k.changes(), done, "{events:?}: a second run changed {:?}", &k.log[done..]);
    lab.kernel = k;
}

fn health(lab: &mut Lab, state: &Path, changes: &[Change]) -> Vec<String> {
    environment(state);
    let which = Which::mem(lab.kernel.clone());
    let ctx = Ctx { root: lab.root.clone(), kernel: which.clone(), ..Ctx::default() };
    let lock = teqlctl::run::lock::acquire().unwrap();
    let rp = |_: &str| config::RpFilter::Loose;
    let out = event::health_changes(&ctx, &lab.cfg, changes, &rp, Some(&lock)).unwrap();
    drop(lock);
    drop(ctx);
    let Which::Mem(rc) = which else { unreachable!() };
    lab.kernel = std::rc::Rc::try_unwrap(rc).ok().unwrap().into_inner();
    out.iter()
        .map(|a| match a {
            Applied::Done => "done".to_string(),
            Applied::Kept => "kept".to_string(),
            Applied::Gone(w) => format!("gone: {w}"),
            Applied::Failed(e) => format!("failed: {e}"),
        })
        .collect()
}

fn qdisc_of(k: &MemKernel, line: &str) -> Option<String> {
    let s = k.state();
    let l = s.links.iter().find(|l| l.name == line)?;
    s.qdiscs.get(&l.index).map(|q| q.kind.clone())
}

fn link_up(k: &MemKernel, n: &str) -> bool {
    k.state().links.iter().any(|l| l.name == n && l.flags & IFF_UP != 0)
}

/// The lines in multipath bundle `wan`'s group (by their interface's index).
fn group(k: &MemKernel) -> Vec<String> {
    let s = k.state();
    let gid = teqlctl::plan::multipath::group_id("wan");
    let Some(g) = s.nexthops.iter().find(|n| n.id == gid) else { return Vec::new() };
    let mut lines: Vec<String> = g
        .group
        .iter()
        .filter_map(|(id, _)| s.nexthops.iter().find(|n| n.id == *id))
        .filter_map(|n| s.links.iter().find(|l| Some(l.index) == n.oif))
        .map(|l| l.name.clone())
        .collect();
    lines.sort();
    lines
}

#[test]
fn teql_every_event_through_the_entry() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let state = TempDir::new().unwrap();
    let mut lab = teql_lab();
    // ifup-pre-local: sch_teql loaded, teql0 made.
    event(&mut lab, state.path(), &[Event::Preparing("eth2".into())], Refused::FailsWhole);
    assert!(lab.kernel.state().links.iter().any(|l| l.name == "teql0"));
    // ifup-local of eth2 (a line up): it joins, teql0 comes up with its address and route.
    event(&mut lab, state.path(), &[Event::LinesUp { lines: vec![name("eth2")], over: None }], Refused::FailsWhole);
    assert_eq!(qdisc_of(&lab.kernel, "eth2").as_deref(), Some("teql0"));
    assert!(link_up(&lab.kernel, "teql0"));
    let s = lab.kernel.state();
    let teql0 = s.links.iter().find(|l| l.name == "teql0").unwrap().index;
    assert!(s.addresses.iter().any(|a| a.ifindex == teql0 && a.addr == ip("198.18.0.2")), "{s:#?}");
    assert!(s.default_routes.iter().any(|r| r.oif == Some(teql0) && r.gateway == Some(ip("198.18.0.1"))), "{s:#?}");
    // The second line, through NetworkManager's or the CLI's event: the same.
    event(&mut lab, state.path(), &[Event::LinesUp { lines: vec![name("eth3")], over: None }], Refused::FailsWhole);
    assert_eq!(qdisc_of(&lab.kernel, "eth3").as_deref(), Some("teql0"));
    // The bundle's own ifup-local and `teqlctl up`: nothing left to do.
    let done = lab.kernel.changes();
    let (k, r) = run_on(&lab.root, &lab.cfg, lab.kernel.clone(), &[Event::BundleRefreshed(bundle("teql0"))]);
    r.unwrap();
    assert_eq!(k.changes(), done, "{:?}", &k.log[done..]);
    // check: eth3 dead, taken out; eth2 is then the last line and stays.
    let out = health(
        &mut lab,
        state.path(),
        &[
            Change::Detach { line: name("eth3"), master: bundle("teql0") },
            Change::Detach { line: name("eth2"), master: bundle("teql0") },
        ],
    );
    assert_eq!(out, ["done", "kept"]);
    assert_ne!(qdisc_of(&lab.kernel, "eth3").as_deref(), Some("teql0"));
    assert_eq!(qdisc_of(&lab.kernel, "eth2").as_deref(), Some("teql0"));
    // ... and put back when it answers again.
    assert_eq!(
        health(&mut lab, state.path(), &[Change::Attach { line: name("eth3"), master: bundle("teql0") }]),
        ["done"]
    );
    assert_eq!(qdisc_of(&lab.kernel, "eth3").as_deref(), Some("teql0"));
    // ifdown of both lines: detached, teql0 down with its last line.
    event(
        &mut lab,
        state.path(),
        &[Event::LinesDown { lines: vec![name("eth2"), name("eth3")], missing_ok: true }],
        Refused::FailsWhole,
    );
    assert!(qdisc_of(&lab.kernel, "eth2").as_deref() != Some("teql0") && !link_up(&lab.kernel, "teql0"));
    // ifup-teql / `teqlctl up teql0`: every line that is up joins, then teql0 comes up.
    event(
        &mut lab,
        state.path(),
        &[Event::BundleUp { bundle: Some(bundle("teql0")), need_a_line: true }],
        Refused::FailsWhole,
    );
    assert!(link_up(&lab.kernel, "teql0"));
    assert_eq!(qdisc_of(&lab.kernel, "eth3").as_deref(), Some("teql0"));
    // ifdown-teql / `teqlctl down`: the bundle goes down whole.
    event(&mut lab, state.path(), &[Event::BundleDown { bundle: None }], Refused::FailsWhole);
    assert!(!link_up(&lab.kernel, "teql0"));
    assert!(qdisc_of(&lab.kernel, "eth2").as_deref() != Some("teql0"));
}

#[test]
fn a_failed_first_run_unloads_the_module_it_loaded() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let state = TempDir::new().unwrap();
    let mut lab = teql_lab();
    // From a kernel without sch_teql, each change of the first line's run fails in turn: the
    // module (and so teql0) is gone again after each failure (checked by `event`).
    event(&mut lab, state.path(), &[Event::LinesUp { lines: vec![name("eth2")], over: None }], Refused::FailsWhole);
    assert!(lab.kernel.log.iter().any(|c| c.starts_with("modprobe sch_teql")), "{:?}", lab.kernel.log);
}

fn multipath_every_event(mode: &str) {
    let state = TempDir::new().unwrap();
    let mut lab = wan_lab(mode);
    // `teqlctl up wan` / ifup-teql of the bundle: eth1 and eth2 (with gateways) join; eth3 has no
    // router yet.
    event(
        &mut lab,
        state.path(),
        &[Event::BundleUp { bundle: Some(bundle("wan")), need_a_line: true }],
        Refused::LineLeftOut,
    );
    assert_eq!(group(&lab.kernel), ["eth1", "eth2"]);
    let s = lab.kernel.state();
    assert!(s.routes.iter().any(|r| r.table == MAIN_TABLE && r.is_default()), "no default route");
    assert!(s.rules.iter().any(|r| r.src == Some((ip("192.0.2.10"), 32))), "no rule for eth2: {:#?}", s.rules);
    if mode == "connection" {
        assert!(lab.kernel.nft_table("wan").is_some_and(|t| t.contains("198.18.200.0/24")), "no nft table");
    }
    // dhclient's lease of eth3 (or NetworkManager's): it joins with the lease's router.
    let lease = teqlctl::run::dhcp::Event {
        reason: teqlctl::run::dhcp::Reason::Bound,
        reason_name: "BOUND".into(),
        interface: name("eth3"),
        lease: teqlctl::run::dhcp::lease_of(Some("203.0.113.10"), Some("203.0.113.1")),
    };
    event(&mut lab, state.path(), &[Event::Lease { lease: lease.clone(), joining: false }], Refused::LineLeftOut);
    assert_eq!(group(&lab.kernel), ["eth1", "eth2", "eth3"]);
    // ifdown of eth2: out of the group, its rule gone.
    event(
        &mut lab,
        state.path(),
        &[Event::LinesDown { lines: vec![name("eth2")], missing_ok: true }],
        Refused::LineLeftOut,
    );
    assert_eq!(group(&lab.kernel), ["eth1", "eth3"]);
    assert!(!lab.kernel.state().rules.iter().any(|r| r.src == Some((ip("192.0.2.10"), 32))));
    // ifup of eth2 again.
    event(&mut lab, state.path(), &[Event::LinesUp { lines: vec![name("eth2")], over: None }], Refused::LineLeftOut);
    assert_eq!(group(&lab.kernel), ["eth1", "eth2", "eth3"]);
    // check: eth1 dead, out; then back.
    assert_eq!(
        health(&mut lab, state.path(), &[Change::Detach { line: name("eth1"), master: bundle("wan") }]),
        ["done"]
    );
    assert_eq!(group(&lab.kernel), ["eth2", "eth3"]);
    assert_eq!(
        health(&mut lab, state.path(), &[Change::Attach { line: name("eth1"), master: bundle("wan") }]),
        ["done"]
    );
    assert_eq!(group(&lab.kernel), ["eth1", "eth2", "eth3"]);
    // The lease lost: eth3 out, never the last line.
    let lost = teqlctl::run::dhcp::Event {
        reason: teqlctl::run::dhcp::Reason::Lost,
        lease: None,
        reason_name: "EXPIRE".into(),
        ..lease
    };
    event(&mut lab, state.path(), &[Event::Lease { lease: lost, joining: false }], Refused::LineLeftOut);
    assert_eq!(group(&lab.kernel), ["eth1", "eth2"]);
    // `teqlctl down wan`: every object of the bundle's gone.
    event(&mut lab, state.path(), &[Event::BundleDown { bundle: Some(bundle("wan")) }], Refused::LineLeftOutDown);
    let s = lab.kernel.state();
    assert!(group(&lab.kernel).is_empty() && s.nexthops.is_empty(), "{:#?}", s.nexthops);
    assert!(!s.rules.iter().any(|r| r.src.is_some()), "{:#?}", s.rules);
    assert!(lab.kernel.nft_table("wan").is_none());
}

#[test]
fn multipath_every_event_through_the_entry() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    multipath_every_event("multipath");
}

#[test]
fn connection_every_event_through_the_entry() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    multipath_every_event("connection");
}

#[test]
fn a_typo_costs_nothing_and_names_the_interface() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let state = TempDir::new().unwrap();
    environment(state.path());
    let lab = teql_lab();
    let before = lab.kernel.snapshot();
    let (k, r) =
        run_on(&lab.root, &lab.cfg, lab.kernel.clone(), &[Event::LinesUp { lines: vec![name("eth9")], over: None }]);
    assert!(r.as_ref().is_err_and(|e| e.contains("eth9")), "{r:?}");
    assert!(k.snapshot() == before && k.changes() == 0, "{:?}", k.log);
}
