//! `Time` and the time helpers scripts use: clock windows, calendar hospital days in
//! the hospital time zone, `now()` (the evaluation time) and message labels.
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, FLOAT, INT};

/// An absolute instant, as scripts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub DateTime<Utc>);

/// Per-call state handed to native functions through the Rhai call tag.
#[derive(Debug, Clone)]
pub struct CallState {
    /// The evaluation time (`now()`).
    pub now: DateTime<Utc>,
    /// The request's encounter object (for `memo`), when evaluating a rule.
    pub view: Option<super::encounter::EncounterView>,
    /// Pack of the rule being evaluated (`memo` keys are per pack).
    pub pack: rhai::ImmutableString,
}

impl CallState {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { now, view: None, pack: rhai::ImmutableString::new() }
    }
}

fn millis(minutes: FLOAT) -> Result<Duration, Box<EvalAltResult>> {
    let ms = minutes * 60_000.0;
    if !ms.is_finite() || ms.abs() > 1e15 {
        return Err(format!("time offset out of range: {minutes} minutes").into());
    }
    Ok(Duration::milliseconds(ms.round() as i64))
}

fn shift(t: Time, minutes: FLOAT) -> Result<Time, Box<EvalAltResult>> {
    let d = millis(minutes)?;
    t.0.checked_add_signed(d).map(Time).ok_or_else(|| "time out of range".into())
}

/// Local calendar date of an instant in the hospital zone.
pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// Calendar day of `t` counting `t0`'s day as day 1 (day 0 or negative when before).
pub fn hospital_day(tz: Tz, t0: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    (local_date(tz, t) - local_date(tz, t0)).num_days() + 1
}

/// First instant of a local calendar date (handles a DST gap at midnight).
fn start_of_local_day(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(t) = tz.from_local_datetime(&midnight).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // Midnight does not exist in this zone on that date (DST gap): take 01:00.
    let one = date.and_time(NaiveTime::from_hms_opt(1, 0, 0)?);
    tz.from_local_datetime(&one).earliest().map(|t| t.with_timezone(&Utc))
}

/// The end of calendar day `n` (where `t0`'s day is day 1) as an exclusive boundary: the
/// first instant of day `n + 1`, 00:00 local. "By the end of day 2" is `t < end_of_hospital_day(t0, 2)`.
pub fn end_of_hospital_day(tz: Tz, t0: DateTime<Utc>, n: i64) -> Option<DateTime<Utc>> {
    let date = local_date(tz, t0).checked_add_signed(Duration::days(n))?;
    start_of_local_day(tz, date)
}

/// "T+35 min", "T+2 h 05 min", "T-10 min".
pub fn rel_label(t0: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let mins = (t - t0).num_seconds().div_euclid(60);
    let sign = if mins < 0 { '-' } else { '+' };
    let m = mins.unsigned_abs();
    if m < 60 {
        format!("T{sign}{m} min")
    } else {
        format!("T{sign}{} h {:02} min", m / 60, m % 60)
    }
}

/// Display form of an instant in the hospital zone, minute precision.
pub fn display(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z").to_string()
}

/// Short local form for texts a person reads: "03-02 22:40" (hospital zone, no offset).
pub fn display_short(tz: Tz, t: DateTime<Utc>) -> String {
    // The same text as `format("%m-%d %H:%M")`, without parsing a format string per call
    // (every trail step and evidence time goes through here).
    let l = t.with_timezone(&tz);
    format!("{:02}-{:02} {:02}:{:02}", l.month(), l.day(), l.hour(), l.minute())
}

fn call_now(ctx: &NativeCallContext) -> Result<Time, Box<EvalAltResult>> {
    ctx.tag()
        .and_then(|tag| tag.read_lock::<CallState>().map(|s| Time(s.now)))
        .ok_or_else(|| "now() is only available while a rule is evaluated".into())
}

pub fn register(engine: &mut Engine, tz: Tz) {
    engine.register_type_with_name::<Time>("Time");

    engine.register_fn("now", |ctx: NativeCallContext| call_now(&ctx));
    engine.register_fn("minutes_between", |a: Time, b: Time| -> FLOAT {
        (b.0 - a.0).num_milliseconds() as FLOAT / 60_000.0
    });
    engine.register_fn("hours_between", |a: Time, b: Time| -> FLOAT {
        (b.0 - a.0).num_milliseconds() as FLOAT / 3_600_000.0
    });
    engine.register_fn("plus_minutes", |t: Time, n: INT| shift(t, n as FLOAT));
    engine.register_fn("plus_minutes", |t: Time, n: FLOAT| shift(t, n));
    engine.register_fn("plus_hours", |t: Time, n: INT| shift(t, n as FLOAT * 60.0));
    engine.register_fn("plus_hours", |t: Time, n: FLOAT| shift(t, n * 60.0));
    engine.register_fn("plus_days", |t: Time, n: INT| shift(t, n as FLOAT * 1440.0));
    engine.register_fn("plus_days", |t: Time, n: FLOAT| shift(t, n * 1440.0));
    engine.register_fn("hospital_day", move |t0: Time, t: Time| -> INT { hospital_day(tz, t0.0, t.0) });
    engine.register_fn(
        "end_of_hospital_day",
        move |ctx: NativeCallContext, t0: Time, n: INT| -> Result<Time, Box<EvalAltResult>> {
            let end = end_of_hospital_day(tz, t0.0, n)
                .map(Time)
                .ok_or_else(|| -> Box<EvalAltResult> { format!("hospital day {n} is out of range").into() })?;
            // Day 0 and before are a lower bound (the start of day 1), not a window.
            if n >= 1 && crate::rules::trail::active() {
                super::window::guess_time_zero(&ctx, t0.0);
                crate::rules::trail::hospital_days(t0.0, end.0, n);
            }
            Ok(end)
        },
    );
    engine.register_fn("rel", |t0: Time, t: Time| rel_label(t0.0, t.0));
    engine.register_fn("is_time", |x: Dynamic| x.is::<Time>());

    engine.register_fn("<", |a: Time, b: Time| a < b);
    engine.register_fn("<=", |a: Time, b: Time| a <= b);
    engine.register_fn(">", |a: Time, b: Time| a > b);
    engine.register_fn(">=", |a: Time, b: Time| a >= b);
    engine.register_fn("==", |a: Time, b: Time| a == b);
    engine.register_fn("!=", |a: Time, b: Time| a != b);
    engine.register_fn("to_string", move |t: &mut Time| display(tz, t.0));
    engine.register_fn("to_debug", move |t: &mut Time| display(tz, t.0));
    engine.register_fn("+", move |s: &str, t: Time| format!("{s}{}", display(tz, t.0)));
    engine.register_fn("+", move |t: Time, s: &str| format!("{}{s}", display(tz, t.0)));
}
