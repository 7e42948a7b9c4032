//! The writer thread: everything that runs after a record leaves its ring.
//!
//! [`writer`] drains the rings and routes each record: [`logs`] decodes logs, [`spans`] keeps a
//! live span's parts until its end and assembles it, [`attrs`] applies OpenTelemetry's rules to
//! each attribute collection, and [`metrics`] reads the metric cells at each export (observable
//! gauges' callbacks run on a thread of their own, [`observe`]). All of them
//! hand views ([`view`]) to the configured [`format`](mod@format), which appends lines to one
//! buffer that [`sink`] writes out.

mod attrs;
pub(crate) mod format;
mod logs;
mod metrics;
pub(crate) mod observe;
mod sink;
mod spans;
pub(crate) mod view;
mod writer;

pub(crate) use sink::open_sink;
pub(crate) use writer::Writer;
