//! Static checks on a compiled rule script: unknown functions, unknown value sets,
//! unknown encounter properties, statements outside functions, and the required
//! `meta()` / `evaluate(enc)` functions.
use std::collections::{HashMap, HashSet};

use rhai::{ASTNode, Engine, Expr, Position, Stmt, AST};

use super::api::encounter::{ENCOUNTER_PROPERTIES, TWO_VALUE_SET_METHODS, VALUE_SET_METHODS};
use super::api::items::EVIDENCE_FIELDS;
use super::valueset::ValueSets;
use crate::diagnostic::Diagnostic;

/// Names (with their possible arities) of every native function the engine knows.
#[derive(Debug, Clone, Default)]
pub struct KnownFunctions {
    arities: HashMap<String, HashSet<usize>>,
}

/// Functions the Rhai language handles itself (not registered anywhere).
const LANGUAGE_FUNCTIONS: &[&str] =
    &["print", "debug", "type_of", "Fn", "call", "curry", "is_shared", "is_def_var", "is_def_fn"];

impl KnownFunctions {
    pub fn of(engine: &Engine) -> Self {
        let mut arities: HashMap<String, HashSet<usize>> = HashMap::new();
        for (name, n) in engine.collect_fn_metadata(
            None,
            |info| Some((info.metadata.name.to_string(), info.metadata.num_params)),
            true,
        ) {
            arities.entry(name).or_default().insert(n);
        }
        Self { arities }
    }

    fn check(&self, name: &str, arity: usize, script_fns: &HashMap<String, HashSet<usize>>) -> Option<String> {
        if LANGUAGE_FUNCTIONS.contains(&name) || !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            return None;
        }
        let native = self.arities.get(name);
        let script = script_fns.get(name);
        if native.is_none() && script.is_none() {
            let known: Vec<&str> = self.arities.keys().chain(script_fns.keys()).map(String::as_str).collect();
            return Some(format!("unknown function '{name}'{}", crate::names::did_you_mean(name, &known)));
        }
        let ok = native.is_some_and(|a| a.contains(&arity)) || script.is_some_and(|a| a.contains(&arity));
        if ok {
            return None;
        }
        let mut counts: Vec<usize> = native.into_iter().chain(script).flatten().copied().collect();
        counts.sort_unstable();
        counts.dedup();
        let list: Vec<String> = counts.iter().map(usize::to_string).collect();
        Some(format!("function '{name}' called with {arity} argument(s); it takes {}", list.join(" or ")))
    }
}

/// Script-defined functions: name → arities.
pub type ScriptFns = HashMap<String, HashSet<usize>>;

/// The functions a script defines.
pub fn script_fns(ast: &AST) -> ScriptFns {
    let mut fns = ScriptFns::new();
    for f in ast.iter_functions() {
        fns.entry(f.name.to_string()).or_default().insert(f.params.len());
    }
    fns
}

/// A rule file (needs `meta()` and `evaluate(enc)`) or a pack library (`lib.rhai`: helpers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LintMode {
    Rule,
    Library,
}

/// Run every check on one script; `path` is relative to the rules directory; `lib_fns`
/// are the functions of the pack library the script may call.
pub fn lint(
    path: &str,
    ast: &AST,
    known: &KnownFunctions,
    value_sets: &ValueSets,
    mode: LintMode,
    lib_fns: &ScriptFns,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();

    let own = script_fns(ast);
    let mut script_fns = lib_fns.clone();
    for (name, arities) in &own {
        script_fns.entry(name.clone()).or_default().extend(arities);
    }
    if mode == LintMode::Library {
        for name in ["meta", "evaluate"] {
            if own.contains_key(name) {
                errors.push(Diagnostic::new(
                    path,
                    1,
                    1,
                    format!("a pack library must not define '{name}' (it is not a rule)"),
                ));
            }
        }
    }
    let required: &[(&str, usize)] = if mode == LintMode::Rule { &[("meta", 0), ("evaluate", 1)] } else { &[] };
    for &(name, arity) in required {
        match own.get(name) {
            None => errors.push(Diagnostic::new(
                path,
                1,
                1,
                format!("missing required function '{name}({})'", if arity == 1 { "enc" } else { "" }),
            )),
            Some(a) if !a.contains(&arity) => {
                errors.push(Diagnostic::new(path, 1, 1, format!("function '{name}' must take {arity} parameter(s)")))
            }
            _ => {}
        }
    }

    for stmt in ast.statements() {
        if !matches!(stmt, Stmt::Noop(..)) {
            errors.push(super::error::at_pos(
                path,
                stmt.position(),
                "only `fn` definitions are allowed at the top level of a rule (move this into evaluate or a helper function)",
            ));
        }
    }

    ast.walk(&mut |nodes: &[ASTNode]| {
        // A call used as a statement is a `Stmt::FnCall`; check it like an expression.
        let stmt_call;
        let expr = match nodes.last() {
            Some(ASTNode::Expr(expr)) => *expr,
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => {
                stmt_call = Expr::FnCall(call.clone(), *pos);
                &stmt_call
            }
            _ => return true,
        };
        match expr {
            Expr::FnCall(call, pos) if !call.is_operator_call() && call.namespace.is_empty() => {
                if let Some(msg) = known.check(&call.name, call.args.len(), &script_fns) {
                    errors.push(super::error::at_pos(path, *pos, msg));
                }
                if call.name == "field_evidence" && call.args.len() == 1 {
                    if let Expr::StringConstant(f, pos) = &call.args[0] {
                        if !EVIDENCE_FIELDS.contains(&f.as_str()) {
                            errors.push(super::error::at_pos(
                                path,
                                *pos,
                                format!("unknown encounter field '{f}' (one of: {})", EVIDENCE_FIELDS.join(", ")),
                            ));
                        }
                    }
                }
                if call.name == "time_zero" && call.args.len() == 2 {
                    if let Expr::StringConstant(k, pos) = &call.args[1] {
                        if super::trail::render::time_zero_key(k).is_none() {
                            errors.push(super::error::at_pos(
                                path,
                                *pos,
                                format!(
                                    "unknown time-zero reason '{k}' (one of: {})",
                                    super::api::window::time_zero_key_list()
                                ),
                            ));
                        }
                    }
                }
                // Function-call style `given(enc, "aspirin")`.
                if VALUE_SET_METHODS.contains(&call.name.as_str()) && call.args.len() == 2 {
                    check_value_set(path, &call.args[1], value_sets, &mut errors);
                }
            }
            Expr::FnCall(call, pos) if !call.namespace.is_empty() => {
                errors.push(super::error::at_pos(
                    path,
                    *pos,
                    format!("module functions are not available ('{}')", call.name),
                ));
            }
            Expr::MethodCall(call, pos) => {
                if let Some(msg) = known.check(&call.name, call.args.len() + 1, &script_fns) {
                    errors.push(super::error::at_pos(path, *pos, msg));
                }
                if VALUE_SET_METHODS.contains(&call.name.as_str()) && call.args.len() == 1 {
                    check_value_set(path, &call.args[0], value_sets, &mut errors);
                }
                if TWO_VALUE_SET_METHODS.contains(&call.name.as_str()) {
                    for arg in call.args.iter() {
                        check_value_set(path, arg, value_sets, &mut errors);
                    }
                }
            }
            Expr::Dot(bin, _, _) => {
                if let (Expr::Variable(var, ..), Expr::Property(prop, pos)) = (&bin.lhs, &bin.rhs) {
                    if var.1 == "enc" && !ENCOUNTER_PROPERTIES.contains(&prop.2.as_str()) {
                        let hint = crate::names::did_you_mean(prop.2.as_str(), ENCOUNTER_PROPERTIES);
                        errors.push(super::error::at_pos(
                            path,
                            *pos,
                            format!("unknown encounter property 'enc.{}'{hint}", prop.2),
                        ));
                    }
                }
            }
            _ => {}
        }
        true
    });

    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    errors
}

fn check_value_set(path: &str, arg: &Expr, value_sets: &ValueSets, errors: &mut Vec<Diagnostic>) {
    if let Expr::StringConstant(name, pos) = arg {
        if !value_sets.contains(name) {
            let known: Vec<&str> = value_sets.iter().map(|v| v.name.as_str()).collect();
            let hint = crate::names::did_you_mean(name, &known);
            errors.push(super::error::at_pos(path, *pos, format!("unknown value set '{name}'{hint}")));
        }
    }
}

/// Position of the first occurrence of `needle` in `src` (for metadata errors).
pub fn find_position(src: &str, needle: &str) -> Position {
    src.find(needle).map_or(Position::NONE, |byte| {
        let (l, c) = crate::diagnostic::line_col(src, byte);
        Position::new(l as u16, c as u16)
    })
}
