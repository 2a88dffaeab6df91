//! [`rhai::EvalAltResult`] (a rule's run-time error, or a parse error met at run time) to
//! a message class.
use rhai::{EvalAltResult as E, Position};

use super::{parse::what_zh, Kind, ScriptError};
use crate::diagnostic::Text;
use crate::rules::engine::TIME_BUDGET_EXCEEDED;

/// A run-time error, described.
#[derive(Debug, Clone)]
pub struct Described {
    /// Innermost position (none: Rhai's limit errors, reported at the outermost call).
    pub pos: Position,
    pub error: ScriptError,
    /// The innermost script function the error happened in.
    pub in_fn: Option<String>,
}

impl Described {
    pub fn text(&self) -> Text {
        self.error.text()
    }
    /// A fixed name of the class, safe to log.
    pub fn log_kind(&self) -> &'static str {
        self.error.kind.log_kind()
    }
}

/// Innermost position, class and function of a script error.
pub fn describe(err: &E) -> Described {
    let mut e = err;
    let mut in_fn = None;
    loop {
        match e {
            E::ErrorInFunctionCall(name, _, inner, _) => {
                in_fn = Some(name.clone());
                e = inner;
            }
            E::ErrorInModule(_, inner, _) => e = inner,
            _ => break,
        }
    }
    Described { pos: e.position(), error: of_eval(e), in_fn }
}

/// The class and parameters of one (unwrapped) run-time error.
pub fn of_eval(e: &E) -> ScriptError {
    let one = |k: Kind, a: &str| ScriptError::new(k, &[a]);
    let none = |k: Kind| ScriptError::new(k, &[]);
    let own = |k: Kind| ScriptError::new(k, &[&strip_position(&e.to_string())]);
    let bounds = |k: Kind, len: &usize, index: &rhai::INT| ScriptError::new(k, &[&len.to_string(), &index.to_string()]);
    match e {
        E::ErrorParsing(p, _) => super::of_parse(p),
        E::ErrorVariableExists(s, _) => one(Kind::VariableExists, s),
        E::ErrorForbiddenVariable(s, _) => one(Kind::ForbiddenVariable, s),
        E::ErrorVariableNotFound(s, _) => one(Kind::VariableNotFound, s),
        E::ErrorPropertyNotFound(s, _) => one(Kind::PropertyNotFound, s),
        E::ErrorIndexNotFound(index, _) => one(Kind::IndexNotFound, &safe_index(index)),
        E::ErrorFunctionNotFound(sig, _) if sig.contains("()") => one(Kind::MissingValueCall, sig),
        E::ErrorFunctionNotFound(sig, _) => one(Kind::FunctionNotFound, sig),
        E::ErrorModuleNotFound(s, _) => one(Kind::ModuleNotFound, s),
        E::ErrorUnboundThis(_) => none(Kind::UnboundThis),
        E::ErrorMismatchDataType(wanted, actual, _) => ScriptError::new(Kind::DataType, &[wanted, actual]),
        E::ErrorMismatchOutputType(wanted, actual, _) => ScriptError::new(Kind::OutputType, &[wanted, actual]),
        E::ErrorIndexingType(s, _) => one(Kind::NotIndexable, s),
        E::ErrorArrayBounds(len, index, _) => bounds(Kind::ArrayBounds, len, index),
        E::ErrorStringBounds(len, index, _) => bounds(Kind::StringBounds, len, index),
        E::ErrorBitFieldBounds(len, index, _) => bounds(Kind::BitFieldBounds, len, index),
        E::ErrorFor(_) => none(Kind::ForNotIterable),
        E::ErrorDataRace(s, _) => one(Kind::DataRace, s),
        E::ErrorNonPureMethodCallOnConstant(s, _) => one(Kind::NonPureOnConstant, s),
        E::ErrorAssignmentToConstant(s, _) => one(Kind::ModifyConstant, s),
        E::ErrorDotExpr(..) => own(Kind::BadDotExpr),
        // Rhai's text quotes the operands, which can be an encounter's values: not shown.
        E::ErrorArithmetic(s, _) if s.starts_with("Division by zero") => none(Kind::DivisionByZero),
        E::ErrorArithmetic(..) => none(Kind::Arithmetic),
        E::ErrorTooManyOperations(_) => none(Kind::TooManyOperations),
        E::ErrorTerminated(v, _) if v.to_string() == TIME_BUDGET_EXCEEDED => none(Kind::TimeBudget),
        E::ErrorTerminated(..) => none(Kind::Terminated),
        E::ErrorTooManyVariables(_) => none(Kind::TooManyVariables),
        E::ErrorTooManyModules(_) => none(Kind::TooManyModules),
        E::ErrorStackOverflow(_) => none(Kind::StackOverflow),
        E::ErrorDataTooLarge(what, _) => ScriptError::new(Kind::DataTooLarge, &[&what_zh(what), what]),
        // A script's own `throw "…"`: its text, written by the rule's author.
        E::ErrorRuntime(v, _) => match v.clone().into_immutable_string() {
            Ok(s) => one(Kind::Thrown, &s),
            Err(type_name) => one(Kind::Thrown, &format!("({type_name})")),
        },
        E::LoopBreak(..) => none(Kind::BreakOutsideLoop),
        E::ErrorInFunctionCall(..)
        | E::ErrorInModule(..)
        | E::ErrorSystem(..)
        | E::ErrorCustomSyntax(..)
        | E::Return(..)
        | E::Exit(..) => own(Kind::Other),
        _ => own(Kind::Other),
    }
}

/// A map key or index quoted only when it is a short name (a script's literal), never a
/// value that could come from an encounter.
fn safe_index(index: &rhai::Dynamic) -> String {
    match index.clone().into_immutable_string() {
        Ok(s) if s.len() <= 40 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') => {
            format!("'{s}'")
        }
        Ok(_) => "(string)".into(),
        Err(type_name) => format!("({type_name})"),
    }
}

/// Rhai's text without its trailing " (line l, position p)".
fn strip_position(s: &str) -> String {
    match s.rfind(" (line ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}
