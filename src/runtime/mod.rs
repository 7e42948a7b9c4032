//! The top of the crate: starting and stopping the pipeline. `init` builds the shared state from
//! the configuration and starts the writer thread; `flush` and `shutdown` wait for it.

mod lifecycle;
mod panic_hook;

pub use lifecycle::{Guard, InitError, Stats, flush, flush_timeout, shutdown, stats};
