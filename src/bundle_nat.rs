//! The NAT of a TEQL bundle (the aggregator's side of tunnels as lines, TEQL_NAT): a table of
//! our own per bundle, `inet teqlctl_teqlN`, with one masquerade rule for the configured
//! sources when they leave by another interface than the bundle. Written whole in one `nft -f`
//! transaction, like a connection bundle's table; what was last written is kept in the state
//! directory, so that a run that changes nothing starts no nft process.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Ipv4Prefix;

/// `inet teqlctl_teql1`: ours by name, one per bundle (a connection bundle's is `inet teqlctl`).
pub fn table(master: &str) -> String {
    format!("teqlctl_{master}")
}

/// The whole table. A masquerade rule needs the postrouting hook, where the interface a packet
/// came in by is unknown, so the sources are matched by network.
pub fn ruleset(master: &str, nets: &[Ipv4Prefix]) -> String {
    let t = format!("inet {}", table(master));
    // Overlapping sources once (older nft refuses an anonymous set whose intervals overlap).
    let nets: Vec<String> = crate::connection::covering(nets).iter().map(ToString::to_string).collect();
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

/// Where the ruleset last written for `master` is kept (gone with /run at reboot, as the table).
pub fn record_path(master: &str) -> PathBuf {
    crate::health::state_dir().join(format!("nat-{master}.nft"))
}

/// What the kernel has of a bundle's NAT, as far as the planner needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatNow {
    /// The ruleset teqlctl last wrote (None: no record).
    pub written: Option<String>,
    /// The table exists.
    pub exists: bool,
    /// It exists but is not the one teqlctl wrote (see nft::Fingerprint): why, and the table
    /// as nft lists it (for a rollback). The planner then writes it anew.
    pub not_ours: Option<(String, Option<String>)>,
}

/// Where the netlink fingerprint of `master`'s NAT table is kept, as read after our write.
pub fn fingerprint_path(master: &str) -> PathBuf {
    crate::health::state_dir().join(format!("nat-{master}.fingerprint"))
}

/// The bundle's NAT now, for a bundle with a record only: asking nftables on a box that never
/// used it would load nf_tables for nothing.
pub fn read(master: &str) -> Option<NatNow> {
    let written = crate::statefile::read_record(&record_path(master))?;
    // Trusting the record on the table's name alone left a flushed or reloaded table (no rule)
    // alone for good: its netlink fingerprint is compared with the one recorded after our
    // write, and nft lists the table only when they differ.
    let (exists, not_ours) = match crate::nft::fingerprint(&table(master)) {
        Ok(None) => (false, None),
        Ok(Some(now)) => match crate::nft::table_as_written(&fingerprint_path(master), now) {
            None => (true, None),
            Some(why) => {
                crate::log::warn(&format!(
                    "{master}: nftables table inet {} is not what teqlctl wrote ({why}): it is written anew",
                    table(master)
                ));
                let listing = crate::nft::current_named(master, &table(master)).unwrap_or_else(|e| {
                    crate::log::warn(&e.to_string());
                    None
                });
                (true, Some((why, listing)))
            }
        },
        Err(e) => {
            crate::log::warn(&format!("{master}: cannot ask nftables whether its NAT table is there: {e}"));
            (false, None)
        }
    };
    Some(NatNow { written: Some(written), exists, not_ours })
}

/// After a plan was applied: the netlink fingerprint of each TEQL bundle's NAT table it wrote
/// or removed. Not an action of the plan, as the ruleset's record is (Planner::bundle_nat):
/// the fingerprint holds the table's handle, which the kernel gives it in the transaction, so
/// it can only be read once the transaction ran. A failure is a warning (record_fingerprint).
/// `written`: the plan's nft transactions, as (bundle, script) (plan::Plan::nft_scripts).
/// `fingerprint`: the kernel's fingerprint of a bundle's table, by bundle and table name.
pub fn record_fingerprints<'a>(
    written: impl IntoIterator<Item = (&'a str, &'a str)>,
    mut fingerprint: impl FnMut(&str, &str) -> std::io::Result<Option<crate::nft::Fingerprint>>,
) {
    for (bundle, _) in written {
        if crate::config::master_index(bundle).is_none() {
            continue;
        }
        crate::nft::record_fingerprint(&fingerprint_path(bundle), fingerprint(bundle, &table(bundle)), bundle);
    }
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
