//! The quickstart (the seed's examples) run as a user would, output parsed line by line.
mod common;
use common::*;
use serde_json::json;

#[test]
fn quickstart_json_has_every_seed_snippet() {
    let out = run("quickstart", &[], &[]);
    let lines = json_lines(&out);
    for l in &lines {
        if l["signal"] != "resource" {
            assert_eq!(l["resource"]["service.name"], "mon-service", "{l}");
            assert_eq!(l["resource"]["service.version"], "1.0.0");
            assert_eq!(l["resource"]["deployment.environment.name"], "production");
            assert!(l["scope"]["name"].is_string());
        }
    }
    let res = &signal(&lines, "resource")[0]["resource"];
    assert_eq!(res["telemetry.sdk.name"], "mini-telemetry");
    assert_eq!(res["telemetry.sdk.language"], "rust");
    assert!(res["process.pid"].is_u64());
    assert!(res["host.name"].is_string());

    let parent = span(&lines, "opération-principale");
    let child = span(&lines, "sous-opération");
    assert_eq!(parent["scope"]["name"], "mon.module");
    assert_eq!(parent["attributes"]["utilisateur.id"], "123");
    assert_eq!(parent["status"]["code"], "ok");
    assert_eq!(parent["parent_span_id"], "");
    assert_eq!(child["trace_id"], parent["trace_id"]);
    assert_eq!(child["parent_span_id"], parent["span_id"]);
    assert_eq!(parent["events"][0]["name"], "événement-important");
    assert_eq!(parent["events"][0]["attributes"]["détail"], "valeur");
    assert!(parent["start_time_unix_nano"].as_u64() <= child["start_time_unix_nano"].as_u64());
    assert!(child["end_time_unix_nano"].as_u64() <= parent["end_time_unix_nano"].as_u64());
    assert_eq!(
        parent["duration_ns"].as_u64().unwrap(),
        parent["end_time_unix_nano"].as_u64().unwrap()
            - parent["start_time_unix_nano"].as_u64().unwrap()
    );

    // Logs carry the current span's ids.
    let started = log(&lines, "Traitement démarré");
    assert_eq!(started["severity_text"], "INFO");
    assert_eq!(started["severity_number"], 9);
    assert_eq!(started["trace_id"], parent["trace_id"]);
    assert_eq!(started["span_id"], parent["span_id"]);
    let done = log(&lines, "Opération terminée");
    assert_eq!(
        done["attributes"],
        json!({"durée_ms": 123, "status": "success"})
    );
    assert_eq!(done["span_id"], parent["span_id"]);

    // Errors: exception event on the span, error status, error logs with exception attributes.
    let risky = span(&lines, "opération-risquée");
    assert_eq!(risky["status"]["code"], "error");
    assert_eq!(
        risky["status"]["message"],
        "la base de données ne répond pas"
    );
    let ev = &risky["events"][0];
    assert_eq!(ev["name"], "exception");
    assert_eq!(
        ev["attributes"]["exception.type"],
        "quickstart::ErreurMétier"
    );
    assert_eq!(
        ev["attributes"]["exception.message"],
        "la base de données ne répond pas"
    );
    let err = log(&lines, "Erreur: la base de données ne répond pas");
    assert_eq!(err["severity_number"], 17);
    assert_eq!(err["span_id"], risky["span_id"]);
    assert_eq!(
        err["attributes"]["exception.type"],
        "quickstart::ErreurMétier"
    );
    let err2 = log(&lines, "Une erreur s'est produite");
    assert_eq!(err2["attributes"]["exception.message"], "délai dépassé");
    assert!(err2.get("trace_id").is_none(), "no span was current");

    // Metrics, with the seed's names and values.
    let c = point(
        &lines,
        "requêtes",
        json!({"endpoint": "/api", "méthode": "GET"}),
    );
    assert_eq!(c["value"], 1);
    assert_eq!(c["type"], "sum");
    assert_eq!(c["monotonic"], true);
    assert_eq!(c["description"], "Nombre de requêtes traitées");
    assert_eq!(c["unit"], "1");
    assert_eq!(
        point(&lines, "requêtes", json!({"endpoint": "/api/users"}))["value"],
        1
    );
    let h = point(&lines, "latence", json!({"endpoint": "/api"}));
    assert_eq!(h["unit"], "ms");
    assert_eq!(
        (
            h["count"].as_u64(),
            h["sum"].as_f64(),
            h["min"].as_f64(),
            h["max"].as_f64()
        ),
        (Some(1), Some(42.5), Some(42.5), Some(42.5))
    );
    assert_eq!(h["percentiles"]["p99.9"], 42.5);
    assert_eq!(h["bucket_counts"][4], 1, "42.5 is in (25, 50]");
    assert_eq!(
        h["explicit_bounds"].as_array().unwrap().len() + 1,
        h["bucket_counts"].as_array().unwrap().len()
    );
    assert_eq!(
        point(&lines, "mémoire.utilisée", json!({}))["value"],
        536870912.0
    );
    assert_eq!(
        point(&lines, "threads.actifs", json!({"pool": "principal"}))["value"],
        1.0
    );

    // The non-conformant name is accepted with a warning.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"requêtes\" is not OpenTelemetry-conformant"),
        "{stderr}"
    );
}

#[test]
fn quickstart_text_format_reads_like_the_seed() {
    let out = run("quickstart", &[], &[("MINI_TELEMETRY_FORMAT", "text")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("Traitement démarré"))
        .expect("log line");
    // 2023-03-27 14:23:45.123 [INFO] mon.module - trace_id=… span_id=… - Message
    let b = line.as_bytes();
    assert!(
        b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && b[19] == b'.',
        "{line}"
    );
    let rest = &line[23..];
    assert!(rest.starts_with(" [INFO] mon.module - trace_id="), "{line}");
    let tid = rest
        .split("trace_id=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(tid.len(), 32);
    assert!(rest.ends_with(" - Traitement démarré"), "{line}");
    assert!(
        text.lines().any(|l| l.contains("[INFO] mon.module")
            && l.ends_with("Opération terminée durée_ms=123 status=success")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("[SPAN] mon.module") && l.contains("opération-principale"))
    );
    assert!(
        text.lines().any(
            |l| l.contains("[METRIC] mon.module - requêtes{endpoint=/api méthode=GET} value=1")
        )
    );
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
    );
}

#[test]
fn environment_variables_are_honoured() {
    let out = run(
        "quickstart",
        &[],
        &[
            ("OTEL_SERVICE_NAME", "from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=obs,region=eu%2Dwest,service.name=ignored",
            ),
        ],
    );
    let lines = json_lines(&out);
    let res = &signal(&lines, "resource")[0]["resource"];
    assert_eq!(res["service.name"], "from-env");
    assert_eq!(res["team"], "obs");
    assert_eq!(res["region"], "eu-west");
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l["resource"]["service.name"] == "from-env")
    );
}

#[test]
fn sdk_disabled_prints_nothing() {
    let out = run("quickstart", &[], &[("OTEL_SDK_DISABLED", "true")]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn metrics_are_exported_periodically_and_levels_filter() {
    let out = run(
        "scenario",
        &["periodic", "400"],
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
            ("MINI_TELEMETRY_LOG_LEVEL", "warn"),
        ],
    );
    let lines = json_lines(&out);
    let ticks: Vec<u64> = signal(&lines, "metric")
        .iter()
        .filter(|m| m["name"] == "ticks")
        .map(|m| m["value"].as_u64().unwrap())
        .collect();
    assert!(
        ticks.len() >= 3,
        "several exports in 400 ms at a 50 ms interval: {ticks:?}"
    );
    assert!(
        ticks.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {ticks:?}"
    );
    let levels: Vec<(String, u64)> = signal(&lines, "log")
        .iter()
        .map(|l| {
            (
                l["severity_text"].as_str().unwrap().to_string(),
                l["severity_number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            ("WARN".into(), 13),
            ("ERROR".into(), 17),
            ("FATAL".into(), 21)
        ]
    );

    let out = run(
        "scenario",
        &["periodic", "10"],
        &[("MINI_TELEMETRY_LOG_LEVEL", "trace")],
    );
    let lines = json_lines(&out);
    let numbers: Vec<u64> = signal(&lines, "log")
        .iter()
        .map(|l| l["severity_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 5, 9, 13, 17, 21]);
}

#[test]
fn value_length_limit_cuts_values_never_keys() {
    let out = run(
        "quickstart",
        &[],
        &[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5")],
    );
    let lines = json_lines(&out);
    let parent = span(&lines, "opération-principale");
    assert_eq!(parent["attributes"]["utilisateur.id"], "123");
    assert_eq!(parent["events"][0]["attributes"]["détail"], "valeu");
    assert_eq!(
        log(&lines, "Opération terminée")["attributes"]["status"],
        "succe"
    );
}
