//! Deciding what to change: configuration intent + kernel state -> an ordered list of actions.
//!
//! Pure: nothing here touches the kernel, so every rule is tested on the host with made-up
//! states. Each action records what it replaces so `apply` can undo it, and prints as the
//! equivalent ip/tc/sysctl command for --dry-run.

pub mod bundle_nat;
pub mod connection;
pub(crate) mod last_line;
pub mod multipath;
pub mod teql;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::config::Ipv4Prefix;
use crate::error::Error;
use crate::kernel::netlink::{self, Route};
use crate::kernel::route::{Nexthop, Rule, TableRoute};
use crate::names::{BundleName, IfName};

/// One change to the kernel. Its interfaces and bundles are checked names (`IfName`,
/// `BundleName`): the planner takes them from the configuration, or from the kernel only where
/// the kernel's name is one teqlctl takes; a line the kernel names otherwise (attached by hand),
/// or a teqlN past teql63, is left alone with a warning (`unchecked_line`, `unmanaged_master`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SetRpFilter {
        iface: IfName,
        value: u8,
        previous: Option<u8>,
    },
    /// Root qdisc teqlN on a line. `replacing` names a qdisc the admin configured that --force
    /// lets us replace (it cannot be restored by a rollback).
    Attach {
        iface: IfName,
        index: u32,
        master: BundleName,
        replacing: Option<String>,
    },
    Detach {
        iface: IfName,
        index: u32,
        master: BundleName,
    },
    LinkUp {
        iface: IfName,
        index: u32,
    },
    /// Setting a link down makes the kernel drop its routes; they are kept for a rollback:
    /// `routes` the main table's default routes, `others` its other routes through the link
    /// (TEQL_ROUTE's; not the kernel's own, which come back with the link).
    LinkDown {
        iface: IfName,
        index: u32,
        routes: Vec<Route>,
        others: Vec<TableRoute>,
    },
    SetMtu {
        iface: IfName,
        index: u32,
        mtu: u32,
        previous: u32,
    },
    AddAddress {
        iface: IfName,
        index: u32,
        addr: Ipv4Prefix,
    },
    DelAddress {
        iface: IfName,
        index: u32,
        addr: Ipv4Prefix,
    },
    /// `ip route replace default`: `replaced` holds the default routes with the same metric
    /// that the kernel overwrites, for a rollback.
    DefaultRoute {
        iface: IfName,
        index: u32,
        via: Ipv4Addr,
        metric: u32,
        replaced: Vec<Route>,
    },
    // Multipath bundles (`multipath`): rules, routes in any table, nexthop objects. `shown` is
    // the object as `ip` prints it, with interface names (the planner knows them, apply not).
    AddRule {
        bundle: BundleName,
        rule: Rule,
        shown: String,
    },
    DelRule {
        bundle: BundleName,
        rule: Rule,
        shown: String,
    },
    /// `previous`: the route with the same key the kernel had (restored by a rollback).
    ReplaceRoute {
        bundle: BundleName,
        route: TableRoute,
        previous: Option<TableRoute>,
        shown: String,
    },
    DelRoute {
        bundle: BundleName,
        route: TableRoute,
        shown: String,
    },
    ReplaceNexthop {
        bundle: BundleName,
        nh: Nexthop,
        previous: Option<Nexthop>,
        shown: String,
    },
    DelNexthop {
        bundle: BundleName,
        nh: Nexthop,
        shown: String,
    },
    /// One `nft -f` transaction (a connection bundle's table). `undo` is the transaction that
    /// puts back what was there (the table as listed before, or none).
    Nft {
        bundle: BundleName,
        script: String,
        undo: String,
        /// One line for the log (the script is many).
        what: String,
    },
    /// The conntrack entries of a connection line that left (its mark): its connections are
    /// dead, and their retries must open new ones on live lines at once. Cannot be undone, so
    /// it comes last, and its failure is a warning, not a rollback.
    FlushConntrack {
        bundle: BundleName,
        line: IfName,
        mark: u32,
    },
    /// net.ipv4.fib_multipath_hash_policy, and hash_fields with it when `fields` is set.
    SetHashPolicy {
        bundle: BundleName,
        value: u8,
        fields: Option<u32>,
        previous: Option<u8>,
        previous_fields: Option<u32>,
    },
    /// A record of teqlctl's own that follows a change (a table's ruleset as written, an
    /// ifupdown2 marker): `contents` written whole (None: the file removed), `previous` what
    /// the file held (None: no file), for a rollback. Planned only when the two differ, so a
    /// run that changes nothing plans none. `what` says which record, in one line, for the
    /// dry run (never the contents).
    Record {
        path: PathBuf,
        contents: Option<String>,
        previous: Option<String>,
        what: String,
    },
}

impl Action {
    /// What `errno` means for this change in particular, "" if nothing: the hint is chosen by
    /// the change itself, not by its printed command.
    pub(crate) fn errno_hint(&self, errno: i32) -> &'static str {
        match (errno, self) {
            (libc::EUNATCH, Action::LinkUp { .. }) => "the master has no line attached, and teql cannot go up without one",
            (libc::EINVAL, Action::Attach { .. }) => {
                "the master is up and this line lacks a flag it has (broadcast, multicast, pointopoint) or has a smaller MTU"
            }
            (libc::EINVAL, Action::SetMtu { .. }) => "teql's MTU cannot exceed the smallest line's MTU",
            (libc::ENOENT, Action::Attach { .. }) => "the kernel has no such teql master",
            _ => "",
        }
    }

    /// The kernel's refusal of this change as the clearest error we can give.
    pub fn error(&self, err: netlink::NlError) -> Error {
        Error::from_change(self.to_string(), self.iface(), self.errno_hint(err.errno), err)
    }

    /// The record action that sets `path` to `contents` (None: no file), or None when
    /// `previous` (what the file holds now) is that already.
    pub fn record(path: PathBuf, contents: Option<String>, previous: Option<String>, what: String) -> Option<Action> {
        (contents != previous).then_some(Action::Record { path, contents, previous, what })
    }

    /// The interface the action changes, for error messages.
    pub fn iface(&self) -> &str {
        match self {
            Action::SetRpFilter { iface, .. }
            | Action::Attach { iface, .. }
            | Action::Detach { iface, .. }
            | Action::LinkUp { iface, .. }
            | Action::LinkDown { iface, .. }
            | Action::SetMtu { iface, .. }
            | Action::AddAddress { iface, .. }
            | Action::DelAddress { iface, .. }
            | Action::DefaultRoute { iface, .. } => iface,
            Action::AddRule { bundle, .. }
            | Action::DelRule { bundle, .. }
            | Action::ReplaceRoute { bundle, .. }
            | Action::DelRoute { bundle, .. }
            | Action::ReplaceNexthop { bundle, .. }
            | Action::DelNexthop { bundle, .. }
            | Action::Nft { bundle, .. }
            | Action::FlushConntrack { bundle, .. }
            | Action::SetHashPolicy { bundle, .. } => bundle,
            Action::Record { .. } => "",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetRpFilter { iface, value, .. } => write!(f, "sysctl -w net.ipv4.conf.{iface}.rp_filter={value}"),
            Action::Attach { iface, master, replacing: None, .. } => {
                write!(f, "tc qdisc add dev {iface} root {master}")
            }
            Action::Attach { iface, master, replacing: Some(_), .. } => {
                write!(f, "tc qdisc replace dev {iface} root {master}")
            }
            Action::Detach { iface, .. } => write!(f, "tc qdisc del dev {iface} root"),
            Action::LinkUp { iface, .. } => write!(f, "ip link set dev {iface} up"),
            Action::LinkDown { iface, .. } => write!(f, "ip link set dev {iface} down"),
            Action::SetMtu { iface, mtu, .. } => write!(f, "ip link set dev {iface} mtu {mtu}"),
            Action::AddAddress { iface, addr, .. } => write!(f, "ip address add {addr} dev {iface}"),
            Action::DelAddress { iface, addr, .. } => write!(f, "ip address del {addr} dev {iface}"),
            Action::DefaultRoute { iface, via, metric, .. } => {
                write!(f, "ip route replace default via {via} dev {iface} onlink")?;
                if *metric != 0 {
                    write!(f, " metric {metric}")?;
                }
                Ok(())
            }
            Action::AddRule { shown, .. } => write!(f, "ip rule add {shown}"),
            Action::DelRule { shown, .. } => write!(f, "ip rule del {shown}"),
            Action::ReplaceRoute { shown, .. } => write!(f, "ip route replace {shown}"),
            Action::DelRoute { shown, .. } => write!(f, "ip route del {shown}"),
            Action::ReplaceNexthop { shown, .. } => write!(f, "ip nexthop replace {shown}"),
            Action::DelNexthop { nh, .. } => write!(f, "ip nexthop del id {}", nh.id),
            // A here-document, so that the dry run is a script an admin can paste.
            Action::Nft { script, .. } => write!(f, "nft -f - <<'EOF'\n{script}EOF"),
            Action::FlushConntrack { line, mark, .. } => {
                write!(f, "conntrack -D --mark {mark:#010x}  # {line}'s connections")
            }
            Action::SetHashPolicy { value, fields: Some(h), .. } => {
                write!(
                    f,
                    "sysctl -w net.ipv4.fib_multipath_hash_fields={h:#06x} net.ipv4.fib_multipath_hash_policy={value}"
                )
            }
            Action::SetHashPolicy { value, fields: None, .. } => {
                write!(f, "sysctl -w net.ipv4.fib_multipath_hash_policy={value}")
            }
            // A comment: a record is teqlctl's own file, not a command an admin would paste.
            Action::Record { path, contents: Some(_), what, .. } => write!(f, "# record {}: {what}", path.display()),
            Action::Record { path, contents: None, what, .. } => {
                write!(f, "# remove record {}: {what}", path.display())
            }
        }
    }
}

/// What an ifupdown hook does once its plan's changes are made: ifupdown's own commands (a
/// nested `ifup` runs its own hooks, which take the lock themselves and cannot be undone by
/// this run's rollback) and what it tells syslog (teqlctl's record under ifupdown2 is an
/// action of the plan: Action::Record). Decided
/// with the plan, from the same kernel state, so that `--dry-run` shows the whole hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// `ifup IFACE`. `must`: its failure fails the hook; otherwise it is a warning (one line of
    /// several that a master's pre-up tries).
    Ifup { iface: String, must: bool },
    /// `ifdown IFACE`: a master that ifupdown configured goes down through ifupdown, or its
    /// state would still say it is up.
    Ifdown { iface: String },
    /// After the nested ifups: MASTER must have a line by then, else the hook fails with `error`
    /// (the one step that reads the kernel again: the lines' own hooks attached them).
    NeedLine { master: String, error: String },
    /// Said to syslog (and stderr with --verbose): nothing to change, but worth knowing.
    Info(String),
}

impl Then {
    /// True for steps that change nothing.
    fn is_note(&self) -> bool {
        matches!(self, Then::Info(_) | Then::NeedLine { .. })
    }
}

impl fmt::Display for Then {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Then::Ifup { iface, must: true } => write!(f, "ifup {iface}"),
            Then::Ifup { iface, must: false } => write!(f, "ifup {iface}    # a failure is a warning"),
            Then::Ifdown { iface } => write!(f, "ifdown {iface}"),
            Then::NeedLine { master, error } => write!(f, "# then {master} must have a line, else: {error}"),
            Then::Info(msg) => write!(f, "# {msg}"),
        }
    }
}

/// The changes of one run, and what the admin should be told about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// `modprobe ...` when sch_teql must be loaded first (done before the state is read).
    pub module: Option<String>,
    /// Records of what was asked (a line held out, or let go; a DHCP lease), made before any
    /// action and kept when an action fails: a run killed or refused half-way must not lose
    /// them, or `check` would put back a line taken out on purpose (issue 26, points 7 and 11)
    /// and the next run plan with an old lease. Action::Record only. A real run records it as
    /// soon as it is planned and takes it out (ops::record_intent); a dry run prints it first.
    pub intent: Vec<Action>,
    pub actions: Vec<Action>,
    /// An ifupdown hook's steps after the actions, in order.
    pub then: Vec<Then>,
    /// Informational lines (why something was skipped).
    pub notes: Vec<String>,
    /// Things that are probably wrong but do not stop the run.
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.module.is_none()
            && self.intent.is_empty()
            && self.actions.is_empty()
            && self.then.iter().all(Then::is_note)
    }

    /// The nft transactions of the plan, as (bundle, script), in order: the tables whose
    /// fingerprints are recorded once the plan is applied (bundle_nat::record_fingerprints).
    pub(crate) fn nft_scripts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.actions.iter().filter_map(|a| match a {
            Action::Nft { bundle, script, .. } => Some((bundle.as_str(), script.as_str())),
            _ => None,
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::fmt::Write as _;
        let mut out = String::new();
        if let Some(m) = &self.module {
            writeln!(out, "{m}")?;
        }
        for a in self.intent.iter().chain(&self.actions) {
            writeln!(out, "{a}")?;
        }
        for t in &self.then {
            writeln!(out, "{t}")?;
        }
        for w in &self.warnings {
            writeln!(out, "# warning: {w}")?;
        }
        for n in &self.notes {
            writeln!(out, "# {n}")?;
        }
        if self.is_empty() {
            writeln!(out, "# nothing to change")?;
        }
        // A line attached by hand, a route's device: names from the kernel's dump, which takes
        // any byte but '/', ':', NUL and whitespace, never reach the terminal raw.
        f.write_str(&crate::text::escape_for_terminal(&out))
    }
}
