//! Vocabularies shared by the configuration and the rule loader (a leaf module, so
//! that `config` need not import `rules`): the known measure sets, and the
//! "did you mean" suggestion every name check prints.

/// Measure sets a rule may name in `measure_set` (an unknown one is a load error).
/// `NHC-2022`: 三级医院评审标准（2022 年版）chapter 4 and the single-disease indicators it
/// adopts; `NHC-2020`: 单病种质量监测信息项（2020 年版）; `NHC-2015`: 抗菌药物临床应用指导原则
/// （2015 年版） and 重症医学专业医疗质量控制指标（2015 年版）; `CMS`/`TJC`/`SCIP`: US chart-abstracted measures; `AHA`: AHA/ASA Get With The Guidelines programme measures (Target: Stroke); `LOCAL`: a hospital's own.
pub const MEASURE_SETS: &[&str] = &["NHC-2022", "NHC-2020", "NHC-2015", "CMS", "TJC", "SCIP", "AHA", "LOCAL"];

/// " — did you mean 'x'?" for the closest of `known` (edit distance ≤ 2 or a shared prefix), else "".
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    let w = word.to_ascii_lowercase();
    let best = known
        .iter()
        .map(|k| (edit_distance(&w, &k.to_ascii_lowercase()), *k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= 2.max(w.len() / 4) && *d < k.len().max(w.len()));
    match best {
        Some((_, k)) => format!(" — did you mean '{k}'?"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
