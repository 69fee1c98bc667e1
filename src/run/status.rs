//! `teqlctl status`: what each bundle looks like now, as text or JSON (schema in teqlctl(8)).

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Config;
use crate::kernel::netlink::{IFF_LOWER_UP, IFF_POINTOPOINT, IFF_UP};
use crate::kernel::state::State;
use crate::run::health::{Health, LineState};

/// The version of `status --json`'s schema (its top-level "schema"): bumped only when a field
/// is removed or changes meaning; fields are added without a bump (teqlctl(8), STATUS JSON).
/// 2 (issue 28, point 9): a multipath or connection bundle's "default_route" has "via" null
/// (it has no single gateway) and lists its "nexthops", where 1 said "via": "nhid N".
pub const SCHEMA: u32 = 2;

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema: u32,
    pub masters: Vec<MasterStatus>,
    /// Every problem in a configuration file that concerns teql (one line each, naming the
    /// file and key): the lines they concern are left alone by hooks and check, and the manual
    /// commands that change bundles refuse to run until they are fixed.
    pub problems: Vec<String>,
    /// Lines whose hooks can never run on this box (their stack or its hooks are missing):
    /// one line each, saying what to do (src/front/stack.rs).
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct MasterStatus {
    pub name: String,
    /// "teql", "multipath" or "connection".
    pub mode: &'static str,
    /// What the text says after the bundle's state (its mode, for a bundle that is not a teqlN
    /// device), as its mode's status gives it.
    #[serde(skip)]
    pub shown_mode: Option<&'static str>,
    /// The text says where the box's own connections go (a connection bundle balances them):
    /// the bundle's local-source key in its stack's words, for the text's hint.
    #[serde(skip)]
    pub own_connections: Option<String>,
    /// Multipath bundles: whether the default route uses a resilient nexthop group (false: a
    /// plain multipath route, on kernels before 5.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resilient: Option<bool>,
    /// The device exists (sch_teql is loaded with enough masters).
    pub exists: bool,
    pub configured: bool,
    pub up: bool,
    pub mtu: Option<u32>,
    /// IPv4 addresses as "ADDR/PREFIX".
    pub addresses: Vec<String>,
    pub default_route: Option<RouteStatus>,
    /// A connection bundle's nftables table, when it is not what teqlctl wrote or teqlctl had
    /// to write it anew because it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nft_table: Option<NftTableStatus>,
    /// What is wrong with the bundle as configured on this box, one line each, saying what to
    /// do (a TEQL bundle over independent ISPs).
    pub warnings: Vec<String>,
    /// The bundle's lines. `to_json` also writes them as "slaves", the name before schema 1,
    /// kept as a deprecated alias for one release.
    pub lines: Vec<LineStatus>,
}

/// A connection bundle's table as teqlctl checks it against what it wrote.
#[derive(Debug, Serialize)]
pub struct NftTableStatus {
    /// Why the table now is not the one teqlctl wrote (null: it is).
    pub problem: Option<String>,
    /// Unix time teqlctl last wrote it anew because it was not (null: never).
    pub rewritten: Option<u64>,
    /// What it found then.
    pub rewritten_why: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RouteStatus {
    /// The gateway of a TEQL bundle's route; null for a multipath or connection bundle's,
    /// which goes by its "nexthops".
    pub via: Option<String>,
    pub metric: u32,
    /// Its preferred source (a connection bundle's TEQL_LOCAL_SOURCE), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// A multipath or connection bundle's route: its nexthop group's id (null: a plain
    /// multipath route, on kernels without resilient groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhid: Option<Option<u32>>,
    /// A multipath or connection bundle's route: its hops as the kernel has them, one per line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthops: Option<Vec<HopStatus>>,
}

/// One hop of a bundle's route, or a line's own nexthop object, as the kernel has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopStatus {
    /// The device it leaves by.
    pub dev: Option<String>,
    /// Its gateway; null for a hop by the device (a point-to-point line).
    pub via: Option<String>,
    pub weight: u16,
    /// The nexthop object (a line's table number); null for a hop of a plain multipath route.
    pub id: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct LineStatus {
    pub name: String,
    pub exists: bool,
    /// Named by the configuration (TEQL_MASTER), as opposed to attached by hand.
    pub configured: bool,
    /// Its root qdisc is this master.
    pub attached: bool,
    pub up: bool,
    pub carrier: bool,
    pub rp_filter: Option<u8>,
    /// The line's own counters (IFLA_STATS64) since its device was created.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Bytes per second sent and received since the last sample of the counters (`check`'s
    /// round or an earlier `status`, 1 s to 5 min before: run::rates); null without one.
    pub tx_bytes_per_s: Option<u64>,
    pub rx_bytes_per_s: Option<u64>,
    /// The span of those rates, in milliseconds (null without rates).
    pub rate_span_ms: Option<u64>,
    /// What `teqlctl check` found, if it has checked this line.
    pub health: Option<HealthStatus>,
    /// The network stack that brings the line up and runs its hooks (network-scripts,
    /// ifupdown, ifupdown2, NetworkManager); None for a line not in the configuration.
    pub stack: Option<&'static str>,
    /// A line of a multipath bundle: its address, gateway, weight, table, and whether it
    /// carries new flows now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipath: Option<PathStatus>,
}

#[derive(Debug, Serialize)]
pub struct PathStatus {
    pub address: Option<String>,
    /// The gateway the planner uses for the line (configured, else its DHCP lease's router,
    /// else the one the kernel has for it: multipath::gateway_of); null for a point-to-point
    /// line, which goes by its device, and for a line whose gateway is not known.
    pub gateway: Option<String>,
    /// Routed by its device (ppp, or an address with a peer): it needs no gateway.
    pub pointopoint: bool,
    /// Its own nexthop object (id: its table) as the kernel has it; null when there is none.
    pub nexthop: Option<HopStatus>,
    pub weight: u16,
    pub table: u32,
    /// In the bundle's nexthop group (or multipath route): it gets new flows.
    pub live: bool,
    /// Why not, when not live.
    pub why: Option<String>,
    /// A line of a connection bundle: its mark and what its connections are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnStatus>,
}

#[derive(Debug, Serialize)]
pub struct ConnStatus {
    /// The packet and connection mark of its connections ("0x54451069").
    pub mark: String,
    /// Its share of new connections now, in thousandths (its slots of the weights map).
    pub share_permille: u32,
    /// New connections it took since the bundle's table was written (None: not read).
    pub new_connections: Option<u64>,
    /// Its connections in conntrack now (None: not counted).
    pub conntrack_entries: Option<u64>,
    /// Its part of the new connections all the bundle's lines took, in thousandths (None: not
    /// read, or none taken yet): the share the weights gave it in fact.
    pub new_connections_permille: Option<u32>,
    /// Its part of the bundle's entries in conntrack now, in thousandths (None: not counted,
    /// or none).
    pub conntrack_permille: Option<u32>,
}

/// Fills in each connection line's part of its bundle's totals.
fn conn_parts(lines: &mut [LineStatus]) {
    let conns: Vec<&ConnStatus> =
        lines.iter().filter_map(|l| l.multipath.as_ref().and_then(|p| p.connection.as_ref())).collect();
    let total = |f: fn(&ConnStatus) -> Option<u64>| -> Option<u64> {
        conns.iter().map(|c| f(c)).sum::<Option<u64>>().filter(|t| *t > 0)
    };
    let new_total = total(|c| c.new_connections);
    let ct_total = total(|c| c.conntrack_entries);
    let part = |v: Option<u64>, t: Option<u64>| Some(((v? * 1000 + t? / 2) / t?) as u32);
    for c in lines.iter_mut().filter_map(|l| l.multipath.as_mut().and_then(|p| p.connection.as_mut())) {
        c.new_connections_permille = part(c.new_connections, new_total);
        c.conntrack_permille = part(c.conntrack_entries, ct_total);
    }
}

#[derive(Debug, Serialize)]
pub struct HealthStatus {
    /// "healthy", "dead" (taken out, or about to be) or "kept" (dead, but the last line).
    pub state: LineState,
    /// "ok", or why the last round failed.
    pub last: String,
    pub rtt_ms: Option<f64>,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Unix time the state began.
    pub since: u64,
    /// Unix time of the last round.
    pub checked: u64,
    /// Taken out by `teqlctl check` (it puts such lines back when they recover).
    pub taken_out: bool,
    pub warnings: Vec<String>,
}

/// The status of the bundles `masters` (each as its mode shows it: mode::statuses), with the
/// configuration's problems.
pub fn collect(cfg: &Config, masters: Vec<MasterStatus>) -> Status {
    Status {
        schema: SCHEMA,
        masters,
        problems: cfg.problems.iter().map(ToString::to_string).collect(),
        warnings: Vec::new(),
    }
}

impl Status {
    /// Every line shown gets its rate since the sample `prev` (run::rates), where there is one.
    pub(crate) fn fill_rates(&mut self, prev: Option<&crate::run::rates::Sample>, now: &crate::run::rates::Sample) {
        let Some(prev) = prev else { return };
        let rates = crate::run::rates::rates(prev, now);
        for line in self.masters.iter_mut().flat_map(|m| m.lines.iter_mut()) {
            if let Some(r) = rates.get(&line.name) {
                line.tx_bytes_per_s = Some(r.tx_bytes_per_s);
                line.rx_bytes_per_s = Some(r.rx_bytes_per_s);
                line.rate_span_ms = Some(r.span_ms);
            }
        }
    }
}

pub(crate) fn master_status(cfg: &Config, state: &State, health: &Health, name: &str) -> MasterStatus {
    let link = state.link(name);
    let mut slave_names: Vec<String> = cfg.members_of(name).map(|m| m.device.to_string()).collect();
    for s in state.slaves_of(name) {
        if !slave_names.contains(&s.name) {
            slave_names.push(s.name.clone());
        }
    }
    let lines = slave_names
        .iter()
        .map(|s| {
            let l = state.link(s);
            LineStatus {
                name: s.clone(),
                exists: l.is_some(),
                configured: cfg.members.get(s).is_some_and(|m| m.master == name),
                attached: l.is_some_and(|l| state.root_qdisc(l.index).is_some_and(|q| q.kind == name)),
                up: l.is_some_and(|l| l.flags & IFF_UP != 0),
                carrier: l.is_some_and(|l| l.flags & IFF_LOWER_UP != 0),
                rp_filter: state.rp_filter.get(s).copied(),
                tx_packets: l.map_or(0, |l| l.tx_packets),
                tx_bytes: l.map_or(0, |l| l.tx_bytes),
                rx_packets: l.map_or(0, |l| l.rx_packets),
                rx_bytes: l.map_or(0, |l| l.rx_bytes),
                tx_bytes_per_s: None,
                rx_bytes_per_s: None,
                rate_span_ms: None,
                multipath: None,
                health: health_status(health, s, name),
                stack: None,
            }
        })
        .collect();
    MasterStatus {
        name: name.to_string(),
        mode: "teql",
        shown_mode: None,
        own_connections: None,
        warnings: crate::plan::teql::independent_isps_of(cfg, state, name).into_iter().collect(),
        resilient: None,
        nft_table: None,
        exists: link.is_some(),
        configured: cfg.masters.get(name).is_some_and(|m| m.source.is_some()),
        up: link.is_some_and(State::is_up),
        mtu: link.map(|l| l.mtu),
        addresses: link
            .map(|l| state.addresses_of(l.index).map(|a| format!("{}/{}", a.addr, a.prefix_len)).collect())
            .unwrap_or_default(),
        default_route: link.and_then(|l| {
            state.default_routes_via(l.index).min_by_key(|r| r.metric).map(|r| RouteStatus {
                via: r.gateway.map(|g| g.to_string()),
                metric: r.metric,
                src: None,
                nhid: None,
                nexthops: None,
            })
        }),
        lines,
    }
}

fn health_status(health: &Health, line: &str, master: &str) -> Option<HealthStatus> {
    health.lines.get(line).filter(|h| h.master == master).map(|h| HealthStatus {
        state: h.state(),
        last: h.last.clone(),
        rtt_ms: h.rtt_ms,
        consecutive_failures: h.fails,
        consecutive_successes: h.oks,
        since: h.since,
        checked: h.checked,
        taken_out: h.detached,
        warnings: h.warnings.clone(),
    })
}

/// A connection line's mark, share and counts.
fn conn_status(state: &State, shares: &[(u32, u32, u32)], device: &str, table: u32) -> ConnStatus {
    let mark = crate::plan::connection::mark_of(table);
    let share_permille = shares.iter().filter(|s| s.2 == mark).map(|(a, b, _)| b - a + 1).sum();
    let c = state.connection.as_ref();
    ConnStatus {
        mark: format!("{mark:#010x}"),
        share_permille,
        new_connections: c.and_then(|c| c.new_connections.as_ref()).and_then(|n| n.get(device).copied()),
        conntrack_entries: c.and_then(|c| c.entries.get(&mark).copied()),
        new_connections_permille: None,
        conntrack_permille: None,
    }
}

/// A connection bundle's table, when there is something to say of it.
fn nft_table_status(state: &State, name: &str) -> Option<NftTableStatus> {
    let problem = state.connection.as_ref().and_then(|c| c.table_problem.clone());
    let repair = crate::run::ops::last_repair(name);
    if problem.is_none() && repair.is_none() {
        return None;
    }
    let (rewritten, rewritten_why) = repair.map_or((None, None), |(t, w)| (Some(t), Some(w)));
    Some(NftTableStatus { problem, rewritten, rewritten_why })
}

/// A multipath bundle: no device of its own; it is up while its default route (or, without
/// one, its group) is in the kernel.
/// (`conn`: a connection bundle's options; its lines' marks and shares are shown too.)
pub(crate) fn multipath_status(
    cfg: &Config,
    state: &State,
    health: &Health,
    master: &crate::config::Master,
    conn: Option<&crate::config::ConnectionOptions>,
) -> MasterStatus {
    use crate::kernel::route::{MAIN_TABLE, RTPROT_TEQLCTL};
    use crate::plan::multipath::group_id;
    let name = master.device.as_str();
    let gid = group_id(name);
    let group = state.nexthops.iter().find(|n| n.id == gid);
    let metric = master.metric;
    let route = state
        .routes
        .iter()
        .find(|r| r.table == MAIN_TABLE && r.is_default() && r.metric == metric && r.protocol == RTPROT_TEQLCTL);
    // Whether each line carries new flows (connections) now: in the group, or our route.
    let live: std::collections::BTreeMap<&str, bool> = cfg
        .members_of(name)
        .map(|m| {
            let live = state
                .link(&m.device)
                .is_some_and(|l| crate::plan::multipath::in_bundle(state, name, l.index, m.table()));
            (m.device.as_str(), live)
        })
        .collect();
    // A connection bundle's weights map as the planner writes it: live lines by their weights.
    let shares = conn.map(|_| {
        let lines: Vec<crate::plan::connection::ConnLine> = cfg
            .members_of(name)
            .map(|m| crate::plan::connection::ConnLine {
                device: m.device.clone(),
                mark: crate::plan::connection::mark_of(m.table()),
                weight: m.path.weight.unwrap_or(1),
                addr: None,
                live: live.get(m.device.as_str()).copied().unwrap_or(false),
            })
            .collect();
        crate::plan::connection::slots(&lines)
    });
    // Each line as the planner sees it: its gateway is the plan's (issue 28, point 9).
    let (now, _) = crate::plan::multipath::lines_now(&crate::run::ops::multipath_lines(cfg, name), state);
    let mut lines: Vec<LineStatus> = cfg
        .members_of(name)
        .map(|m| {
            let l = state.link(&m.device);
            let table = m.table();
            let addr = l.and_then(|l| state.addresses_of(l.index).next());
            let live = live.get(m.device.as_str()).copied().unwrap_or(false);
            let line_now = now.iter().find(|n| n.device == m.device.as_str());
            let pointopoint = line_now.map_or_else(
                || l.is_some_and(|l| l.flags & IFF_POINTOPOINT != 0) || addr.is_some_and(|a| a.peer.is_some()),
                |n| n.pointopoint,
            );
            // A line that is up with an address: the planner's gateway. Otherwise the
            // configured one, shown for what it will be.
            let gateway = match line_now {
                Some(n) => n.gateway,
                None => m.path.gateway().filter(|_| !pointopoint),
            };
            // A configured or leased router the kernel would refuse, as the planner leaves the
            // line out for it (multipath::router_refused; a point-to-point line needs none).
            let refused = line_now.and_then(|n| n.refused.as_ref()).map(|r| (r.router, r.why.clone()));
            let nexthop = state.nexthops.iter().find(|n| n.id == table).map(|n| HopStatus {
                dev: n.oif.and_then(|i| state.links.iter().find(|l| l.index == i)).map(|l| l.name.clone()),
                via: n.gateway.map(|g| g.to_string()),
                weight: m.path.weight.unwrap_or(1),
                id: Some(n.id),
            });
            let taken_out = health.lines.get(m.device.as_str()).is_some_and(|h| h.master == name && h.detached);
            let why = match () {
                _ if live => None,
                _ if l.is_none() => Some("no such interface".to_string()),
                _ if l.is_some_and(|l| l.flags & IFF_UP == 0) => Some("down".to_string()),
                _ if addr.is_none() => Some("no IPv4 address".to_string()),
                _ if l.is_some_and(|l| l.flags & IFF_LOWER_UP == 0) => Some("no carrier".to_string()),
                _ if taken_out => Some("taken out by teqlctl check".to_string()),
                _ if refused.is_some() => refused.as_ref().map(|(g, w)| format!("its router {g} is refused: {w}")),
                _ if gateway.is_none() && !pointopoint => Some("no gateway known".to_string()),
                _ => Some("not in the bundle's route (bring the bundle up)".to_string()),
            };
            LineStatus {
                name: m.device.to_string(),
                exists: l.is_some(),
                configured: true,
                attached: live,
                up: l.is_some_and(|l| l.flags & IFF_UP != 0),
                carrier: l.is_some_and(|l| l.flags & IFF_LOWER_UP != 0),
                rp_filter: state.rp_filter.get(m.device.as_str()).copied(),
                tx_packets: l.map_or(0, |l| l.tx_packets),
                tx_bytes: l.map_or(0, |l| l.tx_bytes),
                rx_packets: l.map_or(0, |l| l.rx_packets),
                rx_bytes: l.map_or(0, |l| l.rx_bytes),
                tx_bytes_per_s: None,
                rx_bytes_per_s: None,
                rate_span_ms: None,
                health: health_status(health, &m.device, name),
                stack: None,
                multipath: Some(PathStatus {
                    address: addr.map(|a| format!("{}/{}", a.addr, a.prefix_len)),
                    gateway: gateway.map(|g| g.to_string()),
                    pointopoint,
                    nexthop,
                    weight: m.path.weight.unwrap_or(1),
                    table,
                    live,
                    connection: shares.as_ref().map(|s| conn_status(state, s, &m.device, table)),
                    why,
                }),
            }
        })
        .collect();
    conn_parts(&mut lines);
    MasterStatus {
        name: name.to_string(),
        mode: master.mode.name(),
        shown_mode: Some(master.mode.name()),
        warnings: Vec::new(),
        own_connections: conn
            .map(|_| crate::config::bundle_key_words(master.source.as_deref(), crate::config::Key::LocalSource)),
        resilient: route.map(|r| r.nhid.is_some()),
        exists: true,
        configured: true,
        up: route.is_some() || group.is_some(),
        mtu: None,
        addresses: Vec::new(),
        default_route: route.map(|r| RouteStatus {
            via: None,
            metric: r.metric,
            src: r.prefsrc.map(|a| a.to_string()),
            nhid: Some(r.nhid),
            nexthops: Some(route_hops(state, r)),
        }),
        nft_table: nft_table_status(state, name),
        lines,
    }
}

/// The hops of a bundle's default route as the kernel has them: its group's members, or a
/// plain multipath route's hops.
fn route_hops(state: &State, r: &crate::kernel::route::TableRoute) -> Vec<HopStatus> {
    let dev = |i: Option<u32>| i.and_then(|i| state.links.iter().find(|l| l.index == i)).map(|l| l.name.clone());
    match r.nhid {
        Some(gid) => state
            .nexthops
            .iter()
            .filter(|n| n.id == gid)
            .flat_map(|g| g.group.iter())
            .map(|(id, weight)| {
                let hop = state.nexthops.iter().find(|n| n.id == *id);
                HopStatus {
                    dev: dev(hop.and_then(|h| h.oif)),
                    via: hop.and_then(|h| h.gateway).map(|g| g.to_string()),
                    weight: *weight,
                    id: Some(*id),
                }
            })
            .collect(),
        None => r
            .multipath
            .iter()
            .map(|(gw, oif, weight)| HopStatus {
                dev: dev(Some(*oif)),
                via: gw.map(|g| g.to_string()),
                weight: *weight,
                id: None,
            })
            .collect(),
    }
}

impl Status {
    pub(crate) fn to_json(&self) -> String {
        /// A master as JSON: its fields, then "slaves", the deprecated alias of "lines" (the
        /// same array), kept for one release.
        #[derive(Serialize)]
        struct MasterJson<'a> {
            #[serde(flatten)]
            master: &'a MasterStatus,
            slaves: &'a [LineStatus],
        }
        #[derive(Serialize)]
        struct StatusJson<'a> {
            schema: u32,
            masters: Vec<MasterJson<'a>>,
            problems: &'a [String],
            warnings: &'a [String],
        }
        let json = StatusJson {
            schema: self.schema,
            masters: self.masters.iter().map(|m| MasterJson { master: m, slaves: &m.lines }).collect(),
            problems: &self.problems,
            warnings: &self.warnings,
        };
        // Serialising plain strings and numbers cannot fail.
        let text = serde_json::to_string_pretty(&json).unwrap_or_else(|_| "{}".to_string());
        // serde_json escapes C0 controls only: DEL, the C1 controls (CSI U+009B starts an
        // escape sequence on some terminals) and bidi marks in a kernel's interface name are
        // written as \uXXXX too, which is the same JSON string. Outside strings JSON is ASCII.
        text.chars()
            .map(|c| {
                let one = c.to_string();
                if c != '\n' && crate::text::escape_for_message(&one, 1) != one {
                    format!("\\u{:04x}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    pub(crate) fn to_text(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut out = String::new();
        if self.masters.is_empty() {
            out.push_str("no teql master is configured or in use\n");
        }
        for m in &self.masters {
            let state = match (m.exists, m.up) {
                (false, _) => "missing (sch_teql not loaded)",
                (true, true) => "up",
                (true, false) => "down",
            };
            let _ = write!(out, "{}: {state}", crate::names::shown(&m.name));
            if let Some(mode) = m.shown_mode {
                let _ = match m.resilient {
                    Some(false) => {
                        write!(out, " ({mode}: a plain multipath route; this kernel has no resilient nexthop groups)")
                    }
                    _ => write!(out, " ({mode})"),
                };
            }
            if let (true, Some(mtu)) = (m.exists, m.mtu) {
                let _ = write!(out, ", mtu {mtu}");
            }
            for a in &m.addresses {
                let _ = write!(out, ", {a}");
            }
            match &m.default_route {
                // A bundle's route goes by its hops, written as `ip route` does.
                Some(RouteStatus { nexthops: Some(hops), nhid, metric, .. }) => {
                    let _ = match nhid {
                        Some(Some(id)) => write!(out, ", default route (nhid {id}): "),
                        _ => write!(out, ", default route: "),
                    };
                    let hops: Vec<String> = hops
                        .iter()
                        .map(|h| {
                            let via = h.via.as_deref().map_or(String::new(), |v| format!("via {v} "));
                            format!("{via}dev {} weight {}", h.dev.as_deref().unwrap_or("?"), h.weight)
                        })
                        .collect();
                    out.push_str(if hops.is_empty() { "no nexthops" } else { "" });
                    out.push_str(&hops.join(", "));
                    if *metric != 0 {
                        let _ = write!(out, "; metric {metric}");
                    }
                    if let Some(src) = m.default_route.as_ref().and_then(|r| r.src.as_ref()) {
                        let _ = write!(out, "; src {src}");
                    }
                }
                Some(r) => {
                    let _ = write!(out, ", default via {}", r.via.as_deref().unwrap_or("-"));
                    if r.metric != 0 {
                        let _ = write!(out, " metric {}", r.metric);
                    }
                    if let Some(src) = &r.src {
                        let _ = write!(out, " src {src}");
                    }
                }
                None => out.push_str(", no default route"),
            }
            out.push('\n');
            // Without a local source the kernel gives the box's own unbound sockets a line's
            // address, and with it the line, before their port exists (issue 26, point 14).
            if let (Some(key), Some(r)) = (&m.own_connections, &m.default_route) {
                let _ = match &r.src {
                    Some(src) => writeln!(out, "  the box's own connections: from {src}, shared by weight"),
                    None => writeln!(
                        out,
                        "  the box's own connections: those to one destination leave by one line (no local source: \
                         see {key})"
                    ),
                };
            }
            if let Some(t) = &m.nft_table {
                if let Some(p) = &t.problem {
                    let _ = writeln!(
                        out,
                        "  nftables table inet teqlctl: not what teqlctl wrote ({p}); `teqlctl up {}` or the \
                         next `teqlctl check` writes it anew",
                        m.name
                    );
                }
                if let (Some(at), Some(why)) = (t.rewritten, &t.rewritten_why) {
                    let _ = writeln!(
                        out,
                        "  nftables table inet teqlctl: written anew {} s ago, it was not what teqlctl wrote ({why})",
                        now.saturating_sub(at)
                    );
                }
            }
            for w in &m.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            let attached = m.lines.iter().filter(|s| s.attached).count();
            let _ = writeln!(out, "  lines: {attached} of {} attached", m.lines.len());
            // Indented, as every line under a bundle: completion scripts read bundle names from
            // the lines that start with `NAME: `.
            if !m.lines.is_empty() {
                let _ = writeln!(
                    out,
                    "  {:<12} {:<12} {:<4} {:<10} {:<9} TRAFFIC (since the device was created)",
                    "LINE", "STATE", "LINK", "CARRIER", "RP_FILTER"
                );
            }
            for s in &m.lines {
                let what = match (s.exists, s.attached, &s.multipath) {
                    (false, _, _) => "missing",
                    (true, true, Some(_)) => "live",
                    (true, false, Some(_)) => "out",
                    (true, true, None) => "attached",
                    (true, false, None) => "not attached",
                };
                let _ = write!(out, "  {:<12} {what:<12}", crate::names::shown(&s.name));
                if s.exists {
                    let _ = write!(
                        out,
                        " {:<4} {:<10} {:<9} tx {} pkts {} bytes, rx {} pkts {} bytes",
                        if s.up { "up" } else { "down" },
                        if s.carrier { "carrier" } else { "no-carrier" },
                        s.rp_filter.map_or("-".to_string(), |v| v.to_string()),
                        s.tx_packets,
                        s.tx_bytes,
                        s.rx_packets,
                        s.rx_bytes
                    );
                    if let (Some(tx), Some(rx), Some(span)) = (s.tx_bytes_per_s, s.rx_bytes_per_s, s.rate_span_ms) {
                        let _ = write!(
                            out,
                            "; now tx {}, rx {} (over {:.1} s)",
                            crate::run::rates::shown(tx),
                            crate::run::rates::shown(rx),
                            span as f64 / 1000.0
                        );
                    }
                }
                if !s.configured {
                    out.push_str(" (not in configuration)");
                }
                if let Some(st) = s.stack {
                    let _ = write!(out, " ({st})");
                }
                out.push('\n');
                if let Some(p) = &s.multipath {
                    // The way out the plan gives the line: its gateway, or its device.
                    let by = match (&p.gateway, p.pointopoint) {
                        (_, true) => format!("dev {}", crate::names::shown(&s.name)),
                        (Some(g), false) => format!("via {g}"),
                        (None, false) => "via -".to_string(),
                    };
                    let _ = write!(
                        out,
                        "  {:<12} {} {by}, weight {}, table {}",
                        "",
                        p.address.as_deref().unwrap_or("no address"),
                        p.weight,
                        p.table
                    );
                    // The kernel's nexthop of the line, where it is not what the plan uses
                    // (the next `teqlctl up` or hook run moves it).
                    if let Some(h) = p.nexthop.as_ref().filter(|h| !p.pointopoint && h.via != p.gateway) {
                        let _ = write!(out, ", its nexthop now via {}", h.via.as_deref().unwrap_or("-"));
                    }
                    if let Some(w) = &p.why {
                        let _ = write!(out, ", out: {w}");
                    }
                    out.push('\n');
                    if let Some(c) = &p.connection {
                        let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
                        let part = |v: Option<u32>| v.map_or(String::new(), |v| format!(" ({v}/1000)"));
                        let _ = writeln!(
                            out,
                            "  {:<12} mark {}, {}/1000 of new connections, {} taken{}, {} in conntrack{}",
                            "",
                            c.mark,
                            c.share_permille,
                            n(c.new_connections),
                            part(c.new_connections_permille),
                            n(c.conntrack_entries),
                            part(c.conntrack_permille)
                        );
                    }
                }
                if let Some(h) = &s.health {
                    let _ = write!(out, "  {:<12} health: {}", "", h.state);
                    if h.state != LineState::Healthy {
                        let _ = write!(out, " (since {})", ago(now, h.since));
                    }
                    let _ = write!(out, ", last round {}: {}", ago(now, h.checked), h.last);
                    if let Some(r) = h.rtt_ms {
                        let _ = write!(out, ", rtt {r} ms");
                    }
                    if h.consecutive_failures > 0 {
                        let _ = write!(out, ", {} failed in a row", h.consecutive_failures);
                    }
                    out.push('\n');
                    for w in &h.warnings {
                        let _ = writeln!(out, "  {:<12} warning: {w}", "");
                    }
                }
            }
        }
        // The warnings (lines whose hooks cannot run) are said once, on stderr, by the caller
        // (issue 28, point 9); the JSON has them for programs.
        if !self.problems.is_empty() {
            let _ = writeln!(out, "configuration problems: {}", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        // Line names not in the configuration come from the kernel, health texts and
        // warnings from files: none of it reaches the terminal raw.
        crate::text::escape_for_terminal(&out)
    }
}

/// "3 s ago", "2 min ago", "5 h ago": how long ago a Unix time was.
fn ago(now: u64, then: u64) -> String {
    let d = now.saturating_sub(then);
    match d {
        0..=119 => format!("{d} s ago"),
        120..=7199 => format!("{} min ago", d / 60),
        _ => format!("{} h ago", d / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(new: Option<u64>, entries: Option<u64>) -> LineStatus {
        LineStatus {
            name: "eth1".into(),
            exists: true,
            configured: true,
            attached: true,
            up: true,
            carrier: true,
            rp_filter: None,
            tx_packets: 0,
            tx_bytes: 0,
            rx_packets: 0,
            rx_bytes: 0,
            tx_bytes_per_s: None,
            rx_bytes_per_s: None,
            rate_span_ms: None,
            health: None,
            stack: None,
            multipath: Some(PathStatus {
                address: None,
                gateway: None,
                pointopoint: false,
                nexthop: None,
                weight: 1,
                table: 4201,
                live: true,
                connection: Some(ConnStatus {
                    mark: "0x54451069".into(),
                    share_permille: 0,
                    new_connections: new,
                    conntrack_entries: entries,
                    new_connections_permille: None,
                    conntrack_permille: None,
                }),
                why: None,
            }),
        }
    }

    /// A line attached by hand is listed under its master with the kernel's name for it, which
    /// never came through IfName: the kernel takes ESC, BEL and any byte but '/', ':', NUL and
    /// whitespace (issue 26, point 5).
    #[test]
    fn a_kernel_name_never_reaches_the_terminal_raw() {
        use crate::kernel::netlink::{Link, Qdisc, ARPHRD_VOID, IFF_LOWER_UP, IFF_UP};
        let mut state = State { teql_loaded: true, ..State::default() };
        state.links.push(Link {
            index: 1,
            name: "teql0".into(),
            flags: IFF_UP,
            link_type: ARPHRD_VOID,
            ..Link::default()
        });
        let evil = "e\u{1b}]0;x\u{7}\\\u{9b}";
        state.links.push(Link {
            index: 2,
            name: evil.into(),
            flags: IFF_UP | IFF_LOWER_UP,
            link_type: 1,
            ..Link::default()
        });
        state.qdiscs.insert(2, Qdisc { ifindex: 2, kind: "teql0".into(), handle: 0 });
        let st = collect(
            &Config::default(),
            crate::run::mode::statuses(&Config::default(), &state, &Health::default(), None),
        );
        assert_eq!(st.masters[0].lines[0].name, evil, "JSON keeps the name; serde escapes it");
        let text = st.to_text();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(text.contains("  e\\x1b]0;x\\x07\\\\\\xc2\\x9b attached "), "{text}");
        let json = st.to_json();
        assert!(!json.chars().any(|c| c.is_control() && c != '\n'), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["masters"][0]["lines"][0]["name"], evil);
    }

    fn parts(lines: &[LineStatus]) -> Vec<(Option<u32>, Option<u32>)> {
        lines
            .iter()
            .map(|l| {
                let c = l.multipath.as_ref().and_then(|p| p.connection.as_ref()).unwrap();
                (c.new_connections_permille, c.conntrack_permille)
            })
            .collect()
    }

    #[test]
    fn each_line_gets_its_part_of_the_bundle_totals() {
        let mut l = vec![line(Some(150), Some(2)), line(Some(76), Some(0)), line(Some(74), Some(1))];
        conn_parts(&mut l);
        assert_eq!(parts(&l), [(Some(500), Some(667)), (Some(253), Some(0)), (Some(247), Some(333))]);
    }

    #[test]
    fn no_part_without_every_count_or_with_none_at_all() {
        // One line's counters unread: no total, so no parts; no entries at all: no parts.
        let mut l = vec![line(Some(10), Some(0)), line(None, Some(0))];
        conn_parts(&mut l);
        assert_eq!(parts(&l), [(None, None), (None, None)]);
    }

    /// A TEQL bundle over independent ISPs: status says so as the plan does (issue 28, point
    /// 1), in text and JSON, in the words of the lines' stack; one ISP's lines do not.
    #[test]
    fn status_warns_of_a_teql_bundle_over_independent_isps() {
        use crate::kernel::netlink::{Address, Link};
        for (gw3, warned) in [("192.0.2.9", true), ("198.51.100.9", false)] {
            let root = tempfile::TempDir::new().unwrap();
            let dir = root.path().join("etc/network");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("interfaces"),
                format!(
                    "iface teql0 inet static\n    address 203.0.113.2/30\n\n\
                     iface eth2 inet static\n    address 198.51.100.10/29\n    teql-master teql0\n    gateway 198.51.100.9\n\n\
                     iface eth3 inet static\n    address 192.0.2.10/29\n    teql-master teql0\n    gateway {gw3}\n"
                ),
            )
            .unwrap();
            let cfg = crate::config::load(root.path());
            assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
            let mut st = State::default();
            for (index, name, addr) in [(12, "eth2", "198.51.100.10"), (13, "eth3", "192.0.2.10")] {
                st.links.push(Link { index, name: name.into(), flags: IFF_UP | IFF_LOWER_UP, ..Link::default() });
                st.addresses.push(Address { ifindex: index, addr: addr.parse().unwrap(), prefix_len: 29, peer: None });
            }
            let m = master_status(&cfg, &st, &Health::default(), "teql0");
            assert_eq!(m.warnings.len(), usize::from(warned), "{gw3}: {:?}", m.warnings);
            let status = Status { schema: SCHEMA, masters: vec![m], problems: Vec::new(), warnings: Vec::new() };
            let text = status.to_text();
            let json = status.to_json();
            if warned {
                assert!(text.contains("  warning: teql0: its lines eth2 (gateway 198.51.100.9) and eth3"), "{text}");
                assert!(text.contains("teql-mode multipath"), "Debian's words: {text}");
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let w = v["masters"][0]["warnings"][0].as_str().unwrap_or_default();
                assert!(w.starts_with("teql0: its lines eth2"), "{json}");
            } else {
                assert!(!text.contains("warning:"), "{text}");
            }
        }
    }

    /// The office, as the kernel has it before the bundle is up: eth2 has a DHCP lease
    /// (its client's default route via 198.51.100.1, no configured gateway) and ppp0 an
    /// address with a peer. Config files from a test tree, kernel state made up.
    fn dhcp_and_ppp() -> (tempfile::TempDir, Config, State) {
        use crate::kernel::netlink::{Address, Link, Route};
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join("etc/sysconfig/network-scripts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
        std::fs::write(dir.join("ifcfg-eth2"), "DEVICE=eth2\nBOOTPROTO=dhcp\nTEQL_MASTER=wan\n").unwrap();
        std::fs::write(dir.join("ifcfg-ppp0"), "DEVICE=ppp0\nTEQL_MASTER=wan\n").unwrap();
        let cfg = crate::config::load(root.path());
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        let mut st = State::default();
        st.links.push(Link { index: 12, name: "eth2".into(), flags: IFF_UP | IFF_LOWER_UP, ..Link::default() });
        st.links.push(Link {
            index: 13,
            name: "ppp0".into(),
            flags: IFF_UP | IFF_LOWER_UP | IFF_POINTOPOINT,
            ..Link::default()
        });
        st.addresses.push(Address { ifindex: 12, addr: "198.51.100.10".parse().unwrap(), prefix_len: 24, peer: None });
        st.addresses.push(Address {
            ifindex: 13,
            addr: "203.0.113.5".parse().unwrap(),
            prefix_len: 32,
            peer: Some("203.0.113.1".parse().unwrap()),
        });
        st.default_routes.push(Route {
            gateway: Some("198.51.100.1".parse().unwrap()),
            oif: Some(12),
            metric: 100,
            onlink: false,
            multipath: false,
            raw: Default::default(),
        });
        (root, cfg, st)
    }

    /// Status shows the gateway the plan uses, not "no gateway known", for a DHCP line whose
    /// router the kernel has only in its client's route, and a point-to-point line's device
    /// (issue 28, point 9).
    #[test]
    fn a_dhcp_and_a_ppp_line_show_what_the_plan_uses() {
        let (_root, cfg, st) = dhcp_and_ppp();
        let status = collect(&cfg, crate::run::mode::statuses(&cfg, &st, &Health::default(), Some("wan")));
        let lines = &status.masters[0].lines;
        let path = |i: usize| lines[i].multipath.as_ref().unwrap();
        assert_eq!(lines[0].name, "eth2");
        assert_eq!((path(0).gateway.as_deref(), path(0).pointopoint), (Some("198.51.100.1"), false));
        assert_eq!((path(1).gateway.as_deref(), path(1).pointopoint), (None, true));
        for i in [0, 1] {
            assert_eq!(path(i).why.as_deref(), Some("not in the bundle's route (bring the bundle up)"), "{i}");
        }
        // What the plan for them says.
        let mp = crate::plan::multipath::plan(
            &crate::plan::multipath::Bundle {
                name: "wan".into(),
                hash: crate::plan::multipath::HashPolicy::L4,
                defroute: true,
                metric: 0,
                fwmark: false,
                local_source: None,
                source: None,
            },
            &crate::run::ops::multipath_lines(&cfg, "wan"),
            &crate::plan::multipath::Request { bundle_up: true, ..Default::default() },
            &st,
        );
        let plan: String = mp.actions.iter().map(|a| format!("{a}\n")).collect();
        let t2 = crate::plan::multipath::default_table("eth2");
        assert!(plan.contains(&format!("default via 198.51.100.1 dev eth2 proto 200 table {t2}")), "{plan}");
        assert!(plan.contains("default dev ppp0 src 203.0.113.5"), "{plan}");
        let text = status.to_text();
        assert!(text.contains("198.51.100.10/24 via 198.51.100.1, weight 1"), "{text}");
        assert!(text.contains("203.0.113.5/32 dev ppp0, weight 1"), "{text}");
        assert!(!text.contains("no gateway known"), "{text}");
    }

    /// Up: the JSON's default route lists its hops, each line its own nexthop, no "nhid N" as a
    /// gateway; the text has column headers and leaves the warnings to stderr.
    #[test]
    fn an_up_bundle_lists_its_nexthops_and_the_text_its_columns() {
        use crate::kernel::route::{Nexthop, TableRoute, MAIN_TABLE, RTPROT_TEQLCTL};
        let (_root, cfg, mut st) = dhcp_and_ppp();
        let (t2, t3) = (crate::plan::multipath::default_table("eth2"), crate::plan::multipath::default_table("ppp0"));
        let gid = crate::plan::multipath::group_id("wan");
        st.nexthops.push(Nexthop {
            id: t2,
            gateway: Some("198.51.100.1".parse().unwrap()),
            oif: Some(12),
            ..Nexthop::default()
        });
        st.nexthops.push(Nexthop { id: t3, oif: Some(13), ..Nexthop::default() });
        st.nexthops.push(Nexthop {
            id: gid,
            group: vec![(t2, 1), (t3, 1)],
            resilient: Some(128),
            ..Nexthop::default()
        });
        st.routes.push(TableRoute {
            table: MAIN_TABLE,
            nhid: Some(gid),
            protocol: RTPROT_TEQLCTL,
            ..TableRoute::default()
        });
        let mut status = collect(&cfg, crate::run::mode::statuses(&cfg, &st, &Health::default(), Some("wan")));
        status.warnings.push("eth2: a warning for stderr".into());
        let v: serde_json::Value = serde_json::from_str(&status.to_json()).unwrap();
        assert_eq!(v["schema"], 2);
        let r = &v["masters"][0]["default_route"];
        assert_eq!(r["via"], serde_json::Value::Null, "{r}");
        assert_eq!(r["nhid"], gid, "{r}");
        let hops: Vec<(&str, Option<&str>)> =
            r["nexthops"].as_array().unwrap().iter().map(|h| (h["dev"].as_str().unwrap(), h["via"].as_str())).collect();
        assert_eq!(hops, [("eth2", Some("198.51.100.1")), ("ppp0", None)]);
        let lines = v["masters"][0]["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["multipath"]["nexthop"]["via"], "198.51.100.1");
        assert_eq!(lines[1]["multipath"]["nexthop"]["dev"], "ppp0");
        assert!(lines.iter().all(|l| l["multipath"]["live"] == true), "{v}");
        let text = status.to_text();
        assert!(text.contains(&format!("wan: up (multipath), default route (nhid {gid}): via 198.51.100.1 dev eth2 weight 1, dev ppp0 weight 1\n")), "{text}");
        assert!(text.contains("  LINE         STATE        LINK CARRIER    RP_FILTER TRAFFIC"), "{text}");
        assert!(!text.contains("via nhid"), "{text}");
        assert!(!text.contains("a warning for stderr"), "{text}");
    }
}
