//! Each class of script error: a broken fragment produces it, and its text is Chinese in
//! zh-CN and English in en. Classes no fragment can reach with the rules' engine (features
//! it turns off, deprecated variants) are built from the Rhai error itself.
use std::time::Duration;

use rhai::{Dynamic, EvalAltResult as E, LexError, ParseErrorType as P, Position};

use super::{describe, of_parse, Kind, ScriptError};
use crate::locale::{has_chinese, Locale};
use crate::rules::engine::{build_engine, Budget, RuleLimits};

/// The class a fragment's first error has: its parse error, else its run-time error.
fn class_of(src: &str) -> ScriptError {
    let engine = build_engine(&RuleLimits::default(), chrono_tz::Asia::Shanghai);
    match engine.compile(src) {
        Err(e) => of_parse(&e.0),
        Ok(ast) => {
            let _budget = Budget::start(Duration::from_secs(5));
            match engine.eval_ast::<Dynamic>(&ast) {
                Err(e) => describe(&e).error,
                Ok(v) => panic!("{src:?} ran without an error: {v:?}"),
            }
        }
    }
}

fn fns(n: usize) -> String {
    (0..n).map(|i| format!("fn f{i}() {{ {i} }}\n")).collect()
}

/// (class, fragment) for every class a rule script can produce.
fn fragments() -> Vec<(Kind, String)> {
    use Kind::*;
    let s = |k: Kind, src: &str| (k, src.to_string());
    vec![
        s(UnexpectedInput, "let x = 1 ¤ 2;"),
        s(UnterminatedString, "let s = \"abc"),
        s(BadEscape, r#"let s = "\q";"#),
        s(BadNumber, "let x = 0x;"),
        s(BadChar, "let c = 'ab';"),
        s(BadSymbol, "let x = 1; x === 1"),
        s(Incomplete, "let x = 1 +"),
        s(MissingToken, "let q = (1 + 2;"),
        s(BadIndexExpr, "[1, 2][true]"),
        s(DuplicatedProperty, "#{ a: 1, a: 2 }"),
        s(DuplicatedVariable, "for (i, i) in [1] { }"),
        s(WrongSwitchIntegerCase, "switch 1 { 1..3 => 1, 2 => 2 }"),
        s(WrongSwitchDefaultCase, "switch 1 { _ => 1, 2 => 2 }"),
        s(WrongSwitchCaseCondition, "switch 1 { _ if true => 1 }"),
        s(PropertyExpected, "let m = #{ a: 1 }; m.\"a\""),
        s(VariableExpected, "let = 1;"),
        s(ReservedKeyword, "let goto = 1;"),
        s(ExprExpected, "while { }"),
        s(WrongFnDefinition, "if true { fn f() { 1 } }"),
        s(FnDuplicated, "fn f() { 1 } fn f() { 2 }"),
        s(FnMissingName, "fn () { 1 }"),
        s(FnMissingParams, "fn f { 1 }"),
        s(FnDuplicatedParam, "fn f(a, a) { 1 }"),
        s(FnMissingBody, "fn f()"),
        s(AssignToConstant, "const X = 1; X = 2;"),
        s(AssignToInvalid, "let a = 1; a + 1 = 2;"),
        s(VariableUndefined, "let y = nope + 1;"),
        s(ModuleUndefined, "nope::f()"),
        (ExprTooDeep, format!("{}1{}", "(".repeat(200), ")".repeat(200))),
        (TooManyFunctions, fns(100)),
        (LiteralTooLarge, format!("let s = \"{}\";", "a".repeat(20_000))),
        s(BreakOutsideLoop, "break;"),
        s(PropertyNotFound, "let m = #{ a: 1 }; m.b"),
        s(FunctionNotFound, "nothing_here(1)"),
        s(MissingValueCall, "abs(())"),
        s(DataType, "let x = 1; if x { 2 }"),
        s(NotIndexable, "let x = true; x[0]"),
        s(ArrayBounds, "let a = [1, 2]; a[5]"),
        s(StringBounds, "let t = \"ab\"; t[5]"),
        s(ForNotIterable, "let b = true; for x in b { }"),
        s(NonPureOnConstant, "const A = [1]; A.push(2); A"),
        s(DivisionByZero, "let a = 0; 1 / a"),
        s(Arithmetic, "let a = 9223372036854775807; a + 1"),
        s(TooManyOperations, "loop { }"),
        s(TooManyVariables, &(0..300).map(|i| format!("let v{i} = {i};\n")).collect::<String>()),
        s(StackOverflow, "fn f(x) { f(x) } f(1)"),
        s(DataTooLarge, "let s = \"abcdefgh\"; loop { s += s; }"),
        s(Thrown, "throw \"bad input\";"),
    ]
}

/// (class, error) for the classes no fragment reaches with the rules' engine.
fn built() -> Vec<(Kind, ScriptError)> {
    use Kind::*;
    let none = Position::NONE;
    let p = |k: Kind, e: P| (k, of_parse(&e));
    let ev = |k: Kind, e: E| (k, describe(&e).error);
    #[allow(deprecated)]
    let parse = vec![
        p(StringTooLong, P::BadInput(LexError::StringTooLong(10))),
        p(BadName, P::BadInput(LexError::MalformedIdentifier("1x".into()))),
        p(UnknownOperator, P::UnknownOperator("<>".into())),
        p(MissingSymbol, P::MissingSymbol("Expecting a symbol".into())),
        p(BadCallExpr, P::MalformedCallExpr("".into())),
        p(BadInExpr, P::MalformedInExpr("Invalid 'in' expression".into())),
        p(BadCapture, P::MalformedCapture("Invalid capturing".into())),
        p(DuplicatedSwitchCase, P::DuplicatedSwitchCase),
        p(ForbiddenVariable, P::ForbiddenVariable("x".into())),
        p(ReservedSymbol, P::Reserved(":;".into())),
        p(MismatchedType, P::MismatchedType("int".into(), "string".into())),
        p(WrongDocComment, P::WrongDocComment),
        p(WrongExport, P::WrongExport),
        p(VariableExists, P::VariableExists("x".into())),
    ];
    let eval = vec![
        ev(VariableNotFound, E::ErrorVariableNotFound("x".into(), none)),
        ev(IndexNotFound, E::ErrorIndexNotFound("code".into(), none)),
        ev(ModuleNotFound, E::ErrorModuleNotFound("m".into(), none)),
        ev(UnboundThis, E::ErrorUnboundThis(none)),
        ev(OutputType, E::ErrorMismatchOutputType("bool".into(), "i64".into(), none)),
        ev(BitFieldBounds, E::ErrorBitFieldBounds(64, 70, none)),
        ev(DataRace, E::ErrorDataRace("x".into(), none)),
        ev(ModifyConstant, E::ErrorAssignmentToConstant("X".into(), none)),
        ev(BadDotExpr, E::ErrorDotExpr("Malformed dot expression".into(), none)),
        ev(Terminated, E::ErrorTerminated("stop".into(), none)),
        ev(TooManyModules, E::ErrorTooManyModules(none)),
        ev(Other, E::ErrorSystem("disk".into(), "full".into())),
    ];
    parse.into_iter().chain(eval).collect()
}

fn assert_texts(k: Kind, e: &ScriptError) {
    let (zh, en) = (e.render(Locale::ZhCn), e.render(Locale::En));
    assert!(has_chinese(&zh), "{k:?}: the zh-CN text has no Chinese: {zh}");
    assert!(!en.is_empty() && en != zh, "{k:?}: en {en:?} vs zh-CN {zh:?}");
    assert!(!zh.contains("{0}") && !en.contains("{0}") && !en.contains("{1}"), "{k:?}: {zh} / {en}");
    let t = e.text();
    assert_eq!((t.pick(Locale::ZhCn), t.pick(Locale::En)), (zh.as_str(), en.as_str()));
}

#[test]
fn every_fragment_produces_its_class_in_both_locales() {
    let mut wrong = Vec::new();
    for (k, src) in fragments() {
        let e = class_of(&src);
        if e.kind != k {
            wrong.push(format!("{k:?} expected, {:?} from {src:.60?}: {}", e.kind, e.render(Locale::En)));
            continue;
        }
        assert_texts(k, &e);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_classes_no_fragment_reaches_map_from_rhai_errors() {
    for (k, e) in built() {
        assert_eq!(e.kind, k, "{}", e.render(Locale::En));
        assert_texts(k, &e);
    }
}

#[test]
fn the_time_budget_is_its_own_class() {
    let engine = build_engine(&RuleLimits::default(), chrono_tz::Asia::Shanghai);
    let _budget = Budget::start(Duration::ZERO);
    let e = engine.eval::<Dynamic>("let x = 0; loop { x += 1; }").unwrap_err();
    let d = describe(&e);
    assert_eq!(d.error.kind, Kind::TimeBudget);
    assert_texts(Kind::TimeBudget, &d.error);
    assert_eq!(d.log_kind(), "time_budget");
}

#[test]
fn every_class_is_tested() {
    let tested: Vec<Kind> =
        fragments().into_iter().map(|(k, _)| k).chain(built().into_iter().map(|(k, _)| k)).collect();
    for k in Kind::ALL.iter().filter(|k| **k != Kind::TimeBudget) {
        assert!(tested.contains(k), "{k:?} has no test");
    }
}

#[test]
fn names_are_kept_and_values_are_not() {
    let e = class_of("let y = undefined_thing + 1;");
    assert_eq!(e.render(Locale::En), "Undefined variable: undefined_thing");
    assert!(e.render(Locale::ZhCn).starts_with("未定义的变量：undefined_thing"));
    // Operands of a failed division may be an encounter's values: not quoted.
    let e = class_of("let a = 0; let w = 73; w / a");
    assert!(!e.render(Locale::En).contains("73") && !e.render(Locale::ZhCn).contains("73"));
    // A map key quoted only when it is a name.
    let e = describe(&E::ErrorIndexNotFound("张三 1955-01-01".into(), Position::NONE)).error;
    assert!(!e.render(Locale::ZhCn).contains("张三"), "{}", e.render(Locale::ZhCn));
    // A missing-token context names the function in Chinese too.
    let e = class_of("fn f(a, b { 1 }");
    assert_eq!(class_of("1 = 2;").kind, Kind::AssignToInvalid);
    assert_eq!(e.kind, Kind::MissingToken);
    assert!(e.render(Locale::ZhCn).contains("'f'"), "{}", e.render(Locale::ZhCn));
    // An unknown variant: 脚本错误 and Rhai's own text.
    let e = describe(&E::ErrorCustomSyntax("bad syntax".into(), vec![], Position::NONE)).error;
    assert_eq!(e.kind, Kind::Other);
    assert!(e.render(Locale::ZhCn).starts_with("脚本错误：") && e.render(Locale::ZhCn).contains("bad syntax"));
}

#[test]
fn an_error_inside_a_function_is_described_at_its_innermost_call() {
    let engine = build_engine(&RuleLimits::default(), chrono_tz::Asia::Shanghai);
    let e = engine.eval::<Dynamic>("fn g(m) { m.missing }\ng(#{ a: 1 })").unwrap_err();
    let d = describe(&e);
    assert_eq!((d.error.kind, d.in_fn.as_deref(), d.pos.line()), (Kind::PropertyNotFound, Some("g"), Some(1)));
}
