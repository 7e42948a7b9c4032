//! The OTLP/JSON format (`MINI_TELEMETRY_FORMAT=otlp`) checked against the official
//! OpenTelemetry protobuf types, twice per line:
//!
//! - decoded into `opentelemetry-proto`'s generated types: exactly, through the standard
//!   protobuf JSON mapping (prost-reflect, with the ids turned from OTLP's hex into the
//!   mapping's base64) and the protobuf wire format; and, for lines without NaN or infinities,
//!   also through the crate's own serde support (what a Rust tool built on it reads: it cannot
//!   take the mapping's `"NaN"` strings);
//! - walked strictly against the protobuf descriptors that crate ships (prost-reflect): every key
//!   a field's lowerCamelCase JSON name, every value of its field's JSON type, 64-bit integers as
//!   decimal strings, enums as defined numbers, ids as lowercase hex of the right length, and
//!   OTLP's own rules (end after start, bucket counts adding up to the count).
//!
//! The programs are the crate's quickstart, the hostile-input scenario and a random multi-thread
//! run; their values must come back exactly as the JSON Lines format of the same program writes
//! them.
use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

/// Builds (once) and runs one of the crate's examples with the given format.
fn run(example: &str, args: &[&str], format: &str) -> String {
    run_with(example, args, format, &[])
}

/// [`run`] with more environment.
fn run_with(example: &str, args: &[&str], format: &str, env: &[(&str, &str)]) -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "mini-telemetry"])
            .args(["--example", "quickstart", "--example", "scenario"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the examples");
    });
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let out = Command::new(dir.join("examples").join(example))
        .args(args)
        .env("MINI_TELEMETRY_FORMAT", format)
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_SERVICE_NAME")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{example}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(opentelemetry_proto::DESCRIPTORS).unwrap())
}

fn message(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("no message {name}"))
}

/// Walks `v` as the JSON of `msg`; returns the path and reason of the first violation.
fn walk(msg: &MessageDescriptor, v: &Value, path: &str) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or(format!("{path}: not an object for {}", msg.name()))?;
    let mut oneofs: BTreeMap<String, &str> = BTreeMap::new();
    for (key, val) in obj {
        let here = format!("{path}.{key}");
        let field = msg
            .get_field_by_json_name(key)
            .filter(|f| f.json_name() == key)
            .ok_or(format!(
                "{here}: no field with this JSON name in {}",
                msg.name()
            ))?;
        if let Some(o) = field.containing_oneof()
            && let Some(prev) = oneofs.insert(o.name().to_string(), key)
        {
            return Err(format!("{here}: oneof {} already set by {prev}", o.name()));
        }
        if field.is_list() {
            let items = val.as_array().ok_or(format!("{here}: not an array"))?;
            for (i, item) in items.iter().enumerate() {
                scalar_or_message(&field, item, &format!("{here}[{i}]"))?;
            }
        } else if field.is_map() {
            return Err(format!("{here}: OTLP has no map fields"));
        } else {
            scalar_or_message(&field, val, &here)?;
        }
    }
    Ok(())
}

fn decimal(s: &str, signed: bool) -> bool {
    let digits = if signed {
        s.strip_prefix('-').unwrap_or(s)
    } else {
        s
    };
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn scalar_or_message(f: &FieldDescriptor, v: &Value, path: &str) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{path}: {what}, got {v}"));
    match f.kind() {
        Kind::Message(m) => walk(&m, v, path),
        Kind::String => v
            .as_str()
            .map(|_| ())
            .ok_or(format!("{path}: not a string")),
        Kind::Bool => v.as_bool().map(|_| ()).ok_or(format!("{path}: not a bool")),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => match v.as_str() {
            Some(s) if decimal(s, true) => Ok(()),
            _ => bad("a 64-bit integer must be a decimal string"),
        },
        Kind::Uint64 | Kind::Fixed64 => match v.as_str() {
            Some(s) if decimal(s, false) && s.parse::<u64>().is_ok() => Ok(()),
            _ => bad("a 64-bit unsigned integer must be a decimal string"),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => Ok(()),
            _ => bad("a 32-bit integer must be a number"),
        },
        Kind::Uint32 | Kind::Fixed32 => match v.as_u64() {
            Some(n) if u32::try_from(n).is_ok() => Ok(()),
            _ => bad("a 32-bit unsigned integer must be a number"),
        },
        Kind::Double | Kind::Float => match v {
            Value::Number(_) => Ok(()),
            Value::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => Ok(()),
            _ => bad("a double must be a number, or NaN/Infinity/-Infinity as a string"),
        },
        Kind::Enum(e) => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok_and(|n| e.get_value(n).is_some()) => Ok(()),
            _ => bad("an enum must be the number of a defined value"),
        },
        Kind::Bytes => {
            let hex_len = match f.name() {
                "trace_id" => 32,
                "span_id" | "parent_span_id" => 16,
                _ => return bad("no bytes field other than ids is written"),
            };
            match v.as_str() {
                Some(s)
                    if s.len() == hex_len
                        && s.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
                {
                    Ok(())
                }
                _ => bad("an id must be lowercase hex of its length"),
            }
        }
    }
}

/// `v` with OTLP's hex ids turned into the base64 of the standard protobuf JSON mapping.
fn ids_to_base64(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if ["traceId", "spanId", "parentSpanId"].contains(&k.as_str()) {
                    if let Value::String(hex) = x {
                        let bytes: Vec<u8> = (0..hex.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                            .collect();
                        *x = base64::engine::general_purpose::STANDARD
                            .encode(bytes)
                            .into();
                    }
                } else {
                    ids_to_base64(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(ids_to_base64),
        _ => {}
    }
}

/// Decodes a line into the official type `T` exactly: protobuf JSON mapping (prost-reflect) to
/// the wire format, then the generated type.
fn exact<T: Message + Default>(msg: &MessageDescriptor, v: &Value) -> T {
    let mut v = v.clone();
    ids_to_base64(&mut v);
    let dynamic = DynamicMessage::deserialize(msg.clone(), v).expect("protobuf JSON mapping");
    T::decode(dynamic.encode_to_vec().as_slice()).expect("wire format")
}

/// OTLP's rules beyond the schema, for the line `v` of request type `kind`.
fn semantics(kind: &str, v: &Value) -> Result<(), String> {
    let n = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    match kind {
        "traces" => {
            for rs in v["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for s in ss["spans"].as_array().unwrap() {
                        if n(&s["endTimeUnixNano"]) < n(&s["startTimeUnixNano"]) {
                            return Err(format!("span ends before it starts: {s}"));
                        }
                    }
                }
            }
        }
        "metrics" => {
            for rm in v["resourceMetrics"].as_array().unwrap() {
                for sm in rm["scopeMetrics"].as_array().unwrap() {
                    for m in sm["metrics"].as_array().unwrap() {
                        if let Some(e) = m.get("exponentialHistogram") {
                            for p in e["dataPoints"].as_array().unwrap() {
                                let pos = p["positive"]["bucketCounts"].as_array();
                                let total: u64 = pos.into_iter().flatten().map(n).sum();
                                if total + n(&p["zeroCount"]) != n(&p["count"]) {
                                    return Err(format!("buckets do not add up: {p}"));
                                }
                            }
                            continue;
                        }
                        let Some(h) = m.get("histogram") else {
                            continue;
                        };
                        for p in h["dataPoints"].as_array().unwrap() {
                            let counts = p["bucketCounts"].as_array().unwrap();
                            let bounds = p["explicitBounds"].as_array().unwrap();
                            if counts.len() != bounds.len() + 1 {
                                return Err(format!("bucket counts vs bounds: {p}"));
                            }
                            if counts.iter().map(n).sum::<u64>() != n(&p["count"]) {
                                return Err(format!("bucket counts do not add up: {p}"));
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The decoded lines of an OTLP run, each checked both ways.
#[derive(Default)]
struct Decoded {
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

fn check(otlp: &str) -> Decoded {
    let mut d = Decoded::default();
    for (i, line) in otlp.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i}: {e}"));
        let key = v
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        let (kind, msg) = match key.as_str() {
            "resourceSpans" => (
                "traces",
                "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
            ),
            "resourceLogs" => (
                "logs",
                "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
            ),
            "resourceMetrics" => (
                "metrics",
                "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
            ),
            other => panic!("line {i}: not an export request ({other:?})"),
        };
        let desc = message(msg);
        walk(&desc, &v, kind).unwrap_or_else(|e| panic!("line {i}: {e}"));
        semantics(kind, &v).unwrap_or_else(|e| panic!("line {i}: {e}"));
        let finite = !["\"NaN\"", "\"Infinity\"", "\"-Infinity\""]
            .iter()
            .any(|s| line.contains(s));
        // The exact decode, and on lines without NaN or infinities the crate's serde decode,
        // which must agree with it.
        fn both<T>(desc: &MessageDescriptor, v: &Value, line: &str, finite: bool, i: usize) -> T
        where
            T: Message + Default + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            let t: T = exact(desc, v);
            if finite {
                let serde: T =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i} (serde): {e}"));
                assert_eq!(serde, t, "line {i}: both decodes agree");
            }
            t
        }
        match kind {
            "traces" => d.traces.push(both(&desc, &v, line, finite, i)),
            "logs" => d.logs.push(both(&desc, &v, line, finite, i)),
            _ => d.metrics.push(both(&desc, &v, line, finite, i)),
        }
    }
    d
}

/// An attribute value as JSON Lines writes it.
fn json_of(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(f)) => float(*f),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(json_of).collect())
        }
        other => panic!("unexpected value {other:?}"),
    }
}

fn float(f: f64) -> Value {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        Value::from(f)
    }
}

fn attrs(kvs: &[KeyValue]) -> Value {
    Value::Object(
        kvs.iter()
            .map(|kv| (kv.key.clone(), json_of(kv.value.as_ref().unwrap())))
            .collect(),
    )
}

/// (name or body, attributes) of every span, event and log, as written by either format; a
/// span's events are listed after it.
fn records_otlp(d: &Decoded) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for r in &d.traces {
        for rs in &r.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    all.push((format!("span {}", s.name), attrs(&s.attributes)));
                    for e in &s.events {
                        all.push((format!("event {}", e.name), attrs(&e.attributes)));
                    }
                }
            }
        }
    }
    for r in &d.logs {
        for rl in &r.resource_logs {
            for sl in &rl.scope_logs {
                for l in &sl.log_records {
                    let body = match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        other => panic!("body {other:?}"),
                    };
                    all.push((format!("log {body}"), attrs(&l.attributes)));
                }
            }
        }
    }
    all.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    all
}

fn records_json(text: &str) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let a = v
            .get("attributes")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        match v["signal"].as_str().unwrap() {
            "span" => {
                all.push((format!("span {}", v["name"].as_str().unwrap()), a));
                for e in v["events"].as_array().into_iter().flatten() {
                    all.push((
                        format!("event {}", e["name"].as_str().unwrap()),
                        e["attributes"].clone(),
                    ));
                }
            }
            "log" => all.push((format!("log {}", v["body"].as_str().unwrap()), a)),
            _ => {}
        }
    }
    all.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    all
}

#[test]
fn the_quickstart_is_valid_otlp_with_everything_it_records() {
    let d = check(&run("quickstart", &[], "otlp"));
    assert!(!d.traces.is_empty() && !d.logs.is_empty() && !d.metrics.is_empty());
    let resource = &d.traces[0].resource_spans[0].resource.as_ref().unwrap();
    let res = attrs(&resource.attributes);
    assert_eq!(res["service.name"], "mon-service");
    assert!(res["process.pid"].is_i64(), "an intValue");
    // A span with an error status and its message, an exception event, parents within a trace.
    let spans: Vec<_> = d
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let risky = spans
        .iter()
        .find(|s| s.name == "opération-risquée")
        .unwrap();
    assert_eq!(risky.status.as_ref().unwrap().code, 2);
    assert!(!risky.status.as_ref().unwrap().message.is_empty());
    assert_eq!(risky.events[0].name, "exception");
    let child = spans.iter().find(|s| s.name == "sous-opération").unwrap();
    let parent = spans
        .iter()
        .find(|s| s.name == "opération-principale")
        .unwrap();
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(parent.trace_id.len(), 16);
    // Logs carry their span's ids; metrics are sums, histograms.
    let logs: Vec<_> = d
        .logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    assert!(logs.iter().any(|l| l.span_id == parent.span_id));
    let metrics: Vec<_> = d
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    assert!(metrics.iter().any(|m| m.name == "requêtes"));
    assert!(metrics.iter().any(|m| m.name == "latence"));
}

#[test]
fn hostile_values_round_trip_exactly_through_the_official_types() {
    let otlp = check(&run("scenario", &["hostile"], "otlp"));
    let json = run("scenario", &["hostile"], "json");
    let (a, b) = (records_otlp(&otlp), records_json(&json));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

#[test]
fn a_random_multi_thread_run_is_valid_otlp_and_round_trips() {
    let args = ["random", "7", "4", "1500"];
    let otlp = check(&run("scenario", &args, "otlp"));
    let json = run("scenario", &args, "json");
    let (a, b) = (records_otlp(&otlp), records_json(&json));
    assert_eq!(
        a.len(),
        4 * 1500 + a.iter().filter(|r| r.0 == "span with-event").count()
    );
    assert_eq!(a, b);
}

#[test]
fn the_strict_walk_rejects_what_otlp_forbids() {
    let traces = message("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest");
    let line = |span: &str| -> Value {
        serde_json::from_str(&format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#
        ))
        .unwrap()
    };
    let good = r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}"#;
    walk(&traces, &line(good), "t").unwrap();
    for bad in [
        // snake_case key
        r#"{"trace_id":"5b8efff798038103d269b633813fc60c"}"#,
        // an unknown key
        r#"{"name":"x","duration":3}"#,
        // a 64-bit integer as a number
        r#"{"startTimeUnixNano":1}"#,
        // an enum value that is not defined, and one by name
        r#"{"kind":9}"#,
        r#"{"kind":"SPAN_KIND_SERVER"}"#,
        // ids: uppercase, base64, wrong length
        r#"{"traceId":"5B8EFFF798038103D269B633813FC60C"}"#,
        r#"{"spanId":"7uGbfsPBsXQ="}"#,
        r#"{"spanId":"eee19b7e"}"#,
        // two members of one oneof
        r#"{"attributes":[{"key":"k","value":{"stringValue":"a","intValue":"1"}}]}"#,
        // an int64 attribute as a number
        r#"{"attributes":[{"key":"k","value":{"intValue":1}}]}"#,
    ] {
        assert!(walk(&traces, &line(bad), "t").is_err(), "accepted: {bad}");
    }
    let ends_early = r#"{"name":"x","startTimeUnixNano":"5","endTimeUnixNano":"4"}"#;
    assert!(semantics("traces", &line(ends_early)).is_err());
}

#[test]
fn histograms_can_be_exponential_for_percentiles_in_opentelemetry_tools() {
    let otlp = run_with(
        "quickstart",
        &[],
        "otlp",
        &[("MINI_TELEMETRY_OTLP_HISTOGRAMS", "exponential")],
    );
    let d = check(&otlp);
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let latency = d
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "latence")
        .expect("the quickstart's histogram");
    let Some(Data::ExponentialHistogram(h)) = &latency.data else {
        panic!("not exponential: {:?}", latency.data)
    };
    let p = &h.data_points[0];
    assert_eq!(p.scale, 5);
    assert_eq!(h.aggregation_temporality, 2);
    let positive = p.positive.as_ref().unwrap();
    assert_eq!(
        positive.bucket_counts.iter().sum::<u64>() + p.zero_count,
        p.count
    );
    // Each recorded value lies in (or, at most one log-linear bucket off, next to) a bucket
    // that holds a count.
    let base = 2f64.powf(2f64.powi(-p.scale));
    let (lo, hi) = (
        base.powi(positive.offset),
        base.powi(positive.offset + positive.bucket_counts.len() as i32),
    );
    assert!(lo <= p.min.unwrap() * 1.01 && p.max.unwrap() <= hi * 1.01);
}
