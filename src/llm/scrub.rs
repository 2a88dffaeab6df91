//! Best-effort identifier scrubber for free text (notes, code displays, drug
//! names) that goes into an LLM prompt.
//!
//! It replaces, in this order: labelled identifiers ("Name: ...", "MRN 123",
//! "姓名：张三", "身份证号 ..."), e-mail addresses, URLs, IP addresses, Chinese
//! resident identity numbers (18 characters, and the old 15-digit form),
//! phone numbers (Chinese mobile and landline, international and North
//! American forms), calendar dates (ISO, numeric, Chinese and month-name
//! forms), times of day, street addresses (English and Chinese), titled names
//! ("Mr. Smith", "Dr. Li"), and any remaining run of 6 or more digits
//! (record, insurance, account numbers). It is pattern-based: free-text notes
//! are therefore excluded from prompts by default (`llm.include_notes`).

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

struct Rule {
    re: Regex,
    with: &'static str,
}

/// Patterns of [`RULES`] after the word-boundary rewrite, in the same order.
fn pattern(p: &str) -> String {
    // ASCII word boundaries: `\b` would see no boundary between a Han character and a digit.
    p.replace(r"\b", r"(?-u:\b)")
}

fn rule(p: &str, with: &'static str) -> Rule {
    Rule { re: Regex::new(&pattern(p)).expect("scrubber patterns are valid"), with }
}

/// All rules in one automaton: one pass tells which rules can apply (most texts: none).
static SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(RULES.iter().map(|r| r.re.as_str())).expect("scrubber patterns are valid"));

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // Labelled identifiers: the label stays, the value goes (up to the end of the clause).
        rule(
            r"(?i)\b(patient name|name|surname|given name|mrn|medical record (?:number|no\.?)|record (?:number|no\.?)|ssn|passport(?: no\.?)?|id(?: number| no\.?)?|insurance(?: no\.?| number)?|account(?: no\.?| number)?|address|addr\.?|phone|tel\.?|telephone|mobile|cell|contact|email|e-mail|dob|date of birth|birth ?date|born)\s*[:#：]\s*[^\n;,.。，；]*",
            "$1: [REDACTED]",
        ),
        rule(
            r"(姓名|名字|患者姓名|病人姓名|身份证号码|身份证号|身份证|证件号码|证件号|住院号|门诊号|病历号|病案号|医保卡号|医保号|社保号|电话号码|电话|手机号码|手机号|手机|联系电话|联系人|家属|住址|地址|现住址|户籍地址|出生日期|出生年月|生日|邮箱)\s*[:：]?\s*[^\n;,.。，；、]*",
            "$1：[已删除]",
        ),
        rule(r"(?i)\b[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}\b", "[EMAIL]"),
        rule(r"(?i)\b(?:https?://|www\.)\S+", "[URL]"),
        rule(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]"),
        // Chinese resident identity number (GB 11643: 17 digits + digit or X) and the old 15-digit form.
        rule(r"(?i)\b\d{17}[0-9x]\b", "[ID]"),
        rule(r"\b\d{15}\b", "[ID]"),
        // Phones: Chinese mobile (optionally +86), landline with area code, international, North American.
        rule(r"(?:\+?86[\s-]?)?\b1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}\b", "[PHONE]"),
        rule(r"\(?\b0\d{2,3}\)?[\s-]?\d{7,8}\b", "[PHONE]"),
        rule(r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}\b", "[PHONE]"),
        rule(r"\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b", "[PHONE]"),
        // Dates.
        rule(
            r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
            "[DATE]",
        ),
        rule(r"\d{2,4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?", "[DATE]"),
        rule(r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]", "[DATE]"),
        rule(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b", "[DATE]"),
        rule(
            r"(?i)\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{2,4}\b",
            "[DATE]",
        ),
        rule(
            r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{2,4})?\b",
            "[DATE]",
        ),
        rule(r"(?i)\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:am|pm)?\b", "[TIME]"),
        // Addresses.
        rule(
            r"(?i)\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,4}(?:street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|drive|dr|court|ct|way|place|pl)\b\.?",
            "[ADDRESS]",
        ),
        rule(
            r"[\p{Han}\d]{2,}(?:省|自治区)?[\p{Han}\d]*(?:市|县|区)[\p{Han}\d]*(?:路|街|道|巷|弄|村|镇|乡)[\p{Han}\d]*(?:号|室|楼|栋|单元)?",
            "[地址]",
        ),
        // Titled names.
        rule(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?", "[NAME]"),
        rule(r"(患者|病人|家属|陪同人)[\p{Han}]{2,3}([，,。；;\s]|$)", "$1[姓名]$2"),
        rule(r"[\p{Han}]{1,3}(先生|女士|老师|同志)", "[姓名]$1"),
        // Any remaining long number.
        rule(r"\d{6,}", "[NUMBER]"),
    ]
});

/// Remove identifiers from `text`.
pub fn scrub(text: &str) -> String {
    let hits = SET.matches(text);
    if !hits.matched_any() {
        return text.to_string();
    }
    let mut out = text.to_string();
    // Replacements only insert placeholders, so a rule that did not match the original
    // text cannot match after earlier rules ran: only the hits need to be applied.
    for i in hits.iter() {
        let r = &RULES[i];
        if r.re.is_match(&out) {
            out = r.re.replace_all(&out, r.with).into_owned();
        }
    }
    out
}

/// Scrub and cap a text to `max_chars` characters (on a character boundary).
pub fn scrub_capped(text: &str, max_chars: usize) -> String {
    let s = scrub(text);
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}
