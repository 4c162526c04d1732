//! The comparison: one [`Report`] holding every model's metrics, per-query results, failures
//! and timings, and exporters that turn it into bytes ([`Exporter`]) — the same bytes become
//! a file natively and a `Blob` in the browser. Only the CLI writes files.
//!
//! `results.json` schema (version 1, stable; additions only within a version):
//! `{"schema_version": 1, "tool", "convention", "score_function", "k": [..],
//!   "dataset": <validation report>, "models": [{"name", "spec", "metrics": {"ndcg@10": ..},
//!   "st_metrics": {"cosine_ndcg@10": ..} (st convention only), "num_queries",
//!   "queries_missing_from_run", "queries_missing_scored_zero", "queries_with_ties_at_cutoff",
//!   "timings": {..},
//!   "failures": [..]}], "significance": {..} (two or more models), "warnings": [..],
//!   "config": {..}}`. `significance` compares every model with the best one per query
//!   ([`significance`]): `{"metric": "ndcg@10", "reference", "method": {..}, "comparisons":
//!   [{"model", "queries", "mean", "reference_mean", "delta", "ci95": [lo, hi], "p_value",
//!   "p_exact", "wins", "losses", "ties"}]}`.
//! Each `per_query.jsonl` line: `{"model", "query_id", "metrics": {..}, "first_relevant_rank",
//! "top": [[doc_id, score], ..]}`.

pub mod csv;
pub mod details;
pub mod html;
pub mod json;
pub mod markdown;
pub mod significance;
pub mod trec_run;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::data::{self, Dataset, Files, Validation};
use crate::embed::{self, ModelSpec, RunContext, Timings};
use crate::error::{Error, Result};
use crate::metrics::{self, Convention, METRICS};
use crate::{Config, Progress};

pub const SCHEMA_VERSION: u32 = 1;

/// Turns a report into the bytes of one file format.
pub trait Exporter {
    fn serialize(&self, report: &Report) -> Vec<u8>;
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub convention: Convention,
    pub score_function: crate::ScoreFn,
    pub k: Vec<usize>,
    pub dataset: Validation,
    pub models: Vec<ModelReport>,
    /// Each model against the best, per query; kept up to date by [`Report::push_model`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub significance: Option<significance::Significance>,
    pub warnings: Vec<String>,
    pub config: Config,
    /// Per-query detail for the page's views and report.html (`--details`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<details::Details>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub spec: ModelSpec,
    /// `<metric>@<k>` → mean, in registry then k order.
    pub metrics: Map<String, Value>,
    /// sentence-transformers' own key names (`cosine_ndcg@10`), under the st convention only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub st_metrics: Option<Map<String, Value>>,
    pub num_queries: usize,
    /// Judged queries without results that are left out of the means.
    pub queries_missing_from_run: usize,
    /// Evaluated queries a run lacks that count 0 in every metric (`st`: sentence-transformers
    /// scores an empty result list).
    pub queries_missing_scored_zero: usize,
    pub queries_with_ties_at_cutoff: usize,
    pub timings: Timings,
    /// What ranked the documents (`cpu`, `gpu: <adapter>`, `bm25 (cpu)`, `run file`).
    pub search: embed::SearchInfo,
    pub failures: Vec<Failure>,
    #[serde(skip)]
    pub per_query: Vec<PerQuery>,
    /// The ranking evaluated, every query to the search depth, with `Config::save_runs` (a
    /// `run:` model's is its file; see [`trec_run`]). Held only while the evaluation's
    /// `after_model` runs for this model, which writes it out: [`crate::evaluate`] drops it
    /// before the next model, so a run of many models holds one ranking at a time.
    #[serde(skip)]
    pub rankings: Option<std::sync::Arc<crate::search::Rankings>>,
    /// The run file's name (`LABEL.trec`, unique within the report) for a model that keeps its
    /// ranking: `runs/` + this with `--save-runs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_file: Option<String>,
}

/// One line of `per_query.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct PerQuery {
    pub model: String,
    pub query_id: String,
    pub metrics: Map<String, Value>,
    pub first_relevant_rank: Option<usize>,
    pub top: Vec<(String, f64)>,
}

/// A query the model got wrong, with enough text to see why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub query_id: String,
    pub query: String,
    /// Recall at `failure_k`.
    pub recall: f64,
    pub first_relevant_rank: Option<usize>,
    /// Relevant docs not in the top `failure_k`: (id, first 100 characters).
    pub missed: Vec<(String, String)>,
    /// What was retrieved instead: (id, score, first 100 characters), best first.
    pub retrieved: Vec<(String, f64, String)>,
}

impl Report {
    pub fn new(config: &Config, dataset: Validation) -> Report {
        let mut warnings = dataset.warnings();
        if dataset.num_evaluated_queries == 0 {
            warnings.push("no query has a relevant judgment: every metric is 0".into());
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: format!("embeval {}", env!("CARGO_PKG_VERSION")),
            convention: config.convention,
            score_function: config.score_function,
            k: config.k.clone(),
            dataset,
            models: Vec::new(),
            significance: None,
            warnings,
            config: config.clone(),
            details: None,
        }
    }

    pub fn push_model(&mut self, mut m: ModelReport) {
        if m.rankings.is_some() {
            m.run_file = Some(trec_run::file_name(&m.name, self.models.iter().filter_map(|m| m.run_file.as_deref())));
        }
        if m.queries_with_ties_at_cutoff > 0 {
            self.warnings.push(format!(
                "{}: {} tied scores straddling a cut-off; {} metrics depend on the {} tie rule",
                m.name,
                queries_have(m.queries_with_ties_at_cutoff, ""),
                if m.queries_with_ties_at_cutoff == 1 { "its" } else { "their" },
                self.convention.name()
            ));
        }
        if let Some(n) = &m.search.notice {
            self.warnings.push(format!("{}: {n}", m.name));
        }
        if m.queries_missing_scored_zero > 0 {
            self.warnings.push(format!(
                "{}: {} no results in the run and {} 0 in every metric (as sentence-transformers' \
                 evaluator scores an empty result list)",
                m.name,
                queries_have(m.queries_missing_scored_zero, "evaluated "),
                if m.queries_missing_scored_zero == 1 { "counts" } else { "count" }
            ));
        }
        if m.queries_missing_from_run > 0 {
            // A searched model has results for every query it was given: those missing are the
            // judged ones the queries file lacks (the validation report lists them).
            let n = m.queries_missing_from_run;
            let (is, has, was) = if n == 1 { ("is", "has", "was") } else { ("are", "have", "were") };
            let why = match m.spec {
                ModelSpec::Run { .. } => format!("{has} no results"),
                ModelSpec::Emb { .. } => {
                    format!("{is} not in the queries file or {has} no vector, so {was} not searched,")
                }
                _ => format!("{is} not in the queries file, so {was} not searched,"),
            };
            let judged = if n == 1 { "1 judged query".to_string() } else { format!("{n} judged queries") };
            self.warnings.push(format!(
                "{}: {judged} {why} and {is} left out of the means (as pytrec_eval and trec_eval without -c)",
                m.name
            ));
        }
        self.models.push(m);
        let previous = self.significance.take();
        self.significance = significance::compute(self, previous);
    }

    /// Models sorted best first by nDCG@10 (or the first metric key present), as the table prints.
    pub fn ranked_models(&self) -> Vec<&ModelReport> {
        let key = self.sort_key();
        let mut v: Vec<&ModelReport> = self.models.iter().collect();
        let get = |m: &ModelReport| m.metrics.get(&key).and_then(Value::as_f64).unwrap_or(0.0);
        v.sort_by(|a, b| get(b).total_cmp(&get(a)));
        v
    }

    pub fn sort_key(&self) -> String {
        let k = if self.k.contains(&10) { 10 } else { *self.k.iter().max().unwrap_or(&10) };
        format!("ndcg@{k}")
    }
}

/// "1 evaluated query has" / "3 evaluated queries have" (`what`: a word and a space, or "").
fn queries_have(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}query has")
    } else {
        format!("{n} {what}queries have")
    }
}

/// Runs one model and scores it.
pub async fn evaluate_model(
    spec: &ModelSpec,
    files: &Files,
    dataset: &Dataset,
    config: &Config,
    progress: &dyn Progress,
) -> Result<ModelReport> {
    let clock = web_time::Instant::now();
    let depth = config.k.iter().copied().max().unwrap_or(10).max(config.top).max(config.failure_k);
    let cx = RunContext {
        files,
        dataset,
        convention: config.convention,
        run_scores: config.run_scores,
        score_fn: config.score_function,
        depth,
        search: config.search,
        neural: &config.neural,
        cache: config.cache.clone().map(Into::into),
        doc_embeddings: config.doc_embeddings.clone().map(Into::into),
        progress,
    };
    let (mut rankings, mut timings, mut search) = embed::rank(spec, &cx).await?;
    let t_metrics = web_time::Instant::now();
    if let ModelSpec::Run { file, .. } = spec {
        if let Some(n) = run_matches(files, file, dataset, &rankings, config.convention)? {
            search.add_notice(n);
        }
    }
    // Under `st` an evaluated query a run lacks counts 0 in every metric, as
    // sentence-transformers' evaluator scores an empty result list (`trec` leaves it out of the
    // means, as trec_eval without -c and pytrec_eval).
    let mut zeroed = 0;
    if config.convention == Convention::St && matches!(spec, ModelSpec::Run { .. }) {
        let ran: std::collections::HashSet<&str> = rankings.queries.iter().map(|q| q.query_id.as_str()).collect();
        let lacked: Vec<String> = dataset
            .evaluated_queries(Convention::St)
            .filter(|q| !ran.contains(q.id.as_str()))
            .map(|q| q.id.clone())
            .collect();
        zeroed = lacked.len();
        rankings
            .queries
            .extend(lacked.into_iter().map(|query_id| crate::search::QueryRanking { query_id, hits: vec![] }));
    }
    let (scores, summary) =
        metrics::evaluate(&rankings, &dataset.qrels, config.convention, config.run_scores, &config.k);
    timings.metrics_s = t_metrics.elapsed().as_secs_f64();
    timings.total_s = clock.elapsed().as_secs_f64();

    let keys = metrics::keys(&config.k);
    let metrics_map = |values: &[Vec<f64>]| -> Map<String, Value> {
        let flat = values.iter().flatten();
        keys.iter().cloned().zip(flat.map(|&v| Value::from(v))).collect()
    };
    let mut means = Map::new();
    for k in &keys {
        means.insert(k.clone(), Value::from(summary.metrics[k]));
    }
    let st_metrics = (config.convention == Convention::St).then(|| {
        let prefix = config.score_function.name();
        METRICS
            .iter()
            .flat_map(|m| config.k.iter().map(move |k| (m, k)))
            .map(|(m, k)| (format!("{prefix}_{}@{k}", m.st_key), means[&format!("{}@{k}", m.name)].clone()))
            .collect()
    });

    let by_id: std::collections::HashMap<&str, &crate::search::QueryRanking> =
        rankings.queries.iter().map(|q| (q.query_id.as_str(), q)).collect();
    let top_of = |qid: &str, n: usize| -> Vec<(String, f64)> {
        by_id
            .get(qid)
            .map(|q| q.hits.iter().take(n).map(|h| (rankings.doc_ids[h.doc as usize].to_string(), h.score)).collect())
            .unwrap_or_default()
    };
    let per_query: Vec<PerQuery> = scores
        .iter()
        .map(|s| PerQuery {
            model: spec.label().to_string(),
            query_id: s.query_id.clone(),
            metrics: metrics_map(&s.values),
            first_relevant_rank: s.first_relevant_rank,
            top: top_of(&s.query_id, config.top),
        })
        .collect();
    let mut failures = find_failures(dataset, &scores, config, &top_of);
    if let Err(e) = failure_texts(files, dataset, &mut failures) {
        // The metrics stand; only the previews are missing.
        search.add_notice(format!("its worst queries are listed without document texts: {e}"));
    }
    // `--save-runs`: the ranking kept for its run file, unless a run cannot hold its ids.
    let mut kept = None;
    if config.save_runs && !matches!(spec, ModelSpec::Run { .. }) {
        match trec_run::unwritable(&rankings) {
            Some(why) => search.add_notice(format!("no run file: {why}")),
            None => kept = Some(std::sync::Arc::new(rankings)),
        }
    }
    Ok(ModelReport {
        name: spec.label().to_string(),
        spec: spec.clone(),
        metrics: means,
        st_metrics,
        num_queries: summary.num_queries,
        queries_missing_from_run: summary.queries_missing_from_run,
        queries_missing_scored_zero: zeroed,
        queries_with_ties_at_cutoff: summary.queries_with_ties_at_cutoff,
        timings,
        search,
        failures,
        per_query,
        rankings: kept,
        run_file: None,
    })
}

/// A run that shares no query id with the evaluated queries, or (with a corpus) no document id
/// with the corpus, is an error naming ids of both sides (trec_eval stops too: "No queries with
/// both results and relevance info"), not a row of zeros. Without a corpus, a run none of whose
/// documents is judged gets a warning (`Ok(Some(..))`).
fn run_matches(
    files: &Files,
    file: &str,
    ds: &Dataset,
    run: &crate::search::Rankings,
    conv: Convention,
) -> Result<Option<String>> {
    let first = |ids: &mut dyn Iterator<Item = &str>| data::validate::quoted(ids, 3);
    let evaluated =
        |q: &&crate::search::QueryRanking| ds.qrels.get(&q.query_id).is_some_and(|j| data::evaluated(conv, j));
    let (what, fix) = if !run.queries.iter().any(|q| evaluated(&q)) {
        (
            format!(
                "none of its query ids is an evaluated query's (run: {}; judged: {})",
                first(&mut run.queries.iter().map(|q| q.query_id.as_str())),
                first(&mut ds.evaluated_queries(conv).map(|q| q.id.as_str())),
            ),
            "the run's first column must hold the judgments' query ids (the same strings)",
        )
    } else if !ds.corpus.is_empty() && !run.queries.is_empty() {
        let corpus: std::collections::HashSet<&str> = ds.corpus.iter().map(|d| d.id.as_str()).collect();
        if run.doc_ids.iter().any(|d| corpus.contains(d)) {
            return Ok(None);
        }
        (
            format!(
                "none of its document ids is in the corpus (run: {}; corpus: {})",
                first(&mut run.doc_ids.iter()),
                first(&mut ds.corpus.iter().map(|d| d.id.as_str())),
            ),
            "the run's third column must hold the corpus's document ids (the same strings)",
        )
    } else if ds.corpus.is_empty() {
        // Judgments alone: a run none of whose documents is judged scores 0 everywhere, most
        // likely ids of another form; a warning, as a poor run can retrieve nothing judged.
        let judged: std::collections::BTreeSet<&str> =
            ds.qrels.values().flat_map(|m| m.keys()).map(String::as_str).collect();
        if !run.queries.is_empty() && !run.doc_ids.iter().any(|d| judged.contains(d)) {
            return Ok(Some(format!(
                "none of its document ids is judged (run: {}; judged: {}): every metric is 0; are the ids \
                 the judgments' (the same strings)?",
                first(&mut run.doc_ids.iter()),
                first(&mut judged.iter().copied()),
            )));
        }
        return Ok(None);
    } else {
        return Ok(None);
    };
    Err(Error::input(files.display(file), 0, what, fix))
}

/// A query's top n (doc id, score).
type TopOf<'a> = dyn Fn(&str, usize) -> Vec<(String, f64)> + 'a;

/// Characters of each document shown in a failure list.
const FAILURE_PREVIEW_CHARS: usize = 100;

/// The `config.failures` worst queries: Recall@failure_k below the threshold, lowest recall
/// first, then the latest first relevant rank (none = worst), then query id. Document texts
/// are left empty for [`failure_texts`].
fn find_failures(ds: &Dataset, scores: &[metrics::QueryScores], config: &Config, top_of: &TopOf) -> Vec<Failure> {
    if config.failures == 0 {
        return Vec::new();
    }
    let fk = config.failure_k;
    let mut cands: Vec<(f64, usize, &str)> = scores
        .iter()
        .filter_map(|s| {
            let judged = ds.qrels.get(&s.query_id)?;
            // A query with nothing relevant (evaluated under `trec`) misses nothing.
            let nrel = judged.values().filter(|&&r| r >= 1).count();
            if nrel == 0 {
                return None;
            }
            let top = top_of(&s.query_id, fk);
            let hit = top.iter().filter(|(d, _)| judged.get(d).is_some_and(|&r| r >= 1)).count();
            let recall = hit as f64 / nrel as f64;
            (recall < config.failure_threshold).then_some((
                recall,
                s.first_relevant_rank.unwrap_or(usize::MAX),
                s.query_id.as_str(),
            ))
        })
        .collect();
    cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    cands
        .into_iter()
        .take(config.failures)
        .map(|(recall, first, qid)| {
            let judged = &ds.qrels[qid];
            let top = top_of(qid, fk);
            let in_top: std::collections::HashSet<&str> = top.iter().map(|(d, _)| d.as_str()).collect();
            Failure {
                query_id: qid.to_string(),
                query: ds.queries.iter().find(|q| q.id == qid).map(|q| q.text.clone()).unwrap_or_default(),
                recall,
                first_relevant_rank: (first != usize::MAX).then_some(first),
                missed: judged
                    .iter()
                    .filter(|(d, &r)| r >= 1 && !in_top.contains(d.as_str()))
                    .map(|(d, _)| (d.clone(), String::new()))
                    .collect(),
                retrieved: top.iter().take(3).map(|(d, s)| (d.clone(), *s, String::new())).collect(),
            }
        })
        .collect()
}

/// Fills in the failures' document previews, all at once (the corpus may have to be read again).
fn failure_texts(files: &Files, ds: &Dataset, failures: &mut [Failure]) -> Result<()> {
    let named = failures.iter().flat_map(|f| f.missed.iter().map(|m| &m.0).chain(f.retrieved.iter().map(|r| &r.0)));
    let wanted: std::collections::BTreeSet<&str> = named.map(String::as_str).collect();
    let texts = ds.doc_previews(files, &wanted, FAILURE_PREVIEW_CHARS)?;
    let text = |d: &str| texts.get(d).cloned().unwrap_or_default();
    for f in failures.iter_mut() {
        f.missed.iter_mut().for_each(|m| m.1 = text(&m.0));
        f.retrieved.iter_mut().for_each(|r| r.2 = text(&r.0));
    }
    Ok(())
}
