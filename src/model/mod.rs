//! Plain data that both sides of the pipeline share: attribute values, log levels, span
//! identities, the configuration and the resource. Nothing here runs on a hot path or touches
//! global state, and nothing here imports another part of the crate.

pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod level;
pub(crate) mod resource;
pub(crate) mod value;

pub use config::{CacheEviction, Config, Format, FullPolicy, Sampler, Sink, SpanLimits};
pub use context::SpanContext;
pub use level::Level;
pub use value::{KeyValue, Value};
