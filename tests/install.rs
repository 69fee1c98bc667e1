//! `teqlctl hooks install|uninstall|status` against a root directory: an admin's own hook is
//! chained and restored exactly.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("teqlctl")
}

fn teqlctl(root: &Path) -> Command {
    let mut c = Command::cargo_bin("teqlctl").unwrap();
    c.env_remove("TEQLCTL_ROOT").arg("--root").arg(root);
    c
}

/// A RedHat root with the admin's own /sbin/ifup-local, which records its arguments.
fn redhat_root() -> TempDir {
    let root = TempDir::new().unwrap();
    fs::create_dir_all(root.path().join("etc/sysconfig/network-scripts")).unwrap();
    fs::create_dir_all(root.path().join("sbin")).unwrap();
    let marker = root.path().join("ifup-local.ran");
    let script = root.path().join("sbin/ifup-local");
    fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {}\n", marker.display())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    root
}

/// Every file below `root` with its type, mode, size and link target: a fingerprint of the tree.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if m.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if m.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(p);
            } else {
                out.push(format!("{rel} {:o} {} {}", m.permissions().mode(), m.len(), fs::read_to_string(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// The hook as network-scripts calls it: by its path, PATH-only environment.
fn call_ifup_local(root: &Path, dev: &str) -> assert_cmd::assert::Assert {
    Command::new(root.join("sbin/ifup-local"))
        .env_clear()
        .env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")
        .env("TEQLCTL_ROOT", root)
        .arg(dev)
        .assert()
}

#[test]
fn install_chains_the_admins_hook_and_uninstall_restores_it_exactly() {
    let root = redhat_root();
    let r = root.path();
    let marker = r.join("ifup-local.ran");
    let before = tree(r);

    call_ifup_local(r, "eth7").success();
    assert_eq!(fs::read_to_string(&marker).unwrap(), "eth7\n", "the admin's hook works before");
    fs::remove_file(&marker).unwrap();
    let before_with_marker_gone = tree(r);
    assert_eq!(before, before_with_marker_gone);

    teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
    for hook in ["sbin/ifup-pre-local", "sbin/ifup-local", "sbin/ifdown-pre-local", "sbin/ifdown-local",
        "etc/sysconfig/network-scripts/ifup-teql", "etc/sysconfig/network-scripts/ifdown-teql"]
    {
        assert_eq!(fs::read_link(r.join(hook)).unwrap(), bin(), "{hook} links to the binary");
    }
    let chained = r.join("sbin/ifup-local.teqlctl-chained");
    assert_eq!(fs::metadata(&chained).unwrap().permissions().mode() & 0o777, 0o750);

    // eth7 is not ours: teqlctl does nothing, then the admin's hook runs with its arguments.
    call_ifup_local(r, "eth7").success().stderr("");
    assert_eq!(fs::read_to_string(&marker).unwrap(), "eth7\n", "the chained hook still runs");
    fs::remove_file(&marker).unwrap();

    teqlctl(r)
        .args(["hooks", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("/sbin/ifup-local: installed -> ").and(predicate::str::contains("chaining to")))
        .stdout(predicate::str::contains("/sbin/ifdown-local: installed -> "));

    // A second install changes nothing.
    let installed = tree(r);
    teqlctl(r).args(["--dry-run", "hooks", "install", "--binary"]).arg(bin()).assert().success().stdout("# nothing to change\n");
    teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
    assert_eq!(installed, tree(r));

    teqlctl(r).args(["hooks", "uninstall"]).assert().success();
    assert_eq!(before, tree(r), "uninstall restores the tree exactly");
    call_ifup_local(r, "eth8").success();
    assert_eq!(fs::read_to_string(&marker).unwrap(), "eth8\n", "the admin's hook works after uninstall");
    fs::remove_file(&marker).unwrap();
    teqlctl(r).args(["hooks", "uninstall"]).assert().success();
    assert_eq!(before, tree(r), "a second uninstall changes nothing");
}

#[test]
fn ifupdown_directories_get_one_link_each() {
    let root = TempDir::new().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("etc/network")).unwrap();
    teqlctl(r).args(["--dry-run", "hooks", "install"]).assert().success().stdout(predicate::str::contains(
        "ln -sfn /usr/sbin/teqlctl",
    ));
    assert!(!r.join("etc/network/if-up.d").exists(), "dry run changed nothing");
    teqlctl(r).args(["hooks", "install"]).assert().success();
    for d in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
        assert_eq!(fs::read_link(r.join("etc/network").join(d).join("teqlctl")).unwrap(), Path::new("/usr/sbin/teqlctl"));
    }
    assert!(!r.join("sbin").exists(), "no network-scripts hooks on a Debian root");
    teqlctl(r).args(["hooks", "uninstall"]).assert().success();
    for d in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
        assert!(fs::read_dir(r.join("etc/network").join(d)).unwrap().next().is_none());
    }
}

#[test]
fn refuses_when_it_cannot_keep_the_admins_hook() {
    let root = redhat_root();
    let r = root.path();
    fs::write(r.join("sbin/ifup-local.teqlctl-chained"), "#!/bin/sh\n").unwrap();
    let before = tree(r);
    teqlctl(r)
        .args(["hooks", "install"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("ifup-local is not teqlctl's and").and(predicate::str::contains("exists too")));
    assert_eq!(before, tree(r));
}

#[test]
fn no_known_system_is_a_usage_error() {
    let root = TempDir::new().unwrap();
    teqlctl(root.path()).args(["hooks", "install"]).assert().code(2).stderr(predicate::str::contains("--network-scripts or --ifupdown"));
    teqlctl(root.path()).args(["hooks", "install", "--binary", "teqlctl"]).assert().code(2);
}

#[test]
fn a_failed_install_leaves_nothing_behind() {
    let root = redhat_root();
    let r = root.path();
    // The last link cannot be made (a directory is in the way of its temporary name): the
    // links made before it, and the renamed admin hook, must all be undone.
    fs::create_dir_all(r.join("etc/sysconfig/network-scripts/ifdown-teql.teqlctl-new")).unwrap();
    let before = tree(r);
    teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().code(1).stderr(predicate::str::contains("ifdown-teql"));
    assert_eq!(before, tree(r));
}
