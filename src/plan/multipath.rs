//! Planning a per-flow multipath bundle (TEQL_MODE=multipath): independent ISPs, each line
//! with its own address and gateway. Pure: the kernel state and the lines come in, the
//! actions that make the kernel match come out, so every rule is tested on the host.
//!
//! What a bundle looks like in the kernel (the LARTC "split access" recipe, with nexthop
//! objects instead of a route cache that no longer exists):
//! - per line with an address, its own table T: the line's subnet `src` its address, and a
//!   default route through its gateway (or through the device, for point-to-point lines);
//! - a rule `from ADDR lookup T`, so that whatever leaves with a line's address leaves by it
//!   (ISPs drop foreign sources);
//! - per line a nexthop object (id T), and one group of the live lines with their weights:
//!   resilient where the kernel has it (5.13+), so that a line leaving moves only its own
//!   flows; the main table's default route uses the group (`nhid G`);
//! - without resilient groups, one plain multipath default route instead.
//!
//! The plan converges on that picture from whatever the kernel has, touching only objects
//! marked with teqlctl's protocol number and rules at teqlctl's priority for its tables.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::kernel::netlink::{Address, Link, IFF_LOWER_UP, IFF_POINTOPOINT, IFF_UP};
use crate::kernel::route::{Named, Nexthop, Rule, TableRoute, MAIN_TABLE, RTPROT_TEQLCTL};
use crate::kernel::state::State;
use crate::names::{BundleName, IfName};
use crate::plan::Action;

// The numbers and the hash policy were the configuration's to know as well (a line's default
// table, a bundle's group); they live below both now, and these paths stay for the callers
// that name them so.
pub use crate::config::HashPolicy;
pub use crate::ids::{default_table, group_id, GROUP_BASE, TABLE_BASE, TABLE_SPAN};

/// Priority of the `from ADDR lookup T` rules: before the main table's rule (32766), after
/// the priorities distributions use for their own policy rules (documented).
pub const RULE_PRIORITY: u32 = 30100;
/// Buckets of a resilient group: enough for weights to be honoured to about 1% with up to a
/// dozen lines, few enough to dump cheaply.
pub const BUCKETS: u16 = 128;

/// What a hash policy is set to: net.ipv4.fib_multipath_hash_policy and, for the custom
/// policy 3, net.ipv4.fib_multipath_hash_fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSetting {
    pub policy: u8,
    pub fields: Option<u32>,
}

impl HashPolicy {
    /// The sysctls for this policy on a kernel that has (`custom`) or lacks the custom policy.
    ///
    /// L4 is policy 3 over the 5-tuple where the kernel has it, not policy 1: for a forwarded
    /// packet policy 1 takes the hash the packet already carries when there is one, and a LAN
    /// host behind a veth (a container, a VM) or a NIC without RSS hands over its socket's
    /// hash, which TCP picks anew at every retransmission timeout. The flow would then move
    /// to another line while the admin's masquerade keeps its old source address, and that
    /// ISP drops it. Policy 3 hashes the headers themselves, so a flow keeps its line.
    pub fn setting(self, custom: bool) -> Option<HashSetting> {
        match self {
            HashPolicy::L3 => Some(HashSetting { policy: 0, fields: None }),
            HashPolicy::L4 if custom => {
                Some(HashSetting { policy: 3, fields: Some(crate::kernel::sysctl::L4_HASH_FIELDS) })
            }
            HashPolicy::L4 => Some(HashSetting { policy: 1, fields: None }),
            HashPolicy::Keep => None,
        }
    }
}

/// The bundle's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub name: BundleName,
    pub hash: HashPolicy,
    /// Install the main table's default route over the group (TEQL_DEFROUTE, default yes).
    pub defroute: bool,
    pub metric: u32,
    /// A connection bundle: each staying line also gets `fwmark MARK lookup TABLE`
    /// (connection::FWMARK_PRIORITY), the way its nftables marks reach the line's table.
    pub fwmark: bool,
    /// A connection bundle's TEQL_LOCAL_SOURCE: the `src` of the main table's default route,
    /// so that the box's own unbound connections leave with an address of no line and
    /// nftables can balance them by weight (connection::ruleset).
    pub local_source: Option<Ipv4Addr>,
    /// The bundle's file (None: no file configures it), for its keys in its stack's words.
    pub source: Option<std::path::PathBuf>,
}

/// A line of a multipath bundle as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub device: IfName,
    /// 1..=256
    pub weight: u16,
    /// TEQL_GATEWAY / GATEWAY; None: the DHCP lease's, else learned from the kernel (a DHCP
    /// client's default route on the line), or none needed (point-to-point).
    pub gateway: Option<Ipv4Addr>,
    /// The lease the DHCP client last reported for the line (its dhclient hook records it):
    /// its router is the line's gateway while the line has the lease's address.
    pub dhcp: Option<Lease>,
    pub table: u32,
    /// TEQL_RP_FILTER when set: otherwise the line keeps the admin's rp_filter (strict
    /// filtering works with split access).
    pub rp_filter: Option<crate::config::RpFilter>,
    /// How to give the line a gateway, in the words of the stack its configuration is in
    /// (config::Member::gateway_hint).
    pub gateway_hint: &'static str,
}

/// What a DHCP client learned on a line: its address and the first of its routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub router: Ipv4Addr,
}

/// What the caller asks for. Callers only say what happened; the planner decides.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The bundle is up (its default route wanted); false: take all of it down.
    pub bundle_up: bool,
    /// Lines on their way down (ifdown): out of the group, table and rule gone.
    pub leaving: BTreeSet<String>,
    /// Lines `teqlctl check` found dead: out of the group only (their table and rule stay,
    /// so replies from their address still leave by them), never the last live one.
    pub dead: BTreeSet<String>,
    /// The kernel has resilient nexthop groups.
    pub resilient: bool,
    /// Lines a change of which the kernel refused in this run (ops plans again without it):
    /// out of the group, and nothing else of theirs touched.
    pub refused: BTreeSet<String>,
}

/// A line as the kernel has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineNow {
    pub device: IfName,
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// The other end of a point-to-point address (`peer`).
    pub peer: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    /// A configured or leased router the kernel would refuse (`gateway_of`): said by the plan.
    pub refused: Option<RefusedRouter>,
    /// A ppp-like device, or an address with a peer: routed by the device, no gateway.
    pub pointopoint: bool,
    pub carrier: bool,
    pub weight: u16,
    pub table: u32,
}

/// The plan of one multipath bundle, and what the caller should say about it.
#[derive(Debug, Default)]
pub struct MpPlan {
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// The lines in the group once the plan has run.
    pub members: Vec<String>,
    /// Each configured line that is up with an address, as the kernel has it (the plan's
    /// input, kept for what a connection bundle plans on top).
    pub now: Vec<LineNow>,
    /// Lines with a problem of their own (a router the kernel would refuse), each said in
    /// `warnings`: the bundle goes on without them, and the run's exit status says so.
    pub problems: Vec<String>,
    /// The local source the default route has once the plan has run: the bundle's
    /// `local_source` while the box has that address and no line has it, else None.
    pub local_source: Option<Ipv4Addr>,
}

fn network(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}

/// Where a line's router came from, for the message that refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterSource {
    /// TEQL_GATEWAY / teql-gateway / GATEWAY.
    Configured,
    /// The recorded DHCP lease (dhclient hook, NetworkManager).
    Lease,
}

/// A router the line cannot use: the kernel would refuse it as the gateway of the line's
/// routes and nexthop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRouter {
    pub router: Ipv4Addr,
    pub source: RouterSource,
    /// Why, as a clause ("it is not on eth1's subnet 198.51.100.8/29").
    pub why: String,
}

impl RefusedRouter {
    fn describe(&self, device: &str, bundle: &str) -> String {
        match self.source {
            RouterSource::Configured => {
                format!("{device} ({bundle}): its configured gateway {} is refused", self.router)
            }
            RouterSource::Lease => {
                format!("{device} ({bundle}): the router {} of its DHCP lease is refused", self.router)
            }
        }
    }
}

/// Why the kernel would refuse `router` as a gateway through the line with address `a` (None:
/// it takes it). The kernel wants a unicast address that is not the line's own and that it
/// reaches directly on the line: in the address's subnet, its peer, or covered by a link-scope
/// route through the line in the main table (what a DHCP client adds for a router outside a
/// /32 lease). A point-to-point line needs no gateway and is never asked.
pub(crate) fn router_refused(router: Ipv4Addr, device: &str, a: &Address, routes: &[TableRoute]) -> Option<String> {
    let what = if router.is_unspecified() {
        "0.0.0.0 names no router"
    } else if router.is_broadcast() {
        "it is the broadcast address"
    } else if router.is_multicast() {
        "it is a multicast address"
    } else if router.is_loopback() {
        "it is a loopback address"
    } else if router == a.addr {
        "it is the line's own address"
    } else {
        ""
    };
    if !what.is_empty() {
        return Some(what.to_string());
    }
    if a.peer == Some(router) {
        return None;
    }
    let len = a.prefix_len;
    let net = network(a.addr, len);
    if a.peer.is_none() && len < 32 && network(router, len) == net {
        let last = Ipv4Addr::from(u32::from(net) | (u32::MAX >> len));
        return match len < 31 && (router == net || router == last) {
            true => Some(format!(
                "it is the {} address of {device}'s subnet {net}/{len}",
                if router == net { "network" } else { "broadcast" }
            )),
            false => None,
        };
    }
    let routed_on_link = routes.iter().any(|r| {
        r.table == MAIN_TABLE
            && r.oif == Some(a.ifindex)
            && r.scope_link
            && r.gateway.is_none()
            && r.nhid.is_none()
            && r.multipath.is_empty()
            && r.dst_len > 0
            && network(router, r.dst_len) == network(r.dst, r.dst_len)
    });
    if routed_on_link {
        return None;
    }
    Some(match (a.peer, len) {
        (Some(p), _) => format!("it is not {device}'s peer {p}, and no route puts it on {device}'s link"),
        (None, 32) => format!("{device} has a /32 address and no route puts the router on its link"),
        (None, _) => format!("it is not on {device}'s subnet {net}/{len}"),
    })
}

/// The gateway of a line whose address is `a`: configured, else the router of its DHCP lease
/// (while the line has the lease's address: a lease of an address the line no longer has is
/// stale), else the one the kernel has for it (a DHCP client's default route through the line,
/// or ours from an earlier run: the line's nexthop, or its table's default route, which hold its
/// last good gateway). Each is taken only if the kernel would take it (`router_refused`): a
/// configured gateway it refuses leaves the line without one (the admin's choice is not
/// second-guessed), a lease's router it refuses gives way to the last good gateway. The refused
/// router, if any, comes back too, for the plan's message.
pub(crate) fn gateway_of(
    line: &Line,
    link: &Link,
    a: &Address,
    st: &State,
) -> (Option<Ipv4Addr>, Option<RefusedRouter>) {
    let refused = |router: Ipv4Addr, source| {
        router_refused(router, &line.device, a, &st.routes).map(|why| RefusedRouter { router, source, why })
    };
    if let Some(g) = line.gateway {
        return match refused(g, RouterSource::Configured) {
            Some(r) => (None, Some(r)),
            None => (Some(g), None),
        };
    }
    let mut problem = None;
    if let Some(lease) = line.dhcp.filter(|l| l.address == a.addr) {
        match refused(lease.router, RouterSource::Lease) {
            None => return (Some(lease.router), None),
            Some(r) => problem = Some(r),
        }
    }
    let kernels = st
        .default_routes
        .iter()
        .filter(|r| r.oif == Some(link.index))
        .filter_map(|r| r.gateway)
        .chain(st.nexthops.iter().filter(|n| n.id == line.table && n.oif == Some(link.index)).filter_map(|n| n.gateway))
        .chain(
            st.routes
                .iter()
                .filter(|r| r.table == line.table && r.is_default() && r.oif == Some(link.index))
                .filter_map(|r| r.gateway),
        );
    let mut kernels = kernels.filter(|g| router_refused(*g, &line.device, a, &st.routes).is_none());
    (kernels.next(), problem)
}

/// Each configured line as the kernel has it, if it is up with an IPv4 address; the others
/// with why not, for the notes.
pub(crate) fn lines_now(lines: &[Line], st: &State) -> (Vec<LineNow>, Vec<String>) {
    let mut now = Vec::new();
    let mut notes = Vec::new();
    for l in lines {
        let Some(link) = st.link(&l.device) else {
            notes.push(format!("{}: no such interface", l.device));
            continue;
        };
        if link.flags & IFF_UP == 0 {
            notes.push(format!("{} is down", l.device));
            continue;
        }
        let Some(a) = st.addresses_of(link.index).next() else {
            notes.push(format!("{} has no IPv4 address (yet)", l.device));
            continue;
        };
        let pointopoint = link.flags & IFF_POINTOPOINT != 0 || a.peer.is_some();
        // A point-to-point line is routed by the device: whatever router it was given is unused.
        let (gateway, refused) = if pointopoint { (None, None) } else { gateway_of(l, link, a, st) };
        now.push(LineNow {
            device: l.device.clone(),
            index: link.index,
            addr: a.addr,
            prefix_len: a.prefix_len,
            peer: a.peer,
            gateway,
            refused,
            pointopoint,
            carrier: link.flags & IFF_LOWER_UP != 0,
            weight: l.weight,
            table: l.table,
        });
    }
    (now, notes)
}

/// The objects of one line's own table: its subnet (or its peer) with `src`, and its default
/// route.
fn table_routes(l: &LineNow) -> Vec<TableRoute> {
    let mut out = Vec::new();
    // The kernel's connected route, copied: the subnet, or the peer's prefix of a
    // point-to-point address (`peer 198.51.100.9/32`); a lone /32 without a peer has none.
    let connected = match l.peer {
        Some(p) => Some(p),
        None if l.prefix_len < 32 => Some(l.addr),
        None => None,
    };
    if let Some(base) = connected {
        out.push(TableRoute {
            table: l.table,
            dst: network(base, l.prefix_len),
            dst_len: l.prefix_len,
            oif: Some(l.index),
            prefsrc: Some(l.addr),
            scope_link: true,
            protocol: RTPROT_TEQLCTL,
            ..TableRoute::default()
        });
    }
    if let Some(route) = default_via(l, l.table) {
        out.push(route);
    }
    out
}

/// `default via GW dev L` (or `default dev L src ADDR` on a point-to-point line, where no
/// connected subnet names the source) in `table`; None when an Ethernet-like line has no known
/// gateway.
fn default_via(l: &LineNow, table: u32) -> Option<TableRoute> {
    let (gateway, prefsrc) = if l.pointopoint { (None, Some(l.addr)) } else { (Some(l.gateway?), None) };
    Some(TableRoute { table, gateway, oif: Some(l.index), prefsrc, protocol: RTPROT_TEQLCTL, ..TableRoute::default() })
}

fn hop(l: &LineNow) -> Option<Nexthop> {
    let gateway = if l.pointopoint { None } else { Some(l.gateway?) };
    Some(Nexthop { id: l.table, gateway, oif: Some(l.index), protocol: RTPROT_TEQLCTL, ..Nexthop::default() })
}

/// Whether the kernel's route is the one we want (the kernel fills in fields we leave unset,
/// such as the connected route's scope, so compare what we set).
fn same_route(have: &TableRoute, want: &TableRoute) -> bool {
    have.same_key(want)
        && have.gateway == want.gateway
        && have.oif == want.oif
        && have.prefsrc == want.prefsrc
        && have.nhid == want.nhid
        && have.multipath == want.multipath
        && have.protocol == want.protocol
}

fn same_nexthop(have: &Nexthop, want: &Nexthop) -> bool {
    have.id == want.id
        && have.gateway == want.gateway
        && have.oif == want.oif
        && have.group == want.group
        && have.resilient == want.resilient
}

struct Builder<'a> {
    bundle: &'a Bundle,
    st: &'a State,
    out: MpPlan,
}

impl Builder<'_> {
    fn name_of(&self) -> impl Fn(u32) -> String + '_ {
        |i| self.st.link_by_index(i).map(|l| l.name.clone()).unwrap_or_else(|| format!("if{i}"))
    }

    fn shown_route(&self, r: &TableRoute) -> String {
        Named { item: r, name_of: &self.name_of() }.to_string()
    }

    fn shown_rule(&self, r: &Rule) -> String {
        Named { item: r, name_of: &self.name_of() }.to_string()
    }

    fn shown_nh(&self, n: &Nexthop) -> String {
        Named { item: n, name_of: &self.name_of() }.to_string()
    }

    fn ensure_route(&mut self, want: TableRoute) {
        let previous = self.st.routes.iter().find(|r| r.same_key(&want)).cloned();
        if previous.as_ref().is_some_and(|p| same_route(p, &want)) {
            return;
        }
        let shown = self.shown_route(&want);
        self.out.actions.push(Action::ReplaceRoute { bundle: self.bundle.name.clone(), route: want, previous, shown });
    }

    fn remove_route(&mut self, r: &TableRoute) {
        let shown = self.shown_route(r);
        self.out.actions.push(Action::DelRoute { bundle: self.bundle.name.clone(), route: r.clone(), shown });
    }

    fn ensure_nexthop(&mut self, want: Nexthop) {
        let previous = self.st.nexthops.iter().find(|n| n.id == want.id).cloned();
        if previous.as_ref().is_some_and(|p| same_nexthop(p, &want)) {
            return;
        }
        let shown = self.shown_nh(&want);
        self.out.actions.push(Action::ReplaceNexthop { bundle: self.bundle.name.clone(), nh: want, previous, shown });
    }

    fn remove_nexthop(&mut self, id: u32) {
        if let Some(n) = self.st.nexthops.iter().find(|n| n.id == id && n.protocol == RTPROT_TEQLCTL) {
            let shown = self.shown_nh(n);
            self.out.actions.push(Action::DelNexthop { bundle: self.bundle.name.clone(), nh: n.clone(), shown });
        }
    }
}

/// Whether the line with ifindex `index` and table `table` carries new flows of `bundle` now:
/// a member of its nexthop group, or a hop of the plain multipath route of ours.
pub(crate) fn in_bundle(st: &State, bundle: &str, index: u32, table: u32) -> bool {
    let gid = group_id(bundle);
    st.nexthops.iter().any(|n| n.id == gid && n.group.iter().any(|(id, _)| *id == table))
        || st.routes.iter().any(|r| {
            r.table == MAIN_TABLE
                && r.is_default()
                && r.protocol == RTPROT_TEQLCTL
                && r.multipath.iter().any(|(_, oif, _)| *oif == index)
        })
}

/// The rule that takes a connection line's marked packets to its table.
pub(crate) fn fwmark_rule(table: u32) -> Rule {
    Rule {
        priority: crate::plan::connection::FWMARK_PRIORITY,
        src: None,
        fwmark: Some((crate::plan::connection::mark_of(table), u32::MAX)),
        table,
    }
}

/// Our default route of the main table (protocol teqlctl, the bundle's metric).
fn our_default(st: &State, metric: u32) -> Option<&TableRoute> {
    st.routes
        .iter()
        .find(|r| r.table == MAIN_TABLE && r.is_default() && r.metric == metric && r.protocol == RTPROT_TEQLCTL)
}

/// The bundle's local source if the default route can have it now, else None and why. The
/// kernel refuses a route whose `src` the box does not have (`Invalid prefsrc address`), so a
/// missing address drops `src` rather than the route; a line's address would tell nothing
/// apart (a socket bound to that line looks the same).
fn usable_local_source(b: &Bundle, now: &[LineNow], st: &State) -> (Option<Ipv4Addr>, Option<String>) {
    let Some(x) = b.local_source else { return (None, None) };
    let why = if let Some(l) = now.iter().find(|l| l.addr == x) {
        format!("it is the address of line {}", l.device)
    } else if !st.addresses.iter().any(|a| a.addr == x) {
        "the box does not have that address now".to_string()
    } else {
        return (Some(x), None);
    };
    (
        None,
        Some(format!(
            "{}: local source {x} ({}): {why}; the default route goes without it, and the box's \
             own connections to one destination leave by one line until it can have it",
            b.name,
            crate::config::bundle_key_words(b.source.as_deref(), crate::config::Key::LocalSource)
        )),
    )
}

/// Plans bundle `b` with its configured `lines` against the kernel state `st`.
pub fn plan(b: &Bundle, lines: &[Line], req: &Request, st: &State) -> MpPlan {
    let mut bd = Builder { bundle: b, st, out: MpPlan::default() };
    let (now, notes) = lines_now(lines, st);
    bd.out.notes.extend(notes);
    // Lines whose changes the kernel refused in this run are left exactly as they are (nothing
    // of theirs is added or removed, so the refused change is not tried again) and out of the
    // group.
    let staying: Vec<&LineNow> = if req.bundle_up {
        now.iter()
            .filter(|l| !req.leaving.contains(l.device.as_str()) && !req.refused.contains(l.device.as_str()))
            .collect()
    } else {
        Vec::new()
    };

    // Who is in the group: lines with a carrier and a way out, minus the dead ones, but never
    // all of them for being dead (the last live lines stay, as in a TEQL bundle).
    let usable: Vec<&LineNow> =
        staying.iter().copied().filter(|l| l.carrier && (l.pointopoint || l.gateway.is_some())).collect();
    for l in &staying {
        match (&l.refused, l.gateway) {
            (Some(r), Some(g)) => {
                bd.out.warnings.push(format!(
                    "{} ({}); it keeps its last good gateway {g}",
                    r.describe(&l.device, &b.name),
                    r.why
                ));
                bd.out.problems.push(l.device.to_string());
            }
            (Some(r), None) => {
                let fix = match r.source {
                    RouterSource::Configured => "correct the line's gateway in its configuration",
                    RouterSource::Lease => "it joins again with a lease whose router is on its subnet",
                };
                bd.out.warnings.push(format!(
                    "{} ({}); it is left out of {} ({fix})",
                    r.describe(&l.device, &b.name),
                    r.why,
                    b.name
                ));
                bd.out.problems.push(l.device.to_string());
            }
            (None, None) if !l.pointopoint => bd.out.warnings.push(format!(
                "{}: no gateway known ({}, or wait for its DHCP lease): it is left out of {}",
                l.device,
                lines.iter().find(|c| c.device == l.device).map_or("set its gateway", |c| c.gateway_hint),
                b.name
            )),
            _ => {}
        }
    }
    // Never the last line (plan::last_line): when every usable line is recorded dead, they all
    // stay, in the configuration's order (no record says one is better).
    let (members, all_dead) = crate::plan::last_line::staying(
        usable.clone(),
        |l| req.dead.contains(l.device.as_str()),
        crate::plan::last_line::Keep::All,
        |_| (),
    );
    if all_dead {
        bd.out.warnings.push(format!(
            "every line of {} looks dead; keeping {} in its default route: taking out the last line \
             would leave the box without one",
            b.name,
            members.iter().map(|l| l.device.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    bd.out.members = members.iter().map(|l| l.device.to_string()).collect();

    // 1. The hash policy, then each staying line's table and rule.
    if let (true, Some(want)) = (req.bundle_up && !members.is_empty(), b.hash.setting(st.hash_fields.is_some())) {
        let fields_differ = want.fields.is_some() && st.hash_fields != want.fields;
        if st.hash_policy != Some(want.policy) || fields_differ {
            bd.out.actions.push(Action::SetHashPolicy {
                bundle: b.name.clone(),
                value: want.policy,
                fields: want.fields,
                previous: st.hash_policy,
                previous_fields: if want.fields.is_some() { st.hash_fields } else { None },
            });
        }
    }
    for l in &staying {
        let want_rp =
            lines.iter().find(|c| c.device == l.device).and_then(|c| c.rp_filter).and_then(|r| r.sysctl_value());
        if let Some(value) = want_rp {
            let previous = st.rp_filter.get(l.device.as_str()).copied();
            if previous != Some(value) {
                bd.out.actions.push(Action::SetRpFilter { iface: l.device.clone(), value, previous });
            }
        }
        for r in table_routes(l) {
            bd.ensure_route(r);
        }
        let want = Rule { priority: RULE_PRIORITY, src: Some((l.addr, 32)), fwmark: None, table: l.table };
        if !st.rules.contains(&want) {
            let shown = bd.shown_rule(&want);
            bd.out.actions.push(Action::AddRule { bundle: b.name.clone(), rule: want, shown });
        }
        if b.fwmark {
            let want = fwmark_rule(l.table);
            if !st.rules.contains(&want) {
                let shown = bd.shown_rule(&want);
                bd.out.actions.push(Action::AddRule { bundle: b.name.clone(), rule: want, shown });
            }
        }
    }

    // 2. Nexthops and the group, then the default route that uses them.
    let gid = group_id(&b.name);
    let mut want_default = None;
    if req.resilient {
        for l in &usable {
            if let Some(n) = hop(l) {
                bd.ensure_nexthop(n);
            }
        }
        if !members.is_empty() {
            let group = Nexthop {
                id: gid,
                group: members.iter().map(|l| (l.table, l.weight)).collect(),
                resilient: Some(BUCKETS),
                protocol: RTPROT_TEQLCTL,
                ..Nexthop::default()
            };
            bd.ensure_nexthop(group);
            want_default = Some(TableRoute {
                table: MAIN_TABLE,
                nhid: Some(gid),
                metric: b.metric,
                protocol: RTPROT_TEQLCTL,
                ..TableRoute::default()
            });
        }
    } else if !members.is_empty() {
        want_default = Some(TableRoute {
            table: MAIN_TABLE,
            multipath: members
                .iter()
                .map(|l| (if l.pointopoint { None } else { l.gateway }, l.index, l.weight))
                .collect(),
            metric: b.metric,
            protocol: RTPROT_TEQLCTL,
            ..TableRoute::default()
        });
    }
    let want_default = want_default.filter(|_| b.defroute).map(|mut d| {
        let (src, why) = usable_local_source(b, &now, st);
        bd.out.warnings.extend(why);
        bd.out.local_source = src;
        d.prefsrc = src;
        d
    });
    if let Some(d) = want_default.clone() {
        bd.ensure_route(d);
    }

    // 3. Removals, in the reverse order of the dependencies: the default route of ours that
    // is not wanted, the group, single hops no longer usable, then rules and table routes of
    // lines that do not stay.
    if want_default.is_none() {
        if let Some(d) = our_default(st, b.metric) {
            bd.remove_route(&d.clone());
        }
    }
    if members.is_empty() || !req.resilient {
        bd.remove_nexthop(gid);
    }
    for l in lines.iter().filter(|l| !req.refused.contains(l.device.as_str())) {
        let keeps_hop = req.resilient && usable.iter().any(|u| u.table == l.table);
        if !keeps_hop {
            bd.remove_nexthop(l.table);
        }
        let stay = staying.iter().find(|s| s.device == l.device);
        let wanted_fwmark = (stay.is_some() && b.fwmark).then(|| fwmark_rule(l.table));
        let stale_rules: Vec<Rule> = st
            .rules
            .iter()
            .filter(|r| {
                let stale_from = r.priority == RULE_PRIORITY
                    && r.fwmark.is_none()
                    && stay.is_none_or(|s| r.src != Some((s.addr, 32)));
                let stale_fwmark =
                    r.priority == crate::plan::connection::FWMARK_PRIORITY && Some(*r) != wanted_fwmark.as_ref();
                r.table == l.table && (stale_from || stale_fwmark)
            })
            .cloned()
            .collect();
        for r in stale_rules {
            let shown = bd.shown_rule(&r);
            bd.out.actions.push(Action::DelRule { bundle: b.name.clone(), rule: r, shown });
        }
        let wanted: Vec<TableRoute> = stay.map(|s| table_routes(s)).unwrap_or_default();
        let stale_routes: Vec<TableRoute> = st
            .routes
            .iter()
            .filter(|r| r.table == l.table && r.protocol == RTPROT_TEQLCTL && !wanted.iter().any(|w| w.same_key(r)))
            .cloned()
            .collect();
        for r in stale_routes {
            bd.remove_route(&r);
        }
    }
    bd.out.now = now;
    bd.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::{Address, Route, IFF_BROADCAST, IFF_RUNNING};

    const UP: u32 = IFF_UP | IFF_RUNNING | IFF_LOWER_UP | IFF_BROADCAST;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn bundle() -> Bundle {
        Bundle {
            name: "wan".into(),
            hash: HashPolicy::L4,
            defroute: true,
            metric: 0,
            fwmark: false,
            local_source: None,
            source: Some("/etc/sysconfig/network-scripts/ifcfg-wan".into()),
        }
    }

    /// The office: eth1..eth3 to three ISPs, weights 2:1:1.
    fn lines() -> Vec<Line> {
        vec![
            Line {
                device: "eth1".into(),
                weight: 2,
                gateway: Some(ip("198.51.100.9")),
                dhcp: None,
                table: 4201,
                rp_filter: None,
                gateway_hint: "set GATEWAY or TEQL_GATEWAY in its ifcfg file",
            },
            Line {
                device: "eth2".into(),
                weight: 1,
                gateway: Some(ip("192.0.2.1")),
                dhcp: None,
                table: 4202,
                rp_filter: None,
                gateway_hint: "set GATEWAY or TEQL_GATEWAY in its ifcfg file",
            },
            Line {
                device: "eth3".into(),
                weight: 1,
                gateway: None,
                dhcp: None,
                table: 4203,
                rp_filter: None,
                gateway_hint: "set GATEWAY or TEQL_GATEWAY in its ifcfg file",
            },
        ]
    }

    fn office() -> State {
        let mut s = State::default();
        for (i, name, addr, len) in
            [(11, "eth1", "198.51.100.10", 29), (12, "eth2", "192.0.2.10", 24), (13, "eth3", "203.0.113.10", 24)]
        {
            s.links.push(Link { index: i, name: name.into(), flags: UP, mtu: 1500, ..Link::default() });
            s.addresses.push(Address { ifindex: i, addr: ip(addr), prefix_len: len, peer: None });
        }
        // eth3 has a DHCP lease: its client installed a default route through it.
        s.default_routes.push(Route {
            gateway: Some(ip("203.0.113.1")),
            oif: Some(13),
            metric: 100,
            onlink: false,
            multipath: false,
            raw: Default::default(),
        });
        s.hash_policy = Some(0);
        s
    }

    fn up() -> Request {
        Request { bundle_up: true, resilient: true, ..Request::default() }
    }

    fn shell(p: &MpPlan) -> Vec<String> {
        p.actions.iter().map(ToString::to_string).collect()
    }

    /// The state after `p` ran, as far as multipath objects go.
    fn after(mut s: State, p: &MpPlan) -> State {
        for a in &p.actions {
            match a {
                Action::AddRule { rule, .. } => s.rules.push(rule.clone()),
                Action::DelRule { rule, .. } => s.rules.retain(|r| r != rule),
                Action::ReplaceRoute { route, .. } => {
                    s.routes.retain(|r| !r.same_key(route));
                    s.routes.push(route.clone());
                }
                Action::DelRoute { route, .. } => s.routes.retain(|r| !r.same_key(route)),
                Action::ReplaceNexthop { nh, .. } => {
                    s.nexthops.retain(|n| n.id != nh.id);
                    s.nexthops.push(nh.clone());
                }
                Action::DelNexthop { nh, .. } => s.nexthops.retain(|n| n.id != nh.id),
                Action::SetHashPolicy { value, fields, .. } => {
                    s.hash_policy = Some(*value);
                    s.hash_fields = fields.or(s.hash_fields);
                }
                _ => {}
            }
        }
        s
    }

    #[test]
    fn bundle_up_builds_split_access_and_a_weighted_resilient_group() {
        let p = plan(&bundle(), &lines(), &up(), &office());
        let g = group_id("wan");
        assert_eq!(
            shell(&p),
            [
                "sysctl -w net.ipv4.fib_multipath_hash_policy=1".to_string(),
                "ip route replace 198.51.100.8/29 dev eth1 src 198.51.100.10 scope link proto 200 table 4201".into(),
                "ip route replace default via 198.51.100.9 dev eth1 proto 200 table 4201".into(),
                "ip rule add priority 30100 from 198.51.100.10/32 lookup 4201".into(),
                "ip route replace 192.0.2.0/24 dev eth2 src 192.0.2.10 scope link proto 200 table 4202".into(),
                "ip route replace default via 192.0.2.1 dev eth2 proto 200 table 4202".into(),
                "ip rule add priority 30100 from 192.0.2.10/32 lookup 4202".into(),
                "ip route replace 203.0.113.0/24 dev eth3 src 203.0.113.10 scope link proto 200 table 4203".into(),
                "ip route replace default via 203.0.113.1 dev eth3 proto 200 table 4203".into(),
                "ip rule add priority 30100 from 203.0.113.10/32 lookup 4203".into(),
                "ip nexthop replace id 4201 via 198.51.100.9 dev eth1 proto 200".into(),
                "ip nexthop replace id 4202 via 192.0.2.1 dev eth2 proto 200".into(),
                "ip nexthop replace id 4203 via 203.0.113.1 dev eth3 proto 200".into(),
                format!("ip nexthop replace id {g} group 4201,2/4202,1/4203,1 type resilient buckets 128 proto 200"),
                format!("ip route replace default nhid {g} proto 200 table main"),
            ]
        );
        assert_eq!(p.members, ["eth1", "eth2", "eth3"]);
        // A second run changes nothing.
        let s = after(office(), &p);
        assert!(plan(&bundle(), &lines(), &up(), &s).actions.is_empty());
    }

    /// Issue 26, point 14: a connection bundle's local source is the default route's `src`
    /// while the box has it on no line; gone (or a line's), the route stays, without `src`.
    #[test]
    fn the_local_source_is_the_default_route_s_src_while_the_box_has_it() {
        let g = group_id("wan");
        let b = Bundle { fwmark: true, local_source: Some(ip("198.18.0.1")), ..bundle() };
        let mut lan = office();
        lan.links.push(Link { index: 20, name: "lan0".into(), flags: UP, mtu: 1500, ..Link::default() });
        lan.addresses.push(Address { ifindex: 20, addr: ip("198.18.0.1"), prefix_len: 24, peer: None });
        let p = plan(&b, &lines(), &up(), &lan);
        assert!(
            p.actions
                .last()
                .is_some_and(|a| a.to_string()
                    == format!("ip route replace default nhid {g} src 198.18.0.1 proto 200 table main")),
            "{:?}",
            shell(&p)
        );
        assert_eq!((p.local_source, p.warnings.len()), (Some(ip("198.18.0.1")), 0), "{:?}", p.warnings);
        let s = after(lan.clone(), &p);
        assert!(plan(&b, &lines(), &up(), &s).actions.is_empty());
        // The address gone (the kernel then deletes every route with that `src`; here the
        // route is still there): the route is replaced without it, and a warning says why.
        let mut gone = s.clone();
        gone.addresses.retain(|a| a.ifindex != 20);
        let p = plan(&b, &lines(), &up(), &gone);
        assert_eq!(shell(&p), [format!("ip route replace default nhid {g} proto 200 table main")]);
        assert_eq!(p.local_source, None);
        assert!(
            p.warnings.iter().any(|w| w.contains("local source 198.18.0.1 (TEQL_LOCAL_SOURCE): the box does not have")),
            "{:?}",
            p.warnings
        );
        // In the words of the stack that configures the bundle (issue 28, point 10).
        for (source, key) in [
            (Some("/etc/network/interfaces"), "teql-local-source"),
            (Some("/etc/teqlctl/bundles/wan.conf"), "teqlctl.local-source"),
            (None, "TEQL_LOCAL_SOURCE / teql-local-source / teqlctl.local-source"),
        ] {
            let b = Bundle { source: source.map(Into::into), ..b.clone() };
            let p = plan(&b, &lines(), &up(), &gone);
            let want = format!("local source 198.18.0.1 ({key}): the box does not have");
            assert!(p.warnings.iter().any(|w| w.contains(&want)), "{want}: {:?}", p.warnings);
        }
        // A line's address tells no bound socket apart: never the `src`.
        let on_line = Bundle { local_source: Some(ip("192.0.2.10")), ..b.clone() };
        let p = plan(&on_line, &lines(), &up(), &s);
        assert_eq!(shell(&p), [format!("ip route replace default nhid {g} proto 200 table main")]);
        assert!(p.warnings.iter().any(|w| w.contains("it is the address of line eth2")), "{:?}", p.warnings);
        // Without resilient groups, the plain multipath route has it too.
        let old = Request { resilient: false, ..up() };
        let p = plan(&b, &lines(), &old, &lan);
        assert!(
            shell(&p)
                .iter()
                .any(|c| c.starts_with("ip route replace default nexthop") && c.contains(" src 198.18.0.1 ")),
            "{:?}",
            shell(&p)
        );
    }

    #[test]
    fn a_dead_line_leaves_the_group_only_and_never_the_last() {
        let s = after(office(), &plan(&bundle(), &lines(), &up(), &office()));
        let g = group_id("wan");
        let dead = Request { dead: ["eth2".to_string()].into(), ..up() };
        let p = plan(&bundle(), &lines(), &dead, &s);
        // One change: the group without eth2; eth2's table, rule and nexthop stay.
        assert_eq!(
            shell(&p),
            [format!("ip nexthop replace id {g} group 4201,2/4203,1 type resilient buckets 128 proto 200")]
        );
        let all = Request { dead: ["eth1", "eth2", "eth3"].iter().map(|s| s.to_string()).collect(), ..up() };
        let p = plan(&bundle(), &lines(), &all, &s);
        assert!(p.actions.is_empty(), "{:?}", shell(&p));
        assert!(p.warnings.iter().any(|w| w.contains("every line of wan looks dead")));
    }

    #[test]
    fn a_leaving_line_takes_its_table_rule_and_hop_and_the_bundle_down_takes_everything() {
        let s = after(office(), &plan(&bundle(), &lines(), &up(), &office()));
        let g = group_id("wan");
        let leaving = Request { leaving: ["eth3".to_string()].into(), ..up() };
        assert_eq!(
            shell(&plan(&bundle(), &lines(), &leaving, &s)),
            [
                format!("ip nexthop replace id {g} group 4201,2/4202,1 type resilient buckets 128 proto 200"),
                "ip nexthop del id 4203".to_string(),
                "ip rule del priority 30100 from 203.0.113.10/32 lookup 4203".into(),
                "ip route del 203.0.113.0/24 dev eth3 src 203.0.113.10 scope link proto 200 table 4203".into(),
                "ip route del default via 203.0.113.1 dev eth3 proto 200 table 4203".into(),
            ]
        );
        let down = Request { bundle_up: false, resilient: true, ..Request::default() };
        let p = plan(&bundle(), &lines(), &down, &s);
        let cmds = shell(&p);
        assert_eq!(cmds[0], format!("ip route del default nhid {g} proto 200 table main"));
        assert_eq!(cmds[1], format!("ip nexthop del id {g}"));
        let gone = after(s.clone(), &p);
        assert!(gone.rules.is_empty() && gone.nexthops.is_empty() && gone.routes.is_empty(), "{cmds:?}");
        // The admin's own objects are never touched: a rule at our priority for another
        // table, a route of another protocol in our table.
        let mut admin = s;
        admin.rules.push(Rule { priority: RULE_PRIORITY, src: Some((ip("192.0.2.99"), 32)), fwmark: None, table: 100 });
        admin.routes.push(TableRoute {
            table: 4201,
            dst: ip("192.0.2.0"),
            dst_len: 25,
            oif: Some(11),
            protocol: 4,
            ..TableRoute::default()
        });
        let p = plan(&bundle(), &lines(), &down, &admin);
        let gone = after(admin, &p);
        assert_eq!(gone.rules.len(), 1);
        assert_eq!(gone.routes.len(), 1);
    }

    #[test]
    fn l4_is_the_custom_5_tuple_hash_where_the_kernel_has_it_and_rolls_back_both_sysctls() {
        let mut s = office();
        s.hash_fields = Some(0x0007);
        let p = plan(&bundle(), &lines(), &up(), &s);
        assert_eq!(
            shell(&p)[0],
            "sysctl -w net.ipv4.fib_multipath_hash_fields=0x0037 net.ipv4.fib_multipath_hash_policy=3"
        );
        assert!(p.actions.iter().any(|a| matches!(
            a,
            Action::SetHashPolicy { value: 3, fields: Some(0x37), previous: Some(0), previous_fields: Some(0x07), .. }
        )));
        // Once set, nothing more to do.
        assert!(shell(&plan(&bundle(), &lines(), &up(), &after(s.clone(), &p))).is_empty());
        // Policy 3 with other fields is set again.
        let mut other = after(s, &p);
        other.hash_fields = Some(0x0003);
        assert!(shell(&plan(&bundle(), &lines(), &up(), &other))[0]
            .starts_with("sysctl -w net.ipv4.fib_multipath_hash_fields=0x0037"));
        // l3 leaves the fields alone; keep leaves both.
        let l3 = Bundle { hash: HashPolicy::L3, ..bundle() };
        assert_eq!(shell(&plan(&l3, &lines(), &up(), &other))[0], "sysctl -w net.ipv4.fib_multipath_hash_policy=0");
        let keep = Bundle { hash: HashPolicy::Keep, ..bundle() };
        assert!(!shell(&plan(&keep, &lines(), &up(), &other)).iter().any(|a| a.starts_with("sysctl")));
    }

    #[test]
    fn older_kernels_get_a_plain_multipath_route_and_point_to_point_lines_need_no_gateway() {
        let mut s = office();
        s.links.push(Link {
            index: 14,
            name: "ppp0".into(),
            flags: UP | IFF_POINTOPOINT,
            mtu: 1492,
            ..Link::default()
        });
        s.addresses.push(Address { ifindex: 14, addr: ip("198.18.0.2"), prefix_len: 32, peer: None });
        let mut ls = lines();
        ls.truncate(1);
        ls.push(Line { device: "ppp0".into(), table: 4204, ..lines()[2].clone() });
        let old = Request { bundle_up: true, resilient: false, ..Request::default() };
        let cmds = shell(&plan(&bundle(), &ls, &old, &s));
        assert!(
            cmds.contains(&"ip route replace default dev ppp0 src 198.18.0.2 proto 200 table 4204".to_string()),
            "{cmds:?}"
        );
        assert!(!cmds.iter().any(|c| c.contains("nexthop replace")), "{cmds:?}");
        assert_eq!(
            cmds.last().unwrap(),
            "ip route replace default nexthop via 198.51.100.9 dev eth1 weight 2 nexthop dev ppp0 weight 1 proto 200 table main"
        );
    }

    #[test]
    fn a_line_without_a_gateway_or_carrier_stays_out_of_the_group() {
        let mut s = office();
        s.default_routes.clear();
        if let Some(l) = s.links.iter_mut().find(|l| l.name == "eth1") {
            l.flags &= !IFF_LOWER_UP;
        }
        let p = plan(&bundle(), &lines(), &up(), &s);
        assert_eq!(p.members, ["eth2"]);
        assert!(p.warnings.iter().any(|w| w.starts_with("eth3: no gateway known")));
        // The warning names the keys of the stack the line is configured in, not RedHat's.
        let mut ls = lines();
        ls[2].gateway_hint = "set teql-gateway in its stanza";
        let p = plan(&bundle(), &ls, &up(), &s);
        let w = p.warnings.iter().find(|w| w.starts_with("eth3: no gateway known")).unwrap();
        assert!(w.contains("set teql-gateway in its stanza") && !w.contains("TEQL_GATEWAY"), "{w}");
        // eth1 keeps its table and rule (replies from its address), just no traffic share.
        assert!(shell(&p).iter().any(|c| c == "ip rule add priority 30100 from 198.51.100.10/32 lookup 4201"));
    }

    #[test]
    fn rp_filter_is_the_admins_unless_the_line_sets_it() {
        let mut s = office();
        s.rp_filter.insert("eth1".into(), 1);
        s.rp_filter.insert("eth2".into(), 1);
        let mut ls = lines();
        ls[1].rp_filter = Some(crate::config::RpFilter::Loose);
        let cmds = shell(&plan(&bundle(), &ls, &up(), &s));
        assert!(cmds.contains(&"sysctl -w net.ipv4.conf.eth2.rp_filter=2".to_string()), "{cmds:?}");
        assert!(!cmds.iter().any(|c| c.contains("eth1.rp_filter") || c.contains("eth3.rp_filter")), "{cmds:?}");
    }

    #[test]
    fn the_gateway_is_the_configured_one_then_the_dhcp_lease_then_the_kernels() {
        let lease = |a: &str, r: &str| Some(Lease { address: ip(a), router: ip(r) });
        let mut s = office();
        // Ours from an earlier run: eth3's nexthop via its old router.
        s.nexthops.push(Nexthop { id: 4203, gateway: Some(ip("203.0.113.7")), oif: Some(13), ..Nexthop::default() });
        let gw = |ls: &[Line], s: &State| {
            let (now, _) = lines_now(ls, s);
            now.iter().map(|l| l.gateway.map(|g| g.to_string()).unwrap_or_default()).collect::<Vec<_>>()
        };
        let mut ls = lines();
        // Configured (eth1, eth2) wins over a lease; eth3 has none: the DHCP client's route.
        ls[0].dhcp = lease("198.51.100.10", "198.51.100.14");
        assert_eq!(gw(&ls, &s), ["198.51.100.9", "192.0.2.1", "203.0.113.1"]);
        // The lease of eth3's address wins over the kernel's routes.
        ls[2].dhcp = lease("203.0.113.10", "203.0.113.254");
        assert_eq!(gw(&ls, &s)[2], "203.0.113.254");
        // A lease of another address is stale: the kernel's guess again.
        ls[2].dhcp = lease("203.0.113.99", "203.0.113.254");
        assert_eq!(gw(&ls, &s)[2], "203.0.113.1");
        // Without the client's default route (ours replaced it): our nexthop from before.
        s.default_routes.clear();
        assert_eq!(gw(&ls, &s)[2], "203.0.113.7");
        ls[2].dhcp = None;
        assert_eq!(gw(&ls, &s)[2], "203.0.113.7");
        s.nexthops.clear();
        assert_eq!(gw(&ls, &s)[2], "");
        // A renewed lease with a new router moves the line's table and its nexthop, and only
        // those: the group keeps its members and weights.
        let s = after(office(), &plan(&bundle(), &lines(), &up(), &office()));
        let mut ls = lines();
        ls[2].dhcp = lease("203.0.113.10", "203.0.113.254");
        let p = plan(&bundle(), &ls, &up(), &s);
        assert_eq!(
            shell(&p),
            [
                "ip route replace default via 203.0.113.254 dev eth3 proto 200 table 4203".to_string(),
                "ip nexthop replace id 4203 via 203.0.113.254 dev eth3 proto 200".into(),
            ]
        );
        assert_eq!(p.members, ["eth1", "eth2", "eth3"]);
    }

    #[test]
    fn an_address_with_a_peer_on_an_ethernet_line_is_routed_by_the_device() {
        // `ip addr add 203.0.113.10/32 peer 203.0.113.1/32 dev eth3` on a veth: no
        // IFF_POINTOPOINT, no gateway, no connected subnet of its own.
        let mut s = office();
        s.default_routes.clear();
        s.addresses.retain(|a| a.ifindex != 13);
        s.addresses.push(Address {
            ifindex: 13,
            addr: ip("203.0.113.10"),
            prefix_len: 32,
            peer: Some(ip("203.0.113.1")),
        });
        let p = plan(&bundle(), &lines(), &up(), &s);
        let cmds = shell(&p);
        let g = group_id("wan");
        for c in [
            "ip route replace 203.0.113.1/32 dev eth3 src 203.0.113.10 scope link proto 200 table 4203",
            "ip route replace default dev eth3 src 203.0.113.10 proto 200 table 4203",
            "ip rule add priority 30100 from 203.0.113.10/32 lookup 4203",
            "ip nexthop replace id 4203 dev eth3 proto 200",
        ] {
            assert!(cmds.contains(&c.to_string()), "{c} not in {cmds:?}");
        }
        assert!(cmds.contains(&format!(
            "ip nexthop replace id {g} group 4201,2/4202,1/4203,1 type resilient buckets 128 proto 200"
        )));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(plan(&bundle(), &lines(), &up(), &after(s, &p)).actions.is_empty());
    }

    #[test]
    fn default_tables_are_stable_and_in_range() {
        assert_eq!(default_table("eth1"), default_table("eth1"));
        assert_ne!(default_table("eth1"), default_table("eth2"));
        for n in ["eth0", "ppp0", "wwan0", "enp3s0f1"] {
            assert!((TABLE_BASE..TABLE_BASE + TABLE_SPAN).contains(&default_table(n)));
        }
        assert!((GROUP_BASE..GROUP_BASE + TABLE_SPAN).contains(&group_id("wan")));
        assert_eq!(HashPolicy::parse("L4"), Some(HashPolicy::L4));
        assert_eq!(HashPolicy::parse("l5"), None);
    }

    #[test]
    fn routers_the_kernel_refuses_are_named_and_on_link_ones_taken() {
        let eth1 = Address { ifindex: 11, addr: ip("198.51.100.10"), prefix_len: 29, peer: None };
        let refused = |r: &str| router_refused(ip(r), "eth1", &eth1, &[]);
        for (r, why) in [
            ("0.0.0.0", "names no router"),
            ("255.255.255.255", "broadcast address"),
            ("224.0.0.1", "multicast"),
            ("127.0.0.1", "loopback"),
            ("198.51.100.10", "line's own address"),
            ("198.51.100.8", "network address of eth1's subnet 198.51.100.8/29"),
            ("198.51.100.15", "broadcast address of eth1's subnet 198.51.100.8/29"),
            ("10.9.9.9", "not on eth1's subnet 198.51.100.8/29"),
            ("198.51.100.16", "not on eth1's subnet"),
        ] {
            let got = refused(r).unwrap_or_else(|| panic!("{r} taken"));
            assert!(got.contains(why), "{r}: {got}");
        }
        for r in ["198.51.100.9", "198.51.100.14"] {
            assert_eq!(refused(r), None, "{r}");
        }
        // A /31 has no network or broadcast address: the other end is the router.
        let p2p = Address { ifindex: 11, addr: ip("198.51.100.10"), prefix_len: 31, peer: None };
        assert_eq!(router_refused(ip("198.51.100.11"), "eth1", &p2p, &[]), None);
        // The peer of an address with one.
        let peer = Address { ifindex: 11, addr: ip("198.51.100.10"), prefix_len: 32, peer: Some(ip("198.18.0.1")) };
        assert_eq!(router_refused(ip("198.18.0.1"), "eth1", &peer, &[]), None);
        // A router outside a /32 lease is on the link when a link-scope route through the line
        // says so (a DHCP client adds one), and not through another line or via a gateway.
        let lone = Address { ifindex: 11, addr: ip("203.0.113.10"), prefix_len: 32, peer: None };
        assert!(router_refused(ip("198.18.0.1"), "eth1", &lone, &[]).unwrap().contains("/32 address"));
        let host_route = |oif, gateway| TableRoute {
            table: MAIN_TABLE,
            dst: ip("198.18.0.1"),
            dst_len: 32,
            oif: Some(oif),
            gateway,
            scope_link: gateway.is_none(),
            ..TableRoute::default()
        };
        assert_eq!(router_refused(ip("198.18.0.1"), "eth1", &lone, &[host_route(11, None)]), None);
        assert!(router_refused(ip("198.18.0.1"), "eth1", &lone, &[host_route(12, None)]).is_some());
        assert!(router_refused(ip("198.18.0.1"), "eth1", &lone, &[host_route(11, Some(ip("203.0.113.1")))]).is_some());
    }

    #[test]
    fn a_lease_with_a_refused_router_leaves_its_line_out_and_the_others_are_planned() {
        let lease = |a: &str, r: &str| Some(Lease { address: ip(a), router: ip(r) });
        let mut s = office();
        s.default_routes.clear();
        let mut ls = lines();
        ls[2].dhcp = lease("203.0.113.10", "10.9.9.9");
        let p = plan(&bundle(), &ls, &up(), &s);
        let g = group_id("wan");
        assert_eq!(p.members, ["eth1", "eth2"]);
        assert_eq!(p.problems, ["eth3"]);
        let cmds = shell(&p);
        assert!(!cmds.iter().any(|c| c.contains("10.9.9.9")), "{cmds:?}");
        assert!(cmds
            .contains(&format!("ip nexthop replace id {g} group 4201,2/4202,1 type resilient buckets 128 proto 200")));
        assert!(cmds.contains(&format!("ip route replace default nhid {g} proto 200 table main")));
        // One clear line: the interface, the router, why, and what became of the line.
        let w: Vec<&String> = p.warnings.iter().filter(|w| w.contains("eth3")).collect();
        assert_eq!(w.len(), 1, "{:?}", p.warnings);
        assert!(w[0].contains("router 10.9.9.9 of its DHCP lease is refused"), "{}", w[0]);
        assert!(w[0].contains("not on eth3's subnet 203.0.113.0/24"), "{}", w[0]);
        assert!(w[0].contains("left out of wan"), "{}", w[0]);
        // Each refused kind, the same way.
        for r in ["0.0.0.0", "255.255.255.255", "224.0.0.5", "127.0.0.1", "203.0.113.255", "203.0.113.10"] {
            ls[2].dhcp = lease("203.0.113.10", r);
            let p = plan(&bundle(), &ls, &up(), &s);
            assert_eq!((p.members.len(), p.problems.len()), (2, 1), "{r}");
            assert!(!shell(&p).iter().any(|c| c.contains(&format!("via {r} "))), "{r}");
        }
        // A good lease on the line's subnet is taken, without a word.
        ls[2].dhcp = lease("203.0.113.10", "203.0.113.254");
        let p = plan(&bundle(), &ls, &up(), &s);
        assert_eq!(p.members, ["eth1", "eth2", "eth3"]);
        assert!(p.problems.is_empty() && p.warnings.is_empty(), "{:?}", p.warnings);
        // Once it ran, a refused renewal keeps that last good router (our nexthop), and says so.
        let s = after(s, &p);
        ls[2].dhcp = lease("203.0.113.10", "10.9.9.9");
        let p = plan(&bundle(), &ls, &up(), &s);
        assert!(shell(&p).is_empty(), "{:?}", shell(&p));
        assert_eq!(p.members, ["eth1", "eth2", "eth3"]);
        assert_eq!(p.problems, ["eth3"]);
        assert!(p.warnings[0].contains("keeps its last good gateway 203.0.113.254"), "{:?}", p.warnings);
        // A configured gateway the kernel would refuse leaves its line out too.
        let mut ls = lines();
        ls[1].gateway = Some(ip("198.51.100.9"));
        let p = plan(&bundle(), &ls, &up(), &office());
        assert_eq!(p.members, ["eth1", "eth3"]);
        assert!(p.warnings.iter().any(|w| w.contains("eth2 (wan): its configured gateway 198.51.100.9 is refused")));
    }

    #[test]
    fn a_point_to_point_line_needs_no_router_and_ignores_its_lease() {
        let mut s = office();
        s.addresses.retain(|a| a.ifindex != 13);
        s.addresses.push(Address {
            ifindex: 13,
            addr: ip("203.0.113.10"),
            prefix_len: 32,
            peer: Some(ip("203.0.113.1")),
        });
        let mut ls = lines();
        ls[2].dhcp = Some(Lease { address: ip("203.0.113.10"), router: ip("10.9.9.9") });
        let p = plan(&bundle(), &ls, &up(), &s);
        assert_eq!(p.members, ["eth1", "eth2", "eth3"]);
        assert!(p.problems.is_empty() && p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(shell(&p).contains(&"ip nexthop replace id 4203 dev eth3 proto 200".to_string()));
    }

    #[test]
    fn a_line_the_kernel_refused_leaves_the_group_and_nothing_else_of_it_changes() {
        let s = after(office(), &plan(&bundle(), &lines(), &up(), &office()));
        let g = group_id("wan");
        // eth3's router moved, and the kernel refused its new route: planned again without it.
        let mut ls = lines();
        ls[2].gateway = Some(ip("203.0.113.254"));
        let refused = Request { refused: ["eth3".to_string()].into(), ..up() };
        let p = plan(&bundle(), &ls, &refused, &s);
        assert_eq!(
            shell(&p),
            [format!("ip nexthop replace id {g} group 4201,2/4202,1 type resilient buckets 128 proto 200")]
        );
        assert_eq!(p.members, ["eth1", "eth2"]);
        // From scratch: eth3's table, rule and hop are not made either.
        let p = plan(&bundle(), &lines(), &refused, &office());
        assert!(!shell(&p).iter().any(|c| c.contains("eth3") || c.contains("4203")), "{:?}", shell(&p));
        // Every line refused: nothing left to route by, and the caller gives up (ops).
        let all = Request { refused: ["eth1", "eth2", "eth3"].iter().map(|s| s.to_string()).collect(), ..up() };
        assert!(plan(&bundle(), &lines(), &all, &s).members.is_empty());
    }
}
