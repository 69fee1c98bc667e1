//! The kernel seam: what a run reads of the kernel and the primitive changes `apply` makes,
//! behind one trait. `NetKernel` is the box's kernel (netlink, /proc/sys, nft, ctnetlink);
//! `MemKernel` keeps a `State` in memory, changes it as the kernel would and fails where asked,
//! so that host tests run every mode, and a failure at every step of a plan, without a kernel.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::kernel::netlink::{Netlink, NlError, Route};
use crate::kernel::route::{Nexthop, Rule, TableRoute};
use crate::kernel::state::State;

pub mod conntrack;
mod mem;
pub mod module;
pub mod nat_now;
pub mod netlink;
pub mod nfnetlink;
pub mod nft;
pub mod probe;
pub mod route;
pub mod state;
pub mod sysctl;
pub mod tunnel_errors;

pub use mem::{MemKernel, Snapshot};

/// What a run reads of the kernel: the rp_filter sysctls (one file per link) only matter to
/// attaching (Planner::attach); every other run skips them, which makes the detach `check`
/// does sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads<'a> {
    WithRpFilter,
    /// The rp_filter sysctls of these interfaces (and "all") only: a hook attaches one line,
    /// and a box with many interfaces would pay a file read for each of the others.
    RpFilterOf(&'a [&'a str]),
    NetlinkOnly,
}

/// The kernel as planning reads it and `apply` changes it. Each change is one request the
/// kernel takes or refuses whole; its errors are those of the real call (netlink's errno, the
/// sysctl's or nft's typed error), so that `apply` reports and rolls back alike on both sides.
pub trait Kernel {
    /// Links, root qdiscs, addresses, the main table's routes, with the sysctls `reads` asks
    /// for and the outer paths of the tunnels among them.
    fn read(&mut self, reads: Reads) -> Result<State>;
    /// What TEQL_ROUTE and TEQL_NAT need besides (`State::read_bundle_routing`).
    fn read_bundle_routing(&mut self, state: &mut State);
    /// What a multipath bundle needs besides: rules, the routes of `tables` and of the main
    /// table, nexthop objects, the hash policy (`State::read_multipath`).
    fn read_multipath(&mut self, state: &mut State, tables: &[u32]) -> Result<()>;
    /// net.ipv4.conf.IFACE.rp_filter, where readable.
    fn rp_filter(&mut self, iface: &str) -> Option<u8>;

    fn attach_root_qdisc(&mut self, index: u32, kind: &str, replace: bool) -> std::result::Result<(), NlError>;
    fn delete_root_qdisc(&mut self, index: u32) -> std::result::Result<(), NlError>;
    fn set_up(&mut self, index: u32, up: bool) -> std::result::Result<(), NlError>;
    fn set_mtu(&mut self, index: u32, mtu: u32) -> std::result::Result<(), NlError>;
    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError>;
    fn del_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError>;
    fn replace_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError>;
    fn delete_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError>;
    /// Puts back a main-table default route exactly as it was dumped.
    fn restore_route(&mut self, route: &Route) -> std::result::Result<(), NlError>;
    fn add_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError>;
    fn del_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError>;
    fn replace_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError>;
    fn del_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError>;
    fn replace_nexthop(&mut self, nh: &Nexthop) -> std::result::Result<(), NlError>;
    fn del_nexthop(&mut self, id: u32) -> std::result::Result<(), NlError>;
    fn set_rp_filter(&mut self, iface: &str, value: u8) -> Result<()>;
    fn set_multipath_hash_policy(&mut self, value: u8) -> Result<()>;
    fn set_multipath_hash_fields(&mut self, value: u32) -> Result<()>;
    /// One `nft -f` transaction for `bundle`: all of it or nothing.
    fn nft(&mut self, script: &str, bundle: &str) -> Result<()>;
    /// Deletes the conntrack entries with mark `mark` (none is success).
    fn flush_conntrack(&mut self, mark: u32) -> std::io::Result<()>;

    /// Whether an interface of that name exists (a typo is refused before anything else).
    fn link_exists(&mut self, name: &str) -> bool;
    /// Loads sch_teql with at least `need.now` masters (its devices teql0..): what was done, if
    /// anything (crate::kernel::module::ensure).
    fn ensure_module(&mut self, need: crate::kernel::module::Need) -> Result<Option<String>>;
    /// Unloads sch_teql (a failed run that loaded it leaves the box as it found it).
    fn unload_module(&mut self) -> Result<()>;
    /// Whether the kernel has resilient nexthop groups (Linux 5.13).
    fn resilient_groups(&mut self) -> bool;
    /// Whether nft can write `bundle`'s table whole (nft 0.9.4: typeof maps).
    fn nft_check_version(&mut self, bundle: &str) -> Result<()>;
    /// The fingerprint of inet table `table` (`bundle`'s), None when there is no such table.
    fn nft_fingerprint(
        &mut self,
        bundle: &str,
        table: &str,
    ) -> std::io::Result<Option<crate::kernel::nft::Fingerprint>>;
    /// Inet table `table` (`bundle`'s) as nft lists it, None when there is no such table.
    fn nft_list(&mut self, bundle: &str, table: &str) -> Result<Option<String>>;
    /// A record of teqlctl's (a ruleset as written, a marker): its text, None when there is
    /// none or it cannot be trusted (statefile::read_record).
    fn read_record(&mut self, path: &Path) -> Option<String>;
    /// Replaces record `path` with `contents` whole, or removes it (None; a missing file is no
    /// error). Behind the seam with the kernel's changes because a record follows one: a
    /// rollback puts it back with them, and tests see it.
    fn write_record(&mut self, path: &Path, contents: Option<&str>) -> Result<()>;
}

/// Which kernel a run reads and changes: the box's (netlink, /proc/sys, nft), or one in memory
/// that a host test made (`Ctx::kernel`); every run of the one entry opens it through `open`.
#[derive(Clone, Default)]
pub enum Which {
    #[default]
    Net,
    Mem(std::rc::Rc<std::cell::RefCell<MemKernel>>),
}

impl std::fmt::Debug for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Which::Net => "Net",
            Which::Mem(_) => "Mem",
        })
    }
}

impl Which {
    /// A kernel in memory with `state`, shared by the runs of a test.
    pub fn mem(k: MemKernel) -> Which {
        Which::Mem(std::rc::Rc::new(std::cell::RefCell::new(k)))
    }

    /// The kernel, for one run (a netlink socket, or the test's kernel borrowed for the run).
    pub fn open(&self) -> Result<Handle<'_>> {
        match self {
            Which::Net => NetKernel::open().map(Handle::Net),
            Which::Mem(k) => k
                .try_borrow_mut()
                .map(Handle::Mem)
                .map_err(|_| Error::Refused("the in-memory kernel is in use by another run of this process".into())),
        }
    }
}

/// One run's hold on its kernel.
pub enum Handle<'a> {
    Net(NetKernel),
    Mem(std::cell::RefMut<'a, MemKernel>),
}

impl Handle<'_> {
    pub fn get(&mut self) -> &mut dyn Kernel {
        match self {
            Handle::Net(k) => k,
            Handle::Mem(k) => &mut **k,
        }
    }
}

/// The box's kernel: one netlink socket for the run, /proc/sys, the nft command, ctnetlink.
pub struct NetKernel {
    pub nl: Netlink,
}

impl NetKernel {
    pub fn open() -> Result<NetKernel> {
        let nl = Netlink::open().map_err(|e| Error::from_netlink("netlink socket", "", e))?;
        Ok(NetKernel { nl })
    }
}

impl Kernel for NetKernel {
    fn read(&mut self, reads: Reads) -> Result<State> {
        match reads {
            Reads::WithRpFilter => State::read(&mut self.nl),
            Reads::RpFilterOf(names) => State::read_for(&mut self.nl, names),
            Reads::NetlinkOnly => State::read_netlink(&mut self.nl),
        }
    }

    fn read_bundle_routing(&mut self, state: &mut State) {
        state.read_bundle_routing();
    }

    fn read_multipath(&mut self, state: &mut State, tables: &[u32]) -> Result<()> {
        state.read_multipath(&mut self.nl, tables)
    }

    fn rp_filter(&mut self, iface: &str) -> Option<u8> {
        crate::kernel::sysctl::rp_filter(iface)
    }

    fn attach_root_qdisc(&mut self, index: u32, kind: &str, replace: bool) -> std::result::Result<(), NlError> {
        self.nl.attach_root_qdisc(index, kind, replace)
    }
    fn delete_root_qdisc(&mut self, index: u32) -> std::result::Result<(), NlError> {
        self.nl.delete_root_qdisc(index)
    }
    fn set_up(&mut self, index: u32, up: bool) -> std::result::Result<(), NlError> {
        self.nl.set_up(index, up)
    }
    fn set_mtu(&mut self, index: u32, mtu: u32) -> std::result::Result<(), NlError> {
        self.nl.set_mtu(index, mtu)
    }
    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError> {
        self.nl.add_address(index, addr, prefix_len)
    }
    fn del_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> std::result::Result<(), NlError> {
        self.nl.del_address(index, addr, prefix_len)
    }
    fn replace_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError> {
        self.nl.replace_default_route(oif, via, metric)
    }
    fn delete_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> std::result::Result<(), NlError> {
        self.nl.delete_default_route(oif, via, metric)
    }
    fn restore_route(&mut self, route: &Route) -> std::result::Result<(), NlError> {
        self.nl.restore_route(route)
    }
    fn add_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError> {
        self.nl.add_rule(rule)
    }
    fn del_rule(&mut self, rule: &Rule) -> std::result::Result<(), NlError> {
        self.nl.del_rule(rule)
    }
    fn replace_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError> {
        self.nl.replace_route(route)
    }
    fn del_route(&mut self, route: &TableRoute) -> std::result::Result<(), NlError> {
        self.nl.del_route(route)
    }
    fn replace_nexthop(&mut self, nh: &Nexthop) -> std::result::Result<(), NlError> {
        self.nl.replace_nexthop(nh)
    }
    fn del_nexthop(&mut self, id: u32) -> std::result::Result<(), NlError> {
        self.nl.del_nexthop(id)
    }
    fn set_rp_filter(&mut self, iface: &str, value: u8) -> Result<()> {
        crate::kernel::sysctl::set_rp_filter(iface, value)
    }
    fn set_multipath_hash_policy(&mut self, value: u8) -> Result<()> {
        crate::kernel::sysctl::set_multipath_hash_policy(value)
    }
    fn set_multipath_hash_fields(&mut self, value: u32) -> Result<()> {
        crate::kernel::sysctl::set_multipath_hash_fields(value)
    }
    fn nft(&mut self, script: &str, bundle: &str) -> Result<()> {
        crate::kernel::nft::apply(script, bundle)
    }
    fn flush_conntrack(&mut self, mark: u32) -> std::io::Result<()> {
        crate::kernel::conntrack::delete_by_mark(mark)
    }

    fn link_exists(&mut self, name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }

    fn ensure_module(&mut self, need: crate::kernel::module::Need) -> Result<Option<String>> {
        crate::kernel::module::ensure(need)
    }

    fn unload_module(&mut self) -> Result<()> {
        crate::kernel::module::unload()
    }

    fn resilient_groups(&mut self) -> bool {
        crate::kernel::netlink::kernel_has_resilient_groups()
    }

    fn nft_check_version(&mut self, bundle: &str) -> Result<()> {
        crate::kernel::nft::check_version(bundle)
    }

    fn nft_fingerprint(
        &mut self,
        _bundle: &str,
        table: &str,
    ) -> std::io::Result<Option<crate::kernel::nft::Fingerprint>> {
        crate::kernel::nft::fingerprint(table)
    }

    fn nft_list(&mut self, bundle: &str, table: &str) -> Result<Option<String>> {
        crate::kernel::nft::current_named(bundle, table)
    }

    fn read_record(&mut self, path: &Path) -> Option<String> {
        crate::statefile::read_record(path)
    }
    fn write_record(&mut self, path: &Path, contents: Option<&str>) -> Result<()> {
        match contents {
            Some(text) => {
                // The state directory is made (or checked) ours before the first record in it;
                // a marker next to the lock (/run) lives in a directory that is not ours to chmod.
                let dir = crate::statefile::state_dir();
                if path.parent() == Some(dir.as_path()) {
                    crate::statefile::private_dir(&dir)?;
                }
                crate::statefile::write_atomic(path, text.as_bytes())
            }
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::Io(format!("cannot remove {}", path.display()), e))
                }
                _ => Ok(()),
            },
        }
    }
}
