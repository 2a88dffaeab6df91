//! The HTML report: one self-contained file (no external assets, no script),
//! the same table in zh-CN and in English (`<section lang=…>`), and an inline
//! SVG run chart (rate by discharge month) per measure.

use std::fmt::Write;

use super::{
    render::{ci, ci_of, coverage_line, figure_name, iqr, num, override_text, pct, Lang},
    MeasureRow, Report,
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG line chart of the monthly rates (0–100 %), one point per month.
fn run_chart(m: &MeasureRow, title: &str) -> String {
    let (w, h, pad) = (360.0_f64, 120.0_f64, 24.0_f64);
    let months: Vec<(&String, Option<f64>)> = m.months.iter().map(|(k, c)| (k, c.rate())).collect();
    let n = months.len().max(1) as f64;
    let x = |i: usize| pad + (w - 2.0 * pad) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 };
    let y = |r: f64| h - pad - (h - 2.0 * pad) * r;
    let mut svg = format!(
        "<svg class=\"run-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(svg, "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>", y(0.0), w - pad, y(0.0));
    let _ = write!(svg, "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>", y(1.0), w - pad, y(1.0));
    let pts: Vec<String> =
        months.iter().enumerate().filter_map(|(i, (_, r))| r.map(|r| format!("{:.1},{:.1}", x(i), y(r)))).collect();
    if pts.len() > 1 {
        let _ =
            write!(svg, "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" points=\"{}\"/>", pts.join(" "));
    }
    for (i, (month, r)) in months.iter().enumerate() {
        if let Some(r) = r {
            let _ = write!(
                svg,
                "<circle class=\"point\" data-month=\"{month}\" data-rate=\"{r:.4}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f5fa8\"/>",
                x(i),
                y(*r)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{month}</text>",
            x(i),
            h - 6.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn section(r: &Report, lang: Lang) -> String {
    let l = lang.labels();
    let code = match lang {
        Lang::En => "en",
        Lang::ZhCn => "zh-CN",
    };
    let mut s = format!("<section lang=\"{code}\">\n<h1>{}</h1>\n", l.title);
    let _ = writeln!(
        s,
        "<p>{} {} .. {} · {}: {} · {}: <span class=\"encounters\">{}</span></p>",
        l.period,
        esc(&r.from),
        esc(&r.to),
        l.department,
        esc(r.department.as_deref().unwrap_or(l.all_departments)),
        l.encounters,
        r.encounters
    );
    let _ = writeln!(s, "<p class=\"coverage\">{}</p>", esc(&coverage_line(r, lang)));
    let _ = writeln!(
        s,
        "<table class=\"measures\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        l.item,
        l.measure,
        l.denominator,
        l.met,
        l.not_met,
        l.excluded,
        l.pending,
        l.missing_data,
        l.error,
        l.rate,
        l.ci
    );
    let mut set = None;
    for m in &r.measures {
        if set != Some(&m.measure_set) {
            let _ = writeln!(
                s,
                "<tr class=\"measure-set\"><th colspan=\"11\">{}: {}</th></tr>",
                l.measure_set,
                esc(&m.measure_set)
            );
            set = Some(&m.measure_set);
        }
        let c = &m.counts;
        let _ = writeln!(
            s,
            "<tr data-rule=\"{}\" data-set=\"{}\"><td class=\"item\">{}</td><td>{}<br><small>{}</small></td><td class=\"den\">{}</td><td class=\"met\">{}</td><td class=\"not-met\">{}</td><td class=\"excluded\">{}</td><td class=\"pending\">{}</td><td class=\"missing-data\">{}</td><td class=\"error\">{}</td><td class=\"rate\">{}</td><td>{}</td></tr>",
            esc(&m.rule_id),
            esc(&m.measure_set),
            esc(&m.measure_id),
            esc(&m.rule_id),
            esc(&m.measure),
            c.denominator,
            c.met,
            c.not_met,
            c.excluded,
            c.pending,
            c.missing_data,
            c.error,
            pct(c.rate()),
            ci(c)
        );
    }
    s.push_str("</tbody></table>\n");
    for m in &r.measures {
        let _ = writeln!(s, "<div class=\"measure\" data-rule=\"{}\"><h2>{}</h2>", esc(&m.rule_id), esc(&m.rule_id));
        let _ = writeln!(s, "<h3>{}</h3>{}", l.run_chart, run_chart(m, &format!("{} {}", m.rule_id, l.run_chart)));
        if !m.not_met.is_empty() {
            let items: String = m.not_met.iter().map(|e| format!("<li>{}</li>", esc(e))).collect();
            let _ = writeln!(s, "<h3>{}</h3><ul class=\"not-met-list\">{items}</ul>", l.not_met_list);
        }
        s.push_str("</div>\n");
    }
    figures(&mut s, r, lang);
    if !r.overrides.is_empty() {
        let _ = writeln!(s, "<h2>{}</h2><ul class=\"overrides\">", l.overrides);
        for o in &r.overrides {
            let flag =
                if o.flagged { format!(" <strong class=\"flagged\">{}</strong>", l.flagged) } else { String::new() };
            let _ = writeln!(s, "<li>{}{flag}</li>", esc(&override_text(o)));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
    s
}

fn figures(s: &mut String, r: &Report, lang: Lang) {
    let (l, f) = (lang.labels(), &r.figures);
    if !f.continuous.is_empty() {
        let _ = writeln!(
            s,
            "<h2>{}</h2><table class=\"continuous\"><thead><tr><th>{}</th><th>n</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            l.continuous, l.measure, l.median, l.iqr
        );
        for c in &f.continuous {
            let _ = writeln!(
                s,
                "<tr data-figure=\"{}\"><td>{}<br><small>{} {} · {}</small></td><td class=\"n\">{}</td><td class=\"median\">{}</td><td class=\"iqr\">{}</td></tr>",
                c.figure,
                figure_name(&c.figure, lang),
                esc(&c.measure_set),
                esc(&c.measure_id),
                esc(&c.rule_id),
                c.n,
                num(c.median),
                iqr(c)
            );
        }
        s.push_str("</tbody></table>\n");
    }
    if !f.conditions.is_empty() {
        let _ = writeln!(
            s,
            "<h2>{}</h2><table class=\"conditions\"><thead><tr><th>{}</th><th>n</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            l.conditions, l.condition, l.died, l.mortality, l.ci, l.antimicrobial_treated, l.mean_antimicrobial_days
        );
        for c in &f.conditions {
            let _ = writeln!(
                s,
                "<tr data-condition=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"died\">{}</td><td class=\"mortality\">{}</td><td>{}</td><td class=\"treated\">{}</td><td class=\"mean-days\">{}</td></tr>",
                esc(&c.pack),
                esc(&c.pack),
                c.encounters,
                c.died,
                pct(c.mortality()),
                ci_of(c.mortality_ci()),
                c.antimicrobial_treated,
                num(c.mean_antimicrobial_days())
            );
        }
        s.push_str("</tbody></table>\n");
    }
}

/// The whole file.
pub fn html(r: &Report) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>单病种质控报表 / Single-disease QC report</title>\n\
         <style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
         td:first-child{{text-align:left}}section{{margin-bottom:3em}}</style></head><body>\n{}{}</body></html>\n",
        section(r, Lang::ZhCn),
        section(r, Lang::En)
    )
}
