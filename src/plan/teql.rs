//! The TEQL planner (per packet over sch_teql, and tunnels as lines): a teqlN bundle's lines
//! attached and detached as root qdiscs, its address, routes and NAT, and `check`'s changes,
//! planned against the kernel state read under the lock. Pure, as every planner (see plan/).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::last_line;
use super::{Action, Plan, Then};
use crate::config::{master_index, ConfigError, Master, RpFilter};
use crate::error::{Error, Result};
use crate::kernel::netlink::{self, Link, Route};
use crate::kernel::route::TableRoute;
use crate::kernel::state::State;
use crate::names::{BundleName, IfName};

/// Link kinds that go through the ip_tunnel transmit path, which crashes as a teql slave on
/// kernels without the March 2026 fix ("teql: fix NULL pointer dereference in iptunnel_xmit").
const TUNNEL_KINDS: &[&str] =
    &["gre", "gretap", "erspan", "ipip", "sit", "ip6tnl", "ip6gre", "ip6gretap", "ip6erspan", "vti", "vti6"];
/// A teqlN device of sch_teql's (teql masters are ARPHRD_VOID; the name alone could be anyone's).
fn is_teql_master(l: &Link) -> bool {
    l.link_type == netlink::ARPHRD_VOID && master_index(&l.name).is_some()
}

/// The tunnels teqlctl bonds without --force: IPv4 GRE (keyed or not) and IPIP, verified as
/// teql lines on both ends (../shared/notes/kernel-teql.md and tests/vm/t-80).
const TUNNEL_LINES: &[&str] = &["gre", "ipip"];
/// Ethernet over GRE: known to crash kernels as teql lines (iptunnel_xmit NULL dereference).
const ETHERNET_TUNNELS: &[&str] = &["gretap", "erspan", "ip6gretap", "ip6erspan"];

/// What the planner made of one change `teqlctl check` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStep {
    /// The change is in the plan.
    Planned,
    /// Not taken out: it is the last line of its bundle now.
    Kept,
    /// Nothing to do any more: the kernel's state moved on since the round began (why).
    Gone(String),
}

/// Builds a plan step by step while tracking what the earlier steps will have changed, so that
/// "is teql0 up?" and "how many lines does it have?" are answered for the state after them.
pub struct Planner<'a> {
    state: &'a State,
    plan: Plan,
    /// Root qdisc kind per ifindex as the plan leaves it (None = kernel default).
    qdisc: BTreeMap<u32, Option<String>>,
    up: BTreeMap<u32, bool>,
    /// MTU per ifindex as the plan leaves it, where it changes one.
    mtu: BTreeMap<u32, u32>,
}

impl<'a> Planner<'a> {
    pub fn new(state: &'a State) -> Planner<'a> {
        Planner { state, plan: Plan::default(), qdisc: BTreeMap::new(), up: BTreeMap::new(), mtu: BTreeMap::new() }
    }

    fn mtu_now(&self, link: &Link) -> u32 {
        self.mtu.get(&link.index).copied().unwrap_or(link.mtu)
    }

    pub fn finish(self) -> Plan {
        self.plan
    }

    /// The kernel state the plan starts from.
    pub fn state(&self) -> &'a State {
        self.state
    }

    /// How many lines `master` has once the actions planned so far have run.
    pub(crate) fn lines_of(&self, master: &str) -> usize {
        self.slaves_now(master).len()
    }

    pub fn note(&mut self, n: String) {
        self.plan.notes.push(n);
    }

    /// A record of what was asked, made before every action and kept if one fails (see
    /// Plan::intent); None (it holds that already) adds nothing.
    pub(crate) fn intend(&mut self, record: Option<Action>) {
        self.plan.intent.extend(record);
    }

    /// Record `path` set to `contents` (None: removed) after the actions planned so far, unless
    /// it holds them already (`previous`: what it holds now). See Action::Record.
    pub fn record(&mut self, path: PathBuf, contents: Option<String>, previous: Option<String>, what: String) {
        self.plan.actions.extend(Action::record(path, contents, previous, what));
    }

    /// A warning `f` finds in the kernel state the plan starts from (None: none).
    pub(crate) fn warn_with(&mut self, f: impl FnOnce(&State) -> Option<String>) {
        if let Some(w) = f(self.state) {
            self.plan.warnings.push(w);
        }
    }

    /// A hook's step after the actions (see `Then`).
    pub fn then(&mut self, t: Then) {
        self.plan.then.push(t);
    }

    /// Whether `name` exists and is up once the actions planned so far have run.
    pub fn is_up(&self, name: &str) -> bool {
        self.state.link(name).is_some_and(|l| self.up_now(l))
    }

    fn kind_now(&self, index: u32) -> Option<&str> {
        match self.qdisc.get(&index) {
            Some(k) => k.as_deref(),
            None => self.state.root_qdisc(index).map(|q| q.kind.as_str()),
        }
    }

    fn up_now(&self, link: &Link) -> bool {
        self.up.get(&link.index).copied().unwrap_or_else(|| State::is_up(link))
    }

    fn slaves_now(&self, master: &str) -> Vec<&'a Link> {
        self.state.links.iter().filter(|l| self.kind_now(l.index) == Some(master)).collect()
    }

    /// The master's link. Before sch_teql is loaded (a dry run), masters do not exist yet and
    /// are assumed to appear down with teql's defaults.
    fn master_link(&self, name: &str) -> Result<Link> {
        if !crate::config::is_usable_master(name) {
            return Err(Error::Usage(format!("{name}: not {}", crate::config::EXPECT_MASTER)));
        }
        match self.state.link(name) {
            Some(l) if l.link_type == netlink::ARPHRD_VOID => Ok(l.clone()),
            Some(_) => Err(Error::Refused(format!(
                "{name} exists but is not a teql master (another driver took the name); rename it"
            ))),
            None if !self.state.teql_loaded => Ok(Link {
                index: 0,
                name: name.to_string(),
                flags: netlink::IFF_NOARP | netlink::IFF_BROADCAST | netlink::IFF_MULTICAST,
                mtu: 1500,
                link_type: netlink::ARPHRD_VOID,
                ..Link::default()
            }),
            None => Err(Error::Module(format!(
                "{name} does not exist although sch_teql is loaded: it was loaded with fewer masters; \
                 add `options sch_teql max_equalizers={}` to /etc/modprobe.d/teql.conf and reload it",
                master_index(name).unwrap_or(0) + 1
            ))),
        }
    }

    /// Makes `iface` a line of `master`, with its reverse-path filter as configured.
    pub fn attach(&mut self, iface: &IfName, master: &BundleName, rp: RpFilter, force: bool) -> Result<()> {
        let m = self.master_link(master)?;
        let link = self.state.link(iface).ok_or_else(|| Error::NoSuchInterface(iface.to_string()))?;
        if link.flags & netlink::IFF_LOOPBACK != 0 {
            return Err(Error::Refused(format!("{iface} is the loopback device and cannot be a line")));
        }
        if is_teql_master(link) {
            return Err(Error::Refused(format!("{iface} is a teql master itself and cannot be a line of {master}")));
        }
        let mut rp = rp;
        if let Some(kind) = link.kind.as_deref().filter(|k| TUNNEL_KINDS.contains(k)) {
            if TUNNEL_LINES.contains(&kind) {
                self.check_tunnel_line(link)?;
                rp = self.tunnel_rp_filter(link, rp)?;
                self.warn_mixed_tunnels(link, kind, master);
            } else if !force {
                let why = if ETHERNET_TUNNELS.contains(&kind) {
                    "Ethernet-over-GRE tunnels as teql lines crash kernels without the March 2026 fix \
                     (\"teql: fix NULL pointer dereference in iptunnel_xmit\")"
                } else {
                    "teqlctl bonds gre and ipip tunnels (tried on both ends); this kind was never tried as a teql line"
                };
                return Err(Error::Refused(format!(
                    "{iface} is a {kind} tunnel: {why}; use a gre or ipip tunnel, or, if your kernel is known \
                     to take it, run `teqlctl attach --force {iface}`"
                )));
            } else {
                self.plan.warnings.push(format!("{iface} is a {kind} tunnel; attached because of --force"));
            }
        }

        let current = self.kind_now(link.index).map(str::to_string);
        let admin_qdisc = self
            .state
            .root_qdisc(link.index)
            .filter(|q| q.handle >> 16 != 0 && q.kind == current.clone().unwrap_or_default());
        let replacing = match current.as_deref() {
            Some(k) if master == k => None,
            Some(k) if master_index(k).is_some() => {
                if !force {
                    return Err(Error::Refused(format!(
                        "{iface} is already a line of {k}; `teqlctl detach {iface}` first, or pass --force to move it to {master}"
                    )));
                }
                Some(k.to_string())
            }
            Some(k) if admin_qdisc.is_some() => {
                if !force {
                    let h = admin_qdisc.map(|q| q.handle >> 16).unwrap_or(0);
                    return Err(Error::Refused(format!(
                        "{iface} has a root qdisc {k} (handle {h:x}:) that was configured on purpose; teqlctl \
                         will not replace it: remove it (`tc qdisc del dev {iface} root`) or pass --force"
                    )));
                }
                self.plan.warnings.push(format!("{iface}: replacing its {k} root qdisc because of --force"));
                Some(k.to_string())
            }
            _ => None,
        };
        let already = current.as_deref() == Some(master);

        if !already && self.up_now(&m) {
            // The kernel refuses (EINVAL) a line with a smaller MTU than a running master's, and
            // sets a master's MTU to its smallest line's only when it opens: lower it first, as
            // its next open would (tunnels of different header sizes differ by a few bytes). A
            // configured MTU above the line's is master_up's error.
            let master_mtu = self.mtu_now(&m);
            if link.mtu < master_mtu {
                self.plan.actions.push(Action::SetMtu {
                    iface: master.iface().clone(),
                    index: m.index,
                    mtu: link.mtu,
                    previous: master_mtu,
                });
                self.mtu.insert(m.index, link.mtu);
                self.note(format!("{master}: MTU {master_mtu} lowered to {}, its new line {iface}'s", link.mtu));
            }
            for (bit, name) in [
                (netlink::IFF_BROADCAST, "broadcast"),
                (netlink::IFF_MULTICAST, "multicast"),
                (netlink::IFF_POINTOPOINT, "point-to-point"),
            ] {
                if m.flags & bit != 0 && link.flags & bit == 0 {
                    return Err(Error::Refused(format!(
                        "{iface} is not {name} but the running {master} is: take {master} down and up again \
                         to bring all its lines in"
                    )));
                }
            }
        }

        if let Some(value) = rp.sysctl_value() {
            let previous = self.state.rp_filter.get(iface.as_str()).copied();
            if previous != Some(value) {
                self.plan.actions.push(Action::SetRpFilter { iface: iface.clone(), value, previous });
            }
            if value == 0 && self.state.rp_filter.get("all").is_some_and(|&a| a != 0) {
                self.plan.warnings.push(format!(
                    "{iface}: TEQL_RP_FILTER=off has no effect while net.ipv4.conf.all.rp_filter is not 0 \
                     (the kernel uses the larger of the two)"
                ));
            }
        }
        if rp == RpFilter::Strict {
            self.plan.warnings.push(format!(
                "{iface}: strict rp_filter drops replies that arrive on the line for traffic sent through {master}"
            ));
        }
        if !already {
            self.plan.actions.push(Action::Attach {
                iface: iface.clone(),
                index: link.index,
                master: master.clone(),
                replacing,
            });
            self.qdisc.insert(link.index, Some(master.to_string()));
        }
        Ok(())
    }

    /// A gre or ipip tunnel may be a line only if its outer packets leave by the line that owns
    /// its outer source address, never through a teql bundle (a loop: the kernel drops them as a
    /// dead loop) and never by another ISP (which drops a source that is not its customer's),
    /// and only if they fit that line's MTU. The kernel's own route lookup decides, policy rules
    /// included, so the multipath bundle's per-line rule is what makes it right.
    /// Tunnels of two kinds in one bundle work, but carry one stream markedly slower than
    /// tunnels of one kind (measured in the VM, 0.78 of the sum against 0.93): say so when a line
    /// joins one of another kind.
    fn warn_mixed_tunnels(&mut self, link: &Link, kind: &str, master: &str) {
        let other = self
            .slaves_now(master)
            .into_iter()
            .filter(|l| l.index != link.index && l.tunnel.is_some())
            .find_map(|l| l.kind.as_deref().filter(|k| *k != kind).map(|k| (l.name.clone(), k.to_string())));
        if let Some((name, k)) = other {
            self.plan.warnings.push(format!(
                "{} is {} {kind} tunnel and {name}, a line of {master} too, {} {k} one: in teqlctl's VM test one TCP \
                 stream over an ipip and a gre tunnel got 0.78 of the two lines' sum, over two of one kind 0.93; \
                 make every tunnel of {master} the same kind",
                link.name,
                article(kind),
                article(&k)
            ));
        }
    }

    fn check_tunnel_line(&self, link: &Link) -> Result<()> {
        let iface = &link.name;
        let t = link.tunnel.unwrap_or_default();
        let (Some(local), Some(remote)) = (t.local, t.remote) else {
            return Err(Error::Refused(format!(
                "{iface}: a tunnel line needs fixed local and remote outer addresses (network-scripts: \
                 MY_OUTER_IPADDR and PEER_OUTER_IPADDR; ifupdown: local and endpoint) so that its packets \
                 leave by one line to one far end"
            )));
        };
        let Some(owner) =
            self.state.addresses.iter().find(|a| a.addr == local).and_then(|a| self.state.link_by_index(a.ifindex))
        else {
            return Err(Error::Refused(format!(
                "{iface}: its local address {local} is on no interface of this box: bring up the line that has \
                 it first"
            )));
        };
        let oif = match self.state.tunnel_paths.get(&link.index) {
            // Not asked (a state read without tunnel paths): nothing to judge by.
            None => return Ok(()),
            Some(Err(errno)) => {
                return Err(Error::Refused(format!(
                    "{iface}: no route for its outer packets from {local} to {remote} ({}): bring up {} first, \
                     with its gateway",
                    netlink::NlError { errno: *errno },
                    owner.name
                )))
            }
            Some(Ok(path)) => path.oif,
        };
        let out = self.state.link_by_index(oif);
        let out_name = out.map_or_else(|| format!("interface {oif}"), |l| l.name.clone());
        let through_teql = oif == link.index
            || out.is_some_and(|l| {
                is_teql_master(l) || self.kind_now(l.index).is_some_and(|k| master_index(k).is_some())
            });
        if through_teql {
            return Err(Error::Refused(format!(
                "{iface}: its outer packets from {local} to {remote} would leave by {out_name}, through a teql \
                 bundle: a loop. Route {remote} by {}, the line that owns {local} (a multipath bundle's \
                 per-line rule does it; TEQL_DEFROUTE=no keeps that bundle's default route out of the way)",
                owner.name
            )));
        }
        let shared = owner.flags & netlink::IFF_LOOPBACK != 0 || owner.kind.as_deref() == Some("dummy");
        if !shared && oif != owner.index {
            return Err(Error::Refused(format!(
                "{iface}: its outer packets from {local} to {remote} would leave by {out_name}, not by {}, which \
                 owns {local}: that ISP would drop them. Make {} a line of a multipath bundle (its rule `from \
                 {local}` keeps them on it), or route {remote} via {}",
                owner.name, owner.name, owner.name
            )));
        }
        if let Some(out) = out {
            if link.mtu + t.overhead > out.mtu {
                return Err(Error::Refused(format!(
                    "{iface} has MTU {}: with the {} bytes its tunnel adds, its packets exceed {}'s MTU {} and \
                     would be fragmented; set {iface}'s MTU to {} (network-scripts: MTU=, ifupdown: mtu)",
                    link.mtu,
                    t.overhead,
                    out.name,
                    out.mtu,
                    out.mtu.saturating_sub(t.overhead)
                )));
            }
        }
        Ok(())
    }

    /// The reverse-path filter of a tunnel line. One without an IPv4 address of its own (the
    /// usual case: the inner address is the master's) drops every packet it receives while
    /// filtering is on in any mode (fib_validate_source: no address, no reverse path), so it
    /// gets 0, which only holds while net.ipv4.conf.all.rp_filter is 0 too.
    fn tunnel_rp_filter(&mut self, link: &Link, rp: RpFilter) -> Result<RpFilter> {
        if self.state.addresses_of(link.index).next().is_some() || rp == RpFilter::Keep {
            return Ok(rp);
        }
        let iface = &link.name;
        if rp != RpFilter::Off {
            self.note(format!(
                "{iface}: rp_filter off, not {}: a tunnel line without an address of its own drops every packet \
                 it receives with filtering on",
                if rp == RpFilter::Strict { "strict" } else { "loose" }
            ));
        }
        match self.state.rp_filter.get("all") {
            Some(&all) if all != 0 => Err(Error::Refused(format!(
                "{iface}: net.ipv4.conf.all.rp_filter is {all}, and a tunnel line without an address of its own \
                 drops every packet it receives while it is not 0 (the kernel uses the larger of all and \
                 {iface}): set net.ipv4.conf.all.rp_filter=0 in /etc/sysctl.d (each interface keeps its own \
                 value), or give {iface} an address"
            ))),
            _ => Ok(RpFilter::Off),
        }
    }

    /// Takes `iface` out of whichever bundle it is in. Returns that master. A line of a teqlN
    /// past teql63 (sch_teql loaded by hand with more masters) is no bundle of teqlctl's: it is
    /// left as it is, with a warning that says how to take it out.
    pub fn detach(&mut self, iface: &IfName, missing_ok: bool) -> Result<Option<BundleName>> {
        let Some(link) = self.state.link(iface) else {
            if missing_ok {
                return Ok(None);
            }
            return Err(Error::NoSuchInterface(iface.to_string()));
        };
        match self.kind_now(link.index).filter(|k| master_index(k).is_some()) {
            Some(k) => {
                let Some(master) = BundleName::teql(k) else {
                    self.plan.warnings.push(unmanaged_master(iface, k));
                    return Ok(None);
                };
                self.plan.actions.push(Action::Detach {
                    iface: iface.clone(),
                    index: link.index,
                    master: master.clone(),
                });
                self.qdisc.insert(link.index, None);
                Ok(Some(master))
            }
            None => {
                self.note(format!("{iface} is not a line of any teql master"));
                Ok(None)
            }
        }
    }

    /// `teqlctl check` takes a dead line out: planned against the state read under the lock,
    /// so the rule "never the last line" holds even if the bundle's other lines left while the
    /// round was probing (an `ifdown` of the last other live line then keeps this one in).
    pub fn take_out_dead(&mut self, iface: &IfName, master: &BundleName) -> HealthStep {
        let Some(link) = self.state.link(iface) else { return HealthStep::Gone(format!("{iface} no longer exists")) };
        if self.kind_now(link.index) != Some(master.as_str()) {
            return HealthStep::Gone(format!("{iface} is no longer a line of {master}"));
        }
        // Never the last line (plan::last_line), as the kernel shows the bundle now.
        let lines = self.slaves_now(master);
        let (_, kept) = last_line::staying(lines, |l| l.index == link.index, last_line::Keep::One, |l| l.index);
        if kept {
            return HealthStep::Kept;
        }
        self.plan.actions.push(Action::Detach { iface: iface.clone(), index: link.index, master: master.clone() });
        self.qdisc.insert(link.index, None);
        HealthStep::Planned
    }

    /// `teqlctl check` puts a recovered line back: only while the line is still up and free,
    /// and its master is still up (a bundle the admin took down stays down).
    pub fn put_back(&mut self, iface: &IfName, master: &BundleName, rp: RpFilter) -> Result<HealthStep> {
        let Some(link) = self.state.link(iface) else {
            return Ok(HealthStep::Gone(format!("{iface} no longer exists")));
        };
        if !self.up_now(link) {
            return Ok(HealthStep::Gone(format!("{iface} has been set down")));
        }
        match self.kind_now(link.index) {
            Some(k) if master == k => return Ok(HealthStep::Gone(format!("{iface} is a line of {master} again"))),
            Some(k) if master_index(k).is_some() => {
                return Ok(HealthStep::Gone(format!("{iface} is now a line of {k}")))
            }
            _ => {}
        }
        match self.state.link(master) {
            Some(m) if self.up_now(m) => {}
            _ => return Ok(HealthStep::Gone(format!("{master} is down"))),
        }
        self.attach(iface, master, rp, false)?;
        Ok(HealthStep::Planned)
    }

    /// The main table's routes through `index` but its default ones, as a rollback of setting
    /// it down must put them back: the kernel's own (proto kernel, a connected subnet) come
    /// back with the link by themselves.
    fn routes_through(&self, index: u32) -> Vec<TableRoute> {
        const RTPROT_KERNEL: u8 = 2;
        self.state
            .bundle_routes
            .iter()
            .filter(|r| r.oif == Some(index) && r.protocol != RTPROT_KERNEL)
            .cloned()
            .collect()
    }

    /// A master left without lines would stay up and drop everything sent to it: set it down
    /// instead, so its routes disappear and a backup route (if any) takes over.
    pub fn down_if_empty(&mut self, master: &BundleName) {
        let Some(link) = self.state.link(master) else { return };
        if self.slaves_now(master).is_empty() && self.up_now(link) {
            let routes = self.state.default_routes_via(link.index).cloned().collect();
            let others = self.routes_through(link.index);
            self.plan.actions.push(Action::LinkDown {
                iface: master.iface().clone(),
                index: link.index,
                routes,
                others,
            });
            self.up.insert(link.index, false);
            self.note(format!("{master} has no line left: set down (its routes go with it)"));
        }
    }

    /// Brings a master up if it has a line, then makes sure of its MTU, address and default
    /// route. Re-running it changes nothing.
    pub fn master_up(&mut self, m: &Master) -> Result<()> {
        let link = self.master_link(&m.device)?;
        let slaves = self.slaves_now(&m.device);
        let Some(smallest) = slaves.iter().min_by_key(|l| l.mtu) else {
            self.note(format!("{} stays down: no line is attached yet; it comes up with its first line", m.device));
            return Ok(());
        };
        let (min_mtu, min_name) = (smallest.mtu, smallest.name.clone());
        let was_up = self.up_now(&link);
        // At open the kernel sets the master's MTU to its smallest line's.
        let effective = if was_up { self.mtu_now(&link) } else { min_mtu };
        if let Some(mtu) = m.mtu {
            if mtu > min_mtu {
                return Err(Error::Config(ConfigError::InvalidValue {
                    path: m.source.clone().unwrap_or_default(),
                    key: "MTU".into(),
                    value: mtu.to_string(),
                    expected: format!("at most {min_mtu}, the MTU of its line {min_name}").into(),
                    device: Some(m.device.to_string()),
                    at: None,
                }));
            }
        }
        if !was_up {
            self.plan.actions.push(Action::LinkUp { iface: m.device.iface().clone(), index: link.index });
            self.up.insert(link.index, true);
        }
        if let Some(mtu) = m.mtu.filter(|&mtu| mtu != effective) {
            self.plan.actions.push(Action::SetMtu {
                iface: m.device.iface().clone(),
                index: link.index,
                mtu,
                previous: effective,
            });
        }
        if let Some(addr) = m.address {
            let present =
                self.state.addresses_of(link.index).any(|a| a.addr == addr.addr && a.prefix_len == addr.prefix_len);
            if !present {
                self.plan.actions.push(Action::AddAddress { iface: m.device.iface().clone(), index: link.index, addr });
            }
        }
        if let (true, Some(via)) = (m.default_route, m.gateway) {
            let metric = m.metric;
            // A master that was down has lost its routes, whatever the dump says.
            let present =
                was_up
                    && self.state.default_routes.iter().any(|r| {
                        r.oif == Some(link.index) && r.gateway == Some(via) && r.metric == metric && !r.multipath
                    });
            if !present {
                let replaced: Vec<Route> = self
                    .state
                    .default_routes
                    .iter()
                    .filter(|r| r.metric == metric && r.oif != Some(link.index))
                    .cloned()
                    .collect();
                for r in &replaced {
                    let dev = r.oif.and_then(|i| self.state.link_by_index(i)).map(|l| l.name.as_str()).unwrap_or("?");
                    self.plan.warnings.push(format!(
                        "the default route via {} dev {dev} (metric {metric}) is replaced by {}'s, as the stacks' own \
                         would be; give one of them another metric to keep both",
                        r.gateway.map(|g| g.to_string()).unwrap_or_else(|| "-".into()),
                        m.device
                    ));
                }
                self.plan.actions.push(Action::DefaultRoute {
                    iface: m.device.iface().clone(),
                    index: link.index,
                    via,
                    metric,
                    replaced,
                });
            }
        }
        self.bundle_routing(m, link.index, was_up);
        Ok(())
    }

    /// TEQL_ROUTE and TEQL_NAT alone, for a master that its stack (ifupdown) configured itself:
    /// nothing while it is down (its routes would be refused; it gets them when it comes up).
    pub(crate) fn master_routing(&mut self, m: &Master) -> Result<()> {
        let link = self.master_link(&m.device)?;
        if self.up_now(&link) {
            self.bundle_routing(m, link.index, true);
        }
        Ok(())
    }

    /// TEQL_ROUTE and TEQL_NAT of an up (or coming up) bundle: its networks routed through it,
    /// our routes it no longer has removed, and its NAT table as configured. Re-running it
    /// changes nothing.
    fn bundle_routing(&mut self, m: &Master, index: u32, was_up: bool) {
        use crate::kernel::route::{TableRoute, MAIN_TABLE, RTPROT_TEQLCTL};
        let dev = m.device.clone();
        let r = &m.routing;
        for p in &r.routes {
            let want = TableRoute {
                table: MAIN_TABLE,
                dst: p.addr,
                dst_len: p.prefix_len,
                oif: Some(index),
                prefsrc: m.address.map(|a| a.addr),
                scope_link: true,
                metric: m.metric,
                protocol: RTPROT_TEQLCTL,
                ..TableRoute::default()
            };
            // A master that was down has lost its routes, whatever the dump says.
            let same_key = |x: &&TableRoute| x.dst == want.dst && x.dst_len == want.dst_len && x.metric == want.metric;
            let now = if was_up { self.state.bundle_routes.iter().find(same_key) } else { None };
            if now.is_some_and(|x| x.oif == Some(index) && x.gateway.is_none() && x.nhid.is_none()) {
                continue;
            }
            let previous = self.state.bundle_routes.iter().find(same_key).filter(|x| x.oif != Some(index)).cloned();
            if let Some(prev) = &previous {
                let via = prev.oif.and_then(|i| self.state.link_by_index(i)).map(|l| l.name.as_str()).unwrap_or("?");
                self.plan.warnings.push(format!(
                    "the route to {p} dev {via} (metric {}) is replaced by {dev}'s ({}); give {dev} another \
                     metric to keep both",
                    m.metric,
                    crate::config::bundle_key_words(m.source.as_deref(), crate::config::Key::Route)
                ));
            }
            let shown = format!("{p} dev {dev} scope link{}{} proto teqlctl", src(m), metric(m.metric));
            self.plan.actions.push(Action::ReplaceRoute { bundle: dev.clone(), route: want, previous, shown });
        }
        if was_up {
            let stale: Vec<TableRoute> = self
                .state
                .bundle_routes
                .iter()
                .filter(|x| x.oif == Some(index) && x.protocol == RTPROT_TEQLCTL && x.table == MAIN_TABLE)
                .filter(|x| {
                    !r.routes.iter().any(|p| p.addr == x.dst && p.prefix_len == x.dst_len && x.metric == m.metric)
                })
                .cloned()
                .collect();
            for x in stale {
                let shown = format!("{}/{} dev {dev}{} proto teqlctl", x.dst, x.dst_len, metric(x.metric));
                self.plan.actions.push(Action::DelRoute { bundle: dev.clone(), route: x, shown });
            }
        }
        if !r.routes.is_empty() && self.state.ip_forward == Some(false) {
            self.plan.warnings.push(format!(
                "{dev} routes {} ({}), but net.ipv4.ip_forward is 0: this box forwards nothing between \
                 the bundle and its other interfaces; set net.ipv4.ip_forward=1 in /etc/sysctl.d",
                r.routes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                crate::config::bundle_key_words(m.source.as_deref(), crate::config::Key::Route)
            ));
        }
        let nat_key = crate::config::bundle_key_words(m.source.as_deref(), crate::config::Key::Nat);
        self.bundle_nat(&dev, &r.nat, &nat_key);
    }

    /// The bundle's NAT table as configured: written when missing or different from our record,
    /// removed when the bundle has no TEQL_NAT (any more). `nat_key`: that key as the bundle's
    /// stack spells it, for the plan's text.
    fn bundle_nat(&mut self, dev: &BundleName, nets: &[crate::config::Ipv4Prefix], nat_key: &str) {
        use crate::plan::bundle_nat;
        let now = self.state.bundle_nat.get(dev.as_str()).cloned().unwrap_or_default();
        // What puts back the table as it was: our recorded ruleset, else none at all.
        let undo = match (&now.written, now.exists, &now.not_ours) {
            (_, true, Some((_, Some(listing)))) => format!("{}{listing}", bundle_nat::teardown(dev)),
            (Some(w), true, None) => w.clone(),
            _ => bundle_nat::teardown(dev),
        };
        // The record follows the table, right after its transaction: a later change that fails
        // rolls back both.
        let record = |contents: Option<String>| {
            let what = match contents {
                Some(_) => format!("the NAT ruleset written for {dev}"),
                None => format!("{dev} has no NAT table"),
            };
            Action::record(bundle_nat::record_path(dev), contents, now.written.clone(), what)
        };
        if nets.is_empty() {
            if now.exists || now.written.is_some() {
                self.plan.actions.push(Action::Nft {
                    bundle: dev.clone(),
                    script: bundle_nat::teardown(dev),
                    undo,
                    what: format!("nft delete table inet {}  # {dev} has no {nat_key}", bundle_nat::table(dev)),
                });
                self.plan.actions.extend(record(None));
            }
            return;
        }
        let script = bundle_nat::ruleset(dev, nets);
        if now.exists && now.not_ours.is_none() && now.written.as_deref() == Some(script.as_str()) {
            return;
        }
        let list: Vec<String> = nets.iter().map(ToString::to_string).collect();
        let rec = record(Some(script.clone()));
        self.plan.actions.push(Action::Nft {
            bundle: dev.clone(),
            what: format!(
                "nft: table inet {} masquerades {} leaving by another interface than {dev}",
                bundle_nat::table(dev),
                list.join(", ")
            ),
            script,
            undo,
        });
        self.plan.actions.extend(rec);
    }

    /// The whole bundle down: master down (its routes go), its configured address removed,
    /// every line detached.
    pub fn master_down(&mut self, m: &Master) -> Result<()> {
        if master_index(&m.device).is_none() {
            return Err(Error::Usage(format!("{}: not a teql master name (teql0, teql1, ...)", m.device)));
        }
        let Some(link) = self.state.link(&m.device) else {
            self.note(format!("{} does not exist (sch_teql is not loaded): nothing to take down", m.device));
            return Ok(());
        };
        if self.up_now(link) {
            let routes = self.state.default_routes_via(link.index).cloned().collect();
            let others = self.routes_through(link.index);
            self.plan.actions.push(Action::LinkDown {
                iface: m.device.iface().clone(),
                index: link.index,
                routes,
                others,
            });
            self.up.insert(link.index, false);
        }
        if let Some(addr) = m.address {
            if self.state.addresses_of(link.index).any(|a| a.addr == addr.addr && a.prefix_len == addr.prefix_len) {
                self.plan.actions.push(Action::DelAddress { iface: m.device.iface().clone(), index: link.index, addr });
            }
        }
        for s in self.slaves_now(&m.device) {
            // sch_teql takes any device the kernel named, and the kernel takes names teqlctl
            // does not: such a line is left to the admin, who attached it by hand.
            let Some(iface) = IfName::new(&s.name) else {
                self.plan.warnings.push(unchecked_line(&s.name, &m.device));
                continue;
            };
            self.plan.actions.push(Action::Detach { iface, index: s.index, master: m.device.clone() });
            self.qdisc.insert(s.index, None);
        }
        // Its routes went with the link; its NAT goes with the bundle.
        let nat_key = crate::config::bundle_key_words(m.source.as_deref(), crate::config::Key::Nat);
        self.bundle_nat(&m.device, &[], &nat_key);
        Ok(())
    }
}
/// TEQL sends the packets of every connection round robin over all lines from the bundle's one
/// address, so only one ISP that takes them all back and balances the returns to that address
/// can carry it (issue 28, point 1). Lines that reach different routers in different subnets
/// are lines to independent ISPs, which drop or misroute what another ISP's customer sends, and
/// a TEQL bundle over them comes up without a word from the kernel: the plan and `status` warn,
/// naming the setting that fits them. `lines`: each line with the gateway its configuration
/// gives it; `multipath`: that setting as the lines' stack spells it. Subnets are the kernel's
/// addresses of the lines (`state`); a line without one is taken to be in a subnet of its own.
pub(crate) fn independent_isps(
    state: &State,
    master: &str,
    lines: &[(&str, Ipv4Addr)],
    multipath: &str,
) -> Option<String> {
    let on_subnet_of = |line: &str, gw: Ipv4Addr| {
        state.link(line).is_some_and(|l| {
            state.addresses_of(l.index).any(|a| {
                let mask = u32::MAX.checked_shl(32 - u32::from(a.prefix_len.min(32))).unwrap_or(0);
                a.peer.is_none() && u32::from(a.addr) & mask == u32::from(gw) & mask
            })
        })
    };
    let (a, ga, b, gb) = lines.iter().enumerate().find_map(|(i, &(a, ga))| {
        lines[i + 1..]
            .iter()
            .find(|&&(b, gb)| ga != gb && !on_subnet_of(a, gb) && !on_subnet_of(b, ga))
            .map(|&(b, gb)| (a, ga, b, gb))
    })?;
    Some(format!(
        "{master}: its lines {a} (gateway {ga}) and {b} (gateway {gb}) reach different routers in \
         different subnets: independent ISPs, which drop or misroute TEQL's per-packet traffic from \
         one shared address; for independent ISPs make the bundle multipath ({multipath}), or run \
         tunnels to an aggregator (teqlctl-config(5), TUNNELS AS LINES)"
    ))
}

/// `independent_isps` for TEQL bundle `master` as configured: its lines with the gateways their
/// files give them, the multipath setting spelled for the stack of its first line's file.
pub(crate) fn independent_isps_of(cfg: &crate::config::Config, state: &State, master: &str) -> Option<String> {
    let lines: Vec<(&str, Ipv4Addr)> =
        cfg.members_of(master).filter_map(|m| m.path.gateway().map(|g| (m.device.as_str(), g))).collect();
    let first = cfg.members_of(master).next()?;
    independent_isps(state, master, &lines, &crate::config::multipath_hint(&first.source, "wan"))
}

/// The warning for a line of `master` whose kernel name teqlctl does not take: it is left
/// attached (shown escaped, since the kernel's names may hold any byte but '/', ':', NUL and
/// whitespace).
fn unchecked_line(raw: &str, master: &str) -> String {
    let name = crate::names::shown(raw);
    format!(
        "{name} is a line of {master} under a name teqlctl does not take ({}): left attached; rename it, or \
         take it out by hand (tc qdisc del dev NAME root)",
        crate::names::refusal(raw)
    )
}

/// The warning for a line of a teqlN past teql63, which teqlctl never configures: it is left
/// attached.
fn unmanaged_master(iface: &IfName, master: &str) -> String {
    format!(
        "{iface} is a line of {master}, past teql63, the last master teqlctl configures: left attached; take it \
         out with `tc qdisc del dev {iface} root`"
    )
}

/// "an ipip", "a gre".
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// ` src ADDR` for a master's route (its own address), as `ip route` prints it.
fn src(m: &Master) -> String {
    m.address.map(|a| format!(" src {}", a.addr)).unwrap_or_default()
}

fn metric(metric: u32) -> String {
    if metric == 0 {
        String::new()
    } else {
        format!(" metric {metric}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Ipv4Prefix;
    use crate::kernel::netlink::{
        Address, Qdisc, ARPHRD_VOID, IFF_BROADCAST, IFF_LOWER_UP, IFF_MULTICAST, IFF_NOARP, IFF_RUNNING, IFF_UP,
    };
    use rtnetlink::packet_route::route::RouteMessage;

    const ETHER: u32 = IFF_BROADCAST | IFF_MULTICAST;

    fn kernel_hint(action: &Action, errno: i32) -> String {
        match action.error(netlink::NlError { errno }) {
            Error::Kernel { hint, .. } => hint,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn hints_follow_the_change_not_its_text() {
        let attach = Action::Attach { iface: "eth2".into(), index: 2, master: "teql0".into(), replacing: None };
        let detach = Action::Detach { iface: "eth2".into(), index: 2, master: "teql0".into() };
        let up = Action::LinkUp { iface: "teql0".into(), index: 9 };
        let mtu = Action::SetMtu { iface: "teql0".into(), index: 9, mtu: 1500, previous: 1400 };
        assert!(kernel_hint(&attach, libc::EINVAL).contains("lacks a flag"));
        assert!(kernel_hint(&attach, libc::ENOENT).contains("no such teql master"));
        // Deleting a root qdisc that is not there is not "no such master" (the old text match
        // on "tc qdisc" said so).
        assert_eq!(kernel_hint(&detach, libc::ENOENT), "");
        assert!(kernel_hint(&up, libc::EUNATCH).contains("no line attached"));
        assert!(kernel_hint(&mtu, libc::EINVAL).contains("smallest line's MTU"));
        assert_eq!(kernel_hint(&mtu, libc::EUNATCH), "");
        assert!(kernel_hint(&detach, libc::ENETDOWN).contains("down"));
        assert!(kernel_hint(&attach, libc::ELOOP).contains("its own line"));
        // Permission and a vanished interface are their own errors, named after the change.
        assert!(
            matches!(up.error(netlink::NlError { errno: libc::EPERM }), Error::Permission(w) if w == up.to_string())
        );
        assert!(
            matches!(up.error(netlink::NlError { errno: libc::ENODEV }), Error::NoSuchInterface(i) if i == "teql0")
        );
    }

    fn link(index: u32, name: &str, flags: u32, mtu: u32) -> Link {
        Link { index, name: name.into(), flags, mtu, link_type: 1, ..Link::default() }
    }

    /// teql0 (down) and four lines eth2..eth5 that network-scripts has brought up.
    fn office() -> State {
        let mut s = State { teql_loaded: true, ..State::default() };
        s.links.push(Link { link_type: ARPHRD_VOID, ..link(1, "teql0", IFF_NOARP | ETHER, 1500) });
        for (i, n) in ["eth2", "eth3", "eth4", "eth5"].iter().enumerate() {
            let idx = 10 + i as u32;
            s.links.push(link(idx, n, ETHER | IFF_UP | IFF_RUNNING | IFF_LOWER_UP, 1500));
            s.qdiscs.insert(idx, Qdisc { ifindex: idx, kind: "pfifo_fast".into(), handle: 0 });
            s.rp_filter.insert(n.to_string(), 1);
        }
        s.rp_filter.insert("all".into(), 0);
        s
    }

    /// `down` detaches every line of the master; one attached by hand whose name came from the
    /// kernel's dump and is no IfName cannot be an action's line (issue 27, point 2): it is
    /// left attached with a warning, its name escaped (issue 26, point 5), and the other lines
    /// still go. No panic, no raw name on the terminal.
    #[test]
    fn a_kernel_name_that_is_no_interface_name_is_left_with_a_warning() {
        let mut s = office();
        let evil = "e\u{1b}]0;x\u{7}\u{202e}";
        s.links.push(link(20, evil, ETHER | IFF_UP, 1500));
        s.qdiscs.insert(20, Qdisc { ifindex: 20, kind: "teql0".into(), handle: 0 });
        s.qdiscs.insert(10, Qdisc { ifindex: 10, kind: "teql0".into(), handle: 0 });
        let mut p = Planner::new(&s);
        p.master_down(&teql0()).unwrap();
        let plan = p.finish();
        let detached: Vec<&str> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Detach { iface, .. } => Some(iface.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(detached, ["eth2"], "{plan}");
        let text = plan.to_string();
        assert!(!text.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'), "{text:?}");
        assert!(
            text.contains(
                "# warning: e\\x1b]0;x\\x07\\xe2\\x80\\xae is a line of teql0 under a name teqlctl does not take"
            ),
            "{text}"
        );
        assert!(text.contains("left attached"), "{text}");
    }

    /// A line of a teqlN past teql63 (sch_teql loaded by hand with more masters) is no line of a
    /// bundle teqlctl names: `detach` leaves it with a warning instead of an action whose master
    /// is no BundleName.
    #[test]
    fn a_line_of_a_master_past_the_cap_is_left_with_a_warning() {
        let mut s = office();
        s.qdiscs.insert(10, Qdisc { ifindex: 10, kind: "teql70".into(), handle: 0 });
        let mut p = Planner::new(&s);
        assert_eq!(p.detach(&IfName::from("eth2"), false).unwrap(), None);
        let plan = p.finish();
        assert!(plan.actions.is_empty(), "{plan}");
        assert!(plan.warnings.iter().any(|w| w.contains("eth2 is a line of teql70, past teql63")), "{plan}");
    }

    /// The office's eth2 and eth3 with addresses: in two subnets, or both in one.
    fn two_lines(eth3: &str, len: u8) -> State {
        let mut s = office();
        for (idx, a) in [(10, "198.51.100.10"), (11, eth3)] {
            s.addresses.push(Address { ifindex: idx, addr: a.parse().unwrap(), prefix_len: len, peer: None });
        }
        s
    }

    fn ip(a: &str) -> Ipv4Addr {
        a.parse().unwrap()
    }

    /// Lines to different routers in different subnets are independent ISPs, which TEQL cannot
    /// bond: the plan says so with the stack's multipath setting (issue 28, point 1).
    #[test]
    fn a_teql_bundle_over_independent_isps_is_a_warning() {
        let s = two_lines("192.0.2.10", 29);
        let mut p = Planner::new(&s);
        let lines = [("eth2", ip("198.51.100.9")), ("eth3", ip("192.0.2.9"))];
        p.warn_with(|s| independent_isps(s, "teql0", &lines, "ifcfg-wan with TEQL_MODE=multipath"));
        let plan = p.finish();
        assert_eq!(plan.warnings.len(), 1, "{plan}");
        let w = &plan.warnings[0];
        assert!(w.starts_with("teql0: its lines eth2 (gateway 198.51.100.9) and eth3 (gateway 192.0.2.9)"), "{w}");
        assert!(w.contains("independent ISPs") && w.contains("(ifcfg-wan with TEQL_MODE=multipath)"), "{w}");
        assert!(plan.to_string().contains("# warning: teql0: its lines eth2"), "{plan}");
    }

    /// One gateway, lines without one, or two routers of one subnet (one ISP's LAN): no warning.
    #[test]
    fn one_isp_behind_a_teql_bundle_is_no_warning() {
        /// eth3's address and prefix, and the lines' gateways.
        type Case<'a> = (&'a str, u8, &'a [(&'a str, &'a str)]);
        let cases: [Case; 4] = [
            ("192.0.2.10", 29, &[("eth2", "198.51.100.9"), ("eth3", "198.51.100.9")]),
            ("192.0.2.10", 29, &[("eth2", "198.51.100.9")]),
            ("192.0.2.10", 29, &[]),
            ("198.51.100.11", 24, &[("eth2", "198.51.100.9"), ("eth3", "198.51.100.1")]),
        ];
        for (eth3, len, gws) in cases {
            let s = two_lines(eth3, len);
            let mut p = Planner::new(&s);
            let lines: Vec<(&str, Ipv4Addr)> = gws.iter().map(|&(l, g)| (l, ip(g))).collect();
            p.warn_with(|s| independent_isps(s, "teql0", &lines, "TEQL_MODE=multipath"));
            let plan = p.finish();
            assert!(plan.warnings.is_empty(), "{eth3}/{len} {gws:?}: {plan}");
        }
    }

    fn teql0() -> Master {
        Master {
            device: "teql0".into(),
            address: Some(Ipv4Prefix { addr: "203.0.113.2".parse().unwrap(), prefix_len: 28 }),
            gateway: Some("203.0.113.1".parse().unwrap()),
            default_route: true,
            mtu: None,
            metric: 0,
            onboot: true,
            source: Some("/etc/sysconfig/network-scripts/ifcfg-teql0".into()),
            mode: Default::default(),
            routing: Default::default(),
        }
    }

    /// The state after the plan's actions, as far as planning cares.
    fn after(mut s: State, plan: &Plan) -> State {
        for a in &plan.actions {
            match a {
                Action::Attach { index, master, .. } => {
                    s.qdiscs.insert(*index, Qdisc { ifindex: *index, kind: master.to_string(), handle: 0x8001_0000 });
                }
                Action::Detach { index, .. } => {
                    s.qdiscs.insert(*index, Qdisc { ifindex: *index, kind: "pfifo_fast".into(), handle: 0 });
                }
                Action::SetRpFilter { iface, value, .. } => {
                    s.rp_filter.insert(iface.to_string(), *value);
                }
                Action::LinkUp { index, .. } => {
                    let min = s
                        .links
                        .iter()
                        .filter(|l| s.qdiscs.get(&l.index).is_some_and(|q| q.kind == "teql0"))
                        .map(|l| l.mtu)
                        .min()
                        .unwrap();
                    let l = s.links.iter_mut().find(|l| l.index == *index).unwrap();
                    l.flags |= IFF_UP;
                    l.mtu = min;
                }
                Action::LinkDown { index, .. } => {
                    s.links.iter_mut().find(|l| l.index == *index).unwrap().flags &= !IFF_UP;
                    s.default_routes.retain(|r| r.oif != Some(*index));
                }
                Action::SetMtu { index, mtu, .. } => s.links.iter_mut().find(|l| l.index == *index).unwrap().mtu = *mtu,
                Action::AddAddress { index, addr, .. } => s.addresses.push(Address {
                    ifindex: *index,
                    addr: addr.addr,
                    prefix_len: addr.prefix_len,
                    peer: None,
                }),
                Action::DelAddress { index, addr, .. } => {
                    s.addresses.retain(|a| !(a.ifindex == *index && a.addr == addr.addr))
                }
                Action::DefaultRoute { index, via, metric, .. } => {
                    s.default_routes.retain(|r| r.metric != *metric);
                    s.default_routes.push(route(Some(*via), *index, *metric));
                }
                Action::ReplaceRoute { route, .. } => {
                    s.bundle_routes
                        .retain(|r| !(r.dst == route.dst && r.dst_len == route.dst_len && r.metric == route.metric));
                    s.bundle_routes.push(route.clone());
                }
                Action::DelRoute { route, .. } => s.bundle_routes.retain(|r| r != route),
                // The table and its record separately, as the kernel and the state directory
                // keep them.
                Action::Nft { bundle, script, .. } => {
                    let now = s.bundle_nat.entry(bundle.to_string()).or_default();
                    now.exists = *script != crate::plan::bundle_nat::teardown(bundle);
                    now.not_ours = None;
                }
                Action::Record { path, contents, .. } => {
                    for (b, now) in s.bundle_nat.iter_mut() {
                        if *path == crate::plan::bundle_nat::record_path(b) {
                            now.written = contents.clone();
                        }
                    }
                    s.bundle_nat.retain(|_, n| n.exists || n.written.is_some());
                }
                // Multipath actions: see multipath's own tests.
                _ => {}
            }
        }
        s
    }

    /// The office after `lines` were attached and teql0 brought up.
    fn bonded(lines: &[&str]) -> State {
        let s = office();
        let mut p = Planner::new(&s);
        for l in lines {
            p.attach(&IfName::from(*l), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        }
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        after(s, &plan)
    }

    fn route(via: Option<Ipv4Addr>, oif: u32, metric: u32) -> Route {
        Route { gateway: via, oif: Some(oif), metric, onlink: true, multipath: false, raw: RouteMessage::default() }
    }

    fn nat_record() -> PathBuf {
        crate::plan::bundle_nat::record_path("teql0")
    }

    fn shell(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn first_line_brings_the_bundle_alive_in_kernel_order() {
        let s = office();
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.master_up(&teql0()).unwrap();
        assert_eq!(
            shell(&p.finish()),
            [
                "sysctl -w net.ipv4.conf.eth2.rp_filter=2",
                "tc qdisc add dev eth2 root teql0",
                "ip link set dev teql0 up",
                "ip address add 203.0.113.2/28 dev teql0",
                "ip route replace default via 203.0.113.1 dev teql0 onlink",
            ]
        );
    }

    fn prefix(s: &str) -> Ipv4Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Ipv4Prefix { addr: a.parse().unwrap(), prefix_len: l.parse().unwrap() }
    }

    /// The aggregator's teql0: no gateway, the office LAN routed through it and masqueraded.
    fn aggregator() -> Master {
        let mut m = Master { gateway: None, default_route: false, ..teql0() };
        m.routing.routes = vec![prefix("198.18.100.0/24")];
        m.routing.nat = vec![prefix("198.18.100.0/24"), prefix("203.0.113.0/28")];
        m
    }

    fn agg_up(s: &State, m: &Master) -> Plan {
        let mut p = Planner::new(s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.master_up(m).unwrap();
        p.finish()
    }

    #[test]
    fn a_bundle_routes_and_masquerades_its_networks_and_a_second_run_changes_nothing() {
        let s = office();
        let plan = agg_up(&s, &aggregator());
        let sh = shell(&plan);
        assert_eq!(
            sh[..4],
            [
                "sysctl -w net.ipv4.conf.eth2.rp_filter=2",
                "tc qdisc add dev eth2 root teql0",
                "ip link set dev teql0 up",
                "ip address add 203.0.113.2/28 dev teql0",
            ]
        );
        assert_eq!(sh[4], "ip route replace 198.18.100.0/24 dev teql0 scope link src 203.0.113.2 proto teqlctl");
        assert!(
            sh[5].contains("oifname != \"teql0\" ip saddr { 198.18.100.0/24, 203.0.113.0/28 } masquerade"),
            "{plan}"
        );
        assert_eq!(sh[6], format!("# record {}: the NAT ruleset written for teql0", nat_record().display()));
        assert_eq!(sh.len(), 7, "{plan}");
        let Action::Nft { undo, .. } = &plan.actions[5] else { panic!("{plan}") };
        assert_eq!(*undo, crate::plan::bundle_nat::teardown("teql0"), "no table before: the undo removes it");
        let Action::ReplaceRoute { route, previous, .. } = &plan.actions[4] else { panic!("{plan}") };
        assert_eq!((route.oif, route.protocol, previous), (Some(1), crate::kernel::route::RTPROT_TEQLCTL, &None));

        let s2 = after(s, &plan);
        let again = agg_up(&s2, &aggregator());
        assert!(again.is_empty(), "{again}");
    }

    #[test]
    fn a_bundle_that_was_down_gets_its_routes_again_whatever_the_dump_says() {
        let s = after(office(), &agg_up(&office(), &aggregator()));
        let mut s = s;
        s.links.iter_mut().find(|l| l.name == "teql0").unwrap().flags &= !IFF_UP;
        let plan = agg_up(&s, &aggregator());
        assert!(shell(&plan).iter().any(|a| a.starts_with("ip route replace 198.18.100.0/24 dev teql0")), "{plan}");
        // The NAT table is still there as written: not rewritten.
        assert!(!plan.actions.iter().any(|a| matches!(a, Action::Nft { .. })), "{plan}");
        // Flushed behind our back (its fingerprint differs): written anew, the undo puts back
        // what nft listed.
        let flushed = "table inet teqlctl_teql0 {\n\tchain nat {\n\t}\n}\n".to_string();
        s.bundle_nat.get_mut("teql0").unwrap().not_ours = Some(("flushed".into(), Some(flushed.clone())));
        let plan = agg_up(&s, &aggregator());
        let nft: Vec<&Action> = plan.actions.iter().filter(|a| matches!(a, Action::Nft { .. })).collect();
        assert_eq!(nft.len(), 1, "{plan}");
        let Action::Nft { script, undo, .. } = nft[0] else { unreachable!() };
        assert!(script.contains("masquerade"), "{plan}");
        assert_eq!(*undo, format!("{}{flushed}", crate::plan::bundle_nat::teardown("teql0")));
        // Its record holds that ruleset already: not written again.
        assert!(!plan.actions.iter().any(|a| matches!(a, Action::Record { .. })), "{plan}");
    }

    #[test]
    fn a_changed_configuration_replaces_what_changed_only() {
        let s = after(office(), &agg_up(&office(), &aggregator()));
        let mut m = aggregator();
        m.routing.routes = vec![prefix("198.18.101.0/24")];
        m.routing.nat.clear();
        let mut p = Planner::new(&s);
        p.master_routing(&m).unwrap();
        let plan = p.finish();
        let sh = shell(&plan);
        assert_eq!(sh[0], "ip route replace 198.18.101.0/24 dev teql0 scope link src 203.0.113.2 proto teqlctl");
        assert_eq!(sh[1], "ip route del 198.18.100.0/24 dev teql0 proto teqlctl");
        assert!(sh[2].contains("delete table inet teqlctl_teql0"), "{plan}");
        let Action::Nft { undo, .. } = &plan.actions[2] else { panic!("{plan}") };
        assert!(undo.contains("masquerade"), "the undo puts the old table back: {undo}");
        assert!(sh[3].starts_with("# remove record "), "{plan}");
        assert_eq!(sh.len(), 4);
    }

    #[test]
    fn an_admin_route_to_the_same_network_is_replaced_with_a_warning_and_kept_for_the_undo() {
        let mut s = after(office(), &agg_up(&office(), &aggregator()));
        s.bundle_routes.clear();
        s.bundle_routes.push(crate::kernel::route::TableRoute {
            table: crate::kernel::route::MAIN_TABLE,
            dst: "198.18.100.0".parse().unwrap(),
            dst_len: 24,
            oif: Some(10),
            gateway: Some("192.0.2.1".parse().unwrap()),
            ..Default::default()
        });
        s.ip_forward = Some(false);
        let mut p = Planner::new(&s);
        p.master_routing(&aggregator()).unwrap();
        let plan = p.finish();
        let Action::ReplaceRoute { previous: Some(prev), .. } = &plan.actions[0] else { panic!("{plan}") };
        assert_eq!(prev.oif, Some(10));
        assert!(
            plan.warnings[0]
                .contains("the route to 198.18.100.0/24 dev eth2 (metric 0) is replaced by teql0's (TEQL_ROUTE);"),
            "{plan}"
        );
        assert!(plan.warnings[1].contains("net.ipv4.ip_forward is 0"), "{plan}");
    }

    #[test]
    fn the_bundle_down_removes_its_nat_and_a_master_routing_run_on_a_down_master_changes_nothing() {
        let s = after(office(), &agg_up(&office(), &aggregator()));
        let mut p = Planner::new(&s);
        p.master_down(&Master::bare("teql0".into())).unwrap();
        let plan = p.finish();
        let sh = shell(&plan);
        assert!(sh[sh.len() - 2].contains("delete table inet teqlctl_teql0"), "{plan}");
        // What the log says of it: no file configures a bare teql0, so every stack's word for
        // the key (issue 28, point 10).
        let nft_what = |plan: &Plan| {
            plan.actions.iter().find_map(|a| match a {
                Action::Nft { what, .. } => Some(what.clone()),
                _ => None,
            })
        };
        assert!(
            nft_what(&plan).is_some_and(|w| w.ends_with("# teql0 has no TEQL_NAT / teql-nat / teqlctl.nat")),
            "{plan}"
        );
        assert_eq!(sh[sh.len() - 1], format!("# remove record {}: teql0 has no NAT table", nat_record().display()));
        let mut p = Planner::new(&s);
        let debian = Master { source: Some("/etc/network/interfaces".into()), ..Master::bare("teql0".into()) };
        p.master_down(&debian).unwrap();
        let w = nft_what(&p.finish());
        assert!(w.as_deref().is_some_and(|w| w.ends_with("# teql0 has no teql-nat")), "{w:?}");
        let Some(Action::Record { previous: Some(p), contents: None, .. }) = plan.actions.last() else {
            panic!("{plan}")
        };
        assert!(p.contains("masquerade"), "the rollback puts the old record back: {p}");
        let s2 = after(s, &plan);
        let mut p = Planner::new(&s2);
        p.master_routing(&aggregator()).unwrap();
        assert!(p.finish().is_empty());
    }

    #[test]
    fn second_run_changes_nothing() {
        let s2 = bonded(&["eth2", "eth3"]);
        let mut p = Planner::new(&s2);
        for l in ["eth2", "eth3"] {
            p.attach(&IfName::from(l), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        }
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        assert!(plan.is_empty(), "{plan}");
    }

    #[test]
    fn later_line_joins_running_master_without_touching_it() {
        let s2 = bonded(&["eth2"]);
        let mut p = Planner::new(&s2);
        p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        p.master_up(&teql0()).unwrap();
        assert_eq!(shell(&p.finish()), ["tc qdisc add dev eth3 root teql0"]);
    }

    #[test]
    fn master_without_lines_stays_down() {
        let s = office();
        let mut p = Planner::new(&s);
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        assert!(plan.actions.is_empty());
        assert!(plan.notes[0].contains("stays down"), "{plan}");
    }

    #[test]
    fn admin_qdisc_is_refused_unless_forced() {
        let mut s = office();
        s.qdiscs.insert(11, Qdisc { ifindex: 11, kind: "htb".into(), handle: 0x0001_0000 });
        let mut p = Planner::new(&s);
        let e = p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap_err();
        assert!(e.to_string().contains("eth3 has a root qdisc htb (handle 1:)"), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::KERNEL);
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Loose, true).unwrap();
        assert!(shell(&p.finish()).contains(&"tc qdisc replace dev eth3 root teql0".to_string()));
    }

    #[test]
    fn default_qdiscs_of_any_kind_are_replaced_silently() {
        let mut s = office();
        s.qdiscs.insert(11, Qdisc { ifindex: 11, kind: "fq_codel".into(), handle: 0 });
        s.qdiscs.insert(12, Qdisc { ifindex: 12, kind: "mq".into(), handle: 0 });
        s.qdiscs.remove(&13);
        let mut p = Planner::new(&s);
        for l in ["eth3", "eth4", "eth5"] {
            p.attach(&IfName::from(l), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        }
        assert_eq!(
            shell(&p.finish()),
            [
                "tc qdisc add dev eth3 root teql0",
                "tc qdisc add dev eth4 root teql0",
                "tc qdisc add dev eth5 root teql0"
            ]
        );
    }

    #[test]
    fn line_of_another_master_is_refused() {
        let mut s = office();
        s.links.push(Link { link_type: ARPHRD_VOID, ..link(2, "teql1", IFF_NOARP | ETHER, 1500) });
        s.qdiscs.insert(10, Qdisc { ifindex: 10, kind: "teql1".into(), handle: 0x8001_0000 });
        let mut p = Planner::new(&s);
        let e = p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap_err();
        assert!(e.to_string().contains("already a line of teql1"), "{e}");
    }

    #[test]
    fn unknown_interface_and_bad_master_names() {
        let s = office();
        let mut p = Planner::new(&s);
        let e = p.attach(&IfName::from("eth9"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::NO_SUCH_INTERFACE);
        assert!(e.to_string().starts_with("eth9: no such interface"), "{e}");
        let e = p.attach(&IfName::from("eth2"), &BundleName::from("eth3"), RpFilter::Loose, false).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        let e = p.attach(&IfName::from("eth2"), &BundleName::from("teql3"), RpFilter::Loose, false).unwrap_err();
        assert!(e.to_string().contains("max_equalizers=4"), "{e}");
        let e = p.attach(&IfName::from("teql0"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap_err();
        assert!(e.to_string().contains("teql master itself"), "{e}");
    }

    #[test]
    fn a_smaller_line_lowers_a_running_masters_mtu_first() {
        let mut s2 = bonded(&["eth2"]);
        s2.links.iter_mut().find(|l| l.name == "eth3").unwrap().mtu = 1400;
        let mut p = Planner::new(&s2);
        p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        assert_eq!(shell(&plan), ["ip link set dev teql0 mtu 1400", "tc qdisc add dev eth3 root teql0"]);
        assert!(
            plan.notes.iter().any(|n| n == "teql0: MTU 1500 lowered to 1400, its new line eth3's"),
            "{:?}",
            plan.notes
        );
        // A configured MTU above the new line's is an error naming the key, before any change.
        let mut p = Planner::new(&s2);
        p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        let e = p.master_up(&Master { mtu: Some(1500), ..teql0() }).unwrap_err();
        assert!(e.to_string().contains("MTU"), "{e}");
        assert!(e.to_string().contains("at most 1400, the MTU of its line eth3"), "{e}");
    }

    #[test]
    fn configured_mtu_is_set_after_up_and_checked_against_lines() {
        let s = office();
        let mut m = teql0();
        m.mtu = Some(1400);
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        p.master_up(&m).unwrap();
        let sh = shell(&p.finish());
        assert_eq!(sh[1..3], ["ip link set dev teql0 up".to_string(), "ip link set dev teql0 mtu 1400".to_string()]);
        m.mtu = Some(9000);
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        let e = p.master_up(&m).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        assert!(
            e.to_string()
                .contains("ifcfg-teql0: MTU=\"9000\" is not valid: expected at most 1500, the MTU of its line eth2"),
            "{e}"
        );
    }

    #[test]
    fn replaced_default_route_is_recorded_and_warned_about() {
        let mut s = office();
        s.links.push(link(20, "eth0", ETHER | IFF_UP, 1500));
        s.default_routes.push(route(Some("192.0.2.1".parse().unwrap()), 20, 0));
        s.default_routes.push(route(Some("192.0.2.254".parse().unwrap()), 20, 100));
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        let Some(Action::DefaultRoute { replaced, .. }) = plan.actions.last() else { panic!("{plan}") };
        assert_eq!(replaced.len(), 1);
        assert_eq!(replaced[0].gateway, Some("192.0.2.1".parse().unwrap()));
        assert!(plan.warnings[0].contains("via 192.0.2.1 dev eth0 (metric 0) is replaced"), "{plan}");
    }

    #[test]
    fn last_line_leaving_takes_master_down_with_its_routes() {
        let s2 = bonded(&["eth2", "eth3"]);
        let mut p = Planner::new(&s2);
        assert_eq!(p.detach(&IfName::from("eth2"), false).unwrap().as_deref(), Some("teql0"));
        p.down_if_empty(&BundleName::from("teql0"));
        assert_eq!(shell(&p.finish()), ["tc qdisc del dev eth2 root"]);
        let mut p = Planner::new(&s2);
        p.detach(&IfName::from("eth2"), false).unwrap();
        p.detach(&IfName::from("eth3"), false).unwrap();
        p.down_if_empty(&BundleName::from("teql0"));
        let plan = p.finish();
        assert_eq!(
            shell(&plan),
            ["tc qdisc del dev eth2 root", "tc qdisc del dev eth3 root", "ip link set dev teql0 down"]
        );
        let Some(Action::LinkDown { routes, .. }) = plan.actions.last() else { panic!() };
        assert_eq!(routes.len(), 1, "the route is kept for a rollback");
    }

    #[test]
    fn check_never_takes_out_the_last_line_as_the_kernel_has_it_now() {
        // The round decided to take eth3 out while eth2 was live; eth2 left before the lock.
        let s = bonded(&["eth3"]);
        let mut p = Planner::new(&s);
        assert_eq!(p.take_out_dead(&IfName::from("eth3"), &BundleName::from("teql0")), HealthStep::Kept);
        assert!(p.finish().actions.is_empty());
        // Two dead lines and one of them the last: the first goes, the second stays.
        let s = bonded(&["eth3", "eth4"]);
        let mut p = Planner::new(&s);
        assert_eq!(p.take_out_dead(&IfName::from("eth3"), &BundleName::from("teql0")), HealthStep::Planned);
        assert_eq!(p.take_out_dead(&IfName::from("eth4"), &BundleName::from("teql0")), HealthStep::Kept);
        assert_eq!(shell(&p.finish()), ["tc qdisc del dev eth3 root"]);
        // Detached by the admin meanwhile, or gone.
        let s = bonded(&["eth2", "eth4"]);
        let mut p = Planner::new(&s);
        assert!(matches!(p.take_out_dead(&IfName::from("eth3"), &BundleName::from("teql0")), HealthStep::Gone(_)));
        assert!(matches!(p.take_out_dead(&IfName::from("eth9"), &BundleName::from("teql0")), HealthStep::Gone(_)));
    }

    #[test]
    fn check_puts_back_only_a_line_that_is_still_up_and_free() {
        let s = bonded(&["eth2"]);
        let mut p = Planner::new(&s);
        assert_eq!(
            p.put_back(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep).unwrap(),
            HealthStep::Planned
        );
        assert_eq!(shell(&p.finish()), ["tc qdisc add dev eth3 root teql0"]);
        let mut s = bonded(&["eth2"]);
        if let Some(l) = s.links.iter_mut().find(|l| l.name == "eth3") {
            l.flags &= !netlink::IFF_UP;
        }
        let mut p = Planner::new(&s);
        assert!(matches!(
            p.put_back(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep).unwrap(),
            HealthStep::Gone(_)
        ));
        let s = bonded(&["eth2", "eth3"]);
        let mut p = Planner::new(&s);
        assert!(matches!(
            p.put_back(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Keep).unwrap(),
            HealthStep::Gone(_)
        ));
        assert!(p.finish().actions.is_empty());
    }

    #[test]
    fn detach_is_idempotent_and_tolerates_vanished_lines() {
        let s = office();
        let mut p = Planner::new(&s);
        assert_eq!(p.detach(&IfName::from("eth2"), false).unwrap(), None);
        assert_eq!(p.detach(&IfName::from("usb0"), true).unwrap(), None);
        assert!(p.detach(&IfName::from("usb0"), false).is_err());
        assert!(p.finish().actions.is_empty());
    }

    #[test]
    fn down_takes_master_down_first_then_address_then_lines() {
        let s2 = bonded(&["eth2", "eth3"]);
        let mut p = Planner::new(&s2);
        p.master_down(&teql0()).unwrap();
        let plan = p.finish();
        assert_eq!(
            shell(&plan),
            [
                "ip link set dev teql0 down",
                "ip address del 203.0.113.2/28 dev teql0",
                "tc qdisc del dev eth2 root",
                "tc qdisc del dev eth3 root"
            ]
        );
        let s3 = after(s2, &plan);
        let mut p = Planner::new(&s3);
        p.master_down(&teql0()).unwrap();
        assert!(p.finish().is_empty());
    }

    #[test]
    fn rp_filter_rules() {
        let mut s = office();
        s.rp_filter.insert("all".into(), 1);
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Off, false).unwrap();
        p.attach(&IfName::from("eth3"), &BundleName::from("teql0"), RpFilter::Strict, false).unwrap();
        p.attach(&IfName::from("eth4"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap();
        let plan = p.finish();
        assert_eq!(plan.actions[0], Action::SetRpFilter { iface: "eth2".into(), value: 0, previous: Some(1) });
        assert!(plan.warnings.iter().any(|w| w.contains("no effect while net.ipv4.conf.all.rp_filter")));
        assert!(plan.warnings.iter().any(|w| w.contains("eth3: strict rp_filter drops replies")));
        assert!(!shell(&plan).iter().any(|c| c.contains("eth3.rp_filter") || c.contains("eth4.rp_filter")));
    }

    #[test]
    fn tunnels_need_force() {
        let mut s = office();
        s.links.push(Link { kind: Some("gretap".into()), ..link(30, "gt0", ETHER | IFF_UP, 1462) });
        let mut p = Planner::new(&s);
        let e = p.attach(&IfName::from("gt0"), &BundleName::from("teql0"), RpFilter::Keep, false).unwrap_err();
        assert!(e.to_string().contains("gt0 is a gretap tunnel"), "{e}");
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("gt0"), &BundleName::from("teql0"), RpFilter::Keep, true).unwrap();
        assert!(p.finish().warnings[0].contains("--force"));
    }

    /// The office with two ISP lines eth1 (198.51.100.10) and eth6 (192.0.2.10) and keyed GRE
    /// tunnels tl1/tl2 over them to 198.18.0.2, whose outer packets leave by their own lines.
    fn tunnel_office() -> State {
        let mut s = office();
        let up = ETHER | IFF_UP | IFF_RUNNING | IFF_LOWER_UP;
        for (idx, name, addr) in [(40, "eth1", "198.51.100.10"), (41, "eth6", "192.0.2.10")] {
            s.links.push(link(idx, name, up, 1500));
            s.addresses.push(Address { ifindex: idx, addr: addr.parse().unwrap(), prefix_len: 24, peer: None });
        }
        for (idx, name, local, out) in [(50, "tl1", "198.51.100.10", 40), (51, "tl2", "192.0.2.10", 41)] {
            let tunnel = crate::kernel::netlink::Tunnel {
                local: Some(local.parse().unwrap()),
                remote: Some("198.18.0.2".parse().unwrap()),
                link: 0,
                overhead: 28,
            };
            s.links.push(Link {
                kind: Some("gre".into()),
                tunnel: Some(tunnel),
                link_type: 778,
                ..link(
                    idx,
                    name,
                    IFF_NOARP | crate::kernel::netlink::IFF_POINTOPOINT | IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
                    1472,
                )
            });
            s.tunnel_paths.insert(idx, Ok(crate::kernel::netlink::OuterPath { oif: out, gateway: None }));
            s.rp_filter.insert(name.into(), 1);
        }
        s
    }

    #[test]
    fn gre_tunnels_over_their_own_lines_are_lines() {
        let s = tunnel_office();
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.attach(&IfName::from("tl2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.master_up(&teql0()).unwrap();
        let plan = p.finish();
        let sh = shell(&plan);
        // No address of their own: rp_filter 0, else every packet they receive is dropped.
        assert_eq!(sh[0], "sysctl -w net.ipv4.conf.tl1.rp_filter=0");
        assert!(sh.iter().any(|c| c == "tc qdisc add dev tl2 root teql0"), "{sh:?}");
        assert!(plan.notes.iter().any(|n| n.contains("tl1: rp_filter off, not loose")), "{:?}", plan.notes);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn tunnels_of_two_kinds_in_one_bundle_are_a_warning() {
        let mut s = tunnel_office();
        s.links.iter_mut().find(|l| l.name == "tl1").unwrap().kind = Some("ipip".into());
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.attach(&IfName::from("tl2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        let plan = p.finish();
        assert_eq!(plan.warnings.len(), 1, "{plan}");
        assert!(
            plan.warnings[0].starts_with("tl2 is a gre tunnel and tl1, a line of teql0 too, an ipip one"),
            "{plan}"
        );
        assert!(shell(&plan).iter().any(|c| c == "tc qdisc add dev tl2 root teql0"), "{plan}");
    }

    #[test]
    fn a_tunnel_with_an_address_keeps_loose_filtering() {
        let mut s = tunnel_office();
        s.addresses.push(Address { ifindex: 50, addr: "198.18.201.2".parse().unwrap(), prefix_len: 30, peer: None });
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        assert_eq!(shell(&p.finish())[0], "sysctl -w net.ipv4.conf.tl1.rp_filter=2");
    }

    #[test]
    fn a_bare_tunnel_is_refused_while_all_rp_filter_is_on() {
        let mut s = tunnel_office();
        s.rp_filter.insert("all".into(), 1);
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("net.ipv4.conf.all.rp_filter is 1"), "{e}");
    }

    #[test]
    fn a_tunnel_whose_outer_packets_loop_or_leave_by_another_isp_is_refused() {
        let mut s = tunnel_office();
        s.tunnel_paths.insert(50, Ok(crate::kernel::netlink::OuterPath { oif: 1, gateway: None }));
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("would leave by teql0, through a teql bundle: a loop"), "{e}");
        // tl2 is already a line of teql0: tl1's packets through it are a loop too.
        let mut s = tunnel_office();
        s.tunnel_paths.insert(50, Ok(crate::kernel::netlink::OuterPath { oif: 51, gateway: None }));
        s.qdiscs.insert(51, Qdisc { ifindex: 51, kind: "teql0".into(), handle: 0x8001_0000 });
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("a loop"), "{e}");
        let mut s = tunnel_office();
        s.tunnel_paths.insert(50, Ok(crate::kernel::netlink::OuterPath { oif: 41, gateway: None }));
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("would leave by eth6, not by eth1, which owns 198.51.100.10"), "{e}");
        let mut s = tunnel_office();
        s.tunnel_paths.insert(50, Err(101));
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("no route for its outer packets from 198.51.100.10 to 198.18.0.2"), "{e}");
    }

    #[test]
    fn an_aggregator_tunnel_from_an_address_on_lo_may_leave_by_its_uplink() {
        let mut s = tunnel_office();
        s.links.push(Link { flags: crate::kernel::netlink::IFF_LOOPBACK | IFF_UP, ..link(60, "lo", 0, 65536) });
        s.addresses.push(Address { ifindex: 60, addr: "198.18.0.9".parse().unwrap(), prefix_len: 32, peer: None });
        s.links.iter_mut().find(|l| l.name == "tl1").unwrap().tunnel.as_mut().unwrap().local =
            Some("198.18.0.9".parse().unwrap());
        Planner::new(&s).attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
    }

    #[test]
    fn a_tunnel_without_outer_addresses_or_too_large_for_its_line_is_refused() {
        let mut s = tunnel_office();
        s.links.iter_mut().find(|l| l.name == "tl1").unwrap().tunnel.as_mut().unwrap().local = None;
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("MY_OUTER_IPADDR and PEER_OUTER_IPADDR"), "{e}");
        let mut s = tunnel_office();
        s.links.iter_mut().find(|l| l.name == "tl1").unwrap().mtu = 1500;
        let e = Planner::new(&s)
            .attach(&IfName::from("tl1"), &BundleName::from("teql0"), RpFilter::Loose, false)
            .unwrap_err();
        assert!(e.to_string().contains("exceed eth1's MTU 1500 and would be fragmented; set tl1's MTU to 1472"), "{e}");
    }

    #[test]
    fn untried_tunnel_kinds_need_force() {
        let mut s = office();
        s.links.push(Link { kind: Some("sit".into()), ..link(30, "sit1", IFF_NOARP | IFF_UP, 1480) });
        let e = Planner::new(&s)
            .attach(&IfName::from("sit1"), &BundleName::from("teql0"), RpFilter::Keep, false)
            .unwrap_err();
        assert!(e.to_string().contains("was never tried as a teql line"), "{e}");
    }

    #[test]
    fn dry_run_before_module_load_assumes_masters() {
        let mut s = office();
        s.links.retain(|l| l.name != "teql0");
        s.teql_loaded = false;
        let mut p = Planner::new(&s);
        p.attach(&IfName::from("eth2"), &BundleName::from("teql0"), RpFilter::Loose, false).unwrap();
        p.master_up(&teql0()).unwrap();
        assert_eq!(shell(&p.finish()).len(), 5);
    }
}
