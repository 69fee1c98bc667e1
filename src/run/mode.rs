//! The one place a bundle's mode is looked at (issue 27).
//!
//! Callers (the network-scripts, ifupdown, NetworkManager and dhclient hooks, the CLI, `check`
//! and `status`) name bundles and lines and say what happened to them; `of` hands the bundle to
//! its mode with one exhaustive `match`, and the mode answers through `BundleMode`. A new mode
//! is a new implementation of the trait and one more arm here: the compiler then points at
//! every question it must answer, instead of a caller somewhere testing `is_teql` and quietly
//! treating the new mode as the old one.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::config::{BundleName, Config, ConnectionOptions, IfName, Master, Member, Mode, RpFilter};
use crate::error::Result;
use crate::kernel::netlink::Link;
use crate::kernel::state::State;
use crate::plan::Plan;
use crate::run::health::Health;
use crate::run::ops::{Applied, Ctx, Paths};

/// What each mode answers for its bundles. `Ctx` carries the run's options; the bundle and its
/// configuration are the implementation's own.
pub trait BundleMode {
    /// The bundle's name (a teqlN, or a multipath or connection bundle's name).
    fn name(&self) -> &str;

    /// Lines of the bundle come up on purpose (their ifup, `teqlctl attach`, NetworkManager's
    /// up). `bring_up`: the bundle itself comes up with them if it is not (every stack but
    /// ifupdown, which configures a teqlN itself).
    fn lines_up(&self, ctx: &Ctx, lines: &[IfName], bring_up: bool) -> Result<Plan>;
    /// Lines of the bundle go down on purpose (ifdown, `teqlctl detach`). `missing_ok`: a line
    /// already gone is not an error (a modem unplugged).
    fn lines_down(&self, ctx: &Ctx, lines: &[IfName], missing_ok: bool) -> Result<Plan>;
    /// `teqlctl up` and the bundle's own ifup: its lines that are up join, then it comes up.
    /// `need_a_line`: fail when none can carry it (manual runs).
    fn up(&self, ctx: &Ctx, need_a_line: bool) -> Result<Plan>;
    /// `teqlctl down` and the bundle's own ifdown.
    fn down(&self, ctx: &Ctx) -> Result<Plan>;
    /// The bundle's own ifup-local (network-scripts): its lines are in; its address, routes
    /// and the rest are made what the configuration says.
    fn refresh(&self, ctx: &Ctx) -> Result<Plan>;
    /// A DHCP lease of one of its lines (dhclient, NetworkManager). None: the mode takes no
    /// leases (a TEQL line's router is the bundle's, not the lease's); the caller treats the
    /// event as the line coming up, if it is one. `joining`: the line comes up on purpose.
    fn lease(&self, ctx: &Ctx, ev: &crate::run::dhcp::Event, joining: bool) -> Option<Result<Plan>>;
    /// Whether its lines' routers come from their leases (when their files set none): a DHCP
    /// client's events then matter to the bundle.
    fn takes_leases(&self) -> bool;
    /// The changes `check` decided for lines of this bundle, each planned against the kernel
    /// under the lock the caller holds (`held`). One outcome per change, in order.
    fn health(
        &self,
        ctx: &Ctx,
        changes: &[&crate::run::health::Change],
        rp: &dyn Fn(&str) -> RpFilter,
        held: Option<&crate::run::lock::Lock>,
    ) -> Result<Vec<Applied>>;
    /// Whether line `m` (on `link`) is in the bundle now, as the kernel shows it.
    fn carries(&self, m: &Member, link: &Link, state: &State) -> bool;
    /// Whether the planner would put line `m` in the bundle now: a line out of it is then
    /// missing for no recorded reason (check puts it back).
    fn would_carry(&self, m: &Member, state: &State) -> bool;
    /// The next hop of probes off the line's subnet when the line sets none (TEQL_PROBE_VIA).
    fn probe_next_hop(&self, m: &Member, link: &Link, state: &State) -> Option<Ipv4Addr>;
    /// What `check` mends after its round: what the mode keeps in the kernel that someone else
    /// may have changed (a connection bundle's nftables table, its default route's source).
    fn repair(&self, ctx: &Ctx, state: &State);
    /// The bundle as `status` shows it.
    fn status(&self, state: &State, health: &Health) -> crate::run::status::MasterStatus;
    /// The mode as TEQL_MODE spells it.
    fn mode_name(&self) -> &'static str;
    /// What the box must have for this bundle (`teqlctl validate`).
    fn requirements(&self) -> Requirements;
    /// Whether the bundle is a kernel device of its own (teqlN) that a stack configures as it
    /// does any interface (its address and routes in the bundle's own stanza or file): the
    /// ifupdown hook then plans with ifupdown's steps for it.
    fn has_device(&self) -> bool;
}

/// What a bundle needs of the box, as `validate` checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// sch_teql (a TEQL bundle's device).
    pub sch_teql: bool,
    /// Resilient nexthop groups (Linux 5.13), else a plain group that moves every flow.
    pub resilient_groups: bool,
    /// nft (a connection bundle's table, a TEQL bundle's NAT).
    pub nft: bool,
    /// The nftables ruleset teqlctl would write for it now (None: it writes none).
    pub nft_ruleset: Option<String>,
}

/// The bundle configured as `master`, handed to its mode: the one `match` on a mode.
pub fn of<'a>(cfg: &'a Config, master: &'a Master) -> Box<dyn BundleMode + 'a> {
    match &master.mode {
        Mode::Teql => Box::new(Teql { cfg, master: Cow::Borrowed(master) }),
        Mode::Multipath(options) => Box::new(Multipath { cfg, p: Paths { master, options, connection: None } }),
        Mode::Connection(options, c) => Box::new(Connection {
            paths: Multipath { cfg, p: Paths { master, options, connection: Some(c) } },
            options: c,
        }),
    }
}

/// The bundle called `name`: a configured one, or a teqlN no file configures (bonded with no
/// address and no route; only sch_teql makes devices of such names, so it is a TEQL bundle).
/// None for any other name.
pub fn bundle<'a>(cfg: &'a Config, name: &str) -> Option<Box<dyn BundleMode + 'a>> {
    match cfg.masters.get(name) {
        Some(m) => Some(of(cfg, m)),
        None => BundleName::teql(name).map(|b| bare(cfg, &b)),
    }
}

/// The bundle called `name` as a run that finds it named (in health.json, a line's file) takes
/// it: configured, else a bare TEQL master of that name (as sch_teql knows it).
pub(crate) fn bundle_or_bare<'a>(cfg: &'a Config, name: &BundleName) -> Box<dyn BundleMode + 'a> {
    match cfg.masters.get(name) {
        Some(m) => of(cfg, m),
        None => bare(cfg, name),
    }
}

fn bare<'a>(cfg: &'a Config, name: &BundleName) -> Box<dyn BundleMode + 'a> {
    Box::new(Teql { cfg, master: Cow::Owned(Master::bare(name.clone())) })
}

/// The bundle a file configures (None for a name only lines mention, or none at all).
pub fn configured<'a>(cfg: &'a Config, name: &str) -> Option<Box<dyn BundleMode + 'a>> {
    cfg.masters.get(name).map(|m| of(cfg, m))
}

/// The bundle line `line` joins: `over` (attach --master), else its configured master, else
/// teql0 (a line no file names joins the default TEQL bundle, as `teqlctl attach eth1` does).
pub(crate) fn bundle_of_line<'a>(cfg: &'a Config, line: &str, over: Option<&BundleName>) -> Box<dyn BundleMode + 'a> {
    let name = over.or_else(|| cfg.members.get(line).map(|m| &m.master)).cloned().unwrap_or_else(BundleName::teql0);
    bundle_or_bare(cfg, &name)
}

/// The bundle of a configured line (None when no file names the line).
pub(crate) fn bundle_of_member<'a>(cfg: &'a Config, m: &Member) -> Option<Box<dyn BundleMode + 'a>> {
    bundle(cfg, &m.master)
}

/// The routing tables of every line of a multipath or connection bundle: what a run must read
/// of the kernel for them (empty when there is none, and nothing more is read).
pub(crate) fn routing_tables(cfg: &Config) -> Vec<u32> {
    cfg.members
        .values()
        .filter(|m| cfg.masters.get(&m.master).is_some_and(|b| b.mode.paths().is_some()))
        .map(Member::table)
        .collect()
}

/// The marks of a connection bundle's lines, when `name` is one and its table should be read
/// (`status` of it, or of every bundle).
pub(crate) fn connection_marks(cfg: &Config, name: &str) -> Option<Vec<u32>> {
    cfg.masters.get(name)?.mode.connection()?;
    Some(cfg.members_of(name).map(|m| crate::plan::connection::mark_of(m.table())).collect())
}

/// Whether `name` is one only sch_teql's devices have (teqlN): a stanza so named is a bundle's
/// own, whatever its options say.
pub(crate) fn is_teql_name(name: &str) -> bool {
    crate::names::is_teql_name(name)
}

/// Every bundle's status: each configured one, and each teqlN of the kernel that has lines or
/// is up (`only`: that one), each as its mode shows it.
pub(crate) fn statuses(
    cfg: &Config,
    state: &State,
    health: &Health,
    only: Option<&str>,
) -> Vec<crate::run::status::MasterStatus> {
    let mut names: std::collections::BTreeSet<BundleName> = cfg.masters.keys().cloned().collect();
    // A teqlN past teql63 (sch_teql loaded by hand with more masters) is no bundle teqlctl
    // configures, and is not shown.
    for l in &state.links {
        if let Some(b) = BundleName::teql(&l.name) {
            if State::is_up(l) || state.slaves_of(&l.name).next().is_some() {
                names.insert(b);
            }
        }
    }
    let mut names: Vec<BundleName> = names.into_iter().filter(|n| only.is_none_or(|o| n == o)).collect();
    // Named bundles first, then teql0, teql1...
    names.sort_by_key(|n| crate::config::master_index(n));
    names.iter().map(|n| bundle_or_bare(cfg, n).status(state, health)).collect()
}

/// sch_teql's masters, named teqlN: the kernel makes them, one per index.
struct Teql<'a> {
    cfg: &'a Config,
    master: Cow<'a, Master>,
}

impl BundleMode for Teql<'_> {
    fn name(&self) -> &str {
        &self.master.device
    }

    fn lines_up(&self, ctx: &Ctx, lines: &[IfName], bring_up: bool) -> Result<Plan> {
        crate::run::ops::teql_lines_up(ctx, self.cfg, &self.master, lines, bring_up)
    }

    fn lines_down(&self, ctx: &Ctx, lines: &[IfName], missing_ok: bool) -> Result<Plan> {
        crate::run::ops::detach(ctx, lines, missing_ok)
    }

    fn up(&self, ctx: &Ctx, need_a_line: bool) -> Result<Plan> {
        crate::run::ops::teql_up(ctx, self.cfg, &self.master, need_a_line)
    }

    fn down(&self, ctx: &Ctx) -> Result<Plan> {
        crate::run::ops::teql_down(ctx, &self.master)
    }

    fn refresh(&self, ctx: &Ctx) -> Result<Plan> {
        crate::run::ops::teql_master_up(ctx, self.cfg, &self.master)
    }

    fn lease(&self, _: &Ctx, _: &crate::run::dhcp::Event, _: bool) -> Option<Result<Plan>> {
        None
    }

    fn takes_leases(&self) -> bool {
        false
    }

    fn health(
        &self,
        ctx: &Ctx,
        changes: &[&crate::run::health::Change],
        rp: &dyn Fn(&str) -> RpFilter,
        _held: Option<&crate::run::lock::Lock>,
    ) -> Result<Vec<Applied>> {
        crate::run::ops::teql_health(ctx, changes, rp)
    }

    fn carries(&self, m: &Member, link: &Link, state: &State) -> bool {
        state.root_qdisc(link.index).is_some_and(|q| m.master == q.kind)
    }

    fn would_carry(&self, _: &Member, _: &State) -> bool {
        // Any line of a live TEQL bundle that is up and not attached is missing: the TEQL
        // planner attaches every line the admin brought up.
        true
    }

    fn probe_next_hop(&self, _: &Member, _: &Link, state: &State) -> Option<Ipv4Addr> {
        // Its master's gateway (configured, else the one of its default route), which every
        // router of the bundle answers on its own line.
        let master_link = state.link(&self.master.device);
        self.master
            .gateway
            .or_else(|| master_link.and_then(|l| state.default_routes_via(l.index).filter_map(|r| r.gateway).next()))
    }

    fn repair(&self, _: &Ctx, _: &State) {}

    fn mode_name(&self) -> &'static str {
        "teql"
    }

    fn requirements(&self) -> Requirements {
        let nat = &self.master.routing.nat;
        Requirements {
            sch_teql: true,
            resilient_groups: false,
            nft: !nat.is_empty(),
            nft_ruleset: (!nat.is_empty()).then(|| crate::plan::bundle_nat::ruleset(&self.master.device, nat)),
        }
    }

    fn status(&self, state: &State, health: &Health) -> crate::run::status::MasterStatus {
        crate::run::status::master_status(self.cfg, state, health, &self.master.device)
    }

    fn has_device(&self) -> bool {
        true
    }
}

/// Multipath bundles: a name with no kernel device, per-line tables and rules and a nexthop
/// group.
struct Multipath<'a> {
    cfg: &'a Config,
    p: Paths<'a>,
}

impl BundleMode for Multipath<'_> {
    fn name(&self) -> &str {
        &self.p.master.device
    }

    fn lines_up(&self, ctx: &Ctx, lines: &[IfName], _bring_up: bool) -> Result<Plan> {
        let joining: Vec<&str> = lines.iter().map(IfName::as_str).collect();
        crate::run::ops::multipath_joining(ctx, self.cfg, self.p, &joining)
    }

    fn lines_down(&self, ctx: &Ctx, lines: &[IfName], _missing_ok: bool) -> Result<Plan> {
        let leaving = crate::run::ops::MpEvent::Leaving(lines.iter().map(IfName::to_string).collect());
        crate::run::ops::multipath(ctx, self.cfg, self.p, &leaving)
    }

    fn up(&self, ctx: &Ctx, _need_a_line: bool) -> Result<Plan> {
        crate::run::ops::multipath(ctx, self.cfg, self.p, &crate::run::ops::MpEvent::Up)
    }

    fn down(&self, ctx: &Ctx) -> Result<Plan> {
        crate::run::ops::multipath(ctx, self.cfg, self.p, &crate::run::ops::MpEvent::Down)
    }

    fn refresh(&self, ctx: &Ctx) -> Result<Plan> {
        self.up(ctx, false)
    }

    fn lease(&self, ctx: &Ctx, ev: &crate::run::dhcp::Event, joining: bool) -> Option<Result<Plan>> {
        if joining {
            if let Err(e) = crate::run::ops::let_go(ctx, &ev.interface) {
                return Some(Err(e));
            }
        }
        Some(crate::run::ops::dhcp_event(ctx, self.cfg, self.p, ev))
    }

    fn takes_leases(&self) -> bool {
        true
    }

    fn health(
        &self,
        ctx: &Ctx,
        changes: &[&crate::run::health::Change],
        _rp: &dyn Fn(&str) -> RpFilter,
        _held: Option<&crate::run::lock::Lock>,
    ) -> Result<Vec<Applied>> {
        crate::run::ops::multipath_health(ctx, self.cfg, self.p, changes)
    }

    fn carries(&self, m: &Member, link: &Link, state: &State) -> bool {
        crate::plan::multipath::in_bundle(state, &m.master, link.index, m.table())
    }

    fn would_carry(&self, m: &Member, state: &State) -> bool {
        crate::run::ops::multipath_would_carry(self.cfg, self.p, state).iter().any(|l| l == m.device.as_str())
    }

    fn probe_next_hop(&self, m: &Member, link: &Link, state: &State) -> Option<Ipv4Addr> {
        // Its own ISP's router: TEQL_GATEWAY or GATEWAY, else the one its nexthop or its DHCP
        // client's default route has, else the peer of a point-to-point address.
        let table = m.table();
        m.path.gateway().or_else(|| {
            state
                .nexthops
                .iter()
                .find(|n| n.id == table && n.oif == Some(link.index))
                .and_then(|n| n.gateway)
                .or_else(|| state.default_routes_via(link.index).find_map(|r| r.gateway))
                .or_else(|| state.addresses_of(link.index).find_map(|a| a.peer))
        })
    }

    fn mode_name(&self) -> &'static str {
        "multipath"
    }

    fn requirements(&self) -> Requirements {
        Requirements { sch_teql: false, resilient_groups: true, nft: false, nft_ruleset: None }
    }

    fn repair(&self, _: &Ctx, _: &State) {
        // Its tables, rules and group are the lines' runs' and check's own round's.
    }

    fn status(&self, state: &State, health: &Health) -> crate::run::status::MasterStatus {
        crate::run::status::multipath_status(self.cfg, state, health, self.p.master, None)
    }

    fn has_device(&self) -> bool {
        false
    }
}

/// Connection bundles: a multipath bundle's tables, rules and group (its runs are the
/// multipath runs, which write the nftables table when `Paths::connection` is set), and the
/// nftables table `inet teqlctl` that marks each connection for a line.
struct Connection<'a> {
    paths: Multipath<'a>,
    options: &'a ConnectionOptions,
}

impl BundleMode for Connection<'_> {
    fn name(&self) -> &str {
        self.paths.name()
    }

    fn lines_up(&self, ctx: &Ctx, lines: &[IfName], bring_up: bool) -> Result<Plan> {
        self.paths.lines_up(ctx, lines, bring_up)
    }

    fn lines_down(&self, ctx: &Ctx, lines: &[IfName], missing_ok: bool) -> Result<Plan> {
        self.paths.lines_down(ctx, lines, missing_ok)
    }

    fn up(&self, ctx: &Ctx, need_a_line: bool) -> Result<Plan> {
        self.paths.up(ctx, need_a_line)
    }

    fn down(&self, ctx: &Ctx) -> Result<Plan> {
        self.paths.down(ctx)
    }

    fn refresh(&self, ctx: &Ctx) -> Result<Plan> {
        self.paths.refresh(ctx)
    }

    fn lease(&self, ctx: &Ctx, ev: &crate::run::dhcp::Event, joining: bool) -> Option<Result<Plan>> {
        self.paths.lease(ctx, ev, joining)
    }

    fn takes_leases(&self) -> bool {
        self.paths.takes_leases()
    }

    fn health(
        &self,
        ctx: &Ctx,
        changes: &[&crate::run::health::Change],
        rp: &dyn Fn(&str) -> RpFilter,
        held: Option<&crate::run::lock::Lock>,
    ) -> Result<Vec<Applied>> {
        self.paths.health(ctx, changes, rp, held)
    }

    fn carries(&self, m: &Member, link: &Link, state: &State) -> bool {
        self.paths.carries(m, link, state)
    }

    fn would_carry(&self, m: &Member, state: &State) -> bool {
        self.paths.would_carry(m, state)
    }

    fn probe_next_hop(&self, m: &Member, link: &Link, state: &State) -> Option<Ipv4Addr> {
        self.paths.probe_next_hop(m, link, state)
    }

    fn mode_name(&self) -> &'static str {
        "connection"
    }

    fn requirements(&self) -> Requirements {
        use crate::plan::connection as conn;
        let (cfg, master) = (self.paths.cfg, self.paths.p.master);
        // With no line the planner writes no table (and the readers say the bundle has none).
        let lines: Vec<conn::ConnLine> = cfg
            .members_of(&master.device)
            .map(|l| conn::ConnLine {
                device: l.device.clone(),
                mark: conn::mark_of(l.table()),
                weight: l.path.weight.unwrap_or(1),
                addr: None,
                live: true,
            })
            .collect();
        let c = self.options;
        let nft_ruleset = (!lines.is_empty()).then(|| {
            let s = conn::ConnSettings {
                bundle: master.device.clone(),
                nat: c.nat.clone(),
                prefer: c.prefer.clone(),
                prefer_dst: c.prefer_dst.clone(),
                local_source: c.local_source,
            };
            conn::ruleset(&lines, &s)
        });
        Requirements { sch_teql: false, resilient_groups: true, nft: true, nft_ruleset }
    }

    fn repair(&self, ctx: &Ctx, state: &State) {
        crate::run::ops::repair_connection_table(ctx, self.paths.cfg, self.paths.p);
        crate::run::ops::repair_local_source(ctx, self.paths.cfg, self.paths.p, state);
    }

    fn status(&self, state: &State, health: &Health) -> crate::run::status::MasterStatus {
        crate::run::status::multipath_status(self.paths.cfg, state, health, self.paths.p.master, Some(self.options))
    }

    fn has_device(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three bundles, one of each mode, as ifcfg files say them.
    fn three() -> (tempfile::TempDir, Config) {
        let t = tempfile::TempDir::new().unwrap();
        let dir = t.path().join("etc/sysconfig/network-scripts");
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            ("ifcfg-teql0", "DEVICE=teql0\nDEVICETYPE=teql\nIPADDR=198.51.100.2\nPREFIX=24\n"),
            ("ifcfg-eth1", "DEVICE=eth1\nTEQL_MASTER=teql0\n"),
            ("ifcfg-wan", "DEVICE=wan\nTEQL_MODE=multipath\n"),
            ("ifcfg-eth2", "DEVICE=eth2\nTEQL_MASTER=wan\nTEQL_GATEWAY=192.0.2.1\n"),
            ("ifcfg-office", "DEVICE=office\nTEQL_MODE=connection\nTEQL_NAT=203.0.113.0/24\n"),
            ("ifcfg-eth3", "DEVICE=eth3\nTEQL_MASTER=office\nTEQL_GATEWAY=198.18.0.1\n"),
        ];
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
        let cfg = crate::config::load(t.path());
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        (t, cfg)
    }

    #[test]
    fn each_mode_is_handed_to_its_own_implementation() {
        let (_t, cfg) = three();
        let got: Vec<(String, &str, bool, bool, bool, bool)> = ["teql0", "wan", "office"]
            .iter()
            .map(|n| {
                let b = bundle(&cfg, n).unwrap();
                let r = b.requirements();
                (b.name().to_string(), b.mode_name(), r.sch_teql, r.nft, r.nft_ruleset.is_some(), b.has_device())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("teql0".to_string(), "teql", true, false, false, true),
                ("wan".to_string(), "multipath", false, false, false, false),
                ("office".to_string(), "connection", false, true, true, false),
            ]
        );
        // Only a connection bundle's marks are read for status; only per-line bundles have
        // routing tables.
        assert!(connection_marks(&cfg, "wan").is_none());
        assert_eq!(connection_marks(&cfg, "office").map(|m| m.len()), Some(1));
        assert_eq!(routing_tables(&cfg).len(), 2);
    }
}
