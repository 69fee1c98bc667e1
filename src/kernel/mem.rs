//! A kernel kept in memory, for tests: a `State` that each change really changes, as the
//! kernel would, refusing what the kernel refuses where the planners depend on it, and failing
//! on request. Not used by teqlctl itself; public so that the tests in tests/ can use it.
//!
//! What it models (measured against or read from the kernel's code, Linux 6.x):
//! - root qdiscs: `tc qdisc add` over a qdisc with a handle of its own is EEXIST (the default
//!   one, handle 0, is simply replaced); `del` puts the default back, ENOENT when it is the
//!   default already. A teqlN qdisc exists only with its master (else ENOENT); a line with a
//!   smaller MTU than its running master is EINVAL; a master that is down takes its smallest
//!   line's MTU as lines join and when it opens, and does not open without a line (EUNATCH).
//! - links: down drops every route through the link (any table) and its nexthop objects (a
//!   group that loses its last member goes, with its routes); up brings nothing back.
//! - addresses: EEXIST / EADDRNOTAVAIL; deleting one deletes the routes whose `src` it was.
//! - routes: `replace` keyed on table, destination and metric; a route through a link that is
//!   down is ENETDOWN, through a nexthop object that does not exist EINVAL; `del` matches what
//!   it is given (ESRCH if nothing does).
//! - rules: adding one that is there is EEXIST, deleting one that is not ENOENT.
//! - nexthops: a group of missing or group members, or a change of a group's type or bucket
//!   count, is EINVAL; deleting one that is not there is ENOENT, and takes its routes and its
//!   place in groups with it.
//! - sysctls: rp_filter of a missing interface, a hash policy on a kernel without multipath
//!   routing (`hash_policy` None) or hash fields on one without them (`hash_fields` None).
//! - nftables: each bundle's ruleset as nft would list it (the text written whole; a maps-only
//!   update appended; a teardown removes it).
//! - conntrack: entries per mark, gone when flushed.
//! - records (teqlctl's own files that follow a change): path -> text, a removal of a missing
//!   one is no error; a TEQL bundle's NAT record is what its planner reads as written.
//!
//! Not modelled: connected (proto kernel) routes of addresses, IFLA_QDISC in `Link.qdisc`, the
//! flags a teql master takes from its lines, the order of rules of one priority (kept sorted).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::{Kernel, Reads};
use crate::error::{Error, Result};
use crate::kernel::netlink::{self, NlError, Qdisc, Route, IFF_UP};
use crate::kernel::route::{Nexthop, Rule, TableRoute, MAIN_TABLE};
use crate::kernel::state::State;

/// What a test compares: the whole kernel, in an order that does not depend on the order the
/// changes came in (the kernel's dumps are ordered by key too, but for addresses and rules of
/// one priority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state: State,
    pub nft: BTreeMap<String, String>,
    pub conntrack: BTreeMap<u32, u64>,
    pub records: BTreeMap<PathBuf, String>,
}

/// A failure to inject: the change whose description contains `what` fails with `errno`.
#[derive(Debug, Clone)]
struct FailWhen {
    what: String,
    errno: i32,
}

#[derive(Debug, Clone, Default)]
pub struct MemKernel {
    /// The kernel now. Every table's routes are in `routes`; `default_routes` and
    /// `bundle_routes` are the main table's, kept in step with it.
    state: State,
    /// nftables: each bundle's ruleset as nft would list it.
    nft: BTreeMap<String, String>,
    /// Conntrack entries per mark.
    pub conntrack: BTreeMap<u32, u64>,
    /// teqlctl's records: path -> text.
    pub records: BTreeMap<PathBuf, String>,
    /// The root qdisc each link had when the kernel was made (or noqueue): what `tc qdisc del`
    /// leaves.
    defaults: BTreeMap<u32, Qdisc>,
    next_handle: u32,
    /// Every change asked, in order, as "what args" (refused ones too).
    pub log: Vec<String>,
    fail_nth: Option<(usize, i32)>,
    fail_when: Vec<FailWhen>,
    /// The kernel has no resilient nexthop groups (before Linux 5.13).
    pub no_resilient_groups: bool,
    /// sch_teql loads with this many masters when asked for fewer (an admin's modprobe.d).
    pub module_default: u32,
    /// Records are also written to (and removed from) the files they name, as NetKernel does:
    /// for tests of whole runs, whose other readers (leases, held.json) read the files.
    pub records_on_disk: bool,
    /// Each bundle's table handle: a new one each time the table is written whole, as the
    /// kernel numbers tables (nft fingerprints tell a rewritten table by it).
    nft_handles: BTreeMap<String, u64>,
}

fn nl(errno: i32) -> NlError {
    NlError { errno }
}

/// A dumped default route as `TableRoute`: from its message when it has one (a real dump), else
/// from its fields (a test's).
fn table_route_of(r: &Route) -> TableRoute {
    netlink::table_route_of(r).unwrap_or(TableRoute {
        table: MAIN_TABLE,
        gateway: r.gateway,
        oif: r.oif,
        onlink: r.onlink,
        metric: r.metric,
        ..TableRoute::default()
    })
}

/// Rules of one priority in a fixed order (the kernel's is the order they came in).
type RuleKey = (u32, Option<(Ipv4Addr, u8)>, Option<(u32, u32)>, u32);

fn rule_key(r: &Rule) -> RuleKey {
    (r.priority, r.src, r.fwmark, r.table)
}

fn route_key(r: &TableRoute) -> (u32, Ipv4Addr, u8, u32) {
    (r.table, r.dst, r.dst_len, r.metric)
}

/// `table` after `script`'s map updates (`flush map F T NAME`, `add element F T NAME { .. }`),
/// written as nft lists a map: `elements = { .. };` before its closing brace, none when empty.
/// Any other line is kept at the end, as the kernel would have it somewhere.
fn update_maps(table: &str, script: &str) -> String {
    let mut lines: Vec<String> = table.lines().map(str::to_string).collect();
    let map_line = |lines: &mut Vec<String>, name: &str| {
        lines.iter().position(|l| l.trim_start().starts_with(&format!("map {name} {{")))
    };
    let mut extra = String::new();
    for l in script.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.as_slice() {
            ["flush", "map", _, _, name] => {
                if let Some(i) = map_line(&mut lines, name) {
                    let line = &lines[i];
                    let kept = match line.split_once(" elements = ") {
                        Some((head, _)) => format!("{head} }}"),
                        None => line.clone(),
                    };
                    lines[i] = kept;
                }
            }
            ["add", "element", _, _, name, ..] => {
                let elements = l.split_once(" {").map(|(_, e)| e.trim_end().trim_end_matches('}').trim()).unwrap_or("");
                if let Some(i) = map_line(&mut lines, name) {
                    let head = lines[i].trim_end().trim_end_matches('}').trim_end().to_string();
                    lines[i] = format!("{head} elements = {{ {elements} }}; }}");
                }
            }
            _ => {
                extra.push_str(l);
                extra.push('\n');
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(&extra);
    out
}

impl MemKernel {
    /// A kernel that has `state`. Default routes and main-table routes given in
    /// `default_routes` and `bundle_routes` only are added to `routes`, where the kernel keeps
    /// them.
    pub fn new(state: State) -> MemKernel {
        let mut k = MemKernel { state, next_handle: 0x8001, ..MemKernel::default() };
        let mut extra: Vec<TableRoute> = k.state.default_routes.iter().map(table_route_of).collect();
        extra.extend(k.state.bundle_routes.iter().cloned());
        for r in extra {
            if !k.state.routes.iter().any(|x| x.same_key(&r)) {
                k.state.routes.push(r);
            }
        }
        k.defaults = k.state.qdiscs.iter().filter(|(_, q)| q.handle >> 16 == 0).map(|(i, q)| (*i, q.clone())).collect();
        k.sync();
        k
    }

    /// sch_teql's masters now (its teqlN devices).
    fn masters_present(&self) -> u32 {
        self.state
            .links
            .iter()
            .filter(|l| l.link_type == netlink::ARPHRD_VOID && crate::names::is_teql_name(&l.name))
            .count() as u32
    }

    /// Loading sch_teql makes teql0..teql{n-1}, down and without lines, as the module does.
    fn load_module(&mut self, n: u32) {
        self.state.teql_loaded = true;
        let mut next = self.state.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        for i in 0..n {
            let name = format!("teql{i}");
            if self.state.links.iter().any(|l| l.name == name) {
                continue;
            }
            self.state.links.push(netlink::Link {
                index: next,
                name,
                flags: netlink::IFF_NOARP | netlink::IFF_BROADCAST | netlink::IFF_MULTICAST,
                mtu: 1500,
                link_type: netlink::ARPHRD_VOID,
                ..netlink::Link::default()
            });
            next += 1;
        }
    }

    /// The kernel as it is now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// `bundle`'s nftables ruleset, as nft would list it.
    pub fn nft_table(&self, bundle: &str) -> Option<&str> {
        self.nft.get(bundle).map(String::as_str)
    }

    /// Sets `bundle`'s ruleset, as if written before the run (a connection bundle's table).
    pub fn set_nft_table(&mut self, bundle: &str, ruleset: &str) {
        self.nft.insert(bundle.to_string(), ruleset.to_string());
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut state = self.state.clone();
        // The kernel numbers the qdiscs it names (major 8000 and up) anew each time: a rollback
        // puts back the qdisc, not its number.
        for q in state.qdiscs.values_mut().filter(|q| q.handle >> 31 != 0) {
            q.handle = 0x8000_0000;
        }
        state.addresses.sort_by_key(|a| (a.ifindex, a.addr, a.prefix_len));
        state.rules.sort_by_key(rule_key);
        state.routes.sort_by_key(route_key);
        state.nexthops.sort_by_key(|n| n.id);
        state.default_routes.sort_by_key(|r| (r.metric, r.oif, r.gateway));
        state.bundle_routes.sort_by_key(route_key);
        Snapshot { state, nft: self.nft.clone(), conntrack: self.conntrack.clone(), records: self.records.clone() }
    }

    /// How many changes were asked so far (refused ones included).
    pub fn changes(&self) -> usize {
        self.log.len()
    }

    /// The `n`th change from now (0: the next one) fails with `errno`, once.
    pub fn fail_nth(&mut self, n: usize, errno: i32) {
        self.fail_nth = Some((self.log.len() + n, errno));
    }

    /// Every change whose description (as in `log`) contains `what` fails with `errno`.
    pub fn fail_when(&mut self, what: &str, errno: i32) {
        self.fail_when.push(FailWhen { what: what.to_string(), errno });
    }

    /// No more failures.
    pub fn heal(&mut self) {
        self.fail_nth = None;
        self.fail_when.clear();
    }

    /// Logs a change and says whether a failure was asked for it.
    fn gate(&mut self, what: String) -> std::result::Result<(), i32> {
        let n = self.log.len();
        let failed = match self.fail_nth {
            Some((at, errno)) if at == n => {
                self.fail_nth = None;
                Some(errno)
            }
            _ => self.fail_when.iter().find(|f| what.contains(&f.what)).map(|f| f.errno),
        };
        self.log.push(what);
        failed.map_or(Ok(()), Err)
    }

    fn gate_io(&mut self, what: String) -> Result<()> {
        self.gate(what.clone()).map_err(|e| Error::Io(what, std::io::Error::from_raw_os_error(e)))
    }

    /// The main table's default and other routes, as a dump shows them, from `routes`.
    fn sync(&mut self) {
        let main: Vec<&TableRoute> = self.state.routes.iter().filter(|r| r.table == MAIN_TABLE).collect();
        self.state.default_routes =
            main.iter().filter(|r| r.is_default()).filter_map(|r| netlink::default_route_of(r)).collect();
        self.state.bundle_routes = main.iter().filter(|r| !r.is_default()).map(|r| (*r).clone()).collect();
    }

    fn link_index(&self, index: u32) -> Option<usize> {
        self.state.links.iter().position(|l| l.index == index)
    }

    fn is_up(&self, index: u32) -> bool {
        self.state.link_by_index(index).is_some_and(State::is_up)
    }

    /// A route may go through `oif` only while it exists and is up.
    fn check_oif(&self, oif: Option<u32>) -> std::result::Result<(), NlError> {
        match oif {
            Some(o) if self.link_index(o).is_none() => Err(nl(libc::ENODEV)),
            Some(o) if !self.is_up(o) => Err(nl(libc::ENETDOWN)),
            _ => Ok(()),
        }
    }

    fn put_route(&mut self, r: TableRoute) -> std::result::Result<(), NlError> {
        self.check_oif(r.oif)?;
        for &(_, oif, _) in &r.multipath {
            self.check_oif(Some(oif))?;
        }
        if let Some(id) = r.nhid {
            if !self.state.nexthops.iter().any(|n| n.id == id) {
                return Err(nl(libc::EINVAL));
            }
        }
        match self.state.routes.iter_mut().find(|x| x.same_key(&r)) {
            Some(x) => *x = r,
            None => self.state.routes.push(r),
        }
        self.sync();
        Ok(())
    }

    /// Deletes nexthop `id` as the kernel does: its routes go, it leaves its groups, and a
    /// group left empty goes the same way.
    fn remove_nexthop(&mut self, id: u32) {
        self.state.nexthops.retain(|n| n.id != id);
        self.state.routes.retain(|r| r.nhid != Some(id));
        let mut emptied = Vec::new();
        for g in self.state.nexthops.iter_mut().filter(|n| !n.group.is_empty()) {
            g.group.retain(|(m, _)| *m != id);
            if g.group.is_empty() {
                emptied.push(g.id);
            }
        }
        for g in emptied {
            self.remove_nexthop(g);
        }
        self.sync();
    }

    fn teql_slaves(&self, master: &str) -> Vec<u32> {
        self.state.slaves_of(master).map(|l| l.mtu).collect()
    }
}

impl Kernel for MemKernel {
    fn read(&mut self, reads: Reads) -> Result<State> {
        let s = &self.state;
        let mut out = State {
            links: s.links.clone(),
            qdiscs: s.qdiscs.clone(),
            addresses: s.addresses.clone(),
            default_routes: s.default_routes.clone(),
            bundle_routes: s.bundle_routes.clone(),
            teql_loaded: s.teql_loaded,
            ..State::default()
        };
        let names: Vec<String> = match reads {
            Reads::WithRpFilter => s.links.iter().map(|l| l.name.clone()).collect(),
            Reads::RpFilterOf(names) => names.iter().map(|n| n.to_string()).collect(),
            Reads::NetlinkOnly => return Ok(out),
        };
        for n in names.iter().map(String::as_str).chain(["all"]) {
            if let Some(v) = s.rp_filter.get(n) {
                out.rp_filter.insert(n.to_string(), *v);
            }
        }
        let wanted: Vec<u32> = names.iter().filter_map(|n| s.link(n)).map(|l| l.index).collect();
        out.tunnel_paths = s.tunnel_paths.iter().filter(|(i, _)| wanted.contains(i)).map(|(i, p)| (*i, *p)).collect();
        Ok(out)
    }

    fn read_bundle_routing(&mut self, state: &mut State) {
        let masters = state.teql_masters();
        if masters.iter().any(|m| m.1) {
            state.ip_forward = self.state.ip_forward;
        }
        // The record and the table apart, as the state directory and the kernel keep them: a
        // bundle with a record only is asked about, as `bundle_nat::read` does.
        for (name, _) in masters {
            if let Some(written) = self.records.get(&crate::kernel::nat_now::record_path(&name)) {
                let exists = self.nft.contains_key(&name);
                let now = crate::kernel::nat_now::NatNow { written: Some(written.clone()), exists, not_ours: None };
                state.bundle_nat.insert(name, now);
            }
        }
    }

    fn read_multipath(&mut self, state: &mut State, tables: &[u32]) -> Result<()> {
        state.rules = self.state.rules.clone();
        state.routes =
            self.state.routes.iter().filter(|r| r.table == MAIN_TABLE || tables.contains(&r.table)).cloned().collect();
        state.nexthops = self.state.nexthops.clone();
        state.hash_policy = self.state.hash_policy;
        state.hash_fields = self.state.hash_fields;
        Ok(())
    }

    fn rp_filter(&mut self, iface: &str) -> Option<u8> {
        self.state.rp_filter.get(iface).copied()
    }

    fn attach_root_qdisc(&mut self, index: u32, kind: &str, replace: bool) -> std::result::Result<(), NlError> {
        let verb = if replace { "replace" } else { "add" };
        self.gate(format!("qdisc {verb} dev {index} root {kind}")).map_err(nl)?;
        let Some(at) = self.link_index(index) else { return Err(nl(libc::ENODEV)) };
        if !replace && self.state.qdiscs.get(&index).is_some_and(|q| q.handle >> 16 != 0) {
            return Err(nl(libc::EEXIST));
        }
        if crate::names::is_teql_name(kind) {
            let mtu = self.state.links[at].mtu;
            let Some(m) = self.state.links.iter().position(|l| l.name == kind) else {
                return Err(nl(libc::ENOENT));
            };
            let lines = self.teql_slaves(kind);
            let master = &mut self.state.links[m];
            if State::is_up(master) {
                if mtu < master.mtu {
                    return Err(nl(libc::EINVAL));
                }
            } else if lines.is_empty() || mtu < master.mtu {
                master.mtu = mtu;
            }
        }
        let handle = self.next_handle << 16;
        self.next_handle += 1;
        self.state.qdiscs.insert(index, Qdisc { ifindex: index, kind: kind.to_string(), handle });
        Ok(())
    }

    fn delete_root_qdisc(&mut self, index: u32) -> std::result::Result<(), NlError> {
        self.gate(format!("qdisc del dev {index} root")).map_err(nl)?;
        if self.link_index(index).is_none() {
            return Err(nl(libc::ENODEV));
        }
        if self.state.qdiscs.get(&index).is_none_or(|q| q.handle >> 16 == 0) {
            return Err(nl(libc::ENOENT));
        }
        let default = self.defaults.get(&index).cloned();
        let q = default.unwrap_or(Qdisc { ifindex: index, kind: "noqueue".into(), handle: 0 });
        self.state.qdiscs.insert(index, q);
        Ok(())
    }

    fn set_up(&mut self, index: u32, up: bool) -> std::result::Result<(), NlError> {
        self.gate(format!("link set dev {index} {}", if up { "up" } else { "down" })).map_err(nl)?;
        let Some(at) = self.link_index(index) else { return Err(nl(libc::ENODEV)) };
        if State::is_up(&self.state.links[at]) == up {
            return Ok(());
        }
        if up {
            let link = &self.state.links[at];
            if link.link_type == netlink::ARPHRD_VOID && crate::names::is_teql_name(&link.name) {
                let name = link.name.clone();
                let Some(mtu) = self.teql_slaves(&name).into_iter().min() else { return Err(nl(libc::EUNATCH)) };
                self.state.links[at].mtu = mtu;
            }
            self.state.links[at].flags |= IFF_UP;
            return Ok(());
        }
        self.state.links[at].flags &= !IFF_UP;
        self.state.routes.retain(|r| r.oif != Some(index) && !r.multipath.iter().any(|h| h.1 == index));
        let gone: Vec<u32> =
            self.state.nexthops.iter().filter(|n| n.group.is_empty() && n.oif == Some(index)).map(|n| n.id).collect();
        for id in gone {
            self.remove_nexthop(id);
        }
        self.sync();
        Ok(())
    }

    fn set_mtu(&mut self, index: u32, mtu: u32) -> std::result::Result<(), NlError> {
        self.gate(format!("link set dev {index} mtu {mtu}")).map_err(nl)?;
        let Some(at) = self.link_index(index) else { return Err(nl(libc::ENODEV)) };
        let name = self.state.links[at].name.clone();
        // teql_master_mtu: no larger than any line's.
        if mtu < 68 || self.teql_slaves(&name).into_iter().any(|m| m < mtu) {
            return Err(nl(libc::EINVAL));
        }
        self.state.links[at].mtu = mtu;
        Ok(())
    }

    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError> {
        self.gate(format!("address add {addr}/{prefix_len} dev {index}")).map_err(nl)?;
        if self.link_index(index).is_none() {
            return Err(nl(libc::ENODEV));
        }
        if self.state.addresses.iter().any(|a| a.ifindex == index && a.addr == addr && a.prefix_len == prefix_len) {
            return Err(nl(libc::EEXIST));
        }
        self.state.addresses.push(netlink::Address { ifindex: index, addr, prefix_len, peer: None });
        Ok(())
    }

    fn del_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError> {
        self.gate(format!("address del {addr}/{prefix_len} dev {index}")).map_err(nl)?;
        let before = self.state.addresses.len();
        self.state.addresses.retain(|a| !(a.ifindex == index && a.addr == addr && a.prefix_len == prefix_len));
        if self.state.addresses.len() == before {
            return Err(nl(libc::EADDRNOTAVAIL));
        }
        if !self.state.addresses.iter().any(|a| a.addr == addr) {
            self.state.routes.retain(|r| r.prefsrc != Some(addr));
            self.sync();
        }
        Ok(())
    }

    fn replace_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError> {
        self.gate(format!("route replace default via {via} dev {oif} metric {metric}")).map_err(nl)?;
        self.put_route(netlink::installed_default_route(oif, via, metric))
    }

    fn delete_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError> {
        self.gate(format!("route del default via {via} dev {oif} metric {metric}")).map_err(nl)?;
        let at = self.state.routes.iter().position(|r| {
            r.table == MAIN_TABLE
                && r.is_default()
                && r.metric == metric
                && r.gateway == Some(via)
                && r.oif == Some(oif)
        });
        let Some(at) = at else { return Err(nl(libc::ESRCH)) };
        self.state.routes.remove(at);
        self.sync();
        Ok(())
    }

    fn restore_route(&mut self, route: &Route) -> std::result::Result<(), NlError> {
        let r = table_route_of(route);
        self.gate(format!("route restore {r:?}")).map_err(nl)?;
        self.put_route(r)
    }

    fn add_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError> {
        self.gate(format!("rule add {rule:?}")).map_err(nl)?;
        if self.state.rules.contains(rule) {
            return Err(nl(libc::EEXIST));
        }
        self.state.rules.push(rule.clone());
        self.state.rules.sort_by_key(rule_key);
        Ok(())
    }

    fn del_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError> {
        self.gate(format!("rule del {rule:?}")).map_err(nl)?;
        let Some(at) = self.state.rules.iter().position(|r| r == rule) else { return Err(nl(libc::ENOENT)) };
        self.state.rules.remove(at);
        Ok(())
    }

    fn replace_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError> {
        self.gate(format!("route replace {route:?}")).map_err(nl)?;
        self.put_route(route.clone())
    }

    fn del_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError> {
        self.gate(format!("route del {route:?}")).map_err(nl)?;
        let w = route;
        let at = self.state.routes.iter().position(|r| {
            r.same_key(w)
                && (w.gateway.is_none() || r.gateway == w.gateway)
                && (w.oif.is_none() || r.oif == w.oif)
                && (w.nhid.is_none() || r.nhid == w.nhid)
                && (w.prefsrc.is_none() || r.prefsrc == w.prefsrc)
                && (w.protocol == 0 || r.protocol == w.protocol)
        });
        let Some(at) = at else { return Err(nl(libc::ESRCH)) };
        self.state.routes.remove(at);
        self.sync();
        Ok(())
    }

    fn replace_nexthop(&mut self, nh: &Nexthop) -> std::result::Result<(), NlError> {
        self.gate(format!("nexthop replace {nh:?}")).map_err(nl)?;
        if nh.group.is_empty() {
            self.check_oif(nh.oif)?;
        } else {
            let single = |id: u32| self.state.nexthops.iter().any(|n| n.id == id && n.group.is_empty());
            if !nh.group.iter().all(|(m, w)| single(*m) && (1..=256).contains(w)) {
                return Err(nl(libc::EINVAL));
            }
        }
        if let Some(old) = self.state.nexthops.iter_mut().find(|n| n.id == nh.id) {
            if old.group.is_empty() != nh.group.is_empty()
                || (!nh.group.is_empty() && old.resilient.is_some() != nh.resilient.is_some())
                || (old.resilient.is_some() && nh.resilient.is_some() && old.resilient != nh.resilient)
            {
                return Err(nl(libc::EINVAL));
            }
            *old = nh.clone();
        } else {
            self.state.nexthops.push(nh.clone());
        }
        Ok(())
    }

    fn del_nexthop(&mut self, id: u32) -> std::result::Result<(), NlError> {
        self.gate(format!("nexthop del id {id}")).map_err(nl)?;
        if !self.state.nexthops.iter().any(|n| n.id == id) {
            return Err(nl(libc::ENOENT));
        }
        self.remove_nexthop(id);
        Ok(())
    }

    fn set_rp_filter(&mut self, iface: &str, value: u8) -> Result<()> {
        self.gate_io(format!("sysctl net.ipv4.conf.{iface}.rp_filter={value}"))?;
        if !matches!(iface, "all" | "default") && self.state.link(iface).is_none() {
            return Err(Error::NoSuchInterface(iface.to_string()));
        }
        self.state.rp_filter.insert(iface.to_string(), value);
        Ok(())
    }

    fn set_multipath_hash_policy(&mut self, value: u8) -> Result<()> {
        let what = format!("sysctl net.ipv4.fib_multipath_hash_policy={value}");
        self.gate_io(what.clone())?;
        if self.state.hash_policy.is_none() || value > 3 || (value == 3 && self.state.hash_fields.is_none()) {
            return Err(Error::Refused(format!("{what}: this kernel does not know it")));
        }
        self.state.hash_policy = Some(value);
        Ok(())
    }

    fn set_multipath_hash_fields(&mut self, value: u32) -> Result<()> {
        let what = format!("sysctl net.ipv4.fib_multipath_hash_fields={value:#06x}");
        self.gate_io(what.clone())?;
        if self.state.hash_fields.is_none() {
            return Err(Error::Refused(format!("{what}: this kernel has no custom multipath hash")));
        }
        self.state.hash_fields = Some(value);
        Ok(())
    }

    fn nft(&mut self, script: &str, bundle: &str) -> Result<()> {
        let refused =
            |why: String| Error::Nft(format!("nft refused the ruleset of {bundle} (nothing of it was applied): {why}"));
        self.gate(format!("nft {bundle}")).map_err(|e| refused(NlError { errno: e }.to_string()))?;
        let handle = self.nft_handles.values().max().copied().unwrap_or(0) + 1;
        // nft ignores comments; a script that deletes the table and writes it again leaves
        // what follows its last `delete table`.
        let script: String = script.split_inclusive('\n').filter(|l| !l.trim_start().starts_with('#')).collect();
        if let Some(at) = script.rfind("delete table ") {
            let rest = script[at..].split_once('\n').map_or("", |(_, r)| r);
            if rest.trim().is_empty() {
                self.nft.remove(bundle);
                self.nft_handles.remove(bundle);
            } else {
                self.nft.insert(bundle.to_string(), rest.to_string());
                self.nft_handles.insert(bundle.to_string(), handle);
            }
            return Ok(());
        }
        let Some(table) = self.nft.get(bundle).cloned() else {
            return Err(refused("No such file or directory: the table is missing".into()));
        };
        self.nft.insert(bundle.to_string(), update_maps(&table, &script));
        Ok(())
    }

    fn flush_conntrack(&mut self, mark: u32) -> std::io::Result<()> {
        self.gate(format!("conntrack flush mark {mark:#010x}")).map_err(std::io::Error::from_raw_os_error)?;
        self.conntrack.remove(&mark);
        Ok(())
    }

    fn link_exists(&mut self, name: &str) -> bool {
        self.state.links.iter().any(|l| l.name == name)
    }

    fn ensure_module(&mut self, need: crate::kernel::module::Need) -> Result<Option<String>> {
        // As crate::kernel::module::ensure, with this kernel's devices.
        if need.total() == 0 {
            return Ok(None);
        }
        if self.state.teql_loaded {
            let have = self.masters_present();
            if have >= need.now {
                return Ok(None);
            }
            return Err(Error::Module(format!("sch_teql is loaded with {have} master(s), {} needed", need.now)));
        }
        self.gate("modprobe sch_teql".to_string())
            .map_err(|e| Error::Module(format!("modprobe sch_teql failed (errno {e})")))?;
        let want = need.total();
        if self.module_default.max(1) >= want {
            self.load_module(self.module_default.max(1));
            return Ok(Some("modprobe sch_teql".to_string()));
        }
        self.load_module(want);
        Ok(Some(format!("modprobe sch_teql max_equalizers={want}")))
    }

    fn unload_module(&mut self) -> Result<()> {
        self.gate("modprobe -r sch_teql".to_string())
            .map_err(|e| Error::Module(format!("modprobe -r sch_teql failed (errno {e})")))?;
        let gone: Vec<u32> = self
            .state
            .links
            .iter()
            .filter(|l| l.link_type == netlink::ARPHRD_VOID && crate::names::is_teql_name(&l.name))
            .map(|l| l.index)
            .collect();
        self.state.links.retain(|l| !gone.contains(&l.index));
        self.state.teql_loaded = false;
        Ok(())
    }

    fn resilient_groups(&mut self) -> bool {
        !self.no_resilient_groups
    }

    fn nft_check_version(&mut self, _bundle: &str) -> Result<()> {
        Ok(())
    }

    fn nft_fingerprint(
        &mut self,
        bundle: &str,
        _table: &str,
    ) -> std::io::Result<Option<crate::kernel::nft::Fingerprint>> {
        // Its handle, and no count: maps updated in place leave a real table's counts too.
        Ok(self.nft.get(bundle).map(|_| crate::kernel::nft::Fingerprint {
            handle: self.nft_handles.get(bundle).copied().or(Some(0)),
            uses: 0,
            rules: 0,
        }))
    }

    fn nft_list(&mut self, bundle: &str, _table: &str) -> Result<Option<String>> {
        Ok(self.nft.get(bundle).cloned())
    }

    fn read_record(&mut self, path: &Path) -> Option<String> {
        self.records.get(path).cloned()
    }

    fn write_record(&mut self, path: &Path, contents: Option<&str>) -> Result<()> {
        self.gate_io(format!("record {}", path.display()))?;
        if self.records_on_disk {
            let r = match contents {
                Some(text) => {
                    path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(path, text))
                }
                None => match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            };
            r.map_err(|e| Error::Io(path.display().to_string(), e))?;
        }
        match contents {
            Some(text) => {
                self.records.insert(path.to_path_buf(), text.to_string());
            }
            None => {
                self.records.remove(path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::{Address, Link, ARPHRD_VOID, IFF_BROADCAST, IFF_MULTICAST, IFF_NOARP};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn box_with_teql() -> MemKernel {
        let mut s = State { teql_loaded: true, hash_policy: Some(0), ..State::default() };
        s.links.push(Link {
            index: 1,
            name: "teql0".into(),
            flags: IFF_NOARP,
            mtu: 1500,
            link_type: ARPHRD_VOID,
            ..Link::default()
        });
        s.links.push(Link {
            index: 10,
            name: "eth0".into(),
            flags: IFF_UP | IFF_BROADCAST | IFF_MULTICAST,
            mtu: 1400,
            link_type: 1,
            ..Link::default()
        });
        s.qdiscs.insert(10, Qdisc { ifindex: 10, kind: "fq_codel".into(), handle: 0 });
        s.addresses.push(Address { ifindex: 10, addr: ip("192.0.2.10"), prefix_len: 24, peer: None });
        MemKernel::new(s)
    }

    #[test]
    fn a_teql_master_opens_only_with_a_line_and_takes_its_mtu() {
        let mut k = box_with_teql();
        assert_eq!(k.set_up(1, true), Err(nl(libc::EUNATCH)));
        k.attach_root_qdisc(10, "teql0", false).unwrap();
        assert_eq!(k.state().slaves_of("teql0").count(), 1);
        k.set_up(1, true).unwrap();
        assert_eq!(k.state().link("teql0").map(|l| (l.mtu, State::is_up(l))), Some((1400, true)));
        // A second qdisc of its own is EEXIST without replace; deleting puts the default back.
        assert_eq!(k.attach_root_qdisc(10, "teql0", false), Err(nl(libc::EEXIST)));
        k.delete_root_qdisc(10).unwrap();
        assert_eq!(k.state().root_qdisc(10).map(|q| q.kind.as_str()), Some("fq_codel"));
        assert_eq!(k.delete_root_qdisc(10), Err(nl(libc::ENOENT)));
        assert_eq!(k.attach_root_qdisc(10, "teql3", false), Err(nl(libc::ENOENT)));
    }

    #[test]
    fn a_link_down_drops_its_routes_and_nexthops() {
        let mut k = box_with_teql();
        k.replace_nexthop(&Nexthop { id: 5, gateway: Some(ip("192.0.2.1")), oif: Some(10), ..Nexthop::default() })
            .unwrap();
        k.replace_nexthop(&Nexthop { id: 9, group: vec![(5, 1)], ..Nexthop::default() }).unwrap();
        k.replace_route(&TableRoute { table: MAIN_TABLE, nhid: Some(9), ..TableRoute::default() }).unwrap();
        k.replace_default_route(10, ip("192.0.2.1"), 100).unwrap();
        assert_eq!(k.state().default_routes.len(), 2, "{:?}", k.state().routes);
        k.set_up(10, false).unwrap();
        assert!(k.state().nexthops.is_empty() && k.state().routes.is_empty() && k.state().default_routes.is_empty());
        // Nothing goes through a link that is down.
        assert_eq!(k.replace_default_route(10, ip("192.0.2.1"), 100), Err(nl(libc::ENETDOWN)));
    }

    #[test]
    fn rules_and_nexthops_are_refused_as_the_kernel_refuses_them() {
        let mut k = box_with_teql();
        let r = Rule { priority: 30100, src: Some((ip("192.0.2.10"), 32)), fwmark: None, table: 4201 };
        k.add_rule(&r).unwrap();
        assert_eq!(k.add_rule(&r), Err(nl(libc::EEXIST)));
        k.del_rule(&r).unwrap();
        assert_eq!(k.del_rule(&r), Err(nl(libc::ENOENT)));
        assert_eq!(k.del_nexthop(7), Err(nl(libc::ENOENT)));
        assert_eq!(
            k.replace_nexthop(&Nexthop { id: 9, group: vec![(5, 1)], ..Nexthop::default() }),
            Err(nl(libc::EINVAL))
        );
        assert_eq!(
            k.replace_route(&TableRoute { table: 4201, nhid: Some(5), ..TableRoute::default() }),
            Err(nl(libc::EINVAL))
        );
        assert_eq!(k.del_route(&TableRoute { table: 4201, ..TableRoute::default() }), Err(nl(libc::ESRCH)));
        assert!(k.set_multipath_hash_fields(0x37).is_err());
    }

    #[test]
    fn failures_come_where_asked_and_only_there() {
        let mut k = box_with_teql();
        k.fail_nth(1, libc::EBUSY);
        k.set_mtu(10, 1300).unwrap();
        assert_eq!(k.set_mtu(10, 1200), Err(nl(libc::EBUSY)));
        k.set_mtu(10, 1200).unwrap();
        k.fail_when("rp_filter", libc::EACCES);
        assert!(k.set_rp_filter("eth0", 2).is_err());
        assert_eq!(k.state().link("eth0").map(|l| l.mtu), Some(1200));
        assert_eq!(k.changes(), 4);
    }

    #[test]
    fn nft_keeps_each_bundle_s_ruleset_as_it_would_be_listed() {
        let mut k = box_with_teql();
        let t = "table inet x {}\ndelete table inet x\n";
        assert!(k.nft("flush map inet x weights\n", "wan").is_err());
        let table = "table inet x {\n\tmap weights { typeof meta mark : meta mark; flags interval; }\n}\n";
        let whole = format!("# ours\n{t}{table}");
        k.nft(&whole, "wan").unwrap();
        // As nft lists it: without the comment.
        assert_eq!(k.nft_table("wan"), Some(table));
        // Maps updated in place, as nft lists them after.
        k.nft("flush map inet x weights\nadd element inet x weights { 0-499 : 0x1, 500-999 : 0x2 }\n", "wan").unwrap();
        let updated = "table inet x {\n\tmap weights { typeof meta mark : meta mark; flags interval; elements = { 0-499 : 0x1, 500-999 : 0x2 }; }\n}\n";
        assert_eq!(k.nft_table("wan"), Some(updated));
        k.nft("flush map inet x weights\n", "wan").unwrap();
        assert_eq!(k.nft_table("wan"), Some(table));
        // The undo of a run: the teardown, then the table as it was listed.
        k.nft(&format!("{t}{updated}"), "wan").unwrap();
        assert_eq!(k.nft_table("wan"), Some(updated));
        k.nft(t, "wan").unwrap();
        assert_eq!(k.nft_table("wan"), None);
    }
}
