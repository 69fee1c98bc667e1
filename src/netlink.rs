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
//! rtnetlink answers a request while the request is being sent, so there is never anything to
//! wait for.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::{pin, Pin};

use futures::future::{select, Either};
use futures::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol,
    RouteScope, RouteType,
};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{AsyncSocket, Socket, SocketAddr};

/// A failed netlink exchange: the kernel's errno, or a transport failure (errno 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*.errno))]
pub struct NlError {
    /// Positive errno (EPERM = 1, ...), 0 when the socket itself failed.
    pub errno: i32,
}

fn describe(errno: i32) -> String {
    if errno == 0 {
        "netlink connection failed".to_string()
    } else {
        std::io::Error::from_raw_os_error(errno).to_string()
    }
}

/// A non-blocking netlink socket without a reactor, for the single-threaded `block` below.
///
/// "Would block" is answered with `Pending` after waking the task at once, so `block_on`
/// polls again instead of sleeping: the kernel queues rtnetlink's answers (the first part of
/// a dump included) before sendmsg returns, and builds the next part of a dump inside the
/// recvmsg that asks for it, so the only time nothing is queued is once the answer is
/// complete, and by then the request future has finished and `block` no longer polls.
pub struct PlainSocket(Socket);

impl PlainSocket {
    fn ready<T>(cx: &mut std::task::Context<'_>, r: std::io::Result<T>) -> std::task::Poll<std::io::Result<T>> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
            r => std::task::Poll::Ready(r),
        }
    }
}

impl AsyncSocket for PlainSocket {
    fn socket_ref(&self) -> &Socket {
        &self.0
    }

    fn socket_mut(&mut self) -> &mut Socket {
        &mut self.0
    }

    fn new(protocol: isize) -> std::io::Result<Self> {
        let socket = Socket::new(protocol)?;
        socket.set_non_blocking(true)?;
        Ok(PlainSocket(socket))
    }

    fn poll_send(&self, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        Self::ready(cx, self.0.send(buf, 0))
    }

    fn poll_send_to(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
        addr: &SocketAddr,
    ) -> std::task::Poll<std::io::Result<usize>> {
        Self::ready(cx, self.0.send_to(buf, addr, 0))
    }

    fn poll_recv<B: bytes::BufMut>(&self, cx: &mut std::task::Context<'_>, buf: &mut B) -> std::task::Poll<std::io::Result<()>> {
        Self::ready(cx, self.0.recv(buf, 0).map(|_| ()))
    }

    fn poll_recv_from<B: bytes::BufMut>(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut B,
    ) -> std::task::Poll<std::io::Result<SocketAddr>> {
        Self::ready(cx, self.0.recv_from(buf, 0).map(|(_, a)| a))
    }

    fn poll_recv_from_full(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<(Vec<u8>, SocketAddr)>> {
        Self::ready(cx, self.0.recv_from_full())
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
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// IFLA_ADDRESS: the hardware address (empty for point-to-point links and teqlN).
    pub mac: Vec<u8>,
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
    pub prefix_len: u8,
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

pub struct Netlink {
    conn: Pin<Box<dyn Future<Output = ()>>>,
    handle: rtnetlink::Handle,
}

impl Netlink {
    pub fn open() -> Result<Netlink, NlError> {
        let (conn, handle, _) = rtnetlink::new_connection_with_socket::<PlainSocket>()
            .map_err(|e| NlError { errno: e.raw_os_error().unwrap_or(0) })?;
        Ok(Netlink { conn: Box::pin(conn), handle })
    }

    /// Runs `fut` to completion while polling the connection, on this thread.
    fn block<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, NlError> {
        let fut = pin!(fut);
        match futures::executor::block_on(select(&mut self.conn, fut)) {
            Either::Right((v, _)) => Ok(v),
            // The connection future only ends when its socket fails.
            Either::Left(((), _)) => Err(NlError { errno: 0 }),
        }
    }

    /// Sends one request and collects every answer (dumps answer with many messages).
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        let mut stream = self.handle.request(req).map_err(|_| NlError { errno: 0 })?;
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
    pub fn root_qdiscs(&mut self) -> Result<Vec<Qdisc>, NlError> {
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
                    Some(Address { ifindex: a.header.index, addr, prefix_len: a.header.prefix_len })
                }
                _ => None,
            })
            .collect())
    }

    /// IPv4 default routes of the main table.
    pub fn default_routes(&mut self) -> Result<Vec<Route>, NlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_from(r),
                _ => None,
            })
            .collect())
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NlError> {
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

    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Result<(), NlError> {
        let m = Self::address_msg(index, addr, prefix_len);
        self.change(RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub fn del_address(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Result<(), NlError> {
        let m = Self::address_msg(index, addr, prefix_len);
        self.change(RouteNetlinkMessage::DelAddress(m), 0)
    }

    /// `tc qdisc add|replace dev IFACE root KIND`. Without `replace`, an existing root qdisc
    /// makes the kernel answer EEXIST instead of silently swapping out the admin's.
    pub fn attach_root_qdisc(&mut self, index: u32, kind: &str, replace: bool) -> Result<(), NlError> {
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        m.attributes.push(TcAttribute::Kind(kind.to_string()));
        let flags = if replace { NLM_F_CREATE | NLM_F_REPLACE } else { NLM_F_CREATE | NLM_F_EXCL };
        self.change(RouteNetlinkMessage::NewQueueDiscipline(m), flags)
    }

    /// `tc qdisc del dev IFACE root`: the kernel puts its default qdisc back.
    pub fn delete_root_qdisc(&mut self, index: u32) -> Result<(), NlError> {
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        self.change(RouteNetlinkMessage::DelQueueDiscipline(m), 0)
    }

    /// `ip route replace default via GW dev IFACE onlink [metric M]` in the main table.
    pub fn replace_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> Result<(), NlError> {
        let m = default_route_msg(oif, via, metric);
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)
    }

    /// `ip route del default via GW dev IFACE [metric M]` (rollback of the above).
    pub fn delete_default_route(&mut self, oif: u32, via: Ipv4Addr, metric: u32) -> Result<(), NlError> {
        let m = default_route_msg(oif, via, metric);
        self.change(RouteNetlinkMessage::DelRoute(m), 0)
    }

    /// Puts back a route exactly as it was dumped (rollback).
    pub fn restore_route(&mut self, route: &Route) -> Result<(), NlError> {
        let mut m = route.raw.clone();
        // Attributes that only make sense in a dump; the kernel rejects some of them on input.
        m.attributes.retain(|a| !matches!(a, RouteAttribute::CacheInfo(_) | RouteAttribute::Expires(_)));
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)
    }
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
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
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
