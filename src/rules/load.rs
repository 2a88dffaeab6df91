//! Compiles a rules directory (value sets, packs, scripts, test-case files) into one
//! immutable [`RuleSet`] whose version is a hash of every file's content. All or nothing:
//! any problem rejects the whole set, with every problem reported as `path:line:col`.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rhai::{CallFnOptions, Dynamic, Engine, Scope, AST};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::applies::{AppliesTo, AppliesToFile};
use super::engine::{build_engine, Budget, RuleLimits};
use super::error::{LoadErrors, RulesError};
use super::lint::{lint, script_fns, KnownFunctions, LintMode, ScriptFns};
use super::meta::{parse_meta, RuleMeta};
use super::testcase::{parse_test_file, TestFile};
use super::valueset::{parse_value_set, ValueSets};
use crate::diagnostic::Diagnostic;
use crate::encounter::Limits as EncounterLimits;
use crate::locale::Locale;

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub meta: RuleMeta,
    /// Pack id (directory name).
    pub pack: String,
    /// The same, as the string handed to scripts (`memo` scope).
    pub pack_id: rhai::ImmutableString,
    /// `<pack>/lib.rhai` when the pack has one (its functions are part of `ast`).
    pub lib_path: Option<String>,
    /// Library functions the rule uses from `lib.rhai` (not redefined by the rule).
    pub lib_fns: HashSet<String>,
    /// Script path relative to the rules directory.
    pub path: String,
    pub ast: AST,
    /// Where `fn evaluate` is: the position reported for limit errors (Rhai reports
    /// operation/time/depth/size limits at the outermost call, which has none).
    pub evaluate_pos: rhai::Position,
    /// Value sets `evaluate` queries in its `// --- Exclusions` section (directly or through
    /// the helpers it calls there): their queries become trail exclusion checks.
    pub exclusion_sets: Arc<[rhai::ImmutableString]>,
    /// Budget hits and quarantine of this rule on the request path (see [`super::quarantine`]).
    pub(crate) quarantine: super::quarantine::State,
    /// Time zero, window and source quality as its header comment states them.
    pub header: super::header::Header,
}

/// One pack (condition) and its rules, sorted by id.
#[derive(Debug)]
pub struct Pack {
    pub id: String,
    pub title: String,
    pub description: String,
    /// `[applies_to]`: the encounters the pack's rules can apply to (`None`: all).
    pub applies_to: Option<AppliesTo>,
    /// `<pack>/pack.toml`.
    pub pack_toml: String,
    pub rules: Vec<Arc<Rule>>,
}

/// An immutable, fully compiled rule set.
pub struct RuleSet {
    /// Content hash of every file (first 12 hex digits of a SHA-256).
    pub version: String,
    pub loaded_at: DateTime<Utc>,
    /// Directory it was loaded from.
    pub root: PathBuf,
    pub packs: Vec<Pack>,
    /// Value sets, with the local-code mapping tables of `mappings/` compiled in.
    pub value_sets: Arc<ValueSets>,
    /// Problems that do not reject the set (a configured local code system nothing uses);
    /// printed by `rules check` and logged at each load.
    pub warnings: Vec<String>,
    pub tests: Vec<TestFile>,
    /// Where test cases' base encounters are looked for first (`rules.examples_dir`).
    pub examples_dir: Option<PathBuf>,
    /// The verdict of the test cases, computed at load (see [`super::verify`]).
    pub verification: super::verify::Verification,
    /// The set's metric series, kept so a request does no registry lookups.
    pub metrics: crate::metrics::RuleSetMetrics,
    pub(crate) engine: Arc<Engine>,
    pub(crate) limits: RuleLimits,
    pub(crate) tz: Tz,
    /// Measure sets that run (`rules.measure_sets`); `None`: every set.
    pub(crate) measure_sets: Option<Arc<BTreeSet<String>>>,
    /// Local variants: replaced rule id → the variant's id (see [`super::overrides`]).
    pub overrides: BTreeMap<String, String>,
    pub(crate) quarantine: super::quarantine::Policy,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("version", &self.version)
            .field("packs", &self.packs.iter().map(|p| &p.id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RuleSet {
    /// Every rule, pack by pack.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.packs.iter().flat_map(|p| p.rules.iter())
    }
    pub fn rule(&self, id: &str) -> Option<&Arc<Rule>> {
        self.rules().find(|r| r.meta.id == id)
    }
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.id == id)
    }
    pub fn rule_count(&self) -> usize {
        self.packs.iter().map(|p| p.rules.len()).sum()
    }
    pub fn tz(&self) -> Tz {
        self.tz
    }
    pub fn limits(&self) -> &RuleLimits {
        &self.limits
    }
    /// Whether the rule's measure set is one the deployment runs (`rules.measure_sets`).
    pub fn enabled(&self, rule: &Rule) -> bool {
        self.measure_sets.as_ref().is_none_or(|s| s.contains(&rule.meta.measure_set))
    }
    /// The variant that replaces rule `id`, when a local variant does.
    pub fn overridden_by(&self, id: &str) -> Option<&str> {
        self.overrides.get(id).map(String::as_str)
    }
    /// Measure sets the rules name, sorted.
    pub fn measure_sets_named(&self) -> BTreeSet<String> {
        self.rules().map(|r| r.meta.measure_set.clone()).collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    id: toml::Spanned<String>,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    applies_to: Option<toml::Spanned<AppliesToFile>>,
}

/// Builds rule sets; holds the one hardened engine shared by every set it builds.
#[derive(Clone)]
pub struct Compiler {
    engine: Arc<Engine>,
    known: Arc<KnownFunctions>,
    limits: RuleLimits,
    tz: Tz,
    encounter_limits: Arc<EncounterLimits>,
    /// Locales every keyed rule must have texts in (`rules.locales`).
    locales: Vec<Locale>,
    measure_sets: Option<Arc<BTreeSet<String>>>,
    /// `rules.examples_dir` (`None`: the rules directory and the directories above it).
    examples_dir: Option<PathBuf>,
    /// `rules.require_passing_tests`: the store rejects a set whose cases fail.
    require_passing_tests: bool,
    /// `rules.quarantine_*`.
    quarantine: super::quarantine::Policy,
}

impl Compiler {
    /// `encounter_limits`: validation of test-case encounters; its local code systems are
    /// the ones value sets may use.
    pub fn new(limits: RuleLimits, tz: Tz, encounter_limits: EncounterLimits) -> Self {
        let engine = build_engine(&limits, tz);
        let known = KnownFunctions::of(&engine);
        Self {
            engine: Arc::new(engine),
            known: Arc::new(known),
            limits,
            tz,
            encounter_limits: Arc::new(encounter_limits),
            locales: Locale::ALL.to_vec(),
            measure_sets: None,
            examples_dir: None,
            require_passing_tests: true,
            quarantine: Default::default(),
        }
    }

    /// When a rule that keeps hitting its budget is quarantined (default: [`super::quarantine::Policy::default`]).
    pub fn with_quarantine(mut self, policy: super::quarantine::Policy) -> Self {
        self.quarantine = policy;
        self
    }

    /// Look test cases' base encounters up in `dir` first (empty path: not at all).
    pub fn with_examples_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.examples_dir = dir.filter(|d| !d.as_os_str().is_empty());
        self
    }

    /// Whether a set whose test cases do not all pass is refused (default: true).
    pub fn with_require_passing_tests(mut self, on: bool) -> Self {
        self.require_passing_tests = on;
        self
    }

    pub fn require_passing_tests(&self) -> bool {
        self.require_passing_tests
    }

    pub fn examples_dir(&self) -> Option<&Path> {
        self.examples_dir.as_deref()
    }

    /// Require texts in these locales (default: every supported locale).
    pub fn with_locales(mut self, locales: Vec<Locale>) -> Self {
        self.locales = locales;
        self
    }

    /// Run only rules of these measure sets (empty: every set). Checked against the
    /// rules at each load: a set no rule names is an error.
    pub fn with_measure_sets(mut self, sets: &[String]) -> Self {
        self.measure_sets = (!sets.is_empty()).then(|| Arc::new(sets.iter().cloned().collect()));
        self
    }

    /// The configured measure sets (`None`: all).
    pub fn measure_sets(&self) -> Option<&BTreeSet<String>> {
        self.measure_sets.as_deref()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Compile the directory `root` into a rule set.
    pub fn compile_dir(&self, root: &Path) -> Result<RuleSet, RulesError> {
        let files = read_tree(root)?;
        self.compile_files(root, files).map_err(RulesError::Load)
    }

    /// Compile a set of files (relative path → content).
    pub fn compile_files(&self, root: &Path, files: BTreeMap<String, String>) -> Result<RuleSet, LoadErrors> {
        let started = Instant::now();
        let mut errors: Vec<Diagnostic> = Vec::new();
        let version = content_hash(&files);

        // 1. Value sets.
        let mut value_sets = ValueSets::default();
        for (path, src) in files.iter().filter(|(p, _)| p.starts_with("valuesets/") && p.ends_with(".toml")) {
            match parse_value_set(path, src, &self.encounter_limits.local_code_systems) {
                Ok(vs) => {
                    if let Err(e) = value_sets.insert(vs) {
                        errors.push(e);
                    }
                }
                Err(es) => errors.extend(es),
            }
        }

        // 1b. Local-code mapping tables, compiled into the value sets.
        let local_systems = &self.encounter_limits.local_code_systems;
        let mut tables = Vec::new();
        for (path, src) in files.iter().filter(|(p, _)| p.starts_with(MAPPINGS_DIR) && p.ends_with(".toml")) {
            match super::mapping::parse_mapping(path, src, local_systems, &value_sets) {
                Ok(t) => tables.push(t),
                Err(es) => errors.extend(es),
            }
        }
        match super::mapping::compile_into(tables, &mut value_sets) {
            Ok(m) => value_sets.set_mappings(m),
            Err(es) => errors.extend(es),
        }
        let warnings = super::mapping::unused_local_systems(local_systems, &value_sets);

        // 2. Packs, scripts, test files.
        let mut pack_dirs: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for path in files.keys() {
            if let Some((dir, _)) = path.split_once('/') {
                if dir != "valuesets" && dir != MAPPINGS_DIR.trim_end_matches('/') {
                    pack_dirs.entry(dir.to_string()).or_default().push(path);
                }
            }
        }
        let mut packs = Vec::new();
        let mut tests = Vec::new();
        let mut seen_ids = HashSet::new();
        for (dir, paths) in pack_dirs {
            let pack_toml = format!("{dir}/pack.toml");
            let scripts: Vec<&&String> = paths.iter().filter(|p| is_pack_script(p)).collect();
            let Some(pack_src) = files.get(&pack_toml) else {
                if !scripts.is_empty() {
                    errors.push(Diagnostic::file(&pack_toml, "missing pack.toml (id, title, description)"));
                }
                continue;
            };
            let pack_file: PackFile = match toml::from_str(pack_src) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(Diagnostic::toml(&pack_toml, pack_src, &e));
                    continue;
                }
            };
            if pack_file.id.get_ref() != &dir {
                let (l, c) = crate::diagnostic::line_col(pack_src, pack_file.id.span().start);
                errors.push(Diagnostic::new(
                    &pack_toml,
                    l,
                    c,
                    format!("pack id '{}' must match its directory '{dir}'", pack_file.id.get_ref()),
                ));
            }
            let applies_to = match pack_file.applies_to {
                None => None,
                Some(a) => {
                    let pos = crate::diagnostic::line_col(pack_src, a.span().start);
                    match a.into_inner().compile(&pack_toml, pos, &value_sets) {
                        Ok(a) => Some(a),
                        Err(es) => {
                            errors.extend(es);
                            None
                        }
                    }
                }
            };
            let lib_path = format!("{dir}/{LIB_FILE}");
            let lib = match files.get(&lib_path) {
                None => None,
                Some(src) => match self.compile_lib(&lib_path, src, &value_sets) {
                    Ok(lib) => Some(lib),
                    Err(es) => {
                        errors.extend(es);
                        continue;
                    }
                },
            };
            let mut rules = Vec::new();
            for path in scripts.into_iter().filter(|p| p.as_str() != lib_path) {
                let src = &files[*path];
                match self.compile_rule(&dir, path, src, &value_sets, lib.as_ref()) {
                    Ok(rule) => {
                        if seen_ids.insert(rule.meta.id.clone()) {
                            rules.push(Arc::new(rule));
                        } else {
                            errors.push(Diagnostic::file(*path, format!("duplicate rule id '{}'", rule.meta.id)));
                        }
                    }
                    Err(es) => errors.extend(es),
                }
            }
            rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
            for path in paths.iter().filter(|p| p.starts_with(&format!("{dir}/tests/")) && p.ends_with(".toml")) {
                let stem = Path::new(path.as_str()).file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let rule_id = format!("{dir}.{stem}");
                if !files.contains_key(&format!("{dir}/{stem}.rhai")) {
                    errors.push(Diagnostic::file(*path, format!("test file has no rule: expected {dir}/{stem}.rhai")));
                    continue;
                }
                match parse_test_file(path, &files[*path], &rule_id) {
                    Ok(t) => tests.push(t),
                    Err(es) => errors.extend(es),
                }
            }
            packs.push(Pack {
                id: dir,
                title: pack_file.title,
                description: pack_file.description,
                applies_to,
                pack_toml,
                rules,
            });
        }

        let overrides = super::overrides::resolve(&packs, self.measure_sets.as_deref(), &mut errors);
        let metrics = crate::metrics::RuleSetMetrics::new(
            packs.iter().flat_map(|p| p.rules.iter()).map(|r| r.meta.id.as_str()),
            packs.iter().map(|p| p.id.as_str()),
        );
        let mut set = RuleSet {
            metrics,
            version,
            loaded_at: Utc::now(),
            root: root.to_path_buf(),
            packs,
            value_sets: Arc::new(value_sets),
            warnings,
            tests,
            examples_dir: self.examples_dir.clone(),
            verification: Default::default(),
            engine: self.engine.clone(),
            limits: self.limits.clone(),
            tz: self.tz,
            measure_sets: self.measure_sets.clone(),
            overrides,
            quarantine: self.quarantine,
        };
        if let Some(wanted) = &self.measure_sets {
            let named = set.measure_sets_named();
            for m in wanted.iter().filter(|m| !named.contains(*m)) {
                errors.push(Diagnostic::file(
                    MEASURE_SETS_SETTING,
                    format!(
                        "measure set '{m}' is configured but no rule names it (rules name: {}){}",
                        named.iter().cloned().collect::<Vec<_>>().join(", "),
                        super::meta::did_you_mean(m, &named.iter().map(String::as_str).collect::<Vec<_>>())
                    ),
                ));
            }
        }
        // Run every rule once on a synthetic encounter and on its test-case encounters:
        // an endless loop, runaway recursion, huge data or a type error found here rejects
        // the whole set, like a syntax error.
        // Probe what compiled even when other files failed, so one pass reports everything.
        let (faults, verification) = super::probe::probe(&set, &self.encounter_limits);
        errors.extend(faults);
        set.verification = verification;
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
            errors.dedup_by(|a, b| a.path == b.path && a.line == b.line && a.column == b.column);
            return Err(LoadErrors(errors));
        }
        for w in &set.warnings {
            tracing::warn!(warning = %w, "rule set loaded with a warning");
        }
        tracing::debug!(
            version = %set.version,
            rules = set.rule_count(),
            cases = set.verification.total(),
            cases_passed = set.verification.passed(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rule set compiled"
        );
        Ok(set)
    }

    /// A pack library: only `fn` definitions, shared by every rule of the pack.
    fn compile_lib(&self, path: &str, src: &str, value_sets: &ValueSets) -> Result<Library, Vec<Diagnostic>> {
        let mut ast = self.engine.compile(src).map_err(|e| vec![super::script_errors::parse_diagnostic(path, &e)])?;
        ast.set_source(path);
        let errors = lint(path, &ast, &self.known, value_sets, LintMode::Library, &ScriptFns::new());
        if !errors.is_empty() {
            return Err(errors);
        }
        let fns = script_fns(&ast);
        Ok(Library { path: path.to_string(), ast, fns })
    }

    fn compile_rule(
        &self,
        pack: &str,
        path: &str,
        src: &str,
        value_sets: &ValueSets,
        lib: Option<&Library>,
    ) -> Result<Rule, Vec<Diagnostic>> {
        let mut ast = self.engine.compile(src).map_err(|e| vec![super::script_errors::parse_diagnostic(path, &e)])?;
        ast.set_source(path);
        let empty = ScriptFns::new();
        let mut errors = lint(path, &ast, &self.known, value_sets, LintMode::Rule, lib.map_or(&empty, |l| &l.fns));
        let own = script_fns(&ast);
        let lib_fns: HashSet<String> =
            lib.map(|l| l.fns.keys().filter(|f| !own.contains_key(*f)).cloned().collect()).unwrap_or_default();
        if let Some(lib) = lib {
            // Library first, then the rule: a rule's own definition wins over the library's.
            ast = lib.ast.merge(&ast);
            ast.set_source(path);
        }
        let stem = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let has_meta = ast.iter_functions().any(|f| f.name == "meta" && f.params.is_empty());
        let meta = match self.call_meta(&ast) {
            Ok(v) => parse_meta(path, src, v, &format!("{pack}.{stem}")).map_err(|e| errors.extend(e)).ok(),
            Err(_) if !has_meta => None, // reported by lint
            Err(e) => {
                let d = super::script_errors::describe(&e);
                let (zh, en) = (d.error.render(Locale::ZhCn), d.error.render(Locale::En));
                let text =
                    crate::diagnostic::Text::both(format!("meta() 运行失败：{zh}"), format!("meta() failed: {en}"));
                errors.push(super::error::at_pos(path, d.pos, text));
                None
            }
        };
        if let Some(m) = &meta {
            let lib_path = lib.map(|l| l.path.as_str());
            errors.extend(super::outcomes::check(path, &ast, m, lib_path, &lib_fns));
            if m.keyed() {
                for (l, what) in m.missing_texts(&self.locales) {
                    let (line, col) =
                        m.outcomes.iter().find(|o| what.ends_with(&format!(".{}.{}", o.kind, o.key))).map_or_else(
                            || super::error::pos_parts(super::lint::find_position(src, "fn meta")),
                            |o| (o.line, o.column),
                        );
                    errors.push(Diagnostic::new(path, line, col, format!("{what} has no {l} text (rules.locales)")));
                }
            }
        }
        let meta = match meta {
            Some(m) if errors.is_empty() => m,
            _ => {
                errors.sort_by_key(|e| (e.line, e.column));
                return Err(errors);
            }
        };
        Ok(Rule {
            meta,
            pack: pack.to_string(),
            pack_id: pack.into(),
            lib_path: lib.map(|l| l.path.clone()),
            lib_fns,
            path: path.to_string(),
            evaluate_pos: super::lint::find_position(src, "fn evaluate"),
            exclusion_sets: super::trail::sections::exclusion_sets(src, &ast),
            header: super::header::parse(src),
            ast,
            quarantine: Default::default(),
        })
    }

    fn call_meta(&self, ast: &AST) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        let _budget = Budget::start(self.limits.time_budget());
        self.engine.call_fn_with_options::<Dynamic>(
            CallFnOptions::new().eval_ast(false).rewind_scope(true),
            &mut Scope::new(),
            ast,
            "meta",
            (),
        )
    }
}

/// The "path" of a load error about the `rules.measure_sets` setting.
pub const MEASURE_SETS_SETTING: &str = "rules.measure_sets";

/// Directory of the local-code mapping tables, relative to the rules directory.
pub const MAPPINGS_DIR: &str = "mappings/";

/// The optional shared library of a pack: `<pack>/lib.rhai`.
pub const LIB_FILE: &str = "lib.rhai";

struct Library {
    path: String,
    ast: AST,
    fns: ScriptFns,
}

fn is_pack_script(path: &str) -> bool {
    path.ends_with(".rhai") && path.matches('/').count() == 1
}

/// SHA-256 over every (path, content) pair in path order; first 12 hex digits.
pub fn content_hash(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// Read every relevant file under `root` (two levels: `valuesets/`, `mappings/`, `<pack>/`,
/// `<pack>/tests/`). Names starting with `.` are skipped: that hides editor swap files
/// and the `..data` / `..2026_...` entries of a Kubernetes ConfigMap volume, whose
/// visible names are symlinks into the current `..data` (followed here).
pub fn read_tree(root: &Path) -> Result<BTreeMap<String, String>, RulesError> {
    let io = |path: &Path, source| RulesError::Io { path: path.display().to_string(), source };
    let mut files = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue; // dangling symlink mid-swap: the next event reloads
            };
            let rel = format!("{prefix}{name}");
            if meta.is_dir() {
                if depth < 2 {
                    stack.push((path, format!("{rel}/"), depth + 1));
                }
            } else if (name.ends_with(".rhai") || name.ends_with(".toml")) && depth > 0 {
                let content = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                files.insert(rel, content);
            }
        }
    }
    Ok(files)
}
