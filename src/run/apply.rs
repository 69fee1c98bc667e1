//! Changing the kernel: runs a plan's actions in order and, if one fails, undoes the ones that
//! succeeded (newest first), so a failed run leaves the system as it found it.

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::log;
use crate::plan::{Action, Plan};

/// A plan that failed and was rolled back: which of its actions failed, and why.
#[derive(Debug)]
pub struct Failed {
    /// The index in `plan.actions` of the action that failed; `plan.actions.len()` when a
    /// record of the plan's intent failed, before any action.
    pub at: usize,
    /// Boxed: an Err that stays small on the common path.
    pub error: Box<Error>,
}

/// Applies `plan`. Returns how many actions ran.
pub fn apply(plan: &Plan, nl: &mut dyn Kernel) -> Result<usize> {
    apply_at(plan, nl).map_err(|f| *f.error)
}

/// As `apply`, saying which action failed: a multipath bundle's run tells a change of one line
/// (its table, rule or nexthop) the kernel refused from one of the whole bundle.
pub fn apply_at(plan: &Plan, nl: &mut dyn Kernel) -> std::result::Result<usize, Failed> {
    // The intent is recorded first, whole or not at all, and stays whatever the actions do.
    let mut done: Vec<&Action> = Vec::new();
    for action in &plan.intent {
        if let Err(error) = execute(action, nl) {
            rollback(&done, nl);
            return Err(Failed { at: plan.actions.len(), error: Box::new(error) });
        }
        done.push(action);
    }
    let mut done: Vec<&Action> = Vec::new();
    for (at, action) in plan.actions.iter().enumerate() {
        match execute(action, nl) {
            Ok(()) => {
                match action {
                    Action::Nft { what, .. } => log::info(what),
                    // teqlctl's own bookkeeping: the change it follows was said.
                    Action::Record { .. } => {}
                    _ => log::info(&action.to_string()),
                }
                done.push(action);
            }
            Err(error) => {
                rollback(&done, nl);
                return Err(Failed { at, error: Box::new(error) });
            }
        }
    }
    Ok(done.len())
}

fn execute(action: &Action, nl: &mut dyn Kernel) -> Result<()> {
    let r = match action {
        Action::SetRpFilter { iface, value, .. } => return nl.set_rp_filter(iface, *value),
        Action::Attach { index, master, replacing, .. } => nl.attach_root_qdisc(*index, master, replacing.is_some()),
        Action::Detach { index, .. } => nl.delete_root_qdisc(*index),
        Action::LinkUp { index, .. } => nl.set_up(*index, true),
        Action::LinkDown { index, .. } => nl.set_up(*index, false),
        Action::SetMtu { index, mtu, .. } => nl.set_mtu(*index, *mtu),
        Action::AddAddress { index, addr, .. } => nl.add_address(*index, addr.addr, addr.prefix_len),
        Action::DelAddress { index, addr, .. } => nl.del_address(*index, addr.addr, addr.prefix_len),
        Action::DefaultRoute { index, via, metric, .. } => nl.replace_default_route(*index, *via, *metric),
        Action::AddRule { rule, .. } => nl.add_rule(rule),
        Action::DelRule { rule, .. } => nl.del_rule(rule),
        Action::ReplaceRoute { route, .. } => nl.replace_route(route),
        Action::DelRoute { route, .. } => nl.del_route(route),
        Action::ReplaceNexthop { nh, .. } => nl.replace_nexthop(nh),
        Action::DelNexthop { nh, .. } => nl.del_nexthop(nh.id),
        Action::Nft { script, bundle, .. } => return nl.nft(script, bundle),
        Action::FlushConntrack { line, mark, bundle } => {
            if let Err(e) = nl.flush_conntrack(*mark) {
                log::warn(&format!(
                    "{line} ({bundle}): its connections could not be flushed ({e}); they time out on their own"
                ));
            }
            return Ok(());
        }
        Action::SetHashPolicy { value, fields, previous_fields, .. } => {
            // The fields first: policy 3 hashes whatever they hold from the moment it is set.
            if let Some(h) = fields {
                nl.set_multipath_hash_fields(*h)?;
            }
            let r = nl.set_multipath_hash_policy(*value);
            // A failed action is not in the rollback: the half of it that was made is undone
            // here, or the old policy would hash the new fields if it was 3 already.
            if let (Err(_), Some(_), Some(p)) = (&r, fields, previous_fields) {
                if let Err(e) = nl.set_multipath_hash_fields(*p) {
                    log::error(&format!(
                        "undo `sysctl -w net.ipv4.fib_multipath_hash_fields={p:#06x}` failed: {e}; check this by hand"
                    ));
                }
            }
            return r;
        }
        Action::Record { path, contents, .. } => return nl.write_record(path, contents.as_deref()),
    };
    r.map_err(|e| action.error(e))
}

/// Undoes `done` newest first. Keeps going past failures (a half-undone system is worse than a
/// fully undone one with one complaint) and reports each.
fn rollback(done: &[&Action], nl: &mut dyn Kernel) {
    // Its steps may use the time kept in reserve for it (deadline.rs).
    let _rolling_back = crate::deadline::RollingBack::start();
    for action in done.iter().rev() {
        let what = format!("undo `{action}`");
        let r = match action {
            Action::SetRpFilter { iface, previous: Some(p), .. } => {
                nl.set_rp_filter(iface, *p).err().map(|e| e.to_string())
            }
            Action::SetRpFilter { previous: None, .. } => None,
            Action::Attach { index, replacing, iface, .. } => {
                if let Some(k) = replacing {
                    log::warn(&format!("{iface}: the {k} root qdisc replaced with --force cannot be restored"));
                }
                nl.delete_root_qdisc(*index).err().map(|e| e.to_string())
            }
            Action::Detach { index, master, .. } => {
                nl.attach_root_qdisc(*index, master, false).err().map(|e| e.to_string())
            }
            Action::LinkUp { index, .. } => nl.set_up(*index, false).err().map(|e| e.to_string()),
            Action::LinkDown { index, routes, others, .. } => match nl.set_up(*index, true) {
                Err(e) => Some(e.to_string()),
                Ok(()) => routes
                    .iter()
                    .find_map(|r| nl.restore_route(r).err())
                    .or_else(|| others.iter().find_map(|r| nl.replace_route(r).err()))
                    .map(|e| e.to_string()),
            },
            Action::SetMtu { index, previous, .. } => nl.set_mtu(*index, *previous).err().map(|e| e.to_string()),
            Action::AddAddress { index, addr, .. } => {
                nl.del_address(*index, addr.addr, addr.prefix_len).err().map(|e| e.to_string())
            }
            Action::DelAddress { index, addr, .. } => {
                nl.add_address(*index, addr.addr, addr.prefix_len).err().map(|e| e.to_string())
            }
            Action::DefaultRoute { index, via, metric, replaced, .. } => {
                if replaced.is_empty() {
                    nl.delete_default_route(*index, *via, *metric).err().map(|e| e.to_string())
                } else {
                    replaced.iter().find_map(|r| nl.restore_route(r).err()).map(|e| e.to_string())
                }
            }
            Action::AddRule { rule, .. } => nl.del_rule(rule).err().map(|e| e.to_string()),
            Action::DelRule { rule, .. } => nl.add_rule(rule).err().map(|e| e.to_string()),
            // What was there comes back as it was dumped (a DHCP client's protocol included).
            Action::ReplaceRoute { previous: Some(p), .. } => nl.replace_route(p).err().map(|e| e.to_string()),
            Action::ReplaceRoute { route, previous: None, .. } => nl.del_route(route).err().map(|e| e.to_string()),
            Action::DelRoute { route, .. } => nl.replace_route(route).err().map(|e| e.to_string()),
            Action::ReplaceNexthop { previous: Some(p), .. } => nl.replace_nexthop(p).err().map(|e| e.to_string()),
            Action::ReplaceNexthop { nh, previous: None, .. } => nl.del_nexthop(nh.id).err().map(|e| e.to_string()),
            Action::DelNexthop { nh, .. } => nl.replace_nexthop(nh).err().map(|e| e.to_string()),
            Action::Nft { undo, bundle, .. } => nl.nft(undo, bundle).err().map(|e| e.to_string()),
            // Flushed connections are gone; it is the last action, so nothing after it failed.
            Action::FlushConntrack { .. } => None,
            Action::SetHashPolicy { previous, previous_fields, .. } => {
                let p = previous.and_then(|v| nl.set_multipath_hash_policy(v).err());
                let h = previous_fields.and_then(|v| nl.set_multipath_hash_fields(v).err());
                p.or(h).map(|e| e.to_string())
            }
            Action::Record { path, previous, .. } => {
                nl.write_record(path, previous.as_deref()).err().map(|e| e.to_string())
            }
        };
        match r {
            None => log::warn(&format!("rolled back: {action}")),
            Some(e) => log::error(&format!("{what} failed: {e}; check this by hand")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::state::State;
    use crate::kernel::MemKernel;

    fn hash(value: u8, fields: Option<u32>) -> Action {
        Action::SetHashPolicy { bundle: "wan".into(), value, fields, previous: Some(0), previous_fields: Some(0) }
    }

    /// Policy 3 hashes whatever the fields hold from the moment it is set: the fields go first,
    /// and a failure of the policy puts both back.
    #[test]
    fn hash_fields_go_before_the_policy_and_come_back_with_it() {
        let mut k = MemKernel::new(State { hash_policy: Some(0), hash_fields: Some(0), ..State::default() });
        let before = k.snapshot();
        let plan = Plan { actions: vec![hash(3, Some(0x37))], ..Plan::default() };
        k.fail_when("fib_multipath_hash_policy=3", libc::EINVAL);
        let f = apply_at(&plan, &mut k).unwrap_err();
        assert_eq!(f.at, 0);
        assert_eq!(
            k.log[..2],
            ["sysctl net.ipv4.fib_multipath_hash_fields=0x0037", "sysctl net.ipv4.fib_multipath_hash_policy=3"]
        );
        assert!(k.snapshot() == before, "{:?}", k.state());
        k.heal();
        assert_eq!(apply(&plan, &mut k).unwrap(), 1);
        assert_eq!((k.state().hash_policy, k.state().hash_fields), (Some(3), Some(0x37)));
    }

    /// A flush of a dead line's connections that fails is a warning: they time out on their
    /// own, and the run's changes stand.
    #[test]
    fn a_failed_conntrack_flush_does_not_undo_the_run() {
        let mut k = MemKernel::new(State { hash_policy: Some(0), ..State::default() });
        k.conntrack.insert(7, 3);
        k.fail_when("conntrack", libc::EPERM);
        let flush = Action::FlushConntrack { bundle: "wan".into(), line: "eth2".into(), mark: 7 };
        let plan = Plan { actions: vec![hash(1, None), flush], ..Plan::default() };
        assert_eq!(apply(&plan, &mut k).unwrap(), 2);
        assert_eq!(k.state().hash_policy, Some(1));
        assert_eq!(k.conntrack.get(&7), Some(&3));
    }

    fn record(path: &str, contents: Option<&str>, previous: Option<&str>) -> Action {
        Action::record(path.into(), contents.map(str::to_string), previous.map(str::to_string), "a record".into())
            .expect("a change")
    }

    /// A record is an action like the kernel's changes: written in its place in the plan, and
    /// put back (or removed) when a later change fails; the dry run shows which file.
    #[test]
    fn a_record_is_written_in_its_place_and_rolled_back_with_the_plan() {
        let mut k = MemKernel::new(State { hash_policy: Some(0), hash_fields: Some(0), ..State::default() });
        k.records.insert("/run/t/old".into(), "before\n".into());
        k.records.insert("/run/t/gone".into(), "x\n".into());
        let before = k.snapshot();
        let plan = Plan {
            actions: vec![
                record("/run/t/new", Some("new\n"), None),
                record("/run/t/old", Some("after\n"), Some("before\n")),
                record("/run/t/gone", None, Some("x\n")),
                hash(1, None),
            ],
            ..Plan::default()
        };
        assert_eq!(
            plan.to_string(),
            "# record /run/t/new: a record\n# record /run/t/old: a record\n# remove record /run/t/gone: a record\n\
             sysctl -w net.ipv4.fib_multipath_hash_policy=1\n"
        );
        k.fail_when("fib_multipath_hash_policy", libc::EPERM);
        let f = apply_at(&plan, &mut k).unwrap_err();
        assert_eq!(f.at, 3);
        assert!(k.snapshot() == before, "{:?}", k.records);
        k.heal();
        assert_eq!(apply(&plan, &mut k).unwrap(), 4);
        assert_eq!(k.records.get(std::path::Path::new("/run/t/old")).map(String::as_str), Some("after\n"));
        assert_eq!(k.records.get(std::path::Path::new("/run/t/new")).map(String::as_str), Some("new\n"));
        // A record that holds its contents already is no action: a second run plans nothing.
        assert_eq!(Action::record("/run/t/new".into(), Some("new\n".into()), Some("new\n".into()), "a".into()), None);
        assert_eq!(Action::record("/run/t/gone".into(), None, None, "a".into()), None);
    }

    /// A record that cannot be written fails the run like a change the kernel refuses: what
    /// came before it is undone.
    #[test]
    fn a_record_that_cannot_be_written_undoes_the_run() {
        let mut k = MemKernel::new(State { hash_policy: Some(0), hash_fields: Some(0), ..State::default() });
        let before = k.snapshot();
        let plan = Plan { actions: vec![hash(1, None), record("/run/t/new", Some("new\n"), None)], ..Plan::default() };
        k.fail_when("record /run/t/new", libc::ENOSPC);
        let f = apply_at(&plan, &mut k).unwrap_err();
        assert_eq!(f.at, 1);
        assert!(k.snapshot() == before, "{:?}", k.state().hash_policy);
    }

    /// The records of a plan's intent (a line held out, a lease) are made before its actions
    /// and stay when one fails; when one of them cannot be made, no action runs.
    #[test]
    fn the_intent_is_recorded_first_and_kept_when_an_action_fails() {
        let mut k = MemKernel::new(State { hash_policy: Some(0), hash_fields: Some(0), ..State::default() });
        let plan = Plan {
            intent: vec![record("/run/t/held.json", Some("{}"), None)],
            actions: vec![hash(1, None)],
            ..Plan::default()
        };
        assert_eq!(
            plan.to_string(),
            "# record /run/t/held.json: a record\nsysctl -w net.ipv4.fib_multipath_hash_policy=1\n"
        );
        k.fail_when("fib_multipath_hash_policy", libc::EPERM);
        assert_eq!(apply_at(&plan, &mut k).unwrap_err().at, 0);
        assert_eq!(k.records.get(std::path::Path::new("/run/t/held.json")).map(String::as_str), Some("{}"));
        assert_eq!(k.log[0], "record /run/t/held.json");

        let mut k = MemKernel::new(State { hash_policy: Some(0), hash_fields: Some(0), ..State::default() });
        k.fail_when("record", libc::EROFS);
        assert_eq!(apply_at(&plan, &mut k).unwrap_err().at, 1);
        assert_eq!(k.changes(), 1, "{:?}", k.log);
        // Only the intent: a plan to print and apply, not "nothing to change".
        assert!(!Plan { actions: Vec::new(), ..plan }.is_empty());
    }
}
