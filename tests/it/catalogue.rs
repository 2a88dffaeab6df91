//! The data catalogue `docs/DATA-CATALOGUE.md` is exactly what `cdssd rules catalogue`
//! generates from the contract's comments and the shipped rule set: changing the contract,
//! a value set, a mapping table, a rule's queries or the rule API without regenerating the
//! file fails here.
use std::path::Path;
use std::process::Command;

use cdssd::config::Settings;
use cdssd::rules::catalogue::{self, Contract};
use cdssd::rules::service::compiler_from;

fn generated() -> String {
    let settings = Settings::embedded().unwrap();
    let set = compiler_from(&settings).compile_dir(Path::new("rules")).expect("shipped rules compile");
    catalogue::generate(&Contract::embedded(), &set).unwrap_or_else(|e| panic!("catalogue errors: {e:#?}"))
}

#[test]
fn the_committed_catalogue_is_what_the_generator_writes() {
    let committed = std::fs::read_to_string(catalogue::PATH).expect("docs/DATA-CATALOGUE.md is committed");
    let fresh = generated();
    if committed != fresh {
        let (n, (old, new)) = committed
            .lines()
            .chain(std::iter::repeat(""))
            .zip(fresh.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .expect("the files differ");
        panic!(
            "{} is out of date: line {} is\n  {old}\nbut the generator writes\n  {new}\nregenerate it: cargo run -- rules catalogue rules --out {}",
            catalogue::PATH,
            n + 1,
            catalogue::PATH
        );
    }
    // What a QC author looks up: the list, the codes, the time field, the unit and the query.
    let lactate = "| 乳酸 | Lactate | `labs` | [`lactate`](#vs-lactate) | `Observation.effective_time` (`.time`) | mmol/L | `enc.labs(\"lactate\")` |";
    assert!(fresh.contains(lactate), "quick-index row for lactate");
    assert!(
        fresh.contains("| `guidewire_crossing_time` | `Timestamp` | `.guidewire_crossing` | PCI: time the guidewire")
    );
    assert!(fresh.contains("- LOINC: `8867-4`"), "heart-rate codes are listed");
    assert!(fresh.contains("`RXNORM:1191` aspirin (rxnorm_atc)"), "codes mapped into a value set are listed");
}

#[test]
fn the_command_writes_the_catalogue_and_check_fails_on_a_stale_copy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("catalogue.md");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cdssd"))
            .args(["rules", "catalogue", "rules"])
            .args(args)
            .env_remove("CDSSD_CONFIG")
            .output()
            .unwrap()
    };
    let w = run(&["--out", out.to_str().unwrap()]);
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stdout));
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written, generated());
    assert!(run(&["--check", out.to_str().unwrap()]).status.success());

    std::fs::write(&out, written.replace("effective_time", "effectiveTime")).unwrap();
    let stale = run(&["--check", out.to_str().unwrap()]);
    assert_eq!(stale.status.code(), Some(1));
    let text = String::from_utf8_lossy(&stale.stdout);
    assert!(text.contains("out of date") && text.contains("rules catalogue"), "{text}");
}
