//! The numbers teqlctl gives kernel objects of its own: routing tables, nexthop and group ids,
//! and connection marks. The configuration checks them (two lines on one table, a table in
//! the groups' range) and the planners use them, so they live below both.

/// Default tables (and single-hop nexthop ids) are TABLE_BASE + a hash of the line's name mod
/// TABLE_SPAN: stable across reboots and renumbering, readable in `ip route show table`.
pub const TABLE_BASE: u32 = 20_000;
pub const TABLE_SPAN: u32 = 10_000;
/// A bundle's group id: GROUP_BASE + a hash of its name mod TABLE_SPAN (a range of its own).
pub const GROUP_BASE: u32 = 30_000;

/// FNV-1a: a hash that is the same on every build and every boot.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The table (and nexthop id) of a line without TEQL_TABLE.
pub fn default_table(device: &str) -> u32 {
    TABLE_BASE + fnv1a(device) % TABLE_SPAN
}

pub fn group_id(bundle: &str) -> u32 {
    GROUP_BASE + fnv1a(bundle) % TABLE_SPAN
}

/// Marks of connection lines: MARK_BASE | the low 16 bits of the line's table. The high half
/// says "teqlctl's" so that a mark of the admin's (any other high half) is never restored or
/// routed by our rules.
pub const MARK_BASE: u32 = 0x5445_0000;
pub const MARK_MASK: u32 = 0xffff_0000;

/// The mark of a line whose routing table is `table`.
pub fn mark_of(table: u32) -> u32 {
    MARK_BASE | (table & 0xffff)
}
