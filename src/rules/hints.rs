//! What each class of `rules check` error means and how to fix it, in each locale: the
//! messages themselves quote the script (names, keys, code) and stay as they are; QC staff
//! who read Chinese get a line in Chinese under each. The Chinese guide's table of common
//! errors (§8) is checked against this list (`tests/it/guide.rs`), so the two cannot drift.
use crate::locale::Locale;

/// One class of error: a fragment every message of the class contains, and its explanation.
pub struct Hint {
    pub marker: &'static str,
    /// A message of the class, as the guide's table shows it.
    pub example: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

/// Every class, most specific first (the first whose marker a message contains explains it).
pub const HINTS: &[Hint] = &[
    Hint {
        marker: "is declared but evaluate() never returns it",
        example: "outcome 'met:glucose_within' is declared but evaluate() never returns it",
        zh: "声明了但从不返回的结果：删除声明，或补上返回它的分支（常与拼错的结果键同一原因）",
        en: "a declared outcome nothing returns: remove it, or add the branch that returns it (often the same cause as a misspelt key)",
    },
    Hint {
        marker: "is not declared in meta().outcomes",
        example: "outcome 'met:glucose_witin' is not declared in meta().outcomes.met — did you mean 'glucose_within'?",
        zh: "结果键拼错或未在 meta().outcomes 中声明：按提示改正，或在 meta() 中声明它和它的中英文文字",
        en: "the reason key is misspelt or not declared in meta().outcomes: fix it as suggested, or declare it with its texts",
    },
    Hint {
        marker: "but this call gives no '",
        example: "outcome 'met:glucose_within' uses {minutes} but this call gives no 'minutes' value",
        zh: "文字中有占位符 {…}，返回结果时没有给出它的值：在调用中补上同名的值",
        en: "a text uses a {placeholder} this call gives no value for: pass a value of that name",
    },
    Hint {
        marker: "text (rules.locales)",
        example: "outcomes.met.glucose_within has no en text (rules.locales)",
        zh: "某个标题或结果缺少中文或英文文字：每种配置的语言（rules.locales）都要写",
        en: "a title or outcome lacks the text of a configured language (rules.locales): write both",
    },
    Hint {
        marker: "unknown function '",
        example: "unknown function 'minute_between' — did you mean 'minutes_between'?",
        zh: "函数名写错，或使用了不存在的函数：按提示改为最接近的函数名（可用函数见英文版指南的函数表）",
        en: "a misspelt or unknown function: use the suggested name (the English guide lists every function)",
    },
    Hint {
        marker: "argument(s); it takes",
        example: "function 'minutes_between' called with 1 argument(s); it takes 2",
        zh: "函数的参数个数不对：按提示的个数传参",
        en: "the function takes a different number of arguments: pass as many as it takes",
    },
    Hint {
        marker: "unknown value set '",
        example: "unknown value set 'statins' — did you mean 'statin'?",
        zh: "valuesets/ 中没有这个值集：检查拼写（提示最接近的值集），或按第 5 节新建值集",
        en: "no value set of that name in valuesets/: check the spelling, or add the value set",
    },
    Hint {
        marker: "unknown encounter property 'enc.",
        example: "unknown encounter property 'enc.arival'",
        zh: "病例中没有这个字段：字段名见第 10 节和数据目录 docs/DATA-CATALOGUE.md",
        en: "the encounter has no such property: see the data catalogue docs/DATA-CATALOGUE.md",
    },
    Hint {
        marker: "unknown encounter field '",
        example: "unknown encounter field 'arival_time' (one of: …)",
        zh: "field_evidence 的字段名不在允许的列表中：按括号中的列表改正",
        en: "field_evidence names a field not in the list: use one of those listed",
    },
    Hint {
        marker: "unknown measure set '",
        example: "unknown measure set 'NHC-2021' (known: …) — did you mean 'NHC-2022'?",
        zh: "指标集名称不在允许的列表中（NHC-2022、NHC-2020、CMS、TJC……）：按提示改正",
        en: "the measure set is not one of the known sets: use one of those listed",
    },
    Hint {
        marker: "missing metadata field '",
        example: "missing metadata field 'measure'",
        zh: "meta() 缺少必填字段：补上该字段（字段说明见第 2 节）",
        en: "meta() lacks a required field: add it",
    },
    Hint {
        marker: "unknown metadata field '",
        example: "unknown metadata field 'titel' (allowed: …) — did you mean 'title'?",
        zh: "meta() 中有不认识的字段：多半是拼错，按提示改正",
        en: "meta() has a field cdssd does not know: most likely misspelt; fix it as suggested",
    },
    Hint {
        marker: "(<pack>.<file name>)",
        example: "rule id 'stemi.x' must be 'stemi.y' (<pack>.<file name>)",
        zh: "规则编号必须是“规则包名.文件名”：改 id 或改文件名，使两者一致",
        en: "a rule id must be <pack>.<file name>: change the id or rename the file",
    },
    Hint {
        marker: "Variable not found",
        example: "Variable not found: x",
        zh: "变量未用 let 声明就使用了（或拼错了变量名）",
        en: "a variable used before `let` declares it (or misspelt)",
    },
    Hint {
        marker: "function not found: ",
        example: "function not found: minutes_between (Time, ()) — a value passed to it is missing …",
        zh: "传给函数的某个值没有记录（是 ()）：先用 is_time(x) 或 x == () 判断",
        en: "a value passed to the function was not recorded (it is ()): test it with is_time(x) or x == () first",
    },
    Hint {
        marker: "(an endless loop?)",
        example: "stopped: the rule used more operations than allowed (an endless loop?)",
        zh: "运行超出限制（多半是死循环）：检查循环的结束条件；规则集被整体拒绝",
        en: "the rule ran past its limits (an endless loop?): check the loop's exit; the set is rejected",
    },
    Hint {
        marker: "(recursion without an end?)",
        example: "stopped: too many nested function calls (recursion without an end?)",
        zh: "函数调用嵌套过深（多半是没有终止条件的递归）；规则集被整体拒绝",
        en: "calls nested too deep (recursion without an end?); the set is rejected",
    },
];

/// The guide's table of common errors (§8 of `rules/README.zh-CN.md`), one row per class.
pub fn guide_table() -> String {
    let mut out = String::from("| 错误信息 | 含义与处理 |\n|---|---|\n");
    for h in HINTS {
        out.push_str(&format!("| `{}` | {} |\n", h.example, h.zh));
    }
    out
}

/// The explanation of `message` in `l`, when its class is known.
pub fn hint(message: &str, l: Locale) -> Option<&'static str> {
    HINTS.iter().find(|h| message.contains(h.marker)).map(|h| l.pick(h.zh, h.en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_both_texts_and_the_first_matching_marker_explains() {
        for h in HINTS {
            assert!(crate::locale::has_chinese(h.zh) && !crate::locale::has_chinese(h.en), "{}", h.marker);
        }
        // Each example is explained by its own class (the order puts specific markers first).
        for h in HINTS {
            assert_eq!(hint(h.example, Locale::ZhCn), Some(h.zh), "{}", h.example);
            assert!(!h.example.contains('|') && !h.example.contains('`'), "a table cell: {}", h.example);
        }
        let m =
            "stroke/x.rhai:24:17: outcome 'met:a' is declared but evaluate() never returns it (no met(\"a\", …) call)";
        assert!(hint(m, Locale::ZhCn).unwrap().starts_with("声明了但从不返回"));
        assert!(hint("unknown value set 'statins' — did you mean 'statin'?", Locale::En)
            .unwrap()
            .contains("value set"));
        assert_eq!(hint("something else entirely", Locale::ZhCn), None);
    }
}
