//! Generates the gRPC code, the proto3-JSON (serde) impls and the descriptor
//! set used by server reflection from `proto/cdss/v1/*.proto`.
use std::{env, path::PathBuf};

const PROTOS: &[&str] =
    &["proto/cdss/v1/encounter.proto", "proto/cdss/v1/decision.proto", "proto/cdss/v1/service.proto"];

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
    Ok(())
}
