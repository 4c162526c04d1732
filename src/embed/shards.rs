//! Evaluations larger than one machine: the corpus's document vectors made in N slices by
//! separate jobs (`embeval encode --shard I/N`, one per GPU or scheduler task), then streamed
//! back through the exact search (`embeval eval --doc-embeddings DIR`), a chunk of rows at a
//! time.
//!
//! A shard file `shard-I-of-N.safetensors` holds, for the I-th of N contiguous slices of the
//! corpus in corpus order (docs `[I·n/N, (I+1)·n/N)`, I 0-based):
//! - tensor `docs`: F32 `[rows, dim]`, the model's full vectors (`--truncate-dim` applies at
//!   eval, so one set serves every truncation);
//! - tensors `doc_ids` (U8, the ids' UTF-8 bytes back to back) and `doc_id_offsets` (U64
//!   `[rows + 1]`; id r is bytes `offsets[r]..offsets[r+1]`): ids as tensors, since a header
//!   of millions of ids would pass safetensors' 100 MB header limit;
//! - `__metadata__["embeval_shard"]`: the [`Manifest`] as JSON, also written beside it as
//!   `shard-I-of-N.json` for people and scripts.
//!
//! Both files are written under a temporary name and renamed, so a killed job never leaves a
//! file that looks complete. Before any search, every shard is checked against the others and
//! this run (model files' hash, prompt, dims, dtype, max length, corpus, ranges, ids); then
//! shards are read in order, 256 MiB of vectors at a time ([`CHUNK_BYTES`]), each chunk searched
//! and each query's top lists merged ([`crate::search::topk::merge`]) — only one chunk's vectors
//! are in memory at once, whatever a shard's size; a shard's checksum is checked when its last
//! chunk has been read.
//!
//! Equality with one process, by construction: documents are searched in the same
//! [`cpu::DOC_BLOCK`]-aligned blocks as a one-process search (the few rows of a block that
//! straddles two chunks or shards wait for the next), with the same global tie ranks, so the
//! CPU searcher computes every score with the same arithmetic and the merged lists equal the
//! one-pass lists bit for bit.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::encoder::{self, Encoder};
use super::mapped::{self, MappedFile};
use super::pooling::Pooling;
use super::precomputed::Matrix;
use super::EncodeStats;
use super::{cache, Dtype, ModelSpec, NeuralOptions, RunContext, SearchInfo};
use crate::data::{corpus, Dataset, Files, Text};
use crate::error::{Error, Result};
use crate::search::{self, cpu, Rankings, ScoreFn};
use crate::Progress;

/// `format` of every manifest.
pub const FORMAT: &str = "embeval-doc-shard";
/// Bumped when the file layout or a fingerprint's definition changes; older or newer files are
/// refused with that reason. 2: `corpus.texts` is taken over per-document digests.
pub const VERSION: u32 = 2;
/// The safetensors `__metadata__` key holding the manifest.
const META_KEY: &str = "embeval_shard";
/// Missing shards named (with the command that makes each) before the rest are counted.
const SHOWN: usize = 8;

/// `--shard I/N`: the I-th (0-based) of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` with 0 ≤ I < N.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::usage(
                "--shard",
                format!(
                    "'{s}': give I/N with 0 ≤ I < N, e.g. --shard 0/8 (I counts from 0, as Kubernetes' \
                     JOB_COMPLETION_INDEX and Slurm's SLURM_ARRAY_TASK_ID do)"
                ),
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Its docs in a corpus of `total`: `[I·total/N, (I+1)·total/N)`.
    pub fn range(self, total: usize) -> Range<usize> {
        let at = |i: usize| (i as u128 * total as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// `shard-I-of-N.safetensors`, I zero-padded to N's width so names sort in order.
    pub fn file_name(self) -> String {
        format!("{}.safetensors", self.stem())
    }

    fn stem(self) -> String {
        format!("shard-{:0w$}-of-{}", self.index, self.count, w = self.count.to_string().len())
    }

    /// The shard a file name names, if it is one.
    fn from_file_name(name: &str) -> Option<Shard> {
        let (i, n) = name.strip_prefix("shard-")?.strip_suffix(".safetensors")?.split_once("-of-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return None;
        }
        Some(Shard { index: i.parse().ok()?, count: n.parse().ok()? })
    }
}

/// What a shard file says about itself (its `embeval_shard` metadata and its `.json` sidecar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The embeval that wrote it.
    pub tool: String,
    pub model: ModelId,
    /// The document prompt put before each text.
    pub prompt: String,
    /// Columns of `docs`: the model's full dimension.
    pub dim: usize,
    pub dtype: Dtype,
    /// The format the activations were computed in ([`Dtype::activations`]): f32 on the CPU's
    /// fast path whatever `dtype`. Absent from shards written before manifests recorded it
    /// (then not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activations: Option<Dtype>,
    /// Texts truncated at this many tokens.
    pub max_length: usize,
    /// Where it was encoded (`cpu`, `cuda:0 (…)`): informative, not checked.
    pub device: String,
    pub shard: Slice,
    pub corpus: CorpusId,
    /// BLAKE3 of the `docs` tensor's bytes, checked when the shard is searched.
    pub checksum: String,
    /// The encoder's throughput for this shard (texts/s, batches, cached texts...).
    pub encoding: serde_json::Value,
}

/// Which model made the vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelId {
    /// The `--model` label.
    pub label: String,
    /// BLAKE3 of the model folder's files, names and bytes ([`cache::model_hash`]).
    pub hash: String,
    pub architecture: String,
    pub pooling: Pooling,
    pub normalize: bool,
}

/// Which slice of the corpus a shard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    pub index: usize,
    pub count: usize,
    /// Docs `start..end` in corpus order.
    pub start: usize,
    pub end: usize,
}

/// The whole corpus the shards were cut from, and this slice's texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusId {
    pub size: usize,
    /// BLAKE3 of every doc id in corpus order ([`ids_fingerprint`]).
    pub fingerprint: String,
    /// BLAKE3 of the document prompt and this slice's texts ([`texts_fingerprint`]): catches a
    /// corpus whose ids stayed but whose texts changed (or another `--doc-text`).
    pub texts: String,
}

/// BLAKE3 of ids, each length-prefixed (so no separator can be confused with an id).
pub fn ids_fingerprint<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut h = blake3::Hasher::new();
    for id in ids {
        h.update(&(id.len() as u64).to_le_bytes());
        h.update(id.as_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

/// BLAKE3 of the length-prefixed prompt and each doc's text digest ([`corpus::digest`]): an
/// evaluation that does not hold the texts checks them from the digests taken while loading.
pub fn texts_fingerprint(prompt: &str, digests: &[corpus::Digest]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&(prompt.len() as u64).to_le_bytes());
    h.update(prompt.as_bytes());
    for d in digests {
        h.update(d);
    }
    h.finalize().to_hex()[..32].to_string()
}

/// What `embeval encode` wrote.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub stats: EncodeStats,
}

/// `embeval encode`: encodes shard `shard` of the dataset's corpus with the neural model `spec`
/// exactly as `eval` encodes documents (document prompt, truncation, dtype, device, batching,
/// through the embedding cache `cache` when given), and writes it into `out`.
///
/// The slice is read, encoded and written a part at a time ([`encoder::WINDOW`] texts, the
/// encoder's own window, so the batches are those of one pass; `EMBEVAL_SHARD_CHUNK_ROWS` sets
/// another size): a job holds one part's texts and vectors, whatever the slice's size. The
/// vectors go into the file as each part is done, after room left for the header, which is
/// written last (the manifest in it has the checksum and the encoding's figures).
#[allow(clippy::too_many_arguments)]
pub fn encode(
    files: &Files,
    dataset: &Dataset,
    spec: &ModelSpec,
    neural: &NeuralOptions,
    cache: Option<&Path>,
    shard: Shard,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Written> {
    let ModelSpec::Neural { dir, label } = spec else {
        let what = match spec {
            ModelSpec::Api { .. } => {
                "an embedding API (evaluate it with `embeval eval`: its cache makes a re-run send nothing)"
            }
            ModelSpec::Bm25 { .. } => "BM25",
            ModelSpec::Emb { .. } => "precomputed vectors",
            _ => "a TREC run",
        };
        return Err(Error::usage(
            "--model",
            format!(
                "'{}' is {what}, not a model folder: shards hold a local neural model's document vectors",
                spec.label()
            ),
        ));
    };
    if neural.truncate_dim.is_some() {
        return Err(Error::usage(
            "--truncate-dim",
            "shards keep the model's full vectors; give --truncate-dim to `embeval eval --doc-embeddings`",
        ));
    }
    let part_rows = chunk_rows_var()?.unwrap_or(encoder::WINDOW);
    // Before hours of encoding: can the results be written at all?
    std::fs::create_dir_all(out).map_err(|e| Error::Write { file: out.display().to_string(), source: e })?;
    let range = shard.range(dataset.corpus.len());
    // The weights load when a text is to be encoded: not at all when the cache has every vector.
    let neural = neural.for_model(label);
    let enc = Encoder::open(files, dir, &neural)?;
    let model_hash = cache::model_hash(files, dir, cache)?;
    let info = &enc.info;
    let digests = dataset.doc_digests(range.clone());
    let slice = &dataset.corpus[range.clone()];
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        tool: format!("embeval {}", env!("CARGO_PKG_VERSION")),
        model: ModelId {
            label: label.clone(),
            hash: model_hash,
            architecture: info.architecture.clone(),
            pooling: info.pooling,
            normalize: info.normalize,
        },
        prompt: info.prompts.document.clone(),
        dim: info.dim,
        dtype: info.dtype,
        // Its widest name, for the header's room: what ran is known once encoded.
        activations: Some(Dtype::Bf16),
        max_length: info.max_seq_length,
        device: info.device.clone(),
        shard: Slice { index: shard.index, count: shard.count, start: range.start, end: range.end },
        corpus: CorpusId {
            size: dataset.corpus.len(),
            fingerprint: ids_fingerprint(dataset.corpus.iter().map(|d| d.id.as_str())),
            texts: texts_fingerprint(&info.prompts.document, &digests),
        },
        checksum: "0".repeat(32),
        encoding: widest_encoding(),
    };
    let path = out.join(shard.file_name());
    let mut file = ShardWriter::create(&path, &manifest, slice)?;
    let line = Line::new(progress, format!("{label}: encode {}/{}", shard.index, shard.count), range.len());
    // From the start: a later slice's job reads the corpus up to its slice before encoding.
    line.show();
    let mut stats = EncodeStats::default();
    let mut cached: Option<super::Cached> = None;
    dataset.docs_in_parts(files, range.clone(), part_rows, false, &mut |docs| {
        // A budget an out-of-memory error lowered stays lowered for the parts after, as for
        // the windows of one pass.
        let mut options = neural.clone();
        if stats.max_batch_tokens > 0 {
            options.max_batch_tokens = Some(stats.max_batch_tokens);
        }
        let local = super::Local { enc: &enc, files, dir, label, options: &options, progress: &line.other() };
        let c = match &mut cached {
            Some(c) => c,
            None => cached.insert(super::Cached::open(&local, cache)?),
        };
        let texts = super::doc_texts(&enc, docs);
        let part = c.encode_rows(&local, &texts, &line, &mut |rows| file.write_rows(rows))?;
        line.advance_cached(part.cached);
        stats.absorb(part);
        Ok(())
    })?;
    line.finish();
    // What ran, where the weights loaded (the fast path may have given way to the candle graph).
    manifest.activations = Some(enc.activations());
    manifest.checksum = file.checksum();
    manifest.encoding = serde_json::to_value(&stats).unwrap_or_default();
    let json = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
    let done = file.finish(&json, &digests, slice)?;
    // The sidecar first: a .safetensors that is there always has its .json.
    write_atomically(&out.join(format!("{}.json", shard.stem())), |tmp| {
        std::fs::write(tmp, format!("{json}\n")).map_err(|e| e.to_string())
    })?;
    done.commit()?;
    Ok(Written { path, manifest, stats })
}

/// The manifest's `encoding` with every figure at its widest in JSON: the header room a
/// manifest written before encoding leaves for the one written after. Every field is named, so
/// one added to [`EncodeStats`] must be given its widest here.
fn widest_encoding() -> serde_json::Value {
    // The longest a float prints: 24 characters (sign, 17 digits, point, a three-digit exponent).
    let (n, x) = (usize::MAX, -f64::MIN_POSITIVE);
    serde_json::to_value(EncodeStats {
        texts: n,
        cached: n,
        tokens: n,
        truncated: n,
        batches: n,
        retries: n,
        seconds: x,
        texts_per_s: x,
        tokens_per_s: x,
        batch_p50_s: x,
        batch_p95_s: x,
        max_batch_tokens: n,
        oom_retries: n,
        empty: n,
        batch_times: Vec::new(),
    })
    .expect("figures serialize")
}

/// A shard file written as its vectors are made, under a temporary name: room for the header,
/// tensor `doc_id_offsets`, then `docs` a part at a time, then `doc_text_digests` and
/// `doc_ids`; the header goes into its room last, padded with spaces (as safetensors pads it).
struct ShardWriter {
    file: std::io::BufWriter<std::fs::File>,
    partial: Partial,
    tensors: Vec<(String, safetensors::tensor::TensorInfo)>,
    /// Bytes of header room.
    room: usize,
    /// Values of `docs` to come, and written so far.
    values: usize,
    written: usize,
    hash: blake3::Hasher,
}

impl ShardWriter {
    /// Starts the file for the docs `slice` with room for a header holding `widest` (a
    /// manifest with [`widest_encoding`]).
    fn create(path: &Path, widest: &Manifest, slice: &[Text]) -> Result<ShardWriter> {
        use safetensors::{tensor::TensorInfo, Dtype as D};
        let (rows, dim) = (slice.len(), widest.dim);
        let id_bytes: usize = slice.iter().map(|d| d.id.len()).sum();
        let mut at = 0;
        let mut tensor = |name: &str, dtype: D, shape: Vec<usize>, bytes: usize| {
            at += bytes;
            (name.to_string(), TensorInfo { dtype, shape, data_offsets: (at - bytes, at) })
        };
        let tensors = vec![
            tensor("doc_id_offsets", D::U64, vec![rows + 1], 8 * (rows + 1)),
            tensor("docs", D::F32, vec![rows, dim], 4 * rows * dim),
            tensor("doc_text_digests", D::U8, vec![rows, 16], 16 * rows),
            tensor("doc_ids", D::U8, vec![id_bytes], id_bytes),
        ];
        let json = serde_json::to_string_pretty(widest).expect("a manifest serializes");
        let room = header(&json, &tensors).len().next_multiple_of(8);
        let partial = Partial::new(path);
        let f = std::fs::File::create(&partial.tmp).map_err(|e| partial.error(e.to_string()))?;
        let mut w = ShardWriter {
            file: std::io::BufWriter::with_capacity(1 << 20, f),
            partial,
            tensors,
            room,
            values: rows * dim,
            written: 0,
            hash: blake3::Hasher::new(),
        };
        w.put(&vec![b' '; 8 + room])?;
        let mut offset = 0u64;
        w.put(&offset.to_le_bytes())?;
        for d in slice {
            offset += d.id.len() as u64;
            w.put(&offset.to_le_bytes())?;
        }
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.file.write_all(bytes).map_err(|e| self.partial.error(e.to_string()))
    }

    /// The next rows of `docs`.
    fn write_rows(&mut self, vectors: &[f32]) -> Result<()> {
        let bytes = le_bytes(vectors);
        self.hash.update(&bytes);
        self.written += vectors.len();
        self.put(&bytes)
    }

    /// BLAKE3 of `docs` so far, as the manifest has it.
    fn checksum(&self) -> String {
        self.hash.finalize().to_hex()[..32].to_string()
    }

    /// Writes the digests, the ids and the header holding manifest `json` in its room, under
    /// the temporary name: [`Partial::commit`] syncs and renames it.
    fn finish(mut self, json: &str, digests: &[corpus::Digest], slice: &[Text]) -> Result<Partial> {
        use std::io::{Seek, Write};
        if self.written != self.values {
            return Err(self.partial.error(format!("{} of {} values written", self.written, self.values)));
        }
        self.put(digests.as_flattened())?;
        for d in slice {
            self.put(d.id.as_bytes())?;
        }
        let mut head = header(json, &self.tensors);
        if head.len() > self.room {
            return Err(self.partial.error(format!("a header of {} bytes in room for {}", head.len(), self.room)));
        }
        head.resize(self.room, b' ');
        let f = self.file.into_inner().map_err(|e| self.partial.error(e.error().to_string()))?;
        let mut f = &f;
        (|| {
            f.seek(std::io::SeekFrom::Start(0))?;
            f.write_all(&(self.room as u64).to_le_bytes())?;
            f.write_all(&head)
        })()
        .map_err(|e| self.partial.error(e.to_string()))?;
        Ok(self.partial)
    }
}

/// A safetensors header: `tensors`, and the manifest `json` under [`META_KEY`].
fn header(json: &str, tensors: &[(String, safetensors::tensor::TensorInfo)]) -> Vec<u8> {
    let meta = std::collections::HashMap::from([(META_KEY.to_string(), json.to_string())]);
    let m = safetensors::tensor::Metadata::new(Some(meta), tensors.to_vec()).expect("tensors in offset order");
    serde_json::to_vec(&m).expect("a header serializes")
}

/// Progress of an encode job's parts as one bar over its slice: each part's encoding advances
/// it (its own begin and end do not start a new one), cached texts too; another step between
/// (`LABEL: load model`, through [`Line::other`]) shows in its place, and the bar comes back
/// where it was.
struct Line<'a> {
    inner: &'a dyn Progress,
    step: String,
    total: u64,
    /// Texts done, and whether the bar is the one showing.
    state: std::sync::Mutex<(u64, bool)>,
}

impl<'a> Line<'a> {
    fn new(inner: &'a dyn Progress, step: String, total: usize) -> Line<'a> {
        Line { inner, step, total: total as u64, state: std::sync::Mutex::new((0, false)) }
    }

    /// Shows the bar where it was, if another step took its place.
    fn show(&self) {
        let mut s = self.state.lock().expect("progress lock");
        if !s.1 {
            self.inner.begin(&self.step, self.total);
            self.inner.advance(s.0);
            s.1 = true;
        }
    }

    fn advance_cached(&self, n: usize) {
        self.show();
        self.advance(n as u64);
    }

    /// Other steps, shown in the bar's place.
    fn other(&self) -> Other<'_, 'a> {
        Other(self)
    }

    fn finish(&self) {
        if std::mem::take(&mut self.state.lock().expect("progress lock").1) {
            self.inner.end();
        }
    }
}

impl Progress for Line<'_> {
    fn begin(&self, _step: &str, _total: u64) {
        self.show();
    }
    fn advance(&self, n: u64) {
        self.state.lock().expect("progress lock").0 += n;
        self.inner.advance(n);
    }
}

struct Other<'l, 'a>(&'l Line<'a>);

impl Progress for Other<'_, '_> {
    fn begin(&self, step: &str, total: u64) {
        self.0.state.lock().expect("progress lock").1 = false;
        self.0.inner.begin(step, total);
    }
    fn advance(&self, n: u64) {
        self.0.inner.advance(n);
    }
    fn end(&self) {
        self.0.inner.end();
    }
}

/// f32 values as little-endian bytes (no copy on little-endian machines).
fn le_bytes(v: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(bytemuck::cast_slice(v))
    } else {
        std::borrow::Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

/// A file written under a temporary name beside `path` that does not look like a shard,
/// removed if dropped before [`Partial::commit`] (a failed write leaves nothing behind).
struct Partial {
    path: PathBuf,
    tmp: PathBuf,
    /// What every temporary name for `path` starts with.
    prefix: String,
    committed: bool,
}

impl Partial {
    fn new(path: &Path) -> Partial {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.partial-");
        let tmp = path.with_file_name(format!("{prefix}{}", std::process::id()));
        Partial { path: path.to_path_buf(), tmp, prefix, committed: false }
    }

    fn error(&self, what: String) -> Error {
        Error::Write { file: self.path.display().to_string(), source: std::io::Error::other(what) }
    }

    /// Syncs the file and renames it to its name: readers see the whole file or none. Once it
    /// is in place, temporary files a stopped job left for the same name are removed.
    fn commit(mut self) -> Result<()> {
        std::fs::File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path))
            .map_err(|e| self.error(e.to_string()))?;
        self.committed = true;
        // The rename itself survives a crash once the folder is synced (best effort: not every
        // file system lets a folder be opened).
        if let Some(parent) = self.path.parent() {
            std::fs::File::open(parent).and_then(|f| f.sync_all()).ok();
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&self.prefix) {
                    std::fs::remove_file(entry.path()).ok();
                }
            }
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            std::fs::remove_file(&self.tmp).ok();
        }
    }
}

/// Writes `path` through `write` on a temporary name beside it, then commits it ([`Partial`]).
fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> std::result::Result<(), String>) -> Result<()> {
    let p = Partial::new(path);
    write(&p.tmp).map_err(|e| p.error(e))?;
    p.commit()
}

/// What this run expects of every shard: the query side's model and settings, the corpus, and
/// how to make a missing shard.
pub struct Expected<'a> {
    model_hash: String,
    label: String,
    prompt: String,
    dim: usize,
    dtype: Dtype,
    /// How this run encodes the queries: activations' format, and where.
    activations: Dtype,
    device: String,
    max_length: usize,
    dataset: &'a Dataset,
    fingerprint: String,
    /// `embeval encode --data D --model M`, for messages.
    command: String,
}

impl<'a> Expected<'a> {
    /// This run's model `enc` (folder `dir`, label `label`) on `cx`'s dataset.
    pub fn new(cx: &RunContext<'a>, enc: &Encoder, dir: &str, label: &str) -> Result<Expected<'a>> {
        let data = match cx.dataset.format {
            crate::data::Format::Beir | crate::data::Format::St => cx.files.root().to_string(),
            _ => "DATA".into(),
        };
        let model = if dir.rsplit('/').next() == Some(label) { dir.to_string() } else { format!("{label}={dir}") };
        let info = &enc.info;
        Ok(Expected {
            model_hash: cache::model_hash(cx.files, dir, cx.cache.as_deref())?,
            label: label.to_string(),
            prompt: info.prompts.document.clone(),
            dim: info.dim,
            dtype: info.dtype,
            // The queries are encoded by now: what ran on them (or, all cached, what would).
            activations: enc.activations(),
            device: info.device.clone(),
            max_length: info.max_seq_length,
            dataset: cx.dataset,
            fingerprint: ids_fingerprint(cx.dataset.corpus.iter().map(|d| d.id.as_str())),
            command: format!("embeval encode --data {} --model {}", sh(&data), sh(&model)),
        })
    }

    fn command(&self, shard: Shard, dir: &Path) -> String {
        self.command_for(&format!("{}/{}", shard.index, shard.count), dir)
    }

    fn command_for(&self, shard: &str, dir: &Path) -> String {
        format!("{} --shard {shard} --out {}", self.command, sh(&dir.display().to_string()))
    }
}

/// `s` as one word of a POSIX shell command (a path with spaces, `データ セット`, stays one).
fn sh(s: &str) -> std::borrow::Cow<'_, str> {
    shlex::try_quote(s).unwrap_or(std::borrow::Cow::Borrowed(s))
}

/// A shard file that passed every check.
struct ShardFile {
    path: PathBuf,
    manifest: Manifest,
}

/// Every shard of a `--doc-embeddings` folder, checked against each other and the run.
pub struct ShardSet {
    shards: Vec<ShardFile>,
    /// Rows of a shard read and searched at a time ([`chunk_rows`]); `None`: the default.
    chunk_rows: Option<usize>,
    /// Said with the results when the documents' activations were computed in another format
    /// than the queries' ([`activations_notice`]).
    activations_notice: Option<String>,
}

/// Vectors read from a shard and searched at a time, by default: memory holds this much of
/// them (plus the few rows of a search block that straddles two chunks), whatever a shard's
/// size.
const CHUNK_BYTES: usize = 256 << 20;
/// Sets the rows read at a time instead of [`CHUNK_BYTES`]' worth, and the rows an encode job
/// encodes and writes at a time instead of [`encoder::WINDOW`].
const CHUNK_ROWS_VAR: &str = "EMBEVAL_SHARD_CHUNK_ROWS";

/// `EMBEVAL_SHARD_CHUNK_ROWS` when set (a whole number above 0), else `None`.
fn chunk_rows_var() -> Result<Option<usize>> {
    let Some(v) = std::env::var_os(CHUNK_ROWS_VAR) else { return Ok(None) };
    let v = v.to_string_lossy();
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::usage(
            CHUNK_ROWS_VAR,
            format!(
                "'{v}' is not a number of rows above 0 (the rows of a shard encoded, or read and searched, at a \
                 time); unset it for the defaults: {} documents per part encoded, {} MiB of vectors read",
                encoder::WINDOW,
                CHUNK_BYTES >> 20
            ),
        )),
    }
}

/// Rows of `dim` values read and searched at a time: the set number, else [`CHUNK_BYTES`]'
/// worth, at least one search block.
fn chunk_rows(set: Option<usize>, dim: usize) -> usize {
    set.unwrap_or_else(|| (CHUNK_BYTES / (4 * dim.max(1))).max(cpu::DOC_BLOCK))
}

/// A shard file mapped into memory, with its safetensors header parsed.
struct Mapped {
    file: MappedFile,
}

impl Mapped {
    fn open(path: &Path) -> Result<Mapped> {
        let file = MappedFile::open(path).map_err(|e| {
            Error::missing(path.display().to_string(), format!("cannot open: {e}"), "check the path and permissions")
        })?;
        Ok(Mapped { file })
    }

    fn tensors(&self) -> std::result::Result<(Option<String>, safetensors::SafeTensors<'_>), String> {
        let bytes = self.file.bytes();
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| format!("{e:?}"))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format!("{e:?}"))?;
        Ok((meta.metadata().as_ref().and_then(|m| m.get(META_KEY).cloned()), st))
    }
}

impl ShardSet {
    /// Finds the shards in `dir` and checks, before any search: all N are there (else an error
    /// listing the missing ones with the command that makes each), all name the same N, and
    /// each shard's manifest and contents agree with this run ([`check`]): together, that they
    /// agree with each other.
    pub fn open(dir: &Path, run: &Expected) -> Result<ShardSet> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Error::missing(
                &shown,
                format!("cannot read the --doc-embeddings folder: {e}"),
                "give the folder the `embeval encode --out DIR` jobs wrote",
            )
        })?;
        let mut found: BTreeMap<usize, BTreeMap<usize, PathBuf>> = BTreeMap::new();
        let mut partial = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(s) = Shard::from_file_name(&name) {
                if let Some(old) = found.entry(s.count).or_default().insert(s.index, e.path()) {
                    return Err(Error::input(
                        e.path().display().to_string(),
                        0,
                        format!("a second file for shard {} of {} (the other is {})", s.index, s.count, old.display()),
                        "keep one file per shard",
                    ));
                }
            } else if name.starts_with(".shard-") && name.contains(".partial-") {
                partial.push(name);
            }
        }
        let counts: Vec<usize> = found.keys().copied().collect();
        let count = match counts[..] {
            [] => {
                return Err(Error::missing(
                    &shown,
                    "no shard files (shard-I-of-N.safetensors) here",
                    format!(
                        "make them with `{}` for each I in 0..N, or give the folder they are in",
                        run.command_for("I/N", dir)
                    ),
                ));
            }
            [n] => n,
            _ => {
                let listed: Vec<String> = found
                    .iter()
                    .map(|(n, files)| {
                        format!(
                            "{} of N={n} ({})",
                            files.len(),
                            files.values().map(|p| file_name(p)).collect::<Vec<_>>().join(", ")
                        )
                    })
                    .collect();
                return Err(Error::input(
                    &shown,
                    0,
                    format!("shard files of different runs: {}", listed.join("; ")),
                    "keep the files of one --shard I/N run (one N) in the folder; move or delete the others",
                ));
            }
        };
        let files = &found[&count];
        // Counted without listing every index: N may be far past the corpus (empty shards).
        let absent = count - files.len();
        let missing: Vec<Shard> =
            (0..count).filter(|i| !files.contains_key(i)).take(SHOWN).map(|index| Shard { index, count }).collect();
        if absent > 0 {
            let more = if absent > SHOWN { format!(" and {} more", absent - SHOWN) } else { String::new() };
            let names: Vec<String> = missing.iter().map(|s| s.file_name()).collect();
            let mut cmds: Vec<String> = missing.iter().map(|&s| run.command(s, dir)).collect();
            if absent > SHOWN {
                cmds.push(format!("… ({} more: the same with the other I of {count})", absent - SHOWN));
            }
            let note = if partial.is_empty() {
                String::new()
            } else {
                format!(" (unfinished: {}: a job was stopped while writing)", partial.join(", "))
            };
            return Err(Error::missing(
                &shown,
                format!("{absent} of {count} shards missing: {}{more}{note}", names.join(", ")),
                format!(
                    "make {} with the same flags as the others (prompts, --max-length, --dtype):\n    {}",
                    if absent == 1 { "it" } else { "them" },
                    cmds.join("\n    ")
                ),
            ));
        }
        let chunk_rows = chunk_rows_var()?;
        let mut shards = Vec::with_capacity(count);
        for (&index, path) in files {
            let manifest = check(path, Shard { index, count }, run, dir)?;
            shards.push(ShardFile { path: path.clone(), manifest });
        }
        let activations_notice = activations_notice(&shards, run);
        Ok(ShardSet { shards, chunk_rows, activations_notice })
    }

    /// The documents' side of results.json's throughput: how many texts, from how many
    /// shards, and the encode jobs' own figures summed.
    pub fn docs_summary(&self) -> serde_json::Value {
        let sum = |key: &str| self.shards.iter().filter_map(|s| s.manifest.encoding[key].as_f64()).sum::<f64>();
        let devices = self.devices();
        serde_json::json!({
            "texts": self.shards.iter().map(|s| s.manifest.shard.end - s.manifest.shard.start).sum::<usize>(),
            "cached": sum("cached") as u64,
            "tokens": sum("tokens") as u64,
            "from_shards": self.shards.len(),
            "encode_seconds": sum("seconds"),
            "devices": devices,
        })
    }

    /// The devices the shards were encoded on, each once, sorted.
    fn devices(&self) -> Vec<&str> {
        let mut devices: Vec<&str> = self.shards.iter().map(|s| s.manifest.device.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Exact search of the queries `q` against every shard's documents (`doc_ids`: the corpus's,
    /// in order), one chunk of a shard in memory at a time; the same rankings as
    /// [`super::search_vectors`] on all documents at once.
    pub async fn search(
        &self,
        cx: &RunContext<'_>,
        queries: &[&Text],
        q: Matrix,
        doc_ids: search::Ids,
        info: &mut SearchInfo,
    ) -> Result<Rankings> {
        let dim = q.dim;
        let (qmat, qkept) = super::query_rows(cx, queries, q);
        let ties = search::tie_ranks(&doc_ids, cx.convention);
        let mut stream =
            Stream::new(search::Searcher::new(cx.search).on(cx.neural.device), &qmat, dim, &ties, cx.depth);
        let chunk = chunk_rows(self.chunk_rows, dim);
        cx.progress.begin("search shards", doc_ids.len() as u64);
        // The next shard's reader, opened early to ask for its first chunk.
        let mut opened = None;
        for (i, shard) in self.shards.iter().enumerate() {
            let s = &shard.manifest.shard;
            let mut reader = match opened.take() {
                Some(reader) => reader,
                None => shard.reader(dim)?,
            };
            loop {
                let before = stream.window.len();
                let read = reader.read(&mut stream.window, chunk)?;
                if read == 0 {
                    break;
                }
                // The next chunk (after a shard's last, the next shard's first) comes from disk
                // while this one is searched.
                if !reader.will_need(chunk) {
                    // One that cannot be opened now is opened again, and its error given, in turn.
                    opened = self.shards.get(i + 1).and_then(|s| s.reader(dim).ok());
                    if let Some(next) = &opened {
                        next.will_need(chunk);
                    }
                }
                let added = &mut stream.window[before..];
                // As one process does: cosine's normalisation (Matryoshka's cut is not re-normalised).
                if cx.score_fn == ScoreFn::Cosine {
                    search::normalize_rows(added, dim);
                }
                stream.advance(s.start + reader.done, false).await?;
                cx.progress.advance(read as u64);
            }
            // Rows already searched count only once the whole shard matches its checksum.
            reader.finish()?;
            stream.advance(s.end, i + 1 == self.shards.len()).await?;
        }
        cx.progress.end();
        info.path = format!("{}, streamed from {} shards", stream.paths.join("; "), self.shards.len());
        // Shards may be encoded anywhere; say so when their vectors come from different devices.
        if let devices @ [_, _, ..] = self.devices().as_slice() {
            stream.notices.push(format!(
                "the shards were encoded on different devices ({}): their vectors differ in the last bits, \
                 so nearly tied documents may rank differently than if one device had encoded them all",
                devices.join(", ")
            ));
        }
        stream.notices.extend(self.activations_notice.clone());
        info.notice = (!stream.notices.is_empty()).then(|| stream.notices.join("; "));
        Ok(super::rankings(doc_ids, qkept, stream.tops))
    }
}

/// What to say when the shards' activations were computed in another format than this run's
/// queries' (or than each other's), though the weights' dtype agrees ([`check`]): e.g. bf16
/// documents encoded on a GPU, queries on the CPU's fast path (bf16 weights, f32 activations).
/// The vectors differ within half-precision rounding — a warning, not an error: nothing can
/// make a GPU compute as the CPU's fast path does.
fn activations_notice(shards: &[ShardFile], run: &Expected) -> Option<String> {
    let mut docs: Vec<(&str, &str)> =
        shards.iter().filter_map(|s| s.manifest.activations.map(|a| (a.name(), s.manifest.device.as_str()))).collect();
    docs.sort_unstable();
    docs.dedup();
    let query = run.activations.name();
    if docs.iter().all(|&(a, _)| a == query) {
        return None;
    }
    let made: Vec<String> = docs.iter().map(|(a, device)| format!("{a} on {device}")).collect();
    let fix = if run.activations == Dtype::F32 && run.dtype != Dtype::F32 {
        format!(
            "to compute the queries as the documents were, give --attention eager (the candle graph, {} \
             activations)",
            run.dtype.name()
        )
    } else if run.device == "cpu" && docs.iter().all(|&(a, _)| a == "f32") {
        "to compute the queries as the documents were, give --attention auto (the CPU's fast path, f32 \
         activations)"
            .to_string()
    } else {
        format!(
            "to compute them alike, encode the shards where and as this run encodes the queries (`{}` with this \
             run's --device and --attention)",
            run.command_for("I/N", Path::new("DIR"))
        )
    };
    Some(format!(
        "the documents' activations were computed in {}, the queries' in {query} on {} ({} weights both times): \
         their vectors differ within half-precision rounding; {fix}",
        made.join(", "),
        run.device,
        run.dtype.name(),
    ))
}

/// Exact search over documents that arrive in corpus order, a chunk at a time, in the same
/// [`cpu::DOC_BLOCK`]-aligned blocks as one search over all of them: rows of a block that a
/// chunk ends inside wait in `window` for the next chunk. Each search's per-query lists are
/// merged into `tops` with the global tie ranks.
struct Stream<'a> {
    searcher: search::Searcher,
    queries: &'a [f32],
    dim: usize,
    ties: &'a [u32],
    depth: usize,
    /// Rows of docs `start..`, not searched yet; callers append a chunk's rows.
    window: Vec<f32>,
    start: usize,
    tops: search::Hits,
    /// What ran (`cpu`, `gpu: …`) and notices, each once.
    paths: Vec<String>,
    notices: Vec<String>,
}

impl<'a> Stream<'a> {
    fn new(searcher: search::Searcher, queries: &'a [f32], dim: usize, ties: &'a [u32], depth: usize) -> Self {
        let nq = queries.len() / dim.max(1);
        Stream {
            searcher,
            queries,
            dim,
            ties,
            depth,
            window: Vec::new(),
            start: 0,
            tops: vec![Vec::new(); nq],
            paths: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// `window` now holds the rows up to doc `end`: searches the whole blocks among them (all
    /// of them when `last`) and keeps the rest.
    async fn advance(&mut self, end: usize, last: bool) -> Result<()> {
        let cut = if last { end } else { self.start.max(end / cpu::DOC_BLOCK * cpu::DOC_BLOCK) };
        if cut <= self.start {
            return Ok(());
        }
        let (start, dim) = (self.start, self.dim);
        let rows = &self.window[..(cut - start) * dim];
        let (hits, path, notice) =
            self.searcher.top_k(self.queries, rows, dim, &self.ties[start..cut], self.depth).await?;
        for (top, hits) in self.tops.iter_mut().zip(hits) {
            let global: Vec<(u32, f32)> = hits.into_iter().map(|(d, s)| (d + start as u32, s)).collect();
            search::topk::merge(top, &global, self.ties, self.depth);
        }
        note_path(&mut self.paths, path);
        self.notices.extend(notice.filter(|n| !self.notices.contains(n)));
        // The next chunk is read into the same memory (its capacity stays one chunk and the
        // rows of a block waiting for it: [`ShardReader::read`] reserves exactly).
        self.window.drain(..(cut - start) * dim);
        self.start = cut;
        Ok(())
    }
}

/// Adds what a chunk's search ran to `paths`, each path once. The searcher sums its figures
/// over the chunks, so the newest description of a path replaces the one before: what
/// follows a description's first ", " is figures.
fn note_path(paths: &mut Vec<String>, path: String) {
    let kind = |p: &str| p.split(", ").next().unwrap_or_default().to_string();
    match paths.iter_mut().find(|p| kind(p) == kind(&path)) {
        Some(p) => *p = path,
        None => paths.push(path),
    }
}

impl ShardFile {
    /// A reader of this shard's vectors, each row cut to its first `dim` values (the
    /// Matryoshka truncation, as [`search::truncate_rows`]).
    fn reader(&self, dim: usize) -> Result<ShardReader<'_>> {
        let m = Mapped::open(&self.path)?;
        let docs = {
            let (_, st) = m.tensors().map_err(|e| self.corrupt(format!("not a complete shard file ({e})")))?;
            let data = st.tensor("docs").map_err(|e| self.corrupt(format!("no tensor 'docs' ({e:?})")))?.data();
            let start = data.as_ptr() as usize - m.file.bytes().as_ptr() as usize;
            start..start + data.len()
        };
        let row = 4 * self.manifest.dim.max(1);
        Ok(ShardReader { shard: self, m, docs, row, dim, done: 0, hash: blake3::Hasher::new() })
    }

    fn corrupt(&self, what: String) -> Error {
        Error::input(
            self.path.display().to_string(),
            0,
            what,
            "the file changed or was damaged after it was checked; re-make it with `embeval encode` for this shard",
        )
    }
}

/// A shard's vectors read in order, some rows at a time, checked against the manifest's
/// checksum once all are read.
struct ShardReader<'s> {
    shard: &'s ShardFile,
    m: Mapped,
    /// Where tensor `docs` lies in the file, and the bytes of one of its rows.
    docs: Range<usize>,
    row: usize,
    /// Values kept of each row.
    dim: usize,
    /// Rows read so far.
    done: usize,
    hash: blake3::Hasher,
}

impl ShardReader<'_> {
    /// Appends the next `rows` rows (fewer at the end) to `out`; returns how many. A block of
    /// whole rows is read at a time, each block's pages handed back once its rows are copied:
    /// the vectors are resident once (in `out`), not twice.
    fn read(&mut self, out: &mut Vec<f32>, rows: usize) -> Result<usize> {
        let (row, dim) = (self.row, self.dim);
        let n = rows.min(self.docs.len() / row - self.done);
        let at = self.docs.start + self.done * row;
        // Exactly: a window holding a chunk already has room for the next (a doubling would
        // hold two).
        out.reserve_exact(n * dim);
        let hash = &mut self.hash;
        self.m
            .file
            .read_records(at..at + n * row, row, mapped::BLOCK, |_, piece| {
                hash.update(piece);
                for r in piece.chunks_exact(row) {
                    out.extend(r[..4 * dim].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                }
            })
            .map_err(|e| self.shard.corrupt(format!("cannot read: {e}")))?;
        self.done += n;
        Ok(n)
    }

    /// Asks for the next `rows` rows to be read from disk now, without waiting
    /// ([`MappedFile::will_need`]); false when every row has been read.
    fn will_need(&self, rows: usize) -> bool {
        let left = self.docs.len() / self.row - self.done;
        let at = self.docs.start + self.done * self.row;
        self.m.file.will_need(at..at + rows.min(left) * self.row);
        left > 0
    }

    /// Every row read: checks them against the manifest's checksum.
    fn finish(self) -> Result<()> {
        if self.hash.finalize().to_hex()[..32] != self.shard.manifest.checksum {
            return Err(self
                .shard
                .corrupt("the vectors do not match the checksum in its manifest: the file is damaged".into()));
        }
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// One shard file against this run: readable and complete, its manifest (format, the slot its
/// name says, model files' hash, prompt, dims, dtype, max length, corpus size and fingerprint,
/// its range) and its contents (the vectors' shape, its ids = the corpus slice, the slice's
/// texts). Each mismatch is an error naming the file and the fix.
fn check(path: &Path, shard: Shard, run: &Expected, dir: &Path) -> Result<Manifest> {
    let file = path.display().to_string();
    let remake = || format!("re-make it: {}", run.command(shard, dir));
    let bad = |what: String, fix: String| Error::input(&file, 0, what, fix);
    let m = Mapped::open(path)?;
    let (meta, st) = m.tensors().map_err(|e| {
        bad(
            format!("not a complete shard file ({e}): the job that wrote it was stopped, or the copy is cut short"),
            remake(),
        )
    })?;
    let meta = meta.ok_or_else(|| {
        bad(format!("no '{META_KEY}' manifest in its metadata: not made by embeval encode"), remake())
    })?;
    let man: Manifest = serde_json::from_str(&meta)
        .map_err(|e| bad(format!("its manifest is not one this embeval reads ({e})"), remake()))?;
    if man.format != FORMAT || man.version != VERSION {
        return Err(bad(
            format!("format '{}' version {}; this embeval reads '{FORMAT}' version {VERSION}", man.format, man.version),
            remake(),
        ));
    }
    if (man.shard.index, man.shard.count) != (shard.index, shard.count) {
        return Err(bad(
            format!(
                "its name says shard {} of {} but its manifest says shard {} of {}: renamed?",
                shard.index, shard.count, man.shard.index, man.shard.count
            ),
            format!(
                "give it back its name {} or {}",
                Shard { index: man.shard.index, count: man.shard.count }.file_name(),
                remake()
            ),
        ));
    }
    let n = run.dataset.corpus.len();
    if man.corpus.size != n || man.corpus.fingerprint != run.fingerprint {
        return Err(bad(
            format!(
                "made from another corpus ({} docs, ids fingerprint {}); this dataset's corpus has {n} docs, \
                 ids fingerprint {}",
                man.corpus.size, man.corpus.fingerprint, run.fingerprint
            ),
            format!(
                "encode the shards from this --data (same --format, --split and --doc-text), or evaluate the \
                 dataset they were made from; {}",
                remake()
            ),
        ));
    }
    if man.model.hash != run.model_hash {
        return Err(bad(
            format!(
                "made by another model: '{}' (files hash {}); this run's '{}' has files hash {}",
                man.model.label, man.model.hash, run.label, run.model_hash
            ),
            format!("evaluate with the model folder that made the shards, or {}", remake()),
        ));
    }
    if man.prompt != run.prompt {
        return Err(bad(
            format!(
                "documents encoded with the prompt {:?}; this run's document prompt is {:?}",
                man.prompt, run.prompt
            ),
            format!("give this run the encode jobs' --doc-prompt, or {}", remake()),
        ));
    }
    if man.dtype != run.dtype {
        return Err(bad(
            format!("encoded in {}; this run encodes queries in {}", man.dtype.name(), run.dtype.name()),
            format!("give --dtype {} (queries and documents in one format), or {}", man.dtype.name(), remake()),
        ));
    }
    if man.max_length != run.max_length {
        return Err(bad(
            format!("texts truncated at {} tokens; this run truncates at {}", man.max_length, run.max_length),
            format!("give --max-length {}, or {}", man.max_length, remake()),
        ));
    }
    if man.dim != run.dim {
        return Err(bad(format!("{} dimensions; this run's model has {}", man.dim, run.dim), remake()));
    }
    let range = shard.range(n);
    if (man.shard.start, man.shard.end) != (range.start, range.end) {
        return Err(bad(
            format!(
                "holds docs {}..{}, but shard {} of {} of {n} docs is {}..{}",
                man.shard.start, man.shard.end, shard.index, shard.count, range.start, range.end
            ),
            remake(),
        ));
    }
    let rows = range.len();
    let tensor = |name: &str, dtype: safetensors::Dtype, shape: &[usize]| {
        st.tensor(name).ok().filter(|t| t.dtype() == dtype && t.shape() == shape).ok_or_else(|| {
            bad(
                format!("no {dtype:?} tensor '{name}' of shape {shape:?}: damaged, or not made by embeval encode"),
                remake(),
            )
        })
    };
    tensor("docs", safetensors::Dtype::F32, &[rows, man.dim])?;
    let ids = st.tensor("doc_ids").ok().filter(|t| t.dtype() == safetensors::Dtype::U8 && t.shape().len() == 1);
    let ids = ids.ok_or_else(|| bad("no U8 tensor 'doc_ids'".into(), remake()))?.data();
    let offsets = tensor("doc_id_offsets", safetensors::Dtype::U64, &[rows + 1])?.data();
    let offsets: Vec<usize> =
        offsets.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize).collect();
    for (r, doc) in run.dataset.corpus[range.clone()].iter().enumerate() {
        let id = ids
            .get(offsets[r]..offsets[r + 1])
            .ok_or_else(|| bad("its doc id offsets run past the ids".into(), remake()))?;
        if id != doc.id.as_bytes() {
            return Err(bad(
                format!(
                    "row {r} holds doc '{}', but doc {} of this corpus is '{}'",
                    String::from_utf8_lossy(id),
                    range.start + r,
                    doc.id
                ),
                remake(),
            ));
        }
    }
    let digests = run.dataset.doc_digests(range.clone());
    if man.corpus.texts != texts_fingerprint(&run.prompt, &digests) {
        // Which document, where the shard has each text's digest.
        let encoded = st.tensor("doc_text_digests").ok().filter(|t| t.shape() == [rows, 16]);
        let first = encoded.and_then(|t| t.data().chunks_exact(16).zip(digests.iter()).position(|(a, b)| a != b));
        let which = first.map_or(String::new(), |r| {
            format!(", first doc {} '{}'", range.start + r, run.dataset.corpus[range.start + r].id)
        });
        return Err(bad(
            format!(
                "its documents' texts differ from this dataset's under the same ids{which}: the corpus was \
                 edited, or --doc-text differs"
            ),
            format!("encode from the same files and --doc-text, or {}", remake()),
        ));
    }
    Ok(man)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_corpus_in_order() {
        for total in [0usize, 1, 2, 7, 240, 1001] {
            for count in 1..12 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(total);
                    assert_eq!(r.start, next, "total {total}, {index}/{count}");
                    assert!(r.len() <= total / count + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
        // No overflow at seven million docs and thousands of shards.
        let r = Shard { index: 4095, count: 4096 }.range(7_000_000);
        assert_eq!(r.end, 7_000_000);
    }

    #[test]
    fn shard_flags_and_file_names() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["3/3", "1", "-1/3", "1/0", "a/b", "1/3/4"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--shard") && e.contains("I/N"), "{bad}: {e}");
        }
        assert_eq!(Shard { index: 2, count: 3 }.file_name(), "shard-2-of-3.safetensors");
        assert_eq!(Shard { index: 7, count: 100 }.file_name(), "shard-007-of-100.safetensors");
        assert_eq!(Shard::from_file_name("shard-007-of-100.safetensors"), Some(Shard { index: 7, count: 100 }));
        assert_eq!(Shard::from_file_name("shard-1-of-3.json"), None);
        assert_eq!(Shard::from_file_name(".shard-1-of-3.safetensors.partial-12"), None);
        assert_eq!(Shard::from_file_name("shard-x-of-3.safetensors"), None);
    }

    /// Real-valued vectors wider than gemm's 512-deep k-blocks, shards of every awkward size
    /// (one doc, a few, across block edges): the streamed search equals one CPU search over
    /// all docs bit for bit, ids, scores and order. Searching each shard's rows on their own
    /// instead (no block alignment) fails here: a piece of 30 docs goes through gemm's
    /// small-matrix path, whose k-blocks round differently from a 4096-doc block's.
    #[test]
    fn streamed_search_equals_one_pass_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (nq, nd, dim, k) = (37, 2 * cpu::DOC_BLOCK + 905, 1000, 25);
        let q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let ties: Vec<u32> = (0..nd as u32).rev().collect();
        let want = cpu::top_k(&q, &d, dim, &ties, k);
        for ends in [vec![nd], vec![1, 2, 70, 100, 4095, 4097, 4100, 4130, 8191, nd - 1, nd], vec![3000, 6000, nd]] {
            let mut stream = Stream::new(search::Searcher::new(search::SearchPath::Cpu), &q, dim, &ties, k);
            let mut from = 0;
            for (i, &end) in ends.iter().enumerate() {
                stream.window.extend_from_slice(&d[from * dim..end * dim]);
                crate::block_on(stream.advance(end, i + 1 == ends.len())).unwrap().unwrap();
                from = end;
            }
            assert!(stream.window.is_empty());
            assert!(stream.tops == want, "shard ends {ends:?}");
        }
    }

    /// What a progress display was told, call by call.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn begin(&self, step: &str, total: u64) {
            self.0.lock().unwrap().push(format!("begin {step} {total}"));
        }
        fn advance(&self, n: u64) {
            self.0.lock().unwrap().push(format!("+{n}"));
        }
        fn end(&self) {
            self.0.lock().unwrap().push("end".into());
        }
    }

    /// An encode job's parts show as one bar over its slice: the first part loads the model
    /// (its own step, in the bar's place), then the bar comes back where the cached texts
    /// left it; later parts' begin and end do not start it again.
    #[test]
    fn an_encode_jobs_parts_show_as_one_bar() {
        let r = Recorder::default();
        let line = Line::new(&r, "m: encode 0/2".into(), 10);
        line.advance_cached(2);
        line.other().begin("m: load model", 1);
        line.other().end();
        line.begin("encode", 3);
        line.advance(3);
        line.end();
        line.begin("encode", 4);
        line.advance(4);
        line.end();
        line.advance_cached(1);
        line.finish();
        let want = [
            "begin m: encode 0/2 10",
            "+0",
            "+2",
            "begin m: load model 1",
            "end",
            "begin m: encode 0/2 10",
            "+2",
            "+3",
            "+4",
            "+1",
            "end",
        ];
        assert_eq!(*r.0.lock().unwrap(), want);
    }

    #[test]
    fn each_path_is_noted_once_with_its_newest_figures() {
        let mut paths = Vec::new();
        for p in [
            "gpu: H100, candle matmul, 3.10% of scores read back",
            "cpu",
            "gpu: H100, candle matmul, 2.05% of scores read back, 1 out-of-memory split",
            "cpu",
        ] {
            note_path(&mut paths, p.to_string());
        }
        assert_eq!(paths, ["gpu: H100, candle matmul, 2.05% of scores read back, 1 out-of-memory split", "cpu"]);
    }

    #[test]
    fn fingerprints_see_every_id_and_text() {
        let a = ids_fingerprint(["ab", "c"].into_iter());
        assert_ne!(a, ids_fingerprint(["a", "bc"].into_iter()));
        assert_ne!(a, ids_fingerprint(["c", "ab"].into_iter()));
        assert_eq!(a, ids_fingerprint(["ab", "c"].into_iter()));
        let d = corpus::digest;
        let docs = [d("猫"), d("dog")];
        assert_ne!(texts_fingerprint("", &docs), texts_fingerprint("passage: ", &docs));
        assert_ne!(texts_fingerprint("", &docs), texts_fingerprint("", &[d("猫"), d("dogs")]));
        assert_ne!(texts_fingerprint("", &docs), texts_fingerprint("", &[d("dog"), d("猫")]));
        // The prompt is not run into the first text.
        assert_ne!(texts_fingerprint("passage: ", &[d("x")]), texts_fingerprint("", &[d("passage: x")]));
    }
}
