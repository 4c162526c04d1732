//! TREC files, as trec_eval reads them: qrels lines `qid 0 docid rel` and run lines
//! `qid Q0 docid rank score tag` (whitespace-separated; `.gz` accepted). As in trec_eval the
//! rank column is ignored: a run is re-ranked by score, ties broken by the metric convention.

use std::collections::{HashMap, HashSet};

use super::text::lines;
use super::{Dataset, Files, LoaderNotes, Qrels, Text};
use crate::error::{Error, Result};
use crate::search::{Hit, QueryRanking, Rankings};

/// Reads `qid 0 docid rel` lines.
pub fn read_qrels(files: &Files, name: &str, dups: &mut Vec<String>) -> Result<Qrels> {
    let file = files.display(name);
    let text = files.read_text(name)?;
    let mut qrels = Qrels::new();
    for (n, line) in lines(&text) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() != 4 {
            return Err(Error::input(
                &file,
                n,
                format!("expected 4 columns, found {}", cols.len()),
                "TREC qrels lines are `query-id 0 doc-id relevance`",
            ));
        }
        let rel = super::beir::parse_rel(&file, n, cols[3])?;
        if qrels.entry(cols[0].to_string()).or_default().insert(cols[2].to_string(), rel).is_some() {
            dups.push(format!("{} {}", cols[0], cols[2]));
        }
    }
    Ok(qrels)
}

/// A TREC qrels file (logical name `qrels`) as a dataset without texts; query texts come from
/// an optional `queries.jsonl` (BEIR) or `queries.tsv` (`qid<TAB>text`), used by failure lists.
pub fn load_dataset(files: &Files) -> Result<Dataset> {
    let mut notes = LoaderNotes::default();
    let qrels = read_qrels(files, super::names::QRELS, &mut notes.duplicate_qrels)?;
    let texts: HashMap<String, String> = if files.has(super::names::BEIR_QUERIES) {
        super::beir::read_queries(files, super::names::BEIR_QUERIES)?.into_iter().map(|t| (t.id, t.text)).collect()
    } else if files.has("queries.tsv") {
        let file = files.display("queries.tsv");
        let text = files.read_text("queries.tsv")?;
        let mut m = HashMap::new();
        for (n, line) in lines(&text) {
            let (id, t) = line.split_once('\t').ok_or_else(|| {
                Error::input(&file, n, "no tab found", "each line must be `query-id<TAB>query text`")
            })?;
            m.insert(id.trim().to_string(), t.to_string());
        }
        m
    } else {
        HashMap::new()
    };
    let queries = qrels.keys().map(|id| Text { id: id.clone(), text: texts.get(id).cloned().unwrap_or_default() }).collect();
    Ok(Dataset { format: super::Format::Trec, queries, corpus: Vec::new(), qrels, notes })
}

/// Reads a run; doc ids are interned into `Rankings::doc_ids`. Errors on NaN or infinite
/// scores and on a doc id listed twice for one query (trec_eval refuses both too).
pub fn read_run(files: &Files, name: &str) -> Result<Rankings> {
    let file = files.display(name);
    let text = files.read_text(name)?;
    let mut doc_index: HashMap<String, u32> = HashMap::new();
    let mut doc_ids: Vec<String> = Vec::new();
    let mut query_index: HashMap<String, usize> = HashMap::new();
    let mut queries: Vec<QueryRanking> = Vec::new();
    let mut seen: Vec<HashSet<u32>> = Vec::new();
    for (n, line) in lines(&text) {
        let mut cols = line.split_whitespace();
        let (Some(qid), Some(_q0), Some(docid), Some(_rank), Some(score)) =
            (cols.next(), cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(Error::input(
                &file,
                n,
                "expected 6 columns",
                "TREC run lines are `query-id Q0 doc-id rank score run-tag`",
            ));
        };
        let score: f64 = score.parse().map_err(|_| {
            Error::input(&file, n, format!("score '{score}' is not a number"), "the 5th column must be a number")
        })?;
        if !score.is_finite() {
            return Err(Error::input(&file, n, "score is NaN or infinite", "fix the system that wrote this run"));
        }
        let d = *doc_index.entry(docid.to_string()).or_insert_with(|| {
            doc_ids.push(docid.to_string());
            (doc_ids.len() - 1) as u32
        });
        let qi = *query_index.entry(qid.to_string()).or_insert_with(|| {
            queries.push(QueryRanking { query_id: qid.to_string(), hits: Vec::new() });
            seen.push(HashSet::new());
            queries.len() - 1
        });
        if !seen[qi].insert(d) {
            return Err(Error::input(
                &file,
                n,
                format!("doc '{docid}' is listed twice for query '{qid}'"),
                "keep one line per (query, doc) pair",
            ));
        }
        queries[qi].hits.push(Hit { doc: d, score });
    }
    Ok(Rankings { doc_ids, queries })
}

/// Writes rankings as a TREC run (rank = position after sorting, 1-based).
pub fn write_run(r: &Rankings, tag: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for q in &r.queries {
        for (i, h) in q.hits.iter().enumerate() {
            writeln!(out, "{} Q0 {} {} {} {}", q.query_id, r.doc_ids[h.doc as usize], i + 1, h.score, tag)?;
        }
    }
    Ok(())
}
