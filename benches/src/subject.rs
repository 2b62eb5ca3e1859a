//! What every measured client implements, and what the harness hands it.

use std::net::SocketAddr;

/// One measure (issue 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Sequential keep-alive `GET` of the small body, one at a time on one connection.
    Seq,
    /// Batches of 16 `GET`s pipelined on one connection.
    Batch16,
    /// 16 concurrent tasks, each doing sequential `GET`s.
    Conc16,
    /// A new connection for every `GET` (`Connection: close`): the other side of pool efficiency.
    NewConn,
    /// The whole SSE corpus read as owned events.
    Sse,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Seq,
        Scenario::Batch16,
        Scenario::Conc16,
        Scenario::NewConn,
        Scenario::Sse,
    ];

    /// Short name used in the JSON and the table.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Seq => "seq_get",
            Scenario::Batch16 => "batch16",
            Scenario::Conc16 => "conc16",
            Scenario::NewConn => "new_conn",
            Scenario::Sse => "sse",
        }
    }
}

/// What the clients are told about the server and what it serves.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub base: String,
    /// Bytes of the small body.
    pub small_len: usize,
    /// Events in the served SSE corpus and their checksum ([`EventSum`]).
    pub sse: EventSum,
}

/// Work a run did, to check every client did the same (and to divide by).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Requests completed (SSE: events).
    pub units: u64,
    /// Body bytes received (SSE: checksum of the events).
    pub check: u64,
}

/// Event count and an order-sensitive checksum over each event's type, data and id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSum {
    /// Events seen.
    pub count: u64,
    /// FNV-1a over (type, data, id) of every event, chained.
    pub sum: u64,
}

impl EventSum {
    /// Fold one event in.
    pub fn add(&mut self, event: &str, data: &str, id: &str) {
        let mut h = self.sum ^ 0xcbf2_9ce4_8422_2325;
        for part in [
            event.as_bytes(),
            b"\0",
            data.as_bytes(),
            b"\0",
            id.as_bytes(),
            b"\n",
        ] {
            for &b in part {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        self.sum = h;
        self.count += 1;
    }
}

/// A client under measurement. `run` does `n` units of `scenario` (requests; for [`Scenario::Sse`], `n` whole
/// corpus reads) and reports what it did; an `Err` is a failed request, which fails the bench.
pub trait Subject {
    /// Name in the report (`plue-tokio`, `hyper`, `raw`, …).
    fn name(&self) -> &'static str;
    /// Whether this client takes part in `scenario`.
    fn supports(&self, scenario: Scenario) -> bool;
    /// Do the work.
    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String>;
    /// `tasks` concurrent `GET`s of the small body (opens up to `tasks` connections); for the idle-pool measure.
    fn burst(&mut self, tasks: usize) -> Result<(), String>;
}

/// Check a small-body answer.
pub fn check_small(status: u16, len: usize, target: &Target) -> Result<u64, String> {
    if status != 200 || len != target.small_len {
        return Err(format!(
            "bad answer: status {status}, {len} body bytes (want 200, {})",
            target.small_len
        ));
    }
    Ok(len as u64)
}
