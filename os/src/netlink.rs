//! Interface, address and route changes on Linux: a `NETLINK_ROUTE` socket subscribed to the link, address
//! and route groups (`RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
//! RTMGRP_IPV6_ROUTE`), and a pure parser of the messages it delivers.
//!
//! The socket belongs to the network namespace of the thread that opens it, like every socket.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `RTMGRP_LINK`: links appearing, disappearing, going up or down.
pub const RTMGRP_LINK: u32 = 0x1;
/// `RTMGRP_IPV4_IFADDR`: IPv4 addresses added or removed.
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
/// `RTMGRP_IPV6_IFADDR`: IPv6 addresses added or removed.
pub const RTMGRP_IPV6_IFADDR: u32 = 0x100;
/// `RTMGRP_IPV4_ROUTE`: IPv4 routes added or removed (a VPN coming up; the prefix route of a new address,
/// which the kernel installs just AFTER announcing the address — a connect in between fails).
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;
/// `RTMGRP_IPV6_ROUTE`: IPv6 routes added or removed.
pub const RTMGRP_IPV6_ROUTE: u32 = 0x400;

const NLMSG_HDR: usize = 16;
const NLMSG_OVERRUN: u16 = 4;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Link flags whose change means traffic may start or stop: `IFF_UP | IFF_RUNNING | IFF_LOWER_UP`.
const LINK_STATE_FLAGS: u32 = 0x1 | 0x40 | 0x1_0000;

/// One change the kernel reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An address was added to interface `index`.
    AddressAdded {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
    },
    /// An address was removed from interface `index`: connections bound to it are dead.
    AddressRemoved {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
    },
    /// A link appeared or its up/running state changed.
    Link {
        /// Interface index.
        index: u32,
        /// Whether it is up and running now.
        up: bool,
    },
    /// A link disappeared.
    LinkRemoved {
        /// Interface index.
        index: u32,
    },
    /// A route was added or removed: paths changed.
    Route,
    /// The kernel dropped messages (the socket buffer overflowed): something changed, details unknown.
    Overrun,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parse one datagram of netlink route messages. Malformed or unrelated messages are skipped; a truncated one
/// ends the parse. Never panics.
pub fn parse(datagram: &[u8]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDR <= datagram.len() {
        let (Some(len), Some(kind)) = (u32_at(datagram, at), u16_at(datagram, at + 4)) else {
            break;
        };
        let len = len as usize;
        if len < NLMSG_HDR || at + len > datagram.len() {
            break;
        }
        let body = &datagram[at + NLMSG_HDR..at + len];
        match kind {
            RTM_NEWLINK | RTM_DELLINK => out.extend(parse_link(kind, body)),
            RTM_NEWADDR | RTM_DELADDR => out.extend(parse_addr(kind, body)),
            RTM_NEWROUTE | RTM_DELROUTE => out.push(Change::Route),
            NLMSG_OVERRUN => out.push(Change::Overrun),
            _ => {}
        }
        at += align4(len);
    }
    out
}

/// `struct ifinfomsg`: family, pad, type (u16), index (i32), flags (u32), change (u32).
fn parse_link(kind: u16, body: &[u8]) -> Option<Change> {
    let index = u32_at(body, 4)?;
    let flags = u32_at(body, 8)?;
    let change = u32_at(body, 12)?;
    if kind == RTM_DELLINK {
        return Some(Change::LinkRemoved { index });
    }
    // Statistics and attribute updates come as RTM_NEWLINK too; only a state change (or a new link, whose
    // `change` is all ones) matters for connectivity.
    if change & LINK_STATE_FLAGS == 0 {
        return None;
    }
    let up = flags & 0x1 != 0 && flags & 0x40 != 0;
    Some(Change::Link { index, up })
}

/// `struct ifaddrmsg` (family, prefixlen, flags, scope: u8 each; index: u32) followed by attributes.
fn parse_addr(kind: u16, body: &[u8]) -> Option<Change> {
    let family = *body.first()?;
    let index = u32_at(body, 4)?;
    let (mut local, mut address) = (None, None);
    let mut at = 8;
    while at + 4 <= body.len() {
        let len = u16_at(body, at)? as usize;
        let ty = u16_at(body, at + 2)?;
        if len < 4 || at + len > body.len() {
            break;
        }
        let data = &body[at + 4..at + len];
        let ip = match (family, data.len()) {
            (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (AF_INET6, 16) => {
                let b: [u8; 16] = data.try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            }
            _ => None,
        };
        match ty {
            IFA_LOCAL => local = ip.or(local),
            IFA_ADDRESS => address = ip.or(address),
            _ => {}
        }
        at += align4(len);
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    let addr = local.or(address)?;
    Some(if kind == RTM_NEWADDR {
        Change::AddressAdded { index, addr }
    } else {
        Change::AddressRemoved { index, addr }
    })
}

/// Open a non-blocking route socket subscribed to link and address changes (Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn open() -> std::io::Result<rustix::fd::OwnedFd> {
    use rustix::net::netlink::SocketAddrNetlink;
    use rustix::net::{bind, socket_with, AddressFamily, SocketFlags, SocketType};
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None, // NETLINK_ROUTE
    )?;
    let groups = RTMGRP_LINK
        | RTMGRP_IPV4_IFADDR
        | RTMGRP_IPV6_IFADDR
        | RTMGRP_IPV4_ROUTE
        | RTMGRP_IPV6_ROUTE;
    bind(&fd, &SocketAddrNetlink::new(0, groups))?;
    Ok(fd)
}

/// Read every datagram waiting on the route socket and parse it. A receive-buffer overflow (`ENOBUFS`) is
/// reported as [`Change::Overrun`].
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn read_all(fd: rustix::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<Vec<Change>> {
    use rustix::io::Errno;
    use rustix::net::{recv, RecvFlags};
    let mut out = Vec::new();
    loop {
        match recv(fd, &mut *buf, RecvFlags::DONTWAIT) {
            Ok((0, _)) => return Ok(out),
            Ok((n, _)) => out.extend(parse(&buf[..n.min(buf.len())])),
            Err(Errno::AGAIN) => return Ok(out),
            Err(Errno::INTR) => {}
            Err(Errno::NOBUFS) => out.push(Change::Overrun),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, body: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDR + body.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn ifaddr(family: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![family, 24, 0, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        for a in attrs {
            b.extend_from_slice(a);
        }
        b
    }

    fn ifinfo(index: u32, flags: u32, change: u32) -> Vec<u8> {
        let mut b = vec![0, 0, 1, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&change.to_ne_bytes());
        b
    }

    #[test]
    fn netlink_parses_address_removed_and_added_v4_and_v6() {
        let mut d = msg(
            RTM_DELADDR,
            &ifaddr(
                AF_INET,
                3,
                &[
                    attr(IFA_ADDRESS, &[10, 0, 0, 9]),
                    attr(IFA_LOCAL, &[10, 0, 0, 2]),
                ],
            ),
        );
        let v6: Ipv6Addr = "fd00::5".parse().unwrap();
        d.extend(msg(
            RTM_NEWADDR,
            &ifaddr(AF_INET6, 4, &[attr(IFA_ADDRESS, &v6.octets())]),
        ));
        assert_eq!(
            parse(&d),
            vec![
                Change::AddressRemoved {
                    index: 3,
                    addr: "10.0.0.2".parse().unwrap()
                },
                Change::AddressAdded {
                    index: 4,
                    addr: IpAddr::V6(v6)
                },
            ]
        );
    }

    #[test]
    fn netlink_reports_link_state_changes_only() {
        let mut d = msg(RTM_NEWLINK, &ifinfo(2, 0x1 | 0x40, 0x1));
        d.extend(msg(RTM_NEWLINK, &ifinfo(2, 0x1 | 0x40, 0))); // statistics only
        d.extend(msg(RTM_NEWLINK, &ifinfo(2, 0x1000, 0x1000))); // promiscuous: irrelevant
        d.extend(msg(RTM_DELLINK, &ifinfo(7, 0, 0)));
        d.extend(msg(RTM_NEWROUTE, &[2, 24, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]));
        d.extend(msg(NLMSG_OVERRUN, &[]));
        assert_eq!(
            parse(&d),
            vec![
                Change::Link { index: 2, up: true },
                Change::LinkRemoved { index: 7 },
                Change::Route,
                Change::Overrun
            ]
        );
    }

    #[test]
    fn netlink_never_panics_on_truncated_or_garbage_input() {
        let good = msg(
            RTM_DELADDR,
            &ifaddr(AF_INET, 3, &[attr(IFA_LOCAL, &[10, 0, 0, 2])]),
        );
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let buf: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse(&buf);
        }
        // A bad attribute length inside a well-formed message.
        let bad = msg(RTM_NEWADDR, &[2, 24, 0, 0, 1, 0, 0, 0, 200, 0, 1, 0]);
        assert_eq!(parse(&bad), vec![]);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn netlink_socket_opens_and_reads_nothing_when_quiet() {
        use rustix::fd::AsFd;
        let fd = open().expect("route socket");
        let mut buf = vec![0u8; 8192];
        // Whatever the host is doing, reading never blocks and never fails.
        read_all(fd.as_fd(), &mut buf).expect("read");
    }
}
