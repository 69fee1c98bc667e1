//! Reading one configuration file without ever blocking and without reading without bound.
//!
//! Hooks run on every interface at boot. A FIFO left at /etc/sysconfig/network or at an
//! ifcfg path would block a plain `fs::read` forever (and with it the boot), a device node
//! could be read without end, and a file of gigabytes would be read whole before any check.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a configuration file was not read. Its Display is the reason part of a "cannot read"
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadProblem {
    /// The path does not exist (including a symlink whose target does not).
    NotFound,
    /// A FIFO, socket, device or directory: `kind` says which.
    NotRegular { kind: &'static str },
    /// Larger than the limit the caller gave.
    TooLarge { limit: u64 },
    /// EACCES: this user may not read it.
    PermissionDenied,
    /// Any other error from open, fstat or read.
    Io(String),
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadProblem::NotFound => write!(f, "no such file (a symbolic link to a missing file?)"),
            ReadProblem::NotRegular { kind } => {
                write!(f, "not a regular file ({kind}); teqlctl reads only regular files")
            }
            ReadProblem::TooLarge { limit } => write!(
                f,
                "larger than {limit} bytes, the most teqlctl reads from one configuration file; \
                 is this the right file?"
            ),
            ReadProblem::PermissionDenied => f.write_str("permission denied"),
            ReadProblem::Io(reason) => f.write_str(reason),
        }
    }
}

impl ReadProblem {
    fn from_io(e: &io::Error) -> ReadProblem {
        match e.kind() {
            io::ErrorKind::NotFound => ReadProblem::NotFound,
            io::ErrorKind::PermissionDenied => ReadProblem::PermissionDenied,
            _ => ReadProblem::Io(e.to_string()),
        }
    }
}

/// Reads the regular file at `path` (symlinks followed: admins symlink ifcfg files), at most
/// `limit` bytes.
///
/// The file is opened with O_NONBLOCK (and std's O_CLOEXEC), so opening a FIFO with no writer
/// returns at once instead of waiting for one; the opened descriptor is then fstat()ed, so the
/// type checked is the type of what is read (no window between a stat and the open).
pub(crate) fn read_config_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| ReadProblem::from_io(&e))?;
    let meta = file.metadata().map_err(|e| ReadProblem::from_io(&e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_dir() {
            "a directory"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else {
            "an unknown file type"
        };
        return Err(ReadProblem::NotRegular { kind });
    }
    if meta.len() > limit {
        return Err(ReadProblem::TooLarge { limit });
    }
    read_bounded(file, limit)
}

/// The size from fstat can be stale (a file growing while it is read): read one byte past the
/// limit to notice, and never more.
fn read_bounded(file: File, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| ReadProblem::from_io(&e))?;
    if bytes.len() as u64 > limit {
        return Err(ReadProblem::TooLarge { limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_file_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "abcd").unwrap();
        assert_eq!(read_config_file(&p, 4).unwrap(), b"abcd");
        assert_eq!(read_config_file(&p, 3), Err(ReadProblem::TooLarge { limit: 3 }));
        assert_eq!(read_config_file(&dir.path().join("none"), 4), Err(ReadProblem::NotFound));
        std::os::unix::fs::symlink(&p, dir.path().join("link")).unwrap();
        assert_eq!(read_config_file(&dir.path().join("link"), 4).unwrap(), b"abcd");
        std::os::unix::fs::symlink("/nonexistent/x", dir.path().join("dangling")).unwrap();
        assert_eq!(read_config_file(&dir.path().join("dangling"), 4), Err(ReadProblem::NotFound));
    }

    #[test]
    fn non_regular_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let t = Instant::now();
        let e = read_config_file(&fifo, 1 << 20).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(e, ReadProblem::NotRegular { kind: "a FIFO" });
        assert_eq!(e.to_string(), "not a regular file (a FIFO); teqlctl reads only regular files");
        assert_eq!(read_config_file(dir.path(), 10), Err(ReadProblem::NotRegular { kind: "a directory" }));
        assert_eq!(
            read_config_file(Path::new("/dev/zero"), 10),
            Err(ReadProblem::NotRegular { kind: "a character device" })
        );
    }
}
