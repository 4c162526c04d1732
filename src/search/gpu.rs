//! Exact top-k retrieval on a GPU through wgpu: the same code runs natively (Vulkan, Metal,
//! DX12; on a machine without a GPU, Mesa's lavapipe) and in the browser (WebGPU).
//!
//! Why it exists: scoring every query against every document is the one step of an
//! evaluation that grows with corpus × queries, and it is a plain matrix product, which a GPU
//! does well; in the browser, WebGPU is how single-threaded wasm reaches the GPU (or, on a
//! software adapter, more cores). Results are exact, not approximate nearest neighbours:
//! the same ids as a CPU scan, ties broken by a caller-given rank so the order is
//! reproducible.
//!
//! How: queries are processed in blocks and documents in chunks small enough for the
//! adapter's buffer limits. For each block × chunk, `shaders/similarity.wgsl` writes the score
//! block on the GPU (register tiles, no shared memory: barriers are slow on software adapters;
//! 4×4 on hardware GPUs, 8×8 on software adapters, see [`Tile`]), then either
//! - `shaders/topk.wgsl` keeps a top-k heap per query and document slice, and only those
//!   k entries per slice are read back (hardware adapters, k ≤ [`GPU_TOPK_MAX_K`] and
//!   k ≤ a quarter of the chunk), or
//! - the score block itself is read back and selected on the CPU (software adapters, where
//!   this measured faster, and large k).
//!
//! The CPU merges partial lists across slices and chunks with [`super::topk::TopK`], the
//! CPU searcher's own top-k, so both searchers share one order: score descending by
//! numeric order (the shader compares order-preserving integer keys, -0 folded onto +0), then
//! `tie_rank` ascending. Tie ranks from [`super::tie_ranks`] are unique; if a caller repeats
//! one, documents with equal score and tie rank come in unspecified order.
//!
//! Waiting for results: natively `device.poll` blocks until the GPU is done; on the web `poll`
//! does nothing, so every wait is a future completed from wgpu's `map_async` callback. No
//! threads are spawned. wgpu errors (validation, out of memory, device loss) are captured and
//! returned as [`GpuError`] rather than panicking, which is wgpu's default.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytemuck::{Pod, Zeroable};

use super::topk::{Candidate, TopK};

const PARAMS_WGSL: &str = include_str!("../../shaders/params.wgsl");
const SIMILARITY_COMMON_WGSL: &str = include_str!("../../shaders/similarity_common.wgsl");
const SIMILARITY_WGSL: &str = include_str!("../../shaders/similarity.wgsl");
const SIMILARITY_8X8_WGSL: &str = include_str!("../../shaders/similarity_8x8.wgsl");
/// Prepended to a similarity kernel for its f32 variant; `similarity_f16.wgsl` is the f16 one.
const SIMILARITY_F32_PRELUDE: &str = "alias Elem = f32;\n";
const SIMILARITY_F16_PRELUDE: &str = include_str!("../../shaders/similarity_f16.wgsl");
const TOPK_WGSL: &str = include_str!("../../shaders/topk.wgsl");

/// Largest k selected on the GPU by default on hardware adapters (see
/// [`GpuSearcher::with_gpu_topk_max_k`]).
/// The kernel itself has no limit, but each invocation owns a k-entry heap and a slice of at
/// least 32·k documents, so a large k leaves few invocations and little to save
/// over reading the scores back; the readback path handles any k. Covers the @1000 metrics.
pub const GPU_TOPK_MAX_K: usize = 1024;

/// The similarity kernel's register tile (queries × documents per invocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// 4×4, `similarity.wgsl`: 16 vec4 accumulators, for hardware GPUs.
    Narrow,
    /// 8×8, `similarity_8x8.wgsl`: 64 vec4 accumulators (256 f32: more than a hardware GPU's
    /// registers per thread), for software adapters, where it measured 1.5–2.1× (lavapipe) and
    /// 1.2–1.4× (SwiftShader) faster than 4×4 on 256 × 8192 × 384 and 1000 × 100000 × 384
    /// (BENCHMARKS.md; other tile and workgroup shapes and an unrolled loop were slower or
    /// within noise with more registers).
    Wide,
}

impl Tile {
    /// Queries or documents covered by one similarity workgroup along each axis (8
    /// invocations × the tile's width); must match the kernel.
    fn span(self) -> usize {
        match self {
            Tile::Narrow => 32,
            Tile::Wide => 64,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Tile::Narrow => SIMILARITY_WGSL,
            Tile::Wide => SIMILARITY_8X8_WGSL,
        }
    }
}

/// The similarity kernel's pipelines for one tile: f32 inputs, and f16 where the device has
/// `shader-f16`.
struct Similarity {
    tile: Tile,
    f32: wgpu::ComputePipeline,
    f16: Option<wgpu::ComputePipeline>,
}

impl Similarity {
    fn build(device: &wgpu::Device, tile: Tile) -> Self {
        let kernel = tile.source();
        let f32 = compute_pipeline(
            device,
            "similarity",
            format!("{SIMILARITY_F32_PRELUDE}{PARAMS_WGSL}{SIMILARITY_COMMON_WGSL}{kernel}").into(),
        );
        let f16 = device.features().contains(wgpu::Features::SHADER_F16).then(|| {
            compute_pipeline(
                device,
                "similarity f16",
                format!("{SIMILARITY_F16_PRELUDE}{PARAMS_WGSL}{SIMILARITY_COMMON_WGSL}{kernel}").into(),
            )
        });
        Similarity { tile, f32, f16 }
    }
}
/// `topk.wgsl`'s workgroup size.
const TOPK_WORKGROUP: usize = 64;
/// Queries per block: bounds the score block and keeps the similarity dispatch small.
const MAX_QUERY_BLOCK: usize = 1024;
/// Upper bound on the score block (queries × documents × 4 bytes) whatever the adapter allows:
/// software adapters place it in host memory, and a smaller block wastes little time.
const SCORE_BLOCK_BUDGET: u64 = 256 << 20;
/// Smallest document slice per top-k invocation.
const MIN_SLICE_LEN: usize = 256;
/// Slices are at least this many times k long (rounded up to a power of two), so that the
/// k entries read back per slice are a real reduction and the heap is rarely touched after
/// it fills. Longer slices mean fewer invocations: on lavapipe, 256 × 8192 docs with k = 100
/// took 851 ms with 8k, 772 ms with 32k and 693 ms with 128k (noisy, busy machine); 32 keeps
/// more parallelism for real GPUs.
const SLICE_PER_K: usize = 32;

/// The similarity kernel's input type. Results are exact either way: f16 inputs only choose
/// candidates, which are rescored from the f32 vectors (see [`GpuSearcher::top_k_with_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f16 on hardware adapters with `shader-f16` (half the memory traffic and twice the
    /// documents per chunk); f32 elsewhere, and whenever a vector has a component outside
    /// f16's range.
    #[default]
    Auto,
    F32,
    /// f16 where the values fit (an adapter without `shader-f16` is an error).
    F16,
}

/// What a search did besides returning its hits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// The similarity kernel read f16 inputs; the top k were rescored from the f32 vectors.
    pub f16: bool,
    /// Queries (positions in the search's queries, ascending) whose f16 candidates could not
    /// prove their top k (scores too close together for f16's rounding) and were searched
    /// again exactly on the CPU.
    pub rescued: Vec<usize>,
}

/// Figures of several searches of the same queries (the chunks of a streamed search): a query
/// re-searched in two of them is one query re-searched.
impl std::ops::AddAssign for SearchStats {
    #[allow(clippy::suspicious_op_assign_impl)] // figures summed: a flag or-ed, query sets joined
    fn add_assign(&mut self, o: SearchStats) {
        self.f16 |= o.f16;
        self.rescued.extend(o.rescued);
        self.rescued.sort_unstable();
        self.rescued.dedup();
    }
}

/// Why a GPU search could not run. The caller falls back to the CPU searcher on any of these.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    #[error("GPU device request failed: {0}")]
    Device(String),
    #[error("GPU search failed: {0}")]
    Failed(String),
}

/// Uniform block every search shader reads; field order and size must match `struct Params` in
/// `shaders/params.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Params {
    nq: u32,
    nd: u32,
    dim4: u32,
    score_stride: u32,
    k: u32,
    slice_len: u32,
    n_slices: u32,
    _pad: u32,
}

/// A wgpu device with the search pipelines built on it.
pub struct GpuSearcher {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter_info: wgpu::AdapterInfo,
    similarity: Similarity,
    topk: wgpu::ComputePipeline,
    /// Errors wgpu reported outside an error scope (shader compilation, device loss); wgpu
    /// would panic on these by default.
    uncaptured: Arc<Mutex<Vec<String>>>,
    max_chunk_docs: usize,
    gpu_topk_max_k: usize,
    precision: Precision,
}

impl GpuSearcher {
    /// Finds an adapter and device. No adapter → Err(GpuError::NoAdapter), never a panic or a
    /// hang.
    ///
    /// Prefers a high-performance adapter; if none is offered, asks once more for a fallback
    /// (software) adapter, which is how Chromium exposes SwiftShader. On the web, a context
    /// without WebGPU (node, a shared worker, a browser without it) is also `NoAdapter`.
    pub async fn new() -> Result<Self, GpuError> {
        // On the web, wgpu panics when asked for an instance where `navigator.gpu` cannot be
        // reached (node, shared and service workers), so ask first.
        #[cfg(target_arch = "wasm32")]
        if !wgpu::util::is_browser_webgpu_supported().await {
            return Err(GpuError::NoAdapter(
                "WebGPU is not available here: it needs navigator.gpu, on the main thread or \
                 in a dedicated worker, and an adapter; headless Chromium needs \
                 --enable-unsafe-webgpu"
                    .into(),
            ));
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let preferred = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let adapter = match instance.request_adapter(&preferred).await {
            Ok(adapter) => adapter,
            Err(first) => {
                let fallback = wgpu::RequestAdapterOptions { force_fallback_adapter: true, ..Default::default() };
                instance.request_adapter(&fallback).await.map_err(|e| {
                    let (first, fallback) = (first.to_string(), e.to_string());
                    GpuError::NoAdapter(if first == fallback {
                        first
                    } else {
                        format!("{first}; fallback adapter: {fallback}")
                    })
                })?
            }
        };
        #[allow(unused_mut)]
        let mut adapter_info = adapter.get_info();
        // Browsers leave the description empty; the vendor and architecture say what it is.
        #[cfg(target_arch = "wasm32")]
        if adapter_info.name.is_empty() {
            let fallback = adapter_info.device_type == wgpu::DeviceType::Cpu;
            adapter_info.name = browser_adapter_name(fallback).await.unwrap_or_default();
        }
        // Ask for everything the adapter offers: the default limits (128 MiB bindings) would
        // force smaller chunks than the hardware needs.
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("embeval search"),
                required_features: adapter.features() & wgpu::Features::SHADER_F16,
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(format!("{} ({}): {e}", adapter_info.name, adapter_info.backend)))?;
        Ok(Self::from_device(device, queue, adapter_info))
    }

    /// Device setup separate from the work, so tests can inject a device (wgpu hello_compute
    /// style).
    ///
    /// Errors while building the pipelines are not returned here: they are kept and reported
    /// by the first [`GpuSearcher::top_k`] call.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, adapter_info: wgpu::AdapterInfo) -> Self {
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        {
            let sink = Arc::clone(&uncaptured);
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                record(&sink, e.to_string());
            }));
            let sink = Arc::clone(&uncaptured);
            device.set_device_lost_callback(move |reason, message| {
                if reason != wgpu::DeviceLostReason::Destroyed {
                    record(&sink, format!("device lost ({reason:?}): {message}"));
                }
            });
        }
        let software = adapter_info.device_type == wgpu::DeviceType::Cpu;
        let similarity = Similarity::build(&device, if software { Tile::Wide } else { Tile::Narrow });
        let topk = compute_pipeline(&device, "topk", format!("{PARAMS_WGSL}{TOPK_WGSL}").into());
        // On a software adapter "GPU memory" is host memory: reading the score block back is
        // a memcpy, and selecting on the CPU beat the top-k shader (lavapipe, 256 × 8192 × 384:
        // 166 vs 208 ms at k = 10, 179 vs 215 at k = 100, 198 vs 228 at k = 1000).
        let gpu_topk_max_k = if adapter_info.device_type == wgpu::DeviceType::Cpu { 0 } else { GPU_TOPK_MAX_K };
        Self {
            device,
            queue,
            adapter_info,
            similarity,
            topk,
            uncaptured,
            max_chunk_docs: usize::MAX,
            gpu_topk_max_k,
            precision: Precision::Auto,
        }
    }

    /// Chooses the similarity kernel's input type (default [`Precision::Auto`]).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Whether the device can run the f16 kernel (`shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.similarity.f16.is_some()
    }

    /// Chooses the similarity kernel's tile (default: [`Tile::Wide`] on software adapters,
    /// [`Tile::Narrow`] on hardware ones). Tests use it to run both kernels on one adapter.
    pub fn with_tile(mut self, tile: Tile) -> Self {
        if tile != self.similarity.tile {
            self.similarity = Similarity::build(&self.device, tile);
        }
        self
    }

    /// The similarity kernel's tile.
    pub fn tile(&self) -> Tile {
        self.similarity.tile
    }

    /// Caps the documents per chunk (normally set by the adapter's limits). Tests use it to
    /// force several chunks on a small corpus.
    pub fn with_max_chunk_docs(mut self, n: usize) -> Self {
        self.max_chunk_docs = n.max(1);
        self
    }

    /// Sets the largest k selected on the GPU; above it the score block is read back and
    /// selected on the CPU; 0 always reads back. The default is [`GPU_TOPK_MAX_K`] on a
    /// hardware adapter and 0 on a software one ([`GpuSearcher::is_software`]), where
    /// reading back measured faster. Both paths return identical results.
    pub fn with_gpu_topk_max_k(mut self, k: usize) -> Self {
        self.gpu_topk_max_k = k;
        self
    }

    /// Documents per chunk that a search of `nq` queries × `nd` documents of `dim` floats
    /// for the top `k` would use on this device: `nd` when the corpus fits one chunk.
    pub fn chunk_docs(&self, nq: usize, nd: usize, dim: usize, k: usize) -> Result<usize, GpuError> {
        Ok(self.plan(nq.max(1), nd.max(1), dim.max(1), k.clamp(1, nd.max(1)), false)?.doc_chunk)
    }

    /// e.g. "llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]"
    pub fn adapter_description(&self) -> String {
        let info = &self.adapter_info;
        let name = if info.name.is_empty() { "unnamed adapter" } else { &info.name };
        // lavapipe, SwiftShader: "gpu" in a results table must not read as the user's GPU.
        let software = if self.is_software() { " (software: a GPU emulated on the CPU)" } else { "" };
        format!("{name}{software} [{:?}, {:?}]", info.backend, info.device_type)
    }

    /// True for adapters that emulate a GPU on the CPU (lavapipe, SwiftShader, WARP): they
    /// work, but a multi-threaded CPU search is usually faster.
    pub fn is_software(&self) -> bool {
        // The WebGPU backend reports `isFallbackAdapter` as DeviceType::Cpu.
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// The adapter this searcher runs on.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter_info
    }

    /// queries: nq*dim row-major f32, docs: nd*dim row-major f32 (already L2-normalised when
    /// cosine is wanted; the shader just does dot products).
    /// tie_rank\[d\]: u32 per doc; among equal scores, the doc with the SMALLER tie_rank ranks
    /// first.
    /// Returns for each query its top-k (doc index, score) sorted by score desc then tie_rank
    /// asc; k may exceed nd (then all docs).
    ///
    /// Scores are ordered as numbers, as in the CPU searcher (-0 ties with +0; inputs are
    /// checked for NaN before they get here).
    pub async fn top_k(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> Result<super::Hits, GpuError> {
        Ok(self.top_k_with_stats(queries, docs, dim, tie_rank, k).await?.0)
    }

    /// [`GpuSearcher::top_k`], also saying how it ran.
    ///
    /// With f16 inputs ([`Precision`]) the GPU selects 2k + 32 candidates per query by their
    /// f16 scores; each is rescored from the f32 vectors in the f32 kernel's summation order.
    /// A query's top k is proven when its k-th rescored score exceeds the lowest candidate's
    /// f16 score by more than [`f16_error_bound`] (every document left out scored at most that
    /// in f16, so at most that plus the bound exactly); queries where that fails are searched
    /// again on the CPU. So the result is the f32 search's, whatever the data.
    pub async fn top_k_with_stats(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> Result<(super::Hits, SearchStats), GpuError> {
        if dim == 0 {
            return Err(GpuError::Failed("embedding dimension is 0".into()));
        }
        if !queries.len().is_multiple_of(dim) || !docs.len().is_multiple_of(dim) {
            return Err(GpuError::Failed(format!(
                "query ({}) and document ({}) buffer lengths must be multiples of the dimension {dim}",
                queries.len(),
                docs.len()
            )));
        }
        let nq = queries.len() / dim;
        let nd = docs.len() / dim;
        if tie_rank.len() != nd {
            return Err(GpuError::Failed(format!("tie_rank has {} entries for {nd} documents", tie_rank.len())));
        }
        if u32::try_from(nd).is_err() {
            return Err(GpuError::Failed(format!("{nd} documents exceed u32 ids")));
        }
        self.check_uncaptured()?;
        let k = k.min(nd);
        if nq == 0 || k == 0 {
            return Ok((vec![Vec::new(); nq], SearchStats::default()));
        }
        if !self.use_f16(queries, docs)? {
            let lists = self.select(queries, docs, dim, tie_rank, k, false).await?;
            let hits = lists.into_iter().map(|list| list.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect());
            return Ok((hits.collect(), SearchStats::default()));
        }
        let candidates = (2 * k + 32).min(nd);
        let lists = self.select(queries, docs, dim, tie_rank, candidates, true).await?;
        let (hits, rescued) = rescore(lists, queries, docs, dim, tie_rank, k);
        Ok((hits, SearchStats { f16: true, rescued }))
    }

    /// Whether this search reads f16 inputs.
    fn use_f16(&self, queries: &[f32], docs: &[f32]) -> Result<bool, GpuError> {
        let wanted = match self.precision {
            Precision::F32 => false,
            Precision::Auto => self.has_f16() && !self.is_software(),
            Precision::F16 if self.has_f16() => true,
            Precision::F16 => {
                return Err(GpuError::Failed(format!(
                    "f16 search needs the shader-f16 feature, which {} lacks",
                    self.adapter_description()
                )))
            }
        };
        let fits = |v: &[f32]| v.iter().all(|x| x.abs() <= f32::from(half::f16::MAX));
        Ok(wanted && fits(queries) && fits(docs))
    }

    /// Per query, the best `k` documents by the kernel's scores (f16 inputs when `f16`).
    async fn select(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
        f16: bool,
    ) -> Result<Vec<TopK>, GpuError> {
        let (nq, nd) = (queries.len() / dim, docs.len() / dim);
        let plan = self.plan(nq, nd, dim, k, f16)?;
        let buffers = self.create_buffers(&plan).await?;
        let mut lists: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();

        for q_start in (0..nq).step_by(plan.query_block) {
            let q_end = (q_start + plan.query_block).min(nq);
            let block = input_bytes(&queries[q_start * dim..q_end * dim], dim, plan.dim4, f16);
            self.queue.write_buffer(&buffers.queries, 0, &block);
            for d_start in (0..nd).step_by(plan.doc_chunk) {
                let d_end = (d_start + plan.doc_chunk).min(nd);
                let chunk = input_bytes(&docs[d_start * dim..d_end * dim], dim, plan.dim4, f16);
                let ties = &tie_rank[d_start..d_end];
                let result = self.run_chunk(&plan, &buffers, &chunk, ties, q_end - q_start, d_end - d_start).await?;
                merge_chunk(&plan, &result, &mut lists[q_start..q_end], ties, d_start as u32, d_end - d_start);
            }
        }
        Ok(lists)
    }

    /// [`GpuSearcher::top_k`], blocking the calling thread.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn top_k_blocking(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> Result<super::Hits, GpuError> {
        pollster::block_on(self.top_k(queries, docs, dim, tie_rank, k))
    }

    /// [`GpuSearcher::top_k_with_stats`], blocking the calling thread.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn top_k_with_stats_blocking(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> Result<(super::Hits, SearchStats), GpuError> {
        pollster::block_on(self.top_k_with_stats(queries, docs, dim, tie_rank, k))
    }

    fn check_uncaptured(&self) -> Result<(), GpuError> {
        let errors = self.uncaptured.lock().unwrap_or_else(|e| e.into_inner());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GpuError::Failed(errors.join("; ")))
        }
    }

    /// Picks block, chunk and slice sizes that fit the device's limits.
    fn plan(&self, nq: usize, nd: usize, dim: usize, k: usize, f16: bool) -> Result<Plan, GpuError> {
        let limits = self.device.limits();
        let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let dim4 = dim.div_ceil(4);
        let row_bytes = (dim4 * if f16 { 8 } else { 16 }) as u64;
        let rows_per_binding = usize::try_from(max_binding / row_bytes).unwrap_or(usize::MAX);
        let query_block = nq.min(MAX_QUERY_BLOCK).min(rows_per_binding);
        if query_block == 0 {
            return Err(GpuError::Failed(format!(
                "one {dim}-dimensional vector exceeds the adapter's {max_binding}-byte storage binding"
            )));
        }
        let score_budget = max_binding.min(SCORE_BLOCK_BUDGET);
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        let doc_chunk = nd
            .min(rows_per_binding)
            .min(usize::try_from(score_budget / (query_block as u64 * 4)).unwrap_or(usize::MAX))
            .min(max_groups * self.similarity.tile.span())
            .min(self.max_chunk_docs);
        if doc_chunk == 0 {
            return Err(GpuError::Failed(format!(
                "a {query_block}-query score row exceeds the adapter's {max_binding}-byte storage binding"
            )));
        }
        // Reading back k entries of 8 bytes per slice only saves over the chunk's 4-byte
        // scores when k is well below the chunk size.
        let gpu_topk = k <= self.gpu_topk_max_k && 4 * k <= doc_chunk;
        let slice_len = (SLICE_PER_K * k).next_power_of_two().max(MIN_SLICE_LEN).min(doc_chunk);
        let n_slices = doc_chunk.div_ceil(slice_len);
        let readback_bytes =
            if gpu_topk { (query_block * n_slices * k * 8) as u64 } else { (query_block * doc_chunk * 4) as u64 };
        if readback_bytes > max_binding {
            return Err(GpuError::Failed(format!(
                "the read-back buffer ({readback_bytes} bytes) exceeds the adapter's {max_binding}-byte storage binding"
            )));
        }
        Ok(Plan { dim4, row_bytes, f16, query_block, doc_chunk, gpu_topk, k, slice_len, readback_bytes })
    }

    async fn create_buffers(&self, plan: &Plan) -> Result<Buffers, GpuError> {
        let scope = ErrorScopes::push(&self.device);
        let storage = |label, size: u64, usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                // Zero-sized bindings are invalid.
                size: size.max(16),
                usage,
                mapped_at_creation: false,
            })
        };
        let copy_dst = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let queries = storage("queries", plan.query_block as u64 * plan.row_bytes, copy_dst);
        let docs = storage("docs", plan.doc_chunk as u64 * plan.row_bytes, copy_dst);
        let ties = storage("tie_rank", plan.doc_chunk as u64 * 4, copy_dst);
        let scores = storage(
            "scores",
            (plan.query_block * plan.doc_chunk * 4) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let partial = plan.gpu_topk.then(|| {
            storage("partial top-k", plan.readback_bytes, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC)
        });
        let readback =
            storage("readback", plan.readback_bytes, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let params = storage(
            "params",
            std::mem::size_of::<Params>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let similarity_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("similarity"),
            layout: &self.similarity_pipeline(plan).get_bind_group_layout(0),
            entries: &entries(&[&params, &queries, &docs, &scores]),
        });
        let topk_group = partial.as_ref().map(|partial| {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("topk"),
                layout: &self.topk.get_bind_group_layout(0),
                entries: &entries(&[&params, &scores, &ties, partial]),
            })
        });
        scope.pop("allocating search buffers").await?;
        Ok(Buffers { queries, docs, ties, scores, partial, readback, params, similarity_group, topk_group })
    }

    /// Scores one query block against one document chunk and reads back either the partial
    /// top-k lists or the score block (see [`Plan::gpu_topk`]).
    async fn run_chunk(
        &self,
        plan: &Plan,
        buffers: &Buffers,
        chunk: &[u8],
        ties: &[u32],
        nq: usize,
        nd: usize,
    ) -> Result<Vec<u8>, GpuError> {
        let scope = ErrorScopes::push(&self.device);
        let n_slices = nd.div_ceil(plan.slice_len);
        let params = Params {
            nq: nq as u32,
            nd: nd as u32,
            dim4: plan.dim4 as u32,
            score_stride: plan.doc_chunk as u32,
            k: plan.k as u32,
            slice_len: plan.slice_len as u32,
            n_slices: n_slices as u32,
            _pad: 0,
        };
        self.queue.write_buffer(&buffers.params, 0, bytemuck::bytes_of(&params));
        self.queue.write_buffer(&buffers.docs, 0, chunk);
        self.queue.write_buffer(&buffers.ties, 0, bytemuck::cast_slice(ties));

        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("search chunk") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("similarity"), timestamp_writes: None });
            pass.set_pipeline(self.similarity_pipeline(plan));
            pass.set_bind_group(0, &buffers.similarity_group, &[]);
            let span = self.similarity.tile.span();
            pass.dispatch_workgroups(nd.div_ceil(span) as u32, nq.div_ceil(span) as u32, 1);
        }
        let read_bytes = if let (Some(partial), Some(group)) = (&buffers.partial, &buffers.topk_group) {
            let (x, y) = grid_1d(
                (nq * n_slices).div_ceil(TOPK_WORKGROUP),
                self.device.limits().max_compute_workgroups_per_dimension as usize,
            );
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("topk"), timestamp_writes: None });
            pass.set_pipeline(&self.topk);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(x, y, 1);
            drop(pass);
            let bytes = (nq * n_slices * plan.k * 8) as u64;
            encoder.copy_buffer_to_buffer(partial, 0, &buffers.readback, 0, bytes);
            bytes
        } else {
            let bytes = (nq * plan.doc_chunk * 4) as u64;
            encoder.copy_buffer_to_buffer(&buffers.scores, 0, &buffers.readback, 0, bytes);
            bytes
        };
        self.queue.submit([encoder.finish()]);
        scope.pop("running the search shaders").await?;

        let data = self.read_buffer(&buffers.readback, read_bytes).await;
        self.check_uncaptured()?;
        data
    }

    fn similarity_pipeline(&self, plan: &Plan) -> &wgpu::ComputePipeline {
        match (&self.similarity.f16, plan.f16) {
            (Some(f16), true) => f16,
            _ => &self.similarity.f32,
        }
    }

    /// Maps the first `size` bytes of a MAP_READ buffer and copies them out.
    async fn read_buffer(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        let (sender, receiver) = oneshot();
        buffer.map_async(wgpu::MapMode::Read, 0..size, move |result| sender.send(result));
        #[cfg(not(target_arch = "wasm32"))]
        {
            // Natively the callback runs inside poll; afterwards it must have fired, so a
            // missing result is an error rather than a future that never wakes.
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Failed(format!("waiting for the GPU: {e}")))?;
            if !receiver.is_done() {
                return Err(GpuError::Failed("buffer mapping did not complete".into()));
            }
        }
        // On the web, the browser calls back when the GPU is done; awaiting yields to it.
        match receiver.await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(GpuError::Failed(format!("reading results back: {e}"))),
            None => return Err(GpuError::Failed("buffer mapping was abandoned".into())),
        }
        let bytes = {
            let view =
                buffer.get_mapped_range(0..size).map_err(|e| GpuError::Failed(format!("reading results back: {e}")))?;
            view.to_vec()
        };
        buffer.unmap();
        Ok(bytes)
    }
}

/// "vendor architecture [device] [description]" of the adapter the browser offers for these
/// options (wgpu's WebGPU backend maps only the description, which Chromium leaves empty), e.g.
/// "google swiftshader"; `None` where the browser says nothing.
#[cfg(target_arch = "wasm32")]
async fn browser_adapter_name(fallback: bool) -> Option<String> {
    use js_sys::Reflect;
    use wasm_bindgen::JsCast;
    let get = |v: &wasm_bindgen::JsValue, key: &str| Reflect::get(v, &key.into()).ok();
    let gpu = get(&get(&js_sys::global(), "navigator")?, "gpu")?;
    let request: js_sys::Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let options = js_sys::Object::new();
    if fallback {
        Reflect::set(&options, &"forceFallbackAdapter".into(), &true.into()).ok()?;
    } else {
        Reflect::set(&options, &"powerPreference".into(), &"high-performance".into()).ok()?;
    }
    let promise: js_sys::Promise = request.call1(&gpu, &options).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = get(&adapter, "info")?;
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .into_iter()
        .filter_map(|key| get(&info, key)?.as_string().filter(|s| !s.is_empty()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Native convenience: blocks with pollster.
///
/// Finds an adapter on every call; keep a [`GpuSearcher`] to search more than once.
#[cfg(not(target_arch = "wasm32"))]
pub fn top_k_blocking(
    queries: &[f32],
    docs: &[f32],
    dim: usize,
    tie_rank: &[u32],
    k: usize,
) -> Result<super::Hits, GpuError> {
    pollster::block_on(async { GpuSearcher::new().await?.top_k(queries, docs, dim, tie_rank, k).await })
}

/// Binds `buffers` in order to bindings 0, 1, 2, ...
fn entries<'a>(buffers: &[&'a wgpu::Buffer]) -> Vec<wgpu::BindGroupEntry<'a>> {
    buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect()
}

fn record(sink: &Mutex<Vec<String>>, message: String) {
    sink.lock().unwrap_or_else(|e| e.into_inner()).push(message);
}

fn compute_pipeline(device: &wgpu::Device, label: &str, source: Cow<'static, str>) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// Splits `groups` workgroups into an x × y grid with x ≤ `max_per_dim`; topk.wgsl
/// linearises the index again and ignores the excess.
fn grid_1d(groups: usize, max_per_dim: usize) -> (u32, u32) {
    let x = groups.clamp(1, max_per_dim.max(1));
    (x as u32, groups.div_ceil(x).max(1) as u32)
}

/// Rows of `dim` floats as the kernel reads them: widened with zeros to `dim4 * 4` (the shaders
/// read vec4s; adding zero products leaves every score unchanged), as f32 or rounded to f16.
fn input_bytes(rows: &[f32], dim: usize, dim4: usize, f16: bool) -> Cow<'_, [u8]> {
    let width = dim4 * 4;
    if !f16 && width == dim {
        return Cow::Borrowed(bytemuck::cast_slice(rows));
    }
    let elem = if f16 { 2 } else { 4 };
    let mut out = Vec::with_capacity(rows.len() / dim * width * elem);
    for row in rows.chunks_exact(dim) {
        for &x in row {
            if f16 {
                out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
            } else {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.resize(out.len() + (width - dim) * elem, 0);
    }
    Cow::Owned(out)
}

/// Largest possible |f16-input score − f32 score| for a query of norm `q_norm` against any
/// document of norm at most `d_norm`, both computed in f32 by any summation order (the
/// kernel's, possibly fused, and [`dot_in_kernel_order`]). Rounding to f16 moves each
/// component by at most u = 2^-11 of itself (round to nearest), or 2^-25 below f16's normal
/// range; with Σ|q_i||d_i| ≤ |q||d| and Σ|x_i| ≤ √n|x|:
///   Σ|q16 d16 − q d| ≤ (2u + u²)|q||d| + 2^-25 (1 + u) √n (|q| + |d|) + n 2^-50,
/// and each f32 sum of n terms is off by at most γ_n = n 2^-24 / (1 − n 2^-24) times the sum
/// of the terms' magnitudes (≤ 1.01 |q||d| after rounding). 1 % more covers the norms' own
/// rounding.
pub fn f16_error_bound(q_norm: f64, d_norm: f64, dim: usize) -> f64 {
    let u = 2f64.powi(-11);
    let n = dim.div_ceil(4) as f64 * 4.0;
    let gamma = n * 2f64.powi(-24) / (1.0 - n * 2f64.powi(-24));
    let rounding = (2.0 * u + u * u) * q_norm * d_norm
        + 2f64.powi(-25) * (1.0 + u) * n.sqrt() * (q_norm + d_norm)
        + n * 2f64.powi(-50);
    let summing = 2.0 * gamma * 1.01 * q_norm * d_norm;
    1.01 * (rounding + summing)
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}

/// A dot product summed as `similarity.wgsl` sums it: four lane-wise partial sums, then
/// (s0 + s1) + (s2 + s3).
fn dot_in_kernel_order(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 4];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        lanes[i % 4] += x * y;
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// f16 candidates → exact top k: rescored from the f32 vectors, then checked against the
/// bound (see [`GpuSearcher::top_k_with_stats`]); unproven queries are searched again on the
/// CPU. Returns the hits and which queries needed that.
fn rescore(
    lists: Vec<TopK>,
    queries: &[f32],
    docs: &[f32],
    dim: usize,
    tie_rank: &[u32],
    k: usize,
) -> (super::Hits, Vec<usize>) {
    let nd = docs.len() / dim;
    let d_norm = docs.chunks_exact(dim).map(norm).fold(0.0, f64::max);
    let mut hits = Vec::with_capacity(lists.len());
    let mut unproven = Vec::new();
    for (qi, list) in lists.into_iter().enumerate() {
        let query = &queries[qi * dim..(qi + 1) * dim];
        let candidates = list.into_sorted();
        let lowest_f16 = candidates.last().map_or(f32::NEG_INFINITY, |c| c.score);
        let mut exact = TopK::new(k);
        for c in &candidates {
            let d = c.doc as usize;
            exact.push(Candidate { score: dot_in_kernel_order(query, &docs[d * dim..(d + 1) * dim]), ..*c });
        }
        let exact: Vec<(u32, f32)> = exact.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect();
        let kth = exact.last().map_or(f64::NEG_INFINITY, |&(_, s)| f64::from(s));
        let proven = candidates.len() == nd || kth > f64::from(lowest_f16) + f16_error_bound(norm(query), d_norm, dim);
        if !proven {
            unproven.push(qi);
        }
        hits.push(exact);
    }
    if !unproven.is_empty() {
        let rows: Vec<f32> = unproven.iter().flat_map(|&qi| &queries[qi * dim..(qi + 1) * dim]).copied().collect();
        for (qi, exact) in unproven.iter().zip(super::cpu::top_k(&rows, docs, dim, tie_rank, k)) {
            hits[*qi] = exact;
        }
    }
    (hits, unproven)
}

/// Turns one chunk's readback into candidates for each query of the block.
fn merge_chunk(plan: &Plan, bytes: &[u8], lists: &mut [TopK], ties: &[u32], doc_offset: u32, nd: usize) {
    if plan.gpu_topk {
        let n_slices = nd.div_ceil(plan.slice_len);
        let entries: &[[u32; 2]] = bytemuck::cast_slice(bytes);
        for (q, list) in lists.iter_mut().enumerate() {
            for s in 0..n_slices {
                let slice_len = plan.slice_len.min(nd - s * plan.slice_len);
                let base = (q * n_slices + s) * plan.k;
                for &[local, score_bits] in &entries[base..base + plan.k.min(slice_len)] {
                    list.push(Candidate {
                        score: f32::from_bits(score_bits),
                        tie: ties[local as usize],
                        doc: doc_offset + local,
                    });
                }
            }
        }
    } else {
        let scores: &[f32] = bytemuck::cast_slice(bytes);
        for (row, list) in scores.chunks_exact(plan.doc_chunk).zip(lists.iter_mut()) {
            for (local, (&score, &tie)) in row[..nd].iter().zip(ties).enumerate() {
                list.push(Candidate { score, tie, doc: doc_offset + local as u32 });
            }
        }
    }
}

/// Sizes chosen for one search; see [`GpuSearcher::plan`].
struct Plan {
    dim4: usize,
    /// Bytes per query or document row: dim4 vec4s of f32 or f16.
    row_bytes: u64,
    /// The kernel reads f16 inputs.
    f16: bool,
    query_block: usize,
    doc_chunk: usize,
    /// Select on the GPU (true) or read the score block back (false).
    gpu_topk: bool,
    /// min(k, number of documents), ≥ 1.
    k: usize,
    slice_len: usize,
    readback_bytes: u64,
}

struct Buffers {
    queries: wgpu::Buffer,
    docs: wgpu::Buffer,
    ties: wgpu::Buffer,
    scores: wgpu::Buffer,
    partial: Option<wgpu::Buffer>,
    readback: wgpu::Buffer,
    params: wgpu::Buffer,
    similarity_group: wgpu::BindGroup,
    topk_group: Option<wgpu::BindGroup>,
}

/// Validation and out-of-memory error scopes around a piece of GPU work, so a wgpu error
/// becomes a [`GpuError`] for this call instead of a panic. Push and pop with no await in
/// between: natively the scope stack belongs to the thread.
struct ErrorScopes {
    // Popped in reverse order of pushing.
    out_of_memory: wgpu::ErrorScopeGuard,
    validation: wgpu::ErrorScopeGuard,
}

impl ErrorScopes {
    fn push(device: &wgpu::Device) -> Self {
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        Self { out_of_memory, validation }
    }

    /// Pops both scopes now (they are thread-local, so popping must not wait for an await
    /// that could resume elsewhere) and returns a future for what they caught.
    fn pop(self, doing: &'static str) -> impl Future<Output = Result<(), GpuError>> {
        let oom = self.out_of_memory.pop();
        let invalid = self.validation.pop();
        async move {
            match oom.await.or(invalid.await) {
                None => Ok(()),
                Some(e) => Err(GpuError::Failed(format!("{doing}: {e}"))),
            }
        }
    }
}

/// A one-shot channel for wgpu callbacks. The receiver resolves to `None` if the sender is
/// dropped without sending (the callback was discarded), so no wait can hang on a lost
/// callback. `Arc<Mutex>` because native wgpu requires `Send` callbacks; on the web it is
/// uncontended.
struct Slot<T> {
    value: Option<T>,
    closed: bool,
    waker: Option<Waker>,
}

struct Sender<T>(Arc<Mutex<Slot<T>>>);
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, closed: false, waker: None }));
    (Sender(Arc::clone(&slot)), Receiver(slot))
}

impl<T> Sender<T> {
    fn send(self, value: T) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).value = Some(value);
        // Drop marks the slot closed and wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    #[cfg(not(target_arch = "wasm32"))]
    fn is_done(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).closed
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.closed {
            Poll::Ready(slot.value.take())
        } else {
            slot.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
