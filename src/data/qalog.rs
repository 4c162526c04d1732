//! QA logs: one JSON object per line, `{"query_id", "query_text", "references": [{"doc_id",
//! "relevance_score"}]}`, plus a corpus JSONL of `{"doc_id", "text"}`. References scored below
//! `--min-relevance` (default 0.7) are dropped; queries left with none are dropped and counted.
//! A query logged again keeps its first place and takes its last entry. The corpus reads as
//! BEIR's does (ids `doc_id` or `_id`, a `title` joined before the text).
//! Kept references are relevant with grade 1 (the scores are confidences, not grades).

use serde::Deserialize;

use super::text::json_line;
use super::{names, Dataset, Files, LoadOptions, LoaderNotes, Qrels, Text};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Entry {
    #[serde(with = "super::text::id")]
    query_id: String,
    query_text: String,
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(with = "super::text::id")]
    doc_id: String,
    relevance_score: f64,
}

pub fn load(files: &Files, opts: &LoadOptions) -> Result<Dataset> {
    let mut notes = LoaderNotes::default();
    let file = files.display(names::QALOG);
    let mut queries = Vec::new();
    let mut qrels = Qrels::new();
    // Each query's entry (id, text, kept references) in log order, and where each id is.
    let mut entries: Vec<(String, String, std::collections::BTreeMap<String, i32>)> = Vec::new();
    let mut at = std::collections::HashMap::new();
    files.for_each_line(names::QALOG, |n, line| {
        let e: Entry = json_line(
            &file,
            n,
            line,
            r#"{"query_id": "q1", "query_text": "...", "references": [{"doc_id": "d1", "relevance_score": 0.9}]}"#,
        )?;
        let mut kept = std::collections::BTreeMap::new();
        for r in &e.references {
            if !r.relevance_score.is_finite() {
                return Err(Error::input(
                    &file,
                    n,
                    "relevance_score is not a finite number",
                    "write a number between 0 and 1",
                ));
            }
            if r.relevance_score >= opts.min_relevance {
                kept.insert(r.doc_id.clone(), 1);
            } else {
                notes.dropped_references += 1;
            }
        }
        // A query logged again: its first place, its last entry (as the other formats' ids).
        match at.get(&e.query_id) {
            Some(&i) => {
                notes.duplicate_query_ids.push(e.query_id.clone());
                entries[i] = (e.query_id, e.query_text, kept);
            }
            None => {
                at.insert(e.query_id.clone(), entries.len());
                entries.push((e.query_id, e.query_text, kept));
            }
        }
        Ok(())
    })?;
    for (id, text, kept) in entries {
        if kept.is_empty() {
            notes.dropped_queries.push(id);
        } else {
            qrels.insert(id.clone(), kept);
            queries.push(Text { id, text });
        }
    }
    let (corpus, doc_texts) = super::corpus::load(files, super::Format::Qalog, opts, &mut notes.duplicate_doc_ids)?;
    Ok(Dataset { format: super::Format::Qalog, queries, corpus, qrels, notes, doc_texts })
}

/// Each document of the corpus JSONL, in file order: `f(line, id, text)`, until it breaks. Read
/// as a BEIR corpus is (ids `doc_id` or `_id`; a `title` joined as BEIR joins it).
pub fn each_doc(files: &Files, doc_text: super::DocText, f: &mut super::corpus::EachDoc<'_>) -> Result<()> {
    super::beir::each_doc_like(files, doc_text, r#"{"doc_id": "d1", "text": "..."}"#, f)
}
