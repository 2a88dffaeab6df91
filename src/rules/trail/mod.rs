//! The reasoning trail of one rule evaluation, recorded by the engine from the API calls the
//! script makes — no rule has to write it:
//!
//! - the windowed selections (`first_between`, `first_in`) record their time zero, their
//!   window and every candidate item they looked at, accepted or rejected with a reason
//!   code (`before_time_zero`, `before_window`, `outside_window`, `in_window`);
//! - `end_of_hospital_day(t0, n)` records a calendar-day window, `time_zero(t, key)` the
//!   time zero a rule states with its reason;
//! - the value-set queries a rule makes in its `// --- Exclusions` section (directly or in the
//!   helpers it calls there; found at load, [`sections`]) and the reads of the
//!   exclusion fields (`transferred_in`, comfort measures, clinical trial) record an
//!   exclusion check each;
//! - [`render`] adds the outcome and turns the steps into [`TrailStep`]s with texts in the
//!   finding's locale, times in the hospital zone.
//!
//! The recorder is a thread-local set around one rule call (like the time budget): a call
//! outside a rule records nothing. It is bounded ([`MAX_STEPS`]; `trail_truncated` beyond)
//! and cheap: a step is a few words plus an `Arc` clone of the item handle; texts and
//! evidence are built once, when the finding is made. Trails go into findings only, never
//! into logs.
use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{Dynamic, ImmutableString};

pub mod render;
pub mod sections;
#[cfg(test)]
mod tests;

pub use super::finding::TrailStep;

/// Most steps of one finding's trail, the outcome included.
pub const MAX_STEPS: usize = 24;
/// Longest text of one step, in characters.
pub const MAX_TEXT_CHARS: usize = 160;

/// What a step is about (the proto's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TimeZero,
    Window,
    Item,
    ExclusionCheck,
    Note,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TimeZero => "time_zero",
            Kind::Window => "window",
            Kind::Item => "item",
            Kind::ExclusionCheck => "exclusion_check",
            Kind::Note => "note",
        }
    }
}

/// One recorded step, before rendering.
#[derive(Debug, Clone)]
pub struct Step {
    pub kind: Kind,
    /// Stable reason code (see [`render`] for the vocabulary).
    pub code: &'static str,
    pub accepted: bool,
    /// The item handle the script saw (an `Arc` clone), when the step is about an item.
    pub item: Option<Dynamic>,
    pub time: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Time zero an item's time is read against (its hospital day in the text).
    pub anchor: Option<DateTime<Utc>>,
    /// Value-set name of an exclusion query, or the hospital day of a calendar window.
    pub arg: ImmutableString,
    /// Items an exclusion query found; the last hospital day of a calendar window.
    pub n: i64,
    /// For an item: the end of the window it was judged against (not rendered: the same
    /// item judged against two windows is two steps).
    pub window_end: Option<DateTime<Utc>>,
}

impl Step {
    pub fn new(kind: Kind, code: &'static str) -> Self {
        Self {
            kind,
            code,
            accepted: false,
            item: None,
            time: None,
            end: None,
            anchor: None,
            arg: ImmutableString::new(),
            n: 0,
            window_end: None,
        }
    }
}

/// The steps of the rule call running on this thread.
#[derive(Debug, Default)]
struct Recorder {
    steps: Vec<Step>,
    truncated: bool,
    /// Value sets queried in the rule's exclusion section (see [`sections`]).
    exclusion_sets: Arc<[ImmutableString]>,
    /// Inside a `memo` computation: every exclusion query is recorded (the rules reading
    /// the memo later keep those their own exclusion section checks, see [`replay`]).
    all_sets: bool,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Steps recorded for one rule call, and whether some were dropped at the bound.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub steps: Vec<Step>,
    pub truncated: bool,
}

/// Records the steps of one rule call on this thread while alive; [`Recording::finish`]
/// hands them over.
#[must_use = "the trail is recorded only while the guard is alive"]
pub struct Recording {
    previous: Option<Recorder>,
    done: bool,
}

impl Recording {
    pub fn start(exclusion_sets: Arc<[ImmutableString]>) -> Self {
        let rec = Recorder { steps: Vec::new(), truncated: false, exclusion_sets, all_sets: false };
        let previous = RECORDER.with(|r| r.borrow_mut().replace(rec));
        Self { previous, done: false }
    }

    pub fn finish(mut self) -> Recorded {
        self.done = true;
        let rec = RECORDER.with(|r| std::mem::replace(&mut *r.borrow_mut(), self.previous.take()));
        rec.map(|r| Recorded { steps: r.steps, truncated: r.truncated }).unwrap_or_default()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if !self.done {
            let previous = self.previous.take();
            RECORDER.with(|r| *r.borrow_mut() = previous);
        }
    }
}

impl Recorder {
    /// Whether an exclusion query of value set `vs` is a step of this trail.
    fn wants(&self, vs: &ImmutableString) -> bool {
        self.all_sets || self.exclusion_sets.iter().any(|s| s.ptr_eq(vs) || s == vs)
    }
}

fn with<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    RECORDER.with(|r| r.try_borrow_mut().ok().and_then(|mut r| r.as_mut().map(f)))
}

/// Whether a rule call is being recorded on this thread.
pub fn active() -> bool {
    with(|_| ()).is_some()
}

/// Record a step (built only when a rule call is recorded). A step equal to one already
/// recorded (same time zero, window, item verdict or exclusion check) is not repeated.
pub fn record(make: impl FnOnce() -> Step) {
    with(|r| {
        let step = make();
        if r.steps.iter().any(|s| same(s, &step)) {
            return;
        }
        // One slot stays free for the outcome.
        if r.steps.len() + 1 >= MAX_STEPS {
            r.truncated = true;
            return;
        }
        r.steps.push(step);
    });
}

/// An exclusion query: recorded when value set `vs` is one the rule queries in its
/// exclusion section. `first` gives the first item found.
pub fn exclusion_query(vs: &ImmutableString, found: usize, first: impl FnOnce() -> Option<Dynamic>) {
    let wanted = with(|r| r.wants(vs)).unwrap_or(false);
    if !wanted {
        return;
    }
    record(|| {
        let mut s = Step::new(Kind::ExclusionCheck, if found == 0 { "none_found" } else { "found" });
        s.accepted = found == 0;
        s.arg = vs.clone();
        s.n = found as i64;
        s.item = if found == 0 { None } else { first() };
        s.time = s.item.as_ref().and_then(item_time);
        s
    });
}

/// An exclusion field read (`transfer_in`, `comfort_measures`, `clinical_trial`): `present`
/// is what the record says, `time` when it is dated.
pub fn exclusion_field(field: &'static str, present: bool, time: Option<DateTime<Utc>>) {
    record(|| {
        let mut s = Step::new(Kind::ExclusionCheck, if present { "documented" } else { "not_documented" });
        s.accepted = !present;
        s.arg = ImmutableString::from(field);
        s.time = time;
        s
    });
}

/// Time zero: `code` says what it is (a key of [`render::TIME_ZERO_KEYS`]). A rule's own
/// `time_zero(t, key)` (`stated`) replaces the engine's guess for the same instant.
pub fn time_zero(t: DateTime<Utc>, code: &'static str, stated: bool) {
    if stated {
        let replaced = with(|r| {
            r.steps.iter_mut().find(|s| s.kind == Kind::TimeZero && s.time == Some(t)).map(|s| s.code = code).is_some()
        });
        if replaced == Some(true) {
            return;
        }
    }
    record(|| {
        let mut s = Step::new(Kind::TimeZero, code);
        s.time = Some(t);
        s.accepted = true;
        s
    });
}

/// A window `[start, end]` (`closed`: end included) or `[start, end)`.
pub fn window(start: DateTime<Utc>, end: DateTime<Utc>, closed: bool, anchor: Option<DateTime<Utc>>) {
    record(|| {
        let mut s = Step::new(Kind::Window, if closed { "closed" } else { "half_open" });
        s.time = Some(start);
        s.end = Some(end);
        s.anchor = anchor;
        s
    });
}

/// A candidate item of a windowed selection (the window ending at `window_end`) and the
/// verdict on it.
pub fn item(
    item: &Dynamic,
    code: &'static str,
    accepted: bool,
    time: DateTime<Utc>,
    anchor: Option<DateTime<Utc>>,
    window_end: DateTime<Utc>,
) {
    record(|| {
        let mut s = Step::new(Kind::Item, code);
        s.accepted = accepted;
        s.item = Some(item.clone());
        s.time = Some(time);
        s.anchor = anchor;
        s.window_end = Some(window_end);
        s
    });
}

/// The latest time zero recorded, if any (the anchor of item days).
pub fn current_time_zero() -> Option<DateTime<Utc>> {
    with(|r| r.steps.iter().rev().find(|s| s.kind == Kind::TimeZero).and_then(|s| s.time)).flatten()
}

/// A calendar-day window: from `t0` to the end of hospital day `n` (exclusive).
pub fn hospital_days(t0: DateTime<Utc>, end: DateTime<Utc>, n: i64) {
    record(|| {
        let mut s = Step::new(Kind::Window, "hospital_days");
        s.time = Some(t0);
        s.end = Some(end);
        s.anchor = Some(t0);
        s.n = n;
        s
    });
}

/// The recording of one `memo` computation, apart from the rule's steps while alive (so no
/// step of it is lost to one the rule already has, and every exclusion query is kept):
/// [`MemoRecording::finish`] hands its steps over and puts the rule's back; they then go into
/// the trail of each rule reading the memo with [`replay`], the first one included.
#[must_use = "the memo's steps are recorded apart only while the guard is alive"]
pub struct MemoRecording {
    /// The rule's steps, truncation and `all_sets` while the memo records (`None` outside a rule).
    outer: Option<(Vec<Step>, bool, bool)>,
}

impl MemoRecording {
    pub fn start() -> Self {
        let outer = with(|r| {
            let all = std::mem::replace(&mut r.all_sets, true);
            (std::mem::take(&mut r.steps), std::mem::take(&mut r.truncated), all)
        });
        Self { outer }
    }

    /// The steps the computation recorded.
    pub fn finish(mut self) -> Vec<Step> {
        self.restore().map(|(steps, _)| steps).unwrap_or_default()
    }

    /// Put the rule's steps back; the memo's steps and whether some were dropped.
    fn restore(&mut self) -> Option<(Vec<Step>, bool)> {
        let (steps, truncated, all) = self.outer.take()?;
        with(|r| {
            r.all_sets = all;
            let mine = std::mem::replace(&mut r.steps, steps);
            let dropped = std::mem::replace(&mut r.truncated, truncated);
            r.truncated |= dropped;
            (mine, dropped)
        })
    }
}

impl Drop for MemoRecording {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Record the steps of a `memo` computation (see [`MemoRecording`]) in the trail of the rule
/// reading its value: its exclusion queries only where this rule's exclusion section checks
/// that value set, a time zero it states as [`time_zero`] does.
pub fn replay(steps: &[Step]) {
    for s in steps {
        match (s.kind, s.code) {
            (Kind::ExclusionCheck, "found" | "none_found") => {
                if with(|r| r.wants(&s.arg)).unwrap_or(false) {
                    record(|| s.clone());
                }
            }
            (Kind::TimeZero, code) => {
                if let Some(t) = s.time {
                    time_zero(t, code, true);
                }
            }
            _ => record(|| s.clone()),
        }
    }
}

/// The time of an item handle (its `.time`), if it is one.
pub fn item_time(d: &Dynamic) -> Option<DateTime<Utc>> {
    use super::api::items::{
        AdministrationRef, AllergyRef, DiagnosisRef, NoteRef, ObservationRef, OrderRef, ProcedureRef,
    };
    if let Some(r) = d.read_lock::<AdministrationRef>() {
        return Some(r.get().time);
    }
    if let Some(r) = d.read_lock::<ObservationRef>() {
        return Some(r.get().time);
    }
    if let Some(r) = d.read_lock::<ProcedureRef>() {
        return Some(r.get().time);
    }
    if let Some(r) = d.read_lock::<OrderRef>() {
        return Some(r.get().time);
    }
    if let Some(r) = d.read_lock::<DiagnosisRef>() {
        return r.get().time;
    }
    if let Some(r) = d.read_lock::<AllergyRef>() {
        return r.get().time;
    }
    if let Some(r) = d.read_lock::<NoteRef>() {
        return Some(r.get().time);
    }
    None
}

/// `(list, index)` of an item handle, to tell two handles of one item.
fn item_key(d: &Dynamic) -> Option<(u8, usize)> {
    use super::api::items::{
        AdministrationRef, AllergyRef, DiagnosisRef, NoteRef, ObsList, ObservationRef, OrderRef, ProcedureRef,
    };
    if let Some(r) = d.read_lock::<AdministrationRef>() {
        return Some((0, r.i));
    }
    if let Some(r) = d.read_lock::<ObservationRef>() {
        let l = match r.list {
            ObsList::Vitals => 1,
            ObsList::Labs => 2,
            ObsList::Assessments => 3,
        };
        return Some((l, r.i));
    }
    if let Some(r) = d.read_lock::<ProcedureRef>() {
        return Some((4, r.i));
    }
    if let Some(r) = d.read_lock::<OrderRef>() {
        return Some((5, r.i));
    }
    if let Some(r) = d.read_lock::<DiagnosisRef>() {
        return Some((6, r.i));
    }
    if let Some(r) = d.read_lock::<AllergyRef>() {
        return Some((7, r.i));
    }
    if let Some(r) = d.read_lock::<NoteRef>() {
        return Some((8, r.i));
    }
    None
}

fn same(a: &Step, b: &Step) -> bool {
    if a.kind != b.kind {
        return false;
    }
    match a.kind {
        Kind::TimeZero => a.time == b.time,
        Kind::Window => a.time == b.time && a.end == b.end && a.code == b.code,
        Kind::Item => {
            a.code == b.code
                && a.anchor == b.anchor
                && a.window_end == b.window_end
                && match (&a.item, &b.item) {
                    (Some(x), Some(y)) => item_key(x).is_some() && item_key(x) == item_key(y),
                    _ => false,
                }
        }
        Kind::ExclusionCheck => a.arg == b.arg,
        Kind::Note => false,
    }
}
