//! Deleting the conntrack entries of one connection line (its mark), through ctnetlink: one
//! IPCTNL_MSG_CT_DELETE without a tuple, filtered by CTA_MARK/CTA_MARK_MASK, which the kernel
//! runs as a flush of the matching entries only (what `conntrack -D --mark M` sends). The
//! connections of the other lines are untouched; retries of the dead line's connections are new
//! connections, and take a live line at once.
//!
//! A few dozen lines of our own instead of a conntrack crate or the conntrack tool: the message
//! is fixed, and neither would be worth a dependency for it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_MARK: u16 = 8;
const CTA_MARK_MASK: u16 = 21;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 0x2;

/// The request: nlmsghdr, nfgenmsg (AF_INET, version 0), CTA_MARK and CTA_MARK_MASK (network
/// byte order, as ctnetlink reads them).
pub fn delete_by_mark_msg(mark: u32, seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(36);
    let len: u32 = 16 + 4 + 8 + 8;
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family, version, res_id (big endian).
    m.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
    for (kind, value) in [(CTA_MARK, mark), (CTA_MARK_MASK, u32::MAX)] {
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&value.to_be_bytes());
    }
    m
}

/// Deletes every conntrack entry whose mark is `mark`. ENOENT (no such entry) is success.
pub fn delete_by_mark(mark: u32) -> std::io::Result<()> {
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor of ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // A bounded wait for the answer: a hook never hangs.
    let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    // SAFETY: setsockopt with a timeval of the right size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    let msg = delete_by_mark_msg(mark, 1);
    // SAFETY: sending our buffer to the kernel (the socket is unbound: destination pid 0).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = [0u8; 4096];
    // SAFETY: receiving into our buffer.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    ack_errno(&buf[..n as usize]).map_or(Ok(()), |e| match e {
        0 | libc::ENOENT => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    })
}

/// The errno of an NLMSG_ERROR answer (0: the ACK), None for anything else.
fn ack_errno(buf: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let e = i32::from_ne_bytes(buf.get(16..20)?.try_into().ok()?);
    Some(-e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_what_conntrack_d_mark_sends() {
        let m = delete_by_mark_msg(0x5445_1069, 7);
        assert_eq!(m.len(), 36);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 36);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 0x0102);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x5);
        assert_eq!(&m[16..20], &[2, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes(m[22..24].try_into().unwrap()), 8);
        assert_eq!(&m[24..28], &[0x54, 0x45, 0x10, 0x69]);
        assert_eq!(u16::from_ne_bytes(m[30..32].try_into().unwrap()), 21);
        assert_eq!(&m[32..36], &[0xff; 4]);
    }

    #[test]
    fn acks_and_errors() {
        let mut b = vec![0u8; 36];
        b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_errno(&b), Some(0));
        b[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(ack_errno(&b), Some(libc::ENOENT));
        b[4..6].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(ack_errno(&b), None);
    }
}
