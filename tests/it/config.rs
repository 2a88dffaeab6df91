//! The binary's configuration handling: exit code 64 with every problem listed.

use std::process::Command;

#[test]
fn invalid_configuration_exits_64_listing_all_problems() {
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .arg("check-config")
        .env("CDSSD__SERVER__LISTEN", "nowhere")
        .env("CDSSD__RISK__DEVICE", "abacus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.listen") && err.contains("risk.device"), "{err}");
}

#[test]
fn embedded_default_configuration_checks_ok() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_cdssd")).arg("check-config").env_remove("CDSSD_CONFIG").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Configuration is valid"));
}
