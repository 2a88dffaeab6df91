//! The contract's own documentation: the comments of `proto/cdss/v1/*.proto`, read from the
//! descriptor set the build embeds (protoc keeps the source info), so that the data
//! catalogue quotes the contract and cannot drift from it.
use std::collections::BTreeMap;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

/// The package documented.
pub const PACKAGE: &str = "cdss.v1";

/// One field of a message.
#[derive(Debug, Clone)]
pub struct FieldDoc {
    pub name: String,
    pub number: i32,
    /// Type as written in the proto file: `repeated Coding`, `optional bool`, `Timestamp`.
    pub type_name: String,
    /// Leading comment, lines joined by spaces; empty when the field has none.
    pub doc: String,
}

/// One message: its comment and its fields in declaration order.
#[derive(Debug, Clone)]
pub struct MessageDoc {
    pub name: String,
    /// Proto file it is declared in, e.g. `cdss/v1/encounter.proto`.
    pub file: String,
    pub doc: String,
    pub fields: Vec<FieldDoc>,
}

/// The documented messages of the package, by name (`Observation`, nested ones `Outer.Inner`).
#[derive(Debug, Clone, Default)]
pub struct Contract {
    pub messages: BTreeMap<String, MessageDoc>,
}

fn clean(comment: Option<&String>) -> String {
    comment.map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn short_type(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn type_name(f: &prost_types::FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => short_type(f.type_name()).to_string(),
        t => t.as_str_name().trim_start_matches("TYPE_").to_ascii_lowercase(),
    };
    match f.label() {
        Label::Repeated => format!("repeated {base}"),
        _ if f.proto3_optional() => format!("optional {base}"),
        _ => base,
    }
}

impl Contract {
    /// The contract compiled into this binary.
    pub fn embedded() -> Self {
        Self::from_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET).expect("the build embeds a valid descriptor set")
    }

    /// Read the `cdss.v1` files of an encoded `FileDescriptorSet` (with source info).
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        let set = FileDescriptorSet::decode(bytes)?;
        let mut out = Contract::default();
        for file in set.file.iter().filter(|f| f.package() == PACKAGE) {
            let mut comments: BTreeMap<Vec<i32>, String> = BTreeMap::new();
            for loc in file.source_code_info.iter().flat_map(|s| &s.location) {
                comments.insert(loc.path.clone(), clean(loc.leading_comments.as_ref()));
            }
            for (i, m) in file.message_type.iter().enumerate() {
                out.add(file.name(), "", m, vec![4, i as i32], &comments);
            }
        }
        Ok(out)
    }

    fn add(
        &mut self,
        file: &str,
        prefix: &str,
        m: &DescriptorProto,
        path: Vec<i32>,
        comments: &BTreeMap<Vec<i32>, String>,
    ) {
        let name = format!("{prefix}{}", m.name());
        let comment = |p: &[i32]| comments.get(p).cloned().unwrap_or_default();
        let fields = m
            .field
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut p = path.clone();
                p.extend([2, i as i32]);
                FieldDoc { name: f.name().to_string(), number: f.number(), type_name: type_name(f), doc: comment(&p) }
            })
            .collect();
        for (i, nested) in m.nested_type.iter().enumerate() {
            let mut p = path.clone();
            p.extend([3, i as i32]);
            self.add(file, &format!("{name}."), nested, p, comments);
        }
        let doc = MessageDoc { name: name.clone(), file: file.to_string(), doc: comment(&path), fields };
        self.messages.insert(name, doc);
    }

    /// Field `field` of message `message`, if the contract has it.
    pub fn field(&self, message: &str, field: &str) -> Option<&FieldDoc> {
        self.messages.get(message)?.fields.iter().find(|f| f.name == field)
    }

    /// `Message.field` of every field without a documentation comment.
    pub fn undocumented(&self) -> Vec<String> {
        self.messages
            .values()
            .flat_map(|m| m.fields.iter().filter(|f| f.doc.is_empty()).map(move |f| format!("{}.{}", m.name, f.name)))
            .collect()
    }
}
