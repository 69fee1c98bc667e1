//! Exit codes (documented in teqlctl(8)). Hooks return them too, although network-scripts
//! ignores them.

pub const OK: i32 = 0;
/// Anything not covered below (I/O on our own files, an unexpected netlink failure).
pub const FAILURE: i32 = 1;
/// Bad command line (clap uses 2 as well).
pub const USAGE: i32 = 2;
/// A configuration file is malformed or inconsistent.
pub const CONFIG: i32 = 3;
/// The kernel refused a change, lacks sch_teql, or the system's state forbids it (an
/// admin's qdisc, an MTU mismatch).
pub const KERNEL: i32 = 4;
/// Not root / no CAP_NET_ADMIN.
pub const PERMISSION: i32 = 5;
/// An interface named on the command line or in the configuration does not exist.
pub const NO_SUCH_INTERFACE: i32 = 6;
/// Another teqlctl held the lock for longer than the wait bound.
pub const BUSY: i32 = 7;
/// The run took longer than its time bound and the watchdog stopped it.
pub const TIMEOUT: i32 = 8;
/// A line of a multipath bundle had a problem of its own (a router the kernel would refuse,
/// a change of it the kernel refused) and was left out; the bundle's other lines' changes
/// were made.
pub const PARTIAL: i32 = 9;
