//! Text lines for eyes: `time [LEVEL] scope - trace_id=… span_id=… - message key=value`, one per
//! record, UTC times. Free text is escaped so that no value can forge a line.

use super::write;
use super::{KINDS, LineFormat, PERCENTILE_NAMES, STATUS, num, scope_name, sub};
use crate::engine::record::{Corrupt, DValue};
use crate::export::view::{Attr, LogView, PointData, PointView, SpanView};
use crate::model::level::Level;
use crate::model::resource::ResValue;

/// The text format: the resource, and each scope's escaped name by id.
pub(crate) struct TextLines {
    resource: Vec<(String, ResValue)>,
    scopes: Vec<Vec<u8>>,
}

impl TextLines {
    pub fn new(resource: Vec<(String, ResValue)>, _: super::Options) -> Self {
        TextLines {
            resource,
            scopes: Vec::new(),
        }
    }

    /// The escaped scope `id`; an id that was never registered means a corrupt record.
    fn scope(&mut self, id: u32) -> Result<&[u8], Corrupt> {
        while self.scopes.len() <= id as usize {
            let name = scope_name(self.scopes.len() as u32)?;
            let mut v = Vec::new();
            write::escaped(&mut v, name.as_bytes());
            self.scopes.push(v);
        }
        Ok(&self.scopes[id as usize])
    }

    fn head(&mut self, out: &mut Vec<u8>, time: u64, tag: &str, scope: u32) -> Result<(), Corrupt> {
        datetime(out, time);
        out.extend_from_slice(b" [");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b"] ");
        let s = self.scope(scope)?;
        out.extend_from_slice(s);
        out.extend_from_slice(b" - ");
        Ok(())
    }
}

impl LineFormat for TextLines {
    fn resource(&mut self, out: &mut Vec<u8>, now: u64) {
        datetime(out, now);
        out.extend_from_slice(b" [RESOURCE]");
        for (k, v) in &self.resource {
            out.push(b' ');
            write::escaped(out, k.as_bytes());
            out.push(b'=');
            match v {
                ResValue::Str(s) => text_str(out, s),
                ResValue::Int(i) => write::i64(out, *i),
            }
        }
        out.push(b'\n');
    }

    fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt> {
        let level = Level::from_severity(v.severity);
        self.head(out, v.time, level.as_str(), v.scope)?;
        if let Some((t, s)) = v.ctx {
            out.extend_from_slice(b"trace_id=");
            write::hex_u128(out, t);
            out.extend_from_slice(b" span_id=");
            write::hex_u64(out, s);
            out.extend_from_slice(b" - ");
        }
        text_body(out, v.body);
        attrs_text(out, v.attrs)?;
        out.push(b'\n');
        Ok(())
    }

    fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt> {
        let kind = KINDS.get(v.kind as usize).copied().unwrap_or("internal");
        let status = STATUS.get(v.status as usize).copied().unwrap_or("unset");
        self.head(out, v.end, "SPAN", v.scope)?;
        out.extend_from_slice(b"trace_id=");
        write::hex_u128(out, v.trace);
        out.extend_from_slice(b" span_id=");
        write::hex_u64(out, v.span);
        if let Some(p) = v.parent {
            out.extend_from_slice(b" parent_span_id=");
            write::hex_u64(out, p);
            if v.parent_remote {
                out.extend_from_slice(b" (remote)");
            }
        }
        out.extend_from_slice(b" - ");
        text_body(out, v.name);
        out.extend_from_slice(b" kind=");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b" duration_ms=");
        write::f64(out, v.duration as f64 / 1e6);
        out.extend_from_slice(b" status=");
        out.extend_from_slice(status.as_bytes());
        // OpenTelemetry keeps a description only with an error status.
        if v.status == 2 && !v.status_msg.is_empty() {
            out.extend_from_slice(b" status_message=");
            text_str(out, v.status_msg);
        }
        attrs_text(out, v.attrs)?;
        for e in v.events {
            out.extend_from_slice(b" event=");
            text_str(out, e.name);
            out.push(b'@');
            datetime(out, e.time);
            out.push(b'{');
            let a = sub(v.sub_attrs, &e.attrs)?;
            attrs_text_inner(out, a)?;
            out.push(b'}');
        }
        for l in v.links {
            out.extend_from_slice(b" link=");
            write::hex_u128(out, l.trace);
            out.push(b':');
            write::hex_u64(out, l.span);
            let a = sub(v.sub_attrs, &l.attrs)?;
            if !a.is_empty() {
                out.push(b'{');
                attrs_text_inner(out, a)?;
                out.push(b'}');
            }
        }
        for (name, n) in [
            ("dropped_attributes", v.dropped_attrs),
            ("dropped_events", v.dropped_events),
            ("dropped_links", v.dropped_links),
        ] {
            if n > 0 {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                write::u64(out, n as u64);
            }
        }
        out.push(b'\n');
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt> {
        self.head(out, p.time, "METRIC", p.scope)?;
        text_body(out, p.name);
        out.push(b'{');
        attrs_text_inner(out, p.attrs)?;
        out.push(b'}');
        match &p.data {
            PointData::Sum { value, .. } | PointData::Gauge(value) => {
                out.extend_from_slice(b" value=");
                num(out, *value);
            }
            PointData::Histogram(h) => {
                out.extend_from_slice(b" count=");
                write::u64(out, h.count);
                out.extend_from_slice(b" sum=");
                write::f64(out, h.sum);
                if h.count > 0 {
                    for (n, v) in [("min", h.min), ("max", h.max)]
                        .into_iter()
                        .chain(PERCENTILE_NAMES.iter().copied().zip(h.percentiles))
                    {
                        out.push(b' ');
                        out.extend_from_slice(n.as_bytes());
                        out.push(b'=');
                        write::f64(out, v);
                    }
                }
            }
        }
        if !p.unit.is_empty() {
            out.extend_from_slice(b" unit=");
            text_str(out, p.unit);
        }
        out.push(b'\n');
        Ok(())
    }
}

fn attrs_text(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    for (k, v) in attrs {
        out.push(b' ');
        text_kv(out, k, v)?;
    }
    Ok(())
}

fn attrs_text_inner(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        text_kv(out, k, v)?;
    }
    Ok(())
}

fn text_kv(out: &mut Vec<u8>, k: &str, v: &DValue<'_>) -> Result<(), Corrupt> {
    text_body(out, k);
    out.push(b'=');
    match v {
        DValue::Str(s) => text_str(out, s),
        other => write::value(out, other)?,
    }
    Ok(())
}

/// Free text (a message, a name) in a text line: escaped so that no control character, and so no
/// line break, reaches the output.
fn text_body(out: &mut Vec<u8>, s: &str) {
    write::escaped(out, s.as_bytes());
}

/// A string value in a text line: bare when it is a simple word, else JSON-quoted.
fn text_str(out: &mut Vec<u8>, s: &str) {
    let simple = !s.is_empty()
        && s.bytes()
            .all(|c| c > b' ' && !matches!(c, b'"' | b'=' | b'\\' | 0x7f | b'{' | b'}'));
    if simple {
        text_body(out, s);
    } else {
        write::string(out, s);
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) from Unix nanoseconds.
fn datetime(out: &mut Vec<u8>, unix_nanos: u64) {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let two = |out: &mut Vec<u8>, v: u64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    write::i64(out, y);
    out.push(b'-');
    two(out, m as u64);
    out.push(b'-');
    two(out, d as u64);
    out.push(b' ');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.push(b'.');
    out.push(b'0' + (millis / 100) as u8);
    two(out, millis % 100);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(n: u64) -> String {
        let mut v = Vec::new();
        datetime(&mut v, n);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn datetimes() {
        assert_eq!(dt(0), "1970-01-01 00:00:00.000");
        // 2023-03-27 14:23:45.123 UTC
        assert_eq!(dt(1_679_927_025_123_000_000), "2023-03-27 14:23:45.123");
        assert_eq!(dt(951_782_400_000_000_000), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn text_values_cannot_forge_lines() {
        let mut v = Vec::new();
        text_kv(&mut v, "k\n", &DValue::Str("a\nb \"c\"")).unwrap();
        text_body(&mut v, "x\r\ny");
        let s = String::from_utf8(v).unwrap();
        assert!(!s.contains('\n') && !s.contains('\r'), "{s}");
        assert_eq!(s, "k\\n=\"a\\nb \\\"c\\\"\"x\\r\\ny");
    }
}
