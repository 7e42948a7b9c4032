//! The `log` facade's records as logs of ours (cargo feature `log`).
//!
//! Libraries such as `reqwest`, `sqlx` or `rustls` report through `log`; [`install`] makes this
//! crate the `log` logger, so their records come out with the application's own: the record's
//! target is the instrumentation scope, its message the body, its key-values (`log`'s `kv`)
//! the attributes, and the span current on the calling thread gives the trace and span ids.
//! Records below the configured minimum level (`Config::min_level`) are not written, and
//! `log`'s own level filter is kept in step with it so that they cost one comparison.
//!
//! ```
//! mini_telemetry::log_bridge::install().expect("no other `log` logger");
//! log::info!(target: "db", pool = 4; "connected to {}", "primary");
//! ```

use crate::api::log::Logger;
use crate::engine::scope::scope_id;
use crate::engine::shared::{level_enabled, min_level};
use crate::model::level::Level;
use crate::model::value::{KeyValue, Value};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The `log::Log` implementation [`install`] registers. Usable on its own, e.g. behind a
/// logger that fans out to several.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogBridge {
    _private: (),
}

static BRIDGE: LogBridge = LogBridge { _private: () };
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Makes [`LogBridge`] the `log` crate's logger and sets `log`'s maximum level to the configured
/// minimum. Fails when another `log` logger is installed already (`log` allows one per
/// process). Call it before or after `init`: records made before `init` are not written, as for
/// every other call of this crate.
pub fn install() -> Result<(), log::SetLoggerError> {
    log::set_logger(&BRIDGE)?;
    let _sync = SYNC.lock();
    INSTALLED.store(true, Ordering::Relaxed);
    log::set_max_level(filter(min_level()));
    Ok(())
}

/// Orders `install` and `init`'s level change: whichever comes second sets `log`'s filter from
/// the level the first one left (without it, `install` could read the old level while `init`
/// still saw the bridge uninstalled).
static SYNC: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Keeps `log`'s static filter at the configured minimum level, once the bridge is installed
/// (called by `init` after it sets the level).
pub(crate) fn sync_max_level() {
    let _sync = SYNC.lock();
    if INSTALLED.load(Ordering::Relaxed) {
        log::set_max_level(filter(min_level()));
    }
}

fn filter(l: Level) -> log::LevelFilter {
    match l {
        Level::Trace => log::LevelFilter::Trace,
        Level::Debug => log::LevelFilter::Debug,
        Level::Info => log::LevelFilter::Info,
        Level::Warn => log::LevelFilter::Warn,
        // `log` has no level above ERROR: FATAL lets ERROR through, as the closest.
        Level::Error | Level::Fatal => log::LevelFilter::Error,
    }
}

fn level(l: log::Level) -> Level {
    match l {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

/// Targets seen on this thread and their loggers: a target is interned as a scope once per
/// thread, not on every record.
const SCOPE_CACHE: usize = 64;

thread_local! {
    static SCOPES: RefCell<Vec<(Box<str>, Logger)>> = const { RefCell::new(Vec::new()) };
    /// The message of a record with format arguments, formatted here (allocation reused).
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

fn logger_for(target: &str) -> Logger {
    let cached = SCOPES.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        if let Some((_, l)) = s.iter().find(|(t, _)| **t == *target) {
            return Some(*l);
        }
        let l = Logger::for_scope(scope_id(target));
        if s.len() < SCOPE_CACHE {
            s.push((target.into(), l));
        }
        Some(l)
    });
    match cached {
        Ok(Some(l)) => l,
        _ => Logger::for_scope(scope_id(target)),
    }
}

/// A key or a string value: borrowed from the record when it lives as long as the record's
/// key-values, else formatted.
enum Text<'kvs> {
    Borrowed(&'kvs str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

enum Scalar<'kvs> {
    Text(Text<'kvs>),
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
}

/// Collects a record's key-values.
#[derive(Default)]
struct Collect<'kvs> {
    items: Vec<(Text<'kvs>, Scalar<'kvs>)>,
}

impl<'kvs> log::kv::VisitSource<'kvs> for Collect<'kvs> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let key = match key.to_borrowed_str() {
            Some(k) => Text::Borrowed(k),
            None => Text::Owned(key.as_str().to_owned()),
        };
        let value = if let Some(i) = value.to_i64() {
            Scalar::I64(i)
        } else if let Some(u) = value.to_u64() {
            Scalar::U64(u)
        } else if let Some(f) = value.to_f64() {
            Scalar::F64(f)
        } else if let Some(b) = value.to_bool() {
            Scalar::Bool(b)
        } else if let Some(s) = value.to_borrowed_str() {
            Scalar::Text(Text::Borrowed(s))
        } else {
            Scalar::Text(Text::Owned(value.to_string()))
        };
        self.items.push((key, value));
        Ok(())
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        level_enabled(level(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        let lvl = level(record.level());
        if !level_enabled(lvl) {
            return;
        }
        let logger = logger_for(record.target());
        let kvs = record.key_values();
        let mut collect = Collect::default();
        if kvs.count() > 0 {
            // A visitor that fails stops early; what it collected is still written.
            let _ = kvs.visit(&mut collect);
        }
        let attrs: Vec<KeyValue<'_>> = collect
            .items
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.as_str(),
                value: match v {
                    Scalar::Text(t) => Value::Str(t.as_str()),
                    Scalar::Bool(b) => Value::Bool(*b),
                    Scalar::I64(i) => Value::I64(*i),
                    Scalar::U64(u) => Value::from(*u),
                    Scalar::F64(f) => Value::F64(*f),
                },
            })
            .collect();
        match record.args().as_str() {
            Some(message) => logger.log(lvl, message, &attrs),
            None => {
                let formatted = MESSAGE.try_with(|m| {
                    let Ok(mut m) = m.try_borrow_mut() else {
                        return false;
                    };
                    m.clear();
                    let _ = write!(m, "{}", record.args());
                    logger.log(lvl, &m, &attrs);
                    // One huge message must not keep its memory on this thread for good.
                    if m.capacity() > 64 * 1024 {
                        *m = String::new();
                    }
                    true
                });
                if !matches!(formatted, Ok(true)) {
                    // Re-entered (a value's Display logged) or the thread is exiting.
                    logger.log(lvl, &record.args().to_string(), &attrs);
                }
            }
        }
    }

    /// Does nothing: the writer thread writes records on its own; `mini_telemetry::flush()`
    /// waits for it.
    fn flush(&self) {}
}
