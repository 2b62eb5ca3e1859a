//! A handler that answers every request with its tag, so a test can match each response to its request.

use plue_http_core::time::Instant;
use plue_http_sim::server::{Ctx, Handler, ReceivedRequest, Reply};

pub use plue_http_sim::server::TAG_HEADER;

/// Answers `200` with the request's [`TAG_HEADER`] value as the body (empty when missing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Handler for Echo {
    fn handle(&mut self, _now: Instant, req: &ReceivedRequest, _ctx: &mut Ctx) -> Reply {
        Reply::ok(req.tag().unwrap_or_default().to_string())
    }
}
