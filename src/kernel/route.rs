//! The kernel's routing objects that multipath bundles use (policy rules, routes in any table,
//! nexthop objects and groups), as plain data: the planner builds them, `netlink` sends and
//! dumps them, and each prints as the `ip` command an admin would type (--dry-run).

use std::fmt;

pub use crate::kernel::netlink::{Nexthop, Rule, TableRoute, MAIN_TABLE, RTPROT_TEQLCTL};

impl TableRoute {
    pub fn is_default(&self) -> bool {
        self.dst_len == 0
    }

    /// Whether `other` is the same route for the kernel (the key `ip route replace` matches
    /// on: table, destination, metric).
    pub(crate) fn same_key(&self, other: &TableRoute) -> bool {
        self.table == other.table
            && self.dst == other.dst
            && self.dst_len == other.dst_len
            && self.metric == other.metric
    }
}

/// Prints interface indexes by name, for commands an admin can read and type.
pub struct Named<'a, T> {
    pub item: &'a T,
    pub name_of: &'a dyn Fn(u32) -> String,
}

fn table_name(t: u32) -> String {
    match t {
        MAIN_TABLE => "main".into(),
        t => t.to_string(),
    }
}

impl fmt::Display for Named<'_, Rule> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.item;
        write!(f, "priority {}", r.priority)?;
        if let Some((a, l)) = r.src {
            write!(f, " from {a}/{l}")?;
        }
        if let Some((m, mask)) = r.fwmark {
            write!(f, " fwmark {m:#x}/{mask:#x}")?;
        }
        write!(f, " lookup {}", table_name(r.table))
    }
}

impl fmt::Display for Named<'_, TableRoute> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.item;
        if r.dst_len == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}/{}", r.dst, r.dst_len)?;
        }
        if let Some(id) = r.nhid {
            write!(f, " nhid {id}")?;
        }
        if let Some(gw) = r.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = r.oif {
            write!(f, " dev {}", (self.name_of)(oif))?;
        }
        for (gw, oif, w) in &r.multipath {
            write!(f, " nexthop")?;
            if let Some(gw) = gw {
                write!(f, " via {gw}")?;
            }
            write!(f, " dev {} weight {w}", (self.name_of)(*oif))?;
        }
        if r.onlink {
            write!(f, " onlink")?;
        }
        if let Some(src) = r.prefsrc {
            write!(f, " src {src}")?;
        }
        if r.scope_link {
            write!(f, " scope link")?;
        }
        if r.metric != 0 {
            write!(f, " metric {}", r.metric)?;
        }
        if r.protocol == RTPROT_TEQLCTL {
            write!(f, " proto {RTPROT_TEQLCTL}")?;
        }
        write!(f, " table {}", table_name(r.table))
    }
}

impl fmt::Display for Named<'_, Nexthop> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.item;
        write!(f, "id {}", n.id)?;
        if !n.group.is_empty() {
            let members: Vec<String> = n.group.iter().map(|(id, w)| format!("{id},{w}")).collect();
            write!(f, " group {}", members.join("/"))?;
            if let Some(b) = n.resilient {
                write!(f, " type resilient buckets {b}")?;
            }
        } else {
            if let Some(gw) = n.gateway {
                write!(f, " via {gw}")?;
            }
            if let Some(oif) = n.oif {
                write!(f, " dev {}", (self.name_of)(oif))?;
            }
            if n.onlink {
                write!(f, " onlink")?;
            }
        }
        if n.protocol == RTPROT_TEQLCTL {
            write!(f, " proto {RTPROT_TEQLCTL}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn name(i: u32) -> String {
        format!("eth{i}")
    }

    #[test]
    fn objects_print_as_ip_commands() {
        let r = Rule { priority: 30100, src: Some((Ipv4Addr::new(198, 51, 100, 10), 32)), fwmark: None, table: 4200 };
        assert_eq!(Named { item: &r, name_of: &name }.to_string(), "priority 30100 from 198.51.100.10/32 lookup 4200");
        let rt = TableRoute {
            table: 4200,
            dst: Ipv4Addr::new(198, 51, 100, 8),
            dst_len: 29,
            oif: Some(1),
            prefsrc: Some(Ipv4Addr::new(198, 51, 100, 10)),
            scope_link: true,
            protocol: RTPROT_TEQLCTL,
            ..TableRoute::default()
        };
        assert_eq!(
            Named { item: &rt, name_of: &name }.to_string(),
            "198.51.100.8/29 dev eth1 src 198.51.100.10 scope link proto 200 table 4200"
        );
        let d = TableRoute { table: MAIN_TABLE, nhid: Some(7), protocol: RTPROT_TEQLCTL, ..TableRoute::default() };
        assert_eq!(Named { item: &d, name_of: &name }.to_string(), "default nhid 7 proto 200 table main");
        let g = Nexthop {
            id: 7,
            group: vec![(1, 2), (2, 1)],
            resilient: Some(64),
            protocol: RTPROT_TEQLCTL,
            ..Nexthop::default()
        };
        assert_eq!(
            Named { item: &g, name_of: &name }.to_string(),
            "id 7 group 1,2/2,1 type resilient buckets 64 proto 200"
        );
    }
}
