//! The loopback host for the runtime tests: the CLI's [`plue_cli::embedded::host`] (a sans-IO
//! [`ScriptedServer`](plue_http_sim::server::ScriptedServer) served over real TCP on 127.0.0.1, with
//! connection counts and restarts), plus a [`Blackhole`] address whose connects hang.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use plue_cli::embedded::host::{Accepted, Loopback};

/// An address whose connects hang: a listener with a backlog of zero whose accept queue is already full and
/// that never accepts, so the kernel drops further SYNs (Linux; the connect-timeout scenario relies on it).
pub struct Blackhole {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
}

impl Blackhole {
    /// Start one.
    pub fn start() -> io::Result<Blackhole> {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an inet socket"))?;
        let mut fillers = Vec::new();
        for _ in 0..3 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            let _ = s.connect(&addr.into());
            fillers.push(s);
        }
        // Let the handshakes that fit complete, so the queue is full before anyone else connects.
        std::thread::sleep(Duration::from_millis(50));
        Ok(Blackhole {
            addr,
            _listener: listener,
            _fillers: fillers,
        })
    }

    /// `http://127.0.0.1:port` of the black hole.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
