//! Probing lines for `teqlctl check`: ARP and ICMP echo sent on one given line only, whatever
//! the routing table says, all lines at once.
//!
//! Why packet sockets: a ping socket routes by destination, so a probe meant for eth3 would
//! leave through whichever line (or teql0) the routes pick, and a dead eth3 would look alive.
//! A packet socket bound to the line sends the frame on that line and no other. The IP packet
//! is built here and addressed to the next hop's hardware address, learned by ARP on that
//! same line (every router of a teql bundle answers for the shared gateway on its own line).
//! Replies may come back on any line (the far end routes them), so they are read from a second
//! packet socket on every line, filtered in the kernel (`ECHO_REPLY_FILTER`) to incoming ICMP
//! echo replies. Not from a raw ICMP socket: that one only gets what netfilter lets through,
//! and since our requests left by a packet socket conntrack never saw them, so their replies
//! are `ct state invalid`, which firewalld and most admins' rulesets drop in INPUT: every
//! line would have looked dead.
//!
//! Hence a forged reply must not keep a dead line in: each round draws a fresh ICMP identifier,
//! first sequence number and payload cookie from getrandom(2), and a reply counts only if its
//! identifier, sequence number, payload, source (the target asked) and destination (the address
//! the request was sent from) all match one request of this round (`match_echo_reply`). Before,
//! the identifier was the pid and sequences counted from 1: anyone on the path, or anywhere
//! with a route to us, could answer for a dead line. ARP answers likewise count only as the
//! reply of the address asked to our own request: to this line's hardware address and the
//! address we asked from (`arp_answer`), never a gratuitous ARP or someone else's reply.
//!
//! Everything runs in one thread around poll(2): a round takes about one timeout, not one per
//! line, and it never takes longer than the longest timeout.
//!
//! One packet socket serves every line (sendto names the line, recvfrom tells which line a
//! reply came in on) rather than one bound socket per line: closing a packet socket waits for
//! an RCU grace period (packet_release calls synchronize_net), and one wait per line made up
//! a tenth of a failing round in the VM. Its kernel filter (`arp_reply_filter`) keeps only
//! ARP replies that came in on a probed line: the LAN's ARP, a flood included, never reaches
//! it (issue 26, point 10). And no receive loop reads for longer than the round can wait
//! (`drain`): a flood on a probed line itself costs the round its answers, never its bound.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// One line's probes.
#[derive(Debug, Clone)]
pub struct Job {
    pub line: String,
    pub ifindex: u32,
    /// The line's hardware address; empty on links without ARP (ppp, tun), whose frames carry
    /// no link-layer address.
    pub mac: Vec<u8>,
    /// The next hop for `icmp` targets, asked by ARP on the line; None on links without ARP.
    pub via: Option<Ipv4Addr>,
    /// Source address of the echo requests and of the ARP request for `via`.
    pub source: Ipv4Addr,
    /// Targets off the line's subnet: ICMP echo through `via`.
    pub icmp: Vec<Ipv4Addr>,
    /// Targets on the line's own subnet, asked by ARP, each with the address to ask from.
    pub arp: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub timeout: Duration,
}

/// What a job found. `targets` lists the ARP targets, then the ICMP ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The next hop and whether it answered ARP (None when the job needed none).
    pub via: Option<(Ipv4Addr, bool)>,
    pub targets: Vec<(Ipv4Addr, Option<Duration>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}: permission denied; run as root (probes need CAP_NET_RAW)")]
    Permission(String),
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

const ETH_P_ARP: u16 = libc::ETH_P_ARP as u16;
const ETH_P_IP: u16 = libc::ETH_P_IP as u16;
const ICMP_ECHOREPLY: u8 = 0;
const ICMP_ECHO: u8 = 8;
const BROADCAST: [u8; 6] = [0xff; 6];
/// Start of the echo payload: recognisable in a capture. The round's cookie follows.
const TAG: &[u8; 8] = b"teqlctl\0";
pub const COOKIE_LEN: usize = 16;
const PAYLOAD_LEN: usize = TAG.len() + COOKIE_LEN;

/// What one round's echo requests carry and a reply must give back: drawn afresh every round,
/// so a reply cannot be forged without seeing this round's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub id: u16,
    /// The sequence number before the round's first request (each request takes the next one).
    pub seq: u16,
    pub cookie: [u8; COOKIE_LEN],
}

impl Round {
    pub fn random() -> Result<Round, ProbeError> {
        let mut b = [0u8; 4 + COOKIE_LEN];
        // (ProbeError::Io: check.rs maps each variant to an exit code; an I/O failure it is.)
        fill_random(&mut b)
            .map_err(|e| ProbeError::Io("getrandom (the probes' identifier and cookie)".to_string(), e))?;
        let mut cookie = [0u8; COOKIE_LEN];
        cookie.copy_from_slice(&b[4..]);
        Ok(Round { id: u16::from_be_bytes([b[0], b[1]]), seq: u16::from_be_bytes([b[2], b[3]]), cookie })
    }

    fn payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut p = [0u8; PAYLOAD_LEN];
        p[..TAG.len()].copy_from_slice(TAG);
        p[TAG.len()..].copy_from_slice(&self.cookie);
        p
    }
}

/// Fills `buf` from getrandom(2) (the libc crate has it: no crate needed for 20 bytes a round).
/// Flags 0: it blocks only until the kernel's random pool is first initialised, early in boot;
/// a cookie read before that would be guessable, which is the one thing it must not be.
fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe `rest`, which is valid for writes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr() as *mut libc::c_void, rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => done += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

fn last_error(what: &str) -> ProbeError {
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => ProbeError::Permission(what.to_string()),
        _ => ProbeError::Io(what.to_string(), e),
    }
}

pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    proto: libc::c_int,
    what: &str,
) -> Result<OwnedFd, ProbeError> {
    // SAFETY: plain syscall; the fd is owned by the OwnedFd from here on.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(last_error(what));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr_ll(ifindex: u32, proto: u16, addr: &[u8]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto.to_be();
    sa.sll_ifindex = ifindex as i32;
    let n = addr.len().min(sa.sll_addr.len());
    sa.sll_addr[..n].copy_from_slice(&addr[..n]);
    sa.sll_halen = n as u8;
    sa
}

/// The ancillary loads of classic BPF (linux/filter.h): the packet's type and the index of
/// the interface it came in on.
const SKF_AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const SKF_AD_IFINDEX: u32 = 0xffff_f000 + 8;

/// Classic BPF for the ARP socket: keep ARP replies that came in on one of `ifindexes` (the
/// probed lines), drop everything else, so that the ARP traffic of the LAN and of every other
/// interface (a flood included) never reaches the socket's queue. With more lines than one
/// jump can pass over (never in practice), replies on any interface are kept.
pub(crate) fn arp_reply_filter(ifindexes: &[u32]) -> Vec<(u16, u8, u8, u32)> {
    let mut lines: Vec<u32> = ifindexes.to_vec();
    lines.sort_unstable();
    lines.dedup();
    let n = if lines.len() > 200 { 0 } else { lines.len() };
    let mut f = vec![
        (0x20, 0, 0, SKF_AD_PKTTYPE),                           // ld pkttype
        (0x15, (n + 3) as u8, 0, libc::PACKET_OUTGOING as u32), // jeq outgoing: drop
        (0x28, 0, 0, 6),                                        // ldh [6]: the ARP operation
        (0x15, 0, (n + 1) as u8, 2),                            // jeq #2 (reply), else drop
    ];
    if n > 0 {
        f.push((0x20, 0, 0, SKF_AD_IFINDEX)); // ld ifindex
        for (i, ix) in lines.iter().enumerate() {
            f.push((0x15, (n - i) as u8, 0, *ix)); // jeq this line: keep
        }
    } else {
        f.push((0x05, 0, 0, 1)); // ja: keep
    }
    f.push((0x06, 0, 0, 0)); // ret: drop
    f.push((0x06, 0, 0, 0xffff)); // ret: keep
    f
}

fn attach_filter(fd: &OwnedFd, filter: &[(u16, u8, u8, u32)], what: &str) -> Result<(), ProbeError> {
    let mut code: Vec<libc::sock_filter> =
        filter.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect();
    let prog = libc::sock_fprog { len: code.len() as u16, filter: code.as_mut_ptr() };
    // SAFETY: prog points to `code`, which outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &prog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(last_error(what));
    }
    Ok(())
}

/// A datagram packet socket for the ARP of the probed lines: it sends on the line each sendto
/// names and receives only the ARP replies coming in on those lines (`arp_reply_filter`). Bound
/// to the line when there is one line only. It is opened for no protocol, given its filter, and
/// only then bound to ARP: no frame of another interface is queued before the filter is there.
fn packet_socket(ifindexes: &[u32]) -> Result<OwnedFd, ProbeError> {
    let fd = socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0, "packet socket")?;
    attach_filter(&fd, &arp_reply_filter(ifindexes), "packet socket: attaching its filter")?;
    let one = ifindexes.first().filter(|&&i| ifindexes.iter().all(|&j| j == i)).copied().unwrap_or(0);
    let sa = sockaddr_ll(one, ETH_P_ARP, &[]);
    // SAFETY: sa is a valid sockaddr_ll of the length given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(last_error("packet socket: binding it to ARP"));
    }
    Ok(fd)
}

/// Classic BPF over an IPv4 packet (a datagram packet socket hands over the network header
/// on): keep ICMP echo replies that are not a later fragment, drop everything else, so that
/// the socket copies nothing of the box's other traffic.
pub const ECHO_REPLY_FILTER: [(u16, u8, u8, u32); 9] = [
    (0x30, 0, 0, 9),                     // ldb [9]: the protocol
    (0x15, 0, 6, 1),                     // jeq #1 (ICMP), else drop
    (0x28, 0, 0, 6),                     // ldh [6]: flags and fragment offset
    (0x45, 4, 0, 0x1fff),                // jset #0x1fff: a later fragment, drop
    (0xb1, 0, 0, 0),                     // ldxb 4*([0]&0xf): the header's length
    (0x50, 0, 0, 0),                     // ldb [x+0]: the ICMP type
    (0x15, 0, 1, ICMP_ECHOREPLY as u32), // jeq #0 (echo reply), else drop
    (0x06, 0, 0, 0xffff),                // ret: keep (up to 64 KiB)
    (0x06, 0, 0, 0),                     // ret: drop
];

/// A datagram packet socket that gets every ICMP echo reply arriving on any line, before
/// netfilter: replies count whatever the admin's firewall does with them afterwards.
fn echo_reply_socket() -> Result<OwnedFd, ProbeError> {
    let fd = socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(ETH_P_IP.to_be()), "packet socket for echo replies")?;
    attach_filter(&fd, &ECHO_REPLY_FILTER, "packet socket for echo replies: attaching its filter")?;
    Ok(fd)
}

/// Sends one frame on the line; an error (line gone down meanwhile) is just a lost probe.
fn send(fd: RawFd, ifindex: u32, proto: u16, dst: &[u8], payload: &[u8]) {
    let sa = sockaddr_ll(ifindex, proto, dst);
    // SAFETY: payload and sa are valid for the lengths given.
    unsafe {
        libc::sendto(
            fd,
            payload.as_ptr() as *const libc::c_void,
            payload.len(),
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
    }
}

/// One frame from the packet socket with the line it came in on, or None when there is
/// nothing more to read. Frames this host sent come back as PACKET_OUTGOING: Some(.., None).
fn recv_frame(fd: RawFd, buf: &mut [u8]) -> Option<(usize, Option<u32>)> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and sa are valid for writes of the lengths given.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            0,
            &mut sa as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    let n = usize::try_from(n).ok()?;
    let incoming = sa.sll_pkttype != libc::PACKET_OUTGOING;
    Some((n, incoming.then_some(sa.sll_ifindex as u32)))
}

/// RFC 1071 checksum.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ARP request (the payload of an ETH_P_ARP frame) for `target`, from `sender`.
pub(crate) fn arp_request(mac: &[u8], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    p.extend_from_slice(mac);
    p.extend_from_slice(&sender.octets());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&target.octets());
    p
}

/// An ARP reply (the payload of an ETH_P_ARP frame) for Ethernet and IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    pub sender_ip: Ipv4Addr,
    pub sender_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
}

pub(crate) fn parse_arp_reply(p: &[u8]) -> Option<ArpReply> {
    if p.len() < 28 || p[..8] != [0, 1, 0x08, 0x00, 6, 4, 0, 2] {
        return None;
    }
    let ip = |o: usize| Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3]);
    Some(ArpReply {
        sender_mac: p[8..14].try_into().ok()?,
        sender_ip: ip(14),
        target_mac: p[18..24].try_into().ok()?,
        target_ip: ip(24),
    })
}

/// The hardware address of `asked` if `p` is its reply to our request: from `asked`, to our
/// line's `mac` and the address `from` we asked from. A gratuitous ARP, a reply to another
/// host's request, or one naming a broadcast, multicast or zero address (which would become
/// the next hop of our echo requests) says nothing about this line's way to `asked`.
pub(crate) fn arp_answer(p: &[u8], mac: &[u8], asked: Ipv4Addr, from: Ipv4Addr) -> Option<[u8; 6]> {
    let r = parse_arp_reply(p)?;
    let unicast = r.sender_mac[0] & 1 == 0 && r.sender_mac != [0; 6];
    (r.sender_ip == asked && r.target_ip == from && r.target_mac[..] == *mac && unicast).then_some(r.sender_mac)
}

/// An IPv4 packet holding an ICMP echo request carrying the round's payload.
pub(crate) fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, seq: u16, round: &Round) -> Vec<u8> {
    let total = 20 + 8 + PAYLOAD_LEN;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&seq.to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = 64; // TTL
    p[9] = libc::IPPROTO_ICMP as u8;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = ICMP_ECHO;
    p[24..26].copy_from_slice(&round.id.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    p[28..].copy_from_slice(&round.payload());
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// An echo reply as the packet socket delivers it (IP header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub seq: u16,
    pub payload: &'a [u8],
}

/// None for anything but a well-formed echo reply. The ICMP checksum is checked here: a raw
/// socket gets packets before the kernel's ICMP code would have dropped a corrupt one.
pub(crate) fn parse_echo_reply(p: &[u8]) -> Option<EchoReply<'_>> {
    let ihl = usize::from(*p.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
    if ihl < 20 || total > p.len() || total < ihl + 8 || p[9] != libc::IPPROTO_ICMP as u8 {
        return None;
    }
    let icmp = &p[ihl..total];
    if icmp[0] != ICMP_ECHOREPLY || icmp[1] != 0 || checksum(icmp) != 0 {
        return None;
    }
    Some(EchoReply {
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[8..],
    })
}

/// An echo request of this round in flight, by its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Index of the job, and of the target in its `icmp`.
    pub job: usize,
    pub target: usize,
    /// The target asked, and the address the request was sent from.
    pub to: Ipv4Addr,
    pub from: Ipv4Addr,
    pub at: Instant,
}

/// The request `p` answers, if it is the reply to one of this round's: the identifier,
/// sequence number and payload (tag and cookie) it echoes, its source (the target) and its
/// destination (our source on that line) must all match.
pub(crate) fn match_echo_reply<'a>(p: &[u8], round: &Round, in_flight: &'a HashMap<u16, Sent>) -> Option<&'a Sent> {
    let r = parse_echo_reply(p)?;
    if r.id != round.id || r.payload != round.payload() {
        return None;
    }
    in_flight.get(&r.seq).filter(|s| s.to == r.src && s.from == r.dst)
}

struct Run<'a> {
    job: &'a Job,
    /// The next hop's hardware address once known (empty on links without ARP).
    via_mac: Option<Vec<u8>>,
    arp_rtt: Vec<Option<Duration>>,
    icmp_rtt: Vec<Option<Duration>>,
    next_send: Instant,
    deadline: Instant,
}

impl<'a> Run<'a> {
    fn new(job: &'a Job, start: Instant) -> Run<'a> {
        Run {
            job,
            // Without ARP, or with nothing to send through the next hop, it is never asked.
            via_mac: if job.mac.len() != 6 || job.via.is_none() || job.icmp.is_empty() {
                Some(Vec::new())
            } else {
                None
            },
            arp_rtt: vec![None; job.arp.len()],
            icmp_rtt: vec![None; job.icmp.len()],
            next_send: start,
            deadline: start + job.timeout,
        }
    }

    fn done(&self) -> bool {
        self.via_mac.is_some() && self.arp_rtt.iter().all(Option::is_some) && self.icmp_rtt.iter().all(Option::is_some)
    }

    /// What the run found: the next hop's answer (when it was asked) and each target's RTT.
    fn found(&self) -> Found {
        let job = self.job;
        Found {
            via: match (job.via, job.mac.len() == 6 && !job.icmp.is_empty()) {
                (Some(v), true) => Some((v, self.via_mac.is_some())),
                _ => None,
            },
            targets: job
                .arp
                .iter()
                .map(|t| t.0)
                .zip(self.arp_rtt.iter().copied())
                .chain(job.icmp.iter().copied().zip(self.icmp_rtt.iter().copied()))
                .collect(),
        }
    }
}

/// The sending side of a round: the packet socket, the round's identity, and the echo
/// requests in flight (by sequence number) with the next sequence number.
struct Sender<'r> {
    fd: RawFd,
    round: &'r Round,
    seq: u16,
    echoes: HashMap<u16, Sent>,
}

impl Sender<'_> {
    /// Sends what is due on every run still going: the ARP request for the next hop until it
    /// answers, the ARP targets and the echoes not answered yet.
    fn send_due(&mut self, runs: &mut [Run], now: Instant) {
        for (i, r) in runs.iter_mut().enumerate() {
            if r.done() || now >= r.deadline || now < r.next_send {
                continue;
            }
            let job = r.job;
            // Resent a few times per timeout: one lost frame must not fail a round.
            r.next_send = now + (job.timeout / 4).max(Duration::from_millis(25));
            if r.via_mac.is_none() {
                if let Some(via) = job.via {
                    send(self.fd, job.ifindex, ETH_P_ARP, &BROADCAST, &arp_request(&job.mac, job.source, via));
                }
            }
            for (k, (target, from)) in job.arp.iter().enumerate() {
                if r.arp_rtt[k].is_none() {
                    send(self.fd, job.ifindex, ETH_P_ARP, &BROADCAST, &arp_request(&job.mac, *from, *target));
                }
            }
            if let Some(mac) = &r.via_mac {
                for (k, target) in job.icmp.iter().enumerate() {
                    if r.icmp_rtt[k].is_none() {
                        self.seq = self.seq.wrapping_add(1);
                        self.echoes
                            .insert(self.seq, Sent { job: i, target: k, to: *target, from: job.source, at: now });
                        send(
                            self.fd,
                            job.ifindex,
                            ETH_P_IP,
                            mac,
                            &echo_request(job.source, *target, self.seq, self.round),
                        );
                    }
                }
            }
        }
    }
}

/// The most frames one drain reads before the round looks at its clock and its resends again:
/// a flood (on a line, or anywhere the filters let through) must not starve the round.
pub const DRAIN_MAX: usize = 64;

/// Reads frames from `recv` (None: nothing more queued) and hands each to `frame` with the time
/// it was read, until the queue is empty, `until` has come, or DRAIN_MAX frames were read; the
/// clock is looked at before every read. Returns how many were read.
fn drain(
    mut recv: impl FnMut(&mut [u8]) -> Option<(usize, Option<u32>)>,
    buf: &mut [u8],
    until: Instant,
    clock: impl Fn() -> Instant,
    mut frame: impl FnMut(&[u8], Option<u32>, Instant),
) -> usize {
    for n in 0..DRAIN_MAX {
        let now = clock();
        if now >= until {
            return n;
        }
        let Some((len, ifindex)) = recv(buf) else { return n };
        frame(&buf[..len.min(buf.len())], ifindex, now);
    }
    DRAIN_MAX
}

/// Reads the ARP frames queued on the packet socket, until `until` at the latest: the next
/// hops' and the ARP targets' answers, each counted only on the line it came in on (an answer
/// on another line says nothing of this one).
fn read_arp(fd: RawFd, buf: &mut [u8], runs: &mut [Run], start: Instant, until: Instant) {
    drain(
        |b| recv_frame(fd, b),
        buf,
        until,
        Instant::now,
        |frame, ifindex, now| {
            let Some(ifindex) = ifindex else { return };
            for r in runs.iter_mut().filter(|r| r.job.ifindex == ifindex) {
                let job = r.job;
                if let (None, Some(via)) = (&r.via_mac, job.via) {
                    if let Some(mac) = arp_answer(frame, &job.mac, via, job.source) {
                        r.via_mac = Some(mac.to_vec());
                        // Send the echoes now rather than at the next resend.
                        r.next_send = now;
                    }
                }
                for (k, (target, from)) in job.arp.iter().enumerate() {
                    if r.arp_rtt[k].is_none() && arp_answer(frame, &job.mac, *target, *from).is_some() {
                        r.arp_rtt[k] = Some(now.saturating_duration_since(start));
                    }
                }
            }
        },
    );
}

/// Reads the echo replies queued on the filtered socket, until `until` at the latest, and
/// times the ones of this round.
fn read_echo_replies(fd: RawFd, buf: &mut [u8], runs: &mut [Run], sender: &Sender, until: Instant) {
    drain(
        |b| recv_frame(fd, b),
        buf,
        until,
        Instant::now,
        |frame, ifindex, now| {
            // Our own requests pass the filter's type test only if someone echoes them;
            // what this host sends is never a reply to it.
            if ifindex.is_none() {
                return;
            }
            let Some(&s) = match_echo_reply(frame, sender.round, &sender.echoes) else { return };
            let rtt = &mut runs[s.job].icmp_rtt[s.target];
            if rtt.is_none() {
                *rtt = Some(now.saturating_duration_since(s.at));
            }
        },
    );
}

/// Runs every job at once; returns one Found per job, in order. Fails only when a socket
/// cannot be opened (no permission), never because a line is dead.
pub fn run(jobs: &[Job]) -> Result<Vec<Found>, ProbeError> {
    let start = Instant::now();
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let round = Round::random()?;
    let icmp = if jobs.iter().any(|j| !j.icmp.is_empty()) { Some(echo_reply_socket()?) } else { None };
    let packet = packet_socket(&jobs.iter().map(|j| j.ifindex).collect::<Vec<_>>())?;
    let mut runs: Vec<Run> = jobs.iter().map(|j| Run::new(j, start)).collect();
    let mut sender = Sender { fd: packet.as_raw_fd(), round: &round, seq: round.seq, echoes: HashMap::new() };
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        sender.send_due(&mut runs, now);
        let active: Vec<&Run> = runs.iter().filter(|r| !r.done() && now < r.deadline).collect();
        if active.is_empty() {
            break;
        }
        let wake = active.iter().map(|r| r.next_send.max(now).min(r.deadline)).min().unwrap_or(now);
        let wait_ms = wake.saturating_duration_since(now).as_millis().min(1000) as i32;
        let mut fds = vec![libc::pollfd { fd: sender.fd, events: libc::POLLIN, revents: 0 }];
        if let Some(s) = &icmp {
            fds.push(libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: fds is a valid array of pollfd of the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms.max(1)) };
        if n <= 0 {
            continue;
        }
        // Each drain ends by the time the loop is due again (a resend, a deadline): however
        // much is queued, the round keeps its bound.
        if fds[0].revents & libc::POLLIN != 0 {
            read_arp(sender.fd, &mut buf, &mut runs, start, wake);
        }
        if let Some(pfd) = fds.get(1).filter(|p| p.revents & libc::POLLIN != 0) {
            read_echo_replies(pfd.fd, &mut buf, &mut runs, &sender, wake);
        }
    }
    Ok(runs.iter().map(Run::found).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
    const TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const ROUND: Round = Round { id: 0x1234, seq: 0xfffe, cookie: *b"0123456789abcdef" };

    /// The reply a host would send to `request`: addresses swapped, type 0, checksums redone.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[12..16].copy_from_slice(&request[16..20]);
        r[16..20].copy_from_slice(&request[12..16]);
        r[20] = ICMP_ECHOREPLY;
        fix_checksums(&mut r);
        r
    }

    fn fix_checksums(r: &mut [u8]) {
        r[10..12].fill(0);
        let c = checksum(&r[..20]);
        r[10..12].copy_from_slice(&c.to_be_bytes());
        r[22..24].fill(0);
        let c = checksum(&r[20..]);
        r[22..24].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn echo_request_is_a_valid_ipv4_icmp_packet() {
        let p = echo_request(US, TARGET, 7, &ROUND);
        assert_eq!(p.len(), 20 + 8 + 24);
        assert_eq!(checksum(&p[..20]), 0, "IP header checksum");
        assert_eq!(checksum(&p[20..]), 0, "ICMP checksum");
        assert_eq!((p[0], p[8], p[9], p[20]), (0x45, 64, 1, 8));
        assert_eq!(&p[24..28], &[0x12, 0x34, 0, 7]);
        assert_eq!(&p[28..36], b"teqlctl\0");
        assert_eq!(&p[36..], b"0123456789abcdef");
        let r = reply_to(&p);
        let e = parse_echo_reply(&r).unwrap();
        assert_eq!((e.src, e.dst, e.id, e.seq, e.payload), (TARGET, US, 0x1234, 7, &p[28..]));
        assert_eq!(parse_echo_reply(&p), None, "a request is not a reply");
        assert_eq!(parse_echo_reply(&r[..25]), None);
        assert_eq!(parse_echo_reply(&r[..40]), None, "shorter than its IP total length");
        let mut bad = r.clone();
        bad[40] ^= 1;
        assert_eq!(parse_echo_reply(&bad), None, "a corrupt ICMP checksum");
    }

    /// Only the reply to a request of this round counts: a forger who knows the pid, or
    /// guesses sequence numbers from 1, or replays an older round, gets nothing.
    #[test]
    fn an_echo_reply_counts_only_if_everything_matches() {
        let at = Instant::now();
        let seq = ROUND.seq.wrapping_add(1); // 0xffff: the round's first request
        let sent = Sent { job: 3, target: 1, to: TARGET, from: US, at };
        let in_flight = HashMap::from([(seq, sent), (0, Sent { job: 4, target: 0, to: TARGET, from: US, at })]);
        let right = reply_to(&echo_request(US, TARGET, seq, &ROUND));
        assert_eq!(match_echo_reply(&right, &ROUND, &in_flight), Some(&sent), "the genuine reply");

        let forged = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut r = right.clone();
            edit(&mut r);
            fix_checksums(&mut r);
            match_echo_reply(&r, &ROUND, &in_flight)
        };
        assert_eq!(
            forged(&|r| r[24..26].copy_from_slice(&(std::process::id() as u16).to_be_bytes())),
            None,
            "forged id (the pid)"
        );
        assert_eq!(forged(&|r| r[26..28].copy_from_slice(&1u16.to_be_bytes())), None, "a sequence not in flight");
        assert_eq!(forged(&|r| r[36] ^= 0x20), None, "wrong cookie");
        assert_eq!(forged(&|r| r.truncate(36)), None, "no cookie at all");
        assert_eq!(forged(&|r| r[16..20].copy_from_slice(&[198, 18, 2, 1])), None, "wrong destination");
        assert_eq!(
            forged(&|r| r[12..16].copy_from_slice(&[198, 51, 100, 11])),
            None,
            "from another host than the target"
        );
        assert_eq!(forged(&|_| ()), Some(&sent), "the edits above are all that made the difference");
        let truncated_fixup = {
            let mut r = right.clone();
            r.truncate(36);
            r[2..4].copy_from_slice(&36u16.to_be_bytes());
            fix_checksums(&mut r);
            match_echo_reply(&r, &ROUND, &in_flight)
        };
        assert_eq!(truncated_fixup, None, "a well-formed reply without the cookie");
        let older = Round { cookie: *b"fedcba9876543210", ..ROUND };
        assert_eq!(
            match_echo_reply(&reply_to(&echo_request(US, TARGET, seq, &older)), &ROUND, &in_flight),
            None,
            "a reply from an older round"
        );
    }

    /// Runs ECHO_REPLY_FILTER as the kernel would: true if the packet is kept.
    fn filter_keeps(p: &[u8]) -> bool {
        run_filter(&ECHO_REPLY_FILTER, p, libc::PACKET_HOST, 2)
    }

    /// Runs a classic BPF program as the kernel would (only the instructions ours use) on a
    /// packet of type `pkttype` that came in on `ifindex`: true if it is kept.
    fn run_filter(prog: &[(u16, u8, u8, u32)], p: &[u8], pkttype: u8, ifindex: u32) -> bool {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |i: usize| p.get(i).map(|&b| u32::from(b));
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            match code {
                0x20 if k == SKF_AD_PKTTYPE => a = u32::from(pkttype),
                0x20 if k == SKF_AD_IFINDEX => a = ifindex,
                0x05 => pc += k as usize,
                0x30 => match byte(k as usize) {
                    Some(v) => a = v,
                    None => return false,
                },
                0x28 => match (byte(k as usize), byte(k as usize + 1)) {
                    (Some(h), Some(l)) => a = h << 8 | l,
                    _ => return false,
                },
                0xb1 => match byte(k as usize) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return false,
                },
                0x50 => match byte((x + k) as usize) {
                    Some(v) => a = v,
                    None => return false,
                },
                0x15 => pc += usize::from(if a == k { jt } else { jf }),
                0x45 => pc += usize::from(if a & k != 0 { jt } else { jf }),
                0x06 => return k != 0,
                other => panic!("instruction {other:#x} not modelled"),
            }
        }
    }

    #[test]
    fn the_kernel_filter_keeps_echo_replies_only() {
        let round = Round::random().expect("getrandom");
        let request = echo_request(Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(198, 18, 0, 1), 7, &round);
        let reply = reply_to(&request);
        assert!(filter_keeps(&reply));
        assert!(!filter_keeps(&request), "our own echo requests");
        let mut udp = reply.clone();
        udp[9] = 17;
        assert!(!filter_keeps(&udp), "another protocol");
        let mut later_fragment = reply.clone();
        later_fragment[7] = 0x10;
        assert!(!filter_keeps(&later_fragment), "a later fragment");
        let mut first_fragment = reply.clone();
        first_fragment[6] = 0x20; // more fragments, offset 0: its ICMP header is there
        assert!(filter_keeps(&first_fragment));
        // A header with options: the ICMP type is found after them.
        let mut with_options = reply[..20].to_vec();
        with_options[0] = 0x46;
        with_options.extend_from_slice(&[1, 1, 1, 0]);
        with_options.extend_from_slice(&reply[20..]);
        assert!(filter_keeps(&with_options));
        with_options[24] = 3; // destination unreachable
        assert!(!filter_keeps(&with_options));
        assert!(!filter_keeps(&reply[..15]), "a truncated packet");
    }

    #[test]
    fn the_arp_filter_keeps_replies_on_the_probed_lines_only() {
        let us = [2, 0, 0, 0, 0, 2];
        let reply = arp_reply([2, 0, 0, 0, 0, 9], [203, 0, 113, 1], us, [203, 0, 113, 2]);
        let request = arp_request(&us, Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(203, 0, 113, 1));
        let f = arp_reply_filter(&[7, 3, 7]);
        assert!(f.len() < 16, "the lines are listed once: {f:?}");
        for line in [3, 7] {
            assert!(run_filter(&f, &reply, libc::PACKET_HOST, line));
            assert!(run_filter(&f, &reply, libc::PACKET_BROADCAST, line));
            assert!(!run_filter(&f, &request, libc::PACKET_BROADCAST, line), "a request");
            assert!(!run_filter(&f, &reply, libc::PACKET_OUTGOING, line), "what this host sends");
        }
        for other in [1, 2, 4, 8] {
            assert!(!run_filter(&f, &reply, libc::PACKET_HOST, other), "a reply on interface {other}");
        }
        assert!(!run_filter(&f, &reply[..5], libc::PACKET_HOST, 3), "a truncated frame");
        // More lines than one jump passes over: replies of every interface, still no requests.
        let many: Vec<u32> = (1..=300).collect();
        let f = arp_reply_filter(&many);
        assert!(run_filter(&f, &reply, libc::PACKET_HOST, 999));
        assert!(!run_filter(&f, &request, libc::PACKET_HOST, 1));
        assert!(!run_filter(&f, &reply, libc::PACKET_OUTGOING, 1));
    }

    /// A queue that never runs dry (a flood faster than we read) cannot hold a drain past its
    /// bound: before, the receive loops read until the socket was empty.
    #[test]
    fn a_drain_ends_by_its_deadline_however_much_is_queued() {
        let start = Instant::now();
        let tick = std::cell::Cell::new(0u32);
        // Every look at the clock costs a millisecond of fake time.
        let clock = || {
            tick.set(tick.get() + 1);
            start + Duration::from_millis(u64::from(tick.get()))
        };
        let flood = |b: &mut [u8]| {
            b[0] = 0xaa;
            Some((60, Some(2)))
        };
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        let n = drain(flood, &mut buf, start + Duration::from_millis(10), clock, |f, ifindex, now| {
            assert_eq!((f.len(), f[0], ifindex), (60, 0xaa, Some(2)));
            assert!(now < start + Duration::from_millis(10));
            seen += 1;
        });
        assert_eq!((n, seen), (9, 9), "one frame per look at the clock, until the deadline");
        // With time to spare, a drain still stops after DRAIN_MAX frames.
        let n = drain(flood, &mut buf, Instant::now() + Duration::from_secs(3600), Instant::now, |_, _, _| {});
        assert_eq!(n, DRAIN_MAX);
        // A deadline already gone reads nothing; an empty queue ends the drain at once.
        assert_eq!(drain(flood, &mut buf, Instant::now(), Instant::now, |_, _, _| panic!("read")), 0);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(drain(|_: &mut [u8]| None, &mut buf, far, Instant::now, |_, _, _| panic!("read")), 0);
    }

    /// The kernel side of the ARP socket, in a private network namespace (`unshare -m -n`,
    /// this test binary run again inside it): a flood of ARP replies coming in on another
    /// interface (the LAN) never reaches the socket, and a probe round on the line still ends
    /// within its timeout while the flood goes on. Skipped without root or unshare, unless CI
    /// is set.
    #[test]
    fn an_arp_flood_on_the_lan_does_not_reach_the_probe() {
        let why = if !nix::unistd::geteuid().is_root() {
            Some("not root".to_string())
        } else {
            let exe = std::env::current_exe().unwrap();
            match std::process::Command::new("unshare")
                .args(["-m", "-n", "--"])
                .arg(exe)
                .args(["--exact", "kernel::probe::tests::netns_arp_flood", "--include-ignored", "--nocapture"])
                .env("TEQLCTL_PROBE_NETNS", "1")
                .output()
            {
                Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("1 passed") => None,
                Ok(o) if String::from_utf8_lossy(&o.stderr).contains("unshare failed") => {
                    Some(format!("unshare: {}", String::from_utf8_lossy(&o.stderr).trim()))
                }
                Ok(o) => panic!(
                    "in the namespace:\n{}\n{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => Some(format!("cannot run unshare: {e}")),
            }
        };
        if let Some(why) = why {
            assert!(std::env::var_os("CI").is_none(), "CI is set, and this test cannot run: {why}");
            eprintln!("skipped: {why}");
        }
    }

    fn ip(args: &str) {
        let ok = std::process::Command::new("ip").args(args.split(' ')).status().is_ok_and(|s| s.success());
        assert!(ok, "ip {args}");
    }

    fn ifindex(name: &str) -> u32 {
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: a valid NUL-terminated name.
        unsafe { libc::if_nametoindex(c.as_ptr()) }
    }

    /// Run by the test above, inside its namespace only.
    #[test]
    #[ignore]
    fn netns_arp_flood() {
        assert_eq!(std::env::var("TEQLCTL_PROBE_NETNS").as_deref(), Ok("1"), "run only in a private namespace");
        let line_mac = [2, 0, 0x5e, 0, 0, 0x0a];
        ip("link set lo up");
        // pa: the probed line (its far end pb); la: the LAN (lb: a host on it that floods).
        ip("link add pa address 02:00:5e:00:00:0a type veth peer name pb address 02:00:5e:00:00:0b");
        ip("link add la address 02:00:5e:00:00:1a type veth peer name lb address 02:00:5e:00:00:1b");
        for dev in ["pa", "pb", "la", "lb"] {
            ip(&format!("link set {dev} up"));
        }
        ip("addr add 198.51.100.2/24 dev pa");
        let (pa, pb, lb) = (ifindex("pa"), ifindex("pb"), ifindex("lb"));
        assert!(pa > 0 && pb > 0 && lb > 0);
        // What the line's next hop would answer: only in from the LAN here.
        let answer = arp_reply([2, 0, 0x5e, 0, 0, 0x1b], [198, 51, 100, 1], line_mac, [198, 51, 100, 2]);
        let out = packet_socket(&[pb]).unwrap();

        // The kernel filter: a thousand replies in on the LAN, then one in on the line.
        let sock = packet_socket(&[pa]).unwrap();
        for _ in 0..1000 {
            send(out.as_raw_fd(), lb, ETH_P_ARP, &line_mac, &answer);
        }
        send(out.as_raw_fd(), pb, ETH_P_ARP, &line_mac, &answer);
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        while let Some((_, ifindex)) = recv_frame(sock.as_raw_fd(), &mut buf) {
            got.push(ifindex);
        }
        assert_eq!(got, [Some(pa)], "only the reply in on the line is queued");

        // A round on the line while the LAN floods: it ends by its timeout, the LAN's answers
        // counting for nothing.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flooder = {
            let stop = stop.clone();
            let answer = answer.clone();
            std::thread::spawn(move || {
                let fd = out.as_raw_fd();
                let mut sent = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    send(fd, lb, ETH_P_ARP, &line_mac, &answer);
                    sent += 1;
                }
                sent
            })
        };
        let job = Job {
            line: "pa".into(),
            ifindex: pa,
            mac: line_mac.to_vec(),
            via: Some(Ipv4Addr::new(198, 51, 100, 1)),
            source: Ipv4Addr::new(198, 51, 100, 2),
            icmp: vec![Ipv4Addr::new(203, 0, 113, 1)],
            arp: vec![(Ipv4Addr::new(198, 51, 100, 3), Ipv4Addr::new(198, 51, 100, 2))],
            timeout: Duration::from_millis(500),
        };
        let started = Instant::now();
        let found = run(std::slice::from_ref(&job)).unwrap();
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = flooder.join().unwrap();
        assert!(sent > 1000, "the flood: {sent} frames");
        assert!(took < Duration::from_millis(1500), "the round took {took:?} under a flood of {sent} frames");
        assert_eq!(found[0].via, Some((Ipv4Addr::new(198, 51, 100, 1), false)), "{found:?}");
        assert_eq!(found[0].targets, [(Ipv4Addr::new(198, 51, 100, 3), None), (Ipv4Addr::new(203, 0, 113, 1), None)]);
    }

    #[test]
    fn rounds_differ() {
        let (a, b) = (Round::random().unwrap(), Round::random().unwrap());
        assert_ne!(a, b);
        assert_ne!(a.cookie, [0; COOKIE_LEN]);
    }

    #[test]
    fn arp_request_and_reply() {
        let mac = [2, 0, 0, 0, 0, 2];
        let q = arp_request(&mac, Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(q.len(), 28);
        assert_eq!(&q[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(parse_arp_reply(&q), None, "a request is not a reply");
        let a = arp_reply([2, 0, 0, 0, 0, 9], [203, 0, 113, 1], mac, [203, 0, 113, 2]);
        assert_eq!(
            parse_arp_reply(&a),
            Some(ArpReply {
                sender_ip: Ipv4Addr::new(203, 0, 113, 1),
                sender_mac: [2, 0, 0, 0, 0, 9],
                target_ip: Ipv4Addr::new(203, 0, 113, 2),
                target_mac: mac,
            })
        );
    }

    fn arp_reply(sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
        a.extend_from_slice(&sha);
        a.extend_from_slice(&spa);
        a.extend_from_slice(&tha);
        a.extend_from_slice(&tpa);
        a
    }

    #[test]
    fn an_arp_reply_counts_only_from_the_address_asked_to_us() {
        let us = [2, 0, 0, 0, 0, 2];
        let gw = Ipv4Addr::new(203, 0, 113, 1);
        let from = Ipv4Addr::new(203, 0, 113, 2);
        let router = [2, 0, 0, 0, 0, 9];
        let answer = |p: &[u8]| arp_answer(p, &us, gw, from);
        assert_eq!(
            answer(&arp_reply(router, [203, 0, 113, 1], us, [203, 0, 113, 2])),
            Some(router),
            "the genuine reply"
        );
        assert_eq!(answer(&arp_reply(router, [203, 0, 113, 1], [0xff; 6], [203, 0, 113, 1])), None, "gratuitous ARP");
        assert_eq!(
            answer(&arp_reply(router, [203, 0, 113, 1], [2, 0, 0, 0, 0, 3], [203, 0, 113, 2])),
            None,
            "to another MAC"
        );
        assert_eq!(answer(&arp_reply(router, [203, 0, 113, 1], us, [203, 0, 113, 3])), None, "to another address");
        assert_eq!(answer(&arp_reply(router, [203, 0, 113, 4], us, [203, 0, 113, 2])), None, "from another address");
        assert_eq!(answer(&arp_reply([0xff; 6], [203, 0, 113, 1], us, [203, 0, 113, 2])), None, "a broadcast next hop");
        assert_eq!(
            answer(&arp_reply([1, 0, 0x5e, 0, 0, 1], [203, 0, 113, 1], us, [203, 0, 113, 2])),
            None,
            "a multicast next hop"
        );
        assert_eq!(answer(&arp_reply([0; 6], [203, 0, 113, 1], us, [203, 0, 113, 2])), None, "a zero next hop");
    }

    #[test]
    fn checksum_of_odd_length_and_carry() {
        assert_eq!(checksum(&[0xff, 0xff, 0xff, 0xff]), 0);
        assert_eq!(checksum(&[0x01]), !0x0100);
    }
}
