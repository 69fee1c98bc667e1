//! The shipped teqlctl-check.service allows only some socket families
//! (RestrictAddressFamilies=): a socket of any other family would fail with EAFNOSUPPORT in the
//! unit, and only there. That setting is a seccomp filter, which the VM tests cannot rebuild
//! without systemd as PID 1 (tests/vm/lib.sh, as_check_unit, rebuilds the rest of the sandbox);
//! so the families teqlctl opens are read from its source here and compared with the unit's.
//! Exposure (systemd-analyze security) is checked by distro/check-packages.

use std::collections::BTreeSet;
use std::path::Path;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/distro/systemd/teqlctl-check.service");

/// The unit's value of `key` (the last line that sets it, as systemd reads a non-list key).
fn unit_value(key: &str) -> String {
    let text = std::fs::read_to_string(UNIT).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .next_back()
        .unwrap_or_else(|| panic!("{UNIT} has no {key}="))
        .to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The address families teqlctl's own code opens sockets of: the first argument of every
/// `socket(` call that names one (`libc::socket(libc::AF_NETLINK, ...)`, probe.rs's helper
/// `socket(libc::AF_PACKET, ...)`), plus what the libraries open for it: netlink (rtnetlink)
/// and unix (syslog(3) to /dev/log).
fn families_in_source() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("socket(") {
            let args = text[i + "socket(".len()..].trim_start();
            let args = args.strip_prefix("libc::").unwrap_or(args);
            if let Some(rest) = args.strip_prefix("AF_") {
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                found.insert(format!("AF_{name}"));
            }
        }
        // std's and nix's socket types would open inet or unix sockets without a socket( call.
        for (needle, family) in [
            ("UdpSocket", "AF_INET"),
            ("TcpStream", "AF_INET"),
            ("TcpListener", "AF_INET"),
            ("UnixDatagram", "AF_UNIX"),
            ("UnixStream", "AF_UNIX"),
        ] {
            if text.contains(needle) {
                found.insert(family.to_string());
            }
        }
        // nix names the family in a way this scan does not follow: make the reader look.
        if text.contains("nix::sys::socket") {
            found.insert(format!("nix::sys::socket in {} (which family? teach this test)", file.display()));
        }
    }
    found.insert("AF_NETLINK".into());
    found.insert("AF_UNIX".into());
    found
}

#[test]
fn check_unit_allows_every_socket_family_teqlctl_opens() {
    let allowed: BTreeSet<String> =
        unit_value("RestrictAddressFamilies").split_whitespace().map(String::from).collect();
    let used = families_in_source();
    // The scan must see the probes' packet sockets, or it is not reading what it should.
    assert!(used.contains("AF_PACKET"), "the scan of src/ found no packet socket: {used:?}");
    let missing: Vec<_> = used.iter().filter(|f| !allowed.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "teqlctl opens sockets the check unit forbids (RestrictAddressFamilies= in {UNIT}): {missing:?}"
    );
}

#[test]
fn check_unit_keeps_the_capabilities_a_round_needs() {
    let caps: BTreeSet<String> = unit_value("CapabilityBoundingSet").split_whitespace().map(String::from).collect();
    let want: BTreeSet<String> = ["CAP_NET_ADMIN", "CAP_NET_RAW"].into_iter().map(String::from).collect();
    assert_eq!(
        caps, want,
        "{UNIT}: CapabilityBoundingSet= (netlink changes need NET_ADMIN, the probes' packet sockets NET_RAW)"
    );
    assert_eq!(unit_value("NoNewPrivileges"), "yes");
    assert_eq!(unit_value("ProtectSystem"), "strict");
    // The lock (/run/teqlctl.lock) and the state (/run/teqlctl) must stay writable.
    let rw = unit_value("ReadWritePaths");
    for path in ["/run/teqlctl.lock", "/run/teqlctl/health.json"] {
        assert!(
            rw.split_whitespace().any(|p| Path::new(path).starts_with(p)),
            "{UNIT}: ReadWritePaths={rw} does not cover {path}"
        );
    }
}
