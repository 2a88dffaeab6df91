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

/// The one place the docs state how many rules ship (`rules/MEASURES.md`, which README and
/// ARCHITECTURE point to instead of a number of their own) states the real count.
#[test]
fn the_measure_catalogue_states_the_shipped_rule_count() {
    let root = crate::support::root();
    let text = std::fs::read_to_string(root.join("rules/MEASURES.md")).unwrap();
    let packs = std::fs::read_dir(root.join("rules"))
        .unwrap()
        .flatten()
        .filter(|d| {
            std::fs::read_dir(d.path()).is_ok_and(|fs| {
                fs.flatten().any(|f| f.file_name().to_string_lossy().ends_with(".rhai") && f.file_name() != "lib.rhai")
            })
        })
        .count();
    let line = format!("{} rules in {packs} packs.", crate::support::shipped_rule_count());
    assert!(text.lines().any(|l| l == line), "rules/MEASURES.md should say \"{line}\"");
    for doc in ["README.md", "ARCHITECTURE.md", "rules/README.md", "rules/README.zh-CN.md"] {
        let t = std::fs::read_to_string(root.join(doc)).unwrap();
        for stale in [" shipped measures", " shipped rules", "条规则（共"] {
            let at = t.find(stale).filter(|&i| t[..i].trim_end().ends_with(|c: char| c.is_ascii_digit()));
            assert!(at.is_none(), "{doc}: a rule count of its own (\"…{stale}\"); point to rules/MEASURES.md");
        }
    }
}
