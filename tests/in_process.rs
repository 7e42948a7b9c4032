//! One process, one init: a custom `Write` sink, `flush()`, `stats()` and shutdown, checked from
//! inside the application.
mod common;

use common::Shared;
use mini_telemetry::{Config, KeyValue, Sink, info};

/// A value whose conversion gives a shorter string the first time than the next (a caller's
/// `From` impl may do anything): the macros convert each value once, so a record is sized and
/// written with the same value.
struct Flaky;
static FLAKY_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
impl From<&Flaky> for mini_telemetry::Value<'static> {
    fn from(_: &Flaky) -> Self {
        let n = FLAKY_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        mini_telemetry::Value::Str(if n % 2 == 0 {
            ""
        } else {
            "a longer second value"
        })
    }
}

fn json(v: i64) -> serde_json::Value {
    v.into()
}

#[test]
fn writer_sink_flush_stats_and_shutdown() {
    let sink = Shared::default();
    let guard = Config::new("in-process", "9", "ci")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .use_env(false)
        .install()
        .unwrap();
    assert!(mini_telemetry::is_enabled());
    let logger = mini_telemetry::logger("t");
    let tracer = mini_telemetry::tracer("t");
    let counter = mini_telemetry::meter("t").counter("n").build();

    // Records from a thread that has already exited are delivered.
    std::thread::spawn(move || {
        let _s = tracer.start("on-exited-thread");
        info!(logger, "from exited thread", n = 1);
    })
    .join()
    .unwrap();
    // Records made by a thread's destructors, before and after the library's own state is torn
    // down: each is delivered or counted as lost, never silently gone, and the thread's exit
    // neither hangs nor crashes.
    let lost_before = mini_telemetry::stats().lost;
    struct LogOnDrop(&'static str);
    impl Drop for LogOnDrop {
        fn drop(&mut self) {
            mini_telemetry::logger("t").info(self.0);
        }
    }
    thread_local! {
        static FIRST: LogOnDrop = const { LogOnDrop("destructor registered first") };
        static LAST: LogOnDrop = const { LogOnDrop("destructor registered last") };
    }
    let l = logger;
    std::thread::spawn(move || {
        FIRST.with(|_| ());
        info!(l, "thread with destructors");
        LAST.with(|_| ());
    })
    .join()
    .unwrap();
    let lost_in_destructors = mini_telemetry::stats().lost - lost_before;
    let _s = tracer.start("here");
    logger.info("before flush");
    // A repeated attribute key: one key in the output, with the last value.
    logger.log(
        mini_telemetry::Level::Info,
        "repeated key",
        &[
            KeyValue::new("k", 1),
            KeyValue::new("j", 2),
            KeyValue::new("k", 3),
        ],
    );
    info!(logger, "repeated field", f = 1, g = 2, f = 3);
    // Macro logs around the writer's arrays of values decoded on the stack (2, 4 and 8 long):
    // 0 to 5, 8 and 9 fields.
    macro_rules! eight_fields_and {
        ($body:literal $(, $k:ident = $v:expr)*) => {
            info!(logger, $body, a = 1, b = "2", c = true, d = 4.5, e = -5, f = 6, g = 7, h = 8 $(, $k = $v)*)
        };
    }
    eight_fields_and!("eight");
    eight_fields_and!("nine", i = 9);
    info!(logger, "zero");
    info!(logger, "one", a = 1);
    info!(logger, "two", a = 1, b = "2");
    info!(logger, "three", a = 1, b = "2", c = true);
    info!(logger, "four", a = 1, b = "2", c = true, d = 4.5);
    info!(logger, "five", a = 1, b = "2", c = true, d = 4.5, e = -5);
    // Every kind of value a macro field takes, each written from its own type.
    let owned = String::from("owned");
    info!(
        logger,
        "kinds",
        big = u64::MAX,
        small = 7u8,
        f = 0.5f32,
        s = &owned,
        v = mini_telemetry::Value::from(-3),
        strs = &["x", "y"][..],
        ints = &[1i64, 2][..],
        floats = &[0.25f64][..],
        bools = &[true, false][..]
    );
    {
        let s = tracer.start("repeated keys");
        let rep = [
            KeyValue::new("e", 1),
            KeyValue::new("x", 2),
            KeyValue::new("e", 3),
        ];
        s.set_attributes(&rep);
        s.add_event("ev", &rep);
        s.add_link(s.context(), &rep);
    }
    {
        // The limit (128) counts keys: 300 values of one key, then 130 other keys.
        let s = tracer.start("limit counts keys");
        for i in 0..300 {
            s.set_attribute("r", i);
        }
        for i in 0..130 {
            s.set_attribute(&format!("d{i}"), i);
        }
        // New values for kept keys, looked up in the writer's key index (built past 64 keys).
        s.set_attribute("r", -1);
        s.set_attribute("d0", -2);
        s.set_attribute("d126", -3);
        // The same calls as one list, for an event, a link and a log (limit 128 each).
        let names: Vec<String> = (0..130).map(|i| format!("d{i}")).collect();
        let mut list: Vec<KeyValue> = (0..300).map(|i| KeyValue::new("r", i)).collect();
        list.extend(names.iter().zip(0i64..).map(|(k, i)| KeyValue::new(k, i)));
        list.extend([
            KeyValue::new("r", -1),
            KeyValue::new("d0", -2),
            KeyValue::new("d126", -3),
        ]);
        s.add_event("limit counts keys", &list);
        s.add_link(s.context(), &list);
        logger.log(mini_telemetry::Level::Info, "limit counts keys", &list);
    }
    // `set_attributes!` and `set_attributes(&[..])` on an array (both visiting the values one
    // by one) write what the general path writes for a slice or a vector, on their fast path
    // and past the span's limit; the macro evaluates nothing for a span that does not record.
    {
        let strs = ["x", "y"];
        let seven = [
            KeyValue::new("a", 1),
            KeyValue::new("b", "2"),
            KeyValue::new("c", true),
            KeyValue::new("d", 4.5),
            KeyValue::new("e.f", -5),
            KeyValue::new("strs", &strs[..]),
            KeyValue::new("owned", &owned),
        ];
        let seven_vec = seven.to_vec();
        tracer.start("attrs by method").set_attributes(&seven);
        tracer.start("attrs by slice").set_attributes(&seven[..]);
        tracer.start("attrs by vec").set_attributes(&seven_vec);
        let arc: std::sync::Arc<[KeyValue]> = seven_vec.clone().into();
        tracer.start("attrs by arc").set_attributes(&arc);
        let rc: std::rc::Rc<[KeyValue]> = seven_vec.clone().into();
        tracer.start("attrs by rc").set_attributes(&rc);
        let cow = std::borrow::Cow::Borrowed(&seven[..]);
        tracer.start("attrs by cow").set_attributes(&cow);
        // At start, through the builder.
        drop(
            tracer
                .span("attrs at start by array")
                .attributes(&seven)
                .start(),
        );
        drop(
            tracer
                .span("attrs at start by slice")
                .attributes(&seven[..])
                .start(),
        );
        drop(
            tracer
                .span("attrs at start by vec")
                .attributes(&seven_vec)
                .start(),
        );
        let a = tracer
            .span("async attrs at start by array")
            .attributes(&seven)
            .start_async();
        std::thread::spawn(move || drop(a)).join().unwrap();
        // Given twice, the second list replaces the first.
        let s = tracer
            .span("attrs at start replaced")
            .attributes(&[KeyValue::new("gone", 1)])
            .attributes(&seven)
            .start();
        drop(s);
        // The same for an event's attributes, and a log's.
        tracer.start("event by array").add_event("ev", &seven);
        tracer.start("event by slice").add_event("ev", &seven[..]);
        tracer.start("event by vec").add_event("ev", &seven_vec);
        let info = mini_telemetry::Level::Info;
        logger.log(info, "log by array", &seven);
        logger.log(info, "log by slice", &seven[..]);
        logger.log(info, "log by vec", &seven_vec);
        // Past the 8 pairs visited one by one, an array takes the general path.
        let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"];
        let nine: [KeyValue; 9] = std::array::from_fn(|i| KeyValue::new(keys[i], i as i64));
        tracer.start("nine by array").set_attributes(&nine);
        tracer.start("nine by slice").set_attributes(&nine[..]);
        let eight: [KeyValue; 8] = std::array::from_fn(|i| KeyValue::new(keys[i], i as i64));
        tracer.start("eight by array").set_attributes(&eight);
        tracer.start("eight by slice").set_attributes(&eight[..]);
        // The same seven through the macro, on a span and on an async span (which holds its
        // parts until it ends, on whichever thread ends it).
        macro_rules! seven {
            ($span:expr) => {
                mini_telemetry::set_attributes!(
                    $span,
                    a = 1,
                    b = "2",
                    c = true,
                    d = 4.5,
                    "e.f" = -5,
                    strs = &strs[..],
                    owned = &owned,
                )
            };
        }
        let s = tracer.start("attrs by macro");
        seven!(s);
        let a = tracer.start_async("async attrs by macro");
        seven!(a);
        std::thread::spawn(move || drop(a)).join().unwrap();
        // 511 values of the 512 a span sends (128 keys, 4 values each): one more fits.
        let s = tracer.start("attrs past the limit by method");
        for i in 0..511 {
            s.set_attribute("r", i);
        }
        s.set_attributes(&[
            KeyValue::new("r", -1),
            KeyValue::new("x", 1),
            KeyValue::new("y", 2),
        ]);
        let s = tracer.start("attrs past the limit by slice");
        for i in 0..511 {
            s.set_attribute("r", i);
        }
        s.set_attributes(
            &[
                KeyValue::new("r", -1),
                KeyValue::new("x", 1),
                KeyValue::new("y", 2),
            ][..],
        );
        let s = tracer.start("attrs past the limit by macro");
        for i in 0..511 {
            s.set_attribute("r", i);
        }
        mini_telemetry::set_attributes!(s, r = -1, x = 1, y = 2);
        let mut evaluated = 0;
        let unsampled = mini_telemetry::SpanContext::new(1, 2).with_trace_flags(0);
        let s = tracer.span("unsampled").parent(unsampled).start();
        mini_telemetry::set_attributes!(
            s,
            k = {
                evaluated += 1;
                1
            }
        );
        assert_eq!(
            evaluated, 0,
            "a span that does not record evaluates no value"
        );
        drop(s);
        let s = tracer.start("sampled");
        mini_telemetry::set_attributes!(
            s,
            k = {
                evaluated += 1;
                1
            }
        );
        assert_eq!(evaluated, 1);
        let s = tracer.start("flaky");
        mini_telemetry::set_attributes!(s, flaky = &Flaky);
        FLAKY_CALLS.store(0, std::sync::atomic::Ordering::Relaxed);
        info!(logger, "flaky", flaky = &Flaky);
        assert_eq!(
            FLAKY_CALLS.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "converted once"
        );
    }
    counter.add(3, &[KeyValue::new("k", "v")]);
    // The metric macros: the same calls behind an enabled check.
    let meter = mini_telemetry::meter("t");
    mini_telemetry::add!(counter, 4, k = "macro", "a.b" = 1);
    mini_telemetry::record!(meter.histogram("h").build(), 2.5, k = "macro");
    mini_telemetry::set!(meter.gauge("g").build(), -1.5, k = "macro");
    mini_telemetry::flush();
    #[cfg(target_os = "linux")]
    match writer_timer_slack_ns() {
        Ok(ns) => assert_eq!(ns, 1_000, "writer thread's timer slack"),
        // Reading another thread's slack needs CAP_SYS_NICE (and Linux 4.6 or later).
        Err(e) => eprintln!("timer slack not checked: {e}"),
    }

    // flush() returned: everything above is in the sink, metrics included.
    let lines = sink.lines();
    assert!(lines.iter().any(|l| l["name"] == "on-exited-thread"));
    assert!(
        lines
            .iter()
            .any(|l| l["body"] == "from exited thread" && l["trace_id"].is_string())
    );
    assert!(lines.iter().any(|l| l["body"] == "before flush"));
    let from_destructors = lines
        .iter()
        .filter(|l| {
            l["body"] == "destructor registered first" || l["body"] == "destructor registered last"
        })
        .count() as u64;
    assert_eq!(from_destructors + lost_in_destructors, 2);
    let raw = sink.text();
    for (body, key, other) in [("repeated key", "k", "j"), ("repeated field", "f", "g")] {
        let line = raw
            .lines()
            .find(|l| l.contains(&format!("\"body\":\"{body}\"")))
            .unwrap_or_else(|| panic!("{body}: no line"));
        assert_eq!(line.matches(&format!("\"{key}\":")).count(), 1, "{line}");
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(l["attributes"][key], 3, "{line}");
        assert_eq!(l["attributes"][other], 2, "{line}");
        let keys: Vec<&String> = l["attributes"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{line}");
    }
    let few = [
        ("zero", 0),
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
    ];
    for (body, n) in few {
        let line = raw
            .lines()
            .find(|l| l.contains(&format!("\"body\":\"{body}\"")))
            .unwrap_or_else(|| panic!("{body}: no line"));
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let a = l["attributes"].as_object().unwrap();
        let keys: Vec<&String> = a.keys().collect();
        assert_eq!(keys, ["a", "b", "c", "d"][..n], "{line}");
        let want = [json(1), "2".into(), true.into(), 4.5.into()];
        for (k, w) in keys.iter().zip(&want) {
            assert_eq!(&a[k.as_str()], w, "{line}");
        }
    }
    let kinds = lines.iter().find(|l| l["body"] == "kinds").expect("kinds");
    let a = &kinds["attributes"];
    assert_eq!(a["big"], serde_json::json!(u64::MAX as f64), "{kinds}");
    assert_eq!(
        (&a["small"], &a["f"], &a["s"], &a["v"]),
        (&json(7), &0.5.into(), &"owned".into(), &json(-3)),
        "{kinds}"
    );
    assert_eq!(a["strs"], serde_json::json!(["x", "y"]), "{kinds}");
    assert_eq!(a["ints"], serde_json::json!([1, 2]), "{kinds}");
    assert_eq!(a["floats"], serde_json::json!([0.25]), "{kinds}");
    assert_eq!(a["bools"], serde_json::json!([true, false]), "{kinds}");
    for (body, n) in [("five", 5), ("eight", 8), ("nine", 9)] {
        let line = raw
            .lines()
            .find(|l| l.contains(&format!("\"body\":\"{body}\"")))
            .unwrap_or_else(|| panic!("{body}: no line"));
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&String> = l["attributes"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["a", "b", "c", "d", "e", "f", "g", "h", "i"][..n],
            "{line}"
        );
        let a = &l["attributes"];
        assert_eq!(
            (&a["a"], &a["b"], &a["c"], &a["d"], &a["e"]),
            (&json(1), &"2".into(), &true.into(), &4.5.into(), &json(-5)),
            "{line}"
        );
        if n >= 8 {
            assert_eq!(a["h"], json(8), "{line}");
        }
        assert!(l["trace_id"].is_string() && l.get("dropped_attributes_count").is_none());
    }
    let span = |name: &str| {
        lines
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let by_method = &span("attrs by method")["attributes"];
    assert_eq!(by_method.as_object().unwrap().len(), 7, "{by_method}");
    for other in [
        "attrs by macro",
        "async attrs by macro",
        "attrs by slice",
        "attrs by vec",
        "attrs by arc",
        "attrs by rc",
        "attrs by cow",
        "attrs at start by array",
        "attrs at start by slice",
        "attrs at start by vec",
        "async attrs at start by array",
        "attrs at start replaced",
    ] {
        assert_eq!(by_method, &span(other)["attributes"], "{other}");
    }
    for ev in ["event by array", "event by slice", "event by vec"] {
        let ev = &span(ev)["events"][0];
        assert_eq!(&ev["attributes"], by_method, "{ev}");
        assert_eq!(ev["name"], "ev", "{ev}");
        assert!(
            ev["dropped_attributes_count"].is_null(),
            "none dropped: {ev}"
        );
    }
    let log = |body: &str| lines.iter().find(|l| l["body"] == body).expect(body);
    assert_eq!(span("flaky")["attributes"]["flaky"], "");
    assert_eq!(log("flaky")["attributes"]["flaky"], "");
    for body in ["log by array", "log by slice", "log by vec"] {
        let l = log(body);
        assert_eq!(&l["attributes"], by_method, "{l}");
        assert!(l["dropped_attributes_count"].is_null(), "none dropped: {l}");
        // In the same span: the ids of the span current on the thread.
        assert!(l["span_id"].is_string(), "{l}");
        assert_eq!(l["span_id"], log("log by array")["span_id"], "{l}");
    }
    for n in ["eight", "nine"] {
        let by_array = &span(&format!("{n} by array"))["attributes"];
        assert_eq!(by_array, &span(&format!("{n} by slice"))["attributes"]);
        let len = if n == "eight" { 8 } else { 9 };
        assert_eq!(by_array.as_object().unwrap().len(), len, "{by_array}");
        assert_eq!(by_array["k7"], 7, "{by_array}");
    }
    let past = span("attrs past the limit by method");
    // The first value fits, the other two are dropped and counted.
    assert_eq!(past["attributes"], serde_json::json!({"r": -1}), "{past}");
    assert_eq!(past["dropped_attributes_count"], 2, "{past}");
    for other in [
        "attrs past the limit by slice",
        "attrs past the limit by macro",
    ] {
        let other = span(other);
        assert_eq!(
            (&past["attributes"], &past["dropped_attributes_count"]),
            (&other["attributes"], &other["dropped_attributes_count"])
        );
    }
    let limit = lines
        .iter()
        .find(|l| l["name"] == "limit counts keys")
        .expect("span");
    assert_eq!(limit["attributes"].as_object().unwrap().len(), 128);
    assert_eq!(limit["attributes"]["r"], -1);
    assert_eq!(limit["attributes"]["d0"], -2);
    assert_eq!(limit["attributes"]["d126"], -3);
    assert_eq!(limit["dropped_attributes_count"], 3, "d127, d128, d129");
    let log_limit = lines
        .iter()
        .find(|l| l["body"] == "limit counts keys")
        .expect("log");
    for a in [
        &limit["events"][0]["attributes"],
        &limit["links"][0]["attributes"],
        &log_limit["attributes"],
    ] {
        // 128 keys and the dropped count.
        assert_eq!(a.as_object().unwrap().len(), 129, "{a}");
        assert_eq!(
            (&a["r"], &a["d0"], &a["d126"]),
            (&json(-1), &json(-2), &json(-3))
        );
        assert!(a.get("d127").is_none());
        assert_eq!(a["otel.dropped_attributes_count"], 3, "d127, d128, d129");
    }
    let line = raw
        .lines()
        .find(|l| l.contains("\"name\":\"repeated keys\""))
        .expect("span line");
    // Once each in the span's, the event's and the link's attributes.
    assert_eq!(line.matches("\"e\":").count(), 3, "{line}");
    let l: serde_json::Value = serde_json::from_str(line).unwrap();
    for a in [
        &l["attributes"],
        &l["events"][0]["attributes"],
        &l["links"][0]["attributes"],
    ] {
        assert_eq!((&a["e"], &a["x"]), (&3.into(), &2.into()), "{line}");
    }
    assert!(lines.iter().any(|l| l["name"] == "n" && l["value"] == 3));
    let macro_point = |name: &str| {
        lines
            .iter()
            .find(|l| l["name"] == name && l["attributes"]["k"] == "macro")
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let n = macro_point("n");
    assert_eq!((&n["value"], &n["attributes"]["a.b"]), (&json(4), &json(1)));
    let h = macro_point("h");
    assert_eq!(
        (h["count"].as_u64(), h["sum"].as_f64()),
        (Some(1), Some(2.5))
    );
    assert_eq!(macro_point("g")["value"], -1.5);
    assert!(
        !lines.iter().any(|l| l["name"] == "here"),
        "span still open"
    );
    let st = mini_telemetry::stats();
    assert_eq!(st.written as usize, lines.len());
    assert_eq!(
        (st.dropped, st.lost, st.write_errors, st.corrupt),
        (0, lost_in_destructors, 0, 0)
    );

    drop(_s);
    let late = tracer.start("ends-after-shutdown");
    guard.shutdown();
    assert!(!mini_telemetry::is_enabled());
    let lines = sink.lines();
    assert!(
        lines.iter().any(|l| l["name"] == "here"),
        "shutdown flushed the last span"
    );
    logger.info("after shutdown"); // a no-op: not a record, not counted
    // Disabled: the metric macros evaluate neither the value nor the attributes.
    let evaluated = std::cell::Cell::new(0);
    let touch = |v| {
        evaluated.set(evaluated.get() + 1);
        v
    };
    mini_telemetry::add!(counter, touch(1), k = touch(2));
    assert_eq!(evaluated.get(), 0);
    drop(late); // a record that can no longer be written: counted as lost, never silently
    assert_eq!(mini_telemetry::stats().lost, lost_in_destructors + 1);
    mini_telemetry::flush(); // harmless
    assert_eq!(sink.lines().len(), lines.len());
}

/// The timer slack of this process's writer thread, read from `/proc` (Linux). Panics when the
/// writer thread is not found; an error reading its slack is returned (permissions, old kernel).
#[cfg(target_os = "linux")]
fn writer_timer_slack_ns() -> std::io::Result<u64> {
    for task in std::fs::read_dir("/proc/self/task")? {
        let Ok(task) = task else { continue };
        let tid = task.file_name();
        let Some(tid) = tid.to_str() else { continue };
        // Thread names are cut to 15 bytes: "mini-telemetry-writer" reads "mini-telemetry-".
        let Ok(comm) = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")) else {
            continue;
        };
        if comm.trim_end() == "mini-telemetry-" {
            let ns = std::fs::read_to_string(format!("/proc/{tid}/timerslack_ns"))?;
            return ns
                .trim()
                .parse()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
    }
    panic!("no mini-telemetry-writer thread in /proc/self/task");
}
