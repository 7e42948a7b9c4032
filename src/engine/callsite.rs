//! Log callsites: the static metadata of each log macro (level, message, field names), registered
//! once on its first enabled use. A record carries the callsite's id and the values only; the
//! writer looks up the message and names by id.

use crate::model::level::Level;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Static metadata of one log statement, made by the macros.
#[derive(Debug)]
pub struct Callsite {
    level: Level,
    message: &'static str,
    fields: &'static [&'static str],
    file: &'static str,
    line: u32,
    id: AtomicU32,
}

static CALLSITES: RwLock<Vec<&'static Callsite>> = RwLock::new(Vec::new());

impl Callsite {
    /// A callsite (used by the macros).
    pub const fn new(
        level: Level,
        message: &'static str,
        fields: &'static [&'static str],
        file: &'static str,
        line: u32,
    ) -> Self {
        Callsite {
            level,
            message,
            fields,
            file,
            line,
            id: AtomicU32::new(0),
        }
    }

    /// The callsite's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Where the statement is (`file:line`).
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }

    /// The callsite's id, registered on first use.
    #[inline]
    pub(crate) fn id(&'static self) -> u32 {
        let i = self.id.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        self.register()
    }

    /// Registers the callsite (once; a racing thread finds it done). Out of line: the log
    /// macros' path is inlined where they are used, and this runs once per callsite.
    #[cold]
    #[inline(never)]
    fn register(&'static self) -> u32 {
        let mut w = CALLSITES.write();
        let i = self.id.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        w.push(self);
        let id = w.len() as u32;
        self.id.store(id, Ordering::Release);
        id - 1
    }
}

/// The callsite registered under `id` (writer side).
pub(crate) fn lookup(id: u32) -> Option<(&'static str, &'static [&'static str])> {
    CALLSITES
        .read()
        .get(id as usize)
        .map(|c| (c.message, c.fields))
}
