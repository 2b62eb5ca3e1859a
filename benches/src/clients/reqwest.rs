//! reqwest (default features off: no TLS) on a current-thread tokio runtime; for SSE, eventsource-stream over
//! its byte stream.

use eventsource_stream::Eventsource;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::docroot::{SMALL_PATH, SSE_PATH};
use crate::subject::{check_small, EventSum, Scenario, Subject, Target, Work};

/// `reqwest::Client`.
pub struct Reqwest {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    target: Target,
    url: String,
    sse_url: String,
}

impl Reqwest {
    /// A client with default settings plus `TCP_NODELAY`.
    pub fn new(target: &Target) -> Result<Reqwest, String> {
        let rt = super::current_thread()?;
        let client = {
            let _guard = rt.enter();
            reqwest::Client::builder()
                .tcp_nodelay(true)
                .no_proxy()
                .build()
                .map_err(|e| e.to_string())?
        };
        Ok(Reqwest {
            rt,
            client,
            target: target.clone(),
            url: format!("{}{SMALL_PATH}", target.base),
            sse_url: format!("{}{SSE_PATH}", target.base),
        })
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    close: bool,
    target: &Target,
) -> Result<u64, String> {
    let mut req = client.get(url);
    if close {
        req = req.header(reqwest::header::CONNECTION, "close");
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    check_small(status, body.len(), target)
}

impl Subject for Reqwest {
    fn name(&self) -> &'static str {
        "reqwest"
    }

    fn supports(&self, s: Scenario) -> bool {
        s != Scenario::Batch16
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        let (client, url, target) = (&self.client, self.url.as_str(), &self.target);
        let sse_url = self.sse_url.as_str();
        self.rt.block_on(async {
            let mut work = Work::default();
            match scenario {
                Scenario::Seq | Scenario::NewConn => {
                    for _ in 0..n {
                        work.check +=
                            get(client, url, scenario == Scenario::NewConn, target).await?;
                        work.units += 1;
                    }
                }
                Scenario::Conc16 => {
                    let mut tasks: FuturesUnordered<_> = (0..16)
                        .map(|_| async move {
                            let mut sum = 0;
                            for _ in 0..n / 16 {
                                sum += get(client, url, false, target).await?;
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
                        let resp = client
                            .get(sse_url)
                            .send()
                            .await
                            .map_err(|e| e.to_string())?;
                        let mut events = resp.bytes_stream().eventsource();
                        while let Some(ev) = events.next().await {
                            let ev = ev.map_err(|e| e.to_string())?;
                            sum.add(&ev.event, &ev.data, &ev.id);
                        }
                    }
                    work = Work {
                        units: sum.count,
                        check: sum.sum,
                    };
                }
                Scenario::Batch16 => return Err("reqwest cannot pipeline".into()),
            }
            Ok(work)
        })
    }

    fn burst(&mut self, tasks: usize) -> Result<(), String> {
        let (client, url, target) = (&self.client, self.url.as_str(), &self.target);
        self.rt.block_on(async {
            let mut all: FuturesUnordered<_> = (0..tasks)
                .map(|_| get(client, url, false, target))
                .collect();
            while let Some(r) = all.next().await {
                r?;
            }
            Ok(())
        })
    }
}
