//! The one place that talks rtnetlink.
//!
//! Every request is built here by hand (rtnetlink's builders cannot set a qdisc kind, and do
//! not let us choose NLM_F flags), sent through `rtnetlink::Handle::request`, and awaited on
//! the calling thread: the connection future is polled side by side with the request, so no
//! runtime and no thread is started. A hook run is a handful of round trips.
//!
//! The socket is our own [`PlainSocket`], not smol's or tokio's: they register the socket with
//! a reactor, and smol's starts a reactor thread on first use. That thread, its epoll set and
//! their code cost a hook or a `check` round tens of milliseconds under emulation, for nothing:
//! rtnetlink answers a request while the request is being sent, so there is almost never
//! anything to wait for. When there is, [`Netlink::block`] waits in poll(2) on the socket, and
//! gives up with ETIMEDOUT after [`TIMEOUT`]: a request the kernel never answers is an error,
//! neither a spin nor a hang.

use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::{select, Either};
use futures::task::noop_waker;
use futures::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    GreIOFlags, InfoData, InfoGre, InfoIpTunnel, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{AsyncSocket, Socket, SocketAddr};

mod nexthop;

// How long one request may wait for the kernel's answer (the nexthop socket's bound too), and a
// request's failure: below error.rs, which reports them.
pub use crate::nl_error::{NlError, TIMEOUT};

/// A non-blocking netlink socket without a reactor, for the single-threaded [`Netlink::block`].
///
/// "Would block" is answered with `Pending` and no wake-up: `block` is the only executor, and
/// it polls again once poll(2) says the socket is readable. The kernel queues rtnetlink's
/// answers (the first part of a dump included) before sendmsg returns, and builds the next
/// part of a dump inside the recvmsg that asks for it, so that wait is normally nil.
/// A failure other than "would block" is kept (`last_error`): netlink-proto only logs it and
/// closes the connection, and the caller should still learn which errno it was.
pub struct PlainSocket {
    sock: Socket,
    last_error: Rc<Cell<i32>>,
}

impl PlainSocket {
    fn ready<T>(&self, r: std::io::Result<T>) -> Poll<std::io::Result<T>> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Poll::Pending,
            Err(e) => {
                self.last_error.set(e.raw_os_error().unwrap_or(0));
                Poll::Ready(Err(e))
            }
            r => Poll::Ready(r),
        }
    }
}

impl AsyncSocket for PlainSocket {
    fn socket_ref(&self) -> &Socket {
        &self.sock
    }

    fn socket_mut(&mut self) -> &mut Socket {
        &mut self.sock
    }

    fn new(protocol: isize) -> std::io::Result<Self> {
        let sock = Socket::new(protocol)?;
        sock.set_non_blocking(true)?;
        Ok(PlainSocket { sock, last_error: Rc::new(Cell::new(0)) })
    }

    fn poll_send(&self, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.ready(self.sock.send(buf, 0))
    }

    fn poll_send_to(&self, _cx: &mut Context<'_>, buf: &[u8], addr: &SocketAddr) -> Poll<std::io::Result<usize>> {
        self.ready(self.sock.send_to(buf, addr, 0))
    }

    fn poll_recv<B: bytes::BufMut>(&self, _cx: &mut Context<'_>, buf: &mut B) -> Poll<std::io::Result<()>> {
        self.ready(self.sock.recv(buf, 0).map(|_| ()))
    }

    fn poll_recv_from<B: bytes::BufMut>(
        &self,
        _cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<std::io::Result<SocketAddr>> {
        self.ready(self.sock.recv_from(buf, 0).map(|(_, a)| a))
    }

    fn poll_recv_from_full(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<(Vec<u8>, SocketAddr)>> {
        self.ready(self.sock.recv_from_full())
    }
}

/// A link as the kernel reports it, reduced to what teqlctl reasons about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub flags: u32,
    pub mtu: u32,
    /// rtnl_link_ops kind (veth, gretap, ...); None for devices without one (teqlN, most NICs).
    pub kind: Option<String>,
    /// ARPHRD_* type; teql masters are ARPHRD_VOID.
    pub link_type: u16,
    /// IFLA_QDISC: the kind of the root qdisc (noqueue, teql0, htb, ...).
    pub qdisc: Option<String>,
    /// IFLA_STATS64: what the link has sent and received since it was created.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// IFLA_ADDRESS: the hardware address (empty for point-to-point links and teqlN).
    pub mac: Vec<u8>,
    /// The outer side of an IPv4 tunnel (gre, gretap, erspan, ipip, sit); None for others.
    pub tunnel: Option<Tunnel>,
}

/// Where a packet of this box to one address goes: the interface and the next hop (None: the
/// address is on that interface's link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OuterPath {
    pub oif: u32,
    pub gateway: Option<Ipv4Addr>,
}

/// What a tunnel's packets look like outside: IFLA_GRE_* / IFLA_IPTUN_* as the kernel has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunnel {
    /// The outer source address (`local`); None: any address of the box.
    pub local: Option<Ipv4Addr>,
    /// The far end (`remote`); None: the tunnel takes packets from anyone.
    pub remote: Option<Ipv4Addr>,
    /// IFLA_GRE_LINK / IFLA_IPTUN_LINK: the device the outer packets are bound to (0: none).
    pub link: u32,
    /// The bytes the tunnel adds to each packet: the outer IPv4 header, and GRE's header with
    /// its optional key, checksum and sequence number.
    pub overhead: u32,
}

/// IFF_* bits used in plans and status. Kept as plain u32 so plans are easy to build in tests.
pub const IFF_UP: u32 = 1 << 0;
pub const IFF_BROADCAST: u32 = 1 << 1;
pub const IFF_LOOPBACK: u32 = 1 << 3;
pub const IFF_POINTOPOINT: u32 = 1 << 4;
pub const IFF_RUNNING: u32 = 1 << 6;
pub const IFF_NOARP: u32 = 1 << 7;
pub const IFF_MULTICAST: u32 = 1 << 12;
pub const IFF_LOWER_UP: u32 = 1 << 16;
pub const ARPHRD_VOID: u16 = 0xFFFF;

/// A root qdisc. `handle` is the full 32-bit handle; the kernel's defaults have major 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub ifindex: u32,
    pub kind: String,
    pub handle: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ifindex: u32,
    pub addr: Ipv4Addr,
    /// The prefix length of the subnet, or of the peer on a point-to-point address.
    pub prefix_len: u8,
    /// The other end of a point-to-point address (`ip addr add A peer P`: IFA_ADDRESS differs
    /// from IFA_LOCAL), on a ppp device or on an Ethernet-like one alike.
    pub peer: Option<Ipv4Addr>,
}

/// An IPv4 default route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub metric: u32,
    pub onlink: bool,
    /// True for multipath routes, which we never rewrite, only restore verbatim.
    pub multipath: bool,
    /// The message as dumped, so that a rollback can put back exactly what was there.
    pub raw: RouteMessage,
}

/// The routing protocol number (RTPROT_*, `ip route ... proto 200`) that marks the routes and
/// nexthop objects teqlctl installs, so that it can tell them from the admin's and from a DHCP
/// client's (`ip route show proto 200`). 200 is in no list checked: the kernel's rtnetlink.h
/// (0-4, 8-18, 42, 84 OVN since 6.15, 99, 186-189, 192), iproute2 6.1's rt_protos (the same
/// without 84), FRR's zebra (adds 190, 191, 193-198). The kernel does not interpret values
/// >= RTPROT_STATIC (4). Routes and nexthops only: rules carry no protocol here (see `Rule`).
pub const RTPROT_TEQLCTL: u8 = 200;

/// The main routing table.
pub const MAIN_TABLE: u32 = 254;

/// An IPv4 policy rule (ip rule). Only the selectors teqlctl uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    pub src: Option<(Ipv4Addr, u8)>,
    /// (mark, mask)
    pub fwmark: Option<(u32, u32)>,
    pub table: u32,
}

/// A route in any table (ip route ... table T). Its Default is written out below (Ipv4Addr has
/// none): table 0, dst 0.0.0.0/0, everything else empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRoute {
    pub table: u32,
    pub dst: Ipv4Addr,
    pub dst_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub prefsrc: Option<Ipv4Addr>,
    /// scope link (a connected subnet) rather than universe
    pub scope_link: bool,
    pub onlink: bool,
    pub metric: u32,
    /// a nexthop object (ip route ... nhid N). A dumped route with one has gateway, oif, onlink
    /// and multipath left empty: the kernel repeats the object's hops there (nexthop_compat_mode),
    /// and they are the object's, not the route's.
    pub nhid: Option<u32>,
    /// RTA_MULTIPATH: (gateway, oif, weight 1..=256) per hop (the fallback without nexthop
    /// objects). `onlink` applies to every hop; a dumped route is onlink if every hop is.
    pub multipath: Vec<(Option<Ipv4Addr>, u32, u16)>,
    /// RTPROT_*: [`RTPROT_TEQLCTL`] for teqlctl's own; sent as is (0 is RTPROT_UNSPEC). In
    /// `del_route`, 0 deletes whatever protocol installed the route, any other value only a
    /// route of that protocol.
    pub protocol: u8,
}

impl Default for TableRoute {
    fn default() -> Self {
        TableRoute {
            table: 0,
            dst: Ipv4Addr::UNSPECIFIED,
            dst_len: 0,
            gateway: None,
            oif: None,
            prefsrc: None,
            scope_link: false,
            onlink: false,
            metric: 0,
            nhid: None,
            multipath: Vec::new(),
            protocol: 0,
        }
    }
}

/// A nexthop object (ip nexthop): a single hop or a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nexthop {
    pub id: u32,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub onlink: bool,
    /// group members (id, weight 1..=256); empty for a single hop
    pub group: Vec<(u32, u16)>,
    /// Some(buckets) for a resilient group (type resilient buckets N), None for a plain (mpath) group
    pub resilient: Option<u16>,
    pub protocol: u8,
}

/// Whether this kernel has resilient nexthop groups: they came with Linux 5.13 (kernel doc
/// "nexthop-group-resilient"), so this is uname's release >= 5.13. A distribution kernel that
/// backported them answers false, and teqlctl then uses plain groups.
pub fn kernel_has_resilient_groups() -> bool {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    // SAFETY: release is NUL-terminated by uname (and zeroed before).
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    nexthop::release_at_least(&release.to_string_lossy(), 5, 13)
}

/// Waits until `fd` is readable, or fails with ETIMEDOUT once `deadline` has passed.
fn wait_readable(fd: RawFd, deadline: Instant) -> Result<(), NlError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NlError { errno: libc::ETIMEDOUT });
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => continue, // re-check the deadline
            r if r > 0 => return Ok(()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(NlError { errno: e.raw_os_error().unwrap_or(0) });
                }
            }
        }
    }
}

pub struct Netlink {
    conn: Pin<Box<dyn Future<Output = ()>>>,
    /// The connection's socket, for poll(2) while an answer is awaited.
    fd: RawFd,
    /// The socket's last failure (see [`PlainSocket`]).
    last_error: Rc<Cell<i32>>,
    /// How long a request may wait for its answer: [`TIMEOUT`] (tests shorten it).
    timeout: Duration,
    handle: rtnetlink::Handle,
    /// The socket for nexthop objects, which rtnetlink cannot express; opened on first use.
    raw: Option<nexthop::RawSocket>,
}

impl Netlink {
    pub fn open() -> Result<Netlink, NlError> {
        let (mut conn, handle, _) = rtnetlink::new_connection_with_socket::<PlainSocket>()
            .map_err(|e| NlError { errno: e.raw_os_error().unwrap_or(0) })?;
        let fd = conn.socket_mut().sock.as_raw_fd();
        let last_error = Rc::clone(&conn.socket_mut().last_error);
        Ok(Netlink { conn: Box::pin(conn), fd, last_error, timeout: TIMEOUT, handle, raw: None })
    }

    /// The connection ended: its socket's errno when it had one.
    fn transport_error(&self) -> NlError {
        NlError { errno: self.last_error.get() }
    }

    /// Runs `fut` to completion while polling the connection, on this thread. Whenever neither
    /// can go on, waits for the socket to become readable, for `timeout` at most: a bound on
    /// the kernel's silence, not on the whole exchange (a long dump under emulation takes
    /// seconds of reading, none of it waiting).
    fn block<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, NlError> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let fut = pin!(fut);
        let mut both = select(&mut self.conn, fut);
        loop {
            match Pin::new(&mut both).poll(&mut cx) {
                Poll::Ready(Either::Right((v, _))) => return Ok(v),
                // The connection future only ends when its socket fails.
                Poll::Ready(Either::Left(((), _))) => return Err(NlError { errno: self.last_error.get() }),
                Poll::Pending => wait_readable(self.fd, Instant::now() + self.timeout)?,
            }
        }
    }

    /// Sends one request and collects every answer (dumps answer with many messages).
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        self.request_flags(msg, NLM_F_REQUEST | flags)
    }

    /// `request` with the header's flags as given (a test sends one the kernel never answers).
    fn request_flags(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = flags;
        let mut stream = self.handle.request(req).map_err(|_| self.transport_error())?;
        self.block(async move {
            let mut out = Vec::new();
            while let Some(m) = stream.next().await {
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    NetlinkPayload::Error(e) => {
                        if let Some(code) = e.code {
                            return Err(NlError { errno: -code.get() });
                        }
                    }
                    _ => {}
                }
            }
            Ok(out)
        })?
    }

    fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), NlError> {
        self.request(msg, NLM_F_ACK | flags).map(|_| ())
    }

    pub fn links(&mut self) -> Result<Vec<Link>, NlError> {
        let msgs = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect())
    }

    /// Root qdiscs of every interface (children of classful qdiscs and ingress are skipped).
    pub(crate) fn root_qdiscs(&mut self) -> Result<Vec<Qdisc>, NlError> {
        let msgs = self.request(RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q) if q.header.parent == TcHandle::ROOT => {
                    let kind = q.attributes.iter().find_map(|a| match a {
                        TcAttribute::Kind(k) => Some(k.clone()),
                        _ => None,
                    })?;
                    Some(Qdisc { ifindex: q.header.index as u32, kind, handle: q.header.handle.into() })
                }
                _ => None,
            })
            .collect())
    }

    pub fn addresses(&mut self) -> Result<Vec<Address>, NlError> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetAddress(req), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    let addr = a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Local(IpAddr::V4(v)) => Some(*v),
                        _ => None,
                    })?;
                    let peer = a
                        .attributes
                        .iter()
                        .find_map(|x| match x {
                            AddressAttribute::Address(IpAddr::V4(v)) => Some(*v),
                            _ => None,
                        })
                        .filter(|p| *p != addr);
                    Some(Address { ifindex: a.header.index, addr, prefix_len: a.header.prefix_len, peer })
                }
                _ => None,
            })
            .collect())
    }

    /// The main table from one dump of the IPv4 routes (the kernel sends every table's): its
    /// default routes, and its other unicast routes (those through a bundle among them).
    pub(crate) fn main_routes(&mut self) -> Result<(Vec<Route>, Vec<TableRoute>), NlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        let (mut defaults, mut others) = (Vec::new(), Vec::new());
        for m in msgs {
            let RouteNetlinkMessage::NewRoute(r) = m else { continue };
            if r.header.destination_prefix_length == 0 {
                defaults.extend(route_from(r));
            } else {
                others.extend(table_route_from(&r).filter(|t| t.table == MAIN_TABLE));
            }
        }
        Ok((defaults, others))
    }

    /// `ip route get DST from SRC [oif OIF]`: how the kernel sends a packet of this box from
    /// `src` to `dst`, policy rules included (how a tunnel's outer packets leave).
    pub(crate) fn route_get(&mut self, src: Ipv4Addr, dst: Ipv4Addr, oif: u32) -> Result<OuterPath, NlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        req.header.destination_prefix_length = 32;
        req.header.source_prefix_length = 32;
        req.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        req.attributes.push(RouteAttribute::Source(RouteAddress::Inet(src)));
        if oif != 0 {
            req.attributes.push(RouteAttribute::Oif(oif));
        }
        let msgs = self.request(RouteNetlinkMessage::GetRoute(req), 0)?;
        let route = msgs.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        });
        let mut path = OuterPath::default();
        for a in route.iter().flat_map(|r| r.attributes.iter()) {
            match a {
                RouteAttribute::Oif(o) => path.oif = *o,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => path.gateway = Some(*g),
                _ => {}
            }
        }
        if path.oif == 0 {
            return Err(NlError { errno: nix::errno::Errno::ENOENT as i32 });
        }
        Ok(path)
    }

    pub(crate) fn set_up(&mut self, index: u32, up: bool) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    pub(crate) fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    fn address_msg(index: u32, addr: Ipv4Addr, prefix_len: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = index;
        m.header.prefix_len = prefix_len;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(addr)));
        m
    }

    pub(crate) fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Result<(), NlError> {
        let m = Self::address_msg(index, addr, prefix_len);
        self.change(RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub(crate) fn del_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Result<(), NlError> {
        let m = Self::address_msg(index, addr, prefix_len);
        self.change(RouteNetlinkMessage::DelAddress(m), 0)
    }

    /// `tc qdisc add|replace dev IFACE root KIND`. Without `replace`, an existing root qdisc
    /// makes the kernel answer EEXIST instead of silently swapping out the admin's.
    pub(crate) fn attach_root_qdisc(&mut self, index: u32, kind: &str, replace: bool) -> Result<(), NlError> {
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        m.attributes.push(TcAttribute::Kind(kind.to_string()));
        let flags = if replace { NLM_F_CREATE | NLM_F_REPLACE } else { NLM_F_CREATE | NLM_F_EXCL };
        self.change(RouteNetlinkMessage::NewQueueDiscipline(m), flags)
    }

    /// `tc qdisc del dev IFACE root`: the kernel puts its default qdisc back.
    pub(crate) fn delete_root_qdisc(&mut self, index: u32) -> Result<(), NlError> {
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        self.change(RouteNetlinkMessage::DelQueueDiscipline(m), 0)
    }

    /// `ip route replace default via GW dev IFACE onlink [metric M]` in the main table.
    pub(crate) fn replace_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> Result<(), NlError> {
        let m = default_route_msg(oif, via, metric);
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)
    }

    /// `ip route del default via GW dev IFACE [metric M]` (rollback of the above).
    pub(crate) fn delete_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> Result<(), NlError> {
        let m = default_route_msg(oif, via, metric);
        self.change(RouteNetlinkMessage::DelRoute(m), 0)
    }

    /// Puts back a route exactly as it was dumped (rollback).
    pub(crate) fn restore_route(&mut self, route: &Route) -> Result<(), NlError> {
        let mut m = route.raw.clone();
        // Attributes that only make sense in a dump; the kernel rejects some of them on input.
        m.attributes.retain(|a| !matches!(a, RouteAttribute::CacheInfo(_) | RouteAttribute::Expires(_)));
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)
    }
    /// Every IPv4 policy rule that [`Rule`] can express: action `lookup` (to a table), with no
    /// selector but `from`, `fwmark` and the priority. Others (iif, oif, to, not, goto,
    /// blackhole, uidrange, ...) are left out.
    pub fn rules(&mut self) -> Result<Vec<Rule>, NlError> {
        let mut req = RuleMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetRule(req), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(r) => rule_from(&r),
                _ => None,
            })
            .collect())
    }

    /// `ip rule add [from A/N] [fwmark M/K] lookup T priority P`; EEXIST if the same rule is there.
    pub fn add_rule(&mut self, r: &Rule) -> Result<(), NlError> {
        self.change(RouteNetlinkMessage::NewRule(rule_msg(r)), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip rule del ...` of exactly that rule; ENOENT if there is none.
    pub fn del_rule(&mut self, r: &Rule) -> Result<(), NlError> {
        self.change(RouteNetlinkMessage::DelRule(rule_msg(r)), 0)
    }

    /// Every IPv4 unicast route of `table` (`ip route show table T`; other route types, such as
    /// blackhole or the local table's local and broadcast, are left out).
    pub fn table_routes(&mut self, table: u32) -> Result<Vec<TableRoute>, NlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => table_route_from(&r).filter(|t| t.table == table),
                _ => None,
            })
            .collect())
    }

    /// `ip route replace ...`: creates the route or replaces the one with the same table,
    /// destination and metric.
    pub fn replace_route(&mut self, r: &TableRoute) -> Result<(), NlError> {
        let m = table_route_msg(r, false)?;
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)
    }

    /// `ip route del ...`: the route with that table, destination, metric and, when given,
    /// gateway, device, nexthop object, source and protocol; ESRCH if there is none.
    pub fn del_route(&mut self, r: &TableRoute) -> Result<(), NlError> {
        let m = table_route_msg(r, true)?;
        self.change(RouteNetlinkMessage::DelRoute(m), 0)
    }

    fn raw(&mut self) -> Result<&mut nexthop::RawSocket, NlError> {
        if self.raw.is_none() {
            self.raw = Some(nexthop::RawSocket::open()?);
        }
        // Just set if it was not.
        self.raw.as_mut().ok_or(NlError { errno: 0 })
    }

    /// Every nexthop object (`ip nexthop show`), IPv4 hops and groups; empty on a kernel
    /// without nexthop objects (before 5.3: EOPNOTSUPP).
    pub fn nexthops(&mut self) -> Result<Vec<Nexthop>, NlError> {
        match self.raw()?.dump() {
            Err(NlError { errno: libc::EOPNOTSUPP }) => Ok(Vec::new()),
            r => r,
        }
    }

    /// `ip nexthop replace id N ...`: creates the object or replaces it (a group's members may
    /// change; a resilient group keeps its bucket count, the kernel refuses another one).
    pub fn replace_nexthop(&mut self, n: &Nexthop) -> Result<(), NlError> {
        self.raw()?.change(|seq| nexthop::encode_new(n, nexthop::NLM_F_CREATE | nexthop::NLM_F_REPLACE, seq))
    }

    /// `ip nexthop del id N`; ENOENT if there is none. The kernel never refuses it as busy: the
    /// routes that use the object are deleted with it, and a group member leaves its groups.
    pub fn del_nexthop(&mut self, id: u32) -> Result<(), NlError> {
        self.raw()?.change(|seq| Ok(nexthop::encode_del(id, seq)))
    }
}

/// The table of a rule or route header: the 8-bit field, or the 32-bit attribute when the
/// table is above 255 (the header then says RT_TABLE_COMPAT, 252) or when given anyway.
fn header_table(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RT_TABLE_COMPAT)
}

const RT_TABLE_COMPAT: u8 = 252;

fn rule_msg(r: &Rule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.table = header_table(r.table);
    m.header.action = RuleAction::ToTable;
    m.attributes.push(RuleAttribute::Table(r.table));
    m.attributes.push(RuleAttribute::Priority(r.priority));
    if let Some((addr, len)) = r.src {
        m.header.src_len = len;
        m.attributes.push(RuleAttribute::Source(IpAddr::V4(addr)));
    }
    if let Some((mark, mask)) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(mark));
        m.attributes.push(RuleAttribute::FwMask(mask));
    }
    m
}

fn rule_from(m: &RuleMessage) -> Option<Rule> {
    let h = &m.header;
    if h.family != AddressFamily::Inet
        || h.action != RuleAction::ToTable
        || h.dst_len != 0
        || h.tos != 0
        || !h.flags.is_empty()
    {
        return None;
    }
    let mut rule = Rule { priority: 0, src: None, fwmark: None, table: u32::from(h.table) };
    let (mut mark, mut mask) = (None, None);
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => rule.priority = *p,
            RuleAttribute::Table(t) => rule.table = *t,
            RuleAttribute::Source(IpAddr::V4(s)) if h.src_len > 0 => rule.src = Some((*s, h.src_len)),
            RuleAttribute::FwMark(v) => mark = Some(*v),
            RuleAttribute::FwMask(v) => mask = Some(*v),
            // Kernel-reported details that select nothing.
            RuleAttribute::Protocol(_) | RuleAttribute::SuppressPrefixLen(_) | RuleAttribute::SuppressIfGroup(_) => {}
            RuleAttribute::Other(_) => {}
            // Any other selector: not a rule teqlctl can express.
            _ => return None,
        }
    }
    // The kernel reports the mask whenever mark or mask is set, and the mark only when non-zero.
    if mark.is_some() || mask.is_some() {
        rule.fwmark = Some((mark.unwrap_or(0), mask.unwrap_or(u32::MAX)));
    }
    Some(rule)
}

fn table_route_msg(r: &TableRoute, delete: bool) -> Result<RouteMessage, NlError> {
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: r.dst_len,
        table: header_table(r.table),
        protocol: RouteProtocol::from(r.protocol),
        ..RouteHeader::default()
    };
    if delete {
        // As iproute2: any scope and type; the protocol only if given.
        m.header.scope = RouteScope::NoWhere;
        m.header.kind = RouteType::Unspec;
    } else {
        m.header.scope = if r.scope_link { RouteScope::Link } else { RouteScope::Universe };
        m.header.kind = RouteType::Unicast;
    }
    if r.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    m.attributes.push(RouteAttribute::Table(r.table));
    if r.dst_len > 0 {
        m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(r.dst)));
    }
    if let Some(g) = r.gateway {
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(g)));
    }
    if let Some(o) = r.oif {
        m.attributes.push(RouteAttribute::Oif(o));
    }
    if let Some(s) = r.prefsrc {
        m.attributes.push(RouteAttribute::PrefSource(RouteAddress::Inet(s)));
    }
    if r.metric != 0 {
        m.attributes.push(RouteAttribute::Priority(r.metric));
    }
    if let Some(id) = r.nhid {
        m.attributes.push(RouteAttribute::NhId(id));
    }
    if !r.multipath.is_empty() {
        let mut hops = Vec::with_capacity(r.multipath.len());
        for &(gw, oif, weight) in &r.multipath {
            if !(1..=256).contains(&weight) {
                return Err(NlError { errno: libc::EINVAL });
            }
            let mut hop = RouteNextHop::default();
            hop.flags = if r.onlink { RouteNextHopFlags::Onlink } else { RouteNextHopFlags::empty() };
            hop.hops = (weight - 1) as u8;
            hop.interface_index = oif;
            if let Some(g) = gw {
                hop.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(g)));
            }
            hops.push(hop);
        }
        m.attributes.push(RouteAttribute::MultiPath(hops));
    }
    Ok(m)
}

fn table_route_from(m: &RouteMessage) -> Option<TableRoute> {
    let h = &m.header;
    if h.address_family != AddressFamily::Inet || h.kind != RouteType::Unicast {
        return None;
    }
    let mut r = TableRoute {
        table: u32::from(h.table),
        dst_len: h.destination_prefix_length,
        dst: Ipv4Addr::UNSPECIFIED,
        scope_link: h.scope == RouteScope::Link,
        onlink: h.flags.contains(RouteFlags::Onlink),
        protocol: u8::from(h.protocol),
        ..TableRoute::default()
    };
    let mut all_hops_onlink = true;
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => r.table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => r.dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => r.gateway = Some(*g),
            RouteAttribute::Oif(o) => r.oif = Some(*o),
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => r.prefsrc = Some(*s),
            RouteAttribute::Priority(p) => r.metric = *p,
            RouteAttribute::NhId(id) => r.nhid = Some(*id),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    let gw = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                        _ => None,
                    });
                    all_hops_onlink &= hop.flags.contains(RouteNextHopFlags::Onlink);
                    r.multipath.push((gw, hop.interface_index, u16::from(hop.hops) + 1));
                }
            }
            _ => {}
        }
    }
    if !r.multipath.is_empty() {
        r.onlink = all_hops_onlink;
    }
    if r.nhid.is_some() {
        // The object's hops, repeated by the kernel in compat mode: not the route's own.
        r.gateway = None;
        r.oif = None;
        r.onlink = false;
        r.multipath.clear();
    }
    Some(r)
}

fn default_route_msg(oif: u32, via: Ipv4Addr, metric: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: AddressFamily::Inet,
        table: RouteHeader::RT_TABLE_MAIN,
        protocol: RouteProtocol::Boot,
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        // The gateway shares no subnet with teqlN's address in the classic setup; every
        // router answers for it on its own line.
        flags: RouteFlags::Onlink,
        ..RouteHeader::default()
    };
    m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(via)));
    m.attributes.push(RouteAttribute::Oif(oif));
    if metric != 0 {
        m.attributes.push(RouteAttribute::Priority(metric));
    }
    m
}

fn link_from(l: LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        flags: l.header.flags.bits(),
        link_type: u16::from(l.header.link_layer_type),
        ..Link::default()
    };
    if l.header.link_layer_type == LinkLayerType::Void {
        link.link_type = ARPHRD_VOID;
    }
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::Qdisc(q) => link.qdisc = Some(q),
            LinkAttribute::Address(a) => link.mac = a,
            LinkAttribute::Stats64(s) => {
                link.tx_packets = s.tx_packets;
                link.tx_bytes = s.tx_bytes;
                link.rx_packets = s.rx_packets;
                link.rx_bytes = s.rx_bytes;
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                        LinkInfo::Data(d) => link.tunnel = tunnel_from(&d),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// The outer side of an IPv4 tunnel from its IFLA_INFO_DATA; None for other kinds of link.
fn tunnel_from(d: &InfoData) -> Option<Tunnel> {
    const OUTER_IPV4: u32 = 20;
    let mut t = Tunnel::default();
    match d {
        InfoData::GreTun(a) | InfoData::GreTap(a) | InfoData::ErSpan(a) => {
            // GRE's own header is 4 bytes, plus 4 for each of key, checksum and sequence.
            let mut gre = 4;
            for x in a {
                match x {
                    InfoGre::Local(v) if !v.is_unspecified() => t.local = Some(*v),
                    InfoGre::Remote(v) if !v.is_unspecified() => t.remote = Some(*v),
                    InfoGre::Link(l) => t.link = *l,
                    InfoGre::OFlags(f) => {
                        for bit in [GreIOFlags::Key, GreIOFlags::Checksum, GreIOFlags::Seq] {
                            if f.contains(bit) {
                                gre += 4;
                            }
                        }
                    }
                    _ => {}
                }
            }
            t.overhead = OUTER_IPV4 + gre;
        }
        InfoData::IpTunnel(a) => {
            for x in a {
                match x {
                    InfoIpTunnel::Local(IpAddr::V4(v)) if !v.is_unspecified() => t.local = Some(*v),
                    InfoIpTunnel::Remote(IpAddr::V4(v)) if !v.is_unspecified() => t.remote = Some(*v),
                    InfoIpTunnel::Link(l) => t.link = *l,
                    _ => {}
                }
            }
            t.overhead = OUTER_IPV4;
        }
        _ => return None,
    }
    Some(t)
}

/// A main-table default route as a dump gives it, from its `TableRoute` form: for a kernel
/// kept in memory (kernel::MemKernel), whose dumps must look like the real one's. None for a
/// route that is not a main-table default route.
pub(crate) fn default_route_of(t: &TableRoute) -> Option<Route> {
    table_route_msg(t, false).ok().and_then(route_from)
}

/// A dumped default route in its `TableRoute` form (None: `raw` is not a unicast IPv4 route).
pub(crate) fn table_route_of(r: &Route) -> Option<TableRoute> {
    table_route_from(&r.raw)
}

/// The route `replace_default_route(oif, via, metric)` installs, as `table_routes` dumps it.
pub(crate) fn installed_default_route(oif: u32, via: Ipv4Addr, metric: u32) -> TableRoute {
    table_route_from(&default_route_msg(oif, via, metric)).unwrap_or_default()
}

fn route_from(r: RouteMessage) -> Option<Route> {
    let h = &r.header;
    if h.address_family != AddressFamily::Inet || h.destination_prefix_length != 0 || h.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(h.table);
    let mut route = Route {
        gateway: None,
        oif: None,
        metric: 0,
        onlink: h.flags.contains(RouteFlags::Onlink),
        multipath: false,
        raw: r.clone(),
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => route.gateway = Some(*g),
            RouteAttribute::Oif(o) => route.oif = Some(*o),
            RouteAttribute::Priority(p) => route.metric = *p,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::MultiPath(_) => route.multipath = true,
            _ => {}
        }
    }
    (table == u32::from(RouteHeader::RT_TABLE_MAIN)).then_some(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::NLM_F_ECHO;

    /// This thread's CPU time.
    fn thread_cpu() -> Duration {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    // These three use a real kernel socket (no privilege needed: they only read, or send what
    // the kernel ignores); where netlink is not allowed at all they have nothing to test.

    #[test]
    fn a_request_is_answered_through_the_poll_loop() {
        let Ok(mut nl) = Netlink::open() else { return };
        let links = nl.links().unwrap();
        assert!(links.iter().any(|l| l.name == "lo"), "{links:?}");
        // Twice on one connection: the loop leaves the connection usable.
        assert_eq!(nl.links().unwrap().len(), links.len());
    }

    #[test]
    fn a_request_the_kernel_never_answers_times_out_without_spinning() {
        let Ok(mut nl) = Netlink::open() else { return };
        nl.timeout = Duration::from_millis(400);
        // Without NLM_F_REQUEST (and NLM_F_ACK) the kernel drops a message unanswered; with
        // NLM_F_ECHO netlink-proto still awaits an answer.
        let started = Instant::now();
        let cpu = thread_cpu();
        let r = nl.request_flags(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_ECHO);
        let (elapsed, spent) = (started.elapsed(), thread_cpu() - cpu);
        assert_eq!(r, Err(NlError { errno: libc::ETIMEDOUT }));
        assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        // Waiting in poll(2), not re-polling: the old loop spent the whole wait on the CPU.
        assert!(spent < elapsed / 4, "{spent:?} of CPU in {elapsed:?}");
        assert_eq!(r.unwrap_err().to_string(), format!("no answer from the kernel within {} s", TIMEOUT.as_secs()));
    }

    #[test]
    fn a_failing_socket_keeps_its_errno() {
        let Ok(mut nl) = Netlink::open() else { return };
        // The connection's descriptor now names /dev/null: every send and receive fails with
        // ENOTSOCK, which the error must carry, not "netlink connection failed".
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: both descriptors are open; the socket's number is reused for /dev/null.
        assert!(unsafe { libc::dup2(null.as_raw_fd(), nl.fd) } >= 0);
        let r = nl.links();
        assert_eq!(r, Err(NlError { errno: libc::ENOTSOCK }));
        assert_eq!(r.unwrap_err().to_string(), std::io::Error::from_raw_os_error(libc::ENOTSOCK).to_string());
    }

    fn route_round_trip(r: &TableRoute) -> Option<TableRoute> {
        let m = table_route_msg(r, false).unwrap();
        table_route_from(&m)
    }

    #[test]
    fn table_routes_round_trip_through_messages() {
        let connected = TableRoute {
            table: 4200,
            dst: Ipv4Addr::new(198, 51, 100, 0),
            dst_len: 24,
            oif: Some(3),
            prefsrc: Some(Ipv4Addr::new(198, 51, 100, 10)),
            scope_link: true,
            protocol: RTPROT_TEQLCTL,
            ..TableRoute::default()
        };
        let m = table_route_msg(&connected, false).unwrap();
        // Tables above 255 only fit the attribute; the header says RT_TABLE_COMPAT.
        assert_eq!(m.header.table, RT_TABLE_COMPAT);
        assert_eq!(route_round_trip(&connected), Some(connected));
        let multipath = TableRoute {
            table: 100,
            multipath: vec![(Some(Ipv4Addr::new(192, 0, 2, 1)), 3, 2), (None, 4, 256)],
            onlink: true,
            metric: 10,
            ..TableRoute::default()
        };
        assert_eq!(table_route_msg(&multipath, false).unwrap().header.table, 100);
        assert_eq!(route_round_trip(&multipath), Some(multipath));
        let bad = TableRoute { multipath: vec![(None, 4, 0)], ..TableRoute::default() };
        assert_eq!(table_route_msg(&bad, false).err(), Some(NlError { errno: libc::EINVAL }));
    }

    #[test]
    fn a_route_with_a_nexthop_object_hides_the_objects_hops() {
        let mut m =
            table_route_msg(&TableRoute { table: 254, nhid: Some(10), ..TableRoute::default() }, false).unwrap();
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 1))));
        m.attributes.push(RouteAttribute::Oif(3));
        assert_eq!(table_route_from(&m), Some(TableRoute { table: 254, nhid: Some(10), ..TableRoute::default() }));
    }

    #[test]
    fn rules_round_trip_and_unknown_selectors_are_left_out() {
        let r = Rule { priority: 30100, src: Some((Ipv4Addr::new(198, 51, 100, 10), 32)), fwmark: None, table: 4200 };
        let m = rule_msg(&r);
        assert_eq!(m.header.action, RuleAction::ToTable);
        assert_eq!(m.header.table, RT_TABLE_COMPAT);
        assert_eq!(rule_from(&m), Some(r.clone()));
        let f = Rule { priority: 30200, src: None, fwmark: Some((0x2, 0xff)), table: 201 };
        assert_eq!(rule_from(&rule_msg(&f)), Some(f));
        let mut iif = rule_msg(&r);
        iif.attributes.push(RuleAttribute::Iifname("eth0".into()));
        assert_eq!(rule_from(&iif), None);
        // The kernel reports a zero mark by its mask only.
        let mut zero = rule_msg(&Rule { fwmark: Some((0, 0xff)), ..r.clone() });
        zero.attributes.retain(|a| !matches!(a, RuleAttribute::FwMark(_)));
        assert_eq!(rule_from(&zero).and_then(|x| x.fwmark), Some((0, 0xff)));
    }
}
