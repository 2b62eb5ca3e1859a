//! The workload generator: one seed, one realistic mixed workload with its scripted servers and faults.
//!
//! Each seed gives at least 20 operations over three hosts (two IP literals and one name that must be
//! resolved): GET, PUT, DELETE, POST with and without `Idempotency-Key` (and with the caller's opt-in),
//! pipelined batches, event streams, and aborts. Every request has its own route whose replies script its
//! fate: clean answers in every framing, retryable statuses, resets mid-head and mid-chunk, heads delayed and
//! bodies stalled past the read timeout, dripping bodies, dropped requests, `Connection: close`, redirects
//! (also across hosts). Event streams get events, ids, `retry:`, heartbeats, clean ends, resets and silences.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use bytes::Bytes;
use http::Method;

use super::faults::Faults;
use super::server::{Framing, Reply, Route, Script, ServerConfig, SseEnd, SseItem, SseScript};
use plue_http_core::client::Options;
use plue_http_core::rng::Rng;
use plue_http_core::time::Instant;

/// A host of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Where its server listens.
    pub addr: SocketAddr,
    /// The DNS name requests use for it, if any (else the IP literal).
    pub name: Option<String>,
    /// Its server's settings.
    pub config: ServerConfig,
    /// Its routes.
    pub script: Script,
}

impl HostSpec {
    /// `http://host:port` as requests spell it.
    pub fn origin(&self) -> String {
        match &self.name {
            Some(n) => format!("http://{}:{}", n, self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }
}

/// One request of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqSpec {
    /// Unique tag, sent in [`super::server::TAG_HEADER`].
    pub tag: String,
    /// Which host.
    pub host: usize,
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Send an `Idempotency-Key`.
    pub idempotency_key: bool,
    /// Opt in to replaying it although it is not idempotent.
    pub opt_in: bool,
    /// The body, if any.
    pub body: Option<Bytes>,
}

impl ReqSpec {
    /// `true` when the server must never execute it twice: not idempotent, no key, no opt-in.
    pub fn must_not_repeat(&self) -> bool {
        !plue_http_core::request::is_idempotent(&self.method)
            && !self.idempotency_key
            && !self.opt_in
    }
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// One request.
    Request(ReqSpec),
    /// Several requests pipelined on one connection.
    Batch(Vec<ReqSpec>),
    /// An event stream, aborted after `abort_after`.
    Stream {
        /// The subscribe request.
        spec: ReqSpec,
        /// When the owner aborts it, after subscribing.
        abort_after: Duration,
    },
    /// Abort whatever operation `target` started (earlier in the list).
    Abort {
        /// Index of the operation to abort.
        target: usize,
    },
}

/// An operation at a virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// When the owner starts it.
    pub at: Instant,
    /// What it is.
    pub kind: OpKind,
}

/// A whole run's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The hosts and their scripts.
    pub hosts: Vec<HostSpec>,
    /// Operations in time order.
    pub ops: Vec<Op>,
    /// Network faults.
    pub faults: Faults,
    /// The client's options.
    pub options: Options,
}

/// The response body the server sends for a request with `tag` (every attempt sends the same bytes, so the
/// checker can tell a correct body from a mixed-up one).
pub fn body_for(tag: &str, len: usize) -> Bytes {
    let unit = format!("{tag};");
    Bytes::from(
        unit.as_bytes()
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect::<Vec<u8>>(),
    )
}

/// The data of event `k` of stream `tag`.
pub fn event_data(tag: &str, k: u32) -> String {
    format!("{tag}:{k}")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The reply-level fates a request can meet; every seed meets each at least once.
const FATES: [Fate; 10] = [
    Fate::Ok,
    Fate::Busy,
    Fate::ResetHead,
    Fate::ResetBody,
    Fate::LateHead,
    Fate::StalledBody,
    Fate::Dropped,
    Fate::CloseAfter,
    Fate::Redirect,
    Fate::Ok,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    Busy,
    ResetHead,
    ResetBody,
    LateHead,
    StalledBody,
    Dropped,
    CloseAfter,
    Redirect,
}

struct Gen {
    rng: Rng,
    /// Fates still owed to this seed, handed out before random ones.
    owed: Vec<Fate>,
    hosts: Vec<HostSpec>,
    opts: Options,
    /// Per host: the `Keep-Alive` header its replies advertise, if any.
    keep_alive: Vec<Option<String>>,
}

impl Workload {
    /// The workload for `seed`.
    pub fn generate(seed: u64) -> Workload {
        let mut rng = Rng::new(seed);
        let opts = options(&mut rng);
        let mut hosts = Vec::new();
        let mut keep_alive = Vec::new();
        for i in 0..3u8 {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)), 8080);
            let idle = match rng.below(3) {
                0 => None,
                _ => Some(rng.duration_between(ms(300), ms(5_000))),
            };
            keep_alive.push(match idle {
                Some(d) if rng.chance(1, 2) => Some(format!("timeout={}", d.as_secs().max(1))),
                _ => None,
            });
            hosts.push(HostSpec {
                addr,
                name: (i == 2).then(|| "api.sim".to_string()),
                config: ServerConfig { idle_timeout: idle },
                script: Script::new(),
            });
        }
        let horizon = ms(8_000);
        let faults = Faults::random(&mut rng, horizon, hosts.len());
        let mut owed = FATES.to_vec();
        // Shuffle (Fisher–Yates) so the forced fates land on different requests from seed to seed.
        for i in (1..owed.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            owed.swap(i, j);
        }
        let mut g = Gen {
            rng,
            owed,
            hosts,
            opts,
            keep_alive,
        };
        let n = 20 + g.rng.below(16) as usize;
        let mut times: Vec<Instant> = (0..n)
            .map(|_| Instant::ZERO + g.rng.duration_between(Duration::ZERO, horizon))
            .collect();
        times.sort();
        // Every seed has at least one batch, one event stream and one abort, at random places (never first).
        let mut rolls: Vec<u64> = (0..n).map(|_| g.rng.below(100)).collect();
        rolls[0] = rolls[0].max(12);
        for forced in [0u64, 12, 25] {
            let present = rolls
                .iter()
                .enumerate()
                .any(|(i, &r)| kind_of(r, i) == kind_of(forced, 1));
            if !present {
                // Replace a single request, so an earlier forced kind is never overwritten.
                let singles: Vec<usize> = (1..n).filter(|&i| kind_of(rolls[i], i) == 3).collect();
                if !singles.is_empty() {
                    let at = singles[g.rng.below(singles.len() as u64) as usize];
                    rolls[at] = forced;
                }
            }
        }
        let mut ops: Vec<Op> = Vec::with_capacity(n);
        for (i, at) in times.into_iter().enumerate() {
            let roll = rolls[i];
            let kind = if roll < 12 && i > 0 {
                let targets: Vec<usize> = (0..i)
                    .filter(|&t| !matches!(ops[t].kind, OpKind::Abort { .. }))
                    .collect();
                let target = targets[g.rng.below(targets.len() as u64) as usize];
                OpKind::Abort { target }
            } else if roll < 25 {
                g.batch(i)
            } else if roll < 35 {
                g.stream(i)
            } else {
                OpKind::Request(g.request(&format!("r{i}"), None))
            };
            ops.push(Op { at, kind });
        }
        Workload {
            hosts: g.hosts,
            ops,
            faults,
            options: g.opts,
        }
    }
}

/// Which kind of operation a roll makes at position `i`: 0 abort, 1 batch, 2 stream, 3 request.
fn kind_of(roll: u64, i: usize) -> u8 {
    match roll {
        0..=11 if i > 0 => 0,
        0..=24 => 1,
        25..=34 => 2,
        _ => 3,
    }
}

fn options(rng: &mut Rng) -> Options {
    Options {
        timeout: Some(rng.duration_between(ms(4_000), ms(10_000))),
        connect_timeout: rng.duration_between(ms(300), ms(2_000)),
        read_timeout: Some(rng.duration_between(ms(800), ms(3_000))),
        max_retries: rng.below(4) as u32,
        retry_delay: rng.duration_between(ms(10), ms(200)),
        max_retry_delay: rng.duration_between(ms(200), ms(1_500)),
        pool_size: 1 + rng.below(4) as usize,
        max_connections: 2 + rng.below(5) as usize,
        pool_idle_timeout: rng.duration_between(ms(500), ms(6_000)),
        max_redirects: 3,
        event_idle_timeout: rng.duration_between(ms(1_500), ms(4_000)),
        max_queued_requests: 64,
        dns_ttl: rng.duration_between(ms(500), ms(5_000)),
        ..Options::default()
    }
}

impl Gen {
    fn pick_host(&mut self) -> usize {
        self.rng.below(self.hosts.len() as u64) as usize
    }

    fn request(&mut self, tag: &str, host: Option<usize>) -> ReqSpec {
        let host = host.unwrap_or_else(|| self.pick_host());
        let method = match self.rng.below(100) {
            0..=29 => Method::GET,
            30..=44 => Method::PUT,
            45..=54 => Method::DELETE,
            _ => Method::POST,
        };
        let post = method == Method::POST;
        let idempotency_key = post && self.rng.chance(3, 10);
        let opt_in = post && !idempotency_key && self.rng.chance(1, 10);
        let body = (method == Method::PUT || post).then(|| {
            let len = self.rng.below(2_000) as usize;
            body_for(&format!("req-{tag}"), len)
        });
        let path = format!("/r/{tag}");
        let replies = self.fate(tag, host, &path);
        self.hosts[host].script.push(Route::new(&path, replies));
        ReqSpec {
            tag: tag.to_string(),
            host,
            url: format!("{}{}", self.hosts[host].origin(), path),
            method,
            idempotency_key,
            opt_in,
            body,
        }
    }

    /// A clean 200 in a random framing and pace.
    fn ok(&mut self, tag: &str, host: usize) -> Reply {
        let len = match self.rng.below(20) {
            0 => 20_000 + self.rng.below(50_000) as usize,
            _ => self.rng.below(3_000) as usize,
        };
        let mut r = Reply::ok(body_for(tag, len)).framing(match self.rng.below(10) {
            0..=4 => Framing::Length,
            5..=8 => Framing::Chunked,
            _ => Framing::CloseDelimited,
        });
        if self.rng.chance(1, 5) {
            r = r.drip(1 + self.rng.below(200) as usize, ms(self.rng.below(30)));
        }
        if self.rng.chance(1, 3) {
            r = r.delay_head(ms(self.rng.below(300)));
        }
        if let Some(ka) = &self.keep_alive[host] {
            r = r.header("keep-alive", ka);
        }
        r
    }

    /// The replies a request's route gives, attempt after attempt.
    fn fate(&mut self, tag: &str, host: usize, path: &str) -> Vec<Reply> {
        let fate = self
            .owed
            .pop()
            .unwrap_or_else(|| match self.rng.below(100) {
                0..=44 => Fate::Ok,
                45..=54 => Fate::Busy,
                55..=60 => Fate::ResetHead,
                61..=66 => Fate::ResetBody,
                67..=71 => Fate::LateHead,
                72..=76 => Fate::StalledBody,
                77..=81 => Fate::Dropped,
                82..=86 => Fate::CloseAfter,
                _ => Fate::Redirect,
            });
        let ok = self.ok(tag, host);
        let past_read = self.opts.read_timeout.unwrap_or(ms(1_000)) + ms(500);
        match fate {
            Fate::Ok => vec![ok],
            Fate::Busy => {
                let mut busy = Reply::new(
                    [503, 502, 429, 504, 408][self.rng.below(5) as usize],
                    "busy",
                );
                if self.rng.chance(1, 3) {
                    busy = busy.header("retry-after", "0");
                }
                vec![busy, ok]
            }
            Fate::ResetHead | Fate::ResetBody => {
                // Reset inside the head (its first ~60 bytes), or inside a chunk of the body.
                let head_guess = 60;
                let n = if fate == Fate::ResetHead {
                    self.rng.below(head_guess) as usize
                } else {
                    head_guess as usize + 40 + self.rng.below(200) as usize
                };
                let mut first = self.ok(tag, host).framing(Framing::Chunked).reset_after(n);
                if fate == Fate::ResetBody {
                    // Make sure the body is long enough for the reset to land inside it.
                    first.body = super::server::ReplyBody::Bytes(body_for(
                        tag,
                        400 + self.rng.below(2_000) as usize,
                    ));
                }
                vec![first, ok]
            }
            Fate::LateHead => vec![self.ok(tag, host).delay_head(past_read), ok],
            Fate::StalledBody => {
                let mut stalled = self.ok(tag, host).stall_body(past_read);
                stalled.body = super::server::ReplyBody::Bytes(body_for(
                    tag,
                    1 + self.rng.below(2_000) as usize,
                ));
                vec![stalled, ok]
            }
            Fate::Dropped => vec![Reply::ok("").drop_request(), ok],
            Fate::CloseAfter => vec![ok.close_after()],
            Fate::Redirect => {
                let code = [301, 302, 303, 307, 308][self.rng.below(5) as usize];
                let target = self.pick_host();
                let to = format!("{path}/moved");
                let fin = self.ok(tag, target);
                self.hosts[target].script.push(Route::new(&to, vec![fin]));
                let loc = if target == host {
                    to
                } else {
                    format!("{}{}", self.hosts[target].origin(), to)
                };
                vec![Reply::redirect(code, &loc)]
            }
        }
    }

    fn batch(&mut self, i: usize) -> OpKind {
        let host = self.pick_host();
        let n = 2 + self.rng.below(3) as usize;
        OpKind::Batch(
            (0..n)
                .map(|k| self.request(&format!("b{i}.{k}"), Some(host)))
                .collect(),
        )
    }

    fn stream(&mut self, i: usize) -> OpKind {
        let tag = format!("s{i}");
        let host = self.pick_host();
        let path = format!("/s/{tag}");
        let mut replies = Vec::new();
        let mut k = 0u32;
        for _ in 0..self.rng.below(4) {
            let r = match self.rng.below(5) {
                0 => Reply::new(503, "starting"),
                1 => self.sse(&tag, &mut k, SseEnd::End, false),
                2 => self.sse(&tag, &mut k, SseEnd::Reset, false),
                3 => self.sse(&tag, &mut k, SseEnd::Hang, false),
                _ => self
                    .sse(&tag, &mut k, SseEnd::Hang, false)
                    .reset_after(self.rng.below(300) as usize),
            };
            replies.push(r);
        }
        replies.push(self.sse(&tag, &mut k, SseEnd::Hang, true));
        self.hosts[host].script.push(Route::new(&path, replies));
        let spec = ReqSpec {
            tag: tag.clone(),
            host,
            method: Method::GET,
            url: format!("{}{}", self.hosts[host].origin(), path),
            idempotency_key: false,
            opt_in: false,
            body: None,
        };
        OpKind::Stream {
            spec,
            abort_after: self.rng.duration_between(ms(500), ms(12_000)),
        }
    }

    fn sse(&mut self, tag: &str, k: &mut u32, end: SseEnd, heartbeat: bool) -> Reply {
        let mut items = Vec::new();
        if self.rng.chance(1, 4) {
            items.push((Duration::ZERO, SseItem::Retry(50 + self.rng.below(400))));
        }
        for _ in 0..self.rng.below(6) {
            let delay = ms(self.rng.below(800));
            let item = match self.rng.below(6) {
                0 => SseItem::Comment("keep-alive".into()),
                _ => {
                    *k += 1;
                    SseItem::Event {
                        event: self.rng.chance(1, 2).then(|| "update".to_string()),
                        data: event_data(tag, *k),
                        id: self.rng.chance(1, 2).then(|| k.to_string()),
                    }
                }
            };
            items.push((delay, item));
        }
        let idle = self.opts.event_idle_timeout;
        let heartbeat = (heartbeat || self.rng.chance(1, 2)).then(|| {
            let period = self.rng.duration_between(idle / 4, idle * 3 / 4);
            (period, SseItem::Comment("heartbeat".into()))
        });
        Reply::sse(SseScript {
            items,
            heartbeat,
            end,
            channel: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_workload_is_deterministic_and_rich() {
        assert_eq!(Workload::generate(42), Workload::generate(42));
        let mut kinds = [0usize; 4];
        let mut posts = [0usize; 3];
        for seed in 0..200 {
            let w = Workload::generate(seed);
            assert!(w.ops.len() >= 20);
            assert!(w.ops.windows(2).all(|p| p[0].at <= p[1].at));
            for op in &w.ops {
                let i = match &op.kind {
                    OpKind::Request(r) => {
                        if r.method == Method::POST {
                            posts[usize::from(r.idempotency_key) + 2 * usize::from(r.opt_in)] += 1;
                        }
                        0
                    }
                    OpKind::Batch(_) => 1,
                    OpKind::Stream { .. } => 2,
                    OpKind::Abort { .. } => 3,
                };
                kinds[i] += 1;
            }
        }
        assert!(kinds.iter().all(|&k| k > 100), "{kinds:?}");
        for seed in 0..300 {
            let w = Workload::generate(seed);
            let has = |f: fn(&OpKind) -> bool| w.ops.iter().any(|o| f(&o.kind));
            assert!(
                has(|k| matches!(k, OpKind::Batch(_))),
                "seed {seed} has a batch"
            );
            assert!(
                has(|k| matches!(k, OpKind::Stream { .. })),
                "seed {seed} has a stream"
            );
            assert!(
                has(|k| matches!(k, OpKind::Abort { .. })),
                "seed {seed} has an abort"
            );
            assert!(
                !w.faults.restarts.is_empty()
                    && w.faults.refuse > 0
                    && w.faults.idle_close_race > 0
            );
            let routes: Vec<&Reply> = w
                .hosts
                .iter()
                .flat_map(|h| h.script.routes())
                .flat_map(|r| &r.replies)
                .collect();
            assert!(
                routes.iter().any(|r| r.reset_after.is_some()),
                "seed {seed} resets"
            );
            assert!(routes.iter().any(|r| r.drop_request), "seed {seed} drops");
            assert!(
                routes.iter().any(|r| (300..400).contains(&r.status)),
                "seed {seed} redirects"
            );
        }
        assert!(posts.iter().all(|&k| k > 20), "{posts:?}");
        assert_eq!(body_for("r1", 7), Bytes::from_static(b"r1;r1;r"));
    }
}
