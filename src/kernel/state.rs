//! What the kernel has now: the other input of planning, read once per run.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::kernel::netlink::{self, Address, Link, Netlink, Qdisc, Route};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub links: Vec<Link>,
    /// Root qdiscs by ifindex.
    pub qdiscs: BTreeMap<u32, Qdisc>,
    pub addresses: Vec<Address>,
    /// IPv4 default routes of the main table.
    pub default_routes: Vec<Route>,
    /// net.ipv4.conf.IFACE.rp_filter for every link, and for "all".
    pub rp_filter: BTreeMap<String, u8>,
    /// sch_teql is loaded (in a dry run it may not be yet: masters are then assumed to appear).
    pub teql_loaded: bool,
    /// Multipath bundles only (empty otherwise: a TEQL run reads none of it): IPv4 policy
    /// rules, the routes of the lines' tables and the main table's default routes, nexthop
    /// objects, and net.ipv4.fib_multipath_hash_policy.
    pub rules: Vec<crate::kernel::route::Rule>,
    pub routes: Vec<crate::kernel::route::TableRoute>,
    pub nexthops: Vec<crate::kernel::route::Nexthop>,
    pub hash_policy: Option<u8>,
    /// net.ipv4.fib_multipath_hash_fields; None on kernels without it (before 5.12).
    pub hash_fields: Option<u32>,
    /// Connection bundles only (`status`): what their nftables table and conntrack say.
    pub connection: Option<ConnectionState>,
    /// Each tunnel with a local and a remote address (by ifindex): the interface and next hop
    /// its outer packets leave by (`ip route get REMOTE from LOCAL`), or the errno of that
    /// lookup. Read by `read` and, for tunnel lines, by `check`.
    pub tunnel_paths: BTreeMap<u32, std::result::Result<crate::kernel::netlink::OuterPath, i32>>,
    /// The main table's routes other than the default ones: those through a teqlN
    /// (TEQL_ROUTE), and any other a configured network would replace. From the same dump as
    /// `default_routes`.
    pub bundle_routes: Vec<crate::kernel::route::TableRoute>,
    /// The NAT tables of TEQL bundles that have a record of ours (TEQL_NAT), by master.
    pub bundle_nat: BTreeMap<String, crate::kernel::nat_now::NatNow>,
    /// net.ipv4.ip_forward, when a bundle routes networks (the aggregator must forward them).
    pub ip_forward: Option<bool>,
}

/// The counters of a connection bundle, as `status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionState {
    /// New connections per line since the table was written (its counters); None: no table.
    pub new_connections: Option<BTreeMap<String, u64>>,
    /// Conntrack entries per line mark; a mark missing could not be counted.
    pub entries: BTreeMap<u32, u64>,
    /// Why the bundle's nftables table is not the one teqlctl last wrote (None: it is, or
    /// teqlctl wrote none, or netlink could not tell).
    pub table_problem: Option<String>,
}

impl State {
    pub fn read(nl: &mut Netlink) -> Result<State> {
        let mut state = State::read_netlink(nl)?;
        let names: Vec<String> = state.links.iter().map(|l| l.name.clone()).collect();
        state.read_rp_filter(names.iter().map(String::as_str));
        state.read_tunnel_paths(nl, |_| true);
        Ok(state)
    }

    /// As `read`, with the rp_filter sysctls of `names` (and "all") only, and the outer paths of
    /// those that are tunnels: what attaching `names` needs.
    pub(crate) fn read_for(nl: &mut Netlink, names: &[&str]) -> Result<State> {
        let mut state = State::read_netlink(nl)?;
        state.read_rp_filter(names.iter().copied());
        let wanted: Vec<u32> = names.iter().filter_map(|n| state.link(n)).map(|l| l.index).collect();
        state.read_tunnel_paths(nl, |i| wanted.contains(&i));
        Ok(state)
    }

    /// net.ipv4.conf.NAME.rp_filter of each of `names` and of "all", where readable.
    fn read_rp_filter<'n>(&mut self, names: impl Iterator<Item = &'n str>) {
        for name in names.chain(["all"]) {
            if let Some(v) = crate::kernel::sysctl::rp_filter(name) {
                self.rp_filter.insert(name.to_string(), v);
            }
        }
    }

    /// How the outer packets of the tunnels `wanted` picks (by ifindex) leave. Tunnels are rare:
    /// a box without one asks nothing more.
    pub(crate) fn read_tunnel_paths(&mut self, nl: &mut Netlink, wanted: impl Fn(u32) -> bool) {
        let tunnels: Vec<(u32, crate::kernel::netlink::Tunnel)> =
            self.links.iter().filter(|l| wanted(l.index)).filter_map(|l| l.tunnel.map(|t| (l.index, t))).collect();
        for (index, t) in tunnels {
            if let (Some(local), Some(remote)) = (t.local, t.remote) {
                self.tunnel_paths.insert(index, nl.route_get(local, remote, t.link).map_err(|e| e.errno));
            }
        }
    }

    /// What netlink says, without the rp_filter sysctls (left empty): `check` plans no
    /// rp_filter change, and one file read per link is a fifth of its kernel-state time in the
    /// VM. A change it then makes goes through ops, which reads the state again (with the
    /// sysctls only to attach).
    pub(crate) fn read_netlink(nl: &mut Netlink) -> Result<State> {
        let dump = |what: &str, e| Error::from_netlink(what, "", e);
        let links = nl.links().map_err(|e| dump("ip link show", e))?;
        let qdiscs =
            nl.root_qdiscs().map_err(|e| dump("tc qdisc show", e))?.into_iter().map(|q| (q.ifindex, q)).collect();
        let addresses = nl.addresses().map_err(|e| dump("ip -4 address show", e))?;
        let (default_routes, bundle_routes) = nl.main_routes().map_err(|e| dump("ip route show", e))?;
        Ok(State {
            links,
            qdiscs,
            addresses,
            default_routes,
            bundle_routes,
            rp_filter: BTreeMap::new(),
            teql_loaded: crate::kernel::module::loaded(),
            ..State::default()
        })
    }

    /// The teqlN devices the kernel has, each with whether it is up: the bundles whose routes
    /// and NAT a run reads (here and in kernel::MemKernel).
    pub(crate) fn teql_masters(&self) -> Vec<(String, bool)> {
        self.links
            .iter()
            .filter(|l| crate::names::is_teql_name(&l.name))
            .map(|l| (l.name.clone(), State::is_up(l)))
            .collect()
    }

    /// What a TEQL bundle's TEQL_ROUTE and TEQL_NAT need besides the routes `read_netlink`
    /// has: net.ipv4.ip_forward when a teqlN is up, and the NAT tables we recorded. Starts no
    /// process, and asks nftables only about a bundle with a record.
    pub fn read_bundle_routing(&mut self) {
        let masters = self.teql_masters();
        if masters.iter().any(|m| m.1) {
            self.ip_forward = crate::kernel::sysctl::ip_forward();
        }
        for (name, _) in masters {
            if let Some(n) = crate::kernel::nat_now::read(&name) {
                self.bundle_nat.insert(name, n);
            }
        }
    }

    /// Adds what a multipath bundle needs: IPv4 rules, the routes of `tables` and of the main
    /// table, nexthop objects and the multipath hash policy. Only runs for such bundles, so a
    /// TEQL run pays nothing for them.
    pub fn read_multipath(&mut self, nl: &mut Netlink, tables: &[u32]) -> Result<()> {
        let dump = |what: &str, e| Error::from_netlink(what, "", e);
        self.rules = nl.rules().map_err(|e| dump("ip rule show", e))?;
        let mut wanted: Vec<u32> = tables.iter().copied().chain([crate::kernel::route::MAIN_TABLE]).collect();
        wanted.sort_unstable();
        wanted.dedup();
        self.routes.clear();
        for t in wanted {
            self.routes.extend(nl.table_routes(t).map_err(|e| dump(&format!("ip route show table {t}"), e))?);
        }
        self.nexthops = nl.nexthops().map_err(|e| dump("ip nexthop show", e))?;
        self.hash_policy = crate::kernel::sysctl::multipath_hash_policy();
        self.hash_fields = crate::kernel::sysctl::multipath_hash_fields();
        Ok(())
    }

    /// What `status` shows of a connection bundle: its nft counters and its lines' conntrack
    /// entries (`marks`). A failure is a warning, not an error: status still shows the rest.
    pub(crate) fn read_connection(&mut self, bundle: &str, marks: &[u32]) {
        let new_connections = crate::kernel::nft::new_connections(bundle).unwrap_or_else(|e| {
            crate::log::warn(&e.to_string());
            None
        });
        let mut entries = BTreeMap::new();
        for &m in marks {
            match crate::kernel::conntrack::count_by_mark(m) {
                Ok(n) => {
                    entries.insert(m, n);
                }
                Err(e) => {
                    crate::log::warn(&format!("{bundle}: cannot count the conntrack entries of mark {m:#010x}: {e}"))
                }
            }
        }
        let table_problem = crate::kernel::nft::connection_table_problem(bundle);
        self.connection = Some(ConnectionState { new_connections, entries, table_problem });
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub(crate) fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub(crate) fn root_qdisc(&self, index: u32) -> Option<&Qdisc> {
        self.qdiscs.get(&index)
    }

    /// Lines whose root qdisc is `master`.
    pub fn slaves_of<'a>(&'a self, master: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.links.iter().filter(move |l| self.qdiscs.get(&l.index).is_some_and(|q| q.kind == master))
    }

    pub fn addresses_of(&self, index: u32) -> impl Iterator<Item = &Address> + '_ {
        self.addresses.iter().filter(move |a| a.ifindex == index)
    }

    pub fn default_routes_via(&self, index: u32) -> impl Iterator<Item = &Route> + '_ {
        self.default_routes.iter().filter(move |r| r.oif == Some(index))
    }

    pub fn is_up(link: &Link) -> bool {
        link.flags & netlink::IFF_UP != 0
    }
}
