//! The library under the `plue` command. For now it holds what other crates reuse: the [`embedded`] demo
//! server and its loopback host ([`embedded::host::Loopback`], which the tests crate serves its scripted
//! servers with). The command itself (`src/main.rs`) is built on top of it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod embedded;
