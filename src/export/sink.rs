//! Where the lines go: the configured destination, and what happens when writing to it fails
//! (reported once on stderr, counted, and later output discarded so producers never block on a
//! dead sink).

use crate::engine::shared::Counters;
use crate::model::config::Sink as Destination;
use std::io::Write;
use std::sync::atomic::Ordering;

/// Opens the configured destination (at init, so that a bad path is an init error).
pub(crate) fn open_sink(sink: Destination) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match sink {
        Destination::Stdout => Box::new(std::io::stdout()),
        Destination::Stderr => Box::new(std::io::stderr()),
        Destination::File(p) => Box::new(std::fs::File::create(p)?),
        Destination::Writer(w) => w,
    })
}

/// The open destination and whether it has failed.
pub(crate) struct Sink {
    w: Box<dyn Write + Send>,
    failed: bool,
}

impl Sink {
    pub fn new(w: Box<dyn Write + Send>) -> Self {
        Sink { w, failed: false }
    }

    /// Writes `bytes`; returns whether they reached the destination.
    pub fn write(&mut self, bytes: &[u8], counters: &Counters) -> bool {
        if self.failed {
            return false;
        }
        match self.w.write_all(bytes) {
            Ok(()) => true,
            Err(e) => {
                self.fail(e, counters);
                false
            }
        }
    }

    /// Flushes the destination.
    pub fn flush(&mut self, counters: &Counters) {
        if !self.failed {
            if let Err(e) = self.w.flush() {
                self.fail(e, counters);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error, counters: &Counters) {
        counters.write_errors.fetch_add(1, Ordering::Relaxed);
        if !self.failed {
            diag!(
                "mini-telemetry: cannot write telemetry output ({e}); further output is discarded and counted"
            );
        }
        self.failed = true;
    }
}
