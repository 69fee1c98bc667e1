//! Kernel behaviour on the host's own kernel, in a private network and mount namespace
//! (`unshare -m -n`: veth, routes, rules, nexthop groups, nftables and conntrack, without the
//! VM's emulation). Each tests/netns/*.sh script builds its lab there (tests/netns/lab.sh) and
//! drives the debug build of teqlctl; it prints "ok NAME" / "FAIL NAME" lines.
//!
//! Needs root, unshare(1), ip(8) and jq. Without them a test says why and passes on a
//! developer's machine, but fails under CI (CI=true), where a skipped kernel test counts as a
//! failed one.
//!
//! The scripts that source tests/netns/vmlab.sh run checks moved out of the VM (issue 27, point
//! 5) with the VM's own lab and assertions (tests/vm/lib.sh, isp.sh, netscripts.sh), in a PID
//! namespace as well, and need the tools that lab uses. Where each VM check went:
//!
//! | VM scenario (until issue 27) | checks | now |
//! |---|---|---|
//! | `t-72-multipath` | all 90, same names | tests/netns/multipath.sh |
//! | `t-74-multipath-lines` | all 70, same names | tests/netns/multipath-lines.sh |
//! | `t-78-connection` | all but the two of nftables modules, same names | tests/netns/connection.sh |
//! | `t-76-multipath-ifupdown` | the status counters' 8 (growing with traffic, not ahead of sysfs, rx beside tx), same names | tests/netns/multipath.sh |
//! | `t-77-multipath-ifupdown2` (merged into t-45) | the six of status counters growing with traffic, same names | tests/netns/multipath.sh |
//!
//! t-78 keeps, in the VM, what needs module loading: no expression module loaded before the
//! first line, and none requested by the kernel itself during the transactions.

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

/// Whether `tool` is on the PATH the scripts run with.
fn found(tool: &str) -> bool {
    SCRIPT_PATH.split(':').any(|d| Path::new(d).join(tool).is_file())
}

const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs tests/netns/NAME.sh in a namespace of its own; panics with its output on failure.
fn scenario(name: &str) {
    run_script(name, &["-m", "-n"]);
}

/// Runs tests/netns/NAME.sh, a VM scenario's checks (vmlab.sh), in mount, network and PID
/// namespaces of its own; `tools` are what it needs besides the lab's.
fn vm_scenario(name: &str, tools: &[&str]) {
    let lab = ["nft", "tc", "ping", "python3", "setpriv", "nsenter", "pgrep", "ss"];
    if let Some(t) = lab.iter().chain(tools).find(|t| !found(t)) {
        kernel_gate::cannot_run(&format!("netns scenario {name}"), &format!("{t} is not installed"));
        return;
    }
    run_script(name, &["-m", "-n", "-p", "-f", "--mount-proc"]);
}

fn run_script(name: &str, unshare: &[&str]) {
    if let Err(why) = can_run() {
        kernel_gate::cannot_run(&format!("netns scenario {name}"), &why);
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns").join(format!("{name}.sh"));
    // vmlab.sh refuses to run in this namespace: it is told which one that is.
    let host_net = std::fs::read_link("/proc/self/ns/net").map(|p| p.display().to_string()).unwrap_or_default();
    let mut cmd = Command::new("unshare");
    cmd.args(unshare)
        .arg("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_teqlctl"))
        .env("PATH", SCRIPT_PATH)
        .env("NETNS_HOST_NET", host_net);
    // The hooks ignore these, but teqlctl's manual commands would not: the lab's own places.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TEQLCTL_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run unshare");
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

#[test]
fn vm_t72_a_multipath_bundle_through_the_network_scripts_hooks() {
    vm_scenario("multipath", &[]);
}

#[test]
fn vm_t74_static_dhcp_and_point_to_point_lines_in_one_multipath_bundle() {
    vm_scenario("multipath-lines", &["dhclient", "dhclient-script", "busybox"]);
}

#[test]
fn vm_t78_a_connection_bundle_through_the_network_scripts_hooks() {
    vm_scenario("connection", &["conntrack"]);
}
