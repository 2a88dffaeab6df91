//! The languages cdssd writes texts in, and BCP-47 tag parsing.
//!
//! Every text a person reads (rule titles and messages, cards, trails, CLI summaries)
//! exists in each [`Locale`]. A request picks one with `options.locale`; otherwise the
//! configured `server.default_locale` applies.
use std::fmt;

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Locale {
    /// Simplified Chinese (mainland China), `zh-CN`.
    #[default]
    ZhCn,
    /// English, `en`.
    En,
}

impl Locale {
    /// Every supported locale, in the order texts are listed.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The canonical BCP-47 tag ("zh-CN", "en"), also the key of rule texts.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// Parse a BCP-47 tag. Accepted: `zh`, `zh-CN`, `zh-Hans`, `zh-Hans-CN` (any case,
    /// `_` or `-`) for Chinese; `en` with any region (`en-US`, `en-GB`) for English.
    /// Anything else — a well-formed tag of another language, or not a tag — is an error
    /// naming the supported tags.
    pub fn parse(tag: &str) -> Result<Self, String> {
        let t = tag.trim().replace('_', "-").to_ascii_lowercase();
        let parts: Vec<&str> = t.split('-').collect();
        let well_formed = !t.is_empty()
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !well_formed {
            return Err(format!("'{tag}' is not a BCP-47 language tag (supported: zh-CN, en)"));
        }
        match parts.as_slice() {
            ["zh"] | ["zh", "cn"] | ["zh", "hans"] | ["zh", "hans", "cn"] => Ok(Locale::ZhCn),
            ["en"] | ["en", _] => Ok(Locale::En),
            _ => Err(format!("language '{tag}' is not supported (supported: zh-CN, en)")),
        }
    }

    /// Pick the text of this locale from a `(zh-CN, en)` pair.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Locale::ZhCn => zh,
            Locale::En => en,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// True when `s` contains a CJK ideograph (tests: "a zh-CN text contains Chinese").
pub fn has_chinese(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c))
}

/// Columns `s` takes in a terminal: East Asian wide and fullwidth characters (CJK
/// ideographs, kana, Hangul, fullwidth punctuation such as `，` `：` `（`) take two.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Columns one character takes in a terminal (see [`display_width`]).
pub fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA000..=0xA4CF => 2,
        0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 => 2,
        0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// `s` padded with spaces to `width` terminal columns (see [`display_width`]).
pub fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// Cut `s` to at most `max` characters (not bytes), at a word or phrase boundary when
/// there is one in the last third, ending with "…". Chinese has no spaces: a cut after
/// a CJK punctuation mark or between two ideographs is a boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let limit = max - 1; // room for the ellipsis
    let floor = limit * 2 / 3;
    let mut cut = limit;
    for i in (floor..=limit).rev() {
        let prev = chars[i - 1];
        let next = chars.get(i).copied().unwrap_or(' ');
        let boundary = next == ' '
            || "，。；：、）,.;:)".contains(prev)
            || (has_chinese(&prev.to_string()) && has_chinese(&next.to_string()));
        if boundary {
            cut = i;
            break;
        }
    }
    let mut out: String = chars[..cut].iter().collect::<String>().trim_end().to_string();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns_and_padding_counts_columns() {
        assert_eq!(display_width("met"), 3);
        assert_eq!(display_width("达标"), 4);
        assert_eq!(display_width("分子：4（LOINC）"), 2 + 2 + 2 + 1 + 2 + 5 + 2);
        assert_eq!(pad("达标", 6), "达标  ");
        assert_eq!(pad("met", 6), "met   ");
        assert_eq!(pad("超过宽度", 4), "超过宽度");
    }

    #[test]
    fn tags_parse_to_the_two_locales_and_others_are_refused() {
        for t in ["zh", "zh-CN", "zh_cn", "zh-Hans", "zh-Hans-CN", "ZH-cn"] {
            assert_eq!(Locale::parse(t), Ok(Locale::ZhCn), "{t}");
        }
        for t in ["en", "en-US", "en-GB", "EN"] {
            assert_eq!(Locale::parse(t), Ok(Locale::En), "{t}");
        }
        for t in ["fr", "de-DE", "zh-TW", "", "en US", "12345678901"] {
            assert!(Locale::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn truncation_counts_characters_and_cuts_at_boundaries() {
        let zh = "门球时间九十分钟以内，".repeat(20);
        let t = truncate_chars(&zh, 139);
        assert!(t.chars().count() <= 139, "{}", t.chars().count());
        assert!(t.ends_with('…'));
        let en = "door to device time within ninety minutes ".repeat(10);
        let t = truncate_chars(&en, 139);
        assert!(t.chars().count() <= 139);
        // Cut at a word boundary: the char before the ellipsis ends a whole word.
        let body = t.trim_end_matches('…');
        assert!(en.starts_with(body) && en[body.len()..].starts_with(' '), "{t}");
        assert_eq!(truncate_chars("short", 139), "short");
    }
}
