//! Generates the gRPC code, the proto3-JSON (serde) impls and the descriptor
//! set used by server reflection from `proto/cdss/v1/*.proto`.
use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/cdss/v1/encounter.proto",
    "proto/cdss/v1/decision.proto",
    "proto/cdss/v1/service.proto",
    "proto/cdss/v1/audit.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded.
    unsafe { env::set_var("PROTOC", protoc) };
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = out.join("cdss_descriptor.bin");

    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptors)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_protos(PROTOS, &["proto"])?;

    let set = std::fs::read(&descriptors)?;
    pbjson_build::Builder::new().register_descriptors(&set)?.build(&[".cdss.v1"])?;

    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    git_sha();
    Ok(())
}

/// `CDSSD_GIT_SHA` for `cdssd_build_info{git_sha}`: the environment variable
/// of that name (container builds have no .git), else `git rev-parse`, else
/// "unknown". Reruns when HEAD or the branch it points to moves.
fn git_sha() {
    println!("cargo:rerun-if-env-changed=CDSSD_GIT_SHA");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let sha = env::var("CDSSD_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CDSSD_GIT_SHA={sha}");
    // Watch only files that exist: a missing path would rerun the script on every build.
    for path in [git(&["rev-parse", "--git-path", "HEAD"]), git(&["rev-parse", "--git-path", "packed-refs"])]
        .into_iter()
        .chain(std::iter::once(
            git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])),
        ))
        .flatten()
    {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
