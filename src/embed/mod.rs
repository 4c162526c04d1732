//! Models: anything that turns a dataset into rankings. `bm25` ranks lexically; `emb:` loads
//! vectors made elsewhere; `run:` reads a ranking made by any other system (TREC run file);
//! a model folder runs a neural encoder (candle) here; `openai:` / `voyage:` ask a hosted
//! embedding API (native CLI only).
//!
//! A `--model` value is `[LABEL=]SPEC`; the label names the model in every report.

#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod api;
#[cfg(feature = "models")]
pub mod attention;
#[cfg(feature = "models")]
pub mod bert;
pub mod bm25;
#[cfg(all(any(feature = "models", feature = "cli"), not(target_arch = "wasm32")))]
pub mod cache;
pub mod device;
#[cfg(feature = "models")]
pub mod encoder;
#[cfg(feature = "models")]
pub mod encoder_layer;
#[cfg(feature = "models")]
pub mod graph_layer;
#[cfg(feature = "models")]
pub mod hf_config;
#[cfg(all(feature = "cli", feature = "models", not(target_arch = "wasm32")))]
pub mod hub;
#[cfg(all(any(feature = "models", feature = "cli"), not(target_arch = "wasm32")))]
pub mod mapped;
#[cfg(feature = "models")]
pub mod memory;
#[cfg(feature = "models")]
pub mod modernbert;
#[cfg(feature = "models")]
pub mod mpnet;
#[cfg(feature = "models")]
pub mod packing;
#[cfg(feature = "models")]
pub mod pooling;
pub mod precomputed;
#[cfg(feature = "models")]
pub mod profile;
#[cfg(feature = "models")]
pub mod qwen3;
#[cfg(feature = "models")]
pub mod rope;
#[cfg(all(feature = "models", not(target_arch = "wasm32")))]
pub mod shards;
#[cfg(feature = "models")]
pub mod weights;
#[cfg(feature = "models")]
pub mod xlm_roberta;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Files};
use crate::error::{Error, Result};
use crate::metrics::Convention;
use crate::search::{self, Hit, QueryRanking, Rankings, ScoreFn};
use crate::Progress;

/// A parsed `--model` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelSpec {
    Bm25 {
        label: String,
        params: bm25::Params,
    },
    /// Precomputed vectors; `files` are logical names in the evaluation's [`Files`].
    Emb {
        label: String,
        files: Vec<String>,
    },
    /// A TREC run file (logical name).
    Run {
        label: String,
        file: String,
    },
    /// A sentence-transformers / Hugging Face model folder (logical prefix in [`Files`]).
    Neural {
        label: String,
        dir: String,
    },
    /// A hosted embedding API; `base_url` as given after `@` (else the provider's environment
    /// variable or official host, resolved when the model runs).
    Api {
        label: String,
        provider: Provider,
        model: String,
        base_url: Option<String>,
    },
}

/// The wire protocol of a hosted embedding API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// `POST {base}/embeddings` as OpenAI has it; vLLM, text-embeddings-inference, Ollama and
    /// LiteLLM serve the same route.
    OpenAi,
    /// Voyage AI: OpenAI's shape plus `input_type` (`query` / `document`).
    Voyage,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Voyage => "voyage",
        }
    }
    /// Where requests go when neither the spec nor [`Provider::base_url_var`] says.
    pub fn official_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Voyage => "https://api.voyageai.com/v1",
        }
    }
    pub fn base_url_var(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_BASE_URL",
            Provider::Voyage => "VOYAGE_BASE_URL",
        }
    }
    /// The environment variable holding the key sent as `Authorization: Bearer KEY`.
    pub fn key_var(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::Voyage => "VOYAGE_API_KEY",
        }
    }
}

/// What `--model` accepts, for error messages.
const KNOWN_MODELS: &str = "known models are bm25, emb:Q.npy,D.npy, emb:FILE.safetensors, run:FILE, \
                            openai:MODEL[@BASE_URL], voyage:MODEL[@BASE_URL] and model folders";

impl ModelSpec {
    /// Parses `[LABEL=]bm25[:k1=0.9,b=0.4]`, `[LABEL=]emb:Q.npy,D.npy[,QIDS,DIDS]`,
    /// `[LABEL=]emb:FILE.safetensors`, `[LABEL=]run:FILE`, `[LABEL=]openai:MODEL[@BASE_URL]`,
    /// `[LABEL=]voyage:MODEL[@BASE_URL]` or `[LABEL=]MODEL_FOLDER`.
    pub fn parse(s: &str) -> Result<ModelSpec> {
        let (label, spec) = match s.split_once('=') {
            Some((l, rest)) if !l.contains(':') && !l.is_empty() => (Some(l.to_string()), rest),
            _ => (None, s),
        };
        let bad = |what: &str| Error::usage("--model", format!("'{s}': {what}"));
        let (kind, args) = spec.split_once(':').unwrap_or((spec, ""));
        match kind {
            "bm25" => {
                let mut params = bm25::Params::default();
                let mut seen = Vec::new();
                for kv in args.split(',').filter(|a| !a.is_empty()) {
                    let (k, v) = kv.split_once('=').ok_or_else(|| bad("bm25 options are k1=..,b=.."))?;
                    if seen.contains(&k) {
                        return Err(bad(&format!("bm25 {k} is given twice: give it once")));
                    }
                    seen.push(k);
                    let v: f32 = v.parse().map_err(|_| bad("bm25 k1 and b must be numbers"))?;
                    match k {
                        // Lucene's BM25Similarity refuses the same: k1 finite ≥ 0, b in [0, 1].
                        "k1" if v.is_finite() && v >= 0.0 => params.k1 = v,
                        "b" if (0.0..=1.0).contains(&v) => params.b = v,
                        "k1" => return Err(bad("bm25 k1 must be a finite number ≥ 0 (e.g. 0.9, 1.2)")),
                        "b" => return Err(bad("bm25 b must be between 0 and 1 (e.g. 0.4, 0.75)")),
                        _ => return Err(bad("bm25 options are k1 and b")),
                    }
                }
                let label = label.unwrap_or_else(|| {
                    if params == bm25::Params::default() {
                        "bm25".into()
                    } else {
                        format!("bm25(k1={},b={})", params.k1, params.b)
                    }
                });
                Ok(ModelSpec::Bm25 { label, params })
            }
            "emb" => {
                let files: Vec<String> = args.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
                if !(files.len() == 1 || files.len() == 2 || files.len() == 4) {
                    return Err(bad("expected emb:QUERIES.npy,DOCS.npy[,QUERY_IDS,DOC_IDS] or emb:FILE.safetensors"));
                }
                let label = label.unwrap_or_else(|| format!("emb:{}", file_stem(&files[files.len().min(2) - 1])));
                Ok(ModelSpec::Emb { label, files })
            }
            "run" if !args.is_empty() => {
                Ok(ModelSpec::Run { label: label.unwrap_or_else(|| file_stem(args)), file: args.to_string() })
            }
            "run" => Err(bad(KNOWN_MODELS)),
            "openai" | "voyage" => {
                let provider = if kind == "openai" { Provider::OpenAi } else { Provider::Voyage };
                // Model names may hold ':' (Ollama's `nomic-embed-text:latest`), never '@'.
                let (model, base_url) = match args.split_once('@') {
                    Some((m, url)) => (m, Some(url.trim_end_matches('/').to_string())),
                    None => (args, None),
                };
                if model.is_empty() {
                    return Err(bad(&format!(
                        "expected {kind}:MODEL[@BASE_URL], e.g. {kind}:{}",
                        if kind == "openai" { "text-embedding-3-small" } else { "voyage-3.5" }
                    )));
                }
                if base_url.as_deref().is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
                    return Err(bad(&format!(
                        "the base URL after '@' starts with http:// or https://, \
                         e.g. {kind}:{model}@http://localhost:8000/v1"
                    )));
                }
                if cfg!(target_arch = "wasm32") {
                    return Err(bad(
                        "remote embedding APIs run from the command line only: this page never sends your data anywhere",
                    ));
                }
                Ok(ModelSpec::Api {
                    label: label.unwrap_or_else(|| model.to_string()),
                    provider,
                    model: model.into(),
                    base_url,
                })
            }
            _ if !spec.is_empty() => {
                let dir = spec.trim_end_matches('/').to_string();
                let name = dir.rsplit(['/', '\\']).next().unwrap_or(&dir);
                let name = name.split('@').next().unwrap_or(name).to_string();
                Ok(ModelSpec::Neural { label: label.unwrap_or(name), dir })
            }
            _ => Err(bad("empty model")),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            ModelSpec::Bm25 { label, .. }
            | ModelSpec::Emb { label, .. }
            | ModelSpec::Run { label, .. }
            | ModelSpec::Neural { label, .. }
            | ModelSpec::Api { label, .. } => label,
        }
    }

    /// Whether ranking with this model needs the documents' texts held: API models do, a
    /// neural model does unless its document vectors come from shards (`doc_shards`). BM25
    /// does not: where no other model holds them, it indexes the corpus file read again a part
    /// at a time.
    pub fn reads_doc_texts(&self, doc_shards: bool) -> bool {
        match self {
            ModelSpec::Api { .. } => true,
            ModelSpec::Neural { .. } => !doc_shards,
            ModelSpec::Bm25 { .. } | ModelSpec::Emb { .. } | ModelSpec::Run { .. } => false,
        }
    }

    /// Files the model reads (logical names), so the CLI can register them.
    pub fn files(&self) -> Vec<String> {
        match self {
            ModelSpec::Bm25 { .. } | ModelSpec::Api { .. } => vec![],
            ModelSpec::Emb { files, .. } => files.clone(),
            ModelSpec::Run { file, .. } => vec![file.clone()],
            ModelSpec::Neural { dir, .. } => vec![dir.clone()],
        }
    }
}

fn file_stem(p: &str) -> String {
    let name = p.rsplit(['/', '\\']).next().unwrap_or(p);
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_string()
}

/// Where the time went, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Building the index (BM25) or loading vectors / the run.
    pub index_s: f64,
    pub search_s: f64,
    pub metrics_s: f64,
    pub total_s: f64,
}

/// Number format of a neural model's weights and activations (`--dtype`). Vectors always
/// come out as f32. On the CPU's fast path f16 / bf16 are the weights' format only (half the
/// memory; each product widens them to f32, activations stay f32); on GPUs and the candle
/// graph, the weights' and the activations'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// The checkpoint's own format, as sentence-transformers 6 (transformers 5, whose
    /// `from_pretrained` defaults to `dtype="auto"`) loads it: config.json's `dtype` (transformers
    /// 4's `torch_dtype`), or where it names none the checkpoint's own
    /// ([`weights::checkpoint_dtype`]); bf16 or f16 when that is
    /// `bfloat16` or `float16`, else f32. Resolved when the model
    /// is opened ([`Dtype::resolve`]): what a run reports is always one of the others.
    #[default]
    Auto,
    F32,
    F16,
    Bf16,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Auto => "auto",
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
        }
    }

    /// [`Dtype::Auto`] as the checkpoint's config.json names its format (`config_dtype`: its
    /// `dtype` or `torch_dtype`); any other dtype as given.
    pub fn resolve(self, config_dtype: Option<&str>) -> Dtype {
        match (self, config_dtype) {
            (Dtype::Auto, Some("bfloat16")) => Dtype::Bf16,
            (Dtype::Auto, Some("float16")) => Dtype::F16,
            (Dtype::Auto, _) => Dtype::F32,
            (d, _) => d,
        }
    }

    /// The format the activations are computed in, with weights in this (resolved) dtype,
    /// attending as `attention`, on `device` (`cpu`, `cuda:0 (…)`): f32 on the CPU's fast path
    /// (`--attention auto`: half-precision weights widened for each product), else the
    /// weights' own.
    pub fn activations(self, attention: AttentionChoice, device: &str) -> Dtype {
        if device == "cpu" && attention == AttentionChoice::Auto {
            Dtype::F32
        } else {
            self
        }
    }
}

/// How the candle-graph encoders attend (`--attention`), as transformers'
/// `attn_implementation`. MPNet (relative position bias) always runs its own; on the CPU every
/// architecture runs its fast path under `Auto` (f32, or bf16/f16 weights), the candle graph
/// otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionChoice {
    /// `varlen` where flash-attention runs (a `--features flash-attn` build, CUDA, f16/bf16),
    /// `eager` elsewhere.
    #[default]
    Auto,
    /// Padded batches, the scores as a tensor: product, bias, softmax, product.
    Eager,
    /// Packed tokens without padding; flash-attention's variable-length kernel where it runs,
    /// else the eager ops on a re-padded copy (slower; for checking).
    Varlen,
}

/// How neural models are run: the same for every `--model` folder of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeuralOptions {
    /// Texts per forward pass at most.
    pub batch_size: usize,
    /// Padded tokens per forward pass at most (texts × longest text in the batch), as
    /// text-embeddings-inference's `--max-batch-tokens`: long texts go in smaller batches.
    /// `None`: 16384 on the CPU, from the free memory on a CUDA GPU.
    pub max_batch_tokens: Option<usize>,
    /// Where neural models run (`--device`).
    pub device: device::DeviceChoice,
    /// API models: requests in flight at once.
    pub api_concurrency: usize,
    /// Truncate inputs at this many tokens instead of the folder's `max_seq_length`.
    pub max_length: Option<usize>,
    /// Keep the first D dimensions and re-normalise (Matryoshka).
    pub truncate_dim: Option<usize>,
    /// Text before each query / document, overriding the model folder's
    /// `config_sentence_transformers.json` prompts and the family presets.
    pub query_prompt: Option<String>,
    pub doc_prompt: Option<String>,
    /// Prompts for one model (by label), over `query_prompt` / `doc_prompt`: an e5 and a ruri
    /// model compared in one run each get their own.
    pub model_prompts: std::collections::BTreeMap<String, ModelPrompts>,
    pub dtype: Dtype,
    pub attention: AttentionChoice,
}

/// One model's prompt overrides (`--query-prompt LABEL=TEXT`, `--doc-prompt LABEL=TEXT`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelPrompts {
    pub query: Option<String>,
    pub document: Option<String>,
}

impl NeuralOptions {
    /// The options for the model labelled `label`: its own prompts where it has them.
    pub fn for_model(&self, label: &str) -> NeuralOptions {
        let mut o = self.clone();
        if let Some(p) = self.model_prompts.get(label) {
            if p.query.is_some() {
                o.query_prompt = p.query.clone();
            }
            if p.document.is_some() {
                o.doc_prompt = p.document.clone();
            }
        }
        o
    }
}

impl Default for NeuralOptions {
    fn default() -> Self {
        NeuralOptions {
            batch_size: 32,
            max_batch_tokens: None,
            device: Default::default(),
            api_concurrency: 4,
            max_length: None,
            truncate_dim: None,
            query_prompt: None,
            doc_prompt: None,
            model_prompts: Default::default(),
            dtype: Dtype::Auto,
            attention: AttentionChoice::Auto,
        }
    }
}

/// Throughput of encoding one side (queries or documents), by a local model or an API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EncodeStats {
    pub texts: usize,
    /// Texts taken from the embedding cache (not encoded, not counted in the rates).
    pub cached: usize,
    /// Tokens encoded (an API's `usage`, where it reports one).
    pub tokens: usize,
    /// Texts cut at the max length, cached ones included (API models: 0, the APIs do not say).
    pub truncated: usize,
    /// Forward passes, or API requests.
    pub batches: usize,
    /// API requests sent again after a 429, a 5xx or a dropped connection.
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: usize,
    pub seconds: f64,
    pub texts_per_s: f64,
    pub tokens_per_s: f64,
    pub batch_p50_s: f64,
    pub batch_p95_s: f64,
    /// Local models: padded tokens per forward pass at most, as finally used
    /// (`--max-batch-tokens`, or the budget from the GPU's free memory, halved after each
    /// out-of-memory error).
    #[serde(skip_serializing_if = "is_zero")]
    pub max_batch_tokens: usize,
    /// Local models: batches that ran out of device memory and were split in two and retried.
    #[serde(skip_serializing_if = "is_zero")]
    pub oom_retries: usize,
    /// API models: texts that are empty or only whitespace, which the APIs refuse (OpenAI
    /// answers 400): not sent, given zero vectors, as MTEB's API models do.
    #[serde(skip_serializing_if = "is_zero")]
    pub empty: usize,
    /// Each batch's seconds, ascending (for [`EncodeStats::absorb`]; not written out).
    #[serde(skip)]
    pub batch_times: Vec<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl EncodeStats {
    /// Fills in the time, the rates and the batch-time percentiles once encoding is done.
    pub fn finish(&mut self, seconds: f64, mut batch_times: Vec<f64>) {
        self.batches = batch_times.len();
        self.seconds = seconds;
        self.texts_per_s = self.texts as f64 / seconds.max(1e-9);
        self.tokens_per_s = self.tokens as f64 / seconds.max(1e-9);
        batch_times.sort_by(f64::total_cmp);
        let pct =
            |p: f64| batch_times.get(((batch_times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
        self.batch_p50_s = pct(0.5);
        self.batch_p95_s = pct(0.95);
        self.batch_times = batch_times;
    }

    /// Adds the figures of a later part of the same encoding (`embeval encode` encodes its
    /// slice a part at a time; added to the default, a part's figures stay as they are):
    /// counts and seconds summed, the rates and percentiles taken
    /// over both, the batch budget the later one's. Texts from the cache count in `texts` and
    /// `cached` and not in the rates, as in one part.
    pub fn absorb(&mut self, later: EncodeStats) {
        let (texts, cached) = (self.texts + later.texts, self.cached + later.cached);
        self.texts -= self.cached;
        self.texts += later.texts - later.cached;
        self.tokens += later.tokens;
        self.truncated += later.truncated;
        self.retries += later.retries;
        self.oom_retries += later.oom_retries;
        self.empty += later.empty;
        if later.max_batch_tokens > 0 {
            self.max_batch_tokens = later.max_batch_tokens;
        }
        let mut times = std::mem::take(&mut self.batch_times);
        times.extend(later.batch_times);
        self.finish(self.seconds + later.seconds, times);
        (self.texts, self.cached) = (texts, cached);
    }
}

/// Settings a model run needs from the evaluation.
pub struct RunContext<'a> {
    pub files: &'a Files,
    pub dataset: &'a Dataset,
    pub convention: Convention,
    /// How a run file's scores compare ([`crate::metrics::RunScores`]).
    pub run_scores: crate::metrics::RunScores,
    pub score_fn: ScoreFn,
    /// How many docs to keep per query: max(k) and the per-query top list.
    pub depth: usize,
    pub search: search::SearchPath,
    pub neural: &'a NeuralOptions,
    /// Embedding cache folder (native); `None` encodes everything every time.
    pub cache: Option<std::path::PathBuf>,
    /// Folder of document shards made by `embeval encode` (native): the neural model's
    /// document vectors come from there instead of being encoded here.
    pub doc_embeddings: Option<std::path::PathBuf>,
    pub progress: &'a dyn Progress,
}

/// What ranked: `"bm25"`, `"run file"`, `"cpu"` or `"gpu: <adapter>"`, and any notice.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchInfo {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Neural models: what the model folder says (architecture, pooling, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<serde_json::Value>,
    /// Neural models: encoding throughput for queries and docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<serde_json::Value>,
}

impl SearchInfo {
    /// Adds `n` to the notice, after any there.
    pub fn add_notice(&mut self, n: String) {
        let n = crate::error::clip(n, crate::error::MESSAGE_CHARS);
        self.notice = Some(match self.notice.take() {
            Some(old) => format!("{old}; {n}"),
            None => n,
        });
    }
}

/// Runs a model: sorted rankings for the dataset's queries, index/search timings, and what ran.
pub async fn rank(spec: &ModelSpec, cx: &RunContext<'_>) -> Result<(Rankings, Timings, SearchInfo)> {
    let mut t = Timings::default();
    let mut info = SearchInfo::default();
    let clock = web_time::Instant::now();
    let ds = cx.dataset;
    if !ds.has_doc_texts() && spec.reads_doc_texts(cx.doc_embeddings.is_some()) {
        return Err(Error::usage(
            "--model",
            format!(
                "{}: reads the documents' texts, but the dataset was loaded without them; load it with \
                 Config::load_options()",
                spec.label()
            ),
        ));
    }
    let queries: Vec<&crate::data::Text> = ds.evaluated_queries(cx.convention).collect();
    // In one buffer, and moved into the rankings: a million ids are not held as many strings.
    let doc_ids = || -> search::Ids { ds.corpus.iter().map(|d| d.id.as_str()).collect() };
    let rankings = match spec {
        ModelSpec::Run { file, .. } => {
            info.path = "run file".into();
            let mut r = crate::data::trec::read_run(cx.files, file)?;
            t.index_s = clock.elapsed().as_secs_f64();
            r.sort(cx.convention, cx.run_scores);
            r
        }
        ModelSpec::Bm25 { params, .. } => {
            info.path = "bm25 (cpu)".into();
            cx.progress.begin("bm25 index", ds.corpus.len() as u64);
            // From the texts where the dataset holds them, else read again from the corpus file
            // a part at a time (with document vectors from shards, a million texts not held
            // for BM25 alone).
            let mut index = bm25::Builder::default();
            ds.docs_in_parts(cx.files, 0..ds.corpus.len(), bm25::READ_PART, true, &mut |part| {
                index.add_part(&part.iter().map(|d| d.text.as_str()).collect::<Vec<_>>());
                cx.progress.advance(part.len() as u64);
                Ok(())
            })?;
            let index = index.finish(*params);
            cx.progress.end();
            t.index_s = clock.elapsed().as_secs_f64();
            let doc_ids = doc_ids();
            let ties = search::tie_ranks(&doc_ids, cx.convention);
            cx.progress.begin("bm25 search", queries.len() as u64);
            let run_one = |acc: &mut Vec<f32>, q: &crate::data::Text| {
                let hits = index.search(&q.text, cx.depth, &ties, acc);
                cx.progress.advance(1);
                QueryRanking {
                    query_id: q.id.clone(),
                    hits: hits.into_iter().map(|(doc, s)| Hit { doc, score: s as f64 }).collect(),
                }
            };
            #[cfg(feature = "cli")]
            let per_query: Vec<QueryRanking> = {
                use rayon::prelude::*;
                queries.par_iter().map_init(Vec::new, |acc, q| run_one(acc, q)).collect()
            };
            #[cfg(not(feature = "cli"))]
            let per_query: Vec<QueryRanking> = {
                let mut acc = Vec::new();
                queries.iter().map(|q| run_one(&mut acc, q)).collect()
            };
            cx.progress.end();
            Rankings { doc_ids, queries: per_query }
        }
        ModelSpec::Emb { files, .. } => {
            let qids: search::Ids = ds.queries.iter().map(|q| q.id.as_str()).collect();
            let (q, d) = precomputed::load(cx.files, files, &qids, &doc_ids())?;
            let evaluated: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
            let gaps = precomputed::coverage(&q, &d, &evaluated, &doc_ids());
            t.index_s = clock.elapsed().as_secs_f64();
            let r = search_vectors(cx, &queries, q, d, &mut info).await?;
            gaps.into_iter().for_each(|n| info.add_notice(n));
            r
        }
        #[cfg(feature = "models")]
        ModelSpec::Neural { dir, label } => {
            let memory = memory::PeakMemory::start();
            // The weights load when a text is to be encoded: not at all when the cache has
            // every vector.
            let enc = encoder::Encoder::open(cx.files, dir, &cx.neural.for_model(label))?;
            let named = |what: &str| Renamed { inner: cx.progress, step: format!("{label}: {what}") };
            let qtexts = prompted(&enc.info.prompts.query, queries.iter().copied());
            let local = Local::new(cx, &enc, dir, label);
            let cache = cx.cache.as_deref();
            let (qv, _, qs) = encode_cached(&local, cache, &qtexts, &named("encode queries"))?;
            let (qv, dim) = matryoshka(qv, enc.info.dim, cx.neural.truncate_dim)?;
            let qids = queries.iter().map(|q| q.id.as_str()).collect();
            let q = precomputed::Matrix { ids: qids, dim, data: qv, file: dir.clone() };
            match &cx.doc_embeddings {
                // The documents were encoded by `embeval encode` jobs: check their shards against
                // this run, then stream them through the search.
                Some(shard_dir) => {
                    #[cfg(not(target_arch = "wasm32"))]
                    {
                        let set = shards::ShardSet::open(shard_dir, &shards::Expected::new(cx, &enc, dir, label)?)?;
                        t.index_s = clock.elapsed().as_secs_f64();
                        let r = set.search(cx, &queries, q, doc_ids(), &mut info).await?;
                        info.encoder = Some(enc.report());
                        info.throughput = Some(
                            serde_json::json!({"queries": qs, "docs": set.docs_summary(), "memory": memory.read()}),
                        );
                        r
                    }
                    #[cfg(target_arch = "wasm32")]
                    {
                        let _ = (shard_dir, memory, q, qs);
                        return Err(Error::usage("--doc-embeddings", "document shards are read by the CLI only"));
                    }
                }
                None => {
                    let dtexts = doc_texts(&enc, &ds.corpus);
                    let (dv, _, dstats) = encode_cached(&local, cache, &dtexts, &named("encode documents"))?;
                    info.encoder = Some(enc.report());
                    t.index_s = clock.elapsed().as_secs_f64();
                    info.throughput = Some(serde_json::json!({"queries": qs, "docs": dstats, "memory": memory.read()}));
                    let (dv, _) = matryoshka(dv, enc.info.dim, cx.neural.truncate_dim)?;
                    let d = precomputed::Matrix { ids: doc_ids(), dim, data: dv, file: dir.clone() };
                    search_vectors(cx, &queries, q, d, &mut info).await?
                }
            }
        }
        #[cfg(not(feature = "models"))]
        ModelSpec::Neural { dir, .. } => {
            return Err(Error::usage("--model", format!("{dir}: this build has no neural models (feature 'models')")));
        }
        #[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
        ModelSpec::Api { label, provider, model, base_url } => {
            let client = api::Client::from_env(*provider, model, base_url.as_deref())?;
            // Only the user's prompts: API models have no folder to read prompts from, and no presets.
            let o = cx.neural.for_model(label);
            let (qp, dp) = (o.query_prompt.unwrap_or_default(), o.doc_prompt.unwrap_or_default());
            let qtexts = prompted(&qp, queries.iter().copied());
            let dtexts = prompted(&dp, &ds.corpus);
            let named = |what: &str| Renamed { inner: cx.progress, step: format!("{label}: {what}") };
            let cache = cx.cache.as_deref();
            let side = |input| api::Side {
                client: &client,
                input,
                batch_size: cx.neural.batch_size,
                concurrency: cx.neural.api_concurrency,
            };
            let (qv, qdim, qs) = encode_cached(&side(api::InputType::Query), cache, &qtexts, &named("encode queries"))?;
            let (dv, ddim, dstats) =
                encode_cached(&side(api::InputType::Document), cache, &dtexts, &named("encode documents"))?;
            if qdim != ddim && !qtexts.is_empty() && !dtexts.is_empty() {
                return Err(Error::Api {
                    url: client.url().to_string(),
                    what: format!("{qdim}-dimensional query vectors but {ddim}-dimensional document vectors"),
                    fix: "queries and documents must come from the same model; if the server's model changed, \
                          run again with --no-cache or a new --cache folder"
                        .into(),
                });
            }
            t.index_s = clock.elapsed().as_secs_f64();
            let source = if qp.is_empty() && dp.is_empty() { "none" } else { "flag" };
            info.encoder = Some(serde_json::json!({
                "api": provider.name(),
                "model": model,
                "base_url": client.base_url(),
                "dim": ddim,
                "prompts": {"query": qp, "document": dp, "source": source},
            }));
            info.throughput = Some(serde_json::json!({"queries": qs, "docs": dstats}));
            let (qv, dim) = matryoshka(qv, ddim, cx.neural.truncate_dim)?;
            let (dv, _) = matryoshka(dv, ddim, cx.neural.truncate_dim)?;
            let qids = queries.iter().map(|q| q.id.as_str()).collect();
            let file = client.url().to_string();
            let q = precomputed::Matrix { ids: qids, dim, data: qv, file: file.clone() };
            let d = precomputed::Matrix { ids: doc_ids(), dim, data: dv, file };
            search_vectors(cx, &queries, q, d, &mut info).await?
        }
        #[cfg(not(all(feature = "cli", not(target_arch = "wasm32"))))]
        ModelSpec::Api { label, .. } => {
            return Err(Error::usage(
                "--model",
                format!("{label}: remote embedding APIs run from the native command line only (feature 'cli')"),
            ));
        }
    };
    t.search_s = clock.elapsed().as_secs_f64() - t.index_s;
    Ok((rankings, t, info))
}

/// Documents as the model reads them: its document prompt, then the text.
#[cfg(feature = "models")]
pub fn doc_texts<'a>(enc: &encoder::Encoder, docs: &'a [crate::data::Text]) -> Vec<std::borrow::Cow<'a, str>> {
    prompted(&enc.info.prompts.document, docs)
}

/// `prompt` before each text; the texts themselves, not copies, where there is no prompt (a
/// million documents' texts are not held twice for nothing).
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
fn prompted<'a>(
    prompt: &str,
    texts: impl IntoIterator<Item = &'a crate::data::Text>,
) -> Vec<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let with = |t: &'a str| if prompt.is_empty() { Cow::Borrowed(t) } else { Cow::Owned(format!("{prompt}{t}")) };
    texts.into_iter().map(|t| with(&t.text)).collect()
}

/// Matryoshka (`--truncate-dim`): the first `t` dimensions of each row, re-normalised.
/// Returns the rows and their width.
pub fn matryoshka(v: Vec<f32>, dim: usize, t: Option<usize>) -> Result<(Vec<f32>, usize)> {
    match t {
        None => Ok((v, dim)),
        Some(t) if t > dim => {
            Err(Error::usage("--truncate-dim", format!("{t} is larger than the model's {dim} dimensions")))
        }
        // Not re-normalised: `SentenceTransformer.encode(truncate_dim=D)` is not (cosine
        // normalises anyway; a dot product sees the shorter vectors, as there).
        Some(t) => Ok((search::truncate_rows(&v, dim, t), t)),
    }
}

/// A finished batch of an encoding: the vectors of `texts[first..]`, row after row.
pub struct Batch<'a> {
    pub first: usize,
    pub vectors: &'a [f32],
    pub dim: usize,
    /// Which of these texts (counted from `first`, ascending) were cut at the model's max
    /// length; none for API models, which do not say.
    pub truncated: &'a [usize],
}

/// Takes each finished batch.
pub type BatchSink<'a> = dyn FnMut(Batch) -> Result<()> + 'a;

/// Something that turns texts into vectors that can be cached: a local model or a remote API.
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
trait Embedder {
    /// Names the cache folder: anything that could change a text's vector changes it. `root`:
    /// the cache folder, where a model's hash is remembered.
    #[cfg(not(target_arch = "wasm32"))]
    fn cache_key(&self, root: &std::path::Path) -> Result<String>;
    /// The vector size, where known before any text is encoded (an API tells only in its answers).
    fn dim(&self) -> Option<usize>;
    /// Encodes `texts`, handing each finished batch to `done`.
    fn encode(&self, texts: &[&str], progress: &dyn Progress, done: &mut BatchSink) -> Result<EncodeStats>;
    /// How many of `texts` are cut at the max length without encoding them: for cached texts
    /// whose cache does not record it. APIs do not say.
    #[cfg(not(target_arch = "wasm32"))]
    fn count_truncated(&self, _texts: &[&str]) -> Result<usize> {
        Ok(0)
    }
}

/// A model folder's encoder with what names its cache.
#[cfg(feature = "models")]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct Local<'a> {
    enc: &'a encoder::Encoder,
    files: &'a Files,
    dir: &'a str,
    label: &'a str,
    options: &'a NeuralOptions,
    /// Where "LABEL: load model" shows while the weights load.
    progress: &'a dyn Progress,
}

#[cfg(feature = "models")]
impl<'a> Local<'a> {
    /// `enc` (opened from folder `dir` of `files`, weights loaded or not) as model `label` of `cx`.
    fn new(cx: &RunContext<'a>, enc: &'a encoder::Encoder, dir: &'a str, label: &'a str) -> Local<'a> {
        Local { enc, files: cx.files, dir, label, options: cx.neural, progress: cx.progress }
    }
}

#[cfg(feature = "models")]
impl Embedder for Local<'_> {
    #[cfg(not(target_arch = "wasm32"))]
    fn cache_key(&self, root: &std::path::Path) -> Result<String> {
        let info = &self.enc.info;
        let attention = self.options.attention;
        cache::model_key(self.files, self.dir, info.max_seq_length, info.dtype, attention, &info.device, Some(root))
    }
    fn dim(&self) -> Option<usize> {
        Some(self.enc.info.dim)
    }
    fn encode(&self, texts: &[&str], progress: &dyn Progress, done: &mut BatchSink) -> Result<EncodeStats> {
        if texts.is_empty() {
            // Every vector came from the cache: the weights are not loaded for nothing (an 8B
            // model's 16 GB), and no memory is measured out for batches.
            return Ok(EncodeStats::default());
        }
        if self.enc.attention().is_none() {
            // Loading a large model takes seconds; say so before it starts.
            self.progress.begin(&format!("{}: load model", self.label), 1);
            self.enc.load_weights(self.files, self.dir)?;
            self.progress.end();
        }
        self.enc.encode_into(texts, self.options, progress, done)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn count_truncated(&self, texts: &[&str]) -> Result<usize> {
        self.enc.count_truncated(texts)
    }
}

/// Encodes through the on-disk cache when one is configured: only texts not cached yet go
/// through the model, and each finished batch is written at once (a run stopped halfway keeps
/// what an API was paid for). Returns the vectors, their size and stats that count all texts
/// and say how many came from the cache.
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
fn encode_cached(
    model: &dyn Embedder,
    cache_root: Option<&std::path::Path>,
    texts: &[std::borrow::Cow<str>],
    progress: &dyn Progress,
) -> Result<(Vec<f32>, usize, EncodeStats)> {
    Cached::open(model, cache_root)?.encode(model, texts, progress)
}

/// Where [`Cached::encode_to`] hands vectors, rows in the texts' order.
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
type RowSink<'a> = dyn FnMut(&[f32]) -> Result<()> + 'a;

/// [`encode_cached`] with the cache opened once for texts given in parts (an `embeval encode`
/// job's slice): opening reads every key of the cache.
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
struct Cached<'r> {
    #[cfg(not(target_arch = "wasm32"))]
    root: Option<(&'r std::path::Path, String)>,
    #[cfg(not(target_arch = "wasm32"))]
    cache: Option<cache::Cache>,
    #[cfg(target_arch = "wasm32")]
    root: std::marker::PhantomData<&'r ()>,
}

#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
impl<'r> Cached<'r> {
    /// The cache of `model` under `root`, where one is configured.
    fn open(model: &dyn Embedder, root: Option<&'r std::path::Path>) -> Result<Cached<'r>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let Some(root) = root else { return Ok(Cached { root: None, cache: None }) };
            let key = model.cache_key(root)?;
            // An API's vector size comes from an earlier run's folder, else from its first answer.
            let cache = match model.dim().or_else(|| cache::find_dim(root, &key)) {
                Some(dim) => Some(cache::Cache::open(root, &key, dim)?),
                None => None,
            };
            Ok(Cached { root: Some((root, key)), cache })
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = (model, root);
            Ok(Cached { root: std::marker::PhantomData })
        }
    }

    /// The vectors of `texts` (by `model`, the one the cache was opened for), their size and stats.
    fn encode(
        &mut self,
        model: &dyn Embedder,
        texts: &[std::borrow::Cow<str>],
        progress: &dyn Progress,
    ) -> Result<(Vec<f32>, usize, EncodeStats)> {
        self.encode_to(model, texts, progress, None)
    }

    /// [`Cached::encode`]; with `rows`, the vectors are handed to it in the texts' order instead
    /// of returned, each row as soon as those before it are known: the encoded ones as the
    /// encoder's windows come, the cached ones read from the cache a few thousand at a time —
    /// no matrix of all the texts' vectors. `rows` needs a model whose batches come in order,
    /// window after window (a local one's).
    fn encode_to(
        &mut self,
        model: &dyn Embedder,
        texts: &[std::borrow::Cow<str>],
        progress: &dyn Progress,
        mut rows: Option<&mut RowSink<'_>>,
    ) -> Result<(Vec<f32>, usize, EncodeStats)> {
        let texts: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some((root, key)) = &self.root {
            let c = &mut self.cache;
            let keys: Vec<cache::TextKey> = texts.iter().map(|t| cache::text_key(t)).collect();
            // Texts another part of this encoding added are encoded again (the same vector):
            // only records on disk as opened are read back.
            let (missing, cached): (Vec<usize>, Vec<usize>) =
                (0..texts.len()).partition(|&i| c.as_ref().is_none_or(|c| !c.has_on_disk(&keys[i])));
            let todo: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let mut in_order = rows.as_deref_mut().map(|rows| InOrder { rows, next: 0, buf: Vec::new() });
            let gathered = in_order.is_none();
            let gather = |dim: usize| if gathered { vec![0f32; texts.len() * dim] } else { Vec::new() };
            // Each vector goes into the run's matrix (or out in order) and to the cache's file.
            let mut out = gather(c.as_ref().map_or(0, |c| c.dim()));
            let mut stats = model.encode(&todo, progress, &mut |Batch { first, vectors, dim, truncated }| {
                let c = match c {
                    Some(c) => c,
                    None => {
                        out = gather(dim);
                        c.insert(cache::Cache::open(root, key, dim)?)
                    }
                };
                if dim != c.dim() {
                    return Err(Error::Model {
                        what: format!(
                            "vectors of {dim} dimensions, but the cache {} holds {} from an earlier run of this \
                             model: the model behind the name changed; run with --no-cache or delete that folder",
                            c.folder().display(),
                            c.dim()
                        ),
                    });
                }
                for (j, v) in vectors.chunks_exact(dim).enumerate() {
                    let row = missing[first + j];
                    match in_order.as_mut() {
                        Some(o) => o.encoded(c, &keys, row, v)?,
                        None => out[row * dim..][..dim].copy_from_slice(v),
                    }
                    c.insert(keys[row], v, truncated.binary_search(&j).is_ok());
                    c.flush_when_full()?;
                }
                c.flush()
            })?;
            stats.cached = cached.len();
            stats.texts = texts.len();
            let Some(c) = c else { return Ok((Vec::new(), model.dim().unwrap_or(0), stats)) };
            // Cached texts cut at the max length count as truncated too, as on the run that encoded
            // them; a cache written before it recorded that has the tokenizer count them again.
            let mut recount = Vec::new();
            for &i in &cached {
                match c.truncated(&keys[i]) {
                    Some(cut) => stats.truncated += usize::from(cut),
                    None => recount.push(texts[i]),
                }
            }
            stats.truncated += model.count_truncated(&recount)?;
            if let Some(mut o) = in_order {
                o.cached_until(c, &keys, texts.len())?;
                o.flush()?;
                return Ok((Vec::new(), c.dim(), stats));
            }
            let wanted: Vec<(cache::TextKey, usize)> = cached.iter().map(|&i| (keys[i], i)).collect();
            if !c.read_rows(&wanted, &mut out)? {
                return Err(went_missing(c));
            }
            return Ok((out, c.dim(), stats));
        }
        let mut out = Vec::new();
        let mut size = model.dim().unwrap_or(0);
        let stats = model.encode(&texts, progress, &mut |Batch { vectors, dim, .. }| {
            size = dim;
            match rows.as_deref_mut() {
                Some(rows) => rows(vectors),
                None => {
                    out.extend_from_slice(vectors);
                    Ok(())
                }
            }
        })?;
        Ok((out, size, stats))
    }

    /// [`Cached::encode`] with the vectors handed to `rows` a piece at a time, in the texts'
    /// order, instead of returned (see [`Cached::encode_to`]).
    #[cfg(all(feature = "models", not(target_arch = "wasm32")))]
    fn encode_rows(
        &mut self,
        model: &Local,
        texts: &[std::borrow::Cow<str>],
        progress: &dyn Progress,
        rows: &mut RowSink<'_>,
    ) -> Result<EncodeStats> {
        self.encode_to(model, texts, progress, Some(rows)).map(|(_, _, stats)| stats)
    }
}

/// A cached vector the cache said it had when it opened is not in its file any more.
#[cfg(not(target_arch = "wasm32"))]
fn went_missing(c: &cache::Cache) -> Error {
    Error::Model { what: format!("a cached vector went missing from {} during the run", c.folder().display()) }
}

/// Rows handed out in the texts' order by [`Cached::encode_to`]: each encoded vector once the
/// rows before it are out, the cached rows between read from the cache; [`InOrder::ROWS`] rows
/// at a time, at most.
#[cfg(not(target_arch = "wasm32"))]
struct InOrder<'r, 'a> {
    rows: &'r mut RowSink<'a>,
    /// The next row to hand out.
    next: usize,
    buf: Vec<f32>,
}

#[cfg(not(target_arch = "wasm32"))]
impl InOrder<'_, '_> {
    const ROWS: usize = 4096;

    /// Row `row`'s vector `v`, just encoded, after the cached rows before it.
    fn encoded(&mut self, c: &cache::Cache, keys: &[cache::TextKey], row: usize, v: &[f32]) -> Result<()> {
        self.cached_until(c, keys, row)?;
        self.buf.extend_from_slice(v);
        self.next += 1;
        self.flush_when_full(c.dim())
    }

    /// The rows from the next one up to `end`, every one of them cached (a row not cached is
    /// handed out when it is encoded, and the rows come in order).
    fn cached_until(&mut self, c: &cache::Cache, keys: &[cache::TextKey], end: usize) -> Result<()> {
        while self.next < end {
            // Up to ROWS rows held: the buffer is handed out whenever it is full.
            let to = end.min(self.next + Self::ROWS - self.buf.len() / c.dim());
            let wanted: Vec<(cache::TextKey, usize)> = (self.next..to).map(|i| (keys[i], i - self.next)).collect();
            let at = self.buf.len();
            self.buf.resize(at + wanted.len() * c.dim(), 0.0);
            if !c.read_rows(&wanted, &mut self.buf[at..])? {
                return Err(went_missing(c));
            }
            self.next = to;
            self.flush_when_full(c.dim())?;
        }
        Ok(())
    }

    fn flush_when_full(&mut self, dim: usize) -> Result<()> {
        if self.buf.len() >= Self::ROWS * dim {
            self.flush()
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            (self.rows)(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Progress under another step name (the encoder's "encode" → "MODEL: encode queries").
#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
struct Renamed<'a> {
    inner: &'a dyn Progress,
    step: String,
}

#[cfg(any(feature = "models", all(feature = "cli", not(target_arch = "wasm32"))))]
impl Progress for Renamed<'_> {
    fn begin(&self, _step: &str, total: u64) {
        self.inner.begin(&self.step, total);
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
    fn end(&self) {
        self.inner.end();
    }
}

/// Exact search of query vectors against doc vectors; only the evaluated queries, in order.
async fn search_vectors(
    cx: &RunContext<'_>,
    queries: &[&crate::data::Text],
    q: precomputed::Matrix,
    mut d: precomputed::Matrix,
    info: &mut SearchInfo,
) -> Result<Rankings> {
    let (qmat, qkept) = query_rows(cx, queries, q);
    if cx.score_fn == ScoreFn::Cosine {
        search::normalize_rows(&mut d.data, d.dim);
    }
    let ties = search::tie_ranks(&d.ids, cx.convention);
    cx.progress.begin("exact search", qkept.len() as u64);
    let (tops, path, notice) =
        search::Searcher::new(cx.search).on(cx.neural.device).top_k(&qmat, &d.data, d.dim, &ties, cx.depth).await?;
    cx.progress.end();
    info.path = path;
    info.notice = notice;
    Ok(rankings(d.ids, qkept, tops))
}

/// The evaluated queries' rows, in their order (normalised under cosine), and their ids.
fn query_rows(
    cx: &RunContext<'_>,
    queries: &[&crate::data::Text],
    mut q: precomputed::Matrix,
) -> (Vec<f32>, Vec<String>) {
    if cx.score_fn == ScoreFn::Cosine {
        search::normalize_rows(&mut q.data, q.dim);
    }
    let row: std::collections::HashMap<&str, usize> = q.ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let mut qmat = Vec::with_capacity(queries.len() * q.dim);
    let mut qkept = Vec::new();
    for qt in queries {
        if let Some(&i) = row.get(qt.id.as_str()) {
            qmat.extend_from_slice(&q.data[i * q.dim..(i + 1) * q.dim]);
            qkept.push(qt.id.clone());
        }
    }
    (qmat, qkept)
}

/// Per-query hits (doc indices into `doc_ids`) as [`Rankings`].
fn rankings(doc_ids: search::Ids, qkept: Vec<String>, tops: search::Hits) -> Rankings {
    Rankings {
        doc_ids,
        queries: qkept
            .into_iter()
            .zip(tops)
            .map(|(query_id, hits)| QueryRanking {
                query_id,
                hits: hits.into_iter().map(|(doc, s)| Hit { doc, score: s as f64 }).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(label: &str, provider: Provider, model: &str, base_url: Option<&str>) -> ModelSpec {
        ModelSpec::Api { label: label.into(), provider, model: model.into(), base_url: base_url.map(Into::into) }
    }

    #[test]
    fn api_specs_parse_with_label_model_and_base_url() {
        let p = |s: &str| ModelSpec::parse(s).unwrap();
        let small = "text-embedding-3-small";
        assert_eq!(p("openai:text-embedding-3-small"), api(small, Provider::OpenAi, small, None));
        assert_eq!(p("voyage:voyage-3.5"), api("voyage-3.5", Provider::Voyage, "voyage-3.5", None));
        assert_eq!(
            p("bge=openai:BAAI/bge-m3@http://localhost:8000/v1/"),
            api("bge", Provider::OpenAi, "BAAI/bge-m3", Some("http://localhost:8000/v1"))
        );
        // Ollama tags hold ':'; a '=' in the URL is no label.
        assert_eq!(
            p("openai:nomic-embed-text:latest@http://127.0.0.1:11434/v1?x=y"),
            api(
                "nomic-embed-text:latest",
                Provider::OpenAi,
                "nomic-embed-text:latest",
                Some("http://127.0.0.1:11434/v1?x=y")
            )
        );
        assert_eq!(p("v=voyage:voyage-3@https://proxy.example/v1").label(), "v");
        assert!(p("openai:m").files().is_empty());
    }

    #[test]
    fn bad_api_specs_say_what_is_expected() {
        let e = |s: &str| ModelSpec::parse(s).unwrap_err().to_string();
        assert!(e("openai:").contains("openai:MODEL[@BASE_URL]"), "{}", e("openai:"));
        assert!(e("voyage:@http://h/v1").contains("voyage:MODEL[@BASE_URL]"));
        assert!(e("openai:m@localhost:8000/v1").contains("http://"), "{}", e("openai:m@localhost:8000/v1"));
        assert!(e("run:").contains("openai:MODEL"));
    }

    /// Rows handed out in order, 4,096 at most at a time: 5,000 cached rows, then every third
    /// row just encoded and the others read from a cache — in the texts' order.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn rows_come_out_in_order_between_cached_and_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let n = 10_000;
        let row = |i: usize| [i as f32, -(i as f32)];
        let keys: Vec<cache::TextKey> = (0..n).map(|i| cache::text_key(&i.to_string())).collect();
        let mut c = cache::Cache::open(dir.path(), "k", 2).unwrap();
        // Cached in another order than the texts'.
        let encoded = |i: &usize| *i >= 5000 && i.is_multiple_of(3);
        for i in (0..n).rev().filter(|i| !encoded(i)) {
            c.insert(keys[i], &row(i), false);
        }
        c.flush().unwrap();
        let c = cache::Cache::open(dir.path(), "k", 2).unwrap();
        let (mut got, mut calls) = (Vec::new(), 0);
        let mut sink = |r: &[f32]| {
            assert!(r.len() <= InOrder::ROWS * 2, "{} rows at once", r.len() / 2);
            got.extend_from_slice(r);
            calls += 1;
            Ok(())
        };
        let mut o = InOrder { rows: &mut sink, next: 0, buf: Vec::new() };
        for i in (0..n).filter(encoded) {
            o.encoded(&c, &keys, i, &row(i)).unwrap();
        }
        o.cached_until(&c, &keys, n).unwrap();
        o.flush().unwrap();
        assert_eq!(got, (0..n).flat_map(row).collect::<Vec<f32>>());
        assert!(calls >= 3, "{calls} calls");
        // A row not cached where a cached one is expected: an error, not a wrong row.
        let mut none = |_: &[f32]| Ok(());
        let mut o = InOrder { rows: &mut none, next: 5001, buf: Vec::new() };
        assert!(encoded(&5001));
        assert!(o.cached_until(&c, &keys, 5002).unwrap_err().to_string().contains("went missing"));
    }
}
