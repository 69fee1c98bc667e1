//! The NAT of a TEQL bundle (the aggregator's side of tunnels as lines, TEQL_NAT): a table of
//! our own per bundle, `inet teqlctl_teqlN`, with one masquerade rule for the configured
//! sources when they leave by another interface than the bundle. Written whole in one `nft -f`
//! transaction, like a connection bundle's table; what was last written is kept in the state
//! directory, so that a run that changes nothing starts no nft process.

use std::fmt::Write as _;

use crate::config::Ipv4Prefix;
pub use crate::kernel::nat_now::{record_path, table, NatNow};

/// The whole table. A masquerade rule needs the postrouting hook, where the interface a packet
/// came in by is unknown, so the sources are matched by network.
pub fn ruleset(master: &str, nets: &[Ipv4Prefix]) -> String {
    let t = format!("inet {}", table(master));
    // Overlapping sources once (older nft refuses an anonymous set whose intervals overlap).
    let nets: Vec<String> = crate::plan::connection::covering(nets).iter().map(ToString::to_string).collect();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# teqlctl: NAT of the TEQL bundle {}; written whole by teqlctl, do not edit",
        crate::names::shown(master)
    );
    let _ = writeln!(o, "table {t} {{}}");
    let _ = writeln!(o, "delete table {t}");
    let _ = writeln!(o, "table {t} {{");
    let _ = writeln!(o, "\tchain nat {{");
    let _ = writeln!(o, "\t\ttype nat hook postrouting priority srcnat; policy accept;");
    let _ = writeln!(
        o,
        "\t\toifname != {} ip saddr {{ {} }} masquerade",
        crate::names::nft_string(master),
        nets.join(", ")
    );
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "}}");
    o
}

/// Removes the table whether or not it exists.
pub fn teardown(master: &str) -> String {
    let t = format!("inet {}", table(master));
    format!("table {t} {{}}\ndelete table {t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_the_sources_leaving_elsewhere() {
        let nets = [
            Ipv4Prefix { addr: "198.18.100.0".parse().unwrap(), prefix_len: 24 },
            Ipv4Prefix { addr: "198.18.200.0".parse().unwrap(), prefix_len: 30 },
        ];
        let r = ruleset("teql1", &nets);
        assert!(r.starts_with("# teqlctl: NAT of the TEQL bundle teql1"));
        assert!(r.contains("table inet teqlctl_teql1 {}\ndelete table inet teqlctl_teql1\n"));
        assert!(r.contains("\t\toifname != \"teql1\" ip saddr { 198.18.100.0/24, 198.18.200.0/30 } masquerade\n"));
        assert_eq!(teardown("teql1"), "table inet teqlctl_teql1 {}\ndelete table inet teqlctl_teql1\n");
        assert_ne!(r, teardown("teql1"));
        // A network inside another is matched by it: written once.
        let inner = Ipv4Prefix { addr: "198.18.100.128".parse().unwrap(), prefix_len: 25 };
        let r = ruleset("teql1", &[inner, nets[0], nets[1]]);
        assert!(r.contains("ip saddr { 198.18.100.0/24, 198.18.200.0/30 } masquerade\n"), "{r}");
    }
}
