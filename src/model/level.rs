//! Log severity.

/// Log severity, with OpenTelemetry's severity numbers.
///
/// ```
/// use mini_telemetry::Level;
/// assert_eq!(Level::Info as u8, 9);
/// assert!(Level::Error > Level::Warn);
/// assert_eq!(Level::parse("warn"), Some(Level::Warn));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// TRACE (1).
    Trace = 1,
    /// DEBUG (5).
    Debug = 5,
    /// INFO (9).
    Info = 9,
    /// WARN (13).
    Warn = 13,
    /// ERROR (17).
    Error = 17,
    /// FATAL (21).
    Fatal = 21,
}

impl Level {
    /// The severity text: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parses a level name, case-insensitively (`warning` is accepted too).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "fatal" => Level::Fatal,
            _ => return None,
        })
    }

    /// The level whose range (OpenTelemetry: 1-4 TRACE, 5-8 DEBUG, ...) holds `n`.
    pub(crate) fn from_severity(n: u8) -> Level {
        match n {
            0..=4 => Level::Trace,
            5..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warn,
            17..=20 => Level::Error,
            _ => Level::Fatal,
        }
    }
}
