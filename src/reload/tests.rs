use super::*;

fn compile(v: &str) -> impl FnOnce() -> Result<String, Vec<Diagnostic>> + '_ {
    move || {
        if v.contains("broken") {
            Err(vec![Diagnostic::new("a.toml", 2, 5, "does not parse")])
        } else {
            Ok(v.to_string())
        }
    }
}

fn reload(slot: &Slot<String>, v: &str) -> Outcome {
    slot.reload(Cause::Admin, compile(v), |s| s.clone(), |a, b| a == b, |_, _| {})
}

#[test]
fn a_slot_swaps_complete_versions_only_and_reports_each_attempt() {
    let slot = Slot::new(Component::Rules, "v1".to_string(), "v1".into(), Vec::new());
    assert_eq!((slot.last().cause, slot.last().loaded, slot.attempts()), (Cause::Startup, true, 1));
    let held = slot.current();

    let o = reload(&slot, "v2");
    assert!(o.loaded && o.changed && o.errors.is_empty(), "{o:?}");
    assert_eq!((slot.current().as_str(), held.as_str()), ("v2", "v1"), "a snapshot taken before is unchanged");

    let o = reload(&slot, "v2");
    assert!(o.loaded && !o.changed, "identical: nothing swapped");

    let o = reload(&slot, "v3 broken");
    assert!(!o.loaded && !o.changed);
    assert_eq!(o.version, "v2", "the version in force stays");
    assert_eq!(o.errors[0].to_string(), "a.toml:2:5: does not parse");
    assert_eq!(*slot.current(), "v2");
    assert_eq!(slot.last(), o);
    assert_eq!(slot.attempts(), 4);

    let p = o.to_proto();
    assert_eq!(p.status(), pb::LoadStatus::Failed);
    assert_eq!((p.component(), p.cause(), p.changed), (pb::ReloadComponent::Rules, pb::ReloadCause::Admin, false));
    assert_eq!(p.errors[0].line, 2);
    assert!(p.time.is_some());
}

#[test]
fn a_start_up_with_problems_is_a_failed_outcome_that_still_serves() {
    let slot = Slot::new(Component::Models, 7u8, "x".into(), vec![Diagnostic::file("m/model.onnx", "garbage")]);
    assert_eq!(*slot.current(), 7);
    assert!(!slot.last().loaded);
    assert_eq!(slot.last().errors[0].to_string(), "m/model.onnx:1:1: garbage");
}
