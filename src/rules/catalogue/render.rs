//! Markdown of the data catalogue: a quick index of the data rule authors ask for most,
//! the lists and their queries, every contract field with what scripts read of it, every
//! value set with the list, time, unit and codes, the known quantities and the mapping
//! tables. Headings and explanations in zh-CN and en; the contract's comments (English)
//! are quoted as they are.
use std::collections::BTreeSet;
use std::fmt::Write;

use super::api::{self, QueryDoc};
use super::Inputs;
use crate::encounter::units::QUANTITIES;

/// What a quick-index row points at.
enum Topic {
    /// A value set (the list, time, unit and query come from the rules that read it).
    Set(&'static str),
    /// A contract field (message, field).
    Field(&'static str, &'static str),
    /// A value set as read by one query (value set, query).
    Via(&'static str, &'static str),
    /// A known quantity of `encounter::units` (by name) that no shipped value set lists.
    Quantity(&'static str),
}
use Topic::*;

/// The quick index: (zh, en, topic).
const INDEX: &[(&str, &str, Topic)] = &[
    ("到院时间（多数指标的时间零点）", "Arrival (time zero of most measures)", Field("Encounter", "arrival_time")),
    ("发病时间", "Symptom onset", Field("Encounter", "symptom_onset_time")),
    ("最后正常时间（卒中）", "Last known well (stroke)", Field("Encounter", "last_known_well_time")),
    ("到院方式（急救车）", "Arrival mode (EMS)", Field("Encounter", "arrival_mode")),
    ("心电图", "ECG", Set("ecg")),
    ("院前心电图", "Pre-hospital ECG", Field("Encounter", "prehospital_ecg_time")),
    ("肌钙蛋白", "Troponin", Quantity("troponin")),
    ("PCI", "PCI", Set("pci")),
    ("PCI 导丝通过时间", "PCI guidewire crossing time", Field("Procedure", "guidewire_crossing_time")),
    ("左室射血分数 LVEF", "LVEF", Set("lvef")),
    ("NIHSS 评分", "NIHSS score", Set("nihss")),
    ("吞咽筛查", "Dysphagia screen", Set("dysphagia_screen")),
    ("静脉溶栓（卒中）", "IV thrombolysis (stroke)", Set("iv_thrombolytic_stroke")),
    ("乳酸", "Lactate", Set("lactate")),
    ("血培养", "Blood culture", Set("blood_culture")),
    ("抗菌药物", "Antibiotics", Set("antibiotic")),
    ("晶体液补液", "Crystalloid fluids", Set("crystalloid")),
    ("血管活性药", "Vasopressors", Set("vasopressor")),
    ("VTE 药物预防", "VTE pharmacological prophylaxis", Set("vte_pharm_prophylaxis")),
    ("VTE 机械预防", "VTE mechanical prophylaxis", Set("vte_mechanical_prophylaxis")),
    ("Padua 评分", "Padua score", Set("padua_score")),
    ("Caprini 评分", "Caprini score", Set("caprini_score")),
    ("围术期预防用抗菌药物", "Perioperative antibiotic prophylaxis", Set("periop_prophylaxis")),
    ("切皮时间", "Incision time", Field("Procedure", "start_time")),
    ("出院带药", "Discharge prescriptions", Field("MedicationOrder", "discharge_medication")),
    ("阿司匹林", "Aspirin", Set("aspirin")),
    ("未给药原因（类别）", "Reason not given (class)", Field("MedicationAdministration", "reason_class")),
    ("未给药原因（医疗原因编码）", "Reason not given (medical, coded)", Set("reason_medical")),
    ("仅舒适护理 / 临床试验", "Comfort measures only / clinical trial", Field("Encounter", "care_documentation")),
    ("ICU/CCU（重症医学科）入住", "ICU/CCU stay", Field("Encounter", "locations")),
    ("首次住院", "First admission", Field("Encounter", "first_admission")),
    ("既往 VTE", "Prior VTE", Via("vte_diagnosis", "has_prior_diagnosis")),
];

/// Index topics that name nothing (a value set, field or quantity that does not exist).
pub fn check_index(i: &Inputs) -> Vec<String> {
    INDEX
        .iter()
        .filter_map(|(_, en, t)| {
            let ok = match t {
                Set(s) => i.set.value_sets.contains(s),
                Via(s, q) => i.set.value_sets.contains(s) && api::query(q).is_some(),
                Field(m, f) => i.contract.field(m, f).is_some(),
                Quantity(q) => QUANTITIES.iter().any(|x| x.name == *q),
            };
            (!ok).then(|| format!("catalogue index '{en}': no such value set, contract field or quantity"))
        })
        .collect()
}

/// Escape a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The parts of a `FIELDS` script text, split at commas outside parentheses.
fn parts(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A `FIELDS` script text with each property or query in code style (`.time`,
/// `enc.arrival`, `enc.given(vs)`) and its remark in plain text.
fn code_list(s: &str) -> String {
    parts(s)
        .into_iter()
        .map(|p| {
            if !(p.starts_with('.') || p.starts_with("enc.")) {
                return cell(p);
            }
            let end = match (p.find('('), p.find(' ')) {
                (Some(a), s) if s.is_none_or(|s| a < s) => p.find(')').map_or(p.len(), |i| i + 1),
                (_, Some(s)) => s,
                _ => p.len(),
            };
            let (head, rest) = p.split_at(end);
            format!("`{head}`{}", cell(rest))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonical units of the known quantities whose LOINC codes the set lists.
fn units_of(i: &Inputs, set: &str) -> Vec<&'static str> {
    let mut out = BTreeSet::new();
    for inc in i.includes.get(set).into_iter().flatten().filter(|x| x.system.eq_ignore_ascii_case("LOINC")) {
        for c in &inc.codes {
            if let Some(q) = crate::encounter::units::known(c) {
                out.insert(q.canonical);
            }
        }
    }
    out.into_iter().collect()
}

/// `(query doc, packs)` of every query that reads `set`.
fn reads<'a>(i: &'a Inputs, set: &str) -> Vec<(&'static QueryDoc, &'a BTreeSet<String>)> {
    i.usage.get(set).into_iter().flatten().filter_map(|(q, packs)| api::query(q).map(|d| (d, packs))).collect()
}

fn call_with(q: &QueryDoc, set: &str) -> String {
    format!("`{}`", q.call.replace("vs)", &format!("\"{set}\")")))
}

fn time_of(q: &QueryDoc) -> String {
    q.time.map_or("—".to_string(), |t| format!("`{}.{t}` (`.time`)", q.message))
}

fn lists_of(q: &QueryDoc) -> String {
    q.lists.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
}

fn intro(out: &mut String, i: &Inputs) {
    let _ = writeln!(out, "# 数据目录 · Data catalogue\n");
    let _ = writeln!(
        out,
        "<!-- Generated by `cdssd rules catalogue --out {}`; do not edit by hand: tests/it/catalogue.rs fails when this file differs from the generator's output. -->\n",
        super::PATH
    );
    out.push_str(
        "**中文** 本目录告诉质控规则编写者与接口集成人员：每一类数据从就诊（Encounter）的哪个列表传入、\
         用哪些编码识别（值集及其编码，本地编码经映射表）、以哪个时间字段计时、换算到什么标准单位、\
         规则脚本用哪个查询读取。它由程序生成（`cdssd rules catalogue`），来源是接口契约 \
         `proto/cdss/v1/*.proto` 的注释、规则接口表（`src/rules/catalogue/api.rs`）、`rules/valuesets/`、\
         `rules/mappings/` 与规则脚本实际的查询，因此不会与契约脱节；契约注释为英文，原样引用。\
         规则写法见 [`rules/README.md`](../rules/README.md)。\n\n",
    );
    out.push_str(
        "**English** For QC rule authors and EMR integrators: for each kind of data, the encounter list it \
         arrives in, the codes that identify it (value set and its codes; local codes through the mapping \
         tables), the time field that counts, its canonical unit and the script query that reads it. Generated \
         (`cdssd rules catalogue`) from the comments of the contract `proto/cdss/v1/*.proto`, the rule API \
         tables (`src/rules/catalogue/api.rs`), `rules/valuesets/`, `rules/mappings/` and the queries the rule \
         scripts make, so it cannot drift from them; the contract's comments are quoted in English as written. \
         How to write rules: [`rules/README.md`](../rules/README.md).\n\n",
    );
    let _ = writeln!(
        out,
        "Rule set · 规则集: {} packs, {} rules, {} value sets, {} mapping tables (default configuration · 默认配置).\n",
        i.set.packs.len(),
        i.set.rule_count(),
        i.set.value_sets.len(),
        i.set.value_sets.mappings().tables.len()
    );
    out.push_str(
        "- [1. 常用数据速查 · Quick index](#quick-index)\n- [2. 列表与查询 · Lists and queries](#lists)\n\
         - [3. 契约字段 · Contract fields](#fields)\n- [4. 值集 · Value sets](#value-sets)\n\
         - [5. 已知计量与单位 · Known quantities and units](#units)\n- [6. 映射表 · Mapping tables](#mappings)\n\n",
    );
}

fn index(out: &mut String, i: &Inputs) {
    out.push_str("## <a id=\"quick-index\"></a>1. 常用数据速查 · Quick index\n\n");
    out.push_str("| 数据 | Data | 列表 · List | 编码 · Codes | 时间 · Time | 单位 · Unit | 脚本 · Script |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (zh, en, t) in INDEX {
        let (list, codes, time, unit, script) = match t {
            Set(s) => {
                let r = reads(i, s);
                let lists: BTreeSet<String> = r.iter().map(|(q, _)| lists_of(q)).collect();
                let times: BTreeSet<String> =
                    r.iter().filter(|(q, _)| q.time.is_some()).map(|(q, _)| time_of(q)).collect();
                let calls: Vec<String> = r.iter().map(|(q, _)| call_with(q, s)).collect();
                let units = units_of(i, s);
                (
                    lists.into_iter().collect::<Vec<_>>().join(", "),
                    format!("[`{s}`](#vs-{s})"),
                    times.into_iter().collect::<Vec<_>>().join(", "),
                    units.join(", "),
                    calls.join(", "),
                )
            }
            Via(s, q) => {
                let d = api::query(q).expect("checked by check_index");
                (lists_of(d), format!("[`{s}`](#vs-{s})"), time_of(d), units_of(i, s).join(", "), call_with(d, s))
            }
            Field(m, f) => {
                let ty = i.contract.field(m, f).map_or("", |x| x.type_name.as_str());
                let lists = match ty.strip_prefix("repeated ") {
                    Some(_) if *m == "Encounter" => f,
                    _ => api::ITEM_MESSAGES.iter().find(|(x, _)| x == m).map_or("", |(_, l)| l),
                };
                let time = if ty.ends_with("Timestamp") { format!("`{m}.{f}`") } else { String::new() };
                (
                    format!("`{lists}`"),
                    format!("[`{m}.{f}`](#{})", m.to_ascii_lowercase()),
                    time,
                    String::new(),
                    code_list(api::script_of(m, f)),
                )
            }
            Quantity(q) => {
                let k = QUANTITIES.iter().find(|x| x.name == *q).expect("checked by check_index");
                (
                    "`labs`".to_string(),
                    format!("LOINC {} ([units](#units)); no shipped value set · 未随附值集", k.loinc.join(", ")),
                    "`Observation.effective_time` (`.time`)".to_string(),
                    k.canonical.to_string(),
                    "`enc.labs(\"<your value set>\")`".to_string(),
                )
            }
        };
        let dash = |s: String| if s.is_empty() { "—".to_string() } else { s };
        let _ = writeln!(
            out,
            "| {zh} | {en} | {} | {} | {} | {} | {} |",
            dash(list),
            codes,
            dash(time),
            dash(unit),
            dash(script)
        );
    }
    out.push('\n');
}

fn lists(out: &mut String) {
    out.push_str("## <a id=\"lists\"></a>2. 列表与查询 · Lists and queries\n\n");
    out.push_str(
        "每个查询以值集名为参数，返回按时间排序（最早在前）的条目；条目的任一编码命中值集即匹配。\
         Each query takes a value-set name and returns the matching items sorted by time, earliest first; an \
         item matches when any of its codings is in the set.\n\n",
    );
    out.push_str("| 查询 · Query | 列表 · List | 条目 · Item | 匹配的编码字段 · Codes matched | 时间 · Time | 中文 | English |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for q in api::QUERIES {
        let codes: Vec<String> = q.codes.iter().map(|c| format!("`{c}`")).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | [`{}`](#{}) | {} | {} | {} | {} |",
            q.call,
            lists_of(q),
            q.message,
            q.message.to_ascii_lowercase(),
            codes.join(", "),
            time_of(q),
            q.zh,
            q.en
        );
    }
    out.push_str(
        "\n从不提供给规则：状态为 cancelled 或 entered-in-error 的观察项，核实状态为 refuted 或 entered-in-error 的诊断。\
         Never seen by a rule: observations with status cancelled or entered-in-error, diagnoses verified as \
         refuted or entered-in-error.\n\n",
    );
}

fn fields(out: &mut String, i: &Inputs) {
    out.push_str("## <a id=\"fields\"></a>3. 契约字段 · Contract fields\n\n");
    out.push_str(
        "每个消息的全部字段（按契约顺序）、规则脚本读到的属性（— 表示规则不读取），以及契约注释。\
         Every field of each message in contract order, what scripts read of it (— when rules do not read it) \
         and the contract's comment.\n\n",
    );
    for (m, lists) in api::ITEM_MESSAGES {
        let Some(msg) = i.contract.messages.get(*m) else { continue };
        let _ = writeln!(out, "### <a id=\"{}\"></a>`{m}`\n", m.to_ascii_lowercase());
        let _ = writeln!(out, "{} — 列表 · lists: `{lists}` — `{}`\n", cell(&msg.doc), msg.file);
        out.push_str("| 字段 · Field | 类型 · Type | 脚本 · Script | 契约注释 · Contract |\n|---|---|---|---|\n");
        for f in &msg.fields {
            let mut script = code_list(api::script_of(m, &f.name));
            if *m == "Encounter" {
                // A list: the queries that read it.
                let calls: Vec<String> = api::QUERIES
                    .iter()
                    .filter(|q| q.lists.contains(&f.name.as_str()))
                    .map(|q| format!("`{}`", q.call))
                    .collect();
                if !calls.is_empty() {
                    script =
                        [script, calls.join(", ")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
                }
            }
            let script = if script.is_empty() { "—".to_string() } else { script };
            let _ = writeln!(out, "| `{}` | `{}` | {} | {} |", f.name, f.type_name, script, cell(&f.doc));
        }
        out.push('\n');
    }
}

fn value_sets(out: &mut String, i: &Inputs) {
    out.push_str("## <a id=\"value-sets\"></a>4. 值集 · Value sets\n\n");
    out.push_str(
        "“读取”列出规则脚本实际使用的查询（及使用它的规则包）；本地编码只有经 `rules/mappings/` 映射后才会出现在“映射编码”。\
         \"Read as\" lists the queries the rule scripts actually make (and the packs making them); local codes \
         appear under \"Mapped codes\" only through a table in `rules/mappings/`.\n\n",
    );
    for vs in i.set.value_sets.iter() {
        let name = &vs.name;
        let _ = writeln!(out, "### <a id=\"vs-{name}\"></a>`{name}`\n");
        let _ = writeln!(out, "{} — `rules/{}`", cell(&vs.description), vs.path);
        if !vs.source.is_empty() {
            let _ = writeln!(out, "(source: {})", cell(&vs.source));
        }
        out.push('\n');
        let r = reads(i, name);
        if r.is_empty() {
            out.push_str("- 读取 · Read as: 规则脚本未直接查询 · not queried by a rule script directly\n");
        }
        for (q, packs) in &r {
            let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "- 读取 · Read as: {} → {} ({}); 时间 · time: {}",
                call_with(q, name),
                lists_of(q),
                packs.join(", "),
                time_of(q)
            );
        }
        let units = units_of(i, name);
        if !units.is_empty() {
            let _ = writeln!(out, "- 单位 · Unit: {}", units.join(", "));
        }
        for inc in i.includes.get(name).into_iter().flatten() {
            let mut parts: Vec<String> = inc.codes.iter().map(|c| format!("`{c}`")).collect();
            parts.extend(inc.prefixes.iter().map(|p| format!("`{p}`…")));
            parts.extend(inc.ranges.iter().map(|r| format!("`{r}` (range)")));
            let _ = writeln!(out, "- {}: {}", inc.system, parts.join(", "));
        }
        let mapped = i.mapped.get(name).map_or(&[][..], Vec::as_slice);
        if !mapped.is_empty() {
            let rows: Vec<String> = mapped
                .iter()
                .map(
                    |(t, s, c, d)| {
                        if d.is_empty() {
                            format!("`{s}:{c}` ({t})")
                        } else {
                            format!("`{s}:{c}` {} ({t})", cell(d))
                        }
                    },
                )
                .collect();
            let _ = writeln!(out, "- 映射编码 · Mapped codes: {}", rows.join(", "));
        }
        out.push('\n');
    }
}

fn units(out: &mut String) {
    out.push_str("## <a id=\"units\"></a>5. 已知计量与单位 · Known quantities and units\n\n");
    out.push_str(
        "这些 LOINC 编码的数值必须使用下列单位之一，并换算为标准单位后交给规则（`.value`，`.unit` 为标准单位）；\
         单位比较不区分大小写（`mmol/l` 即 `mmol/L`），其他单位是输入错误。\
         Values of these LOINC codes must come in one of the accepted units and reach rules converted to the \
         canonical unit (`.value`; `.unit` is the canonical unit); units compare case-insensitively (`mmol/l` is \
         `mmol/L`); any other unit is an input error.\n\n",
    );
    out.push_str("| 计量 · Quantity | LOINC | 标准单位 · Canonical | 接受的单位 · Accepted |\n|---|---|---|---|\n");
    for q in QUANTITIES {
        let accepted: Vec<String> = q.accepts.iter().map(|(u, _, _)| format!("`{u}`")).collect();
        let loinc: Vec<String> = q.loinc.iter().map(|c| format!("`{c}`")).collect();
        let _ = writeln!(out, "| {} | {} | `{}` | {} |", q.name, loinc.join(", "), q.canonical, accepted.join(", "));
    }
    out.push('\n');
}

fn mappings(out: &mut String, i: &Inputs) {
    out.push_str("## <a id=\"mappings\"></a>6. 映射表 · Mapping tables\n\n");
    out.push_str(
        "本地编码（医院药品字典、LIS 检验编码、医保药品编码）需先在配置中声明，再在 `rules/mappings/` 建表映射到标准编码或值集，\
         见 [`rules/mappings/README.md`](../rules/mappings/README.md)。\
         Local codes (hospital drug dictionary, LIS test codes, national insurance drug codes) are declared in the \
         configuration and mapped in `rules/mappings/` to standard codes or value sets; see \
         [`rules/mappings/README.md`](../rules/mappings/README.md).\n\n",
    );
    out.push_str("| 表 · Table | 编码系统 · System | 行数 · Rows | 说明 · Description |\n|---|---|---|---|\n");
    for t in &i.set.value_sets.mappings().tables {
        let _ = writeln!(out, "| `{}` | `{}` | {} | {} |", t.path, t.system, t.entries.len(), cell(&t.description));
    }
}

/// The whole document.
pub fn document(i: &Inputs) -> String {
    let mut out = String::new();
    intro(&mut out, i);
    index(&mut out, i);
    lists(&mut out);
    fields(&mut out, i);
    value_sets(&mut out, i);
    units(&mut out);
    mappings(&mut out, i);
    out
}
