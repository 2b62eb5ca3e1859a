//! Shared benchmark helpers: corpora, servers and measurements.
