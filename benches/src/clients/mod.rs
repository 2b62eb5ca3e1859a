//! The measured clients: plue-http on each runtime, the peers, and the raw-socket baseline.

pub mod hyper;
pub mod plue;
pub mod raw;
pub mod reqwest;
pub mod ureq;

use crate::subject::{Subject, Target};

/// A current-thread tokio runtime with I/O and timers (the flavour every tokio-based client runs on here:
/// client and server share two cores, so extra worker threads only add cross-thread wake-ups).
pub fn current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Names accepted by [`make`], in report order.
pub const NAMES: [&str; 7] = [
    "raw",
    "plue-tokio",
    "plue-smol",
    "plue-mio",
    "hyper",
    "reqwest",
    "ureq",
];

/// A fresh client by name.
pub fn make(name: &str, target: &Target) -> Result<Box<dyn Subject>, String> {
    Ok(match name {
        "raw" => Box::new(raw::Raw::new(target)?),
        "plue-tokio" => Box::new(plue::tokio(target)?),
        "plue-smol" => Box::new(plue::smol(target)?),
        "plue-mio" => Box::new(plue::PlueMio::new(target)?),
        "hyper" => Box::new(hyper::Hyper::new(target)?),
        "reqwest" => Box::new(reqwest::Reqwest::new(target)?),
        "ureq" => Box::new(ureq::Ureq::new(target)?),
        other => return Err(format!("unknown client {other}")),
    })
}
