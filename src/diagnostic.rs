//! A problem at a position in a file: `path:line:col: message`, the one type every loader
//! reports (rules, value sets, mappings, test decks, model manifests, prompt templates,
//! the knowledge base, TLS material), the one the reload outcome carries
//! ([`crate::reload::Outcome`]) and the one `cdss.v1.LoadError` shows. Positions come
//! from [`line_col`] only.

use std::fmt;

use crate::locale::Locale;
use crate::proto::v1 as pb;

/// What is wrong, in English and, when the class of problem has one, in Chinese (zh-CN).
/// A plain string converts to an English-only text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    pub en: String,
    pub zh: Option<String>,
}

impl Text {
    /// A text in both locales.
    pub fn both(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { en: en.into(), zh: Some(zh.into()) }
    }

    /// The text in `l` (English when there is no Chinese text).
    pub fn pick(&self, l: Locale) -> &str {
        match (l, &self.zh) {
            (Locale::ZhCn, Some(zh)) => zh,
            _ => &self.en,
        }
    }
}

impl From<String> for Text {
    fn from(en: String) -> Self {
        Self { en, zh: None }
    }
}

impl From<&str> for Text {
    fn from(en: &str) -> Self {
        en.to_string().into()
    }
}

impl From<&String> for Text {
    fn from(en: &String) -> Self {
        en.clone().into()
    }
}

/// One problem found while loading a file. Positions are 1-based; 0 means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File path relative to the component's directory (or as configured), `/` separators.
    pub path: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column (in characters), 0 when unknown.
    pub column: u32,
    /// What is wrong, in English (logs, `cdss.v1.LoadError.message`).
    pub message: String,
    /// The same in Chinese (zh-CN), when its class has a Chinese text.
    pub zh: Option<String>,
}

impl Diagnostic {
    /// A problem at `line:column` of `path`.
    pub fn new(path: impl Into<String>, line: u32, column: u32, message: impl Into<Text>) -> Self {
        let Text { en, zh } = message.into();
        Self { path: path.into(), line, column, message: en, zh }
    }

    /// A problem of a whole file (no position known).
    pub fn file(path: impl Into<String>, message: impl Into<Text>) -> Self {
        Self::new(path, 0, 0, message)
    }

    /// A problem at byte `offset` of `src`, the text of `path`.
    pub fn at_offset(path: impl Into<String>, src: &str, offset: usize, message: impl Into<Text>) -> Self {
        let (line, column) = line_col(src, offset);
        Self::new(path, line, column, message)
    }

    /// A TOML parse or deserialisation error of `src`, the text of `path`, at its span.
    pub fn toml(path: impl Into<String>, src: &str, err: &toml::de::Error) -> Self {
        let (line, column) = err.span().map_or((0, 0), |s| line_col(src, s.start));
        Self::new(path, line, column, err.message().trim().to_string())
    }

    /// The same problem with its path prefixed by the directory `dir` (`dir/path`).
    pub fn in_dir(mut self, dir: &str) -> Self {
        self.path = if self.path.is_empty() { dir.to_string() } else { format!("{dir}/{}", self.path) };
        self
    }

    /// What is wrong, in `l` (English when the class has no Chinese text).
    pub fn text(&self, l: Locale) -> &str {
        match (l, &self.zh) {
            (Locale::ZhCn, Some(zh)) => zh,
            _ => &self.message,
        }
    }

    /// Both texts.
    pub fn texts(&self) -> Text {
        Text { en: self.message.clone(), zh: self.zh.clone() }
    }

    /// Append `more` to the message, in each locale.
    pub fn append(&mut self, more: &Text) {
        if let Some(zh) = &mut self.zh {
            zh.push_str(more.pick(Locale::ZhCn));
        }
        self.message.push_str(&more.en);
    }

    /// `path:line:col: message` (see [`fmt::Display`]) with the message in `l`.
    pub fn render(&self, l: Locale) -> String {
        if self.path.is_empty() {
            return self.text(l).to_string();
        }
        format!("{}:{}:{}: {}", self.path, self.line.max(1), self.column.max(1), self.text(l))
    }

    /// As `cdss.v1.LoadError`: `message` in English, `texts` in each locale when the
    /// problem has a Chinese text.
    pub fn to_proto(&self) -> pb::LoadError {
        let texts = match &self.zh {
            None => Vec::new(),
            Some(zh) => vec![
                pb::LocalizedText { locale: Locale::ZhCn.tag().into(), text: zh.clone() },
                pb::LocalizedText { locale: Locale::En.tag().into(), text: self.message.clone() },
            ],
        };
        pb::LoadError {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
            texts,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// Always `path:line:col: message` when there is a path, so that editors and CI can jump
    /// to it; an unknown position is printed as `1:1` (the file). No path: the message alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Locale::En))
    }
}

impl std::error::Error for Diagnostic {}

/// 1-based `(line, column)` of byte `offset` in `src`; the column counts characters. An
/// offset past the end or inside a character is taken at the character's start.
pub fn line_col(src: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(src.len());
    while offset > 0 && !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u32, column as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let src = "ab\n诊断 x\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 2), (1, 3));
        assert_eq!(line_col(src, 3), (2, 1));
        // "诊" is 3 bytes: byte 6 is the start of "断", the 2nd character of line 2.
        assert_eq!(line_col(src, 6), (2, 2));
        // Inside a character: its start.
        assert_eq!(line_col(src, 7), (2, 2));
        assert_eq!(line_col(src, 10_000), (3, 1));
    }

    #[test]
    fn display_always_has_a_position_when_there_is_a_path() {
        assert_eq!(Diagnostic::new("a/b.toml", 3, 7, "bad").to_string(), "a/b.toml:3:7: bad");
        assert_eq!(Diagnostic::file("a/b.toml", "bad").to_string(), "a/b.toml:1:1: bad");
        assert_eq!(Diagnostic::new("a/b.toml", 4, 0, "bad").to_string(), "a/b.toml:4:1: bad");
        assert_eq!(Diagnostic::file("", "bad").to_string(), "bad");
    }

    #[test]
    fn toml_errors_point_at_their_span_and_in_dir_prefixes() {
        let src = "a = 1\nb = [\n";
        let err = toml::from_str::<toml::Value>(src).unwrap_err();
        let d = Diagnostic::toml("m.toml", src, &err).in_dir("sofa");
        assert_eq!(d.path, "sofa/m.toml");
        assert_eq!(d.line, 2, "{d}");
        assert_eq!(Diagnostic::file("", "x").in_dir("sofa").path, "sofa");
    }

    #[test]
    fn proto_keeps_unknown_positions_as_zero() {
        let p = Diagnostic::file("x.rhai", "m").to_proto();
        assert_eq!((p.line, p.column, p.path.as_str(), p.message.as_str()), (0, 0, "x.rhai", "m"));
        assert!(p.texts.is_empty());
        let p = Diagnostic::new("x.rhai", 2, 3, Text::both("未定义的变量：x", "Undefined variable: x")).to_proto();
        assert_eq!(p.message, "Undefined variable: x");
        let tags: Vec<_> = p.texts.iter().map(|t| (t.locale.as_str(), t.text.as_str())).collect();
        assert_eq!(tags, [("zh-CN", "未定义的变量：x"), ("en", "Undefined variable: x")]);
    }

    #[test]
    fn text_and_render_pick_the_locale_and_fall_back_to_english() {
        let d = Diagnostic::new("a.rhai", 3, 7, Text::both("缺少", "missing"));
        assert_eq!(d.render(Locale::ZhCn), "a.rhai:3:7: 缺少");
        assert_eq!(d.render(Locale::En), "a.rhai:3:7: missing");
        assert_eq!(d.to_string(), "a.rhai:3:7: missing");
        let mut d = Diagnostic::file("a.rhai", "only english");
        assert_eq!(d.render(Locale::ZhCn), "a.rhai:1:1: only english");
        d.append(&Text::both("（见用例）", " (in a case)"));
        assert_eq!((d.message.as_str(), d.zh.as_deref()), ("only english (in a case)", None));
    }
}
