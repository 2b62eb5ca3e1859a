//! Per-connection tasks: one reader (reads only while the core grants it) and one writer. They move bytes and
//! report what happened; every decision about those bytes is the core's.

use core::net::SocketAddr;
use std::io;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::future::or;

use super::router::{Msg, NetMsg};
use super::runtime::{ConnRead, ConnWrite, Runtime};
use crate::client::ConnId;
use crate::error::NetError;

/// Size of one read. Reads are copied out into exactly-sized `Bytes`, so this buffer is reused.
const READ_BUF: usize = 16 * 1024;

/// The driver's side of a connection. Dropping it closes the connection: both tasks see their channels close.
pub(crate) struct ConnHandle {
    /// `true` = read, `false` = pause (the core's `Read` / `PauseRead`).
    read: Sender<bool>,
    write: Sender<Bytes>,
    /// Never sent on; dropping it wakes the writer and a pending connect.
    _close: Sender<()>,
}

impl ConnHandle {
    pub(crate) fn set_reading(&self, on: bool) {
        let _ = self.read.try_send(on);
    }

    pub(crate) fn transmit(&self, data: Bytes) {
        let _ = self.write.try_send(data);
    }
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
    let (read_tx, read_rx) = async_channel::unbounded();
    let (write_tx, write_rx) = async_channel::unbounded();
    let (close_tx, close_rx) = async_channel::bounded::<()>(1);
    let rt2 = rt.clone();
    rt.spawn(async move {
        // The core closing the connection (connect timeout, abort) drops the pending connect.
        let connected = or(closed(&close_rx), async { Some(rt2.connect(addr).await) }).await;
        match connected {
            None => {}
            Some(Err(e)) => {
                let _ = tx
                    .send(Msg::Net(NetMsg::ConnectFailed(conn, net_error(&e))))
                    .await;
            }
            Some(Ok((r, w))) => {
                if tx.send(Msg::Net(NetMsg::Connected(conn))).await.is_ok() {
                    let io = Io {
                        conn,
                        gate: read_rx,
                        data: write_rx,
                        close: close_rx,
                        tx,
                    };
                    io.run(r, w).await;
                }
            }
        }
    });
    ConnHandle {
        read: read_tx,
        write: write_tx,
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
    Gate(bool),
    Transmit(Bytes),
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
}

/// One task per connection doing both directions, so reports keep causal order: a finished write is
/// reported before any read that follows it. (With separate tasks, an EOF could overtake the `Written` of the
/// request that provoked it, and the core would think the request was never sent.)
struct Io {
    conn: ConnId,
    gate: Receiver<bool>,
    data: Receiver<Bytes>,
    close: Receiver<()>,
    tx: Sender<Msg>,
}

impl Io {
    async fn run<Rd: ConnRead, Wr: ConnWrite>(self, mut r: Rd, mut w: Wr) {
        let conn = self.conn;
        let mut buf = vec![0u8; READ_BUF];
        let (mut reading, mut eof) = (false, false);
        let mut out: Option<(Bytes, usize)> = None;
        loop {
            let step = {
                let close = async { closed(&self.close).await.unwrap_or(Step::Closed) };
                let write = async {
                    match &out {
                        Some((bytes, off)) => Step::Wrote(w.write(&bytes[*off..]).await),
                        None => match self.data.recv().await {
                            Ok(bytes) => Step::Transmit(bytes),
                            Err(_) => Step::Closed,
                        },
                    }
                };
                let read = async {
                    if reading && !eof {
                        Step::Read(r.read(&mut buf).await)
                    } else {
                        futures_lite::future::pending().await
                    }
                };
                let gate = async {
                    match self.gate.recv().await {
                        Ok(on) => Step::Gate(on),
                        Err(_) => Step::Closed,
                    }
                };
                // Polled in this order: closing wins, then a finished write, then a read.
                or(close, or(write, or(read, gate))).await
            };
            let msg = match step {
                Step::Closed => return,
                Step::Gate(on) => {
                    reading = on;
                    continue;
                }
                Step::Transmit(bytes) => {
                    out = (!bytes.is_empty()).then_some((bytes, 0));
                    continue;
                }
                Step::Wrote(Ok(0)) => NetMsg::Failed(conn, NetError::Closed),
                Step::Wrote(Ok(n)) => {
                    if let Some((bytes, off)) = &mut out {
                        *off += n;
                        if *off >= bytes.len() {
                            out = None;
                        }
                    }
                    NetMsg::Written(conn, n)
                }
                Step::Read(Ok(0)) => {
                    eof = true;
                    NetMsg::Eof(conn)
                }
                Step::Read(Ok(n)) => NetMsg::Data(conn, Bytes::copy_from_slice(&buf[..n])),
                Step::Read(Err(e)) | Step::Wrote(Err(e))
                    if e.kind() == io::ErrorKind::Interrupted =>
                {
                    continue
                }
                Step::Read(Err(e)) | Step::Wrote(Err(e)) => NetMsg::Failed(conn, net_error(&e)),
            };
            let failed = matches!(msg, NetMsg::Failed(..));
            if self.tx.send(Msg::Net(msg)).await.is_err() || failed {
                return;
            }
        }
    }
}
