//! Okapi BM25 over the passages, with Chinese word segmentation (jieba) for
//! CJK runs and lower-cased words for the rest. Each passage is indexed with
//! both of its languages, its title, section and its value-set tags (`vs:cap`),
//! so an English query (findings, code displays) finds the passage whatever
//! language it is then shown in.
//!
//! BM25: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and
//! Beyond", Found. Trends Inf. Retr. 3(4), 2009 — k1 = 1.2, b = 0.75, idf with +1.

use std::{collections::HashMap, sync::LazyLock};

use jieba_rs::Jieba;

const K1: f64 = 1.2;
const B: f64 = 0.75;

static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Load the segmentation dictionary now (a few hundred ms) rather than on the first request.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

const STOP_EN: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "into", "is", "it", "its",
    "of", "on", "or", "that", "the", "their", "then", "this", "to", "was", "were", "when", "which", "with", "within",
    "without", "not", "no", "met", "pending", "yet", "than", "more", "less", "after", "before", "all", "any", "each",
    "h", "min", "mg", "ml", "mmol", "l", "kg", "t",
];
const STOP_ZH: &[&str] =
    &["的", "了", "和", "与", "或", "及", "在", "应", "为", "后", "前", "时", "者", "以", "并", "等", "于", "内", "中"];

/// Whether `c` is a CJK ideograph (or CJK punctuation block), segmented by jieba.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Tokens of `text`: jieba words for CJK runs, lower-case alphanumeric words otherwise.
pub fn tokenize(text: &str, out: &mut Vec<String>) {
    let mut word = String::new();
    let mut cjk = String::new();
    let flush_word = |w: &mut String, out: &mut Vec<String>| {
        if !w.is_empty() {
            let t = w.to_lowercase();
            if !STOP_EN.contains(&t.as_str()) && !t.chars().all(|c| c.is_ascii_digit()) {
                out.push(t);
            }
            w.clear();
        }
    };
    let flush_cjk = |s: &mut String, out: &mut Vec<String>| {
        if !s.is_empty() {
            for t in JIEBA.cut_for_search(s, true).into_iter().map(|t| t.word) {
                if !STOP_ZH.contains(&t) && !t.trim().is_empty() {
                    out.push(t.to_string());
                }
            }
            s.clear();
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush_word(&mut word, out);
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, out);
            word.push(c);
        } else {
            flush_word(&mut word, out);
            flush_cjk(&mut cjk, out);
        }
    }
    flush_word(&mut word, out);
    flush_cjk(&mut cjk, out);
}

/// The token of a value-set tag (not produced by [`tokenize`]: it has a colon).
pub fn tag(valueset: &str) -> String {
    format!("vs:{valueset}")
}

/// An inverted index with BM25 scoring.
#[derive(Debug, Default)]
pub struct Bm25 {
    /// term → (document, term frequency)
    postings: HashMap<String, Vec<(u32, u32)>>,
    doc_len: Vec<u32>,
    avg_len: f64,
}

impl Bm25 {
    /// Index documents given as token lists.
    pub fn build(docs: &[Vec<String>]) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut doc_len = Vec::with_capacity(docs.len());
        for (d, tokens) in docs.iter().enumerate() {
            let mut tf: HashMap<&str, u32> = HashMap::new();
            for t in tokens {
                *tf.entry(t.as_str()).or_default() += 1;
            }
            for (t, n) in tf {
                postings.entry(t.to_string()).or_default().push((d as u32, n));
            }
            doc_len.push(tokens.len() as u32);
        }
        let avg_len =
            if docs.is_empty() { 1.0 } else { doc_len.iter().map(|&n| n as f64).sum::<f64>() / docs.len() as f64 };
        Self { postings, doc_len, avg_len: avg_len.max(1.0) }
    }

    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// Score every document for the query (weighted terms; repeated terms count once,
    /// with their largest weight). Returns (document, score) for score > 0, best first.
    pub fn search(&self, query: &[(String, f64)]) -> Vec<(usize, f64)> {
        let mut terms: HashMap<&str, f64> = HashMap::new();
        for (t, w) in query {
            let e = terms.entry(t.as_str()).or_insert(0.0);
            *e = e.max(*w);
        }
        let n = self.doc_len.len() as f64;
        let mut scores = vec![0.0f64; self.doc_len.len()];
        for (t, w) in terms {
            let Some(post) = self.postings.get(t) else { continue };
            let df = post.len() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(d, tf) in post {
                let tf = tf as f64;
                let len = self.doc_len[d as usize] as f64;
                scores[d as usize] += w * idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / self.avg_len));
            }
        }
        let mut out: Vec<(usize, f64)> = scores.into_iter().enumerate().filter(|(_, s)| *s > 0.0).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        tokenize(s, &mut v);
        v
    }

    #[test]
    fn chinese_is_segmented_into_words_and_english_lower_cased() {
        let t = toks("社区获得性肺炎应在入院24小时内评估 CURB-65 Severity");
        assert!(t.contains(&"肺炎".to_string()), "{t:?}");
        assert!(t.contains(&"curb".to_string()) && t.contains(&"severity".to_string()), "{t:?}");
        assert!(!t.contains(&"24".to_string()), "bare numbers are dropped");
    }

    #[test]
    fn bm25_ranks_the_matching_document_first() {
        let docs = vec![
            toks("sepsis lactate blood culture"),
            toks("pneumonia antibiotic 肺炎 抗菌药物"),
            toks("stroke thrombolysis"),
        ];
        let idx = Bm25::build(&docs);
        let q: Vec<(String, f64)> = toks("肺炎 antibiotic").into_iter().map(|t| (t, 1.0)).collect();
        let hits = idx.search(&q);
        assert_eq!(hits[0].0, 1);
        assert_eq!(hits.len(), 1);
        assert!(idx.search(&[("unknown".into(), 1.0)]).is_empty());
    }
}
