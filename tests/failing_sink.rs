//! A sink whose writes fail: the application keeps running and the failure is counted.
use mini_telemetry::{Config, Sink, info};
use std::io::{Error, Write};

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(Error::other("disk full"))
    }
}

#[test]
fn failing_sink_is_counted_and_the_app_goes_on() {
    let guard = Config::new("svc", "1", "test")
        .sink(Sink::Writer(Box::new(Broken)))
        .use_env(false)
        .install()
        .unwrap();
    let logger = mini_telemetry::logger("broken");
    for i in 0..10_000 {
        info!(logger, "into the void", i = i);
    }
    mini_telemetry::flush();
    let st = mini_telemetry::stats();
    assert!(st.write_errors >= 1, "{st:?}");
    assert_eq!(st.written, 0, "nothing reached the sink");
    assert_eq!(
        (st.dropped, st.lost),
        (0, 0),
        "records were drained, not stuck or lost in rings"
    );
    // Producers never block on a broken sink: a second burst goes through at full speed.
    for i in 0..100_000 {
        info!(logger, "still fine", i = i);
    }
    mini_telemetry::flush();
    drop(guard);
}
