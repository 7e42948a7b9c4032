//! Observable gauges' callbacks, run on a thread of their own (`mini-telemetry-observe`), not on
//! the writer: a callback that takes seconds then delays only its own points, never the
//! draining of the rings that producers wait on.
//!
//! At each export the writer asks for a run ([`Observe::request`]) and goes on; when the run is
//! done it takes the observations ([`Observe::take`]) and writes their points with the time of
//! the export that asked. The thread starts with the first run that has a gauge to observe.

use crate::export::metrics::{Observations, observe_all};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::sync::Arc;
use std::thread::Thread;

thread_local! {
    static OBSERVER: Cell<bool> = const { Cell::new(false) };
}

/// True on the observer thread: inside a callback, `flush` must not wait for the writer (which
/// waits for this very run).
pub(crate) fn on_observer_thread() -> bool {
    OBSERVER.with(|o| o.get())
}

#[derive(Default)]
struct State {
    /// The last run asked for, and the last one finished.
    requested: u64,
    done: u64,
    /// The observations of run `done`, until the writer takes them.
    results: Option<Observations>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

/// The writer's handle on the observer thread.
pub(crate) struct Observe {
    shared: Arc<Shared>,
    started: bool,
    /// Woken when a run finishes (the writer thread).
    writer: Option<Thread>,
}

impl Observe {
    /// A handle for `writer` (the thread woken when a run finishes); no thread yet.
    pub fn new(writer: Option<Thread>) -> Self {
        Observe {
            shared: Arc::default(),
            started: false,
            writer,
        }
    }

    /// Asks for a run of every callback, unless one is still going (it then serves this
    /// request); returns the number of the run whose results to take, or `None` when there is
    /// no observable gauge (or the thread cannot be started).
    pub fn request(&mut self) -> Option<u64> {
        if !crate::engine::metrics::has_observable() {
            return None;
        }
        if !self.started {
            let shared = self.shared.clone();
            let writer = self.writer.clone();
            std::thread::Builder::new()
                .name("mini-telemetry-observe".into())
                .spawn(move || run(&shared, writer))
                .ok()?;
            self.started = true;
        }
        let mut s = self.shared.state.lock();
        if s.requested == s.done {
            s.requested += 1;
            self.shared.cv.notify_one();
        }
        Some(s.requested)
    }

    /// The observations of run `n` once it has finished (later runs serve too).
    pub fn take(&self, n: u64) -> Option<Observations> {
        let mut s = self.shared.state.lock();
        if s.done >= n {
            Some(s.results.take().unwrap_or_default())
        } else {
            None
        }
    }

    /// Stops the thread after its current run (without waiting for it: a callback may hang).
    pub fn stop(&self) {
        self.shared.state.lock().stop = true;
        self.shared.cv.notify_one();
    }
}

fn run(shared: &Shared, writer: Option<Thread>) {
    OBSERVER.with(|o| o.set(true));
    loop {
        let n = {
            let mut s = shared.state.lock();
            while s.requested == s.done && !s.stop {
                shared.cv.wait(&mut s);
            }
            if s.stop {
                return;
            }
            s.requested
        };
        let results = observe_all();
        {
            let mut s = shared.state.lock();
            s.done = n;
            s.results = Some(results);
        }
        if let Some(w) = &writer {
            w.unpark();
        }
    }
}
