//! A connection bundle against the host kernel's nftables and conntrack (issue 26), in a
//! private network namespace of the test's own: veth pairs stand for the lines, the built
//! teqlctl runs with a temporary configuration tree, state directory and lock. Needs root and
//! unshare(CLONE_NEWNET): without them each test says why and passes, except under CI=true,
//! where it fails.

use std::fs;
use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;
use tempfile::TempDir;

/// Runs `body` in a thread of its own moved into a new network namespace: the commands it
/// starts inherit the namespace, the test harness's other threads keep the host's. Returns
/// false (the test is skipped) when that cannot be done outside CI.
fn in_netns(name: &str, body: impl FnOnce() + Send + 'static) -> bool {
    let skip = |why: String| {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("{name}: {why} (CI is set: a skipped kernel test is a failure)");
        }
        eprintln!("skipped {name}: {why}");
        false
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root".into());
    }
    if !Path::new("/usr/sbin/nft").exists() && !Path::new("/sbin/nft").exists() {
        return skip("nft is not installed".into());
    }
    let t = std::thread::spawn(move || {
        // SAFETY: unshare of the calling thread's network namespace; no memory is involved.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
        }
        body();
        Ok(())
    });
    match t.join() {
        Ok(Ok(())) => true,
        Ok(Err(why)) => skip(why),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn sh(cmd: &str) -> String {
    let out = Std::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A box with lines eth1 and eth2 (veth pairs, their other ends up), addresses `a1` and `a2`
/// on /24s, gateways `g1` and `g2`, and a connection bundle `wan` with the extra `wan` keys.
struct Box {
    root: TempDir,
    state: TempDir,
}

impl Box {
    fn new(lines: [(&str, &str); 2], wan: &str) -> Box {
        sh("ip link set lo up");
        let root = TempDir::new().unwrap();
        let dir = root.path().join("etc/sysconfig/network-scripts");
        fs::create_dir_all(&dir).unwrap();
        for (k, (addr, gw)) in lines.iter().enumerate() {
            let n = k + 1;
            sh(&format!(
                "ip link add eth{n} type veth peer name isp{n} && ip link set eth{n} up && ip link set isp{n} up && \
                 ip address add {addr}/24 dev eth{n}"
            ));
            fs::write(
                dir.join(format!("ifcfg-eth{n}")),
                format!(
                    "DEVICE=eth{n}\nONBOOT=yes\nBOOTPROTO=static\nIPADDR={addr}\nPREFIX=24\nGATEWAY={gw}\n\
                     TEQL_MASTER=wan\nNM_CONTROLLED=no\n"
                ),
            )
            .unwrap();
        }
        fs::write(
            dir.join("ifcfg-wan"),
            format!("DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=connection\n{wan}"),
        )
        .unwrap();
        Box { root, state: TempDir::new().unwrap() }
    }

    fn teqlctl(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("teqlctl").unwrap();
        c.env_remove("TEQLCTL_ROOT")
            .env("TEQLCTL_STATE_DIR", self.state.path())
            .env("TEQLCTL_LOCK", self.state.path().join("lock"))
            .arg("--root")
            .arg(self.root.path())
            .args(args);
        c
    }

    fn table(&self) -> String {
        sh("nft list table inet teqlctl")
    }
}

fn default_route() -> String {
    sh("ip route show default")
}

/// Overlapping TEQL_PREFER_DST networks, and two lines handed one address by identical
/// routers: nft used to refuse the table (`conflicting intervals specified`, `File exists`)
/// and the whole `up` was rolled back.
#[test]
fn overlapping_destinations_and_a_shared_address_come_up() {
    in_netns("overlapping_destinations_and_a_shared_address_come_up", || {
        let b = Box::new(
            [("192.0.2.100", "192.0.2.1"), ("192.0.2.100", "192.0.2.1")],
            "TEQL_PREFER=eth2\nTEQL_PREFER_DST=\"198.18.64.0/24 198.18.64.0/18 198.18.65.0/24\"\n\
             TEQL_NAT=\"203.0.113.0/24 203.0.113.0/25\"\n",
        );
        let out = b.teqlctl(&["up", "wan"]).assert().success().get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("eth2: its address 192.0.2.100 is also eth1's"), "{err}");
        assert!(default_route().contains("nhid"), "{}", default_route());
        let t = b.table();
        assert!(t.contains("198.18.64.0/18 : "), "{t}");
        assert!(!t.contains("198.18.64.0/24"), "{t}");
        assert_eq!(t.matches("192.0.2.100 : ").count(), 1, "{t}");
        assert!(t.contains("ip saddr 203.0.113.0/24 masquerade"), "{t}");
        // A second run finds everything as it should be.
        b.teqlctl(&["up", "wan"]).assert().success();
        assert!(default_route().contains("nhid"));
    });
}

/// The table flushed, or the whole ruleset reloaded from a saved `nft list ruleset`: the name
/// is there, the rules are not (or the table is another one). `check` and `up` write it
/// anew; `status` says so.
#[test]
fn a_table_not_as_written_is_written_anew() {
    in_netns("a_table_not_as_written_is_written_anew", || {
        let b = Box::new([("192.0.2.10", "192.0.2.1"), ("198.51.100.10", "198.51.100.1")], "TEQL_PREFER=eth2\n");
        b.teqlctl(&["up", "wan"]).assert().success();
        let rules = |t: &str| t.matches("ct state new").count();
        let written = rules(&b.table());
        assert!(written > 5, "{}", b.table());

        sh("nft flush table inet teqlctl");
        assert_eq!(rules(&b.table()), 0);
        let out = b.teqlctl(&["status", "wan"]).assert().success().get_output().clone();
        let st = String::from_utf8_lossy(&out.stdout);
        assert!(st.contains("nftables table inet teqlctl: not what teqlctl wrote (it has 0 rules"), "{st}");
        b.teqlctl(&["check"]).assert().success();
        assert_eq!(rules(&b.table()), written, "{}", b.table());
        let out = b.teqlctl(&["status", "wan"]).assert().success().get_output().clone();
        let st = String::from_utf8_lossy(&out.stdout);
        assert!(st.contains("nftables table inet teqlctl: written anew"), "{st}");
        assert!(!st.contains("or the next `teqlctl check` writes it anew"), "{st}");
        let out = b.teqlctl(&["status", "--json", "wan"]).assert().success().get_output().clone();
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"rewritten_why\": \"it has 0 rules"));

        // A saved ruleset loaded again after the table was flushed: a new table of the same name.
        sh("nft flush table inet teqlctl");
        let saved = b.state.path().join("saved.nft");
        fs::write(&saved, sh("nft list ruleset")).unwrap();
        sh(&format!("nft flush ruleset && nft -f {}", saved.display()));
        assert_eq!(rules(&b.table()), 0);
        b.teqlctl(&["up", "wan"]).assert().success();
        assert_eq!(rules(&b.table()), written, "{}", b.table());
        // Nothing to do now: the next `up` leaves it alone (the status keeps the last repair).
        let out = b.teqlctl(&["-v", "up", "wan"]).assert().success().get_output().clone();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("not what teqlctl wrote"));
    });
}
