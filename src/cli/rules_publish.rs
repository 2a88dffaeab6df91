//! `cdssd rules publish DRAFT LIVE`: the report of [`crate::rules::publish`] in the
//! command's locale.
use std::{path::Path, path::PathBuf, process::ExitCode};

use crate::{
    config::{Settings, EXIT_INVALID_CONFIG},
    locale::Locale,
    rules::{
        publish::{publish, Coverage, PublishError},
        service::compiler_from,
    },
};

pub fn run(
    settings: &Settings,
    draft: &Path,
    live: &Path,
    examples: Option<PathBuf>,
    coverage: Coverage,
    l: Locale,
) -> anyhow::Result<ExitCode> {
    let mut compiler = compiler_from(settings);
    if let Some(dir) = examples {
        compiler = compiler.with_examples_dir(Some(dir));
    }
    let (d, lv) = (draft.display(), live.display());
    match publish(&compiler, draft, live, coverage) {
        Ok(p) => {
            for u in &p.uncovered {
                match l {
                    Locale::ZhCn => {
                        println!("已发布，但结果覆盖不完整（--allow-incomplete-coverage）：{u} 未被用例达到")
                    }
                    Locale::En => {
                        println!(
                            "published WITH INCOMPLETE OUTCOME COVERAGE (--allow-incomplete-coverage): {u} unreached"
                        )
                    }
                }
            }
            let generation = p.generation.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (version, packs, cases) = (&p.version, p.packs, p.cases);
            match l {
                Locale::ZhCn => {
                    println!(
                        "已发布 {d} —— 版本 {version}，{packs} 个规则包，{cases} 个测试用例通过 —— 到 {lv}（现在 {lv}/..data -> {generation}）"
                    );
                    println!("监视 {lv} 的守护进程会立即重新加载（否则发送 SIGHUP 或调用 ReloadRules）。");
                }
                Locale::En => {
                    println!(
                        "published {d} — version {version}, {packs} packs, {cases} test cases passed — into {lv} (now {lv}/..data -> {generation})"
                    );
                    println!("A daemon watching {lv} reloads it now (else send SIGHUP or call ReloadRules).");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(PublishError::Refused(lines)) => {
            for line in &lines {
                println!("{}", line.pick(l));
                if let Some(h) = crate::rules::hints::hint(&line.en, l) {
                    println!("  {}{h}", l.pick("说明：", "means: "));
                }
            }
            match l {
                Locale::ZhCn => println!("\n未发布：{lv} 保持原样。"),
                Locale::En => println!("\nnot published: {lv} stays as it was."),
            }
            Ok(ExitCode::FAILURE)
        }
        Err(PublishError::Usage(m)) => {
            eprintln!("cdssd rules publish: {}", m.pick(l));
            Ok(ExitCode::from(EXIT_INVALID_CONFIG))
        }
    }
}
