//! TREC files, as trec_eval reads them: qrels lines `qid 0 docid rel` (lines beginning with `#`
//! are comments) and run lines `qid Q0 docid rank score tag` (separated by ASCII whitespace;
//! `.gz` accepted). As in trec_eval the rank column is ignored: a run is re-ranked by score,
//! ties broken by the metric convention.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use super::text::lines;
use super::{Dataset, Files, LoaderNotes, Qrels, Text};
use crate::error::{Error, Result};
use crate::search::{Hit, Ids, QueryRanking, Rankings};

/// Reads `qid 0 docid rel` lines.
pub fn read_qrels(files: &Files, name: &str, dups: &mut Vec<String>) -> Result<Qrels> {
    let file = files.display(name);
    let mut qrels = Qrels::new();
    files.for_each_line(name, |n, line| {
        if line.starts_with('#') {
            // A comment, as trec_eval 10 reads qrels.
            return Ok(());
        }
        // Split as trec_eval splits (C's isspace: ASCII whitespace), as runs are.
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() != 4 {
            // BEIR's qrels/*.tsv (header `query-id corpus-id score`) or a run in the qrels' place.
            let looks = match cols.len() {
                3 => " — this looks like BEIR qrels (query-id corpus-id score): pass its dataset folder with --data",
                6 => " — this looks like a TREC run (qid Q0 docid rank score tag): runs go in --run",
                _ => "",
            };
            return Err(Error::input(
                &file,
                n,
                format!("expected 4 columns, found {}{looks}", cols.len()),
                "TREC qrels lines are `query-id 0 doc-id relevance`",
            ));
        }
        let rel = super::beir::parse_rel(&file, n, cols[3])?;
        if qrels.entry(cols[0].to_string()).or_default().insert(cols[2].to_string(), rel).is_some() {
            dups.push(format!("{} {}", cols[0], cols[2]));
        }
        Ok(())
    })?;
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
        let mut m = HashMap::new();
        files.for_each_line("queries.tsv", |n, line| {
            let (id, t) = line
                .split_once('\t')
                .ok_or_else(|| Error::input(&file, n, "no tab found", "each line must be `query-id<TAB>query text`"))?;
            m.insert(id.trim().to_string(), t.to_string());
            Ok(())
        })?;
        m
    } else {
        HashMap::new()
    };
    if !texts.is_empty() && !qrels.keys().any(|q| texts.contains_key(q)) {
        let name = if files.has(super::names::BEIR_QUERIES) { super::names::BEIR_QUERIES } else { "queries.tsv" };
        let first = |it: &mut dyn Iterator<Item = &String>| {
            let mut ids: Vec<&str> = it.map(String::as_str).collect();
            ids.sort();
            super::validate::quoted(ids, 3)
        };
        return Err(Error::input(
            files.display(name),
            0,
            format!(
                "none of its {} query ids is a judged query's (queries: {}; judged: {})",
                texts.len(),
                first(&mut texts.keys()),
                first(&mut qrels.keys()),
            ),
            "give the queries of these judgments: the same id strings as the qrels' first column",
        ));
    }
    let queries =
        qrels.keys().map(|id| Text { id: id.clone(), text: texts.get(id).cloned().unwrap_or_default() }).collect();
    Ok(Dataset { format: super::Format::Trec, queries, qrels, notes, ..Default::default() })
}

/// One parsed run line, borrowing from the file's text.
struct Row<'a> {
    qid: &'a str,
    doc: &'a str,
    score: f64,
}

/// Why a line was refused; the caller turns the byte offset into a line number.
struct Bad {
    offset: usize,
    what: String,
    fix: &'static str,
}

/// Parses the lines of `chunk` (which starts at byte `base` of the file).
fn parse_rows(chunk: &str, base: usize) -> std::result::Result<Vec<Row<'_>>, Bad> {
    let mut rows = Vec::with_capacity(chunk.len() / 40);
    let mut offset = base;
    for raw in chunk.split_terminator('\n') {
        let line_start = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let mut cols = line.split_ascii_whitespace();
        let Some(qid) = cols.next() else { continue }; // blank line
        if qid.starts_with('#') {
            continue; // a comment, as trec_eval 10 reads runs
        }
        // Columns past the 6th are ignored, as trec_eval does.
        let (Some(_q0), Some(doc), Some(_rank), Some(score), Some(_tag)) =
            (cols.next(), cols.next(), cols.next(), cols.next(), cols.next())
        else {
            let found = line.split_ascii_whitespace().count();
            let looks = match found {
                4 => " — this looks like TREC qrels (qid 0 docid rel): they go in --qrels",
                5 => " — the run tag (6th column) is missing, or the line was cut short",
                _ => "",
            };
            return Err(Bad {
                offset: line_start,
                what: format!("expected 6 columns, found {found}{looks}"),
                fix: "TREC run lines are `query-id Q0 doc-id rank score run-tag` (trec_eval refuses shorter ones too)",
            });
        };
        let score: f64 = match score.parse() {
            Ok(s) if f64::is_finite(s) => s,
            Ok(_) => {
                return Err(Bad {
                    offset: line_start,
                    what: "score is NaN or infinite".into(),
                    fix: "fix the system that wrote this run",
                })
            }
            Err(_) => {
                return Err(Bad {
                    offset: line_start,
                    what: format!("score '{score}' is not a number"),
                    fix: "the 5th column must be a number",
                })
            }
        };
        rows.push(Row { qid, doc, score });
    }
    Ok(rows)
}

/// Cuts `text` into about `n` pieces at line ends: (piece, byte offset).
fn pieces(text: &str, n: usize) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let step = (text.len() / n.max(1)).max(1);
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while end < text.len() && !text.is_char_boundary(end) {
            end += 1;
        }
        end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
        out.push((&text[start..end], start));
        start = end;
    }
    out
}

/// Reads a run. Errors on NaN or infinite scores and on a doc id listed twice for one query
/// (trec_eval refuses both too). Lines are parsed in parallel natively; doc ids are copied into
/// one buffer, not interned.
pub fn read_run(files: &Files, name: &str) -> Result<Rankings> {
    let file = files.display(name);
    let text = files.read_text(name)?;
    let line_of = |offset: usize| text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    #[cfg(feature = "cli")]
    let parsed: Vec<_> = {
        use rayon::prelude::*;
        pieces(&text, 8 * rayon::current_num_threads()).into_par_iter().map(|(p, base)| parse_rows(p, base)).collect()
    };
    #[cfg(not(feature = "cli"))]
    let parsed: Vec<_> = pieces(&text, 1).into_iter().map(|(p, base)| parse_rows(p, base)).collect();

    let mut doc_ids = Ids::default();
    let mut query_index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut queries: Vec<QueryRanking> = Vec::new();
    // Runs list a query's lines together: remember the last one to skip most lookups.
    let mut last: Option<(&str, usize)> = None;
    for rows in parsed {
        let rows = rows.map_err(|b| Error::input(&file, line_of(b.offset), b.what, b.fix))?;
        for r in rows {
            let qi = match last {
                Some((q, i)) if q == r.qid => i,
                _ => *query_index.entry(r.qid).or_insert_with(|| {
                    queries.push(QueryRanking { query_id: r.qid.to_string(), hits: Vec::new() });
                    queries.len() - 1
                }),
            };
            last = Some((r.qid, qi));
            let doc = doc_ids.push(r.doc);
            queries[qi].hits.push(Hit { doc, score: r.score });
        }
    }
    if let Some((qid, docid)) = find_duplicate(&queries, &doc_ids) {
        // Rare: re-read to name the line of the second occurrence.
        let n = lines(&text)
            .filter(|(_, l)| {
                let mut c = l.split_ascii_whitespace();
                c.next() == Some(qid) && c.nth(1) == Some(docid)
            })
            .nth(1)
            .map_or(0, |(n, _)| n);
        return Err(Error::input(
            &file,
            n,
            format!("doc '{docid}' is listed twice for query '{qid}'"),
            "keep one line per (query, doc) pair",
        ));
    }
    Ok(Rankings { doc_ids, queries })
}

/// The first (query, doc) pair listed twice, if any.
fn find_duplicate<'a>(queries: &'a [QueryRanking], ids: &'a Ids) -> Option<(&'a str, &'a str)> {
    let dup = |q: &'a QueryRanking| -> Option<(&'a str, &'a str)> {
        let mut docs: Vec<&str> = q.hits.iter().map(|h| &ids[h.doc as usize]).collect();
        docs.sort_unstable();
        docs.windows(2).find(|w| w[0] == w[1]).map(|w| (q.query_id.as_str(), w[0]))
    };
    #[cfg(feature = "cli")]
    {
        use rayon::prelude::*;
        queries.par_iter().find_first(|q| dup(q).is_some()).and_then(dup)
    }
    #[cfg(not(feature = "cli"))]
    queries.iter().find_map(dup)
}

/// Writes rankings as a TREC run (rank = position after sorting, 1-based).
pub fn write_run(r: &Rankings, tag: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for q in &r.queries {
        for (i, h) in q.hits.iter().enumerate() {
            writeln!(out, "{} Q0 {} {} {} {}", q.query_id, &r.doc_ids[h.doc as usize], i + 1, h.score, tag)?;
        }
    }
    Ok(())
}
