//! ureq 3 (blocking, default features off: no TLS) with one `Agent` (its connection pool).

use std::io::Read;

use crate::docroot::SMALL_PATH;
use crate::subject::{check_small, Scenario, Subject, Target, Work};

/// `ureq::Agent`.
pub struct Ureq {
    agent: ureq::Agent,
    target: Target,
    url: String,
    buf: Vec<u8>,
}

impl Ureq {
    /// An agent with default settings.
    pub fn new(target: &Target) -> Result<Ureq, String> {
        Ok(Ureq {
            agent: ureq::Agent::new_with_defaults(),
            target: target.clone(),
            url: format!("{}{SMALL_PATH}", target.base),
            buf: Vec::new(),
        })
    }

    fn get(&mut self, close: bool) -> Result<u64, String> {
        let mut req = self.agent.get(&self.url);
        if close {
            req = req.header("connection", "close");
        }
        let mut resp = req.call().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        self.buf.clear();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut self.buf)
            .map_err(|e| e.to_string())?;
        check_small(status, self.buf.len(), &self.target)
    }
}

impl Subject for Ureq {
    fn name(&self) -> &'static str {
        "ureq"
    }

    fn supports(&self, s: Scenario) -> bool {
        matches!(s, Scenario::Seq | Scenario::NewConn)
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        if !self.supports(scenario) {
            return Err(format!("ureq: no {}", scenario.name()));
        }
        let mut work = Work::default();
        for _ in 0..n {
            work.check += self.get(scenario == Scenario::NewConn)?;
            work.units += 1;
        }
        Ok(work)
    }

    fn burst(&mut self, tasks: usize) -> Result<(), String> {
        // A blocking agent: `tasks` threads sharing the agent's pool.
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let agent = self.agent.clone();
                    let url = self.url.as_str();
                    s.spawn(move || {
                        let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
                        resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err("panicked".into())))
                .collect()
        });
        results.into_iter().collect()
    }
}
