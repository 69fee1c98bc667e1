//! Lines held out of their bundle on purpose: `teqlctl detach`, ifdown and NetworkManager's
//! pre-down/down take a line out and record it here; a later run that puts the line in again
//! (ifup, attach, up) clears the record. `teqlctl check` never attaches a held line, and it
//! attaches a configured line that is up, not in its bundle and not held: one whose hook
//! failed at boot (the run lock busy for 10 s), was killed, or never ran (issue 26, point 11).
//!
//! Read and written only under the run lock (lock.rs), like health.json. The file lives in
//! the state directory (/run: a boot starts with nothing held).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub fn file(dir: &Path) -> PathBuf {
    dir.join("held.json")
}

/// The held lines (a record that cannot be read holds none: check then attaches lines that are
/// up and configured, which is what the configuration asks for).
pub fn load(dir: &Path) -> BTreeSet<String> {
    let Ok(Some(body)) = crate::statefile::read(&file(dir)) else { return BTreeSet::new() };
    serde_json::from_slice(&body).unwrap_or_default()
}

/// Holds `lines` (`hold`) or lets them go. Writes only when the set changes, so the common
/// ifup of a line that was never held costs one read.
pub fn set<'a>(dir: &Path, lines: impl IntoIterator<Item = &'a str>, hold: bool) -> Result<()> {
    let before = load(dir);
    let mut after = before.clone();
    for l in lines {
        if hold {
            after.insert(l.to_string());
        } else {
            after.remove(l);
        }
    }
    if after == before {
        return Ok(());
    }
    let path = file(dir);
    crate::statefile::private_dir(dir)?;
    let body = serde_json::to_vec(&after)
        .map_err(|e| Error::Io(format!("cannot encode {}", path.display()), std::io::Error::other(e)))?;
    crate::statefile::write_atomic(&path, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_held_and_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("state");
        assert!(load(&d).is_empty());
        set(&d, ["eth1", "eth2"], true).unwrap();
        assert_eq!(load(&d), ["eth1", "eth2"].iter().map(|s| s.to_string()).collect());
        set(&d, ["eth1"], false).unwrap();
        assert_eq!(load(&d), ["eth2".to_string()].into());
        // Letting go of a line that is not held writes nothing (no file created from nothing).
        let e = dir.path().join("other");
        set(&e, ["eth9"], false).unwrap();
        assert!(!file(&e).exists());
    }
}
