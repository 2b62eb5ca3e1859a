//! hyper 1 with hyper-util's legacy pooled client, on a current-thread tokio runtime.

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::docroot::SMALL_PATH;
use crate::subject::{check_small, Scenario, Subject, Target, Work};

/// hyper-util's `Client` over `HttpConnector`.
pub struct Hyper {
    rt: tokio::runtime::Runtime,
    client: Client<HttpConnector, Empty<Bytes>>,
    target: Target,
    uri: http::Uri,
}

impl Hyper {
    /// A client with default pool settings (`TCP_NODELAY` on, as every client here has).
    pub fn new(target: &Target) -> Result<Hyper, String> {
        let rt = super::current_thread()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let uri = format!("{}{SMALL_PATH}", target.base)
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        Ok(Hyper {
            rt,
            client,
            target: target.clone(),
            uri,
        })
    }
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    uri: &http::Uri,
    close: bool,
    target: &Target,
) -> Result<u64, String> {
    let mut req = http::Request::get(uri.clone());
    if close {
        req = req.header(http::header::CONNECTION, "close");
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    check_small(status, body.len(), target)
}

impl Subject for Hyper {
    fn name(&self) -> &'static str {
        "hyper"
    }

    fn supports(&self, s: Scenario) -> bool {
        matches!(s, Scenario::Seq | Scenario::Conc16 | Scenario::NewConn)
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        let (client, uri, target) = (&self.client, &self.uri, &self.target);
        self.rt.block_on(async {
            let mut work = Work::default();
            match scenario {
                Scenario::Seq | Scenario::NewConn => {
                    for _ in 0..n {
                        work.check +=
                            get(client, uri, scenario == Scenario::NewConn, target).await?;
                        work.units += 1;
                    }
                }
                Scenario::Conc16 => {
                    let mut tasks: FuturesUnordered<_> = (0..16)
                        .map(|_| async move {
                            let mut sum = 0;
                            for _ in 0..n / 16 {
                                sum += get(client, uri, false, target).await?;
                            }
                            Ok::<u64, String>(sum)
                        })
                        .collect();
                    while let Some(sum) = tasks.next().await {
                        work.check += sum?;
                    }
                    work.units = (n / 16 * 16) as u64;
                }
                _ => return Err(format!("hyper: no {}", scenario.name())),
            }
            Ok(work)
        })
    }

    fn burst(&mut self, tasks: usize) -> Result<(), String> {
        let (client, uri, target) = (&self.client, &self.uri, &self.target);
        self.rt.block_on(async {
            let mut all: FuturesUnordered<_> = (0..tasks)
                .map(|_| get(client, uri, false, target))
                .collect();
            while let Some(r) = all.next().await {
                r?;
            }
            Ok(())
        })
    }
}
