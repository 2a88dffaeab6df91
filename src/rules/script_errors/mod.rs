//! Rhai's own errors — parse errors ([`rhai::ParseErrorType`]) and run-time errors
//! ([`rhai::EvalAltResult`]) — as message classes with a zh-CN and an en text, so that
//! `rules check`, `rules test`, `rules publish`, `rules status` and the daemon's reload
//! outcome show them in the reader's language. One table ([`Kind::texts`]) holds every
//! class; [`parse`] and [`eval`] map each Rhai variant to a class by an explicit match (Rhai's
//! enums are `#[non_exhaustive]`: a variant added by a later Rhai falls to [`Kind::Other`],
//! shown as "脚本错误" plus Rhai's own text). Parameters are names, types and sizes from
//! the script, never values computed from an encounter.
use crate::diagnostic::Text;
use crate::locale::Locale;

pub mod eval;
pub mod parse;
#[cfg(test)]
mod tests;

pub use eval::{describe, Described};
pub use parse::of_parse;

/// One class of script error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    // Lexer and parser.
    UnexpectedInput,
    UnterminatedString,
    StringTooLong,
    BadEscape,
    BadNumber,
    BadChar,
    BadName,
    BadSymbol,
    Incomplete,
    UnknownOperator,
    MissingToken,
    MissingSymbol,
    BadCallExpr,
    BadIndexExpr,
    BadInExpr,
    BadCapture,
    DuplicatedProperty,
    DuplicatedSwitchCase,
    DuplicatedVariable,
    WrongSwitchIntegerCase,
    WrongSwitchDefaultCase,
    WrongSwitchCaseCondition,
    PropertyExpected,
    VariableExpected,
    ForbiddenVariable,
    ReservedKeyword,
    ReservedSymbol,
    MismatchedType,
    ExprExpected,
    WrongDocComment,
    WrongFnDefinition,
    FnDuplicated,
    FnMissingName,
    FnMissingParams,
    FnDuplicatedParam,
    FnMissingBody,
    WrongExport,
    AssignToConstant,
    AssignToInvalid,
    VariableExists,
    VariableUndefined,
    ModuleUndefined,
    ExprTooDeep,
    TooManyFunctions,
    LiteralTooLarge,
    BreakOutsideLoop,
    // Run time.
    VariableNotFound,
    PropertyNotFound,
    IndexNotFound,
    FunctionNotFound,
    MissingValueCall,
    ModuleNotFound,
    UnboundThis,
    DataType,
    OutputType,
    NotIndexable,
    ArrayBounds,
    StringBounds,
    BitFieldBounds,
    ForNotIterable,
    DataRace,
    NonPureOnConstant,
    ModifyConstant,
    BadDotExpr,
    DivisionByZero,
    Arithmetic,
    TooManyOperations,
    TimeBudget,
    Terminated,
    TooManyVariables,
    TooManyModules,
    StackOverflow,
    DataTooLarge,
    Thrown,
    /// A variant this table has no class for (a later Rhai's): Rhai's text, marked 脚本错误.
    Other,
}

impl Kind {
    /// Every class (the unit tests produce each one).
    pub const ALL: &'static [Kind] = &[
        Kind::UnexpectedInput,
        Kind::UnterminatedString,
        Kind::StringTooLong,
        Kind::BadEscape,
        Kind::BadNumber,
        Kind::BadChar,
        Kind::BadName,
        Kind::BadSymbol,
        Kind::Incomplete,
        Kind::UnknownOperator,
        Kind::MissingToken,
        Kind::MissingSymbol,
        Kind::BadCallExpr,
        Kind::BadIndexExpr,
        Kind::BadInExpr,
        Kind::BadCapture,
        Kind::DuplicatedProperty,
        Kind::DuplicatedSwitchCase,
        Kind::DuplicatedVariable,
        Kind::WrongSwitchIntegerCase,
        Kind::WrongSwitchDefaultCase,
        Kind::WrongSwitchCaseCondition,
        Kind::PropertyExpected,
        Kind::VariableExpected,
        Kind::ForbiddenVariable,
        Kind::ReservedKeyword,
        Kind::ReservedSymbol,
        Kind::MismatchedType,
        Kind::ExprExpected,
        Kind::WrongDocComment,
        Kind::WrongFnDefinition,
        Kind::FnDuplicated,
        Kind::FnMissingName,
        Kind::FnMissingParams,
        Kind::FnDuplicatedParam,
        Kind::FnMissingBody,
        Kind::WrongExport,
        Kind::AssignToConstant,
        Kind::AssignToInvalid,
        Kind::VariableExists,
        Kind::VariableUndefined,
        Kind::ModuleUndefined,
        Kind::ExprTooDeep,
        Kind::TooManyFunctions,
        Kind::LiteralTooLarge,
        Kind::BreakOutsideLoop,
        Kind::VariableNotFound,
        Kind::PropertyNotFound,
        Kind::IndexNotFound,
        Kind::FunctionNotFound,
        Kind::MissingValueCall,
        Kind::ModuleNotFound,
        Kind::UnboundThis,
        Kind::DataType,
        Kind::OutputType,
        Kind::NotIndexable,
        Kind::ArrayBounds,
        Kind::StringBounds,
        Kind::BitFieldBounds,
        Kind::ForNotIterable,
        Kind::DataRace,
        Kind::NonPureOnConstant,
        Kind::ModifyConstant,
        Kind::BadDotExpr,
        Kind::DivisionByZero,
        Kind::Arithmetic,
        Kind::TooManyOperations,
        Kind::TimeBudget,
        Kind::Terminated,
        Kind::TooManyVariables,
        Kind::TooManyModules,
        Kind::StackOverflow,
        Kind::DataTooLarge,
        Kind::Thrown,
        Kind::Other,
    ];

    /// The `(zh-CN, en)` templates of the class; `{0}`, `{1}`, `{2}` are its parameters.
    pub fn texts(self) -> (&'static str, &'static str) {
        use Kind::*;
        match self {
            UnexpectedInput => ("意外的符号：'{0}'", "Unexpected '{0}'"),
            UnterminatedString => ("字符串缺少结尾的引号", "Open string is not terminated"),
            StringTooLong => ("字符串过长（最多 {0} 个字符）", "String is too long (max {0})"),
            BadEscape => ("无效的转义序列：'{0}'", "Invalid escape sequence: '{0}'"),
            BadNumber => ("无效的数字：'{0}'", "Invalid number: '{0}'"),
            BadChar => ("无效的字符：'{0}'", "Invalid character: '{0}'"),
            BadName => ("名称不合规：'{0}'", "Variable name is not proper: '{0}'"),
            BadSymbol => ("不能使用的符号：'{0}'{1}", "Invalid symbol encountered: '{0}'{1}"),
            Incomplete => (
                "脚本不完整（缺少右括号 )、右花括号 } 或语句结尾？）",
                "Script is incomplete (a missing ')', '}' or end of statement?)",
            ),
            UnknownOperator => ("未知的运算符：'{0}'", "Unknown operator: '{0}'"),
            MissingToken => ("此处缺少 '{0}'，{1}", "Expecting '{0}' {2}"),
            MissingSymbol => ("缺少符号（{0}）", "{0}"),
            BadCallExpr => ("函数调用的参数中有无效的表达式", "Invalid expression in function call arguments"),
            BadIndexExpr => ("无效的下标表达式（{0}）", "{0}"),
            BadInExpr => ("无效的 in 表达式（{0}）", "{0}"),
            BadCapture => ("无效的变量捕获（{0}）", "{0}"),
            DuplicatedProperty => ("对象映射中的属性重复：{0}", "Duplicated property for object map literal: {0}"),
            DuplicatedSwitchCase => ("switch 中的分支重复", "Duplicated switch case"),
            DuplicatedVariable => ("变量名重复：{0}", "Duplicated variable name: {0}"),
            WrongSwitchIntegerCase => ("switch 中的数值分支不能放在区间分支之后", "Numeric switch case cannot follow a range case"),
            WrongSwitchDefaultCase => ("switch 的默认分支 _ 必须放在最后", "Default switch case must be the last"),
            WrongSwitchCaseCondition => ("这个 switch 分支不能带条件", "This switch case cannot have a condition"),
            PropertyExpected => ("此处应为属性名", "Expecting name of a property"),
            VariableExpected => ("此处应为变量名", "Expecting name of a variable"),
            ForbiddenVariable => ("不允许使用的变量名：{0}", "Forbidden variable name: {0}"),
            ReservedKeyword => ("'{0}' 是保留字，不能用作名称", "'{0}' is a reserved keyword"),
            ReservedSymbol => ("'{0}' 是保留符号", "'{0}' is a reserved symbol"),
            MismatchedType => ("此处应为 {0}，而不是 {1}", "Expecting {0}, not {1}"),
            ExprExpected => ("此处缺少表达式（{0}）", "Expecting {0} expression"),
            WrongDocComment => ("文档注释 /// 后面必须紧跟函数定义", "Doc-comment must be followed immediately by a function definition"),
            WrongFnDefinition => (
                "函数只能在脚本最外层定义，不能写在语句块或其他函数内",
                "Function definitions must be at global level and cannot be inside a block or another function",
            ),
            FnDuplicated => ("函数 {0}（{1} 个参数）重复定义", "Function {0} with {1} parameter(s) already exists"),
            FnMissingName => ("函数定义缺少函数名", "Expecting function name in function declaration"),
            FnMissingParams => ("函数 {0} 缺少参数列表 ( )", "Expecting parameters for function {0}"),
            FnDuplicatedParam => ("函数 {0} 的参数 {1} 重复", "Duplicated parameter {1} for function {0}"),
            FnMissingBody => ("函数 {0} 缺少函数体 { }", "Expecting body statement block for function {0}"),
            WrongExport => ("export 只能在脚本最外层使用", "Export statement can only appear at global level"),
            AssignToConstant => ("不能给常量赋值：{0}", "Cannot assign to constant {0}"),
            AssignToInvalid => ("这个表达式不能被赋值（{0}）", "{0}"),
            VariableExists => ("变量已定义：{0}", "Variable already defined: {0}"),
            VariableUndefined => ("未定义的变量：{0}（先用 let 声明，或检查拼写）", "Undefined variable: {0}"),
            ModuleUndefined => ("未定义的模块：{0}", "Undefined module: {0}"),
            ExprTooDeep => ("表达式嵌套过深", "Expression exceeds maximum complexity"),
            TooManyFunctions => ("定义的函数超过上限", "Number of functions defined exceeds maximum limit"),
            LiteralTooLarge => ("{0}超过上限（{1}）", "{2} exceeds the maximum limit ({1})"),
            BreakOutsideLoop => ("break / continue 只能在循环中使用", "Break statement should only be used inside a loop"),
            VariableNotFound => ("变量未找到：{0}", "Variable not found: {0}"),
            PropertyNotFound => ("属性不存在：{0}", "Property not found: {0}"),
            IndexNotFound => ("下标或键不存在：{0}", "Invalid index: {0}"),
            FunctionNotFound => ("找不到函数：{0}（函数名或参数类型不对）", "Function not found: {0}"),
            MissingValueCall => (
                "找不到函数：{0} —— 传给它的某个值没有记录（是 ()）；先用 is_time(x) 或 x == () 判断",
                "function not found: {0} — a value passed to it is missing (a time or item that was not recorded?); test it with is_time(x) or x == () first",
            ),
            ModuleNotFound => ("模块不存在：{0}", "Module not found: {0}"),
            UnboundThis => ("this 未绑定", "'this' not bound"),
            DataType => ("数据类型不对：{1}（应为 {0}）", "Data type incorrect: {1} (expecting {0})"),
            OutputType => ("返回值类型不对：{1}（应为 {0}）", "Output type incorrect: {1} (expecting {0})"),
            NotIndexable => ("这个类型不能用下标访问：{0}", "Indexer unavailable: {0}"),
            ArrayBounds => ("数组下标 {1} 越界（数组有 {0} 个元素）", "Array index {1} out of bounds: {0} element(s) in array"),
            StringBounds => ("字符串下标 {1} 越界（字符串有 {0} 个字符）", "String index {1} out of bounds: {0} character(s) in string"),
            BitFieldBounds => ("位下标 {1} 越界（共 {0} 位）", "Bit-field index {1} out of bounds: {0} bit(s)"),
            ForNotIterable => ("for 循环需要可迭代的值（数组、区间或字符串）", "For loop expects iterable type"),
            DataRace => ("数据竞争：{0}", "Data race detected on {0}"),
            NonPureOnConstant => ("不能在常量上调用会修改它的方法 '{0}'", "Non-pure method '{0}' cannot be called on constant"),
            ModifyConstant => ("不能修改常量：{0}", "Cannot modify constant {0}"),
            BadDotExpr => ("无效的点表达式（{0}）", "{0}"),
            DivisionByZero => ("除数为零", "Division by zero"),
            Arithmetic => ("算术错误（溢出或结果无效）", "Arithmetic error (overflow or invalid result)"),
            TooManyOperations => (
                "已停止：规则的运算次数超过上限（死循环？）",
                "stopped: the rule used more operations than allowed (an endless loop?)",
            ),
            TimeBudget => (
                "已停止：规则运行超过时间预算（死循环？）",
                "stopped: the rule ran longer than its time budget (an endless loop?)",
            ),
            Terminated => ("脚本被终止", "Script terminated"),
            TooManyVariables => ("已停止：定义的变量超过上限", "Too many variables defined"),
            TooManyModules => ("已停止：导入的模块超过上限", "Too many modules imported"),
            StackOverflow => (
                "已停止：函数调用嵌套过深（没有终止条件的递归？）",
                "stopped: too many nested function calls (recursion without an end?)",
            ),
            DataTooLarge => ("已停止：{0}超过允许的大小", "stopped: {1} grew beyond the allowed size"),
            Thrown => ("运行时错误：{0}", "runtime error: {0}"),
            Other => ("脚本错误：{0}", "{0}"),
        }
    }

    /// A name of the class that is safe to log (never carries script values).
    pub fn log_kind(self) -> &'static str {
        use Kind::*;
        match self {
            TooManyOperations => "too_many_operations",
            TimeBudget | Terminated => "time_budget",
            StackOverflow => "call_depth",
            DataTooLarge => "data_too_large",
            FunctionNotFound | MissingValueCall => "function_not_found",
            PropertyNotFound => "property_not_found",
            DataType | OutputType => "type_mismatch",
            Thrown => "throw",
            _ => "runtime",
        }
    }
}

/// One script error: its class and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub kind: Kind,
    pub args: Vec<String>,
}

impl ScriptError {
    pub fn new(kind: Kind, args: &[&str]) -> Self {
        Self { kind, args: args.iter().map(|a| a.to_string()).collect() }
    }

    /// The message in `l`.
    pub fn render(&self, l: Locale) -> String {
        let (zh, en) = self.kind.texts();
        let mut out = l.pick(zh, en).to_string();
        for (i, a) in self.args.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), a);
        }
        out
    }

    /// The message in both locales.
    pub fn text(&self) -> Text {
        Text::both(self.render(Locale::ZhCn), self.render(Locale::En))
    }
}

/// A Rhai parse error of `path` as a load error at its position.
pub fn parse_diagnostic(path: &str, err: &rhai::ParseError) -> crate::diagnostic::Diagnostic {
    super::error::at_pos(path, err.1, of_parse(&err.0).text())
}
