//! Kernel behaviour on the host's own kernel, in a private network and mount namespace
//! (`unshare -m -n`: veth, routes, rules, nexthop groups, nftables and conntrack, without the
//! VM's emulation). Each tests/netns/*.sh script builds its lab there (tests/netns/lab.sh) and
//! drives the debug build of teqlctl; it prints "ok NAME" / "FAIL NAME" lines.
//!
//! Needs root, unshare(1), ip(8) and jq. Without them a test says why and passes on a
//! developer's machine, but fails under CI (CI=true), where a skipped kernel test counts as a
//! failed one.

mod kernel_gate;

use std::path::Path;
use std::process::Command;

fn can_run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root".into());
    }
    for tool in ["unshare", "ip", "jq"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(tool).is_file();
        if !found {
            return Err(format!("{tool} is not installed"));
        }
    }
    let probe = Command::new("unshare").args(["-m", "-n", "true"]).status();
    match probe {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("unshare -m -n true exited {s}")),
        Err(e) => Err(format!("cannot run unshare: {e}")),
    }
}

/// Runs tests/netns/NAME.sh in a namespace of its own; panics with its output on failure.
fn scenario(name: &str) {
    if let Err(why) = can_run() {
        kernel_gate::cannot_run(&format!("netns scenario {name}"), &why);
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns").join(format!("{name}.sh"));
    let out = Command::new("unshare")
        .args(["-m", "-n", "bash"])
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_teqlctl"))
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "netns scenario {name} failed ({}):\n{stdout}\n--- stderr ---\n{stderr}", out.status);
    assert!(stdout.contains(" passed, 0 failed"), "netns scenario {name} printed no summary:\n{stdout}");
}

#[test]
fn a_hook_waits_for_checks_record_of_a_line_put_back() {
    scenario("check-race");
}

#[test]
fn check_puts_in_a_line_whose_hook_never_ran_but_not_one_taken_out_on_purpose() {
    scenario("check-missing");
}

#[test]
fn a_hanging_nft_is_cut_inside_the_runs_bound_and_rolled_back() {
    scenario("bounds");
}
