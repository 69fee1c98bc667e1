//! Host tests of the command line: usage, configuration errors and hook fast paths. Nothing
//! here changes the kernel (the host kernel has no teql); kernel behaviour is in tests/vm.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn teqlctl() -> Command {
    let mut c = Command::cargo_bin("teqlctl").unwrap();
    c.env_remove("TEQLCTL_ROOT");
    c
}

/// A configuration root with the office: eth2..eth5 in teql0.
fn office() -> TempDir {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    for k in 2..=5 {
        fs::write(
            dir.join(format!("ifcfg-eth{k}")),
            format!("DEVICE=eth{k}\nONBOOT=yes\nBOOTPROTO=static\nIPADDR=198.18.{k}.1\nNETMASK=255.255.255.252\nTEQL_MASTER=teql0\n"),
        )
        .unwrap();
    }
    fs::write(
        dir.join("ifcfg-teql0"),
        "DEVICE=teql0\nONBOOT=yes\nBOOTPROTO=static\nIPADDR=203.0.113.2\nPREFIX=28\nGATEWAY=203.0.113.1\n",
    )
    .unwrap();
    fs::write(dir.join("ifcfg-eth0"), "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n").unwrap();
    root
}

fn scripts(root: &TempDir) -> PathBuf {
    root.path().join("etc/sysconfig/network-scripts")
}

/// The binary linked under a hook's name, as an admin installs it.
fn hook(dir: &Path, name: &str) -> Command {
    let link = dir.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("teqlctl"), &link).unwrap();
    }
    let mut c = Command::new(link);
    c.env_clear().env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin");
    c
}

/// A hook run against a test tree: `teqlctl --root ROOT hook NAME`, the documented way (a hook
/// linked under its own name ignores TEQLCTL_ROOT), with network-scripts' environment.
fn hook_at(root: &TempDir, name: &str) -> Command {
    let mut c = Command::cargo_bin("teqlctl").unwrap();
    c.env_clear().env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin").arg("--root").arg(root.path()).args(["hook", name]);
    c
}

#[test]
fn linked_hooks_ignore_redirecting_variables() {
    // With TEQLCTL_ROOT honoured, this hook would read the broken eth3 and exit 3; a hook reads
    // the real /etc instead, where this test's eth3 is not configured: silent success.
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap();
    let bin = TempDir::new().unwrap();
    hook_at(&root, "ifup-local").arg("eth3").assert().code(3);
    if !std::path::Path::new("/etc/sysconfig/network-scripts/ifcfg-eth3").exists() {
        hook(bin.path(), "ifup-local")
            .env("TEQLCTL_ROOT", root.path())
            .env("TEQLCTL_LOCK", root.path().join("lock"))
            .arg("eth3")
            .assert()
            .code(0)
            .stderr("");
    }
}

#[test]
fn help_lists_every_command() {
    let out = teqlctl().arg("--help").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for cmd in ["attach", "detach", "up", "down", "status", "peer-config", "hook", "--dry-run", "--root"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    teqlctl().arg("bogus").assert().code(2).stderr(predicate::str::contains("unrecognized subcommand"));
    teqlctl().arg("attach").assert().code(2).stderr(predicate::str::contains("IFACE"));
    teqlctl().args(["hook", "ifup-sideways", "eth0"]).assert().code(2);
    teqlctl()
        .args(["--dry-run", "attach", "--master", "eth0", "lo"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--master eth0: not a teql master name"));
    teqlctl()
        .args(["-n", "detach", "../etc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a name teqlctl takes"));
    // Names are checked once, where they come in (the command line), before anything is planned.
    let empty = TempDir::new().unwrap();
    for (args, want) in [
        (&["-n", "attach", "eth0:1"][..], "\"eth0:1\": not a name teqlctl takes"),
        (&["-n", "attach", "eth*"], "\"eth*\": not a name teqlctl takes: an interface name of 1 to 15 characters"),
        (&["-n", "detach", "x\"y"], "('\"' is refused: an nftables string cannot hold it)"),
        (&["-n", "attach", "--master", "teql64", "lo"], "--master teql64: not a teql master name teql0..teql63"),
        (&["-n", "up", "teql01"], "teql01: not a teql master name teql0..teql63, nor a configured multipath bundle"),
        (&["-n", "down", "a/b"], "a/b: not a teql master name teql0..teql63, nor a configured multipath bundle"),
        (&["peer-config", "teql0", "--master", "wan"], "--master wan: not a teql master name"),
    ] {
        teqlctl().arg("--root").arg(empty.path()).args(args).assert().code(2).stderr(predicate::str::contains(want));
    }
}

#[test]
fn unknown_interface_is_named_and_exits_6() {
    let root = office();
    teqlctl()
        .args(["--root"])
        .arg(root.path())
        .args(["attach", "nosuch9"])
        .assert()
        .code(6)
        .stderr(predicate::str::diff("teqlctl: nosuch9: no such interface; check the name with `ip link`\n"));
}

#[test]
fn loopback_is_refused_as_a_line() {
    teqlctl()
        .args(["--dry-run", "attach", "lo"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("lo is the loopback device"));
}

#[test]
fn bad_value_names_file_key_and_value_and_exits_3() {
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=eth9\n").unwrap();
    let file = scripts(&root).join("ifcfg-eth3");
    let expected = format!(
        "{}: line eth3 names bundle eth9 (TEQL_MASTER=\"eth9\"), but no bundle eth9 is configured",
        file.display()
    );
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["-n", "up"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(expected.clone()));
    // The hook for that line says the same, to stderr and syslog, and exits 3.
    hook_at(&root, "ifup-pre-local")
        .current_dir(scripts(&root))
        .arg("ifcfg-eth3")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(expected));
}

#[test]
fn syntax_error_gives_line_and_column() {
    let root = office();
    fs::write(scripts(&root).join("ifcfg-teql0"), "DEVICE=teql0\nIPADDR=\"203.0.113.2\n").unwrap();
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["-n", "up", "teql0"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("ifcfg-teql0:2:8:"));
}

#[test]
fn hooks_are_silent_and_succeed_for_interfaces_that_are_not_ours() {
    let root = office();
    for (name, arg) in [
        ("ifup-pre-local", "ifcfg-eth0"),
        ("ifup-pre-local", "ifcfg-nonexistent"),
        ("ifup-local", "eth0"),
        ("ifup-local", "eth2:1"),
        ("ifdown-pre-local", "eth0"),
        ("ifdown-local", "eth0"),
    ] {
        hook_at(&root, name).current_dir(scripts(&root)).args([arg, "boot"]).assert().code(0).stdout("").stderr("");
    }
}

#[test]
fn a_broken_unrelated_file_does_not_stop_other_lines() {
    let root = office();
    // Not ours, and not valid in our subset: ignored.
    fs::write(scripts(&root).join("ifcfg-eth1"), "DEVICE=eth1\nIPADDR=$(hostname -i)\n").unwrap();
    // Ours and broken: only its own interface refuses.
    fs::write(scripts(&root).join("ifcfg-eth5"), "DEVICE=eth5\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=sometimes\n").unwrap();
    hook_at(&root, "ifup-local").arg("eth1").assert().code(0).stderr("");
    hook_at(&root, "ifup-local")
        .arg("eth5")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("TEQL_RP_FILTER=\"sometimes\""));
}

#[test]
fn unknown_program_name_is_refused() {
    let bin = TempDir::new().unwrap();
    hook(bin.path(), "ifup-sideways").arg("eth0").assert().code(2).stderr(predicate::str::contains("ifup-local"));
}

#[test]
fn ifup_teql_refuses_a_config_that_is_not_a_master() {
    let root = office();
    hook_at(&root, "ifup-teql")
        .current_dir(scripts(&root))
        .arg("ifcfg-eth2")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ifcfg-eth2 does not configure a teql master"));
}

/// `teqlctl --root ROOT status --json ARGS`, parsed.
fn status_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let out = teqlctl()
        .arg("--root")
        .arg(root)
        .args(["status", "--json"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn status_json_has_the_documented_shape() {
    let root = office();
    let v = status_json(root.path(), &[]);
    assert_eq!(v["schema"], 2, "{v}");
    let m = &v["masters"][0];
    assert_eq!(m["name"], "teql0");
    for key in ["up", "mtu", "addresses", "lines", "default_route", "exists", "configured"] {
        assert!(m.get(key).is_some(), "master lacks {key}: {m}");
    }
    let names: Vec<&str> = m["lines"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["eth2", "eth3", "eth4", "eth5"]);
    for key in ["name", "attached", "carrier", "rp_filter", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes"] {
        assert!(m["lines"][0].get(key).is_some(), "line lacks {key}");
    }
}

/// "slaves", the name of "lines" before schema 1, is still there for one release: the same
/// array, in every master of every mode.
#[test]
fn status_json_keeps_slaves_as_an_alias_of_lines() {
    let root = office();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
    fs::write(dir.join("ifcfg-mpx1"), "DEVICE=mpx1\nTEQL_MASTER=wan\nTEQL_GATEWAY=192.0.2.1\n").unwrap();
    let v = status_json(root.path(), &[]);
    let masters = v["masters"].as_array().unwrap();
    assert_eq!(masters.len(), 2, "{v}");
    for m in masters {
        assert!(!m["lines"].as_array().unwrap().is_empty(), "{m}");
        assert_eq!(m["slaves"], m["lines"], "{m}");
    }
}

#[test]
fn up_without_configuration_says_what_to_write() {
    let root = TempDir::new().unwrap();
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["-n", "up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("TEQL_MASTER="));
}

/// A Debian box: /etc/network/interfaces only.
fn debian(interfaces: &str) -> TempDir {
    let root = TempDir::new().unwrap();
    fs::create_dir_all(root.path().join("etc/network")).unwrap();
    fs::write(root.path().join("etc/network/interfaces"), interfaces).unwrap();
    root
}

#[test]
fn a_debian_box_is_told_in_its_own_words_and_a_missing_line_is_a_config_problem() {
    let root = debian("auto lo\niface lo inet loopback\n");
    let err = |args: &[&str], code: i32| {
        let out = teqlctl().arg("--root").arg(root.path()).args(args).assert().code(code).get_output().stderr.clone();
        String::from_utf8(out).unwrap()
    };
    let e = err(&["-n", "up"], 2);
    assert!(
        e.contains("teql-master teqlN in a line's stanza of /etc/network/interfaces") && !e.contains("ifcfg"),
        "{e}"
    );
    // No line for teql1 is the files' problem, not the kernel's: 3, not 4.
    let e = err(&["-n", "up", "teql1"], 3);
    assert!(
        e.contains("teql1: no line is configured") && e.contains("teql-master teql1") && !e.contains("ifcfg"),
        "{e}"
    );
}

#[test]
fn interfaces_problems_name_line_and_stanza_and_are_said_once() {
    let root = debian(
        "auto eth1\niface eth1 inet static\n    address 198.51.100.2/24\n    teql-gateway 198.51.100.1\n    \
         teql-master wan\n    teql-weight ten\n\n\
         iface eth2 inet dhcp\n    teql-master wan\n\niface eth3 inet dhcp\n    teql-master wan\n",
    );
    // status lists the problems in its text (stdout), once.
    let out = teqlctl().arg("--root").arg(root.path()).args(["status"]).assert().success().get_output().clone();
    let e = String::from_utf8(out.stdout).unwrap();
    let file = root.path().join("etc/network/interfaces");
    let weight = format!(
        "{}:6: iface eth1 inet static: teql-weight \"ten\" is not valid: expected a weight from 1 to 256",
        file.display()
    );
    assert!(e.contains(&weight), "{e}");
    // The missing bundle is one problem of eth2 and eth3, not one line each.
    assert_eq!(e.matches("no bundle wan is configured").count(), 1, "{e}");
    assert!(e.contains("lines eth2, eth3 name bundle wan (teql-master \"wan\")"), "{e}");
    assert!(e.contains("add a stanza `iface wan inet manual` with `teql-mode multipath`"), "{e}");
    // `up` refuses with it, said once.
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["-n", "up", "wan"])
        .assert()
        .code(predicate::ne(0))
        .stderr(predicate::str::contains("no bundle wan is configured").count(1));
}

#[test]
fn completions_cover_the_commands() {
    let out = teqlctl().args(["completions", "bash"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for cmd in ["attach", "detach", "status", "hooks", "install", "--dry-run"] {
        assert!(text.contains(cmd), "bash completion lacks {cmd}");
    }
    teqlctl().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn check_with_no_line_of_ours_present_does_nothing_and_keeps_state() {
    // eth2..eth5 do not exist on the host: nothing to probe, nothing to change, exit 0, and the
    // round is remembered in the state directory.
    let root = office();
    let state = TempDir::new().unwrap();
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "check"])
        .env("TEQLCTL_STATE_DIR", state.path())
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let json = fs::read_to_string(state.path().join("health.json")).unwrap();
    assert!(json.contains("\"round\": 1"), "{json}");
    // --dry-run leaves the state alone.
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "--dry-run", "check"])
        .env("TEQLCTL_STATE_DIR", state.path())
        .assert()
        .success();
    assert_eq!(fs::read_to_string(state.path().join("health.json")).unwrap(), json);
}

/// `check --metrics-file`: every configured line is in the file (here none exists: each is
/// down and out, and check does not check it), read back with the text-format parser of
/// tests/metrics.rs; --dry-run writes nothing.
#[test]
fn check_writes_the_metrics_file() {
    use openmetrics_parser::prometheus::parse_prometheus;
    let root = office();
    let state = TempDir::new().unwrap();
    let out = TempDir::new().unwrap();
    let prom = out.path().join("teqlctl.prom");
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "--dry-run", "check", "--metrics-file"])
        .arg(&prom)
        .env("TEQLCTL_STATE_DIR", state.path())
        .assert()
        .success();
    assert!(!prom.exists(), "--dry-run writes no metrics file");
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "check", "--metrics-file"])
        .arg(&prom)
        .env("TEQLCTL_STATE_DIR", state.path())
        .assert()
        .success()
        .stderr("");
    let text = fs::read_to_string(&prom).unwrap();
    let e = parse_prometheus(&text).unwrap_or_else(|err| panic!("{err:?}\n{text}"));
    for (family, samples) in [
        ("teqlctl_bundle_lines_configured", 1),
        ("teqlctl_bundle_lines_live", 1),
        ("teqlctl_line_up", 4),
        ("teqlctl_line_attached", 4),
        ("teqlctl_line_transmit_bytes_total", 4),
        ("teqlctl_line_healthy", 0),
    ] {
        assert_eq!(e.families[family].iter_samples().count(), samples, "{family}\n{text}");
    }
    assert!(text.contains("teqlctl_bundle_lines_configured{bundle=\"teql0\"} 4\n"), "{text}");
    assert!(text.contains("teqlctl_bundle_lines_live{bundle=\"teql0\"} 0\n"), "{text}");
    assert!(text.contains("teqlctl_line_up{bundle=\"teql0\",line=\"eth3\"} 0\n"), "{text}");
    let names: Vec<_> = fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["teqlctl.prom"], "no temporary left");
}

#[test]
fn check_names_a_state_directory_it_cannot_create() {
    let root = office();
    let file = TempDir::new().unwrap();
    let blocker = file.path().join("not-a-dir");
    fs::write(&blocker, "").unwrap();
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "check"])
        .env("TEQLCTL_STATE_DIR", blocker.join("state"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("cannot create {}", blocker.join("state").display())));
}

#[test]
fn check_reports_a_line_with_a_bad_probe_key_and_checks_the_others() {
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_PROBE_TIMEOUT=fast\n").unwrap();
    let state = TempDir::new().unwrap();
    teqlctl()
        .args(["--root", root.path().to_str().unwrap(), "check"])
        .env("TEQLCTL_STATE_DIR", state.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "TEQL_PROBE_TIMEOUT=\"fast\" is not valid: expected a time in milliseconds from 50 to 5000",
        ));
}

/// The ways a line's file was found broken without a word (issue 11, point 1).
fn break_eth3(root: &TempDir, how: &str) {
    let f = scripts(root).join("ifcfg-eth3");
    let _ = fs::remove_file(&f);
    match how {
        "rp" => fs::write(&f, "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap(),
        "master" => fs::write(&f, "DEVICE=eth3\nTEQL_MASTER=eth9\n").unwrap(),
        "quote" => fs::write(&f, "DEVICE=eth3\nTEQL_MASTER=\"teql0\n").unwrap(),
        _ => std::os::unix::fs::symlink("/nonexistent/ifcfg-eth3", &f).unwrap(),
    }
}

#[test]
fn manual_commands_refuse_a_broken_line_file_of_any_bundle() {
    for how in ["rp", "master", "quote", "dangling"] {
        let root = office();
        break_eth3(&root, how);
        for args in [&["up"][..], &["up", "teql0"], &["attach", "eth2"], &["down", "teql0"]] {
            let out = teqlctl()
                .arg("--root")
                .arg(root.path())
                .arg("-n")
                .args(args)
                .assert()
                .code(3)
                .get_output()
                .stderr
                .clone();
            let err = String::from_utf8_lossy(&out);
            assert!(err.contains("ifcfg-eth3") && err.lines().count() == 1, "{how} {args:?}: {err}");
        }
    }
}

#[test]
fn a_fifo_where_a_file_should_be_never_blocks() {
    for at in ["etc/sysconfig/network", "etc/sysconfig/network-scripts/ifcfg-eth3"] {
        let root = office();
        let fifo = root.path().join(at);
        let _ = fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let started = std::time::Instant::now();
        teqlctl()
            .arg("--root")
            .arg(root.path())
            .args(["-n", "up"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(3)
            .stderr(predicate::str::contains("not a regular file"));
        hook_at(&root, "ifup-pre-local")
            .current_dir(scripts(&root))
            .args(["ifcfg-eth2", "boot"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .stderr(predicate::str::contains("not a regular file"));
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "{at}: took {:?}", started.elapsed());
    }
}

#[test]
fn messages_never_carry_raw_control_or_bidi_characters() {
    // An interface name is user input that reaches stderr and syslog.
    let out = teqlctl().args(["attach", "eth\u{1b}[2J\u{202e}x"]).assert().code(2).get_output().stderr.clone();
    let err = String::from_utf8(out).unwrap();
    assert!(!err.contains('\u{1b}') && !err.contains('\u{202e}'), "{err:?}");
    assert!(err.contains("\"eth\\x1b[2J\\xe2\\x80\\xaex\"") && err.contains("'\\e' is refused"), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
}

#[test]
fn master_numbers_are_capped_on_the_command_line_too() {
    for m in ["teql64", "teql99999999", "teql4294967295"] {
        teqlctl()
            .args(["--dry-run", "attach", "--master", m, "lo"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("teql0..teql63"));
        teqlctl().args(["--dry-run", "up", m]).assert().code(2).stderr(predicate::str::contains("teql0..teql63"));
    }
}

#[test]
fn status_shows_a_multipath_bundle_and_dry_run_plans_it() {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
    fs::write(
        dir.join("ifcfg-mpx1"),
        "DEVICE=mpx1\nTEQL_MASTER=wan\nTEQL_WEIGHT=3\nTEQL_GATEWAY=192.0.2.1\nTEQL_TABLE=4301\n",
    )
    .unwrap();
    let v = status_json(root.path(), &["wan"]);
    let m = &v["masters"][0];
    assert_eq!(
        (m["name"].as_str(), m["mode"].as_str(), m["up"].as_bool()),
        (Some("wan"), Some("multipath"), Some(false)),
        "{v}"
    );
    let line = &m["lines"][0];
    assert_eq!(line["name"], "mpx1");
    // A line of a multipath bundle has the counters of a TEQL line (none for a missing device).
    for key in ["tx_packets", "tx_bytes", "rx_packets", "rx_bytes"] {
        assert_eq!(line[key].as_u64(), Some(0), "{key}: {v}");
    }
    let p = &line["multipath"];
    assert_eq!(
        (p["weight"].as_u64(), p["table"].as_u64(), p["gateway"].as_str()),
        (Some(3), Some(4301), Some("192.0.2.1")),
        "{v}"
    );
    assert_eq!((p["live"].as_bool(), p["why"].as_str()), (Some(false), Some("no such interface")), "{v}");
    let text =
        teqlctl().arg("--root").arg(root.path()).args(["status", "wan"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("wan: down (multipath)") && text.contains("weight 3, table 4301, out: no such interface"),
        "{text}"
    );
    // The line is not on this machine: nothing to plan but a note, and nothing to refuse.
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["--dry-run", "up", "wan"])
        .assert()
        .success()
        .stdout(predicate::str::contains("# mpx1: no such interface"));
}

#[test]
fn a_step_that_waits_ends_inside_the_runs_bound() {
    // Issue 26, point 8: a hook must wait for a lock that someone holds for good, and its own
    // lock wait (600 s here) is longer than its run's bound (8 s): the wait is cut so that the
    // run gives up (exit 7, the lock) with its rollback reserve (5 s) left, never by the
    // watchdog in the middle of a change.
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ifcfg-eth2"), "DEVICE=eth2\nTEQL_MASTER=teql0\n").unwrap();
    let lock = root.path().join("held.lock");
    let held = nix::fcntl::Flock::lock(fs::File::create(&lock).unwrap(), nix::fcntl::FlockArg::LockExclusive).unwrap();
    let started = std::time::Instant::now();
    // ifup-pre-local takes the lock to load sch_teql.
    let out = hook_at(&root, "ifup-pre-local")
        .current_dir(&dir)
        .env("TEQLCTL_LOCK", &lock)
        .env("TEQLCTL_LOCK_TIMEOUT", "600")
        .env("TEQLCTL_RUN_BOUND", "8")
        .arg("ifcfg-eth2")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(7)
        .get_output()
        .stderr
        .clone();
    let took = started.elapsed();
    drop(held);
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("held.lock for 3 s; giving up"), "{err}");
    assert!(!err.contains("watchdog"), "{err}");
    assert!(took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(7), "{took:?}");
}

#[test]
fn a_run_that_blocks_is_stopped_by_its_watchdog() {
    // Every step is bounded inside the run's bound now; the watchdog is the last resort for
    // what is not (here a pause point of the debug build that holds the hook for 20 s).
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ifcfg-eth2"), "DEVICE=eth2\nTEQL_MASTER=teql0\n").unwrap();
    let pause = root.path().join("pause");
    fs::write(&pause, "").unwrap();
    // A stand-in for journald's socket: what the killed run sends from its signal handler.
    let journal_path = root.path().join("journal.socket");
    let journal = std::os::unix::net::UnixDatagram::bind(&journal_path).unwrap();
    journal.set_nonblocking(true).unwrap();
    let started = std::time::Instant::now();
    let out = hook_at(&root, "ifup-pre-local")
        .current_dir(&dir)
        .env("TEQLCTL_JOURNAL_SOCKET", &journal_path)
        .env("TEQLCTL_LOCK", root.path().join("lock"))
        .env("TEQLCTL_TEST_PAUSE", format!("hook:{}", pause.display()))
        .env("TEQLCTL_RUN_BOUND", "3")
        .arg("ifcfg-eth2")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(8)
        .get_output()
        .stderr
        .clone();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("watchdog: this run took longer than its time bound"), "{err}");
    assert!(took >= std::time::Duration::from_secs(3) && took < std::time::Duration::from_secs(15), "{took:?}");
    // The journal heard it too, with the bound, the hook's name and the event.
    let mut entries = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = journal.recv(&mut buf) {
        entries.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let entry =
        entries.iter().find(|e| e.contains("TEQLCTL_EVENT=watchdog\n")).unwrap_or_else(|| panic!("{entries:?}"));
    for want in [
        "MESSAGE=watchdog: teqlctl ifup-pre-local took longer than its time bound (3 s) and was stopped\n",
        "PRIORITY=3\n",
        "SYSLOG_IDENTIFIER=teqlctl\n",
        "TEQLCTL_COMMAND=ifup-pre-local\n",
    ] {
        assert!(entry.contains(want), "{want} not in {entry}");
    }
}

#[test]
fn messages_reach_the_journal_with_the_command() {
    // A problem in a file that concerns us is said by every command that reads it: here by
    // status, to the journal (its native protocol) as well as stderr.
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap();
    let journal_path = root.path().join("journal.socket");
    let journal = std::os::unix::net::UnixDatagram::bind(&journal_path).unwrap();
    journal.set_nonblocking(true).unwrap();
    let out = teqlctl()
        .arg("--root")
        .arg(root.path())
        .env("TEQLCTL_JOURNAL_SOCKET", &journal_path)
        .args(["--dry-run", "up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TEQL_RP_FILTER"), "{err}");
    let mut buf = [0u8; 8192];
    let n = journal.recv(&mut buf).unwrap_or_else(|e| panic!("nothing reached the journal ({e}); stderr: {err}"));
    let entry = String::from_utf8_lossy(&buf[..n]);
    assert!(entry.starts_with("MESSAGE=") && entry.contains("TEQL_RP_FILTER"), "{entry}");
    assert!(entry.contains("\nSYSLOG_IDENTIFIER=teqlctl\n"), "{entry}");
    assert!(entry.contains("\nTEQLCTL_COMMAND=up\n"), "{entry}");
}

/// A stand-in for a stalled system log: a datagram socket bound at `path` whose queue is full
/// and that nobody reads.
fn stalled_log_socket(path: &Path) -> std::os::unix::net::UnixDatagram {
    let log = std::os::unix::net::UnixDatagram::bind(path).unwrap();
    let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let mut sent = 0;
    while filler.send_to(&[b'x'; 1024], path).is_ok() {
        sent += 1;
        assert!(sent < 1_000_000, "the stand-in's queue never filled");
    }
    log
}

#[test]
fn a_stalled_system_log_holds_no_run() {
    // Before, journal() sent with a blocking sendto and syslog(3) blocks on a full /dev/log:
    // every command waited for a daemon that was not reading, hooks too.
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap();
    let journal_path = root.path().join("journal.socket");
    let syslog_path = root.path().join("log.socket");
    let _journal = stalled_log_socket(&journal_path);
    let _syslog = stalled_log_socket(&syslog_path);
    // The journal stalled; and no journal, with /dev/log stalled.
    for journal in [journal_path.clone(), root.path().join("no-journal.socket")] {
        let started = std::time::Instant::now();
        let out = teqlctl()
            .arg("--root")
            .arg(root.path())
            .env("TEQLCTL_JOURNAL_SOCKET", &journal)
            .env("TEQLCTL_SYSLOG_SOCKET", &syslog_path)
            .args(["--dry-run", "up"])
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(took < std::time::Duration::from_secs(5), "{took:?} with {}: {err}", journal.display());
        assert!(out.status.code().is_some(), "killed by the timeout: {err}");
        assert!(err.contains("TEQL_RP_FILTER"), "{err}");
        // The problem was said on stderr before the run reports what the log did not take.
        let said = err.find("TEQL_RP_FILTER").unwrap();
        let dropped = err.find("were not sent to the system log").unwrap_or_else(|| panic!("{err}"));
        assert!(said < dropped, "{err}");
        assert!(err.contains("warning: 1 message(s) of this run"), "{err}");
    }
}

#[test]
fn without_a_journal_messages_go_to_dev_log_as_syslog_sends_them() {
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth3"), "DEVICE=eth3\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap();
    let syslog_path = root.path().join("log.socket");
    let syslog = std::os::unix::net::UnixDatagram::bind(&syslog_path).unwrap();
    syslog.set_nonblocking(true).unwrap();
    let out = teqlctl()
        .arg("--root")
        .arg(root.path())
        .env("TEQLCTL_JOURNAL_SOCKET", root.path().join("no-journal.socket"))
        .env("TEQLCTL_SYSLOG_SOCKET", &syslog_path)
        .args(["--dry-run", "up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not sent to the system log"), "{err}");
    let mut buf = [0u8; 8192];
    let n = syslog.recv(&mut buf).unwrap_or_else(|e| panic!("nothing reached /dev/log ({e}); stderr: {err}"));
    let d = String::from_utf8_lossy(&buf[..n]);
    // <daemon.err>Mmm dd hh:mm:ss teqlctl[pid]: ...
    assert!(d.starts_with("<27>"), "{d}");
    assert_eq!(&d[4 + 15..4 + 24], " teqlctl[", "{d}");
    assert!(d.contains("]: ") && d.contains("TEQL_RP_FILTER"), "{d}");
}

#[test]
fn the_dhclient_hook_is_silent_for_what_is_not_ours_and_names_bad_calls() {
    let root = office();
    // eth0 is a DHCP interface but no line; eth2 a TEQL line (no DHCP business); reasons of
    // no lease (PREINIT, DHCPv6) are never ours.
    for args in [
        &["reason=BOUND", "interface=eth0", "new_ip_address=192.0.2.10", "new_routers=192.0.2.1"][..],
        &["reason=RENEW", "interface=eth2", "new_ip_address=198.18.2.1", "new_routers=198.18.2.2"],
        &["reason=EXPIRE", "interface=eth0"],
        &["reason=PREINIT", "interface=wan"],
        &["reason=BOUND6", "interface=eth2"],
        &["reason=BOUND", "interface=../../etc"],
    ] {
        hook_at(&root, "dhclient").args(args).assert().code(0).stdout("").stderr("");
    }
    hook_at(&root, "dhclient")
        .args(["BOUND", "eth0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("\"BOUND\" is not KEY=VALUE"));
    hook_at(&root, "dhclient").assert().code(2).stderr(predicate::str::contains("expects reason="));
}

#[test]
fn the_dhclient_hook_plans_a_multipath_line_with_its_lease() {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
    fs::write(dir.join("ifcfg-mpx2"), "DEVICE=mpx2\nBOOTPROTO=dhcp\nTEQL_MASTER=wan\nTEQL_TABLE=4302\n").unwrap();
    // A dry run records nothing (no lock, no state file) and plans: the line is not on this
    // machine, which the plan says.
    teqlctl()
        .arg("--root")
        .arg(root.path())
        .args(["--dry-run", "hook", "dhclient", "reason=BOUND", "interface=mpx2"])
        .args(["new_ip_address=192.0.2.10", "new_routers=192.0.2.1 192.0.2.2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("# mpx2: no such interface"));
}

#[test]
fn the_dhclient_snippets_are_sourced_with_status_0_and_leave_nothing_behind() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("distro/dhclient");
    // As dhclient-script sources them (the binary is not installed on the test host, or it
    // is: either way the status is 0).
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "reason=BOUND interface=nonexistent0; set -u; . '{}'; echo \"status $?\"; set | grep -c '^teqlctl' || :",
            top.join("exit-hook.debian").display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "status 0\n0\n", "{out:?}");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "reason=EXPIRE interface=nonexistent0; . '{}'; teqlctl_config; a=$?; teqlctl_restore; echo \"$a $?\"",
            top.join("dhclient.d.redhat").display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 0\n", "{out:?}");
}

/// Every argument of every command, positional ones included, has help text, and so does
/// every command (`teqlctl attach --help` explains IFACE, not just names it).
#[test]
fn every_argument_and_command_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("{path} <{}>", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                missing.push(p.clone());
            }
            walk(sub, &p, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&<teqlctl::front::cli::Cli as clap::CommandFactory>::command(), "teqlctl", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:?}");
}

/// The bash completion, sourced in a real bash: IFACE words complete to the host's
/// /sys/class/net names, MASTER words and --master to the bundles `status` names, options
/// still to clap's list, and never to file names.
#[test]
fn bash_completion_offers_interfaces_and_masters() {
    let bin = assert_cmd::cargo::cargo_bin("teqlctl");
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("teqlctl.bash");
    let out = teqlctl().args(["completions", "bash"]).output().unwrap();
    fs::write(&script, &out.stdout).unwrap();
    let root = office();
    // Each case: the words after the binary; the last is the word being completed.
    let complete = |words: &[&str]| -> Vec<String> {
        let mut cmd = String::from(
            "set -u; source \"$1\"; complete -p teqlctl | grep -q _teqlctl_names || exit 9; COMP_WORDS=(\"$2\"",
        );
        for w in words {
            cmd.push_str(&format!(" '{w}'"));
        }
        cmd.push_str(&format!("); COMP_CWORD={}; _teqlctl_names \"$2\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"", words.len()));
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd, "bash"])
            .arg(&script)
            .arg(&bin)
            .current_dir(root.path())
            .env_remove("TEQLCTL_ROOT")
            .output()
            .unwrap();
        assert!(out.status.success(), "{words:?}: {}", String::from_utf8_lossy(&out.stderr));
        let mut v: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
        v.sort();
        v
    };
    let mut ifaces: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    ifaces.sort();
    assert_eq!(complete(&["attach", ""]), ifaces);
    assert_eq!(complete(&["detach", "eth2", ""]), ifaces);
    let first = ifaces.first().cloned().unwrap_or_default();
    let prefix: String = first.chars().take(1).collect();
    let with_prefix: Vec<String> = ifaces.iter().filter(|n| n.starts_with(&prefix)).cloned().collect();
    assert_eq!(complete(&["attach", "--force", &prefix]), with_prefix);
    // The office's root has teql0 configured (and files named ifcfg-*, which must not show).
    let r = root.path().to_str().unwrap();
    assert_eq!(complete(&["--root", r, "up", ""]), ["teql0"]);
    assert_eq!(complete(&["--root", r, "status", "--json", "t"]), ["teql0"]);
    assert_eq!(complete(&["--root", r, "attach", "--master", ""]), ["teql0"]);
    assert_eq!(complete(&["--root", r, "attach", "--master", "=", ""]), ["teql0"]);
    assert_eq!(complete(&["--root", r, "peer-config", ""]), ["teql0"]);
    assert_eq!(complete(&["--root", r, "peer-config", "teql0", "--master", ""]), ["teql0"]);
    assert!(complete(&["--root", r, "peer-config", "teql0", "--format", ""]).contains(&"interfaces".to_string()));
    assert!(!complete(&["--root", r, "peer-config", "teql0", "--write", ""]).contains(&"teql0".to_string()));
    assert!(complete(&["attach", "--"]).contains(&"--force".to_string()));
    assert!(complete(&[""]).contains(&"attach".to_string()));
}

/// The README's office (Tunnels as lines): GRE tunnels tl1 and tl2, keyed, lines of teql0,
/// whose far end routes and masquerades the office LAN.
fn tunnel_office() -> TempDir {
    let root = TempDir::new().unwrap();
    let dir = scripts(&root);
    fs::create_dir_all(&dir).unwrap();
    for (k, local) in [(1, "198.51.100.10"), (2, "192.0.2.10")] {
        fs::write(
            dir.join(format!("ifcfg-tl{k}")),
            format!(
                "DEVICE=tl{k}\nTYPE=GRE\nONBOOT=yes\nMY_OUTER_IPADDR={local}\nPEER_OUTER_IPADDR=198.18.0.2\nKEY={k}\n\
                 TEQL_MASTER=teql0\n"
            ),
        )
        .unwrap();
    }
    fs::write(
        dir.join("ifcfg-teql0"),
        "DEVICE=teql0\nIPADDR=198.18.200.2\nPREFIX=30\nGATEWAY=198.18.200.1\nTEQL_PEER_ROUTE=198.18.100.0/24\n\
         TEQL_PEER_NAT=yes\n",
    )
    .unwrap();
    root
}

fn peer_config(root: &TempDir) -> Command {
    let mut c = teqlctl();
    c.arg("--root").arg(root.path()).arg("peer-config");
    c
}

const AGG_IFCFG: &str = "\
# ==> ifcfg-tl1 <==
# The aggregator's end of the office's tunnel tl1 (a line of teql0), generated by
# `teqlctl peer-config teql0` from the office's /etc/sysconfig/network-scripts/ifcfg-tl1.
# Install it on the aggregator as /etc/sysconfig/network-scripts/ifcfg-tl1, not on the office box.
DEVICE=tl1
TYPE=GRE
ONBOOT=yes
MY_OUTER_IPADDR=198.18.0.2
PEER_OUTER_IPADDR=198.51.100.10
KEY=1
TEQL_MASTER=teql0

# ==> ifcfg-tl2 <==
# The aggregator's end of the office's tunnel tl2 (a line of teql0), generated by
# `teqlctl peer-config teql0` from the office's /etc/sysconfig/network-scripts/ifcfg-tl2.
# Install it on the aggregator as /etc/sysconfig/network-scripts/ifcfg-tl2, not on the office box.
DEVICE=tl2
TYPE=GRE
ONBOOT=yes
MY_OUTER_IPADDR=198.18.0.2
PEER_OUTER_IPADDR=192.0.2.10
KEY=2
TEQL_MASTER=teql0

# ==> ifcfg-teql0 <==
# The aggregator's end of the office's bundle teql0, generated by
# `teqlctl peer-config teql0` from the office's /etc/sysconfig/network-scripts/ifcfg-teql0.
# Install it on the aggregator as /etc/sysconfig/network-scripts/ifcfg-teql0, not on the office box.
DEVICE=teql0
ONBOOT=yes
IPADDR=198.18.200.1
PREFIX=30
TEQL_ROUTE=\"198.18.100.0/24\"
TEQL_NAT=\"198.18.100.0/24 198.18.200.0/30\"
";

#[test]
fn peer_config_prints_the_aggregators_ifcfg_files() {
    let root = tunnel_office();
    peer_config(&root).arg("teql0").assert().success().stderr("").stdout(predicate::str::diff(AGG_IFCFG));
    peer_config(&root).args(["teql0", "--format", "ifcfg"]).assert().success().stdout(predicate::str::diff(AGG_IFCFG));
}

#[test]
fn peer_config_prints_an_interfaces_fragment_for_another_master() {
    let root = tunnel_office();
    peer_config(&root).args(["teql0", "--format", "interfaces", "--master", "teql1"]).assert().success().stdout(
        predicate::str::diff(
            "\
# ==> teql1 <==
# The aggregator's end of the office's bundle teql0 (as teql1) and its tunnels tl1, tl2, generated by
# `teqlctl peer-config teql0 --master teql1` from the office's files
#   /etc/sysconfig/network-scripts/ifcfg-tl1
#   /etc/sysconfig/network-scripts/ifcfg-tl2
#   /etc/sysconfig/network-scripts/ifcfg-teql0
# Install it on the aggregator as /etc/network/interfaces.d/teql1, not on the office box.

auto tl1
iface tl1 inet manual
    pre-up ip tunnel add tl1 mode gre local 198.18.0.2 remote 198.51.100.10 key 1 ttl 64
    up ip link set tl1 up
    post-down ip tunnel del tl1
    teql-master teql1

auto tl2
iface tl2 inet manual
    pre-up ip tunnel add tl2 mode gre local 198.18.0.2 remote 192.0.2.10 key 2 ttl 64
    up ip link set tl2 up
    post-down ip tunnel del tl2
    teql-master teql1

auto teql1
iface teql1 inet static
    address 198.18.200.1/30
    teql-route 198.18.100.0/24
    teql-nat 198.18.100.0/24 198.18.200.0/30
",
        ),
    );
    // --master under ifcfg renames the master's file and the lines' TEQL_MASTER.
    let out = peer_config(&root).args(["teql0", "--master", "teql1"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("TEQL_MASTER=teql1\n").count(), 2, "{text}");
    assert!(text.contains("# ==> ifcfg-teql1 <==\n") && text.contains("\nDEVICE=teql1\n"), "{text}");
}

#[test]
fn peer_config_writes_the_files_and_never_overwrites_one() {
    let root = tunnel_office();
    let out = TempDir::new().unwrap();
    let d = out.path().display().to_string();
    peer_config(&root)
        .arg("teql0")
        .arg("--write")
        .arg(out.path())
        .assert()
        .success()
        .stdout(format!("wrote {d}/ifcfg-tl1\nwrote {d}/ifcfg-tl2\nwrote {d}/ifcfg-teql0\n"));
    // The printed form is exactly the written files under their headers.
    let mut printed = String::new();
    for name in ["ifcfg-tl1", "ifcfg-tl2", "ifcfg-teql0"] {
        if !printed.is_empty() {
            printed.push('\n');
        }
        printed.push_str(&format!("# ==> {name} <==\n{}", fs::read_to_string(out.path().join(name)).unwrap()));
    }
    assert_eq!(printed, AGG_IFCFG);
    // Again: every file exists, the first is named, nothing changes.
    fs::write(out.path().join("ifcfg-tl1"), "the admin's\n").unwrap();
    peer_config(&root).arg("teql0").arg("--write").arg(out.path()).assert().code(1).stdout("").stderr(
        predicate::str::diff(format!(
            "teqlctl: {d}/ifcfg-tl1 exists: peer-config never overwrites a file; move it away or write to another \
             directory (nothing was written)\n"
        )),
    );
    assert_eq!(fs::read_to_string(out.path().join("ifcfg-tl1")).unwrap(), "the admin's\n");
    // Only the last one exists: none is written.
    let out = TempDir::new().unwrap();
    fs::write(out.path().join("ifcfg-teql0"), "the admin's\n").unwrap();
    peer_config(&root)
        .arg("teql0")
        .arg("--write")
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ifcfg-teql0 exists: peer-config never overwrites a file"));
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1, "nothing else written, no temporary left");
    // --dry-run says what it would write and writes nothing.
    let out = TempDir::new().unwrap();
    let d = out.path().display().to_string();
    peer_config(&root)
        .args(["--dry-run", "teql0", "--format", "interfaces", "--write"])
        .arg(out.path())
        .assert()
        .success()
        .stdout(format!("# would write {d}/teql0\n"));
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
    peer_config(&root)
        .arg("teql0")
        .arg("--write")
        .arg(out.path().join("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::diff(format!("teqlctl: --write {d}/missing: not a directory; create it first\n")));
}

#[test]
fn peer_config_refuses_what_it_cannot_mirror() {
    let root = tunnel_office();
    let dir = scripts(&root);
    let d = dir.display().to_string();
    peer_config(&root).arg("teql5").assert().code(2).stdout("").stderr(predicate::str::diff(
        "teqlctl: teql5: no such bundle in the configuration (peer-config takes a TEQL bundle teqlN whose lines are \
         tunnels)\n",
    ));
    peer_config(&root).args(["teql0", "--master", "teql64"]).assert().code(2).stderr(predicate::str::diff(
        "teqlctl: --master teql64: not a teql master name: expected a teql master name teql0..teql63\n",
    ));
    peer_config(&root).args(["teql0", "--format", "yaml"]).assert().code(2);
    // A line that is not a tunnel.
    fs::write(dir.join("ifcfg-eth3"), "DEVICE=eth3\nIPADDR=198.18.3.1\nPREFIX=30\nTEQL_MASTER=teql0\n").unwrap();
    peer_config(&root).arg("teql0").assert().code(3).stdout("").stderr(predicate::str::diff(format!(
        "teqlctl: {d}/ifcfg-eth3: eth3 is a line of teql0 but not a GRE or IPIP tunnel: the aggregator needs a tunnel \
         back to each line; make it one with TYPE=GRE (or IPIP), MY_OUTER_IPADDR (its ISP line's address) and \
         PEER_OUTER_IPADDR (the aggregator's)\n"
    )));
    fs::remove_file(dir.join("ifcfg-eth3")).unwrap();
    // A tunnel without its far end's address.
    fs::write(dir.join("ifcfg-tl2"), "DEVICE=tl2\nTYPE=GRE\nMY_OUTER_IPADDR=192.0.2.10\nTEQL_MASTER=teql0\n").unwrap();
    peer_config(&root).arg("teql0").assert().code(3).stderr(predicate::str::diff(format!(
        "teqlctl: {d}/ifcfg-tl2: the tunnel tl2 has no remote address (the aggregator's): the aggregator's tunnel \
         takes it as its local; add PEER_OUTER_IPADDR=ADDRESS\n"
    )));
    // A bad value in a tunnel key is the configuration's problem, named as such.
    fs::write(dir.join("ifcfg-tl2"), "DEVICE=tl2\nTYPE=GRE\nMY_OUTER_IPADDR=192.0.2\nTEQL_MASTER=teql0\n").unwrap();
    peer_config(&root).arg("teql0").assert().code(3).stderr(predicate::str::diff(format!(
        "teqlctl: {d}/ifcfg-tl2: MY_OUTER_IPADDR=\"192.0.2\" is not valid: expected a dotted unicast IPv4 address \
         (or any)\n"
    )));
    // A master without GATEWAY.
    let root = tunnel_office();
    fs::write(scripts(&root).join("ifcfg-teql0"), "DEVICE=teql0\nIPADDR=198.18.200.2\nPREFIX=30\n").unwrap();
    peer_config(&root).arg("teql0").assert().code(3).stdout("").stderr(predicate::str::diff(format!(
        "teqlctl: {d2}/ifcfg-teql0: teql0 has no GATEWAY: the aggregator's end of the bundle takes the gateway as its \
         address (such as 198.18.200.1); add GATEWAY\n",
        d2 = scripts(&root).display()
    )));
}

/// A NetworkManager root: the office's lines as keyfile profiles, a profile that is not ours.
fn nm_office() -> TempDir {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/NetworkManager/system-connections");
    fs::create_dir_all(&dir).unwrap();
    for k in 2..=5 {
        fs::write(
            dir.join(format!("dsl{k}.nmconnection")),
            format!(
                "[connection]\nid=dsl{k}\nuuid=7e91c0de-0000-4000-8000-00000000000{k}\ntype=ethernet\n\
                 interface-name=eth{k}\n[ipv4]\nmethod=manual\naddress1=198.18.{k}.1/30\n[user]\nteqlctl.master=teql0\n"
            ),
        )
        .unwrap();
    }
    fs::write(
        dir.join("wifi.nmconnection"),
        "[connection]\nid=wifi\ntype=wifi\ninterface-name=wlan0\n[wifi]\nssid=x\n",
    )
    .unwrap();
    root
}

/// A profile's path as NetworkManager names it on the box (below `--root` for teqlctl).
fn nm_profile(name: &str) -> PathBuf {
    Path::new("/etc/NetworkManager/system-connections").join(name)
}

#[test]
fn the_networkmanager_dispatcher_is_silent_for_what_is_not_ours() {
    let root = nm_office();
    let ours = nm_profile("dsl2.nmconnection");
    let wifi = nm_profile("wifi.nmconnection");
    for (args, file) in [
        (&["", "connectivity-change"][..], None),
        (&["none", "hostname"], None),
        (&["wlan0", "up"], Some(&wifi)),
        (&["wlan0", "pre-up"], Some(&wifi)),
        (&["eth1", "up"], None),
        (&["eth2", "dhcp4-change"], Some(&ours)),
        (&["eth2", "vpn-up"], Some(&ours)),
    ] {
        let mut c = hook_at(&root, "nm-dispatcher");
        if let Some(f) = file {
            c.env("CONNECTION_FILENAME", f);
        }
        c.args(args).assert().code(0).stdout("").stderr("");
    }
    // Linked as the dispatcher script (root /), for a profile that is not ours: it reads that
    // one file.
    let bin = TempDir::new().unwrap();
    hook(bin.path(), "90-teqlctl")
        .env("CONNECTION_FILENAME", root.path().join("etc/NetworkManager/system-connections/wifi.nmconnection"))
        .args(["wlan0", "up"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    hook(bin.path(), "05-teqlctl").args(["", "connectivity-change"]).assert().code(0).stderr("");
}

#[test]
fn the_networkmanager_dispatcher_names_a_broken_profile_and_a_line_on_another_interface() {
    let root = nm_office();
    let dsl3 = nm_profile("dsl3.nmconnection");
    fs::write(root.path().join(dsl3.strip_prefix("/").unwrap()), "[connection]\nid=dsl3\nuuid=7e91c0de-0000-4000-8000-000000000003\ninterface-name=eth3\n[user]\nteqlctl.master=teql0\nteqlctl.rp-filter=lose\n")
        .unwrap();
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", &dsl3)
        .args(["eth3", "up"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("dsl3.nmconnection: teqlctl.rp-filter=\"lose\" is not valid"));
    // The profile by its uuid when NetworkManager gives no file name: the same profile.
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_UUID", "7e91c0de-0000-4000-8000-000000000003")
        .args(["eth3", "pre-up"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("teqlctl.rp-filter=\"lose\""));
    // dsl4 binds eth4; NetworkManager says it activated it on eth9.
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", nm_profile("dsl4.nmconnection"))
        .args(["eth9", "up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the profile's line is eth4, but NetworkManager activated it on eth9"));
    // NetworkManager takes `eth*` as an interface name; teqlctl does not, and says why (issue
    // 26, point 5) instead of ignoring the event.
    let dsl6 = nm_profile("dsl6.nmconnection");
    fs::write(
        root.path().join(dsl6.strip_prefix("/").unwrap()),
        "[connection]\nid=dsl6\ninterface-name=eth*\n[user]\nteqlctl.master=teql0\n",
    )
    .unwrap();
    let out = hook_at(&root, "nm-dispatcher").env("CONNECTION_FILENAME", &dsl6).args(["eth*", "up"]).assert().code(3);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("dsl6.nmconnection: interface-name=\"eth*\" is not valid"), "{err}");
    assert!(err.contains("'*' is refused: nftables reads it as a wildcard") && err.lines().count() == 1, "{err}");
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", &dsl6)
        .args(["eth*", "down"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("'*' is refused"));
    // Not ours: silent, whatever its interface is called.
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", nm_profile("wifi.nmconnection"))
        .args(["wl*", "up"])
        .assert()
        .code(0)
        .stderr("");
}

/// An LTE modem under NetworkManager: its gsm profile's interface-name is the modem's control
/// port (cdc-wdm0); IP is on another interface, which the dispatcher passes as $1 and in
/// DEVICE_IP_IFACE. The line is that interface: the control port only picks the profile. It
/// used to be refused ("the profile's line is cdc-wdm0, but NetworkManager activated it on
/// wwan0"), or planned on the control port.
#[test]
fn the_networkmanager_dispatcher_takes_a_modems_ip_interface_as_the_line() {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/NetworkManager/system-connections");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(root.path().join("etc/teqlctl/bundles")).unwrap();
    fs::write(root.path().join("etc/teqlctl/bundles/wan.conf"), "[bundle]\nmode=multipath\n").unwrap();
    fs::write(
        dir.join("lte.nmconnection"),
        "[connection]\nid=lte\ntype=gsm\ninterface-name=cdc-wdm0\n[gsm]\napn=internet\n[ipv4]\nmethod=auto\n\
         [user]\nteqlctl.master=wan\n",
    )
    .unwrap();
    let lte = nm_profile("lte.nmconnection");
    // The host has no wwan9: the line is refused for that, before anything is changed, and
    // the control port is never taken for the line.
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", &lte)
        .env("DEVICE_IFACE", "cdc-wdm0")
        .env("DEVICE_IP_IFACE", "wwan9")
        .args(["wwan9", "up"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("wwan9: no such interface").and(predicate::str::contains("cdc-wdm0").not()));
    // Activated on another device than the profile's (neither its control nor its IP
    // interface): still refused.
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", &lte)
        .env("DEVICE_IFACE", "cdc-wdm1")
        .env("DEVICE_IP_IFACE", "wwan1")
        .args(["wwan1", "up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the profile's line is cdc-wdm0, but NetworkManager activated it on wwan1"));
}

#[test]
fn the_networkmanager_dispatcher_reads_ifcfg_profiles_as_the_network_scripts_hooks_do() {
    // RHEL 8 and 9 with the ifcfg-rh plugin: CONNECTION_FILENAME is the ifcfg file.
    let root = office();
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", "/etc/sysconfig/network-scripts/ifcfg-eth0")
        .args(["eth0", "up"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    fs::write(scripts(&root).join("ifcfg-eth5"), "DEVICE=eth5\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=sometimes\n").unwrap();
    hook_at(&root, "nm-dispatcher")
        .env("CONNECTION_FILENAME", "/etc/sysconfig/network-scripts/ifcfg-eth5")
        .args(["eth5", "up"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("ifcfg-eth5: TEQL_RP_FILTER=\"sometimes\" is not valid"));
}

#[test]
fn profiles_this_user_cannot_read_are_one_line_not_one_per_profile() {
    use std::os::unix::fs::PermissionsExt;
    let root = nm_office();
    let dir = root.path().join("etc/NetworkManager/system-connections");
    // The tree readable by anyone, the profiles by their owner only, as NetworkManager keeps
    // them. Root reads everything: it runs teqlctl as nobody; anyone else owns the files and
    // is shut out by mode 000.
    let as_root = nix::unistd::geteuid().is_root();
    for d in [root.path().to_path_buf(), root.path().join("etc"), root.path().join("etc/NetworkManager"), dir.clone()] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for e in fs::read_dir(&dir).unwrap() {
        fs::set_permissions(e.unwrap().path(), fs::Permissions::from_mode(if as_root { 0o600 } else { 0 })).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("teqlctl");
    let mut c = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = c.arg("--root").arg(root.path()).args(["--dry-run", "up"]).assert().failure().get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("permission denied").count(), 1, "{err}");
    assert!(err.contains("system-connections: cannot read: 5 NetworkManager profile(s) here cannot be read"), "{err}");
    assert!(err.contains("run teqlctl as root"), "{err}");
}

/// Runs teqlctl with its stdout a pipe whose reader is already gone (`teqlctl ... | true`).
fn with_closed_stdout(root: &Path, args: &[&str]) -> std::process::Output {
    use std::os::fd::OwnedFd;
    let (reader, writer): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("teqlctl"))
        .env_remove("TEQLCTL_ROOT")
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// A reader that goes away ends teqlctl as it ends coreutils' tools (`yes | head -1`): killed
/// by SIGPIPE, 141 in the shell, nothing said of it; no panic (issue 28, point 5).
#[test]
fn a_closed_stdout_ends_the_run_by_sigpipe_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let root = TempDir::new().unwrap();
    let dir = root.path().join("etc/sysconfig/network-scripts");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nTEQL_MODE=multipath\n").unwrap();
    fs::write(dir.join("ifcfg-mpx1"), "DEVICE=mpx1\nTEQL_MASTER=wan\nTEQL_GATEWAY=192.0.2.1\n").unwrap();
    for args in [&["completions", "bash"][..], &["--dry-run", "up", "wan"], &["status", "wan"]] {
        let out = with_closed_stdout(root.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", out.status);
        // Warnings of the run itself may be there (status's); no word of the pipe.
        assert!(!stderr.contains("panic") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// Any other write error (a full disk) is one line on stderr and exit status 1, as GNU's.
#[test]
fn a_stdout_that_cannot_be_written_is_said_once_and_exits_1() {
    let Ok(full) = fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("teqlctl"))
        .args(["completions", "bash"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (Some(1), "teqlctl: cannot write standard output: No space left on device (os error 28)\n")
    );
}

/// A root that does not exist, or is no directory, is a usage error naming where it came from,
/// not a box with nothing configured (issue 28, point 6).
#[test]
fn a_root_that_is_no_directory_is_a_usage_error() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nonexistent");
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    for (root, why) in [(&missing, "no such directory"), (&file, "not a directory")] {
        for args in [&["status"][..], &["status", "--json"], &["--dry-run", "up"], &["hooks", "status"]] {
            teqlctl().arg("--root").arg(root).args(args).assert().code(2).stdout("").stderr(format!(
                "teqlctl: --root {}: {why}; give the directory that holds the tree's etc/ (or leave it out for /)\n",
                root.display()
            ));
        }
    }
    teqlctl()
        .env("TEQLCTL_ROOT", &missing)
        .arg("status")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(format!("teqlctl: TEQLCTL_ROOT={}: no such directory", missing.display())));
    // An empty tree that exists is still a box with nothing configured.
    teqlctl().arg("--root").arg(tmp.path()).arg("status").assert().success();
}

/// `status` says each warning and problem once: the warnings (lines whose hooks cannot run) on
/// stderr only, the configuration problems in its text only; the text has column headers
/// (issue 28, point 9).
#[test]
fn status_says_each_warning_once_and_heads_its_columns() {
    let root = office();
    fs::write(scripts(&root).join("ifcfg-eth9"), "DEVICE=eth9\nTEQL_MASTER=teql0\nTEQL_RP_FILTER=bogus\n").unwrap();
    let out = teqlctl().arg("--root").arg(root.path()).arg("status").assert().success().get_output().clone();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(stdout.contains("  LINE         STATE        LINK CARRIER    RP_FILTER TRAFFIC"), "{stdout}");
    let problem = "TEQL_RP_FILTER=\"bogus\"";
    assert_eq!((stdout.matches(problem).count(), stderr.matches(problem).count()), (1, 0), "{stdout}\n{stderr}");
    // Whatever this host lacks (network-scripts, most likely), each warning is said once.
    for w in stderr.lines().filter(|l| l.starts_with("teqlctl: warning: ")) {
        let w = w.trim_start_matches("teqlctl: warning: ");
        assert_eq!((stderr.matches(w).count(), stdout.matches(w).count()), (1, 0), "{w}\n{stdout}");
    }
    assert!(!stdout.contains("hooks cannot run"), "{stdout}");
}
