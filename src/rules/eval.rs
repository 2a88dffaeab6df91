//! Running rules against an encounter: one call per rule, each with its own operation
//! and time budget; a failing rule yields an `error` finding and never affects others.
use rhai::{EvalAltResult, Position};

use super::engine::TIME_BUDGET_EXCEEDED;

/// Innermost position and a message QC staff can act on, for a script error.
pub fn describe_error(err: &EvalAltResult) -> (Position, String) {
    let mut e = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = e {
        e = inner;
    }
    let pos = e.position();
    let msg = match e {
        EvalAltResult::ErrorTooManyOperations(_) => {
            "stopped: the rule used more operations than allowed (an endless loop?)".to_string()
        }
        EvalAltResult::ErrorTerminated(v, _) if v.to_string() == TIME_BUDGET_EXCEEDED => {
            "stopped: the rule ran longer than its time budget (an endless loop?)".to_string()
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "stopped: too many nested function calls (recursion without an end?)".to_string()
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            format!("stopped: {what} grew beyond the allowed size")
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) if sig.contains("()") => format!(
            "function not found: {sig} — a value passed to it is missing (a time or item that was not recorded?); test it with is_time(x) or x == () first"
        ),
        EvalAltResult::ErrorRuntime(v, _) => format!("runtime error: {v}"),
        other => strip_position(&other.to_string()),
    };
    (pos, msg)
}

fn strip_position(s: &str) -> String {
    match s.rfind(" (line ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}
