//! The validation report printed before every evaluation and stored in `results.json`
//! under `dataset`: counts, and every kind of inconsistency that silently skews metrics.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use super::Dataset;

/// How many ids each finding lists as examples.
const EXAMPLES: usize = 5;

/// A count with the first few offending ids.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Finding {
    pub count: usize,
    pub examples: Vec<String>,
}

impl Finding {
    fn from<I: IntoIterator<Item = String>>(it: I) -> Self {
        let mut f = Finding::default();
        for s in it {
            if f.examples.len() < EXAMPLES {
                f.examples.push(crate::error::clip(s, 200));
            }
            f.count += 1;
        }
        f
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    pub format: String,
    pub num_queries: usize,
    pub num_docs: usize,
    /// (query, doc) judgments in the qrels, any grade.
    pub num_qrels: usize,
    /// Judgments with relevance ≥ 1.
    pub num_relevant_qrels: usize,
    /// The queries metrics average over ([`Dataset::evaluated_queries`]): under `trec` every
    /// judged query, under `st` those with a judgment of relevance ≥ 1.
    pub num_evaluated_queries: usize,
    pub duplicate_query_ids: Finding,
    pub duplicate_doc_ids: Finding,
    pub duplicate_qrels: Finding,
    /// Judgments whose doc is not in the corpus (none checked when there is no corpus).
    pub qrels_missing_docs: Finding,
    /// Judgments whose query is not among the queries.
    pub qrels_missing_queries: Finding,
    /// Queries without any relevance ≥ 1 judgment that are not evaluated: skipped by every
    /// metric (under `trec`, those not judged at all).
    pub queries_without_positive: Finding,
    /// Under `trec`: queries judged, but none relevant (every grade < 1) — evaluated, 0 in every
    /// metric, as trec_eval and pytrec_eval count them.
    pub judged_queries_without_positive: Finding,
    pub empty_queries: Finding,
    pub empty_docs: Finding,
    /// Ids used both for a query and a doc (BEIR's evaluator skips such pairs; embeval does not).
    pub ids_shared_by_query_and_doc: Finding,
    /// QA logs only.
    pub dropped_references: usize,
    pub dropped_queries: Finding,
    /// BEIR: a qrels file without a header: its first judgment, which BEIR's loader skips.
    pub qrels_line_1_judgment: Finding,
}

/// The report on `ds` for metrics under `conv` (which queries they average over).
pub fn validate(ds: &Dataset, conv: crate::Convention) -> Validation {
    let qids: HashSet<&str> = ds.queries.iter().map(|q| q.id.as_str()).collect();
    let dids: HashSet<&str> = ds.corpus.iter().map(|d| d.id.as_str()).collect();
    let num_qrels = ds.qrels.values().map(|m| m.len()).sum();
    let num_relevant_qrels = ds.qrels.values().flat_map(|m| m.values()).filter(|&&r| r >= 1).count();
    let has_corpus = !ds.corpus.is_empty();
    let query_texts = ds.format != super::Format::Trec || ds.queries.iter().any(|q| !q.text.is_empty());
    // Queries without a relevant judgment, evaluated (`trec`, judged) or not.
    let without_positive = |evaluated: bool| {
        ds.queries
            .iter()
            .filter(move |q| {
                let judged = ds.qrels.get(&q.id);
                !judged.is_some_and(super::has_relevant)
                    && judged.is_some_and(|m| super::evaluated(conv, m)) == evaluated
            })
            .map(|q| q.id.clone())
    };
    Validation {
        format: ds.format.name().to_string(),
        num_queries: ds.queries.len(),
        num_docs: ds.corpus.len(),
        num_qrels,
        num_relevant_qrels,
        num_evaluated_queries: ds.evaluated_queries(conv).count(),
        duplicate_query_ids: Finding::from(ds.notes.duplicate_query_ids.iter().cloned()),
        duplicate_doc_ids: Finding::from(ds.notes.duplicate_doc_ids.iter().cloned()),
        duplicate_qrels: Finding::from(ds.notes.duplicate_qrels.iter().cloned()),
        qrels_missing_docs: Finding::from(
            ds.qrels
                .iter()
                .flat_map(|(q, m)| m.keys().map(move |d| (q, d)))
                .filter(|(_, d)| has_corpus && !dids.contains(d.as_str()))
                .map(|(q, d)| format!("{q} {d}")),
        ),
        qrels_missing_queries: Finding::from(ds.qrels.keys().filter(|q| !qids.contains(q.as_str())).cloned()),
        queries_without_positive: Finding::from(without_positive(false)),
        judged_queries_without_positive: Finding::from(without_positive(true)),
        // TREC judgments name queries without texts unless a queries file gave some: then a
        // judged query it lacks has none (`--data FOLDER --format trec`: `1` judged, `q1` there).
        empty_queries: Finding::from(
            ds.queries.iter().filter(|q| q.text.trim().is_empty() && query_texts).map(|q| q.id.clone()),
        ),
        empty_docs: Finding::from(ds.empty_doc_ids()),
        ids_shared_by_query_and_doc: Finding::from(
            ds.queries.iter().filter(|q| dids.contains(q.id.as_str())).map(|q| q.id.clone()),
        ),
        dropped_references: ds.notes.dropped_references,
        dropped_queries: Finding::from(ds.notes.dropped_queries.iter().cloned()),
        qrels_line_1_judgment: Finding::from(ds.notes.qrels_line_1_judgment.iter().cloned()),
    }
}

/// The first `n` of `ids`, each in quotes, for a message naming examples.
pub fn quoted<'a>(ids: impl IntoIterator<Item = &'a str>, n: usize) -> String {
    ids.into_iter().take(n).map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

/// Why no query of `ds` can be evaluated (none has a judgment of relevance ≥ 1), as an error
/// naming the judgments file (`qrels`, a logical name in `files`): every metric would be 0.
pub fn nothing_to_evaluate(ds: &Dataset, files: &crate::data::Files, qrels: &str) -> crate::Error {
    let qids: HashSet<&str> = ds.queries.iter().map(|q| q.id.as_str()).collect();
    let first = |it: &mut dyn Iterator<Item = &str>| quoted(it, EXAMPLES);
    let relevant = ds.qrels.values().any(super::has_relevant);
    let (what, fix) = if ds.qrels.is_empty() && ds.notes.dropped_references > 0 {
        (
            format!("all {} references scored below --min-relevance", ds.notes.dropped_references),
            "give a lower --min-relevance (e.g. --min-relevance 0.5), or log references scored at or above it",
        )
    } else if ds.qrels.is_empty() {
        ("there are no judgments".to_string(), "add judgments (query id, doc id, relevance ≥ 1)")
    } else if !relevant {
        ("no judgment has relevance ≥ 1".to_string(), "mark relevant documents with a relevance of 1 or more")
    } else if !ds.qrels.keys().any(|q| qids.contains(q.as_str())) {
        (
            format!(
                "none of its {} judged query ids is a query's id (judged: {}; queries: {})",
                ds.qrels.len(),
                first(&mut ds.qrels.keys().map(String::as_str)),
                first(&mut ds.queries.iter().map(|q| q.id.as_str())),
            ),
            "use the queries file's ids in the judgments (the same strings)",
        )
    } else {
        ("no query has a relevant judgment".to_string(), "judge at least one query")
    };
    crate::Error::input(files.display(qrels), 0, format!("nothing to evaluate: {what}"), fix)
}

/// With a corpus, an error when no relevant judgment names one of its documents (the judgments
/// hold ids of another form, `d1` for `1`): every metric would be 0 for any model.
pub fn judged_docs_missing(ds: &Dataset, files: &crate::data::Files, qrels: &str) -> Option<crate::Error> {
    if ds.corpus.is_empty() {
        return None;
    }
    let dids: HashSet<&str> = ds.corpus.iter().map(|d| d.id.as_str()).collect();
    let mut relevant = ds.qrels.values().flat_map(|m| m.iter().filter(|(_, &r)| r >= 1).map(|(d, _)| d.as_str()));
    if relevant.clone().any(|d| dids.contains(d)) {
        return None;
    }
    let first = |it: &mut dyn Iterator<Item = &str>| quoted(it, EXAMPLES);
    Some(crate::Error::input(
        files.display(qrels),
        0,
        format!(
            "nothing to evaluate: none of its relevant documents is in the corpus (judged: {}; corpus: {})",
            first(&mut relevant),
            first(&mut ds.corpus.iter().map(|d| d.id.as_str())),
        ),
        "use the corpus's document ids in the judgments (the same strings)",
    ))
}

impl Validation {
    /// (label, finding) pairs, in print order.
    fn findings(&self) -> [(&'static str, &Finding); 12] {
        [
            ("duplicate query ids (first place, last text kept, as BEIR)", &self.duplicate_query_ids),
            ("duplicate doc ids (first place, last text kept, as BEIR)", &self.duplicate_doc_ids),
            ("duplicate judgments (last kept)", &self.duplicate_qrels),
            ("judgments for docs not in the corpus", &self.qrels_missing_docs),
            ("judgments for queries not in the queries file", &self.qrels_missing_queries),
            ("queries without a relevant doc (skipped)", &self.queries_without_positive),
            (
                "judged queries without a relevant doc (0 in every metric, as trec_eval)",
                &self.judged_queries_without_positive,
            ),
            ("empty queries", &self.empty_queries),
            ("empty docs", &self.empty_docs),
            ("ids used for both a query and a doc", &self.ids_shared_by_query_and_doc),
            ("QA-log queries dropped (no reference ≥ --min-relevance)", &self.dropped_queries),
            (
                "qrels line 1 is a judgment, not a header (kept here; BEIR's GenericDataLoader skips \
                 line 1 whatever it holds)",
                &self.qrels_line_1_judgment,
            ),
        ]
    }

    /// Lines worth a warning.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .findings()
            .iter()
            .filter(|(_, f)| f.count > 0)
            .map(|(l, f)| format!("{}: {} (e.g. {})", l, f.count, f.examples.join(", ")))
            .collect();
        if self.dropped_references > 0 {
            out.push(format!("QA-log references below --min-relevance dropped: {}", self.dropped_references));
        }
        out
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dataset ({}): {} queries, {} docs, {} judgments ({} relevant), {} queries evaluated",
            self.format,
            self.num_queries,
            self.num_docs,
            self.num_qrels,
            self.num_relevant_qrels,
            self.num_evaluated_queries
        )?;
        for w in self.warnings() {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}
