//! The calling thread's side: the types an application instruments its code with. Each call
//! checks the enabled flag first, then encodes a record into the thread's ring (`engine/`) or
//! adds to a metric cell; nothing here formats, allocates in steady state, or waits for the
//! writer unless a ring is full under the blocking policy.

#[allow(unsafe_code)] // pin projection of the two future adapters
pub(crate) mod future;
pub(crate) mod log;
#[cfg(feature = "log")]
pub mod log_bridge;
pub(crate) mod metrics;
pub mod propagation;
pub(crate) mod trace;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;
