//! embeval: which embedding model retrieves best on *your* data?
//!
//! The pipeline, in the order the tree reads: [`data`] loads and validates queries, corpus
//! and judgments → [`embed`] turns them into rankings (BM25, precomputed vectors, runs) with
//! [`search`] doing exact top-k → [`metrics`] scores each query under a declared convention →
//! [`report`] writes the comparison. The CLI (`main.rs`) and the browser page (`wasm.rs`) are
//! thin skins over [`evaluate`].

pub mod data;
pub mod embed;
pub mod error;
pub mod metrics;
pub mod report;
pub mod search;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

use serde::{Deserialize, Serialize};

pub use data::{Dataset, Files, LoadOptions};
pub use embed::{AttentionChoice, Dtype, ModelSpec, NeuralOptions};
pub use error::{Error, Result};
pub use metrics::{Convention, RunScores};
pub use report::{ModelReport, Report};
pub use search::ScoreFn;

/// A validated evaluation request: what the CLI builds from its flags and the page sends as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub load: LoadOptions,
    pub convention: Convention,
    /// How run files' scores compare under `trec` (floats as pytrec_eval, doubles as trec_eval 10).
    pub run_scores: RunScores,
    /// Cut-offs for every metric.
    pub k: Vec<usize>,
    /// `--model` values: `[LABEL=]bm25`, `emb:...`, `run:FILE`, a model folder, `openai:MODEL`...
    pub models: Vec<String>,
    pub score_function: ScoreFn,
    /// Neural models: batching, truncation, prompts, dtype.
    #[serde(flatten)]
    pub neural: NeuralOptions,
    /// Neural models: embedding cache folder (native only; `None` = no cache). A local path,
    /// so it is not written into results.json (cache hits are, per model).
    #[serde(skip_serializing)]
    pub cache: Option<String>,
    /// `--doc-embeddings`: a folder of document shards made by `embeval encode` (native only),
    /// searched instead of encoding the corpus here. A local path, so not in results.json
    /// (each model's `search.path` says it was streamed from shards).
    #[serde(skip_serializing)]
    pub doc_embeddings: Option<String>,
    /// Which searcher scores embeddings (`auto`, `cpu` or `gpu`).
    pub search: search::SearchPath,
    /// How many worst queries to list per model (0 = none).
    pub failures: usize,
    /// Failures are queries whose Recall@failure_k is below `failure_threshold`.
    pub failure_k: usize,
    pub failure_threshold: f64,
    /// Docs listed per query in `per_query.jsonl`.
    pub top: usize,
    /// Per-query detail in results.json (`off`, `ids`, `texts`): see [`report::details`].
    pub details: report::details::DetailLevel,
    /// Keep each searched model's ranking ([`report::ModelReport::rankings`]) for its TREC run
    /// file (the CLI's `--save-runs`, the page's "Keep each model's ranking").
    pub save_runs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            load: LoadOptions::default(),
            convention: Convention::Trec,
            run_scores: RunScores::Float,
            k: metrics::DEFAULT_KS.to_vec(),
            models: vec!["bm25".into()],
            score_function: ScoreFn::Cosine,
            search: search::SearchPath::Auto,
            neural: NeuralOptions::default(),
            cache: None,
            doc_embeddings: None,
            failures: 0,
            failure_k: 10,
            failure_threshold: 1.0,
            top: 10,
            details: Default::default(),
            save_runs: false,
        }
    }
}

impl Config {
    /// How to load the dataset for this evaluation: [`Config::load`], the documents' texts
    /// left out when no model reads them (document vectors from shards, precomputed vectors
    /// or runs only) — at millions of documents, gigabytes not held.
    pub fn load_options(&self) -> LoadOptions {
        let shards = self.doc_embeddings.is_some();
        let reads = |m: &String| ModelSpec::parse(m).map_or(true, |s| s.reads_doc_texts(shards));
        LoadOptions { keep_doc_texts: self.models.iter().any(reads), ..self.load.clone() }
    }

    /// Checks values a user can get wrong, naming the flag.
    pub fn validate(&self) -> Result<Vec<ModelSpec>> {
        if self.k.is_empty() || self.k.contains(&0) {
            return Err(Error::usage("--k", "give positive cut-offs, e.g. --k 1,3,5,10,100"));
        }
        if let Some(k) = self.k.iter().enumerate().find_map(|(i, k)| self.k[..i].contains(k).then_some(k)) {
            return Err(Error::usage("--k", format!("{k} is given twice: give each cut-off once")));
        }
        if self.failure_k == 0 || !(self.failure_threshold > 0.0 && self.failure_threshold <= 1.0) {
            return Err(Error::usage(
                "--failure-k / --failure-threshold",
                "a failure is a query whose Recall@K is below the threshold: give K ≥ 1 and a threshold in (0, 1]",
            ));
        }
        let n = &self.neural;
        if n.max_length == Some(0) || n.truncate_dim == Some(0) {
            return Err(Error::usage("--max-length / --truncate-dim", "give a positive number"));
        }
        if n.batch_size == 0 || n.max_batch_tokens == Some(0) || n.api_concurrency == 0 {
            return Err(Error::usage(
                "--batch-size / --max-batch-tokens / --api-concurrency",
                "give a positive number",
            ));
        }
        if self.models.is_empty() {
            return Err(Error::usage("--model", "give at least one model, e.g. --model bm25"));
        }
        let specs = self.models.iter().map(|m| ModelSpec::parse(m)).collect::<Result<Vec<_>>>()?;
        if specs.iter().any(|s| matches!(s, ModelSpec::Neural { .. })) {
            n.device.check_built_in()?;
        }
        for label in n.model_prompts.keys() {
            let takes_prompts = |s: &ModelSpec| match s {
                ModelSpec::Neural { label: l, .. } | ModelSpec::Api { label: l, .. } => l == label,
                _ => false,
            };
            if !specs.iter().any(takes_prompts) {
                return Err(Error::usage(
                    "--query-prompt / --doc-prompt",
                    format!("prompts for '{label}', which is not a neural or API model of this run"),
                ));
            }
        }
        if self.doc_embeddings.is_some() {
            let neural: Vec<&str> =
                specs.iter().filter(|s| matches!(s, ModelSpec::Neural { .. })).map(|s| s.label()).collect();
            if neural.len() != 1 {
                return Err(Error::usage(
                    "--doc-embeddings",
                    format!(
                        "the shards hold one neural model's document vectors: give exactly that model's folder \
                         with --model (neural models here: {})",
                        if neural.is_empty() { "none".to_string() } else { neural.join(", ") }
                    ),
                ));
            }
        }
        let mut labels = std::collections::HashSet::new();
        for s in &specs {
            if s.label().contains(char::is_control) {
                return Err(Error::usage(
                    "--model",
                    format!(
                        "the label {:?} holds a control character (a newline, a tab): it would break the \
                             tables; name the model with LABEL=SPEC",
                        s.label()
                    ),
                ));
            }
            if !labels.insert(s.label()) {
                return Err(Error::usage(
                    "--model",
                    format!("two models are named '{}'; name one with LABEL=SPEC", s.label()),
                ));
            }
        }
        Ok(specs)
    }
}

impl Config {
    /// Options given for models none of `specs` is, as warnings: ignored, not refused, so a
    /// script can pass them whatever models it lists.
    pub fn unused_options(&self, specs: &[ModelSpec]) -> Vec<String> {
        let (n, d) = (&self.neural, NeuralOptions::default());
        let any = |f: fn(&ModelSpec) -> bool| specs.iter().any(f);
        let neural = any(|s| matches!(s, ModelSpec::Neural { .. }));
        let api = any(|s| matches!(s, ModelSpec::Api { .. }));
        let vectors = neural || api || any(|s| matches!(s, ModelSpec::Emb { .. }));
        // (a listed model uses them, for whom, (flag, given)).
        type Group<'a> = (bool, &'a str, Vec<(&'a str, bool)>);
        let groups: [Group; 4] = [
            (
                neural,
                "neural models",
                vec![
                    ("--max-length", n.max_length.is_some()),
                    ("--max-batch-tokens", n.max_batch_tokens.is_some()),
                    ("--dtype", n.dtype != d.dtype),
                    ("--attention", n.attention != d.attention),
                    ("--device", n.device != d.device),
                ],
            ),
            (
                neural || api,
                "neural and API models",
                vec![
                    ("--batch-size", n.batch_size != d.batch_size),
                    ("--truncate-dim", n.truncate_dim.is_some()),
                    ("--query-prompt", n.query_prompt.is_some()),
                    ("--doc-prompt", n.doc_prompt.is_some()),
                ],
            ),
            (api, "API models", vec![("--api-concurrency", n.api_concurrency != d.api_concurrency)]),
            (vectors, "embeddings", vec![("--score", self.score_function != ScoreFn::Cosine)]),
        ];
        groups
            .into_iter()
            .filter(|(used, _, _)| !used)
            .filter_map(|(_, what, flags)| {
                let given: Vec<&str> = flags.into_iter().filter(|f| f.1).map(|f| f.0).collect();
                (!given.is_empty()).then(|| {
                    let verb = if given.len() == 1 { "applies" } else { "apply" };
                    format!("{} {verb} to {what}, and none is evaluated here: ignored", given.join(", "))
                })
            })
            .collect()
    }
}

/// Progress of long steps. The CLI draws bars; the page posts messages; tests ignore it.
pub trait Progress: Sync {
    fn begin(&self, _step: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn end(&self) {}
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {}

/// Loads, validates and evaluates every model, calling `after_model` with the report so far
/// after each one (the CLI writes its files there, so a later failure loses nothing). With
/// `Config::save_runs`, the last model's ranking is there only then.
///
/// Blocks until done (see [`block_on`]); the browser, whose GPU search must wait for callbacks,
/// uses [`evaluate_async`].
pub fn evaluate(
    files: &Files,
    config: &Config,
    progress: &dyn Progress,
    after_model: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<Report> {
    block_on(evaluate_async(files, config, progress, after_model))?
}

/// [`evaluate`] as a future: the form the browser needs (its GPU search answers through
/// callbacks, so it cannot block).
pub async fn evaluate_async(
    files: &Files,
    config: &Config,
    progress: &dyn Progress,
    after_model: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<Report> {
    let dataset = Dataset::load(files, &config.load_options())?;
    evaluate_dataset_async(files, &dataset, config, progress, after_model).await
}

/// [`evaluate`] on a dataset already loaded (the CLI prints its validation report first).
pub fn evaluate_dataset(
    files: &Files,
    dataset: &Dataset,
    config: &Config,
    progress: &dyn Progress,
    after_model: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<Report> {
    block_on(evaluate_dataset_async(files, dataset, config, progress, after_model))?
}

/// The dataset's own reasons why no model could be evaluated on it, whatever the models: no
/// evaluated query has a relevant document (every metric would be 0), or none of the relevant
/// documents is in the corpus. The page's dataset check asks this before any run.
pub fn check_evaluable(files: &Files, dataset: &Dataset, config: &Config) -> Result<()> {
    let qrels = &dataset.qrels;
    let judgments = dataset.judgments_file(&config.load.split);
    if !dataset.evaluated_queries(config.convention).any(|q| data::has_relevant(&qrels[&q.id])) {
        return Err(data::validate::nothing_to_evaluate(dataset, files, &judgments));
    }
    data::validate::judged_docs_missing(dataset, files, &judgments).map_or(Ok(()), Err)
}

/// [`evaluate_dataset`] as a future.
pub async fn evaluate_dataset_async(
    files: &Files,
    dataset: &Dataset,
    config: &Config,
    progress: &dyn Progress,
    after_model: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<Report> {
    let specs = config.validate()?;
    let validation = data::validate::validate(dataset, config.convention);
    check_evaluable(files, dataset, config)?;
    // A model that reads documents needs them: judgments alone (`--qrels`) rank `run:` files,
    // and `emb:` vectors that carry their own ids.
    let reads_docs =
        |s: &&ModelSpec| matches!(s, ModelSpec::Bm25 { .. } | ModelSpec::Neural { .. } | ModelSpec::Api { .. });
    if let Some(s) = specs.iter().find(reads_docs).filter(|_| dataset.corpus.is_empty()) {
        return Err(Error::usage(
            "--model",
            format!(
                "'{}' searches a corpus, and this dataset has none (judgments alone): give the documents with \
                 --data FOLDER --format trec --qrels FILE (the folder's corpus.jsonl and queries.jsonl), or \
                 evaluate rankings made elsewhere with --run FILE",
                s.label()
            ),
        ));
    }
    let mut report = Report::new(config, validation);
    report.warnings.extend(config.unused_options(&specs));
    report.details = report::details::Details::new(config.details);
    for spec in &specs {
        let m = report::evaluate_model(spec, files, dataset, config, progress).await?;
        if let Some(details) = &mut report.details {
            if let Err(e) = details.add(&m, files, dataset) {
                // The metrics stand; only previews are missing.
                report.warnings.push(format!("{}: details without some document previews: {e}", m.name));
            }
        }
        report.push_model(m);
        after_model(&report)?;
        // Its run file is written: one ranking is held at a time.
        report.models.last_mut().expect("pushed").rankings = None;
    }
    Ok(report)
}

/// Runs a future to completion on this thread. Natively with a GPU build, pollster parks the
/// thread while wgpu works. Elsewhere nothing can suspend except a browser GPU wait, which
/// cannot finish while this thread blocks: that is an error asking for the async entry point.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    {
        Ok(pollster::block_on(future))
    }
    #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
    {
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(out) => Ok(out),
            std::task::Poll::Pending => Err(Error::usage(
                "search",
                "GPU search in the browser waits for the GPU asynchronously: use evaluate_async \
                 (the page's evaluate/evaluateAll), or search on the cpu",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_left_out_only_when_no_model_reads_them() {
        let keeps = |models: &[&str], shards: bool| {
            let c = Config {
                models: models.iter().map(|m| m.to_string()).collect(),
                doc_embeddings: shards.then(|| "shards".into()),
                ..Default::default()
            };
            c.load_options().keep_doc_texts
        };
        assert!(!keeps(&["some/model"], true), "vectors from shards");
        assert!(keeps(&["some/model"], false), "the model encodes the corpus");
        assert!(!keeps(&["some/model", "bm25"], true), "bm25 reads the corpus file again");
        assert!(!keeps(&["bm25"], false));
        assert!(keeps(&["some/model", "bm25"], false), "the model encodes the corpus, bm25 indexes those texts");
        assert!(keeps(&["some/model", "openai:text-embedding-3-small"], true));
        assert!(!keeps(&["run:a.run", "emb:q.npy,d.npy"], false), "runs and precomputed vectors");
        assert!(ModelSpec::parse("run:").is_err());
        assert!(keeps(&["run:"], false), "unparsable: kept (the error comes later)");
    }
}
