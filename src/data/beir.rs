//! BEIR layout: `corpus.jsonl` (`{"_id","title","text"}`), `queries.jsonl` (`{"_id","text"}`)
//! and `qrels/<split>.tsv` (header `query-id<TAB>corpus-id<TAB>score`, graded integers).
//! A document's text is `(title + " " + text).strip()`, as BEIR's and MTEB's loaders build it,
//! unless `--doc-text text` asks for the text field alone.

use serde::Deserialize;

use super::text::json_line;
use super::{dedup_texts, names, Dataset, DocText, Files, Format, LoadOptions, LoaderNotes, Qrels, Text};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Doc {
    /// `doc_id` in a QA log's corpus.
    #[serde(rename = "_id", alias = "doc_id", with = "super::text::id")]
    id: String,
    #[serde(default)]
    title: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct Query {
    #[serde(rename = "_id", with = "super::text::id")]
    id: String,
    text: String,
}

pub fn load(files: &Files, opts: &LoadOptions) -> Result<Dataset> {
    let mut notes = LoaderNotes::default();
    let (corpus, doc_texts) = super::corpus::load(files, Format::Beir, opts, &mut notes.duplicate_doc_ids)?;
    let queries = read_queries(files, names::BEIR_QUERIES)?;
    let queries = dedup_texts(queries, &mut notes.duplicate_query_ids);
    let qrels_name = names::beir_qrels(&opts.split);
    if !files.has(&qrels_name) {
        // Split names (`test`, `dev`), usable as --split values, not file names.
        let have: Vec<&str> = files
            .names()
            .filter_map(|n| n.strip_prefix("qrels/"))
            .map(|n| n.strip_suffix(".gz").unwrap_or(n))
            .filter_map(|n| n.strip_suffix(".tsv"))
            .collect();
        return Err(Error::missing(
            files.display(&qrels_name),
            format!("no qrels for split '{}'", opts.split),
            if have.is_empty() {
                "add qrels/test.tsv".to_string()
            } else {
                format!("choose --split from: {}", have.join(", "))
            },
        ));
    }
    let qrels = read_qrels_tsv(files, &qrels_name, &mut notes)?;
    Ok(Dataset { format: Format::Beir, queries, corpus, qrels, notes, doc_texts })
}

/// Each document of `corpus.jsonl`, in file order: `f(line, id, text)`, until it breaks.
pub fn each_doc(files: &Files, doc_text: DocText, f: &mut super::corpus::EachDoc<'_>) -> Result<()> {
    each_doc_like(files, doc_text, r#"{"_id": "d1", "title": "...", "text": "..."}"#, f)
}

/// [`each_doc`], a bad line's error showing `example` (a QA log's corpus, ids `doc_id`, reads
/// the same way).
pub fn each_doc_like(
    files: &Files,
    doc_text: DocText,
    example: &str,
    f: &mut super::corpus::EachDoc<'_>,
) -> Result<()> {
    let file = files.display(names::BEIR_CORPUS);
    files.lines_until(names::BEIR_CORPUS, |n, line| {
        let d: Doc = json_line(&file, n, line, example)?;
        let body = match (doc_text, d.title.as_deref()) {
            (DocText::TitleText, Some(t)) if !t.is_empty() => {
                super::text::py_strip(&format!("{t} {}", d.text)).to_string()
            }
            _ => trimmed(d.text),
        };
        Ok(f(n, d.id, body))
    })
}

/// `s` [`super::text::py_strip`]ped; moved, not copied, where there is nothing to strip (most texts).
fn trimmed(s: String) -> String {
    let t = super::text::py_strip(&s);
    if t.len() == s.len() {
        s
    } else {
        t.to_string()
    }
}

pub fn read_queries(files: &Files, name: &str) -> Result<Vec<Text>> {
    let file = files.display(name);
    let mut out = Vec::new();
    files.for_each_line(name, |n, line| {
        let q: Query = json_line(&file, n, line, r#"{"_id": "q1", "text": "..."}"#)?;
        out.push(Text { id: q.id, text: q.text });
        Ok(())
    })?;
    Ok(out)
}

/// `query-id<TAB>corpus-id<TAB>score` with an optional header line; repeated judgments, and a
/// first line that is a judgment (BEIR's loader skips line 1 whatever it holds), go in `notes`.
pub fn read_qrels_tsv(files: &Files, name: &str, notes: &mut super::LoaderNotes) -> Result<Qrels> {
    let file = files.display(name);
    let mut qrels = Qrels::new();
    files.for_each_line(name, |n, line| {
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        // The header (BEIR's `query-id corpus-id score`, or any names: a first line whose
        // score is not a number).
        if n == 1 && cols.len() == 3 && !cols[2].is_empty() && cols[2].parse::<f64>().is_err() {
            return Ok(());
        }
        if cols.len() != 3 {
            let looks = match &cols[..] {
                [.., ""] => " — the line ends in a tab",
                [_, "0" | "Q0" | "q0", _, _] => {
                    " — this looks like TREC qrels (query-id 0 doc-id relevance): pass it with --qrels"
                }
                [_] => " — no tab: are the columns separated by spaces?",
                _ => "",
            };
            return Err(Error::input(
                &file,
                n,
                format!("expected 3 tab-separated columns, found {}{looks}", cols.len()),
                "each line must be `query-id<TAB>corpus-id<TAB>score`",
            ));
        }
        let rel = parse_rel(&file, n, cols[2])?;
        let prev = qrels.entry(cols[0].to_string()).or_default().insert(cols[1].to_string(), rel);
        if prev.is_some() {
            notes.duplicate_qrels.push(format!("{} {}", cols[0], cols[1]));
        }
        if n == 1 {
            notes.qrels_line_1_judgment = Some(format!("{} {} {rel}", cols[0], cols[1]));
        }
        Ok(())
    })?;
    Ok(qrels)
}

/// A relevance grade: an integer (as BEIR and trec_eval read it).
pub fn parse_rel(file: &str, line: usize, s: &str) -> Result<i32> {
    s.parse::<i32>().map_err(|_| {
        let what = if s.parse::<i128>().is_ok() {
            format!("relevance {s} is out of range (at most ±{})", i32::MAX)
        } else {
            format!("relevance '{s}' is not an integer")
        };
        Error::input(file, line, what, "write graded relevance as integers (0, 1, 2, ...)")
    })
}
