//! The OpenCode connection the commands use: the core's typed calls, sent on the chosen runtime, timed, and
//! turned into one-sentence failures.

use std::sync::Arc;
use std::time::Instant;

use plue_http::ErrorKind;
use plue_http_core::client::StreamOptions;
use plue_http_core::opencode::{Api, Call};

use crate::fail::{Exit, Fail};
use crate::net::{Http, Subscription};
use crate::ui::Ui;

/// An OpenCode server, its API and the output.
#[derive(Debug, Clone)]
pub struct Oc {
    /// Builds the requests (base URL, directory, auth).
    pub api: Api,
    /// Sends them.
    pub http: Http,
    /// Shows results.
    pub ui: Arc<Ui>,
}

impl Oc {
    /// Send a typed call. `doing` completes "Could not …" ("list sessions"); `done` names the success
    /// ("Sessions listed") for `-v` latency lines and later error messages.
    pub fn call<T>(
        &self,
        doing: &str,
        done: &str,
        call: Result<Call<T>, ErrorKind>,
    ) -> Result<T, Fail> {
        let call = call.map_err(|e| self.fail(doing, e))?;
        let (req, parse) = call.into_parts();
        let target = format!("{} {}", req.method(), req.url());
        let started = Instant::now();
        let resp = self
            .http
            .send(req)
            .map_err(|e| Fail::from_error(doing, &e, self.ui.last_ok()))?;
        let value = parse(&resp).map_err(|e| {
            Fail::from_error(
                &format!("{doing} ({target})"),
                &plue_http::Error::new(e),
                self.ui.last_ok(),
            )
        })?;
        self.ui.done(done, started.elapsed());
        Ok(value)
    }

    /// A failure building a request (bad id, bad URL).
    pub fn fail(&self, doing: &str, e: ErrorKind) -> Fail {
        Fail::from_error(doing, &plue_http::Error::new(e), self.ui.last_ok())
    }

    /// Subscribe to `/event` (or `/global/event`) with the client's reconnect settings.
    pub fn events(&self, global: bool) -> Result<Subscription, Fail> {
        let req = if global {
            self.api.global_event_request()
        } else {
            self.api.event_request()
        }
        .map_err(|e| self.fail("subscribe to events", e))?;
        Ok(self.http.subscribe(req, StreamOptions::default()))
    }

    /// A failure that is not an HTTP error.
    pub fn plain(&self, exit: Exit, doing: &str, reason: &str) -> Fail {
        Fail::plain(exit, doing, reason, self.ui.last_ok())
    }
}
