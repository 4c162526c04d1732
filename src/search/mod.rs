//! Exact search: every query scored against every document, block by block, keeping a
//! per-query top-k so the full Q×D matrix never sits in memory. CPU ([`cpu`]), the models' GPU
//! ([`device`], candle: cuBLAS / Metal) and WGSL ([`gpu`], through wgpu) share the tie rule:
//! equal scores are ordered by a per-doc `tie_rank` derived from the doc ids and the metric
//! convention.

pub mod cpu;
// Native only (a GPU through candle; host work on rayon's threads).
#[cfg(all(feature = "models", feature = "cli"))]
pub mod device;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod topk;

use serde::{Deserialize, Serialize};

use crate::metrics::Convention;

/// One retrieved document: an index into [`Rankings::doc_ids`] and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub doc: u32,
    pub score: f64,
}

/// A query's retrieved documents.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRanking {
    pub query_id: String,
    pub hits: Vec<Hit>,
}

/// Doc ids in one buffer: a run of ten million lines needs no ten million allocations.
/// `ids[i]` is a `&str`. The same id may appear more than once (runs are not interned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ids {
    buf: String,
    ends: Vec<usize>,
}

impl Ids {
    pub fn push(&mut self, id: &str) -> u32 {
        self.buf.push_str(id);
        self.ends.push(self.buf.len());
        (self.ends.len() - 1) as u32
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(move |i| &self[i])
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        (i < self.len()).then(|| &self[i])
    }
}

impl std::ops::Index<usize> for Ids {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

impl<S: AsRef<str>> FromIterator<S> for Ids {
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> Self {
        let mut ids = Ids::default();
        it.into_iter().for_each(|s| {
            ids.push(s.as_ref());
        });
        ids
    }
}

/// What a model returns: per query a ranked list. Runs read from files are re-sorted by
/// [`Rankings::sort`] before metrics, exactly as trec_eval ignores the rank column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rankings {
    pub doc_ids: Ids,
    pub queries: Vec<QueryRanking>,
}

impl Rankings {
    /// Sorts every query's hits by score descending, ties by the convention's doc id order
    /// (scores compared at the convention's precision, see [`Convention::score`]).
    pub fn sort(&mut self, conv: Convention, scores: crate::metrics::RunScores) {
        let ids = &self.doc_ids;
        let sort_one = |q: &mut QueryRanking| {
            q.hits.sort_by(|a, b| {
                topk::score_cmp(conv.score(b.score, scores), conv.score(a.score, scores))
                    .then_with(|| conv.tie_cmp(&ids[a.doc as usize], &ids[b.doc as usize]))
            })
        };
        #[cfg(feature = "cli")]
        {
            use rayon::prelude::*;
            self.queries.par_iter_mut().for_each(sort_one);
        }
        #[cfg(not(feature = "cli"))]
        self.queries.iter_mut().for_each(sort_one);
    }
}

/// How query and document vectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScoreFn {
    /// Dot product of L2-normalised vectors (sentence-transformers' `cos_sim`).
    #[default]
    Cosine,
    /// Raw dot product.
    Dot,
}

impl ScoreFn {
    pub fn name(self) -> &'static str {
        match self {
            ScoreFn::Cosine => "cosine",
            ScoreFn::Dot => "dot",
        }
    }
}

/// Which searcher scores embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchPath {
    /// Never a GPU on work too small to pay for starting one. Else the models' GPU ([`device`],
    /// cuda/metal builds); else the WGSL shaders when a short calibration on this adapter and
    /// this workload says they are faster than the CPU; else the CPU.
    #[default]
    Auto,
    /// Block-wise sgemm + top-k on all cores ([`cpu`]).
    Cpu,
    /// The models' GPU through candle's matrix product ([`device`]) where the build and
    /// `--device` have one; else the WGSL shaders through wgpu ([`gpu`]): natively
    /// Vulkan/Metal/DX12, in the browser WebGPU; falls back to the CPU with a notice when no
    /// adapter is found.
    Gpu,
}

/// Per query, its top-k (doc index, score), best first.
pub type Hits = Vec<Vec<(u32, f32)>>;

/// Below this many multiply-adds (queries × docs × dim) `auto` searches on the CPU without
/// looking for a GPU: about 10 ms of 2-core CPU work, less than finding an adapter and
/// compiling the shaders takes (≈ 0.1–0.3 s on lavapipe).
pub const AUTO_MIN_WORK: usize = 1 << 30;
/// `auto` calibrates on at most this many queries and documents of the real workload.
#[cfg(feature = "gpu")]
const CALIBRATION_QUERIES: usize = 256;
#[cfg(feature = "gpu")]
const CALIBRATION_DOCS: usize = 16384;

/// A search path kept across searches: the GPU adapter is looked for, and `auto`'s calibration
/// made, once — a streamed evaluation searches once per shard.
pub struct Searcher {
    path: SearchPath,
    /// The models' `--device`: a GPU there (CUDA, Metal) is searched with candle's matrix
    /// product ([`device`]) rather than the WGSL shaders.
    #[cfg(all(feature = "models", feature = "cli"))]
    device: crate::embed::device::DeviceChoice,
    /// That device, once opened; `None` inside when it is the CPU.
    #[cfg(all(feature = "models", feature = "cli"))]
    on_device: Option<Option<device::DeviceSearcher>>,
    /// The adapter, or why there is none, once looked for.
    #[cfg(feature = "gpu")]
    gpu: Option<Result<gpu::GpuSearcher, String>>,
    /// `auto`'s calibration, once made: whether the GPU won, and the figures.
    #[cfg(feature = "gpu")]
    calibrated: Option<(bool, String)>,
    /// What the device searches did, summed over this searcher's calls (a streamed search
    /// makes one a chunk): the descriptions report the sums (a query re-searched on the CPU
    /// in two chunks counts once).
    #[cfg(all(feature = "models", feature = "cli"))]
    device_stats: device::Stats,
    #[cfg(feature = "gpu")]
    gpu_stats: gpu::SearchStats,
}

impl Searcher {
    pub fn new(path: SearchPath) -> Searcher {
        Searcher {
            path,
            #[cfg(all(feature = "models", feature = "cli"))]
            device: Default::default(),
            #[cfg(all(feature = "models", feature = "cli"))]
            on_device: None,
            #[cfg(feature = "gpu")]
            gpu: None,
            #[cfg(feature = "gpu")]
            calibrated: None,
            #[cfg(all(feature = "models", feature = "cli"))]
            device_stats: Default::default(),
            #[cfg(feature = "gpu")]
            gpu_stats: Default::default(),
        }
    }

    /// Searches on the models' device when it is a GPU (`auto`: the GPU the models would take)
    /// and the path is `gpu` or `auto`; a CPU-only build ignores it.
    pub fn on(self, device: crate::embed::device::DeviceChoice) -> Searcher {
        #[cfg(all(feature = "models", feature = "cli"))]
        return Searcher { device, ..self };
        #[cfg(not(all(feature = "models", feature = "cli")))]
        {
            let _ = device;
            self
        }
    }

    /// The models' GPU to search on, opened once; `None` when the device is the CPU or cannot
    /// be opened (the other paths then answer as without it).
    #[cfg(all(feature = "models", feature = "cli"))]
    fn model_gpu(&mut self) -> Option<&device::DeviceSearcher> {
        use crate::embed::device::{DeviceChoice, Opened};
        let choice = self.device;
        self.on_device
            .get_or_insert_with(|| {
                if choice == DeviceChoice::Cpu {
                    return None;
                }
                let opened = Opened::open(choice).ok()?;
                (!opened.device.is_cpu()).then(|| device::DeviceSearcher::new(opened.device, opened.name))
            })
            .as_ref()
    }

    /// Exact top-k through this path. Returns the hits and a description of what ran (`"cpu"`,
    /// `"gpu: <adapter>"`, with `auto` the calibration that decided), plus a notice when the GPU
    /// was asked for but not usable.
    ///
    /// Asynchronous because in the browser every GPU wait is a callback (see [`gpu`]); natively
    /// the future does its own waiting, and [`crate::block_on`] runs it. The CPU path never
    /// suspends.
    pub async fn top_k(
        &mut self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> crate::Result<(Hits, String, Option<String>)> {
        let path = self.path;
        let cpu = || cpu::top_k(queries, docs, dim, tie_rank, k);
        let work = (queries.len() / dim.max(1)).saturating_mul(docs.len());
        if path == SearchPath::Cpu || (path == SearchPath::Auto && work < AUTO_MIN_WORK) {
            return Ok((cpu(), "cpu".into(), None));
        }
        #[cfg(all(feature = "models", feature = "cli"))]
        if let Some(on) = self.model_gpu() {
            let name = on.name().to_string();
            return Ok(match on.top_k(queries, docs, dim, tie_rank, k) {
                Ok((hits, stats)) => {
                    self.device_stats += stats;
                    (hits, format!("gpu: {name}, candle matmul{}", device::describe(&self.device_stats)), None)
                }
                Err(e) => {
                    let why = crate::embed::device::candle_message(&e);
                    (cpu(), "cpu".into(), Some(format!("search on {name} failed ({why}); searched on the CPU")))
                }
            });
        }
        #[cfg(feature = "gpu")]
        {
            if self.gpu.is_none() {
                self.gpu = Some(gpu::GpuSearcher::new().await.map_err(|e| e.to_string()));
            }
            let g = match self.gpu.as_ref().expect("looked for above") {
                Ok(g) => g,
                Err(e) if path == SearchPath::Gpu => {
                    return Ok((cpu(), "cpu".into(), Some(format!("{e}; searching on the CPU instead"))));
                }
                Err(_) => return Ok((cpu(), "cpu (auto: no GPU adapter)".into(), None)),
            };
            let gpu_name = format!("gpu: {}", g.adapter_description());
            if path == SearchPath::Auto {
                // A GPU that fails under `auto` is reported, and the CPU answers.
                let failed = |e: gpu::GpuError| Ok((cpu(), "cpu".into(), Some(format!("{e}; searched on the CPU"))));
                if self.calibrated.is_none() {
                    let (gpu_s, cpu_s) = match calibrate(g, queries, docs, dim, tie_rank, k).await {
                        Ok(t) => t,
                        Err(e) => return failed(e),
                    };
                    let why = format!("auto: calibration gpu {:.1} ms, cpu {:.1} ms", gpu_s * 1e3, cpu_s * 1e3);
                    self.calibrated = Some((gpu_s < cpu_s, why));
                }
                let (gpu_won, why) = self.calibrated.as_ref().expect("calibrated above");
                if !*gpu_won {
                    return Ok((cpu(), format!("cpu ({why} on {})", g.adapter_description()), None));
                }
                return match g.top_k_with_stats(queries, docs, dim, tie_rank, k).await {
                    Ok((hits, stats)) => {
                        self.gpu_stats += stats;
                        Ok((hits, format!("{gpu_name}{} ({why})", describe(&self.gpu_stats)), None))
                    }
                    Err(e) => failed(e),
                };
            }
            let (hits, stats) = g.top_k_with_stats(queries, docs, dim, tie_rank, k).await?;
            self.gpu_stats += stats;
            Ok((hits, format!("{gpu_name}{}", describe(&self.gpu_stats)), None))
        }
        #[cfg(not(feature = "gpu"))]
        {
            let notice = (path == SearchPath::Gpu)
                .then(|| "GPU search is not available in this build; searching on the CPU instead".to_string());
            Ok((cpu(), "cpu".into(), notice))
        }
    }
}

/// How a GPU search ran, when it was more than the f32 kernel.
#[cfg(feature = "gpu")]
fn describe(stats: &gpu::SearchStats) -> String {
    match (stats.f16, stats.rescued.len()) {
        (false, _) => String::new(),
        (true, 0) => ", f16 candidates rescored in f32".into(),
        (true, n) => format!(", f16 candidates rescored in f32, {n} queries re-searched on the CPU"),
    }
}

/// Seconds per search on both paths, on the first [`CALIBRATION_QUERIES`] queries and
/// [`CALIBRATION_DOCS`] documents: the GPU timed on its second run (the first allocates and
/// warms up), the CPU once.
#[cfg(feature = "gpu")]
async fn calibrate(
    g: &gpu::GpuSearcher,
    queries: &[f32],
    docs: &[f32],
    dim: usize,
    tie_rank: &[u32],
    k: usize,
) -> Result<(f64, f64), gpu::GpuError> {
    let nq = (queries.len() / dim).min(CALIBRATION_QUERIES);
    let nd = (docs.len() / dim).min(CALIBRATION_DOCS);
    let (q, d, t) = (&queries[..nq * dim], &docs[..nd * dim], &tie_rank[..nd]);
    g.top_k(q, d, dim, t, k).await?;
    let clock = web_time::Instant::now();
    g.top_k(q, d, dim, t, k).await?;
    let gpu_s = clock.elapsed().as_secs_f64();
    let clock = web_time::Instant::now();
    std::hint::black_box(cpu::top_k(q, d, dim, t, k));
    Ok((gpu_s, clock.elapsed().as_secs_f64()))
}

/// Per-doc tie ranks: among equal scores the smaller rank comes first. Under `trec` that is
/// the bytewise-larger id (trec_eval sorts ties by `strcmp` descending); under `st` the smaller.
pub fn tie_ranks(doc_ids: &Ids, conv: Convention) -> Vec<u32> {
    let mut order: Vec<u32> = (0..doc_ids.len() as u32).collect();
    order.sort_by(|&a, &b| conv.tie_cmp(&doc_ids[a as usize], &doc_ids[b as usize]));
    let mut rank = vec![0u32; doc_ids.len()];
    for (r, &d) in order.iter().enumerate() {
        rank[d as usize] = r as u32;
    }
    rank
}

/// The first `keep` columns of each row of a row-major matrix with `dim` columns.
pub fn truncate_rows(m: &[f32], dim: usize, keep: usize) -> Vec<f32> {
    m.chunks_exact(dim).flat_map(|r| &r[..keep]).copied().collect()
}

/// Scales each row of a row-major matrix to unit L2 norm (zero rows stay zero).
pub fn normalize_rows(m: &mut [f32], dim: usize) {
    for row in m.chunks_exact_mut(dim) {
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n.is_normal() {
            row.iter_mut().for_each(|x| *x /= n);
        } else if row.iter().any(|&x| x != 0.0) {
            // Squares past f32's range (values from ~1e19) or below it (~1e-20): the norm in
            // f64, so the direction is kept whatever the scale.
            let n = row.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            row.iter_mut().for_each(|x| *x = (f64::from(*x) / n) as f32);
        }
    }
}

#[cfg(test)]
mod normalize_tests {
    /// A direction is a direction at any scale: rows scaled past f32's squares' range (up or
    /// down) normalise to the unscaled row's unit vector; a zero row stays zero.
    #[test]
    fn rows_normalise_at_any_scale() {
        let base = [3.0f32, -4.0, 0.5];
        let mut want = base.to_vec();
        super::normalize_rows(&mut want, 3);
        for scale in [1e20f32, 1e30, 1e-25, 1e-38] {
            let mut row: Vec<f32> = base.iter().map(|x| x * scale).collect();
            super::normalize_rows(&mut row, 3);
            for (a, b) in row.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "scale {scale}: {row:?} vs {want:?}");
            }
        }
        let mut zero = vec![0.0f32; 3];
        super::normalize_rows(&mut zero, 3);
        assert_eq!(zero, [0.0; 3]);
    }
}

#[cfg(all(test, feature = "models", feature = "cli"))]
mod tests {
    use super::*;

    /// `gpu` and `auto` (on enough work) go to the models' device when there is one and say so
    /// with what the bound saved; `cpu` never does. The CPU device stands in for a GPU.
    #[test]
    fn gpu_and_auto_search_on_the_models_device() {
        let (nq, nd, dim, k) = (40, 40_000, 1024, 10);
        let q: Vec<f32> = (0..nq * dim).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let d: Vec<f32> = (0..nd * dim).map(|i| ((i * 104_729) % 11) as f32 - 5.0).collect();
        assert!(nq * nd * dim >= AUTO_MIN_WORK);
        let ties: Vec<u32> = (0..nd as u32).rev().collect();
        let want = cpu::top_k(&q, &d, dim, &ties, k);
        for path in [SearchPath::Gpu, SearchPath::Auto, SearchPath::Cpu] {
            let mut s = Searcher::new(path);
            s.on_device = Some(Some(device::DeviceSearcher::new(candle_core::Device::Cpu, "stand-in")));
            let (hits, ran, notice) = crate::block_on(s.top_k(&q, &d, dim, &ties, k)).unwrap().unwrap();
            assert_eq!(hits, want, "{path:?}");
            assert_eq!(notice, None);
            if path == SearchPath::Cpu {
                assert_eq!(ran, "cpu");
            } else {
                assert!(
                    ran.starts_with("gpu: stand-in, candle matmul, ") && ran.ends_with("% of scores read back"),
                    "{ran}"
                );
            }
        }
    }

    /// A searcher called once a chunk (a streamed search) reports the figures of all its
    /// calls: the bound's savings summed, not the last chunk's.
    #[test]
    fn device_figures_are_summed_over_the_calls() {
        let (nq, dim, k) = (8, 64, 5);
        let q: Vec<f32> = (0..nq * dim).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let chunks: Vec<Vec<f32>> = [9_000usize, 30_000]
            .iter()
            .map(|&nd| (0..nd * dim).map(|i| ((i * 7 + nd) % 23) as f32 - 11.0).collect())
            .collect();
        let mut s = Searcher::new(SearchPath::Gpu);
        s.on_device = Some(Some(device::DeviceSearcher::new(candle_core::Device::Cpu, "stand-in")));
        let (mut sum, mut last, mut said) = (device::Stats::default(), device::Stats::default(), String::new());
        for d in &chunks {
            let ties: Vec<u32> = (0..(d.len() / dim) as u32).collect();
            // Each chunk alone, on a searcher of its own.
            (_, last) = device::DeviceSearcher::new(candle_core::Device::Cpu, "x").top_k(&q, d, dim, &ties, k).unwrap();
            sum += last;
            said = crate::block_on(s.top_k(&q, d, dim, &ties, k)).unwrap().unwrap().1;
        }
        assert_eq!(said, format!("gpu: stand-in, candle matmul{}", device::describe(&sum)));
        assert_ne!(device::describe(&sum), device::describe(&last), "the chunks' figures differ: the sum is seen");
    }

    /// The WGSL f16 search's figures over a streamed search's chunks: a query re-searched on
    /// the CPU in two chunks is one query re-searched.
    #[cfg(feature = "gpu")]
    #[test]
    fn a_query_re_searched_in_two_chunks_counts_once() {
        let mut s = gpu::SearchStats::default();
        assert_eq!(describe(&s), "");
        s += gpu::SearchStats { f16: true, rescued: vec![] };
        assert_eq!(describe(&s), ", f16 candidates rescored in f32");
        s += gpu::SearchStats { f16: true, rescued: vec![1, 4] };
        s += gpu::SearchStats { f16: true, rescued: vec![0, 4] };
        assert_eq!(s.rescued, [0, 1, 4]);
        assert_eq!(describe(&s), ", f16 candidates rescored in f32, 3 queries re-searched on the CPU");
    }
}
