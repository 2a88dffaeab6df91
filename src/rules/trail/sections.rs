//! Which value sets a rule queries to check its exclusions, found once at load: the value-set
//! queries in the `// --- Exclusions` section of its `evaluate` (up to the next `// ---`
//! section), and every query of the script functions called there (pack-library helpers
//! such as `sep1_exclusion`, transitively, closures handed to `memo` included). At run time those queries become
//! `exclusion_check` steps.
use std::collections::HashSet;
use std::sync::Arc;

use rhai::{ASTNode, Expr, FnPtr, ImmutableString, Stmt, AST};

use crate::rules::api::encounter::{TWO_VALUE_SET_METHODS, VALUE_SET_METHODS};

/// The exclusion section's lines `[start, end)` in `src`, 1-based; `None` without one.
pub fn exclusion_lines(src: &str) -> Option<(usize, usize)> {
    let mut start = None;
    for (i, line) in src.lines().enumerate() {
        let l = line.trim_start();
        if !l.starts_with("// ---") {
            continue;
        }
        match start {
            None if l["// ---".len()..].trim_start().starts_with("Exclusions") => start = Some(i + 1),
            Some(s) => return Some((s, i + 1)),
            None => {}
        }
    }
    start.map(|s| (s, usize::MAX))
}

/// Calls of one node: `(name, literal value-set arguments, line)`.
fn call_of(node: &ASTNode) -> Option<(ImmutableString, Vec<ImmutableString>, usize)> {
    let (name, args, pos, method) = match node {
        ASTNode::Expr(Expr::FnCall(c, p)) if c.namespace.is_empty() => (c.name.clone(), &c.args, *p, false),
        ASTNode::Stmt(Stmt::FnCall(c, p)) if c.namespace.is_empty() => (c.name.clone(), &c.args, *p, false),
        ASTNode::Expr(Expr::MethodCall(c, p)) => (c.name.clone(), &c.args, *p, true),
        // A closure (`memo(key, || helper(enc, t0))`): its body is the anonymous function
        // the pointer names, followed like a call.
        ASTNode::Expr(Expr::DynamicConstant(d, p)) => {
            let name = d.read_lock::<FnPtr>().map(|f| ImmutableString::from(f.fn_name()))?;
            return Some((name, Vec::new(), p.line().unwrap_or(0)));
        }
        _ => return None,
    };
    let mut sets = Vec::new();
    let literal = |e: &Expr| match e {
        Expr::StringConstant(s, _) => Some(s.clone()),
        _ => None,
    };
    if VALUE_SET_METHODS.contains(&name.as_str()) {
        // `enc.given("x")` or `given(enc, "x")`.
        let arg = if method { args.first() } else { args.get(1) };
        sets.extend(arg.and_then(literal));
    } else if TWO_VALUE_SET_METHODS.contains(&name.as_str()) {
        // `enc.not_given_for(drugs, reasons)`: recorded under the reason set.
        sets.extend(args.iter().skip(usize::from(!method)).filter_map(literal));
    }
    Some((name, sets, pos.line().unwrap_or(0)))
}

fn calls_in(ast: &AST, fn_name: &str) -> Vec<(ImmutableString, Vec<ImmutableString>, usize)> {
    let mut only = ast.clone_functions_only();
    only.retain_functions(|_, _, n, _| n == fn_name);
    let mut out = Vec::new();
    only.walk(&mut |nodes: &[ASTNode]| {
        if let Some(c) = nodes.last().and_then(call_of) {
            out.push(c);
        }
        true
    });
    out
}

/// The value sets `evaluate` queries in its exclusion section (see the module comment).
pub fn exclusion_sets(src: &str, ast: &AST) -> Arc<[ImmutableString]> {
    let Some((from, to)) = exclusion_lines(src) else { return Arc::from(Vec::new()) };
    let script: HashSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let mut sets: Vec<ImmutableString> = Vec::new();
    let mut queue: Vec<String> = Vec::new();
    for (name, vs, line) in calls_in(ast, "evaluate") {
        if line < from || line >= to {
            continue;
        }
        sets.extend(vs);
        if script.contains(name.as_str()) {
            queue.push(name.to_string());
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(f) = queue.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        for (name, vs, _) in calls_in(ast, &f) {
            sets.extend(vs);
            if script.contains(name.as_str()) {
                queue.push(name.to_string());
            }
        }
    }
    let mut uniq: Vec<ImmutableString> = Vec::new();
    for s in sets {
        if !uniq.contains(&s) {
            uniq.push(s);
        }
    }
    Arc::from(uniq)
}
