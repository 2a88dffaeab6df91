//! Which value set the rules read through which query: found in the compiled scripts
//! (a value-set name written as the argument of an `enc` query, directly or through the
//! parameters of the pack's own helper functions) and in the packs' `[applies_to]`.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rhai::{ASTNode, Expr, Stmt, AST};

use crate::rules::api::encounter::VALUE_SET_METHODS;
use crate::rules::load::RuleSet;

/// The query a value-set argument belongs to: the method name, or `not_given_for` for the
/// second (reason) argument of `enc.not_given_for(drugs, reasons)`.
pub type QueryName = &'static str;

/// Value set → the queries that read it → the packs doing so.
pub type Usage = BTreeMap<String, BTreeMap<QueryName, BTreeSet<String>>>;

/// `(function, index of the value-set argument in method-call style, query)`.
fn slots() -> Vec<(&'static str, usize, QueryName)> {
    let mut v: Vec<_> = VALUE_SET_METHODS.iter().map(|m| (*m, 0, *m)).collect();
    v.push(("not_given_for", 0, "not_given"));
    v.push(("not_given_for", 1, "not_given_for"));
    v.push(("answer_in", 1, "answer_in"));
    v
}

/// The argument expressions of a call, in method-call style (receiver dropped).
fn call_args(expr: &Expr) -> Option<(&str, Vec<&Expr>)> {
    match expr {
        Expr::MethodCall(call, _) => Some((call.name.as_str(), call.args.iter().collect())),
        Expr::FnCall(call, _) if call.namespace.is_empty() && !call.is_operator_call() => {
            Some((call.name.as_str(), call.args.iter().skip(1).collect()))
        }
        _ => None,
    }
}

/// Every call expression of one AST (function bodies included).
fn calls(ast: &AST) -> Vec<Expr> {
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        match nodes.last() {
            Some(ASTNode::Expr(e @ (Expr::FnCall(..) | Expr::MethodCall(..)))) => out.push((*e).clone()),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => out.push(Expr::FnCall(call.clone(), *pos)),
            _ => {}
        }
        true
    });
    out
}

fn variable(e: &Expr) -> Option<&str> {
    match e {
        Expr::Variable(v, ..) => Some(v.1.as_str()),
        _ => None,
    }
}

/// Value-set reads of one rule (its AST includes the pack library).
pub(super) fn rule_reads(ast: &AST, out: &mut BTreeSet<(QueryName, String)>) {
    let slots = slots();
    // (function, parameter index) → queries its value flows into; and edges
    // (f, i) → (g, j) when f passes its parameter i on as argument j of g.
    let mut flows: HashMap<(String, usize), HashSet<QueryName>> = HashMap::new();
    let mut edges: Vec<((String, usize), (String, usize))> = Vec::new();
    let mut constants: Vec<((String, usize), String)> = Vec::new();
    let fns: Vec<(String, Vec<String>)> =
        ast.iter_fn_def().map(|f| (f.name.to_string(), f.params.iter().map(|p| p.to_string()).collect())).collect();
    let script_fn = |name: &str| fns.iter().any(|(n, _)| n == name);
    for (name, params) in &fns {
        // The function's own body alone. Not `clone_functions_only_filtered`: rhai 1.27 copies
        // every function with it (see `outcomes::reachable_calls`).
        let mut body = ast.clone_functions_only();
        body.retain_functions(|_, _, n, arity| n == name && arity == params.len());
        let param = |e: &Expr| variable(e).and_then(|v| params.iter().position(|p| p == v));
        for call in calls(&body) {
            let Some((callee, args)) = call_args(&call) else { continue };
            for &(_, i, q) in slots.iter().filter(|s| s.0 == callee) {
                match args.get(i) {
                    Some(Expr::StringConstant(s, _)) => {
                        out.insert((q, s.to_string()));
                    }
                    Some(e) => {
                        if let Some(p) = param(e) {
                            flows.entry((name.clone(), p)).or_default().insert(q);
                        }
                    }
                    None => {}
                }
            }
            if let (Expr::FnCall(c, _), true) = (&call, script_fn(callee)) {
                for (j, a) in c.args.iter().enumerate() {
                    match a {
                        Expr::StringConstant(s, _) => constants.push(((callee.to_string(), j), s.to_string())),
                        e => {
                            if let Some(p) = param(e) {
                                edges.push(((name.clone(), p), (callee.to_string(), j)));
                            }
                        }
                    }
                }
            }
        }
    }
    // Propagate to a fixed point: a parameter handed on carries the callee's queries.
    loop {
        let mut changed = false;
        for (from, to) in &edges {
            let add: Vec<QueryName> = flows.get(to).into_iter().flatten().copied().collect();
            let entry = flows.entry(from.clone()).or_default();
            for q in add {
                changed |= entry.insert(q);
            }
        }
        if !changed {
            break;
        }
    }
    for (slot, name) in constants {
        for q in flows.get(&slot).into_iter().flatten() {
            out.insert((q, name.clone()));
        }
    }
}

/// The value sets every query reads, over all packs (their rules and `[applies_to]`).
pub fn usage(set: &RuleSet) -> Usage {
    let mut usage = Usage::new();
    for pack in &set.packs {
        let mut reads = BTreeSet::new();
        for rule in &pack.rules {
            rule_reads(&rule.ast, &mut reads);
        }
        if let Some(a) = &pack.applies_to {
            reads.extend(a.diagnosis.iter().chain(&a.principal_diagnosis).map(|v| ("has_diagnosis", v.to_string())));
            reads.extend(a.procedure.iter().map(|v| ("procedures", v.to_string())));
        }
        for (q, name) in reads {
            usage.entry(name).or_default().entry(q).or_default().insert(pack.id.clone());
        }
    }
    usage
}
