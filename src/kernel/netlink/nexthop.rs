//! Nexthop objects (`ip nexthop`) over a raw NETLINK_ROUTE socket.
//!
//! netlink-packet-route 0.34 has no nexthop messages, so this part encodes and decodes them by
//! hand, after include/uapi/linux/nexthop.h (struct nhmsg, NHA_*) and netlink.h (nlmsghdr,
//! NLMSG_ERROR/DONE). The codec is pure (`encode_*`, `parse_replies`) and tested on the host
//! against byte strings captured from iproute2 6.1 (`strace -e write=3 ip nexthop ...`) and
//! from a 6.18 kernel's dump. The exchange is bounded in time: a request that gets no complete
//! answer within [`TIMEOUT`] fails with ETIMEDOUT instead of waiting for ever.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::{Nexthop, NlError};

// How long one request may wait for its complete answer (a dump included).
pub use crate::nl_error::TIMEOUT;

// include/uapi/linux/rtnetlink.h
pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;
// include/uapi/linux/netlink.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
const NLA_HDRLEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
const NLA_F_NESTED: u16 = 0x8000;
// include/uapi/linux/nexthop.h
const NHMSG_LEN: usize = 8;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_RES_GROUP: u16 = 12;
const NHA_RES_GROUP_BUCKETS: u16 = 1;
const NEXTHOP_GRP_TYPE_RES: u16 = 1;
const NEXTHOP_GRP_LEN: usize = 8;
// include/uapi/linux/rtnetlink.h
const RTNH_F_ONLINK: u32 = 4;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message under construction: header, then payload; `finish` fills in the length.
struct MsgBuf(Vec<u8>);

impl MsgBuf {
    fn new(msg_type: u16, flags: u16, seq: u32) -> MsgBuf {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish
        b.extend_from_slice(&msg_type.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        MsgBuf(b)
    }

    fn nhmsg(&mut self, family: u8, protocol: u8, flags: u32) {
        self.0.extend_from_slice(&[family, 0, protocol, 0]);
        self.0.extend_from_slice(&flags.to_ne_bytes());
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(align4(self.0.len()), 0);
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// One attribute, as bytes (for nesting).
fn attr_bytes(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(align4(NLA_HDRLEN + payload.len()));
    b.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(payload);
    b.resize(align4(b.len()), 0);
    b
}

fn einval() -> NlError {
    NlError { errno: libc::EINVAL }
}

/// RTM_NEWNEXTHOP for `n`, with NLM_F_REQUEST|NLM_F_ACK|`flags`. A group is sent as AF_UNSPEC
/// (the kernel requires it) with its members and, when resilient, its type and bucket count;
/// a single hop as AF_INET with its device and gateway. EINVAL for weights outside 1..=256.
pub(crate) fn encode_new(n: &Nexthop, flags: u16, seq: u32) -> Result<Vec<u8>, NlError> {
    let mut m = MsgBuf::new(RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    let group = !n.group.is_empty();
    let nh_flags = if n.onlink { RTNH_F_ONLINK } else { 0 };
    m.nhmsg(if group { AF_UNSPEC } else { AF_INET }, n.protocol, nh_flags);
    if n.id != 0 {
        m.attr(NHA_ID, &n.id.to_ne_bytes());
    }
    if group {
        let mut g = Vec::with_capacity(n.group.len() * NEXTHOP_GRP_LEN);
        for &(id, weight) in &n.group {
            if !(1..=256).contains(&weight) {
                return Err(einval());
            }
            g.extend_from_slice(&id.to_ne_bytes());
            // weight - 1; weight_high (6.12+) and resvd2 stay 0.
            g.extend_from_slice(&[(weight - 1) as u8, 0, 0, 0]);
        }
        m.attr(NHA_GROUP, &g);
        if let Some(buckets) = n.resilient {
            m.attr(NHA_RES_GROUP | NLA_F_NESTED, &attr_bytes(NHA_RES_GROUP_BUCKETS, &buckets.to_ne_bytes()));
            m.attr(NHA_GROUP_TYPE, &NEXTHOP_GRP_TYPE_RES.to_ne_bytes());
        }
    } else {
        if let Some(gw) = n.gateway {
            m.attr(NHA_GATEWAY, &gw.octets());
        }
        if let Some(oif) = n.oif {
            m.attr(NHA_OIF, &oif.to_ne_bytes());
        }
    }
    Ok(m.finish())
}

/// RTM_DELNEXTHOP for nexthop `id` (NLM_F_REQUEST|NLM_F_ACK).
pub(crate) fn encode_del(id: u32, seq: u32) -> Vec<u8> {
    let mut m = MsgBuf::new(RTM_DELNEXTHOP, NLM_F_REQUEST | NLM_F_ACK, seq);
    m.nhmsg(AF_UNSPEC, 0, 0);
    m.attr(NHA_ID, &id.to_ne_bytes());
    m.finish()
}

/// RTM_GETNEXTHOP dump of every nexthop object.
pub(crate) fn encode_dump(seq: u32) -> Vec<u8> {
    let mut m = MsgBuf::new(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq);
    m.nhmsg(AF_UNSPEC, 0, 0);
    m.finish()
}

/// What one netlink message of an answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An RTM_NEWNEXTHOP (a dump's part); None if it is not an IPv4 or group nexthop
    /// (IPv6 single hops) or is malformed.
    Nexthop(Option<Nexthop>),
    /// NLMSG_ERROR with code 0.
    Ack,
    /// NLMSG_ERROR, or NLMSG_DONE carrying an error: the positive errno.
    Error(i32),
    /// NLMSG_DONE: the dump is complete.
    Done,
    /// Anything else (NLMSG_NOOP, other message types).
    Other,
}

/// One parsed message: its sequence number, whether the dump was interrupted (NLM_F_DUMP_INTR:
/// the set changed while it was dumped), and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub seq: u32,
    pub interrupted: bool,
    pub reply: Reply,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Attributes of `b` as (type without flags, payload); stops at the first malformed one.
fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, at)?);
        let kind = u16_at(b, at + 2)? & NLA_TYPE_MASK;
        if len < NLA_HDRLEN {
            return None;
        }
        let payload = b.get(at + NLA_HDRLEN..at + len)?;
        at += align4(len);
        Some((kind, payload))
    })
}

/// Splits one datagram into its messages. Err(EPROTO) if a header's length is impossible.
pub(crate) fn parse_replies(buf: &[u8]) -> Result<Vec<Parsed>, NlError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let proto = || NlError { errno: libc::EPROTO };
        let len = u32_at(buf, at).ok_or_else(proto)? as usize;
        let kind = u16_at(buf, at + 4).ok_or_else(proto)?;
        let flags = u16_at(buf, at + 6).ok_or_else(proto)?;
        let seq = u32_at(buf, at + 8).ok_or_else(proto)?;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return Err(proto());
        }
        let payload = &buf[at + NLMSG_HDRLEN..at + len];
        let reply = match kind {
            NLMSG_ERROR => match u32_at(payload, 0).map(|c| c as i32) {
                Some(0) => Reply::Ack,
                Some(code) => Reply::Error(code.checked_neg().unwrap_or(libc::EPROTO)),
                None => Reply::Error(libc::EPROTO),
            },
            NLMSG_DONE => match u32_at(payload, 0).map(|c| c as i32) {
                Some(code) if code < 0 => Reply::Error(code.checked_neg().unwrap_or(libc::EPROTO)),
                _ => Reply::Done,
            },
            NLMSG_OVERRUN => Reply::Error(libc::ENOBUFS),
            RTM_NEWNEXTHOP => Reply::Nexthop(parse_nexthop(payload)),
            NLMSG_NOOP => Reply::Other,
            _ => Reply::Other,
        };
        out.push(Parsed { seq, interrupted: flags & NLM_F_DUMP_INTR != 0, reply });
        at += align4(len);
    }
    Ok(out)
}

/// The payload of an RTM_NEWNEXTHOP (struct nhmsg, then NHA_* attributes).
pub(crate) fn parse_nexthop(p: &[u8]) -> Option<Nexthop> {
    let family = *p.first()?;
    let protocol = *p.get(2)?;
    let flags = u32_at(p, 4)?;
    if family == AF_INET6 {
        return None;
    }
    let mut n = Nexthop { protocol, onlink: flags & RTNH_F_ONLINK != 0, ..Nexthop::default() };
    let mut group_type = 0u16;
    let mut buckets = 0u16;
    for (kind, v) in attrs(p.get(NHMSG_LEN..)?) {
        match kind {
            NHA_ID => n.id = u32_at(v, 0)?,
            NHA_GROUP => {
                for e in v.chunks_exact(NEXTHOP_GRP_LEN) {
                    let id = u32_at(e, 0)?;
                    // weight - 1 in the low byte, the high byte (weight_high, 6.12+) next.
                    let w = u32::from(e[4]) | (u32::from(e[5]) << 8);
                    n.group.push((id, u16::try_from(w + 1).unwrap_or(u16::MAX)));
                }
            }
            NHA_GROUP_TYPE => group_type = u16_at(v, 0)?,
            NHA_OIF => n.oif = Some(u32_at(v, 0)?),
            NHA_GATEWAY if v.len() == 4 => n.gateway = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
            NHA_RES_GROUP => {
                for (k, nv) in attrs(v) {
                    if k == NHA_RES_GROUP_BUCKETS {
                        buckets = u16_at(nv, 0)?;
                    }
                }
            }
            _ => {}
        }
    }
    if group_type == NEXTHOP_GRP_TYPE_RES {
        n.resilient = Some(buckets);
    }
    Some(n)
}

/// A blocking-free NETLINK_ROUTE socket for the nexthop requests, each bounded by [`TIMEOUT`].
pub struct RawSocket {
    sock: Socket,
    seq: u32,
}

fn io_err(e: std::io::Error) -> NlError {
    NlError { errno: e.raw_os_error().unwrap_or(0) }
}

impl RawSocket {
    pub fn open() -> Result<RawSocket, NlError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io_err)?;
        sock.bind_auto().map_err(io_err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io_err)?;
        sock.set_non_blocking(true).map_err(io_err)?;
        // A sequence number unlike the last run's, so that nothing stale can pass for an answer.
        let seq =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(1);
        Ok(RawSocket { sock, seq })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends `req` (built with `seq`) and reads answers until the ACK/error (`dump` false) or
    /// NLMSG_DONE (`dump` true). Returns the nexthops of a dump and whether it was interrupted.
    fn exchange(
        &mut self,
        req: &[u8],
        seq: u32,
        dump: bool,
        timeout: Duration,
    ) -> Result<(Vec<Nexthop>, bool), NlError> {
        let deadline = Instant::now() + timeout;
        self.sock.send(req, 0).map_err(io_err)?;
        let mut out = Vec::new();
        let mut interrupted = false;
        // The kernel's dump parts are at most 32 KiB; MSG_TRUNC reports anything longer.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            super::wait_readable(self.sock.as_raw_fd(), deadline)?;
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => continue,
                    _ => return Err(io_err(e)),
                }
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(NlError { errno: libc::EMSGSIZE });
            }
            for p in parse_replies(&buf[..n])? {
                if p.seq != seq {
                    continue; // an answer to an earlier request that timed out
                }
                interrupted |= p.interrupted;
                match p.reply {
                    Reply::Nexthop(Some(nh)) if dump => out.push(nh),
                    Reply::Ack if !dump => return Ok((out, interrupted)),
                    Reply::Done if dump => return Ok((out, interrupted)),
                    Reply::Error(errno) => return Err(NlError { errno }),
                    _ => {}
                }
            }
        }
    }

    pub fn change(&mut self, build: impl FnOnce(u32) -> Result<Vec<u8>, NlError>) -> Result<(), NlError> {
        let seq = self.next_seq();
        let req = build(seq)?;
        self.exchange(&req, seq, false, TIMEOUT).map(|_| ())
    }

    /// Every nexthop object; a dump the kernel marks interrupted is retried (3 tries, then EINTR).
    pub fn dump(&mut self) -> Result<Vec<Nexthop>, NlError> {
        for _ in 0..3 {
            let seq = self.next_seq();
            let (out, interrupted) = self.exchange(&encode_dump(seq), seq, true, TIMEOUT)?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(NlError { errno: libc::EINTR })
    }
}

/// Whether a kernel release string (uname -r: "6.1.0-57-amd64", "5.13.0", "6.18.44-fc") is at
/// least `major.minor`. False when the string does not start with a version.
pub(crate) fn release_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u32>().ok());
    match (num(parts.next()), num(parts.next())) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    // Captured on x86_64 (little endian) from iproute2 6.1: `strace -e write=3 ip nexthop add ...`.
    // Sequence number 0x6b0d176f; flags REQUEST|ACK|EXCL|CREATE (0x605).
    const ADD_SINGLE: &str = "30 00 00 00 68 00 05 06 6f 17 0d 6b 00 00 00 00
        02 00 00 00 00 00 00 00 08 00 01 00 01 00 00 00
        08 00 06 00 c0 00 02 01 08 00 05 00 03 00 00 00";
    const ADD_ONLINK_PROTO: &str = "30 00 00 00 68 00 05 06 6f 17 0d 6b 00 00 00 00
        02 00 c8 00 04 00 00 00 08 00 01 00 02 00 00 00
        08 00 06 00 c0 00 02 03 08 00 05 00 03 00 00 00";
    const ADD_RESILIENT: &str = "48 00 00 00 68 00 05 06 6f 17 0d 6b 00 00 00 00
        00 00 00 00 00 00 00 00 08 00 01 00 0a 00 00 00
        14 00 02 00 01 00 00 00 01 00 00 00 02 00 00 00
        00 00 00 00 0c 00 0c 80 06 00 01 00 40 00 00 00
        06 00 03 00 01 00 00 00";
    const DEL: &str = "20 00 00 00 69 00 05 00 6f 17 0d 6b 00 00 00 00
        00 00 00 00 00 00 00 00 08 00 01 00 0a 00 00 00";
    // `strace -e read=3 ip nexthop show` on a 6.18 kernel after the three adds above: one
    // datagram with ids 1, 2, 10 (its NHA_RES_GROUP also has the timers, and an attribute 14
    // that 6.1 does not know), then NLMSG_DONE in the next one.
    const DUMP: &str = "30 00 00 00 68 00 02 00 71 17 0d 6b 5e 2f 00 00
        02 fd 00 00 00 00 00 00 08 00 01 00 01 00 00 00
        08 00 05 00 03 00 00 00 08 00 06 00 c0 00 02 01
        30 00 00 00 68 00 02 00 71 17 0d 6b 5e 2f 00 00
        02 fd c8 00 04 00 00 00 08 00 01 00 02 00 00 00
        08 00 05 00 03 00 00 00 08 00 06 00 c0 00 02 03
        6c 00 00 00 68 00 02 00 71 17 0d 6b 5e 2f 00 00
        00 00 00 00 00 00 00 00 08 00 01 00 0a 00 00 00
        06 00 03 00 01 00 00 00 14 00 02 00 01 00 00 00
        01 00 00 00 02 00 00 00 00 00 00 00 28 00 0c 80
        06 00 01 00 40 00 00 00 08 00 02 00 e0 2e 00 00
        08 00 03 00 00 00 00 00 0c 00 04 00 00 00 00 00
        00 00 00 00 08 00 0e 00 00 00 00 80";
    const DONE: &str = "14 00 00 00 03 00 02 00 71 17 0d 6b 5e 2f 00 00 00 00 00 00";
    const SEQ: u32 = 0x6b0d176f;
    const NLM_F_EXCL: u16 = 0x200;

    fn hop(id: u32, gw: [u8; 4], oif: u32) -> Nexthop {
        Nexthop { id, gateway: Some(Ipv4Addr::from(gw)), oif: Some(oif), ..Nexthop::default() }
    }

    fn resilient() -> Nexthop {
        Nexthop { id: 10, group: vec![(1, 2), (2, 1)], resilient: Some(64), ..Nexthop::default() }
    }

    #[test]
    #[cfg(target_endian = "little")] // the captures are little endian
    fn encodes_like_iproute2() {
        assert_eq!(encode_new(&hop(1, [192, 0, 2, 1], 3), NLM_F_CREATE | NLM_F_EXCL, SEQ).unwrap(), hex(ADD_SINGLE));
        let onlink = Nexthop { onlink: true, protocol: 200, ..hop(2, [192, 0, 2, 3], 3) };
        assert_eq!(encode_new(&onlink, NLM_F_CREATE | NLM_F_EXCL, SEQ).unwrap(), hex(ADD_ONLINK_PROTO));
        assert_eq!(encode_new(&resilient(), NLM_F_CREATE | NLM_F_EXCL, SEQ).unwrap(), hex(ADD_RESILIENT));
        assert_eq!(encode_del(10, SEQ), hex(DEL));
    }

    #[test]
    #[cfg(target_endian = "little")] // the captures are little endian
    fn replace_flags_and_dump_request() {
        let b = encode_new(&hop(1, [192, 0, 2, 1], 3), NLM_F_CREATE | NLM_F_REPLACE, 7).unwrap();
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        let d = encode_dump(9);
        assert_eq!(d, hex("18 00 00 00 6a 00 01 03 09 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
    }

    #[test]
    fn weights_out_of_range_are_refused() {
        for w in [0u16, 257] {
            let n = Nexthop { id: 5, group: vec![(1, w)], ..Nexthop::default() };
            assert_eq!(encode_new(&n, NLM_F_CREATE, 1), Err(einval()));
        }
        let n = Nexthop { id: 5, group: vec![(1, 256), (2, 1)], ..Nexthop::default() };
        let parsed = parse_replies(&encode_new(&n, NLM_F_CREATE, 1).unwrap()).unwrap();
        assert_eq!(parsed[0].reply, Reply::Nexthop(Some(n)));
    }

    #[test]
    fn round_trip() {
        let cases = [
            hop(1, [198, 51, 100, 1], 7),
            Nexthop { onlink: true, protocol: 200, ..hop(2, [203, 0, 113, 9], 8) },
            resilient(),
            { Nexthop { id: 11, group: vec![(1, 1), (2, 3)], protocol: 200, ..Nexthop::default() } },
        ];
        for n in cases {
            let parsed = parse_replies(&encode_new(&n, NLM_F_CREATE | NLM_F_REPLACE, 3).unwrap()).unwrap();
            assert_eq!(parsed, vec![Parsed { seq: 3, interrupted: false, reply: Reply::Nexthop(Some(n)) }]);
        }
    }

    #[test]
    #[cfg(target_endian = "little")] // the captures are little endian
    fn decodes_a_kernel_dump() {
        let parsed = parse_replies(&hex(DUMP)).unwrap();
        let got: Vec<Reply> = parsed.iter().map(|p| p.reply.clone()).collect();
        assert!(parsed.iter().all(|p| p.seq == 0x6b0d1771 && !p.interrupted));
        let onlink = Nexthop { onlink: true, protocol: 200, ..hop(2, [192, 0, 2, 3], 3) };
        assert_eq!(
            got,
            vec![
                Reply::Nexthop(Some(hop(1, [192, 0, 2, 1], 3))),
                Reply::Nexthop(Some(onlink)),
                Reply::Nexthop(Some(resilient()))
            ]
        );
        assert_eq!(parse_replies(&hex(DONE)).unwrap()[0].reply, Reply::Done);
    }

    #[test]
    #[cfg(target_endian = "little")] // the captures are little endian
    fn decodes_acks_and_errors() {
        // NLMSG_ERROR: code, then the request's header.
        let mut ack = hex("24 00 00 00 02 00 00 01 05 00 00 00 10 00 00 00 00 00 00 00");
        ack.extend_from_slice(&hex(&DEL[..48]));
        assert_eq!(parse_replies(&ack).unwrap()[0].reply, Reply::Ack);
        ack[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(parse_replies(&ack).unwrap()[0].reply, Reply::Error(libc::ENOENT));
        let mut done = hex(DONE);
        done[16..20].copy_from_slice(&(-libc::EBUSY).to_ne_bytes());
        assert_eq!(parse_replies(&done).unwrap()[0].reply, Reply::Error(libc::EBUSY));
        // A dump part flagged NLM_F_DUMP_INTR.
        let mut intr = hex(DUMP);
        intr[6] |= NLM_F_DUMP_INTR as u8;
        assert!(parse_replies(&intr).unwrap()[0].interrupted);
    }

    #[test]
    #[cfg(target_endian = "little")] // the captures are little endian
    fn malformed_input_is_an_error_not_a_panic() {
        let dump = hex(DUMP);
        // A length past the end of the datagram.
        let mut long = dump.clone();
        long[0] = 0xff;
        assert_eq!(parse_replies(&long), Err(NlError { errno: libc::EPROTO }));
        // A length below the header's.
        let mut short = dump.clone();
        short[0] = 4;
        assert_eq!(parse_replies(&short), Err(NlError { errno: libc::EPROTO }));
        // Every truncation of a payload decodes or yields None, never panics.
        for cut in 0..0x6c - 16 {
            let _ = parse_nexthop(&dump[0x60 + 16..0x60 + 16 + cut]);
        }
        // A trailing partial header is ignored.
        assert_eq!(parse_replies(&dump[..0x30 + 7]).unwrap().len(), 1);
        // IPv6 single hops are left out.
        assert_eq!(parse_nexthop(&hex("0a 00 00 00 00 00 00 00 08 00 01 00 01 00 00 00")), None);
    }

    #[test]
    fn a_request_without_an_answer_times_out() {
        // A real kernel socket (no privilege needed): a message without NLM_F_REQUEST|NLM_F_ACK
        // is one the kernel never answers.
        let Ok(mut sock) = RawSocket::open() else { return };
        let mut req = encode_dump(42);
        req[6..8].copy_from_slice(&0u16.to_ne_bytes());
        let started = Instant::now();
        let r = sock.exchange(&req, 42, true, Duration::from_millis(200));
        assert_eq!(r, Err(NlError { errno: libc::ETIMEDOUT }));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(NlError { errno: libc::ETIMEDOUT }.to_string(), "no answer from the kernel within 2 s");
    }

    #[test]
    fn kernel_releases() {
        assert!(release_at_least("5.13.0", 5, 13));
        assert!(release_at_least("6.1.0-57-amd64", 5, 13));
        assert!(release_at_least("6.18.44-fc-v782", 5, 13));
        assert!(!release_at_least("5.12.19", 5, 13));
        assert!(!release_at_least("4.19.0-27-amd64", 5, 13));
        assert!(release_at_least("10.0", 5, 13));
        assert!(!release_at_least("", 5, 13));
        assert!(!release_at_least("garbage", 5, 13));
        assert!(!release_at_least("6", 5, 13));
    }
}
