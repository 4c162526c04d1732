//! The sentence-transformers triple: `queries.json` `{qid: text}`, `corpus.json`
//! `{doc_id: text}`, `relevant_docs.json` `{qid: [doc_id, ...]}` — the three dicts
//! `InformationRetrievalEvaluator` takes. Relevance is binary (listed = 1).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::text::json_file;
use super::{names, Dataset, Files, LoadOptions, LoaderNotes, Qrels, Text};
use crate::error::Result;

#[derive(Deserialize)]
#[serde(transparent)]
struct IdMap(#[serde(with = "ordered")] Vec<(String, String)>);

/// JSON objects in file order (serde_json's map type would sort them).
mod ordered {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use std::fmt;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping ids to texts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The `{id: text}` pairs of the JSON object file `name`, in file order.
fn read(files: &Files, name: &str) -> Result<Vec<(String, String)>> {
    let text = files.read_text(name)?;
    let m: IdMap = json_file(&files.display(name), &text, r#"{"id1": "text", "id2": "text"}"#)?;
    Ok(m.0)
}

/// Each document of `corpus.json`, in file order: `f(0, id, text)` (one JSON object: no lines;
/// read whole), until it breaks.
pub fn each_doc(files: &Files, f: &mut super::corpus::EachDoc<'_>) -> Result<()> {
    let _ = read(files, names::ST_CORPUS)?.into_iter().try_for_each(|(id, text)| f(0, id, text));
    Ok(())
}

pub fn load(files: &Files, opts: &LoadOptions) -> Result<Dataset> {
    let mut notes = LoaderNotes::default();
    let queries: Vec<Text> = read(files, names::ST_QUERIES)?.into_iter().map(|(id, text)| Text { id, text }).collect();
    let (corpus, doc_texts) = super::corpus::load(files, super::Format::St, opts, &mut notes.duplicate_doc_ids)?;
    let rel_text = files.read_text(names::ST_RELEVANT)?;
    let rel: BTreeMap<String, Vec<String>> =
        json_file(&files.display(names::ST_RELEVANT), &rel_text, r#"{"q1": ["d1", "d2"]}"#)?;
    let mut qrels = Qrels::new();
    for (q, docs) in rel {
        let e = qrels.entry(q.clone()).or_default();
        for d in docs {
            if e.insert(d.clone(), 1).is_some() {
                notes.duplicate_qrels.push(format!("{q} {d}"));
            }
        }
    }
    // JSON objects cannot hold duplicate keys meaningfully; serde keeps every pair, so dedup here.
    let queries = super::dedup_texts(queries, &mut notes.duplicate_query_ids);
    Ok(Dataset { format: super::Format::St, queries, corpus, qrels, notes, doc_texts })
}
