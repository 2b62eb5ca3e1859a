//! One readable file descriptor for every OS watcher, so a runtime registers a single source: on Linux an
//! epoll instance holding the route socket (readable on link and address changes) and the PSI trigger
//! (`POLLPRI` under memory pressure). An epoll descriptor is itself readable while any of its sources is ready.
//! [`OsWatcher::poll`] reads what is waiting, without blocking, and turns it into [`OsEvent`]s.

use core::net::IpAddr;
use std::io;

use plue_http_core::client::MemoryPressure;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

/// What the OS reported, ready to hand to the client machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsEvent {
    /// Interfaces or addresses changed; `gone` are local addresses that were removed (and not re-added in the
    /// same batch). See `ClientMachine::network_changed`.
    NetworkChanged {
        /// Removed local addresses.
        gone: Vec<IpAddr>,
    },
    /// The memory-pressure trigger fired. See `ClientMachine::memory_pressure`.
    MemoryPressure(MemoryPressure),
}

/// The OS watchers behind one pollable descriptor.
#[derive(Debug)]
pub struct OsWatcher {
    poll: OwnedFd,
    netlink: Option<OwnedFd>,
    psi: Option<OwnedFd>,
    buf: Vec<u8>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const NETLINK: u64 = 1;
#[cfg(any(target_os = "linux", target_os = "android"))]
const PSI: u64 = 2;

impl OsWatcher {
    /// Open every watcher this system offers: the route socket and, where PSI exists and accepts a trigger,
    /// the memory-pressure trigger (a watcher that cannot be opened is left out). Fails only when no watcher
    /// could be set up at all.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn new() -> io::Result<OsWatcher> {
        use rustix::event::epoll;
        let poll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let netlink = super::netlink::open().ok();
        if let Some(fd) = &netlink {
            epoll::add(
                &poll,
                fd,
                epoll::EventData::new_u64(NETLINK),
                epoll::EventFlags::IN,
            )?;
        }
        let psi = super::psi::arm(
            super::psi::MEMORY,
            super::psi::DEFAULT_STALL,
            super::psi::DEFAULT_WINDOW,
        )
        .ok();
        if let Some(fd) = &psi {
            epoll::add(
                &poll,
                fd,
                epoll::EventData::new_u64(PSI),
                epoll::EventFlags::PRI,
            )?;
        }
        if netlink.is_none() && psi.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "neither netlink nor PSI is available",
            ));
        }
        Ok(OsWatcher {
            poll,
            netlink,
            psi,
            buf: vec![0; 16 * 1024],
        })
    }

    /// macOS: the routing socket (see the `macos` module). Memory pressure comes from the application there.
    #[cfg(target_os = "macos")]
    pub fn new() -> io::Result<OsWatcher> {
        let fd = super::macos::open()?;
        Ok(OsWatcher {
            poll: fd,
            netlink: None,
            psi: None,
            buf: vec![0; 8 * 1024],
        })
    }

    /// Elsewhere there is no watcher; applications forward their own notifications.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
    pub fn new() -> io::Result<OsWatcher> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no OS watcher on this platform",
        ))
    }

    /// The descriptor to wait on for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.poll.as_fd()
    }

    /// `true` when the route socket is open.
    pub fn watches_network(&self) -> bool {
        self.netlink.is_some() || cfg!(target_os = "macos")
    }

    /// `true` when a memory-pressure trigger is armed.
    pub fn watches_memory(&self) -> bool {
        self.psi.is_some()
    }

    /// Everything waiting, without blocking: at most one `NetworkChanged` (all changes merged) and one
    /// `MemoryPressure`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn poll(&mut self) -> io::Result<Vec<OsEvent>> {
        use rustix::event::epoll;
        use rustix::time::Timespec;
        let mut ready = Vec::with_capacity(4);
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // Two sources: one look sees both. Level-triggered, so whatever is not read now is reported again.
        let (mut net, mut mem) = (false, false);
        let waited = loop {
            match epoll::wait(
                &self.poll,
                rustix::buffer::spare_capacity(&mut ready),
                Some(&zero),
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other,
            }
        };
        waited?;
        for ev in &ready {
            match ev.data.u64() {
                NETLINK => net = true,
                PSI => mem = true,
                _ => {}
            }
        }
        let mut out = Vec::new();
        if net {
            if let Some(fd) = &self.netlink {
                let changes = super::netlink::read_all(fd.as_fd(), &mut self.buf)?;
                if let Some(ev) = network_event(&changes) {
                    out.push(ev);
                }
            }
        }
        if mem {
            if let Some(fd) = &self.psi {
                let level =
                    super::psi::read(fd.as_fd())?.map_or(MemoryPressure::Moderate, |p| p.level());
                out.push(OsEvent::MemoryPressure(level));
            }
        }
        Ok(out)
    }

    /// Everything waiting on the routing socket, without blocking.
    #[cfg(target_os = "macos")]
    pub fn poll(&mut self) -> io::Result<Vec<OsEvent>> {
        Ok(super::macos::read_all(self.poll.as_fd(), &mut self.buf)?
            .then(|| OsEvent::NetworkChanged { gone: Vec::new() })
            .into_iter()
            .collect())
    }

    /// Nothing to watch on this platform.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
    pub fn poll(&mut self) -> io::Result<Vec<OsEvent>> {
        Ok(Vec::new())
    }
}

/// Merge a batch of netlink changes into one event: `None` when nothing in it affects connectivity.
/// An address removed and added back within the batch is not gone.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn network_event(changes: &[super::netlink::Change]) -> Option<OsEvent> {
    use super::netlink::Change;
    if changes.is_empty() {
        return None;
    }
    let mut gone: Vec<IpAddr> = Vec::new();
    for c in changes {
        match c {
            Change::AddressRemoved { addr, .. } => {
                if !gone.contains(addr) {
                    gone.push(*addr);
                }
            }
            Change::AddressAdded { addr, .. } => gone.retain(|g| g != addr),
            Change::Link { .. } | Change::LinkRemoved { .. } | Change::Route | Change::Overrun => {}
        }
    }
    Some(OsEvent::NetworkChanged { gone })
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::super::netlink::Change;
    use super::*;

    #[test]
    fn network_event_merges_a_batch() {
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "10.0.0.3".parse().unwrap();
        let ev = network_event(&[
            Change::AddressRemoved { index: 1, addr: a },
            Change::AddressRemoved { index: 1, addr: b },
            Change::AddressAdded { index: 1, addr: b },
            Change::Link { index: 1, up: true },
        ]);
        assert_eq!(ev, Some(OsEvent::NetworkChanged { gone: vec![a] }));
        assert_eq!(network_event(&[]), None);
    }

    #[test]
    fn watcher_opens_and_polls_without_blocking() {
        let mut w = OsWatcher::new().expect("netlink at least");
        assert!(w.watches_network());
        let _ = w.poll().expect("poll");
    }
}
