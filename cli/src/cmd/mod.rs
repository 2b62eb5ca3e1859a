//! The subcommands.

pub mod api;
pub mod basic;
pub mod chat;
pub mod demo;
pub mod events;
pub mod serve;
