//! Lines held out of their bundle on purpose: `teqlctl detach`, ifdown and NetworkManager's
//! pre-down/down take a line out and record it here; a later run that puts the line in again
//! (ifup, attach, up) clears the record. `teqlctl check` never attaches a held line, and it
//! attaches a configured line that is up, not in its bundle and not held: one whose hook
//! failed at boot (the run lock busy for 10 s), was killed, or never ran (issue 26, point 11).
//!
//! A record names the interface and its index when it was held: an interface deleted and made
//! anew (a USB modem plugged in again, a lab rebuilt) is another interface, which nobody took
//! out, and is not held.
//!
//! Read and written only under the run lock (lock.rs), like health.json. The file lives in
//! the state directory (/run: a boot starts with nothing held).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub fn file(dir: &Path) -> PathBuf {
    dir.join("held.json")
}

/// The interface index of `name` now (None: no such interface).
fn index_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex reads a NUL-terminated string and returns 0 when there is none.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The records as written: name -> index (a record that cannot be read holds none: check then
/// attaches lines that are up and configured, which is what the configuration asks for).
fn records(dir: &Path) -> BTreeMap<String, u32> {
    let Ok(Some(body)) = crate::statefile::read(&file(dir)) else { return BTreeMap::new() };
    serde_json::from_slice(&body).unwrap_or_default()
}

/// The lines held now: recorded, and still the interface that was held.
pub fn load(dir: &Path) -> BTreeSet<String> {
    held_now(records(dir), index_of)
}

fn held_now(records: BTreeMap<String, u32>, index_of: impl Fn(&str) -> Option<u32>) -> BTreeSet<String> {
    records.into_iter().filter(|(name, index)| index_of(name) == Some(*index)).map(|(name, _)| name).collect()
}

/// Holds `lines` (`hold`; a line that does not exist is not held: when it appears it is a new
/// interface) or lets them go. Writes only when the records change, so the common ifup of a
/// line that was never held costs one read.
pub fn set<'a>(dir: &Path, lines: impl IntoIterator<Item = &'a str>, hold: bool) -> Result<()> {
    let lines: Vec<&str> = lines.into_iter().collect();
    let (hold, release) = if hold { (&lines[..], &[][..]) } else { (&[][..], &lines[..]) };
    let Some(body) = after(dir, hold, release)?.1 else { return Ok(()) };
    crate::statefile::private_dir(dir)?;
    crate::statefile::write_atomic(&file(dir), body.as_bytes())
}

/// The records once `hold` are held and `release` let go, as `set` would leave them: the lines
/// held then, and the file's new text, None when it stays as it is (a run plans the write as
/// a record of its intent: plan::Plan::intent).
pub fn after(dir: &Path, hold: &[&str], release: &[&str]) -> Result<(BTreeSet<String>, Option<String>)> {
    let before = records(dir);
    let mut after = before.clone();
    // Records of interfaces that are gone or made anew are dropped on the way.
    after.retain(|name, index| index_of(name) == Some(*index));
    for (l, held) in hold.iter().map(|l| (*l, true)).chain(release.iter().map(|l| (*l, false))) {
        match (held, index_of(l)) {
            (true, Some(i)) => {
                after.insert(l.to_string(), i);
            }
            _ => {
                after.remove(l);
            }
        }
    }
    let body = if after == before {
        None
    } else {
        let path = file(dir);
        Some(
            serde_json::to_string(&after)
                .map_err(|e| Error::Io(format!("cannot encode {}", path.display()), std::io::Error::other(e)))?,
        )
    };
    Ok((held_now(after, index_of), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_held_and_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("state");
        assert!(load(&d).is_empty());
        // `lo` exists wherever the tests run; a made-up name does not and is not held.
        set(&d, ["lo", "nosuchif0"], true).unwrap();
        assert_eq!(load(&d), ["lo".to_string()].into());
        set(&d, ["lo"], false).unwrap();
        assert!(load(&d).is_empty());
        // Letting go of a line that is not held writes nothing (no file created from nothing).
        let e = dir.path().join("other");
        set(&e, ["eth9"], false).unwrap();
        assert!(!file(&e).exists());
    }

    #[test]
    fn an_interface_made_anew_is_not_held() {
        let records: BTreeMap<String, u32> = [("eth1".to_string(), 7), ("eth2".to_string(), 8)].into();
        // eth1 is still index 7; eth2 was deleted and made again as index 12.
        let now = |n: &str| match n {
            "eth1" => Some(7),
            "eth2" => Some(12),
            _ => None,
        };
        assert_eq!(held_now(records, now), ["eth1".to_string()].into());
    }

    /// What a run plans as its intent: the lines held after it and held.json's new text, with
    /// nothing written; no text when the records stay as they are (a second run plans none).
    #[test]
    fn after_says_what_set_would_write_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("state");
        let (held, body) = after(&d, &["lo", "nosuchif0"], &[]).unwrap();
        assert_eq!(held, ["lo".to_string()].into());
        assert!(body.as_deref().is_some_and(|b| b.contains("\"lo\"")), "{body:?}");
        assert!(!file(&d).exists());
        set(&d, ["lo"], true).unwrap();
        assert_eq!(std::fs::read_to_string(file(&d)).ok(), body);
        assert_eq!(after(&d, &["lo"], &[]).unwrap(), (held, None));
        let (held, body) = after(&d, &[], &["lo"]).unwrap();
        assert!(held.is_empty() && body.as_deref() == Some("{}"), "{body:?}");
    }
}
