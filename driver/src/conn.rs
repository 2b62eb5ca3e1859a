//! Per-connection tasks: one reader (reads only while the core grants it) and one writer. They move bytes and
//! report what happened; every decision about those bytes is the core's.

use core::net::SocketAddr;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::chan::{self, Receiver, Sender};
use bytes::Bytes;
use futures_lite::future::or;

use super::router::Msg;
use super::runtime::{ConnRead, ConnWrite, Runtime};
use plue_http_core::client::{ConnId, NetInput};
use plue_http_core::error::NetError;

/// Size of one read. Reads are copied out into exactly-sized `Bytes`, so this buffer is reused.
const READ_BUF: usize = 16 * 1024;

/// Bytes a connection task may have read and sent to the driver that the core has not been given yet. The core's
/// `PauseRead` only bounds what it has seen; without this, a connection task on another thread could read far
/// ahead of a busy driver into its channel.
const MAX_IN_TRANSIT: usize = 4 * READ_BUF;

/// A message to the connection task's read side.
enum Gate {
    /// The core's `Read` (`true`) or `PauseRead` (`false`).
    Reading(bool),
    /// The driver handed read bytes to the core: room to read again.
    Credit,
}

/// The driver's side of a connection. Dropping it closes the connection: both tasks see their channels close.
pub(crate) struct ConnHandle {
    read: Sender<Gate>,
    write: Sender<Bytes>,
    /// Read bytes on their way to the core (see [`MAX_IN_TRANSIT`]).
    in_transit: Arc<AtomicUsize>,
    /// Never sent on; dropping it wakes the writer and a pending connect.
    _close: Sender<()>,
}

impl ConnHandle {
    pub(crate) fn set_reading(&self, on: bool) {
        let _ = self.read.try_send(Gate::Reading(on));
    }

    /// `n` read bytes reached the core; wake the reader if that made room.
    pub(crate) fn delivered(&self, n: usize) {
        let before = self.in_transit.fetch_sub(n, Ordering::AcqRel);
        if before >= MAX_IN_TRANSIT && before - n < MAX_IN_TRANSIT {
            let _ = self.read.try_send(Gate::Credit);
        }
    }

    pub(crate) fn transmit(&self, data: Bytes) {
        let _ = self.write.try_send(data);
    }
}

/// Resolve `host:port` with the system resolver, blocking the calling thread (for drivers without an async
/// resolver, e.g. on a thread of their own). No address at all is a failed resolution.
pub fn resolve_blocking(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, NetError> {
    use std::net::ToSocketAddrs;
    match (host, port).to_socket_addrs() {
        Ok(addrs) => Some(addrs.collect::<Vec<_>>())
            .filter(|a| !a.is_empty())
            .ok_or(NetError::Resolve),
        Err(_) => Err(NetError::Resolve),
    }
}

/// An I/O error setting up a client (poller, waker, thread) as the request error a caller sees.
pub fn connect_error(e: io::Error) -> plue_http_core::Error {
    plue_http_core::Error::new(plue_http_core::ErrorKind::ConnectionFailed {
        cause: net_error(&e),
    })
}

/// Map an I/O error to the core's flat [`NetError`].
pub fn net_error(e: &io::Error) -> NetError {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => NetError::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => NetError::Reset,
        K::NotConnected | K::UnexpectedEof | K::WriteZero => NetError::Closed,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable | K::NetworkDown => {
            NetError::Unreachable
        }
        _ => NetError::Other,
    }
}

/// Start connecting to `addr`; the outcome arrives on `tx` as `Connected` or `ConnectFailed`.
pub(crate) fn open<R: Runtime>(
    rt: &R,
    conn: ConnId,
    addr: SocketAddr,
    tx: Sender<Msg>,
) -> ConnHandle {
    let (read_tx, read_rx) = chan::unbounded();
    let (write_tx, write_rx) = chan::unbounded();
    let in_transit = Arc::new(AtomicUsize::new(0));
    let (close_tx, close_rx) = chan::unbounded::<()>();
    let rt2 = rt.clone();
    let io_in_transit = in_transit.clone();
    rt.spawn(async move {
        // The core closing the connection (connect timeout, abort) drops the pending connect.
        let connected = or(closed(&close_rx), async { Some(rt2.connect(addr).await) }).await;
        match connected {
            None => {}
            Some(Err(e)) => {
                let _ = tx.try_send(Msg::Net(NetInput::ConnectFailed(conn, net_error(&e))));
            }
            Some(Ok((r, w))) => {
                if let Some(local) = w.local_addr() {
                    let _ = tx.try_send(Msg::LocalAddr(conn, local));
                }
                if tx.try_send(Msg::Net(NetInput::Connected(conn))).is_err() {
                    return;
                }
                let io = Io {
                    conn,
                    in_transit: io_in_transit,
                    gate: read_rx,
                    data: write_rx,
                    close: close_rx,
                    tx,
                };
                io.run(r, w).await;
            }
        }
    });
    ConnHandle {
        read: read_tx,
        write: write_tx,
        in_transit,
        _close: close_tx,
    }
}

/// Completes (with `None`) when the driver drops the connection's handle.
async fn closed<T>(close: &Receiver<()>) -> Option<T> {
    let _ = close.recv().await;
    None
}

enum Step {
    Closed,
    Gate(Gate),
    Transmit(Bytes),
    Read(io::Result<usize>),
    Readable(io::Result<()>),
    Wrote(io::Result<usize>),
}

/// One task per connection doing both directions, so reports keep causal order: a finished write is
/// reported before any read that follows it. (With separate tasks, an EOF could overtake the `Written` of the
/// request that provoked it, and the core would think the request was never sent.)
struct Io {
    conn: ConnId,
    in_transit: Arc<AtomicUsize>,
    gate: Receiver<Gate>,
    data: Receiver<Bytes>,
    close: Receiver<()>,
    tx: Sender<Msg>,
}

impl Io {
    async fn run<Rd: ConnRead, Wr: ConnWrite>(self, mut r: Rd, mut w: Wr) {
        let conn = self.conn;
        let mut buf = vec![0u8; READ_BUF];
        let (mut reading, mut eof) = (false, false);
        // The last read was short: the receive buffer is empty, so wait for readiness before reading again.
        let mut drained = false;
        let mut out: Option<(Bytes, usize)> = None;
        loop {
            let step = {
                let close = async { closed(&self.close).await.unwrap_or(Step::Closed) };
                let write = async {
                    match &out {
                        Some((bytes, off)) => Step::Wrote(w.write(&bytes[*off..]).await),
                        None => match self.data.recv().await {
                            Some(bytes) => Step::Transmit(bytes),
                            None => Step::Closed,
                        },
                    }
                };
                let room = self.in_transit.load(Ordering::Acquire) < MAX_IN_TRANSIT;
                let read = async {
                    if reading && !eof && room {
                        if drained {
                            Step::Readable(r.readable().await)
                        } else {
                            Step::Read(r.read(&mut buf).await)
                        }
                    } else {
                        futures_lite::future::pending().await
                    }
                };
                let gate = async {
                    match self.gate.recv().await {
                        Some(on) => Step::Gate(on),
                        None => Step::Closed,
                    }
                };
                // Polled in this order: closing wins, then a finished write, then the gate, then a read. The gate
                // goes before the read: against a fast server the socket is always readable, and a read polled
                // first would win every time, so a `PauseRead` would never take effect (unbounded read-ahead).
                or(close, or(write, or(gate, read))).await
            };
            let msg = match step {
                Step::Closed => return,
                Step::Gate(Gate::Reading(on)) => {
                    reading = on;
                    continue;
                }
                Step::Gate(Gate::Credit) => continue,
                Step::Transmit(bytes) => {
                    out = (!bytes.is_empty()).then_some((bytes, 0));
                    continue;
                }
                Step::Wrote(Ok(0)) => NetInput::Failed(conn, NetError::Closed),
                Step::Wrote(Ok(n)) => {
                    if let Some((bytes, off)) = &mut out {
                        *off += n;
                        if *off >= bytes.len() {
                            out = None;
                        }
                    }
                    NetInput::Written(conn, n)
                }
                Step::Read(Ok(0)) => {
                    eof = true;
                    NetInput::Eof(conn)
                }
                Step::Readable(Ok(())) => {
                    drained = false;
                    continue;
                }
                Step::Read(Ok(n)) => {
                    drained = n < buf.len();
                    self.in_transit.fetch_add(n, Ordering::AcqRel);
                    NetInput::Data(conn, Bytes::copy_from_slice(&buf[..n]))
                }
                Step::Read(Err(e)) | Step::Readable(Err(e)) | Step::Wrote(Err(e))
                    if e.kind() == io::ErrorKind::Interrupted =>
                {
                    continue
                }
                Step::Read(Err(e)) | Step::Readable(Err(e)) | Step::Wrote(Err(e)) => {
                    NetInput::Failed(conn, net_error(&e))
                }
            };
            let failed = matches!(msg, NetInput::Failed(..));
            if self.tx.try_send(Msg::Net(msg)).is_err() || failed {
                return;
            }
        }
    }
}
