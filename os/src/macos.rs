//! macOS: interface and address changes from a routing socket (`PF_ROUTE`), which delivers `RTM_NEWADDR`,
//! `RTM_DELADDR` and `RTM_IFINFO` messages. Kept small on purpose: it is not compiled on the Linux machines
//! this project is built and tested on (see the README). Memory-pressure notifications on macOS reach the
//! client through the application (`Client::memory_pressure`), which gets them from the OS.

use rustix::fd::{BorrowedFd, OwnedFd};

const RTM_NEWADDR: u8 = 0xc;
const RTM_DELADDR: u8 = 0xd;
const RTM_IFINFO: u8 = 0xe;

/// `true` when a routing message (`struct rt_msghdr`: length u16, version u8, type u8, …) reports an
/// address or interface change.
pub fn is_network_change(msg: &[u8]) -> bool {
    matches!(msg.get(3), Some(&(RTM_NEWADDR | RTM_DELADDR | RTM_IFINFO)))
}

/// Open a non-blocking routing socket.
pub fn open() -> std::io::Result<OwnedFd> {
    use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
    let fd = socket_with(
        AddressFamily::ROUTE,
        SocketType::RAW,
        SocketFlags::empty(),
        None,
    )?;
    rustix::io::ioctl_fionbio(&fd, true)?;
    Ok(fd)
}

/// Read every waiting message; `true` when any of them was a network change.
pub fn read_all(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut changed = false;
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Ok(changed),
            Ok(n) => changed |= is_network_change(&buf[..n]),
            Err(rustix::io::Errno::AGAIN) => return Ok(changed),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
