//! Shared benchmark helpers: corpora, servers and measurements.

pub mod corpus;
