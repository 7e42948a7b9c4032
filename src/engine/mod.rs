//! What the calling thread hands over to the writer thread, and the state both share.
//!
//! Calling-thread side: [`thread`] (the thread's ring producer and shard slot) puts
//! [`record`]s into its [`ring`], stamped with [`clock`] ticks; [`current`] is the thread's
//! stack of current spans and [`ids`] its id generator; metric measurements go straight to
//! [`metrics`] cells. Writer side: the consumer half of each ring, the calibration of clock
//! ticks to Unix time, and reads of the metric cells. [`shared`] holds the enabled flag, the
//! settings and the writer's control block; [`scope`] and [`callsite`] intern the static names
//! records refer to by id.

pub(crate) mod cacheline;
pub(crate) mod callsite;
pub(crate) mod clock;
pub(crate) mod current;
pub(crate) mod gate;
pub(crate) mod ids;
pub(crate) mod metrics;
pub(crate) mod primitive;
pub mod record;
#[allow(unsafe_code)] // the ring protocol: disjoint byte ranges handed between two threads
pub mod ring;
pub(crate) mod scope;
pub(crate) mod shared;
#[allow(unsafe_code)] // rdtsc, clflush, prctl behind safe functions
pub(crate) mod sys;
pub(crate) mod thread;
