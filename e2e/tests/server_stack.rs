//! One request through a real server stack: reqwest → axum with tower-http's `TraceLayer` →
//! a handler that logs through `log` and calls a second axum service with reqwest. The output
//! must hold one trace, continued from the caller's `traceparent`, with every parent right.
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Request};
use axum::routing::get;
use mini_telemetry::{Config, FutureExt, Sink, SpanKind, propagation};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tower_http::trace::TraceLayer;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// tower-http's span for a request, named and typed as OpenTelemetry's HTTP server span, with
/// the incoming `traceparent` for the layer to continue.
fn server_span<B>(req: &Request<B>) -> tracing::Span {
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = format!("{} {}", req.method(), req.uri().path());
    tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %req.method(),
        traceparent = traceparent,
    )
}

async fn down(headers: HeaderMap) -> String {
    log::info!(target: "down", "downstream handling");
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn front(State(down_url): State<String>) -> String {
    log::info!(target: "front", path = "/front"; "front handling");
    let tracer = mini_telemetry::tracer("front");
    let client = tracer
        .span("call down")
        .kind(SpanKind::Client)
        .start_async();
    let client_id = client.context().span_id_hex();
    let mut headers: Vec<(String, String)> = Vec::new();
    propagation::inject(client.context(), None, &mut headers);
    let received = async move {
        let mut req = reqwest::Client::new().get(&down_url);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.send().await.unwrap().text().await.unwrap()
    }
    .in_span(client)
    .await;
    format!("{client_id} {received}")
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[test]
fn one_request_through_axum_tower_http_and_reqwest_is_one_trace() {
    let sink = Shared::default();
    let guard = Config::new("e2e", "1", "test")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .use_env(false)
        .install()
        .unwrap();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer()),
    )
    .unwrap();
    mini_telemetry::log_bridge::install().unwrap();

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(async {
        let down_url = serve(
            Router::new()
                .route("/down", get(down))
                .layer(TraceLayer::new_for_http().make_span_with(server_span)),
        )
        .await;
        let front_url = serve(
            Router::new()
                .route("/front", get(front))
                .with_state(format!("{down_url}/down"))
                .layer(TraceLayer::new_for_http().make_span_with(server_span)),
        )
        .await;
        reqwest::Client::new()
            .get(format!("{front_url}/front"))
            .header("traceparent", format!("00-{trace}-{caller}-01"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    drop(rt);
    mini_telemetry::flush();
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    drop(guard);

    let (client_id, received) = body.split_once(' ').unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spans: HashMap<&str, &Value> = lines
        .iter()
        .filter(|v| v["signal"] == "span")
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let logs: HashMap<&str, &Value> = lines
        .iter()
        .filter(|v| v["signal"] == "log")
        .map(|v| (v["body"].as_str().unwrap(), v))
        .collect();

    // The front service continues the caller's trace, its parent marked remote.
    let front = spans["GET /front"];
    assert_eq!(front["kind"], "server");
    assert_eq!(front["trace_id"], trace);
    assert_eq!(front["parent_span_id"], caller);
    assert_eq!(front["parent_span_is_remote"], true);
    assert_eq!(front["attributes"]["http.request.method"], "GET");
    // The handler's `log` record is inside it.
    let handling = logs["front handling"];
    assert_eq!(handling["trace_id"], trace);
    assert_eq!(handling["span_id"], front["span_id"]);
    assert_eq!(handling["scope"]["name"], "front");
    assert_eq!(handling["attributes"]["path"], "/front");
    // The client span is its child; the outgoing request names it as the parent.
    let client = spans["call down"];
    assert_eq!(client["kind"], "client");
    assert_eq!(client["span_id"], client_id);
    assert_eq!(client["parent_span_id"], front["span_id"]);
    assert_eq!(received, format!("00-{trace}-{client_id}-01"));
    // The downstream service continues from the client span.
    let down = spans["GET /down"];
    assert_eq!(down["trace_id"], trace);
    assert_eq!(down["parent_span_id"], client_id);
    assert_eq!(down["parent_span_is_remote"], true);
    assert_eq!(logs["downstream handling"]["span_id"], down["span_id"]);
}
