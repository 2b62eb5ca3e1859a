//! plue-http on mio.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use plue_http_core::{Error, ErrorKind, Request, Response};
