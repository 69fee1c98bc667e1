//! Deleting the conntrack entries of one connection line (its mark), through ctnetlink: one
//! IPCTNL_MSG_CT_DELETE without a tuple, filtered by CTA_MARK/CTA_MARK_MASK, which the kernel
//! runs as a flush of the matching entries only (what `conntrack -D --mark M` sends). The
//! connections of the other lines are untouched; retries of the dead line's connections are new
//! connections, and take a live line at once.
//!
//! A few dozen lines of our own instead of a conntrack crate or the conntrack tool: the message
//! is fixed, and neither would be worth a dependency for it.

use crate::kernel::nfnetlink::{
    ack_errno, attr, recv, request, send, socket, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_MARK: u16 = 8;
const CTA_MARK_MASK: u16 = 21;

/// The request: nlmsghdr, nfgenmsg (AF_INET, version 0), CTA_MARK and CTA_MARK_MASK (network
/// byte order, as ctnetlink reads them).
pub(crate) fn delete_by_mark_msg(mark: u32, seq: u32) -> Vec<u8> {
    by_mark_msg(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, mark, seq)
}

/// A ctnetlink request of `kind` for the entries whose mark is `mark`.
fn by_mark_msg(kind: u16, flags: u16, mark: u32, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::with_capacity(16);
    attr(&mut attrs, CTA_MARK, &mark.to_be_bytes());
    attr(&mut attrs, CTA_MARK_MASK, &u32::MAX.to_be_bytes());
    request(NFNL_SUBSYS_CTNETLINK, kind, flags, seq, libc::AF_INET as u8, &attrs)
}

/// Deletes every conntrack entry whose mark is `mark`. ENOENT (no such entry) is success.
pub(crate) fn delete_by_mark(mark: u32) -> std::io::Result<()> {
    let fd = socket()?;
    send(&fd, &delete_by_mark_msg(mark, 1))?;
    let mut buf = [0u8; 4096];
    let n = recv(&fd, &mut buf)?;
    ack_errno(&buf[..n]).map_or(Ok(()), |e| match e {
        0 | libc::ENOENT => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    })
}

/// How many conntrack entries have the mark `mark` (a dump filtered by the kernel; the entries
/// themselves are not read).
pub(crate) fn count_by_mark(mark: u32) -> std::io::Result<u64> {
    let fd = socket()?;
    send(&fd, &by_mark_msg(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, mark, 1))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut count = 0;
    loop {
        let n = recv(&fd, &mut buf)?;
        match count_messages(&buf[..n]) {
            Dumped::More(c) => count += c,
            Dumped::Done(c) => return Ok(count + c),
            Dumped::Error(e) => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

/// What one datagram of a dump said.
#[derive(Debug, PartialEq, Eq)]
enum Dumped {
    /// This many entries, and more datagrams to come.
    More(u64),
    /// This many entries, and the end of the dump.
    Done(u64),
    Error(i32),
}

fn count_messages(mut buf: &[u8]) -> Dumped {
    let mut count = 0;
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < 16 || len > buf.len() {
            return Dumped::Error(libc::EPROTO);
        }
        match kind {
            NLMSG_DONE => return Dumped::Done(count),
            NLMSG_ERROR => match ack_errno(buf) {
                Some(0) => {}
                Some(e) => return Dumped::Error(e),
                None => return Dumped::Error(libc::EPROTO),
            },
            k if k == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => count += 1,
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        let step = (len + 3) & !3;
        buf = buf.get(step..).unwrap_or(&[]);
    }
    Dumped::More(count)
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

    fn msg(kind: u16, body: usize) -> Vec<u8> {
        let mut m = vec![0u8; 16 + body];
        m[0..4].copy_from_slice(&((16 + body) as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m
    }

    #[test]
    fn a_dump_is_counted_to_its_end() {
        let entry = msg(0x0100, 26);
        let mut d = entry.clone();
        d.extend_from_slice(&[0, 0]); // padding to 4 bytes
        d.extend_from_slice(&entry);
        d.extend_from_slice(&[0, 0]);
        assert_eq!(count_messages(&d), Dumped::More(2));
        d.extend_from_slice(&msg(NLMSG_DONE, 4));
        assert_eq!(count_messages(&d), Dumped::Done(2));
        let mut e = msg(NLMSG_ERROR, 20);
        e[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(count_messages(&e), Dumped::Error(libc::EPERM));
        assert_eq!(count_messages(&msg(0x0100, 26)[..30]), Dumped::Error(libc::EPROTO));
        assert_eq!(by_mark_msg(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 7, 1)[4..8], [1, 1, 1, 3]);
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
