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

/// Longest resource attribute key kept, as for other attributes.
const MAX_KEY: usize = 1024;

/// `s` cut at a char boundary to at most `max` bytes.
fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    true
}

/// Resource attributes in output order, `service.*` first. Keys and string values follow the
/// limits of other attributes (a key past 1,024 bytes, a value past the value length limit are
/// cut, with one warning on stderr each): a resource is written on every line.
pub(crate) fn attributes(cfg: &Config) -> Vec<(String, ResValue)> {
    let max_value = cfg.max_value_len.min(cfg.ring_bytes() / 4);
    let mut v = uncut(cfg);
    for (k, val) in &mut v {
        let long_key = cut(k, MAX_KEY);
        let long_value = match val {
            ResValue::Str(s) => cut(s, max_value),
            ResValue::Int(_) => false,
        };
        if long_key || long_value {
            diag!(
                "mini-telemetry: resource attribute {k:?} cut to the attribute limits ({MAX_KEY}-byte keys, {max_value}-byte values)"
            );
        }
    }
    v
}

fn uncut(cfg: &Config) -> Vec<(String, ResValue)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_resource_values_are_cut_at_a_char_boundary() {
        let name = "é".repeat(5 * 1024 * 1024); // 10 MiB
        let cfg = Config::new(&name, "1", "test").max_value_len(1001);
        let attrs = attributes(&cfg);
        let ResValue::Str(s) = &attrs[0].1 else {
            panic!("service.name is a string")
        };
        assert_eq!(s.len(), 1000, "1001 bytes would split a 2-byte char");
        assert!(s.chars().all(|c| c == 'é'));
        assert_eq!(attributes(&Config::new("svc", "1", "t"))[0].1, "svc".into());
    }
}
