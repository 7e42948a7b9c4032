//! The optional panic hook (`Config::panic_hook`): each panic becomes an ERROR log with the
//! panicking thread's trace context, then a bounded flush.

use crate::api::log::logger;
use crate::engine::shared::is_enabled;
use crate::model::level::Level;
use crate::model::value::KeyValue;
use std::time::Duration;

/// Chains the hook before the one installed now; `flush` is `flush_timeout`.
pub(crate) fn install(flush: fn(Duration) -> bool) {
    let previous = std::panic::take_hook();
    let logger = logger("mini_telemetry.panic");
    std::panic::set_hook(Box::new(move |info| {
        if is_enabled() {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            let thread = std::thread::current();
            let mut attrs = vec![
                KeyValue::new("exception.type", "panic"),
                KeyValue::new("exception.message", msg),
                KeyValue::new("thread.name", thread.name().unwrap_or("")),
            ];
            if let Some(loc) = info.location() {
                attrs.push(KeyValue::new("code.filepath", loc.file()));
                attrs.push(KeyValue::new("code.lineno", loc.line()));
            }
            let bt = std::backtrace::Backtrace::capture();
            let bt =
                (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
            if let Some(bt) = &bt {
                attrs.push(KeyValue::new("exception.stacktrace", bt.as_str()));
            }
            logger.log(Level::Error, "panic", &attrs);
            // Bounded: the panicking thread may hold a lock the writer needs (stdout's).
            flush(Duration::from_secs(2));
        }
        previous(info);
    }));
}
