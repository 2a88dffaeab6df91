//! The resources of the input, indexed: a Bundle's entries or loose resources (CDS Hooks
//! prefetch values, which may themselves be search Bundles), de-duplicated by type and id,
//! with literal references resolved through `Type/id` and the entries' `fullUrl`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::error::IssueCode;
use super::read::{str_at, At, Sink};

/// One resource of the input.
#[derive(Debug)]
pub struct Res<'a> {
    /// `resourceType`.
    pub ty: &'a str,
    /// `id` (FHIR ids are unique per resource type on a server).
    pub id: Option<&'a str>,
    /// `Bundle.entry.fullUrl`, when the resource came in a Bundle.
    pub full_url: Option<&'a str>,
    /// The resource.
    pub v: &'a Value,
    /// Its location, e.g. `Bundle.entry[3].resource`.
    pub root: String,
}

impl Res<'_> {
    /// The id to use for a contract item: the FHIR id, else the `fullUrl` (a transaction
    /// bundle's `urn:uuid:`), else the position in the input.
    pub fn item_id(&self) -> String {
        self.id.or(self.full_url).map(str::to_string).unwrap_or_else(|| self.root.clone())
    }
}

/// All resources of the input and how to find them.
#[derive(Debug, Default)]
pub struct Index<'a> {
    pub all: Vec<Res<'a>>,
    by_key: HashMap<(&'a str, &'a str), usize>,
    by_url: HashMap<&'a str, usize>,
    /// Entries that are not resources we read (nested bundles, OperationOutcomes of a search).
    pub skipped: BTreeMap<String, usize>,
}

impl<'a> Index<'a> {
    /// Add one input item: a resource, or a Bundle whose entries are added.
    pub fn add(&mut self, label: &str, v: &'a Value, sink: &mut Sink) {
        let at = At::root(label);
        let Some(ty) = resource_type(v, &at, sink) else { return };
        if ty != "Bundle" {
            self.push(ty, v, None, label.to_string(), sink);
            return;
        }
        let Some(entries) = v.get("entry") else { return };
        let Some(entries) = entries.as_array() else {
            sink.error(IssueCode::Structure, &at.field("entry"), "Bundle.entry must be an array");
            return;
        };
        let here = at.field("entry");
        for (j, e) in entries.iter().enumerate() {
            let eat = here.index(j);
            if !e.is_object() {
                sink.error(IssueCode::Structure, &eat, "a Bundle entry must be an object");
                continue;
            }
            let full_url = str_at(e, "fullUrl", &eat, sink);
            // A searchset's OperationOutcome (search.mode = outcome) is not patient data.
            let Some(r) = e.get("resource") else {
                // transaction-response / batch entries without a resource carry nothing to map.
                *self.skipped.entry("(entry without resource)".into()).or_default() += 1;
                continue;
            };
            let rat = eat.field("resource");
            let Some(rty) = resource_type(r, &rat, sink) else { continue };
            if rty == "Bundle" || rty == "OperationOutcome" {
                *self.skipped.entry(rty.to_string()).or_default() += 1;
                continue;
            }
            self.push(rty, r, full_url, rat.to_string(), sink);
        }
    }

    fn push(&mut self, ty: &'a str, v: &'a Value, full_url: Option<&'a str>, root: String, sink: &mut Sink) {
        let id = str_at(v, "id", &At::root(&root), sink);
        if let Some(id) = id {
            // The same resource in two prefetch results (a search and an _include): keep the first.
            if self.by_key.contains_key(&(ty, id)) {
                return;
            }
            self.by_key.insert((ty, id), self.all.len());
        }
        if let Some(u) = full_url {
            self.by_url.entry(u).or_insert(self.all.len());
        }
        self.all.push(Res { ty, id, full_url, v, root });
    }

    /// The resource a literal reference names, when it is in the input.
    pub fn resolve(&self, reference: &str) -> Option<&Res<'a>> {
        if let Some(&i) = self.by_url.get(reference) {
            return Some(&self.all[i]);
        }
        let (ty, id) = super::read::reference_key(reference)?;
        self.by_key.get(&(ty, id)).map(|&i| &self.all[i])
    }

    /// Does `reference` name the resource `target`? (Resolved when it can be, else by `Type/id`.)
    pub fn refers_to(&self, reference: &str, target: &Res<'_>) -> bool {
        if let Some(r) = self.resolve(reference) {
            return std::ptr::eq(r.v, target.v);
        }
        match super::read::reference_key(reference) {
            Some((ty, id)) => ty == target.ty && Some(id) == target.id,
            None => false,
        }
    }

    /// The resources of one type, in input order.
    pub fn of_type<'s>(&'s self, ty: &'s str) -> impl Iterator<Item = &'s Res<'a>> + 's {
        self.all.iter().filter(move |r| r.ty == ty)
    }
}

/// `resourceType` of a resource, or an error.
fn resource_type<'v>(v: &'v Value, at: &At<'_>, sink: &mut Sink) -> Option<&'v str> {
    if !v.is_object() {
        sink.error(IssueCode::Structure, at, "must be a FHIR resource (a JSON object)");
        return None;
    }
    match v.get("resourceType") {
        Some(Value::String(s)) if s.starts_with(|c: char| c.is_ascii_uppercase()) => Some(s),
        Some(_) => {
            sink.error(
                IssueCode::Structure,
                &at.field("resourceType"),
                "must be a resource type name (e.g. \"Patient\")",
            );
            None
        }
        None => {
            sink.error(IssueCode::Required, &at.field("resourceType"), "a FHIR resource needs resourceType");
            None
        }
    }
}
