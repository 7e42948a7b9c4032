//! The resource: who is emitting (service, version, environment, host, process, SDK).

use super::config::Config;

/// A resource attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResValue {
    Str(String),
    Int(i64),
}

impl From<String> for ResValue {
    fn from(s: String) -> Self {
        ResValue::Str(s)
    }
}

impl From<&str> for ResValue {
    fn from(s: &str) -> Self {
        ResValue::Str(s.to_string())
    }
}

/// Resource attributes in output order, `service.*` first.
pub(crate) fn attributes(cfg: &Config) -> Vec<(String, ResValue)> {
    let mut v: Vec<(String, ResValue)> = vec![
        ("service.name".into(), cfg.service_name.clone().into()),
        ("service.version".into(), cfg.service_version.clone().into()),
        (
            "deployment.environment.name".into(),
            cfg.environment.clone().into(),
        ),
        ("telemetry.sdk.name".into(), "mini-telemetry".into()),
        ("telemetry.sdk.language".into(), "rust".into()),
        (
            "telemetry.sdk.version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
        ("host.name".into(), host_name().into()),
        (
            "process.pid".into(),
            ResValue::Int(std::process::id() as i64),
        ),
    ];
    for (k, val) in &cfg.resource {
        // Code and OTEL_SERVICE_NAME win over OTEL_RESOURCE_ATTRIBUTES for the service keys.
        if !v.iter().any(|(ek, _)| ek == k) {
            v.push((k.clone(), ResValue::Str(val.clone())));
        }
    }
    v
}

fn host_name() -> String {
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            return h.to_string();
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into())
}
