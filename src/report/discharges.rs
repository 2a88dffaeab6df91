//! The discharge list (front sheet of the medical record, 病案首页) as CSV:
//! a header line naming at least `encounter_id` and `discharge_time`
//! (RFC 3339, or `yyyy-MM-dd HH:mm` in the hospital time zone), optionally
//! `department`; one discharge per line; no quoted commas.

use std::path::Path;

/// One discharge from the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Discharge {
    pub encounter_id: String,
    pub discharge_us: i64,
    pub department: String,
}

/// A problem in the file, as `path:line:col: message`.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct ListError {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

fn time_us(text: &str, tz: chrono_tz::Tz) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").ok()?;
    Some(local.and_local_timezone(tz).earliest()?.timestamp_micros())
}

/// Parse the list; every bad line is an error naming its position.
pub fn parse(path: &Path, text: &str, tz: chrono_tz::Tz) -> Result<Vec<Discharge>, Vec<ListError>> {
    let p = path.display().to_string();
    let err = |line, col, message: String| ListError { path: p.clone(), line, col, message };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(vec![err(1, 1, "empty file: a header line is required".into())]);
    };
    let names: Vec<&str> = header.split(',').map(|h| h.trim().trim_start_matches('\u{feff}')).collect();
    let col = |n: &str| names.iter().position(|h| *h == n);
    let (Some(id_col), Some(time_col)) = (col("encounter_id"), col("discharge_time")) else {
        return Err(vec![err(1, 1, "the header must name encounter_id and discharge_time".into())]);
    };
    let dep_col = col("department");
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for (i, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let column_of = |c: usize| line.split(',').take(c).map(|f| f.len() + 1).sum::<usize>() + 1;
        let id = fields.get(id_col).copied().unwrap_or("");
        if id.is_empty() {
            errors.push(err(i + 1, column_of(id_col), "encounter_id is empty".into()));
            continue;
        }
        let t = fields.get(time_col).copied().unwrap_or("");
        match time_us(t, tz) {
            Some(us) => out.push(Discharge {
                encounter_id: id.to_string(),
                discharge_us: us,
                department: dep_col.and_then(|c| fields.get(c)).copied().unwrap_or("").to_string(),
            }),
            None => errors.push(err(
                i + 1,
                column_of(time_col),
                "discharge_time is not RFC 3339 or yyyy-MM-dd HH:mm".into(),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_time_forms_and_names_bad_lines() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let text = "encounter_id,discharge_time,department\nE1,2026-05-03 10:00,CARD\nE2,2026-05-04T02:00:00Z,ED\n";
        let l = parse(Path::new("d.csv"), text, tz).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].discharge_us,
            chrono::DateTime::parse_from_rfc3339("2026-05-03T02:00:00Z").unwrap().timestamp_micros()
        );
        assert_eq!(l[1].department, "ED");
        let e = parse(Path::new("d.csv"), "encounter_id,discharge_time\nE1,yesterday\n", tz).unwrap_err();
        assert_eq!(e[0].to_string(), "d.csv:2:4: discharge_time is not RFC 3339 or yyyy-MM-dd HH:mm");
    }
}
