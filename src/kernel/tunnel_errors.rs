//! Clearing the ICMP errors an IP tunnel remembers from an outage, before check puts the tunnel
//! back into its bundle (issue 26, point 13).
//!
//! What the kernel does (net/ipv4/ip_tunnel.c, ip_gre.c, ipip.c; the same in every kernel since
//! 2.4): each ICMP error (unreachable, TTL exceeded; not "fragmentation needed") that comes back
//! for a GRE or IPIP tunnel's outer packets adds one to the tunnel's `err_count`, and stamps
//! `err_time`. For IPTUNNEL_ERR_TIMEO (30 s) after the last error, every packet the tunnel then
//! sends takes one off the count and, besides being sent, makes the tunnel answer its sender with
//! an ICMP "host unreachable" (dst_link_failure), until the count is spent. Nothing else resets
//! the count: not `ip link set down/up`, not a change of the tunnel's parameters.
//!
//! So when a line dies under a tunnel, the ISP's routers answer the packets still sent through
//! it (a router whose next hop does not answer ARP does so seconds later, after check has taken
//! the tunnel out), and when check puts the tunnel back a few seconds after the line recovers,
//! its first packets through teql make those spurious errors. A server behind the aggregator
//! that gets one for its SYN-ACK drops the half-open connection (tcp_req_err), and answers the
//! client's ACK with a reset: "Connection reset by peer" for a new connection right after the
//! comeback. A client on the office's LAN that gets one for its SYN gives up the connect.
//!
//! The cure: spend the count before the tunnel rejoins its bundle. A UDP datagram is sent
//! through the tunnel (IP_UNICAST_IF: out of that device whatever the routes say) to its far
//! end's outer address, port 9 (discard), from this box's own address; while the count lasts,
//! the tunnel answers it with the "host unreachable", which comes back to this socket's error
//! queue (IP_RECVERR) rather than to anyone's connection. One datagram after another until one
//! goes without it. The far end may answer the datagrams with "port unreachable": those are
//! told apart by their code, and ignored.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::kernel::probe::{self, ProbeError};

/// Datagrams at the most: a router answers a dead path a few times a second (Linux: a burst of
/// 6, then one a second per destination), and a tunnel is taken out within seconds.
pub const MAX_DATAGRAMS: u32 = 256;
/// How long to wait for the tunnel's answer to a datagram. It is made while the datagram is sent
/// and delivered locally before sendto returns; the wait only covers a busy box.
const ANSWER_WAIT: Duration = Duration::from_millis(50);
/// The discard port: a far end that listens there takes the datagram, one that does not answers
/// "port unreachable", which is ignored.
const DISCARD_PORT: u16 = 9;

const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_HOST_UNREACH: u8 = 1;

/// What one error read from the socket's error queue says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedError {
    pub origin: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
}

impl QueuedError {
    /// The tunnel's own answer while its count lasts (dst_link_failure: ICMP host unreachable).
    pub(crate) fn is_tunnel_answer(&self) -> bool {
        self.origin == libc::SO_EE_ORIGIN_ICMP
            && self.icmp_type == ICMP_DEST_UNREACH
            && self.icmp_code == ICMP_HOST_UNREACH
    }
}

/// Spends the ICMP error count of tunnel `ifindex` (far end `remote`): returns how many errors
/// it still held. Bounded by MAX_DATAGRAMS datagrams and one ANSWER_WAIT each.
pub fn clear(ifindex: u32, remote: Ipv4Addr) -> Result<u32, ProbeError> {
    let what = "datagram to clear the tunnel's ICMP errors";
    let fd = probe::socket(libc::AF_INET, libc::SOCK_DGRAM, 0, what)?;
    let raw = fd.as_raw_fd();
    set_int(raw, libc::IPPROTO_IP, libc::IP_RECVERR, 1, what)?;
    // IP_UNICAST_IF takes the index in network byte order.
    set_int(raw, libc::IPPROTO_IP, libc::IP_UNICAST_IF, (ifindex as i32).to_be(), what)?;
    let mut cleared = 0;
    for _ in 0..MAX_DATAGRAMS {
        send(raw, remote, what)?;
        let answered = wait_answer(raw)?;
        if !answered {
            break;
        }
        cleared += 1;
    }
    Ok(cleared)
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int, what: &str) -> Result<(), ProbeError> {
    // SAFETY: the option value is a live c_int of the length given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(ProbeError::Io(what.to_string(), io::Error::last_os_error()));
    }
    Ok(())
}

fn send(fd: RawFd, remote: Ipv4Addr, what: &str) -> Result<(), ProbeError> {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = DISCARD_PORT.to_be();
    sa.sin_addr.s_addr = u32::from(remote).to_be();
    let byte = [0u8; 1];
    for _ in 0..2 {
        // SAFETY: buffer and address are live and of the lengths given.
        let r = unsafe {
            libc::sendto(
                fd,
                byte.as_ptr().cast(),
                byte.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // A pending error of an earlier datagram (the far end's port unreachable that came in
            // after the queue was read) is reported once by the next send, which then is not
            // made: send again.
            Some(libc::ECONNREFUSED) | Some(libc::EHOSTUNREACH) => {
                drain_queue(fd);
                continue;
            }
            _ => return Err(ProbeError::Io(what.to_string(), e)),
        }
    }
    Err(ProbeError::Io(what.to_string(), io::Error::other("sendto keeps reporting errors of earlier datagrams")))
}

/// Waits up to ANSWER_WAIT for the tunnel's answer to the datagram just sent; errors of other
/// kinds (the far end's port unreachable) are read and ignored.
fn wait_answer(fd: RawFd) -> Result<bool, ProbeError> {
    let deadline = std::time::Instant::now() + ANSWER_WAIT;
    loop {
        if drain_queue(fd).iter().any(QueuedError::is_tunnel_answer) {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = libc::pollfd { fd, events: 0, revents: 0 };
        // SAFETY: one live pollfd. POLLERR is reported without being asked for.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(ProbeError::Io("poll".into(), io::Error::last_os_error()));
        }
    }
}

/// Reads the socket's error queue to the end.
fn drain_queue(fd: RawFd) -> Vec<QueuedError> {
    let mut out = Vec::new();
    loop {
        let mut data = [0u8; 64];
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
        let mut control = [0u64; 32];
        // SAFETY: msghdr is plain old data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers of the lengths it gives.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if r < 0 {
            return out;
        }
        // SAFETY: the kernel filled msg_control up to msg_controllen; CMSG_* walk inside it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_RECVERR {
                    let ee = libc::CMSG_DATA(c).cast::<libc::sock_extended_err>().read_unaligned();
                    out.push(QueuedError { origin: ee.ee_origin, icmp_type: ee.ee_type, icmp_code: ee.ee_code });
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_host_unreachable_is_the_tunnels_answer() {
        let e = |origin, icmp_type, icmp_code| QueuedError { origin, icmp_type, icmp_code };
        assert!(e(libc::SO_EE_ORIGIN_ICMP, 3, 1).is_tunnel_answer());
        // The far end's port unreachable, a net unreachable, a local error: not the tunnel's.
        assert!(!e(libc::SO_EE_ORIGIN_ICMP, 3, 3).is_tunnel_answer());
        assert!(!e(libc::SO_EE_ORIGIN_ICMP, 3, 0).is_tunnel_answer());
        assert!(!e(libc::SO_EE_ORIGIN_LOCAL, 3, 1).is_tunnel_answer());
    }
}
