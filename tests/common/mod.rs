//! Helpers for running the examples as child processes and parsing their output.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of an example binary built by `cargo test` (same profile as the test itself).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps -> target/<profile>
    let path = dir.join("examples").join(name);
    // `cargo test` builds the examples, but `cargo test --test x` does not: make sure the binary
    // is current (a no-op when it is), once per example per test process.
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == name) {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--example", name]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building example {name}");
        built.push(name.to_string());
    }
    path
}

/// Runs an example with arguments and environment, clearing inherited telemetry settings.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(example(name));
    cmd.args(args);
    for k in [
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "MINI_TELEMETRY_FORMAT",
        "MINI_TELEMETRY_LOG_LEVEL",
        "RUST_BACKTRACE",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Parses every stdout line as JSON; panics with the line if one is not valid.
pub fn json_lines(out: &Output) -> Vec<Value> {
    let text = std::str::from_utf8(&out.stdout).expect("stdout is UTF-8");
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("invalid JSON line ({e}): {l}"))
        })
        .collect()
}

/// Lines of one signal.
pub fn signal<'a>(lines: &'a [Value], s: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["signal"] == s).collect()
}

/// The span named `name` (exactly one).
pub fn span<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    let v: Vec<_> = signal(lines, "span")
        .into_iter()
        .filter(|l| l["name"] == name)
        .collect();
    assert_eq!(v.len(), 1, "exactly one span {name}");
    v[0]
}

/// The log whose body is `body` (exactly one).
pub fn log<'a>(lines: &'a [Value], body: &str) -> &'a Value {
    let v: Vec<_> = signal(lines, "log")
        .into_iter()
        .filter(|l| l["body"] == body)
        .collect();
    assert_eq!(v.len(), 1, "exactly one log {body}");
    v[0]
}

/// The last exported point of metric `name` whose attributes equal `attrs`.
pub fn point<'a>(lines: &'a [Value], name: &str, attrs: Value) -> &'a Value {
    signal(lines, "metric")
        .into_iter()
        .rev()
        .find(|l| l["name"] == name && l["attributes"] == attrs)
        .unwrap_or_else(|| panic!("no point {name} {attrs}"))
}

/// Per thread, the `seq` values of the `flood` scenario's logs, in output order.
pub fn flood_seqs(lines: &[Value]) -> std::collections::HashMap<u64, Vec<u64>> {
    let mut seen: std::collections::HashMap<u64, Vec<u64>> = std::collections::HashMap::new();
    for l in signal(lines, "log") {
        assert_eq!(l["body"], "flood");
        seen.entry(l["attributes"]["thread"].as_u64().unwrap())
            .or_default()
            .push(l["attributes"]["seq"].as_u64().unwrap());
    }
    seen
}

/// Every thread's records came out exactly once each, in order.
pub fn assert_exact(lines: &[Value], threads: u64, n: u64) {
    let seen = flood_seqs(lines);
    assert_eq!(seen.len() as u64, threads);
    for (t, seqs) in seen {
        assert!(
            seqs.iter().copied().eq(0..n),
            "thread {t}: {} records, in order, none duplicated",
            seqs.len()
        );
    }
}

/// Runs `scenario flood THREADS N 4096 POLICY` (4 KiB rings) and parses its output.
pub fn flood(threads: u64, n: u64, policy: &str) -> Vec<Value> {
    json_lines(&run(
        "scenario",
        &[
            "flood",
            &threads.to_string(),
            &n.to_string(),
            "4096",
            policy,
        ],
        &[],
    ))
}

/// Per thread: delivered + last reported drop count = produced, and what was delivered is in
/// order without duplicates (drop mode's promise). Returns the total dropped.
pub fn assert_drop_accounting(lines: &[Value], threads: u64, n: u64) -> u64 {
    let seen = flood_seqs(lines);
    let mut dropped: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for m in signal(lines, "metric") {
        if m["name"] == "mini_telemetry.records.dropped" {
            assert_eq!(m["scope"]["name"], "mini_telemetry");
            dropped.insert(
                m["attributes"]["thread.name"].as_str().unwrap().to_string(),
                m["value"].as_u64().unwrap(),
            );
        }
    }
    let mut total = 0;
    for t in 0..threads {
        let delivered = seen.get(&t).map_or(0, |v| v.len() as u64);
        let d = dropped.get(&format!("w{t}")).copied().unwrap_or(0);
        assert_eq!(
            delivered + d,
            n,
            "thread {t}: delivered {delivered} + dropped {d}"
        );
        if let Some(v) = seen.get(&t) {
            assert!(
                v.windows(2).all(|w| w[0] < w[1]),
                "thread {t}: in order, no duplicates"
            );
        }
        total += d;
    }
    total
}

/// Runs `scenario flood THREADS N 4096 POLICY` with a reader that stalls for 1.5 s first: checks
/// that the program's memory stays bounded meanwhile, then reads and parses everything.
pub fn flood_with_stalled_reader(threads: u64, n: u64, policy: &str) -> Vec<Value> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(example("scenario"))
        .args([
            "flood",
            &threads.to_string(),
            &n.to_string(),
            "4096",
            policy,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", child.id())).unwrap();
    let rss_kib = statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4;
    assert!(
        rss_kib < 64 * 1024,
        "memory bounded while the reader stalls: {rss_kib} KiB"
    );
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs an example with a watchdog: panics if it does not finish within `secs`.
pub fn run_with_timeout(prefix: &[&str], name: &str, args: &[&str], secs: u64) -> Output {
    use std::process::Stdio;
    let exe = example(name);
    let mut cmd = if prefix.is_empty() {
        Command::new(&exe)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(&exe);
        c
    };
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a full pipe cannot stall the child.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).unwrap();
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).unwrap();
        v
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} {args:?} did not finish within {secs} s (hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    };
    assert!(
        out.status.success(),
        "{name} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// The generator and the text `examples/scenario.rs random` draws: the same file, included.
include!("../../examples/shared/random.rs");

/// A sink that keeps what the writer thread writes, for tests that run telemetry in their own
/// process (`Sink::Writer(Box::new(shared.clone()))`).
#[derive(Clone, Default)]
pub struct Shared(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Everything written so far, each line parsed as JSON.
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("invalid JSON line ({e}): {l}"))
            })
            .collect()
    }
}
