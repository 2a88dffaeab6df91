use super::*;

fn env(pairs: &[(&str, &str)]) -> Sources {
    Sources { file: None, env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

#[test]
fn embedded_defaults_load_and_validate() {
    let s = Settings::embedded().expect("embedded defaults are valid");
    assert_eq!(s.grpc_addr().port(), 50051);
    assert_eq!(s.metrics_addr().unwrap().port(), 9464);
    assert_eq!(s.timezone(), chrono_tz::Asia::Shanghai);
    assert_eq!(s.log.format, LogFormat::Pretty);
}

#[test]
fn environment_overrides_apply() {
    let s = Settings::load(&env(&[
        ("CDSSD__SERVER__LISTEN", "0.0.0.0:6000"),
        ("CDSSD__TLS__ALLOW_PLAINTEXT", "true"),
        ("CDSSD__AUTH__ALLOW_ANONYMOUS", "true"),
        ("CDSSD__RULES__MAX_OPERATIONS", "5000"),
        ("CDSSD__LOG__FORMAT", "json"),
        ("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", "LOCAL,HIS"),
        ("CDSSD__METRICS__LISTEN", ""),
        ("UNRELATED", "ignored"),
    ]))
    .unwrap();
    assert_eq!(s.server.listen, "0.0.0.0:6000");
    assert_eq!(s.rules.max_operations, 5000);
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.encounter.local_code_systems, vec!["LOCAL".to_string(), "HIS".to_string()]);
    assert!(s.metrics_addr().is_none());
}

#[test]
fn a_file_layer_overrides_defaults_and_env_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdssd.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:7000\"\n[encounter]\nhospital_timezone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let s = Settings::load(&Sources {
        file: Some(path),
        env: vec![("CDSSD__SERVER__LISTEN".into(), "127.0.0.1:7001".into())],
    })
    .unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:7001");
    assert_eq!(s.timezone(), chrono_tz::Europe::Berlin);
    assert_eq!(s.rules.dir, std::path::PathBuf::from("rules"), "untouched keys keep their defaults");
}

#[test]
fn every_invalid_setting_is_reported_at_once() {
    let err = Settings::load(&env(&[
        ("CDSSD__SERVER__LISTEN", "not-an-address"),
        ("CDSSD__ENCOUNTER__HOSPITAL_TIMEZONE", "Mars/Olympus"),
        ("CDSSD__RISK__DEVICE", "tpu"),
        ("CDSSD__LLM__BASE_URL", "ftp://x"),
        ("CDSSD__LLM__TEMPERATURE", "3.5"),
        ("CDSSD__RULES__MAX_OPERATIONS", "1"),
        ("CDSSD__METRICS__LISTEN", "nope"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "server.listen",
            "metrics.listen",
            "encounter.hospital_timezone",
            "rules.max_operations",
            "risk.device",
            "llm.base_url",
            "llm.temperature"
        ]
    );
    let text = err.to_string();
    assert!(text.contains("7 problem(s)") && text.contains("Mars/Olympus"), "{text}");
}

#[test]
fn unknown_keys_and_wrong_types_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[server]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap();
    let err = Settings::load(&Sources { file: Some(path), env: vec![] }).unwrap_err();
    assert!(err.to_string().contains("listen_addr"), "{err}");

    let err = Settings::load(&env(&[("CDSSD__SERVER__DRAIN_GRACE_MS", "soon")])).unwrap_err();
    assert!(err.to_string().contains("drain_grace_ms"), "{err}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Settings::load(&Sources { file: Some("/nonexistent/cdssd.toml".into()), env: vec![] }).unwrap_err();
    assert_eq!(err.problems[0].key, "--config");
}

#[test]
fn otlp_export_settings_are_checked() {
    let s = Settings::embedded().unwrap();
    assert_eq!(s.log.otlp_endpoint, "", "span export is off by default");
    let ok = Settings::load(&env(&[("CDSSD__LOG__OTLP_ENDPOINT", "http://otel-collector:4317")])).unwrap();
    assert_eq!(ok.log.otlp_endpoint, "http://otel-collector:4317");
    let err = Settings::load(&env(&[
        ("CDSSD__LOG__OTLP_ENDPOINT", "otel-collector:4317"),
        ("CDSSD__LOG__OTLP_SAMPLE_RATIO", "1.5"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["log.otlp_endpoint", "log.otlp_sample_ratio"]);
}

#[test]
fn the_http_listener_is_off_by_default_and_its_address_is_checked() {
    let s = Settings::load(&env(&[])).unwrap();
    assert_eq!(s.http_addr(), None);
    let s = Settings::load(&env(&[("CDSSD__HTTP__LISTEN", "127.0.0.1:8080")])).unwrap();
    assert_eq!(s.http_addr(), Some("127.0.0.1:8080".parse().unwrap()));
    let err = Settings::load(&env(&[("CDSSD__HTTP__LISTEN", "localhost")])).unwrap_err();
    assert_eq!(err.problems.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(), vec!["http.listen"]);
}

#[test]
fn a_non_loopback_listener_needs_tls_and_authentication_or_an_explicit_opening() {
    let problems = |pairs: &[(&str, &str)]| match Settings::load(&env(pairs)) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect::<Vec<_>>(),
    };
    let p = problems(&[("CDSSD__SERVER__LISTEN", "0.0.0.0:50051"), ("CDSSD__METRICS__LISTEN", "")]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("server.listen: `0.0.0.0:50051` is not a loopback address and TLS is off"), "{p:?}");
    assert!(p[1].contains("auth.mode = \"off\""), "{p:?}");
    // Opened explicitly: accepted (the daemon warns at start).
    assert!(problems(&[
        ("CDSSD__SERVER__LISTEN", "0.0.0.0:50051"),
        ("CDSSD__TLS__ALLOW_PLAINTEXT", "true"),
        ("CDSSD__AUTH__ALLOW_ANONYMOUS", "true"),
    ])
    .is_empty());
    // The metrics listener carries no patient data: it needs TLS off loopback, not a token.
    let p = problems(&[("CDSSD__METRICS__LISTEN", "0.0.0.0:9464")]);
    assert_eq!(p, vec!["metrics.listen: `0.0.0.0:9464` is not a loopback address and TLS is off: set tls.cert_file and tls.key_file, or tls.allow_plaintext = true behind a TLS-terminating proxy".to_string()]);
}

#[test]
fn tls_and_jwt_settings_are_checked_next_to_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdssd.toml");
    std::fs::write(
        &path,
        "[tls]\nkey_file = \"k.pem\"\nallowed_clients = [\"not a name!\"]\n\
         [auth]\nmode = \"jwt\"\n[[auth.issuers]]\nissuer = \"\"\naudience = \"a\"\nkeys_file = \"j.json\"\n\
         algorithms = [\"HS256\", \"none\"]\n",
    )
    .unwrap();
    let e = Settings::load(&Sources { file: Some(path), env: vec![] }).unwrap_err();
    let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
    for want in [
        "tls.cert_file",
        "tls.allowed_clients",
        "tls.allowed_clients[0]",
        "auth.issuers[0].issuer",
        "auth.issuers[0].algorithms[0]",
        "auth.issuers[0].algorithms[1]",
    ] {
        assert!(keys.contains(&want), "{want} missing in {keys:?}");
    }
    let hs = e.problems.iter().find(|p| p.key == "auth.issuers[0].algorithms[0]").unwrap();
    assert!(hs.message.contains("never accepted"), "{}", hs.message);
}

#[test]
fn the_test_gate_is_on_by_default_and_the_examples_dir_must_exist() {
    let s = Settings::embedded().unwrap();
    assert!(s.rules.require_passing_tests, "a reload whose test cases fail is refused by default");
    assert_eq!(s.rules.examples_dir, std::path::PathBuf::new());
    let off = Settings::load(&env(&[("CDSSD__RULES__REQUIRE_PASSING_TESTS", "false")])).unwrap();
    assert!(!off.rules.require_passing_tests);
    let here = env!("CARGO_MANIFEST_DIR");
    let ok = Settings::load(&env(&[("CDSSD__RULES__EXAMPLES_DIR", here)])).unwrap();
    assert_eq!(ok.rules.examples_dir, std::path::PathBuf::from(here));
    let err = Settings::load(&env(&[("CDSSD__RULES__EXAMPLES_DIR", "/nonexistent/examples")])).unwrap_err();
    assert_eq!(err.problems.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(), vec!["rules.examples_dir"]);
    assert!(err.problems[0].message.contains("/nonexistent/examples"), "{:?}", err.problems);
}

#[test]
fn load_shedding_and_inline_limits_are_validated() {
    let err = Settings::load(&env(&[
        ("CDSSD__SERVER__MAX_IN_FLIGHT_EVALUATIONS", "0"),
        ("CDSSD__SERVER__INLINE_MAX_EVENTS", "20000000"),
        ("CDSSD__RULES__QUARANTINE_WINDOW_S", "0"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["server.max_in_flight_evaluations", "server.inline_max_events", "rules.quarantine_window_s"],
        "{err}"
    );
    let ok =
        Settings::load(&env(&[("CDSSD__SERVER__INLINE_MAX_EVENTS", "0"), ("CDSSD__RULES__QUARANTINE_AFTER", "0")]));
    assert!(ok.is_ok(), "0 = always the blocking pool / never quarantine: {ok:?}");
}

/// Each problem points at where its value came from: `path:line:col` in the file, the
/// variable that overrode it, or (for a value never set) the key alone.
#[test]
fn problems_name_the_file_position_or_the_variable_of_their_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdssd.toml");
    let load = |text: &str, vars: &[(&str, &str)]| {
        std::fs::write(&path, text).unwrap();
        let mut sources = env(vars);
        sources.file = Some(path.clone());
        Settings::load(&sources).unwrap_err().problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()
    };
    let shown = path.display().to_string();
    let text = "[server]\nlisten = \"nowhere\"\n\n[encounter]\n  hospital_timezone = \"Mars/Base\"\n";
    let got = load(text, &[]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with(&format!("{shown}:2:1: server.listen: `nowhere`")), "{got:?}");
    assert!(got[1].starts_with(&format!("{shown}:5:3: encounter.hospital_timezone: `Mars/Base`")), "{got:?}");

    // The environment overrides the file: the variable is named, not the file's line.
    let got = load(text, &[("CDSSD__SERVER__LISTEN", "elsewhere")]);
    assert!(got[0].starts_with("CDSSD__SERVER__LISTEN (server.listen): `elsewhere`"), "{got:?}");
    assert!(got[1].starts_with(&format!("{shown}:5:3:")), "{got:?}");

    // A syntax error, a wrong type and an unknown key, each at its position.
    let got = load("[server]\nlisten = \"unterminated\n", &[]);
    assert!(got[0].starts_with(&format!("{shown}:2:")), "{got:?}");
    let got = load("[server]\n\ndefault_budget_ms = \"soon\"\n", &[]);
    assert!(got[0].starts_with(&format!("{shown}:3:1: server.default_budget_ms:")), "{got:?}");
    let got = load("[rules]\ndir = \"rules\"\nmax_operatoins = 5\n", &[]);
    assert!(got[0].starts_with(&format!("{shown}:3:1: rules: unknown field `max_operatoins`")), "{got:?}");
}

/// A value of the wrong type no longer hides the other problems: the unknown key, the
/// wrong type and an invalid value elsewhere come out together, each with its origin.
#[test]
fn a_wrong_type_does_not_hide_the_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdssd.toml");
    std::fs::write(&path, "[server]\nlisten_addr = \"127.0.0.1:1\"\n\n[http]\nlisten = \"localhost\"\n").unwrap();
    let sources = Sources { file: Some(path), env: vec![("CDSSD__SERVER__DRAIN_GRACE_MS".into(), "soon".into())] };
    let err = Settings::load(&sources).unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "{err}");
    assert!(keys.contains(&"server.drain_grace_ms"), "{err}");
    assert!(keys.contains(&"http.listen"), "{err}");
    assert!(err.to_string().contains("listen_addr"), "{err}");
    let shown = err.to_string();
    assert!(shown.contains("CDSSD__SERVER__DRAIN_GRACE_MS (server.drain_grace_ms)"), "{shown}");
    assert!(shown.contains("cdssd.toml:5:"), "the invalid address is located in the file: {shown}");
}
