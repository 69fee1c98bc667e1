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
                out.push(format!(
                    "{rel} {:o} {} {}",
                    m.permissions().mode(),
                    m.len(),
                    fs::read_to_string(&p).unwrap_or_default()
                ));
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
    for hook in [
        "sbin/ifup-pre-local",
        "sbin/ifup-local",
        "sbin/ifdown-pre-local",
        "sbin/ifdown-local",
        "etc/sysconfig/network-scripts/ifup-teql",
        "etc/sysconfig/network-scripts/ifdown-teql",
    ] {
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
        .stdout(
            predicate::str::contains("/sbin/ifup-local: installed -> ").and(predicate::str::contains("chaining to")),
        )
        .stdout(predicate::str::contains("/sbin/ifdown-local: installed -> "));

    // A second install changes nothing.
    let installed = tree(r);
    teqlctl(r)
        .args(["--dry-run", "hooks", "install", "--binary"])
        .arg(bin())
        .assert()
        .success()
        .stdout("# nothing to change\n");
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
    teqlctl(r)
        .args(["--dry-run", "hooks", "install"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ln -sfn /usr/sbin/teqlctl"));
    assert!(!r.join("etc/network/if-up.d").exists(), "dry run changed nothing");
    teqlctl(r).args(["hooks", "install"]).assert().success();
    for d in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
        assert_eq!(
            fs::read_link(r.join("etc/network").join(d).join("teqlctl")).unwrap(),
            Path::new("/usr/sbin/teqlctl")
        );
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
    teqlctl(r).args(["hooks", "install"]).assert().code(4).stderr(
        predicate::str::contains("ifup-local is not teqlctl's and").and(predicate::str::contains("exists too")),
    );
    assert_eq!(before, tree(r));
}

#[test]
fn no_known_system_is_a_usage_error() {
    let root = TempDir::new().unwrap();
    teqlctl(root.path())
        .args(["hooks", "install"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --network-scripts, --ifupdown or --networkmanager"));
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
    teqlctl(r)
        .args(["hooks", "install", "--binary"])
        .arg(bin())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ifdown-teql"));
    assert_eq!(before, tree(r));
}

// ------------------------------------------------------------------ interrupted runs
//
// An install or uninstall killed between any two of its steps (each one system call) must
// leave a state that `hooks status` describes truthfully, from which `hooks uninstall` puts
// the admin's hooks back exactly (same inode, so content, mode, owner, symlink target) and a
// second `hooks install` completes the install. The plans are cut after every step.

use std::os::unix::fs::MetadataExt;
use teqlctl::front::install::{self, System};

const BOTH: [System; 2] = [System::NetworkScripts, System::Ifupdown];
/// The admin's own hooks in `admin_root`.
const ADMIN_HOOKS: [&str; 3] = ["sbin/ifup-local", "sbin/ifdown-local", "etc/network/if-up.d/teqlctl"];

/// Both systems, with three hooks of the admin's: a script owned by someone else than root
/// (when the tests run as root) with mode 0750, a symlink, and a file in an ifupdown directory.
/// /etc/network/if-post-down.d is missing, so installs make a directory too.
fn admin_root() -> TempDir {
    let root = redhat_root();
    let r = root.path();
    let script = r.join("sbin/ifup-local");
    // The same bytes in every root: trees of different roots are compared.
    fs::write(&script, "#!/bin/sh\nlogger -t admin \"ifup-local $*\"\n").unwrap();
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&script, Some(1234), Some(4321)).unwrap();
    }
    std::os::unix::fs::symlink("/usr/local/lib/admin-ifdown", r.join("sbin/ifdown-local")).unwrap();
    for d in ["if-pre-up.d", "if-up.d", "if-down.d"] {
        fs::create_dir_all(r.join("etc/network").join(d)).unwrap();
    }
    fs::write(r.join("etc/network/if-up.d/teqlctl"), "#!/bin/sh\n# the admin's\n").unwrap();
    root
}

/// Every file and link below `root` (directories left out: uninstall leaves the ones install
/// made) with owner, mode, size, content or target, and inode (`with_inodes`).
fn files(root: &Path, with_inodes: bool) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|l| !l.ends_with('/'))
        .map(|l| {
            let rel = l.split(' ').next().unwrap().to_string();
            let m = root.join(&rel).symlink_metadata().unwrap();
            let ino = if with_inodes { format!(" inode {}", m.ino()) } else { String::new() };
            format!("{l} owner {}:{}{ino}", m.uid(), m.gid())
        })
        .collect()
}

fn status_of(r: &Path) -> String {
    let out = teqlctl(r).args(["hooks", "status"]).assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// `hooks status` says what is on disk, for every hook path: checked against the file system.
fn assert_status_is_true(r: &Path, when: &str) {
    let status = status_of(r);
    for system in BOTH {
        for hook in install::hook_paths(system) {
            let p = r.join(hook.strip_prefix("/").unwrap());
            let name = |suffix: &str| {
                let mut s = p.clone().into_os_string();
                s.push(suffix);
                PathBuf::from(s)
            };
            let (chained, tmp) = (name(".teqlctl-chained"), name(".teqlctl-new"));
            let line = status
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{}:", hook.display())))
                .unwrap_or_else(|| panic!("{when}: no status line for {}:\n{status}", hook.display()));
            let ours = fs::read_link(&p).is_ok_and(|t| t == bin());
            if ours {
                assert!(line.contains(&format!("installed -> {}", bin().display())), "{when}: {line}");
            } else {
                assert!(line.contains("not installed"), "{when}: {line}");
            }
            if chained.symlink_metadata().is_ok() {
                assert!(
                    line.contains(&chained.display().to_string()),
                    "{when}: status must name {}: {line}",
                    chained.display()
                );
                if !ours {
                    assert!(line.contains("interrupted"), "{when}: {line}");
                }
            } else {
                assert!(!line.contains("chain") && !line.contains("orphan"), "{when}: {line}");
            }
            assert_eq!(tmp.symlink_metadata().is_ok(), line.contains(&tmp.display().to_string()), "{when}: {line}");
        }
    }
}

/// The admin's hooks never disappear from their paths: at every point each one is there,
/// either itself or as our link chaining to it.
fn assert_admin_hooks_in_use(r: &Path, when: &str) {
    for h in ADMIN_HOOKS {
        let p = r.join(h);
        assert!(p.symlink_metadata().is_ok(), "{when}: {h} is missing");
        if fs::read_link(&p).is_ok_and(|t| t == bin()) {
            assert!(
                r.join(format!("{h}.teqlctl-chained")).symlink_metadata().is_ok(),
                "{when}: {h} is ours but chains nothing"
            );
        }
    }
}

fn installed_files() -> Vec<String> {
    let root = admin_root();
    teqlctl(root.path()).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
    files(root.path(), false)
}

fn install_completes(r: &Path, installed: &[String], when: &str) {
    teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
    assert_eq!(installed, files(r, false), "{when}: a second install completes it");
    teqlctl(r)
        .args(["--dry-run", "hooks", "install", "--binary"])
        .arg(bin())
        .assert()
        .success()
        .stdout("# nothing to change\n");
    assert_status_is_true(r, when);
}

#[test]
fn an_install_killed_after_any_step_is_reported_and_uninstall_or_install_finishes_it() {
    let installed = installed_files();
    let n = install::plan_install(admin_root().path(), &BOTH, &bin()).unwrap().len();
    assert!(n > 20, "{n} steps");
    for k in 0..=n {
        let when = format!("install cut after step {k} of {n}");
        // Uninstall from the cut.
        let root = admin_root();
        let r = root.path();
        let before = files(r, true);
        let steps = install::plan_install(r, &BOTH, &bin()).unwrap();
        install::apply(&steps[..k]).unwrap();
        assert_admin_hooks_in_use(r, &when);
        assert_status_is_true(r, &when);
        teqlctl(r).args(["hooks", "uninstall"]).assert().success();
        assert_eq!(before, files(r, true), "{when}: uninstall restores every admin hook exactly");
        assert_status_is_true(r, &when);

        // Install again from the same cut.
        let root = admin_root();
        let r = root.path();
        let inode = r.join("sbin/ifup-local").symlink_metadata().unwrap().ino();
        let steps = install::plan_install(r, &BOTH, &bin()).unwrap();
        install::apply(&steps[..k]).unwrap();
        install_completes(r, &installed, &when);
        assert_eq!(inode, r.join("sbin/ifup-local.teqlctl-chained").symlink_metadata().unwrap().ino(), "{when}");
    }
}

#[test]
fn an_uninstall_killed_after_any_step_is_reported_and_uninstall_or_install_finishes_it() {
    let installed = installed_files();
    let n = {
        let root = admin_root();
        teqlctl(root.path()).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
        install::plan_uninstall(root.path(), &BOTH).len()
    };
    assert_eq!(n, 10, "one step per hook path: 3 renames back, 7 unlinks");
    for k in 0..=n {
        let when = format!("uninstall cut after step {k} of {n}");
        for finish_with_install in [false, true] {
            let root = admin_root();
            let r = root.path();
            let before = files(r, true);
            teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
            let steps = install::plan_uninstall(r, &BOTH);
            install::apply(&steps[..k]).unwrap();
            assert_admin_hooks_in_use(r, &when);
            assert_status_is_true(r, &when);
            if finish_with_install {
                install_completes(r, &installed, &when);
            } else {
                teqlctl(r).args(["hooks", "uninstall"]).assert().success();
                assert_eq!(before, files(r, true), "{when}");
            }
        }
    }
}

#[test]
fn an_admin_hook_orphaned_by_an_older_install_is_named_and_put_back() {
    // An earlier teqlctl renamed the admin's hook away before linking: killed in between, it
    // left nothing at the hook path.
    let root = admin_root();
    let r = root.path();
    let before = files(r, true);
    fs::rename(r.join("sbin/ifup-local"), r.join("sbin/ifup-local.teqlctl-chained")).unwrap();
    teqlctl(r).args(["hooks", "status"]).assert().success().stdout(predicate::str::contains(format!(
        "/sbin/ifup-local: not installed, and the admin's hook is orphaned at {}",
        r.join("sbin/ifup-local.teqlctl-chained").display()
    )));
    assert_status_is_true(r, "orphaned");
    teqlctl(r)
        .args(["--dry-run", "hooks", "uninstall"])
        .assert()
        .success()
        .stdout(format!("mv -T {0}.teqlctl-chained {0}\n", r.join("sbin/ifup-local").display()));
    teqlctl(r).args(["hooks", "uninstall"]).assert().success();
    assert_eq!(before, files(r, true));

    fs::rename(r.join("sbin/ifup-local"), r.join("sbin/ifup-local.teqlctl-chained")).unwrap();
    teqlctl(r).args(["hooks", "install", "--binary"]).arg(bin()).assert().success();
    assert_eq!(installed_files(), files(r, false), "install chains the orphan");
}

#[test]
fn install_plan_keeps_the_admins_hook_by_a_hard_link_before_replacing_it() {
    let root = admin_root();
    let r = root.path();
    let p = r.join("sbin/ifup-local");
    let out = teqlctl(r)
        .args(["--dry-run", "hooks", "install", "--binary"])
        .arg(bin())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let expected = format!(
        "ln -sfn {b} {p}.teqlctl-new\nln -P {p} {p}.teqlctl-chained\nmv -T {p}.teqlctl-new {p}\n",
        b = bin().display(),
        p = p.display()
    );
    assert!(out.contains(&expected), "{out}");
}

#[test]
fn networkmanager_gets_the_dispatcher_link_and_its_pre_up_and_pre_down_twins() {
    let root = TempDir::new().unwrap();
    let r = root.path();
    // An admin's own dispatcher script stays where it is.
    let own = r.join("etc/NetworkManager/dispatcher.d/10-admin");
    fs::create_dir_all(own.parent().unwrap()).unwrap();
    fs::write(&own, "#!/bin/sh\n").unwrap();
    let links = [
        "etc/NetworkManager/dispatcher.d/90-teqlctl",
        "etc/NetworkManager/dispatcher.d/pre-up.d/90-teqlctl",
        "etc/NetworkManager/dispatcher.d/pre-down.d/90-teqlctl",
    ];
    let before = tree(r);
    let plan = teqlctl(r).args(["--dry-run", "hooks", "install"]).assert().success().get_output().stdout.clone();
    let plan = String::from_utf8(plan).unwrap();
    for l in links {
        assert!(plan.contains(&format!("{}/{l}", r.display())), "{l} in {plan}");
    }
    assert_eq!(before, tree(r), "a dry run changes nothing");
    teqlctl(r).args(["hooks", "install"]).assert().success();
    for l in links {
        assert_eq!(fs::read_link(r.join(l)).unwrap(), Path::new("/usr/sbin/teqlctl"), "{l}");
    }
    assert!(!r.join("etc/network").exists() && !r.join("sbin").exists(), "only NetworkManager's hooks");
    teqlctl(r)
        .args(["hooks", "status", "--networkmanager"])
        .assert()
        .success()
        .stdout(predicate::str::contains("90-teqlctl"));
    teqlctl(r).args(["hooks", "uninstall", "--networkmanager"]).assert().success();
    for l in links {
        assert!(r.join(l).symlink_metadata().is_err(), "{l} removed");
    }
    assert!(own.is_file(), "the admin's script is untouched");
}

/// Without --binary, on this very system the links point to the binary that runs, not to a
/// /usr/sbin/teqlctl that may not be there; a --binary that is no program is refused before
/// anything is planned (issue 28, point 8). Dry runs: nothing of the host is touched.
#[test]
fn on_this_system_the_links_point_to_a_binary_that_is_there() {
    let own = fs::canonicalize(bin()).unwrap();
    teqlctl(Path::new("/"))
        .args(["--dry-run", "hooks", "install", "--ifupdown"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("ln -sfn {} ", own.display())));
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nonexistent/teqlctl");
    teqlctl(Path::new("/"))
        .args(["--dry-run", "hooks", "install", "--ifupdown", "--binary"])
        .arg(&missing)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "teqlctl: --binary {}: does not exist, so the hooks linked to it would never run",
            missing.display()
        )));
    let plain = tmp.path().join("teqlctl");
    fs::write(&plain, "").unwrap();
    teqlctl(Path::new("/"))
        .args(["--dry-run", "hooks", "install", "--ifupdown", "--binary"])
        .arg(&plain)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not executable"));
}

/// On another tree (an image) the target may come later: a loud warning, and `hooks status`
/// says the links are broken until it is there.
#[test]
fn a_link_to_a_missing_binary_is_said_to_be_broken() {
    let root = TempDir::new().unwrap();
    let r = root.path();
    // A path that neither the tree nor this system has.
    let target = "/nonexistent-teqlctl-issue28/teqlctl";
    fs::create_dir_all(r.join("etc/network")).unwrap();
    let install = || teqlctl(r).args(["hooks", "install", "--binary", target]).assert().success();
    install().stderr(predicate::str::contains(format!(
        "teqlctl: warning: {}{target}: does not exist: the hooks linked to it do not run",
        r.display()
    )));
    let status = || teqlctl(r).args(["hooks", "status"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(status()).unwrap();
    assert_eq!(text.matches(&format!("BROKEN: installed -> {target}, which does not exist")).count(), 4, "{text}");
    let bin = r.join(target.trim_start_matches('/'));
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::write(&bin, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let text = String::from_utf8(status()).unwrap();
    assert!(!text.contains("BROKEN") && text.matches(&format!("installed -> {target}")).count() == 4, "{text}");
    install().stderr("");
}
