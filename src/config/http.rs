//! The `[http]` section: the HTTP listener (proto3 JSON at `POST /v1/evaluate`, the CDS
//! Hooks 2.0 service under `/cds-services`), its CORS allow-list and the links of CDS Hooks
//! cards, with their validation (fail closed: an origin or URL that is not exactly what is
//! documented stops the daemon from starting).

use serde::Deserialize;

use super::ConfigProblem;

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Listen address; "" disables the listener.
    pub listen: String,
    /// Serve the CDS Hooks service (`GET /cds-services`, `POST /cds-services/{id}`,
    /// `POST /cds-services/{id}/feedback`) on this listener.
    pub cds_hooks: bool,
    /// Browser origins allowed to call this listener (CORS), each exactly
    /// `scheme://host[:port]` (http or https, no path, no wildcard); empty = no CORS
    /// headers at all (browsers refuse cross-origin calls).
    pub cors_allowed_origins: Vec<String>,
    /// A card's link to the measure text: an absolute http(s) URL template with
    /// `{rule_id}`, `{pack}`, `{measure_set}`, `{measure_id}` (URL-encoded when filled);
    /// "" = no such link (and no `source.url`).
    pub cds_measure_url: String,
    /// A card's link to where a reason for not meeting a measure can be documented (the
    /// EMR's form): an absolute http(s) URL template with `{rule_id}` and `{card_uuid}`;
    /// "" = no such link.
    pub cds_reason_url: String,
}

/// Placeholders each card URL template may use.
pub const MEASURE_URL_FIELDS: &[&str] = &["rule_id", "pack", "measure_set", "measure_id"];
/// Placeholders of `http.cds_reason_url`.
pub const REASON_URL_FIELDS: &[&str] = &["rule_id", "card_uuid"];

impl HttpSettings {
    /// Every problem of the section.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |key: String, message: String| p.push(ConfigProblem::new(format!("http.{key}"), message));
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            bad(
                "listen".into(),
                format!("`{}` is not a socket address like 127.0.0.1:8080 (or \"\" to disable)", self.listen),
            );
        }
        for (i, o) in self.cors_allowed_origins.iter().enumerate() {
            if let Err(m) = check_origin(o) {
                bad(format!("cors_allowed_origins[{i}]"), m);
            }
        }
        for (key, template, fields) in [
            ("cds_measure_url", &self.cds_measure_url, MEASURE_URL_FIELDS),
            ("cds_reason_url", &self.cds_reason_url, REASON_URL_FIELDS),
        ] {
            if let Err(m) = check_template(template, fields) {
                bad(key.into(), m);
            }
        }
        p
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing more.
pub fn check_origin(o: &str) -> Result<(), String> {
    let shape = "is not an origin like https://emr.example.org or http://localhost:3000 \
                 (scheme, host and optional port; no path, no trailing slash, no wildcard)";
    if o == "*" || o.contains('*') {
        return Err(format!("`{o}`: wildcards are not allowed; list each origin ({shape})"));
    }
    let uri: axum::http::Uri = o.parse().map_err(|_| format!("`{o}` {shape}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority_ok = uri.authority().is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'));
    let bare = uri.path_and_query().is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/") && !o.ends_with('/');
    if scheme_ok && authority_ok && bare && o.parse::<axum::http::HeaderValue>().is_ok() {
        Ok(())
    } else {
        Err(format!("`{o}` {shape}"))
    }
}

/// A URL template: "" or an absolute http(s) URL whose `{placeholders}` are all in `fields`.
fn check_template(t: &str, fields: &[&str]) -> Result<(), String> {
    if t.is_empty() {
        return Ok(());
    }
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else {
            return Err(format!("`{t}` has an unclosed `{{`"));
        };
        let name = &rest[i + 1..i + j];
        if !fields.contains(&name) {
            return Err(format!("`{t}` uses `{{{name}}}`; the placeholders are {}", fields.join(", ")));
        }
        rest = &rest[i + j + 1..];
    }
    let sample = fill(t, &|_| "x".to_string());
    let uri: Result<axum::http::Uri, _> = sample.parse();
    match uri {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some() => Ok(()),
        _ => Err(format!("`{t}` is not an absolute http(s) URL (CDS Hooks links are of type \"absolute\")")),
    }
}

/// `template` with each `{name}` replaced by `value(name)` (the caller encodes).
pub fn fill(template: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                out.push_str(&value(&rest[i + 1..i + j]));
                rest = &rest[i + j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str], measure: &str, reason: &str) -> HttpSettings {
        HttpSettings {
            listen: "127.0.0.1:8080".into(),
            cds_hooks: true,
            cors_allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            cds_measure_url: measure.into(),
            cds_reason_url: reason.into(),
        }
    }

    #[test]
    fn origins_must_be_exact_and_wildcards_are_refused() {
        let ok = settings(&["https://emr.example.org", "http://localhost:3000"], "", "");
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
        for bad in [
            "*",
            "https://*.example.org",
            "https://emr.example.org/",
            "https://emr.example.org/app",
            "emr.example.org",
            "ftp://emr",
            "https://u@emr",
            "",
        ] {
            let p = settings(&["https://fine.example", bad], "", "").validate();
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert_eq!(p[0].key, "http.cors_allowed_origins[1]");
        }
    }

    #[test]
    fn link_templates_are_absolute_urls_with_known_placeholders() {
        let ok = settings(
            &[],
            "https://qc.example/measures/{measure_set}/{measure_id}?rule={rule_id}",
            "https://emr.example/reason?card={card_uuid}",
        );
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
        let p = settings(&[], "/measures/{rule_id}", "https://emr/{encounter_id}").validate();
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["http.cds_measure_url", "http.cds_reason_url"], "{p:?}");
        assert!(p[1].message.contains("encounter_id"), "{}", p[1].message);
        assert!(settings(&[], "https://x/{rule_id", "").validate()[0].message.contains("unclosed"));
        assert_eq!(fill("https://x/{a}/{b}", &|n| n.to_uppercase()), "https://x/A/B");
    }
}
