//! Windowed selections and the stated time zero: `first_between(items, t0, from_min, to_min)`,
//! `first_in(items, from, to)` and `time_zero(t, key)`. Native (not pack-library script), so
//! that every rule using them gets its reasoning trail recorded (`crate::rules::trail`): the
//! time zero, the window and each candidate item with the verdict on it.
use chrono::{DateTime, Utc};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext, FLOAT};

use super::time::{CallState, Time};
use crate::rules::trail;

type Res<T> = Result<T, Box<EvalAltResult>>;

fn minutes(d: &Dynamic, what: &str) -> Res<FLOAT> {
    if let Ok(i) = d.as_int() {
        return Ok(i as FLOAT);
    }
    d.as_float().map_err(|_| format!("{what}: a number of minutes is needed, not {}", d.type_name()).into())
}

/// The time of an item (its `time`; a map's `time` too), or an error naming the function.
fn time_of(d: &Dynamic, f: &str) -> Res<DateTime<Utc>> {
    if let Some(t) = trail::item_time(d) {
        return Ok(t);
    }
    if let Some(m) = d.read_lock::<rhai::Map>() {
        if let Some(t) = m.get("time").and_then(|t| t.clone().try_cast::<Time>()) {
            return Ok(t.0);
        }
    }
    Err(format!("{f}: every item needs a time (an item without one, or not an item: {})", d.type_name()).into())
}

/// Record `t` as time zero when it is an encounter field the engine can name.
pub(crate) fn guess_time_zero(ctx: &NativeCallContext, t: DateTime<Utc>) {
    let view = ctx.tag().and_then(|tag| tag.read_lock::<CallState>().and_then(|s| s.view.clone()));
    let Some(view) = view else { return };
    let e = view.encounter();
    let code = if t == e.arrival {
        "arrival"
    } else if e.admission == Some(t) {
        "admission"
    } else if e.onset == Some(t) {
        "symptom_onset"
    } else if e.last_known_well == Some(t) {
        "last_known_well"
    } else if e.discharge == Some(t) {
        "discharge"
    } else {
        return;
    };
    trail::time_zero(t, code, false);
}

/// First item with `t0 + from_min <= time <= t0 + to_min` (minutes, both ends included).
pub fn first_between(ctx: &NativeCallContext, items: &Array, t0: Time, from: FLOAT, to: FLOAT) -> Res<Dynamic> {
    let recording = trail::active();
    if recording {
        guess_time_zero(ctx, t0.0);
    }
    let at = |m: FLOAT| t0.0 + chrono::Duration::milliseconds((m * 60_000.0).round() as i64);
    let bounded = from.is_finite() && to.is_finite() && from.abs() < 1e9 && to.abs() < 1e9;
    let end = if bounded { at(to) } else { t0.0 };
    if recording && bounded {
        trail::window(at(from), end, true, Some(t0.0));
    }
    for a in items {
        let t = time_of(a, "first_between")?;
        let m = (t - t0.0).num_milliseconds() as FLOAT / 60_000.0;
        if m >= from && m <= to {
            if recording {
                trail::item(a, "in_window", true, t, Some(t0.0), end);
            }
            return Ok(a.clone());
        }
        if recording {
            let code = if m > to {
                "outside_window"
            } else if m < 0.0 {
                "before_time_zero"
            } else {
                "before_window"
            };
            trail::item(a, code, false, t, Some(t0.0), end);
        }
    }
    Ok(Dynamic::UNIT)
}

/// First item with `from <= time < to`.
pub fn first_in(ctx: &NativeCallContext, items: &Array, from: Time, to: Time) -> Res<Dynamic> {
    let recording = trail::active();
    let anchor = if recording {
        guess_time_zero(ctx, from.0);
        trail::window(from.0, to.0, false, None);
        trail::current_time_zero().or(Some(from.0))
    } else {
        None
    };
    for a in items {
        let t = time_of(a, "first_in")?;
        if t >= from.0 && t < to.0 {
            if recording {
                trail::item(a, "in_window", true, t, anchor, to.0);
            }
            return Ok(a.clone());
        }
        if recording {
            trail::item(a, if t < from.0 { "before_window" } else { "outside_window" }, false, t, anchor, to.0);
        }
    }
    Ok(Dynamic::UNIT)
}

pub fn register(engine: &mut Engine) {
    engine.register_fn(
        "first_between",
        |ctx: NativeCallContext, items: Array, t0: Time, from: Dynamic, to: Dynamic| -> Res<Dynamic> {
            first_between(&ctx, &items, t0, minutes(&from, "first_between")?, minutes(&to, "first_between")?)
        },
    );
    engine.register_fn("first_in", |ctx: NativeCallContext, items: Array, from: Time, to: Time| -> Res<Dynamic> {
        first_in(&ctx, &items, from, to)
    });
    engine.register_fn("time_zero", |t: Time, key: ImmutableString| -> Res<Time> {
        let code = trail::render::time_zero_key(&key).ok_or_else(|| -> Box<EvalAltResult> {
            format!("unknown time-zero reason '{key}' (one of: {})", time_zero_key_list()).into()
        })?;
        trail::time_zero(t.0, code, true);
        Ok(t)
    });
}

/// The keys `time_zero` accepts, comma-separated (for messages).
pub fn time_zero_key_list() -> String {
    trail::render::TIME_ZERO_KEYS.iter().map(|(k, _, _)| *k).collect::<Vec<_>>().join(", ")
}
