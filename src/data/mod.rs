//! Datasets: queries, a corpus and relevance judgments, read from any of the formats users
//! already have (BEIR, the sentence-transformers triple, QA logs, TREC qrels and runs).
//!
//! Every loader reads through [`Files`], a map from a logical name (`corpus.jsonl`,
//! `qrels/test.tsv`, ...) to a path on disk or to bytes handed over by the browser, so the CLI
//! and the page share one code path. Loaders return a [`Dataset`]; [`validate`] then writes the
//! report printed before every evaluation.

pub mod beir;
pub mod corpus;
pub mod files;
pub mod qalog;
pub mod split;
pub mod st_triple;
pub mod text;
pub mod trec;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use files::Files;
pub use validate::Validation;

use crate::error::{Error, Result};

/// A query or a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub id: String,
    pub text: String,
}

/// Relevance judgments: query id → doc id → graded relevance (TREC integers; ≥ 1 is relevant).
pub type Qrels = BTreeMap<String, BTreeMap<String, i32>>;

/// The input formats. `Auto` looks at which files are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Auto,
    Beir,
    St,
    Qalog,
    Trec,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Beir => "beir",
            Format::St => "st",
            Format::Qalog => "qalog",
            Format::Trec => "trec",
        }
    }
}

/// How a BEIR document's `title` and `text` become the text that is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DocText {
    /// `(title + " " + text).strip()`, as BEIR and MTEB build it.
    #[default]
    TitleText,
    /// The `text` field alone.
    Text,
}

/// Options that change how files are read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    pub format: Format,
    /// BEIR: which `qrels/<split>.tsv` to read.
    pub split: String,
    /// QA logs: references with a lower `relevance_score` are dropped.
    pub min_relevance: f64,
    pub doc_text: DocText,
    /// Keep each document's text in memory (see [`corpus`]); off only for evaluations that read
    /// no document text ([`crate::Config::load_options`]). Not a setting that changes a result,
    /// so not in results.json.
    #[serde(skip)]
    pub keep_doc_texts: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: Format::Auto,
            split: "test".into(),
            min_relevance: 0.7,
            doc_text: DocText::TitleText,
            keep_doc_texts: true,
        }
    }
}

/// Logical file names the loaders look for.
pub mod names {
    pub const BEIR_CORPUS: &str = "corpus.jsonl";
    pub const BEIR_QUERIES: &str = "queries.jsonl";
    pub const ST_QUERIES: &str = "queries.json";
    pub const ST_CORPUS: &str = "corpus.json";
    pub const ST_RELEVANT: &str = "relevant_docs.json";
    pub const QALOG: &str = "qalog.jsonl";
    pub const QRELS: &str = "qrels";
    pub fn beir_qrels(split: &str) -> String {
        format!("qrels/{split}.tsv")
    }
}

/// A loaded dataset. Queries and corpus keep file order; the first of duplicate ids wins.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub format: Format,
    pub queries: Vec<Text>,
    /// Documents in file order; each text is empty where [`Dataset::doc_texts`] says dropped.
    pub corpus: Vec<Text>,
    pub qrels: Qrels,
    /// What the loader itself noticed (dropped QA-log references, duplicates, ...).
    pub notes: LoaderNotes,
    /// Whether the corpus holds its texts, and what was kept of them where not.
    pub doc_texts: corpus::DocTexts,
}

/// Counts a loader collects while reading, reported in the validation report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoaderNotes {
    pub duplicate_query_ids: Vec<String>,
    pub duplicate_doc_ids: Vec<String>,
    pub duplicate_qrels: Vec<String>,
    /// QA logs: references dropped for `relevance_score < min_relevance`.
    pub dropped_references: usize,
    /// QA logs: queries dropped because no reference was left.
    pub dropped_queries: Vec<String>,
    /// BEIR: the judgment on line 1 of a qrels file without a header (`q d grade`), which BEIR's
    /// GenericDataLoader (so MTEB's BEIR datasets) skips as the header.
    pub qrels_line_1_judgment: Option<String>,
}

impl Dataset {
    /// The logical name of the file the judgments came from (for errors about them).
    pub fn judgments_file(&self, split: &str) -> String {
        match self.format {
            Format::St => names::ST_RELEVANT.into(),
            Format::Qalog => names::QALOG.into(),
            Format::Trec => names::QRELS.into(),
            Format::Beir | Format::Auto => names::beir_qrels(split),
        }
    }

    /// Reads a dataset, choosing the loader from `opts.format` or, for `Auto`, from the files present.
    pub fn load(files: &Files, opts: &LoadOptions) -> Result<Dataset> {
        let format = match opts.format {
            Format::Auto => detect(files)?,
            f => f,
        };
        let mut ds = match format {
            Format::Beir => beir::load(files, opts)?,
            Format::St => st_triple::load(files, opts)?,
            Format::Qalog => qalog::load(files, opts)?,
            Format::Trec => {
                // With a folder's corpus (`--data FOLDER --format trec`), its documents too.
                let mut ds = trec::load_dataset(files)?;
                (ds.corpus, ds.doc_texts) = corpus::load(files, format, opts, &mut ds.notes.duplicate_doc_ids)?;
                ds
            }
            Format::Auto => unreachable!("detect never returns Auto"),
        };
        ds.format = format;
        Ok(ds)
    }

    /// The corpus alone, queries and judgments neither read nor needed (empty): what an
    /// `embeval encode` job reads. The format is the one [`Dataset::load`] picks from a whole
    /// dataset, else that of the corpus file present (`corpus.jsonl` BEIR, `corpus.json`
    /// sentence-transformers), so a job's machine needs only the corpus and its documents are
    /// those `eval` loads from the whole dataset.
    pub fn load_corpus(files: &Files, opts: &LoadOptions) -> Result<Dataset> {
        let format = match opts.format {
            Format::Auto => detect(files).or_else(|e| match () {
                _ if files.has(names::BEIR_CORPUS) => Ok(Format::Beir),
                _ if files.has(names::ST_CORPUS) => Ok(Format::St),
                _ => Err(e),
            })?,
            f => f,
        };
        if format == Format::Trec {
            return Err(Error::usage(
                "--data",
                "TREC qrels and runs hold no documents to encode: give the dataset's folder (corpus.jsonl or \
                 corpus.json) or a QA log with its --corpus",
            ));
        }
        let mut notes = LoaderNotes::default();
        let (corpus, doc_texts) = corpus::load(files, format, opts, &mut notes.duplicate_doc_ids)?;
        Ok(Dataset { format, corpus, notes, doc_texts, ..Default::default() })
    }

    /// The queries metrics average over, in file order: under `trec` every judged query, as
    /// trec_eval and pytrec_eval (one judged only with grades < 1 scores 0); under `st` those
    /// with a judgment of relevance ≥ 1, as sentence-transformers.
    pub fn evaluated_queries(&self, conv: crate::Convention) -> impl Iterator<Item = &Text> {
        self.queries.iter().filter(move |q| self.qrels.get(&q.id).is_some_and(|r| evaluated(conv, r)))
    }
}

/// Whether a query with `judged` documents is evaluated under `conv` ([`Dataset::evaluated_queries`]).
pub fn evaluated(conv: crate::Convention, judged: &BTreeMap<String, i32>) -> bool {
    match conv {
        crate::Convention::Trec => !judged.is_empty(),
        crate::Convention::St => has_relevant(judged),
    }
}

/// Whether any of a query's `judged` documents is relevant (relevance ≥ 1).
pub fn has_relevant(judged: &BTreeMap<String, i32>) -> bool {
    judged.values().any(|&v| v >= 1)
}

/// Picks the format from the logical names present.
pub fn detect(files: &Files) -> Result<Format> {
    use names::*;
    if files.has(BEIR_CORPUS) && files.has(BEIR_QUERIES) {
        Ok(Format::Beir)
    } else if files.has(ST_QUERIES) && files.has(ST_CORPUS) && files.has(ST_RELEVANT) {
        Ok(Format::St)
    } else if files.has(QALOG) && files.has(BEIR_CORPUS) {
        Ok(Format::Qalog)
    } else if files.has(QRELS) {
        Ok(Format::Trec)
    } else if files.has(BEIR_CORPUS) || files.has(BEIR_QUERIES) {
        // Half a BEIR folder: say which file is missing.
        let (has, lacks) =
            if files.has(BEIR_CORPUS) { (BEIR_CORPUS, BEIR_QUERIES) } else { (BEIR_QUERIES, BEIR_CORPUS) };
        Err(Error::missing(
            files.display(lacks),
            format!("file not found: a BEIR folder has {lacks} beside {has}"),
            format!("add {lacks} ({{\"_id\", ...}} one JSON object per line)"),
        ))
    } else {
        let n = files.names().count();
        let more = if n > 8 { format!(" and {} more", n - 8) } else { String::new() };
        let seen = validate::quoted(files.names(), 8) + &more;
        let fix = "give a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), a sentence-transformers \
                   folder (queries.json, corpus.json, relevant_docs.json), a QA log (--data LOG.jsonl --corpus \
                   CORPUS.jsonl) or TREC files (--qrels QRELS --run RUN), or set --format";
        let zip = files.names().find(|n| n.to_ascii_lowercase().ends_with(".zip"));
        Err(Error::missing(
            files.root(),
            if seen.is_empty() {
                "cannot tell the dataset format: no files".to_string()
            } else {
                format!("cannot tell the dataset format from the files present ({seen})")
            },
            match zip {
                Some(z) => format!("unzip {z} first (zip archives are not read); then {fix}"),
                None => fix.to_string(),
            },
        ))
    }
}

/// Each id once, in its first place with its last text (as BEIR's query dict), the later
/// ones recorded.
pub(crate) fn dedup_texts(items: Vec<Text>, dups: &mut Vec<String>) -> Vec<Text> {
    let mut b = corpus::Builder::new(true);
    for t in items {
        b.push(t.id, t.text);
    }
    b.finish(dups, DocText::default()).0
}
