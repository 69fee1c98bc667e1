//! A connection bundle against the host kernel's nftables and conntrack (issue 26), in a
//! private network namespace of the test's own: veth pairs stand for the lines, the built
//! teqlctl runs with a temporary configuration tree, state directory and lock. Needs root and
//! unshare(CLONE_NEWNET): without them each test says why and passes, except under CI=true,
//! where it fails.

mod kernel_gate;

use std::fs;
use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;
use tempfile::TempDir;

/// Runs `body` in a thread of its own moved into a new network namespace: the commands it
/// starts inherit the namespace, the test harness's other threads keep the host's. Returns
/// false (the test is skipped) when that cannot be done outside CI.
fn in_netns(name: &str, body: impl FnOnce() + Send + 'static) -> bool {
    let skip = |why: String| kernel_gate::cannot_run(name, &why);
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

/// A bundle switched from connection to multipath mode: its next `up` removes the `inet
/// teqlctl` table (marks and masquerade) and the fwmark rules that only the connection mode
/// needs, and keeps what multipath mode does (the lines' tables and rules, the group, the
/// default route). They used to stay, marking and masquerading as before.
#[test]
fn switching_to_multipath_removes_what_only_connection_mode_needs() {
    in_netns("switching_to_multipath_removes_what_only_connection_mode_needs", || {
        let b =
            Box::new([("192.0.2.100", "192.0.2.1"), ("198.51.100.100", "198.51.100.1")], "TEQL_NAT=203.0.113.0/24\n");
        b.teqlctl(&["up", "wan"]).assert().success();
        assert!(b.table().contains("ip saddr 203.0.113.0/24 masquerade"), "{}", b.table());
        let fwmark = || sh("ip rule show priority 30050");
        assert_eq!(fwmark().lines().count(), 2, "{}", fwmark());
        assert!(b.state.path().join("connection-wan.nft").exists());

        let dir = b.root.path().join("etc/sysconfig/network-scripts");
        fs::write(dir.join("ifcfg-wan"), "DEVICE=wan\nDEVICETYPE=teql\nONBOOT=yes\nTEQL_MODE=multipath\n").unwrap();
        let out = b.teqlctl(&["--dry-run", "up", "wan"]).assert().success().get_output().stdout.clone();
        let plan = String::from_utf8_lossy(&out).into_owned();
        assert!(plan.contains("delete table inet teqlctl"), "{plan}");
        assert_eq!(plan.matches("ip rule del priority 30050 fwmark").count(), 2, "{plan}");
        b.teqlctl(&["up", "wan"]).assert().success();

        let tables = sh("nft list tables");
        assert!(!tables.contains("inet teqlctl"), "{tables}");
        assert_eq!(fwmark(), "", "fwmark rules left");
        assert!(!b.state.path().join("connection-wan.nft").exists());
        // Multipath mode's own objects stay: each line's rule and table, the group, the route.
        let rules = sh("ip rule show priority 30100");
        assert!(rules.contains("from 192.0.2.100") && rules.contains("from 198.51.100.100"), "{rules}");
        assert!(default_route().contains("nhid"), "{}", default_route());
        assert_eq!(sh("ip nexthop show").lines().filter(|l| l.contains("group")).count(), 1);
        // And a second run has nothing left to do.
        let out = b.teqlctl(&["--dry-run", "up", "wan"]).assert().success().get_output().stdout.clone();
        let plan = String::from_utf8_lossy(&out).into_owned();
        assert!(!plan.contains("nft"), "{plan}");
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

/// The far side of the lines: both ISPs' routers (192.0.2.1 on isp1, 198.51.100.1 on isp2)
/// and one server, 203.0.113.50, behind both, that answers a TCP connection or a UDP datagram
/// with the source address it came from. It runs in a network namespace of its own (python3
/// under `unshare -n`), takes isp1 and isp2 once they are moved in, says "ready", and ends
/// when its stdin closes.
const FAR: &str = r#"
import socket, subprocess, sys, threading, time
while not {'isp1', 'isp2'} <= {n for _, n in socket.if_nameindex()}:
    time.sleep(0.02)
for c in ("ip link set lo up", "ip link set isp1 up", "ip link set isp2 up", "ip address add 192.0.2.1/24 dev isp1",
          "ip address add 198.51.100.1/24 dev isp2", "ip address add 203.0.113.50/32 dev lo"):
    subprocess.run(c.split(), check=True)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('203.0.113.50', 7)); t.listen(256)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('203.0.113.50', 7))
def tcp():
    while True:
        c, a = t.accept()
        try:
            c.recv(16); c.sendall(a[0].encode()); c.close()
        except OSError:
            pass
def udp():
    while True:
        d, a = u.recvfrom(16); u.sendto(a[0].encode(), a)
threading.Thread(target=tcp, daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"#;

/// The box's own: N TCP connections and N UDP flows to 203.0.113.50, each a new socket, bound
/// to BIND when given; prints "PROTO ADDRESS COUNT" per address the server saw. Any connection
/// that does not complete in 3 s fails it.
const OWN: &str = r#"
import collections, socket, sys
n, bind = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else None)
seen = collections.Counter()
for proto in ('tcp', 'udp'):
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
        s.settimeout(3)
        if bind:
            s.bind((bind, 0))
        if proto == 'tcp':
            s.connect(('203.0.113.50', 7)); s.sendall(b'x'); r = s.recv(64)
        else:
            s.sendto(b'x', ('203.0.113.50', 7)); r = s.recvfrom(64)[0]
        s.close()
        seen[(proto, r.decode())] += 1
for (p, a), c in sorted(seen.items()):
    print(p, a, c)
"#;

/// The far side's process; killed (by its own pid) and reaped when the test ends, however.
struct Far(std::process::Child);

impl Drop for Far {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn far_side() -> Far {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = Std::new("unshare")
        .args(["-n", "python3", "-c", FAR])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let far = Far(child);
    sh(&format!("ip link set isp1 netns {pid} && ip link set isp2 netns {pid}"));
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the far side did not start");
    far
}

/// (proto, address the server saw) -> connections, from OWN's output.
fn own_connections(args: &str) -> std::collections::BTreeMap<(String, String), u32> {
    let path = std::env::temp_dir().join(format!("teqlctl-own-{}.py", std::process::id()));
    fs::write(&path, OWN).unwrap();
    let out = sh(&format!("python3 {} {args}", path.display()));
    let _ = fs::remove_file(&path);
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(((w.next()?.to_string(), w.next()?.to_string()), w.next()?.parse().ok()?))
        })
        .collect()
}

/// Issue 26, point 14: the kernel picks an unbound socket's source address, and with it the
/// line, at connect(), before the source port exists, so the box's own connections to one
/// server all left by one line (Debian's 6.1 with the L4 hash; any kernel with the L3 hash,
/// used here so that the test shows it on every kernel). With TEQL_LOCAL_SOURCE they leave
/// with the LAN's address and nftables balances them by weight (2:1), TCP and UDP alike; a
/// socket bound to a line's address keeps its line; and when the local source goes away, the
/// default route comes back without it.
#[test]
fn the_box_s_own_connections_to_one_server_share_the_lines_by_weight() {
    if Std::new("python3").arg("-c").arg("").status().map(|s| !s.success()).unwrap_or(true) {
        kernel_gate::cannot_run("the_box_s_own_connections_to_one_server_share_the_lines_by_weight", "no python3");
        return;
    }
    in_netns("the_box_s_own_connections_to_one_server_share_the_lines_by_weight", || {
        let b = Box::new(
            [("192.0.2.10", "192.0.2.1"), ("198.51.100.10", "198.51.100.1")],
            "TEQL_HASH=l3\nTEQL_LOCAL_SOURCE=198.18.0.1\n",
        );
        let eth1 = b.root.path().join("etc/sysconfig/network-scripts/ifcfg-eth1");
        let mut text = fs::read_to_string(&eth1).unwrap();
        text.push_str("TEQL_WEIGHT=2\n");
        fs::write(&eth1, text).unwrap();
        sh("ip link add lan0 type veth peer name lan1 && ip link set lan0 up && ip link set lan1 up && \
            ip address add 198.18.0.1/24 dev lan0");
        let _far = far_side();
        b.teqlctl(&["up", "wan"]).assert().success();
        assert!(default_route().contains(" src 198.18.0.1"), "{}", default_route());
        let status = |b: &Box| {
            let out = b.teqlctl(&["status", "wan"]).assert().success().get_output().clone();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let st = status(&b);
        assert!(st.contains("the box's own connections: from 198.18.0.1, shared by weight"), "{st}");
        // All well: a `check` round leaves the bundle alone.
        let repair = "wan: its default route is missing or its local source changed";
        let dry = |b: &Box| {
            let out = b.teqlctl(&["--dry-run", "check"]).assert().success().get_output().clone();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(!dry(&b).contains(repair), "{}", dry(&b));

        let n = 60;
        let seen = own_connections(&n.to_string());
        for proto in ["tcp", "udp"] {
            let got = |a: &str| seen.get(&(proto.to_string(), a.to_string())).copied().unwrap_or(0);
            let (one, two) = (got("192.0.2.10"), got("198.51.100.10"));
            // Every connection completed, each with the address of a line (masqueraded).
            assert_eq!(one + two, n, "{proto}: {seen:?}");
            // Weights 2:1: 40 and 20 expected; each line at least a quarter of its share.
            assert!(one >= 10 && two >= 5, "{proto}: not shared by weight: {seen:?}\n{}", b.table());
        }
        // Sockets bound to a line's address keep their line.
        for addr in ["192.0.2.10", "198.51.100.10"] {
            let seen = own_connections(&format!("5 {addr}"));
            for proto in ["tcp", "udp"] {
                assert_eq!(seen.get(&(proto.to_string(), addr.to_string())), Some(&5), "bound to {addr}: {seen:?}");
            }
        }

        // The local source gone: the kernel deletes every route with that `src`, the default
        // route too; the next `check` round puts it back without it, says why, and the box's
        // own connections still go out.
        sh("ip address del 198.18.0.1/24 dev lan0");
        assert!(!default_route().contains("nhid"), "{}", default_route());
        assert!(dry(&b).contains(repair), "{}", dry(&b));
        let out = b.teqlctl(&["check"]).assert().success().get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("local source 198.18.0.1 (TEQL_LOCAL_SOURCE): the box does not have that address"),
            "{err}"
        );
        let d = default_route();
        assert!(d.contains("nhid") && !d.contains(" src "), "{d}");
        assert!(!b.table().contains("198.18.0.1"), "{}", b.table());
        let st = status(&b);
        // The hint names the key as the bundle's stack spells it (an ifcfg file here).
        assert!(
            st.contains("the box's own connections: those to one destination leave by one line (no local source: see TEQL_LOCAL_SOURCE)"),
            "{st}"
        );
        let seen = own_connections("5");
        assert_eq!(seen.values().sum::<u32>(), 10, "{seen:?}");
        // Back: the next round gives the route its `src` again.
        sh("ip address add 198.18.0.1/24 dev lan0");
        b.teqlctl(&["check"]).assert().success();
        assert!(default_route().contains(" src 198.18.0.1"), "{}", default_route());
        assert!(b.table().contains("ip saddr 198.18.0.1 masquerade"), "{}", b.table());
    });
}

/// `status` shows each line's rate since the last sample of the counters (issue 28, point 9):
/// the first run keeps its sample, a run a second later shows the bytes since over the span,
/// and a run right after that (its sample too young to keep) shows the rates since the first.
#[test]
fn status_shows_rates_since_the_last_sample() {
    in_netns("status_shows_rates_since_the_last_sample", || {
        let b = Box::new([("192.0.2.10", "192.0.2.1"), ("198.51.100.10", "198.51.100.1")], "");
        b.teqlctl(&["up", "wan"]).assert().success();
        let lines = |b: &Box| {
            let out = b.teqlctl(&["status", "--json", "wan"]).assert().success().get_output().clone();
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["masters"][0]["lines"].as_array().unwrap().clone()
        };
        let first = lines(&b);
        assert!(first.iter().all(|l| l["tx_bytes_per_s"].is_null() && l["rate_span_ms"].is_null()), "{first:?}");
        // 10 pings of 1000 bytes to a host that never answers, by whichever line the bundle
        // gives the box's own connection (each ISP router's address resolved for good).
        for (n, gw) in [(1, "192.0.2.1"), (2, "198.51.100.1")] {
            sh(&format!("ip neigh replace {gw} lladdr 02:00:00:00:00:0{n} dev eth{n} nud permanent"));
        }
        sh("ping -q -c 10 -i 0.01 -s 1000 -w 1 203.0.113.9 || true");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = lines(&b);
        let mut sent_all = 0;
        let mut spans = Vec::new();
        for (f, s) in first.iter().zip(&second) {
            assert_eq!(f["name"], s["name"]);
            let sent = s["tx_bytes"].as_u64().unwrap() - f["tx_bytes"].as_u64().unwrap();
            let span = s["rate_span_ms"].as_u64().unwrap_or_default();
            assert!((1000..5000).contains(&span), "{f} {s}");
            assert_eq!(s["tx_bytes_per_s"].as_u64(), Some(sent * 1000 / span), "{s}");
            sent_all += sent;
            spans.push(span);
        }
        assert!(sent_all >= 10_000, "{first:?} {second:?}");
        let third = lines(&b);
        for (t, span) in third.iter().zip(spans) {
            assert!(t["rate_span_ms"].as_u64().unwrap_or_default() > span, "the first sample was kept: {t}");
        }
        let out = b.teqlctl(&["status", "wan"]).assert().success().get_output().clone();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l.contains("eth1") && l.contains("; now tx ") && l.contains(" s)")), "{text}");
        // A round of `check` records the counters of every line too (each second from its
        // timer: status then has rates over about a second).
        let newest = |b: &Box| {
            let v: serde_json::Value =
                serde_json::from_slice(&fs::read(b.state.path().join("counters.json")).unwrap()).unwrap();
            let last = v.as_array().unwrap().last().unwrap().clone();
            (last["at_ms"].as_u64().unwrap(), last["lines"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        };
        let before = newest(&b).0;
        b.teqlctl(&["check"]).assert().success();
        let (after, lines) = newest(&b);
        assert!(after > before && lines == ["eth1", "eth2"], "{before} {after} {lines:?}");
    });
}
