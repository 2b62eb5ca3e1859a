//! The OpenCode connection the commands use: the runtime's [`OpenCode`] client, with each call blocked on,
//! timed for `-v`, and turned into a one-sentence failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use plue_http::Error;
use plue_opencode::OpenCode;

use crate::fail::{Exit, Fail};
use crate::ui::Ui;

/// An OpenCode server and the output. Derefs to the typed client.
#[derive(Debug, Clone)]
pub struct Oc {
    /// The typed client (follows a restarted server).
    pub opencode: OpenCode,
    /// Shows results.
    pub ui: Arc<Ui>,
}

impl std::ops::Deref for Oc {
    type Target = OpenCode;
    fn deref(&self) -> &OpenCode {
        &self.opencode
    }
}

impl Oc {
    /// Wait for a typed call. `doing` completes "Could not …" ("list sessions"); `done` names the success
    /// ("Sessions listed") for `-v` latency lines and later error messages.
    pub fn call<T>(
        &self,
        doing: &str,
        done: &str,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Fail> {
        let started = Instant::now();
        let value = futures_lite::future::block_on(call)
            .map_err(|e| Fail::from_error(doing, &e, self.ui.last_ok()))?;
        self.ui.done(done, started.elapsed());
        Ok(value)
    }

    /// `doing` failed with `e` (a stream's error).
    pub fn fail(&self, doing: &str, e: &Error) -> Fail {
        Fail::from_error(doing, e, self.ui.last_ok())
    }

    /// A failure that is not an HTTP error.
    pub fn plain(&self, exit: Exit, doing: &str, reason: &str) -> Fail {
        Fail::plain(exit, doing, reason, self.ui.last_ok())
    }
}
