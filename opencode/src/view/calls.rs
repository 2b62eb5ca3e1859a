//! The GET call a [`Snapshot`](super::Snapshot) needs that the hand-written calls lack: pending questions.

use http::Method;

use super::PendingQuestion;
use crate::{Api, Call};
use plue_http_core::error::ErrorKind;

impl Api {
    /// `GET /question`: questions the model asked that nobody answered yet.
    pub fn questions(&self) -> Result<Call<Vec<PendingQuestion>>, ErrorKind> {
        Ok(Call {
            request: self.builder(Method::GET, "/question").build()?,
            parse: |r| r.success_json(),
        })
    }
}
