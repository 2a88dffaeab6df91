//! Generated types of the `cdss.v1` gRPC contract (`proto/cdss/v1/*.proto`),
//! with serde implementations that follow the canonical proto3 JSON mapping.
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("cdss.v1");
    include!(concat!(env!("OUT_DIR"), "/cdss.v1.serde.rs"));
}

impl v1::ItemKind {
    /// The kind of the encounter list named `name` (`Evidence.item_type`: "labs", "encounter"...);
    /// unspecified for a name the contract does not have.
    pub fn of_list(name: &str) -> Self {
        Self::from_str_name(&format!("ITEM_KIND_{}", name.to_ascii_uppercase())).unwrap_or_default()
    }
}

/// Encoded `FileDescriptorSet` of the contract, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cdss_descriptor.bin"));
