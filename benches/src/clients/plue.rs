//! plue-http on its three runtimes. tokio and smol share the async driver (`plue_http_driver::Client`)
//! and one implementation here; mio is the blocking client with its own event-loop thread.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};
use plue_http_core::sse::StreamEvent;
use plue_http_core::{Method, Request, Response};
use plue_http_driver::{self as driver, Runtime};

use crate::docroot::{SMALL_PATH, SSE_PATH};
use crate::subject::{check_small, EventSum, Scenario, Subject, Target, Work};

/// The client's options: defaults and the server's base URL.
fn options(target: &Target) -> plue_http_core::client::Options {
    plue_http_core::client::Options {
        base_url: Some(target.base.clone()),
        ..Default::default()
    }
}

fn checked(resp: Result<Response, plue_http_core::Error>, target: &Target) -> Result<u64, String> {
    let resp = resp.map_err(|e| e.to_string())?;
    check_small(resp.status().as_u16(), resp.body().len(), target)
}

/// A `GET /small` with `Connection: close`: a new connection every time.
fn close_request(base: Option<&plue_http_core::url::Url>) -> Result<Request, String> {
    Request::builder(Method::GET, SMALL_PATH)
        .base(base)
        .header("connection", "close")
        .build()
        .map_err(|e| e.to_string())
}

/// Runs a future to completion on a runtime.
pub trait BlockOn {
    /// Block on `f`.
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

/// A current-thread tokio runtime (the same flavour the tokio peers run on).
pub struct TokioExec(pub tokio::runtime::Runtime);
impl BlockOn for TokioExec {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

/// smol's `block_on` running an executor on the calling thread, which the client's tasks are spawned on (the
/// smol counterpart of a current-thread tokio runtime).
pub struct SmolExec(pub std::sync::Arc<smol::Executor<'static>>);
impl BlockOn for SmolExec {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(self.0.run(f))
    }
}

/// plue-http's async client on runtime `R`, driven by executor `E`.
pub struct PlueAsync<R: Runtime, E: BlockOn> {
    name: &'static str,
    exec: E,
    client: driver::Client<R>,
    target: Target,
}

/// plue-http on tokio.
pub fn tokio(
    target: &Target,
) -> Result<PlueAsync<plue_http_tokio::TokioRuntime, TokioExec>, String> {
    let rt = super::current_thread()?;
    let runtime = plue_http_tokio::TokioRuntime::new(rt.handle().clone());
    let client =
        driver::Client::with_runtime(runtime, options(target)).map_err(|e| e.to_string())?;
    Ok(PlueAsync {
        name: "plue-tokio",
        exec: TokioExec(rt),
        client,
        target: target.clone(),
    })
}

/// plue-http on smol.
pub fn smol(target: &Target) -> Result<PlueAsync<plue_http_smol::SmolRuntime, SmolExec>, String> {
    let ex = std::sync::Arc::new(smol::Executor::new());
    let runtime = plue_http_smol::SmolRuntime::on(ex.clone());
    let client = plue_http_smol::Client::with_runtime(runtime, options(target))
        .map_err(|e| e.to_string())?;
    Ok(PlueAsync {
        name: "plue-smol",
        exec: SmolExec(ex),
        client,
        target: target.clone(),
    })
}

impl<R: Runtime, E: BlockOn> Subject for PlueAsync<R, E> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn supports(&self, _: Scenario) -> bool {
        true
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        let (client, target) = (&self.client, &self.target);
        self.exec.block_on(async {
            let mut work = Work::default();
            match scenario {
                Scenario::Seq => {
                    for _ in 0..n {
                        work.check += checked(client.get(SMALL_PATH).await, target)?;
                        work.units += 1;
                    }
                }
                Scenario::NewConn => {
                    for _ in 0..n {
                        let req = close_request(client.base_url())?;
                        work.check += checked(client.request(req).await, target)?;
                        work.units += 1;
                    }
                }
                Scenario::Batch16 => {
                    for _ in 0..n / 16 {
                        let reqs = (0..16)
                            .map(|_| {
                                Request::builder(Method::GET, SMALL_PATH)
                                    .base(client.base_url())
                                    .build()
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| e.to_string())?;
                        for resp in client.batch(reqs).await {
                            work.check += checked(resp, target)?;
                            work.units += 1;
                        }
                    }
                }
                Scenario::Conc16 => {
                    let mut tasks: FuturesUnordered<_> = (0..16)
                        .map(|_| async move {
                            let mut sum = 0;
                            for _ in 0..n / 16 {
                                sum += checked(client.get(SMALL_PATH).await, target)?;
                            }
                            Ok::<u64, String>(sum)
                        })
                        .collect();
                    while let Some(sum) = tasks.next().await {
                        work.check += sum?;
                    }
                    work.units = (n / 16 * 16) as u64;
                }
                Scenario::Sse => {
                    let mut sum = EventSum::default();
                    for _ in 0..n {
                        // The stream reconnects when the corpus ends, so stop after the corpus's count: a
                        // reconnect before that ends the read early and the counts disagree.
                        let mut seen = 0;
                        let mut events = client.events(SSE_PATH);
                        while seen < target.sse.count {
                            match events.next().await {
                                Some(Ok(StreamEvent::Event(e))) => {
                                    sum.add(&e.event, &e.data, &e.id);
                                    seen += 1;
                                }
                                Some(Ok(StreamEvent::Connected)) => {}
                                Some(Ok(other)) => {
                                    return Err(format!("sse: unexpected {other:?}"))
                                }
                                Some(Err(e)) => return Err(e.to_string()),
                                None => break,
                            }
                        }
                    }
                    work = Work {
                        units: sum.count,
                        check: sum.sum,
                    };
                }
            }
            Ok(work)
        })
    }

    fn burst(&mut self, tasks: usize) -> Result<(), String> {
        let (client, target) = (&self.client, &self.target);
        self.exec.block_on(async {
            let mut all: FuturesUnordered<_> = (0..tasks)
                .map(|_| async move { checked(client.get(SMALL_PATH).await, target) })
                .collect();
            while let Some(r) = all.next().await {
                r?;
            }
            Ok(())
        })
    }
}

/// plue-http's blocking client (mio event loop on its own thread).
pub struct PlueMio {
    client: plue_http_mio::Client,
    target: Target,
}

impl PlueMio {
    /// A client with default options.
    pub fn new(target: &Target) -> Result<PlueMio, String> {
        let client = plue_http_mio::Client::new(options(target)).map_err(|e| e.to_string())?;
        Ok(PlueMio {
            client,
            target: target.clone(),
        })
    }

    /// `tasks` requests started at once, then waited for: the blocking client's form of concurrency.
    fn wave(&self, tasks: usize) -> Result<u64, String> {
        let handles = (0..tasks)
            .map(|_| {
                Request::builder(Method::GET, SMALL_PATH)
                    .base(self.client.base_url())
                    .build()
                    .map(|req| self.client.start(req))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        handles
            .into_iter()
            .map(|h| checked(h.wait(), &self.target))
            .sum()
    }
}

impl Subject for PlueMio {
    fn name(&self) -> &'static str {
        "plue-mio"
    }

    fn supports(&self, _: Scenario) -> bool {
        true
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        let (client, target) = (&self.client, &self.target);
        let mut work = Work::default();
        match scenario {
            Scenario::Seq => {
                for _ in 0..n {
                    work.check += checked(client.get(SMALL_PATH), target)?;
                    work.units += 1;
                }
            }
            Scenario::NewConn => {
                for _ in 0..n {
                    let req = close_request(client.base_url())?;
                    work.check += checked(client.request(req), target)?;
                    work.units += 1;
                }
            }
            Scenario::Batch16 => {
                for _ in 0..n / 16 {
                    let reqs = (0..16)
                        .map(|_| {
                            Request::builder(Method::GET, SMALL_PATH)
                                .base(client.base_url())
                                .build()
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())?;
                    for resp in client.batch(reqs) {
                        work.check += checked(resp, target)?;
                        work.units += 1;
                    }
                }
            }
            // Waves of 16 started requests (one calling thread; the event loop runs them concurrently).
            Scenario::Conc16 => {
                for _ in 0..n / 16 {
                    work.check += self.wave(16)?;
                    work.units += 16;
                }
            }
            Scenario::Sse => {
                let mut sum = EventSum::default();
                for _ in 0..n {
                    let mut seen = 0;
                    let mut events = client.events(SSE_PATH);
                    while seen < target.sse.count {
                        match events.next() {
                            Some(Ok(StreamEvent::Event(e))) => {
                                sum.add(&e.event, &e.data, &e.id);
                                seen += 1;
                            }
                            Some(Ok(StreamEvent::Connected)) => {}
                            Some(Ok(other)) => return Err(format!("sse: unexpected {other:?}")),
                            Some(Err(e)) => return Err(e.to_string()),
                            None => break,
                        }
                    }
                }
                work = Work {
                    units: sum.count,
                    check: sum.sum,
                };
            }
        }
        Ok(work)
    }

    fn burst(&mut self, tasks: usize) -> Result<(), String> {
        self.wave(tasks).map(drop)
    }
}
