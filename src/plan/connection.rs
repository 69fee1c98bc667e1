//! Planning the nftables side of a connection bundle (TEQL_MODE=connection): sticky
//! per-connection balancing over the per-line tables of a multipath bundle. Pure: the lines
//! come in, the text of one `nft -f` transaction comes out, so every rule is tested on the host.
//!
//! The kernel side, beside what `multipath` plans (per-line tables, `from ADDR` rules, the
//! weighted group for the main table's default route):
//! - per line a mark, and a rule `fwmark MARK lookup TABLE` just before the `from ADDR` rules;
//! - one table of teqlctl's own, `inet teqlctl`, never any other:
//!   - prerouting: a new connection that arrives on a line takes that line's connection mark
//!     (its replies leave by it); packets from a line are never marked (they go to the box or
//!     the LAN by the main table); other packets of a marked connection carry its mark, so they
//!     leave by its line (sticky); a new connection the main table would send out of a line (not one to the box or to another LAN) takes a
//!     line chosen by weight (`numgen random` over the `weights` map), or the preferred line for
//!     a PREFER_DST destination (the `prefer` map);
//!   - output (a `route` chain, so a changed mark re-routes): the box's own new connections take
//!     the mark of the line whose address they left with (the main table's weighted group chose
//!     it, and the source address must match the ISP), or the preferred line's for a PREFER_DST
//!     destination;
//!   - postrouting: a new connection's mark becomes the mark of the line it really leaves by,
//!     so that counters and conntrack flushes see what happened; and NAT: TEQL_NAT sources, and
//!     the box's own connections sent to a preferred line from another line's address, are
//!     masqueraded to the address of the line they leave by.
//!
//! Health changes only the two maps (`weights`, `prefer`), in one transaction: rules are never
//! rewritten while connections flow.
//!
//! Why `nft -f` and not the nftables crate (JSON through `nft -j`) or netlink: the transaction
//! is one atomic batch either way, and the text is what --dry-run prints, what an admin reads in
//! `nft list table inet teqlctl`, and what nft has parsed the same way since 0.9.4, where the
//! JSON schema changed under its users (containers/netavark pins it since nft 1.1.4); talking
//! nf_tables netlink directly would mean writing nft's expression compiler again.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::config::Ipv4Prefix;
use crate::names::{BundleName, IfName};
// Marks are numbers the configuration checks too: they live below it, and these paths stay
// for the callers that name them so.
pub use crate::ids::{mark_of, MARK_BASE, MARK_MASK};

pub use crate::kernel::nft::{NFT_FAMILY, NFT_TABLE};
/// Priority of the `fwmark MARK lookup TABLE` rules: just before the `from ADDR` rules of
/// multipath::RULE_PRIORITY, so that the box's own connection re-routed to a preferred line
/// leaves by that line and not by the one whose address it had.
pub const FWMARK_PRIORITY: u32 = 30_050;
/// New connections draw a number below SLOTS; each live line owns a range of them in proportion
/// to its weight (weights 2:1:1 are 500/250/250, three equal lines 334/333/333).
pub const SLOTS: u32 = 1000;

/// The networks of `nets` that no other one of them covers, in their order. nft refuses an
/// interval map whose elements overlap (`conflicting intervals specified`, the `prefer` map;
/// older nft also the anonymous sets of the NAT rules), and the configuration reader lets
/// TEQL_PREFER_DST 198.18.64.0/18 198.18.64.0/24 through: two CIDR networks either are
/// disjoint or one holds the other, so keeping the covering ones gives the same matches with
/// no overlap. Adjacent networks stay apart: they do not overlap.
pub fn covering(nets: &[Ipv4Prefix]) -> Vec<Ipv4Prefix> {
    let holds = |outer: &Ipv4Prefix, inner: &Ipv4Prefix| {
        let mask = u32::MAX.checked_shl(32 - u32::from(outer.prefix_len)).unwrap_or(0);
        outer.prefix_len <= inner.prefix_len && u32::from(outer.addr) & mask == u32::from(inner.addr) & mask
    };
    let mut out: Vec<Ipv4Prefix> = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        // Covered by another, or the same network again (the earlier one stays).
        let covered = nets.iter().enumerate().any(|(j, o)| j != i && holds(o, n) && (o != n || j < i));
        if !covered {
            out.push(*n);
        }
    }
    out
}

/// The line whose mark the box's own connections from `addr` take: the first live line with
/// that address, else the first line with it. Two lines can share an address (two identical
/// LTE or cable routers hand out the same private address); the address map can hold it once
/// (nft: `File exists`), and a connection from it can leave by one line only.
fn owner_of(lines: &[ConnLine], addr: Ipv4Addr) -> Option<&ConnLine> {
    let with = || lines.iter().filter(move |l| l.addr == Some(addr));
    with().find(|l| l.live).or_else(|| with().next())
}

/// One sentence per line whose address another line has too: which line the box's own
/// connections from that address use, and why the other does not get them.
pub(crate) fn shared_addresses(lines: &[ConnLine]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let a = l.addr?;
            let owner = owner_of(lines, a)?;
            (owner.device != l.device).then(|| {
                format!(
                    "{}: its address {a} is also {}'s: the box's own connections from {a} leave by {} \
                     (one line per address); {} still carries forwarded connections and those that come in by it",
                    l.device, owner.device, owner.device, l.device
                )
            })
        })
        .collect()
}

/// A line of a connection bundle, as the ruleset needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLine {
    pub device: IfName,
    pub mark: u32,
    pub weight: u16,
    /// Its IPv4 address now, if it has one.
    pub addr: Option<Ipv4Addr>,
    /// In the bundle now: up, a way out, and not found dead by `check`.
    pub live: bool,
}

/// What the ruleset says besides the lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSettings {
    pub bundle: BundleName,
    pub nat: Vec<Ipv4Prefix>,
    /// The preferred lines in their fail-over order.
    pub prefer: Vec<IfName>,
    pub prefer_dst: Vec<Ipv4Prefix>,
    /// The `src` of the main table's default route (TEQL_LOCAL_SOURCE), when it has one: the
    /// box's own connections from it were not bound to a line and are balanced by weight.
    pub local_source: Option<Ipv4Addr>,
}

impl ConnSettings {
    /// A bundle's settings with no NAT, no preferred line and no local source.
    pub fn new(bundle: BundleName) -> ConnSettings {
        ConnSettings { bundle, nat: Vec::new(), prefer: Vec::new(), prefer_dst: Vec::new(), local_source: None }
    }
}

/// The slots of each live line: (first, last, mark), in the lines' order. Largest remainder,
/// so the ranges add up to SLOTS exactly. Dead lines get none; with no live line, none at all
/// (the caller keeps the last line in, as in the other modes).
pub(crate) fn slots(lines: &[ConnLine]) -> Vec<(u32, u32, u32)> {
    let live: Vec<&ConnLine> = lines.iter().filter(|l| l.live).collect();
    let total: u32 = live.iter().map(|l| u32::from(l.weight)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut share: Vec<(u32, u32)> = live
        .iter()
        .map(|l| {
            let exact = SLOTS * u32::from(l.weight);
            (exact / total, exact % total)
        })
        .collect();
    let mut left = SLOTS - share.iter().map(|s| s.0).sum::<u32>();
    // The largest remainders get one more slot each; ties go to the earlier line.
    let mut order: Vec<usize> = (0..share.len()).collect();
    order.sort_by(|a, b| share[*b].1.cmp(&share[*a].1).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        share[i].0 += 1;
        left -= 1;
    }
    let mut out = Vec::new();
    let mut first = 0;
    for (l, (n, _)) in live.iter().zip(share) {
        if n > 0 {
            out.push((first, first + n - 1, l.mark));
            first += n;
        }
    }
    out
}

/// The line PREFER_DST destinations use now: the first live preferred line, else the first
/// live line of the bundle (the preferred lines fail over in order, then to the others).
pub fn preferred<'a>(lines: &'a [ConnLine], s: &ConnSettings) -> Option<&'a ConnLine> {
    s.prefer
        .iter()
        .find_map(|p| lines.iter().find(|l| *p == l.device && l.live))
        .or_else(|| lines.iter().find(|l| l.live))
}

fn quoted(name: &str) -> String {
    crate::names::nft_string(name)
}

fn elements(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" elements = {{ {} }};", items.join(", "))
    }
}

/// The `weights` and `prefer` elements, as `add element` takes them.
fn weight_elements(lines: &[ConnLine]) -> Vec<String> {
    slots(lines)
        .iter()
        .map(|(a, b, m)| if a == b { format!("{a} : {m:#010x}") } else { format!("{a}-{b} : {m:#010x}") })
        .collect()
}

fn prefer_elements(lines: &[ConnLine], s: &ConnSettings) -> Vec<String> {
    match preferred(lines, s) {
        Some(p) => covering(&s.prefer_dst).iter().map(|d| format!("{d} : {:#010x}", p.mark)).collect(),
        None => Vec::new(),
    }
}

/// The whole table: one transaction that creates it if missing, deletes it and writes it anew,
/// so that a half-written table is never seen and nothing of an older one survives.
pub fn ruleset(lines: &[ConnLine], s: &ConnSettings) -> String {
    let t = format!("{NFT_FAMILY} {NFT_TABLE}");
    let names: Vec<String> = lines.iter().map(|l| quoted(&l.device)).collect();
    let line_marks: Vec<String> = lines.iter().map(|l| format!("{} : {:#010x}", quoted(&l.device), l.mark)).collect();
    // One element per address (see owner_of).
    let addr_marks: Vec<String> = lines
        .iter()
        .filter_map(|l| l.addr.filter(|a| owner_of(lines, *a).is_some_and(|o| o.device == l.device)).map(|a| (a, l)))
        .map(|(a, l)| format!("{a} : {:#010x}", l.mark))
        .collect();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# teqlctl: connection bundle {}; written whole by teqlctl, do not edit",
        crate::names::shown(&s.bundle)
    );
    let _ = writeln!(o, "table {t} {{}}");
    let _ = writeln!(o, "delete table {t}");
    let _ = writeln!(o, "table {t} {{");
    let _ = writeln!(o, "\tmap line_mark {{ type ifname : mark;{} }}", elements(&line_marks));
    let _ = writeln!(o, "\tmap addr_mark {{ type ipv4_addr : mark;{} }}", elements(&addr_marks));
    let _ = writeln!(
        o,
        "\tmap weights {{ typeof numgen random mod {SLOTS} : meta mark; flags interval;{} }}",
        elements(&weight_elements(lines))
    );
    let _ = writeln!(
        o,
        "\tmap prefer {{ type ipv4_addr : mark; flags interval;{} }}",
        elements(&prefer_elements(lines, s))
    );
    let ours = format!("ct mark and {MARK_MASK:#010x} == {MARK_BASE:#010x}");
    let _ = writeln!(o, "\tchain prerouting {{");
    let _ = writeln!(o, "\t\ttype filter hook prerouting priority mangle; policy accept;");
    // In from a line: a new connection takes the line's connection mark (its replies leave by
    // it), but no packet from a line carries a mark: it goes to the box or to the LAN by the
    // main table (a mark would send a reply to the LAN back out through the line's table).
    let _ = writeln!(o, "\t\tct state new ct mark set iifname map @line_mark return");
    let _ = writeln!(o, "\t\tiifname {{ {} }} return", names.join(", "));
    let _ = writeln!(o, "\t\t{ours} meta mark set ct mark return");
    let _ = writeln!(o, "\t\tct state new fib daddr type local return");
    // An anonymous set: nft gives it the type of `fib daddr oifname` (a named ifname set is
    // refused there).
    let _ = writeln!(o, "\t\tct state new fib daddr oifname != {{ {} }} return", names.join(", "));
    let _ = writeln!(o, "\t\tct state new meta mark set numgen random mod {SLOTS} map @weights");
    let _ = writeln!(o, "\t\tct state new meta mark set ip daddr map @prefer");
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\tchain output {{");
    let _ = writeln!(o, "\t\ttype route hook output priority mangle; policy accept;");
    let _ = writeln!(o, "\t\t{ours} meta mark set ct mark return");
    let _ = writeln!(o, "\t\tct state new meta mark != 0 return");
    let _ = writeln!(o, "\t\tct state new meta mark set ip saddr map @addr_mark");
    // The kernel picks an unbound socket's line at connect(), before its source port exists,
    // so the L4 hash sends every connection of the box's own to one destination by one line.
    // With a local source on the default route, a socket that leaves with it was not bound
    // to a line: it is balanced like the LAN's, re-routed by its mark, and masqueraded.
    if let Some(x) = s.local_source {
        let _ = writeln!(
            o,
            "\t\tct state new meta mark 0 ip saddr {x} oifname {{ {} }} meta mark set numgen random mod {SLOTS} map @weights",
            names.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "\t\tct state new meta mark and {MARK_MASK:#010x} == {MARK_BASE:#010x} meta mark set ip daddr map @prefer"
    );
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\tchain postrouting {{");
    let _ = writeln!(o, "\t\ttype filter hook postrouting priority mangle; policy accept;");
    let _ = writeln!(o, "\t\tct state new ct mark set oifname map @line_mark");
    for l in lines {
        let _ = writeln!(o, "\t\tct state new oifname {} counter", quoted(&l.device));
    }
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\tchain nat {{");
    let _ = writeln!(o, "\t\ttype nat hook postrouting priority srcnat; policy accept;");
    let nat = covering(&s.nat);
    if let Some(x) = s.local_source {
        let _ = writeln!(o, "\t\toifname {{ {} }} ip saddr {x} masquerade", names.join(", "));
    }
    for l in lines {
        if !nat.is_empty() {
            let nets: Vec<String> = nat.iter().map(ToString::to_string).collect();
            let _ = writeln!(o, "\t\toifname {} ip saddr {{ {} }} masquerade", quoted(&l.device), nets.join(", "));
        }
        // The box's own connection re-routed to a preferred line kept the address of the line
        // the main table chose: the preferred line's ISP would drop it.
        // Each other address once, and never the line's own (a line sharing it needs no NAT).
        let mut others: Vec<String> = Vec::new();
        for a in lines.iter().filter(|o| o.device != l.device).filter_map(|o| o.addr) {
            if l.addr != Some(a) && !others.contains(&a.to_string()) {
                others.push(a.to_string());
            }
        }
        if !s.prefer_dst.is_empty() && !others.is_empty() {
            let _ = writeln!(o, "\t\toifname {} ip saddr {{ {} }} masquerade", quoted(&l.device), others.join(", "));
        }
    }
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "}}");
    o
}

/// A change of weights and preferred line only (health): both maps rewritten in one
/// transaction, the rules untouched.
pub fn maps_update(lines: &[ConnLine], s: &ConnSettings) -> String {
    let t = format!("{NFT_FAMILY} {NFT_TABLE}");
    let mut o = String::new();
    let _ = writeln!(o, "flush map {t} weights");
    let w = weight_elements(lines);
    if !w.is_empty() {
        let _ = writeln!(o, "add element {t} weights {{ {} }}", w.join(", "));
    }
    let _ = writeln!(o, "flush map {t} prefer");
    let p = prefer_elements(lines, s);
    if !p.is_empty() {
        let _ = writeln!(o, "add element {t} prefer {{ {} }}", p.join(", "));
    }
    o
}

/// Removes the table, whether or not it exists (`nft delete` alone fails on a missing one).
pub fn teardown() -> String {
    format!("table {NFT_FAMILY} {NFT_TABLE} {{}}\ndelete table {NFT_FAMILY} {NFT_TABLE}\n")
}

/// The part of a ruleset that only a full rewrite changes: everything but the two maps' elements.
/// Two rulesets with the same structure differ by `maps_update` alone.
pub fn structure(ruleset: &str) -> String {
    ruleset
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("map weights ") || t.starts_with("map prefer ") {
                l.split(" elements = ").next().unwrap_or(l).to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(d: &str, table: u32, w: u16, addr: &str, live: bool) -> ConnLine {
        ConnLine { device: d.into(), mark: mark_of(table), weight: w, addr: addr.parse().ok(), live }
    }

    fn three() -> Vec<ConnLine> {
        vec![
            line("eth1", 20001, 2, "198.51.100.10", true),
            line("eth2", 20002, 1, "203.0.113.10", true),
            line("eth3", 20003, 1, "198.18.3.10", true),
        ]
    }

    fn settings() -> ConnSettings {
        ConnSettings {
            bundle: "wan".into(),
            nat: vec![Ipv4Prefix { addr: "192.0.2.0".parse().unwrap(), prefix_len: 24 }],
            prefer: vec!["eth2".into()],
            prefer_dst: vec![Ipv4Prefix { addr: "198.18.64.0".parse().unwrap(), prefix_len: 18 }],
            local_source: None,
        }
    }

    /// Issue 26, point 14: the box's own connections from the local source (unbound sockets)
    /// are balanced by weight in the output chain and masqueraded on every line; those from a
    /// line's address (bound) keep its line, as before; without a local source, no such rule.
    #[test]
    fn the_box_s_own_unbound_connections_are_balanced_from_the_local_source() {
        let s = ConnSettings { local_source: "198.18.0.1".parse().ok(), ..settings() };
        let r = ruleset(&three(), &s);
        let output = r.split("\tchain output {").nth(1).and_then(|o| o.split("\t}").next()).unwrap_or_default();
        let balance = "\t\tct state new meta mark 0 ip saddr 198.18.0.1 oifname { \"eth1\", \"eth2\", \"eth3\" } \
                       meta mark set numgen random mod 1000 map @weights\n";
        let bound = "\t\tct state new meta mark set ip saddr map @addr_mark\n";
        let prefer = "meta mark set ip daddr map @prefer";
        let at = |x: &str| output.find(x).unwrap_or_else(|| panic!("{x} not in {output}"));
        // Bound first (a line's address is never the local source), then balanced, then the
        // preferred destinations, which override both.
        assert!(at(bound) < at(balance) && at(balance) < at(prefer), "{output}");
        assert!(
            r.contains(
                "\tchain nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                            \t\toifname { \"eth1\", \"eth2\", \"eth3\" } ip saddr 198.18.0.1 masquerade\n"
            ),
            "{r}"
        );
        // A local source coming or going is a change of structure: the table is written anew.
        let without = ruleset(&three(), &settings());
        assert!(!without.contains("numgen random mod 1000 map @weights\n\t\tct state new meta mark and"), "{without}");
        assert!(!without.contains("198.18.0.1"), "{without}");
        assert_ne!(structure(&r), structure(&without));
        assert_eq!(r.matches('{').count(), r.matches('}').count());
    }

    #[test]
    fn slots_follow_the_weights_and_add_up() {
        let l = three();
        let m = |t| mark_of(t);
        assert_eq!(slots(&l), vec![(0, 499, m(20001)), (500, 749, m(20002)), (750, 999, m(20003))]);
        let mut equal = three();
        for x in &mut equal {
            x.weight = 1;
        }
        assert_eq!(slots(&equal), vec![(0, 333, m(20001)), (334, 666, m(20002)), (667, 999, m(20003))]);
        // A dead line's share goes to the others, in proportion.
        let mut dead = three();
        dead[0].live = false;
        assert_eq!(slots(&dead), vec![(0, 499, m(20002)), (500, 999, m(20003))]);
        // Uneven weights still cover every slot once.
        let odd = vec![line("a", 1, 7, "", true), line("b", 2, 256, "", true), line("c", 3, 3, "", true)];
        let s = slots(&odd);
        assert_eq!(s.first().map(|x| x.0), Some(0));
        assert_eq!(s.last().map(|x| x.1), Some(SLOTS - 1));
        assert!(s.windows(2).all(|w| w[0].1 + 1 == w[1].0));
        for l in &mut dead {
            l.live = false;
        }
        assert!(slots(&dead).is_empty());
    }

    #[test]
    fn the_preferred_line_fails_over_in_order_then_to_the_others() {
        let s = ConnSettings { prefer: vec!["eth3".into(), "eth2".into()], ..settings() };
        let mut l = three();
        assert_eq!(preferred(&l, &s).map(|p| p.device.as_str()), Some("eth3"));
        l[2].live = false;
        assert_eq!(preferred(&l, &s).map(|p| p.device.as_str()), Some("eth2"));
        l[1].live = false;
        assert_eq!(preferred(&l, &s).map(|p| p.device.as_str()), Some("eth1"));
        l[2].live = true;
        assert_eq!(preferred(&l, &s).map(|p| p.device.as_str()), Some("eth3"));
    }

    #[test]
    fn marks_are_ours_and_distinct_per_table() {
        assert_eq!(mark_of(20001), 0x5445_4e21);
        assert_eq!(mark_of(20001) & MARK_MASK, MARK_BASE);
        assert_ne!(mark_of(20001), mark_of(20002));
    }

    #[test]
    fn the_ruleset_names_every_line_and_setting() {
        let r = ruleset(&three(), &settings());
        assert!(r.starts_with("# teqlctl: connection bundle wan;"), "{r}");
        assert!(r.contains("table inet teqlctl {}\ndelete table inet teqlctl\ntable inet teqlctl {\n"), "{r}");
        assert!(r.contains("\t\tct state new fib daddr oifname != { \"eth1\", \"eth2\", \"eth3\" } return\n"), "{r}");
        assert!(r.contains("elements = { 0-499 : 0x54454e21, 500-749 : 0x54454e22, 750-999 : 0x54454e23 };"), "{r}");
        assert!(r.contains(
            "map prefer { type ipv4_addr : mark; flags interval; elements = { 198.18.64.0/18 : 0x54454e22 }; }"
        ));
        assert!(r.contains("map addr_mark { type ipv4_addr : mark; elements = { 198.51.100.10 : 0x54454e21,"));
        assert!(r.contains("\t\toifname \"eth3\" ip saddr { 192.0.2.0/24 } masquerade\n"), "{r}");
        assert!(r.contains("\t\toifname \"eth2\" ip saddr { 198.51.100.10, 198.18.3.10 } masquerade\n"), "{r}");
        assert!(r.contains("ct state new meta mark set numgen random mod 1000 map @weights"));
        assert_eq!(r.matches('{').count(), r.matches('}').count());
    }

    #[test]
    fn no_nat_and_no_prefer_write_no_nat_rules() {
        let s = ConnSettings::new("wan".into());
        let r = ruleset(&three(), &s);
        assert!(!r.contains("masquerade"), "{r}");
        assert!(r.contains("map prefer { type ipv4_addr : mark; flags interval; }"), "{r}");
    }

    #[test]
    fn health_changes_only_the_maps() {
        let s = settings();
        let mut l = three();
        let before = ruleset(&l, &s);
        l[1].live = false;
        let after = ruleset(&l, &s);
        assert_ne!(before, after);
        assert_eq!(structure(&before), structure(&after));
        let u = maps_update(&l, &s);
        assert_eq!(
            u,
            "flush map inet teqlctl weights\n\
             add element inet teqlctl weights { 0-666 : 0x54454e21, 667-999 : 0x54454e23 }\n\
             flush map inet teqlctl prefer\n\
             add element inet teqlctl prefer { 198.18.64.0/18 : 0x54454e21 }\n"
        );
        // A new address is a new structure (addr_mark, NAT rules).
        l[0].addr = "198.51.100.11".parse().ok();
        assert_ne!(structure(&before), structure(&ruleset(&l, &s)));
    }

    fn net(s: &str) -> Ipv4Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Ipv4Prefix { addr: a.parse().unwrap(), prefix_len: l.parse().unwrap() }
    }

    #[test]
    fn overlapping_networks_leave_only_the_covering_ones() {
        let nets = [net("198.18.64.0/24"), net("198.18.64.0/18"), net("198.18.65.0/24"), net("203.0.113.0/25")];
        assert_eq!(covering(&nets), vec![net("198.18.64.0/18"), net("203.0.113.0/25")]);
        // Adjacent and disjoint networks stay, in their order; a whole-space one holds all.
        let apart = [net("203.0.113.128/25"), net("203.0.113.0/25"), net("192.0.2.0/24")];
        assert_eq!(covering(&apart), apart.to_vec());
        assert_eq!(covering(&[net("192.0.2.0/24"), net("0.0.0.0/0")]), vec![net("0.0.0.0/0")]);
        assert_eq!(covering(&[net("192.0.2.1/32"), net("192.0.2.1/32")]), vec![net("192.0.2.1/32")]);
        // The ruleset: one element in the interval map, one network in the NAT set.
        let s = ConnSettings {
            prefer_dst: vec![net("198.18.64.0/24"), net("198.18.64.0/18")],
            nat: vec![net("192.0.2.0/24"), net("192.0.2.0/25")],
            ..settings()
        };
        let r = ruleset(&three(), &s);
        assert!(r.contains("flags interval; elements = { 198.18.64.0/18 : 0x54454e22 }; }"), "{r}");
        assert!(r.contains("\t\toifname \"eth1\" ip saddr { 192.0.2.0/24 } masquerade\n"), "{r}");
        assert!(maps_update(&three(), &s).contains("prefer { 198.18.64.0/18 : 0x54454e22 }\n"));
    }

    #[test]
    fn two_lines_with_one_address_share_it_once() {
        let mut l = vec![
            line("eth1", 20001, 1, "192.0.2.100", true),
            line("eth2", 20002, 1, "192.0.2.100", true),
            line("eth3", 20003, 1, "198.18.3.10", true),
        ];
        let r = ruleset(&l, &settings());
        assert!(
            r.contains("map addr_mark { type ipv4_addr : mark; elements = { 192.0.2.100 : 0x54454e21, 198.18.3.10 : 0x54454e23 }; }"),
            "{r}"
        );
        // NAT of the box's own connections: the other address once, never the line's own.
        assert!(r.contains("\t\toifname \"eth2\" ip saddr { 198.18.3.10 } masquerade\n"), "{r}");
        assert!(r.contains("\t\toifname \"eth3\" ip saddr { 192.0.2.100 } masquerade\n"), "{r}");
        let w = shared_addresses(&l);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("eth2: its address 192.0.2.100 is also eth1's: the box's own connections from 192.0.2.100 leave by eth1"), "{w:?}");
        // The first line dead: the address goes to the live one.
        l[0].live = false;
        assert!(ruleset(&l, &settings()).contains("elements = { 192.0.2.100 : 0x54454e22, 198.18.3.10 : 0x54454e23 }"));
        assert!(shared_addresses(&l)[0].starts_with("eth1: its address 192.0.2.100 is also eth2's"));
        assert!(shared_addresses(&three()).is_empty());
    }
}
