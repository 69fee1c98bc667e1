//! teqlctl's own files under /run (the lock, check's state directory and health.json, the
//! ifupdown2 markers). A root process that follows a symlink planted there, or trusts a
//! directory someone else can write to, can be made to overwrite any file; so every one of
//! them is opened without following symlinks, directories must be owned by us and writable
//! by nobody else, and writes go to a new temporary file that is renamed over the old one
//! (a reader, or a run killed half-way, never sees half a file).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the state lives: TEQLCTL_STATE_DIR (manual runs only, see `env`), else /run/teqlctl.
pub(crate) fn state_dir() -> PathBuf {
    crate::env::redirect("TEQLCTL_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/teqlctl"))
}

use crate::error::{Error, Result};

/// Files of ours are small; a bigger one was not written by us.
pub const MAX_STATE_BYTES: u64 = 1 << 20;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Makes sure `dir` exists as a directory of ours: not a symlink, owned by the effective user
/// (root in production), not writable by group or others. Created 0755 when missing, so that
/// `teqlctl status` run by any user can read health.json.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A missing parent (TEQLCTL_STATE_DIR below a directory that does not exist yet).
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
        }
        Err(e) => return Err(Error::Io(format!("cannot create {}", dir.display()), e)),
    }
    let md = fs::symlink_metadata(dir).map_err(|e| Error::Io(format!("cannot read {}", dir.display()), e))?;
    check_dir(dir, &md, euid())
}

fn check_dir(dir: &Path, md: &fs::Metadata, uid: u32) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::Refused(format!(
            "{}: {why}; teqlctl keeps its state only in a directory of its own (remove it and let teqlctl create it)",
            dir.display()
        )))
    };
    if md.file_type().is_symlink() {
        return refuse("is a symbolic link".into());
    }
    if !md.is_dir() {
        return refuse("is not a directory".into());
    }
    if md.uid() != uid {
        return refuse(format!("is owned by uid {}, not {uid}", md.uid()));
    }
    if md.permissions().mode() & 0o022 != 0 {
        return refuse(format!("is writable by group or others (mode {:o})", md.permissions().mode() & 0o7777));
    }
    Ok(())
}

/// Refuses what an opened file of ours must not be: anything but a regular file owned by us.
fn check_file(path: &Path, f: &File) -> Result<()> {
    let md = f.metadata().map_err(|e| Error::Io(format!("cannot stat {}", path.display()), e))?;
    if !md.is_file() {
        return Err(Error::Refused(format!("{}: not a regular file; remove it", path.display())));
    }
    if md.uid() != euid() {
        return Err(Error::Refused(format!(
            "{}: owned by uid {}, not {}; remove it",
            path.display(),
            md.uid(),
            euid()
        )));
    }
    Ok(())
}

fn open_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        // O_NOFOLLOW on a symlink.
        Some(libc::ELOOP) => Error::Refused(format!("{}: is a symbolic link; remove it", path.display())),
        // O_NONBLOCK|O_WRONLY on a FIFO nobody reads, or a device without one.
        Some(libc::ENXIO) => Error::Refused(format!("{}: not a regular file; remove it", path.display())),
        _ if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::Permission(format!("{what} {}", path.display()))
        }
        _ => Error::Io(format!("cannot open {what} {}", path.display()), e),
    }
}

/// Opens (creating it 0600) a lock file: never through a symlink, never a FIFO or a file of
/// someone else's.
pub(crate) fn open_lock(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| open_error("lock file", path, e))?;
    check_file(path, &f)?;
    Ok(f)
}

/// Reads a state file of ours: Ok(None) when it does not exist. Never through a symlink, never
/// blocks on a FIFO, never more than MAX_STATE_BYTES.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error("state file", path, e)),
    };
    let md = f.metadata().map_err(|e| Error::Io(format!("cannot stat {}", path.display()), e))?;
    if !md.is_file() {
        return Err(Error::Refused(format!("{}: not a regular file; remove it", path.display())));
    }
    // Ours, or root's for a user reading what the root-run hooks wrote (`status`).
    if md.uid() != euid() && md.uid() != 0 {
        return Err(Error::Refused(format!("{}: owned by uid {}, not teqlctl's; remove it", path.display(), md.uid())));
    }
    let mut buf = Vec::new();
    f.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Io(format!("cannot read {}", path.display()), e))?;
    if buf.len() as u64 > MAX_STATE_BYTES {
        return Err(Error::Refused(format!(
            "{}: larger than {MAX_STATE_BYTES} bytes; not a file of teqlctl's",
            path.display()
        )));
    }
    Ok(Some(buf))
}

/// A text record of ours (the ruleset last written for a bundle), by `read`'s rules: None when
/// there is none, or when it cannot be trusted, which is said (the caller then asks the kernel
/// instead, and its next write replaces the record).
pub(crate) fn read_record(path: &Path) -> Option<String> {
    let refused = match read(path) {
        Ok(None) => return None,
        Ok(Some(body)) => match String::from_utf8(body) {
            Ok(text) => return Some(text),
            Err(_) => format!("{}: not UTF-8 text; not a record of teqlctl's", path.display()),
        },
        Err(e) => e.to_string(),
    };
    crate::log::warn(&format!("{refused} (ignored: the next write replaces it)"));
    None
}

/// Replaces `path` with `body` atomically, mode 0644: a new file (O_EXCL, never through a
/// symlink) next to it, written whole, then renamed over it. The temporary file is removed
/// if anything fails.
pub(crate) fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    write_new(path, body, false)
}

/// As `write_atomic`, and durable: the file is fsynced before the rename and its directory
/// after it, so that a crash leaves the old file or the new one, whole (for files outside
/// /run, such as the metrics file).
pub(crate) fn write_atomic_synced(path: &Path, body: &[u8]) -> Result<()> {
    write_new(path, body, true)
}

fn write_new(path: &Path, body: &[u8], sync: bool) -> Result<()> {
    let tmp = temp_name(path);
    // A leftover of a run killed between create and rename (same pid after a reboot of /run is
    // impossible, but a pid can be reused): it is ours to remove.
    let _ = fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(body)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)?;
        if sync {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::Io(format!("cannot write {}", path.display()), e)
    })
}

/// Creates `path` anew, mode 0600, holding `body`: for a file of ours that another program
/// reads by its name (nft's script). Never through a symlink nor into anything already there
/// but a leftover regular file of ours (a run killed before it removed it), which is replaced.
pub(crate) fn write_private(path: &Path, body: &[u8]) -> Result<()> {
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    };
    let mut f = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let md = fs::symlink_metadata(path).map_err(|e| Error::Io(format!("cannot read {}", path.display()), e))?;
            if md.file_type().is_symlink() {
                return Err(Error::Refused(format!("{}: is a symbolic link; remove it", path.display())));
            }
            if !md.is_file() || md.uid() != euid() {
                return Err(Error::Refused(format!(
                    "{}: not a regular file of uid {}; remove it",
                    path.display(),
                    euid()
                )));
            }
            fs::remove_file(path).map_err(|e| Error::Io(format!("cannot remove {}", path.display()), e))?;
            create()
        }
        other => other,
    }
    .map_err(|e| open_error("file", path, e))?;
    f.write_all(body).map_err(|e| {
        let _ = fs::remove_file(path);
        Error::Io(format!("cannot write {}", path.display()), e)
    })
}

/// Removes temporary files that write_atomic left for `path` in runs killed half-way. Only
/// for a caller that holds the lock of every writer of `path`.
pub(crate) fn remove_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_others_or_open_to_others_are_refused() {
        let t = tempfile::TempDir::new().unwrap();
        let dir = t.path().join("state");
        private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
        let md = fs::symlink_metadata(&dir).unwrap();
        assert!(check_dir(&dir, &md, md.uid() + 1).unwrap_err().to_string().contains("owned by uid"));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&dir).unwrap_err().to_string().contains("writable by group or others"));
        let link = t.path().join("link");
        std::os::unix::fs::symlink(t.path(), &link).unwrap();
        assert!(private_dir(&link).unwrap_err().to_string().contains("symbolic link"));
        let file = t.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(private_dir(&file).unwrap_err().to_string().contains("not a directory"));
    }

    #[test]
    fn files_are_never_opened_through_symlinks_or_as_fifos() {
        let t = tempfile::TempDir::new().unwrap();
        let victim = t.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = t.path().join("health.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(read(&link).unwrap_err().to_string().contains("symbolic link"));
        assert!(open_lock(&link).unwrap_err().to_string().contains("symbolic link"));
        // Writing replaces the link itself, never the file it points to.
        write_atomic(&link, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&link).unwrap(), "{}");
        assert_eq!(fs::metadata(&link).unwrap().permissions().mode() & 0o777, 0o644);
        fs::write(t.path().join(".health.json.999999"), "half").unwrap();
        remove_temporaries(&link);
        assert!(!t.path().join(".health.json.999999").exists() && link.exists());
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Returns at once instead of waiting for a writer.
        assert!(read(&fifo).unwrap_err().to_string().contains("not a regular file"));
        assert!(open_lock(&fifo).unwrap_err().to_string().contains("not a regular file"));
        assert_eq!(read(&t.path().join("absent")).unwrap(), None);
        let big = t.path().join("big");
        fs::write(&big, vec![b' '; (MAX_STATE_BYTES + 1) as usize]).unwrap();
        assert!(read(&big).unwrap_err().to_string().contains("larger than"));
    }

    #[test]
    fn records_are_read_by_the_state_file_rules() {
        let t = tempfile::TempDir::new().unwrap();
        let record = t.path().join("connection-c0.nft");
        fs::write(&record, "table inet teqlctl {}\n").unwrap();
        assert_eq!(read_record(&record).as_deref(), Some("table inet teqlctl {}\n"));
        assert_eq!(read_record(&t.path().join("absent")), None);
        let victim = t.path().join("victim");
        fs::write(&victim, "not a record").unwrap();
        let link = t.path().join("nat-teql0.nft");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert_eq!(read_record(&link), None, "through a symlink");
        fs::write(&record, vec![b'#'; (MAX_STATE_BYTES + 1) as usize]).unwrap();
        assert_eq!(read_record(&record), None, "oversized");
        fs::write(&record, b"\xff\xfe").unwrap();
        assert_eq!(read_record(&record), None, "not text");
        if euid() == 0 {
            fs::write(&record, "table inet teqlctl {}\n").unwrap();
            nix::unistd::chown(&record, Some(nix::unistd::Uid::from_raw(4242)), None).unwrap();
            assert!(read(&record).unwrap_err().to_string().contains("owned by uid 4242"));
            assert_eq!(read_record(&record), None, "someone else's");
        }
    }

    /// Every reader of a file in teqlctl's state directory goes through `read` (no symlink, no
    /// FIFO, no file of someone else's, bounded): no plain read of a record path anywhere.
    #[test]
    fn state_files_are_read_through_statefile_only() {
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut plain = Vec::new();
        while let Some(dir) = dirs.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = fs::read_to_string(&path).unwrap();
                // Tests write and read their fixtures as they like.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (n, line) in code.lines().enumerate() {
                    let reads = ["read_to_string(", "fs::read(", "File::open("].iter().any(|r| line.contains(r));
                    let ours =
                        ["record_path", "ruleset_file", "state_file", "state_dir"].iter().any(|r| line.contains(r));
                    if reads && ours {
                        plain.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(plain.is_empty(), "plain reads of state files:\n{}", plain.join("\n"));
    }
}
