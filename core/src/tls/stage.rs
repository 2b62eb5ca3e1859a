//! [`TlsStage`]: a rustls `ClientConnection` behind the [`Stage`] shape.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustls::client::ClientConnection;
use rustls::{ClientConfig, HandshakeKind};
use rustls_pki_types::ServerName;

use super::errors::reason_of;
use crate::error::{ErrorKind, TlsReason};
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

/// Plaintext is moved out of rustls in pieces of this size.
const READ_CHUNK: usize = 16 * 1024;

/// The TLS client of one connection. SNI is the host, except for an IP literal (no SNI, as RFC 6066 says).
pub struct TlsStage {
    conn: ClientConnection,
    host: String,
    /// Plaintext decrypted and not yet taken by [`Stage::poll_read`]. rustls' own plaintext buffer is small and
    /// refuses more ciphertext when full, so it is emptied into here after every record batch.
    plain: BytesMut,
    established: bool,
    events: Vec<StageEvent>,
    /// The first fatal error; every later call returns it.
    failed: Option<ErrorKind>,
}

impl core::fmt::Debug for TlsStage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsStage")
            .field("host", &self.host)
            .field("established", &self.established)
            .finish_non_exhaustive()
    }
}

impl TlsStage {
    /// Start a handshake with `host` (as in the URL: lowercased, IPv6 in brackets). The ClientHello is ready to
    /// be drained with [`Stage::poll_transmit`] at once.
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsStage, ErrorKind> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let fail = |detail: String| ErrorKind::Tls {
            host: host.to_string(),
            reason: TlsReason::Other { detail },
        };
        let name = ServerName::try_from(bare.to_string())
            .map_err(|e| fail(format!("{host:?} is not a valid TLS server name: {e}")))?;
        let mut conn = ClientConnection::new(config, name).map_err(|e| fail(e.to_string()))?;
        // Plaintext from above is taken whole and turned into records at once; the connection bounds memory.
        conn.set_buffer_limit(None);
        Ok(TlsStage {
            conn,
            host: host.to_string(),
            plain: BytesMut::new(),
            established: false,
            events: Vec::new(),
            failed: None,
        })
    }

    /// `true` once the handshake completed.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// `true` when the handshake resumed an earlier session (no certificate exchange).
    pub fn is_resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    fn error(&mut self, reason: TlsReason) -> ErrorKind {
        let e = ErrorKind::Tls {
            host: self.host.clone(),
            reason,
        };
        self.failed = Some(e.clone());
        e
    }

    /// Process what rustls holds: decrypt, move plaintext out, notice the end of the handshake.
    fn process(&mut self) -> Result<(), ErrorKind> {
        if let Err(e) = self.conn.process_new_packets() {
            let reason = reason_of(&e);
            return Err(self.error(reason));
        }
        self.drain_plaintext()?;
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
            self.events.push(StageEvent::Established {
                alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            });
        }
        Ok(())
    }

    /// Move decrypted bytes into `plain`. Returns `Some(clean)` once the stream ended.
    fn drain_plaintext(&mut self) -> Result<Option<bool>, ErrorKind> {
        loop {
            let start = self.plain.len();
            self.plain.resize(start + READ_CHUNK, 0);
            let r = self.conn.reader().read(&mut self.plain[start..]);
            match r {
                Ok(0) => {
                    self.plain.truncate(start);
                    return Ok(Some(true));
                }
                Ok(n) => self.plain.truncate(start + n),
                Err(e) => {
                    self.plain.truncate(start);
                    return match e.kind() {
                        io::ErrorKind::WouldBlock => Ok(None),
                        io::ErrorKind::UnexpectedEof => Ok(Some(false)),
                        _ => Err(self.error(TlsReason::Other {
                            detail: e.to_string(),
                        })),
                    };
                }
            }
        }
    }
}

impl Stage for TlsStage {
    fn handle_input(&mut self, _now: Instant, data: &[u8]) -> Result<(), ErrorKind> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut rest = data;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                Ok(_) => {}
                Err(e) => {
                    return Err(self.error(TlsReason::Other {
                        detail: e.to_string(),
                    }))
                }
            }
            self.process()?;
        }
        Ok(())
    }

    fn handle_eof(&mut self, _now: Instant) -> Result<(), ErrorKind> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let _ = self.conn.read_tls(&mut &[][..]);
        if let Err(e) = self.conn.process_new_packets() {
            let reason = reason_of(&e);
            return Err(self.error(reason));
        }
        let clean = self.drain_plaintext()?.unwrap_or(false);
        self.events.push(StageEvent::Eof { clean });
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // With no buffer limit rustls takes everything: before the handshake it holds the plaintext, after it
        // encrypts at once.
        self.conn.writer().write_all(data).map_err(|e| {
            let detail = e.to_string();
            self.error(TlsReason::Other { detail })
        })
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let before = out.len();
        {
            let mut w = (&mut *out).writer();
            while self.conn.wants_write() {
                match self.conn.write_tls(&mut w) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        out.len() - before
    }

    fn poll_read(&mut self, out: &mut BytesMut) -> usize {
        let n = self.plain.len();
        if n == 0 {
            return 0;
        }
        if out.is_empty() {
            core::mem::swap(out, &mut self.plain);
        } else {
            out.extend_from_slice(&self.plain);
            self.plain.clear();
        }
        n
    }

    fn poll_event(&mut self) -> Option<StageEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }
}
