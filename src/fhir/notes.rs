//! DocumentReference → notes: the type, the date, and the text of a plain-text attachment
//! (`attachment.data`, base64). Notes are never given to rules; their types are
//! (discharge instructions, LOINC 8653-8).

use base64::Engine;

use super::error::IssueCode;
use super::index::Res;
use super::read::{arr_at, concept, obj_at, str_at, time_at, At, Sink};
use super::stay::Cx;
use crate::proto::v1 as pb;

/// DocumentReferences of the patient linked to the index encounter (or unlinked and dated in the stay).
pub fn notes(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("DocumentReference").collect();
    for d in all {
        if !cx.of_patient(d, "subject", sink) {
            continue;
        }
        let at = At::root(&d.root);
        if matches!(str_at(d.v, "status", &at, sink), Some("superseded" | "entered-in-error")) {
            cx.ignore("DocumentReference", "superseded or entered-in-error");
            continue;
        }
        let authored = time_at(d.v, "date", cx.zone, &at, sink);
        let cat = at.field("context");
        let linked = obj_at(d.v, "context", &at, sink).map(|c| arr_at(c, "encounter", &cat, sink));
        let mine = match linked {
            Some(refs) if !refs.is_empty() => refs.iter().any(|r| {
                r.get("reference").and_then(serde_json::Value::as_str).is_some_and(|s| cx.idx.refers_to(s, cx.index))
            }),
            _ => authored.is_some() && cx.in_stay(authored.as_ref()),
        };
        if !mine {
            cx.ignore("DocumentReference", "not of the index encounter");
            continue;
        }
        let (types, _) = concept(d.v, "type", &at, sink);
        let mut text = String::new();
        let cont = at.field("content");
        for (i, c) in arr_at(d.v, "content", &at, sink).iter().enumerate() {
            let here = cont.index(i);
            let Some(att) = obj_at(c, "attachment", &here, sink) else { continue };
            let aat = here.field("attachment");
            let plain = str_at(att, "contentType", &aat, sink).is_none_or(|t| t.starts_with("text/plain"));
            let Some(data) = str_at(att, "data", &aat, sink) else { continue };
            if !plain {
                continue;
            }
            match base64::engine::general_purpose::STANDARD.decode(data).ok().and_then(|b| String::from_utf8(b).ok()) {
                Some(t) => {
                    text = t;
                    break;
                }
                None => sink.error(IssueCode::Value, &aat.field("data"), "must be base64 of UTF-8 text"),
            }
        }
        if text.is_empty() {
            sink.warn(
                IssueCode::NotSupported,
                &at.field("content"),
                "no plain-text attachment data: the note is sent without text",
            );
        }
        e.notes.push(pb::Note { id: d.item_id(), r#type: types.into_iter().next(), text, authored_time: authored });
    }
}
