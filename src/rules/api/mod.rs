//! The API rule scripts see: the encounter object and its queries, value-set matching,
//! time helpers and finding constructors. Documented for QC staff in `rules/README.md`.
use chrono_tz::Tz;
use rhai::{Array, Dynamic, Engine};

pub mod course;
pub mod encounter;
pub mod items;
pub mod outcome;
pub mod time;
pub mod window;

/// Register the whole rule API on the engine.
pub fn register(engine: &mut Engine, tz: Tz) {
    time::register(engine, tz);
    outcome::register(engine);
    encounter::register(engine, tz);
    course::register(engine);
    window::register(engine);
    engine.register_fn("first", |a: &mut Array| a.first().cloned().unwrap_or(Dynamic::UNIT));
    engine.register_fn("last", |a: &mut Array| a.last().cloned().unwrap_or(Dynamic::UNIT));
}
