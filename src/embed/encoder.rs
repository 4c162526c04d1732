//! A sentence-transformers model folder — `modules.json`, `config.json`, the weights
//! ([`super::weights`]: `model.safetensors` or a sharded checkpoint), `tokenizer.json`, `sentence_bert_config.json`, `1_Pooling/config.json`, optional
//! `2_Normalize` — turned into an [`Encoder`] that embeds texts exactly as
//! `SentenceTransformer.encode` does: truncation at `max_seq_length` (special tokens included),
//! the model's pooling, normalisation only where the folder has a Normalize module.
//!
//! Files are read through [`Files`] under a folder prefix, so a model on disk (CLI) and a model
//! the user picked in the browser load the same way.
//!
//! Throughput: texts are tokenized once, sorted by length and batched longest-first, so each
//! batch pads only to its own longest text. Memory: a [`WINDOW`] of texts at a time, kept as
//! token ids only (the tokenizer's `Encoding`s — every token's string, offsets and masks, and
//! the overflow cut off by truncation — last one [`TOKENIZE_CHUNK`]), so a million documents
//! cost their vectors, not their tokenizations.

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::Bert;
use super::device::candle_message;
use super::modernbert::ModernBert;
use super::mpnet::MPNet;
use super::pooling::{self, Pooling};
use super::qwen3::Qwen3;
use super::{Batch, BatchSink, Dtype, EncodeStats, NeuralOptions};
use crate::data::Files;
use crate::error::{Error, Result};

/// Text put before each query and each document (sentence-transformers' `prompt + text`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Prompts {
    pub query: String,
    pub document: String,
    /// Where they came from: `flag`, `config_sentence_transformers.json`, `preset:<family>`, `none`.
    pub source: String,
}

impl Prompts {
    /// Presets for families whose prompts are not in their folder: e5 (`query: ` /
    /// `passage: `), ruri-v3 (`検索クエリ: ` / `検索文書: `), Qwen3-Embedding (the web-search
    /// instruction of its config_sentence_transformers.json for queries, nothing for documents).
    fn preset(name: &str) -> Option<Prompts> {
        let n = name.to_lowercase();
        let p = |q: &str, d: &str, fam: &str| Prompts {
            query: q.into(),
            document: d.into(),
            source: format!("preset:{fam}"),
        };
        if n.contains("qwen3-embedding") || n.contains("qwen3_embedding") {
            Some(p(QWEN3_EMBEDDING_QUERY, "", "qwen3-embedding"))
        } else if n.contains("ruri-v3") || n.contains("ruri_v3") {
            Some(p("検索クエリ: ", "検索文書: ", "ruri-v3"))
        } else if n.contains("e5-") || n.contains("e5_") || n.ends_with("e5") {
            Some(p("query: ", "passage: ", "e5"))
        } else {
            None
        }
    }
}

/// Qwen3-Embedding's query prompt, as its config_sentence_transformers.json has it.
pub const QWEN3_EMBEDDING_QUERY: &str =
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:";

/// What the folder says, reported in results.json.
#[derive(Debug, Clone, Serialize)]
pub struct EncoderInfo {
    pub architecture: String,
    pub pooling: Pooling,
    pub normalize: bool,
    pub max_seq_length: usize,
    pub dim: usize,
    pub dtype: Dtype,
    /// The format activations are computed in ([`Dtype::activations`]): f32 on the CPU's fast
    /// path whatever `dtype`.
    pub activations: Dtype,
    /// Where it ran: `cpu`, `cuda:0 (NVIDIA H100 80GB HBM3)`, `metal`.
    pub device: String,
    pub prompts: Prompts,
}

/// What `results.json` says of an encoder: [`EncoderInfo`] and how attention ran.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    info: &'a EncoderInfo,
    attention: &'a str,
}

/// `attention` in `results.json` when the weights were never loaded.
pub const NOT_LOADED: &str = "none: every vector came from the embedding cache (the weights were not loaded)";

enum Arch {
    Bert(Bert),
    MPNet(MPNet),
    ModernBert(ModernBert),
    Qwen3(Qwen3),
}

/// A model folder read: configs, tokenizer, prompts and device, and — once a text is to be
/// encoded — the weights ([`Encoder::load`] reads them at once; [`Encoder::open`] when first
/// needed, so a run whose vectors are all in the embedding cache never loads a model).
pub struct Encoder {
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    lowercase: bool,
    pad_id: u32,
    device: Device,
    /// What loading the weights needs beside the files.
    config_json: String,
    dtype: DType,
    attention: super::AttentionChoice,
    /// Intermediate size and attention heads from config.json.
    widest: usize,
    heads: usize,
    weights: std::sync::OnceLock<Weights>,
    pub info: EncoderInfo,
}

/// The loaded model.
struct Weights {
    arch: Arch,
    /// How attention runs (`--attention`): `eager`, `varlen (flash-attn 2)`, `varlen (candle
    /// ops)`, or the f32 CPU fast path's own.
    attention: &'static str,
    /// For the memory estimate and the tensor-size limit.
    shape: Widths,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize, Default)]
struct StPrompts {
    #[serde(default)]
    prompts: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct StConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    #[serde(default)]
    max_position_embeddings: Option<usize>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    intermediate_size: Option<usize>,
    #[serde(default)]
    num_attention_heads: Option<usize>,
    #[serde(default)]
    hidden_size: Option<usize>,
    /// The checkpoint's format: `dtype` (transformers 5), `torch_dtype` (4.x).
    #[serde(default)]
    dtype: Option<serde_json::Value>,
    #[serde(default)]
    torch_dtype: Option<serde_json::Value>,
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The tokenizer class a `tokenizer_config.json` (its text) names, where transformers has no
/// fast version of it, so no tokenizer.json can exist: the Japanese word-splitting tokenizers
/// (MeCab, Juman++; `BertJapaneseTokenizer`, `DistilBertJapaneseTokenizer`…).
pub(crate) fn slow_tokenizer(config: &str) -> Option<String> {
    let config: serde_json::Value = serde_json::from_str(config).ok()?;
    let class = config.get("tokenizer_class")?.as_str()?;
    let slow = class.ends_with("JapaneseTokenizer") || ["MecabTokenizer", "JumanppTokenizer"].contains(&class);
    slow.then(|| class.to_string())
}

/// The error for a model whose tokenizer is [`slow_tokenizer`]'s `class`: `file`, its missing
/// tokenizer.json.
pub(crate) fn no_fast_tokenizer(file: String, class: &str) -> Error {
    Error::missing(
        file,
        format!("file not found: this model's tokenizer is {class} (tokenizer_config.json), which has none"),
        "embeval reads fast tokenizers (tokenizer.json) only; Japanese BERTs that split words with MeCab \
         (BertJapaneseTokenizer: cl-tohoku/bert-base-japanese-*, and models built on them) cannot be read — \
         pick a model that ships tokenizer.json, or encode with sentence-transformers and evaluate the vectors \
         with emb:Q.npy,D.npy",
    )
}

/// sentence-transformers ≥ 6 keeps `max_seq_length` as the tokenizer's `model_max_length`
/// (tokenizer_config.json), capped at the model's `max_position_embeddings` as it does on load.
fn tokenizer_max_length(files: &Files, dir: &str, max_positions: Option<usize>) -> Option<usize> {
    let config: serde_json::Value =
        serde_json::from_str(&files.read_text(&join(dir, "tokenizer_config.json")).ok()?).ok()?;
    // Tokenizers without a limit say 1e30 (transformers' VERY_LARGE_INTEGER).
    let n = config.get("model_max_length")?.as_f64()?;
    let n = if n >= 1e15 { max_positions? } else { n as usize };
    Some(max_positions.map_or(n, |m| n.min(m)))
}

impl Encoder {
    /// Loads the model folder `dir` (a logical prefix in `files`) with weights in
    /// `options.dtype`. `options.max_length` overrides the folder's `max_seq_length`
    /// (`--max-length`). Prompts: the options' (the flags) when given,
    /// else the folder's `config_sentence_transformers.json` `prompts` (`query`, and
    /// `document` or `passage`), else a preset for the model family, else none.
    pub fn load(files: &Files, dir: &str, options: &NeuralOptions) -> Result<Encoder> {
        let enc = Encoder::open(files, dir, options)?;
        enc.load_weights(files, dir)?;
        Ok(enc)
    }

    /// [`Encoder::load`] without the weights: everything else is read and checked, and the
    /// weights are loaded by [`Encoder::load_weights`] before the first text is encoded.
    pub(crate) fn open(files: &Files, dir: &str, options: &NeuralOptions) -> Result<Encoder> {
        let max_length = options.max_length;
        let prompts = (options.query_prompt.as_deref(), options.doc_prompt.as_deref());
        let bad = |file: &str, what: String, fix: &str| Error::input(files.display(&join(dir, file)), 0, what, fix);
        let text = |name: &str| files.read_text(&join(dir, name));

        // modules.json: Transformer → Pooling → (Normalize). Without it: mean pooling, as ST does.
        let (pooling_dir, normalize) = if files.has(&join(dir, "modules.json")) {
            let mods: Vec<Module> = serde_json::from_str(&text("modules.json")?).map_err(|e| {
                bad(
                    "modules.json",
                    format!("not a sentence-transformers modules list: {e}"),
                    "re-save the model with sentence-transformers",
                )
            })?;
            let mut pooling_dir = None;
            let mut normalize = false;
            for m in &mods {
                match m.kind.rsplit('.').next().unwrap_or("") {
                    "Transformer" => {}
                    "Pooling" => pooling_dir = Some(m.path.clone()),
                    "Normalize" => normalize = true,
                    other => {
                        return Err(bad(
                            "modules.json",
                            format!("module type {other} is not supported yet"),
                            "use a model whose modules are Transformer, Pooling and Normalize",
                        ))
                    }
                }
            }
            (pooling_dir, normalize)
        } else {
            (None, false)
        };
        let pooling = match &pooling_dir {
            Some(p) => {
                let name = join(p, "config.json");
                Pooling::from_config(&text(&name)?)
                    .map_err(|e| bad(&name, e, "set exactly one pooling_mode_* to true"))?
            }
            None => Pooling::Mean,
        };

        let st: StConfig = if files.has(&join(dir, "sentence_bert_config.json")) {
            serde_json::from_str(&text("sentence_bert_config.json")?)
                .map_err(|e| bad("sentence_bert_config.json", e.to_string(), "fix the JSON"))?
        } else {
            StConfig::default()
        };
        let config_json = text("config.json")?;
        let hf: HfConfig =
            serde_json::from_str(&config_json).map_err(|e| bad("config.json", e.to_string(), "fix the JSON"))?;
        // RoBERTa, XLM-RoBERTa and MPNet number positions from pad_token_id + 1: 514 positions
        // hold 512 tokens.
        let position_offset = match hf.model_type.as_deref() {
            Some("xlm-roberta") | Some("roberta") | Some("mpnet") => hf.pad_token_id.map_or(2, |p| p as usize + 1),
            _ => 0,
        };
        let limit = hf.max_position_embeddings.map(|p| p.saturating_sub(position_offset));
        if let (Some(n), Some(limit)) = (max_length, limit) {
            if n > limit {
                return Err(Error::usage(
                    "--max-length",
                    format!(
                        "{n} tokens is beyond this model's limit of {limit} (max_position_embeddings in {}); \
                         give --max-length {limit} or less",
                        files.display(&join(dir, "config.json"))
                    ),
                ));
            }
        }
        let max_seq_length = max_length
            .or(st.max_seq_length)
            .or(tokenizer_max_length(files, dir, hf.max_position_embeddings))
            .or(hf.max_position_embeddings)
            .unwrap_or(512);

        let tokenizer_file = join(dir, "tokenizer.json");
        if !files.has(&tokenizer_file) {
            let config = files.read_text(&join(dir, "tokenizer_config.json")).ok();
            if let Some(class) = config.as_deref().and_then(slow_tokenizer) {
                return Err(no_fast_tokenizer(files.display(&tokenizer_file), &class));
            }
        }
        let mut tokenizer = Tokenizer::from_bytes(files.bytes(&tokenizer_file)?).map_err(|e| {
            bad(
                "tokenizer.json",
                format!("cannot load: {e}"),
                "save the tokenizer with a recent transformers (tokenizer.json)",
            )
        })?;
        // ST pads each batch to its longest text and truncates at max_seq_length; the file's
        // own settings (all-MiniLM ships fixed 128-token padding) must not apply.
        // Pad with the tokenizer's own pad id (as ST does), read before its padding is dropped.
        let file_pad_id = tokenizer.get_padding().map(|p| p.pad_id);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_seq_length, ..Default::default() }))
            .map_err(|e| bad("tokenizer.json", e.to_string(), "check max_seq_length"))?;

        let prompts = if prompts.0.is_some() || prompts.1.is_some() {
            Prompts {
                query: prompts.0.unwrap_or_default().into(),
                document: prompts.1.unwrap_or_default().into(),
                source: "flag".into(),
            }
        } else {
            let st_prompts: StPrompts = if files.has(&join(dir, "config_sentence_transformers.json")) {
                serde_json::from_str(&text("config_sentence_transformers.json")?).map_err(|e| {
                    bad(
                        "config_sentence_transformers.json",
                        e.to_string(),
                        "fix the JSON (prompts must map names to strings)",
                    )
                })?
            } else {
                StPrompts::default()
            };
            let q = st_prompts.prompts.get("query").cloned().unwrap_or_default();
            let d = ["document", "passage", "corpus"]
                .iter()
                .find_map(|k| st_prompts.prompts.get(*k))
                .cloned()
                .unwrap_or_default();
            if !q.is_empty() || !d.is_empty() {
                Prompts { query: q, document: d, source: "config_sentence_transformers.json".into() }
            } else {
                let name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir);
                Prompts::preset(name).unwrap_or(Prompts { source: "none".into(), ..Default::default() })
            }
        };

        let opened = super::device::Opened::open(options.device)?;
        let mut config_dtype = hf.dtype.as_ref().or(hf.torch_dtype.as_ref()).and_then(|v| v.as_str());
        if config_dtype.is_none() && options.dtype == Dtype::Auto {
            // As transformers 5: the weights' own format when config.json names none.
            config_dtype = super::weights::checkpoint_dtype(files, dir);
        }
        let resolved = options.dtype.resolve(config_dtype);
        let dtype = match resolved {
            Dtype::F32 | Dtype::Auto => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::Bf16 => DType::BF16,
        };
        let dim = hf
            .hidden_size
            .ok_or_else(|| bad("config.json", "no hidden_size".into(), "use the config.json saved with the model"))?;
        let architecture = hf.model_type.unwrap_or_else(|| "bert".into());
        if !ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(unsupported(files, dir, &architecture));
        }
        Ok(Encoder {
            tokenizer,
            pooling,
            normalize,
            lowercase: st.do_lower_case,
            pad_id: file_pad_id.or(hf.pad_token_id).unwrap_or(0),
            device: opened.device,
            config_json,
            dtype,
            attention: options.attention,
            widest: hf.intermediate_size.unwrap_or(4 * dim).max(dim),
            heads: hf.num_attention_heads.unwrap_or((dim / 64).max(1)),
            weights: std::sync::OnceLock::new(),
            info: EncoderInfo {
                architecture,
                pooling,
                normalize,
                max_seq_length,
                dim,
                dtype: resolved,
                activations: resolved.activations(options.attention, &opened.name),
                device: opened.name,
                prompts,
            },
        })
    }

    /// Loads the weights from the folder [`Encoder::open`] read, unless they are loaded.
    pub(crate) fn load_weights(&self, files: &Files, dir: &str) -> Result<()> {
        if self.weights.get().is_some() {
            return Ok(());
        }
        let bad = |file: &str, what: String, fix: &str| Error::input(files.display(&join(dir, file)), 0, what, fix);
        let (file, vb) = super::weights::load(files, dir, self.dtype, &self.device)?;
        let misfit = |e: String| {
            if super::weights::out_of_room(&e) {
                // Half precision is suggested only to a run not already in it.
                let fast = self.attention == super::AttentionChoice::Auto;
                let fix = match (matches!(self.device, Device::Cpu), self.dtype == DType::F32) {
                    (true, true) if fast => {
                        "--dtype bf16 halves the weights (held in bf16, computed in f32: nearly f32's vectors); or \
                         a machine with more memory, or a GPU (--device cuda)"
                    }
                    (true, true) => {
                        "--dtype bf16 halves the weights; or a machine with more memory, or a GPU (--device cuda)"
                    }
                    (true, false) => "use a machine with more memory, or a GPU (--device cuda)",
                    (false, true) => {
                        "--dtype f16 or bf16 halves the weights; or a GPU with more memory, or free what other \
                         processes hold on this one"
                    }
                    (false, false) => "use a GPU with more memory, or free what other processes hold on this one",
                };
                return Error::Model { what: format!("{}: {e}\n  fix: {fix}", self.info.device) };
            }
            bad(file, e, "check that config.json belongs to these weights")
        };
        let (config_json, attention) = (&self.config_json, self.attention);
        let arch = match self.info.architecture.as_str() {
            "bert" => Arch::Bert(Bert::load(vb, config_json, attention).map_err(misfit)?),
            "mpnet" => Arch::MPNet(MPNet::load(vb, config_json, attention).map_err(misfit)?),
            "xlm-roberta" => Arch::Bert(super::xlm_roberta::load(vb, config_json, attention).map_err(misfit)?),
            "modernbert" => Arch::ModernBert(ModernBert::load(vb, config_json, attention).map_err(misfit)?),
            "qwen3" => Arch::Qwen3(Qwen3::load(vb, config_json, attention).map_err(misfit)?),
            other => return Err(unsupported(files, dir, other)),
        };
        let (dim, attention) = match &arch {
            Arch::Bert(b) => (b.hidden_size, b.attention()),
            Arch::MPNet(m) => (m.hidden_size, m.attention()),
            Arch::ModernBert(m) => (m.hidden_size, m.attention),
            Arch::Qwen3(m) => (m.hidden_size, m.attention),
        };
        if dim != self.info.dim {
            return Err(misfit(format!("hidden size {dim}, but config.json says {}", self.info.dim)));
        }
        let shape = Widths {
            widest: self.widest,
            // Flash-attention keeps the scores on chip: no [len] row per head and token.
            heads: if attention == super::attention::FLASH { 0 } else { self.heads },
        };
        let _ = self.weights.set(Weights { arch, attention, shape });
        Ok(())
    }

    /// How attention runs, once the weights are loaded.
    pub fn attention(&self) -> Option<&'static str> {
        self.weights.get().map(|w| w.attention)
    }

    /// [`EncoderInfo`] and how attention ran ([`NOT_LOADED`] if the weights never loaded), as
    /// `results.json` has them.
    pub fn report(&self) -> serde_json::Value {
        let attention = self.attention().unwrap_or(NOT_LOADED);
        let info = EncoderInfo { activations: self.activations(), ..self.info.clone() };
        serde_json::to_value(Report { info: &info, attention }).unwrap_or_default()
    }

    /// The format the activations were computed in: f32 where the CPU's fast path ran, the
    /// weights' where the candle graph did (also where the fast path could not read the model
    /// and gave way to it); before the weights load, what is planned (`info.activations`, on
    /// which the cache key was made).
    pub fn activations(&self) -> Dtype {
        match self.attention() {
            None => self.info.activations,
            Some(super::attention::FAST_PATH) => Dtype::F32,
            Some(_) => self.info.dtype,
        }
    }

    /// The loaded model; an error where [`Encoder::open`]'s caller never loaded it.
    fn weights(&self) -> Result<&Weights> {
        self.weights.get().ok_or_else(|| Error::Model { what: "the model's weights were not loaded".into() })
    }

    /// Embeds `texts` (row-major, `info.dim` columns), in input order, in batches of at most
    /// `options.batch_size` texts and `options.max_batch_tokens` padded tokens.
    pub fn encode(
        &self,
        texts: &[&str],
        options: &NeuralOptions,
        progress: &dyn crate::Progress,
    ) -> Result<(Vec<f32>, EncodeStats)> {
        let mut all = Vec::with_capacity(texts.len() * self.info.dim);
        let stats = self.encode_into(texts, options, progress, &mut |b| {
            all.extend_from_slice(b.vectors);
            Ok(())
        })?;
        Ok((all, stats))
    }

    /// [`Encoder::encode`] a [`WINDOW`] of texts at a time: each window is tokenized, sorted
    /// and batched on its own, and its vectors (with which texts were cut at `max_seq_length`)
    /// handed to `done` before the next starts — a million documents never hold a million
    /// tokenizations, and what is done survives a failure later on (the embedding cache
    /// writes each window).
    pub fn encode_into(
        &self,
        texts: &[&str],
        options: &NeuralOptions,
        progress: &dyn crate::Progress,
        done: &mut BatchSink,
    ) -> Result<EncodeStats> {
        self.encode_in_windows(texts, options, progress, WINDOW, done)
    }

    /// [`Encoder::encode_into`] with windows of `window` texts (tests use small ones).
    #[doc(hidden)]
    pub fn encode_in_windows(
        &self,
        texts: &[&str],
        options: &NeuralOptions,
        progress: &dyn crate::Progress,
        window: usize,
        done: &mut BatchSink,
    ) -> Result<EncodeStats> {
        let clock = web_time::Instant::now();
        let Weights { arch, shape, .. } = self.weights()?;
        let shape = *shape;
        let window = window.max(1);
        let dim = self.info.dim;
        let mut batch_times = Vec::new();
        let mut stats = EncodeStats { texts: texts.len(), ..Default::default() };
        progress.begin("encode", texts.len() as u64);
        // The budget an out-of-memory error lowered stays lowered for the windows after.
        let mut budget = options.max_batch_tokens.unwrap_or_else(|| self.token_budget(shape));
        for (w, texts) in texts.chunks(window).enumerate() {
            let tokens = self.tokenize(texts)?;
            stats.truncated += tokens.truncated.len();
            let lens: Vec<usize> = tokens.starts.windows(2).map(|s| s[1] - s[0]).collect();
            let mut out = vec![0f32; texts.len() * dim];
            let schedule = run_batches(&lens, options.batch_size, budget, shape, |batch| {
                let t = web_time::Instant::now();
                let len = batch.iter().map(|&i| lens[i]).max().unwrap_or(0).max(1);
                if matches!(self.device, Device::Cpu) {
                    // An allocation the host cannot give aborts the process (Rust's allocator) or
                    // wakes the OOM killer: a batch estimated past the available memory is treated
                    // as out of memory before it runs, so it is halved like a GPU batch.
                    let available = super::device::host_available_memory();
                    fits_in_host(batch.len(), len, self.bytes_per_token(shape, len), available)?;
                } else {
                    // batches() caps several texts; one text alone can still be too long for the GPU.
                    let elements = len * shape.per_token(len);
                    if elements > MAX_TENSOR_ELEMENTS {
                        return Err(format!(
                            "a text of {len} tokens makes a tensor (attention scores or the feed-forward's) of \
                             {elements} elements, more than candle's GPU kernels can count (2^31 here); lower \
                             --max-length"
                        ));
                    }
                }
                // The tokenizer never pads (its padding is switched off at load), so every
                // token of a text is attended to: the mask is ones over its length.
                let mut ids = vec![self.pad_id; batch.len() * len];
                let mut mask = vec![0u32; batch.len() * len];
                let mut types = vec![0u32; batch.len() * len];
                for (r, &i) in batch.iter().enumerate() {
                    let (from, n) = (tokens.starts[i], lens[i]);
                    ids[r * len..r * len + n].copy_from_slice(&tokens.ids[from..from + n]);
                    mask[r * len..r * len + n].fill(1);
                    if let Some(t) = &tokens.types {
                        types[r * len..r * len + n].copy_from_slice(&t[from..from + n]);
                    }
                }
                let pooled = self.forward(arch, ids, mask, types, batch.len(), len).map_err(|e| {
                    let message = candle_message(&e);
                    if super::device::is_out_of_memory(&message) {
                        super::device::release_freed_memory(&self.device);
                    }
                    message
                })?;
                for (r, &i) in batch.iter().enumerate() {
                    out[i * dim..(i + 1) * dim].copy_from_slice(&pooled[r * dim..(r + 1) * dim]);
                    stats.tokens += lens[i];
                }
                batch_times.push(t.elapsed().as_secs_f64());
                progress.advance(batch.len() as u64);
                Ok(())
            })
            .map_err(|f| match f {
                BatchFailure::OutOfMemory { tokens, message } => Error::Model {
                    what: format!(
                        "out of memory on {} encoding one text of {tokens} tokens ({message}); \
                         lower --max-length, use --dtype f16 or bf16, or a device with more memory",
                        self.info.device
                    ),
                },
                BatchFailure::Other(what) => Error::Model { what },
            })?;
            stats.oom_retries += schedule.halvings;
            budget = schedule.budget;
            done(Batch { first: w * window, vectors: &out, dim, truncated: &tokens.truncated })?;
        }
        stats.max_batch_tokens = budget;
        progress.end();
        if let Some(table) = super::profile::take(&format!("encoding {} texts on {}", texts.len(), self.info.device)) {
            eprint!("{table}");
        }
        stats.finish(clock.elapsed().as_secs_f64(), batch_times);
        Ok(stats)
    }

    /// The token ids of `texts` (lowercased first where the model says so), truncated at
    /// `max_seq_length`, [`TOKENIZE_CHUNK`] texts per call to the tokenizer.
    fn tokenize(&self, texts: &[&str]) -> Result<Tokens> {
        let mut t = Tokens { ids: Vec::new(), starts: vec![0], types: None, truncated: Vec::new() };
        let mut types = Vec::new();
        self.tokenize_chunks(texts, |i, e| {
            t.ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            t.starts.push(t.ids.len());
            if !e.get_overflowing().is_empty() {
                t.truncated.push(i);
            }
        })?;
        t.types = types.iter().any(|&x| x != 0).then_some(types);
        Ok(t)
    }

    /// How many of `texts` are longer than `max_seq_length` tokens (the tokenizer alone: the
    /// weights need not be loaded).
    pub fn count_truncated(&self, texts: &[&str]) -> Result<usize> {
        let mut n = 0;
        self.tokenize_chunks(texts, |_, e| n += usize::from(!e.get_overflowing().is_empty()))?;
        Ok(n)
    }

    /// Hands each of `texts`' encodings, truncated at `max_seq_length`, to `each(index, encoding)`,
    /// [`TOKENIZE_CHUNK`] texts per call to the tokenizer (lowercased first where the model
    /// says so).
    fn tokenize_chunks(&self, texts: &[&str], mut each: impl FnMut(usize, &tokenizers::Encoding)) -> Result<()> {
        for (c, chunk) in texts.chunks(TOKENIZE_CHUNK).enumerate() {
            // The texts themselves (the tokenizer borrows them); a copy only to lowercase.
            let inputs: Vec<std::borrow::Cow<str>> =
                chunk.iter().map(|&t| if self.lowercase { t.to_lowercase().into() } else { t.into() }).collect();
            let encodings = self
                .tokenizer
                .encode_batch(inputs, true)
                .map_err(|e| Error::Model { what: format!("tokenizing: {e}") })?;
            for (i, e) in encodings.iter().enumerate() {
                each(c * TOKENIZE_CHUNK + i, e);
            }
        }
        Ok(())
    }

    /// Padded tokens per forward pass when `--max-batch-tokens` is not given: 16384 on the CPU
    /// and Metal; on CUDA as many as 60% of the free memory holds by a rough estimate of one
    /// layer's activations per token at the longest length (hidden states, the MLP's
    /// intermediate, one attention row per head, a few temporaries). The estimate only sets the
    /// start: a batch that still runs out of memory is halved ([`run_batches`]).
    fn token_budget(&self, shape: Widths) -> usize {
        const CPU_BUDGET: usize = 16384;
        // Memory an earlier model's batches left in the CUDA pool counts as free.
        super::device::release_freed_memory(&self.device);
        let Some((free, _)) = super::device::free_memory(&self.device) else {
            return CPU_BUDGET;
        };
        let per_token = self.bytes_per_token(shape, self.info.max_seq_length);
        (free / 10 * 6 / per_token.max(1)).clamp(self.info.max_seq_length.max(512), 1 << 20)
    }

    /// A rough estimate of one forward pass's memory per padded token at padded length `len`:
    /// one layer's hidden states and temporaries, the MLP's intermediate, and one row of
    /// attention scores and probabilities per head. On the CPU activations are f32 whatever
    /// the weights' dtype (the fast path; the candle graph's softmax is f32 too).
    fn bytes_per_token(&self, shape: Widths, len: usize) -> usize {
        let half = matches!(self.info.dtype, Dtype::F16 | Dtype::Bf16);
        let bytes = if half && !matches!(self.device, Device::Cpu) { 2 } else { 4 };
        let Widths { widest: intermediate, heads } = shape;
        bytes * (8 * self.info.dim + 2 * intermediate + 2 * heads * len)
    }

    fn forward(
        &self,
        arch: &Arch,
        ids: Vec<u32>,
        mask: Vec<u32>,
        types: Vec<u32>,
        b: usize,
        s: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let ids = Tensor::from_vec(ids, (b, s), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, s), &self.device)?;
        let types = Tensor::from_vec(types, (b, s), &self.device)?;
        let hidden = match arch {
            Arch::Bert(m) => m.forward(&ids, &types, &mask)?,
            Arch::MPNet(m) => m.forward(&ids, &mask)?,
            Arch::ModernBert(m) => m.forward(&ids, &mask)?,
            Arch::Qwen3(m) => m.forward(&ids, &mask)?,
        };
        // Pooling and normalisation in f32 whatever the model's dtype.
        super::profile::phase("pooling, to the host", &self.device, || {
            let hidden = hidden.to_dtype(DType::F32)?;
            let mut pooled = self.pooling.apply(&hidden, &mask)?;
            if self.normalize {
                pooled = pooling::normalize(&pooled)?;
            }
            pooled.flatten_all()?.to_vec1::<f32>()
        })
    }
}

/// config.json's `model_type`s this encoder runs.
const ARCHITECTURES: [&str; 5] = ["bert", "mpnet", "xlm-roberta", "modernbert", "qwen3"];

fn unsupported(files: &Files, dir: &str, model_type: &str) -> Error {
    Error::input(
        files.display(&join(dir, "config.json")),
        0,
        format!("model_type '{model_type}' is not supported yet"),
        format!("supported: {}", ARCHITECTURES.join(", ")),
    )
}

/// What every architecture says when the weights' names or shapes are not what config.json
/// describes.
pub(super) fn weights_misfit(e: candle_core::Error) -> String {
    let message = candle_message(&e);
    // Memory, not the weights' fit: said as it is ([`Encoder::load_weights`] gives the fix).
    if super::weights::out_of_room(&message) {
        return message;
    }
    format!("weights do not fit config.json: {message}")
}

/// Texts tokenized, sorted and batched together by [`Encoder::encode_into`], and handed over
/// when done: big enough that batches of similar lengths form (sentence-transformers'
/// `InformationRetrievalEvaluator` sorts its corpus in chunks of 50,000), small enough that a
/// window's ids and vectors (65,536 × 1,024 f32 = 256 MiB) are little next to a corpus's.
pub const WINDOW: usize = 65_536;

/// Texts per call to the tokenizer: its `Encoding`s take ~200 bytes a token (measured: 6 GB for
/// a million 30-token texts tokenized at once), so they live only this many at a time.
const TOKENIZE_CHUNK: usize = 1024;

/// The token ids of a window of texts, back to back.
struct Tokens {
    ids: Vec<u32>,
    /// Where each text's ids start, and one past the last.
    starts: Vec<usize>,
    /// Token type ids, kept only when one is not 0.
    types: Option<Vec<u32>>,
    /// Which texts were cut at `max_seq_length`, in order.
    truncated: Vec<usize>,
}

/// candle's CUDA kernels count a tensor's elements in 32 bits (`LaunchConfig::for_num_elems(n
/// as u32)`): a tensor of 2^32 elements or more is launched over the wrong count (seen on an
/// H100: `CUDA_ERROR_INVALID_VALUE` for 512 texts of 2,700 tokens in one batch). Batches keep
/// their largest tensor under 2^31 elements.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 31;

/// How wide a forward pass's largest tensors are, per padded token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Widths {
    /// The widest per-token activation: the MLP's intermediate (or the hidden size).
    pub widest: usize,
    /// Attention heads: one row of `len` scores each per token (0 where the scores never
    /// exist as a tensor: flash-attention).
    pub heads: usize,
}

impl Widths {
    /// Elements per padded token at padded length `len`.
    pub fn per_token(self, len: usize) -> usize {
        self.widest.max(self.heads * len)
    }
}

/// Texts (by index) in forward passes: longest first, so each batch pads only to its own
/// longest text; at most `size` texts and `max_tokens` padded tokens (texts × longest) a batch,
/// and no tensor of [`MAX_TENSOR_ELEMENTS`] or more (`widths`); at least one text. Short texts
/// fill whole batches; long ones go a few at a time.
pub fn batches(lens: &[usize], size: usize, max_tokens: usize, widths: Widths) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            // The batch's first text is its longest.
            Some(b)
                if b.len() < size.max(1) && {
                    let len = lens[b[0]].max(1);
                    let padded = (b.len() + 1) * len;
                    padded <= max_tokens && padded * widths.per_token(len) <= MAX_TENSOR_ELEMENTS
                } =>
            {
                b.push(i)
            }
            _ => out.push(vec![i]),
        }
    }
    out
}

/// `Err` ("out of memory: ...", which [`run_batches`] halves) when `texts` texts padded to
/// `len` tokens need more than the `available` host memory by estimate.
pub fn fits_in_host(
    texts: usize,
    len: usize,
    bytes_per_token: usize,
    available: Option<usize>,
) -> std::result::Result<(), String> {
    let need = texts * len * bytes_per_token;
    match available {
        Some(available) if need > available => Err(format!(
            "out of memory: {texts} texts of {len} tokens need about {} MiB by estimate, {} MiB of host memory \
             is available",
            need >> 20,
            available >> 20
        )),
        _ => Ok(()),
    }
}

/// Why [`run_batches`] stopped.
#[derive(Debug, PartialEq)]
pub enum BatchFailure {
    /// A single text of `tokens` tokens does not fit in memory.
    OutOfMemory {
        tokens: usize,
        message: String,
    },
    Other(String),
}

/// How [`run_batches`] ended: out-of-memory halvings and the token budget it ended with.
#[derive(Debug, PartialEq)]
pub struct Schedule {
    pub halvings: usize,
    pub budget: usize,
}

/// Runs `run` over [`batches`] of the texts. A batch that runs out of device memory (an error
/// [`super::device::is_out_of_memory`] recognises) is not fatal: the token budget drops to half
/// of that batch's padded tokens, and its texts and all that remain are batched again — the
/// "GPU OOM → smaller batch" step done automatically. Every text is passed to `run` exactly once
/// in a batch that succeeded, or the error says which text could not fit on its own.
pub fn run_batches(
    lens: &[usize],
    size: usize,
    max_tokens: usize,
    widths: Widths,
    mut run: impl FnMut(&[usize]) -> std::result::Result<(), String>,
) -> std::result::Result<Schedule, BatchFailure> {
    let mut budget = max_tokens;
    let mut halvings = 0;
    let mut queue: std::collections::VecDeque<Vec<usize>> = batches(lens, size, budget, widths).into();
    while let Some(batch) = queue.pop_front() {
        let padded = batch.len() * batch.iter().map(|&i| lens[i]).max().unwrap_or(0).max(1);
        match run(&batch) {
            Ok(()) => {}
            Err(message) if super::device::is_out_of_memory(&message) && batch.len() > 1 => {
                halvings += 1;
                budget = (padded / 2).max(1);
                let rest: Vec<usize> = batch.into_iter().chain(queue.drain(..).flatten()).collect();
                let sub: Vec<usize> = rest.iter().map(|&i| lens[i]).collect();
                queue = batches(&sub, size, budget, widths)
                    .into_iter()
                    .map(|b| b.into_iter().map(|j| rest[j]).collect())
                    .collect();
            }
            Err(message) if super::device::is_out_of_memory(&message) => {
                return Err(BatchFailure::OutOfMemory { tokens: lens[batch[0]], message })
            }
            Err(message) => return Err(BatchFailure::Other(message)),
        }
    }
    Ok(Schedule { halvings, budget })
}

#[cfg(test)]
mod tests {
    use super::{batches, fits_in_host, run_batches, BatchFailure, Prompts, Schedule, Widths, MAX_TENSOR_ELEMENTS};

    /// On the CPU a batch past the host's available memory is halved before it runs, like a
    /// GPU batch that ran out of memory; a text too long on its own is the out-of-memory error.
    #[test]
    fn host_memory_estimate_halves_cpu_batches() {
        let lens = [400; 64];
        let per_token = 1 << 20; // 1 MiB a padded token: 64 texts of 400 need 25 GiB, 10 GiB available
        let mut sizes = Vec::new();
        let schedule = run_batches(&lens, 256, 1 << 30, W, |b| {
            fits_in_host(b.len(), 400, per_token, Some(10 << 30))?;
            sizes.push(b.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 64);
        assert!(sizes.iter().all(|&n| n * 400 <= 10 << 10), "{sizes:?}");
        assert_eq!(schedule.halvings, 2, "64 → 32 (12.5 GiB) → 16 texts (6.25 GiB): {sizes:?}");
        assert!(fits_in_host(64, 400, per_token, None).is_ok(), "unknown host memory: no estimate");
        let alone = run_batches(&[20_000], 8, 1 << 30, W, |b| fits_in_host(b.len(), 20_000, per_token, Some(10 << 30)));
        assert!(matches!(alone, Err(BatchFailure::OutOfMemory { tokens: 20_000, .. })), "{alone:?}");
    }

    /// Narrow enough never to bind.
    const W: Widths = Widths { widest: 1, heads: 1 };

    #[test]
    fn out_of_memory_halves_the_batch_and_retries() {
        // A device that fits 100 padded tokens a pass. 8 texts padded to 60 (480) fail → budget
        // 240: 4 × 60 fails → 120: 2 × 60 fails → 60: one long text a pass, six short ones.
        let lens = [60, 60, 60, 60, 10, 10, 10, 10, 10, 10];
        let mut seen = Vec::new();
        let mut passes = Vec::new();
        let schedule = run_batches(&lens, 8, 1000, W, |b| {
            let padded = b.len() * b.iter().map(|&i| lens[i]).max().unwrap();
            passes.push(b.to_vec());
            if padded > 100 {
                return Err("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into());
            }
            seen.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(schedule, Schedule { halvings: 3, budget: 60 });
        seen.sort();
        assert_eq!(seen, (0..lens.len()).collect::<Vec<_>>(), "every text once");
        assert_eq!(passes[0].len(), 8, "the first pass was the full batch");
        assert!(passes[3..].iter().all(|b| b.len() * b.iter().map(|&i| lens[i]).max().unwrap() <= 60));

        // Other errors stop at once; a single text that does not fit is named by its length.
        let other = run_batches(&lens, 8, 1000, W, |_| Err("shape mismatch".into()));
        assert_eq!(other, Err(BatchFailure::Other("shape mismatch".into())));
        let alone = run_batches(&[500, 3], 8, 1000, W, |b| {
            if b.contains(&0) {
                Err("CUDA_ERROR_OUT_OF_MEMORY".into())
            } else {
                Ok(())
            }
        });
        assert!(matches!(alone, Err(BatchFailure::OutOfMemory { tokens: 500, .. })), "{alone:?}");
    }

    #[test]
    fn batches_respect_size_and_token_budget() {
        let lens = [5, 300, 10, 300, 7, 120, 3, 9];
        let b = batches(&lens, 4, 640, W);
        // 300-token texts: two a batch (600 ≤ 640); 120 + shorter: up to 4 (480 ≤ 640).
        assert_eq!(b, vec![vec![1, 3], vec![5, 2, 7, 4], vec![0, 6]]);
        for batch in &b {
            let longest = batch.iter().map(|&i| lens[i]).max().unwrap();
            assert!(batch.len() <= 4 && (batch.len() * longest <= 640 || batch.len() == 1));
        }
        // Every text exactly once; a text longer than the budget still gets its own batch.
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..lens.len()).collect::<Vec<_>>());
        assert_eq!(batches(&[1000, 2], 8, 100, W), vec![vec![0], vec![1]]);
        assert!(batches(&[], 8, 100, W).is_empty());
    }

    #[test]
    fn no_batch_makes_a_tensor_past_32_bit_counts() {
        // Qwen3-0.6B-like: 16 heads, MLP 3072. 512 texts of 2,700 tokens in one pass would make
        // 512 × 16 × 2700² ≈ 6e10 attention scores; the budget allows it, the element cap not.
        let w = Widths { widest: 3072, heads: 16 };
        let lens = vec![2700; 512];
        let b = batches(&lens, 512, usize::MAX, w);
        let per_batch = MAX_TENSOR_ELEMENTS / (2700 * w.per_token(2700));
        assert_eq!(per_batch, 18);
        assert!(b.iter().all(|x| x.len() <= per_batch) && b[0].len() == per_batch, "{:?}", b[0].len());
        assert_eq!(b.concat().len(), 512);
        // Short texts: the MLP is the widest tensor, and the cap does not bind at usual sizes.
        assert_eq!(w.per_token(100), 3072);
        assert_eq!(batches(&[100; 64], 64, usize::MAX, w).len(), 1);
    }

    #[test]
    fn presets_by_model_family() {
        let p = |n: &str| Prompts::preset(n).map(|p| (p.query, p.document));
        assert_eq!(p("multilingual-e5-small"), Some(("query: ".into(), "passage: ".into())));
        assert_eq!(p("e5-large-v2"), Some(("query: ".into(), "passage: ".into())));
        assert_eq!(p("ruri-v3-310m"), Some(("検索クエリ: ".into(), "検索文書: ".into())));
        assert_eq!(p("all-MiniLM-L6-v2"), None);
        assert_eq!(p("bge-m3"), None);
        let qwen3 = Prompts::preset("Qwen3-Embedding-0.6B").unwrap();
        assert_eq!(
            (qwen3.query.as_str(), qwen3.document.as_str(), qwen3.source.as_str()),
            (
                "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
                "",
                "preset:qwen3-embedding"
            )
        );
        assert!(Prompts::preset("qwen3_embedding_8b").is_some());
        assert_eq!(p("Qwen3-0.6B"), None, "a chat model is no embedding model");
    }
}
