//! What the kernel and the state directory have of a TEQL bundle's NAT table (TEQL_NAT): its
//! name, where teqlctl records what it wrote, and the table now as a run reads it. The read
//! side of bundle_nat.rs (which plans the table), below the planners with the rest of what a
//! run reads.

use std::path::PathBuf;

/// `inet teqlctl_teql1`: ours by name, one per bundle (a connection bundle's is `inet teqlctl`).
pub fn table(master: &str) -> String {
    format!("teqlctl_{master}")
}

/// Where the ruleset last written for `master` is kept (gone with /run at reboot, as the table).
pub fn record_path(master: &str) -> PathBuf {
    crate::statefile::state_dir().join(format!("nat-{master}.nft"))
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
pub(crate) fn fingerprint_path(master: &str) -> PathBuf {
    crate::statefile::state_dir().join(format!("nat-{master}.fingerprint"))
}

/// The bundle's NAT now, for a bundle with a record only: asking nftables on a box that never
/// used it would load nf_tables for nothing.
pub fn read(master: &str) -> Option<NatNow> {
    let written = crate::statefile::read_record(&record_path(master))?;
    // Trusting the record on the table's name alone left a flushed or reloaded table (no rule)
    // alone for good: its netlink fingerprint is compared with the one recorded after our
    // write, and nft lists the table only when they differ.
    let (exists, not_ours) = match crate::kernel::nft::fingerprint(&table(master)) {
        Ok(None) => (false, None),
        Ok(Some(now)) => match crate::kernel::nft::table_as_written(&fingerprint_path(master), now) {
            None => (true, None),
            Some(why) => {
                crate::log::warn(&format!(
                    "{master}: nftables table inet {} is not what teqlctl wrote ({why}): it is written anew",
                    table(master)
                ));
                let listing = crate::kernel::nft::current_named(master, &table(master)).unwrap_or_else(|e| {
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
/// `written`: the nft transactions of a TEQL run, which are its bundles' NAT (the runs of a
/// connection bundle record their own table), as (bundle, script) (plan::Plan::nft_scripts).
/// `fingerprint`: the kernel's fingerprint of a bundle's table, by bundle and table name.
pub(crate) fn record_fingerprints<'a>(
    written: impl IntoIterator<Item = (&'a str, &'a str)>,
    mut fingerprint: impl FnMut(&str, &str) -> std::io::Result<Option<crate::kernel::nft::Fingerprint>>,
) {
    for (bundle, _) in written {
        crate::kernel::nft::record_fingerprint(&fingerprint_path(bundle), fingerprint(bundle, &table(bundle)), bundle);
    }
}
