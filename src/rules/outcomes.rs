//! Declared outcomes checked against the script: every finding constructor reachable from
//! `evaluate` names a literal reason key the rule declares under that constructor, and
//! every declared outcome is returned by at least one constructor call. Together with
//! `rules test`'s outcome coverage this means a rule cannot reach 100 % by routing all its
//! outcomes through one `return`: each outcome is a call site with its own key.
use std::collections::{BTreeSet, HashSet};

use rhai::{ASTNode, Expr, Position, Stmt, AST};

use super::meta::{did_you_mean, outcome_kind, RuleMeta};
use crate::diagnostic::Diagnostic;

/// One constructor call found in the script.
#[derive(Debug, Clone)]
pub struct ConstructorCall {
    pub kind: &'static str,
    /// The literal reason key, when the first argument is a string literal.
    pub key: Option<String>,
    /// Keys of a literal `#{ … }` parameter map, when the second argument is one.
    pub params: Option<BTreeSet<String>>,
    pub pos: Position,
    /// The script function it is in.
    pub in_fn: String,
}

/// Constructor calls in the functions reachable from `evaluate` (script functions called
/// by name or as methods, transitively).
pub fn reachable_calls(ast: &AST) -> Vec<ConstructorCall> {
    let names: HashSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = vec!["evaluate".to_string()];
    let mut out = Vec::new();
    while let Some(name) = queue.pop() {
        if !names.contains(&name) || !seen.insert(name.clone()) {
            continue;
        }
        // The function's own body, alone (functions are shared: this is cheap). Not
        // `clone_functions_only_filtered`: rhai 1.27 copies every function into an empty
        // module unfiltered, which made every function "reachable" and reported a rule's
        // call a second time at the pack library's path.
        let mut only = ast.clone_functions_only();
        only.retain_functions(|_, _, n, _| n == name);
        only.walk(&mut |nodes: &[ASTNode]| {
            let owned;
            let (call_name, args, pos) = match nodes.last() {
                Some(ASTNode::Expr(Expr::FnCall(c, p))) if c.namespace.is_empty() => (&c.name, &c.args, *p),
                Some(ASTNode::Stmt(Stmt::FnCall(c, p))) if c.namespace.is_empty() => {
                    owned = c.clone();
                    (&owned.name, &owned.args, *p)
                }
                Some(ASTNode::Expr(Expr::MethodCall(c, _))) => {
                    if names.contains(c.name.as_str()) {
                        queue.push(c.name.to_string());
                    }
                    return true;
                }
                _ => return true,
            };
            if names.contains(call_name.as_str()) {
                queue.push(call_name.to_string());
            }
            if let Some(kind) = outcome_kind(call_name) {
                let key = match args.first() {
                    Some(Expr::StringConstant(s, _)) => Some(s.to_string()),
                    _ => None,
                };
                let params = match args.get(1) {
                    Some(Expr::Map(m, _)) => Some(m.0.iter().map(|(id, _)| id.name.to_string()).collect()),
                    // A constant map literal is folded into a constant by the optimiser.
                    Some(Expr::DynamicConstant(d, _)) => {
                        d.read_lock::<rhai::Map>().map(|m| m.keys().map(|k| k.to_string()).collect())
                    }
                    _ => None,
                };
                out.push(ConstructorCall { kind, key, params, pos, in_fn: name.clone() });
            }
            true
        });
    }
    out
}

/// Check the constructor calls of a rule against its declared outcomes. `lib_path` and
/// `lib_fns`: where calls inside pack-library functions are reported.
pub fn check(
    path: &str,
    ast: &AST,
    meta: &RuleMeta,
    lib_path: Option<&str>,
    lib_fns: &HashSet<String>,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    if !meta.keyed() {
        return errors; // legacy rule: free-text messages, nothing declared to check
    }
    let calls = reachable_calls(ast);
    let mut reached: HashSet<(&str, String)> = HashSet::new();
    for c in &calls {
        let at = match lib_path {
            Some(lib) if lib_fns.contains(&c.in_fn) => lib,
            _ => path,
        };
        let Some(key) = &c.key else {
            errors.push(super::error::at_pos(
                at,
                c.pos,
                format!(
                    "the reason key of {}(…) must be a literal string, e.g. {}(\"key_declared_in_meta\", …), so that each outcome can be checked and covered",
                    c.kind, c.kind
                ),
            ));
            continue;
        };
        match meta.outcome(c.kind, key) {
            None => {
                let same: Vec<&str> =
                    meta.outcomes.iter().filter(|o| o.kind == c.kind).map(|o| o.key.as_str()).collect();
                let elsewhere: Vec<String> =
                    meta.outcomes.iter().filter(|o| o.key == *key).map(|o| o.label()).collect();
                let hint = if elsewhere.is_empty() {
                    did_you_mean(key, &same)
                } else {
                    format!(" (declared as {})", elsewhere.join(", "))
                };
                errors.push(super::error::at_pos(
                    at,
                    c.pos,
                    format!("outcome '{}:{key}' is not declared in meta().outcomes.{}{hint}", c.kind, c.kind),
                ));
            }
            Some(d) => {
                if let Some(given) = &c.params {
                    for p in d.placeholders.iter().filter(|p| !given.contains(*p)) {
                        errors.push(super::error::at_pos(
                            at,
                            c.pos,
                            format!("outcome '{}' uses {{{p}}} but this call gives no '{p}' value", d.label()),
                        ));
                    }
                }
                reached.insert((c.kind, key.clone()));
            }
        }
    }
    for d in &meta.outcomes {
        if !reached.contains(&(d.kind, d.key.clone())) {
            errors.push(Diagnostic::new(
                path,
                d.line,
                d.column,
                format!(
                    "outcome '{}' is declared but evaluate() never returns it (no {}(\"{}\", …) call)",
                    d.label(),
                    d.kind,
                    d.key
                ),
            ));
        }
    }
    errors
}
