//! `examples/w3c_service.rs` driven as the W3C Trace Context test suite drives it: `POST /test`
//! with a body of `{url, arguments}` cases and a traceparent/tracestate; the callbacks it makes
//! are received here and their headers checked against the recommendation.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One received callback: its headers (lowercase names, repeats kept) and body.
type Callback = (Vec<(String, String)>, String);

fn serve_callbacks(listener: TcpListener, tx: mpsc::Sender<Callback>) {
    for stream in listener.incoming().flatten() {
        let mut r = BufReader::new(&stream);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let mut headers = Vec::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = line.trim_end().split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        let _ = r.read_exact(&mut body);
        let _ = (&stream)
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = tx.send((headers, String::from_utf8_lossy(&body).into_owned()));
    }
}

/// POSTs a test request with `headers` to the service; returns the callbacks it made.
fn test_request(
    port: u16,
    headers: &[(&str, &str)],
    cases: usize,
    rx: &mpsc::Receiver<Callback>,
    cb_port: u16,
) -> Vec<Callback> {
    let body: Vec<String> = (0..cases)
        .map(|i| {
            format!(
                r#"{{"url":"http://127.0.0.1:{cb_port}/callback","arguments":[{{"case":{i}}}]}}"#
            )
        })
        .collect();
    let body = format!("[{}]", body.join(","));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST /test HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut status = String::new();
    BufReader::new(&s).read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    (0..cases)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a callback")
        })
        .collect()
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_service_propagates_as_the_w3c_suite_expects() {
    let cb = TcpListener::bind("127.0.0.1:0").unwrap();
    let cb_port = cb.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve_callbacks(cb, tx));
    // A free port for the service.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = Service(
        Command::new(common::example("w3c_service"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut tries = 0;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        tries += 1;
        assert!(tries < 200, "the service did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    // A valid caller: same trace, a new parent id per call, flags and tracestate kept.
    let got = test_request(
        port,
        &[("traceparent", tp), ("tracestate", "foo=1,bar=2")],
        3,
        &rx,
        cb_port,
    );
    let mut parents = std::collections::HashSet::new();
    for (i, (h, body)) in got.iter().enumerate() {
        let out = header(h, "traceparent");
        assert_eq!(out.len(), 1);
        let p = propagation_parts(out[0]);
        assert_eq!(p.0, "00");
        assert_eq!(
            p.1, "0af7651916cd43dd8448eb211c80319c",
            "the trace continues"
        );
        assert_ne!(
            p.2, "b7ad6b7169203331",
            "a span of the service is the parent"
        );
        assert!(parents.insert(p.2.to_string()), "one span per call");
        assert_eq!(p.3, "01");
        assert_eq!(header(h, "tracestate"), ["foo=1,bar=2"]);
        assert_eq!(
            body,
            &format!(r#"[{{"case":{i}}}]"#),
            "arguments posted in order"
        );
    }
    // Not sampled by the caller: passed on as such.
    let got = test_request(
        port,
        &[("traceparent", &tp.replace("-01", "-00"))],
        1,
        &rx,
        cb_port,
    );
    assert!(header(&got[0].0, "traceparent")[0].ends_with("-00"));
    // Invalid traceparents restart the trace and drop tracestate.
    for bad in [
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ] {
        let got = test_request(
            port,
            &[("traceparent", bad), ("tracestate", "foo=1")],
            1,
            &rx,
            cb_port,
        );
        let out = header(&got[0].0, "traceparent");
        assert_ne!(
            propagation_parts(out[0]).1,
            "0af7651916cd43dd8448eb211c80319c",
            "{bad}"
        );
        assert!(header(&got[0].0, "tracestate").is_empty(), "{bad}");
    }
    // Two traceparent headers: invalid too.
    let got = test_request(
        port,
        &[("traceparent", tp), ("traceparent", tp)],
        1,
        &rx,
        cb_port,
    );
    assert_ne!(
        propagation_parts(header(&got[0].0, "traceparent")[0]).1,
        "0af7651916cd43dd8448eb211c80319c"
    );
    // tracestate in two headers is one list; an invalid one is dropped, the trace kept.
    let got = test_request(
        port,
        &[
            ("traceparent", tp),
            ("tracestate", "foo=1"),
            ("tracestate", "bar=2"),
        ],
        1,
        &rx,
        cb_port,
    );
    assert_eq!(header(&got[0].0, "tracestate"), ["foo=1,bar=2"]);
    let got = test_request(
        port,
        &[("traceparent", tp), ("tracestate", "foo=1,foo=2")],
        1,
        &rx,
        cb_port,
    );
    assert!(header(&got[0].0, "tracestate").is_empty());
    assert_eq!(
        propagation_parts(header(&got[0].0, "traceparent")[0]).1,
        "0af7651916cd43dd8448eb211c80319c"
    );
    drop(service);
}

/// version, trace id, parent id, flags.
fn propagation_parts(tp: &str) -> (&str, &str, &str, &str) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "{tp}");
    assert_eq!((p[1].len(), p[2].len(), p[3].len()), (32, 16, 2), "{tp}");
    (p[0], p[1], p[2], p[3])
}
