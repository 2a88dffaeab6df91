//! The header comment of a rule script, as far as a program reads it: the `Time zero:` and
//! `Window:` entries (or `时间零点：` / `时间窗：` in a Chinese header) and the `Source quality:`
//! phrase, for the measure catalogue (`rules/MEASURES.md`, [`super::measures`]) and the
//! `rules check` warning about a header that lacks one of the two entries.
//!
//! The header is the run of `//` lines at the top of the file. An entry starts a line
//! (`// Time zero: hospital arrival.`) and goes on over the lines after it that start with
//! `//   ` (three spaces after the slashes). A window may also follow the time zero in
//! the same entry, after the end of its sentence (`// Time zero: arrival. Window: 24 h.`).

const TIME_ZERO: &[&str] = &["Time zero:", "时间零点：", "时间零点:"];
const WINDOW: &[&str] = &["Window:", "时间窗：", "时间窗:"];
const SOURCE_QUALITY: &[&str] = &["Source quality:", "source quality:", "来源质量：", "来源质量:"];

/// What the catalogue takes from a script's header comment; `None`: not stated there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The time zero, without its closing full stop.
    pub time_zero: Option<String>,
    pub window: Option<String>,
    /// The first phrase after `Source quality:` ("secondary source", "reconstructed" …).
    pub source_quality: Option<String>,
}

/// Read the header comment of script `src`.
pub fn parse(src: &str) -> Header {
    let lines: Vec<&str> = src.lines().take_while(|l| l.starts_with("//")).collect();
    let mut time_zero = entry(&lines, TIME_ZERO);
    let mut window = entry(&lines, WINDOW);
    if let Some(tz) = time_zero.take() {
        let (tz, inline) = split_window(&tz);
        if window.is_none() {
            window = inline;
        }
        time_zero = Some(tz);
    }
    let time_zero = time_zero.map(|t| t.trim_end_matches(['.', '。']).trim_end().to_string()).filter(|t| !t.is_empty());
    let window = window.filter(|w| !w.is_empty());
    Header { time_zero, window, source_quality: source_quality(&lines) }
}

/// The text of the first entry labelled by one of `labels`, its continuation lines joined.
fn entry(lines: &[&str], labels: &[&str]) -> Option<String> {
    let (start, first) = lines.iter().enumerate().find_map(|(i, l)| {
        let body = l.strip_prefix("//")?.trim_start();
        labels.iter().find_map(|lab| body.strip_prefix(lab)).map(|rest| (i, rest.trim()))
    })?;
    let mut text = first.to_string();
    for l in &lines[start + 1..] {
        let Some(rest) = l.strip_prefix("//   ") else { break };
        join(&mut text, rest.trim());
    }
    Some(text)
}

/// Append a continuation line: a space between words, none between Chinese characters.
fn join(text: &mut String, more: &str) {
    let wide = |c: Option<char>| c.is_some_and(|c| !c.is_ascii());
    let between_chinese = wide(text.chars().last()) && wide(more.chars().next());
    if !text.is_empty() && !between_chinese {
        text.push(' ');
    }
    text.push_str(more);
}

/// A time-zero entry that goes on with its window after the end of a sentence.
fn split_window(text: &str) -> (String, Option<String>) {
    for label in WINDOW {
        let mut from = 0;
        while let Some(i) = text[from..].find(label).map(|i| i + from) {
            let before = text[..i].trim_end();
            if before.ends_with('.') || before.ends_with('。') {
                return (before.to_string(), Some(text[i + label.len()..].trim().to_string()));
            }
            from = i + label.len();
        }
    }
    (text.to_string(), None)
}

/// "secondary source" of `Source quality: secondary source (item wording …)`.
fn source_quality(lines: &[&str]) -> Option<String> {
    let mut all = String::new();
    for l in lines {
        join(&mut all, l.trim_start_matches('/').trim());
    }
    let rest =
        SOURCE_QUALITY.iter().filter_map(|label| all.find(label).map(|i| &all[i + label.len()..])).next()?.trim_start();
    let end =
        [" (", "; ", ". ", "（", "；", "。", "，"].iter().filter_map(|d| rest.find(d)).min().unwrap_or(rest.len());
    let phrase = rest[..end].trim().trim_end_matches('.').to_string();
    (!phrase.is_empty()).then_some(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_on_their_own_lines_with_continuations() {
        let src = "// T\n//\n// Source: X. Source quality: secondary source (wording from summaries).\n\
                   // Time zero: discharge.\n// Window: none: evaluated at discharge, or as soon as\n\
                   //   prescriptions are written.\n// Shared helpers: lib.rhai.\n\nfn meta() {}\n";
        let h = parse(src);
        assert_eq!(h.time_zero.as_deref(), Some("discharge"));
        assert_eq!(h.window.as_deref(), Some("none: evaluated at discharge, or as soon as prescriptions are written."));
        assert_eq!(h.source_quality.as_deref(), Some("secondary source"));
    }

    #[test]
    fn a_window_after_the_time_zero_sentence_and_chinese_labels() {
        let h =
            parse("// Time zero: Severe Sepsis Presentation Time (see x). Window: 3 h\n//   (pending until then).\n");
        assert_eq!(h.time_zero.as_deref(), Some("Severe Sepsis Presentation Time (see x)"));
        assert_eq!(h.window.as_deref(), Some("3 h (pending until then)."));
        let h = parse("// 来源质量：本院定义，非国家指标。\n// 时间零点：到院时间。时间窗：[到院, 到院 + 15 分钟]，含 15 分钟整；\n//   此前未测时为\"待完成\"。\n");
        assert_eq!(h.time_zero.as_deref(), Some("到院时间"));
        assert_eq!(h.window.as_deref(), Some("[到院, 到院 + 15 分钟]，含 15 分钟整；此前未测时为\"待完成\"。"));
        assert_eq!(h.source_quality.as_deref(), Some("本院定义"));
    }

    #[test]
    fn what_is_not_an_entry() {
        // Not at the start of a comment line, not in the header, or "window" mid-sentence.
        let h = parse("// The time zero: below.\n// Time zero: arrival (the Window: column).\n\n// Window: 6 h.\n");
        assert_eq!(h.time_zero.as_deref(), Some("arrival (the Window: column)"));
        assert_eq!(h.window, None);
        // A line with one space after the slashes ends an entry.
        let h = parse("// Time zero: arrival.\n// Window: 6 h.\n// Missing data: x.\n");
        assert_eq!(h.window.as_deref(), Some("6 h."));
        assert_eq!(parse("fn meta() {}\n"), Header::default());
        assert_eq!(parse("// Time zero:\n// Window: \n").time_zero, None);
    }
}
