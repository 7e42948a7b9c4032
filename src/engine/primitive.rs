//! The atomics the ring is built on, imported through one module so that
//! `--cfg mini_telemetry_loom` can swap in loom's model-checked versions without touching the
//! ring's code. (A cfg of its own: `--cfg loom` would also switch tokio, a dev-dependency.)

#[cfg(mini_telemetry_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(mini_telemetry_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(mini_telemetry_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(mini_telemetry_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
