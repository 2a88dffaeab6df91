//! "A zh-CN text a person reads contains no English phrase": the check the locale tests
//! apply beside "contains Chinese and differs from en". A phrase is a run of three or more
//! consecutive Latin-letter words; abbreviations, ids and units that are legitimately Latin in
//! Chinese clinical text ([`ALLOWED`]) break a run, and so do digits, CJK text and code
//! punctuation. What the text quotes from elsewhere — the encounter's own strings (drug
//! names, code displays: patient data in the language it was recorded in) and bibliographic
//! citations — is masked first: it is not cdssd's text.

/// Latin tokens allowed in a zh-CN text (compared case-sensitively, after stripping `-`/`'`
/// at the ends): clinical abbreviations, measure-set and score names, units, product names.
pub const ALLOWED: &[&str] = &[
    // clinical abbreviations
    "PCI",
    "STEMI",
    "NSTEMI",
    "MI",
    "AMI",
    "ECG",
    "CT",
    "MRI",
    "IVT",
    "EVT",
    "VTE",
    "DVT",
    "PE",
    "ICU",
    "HF",
    "CAP",
    "DAPT",
    "MRA",
    "ACEI",
    "ARB",
    "ARNI",
    "SGLT",
    "LDL-C",
    "LVEF",
    "ASCVD",
    "BMI",
    "INR",
    "ED",
    "SBP",
    "DBP",
    "PO",
    "IV",
    "SC",
    "IM",
    "qSOFA",
    "SOFA",
    "NIHSS",
    "Padua",
    "Caprini",
    "GRACE",
    "PTCA",
    "CABG",
    "ATC",
    "ICD",
    "LOINC",
    "SNOMED",
    "UCUM",
    "HL",
    "FHIR",
    "PIP",
    "DPT",
    "DTN",
    "STK",
    "CSTK",
    "SEP",
    "SCIP",
    "Inf",
    "PN",
    "AECOPD",
    "COPD",
    "WHAS",
    "China-PAR",
    "PAR",
    "ACC",
    "AHA",
    "ASA",
    "CMS",
    "TJC",
    "NHC",
    "Yang",
    "X",
    // units (UCUM and common spellings)
    "mg",
    "g",
    "kg",
    "mL",
    "L",
    "dL",
    "mmol",
    "umol",
    "min",
    "h",
    "d",
    "mm",
    "Hg",
    "cm",
    "m",
    "iU",
    "U",
    "a",
    "µg",
    // product and interface names, ids
    "cdssd",
    "cpu",
    "cuda",
    "ListModels",
    "ONNX",
    "LLM",
    "AI",
    "v",
    "µs",
];

/// English words that never belong in a zh-CN text, alone or not: a note like
/// "smoker missing: imputed 0" has no three-word run but is still English.
pub const ENGLISH_WORDS: &[&str] = &[
    "the", "of", "and", "or", "is", "are", "not", "from", "with", "within", "without", "to", "in", "on", "at", "by",
    "for", "missing", "imputed", "scored", "outside", "given", "ordered", "points", "risk", "model", "time", "years",
    "year", "note",
];

/// A stretch of text that is not cdssd's own: replaced by a run breaker.
const MASK: char = '\u{2588}';

/// `text` with every occurrence of each `quoted` string (longest first, ≥ 2 characters) that
/// stands on its own (no ASCII letter or digit glued to either end) replaced by [`MASK`].
pub fn mask(text: &str, quoted: &[String]) -> String {
    let mut q: Vec<&String> = quoted.iter().filter(|s| s.trim().chars().count() >= 2).collect();
    q.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    for s in q {
        let mut from = 0;
        while let Some(i) = out[from..].find(s.as_str()).map(|i| i + from) {
            let end = i + s.len();
            if glued(out[..i].chars().next_back()) || glued(out[end..].chars().next()) {
                from = end;
                continue;
            }
            out.replace_range(i..end, &MASK.to_string());
            from = i + MASK.len_utf8();
        }
    }
    out
}

/// The first run of ≥ 3 consecutive Latin words in `text`, or the first of
/// [`ENGLISH_WORDS`] (any case), if any. Words are separated by
/// spaces or prose punctuation (`,;:.()/&!?"`); anything else (digits, CJK, `=`, `[`, `` ` ``,
/// `_`, [`MASK`]) ends a run, as does an [`ALLOWED`] token.
pub fn english_phrase(text: &str) -> Option<String> {
    let mut run: Vec<String> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, run: &mut Vec<String>| -> Option<String> {
        if word.is_empty() {
            return None;
        }
        let w = word.trim_matches(|c| c == '-' || c == '\'').to_string();
        word.clear();
        if !w.contains('_') && ENGLISH_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
            return Some(w);
        }
        // `heart_rate`, `vte.bleeding_risk_assessment_nhc`: an id, not prose.
        if w.is_empty() || w.contains('_') || ALLOWED.contains(&w.as_str()) {
            run.clear();
            return None;
        }
        run.push(w);
        (run.len() >= 3).then(|| run.join(" "))
    };
    for c in text.chars() {
        if c.is_ascii_alphabetic() || ((c == '-' || c == '\'' || c == '_') && !word.is_empty()) {
            word.push(c);
            continue;
        }
        // A digit glued to a word (WHAS500, P2Y12, ICD-10) makes the token an id: it breaks.
        if c.is_ascii_digit() {
            word.clear();
            run.clear();
            continue;
        }
        if let Some(p) = flush(&mut word, &mut run) {
            return Some(p);
        }
        let prose = c.is_whitespace() || ",;:.()/&!?\"".contains(c);
        if !prose {
            run.clear();
        }
    }
    flush(&mut word, &mut run)
}

/// Every string value of a JSON document (the encounter's own texts, to [`mask`]).
pub fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[test]
fn the_phrase_check_can_fail_and_allows_clinical_abbreviations() {
    // The quick-start finding of issue 14 is caught, with the phrase named.
    let card = "低风险：death from any cause within 1 year of admission（1 year）11.5 %";
    assert_eq!(english_phrase(card).as_deref(), Some("from"));
    assert_eq!(english_phrase("低风险：death by any cause").as_deref(), Some("by"));
    assert_eq!(english_phrase("低风险：sudden cardiac death（1 年）").as_deref(), Some("sudden cardiac death"));
    assert_eq!(english_phrase("未评分：age_at_arrival missing (age)").as_deref(), Some("missing"));
    assert_eq!(english_phrase("已给予：Aspirin 300 mg PO given").as_deref(), Some("given"));
    assert!(english_phrase("Main contributing features：age").is_some());
    // Legitimately Latin: abbreviations, ids, units, code punctuation.
    for ok in [
        "发病 12 小时内 STEMI 患者 PCI 再灌注",
        "无以 I21、I22 开头的 ICD-10 诊断",
        "模型 `ami-1y-mortality` v1.0.0，运行于 cpu；规则 `vte.bleeding_risk_assessment_nhc`",
        "收缩压 = 141.5 mm[Hg]，心率 85 /min",
        "LDL-C 已于 03-03 06:00 采样检测（Padua/Caprini）",
        "中国人群的对应模型为 China-PAR（Yang X 等，Circulation 2016）",
    ] {
        assert_eq!(english_phrase(ok), None, "{ok}");
    }
    // Quoted encounter text is masked before the check.
    let quoted = vec!["Coronary arteriography using two catheters".to_string()];
    assert_eq!(english_phrase(&mask("操作：Coronary arteriography using two catheters", &quoted)), None);
    // ... only where it stands on its own.
    let quoted = vec!["hard".to_string()];
    assert_eq!(english_phrase(&mask("首次 hardly any event", &quoted)).as_deref(), Some("hardly any event"));
}
