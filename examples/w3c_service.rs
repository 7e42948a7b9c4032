//! A service for the W3C Trace Context test suite (github.com/w3c/trace-context, `test/`).
//!
//! ```text
//! cargo run --release --example w3c_service -- 5000
//! ```
//!
//! It listens on 127.0.0.1 at the given port. On `POST /test`, whose body is a JSON array of
//! `{"url": ..., "arguments": [...]}`, it extracts the caller's `traceparent`/`tracestate`,
//! starts a server span under it and, for each element in order, a client span, and POSTs
//! `arguments` as JSON to `url` with that span's context injected. Plain HTTP/1.1 over
//! `std::net`, one request per connection: enough for the suite, not a web server. Telemetry
//! goes to stderr, so that stdout stays quiet.

use mini_telemetry::propagation::{self, TraceState};
use mini_telemetry::{Config, Sink, SpanKind, Status};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A request: its path, its headers in order (repeated ones kept) and its body.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(mut stream: &TcpStream, status: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// POSTs `body` to `url` (`http://host:port/path`) with `headers`; returns the status line.
fn post(url: &str, headers: &[(String, String)], body: &str) -> std::io::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("not an http:// url: {url}")))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut status = String::new();
    BufReader::new(&s).read_line(&mut status)?;
    Ok(status.trim_end().to_string())
}

fn handle(stream: TcpStream, tracer: mini_telemetry::Tracer) {
    let Ok(req) = read_request(&stream) else {
        return respond(&stream, "400 Bad Request");
    };
    if req.method != "POST" || req.path != "/test" {
        return respond(&stream, "404 Not Found");
    }
    let Ok(serde_json::Value::Array(cases)) = serde_json::from_slice(&req.body) else {
        return respond(&stream, "400 Bad Request");
    };
    // An invalid or absent traceparent: a new trace, and no tracestate.
    let remote = propagation::extract(&req.headers[..]);
    let parent = remote
        .as_ref()
        .map_or(mini_telemetry::SpanContext::NONE, |r| r.context);
    let trace_state: Option<&TraceState> = remote.as_ref().map(|r| &r.trace_state);
    let server = tracer
        .span("POST /test")
        .kind(SpanKind::Server)
        .parent(parent)
        .start();
    for case in &cases {
        let url = case["url"].as_str().unwrap_or("");
        let args = case["arguments"].to_string();
        let client = tracer.span("POST").kind(SpanKind::Client).start();
        client.set_attribute("url.full", url);
        let mut headers: Vec<(String, String)> = Vec::new();
        propagation::inject_current(trace_state, &mut headers);
        match post(url, &headers, &args) {
            Ok(status) => client.set_attribute("http.response.status_line", status.as_str()),
            Err(e) => {
                client.record_exception(&e);
                client.set_status(Status::error("request failed"));
            }
        }
    }
    drop(server);
    respond(&stream, "200 OK");
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    let _telemetry = Config::new("w3c-service", "1", "test")
        .sink(Sink::Stderr)
        .install()
        .expect("telemetry");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
    eprintln!("w3c_service: listening on 127.0.0.1:{port}, POST /test");
    let tracer = mini_telemetry::tracer("w3c_service");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || handle(stream, tracer));
    }
}
