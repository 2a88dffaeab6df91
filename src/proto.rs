//! Generated types of the `cdss.v1` gRPC contract (`proto/cdss/v1/*.proto`),
//! with serde implementations that follow the canonical proto3 JSON mapping.
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("cdss.v1");
    include!(concat!(env!("OUT_DIR"), "/cdss.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of the contract, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cdss_descriptor.bin"));
