//! [`rhai::ParseErrorType`] (and the lexer's [`rhai::LexError`]) to a message class.
use rhai::{LexError, ParseErrorType as P};

use super::{Kind, ScriptError};

/// The class and parameters of a parse error.
pub fn of_parse(e: &P) -> ScriptError {
    let one = |k: Kind, a: &str| ScriptError::new(k, &[a]);
    let none = |k: Kind| ScriptError::new(k, &[]);
    // The variants whose only detail is Rhai's own sentence keep it as the parameter.
    let own = |k: Kind| ScriptError::new(k, &[&e.to_string()]);
    #[allow(deprecated)]
    match e {
        P::BadInput(lex) => of_lex(lex),
        P::UnexpectedEOF => none(Kind::Incomplete),
        P::UnknownOperator(s) => one(Kind::UnknownOperator, s),
        P::MissingToken(token, context) => {
            ScriptError::new(Kind::MissingToken, &[token, &context_zh(context), context])
        }
        P::MissingSymbol(_) => own(Kind::MissingSymbol),
        P::MalformedCallExpr(_) => none(Kind::BadCallExpr),
        P::MalformedIndexExpr(_) => own(Kind::BadIndexExpr),
        P::MalformedInExpr(_) => own(Kind::BadInExpr),
        P::MalformedCapture(_) => own(Kind::BadCapture),
        P::DuplicatedProperty(s) => one(Kind::DuplicatedProperty, s),
        P::DuplicatedSwitchCase => none(Kind::DuplicatedSwitchCase),
        P::DuplicatedVariable(s) => one(Kind::DuplicatedVariable, s),
        P::WrongSwitchIntegerCase => none(Kind::WrongSwitchIntegerCase),
        P::WrongSwitchDefaultCase => none(Kind::WrongSwitchDefaultCase),
        P::WrongSwitchCaseCondition => none(Kind::WrongSwitchCaseCondition),
        P::PropertyExpected => none(Kind::PropertyExpected),
        P::VariableExpected => none(Kind::VariableExpected),
        P::ForbiddenVariable(s) => one(Kind::ForbiddenVariable, s),
        P::Reserved(s) if rhai::is_valid_identifier(s) => one(Kind::ReservedKeyword, s),
        P::Reserved(s) => one(Kind::ReservedSymbol, s),
        P::MismatchedType(wanted, actual) => ScriptError::new(Kind::MismatchedType, &[wanted, actual]),
        P::ExprExpected(s) => one(Kind::ExprExpected, s),
        P::WrongDocComment => none(Kind::WrongDocComment),
        P::WrongFnDefinition => none(Kind::WrongFnDefinition),
        P::FnDuplicatedDefinition(name, n) => ScriptError::new(Kind::FnDuplicated, &[name, &n.to_string()]),
        P::FnMissingName => none(Kind::FnMissingName),
        P::FnMissingParams(s) => one(Kind::FnMissingParams, s),
        P::FnDuplicatedParam(f, p) => ScriptError::new(Kind::FnDuplicatedParam, &[f, p]),
        P::FnMissingBody(s) => one(Kind::FnMissingBody, s),
        P::WrongExport => none(Kind::WrongExport),
        P::AssignmentToConstant(s) if s.is_empty() => own(Kind::AssignToInvalid),
        P::AssignmentToConstant(s) => one(Kind::AssignToConstant, s),
        P::AssignmentToInvalidLHS(_) => own(Kind::AssignToInvalid),
        P::VariableExists(s) => one(Kind::VariableExists, s),
        P::VariableUndefined(s) => one(Kind::VariableUndefined, s),
        P::ModuleUndefined(s) => one(Kind::ModuleUndefined, s),
        P::ExprTooDeep => none(Kind::ExprTooDeep),
        P::TooManyFunctions => none(Kind::TooManyFunctions),
        P::LiteralTooLarge(what, max) => {
            ScriptError::new(Kind::LiteralTooLarge, &[&what_zh(what), &max.to_string(), what])
        }
        P::LoopBreak => none(Kind::BreakOutsideLoop),
        _ => own(Kind::Other),
    }
}

fn of_lex(e: &LexError) -> ScriptError {
    let one = |k: Kind, a: &str| ScriptError::new(k, &[a]);
    match e {
        LexError::UnexpectedInput(s) => one(Kind::UnexpectedInput, s),
        LexError::UnterminatedString => ScriptError::new(Kind::UnterminatedString, &[]),
        LexError::StringTooLong(max) => one(Kind::StringTooLong, &max.to_string()),
        LexError::MalformedEscapeSequence(s) => one(Kind::BadEscape, s),
        LexError::MalformedNumber(s) => one(Kind::BadNumber, s),
        LexError::MalformedChar(s) => one(Kind::BadChar, s),
        LexError::MalformedIdentifier(s) => one(Kind::BadName, s),
        LexError::ImproperSymbol(s, note) if note.is_empty() => ScriptError::new(Kind::BadSymbol, &[s, ""]),
        LexError::ImproperSymbol(s, note) => ScriptError::new(Kind::BadSymbol, &[s, &format!(" — {note}")]),
        LexError::Runtime(_) => one(Kind::Other, &e.to_string()),
        _ => one(Kind::Other, &e.to_string()),
    }
}

/// Rhai's "what" of a size limit, in Chinese.
pub(super) fn what_zh(what: &str) -> String {
    match what {
        "Length of string" => "字符串长度".into(),
        "Size of array/BLOB" | "Size of array" => "数组大小".into(),
        "Size of object map" => "对象映射大小".into(),
        "Number of functions" => "函数个数".into(),
        other => other.into(),
    }
}

/// Rhai's context of a missing token ("to terminate this statement"), in Chinese: the
/// frequent ones word for word, a name they quote kept; others as Rhai words them.
fn context_zh(context: &str) -> String {
    const FIXED: &[(&str, &str)] = &[
        ("to terminate this statement", "以结束这条语句"),
        ("to start a statement block", "以开始语句块 { }"),
        ("to terminate this block", "以结束这个语句块"),
        ("to start arguments list of function call", "以开始函数调用的参数列表"),
        ("to start a switch block", "以开始 switch 语句块"),
        ("to separate the items of this array literal", "以分隔数组的各项"),
        ("to separate the items of this object map literal", "以分隔对象映射的各项"),
        ("to end this object map literal", "以结束对象映射"),
        ("to end this array literal", "以结束数组"),
        ("to separate the items in this switch block", "以分隔 switch 的各分支"),
        ("to close the iteration variable", "以结束循环变量"),
        ("after the iteration variable", "应在循环变量之后"),
        ("after the iteration variable name", "应在循环变量名之后"),
        ("for a matching ( in this expression", "与这个表达式中的 ( 配对"),
        ("for a matching [ in this index expression", "与这个下标表达式中的 [ 配对"),
        ("in this switch case", "在这个 switch 分支中"),
    ];
    if let Some((_, zh)) = FIXED.iter().find(|(en, _)| *en == context) {
        return (*zh).to_string();
    }
    const NAMED: &[(&str, &str)] = &[
        ("to close the arguments list of this function call ", "以结束函数调用 {} 的参数列表"),
        ("to separate the arguments to function call ", "以分隔函数调用 {} 的参数"),
        ("to close the parameters list of function ", "以结束函数 {} 的参数列表"),
        ("to follow the property ", "应跟在对象映射的属性 {} 之后"),
    ];
    for (prefix, zh) in NAMED {
        if let Some(rest) = context.strip_prefix(prefix) {
            let name = rest.split(" in this").next().unwrap_or(rest);
            return zh.replace("{}", name);
        }
    }
    context.to_string()
}
