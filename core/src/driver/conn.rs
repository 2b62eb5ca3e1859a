//! Per-connection tasks: one reader (reads only while the core grants it) and one writer. They move bytes and
//! report what happened; every decision about those bytes is the core's.

use core::net::SocketAddr;
use std::io;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::future::or;

use super::runtime::{ConnRead, ConnWrite, Runtime};
use super::task::{Msg, NetMsg};
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
pub(crate) fn open<R: Runtime>(rt: &R, conn: ConnId, addr: SocketAddr, tx: Sender<Msg>) -> ConnHandle {
    let (read_tx, read_rx) = async_channel::unbounded();
    let (write_tx, write_rx) = async_channel::unbounded();
    let (close_tx, close_rx) = async_channel::bounded::<()>(1);
    let rt2 = rt.clone();
    rt.spawn(async move {
        // The core closing the connection (connect timeout, abort) drops the pending connect.
        let connected = or(async { Some(rt2.connect(addr).await) }, async {
            let _ = close_rx.recv().await;
            None
        })
        .await;
        match connected {
            None => {}
            Some(Err(e)) => {
                let _ = tx.send(Msg::Net(NetMsg::ConnectFailed(conn, net_error(&e)))).await;
            }
            Some(Ok((r, w))) => {
                if tx.send(Msg::Net(NetMsg::Connected(conn))).await.is_err() {
                    return;
                }
                rt2.spawn(writer(conn, w, write_rx, close_rx, tx.clone()));
                reader(conn, r, read_rx, tx).await;
            }
        }
    });
    ConnHandle {
        read: read_tx,
        write: write_tx,
        _close: close_tx,
    }
}

enum Step {
    Gate(Option<bool>),
    Read(io::Result<usize>),
}

async fn reader<C: ConnRead>(conn: ConnId, mut r: C, gate: Receiver<bool>, tx: Sender<Msg>) {
    let mut buf = vec![0u8; READ_BUF];
    let mut reading = false;
    loop {
        let step = if reading {
            or(async { Step::Read(r.read(&mut buf).await) }, async {
                Step::Gate(gate.recv().await.ok())
            })
            .await
        } else {
            Step::Gate(gate.recv().await.ok())
        };
        let msg = match step {
            Step::Gate(None) => return, // the driver dropped the connection
            Step::Gate(Some(on)) => {
                reading = on;
                continue;
            }
            Step::Read(Ok(0)) => NetMsg::Eof(conn),
            Step::Read(Ok(n)) => NetMsg::Data(conn, Bytes::copy_from_slice(&buf[..n])),
            Step::Read(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Step::Read(Err(e)) => NetMsg::Failed(conn, net_error(&e)),
        };
        let last = !matches!(msg, NetMsg::Data(..));
        if tx.send(Msg::Net(msg)).await.is_err() || last {
            return;
        }
    }
}

async fn writer<C: ConnWrite>(
    conn: ConnId,
    mut w: C,
    data: Receiver<Bytes>,
    close: Receiver<()>,
    tx: Sender<Msg>,
) {
    loop {
        let next = or(async { data.recv().await.ok() }, async {
            let _ = close.recv().await;
            None
        })
        .await;
        let Some(bytes) = next else { return };
        let mut off = 0;
        while off < bytes.len() {
            let wrote = or(async { Some(w.write(&bytes[off..]).await) }, async {
                let _ = close.recv().await;
                None
            })
            .await;
            let msg = match wrote {
                None => return,
                Some(Ok(0)) => NetMsg::Failed(conn, NetError::Closed),
                Some(Ok(n)) => {
                    off += n;
                    NetMsg::Written(conn, n)
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(e)) => NetMsg::Failed(conn, net_error(&e)),
            };
            let failed = matches!(msg, NetMsg::Failed(..));
            if tx.send(Msg::Net(msg)).await.is_err() || failed {
                return;
            }
        }
    }
}
