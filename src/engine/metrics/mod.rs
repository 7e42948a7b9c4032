//! Metric storage the calling threads write and the writer reads: instruments and their series,
//! cells sharded by thread slot, atomic log-linear histograms, and the fingerprints that find a
//! series from a per-call attribute set.

#[allow(unsafe_code)] // word-by-word reads of fresh fingerprints (store forwarding)
mod fingerprint;
pub(crate) mod histogram;
mod instrument;
mod series;
pub(crate) mod shard;

pub(crate) use instrument::{Callback, INSTRUMENTS, Instrument};
pub use instrument::{Observer, attributes_limited, has_observable};
pub use series::invalid_count;
pub(crate) use series::{Cells, Kind, Series};
pub use shard::overflow_count;
