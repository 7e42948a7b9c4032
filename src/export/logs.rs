//! Log records: decoded, their attributes made an OpenTelemetry collection, and rendered. A
//! macro log carries its callsite's id: the message and field names are looked up once per
//! callsite and kept here.

use crate::engine::callsite;
use crate::engine::clock::Calibration;
use crate::engine::record::{
    CallsiteHead, Corrupt, DValue, Dec, LOG_ATTRIBUTES, LOG_CALLSITE, LogHead,
};
use crate::export::attrs::{finish_attrs, recycle};
use crate::export::format::{Formatter, LineFormat};
use crate::export::view::{Attr, LogView};

/// Most values of a macro log decoded on the stack.
const ON_STACK: usize = 8;

/// What the writer knows of a macro-log callsite: message, field names, and whether the names
/// are all different.
type SiteInfo = (&'static str, &'static [&'static str], bool);

/// Known callsites and a scratch attribute vector reused from one record to the next.
#[derive(Default)]
pub(crate) struct Logs {
    attrs: Vec<Attr<'static>>,
    /// Macro-log callsites by id.
    callsites: Vec<SiteInfo>,
}

/// A plain macro log being rendered: its head, time, message, callsite id, the names of its
/// callsite's fields, and how many values follow in the record (at most that many).
struct Site<'a> {
    h: &'a LogHead,
    time: u64,
    msg: &'static str,
    id: u32,
    fields: &'static [&'static str],
    n: usize,
}

impl Site<'_> {
    /// Decodes the values into an array of `N` (at least the number of fields) on the stack and
    /// renders the log.
    #[inline(always)]
    fn log<const N: usize>(
        self,
        mut d: Dec<'_>,
        format: &mut Formatter,
        out: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let n = self.n;
        debug_assert!(n <= N);
        let mut attrs = [("", DValue::Bool(false)); N];
        for (a, f) in attrs.iter_mut().zip(&self.fields[..n]) {
            d.value_then(|v| *a = (f, v))?;
        }
        format.log(
            out,
            &LogView {
                scope: self.h.scope,
                time: self.time,
                severity: self.h.severity,
                body: self.msg,
                ctx: self.h.context(),
                attrs: &attrs[..n],
                callsite: Some((self.id, self.fields, n)),
            },
        )
    }
}

impl Logs {
    /// Renders the log record `d` holds (after its kind byte).
    // Inlined into the writer's dispatch on the record kind (`Writer::handle_inner`): as a
    // call, with the other assembler inlined, it cost ~90 more instructions per log line.
    #[inline(always)]
    pub fn log(
        &mut self,
        mut d: Dec<'_>,
        cal: &Calibration,
        format: &mut Formatter,
        out: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let h = LogHead::decode(&mut d)?;
        let time = cal.to_unix_nanos(h.time);
        let dropped = h.dropped;
        if h.flags & LOG_CALLSITE != 0 {
            let c = CallsiteHead::decode(&mut d)?;
            // Read in place, not copied out: a copy went through 16-byte moves that the 8-byte
            // reads after it could not forward from (stalled stores).
            let &(msg, fields, unique) = self.callsite(c.id).ok_or(Corrupt)?;
            let n = c.values as usize;
            if n > fields.len() {
                return Err(Corrupt);
            }
            if unique && dropped == 0 && n <= ON_STACK {
                // The usual macro log: its values on the stack, no scratch vector moved in and
                // out of `self` (whose header, stored and reloaded in other widths, stalled
                // store forwarding), in an array no longer than needed (each unused entry is
                // three stores).
                let site = Site {
                    h: &h,
                    time,
                    msg,
                    id: c.id,
                    fields,
                    n,
                };
                return match n {
                    0..=2 => site.log::<2>(d, format, out),
                    3..=4 => site.log::<4>(d, format, out),
                    _ => site.log::<ON_STACK>(d, format, out),
                };
            }
            return self.log_general(h, time, Some((c, msg, fields, unique)), d, format, out);
        }
        self.log_general(h, time, None, d, format, out)
    }

    /// A log record that is not a plain macro log: attributes made a collection in the scratch
    /// vector (duplicate keys, dropped attributes, many fields), or a body and key-values.
    #[inline(never)]
    fn log_general(
        &mut self,
        h: LogHead,
        time: u64,
        site: Option<(CallsiteHead, &'static str, &'static [&'static str], bool)>,
        mut d: Dec<'_>,
        format: &mut Formatter,
        out: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let dropped = h.dropped;
        let mut attrs: Vec<Attr<'_>> = recycle(std::mem::take(&mut self.attrs));
        let body: &str;
        let mut callsite = None;
        if let Some((c, msg, fields, unique)) = site {
            body = msg;
            let n = c.values as usize;
            for f in &fields[..n] {
                d.value_then(|v| attrs.push((f, v)))?;
            }
            // A macro naming a field twice, or a record with attributes dropped (by its size,
            // or past the key limit), is rendered the general way, once per key.
            let plain = unique && dropped == 0 && n <= LOG_ATTRIBUTES;
            if plain || !finish_attrs(&mut attrs, 0, dropped, LOG_ATTRIBUTES) {
                callsite = Some((c.id, fields, n));
            }
        } else {
            body = d.str()?;
            let n = d.u16()?;
            for _ in 0..n {
                d.kv_into(&mut attrs)?;
            }
            finish_attrs(&mut attrs, 0, dropped, LOG_ATTRIBUTES);
        }
        let r = format.log(
            out,
            &LogView {
                scope: h.scope,
                time,
                severity: h.severity,
                body,
                ctx: h.context(),
                attrs: &attrs,
                callsite,
            },
        );
        self.attrs = recycle(attrs);
        r
    }

    #[inline(always)]
    fn callsite(&mut self, id: u32) -> Option<&SiteInfo> {
        if self.callsites.len() <= id as usize {
            self.new_callsite(id)?;
        }
        self.callsites.get(id as usize)
    }

    /// Looks up callsite `id` (and the ids below it) the first time: `None` if unknown.
    #[cold]
    #[inline(never)]
    fn new_callsite(&mut self, id: u32) -> Option<()> {
        while self.callsites.len() <= id as usize {
            let (msg, fields) = callsite::lookup(self.callsites.len() as u32)?;
            let unique = (1..fields.len()).all(|i| !fields[..i].contains(&fields[i]));
            self.callsites.push((msg, fields, unique));
        }
        Some(())
    }
}
