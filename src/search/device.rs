//! Exact top-k on the models' device through candle: on an NVIDIA GPU the scores are cuBLAS's
//! f32 matrix product, on Apple silicon Metal's; the CPU device runs the same code in tests.
//!
//! Why it exists: on a data-centre GPU the WGSL shaders ([`super::gpu`], tuned for software
//! adapters and the browser) reach ~2% of the f32 rate that cuBLAS does (BENCHMARKS.md, H100).
//! The product is the easy half; top-k is the other. candle has no top-k, and reading a
//! 10,000 × 1,000,000 score matrix back would move 40 GB. So the scores stay on the device and
//! only what can still enter a query's top k comes back:
//!
//! 1. For a block of queries × a chunk of documents, `scores = q · dᵀ` on the device; the
//!    chunk's documents are cut into runs of [`BLOCK`] and the device reduces each run to its
//!    maximum. Only those maxima come back (1/[`BLOCK`] of the scores).
//! 2. On the host, per query, a lower bound on its final k-th score: the k-th largest run
//!    maximum (k distinct documents score at least that, one in each of those runs) or the
//!    k-th best score already kept from earlier chunks, whichever is higher. A run whose maximum
//!    is below the bound cannot place a document in the top k.
//! 3. The runs at or above the bound (at least k per query, often few more) are gathered on the
//!    device (`index_select`) and read back; their scores go through [`TopK`], the CPU
//!    searcher's own top-k, with the same tie ranks — so the order (score descending, then
//!    `tie_rank` ascending) is the CPU path's, and runs tied with the bound are kept, never
//!    guessed.
//!
//! What differs from the CPU path is only the product's rounding (cuBLAS sums in another order
//! than gemm): scores agree to ~1e-6, and documents whose scores differ by less may swap.

use candle_core::{Device, Tensor, D};
use rayon::prelude::*;

use super::topk::{Candidate, TopK};
use super::Hits;

/// Documents per run whose maximum the device returns. Larger runs return fewer maxima but
/// more scores per run kept; 32 balances the two for k = 100 at ~65k documents a chunk
/// (maxima nd/32 per query, kept runs ≥ k·32 scores per query and chunk).
pub const BLOCK: usize = 32;
/// Queries per block.
const QUERY_BLOCK: usize = 4096;
/// Scores per block × chunk: 2^28 f32 = 1 GiB on the device (plus at most as much for the
/// gathered runs and the chunk's documents).
const SCORE_BUDGET: usize = 1 << 28;

/// How much work one device search did: what the bound saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Query × run pairs scored.
    pub runs: u64,
    /// Of those, the runs whose scores came back to the host.
    pub kept: u64,
    /// Pieces of work split in two after the device ran out of memory.
    pub splits: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.runs += o.runs;
        self.kept += o.kept;
        self.splits += o.splits;
    }
}

/// Block sizes; tests shrink them to cross every edge with small inputs.
#[derive(Debug, Clone, Copy)]
struct Plan {
    query_block: usize,
    score_budget: usize,
    /// Tests: pieces of more documents than this run out of memory.
    fail_above: Option<usize>,
}

/// An opened device to search on, and its name for reports.
pub struct DeviceSearcher {
    device: Device,
    name: String,
    plan: Plan,
}

impl DeviceSearcher {
    pub fn new(device: Device, name: impl Into<String>) -> Self {
        DeviceSearcher {
            device,
            name: name.into(),
            plan: Plan { query_block: QUERY_BLOCK, score_budget: SCORE_BUDGET, fail_above: None },
        }
    }

    /// `cuda:0 (NVIDIA H100 80GB HBM3)`, `metal`, `cpu`.
    pub fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    pub(crate) fn with_plan(mut self, query_block: usize, score_budget: usize) -> Self {
        self.plan = Plan { query_block, score_budget, fail_above: None };
        self
    }

    /// Top-k (doc index, score) per query, best first, ties by `tie_rank` ascending;
    /// `queries` is nq×dim and `docs` nd×dim, both row-major f32.
    pub fn top_k(
        &self,
        queries: &[f32],
        docs: &[f32],
        dim: usize,
        tie_rank: &[u32],
        k: usize,
    ) -> candle_core::Result<(Hits, Stats)> {
        let (nq, nd) = (queries.len() / dim.max(1), docs.len() / dim.max(1));
        if dim == 0 || queries.len() != nq * dim || docs.len() != nd * dim || tie_rank.len() != nd {
            candle_core::bail!("search: {nq}×{dim} queries, {nd}×{dim} documents, {} tie ranks", tie_rank.len());
        }
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let mut stats = Stats::default();
        if k > 0 && nd > 0 && nq > 0 {
            let query_block = self.plan.query_block.min(nq);
            // Whole runs per chunk, at least one.
            let chunk = (self.plan.score_budget / query_block / BLOCK).max(1) * BLOCK;
            let query_tensors: Vec<(usize, Tensor)> = (0..nq)
                .step_by(query_block)
                .map(|q0| {
                    let m = query_block.min(nq - q0);
                    Ok((q0, Tensor::from_slice(&queries[q0 * dim..(q0 + m) * dim], (m, dim), &self.device)?))
                })
                .collect::<candle_core::Result<_>>()?;
            for d0 in (0..nd).step_by(chunk) {
                let n = chunk.min(nd - d0);
                let d = Tensor::from_slice(&docs[d0 * dim..(d0 + n) * dim], (n, dim), &self.device)?;
                for (q0, q) in &query_tensors {
                    let block = &mut tops[*q0..*q0 + q.dim(0)?];
                    self.split_on_oom(q, &d, block, d0, (0, n), tie_rank, k, &mut stats)?;
                }
            }
        }
        let hits = tops.into_iter().map(|t| t.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect()).collect();
        Ok((hits, stats))
    }

    /// Documents `rows` of chunk `d` (which starts at document `d0`) for one block of queries;
    /// a device out of memory splits the rows in two (whole runs each) and tries each half, down
    /// to one run. [`Self::chunk`] touches the top lists only once everything on the device
    /// succeeded, so a retried half is never counted twice.
    #[allow(clippy::too_many_arguments)]
    fn split_on_oom(
        &self,
        q: &Tensor,
        d: &Tensor,
        tops: &mut [TopK],
        d0: usize,
        rows: (usize, usize),
        tie_rank: &[u32],
        k: usize,
        stats: &mut Stats,
    ) -> candle_core::Result<()> {
        let (from, to) = rows;
        let start = d0 + from;
        let attempt = match self.plan.fail_above {
            #[cfg(test)]
            Some(limit) if to - from > limit => {
                Err(candle_core::Error::Msg("CUDA_ERROR_OUT_OF_MEMORY (simulated)".into()))
            }
            _ => self.chunk(q, &d.narrow(0, from, to - from)?, tops, start, to - from, &tie_rank[start..d0 + to], k),
        };
        match attempt {
            Ok(s) => {
                stats.runs += s.runs;
                stats.kept += s.kept;
                Ok(())
            }
            Err(e) if to - from > BLOCK && crate::embed::device::is_out_of_memory(&e.to_string()) => {
                crate::embed::device::release_freed_memory(&self.device);
                stats.splits += 1;
                let half = from + (to - from).div_ceil(2 * BLOCK) * BLOCK;
                self.split_on_oom(q, d, tops, d0, (from, half), tie_rank, k, stats)?;
                self.split_on_oom(q, d, tops, d0, (half, to), tie_rank, k, stats)
            }
            Err(e) => Err(e),
        }
    }

    /// One block of queries against one chunk of `n` documents starting at `d0`, into the
    /// queries' top lists.
    #[allow(clippy::too_many_arguments)]
    fn chunk(
        &self,
        q: &Tensor,
        d: &Tensor,
        tops: &mut [TopK],
        d0: usize,
        n: usize,
        ties: &[u32],
        k: usize,
    ) -> candle_core::Result<Stats> {
        let m = tops.len();
        let runs = n.div_ceil(BLOCK);
        let mut scores = q.matmul(&d.t()?)?;
        if !n.is_multiple_of(BLOCK) {
            // The last run is filled with -inf, which no bound admits into a top list
            // (padding is also skipped by index below).
            let pad = Tensor::full(f32::NEG_INFINITY, (m, runs * BLOCK - n), &self.device)?;
            scores = Tensor::cat(&[&scores, &pad], 1)?;
        }
        let scores = scores.reshape((m * runs, BLOCK))?;
        let maxima: Vec<f32> = scores.max(D::Minus1)?.to_vec1()?;
        let kept: Vec<Vec<u32>> =
            tops.par_iter().zip(maxima.par_chunks(runs)).map(|(top, row)| kept_runs(top, row, k)).collect();
        let total: usize = kept.iter().map(Vec::len).sum();
        let stats = Stats { runs: (m * runs) as u64, kept: total as u64, splits: 0 };
        // The kept runs' scores, row after row in `kept`'s order. Past half of all runs a
        // gather saves little over reading everything back.
        let (values, whole) = if 2 * total > m * runs {
            (scores.flatten_all()?.to_vec1::<f32>()?, true)
        } else {
            let index: Vec<u32> = kept
                .iter()
                .enumerate()
                .flat_map(|(i, runs_i)| runs_i.iter().map(move |&r| (i * runs) as u32 + r))
                .collect();
            let index = Tensor::from_vec(index, total, &self.device)?;
            (scores.index_select(&index, 0)?.flatten_all()?.to_vec1::<f32>()?, false)
        };
        let mut offsets = Vec::with_capacity(m);
        let mut at = 0;
        for (i, runs_i) in kept.iter().enumerate() {
            offsets.push(if whole { i * runs } else { at });
            at += runs_i.len();
        }
        let push = |(top, (runs_i, &offset)): (&mut TopK, (&Vec<u32>, &usize))| {
            for (p, &r) in runs_i.iter().enumerate() {
                let slot = if whole { offset + r as usize } else { offset + p };
                let run = &values[slot * BLOCK..(slot + 1) * BLOCK];
                let first = r as usize * BLOCK;
                for (j, &score) in run.iter().enumerate().take(n.saturating_sub(first)) {
                    let doc = first + j;
                    top.push(Candidate { score, tie: ties[doc], doc: (d0 + doc) as u32 });
                }
            }
        };
        tops.par_iter_mut().zip(kept.par_iter().zip(offsets.par_iter())).for_each(push);
        Ok(stats)
    }
}

/// `, 0.41% of scores read back` (what the bound saved), for `search.path`.
pub fn describe(stats: &Stats) -> String {
    if stats.runs == 0 {
        return String::new();
    }
    let splits = match stats.splits {
        0 => String::new(),
        n => format!(", {n} out-of-memory split{}", if n == 1 { "" } else { "s" }),
    };
    format!(", {:.2}% of scores read back{splits}", 100.0 * stats.kept as f64 / stats.runs as f64)
}

/// The runs of one query that can still place a document in its top k: those whose maximum
/// reaches the bound (module docs, step 2). Ascending.
fn kept_runs(top: &TopK, maxima: &[f32], k: usize) -> Vec<u32> {
    let mut bound = top.threshold().unwrap_or(f32::NEG_INFINITY);
    if maxima.len() >= k {
        let mut m = maxima.to_vec();
        let (_, kth, _) = m.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        bound = bound.max(*kth);
    }
    maxima.iter().enumerate().filter(|&(_, &x)| x >= bound).map(|(r, _)| r as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::cpu;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    fn searcher(query_block: usize, score_budget: usize) -> DeviceSearcher {
        DeviceSearcher::new(Device::Cpu, "cpu").with_plan(query_block, score_budget)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Small integer vectors make every dot product exact whatever the summation order and
        /// ties common, so the device search must equal the CPU search exactly: ids, scores,
        /// tie order — across query blocks, chunks, runs cut by a chunk's end, k above and
        /// below the number of runs, and bounds that tie with whole runs.
        #[test]
        fn equals_the_cpu_search(nq in 1usize..12, nd in 1usize..400, dim in 1usize..5, k in 0usize..50,
                                 query_block in 1usize..6, chunk_runs in 1usize..5, seed in any::<u64>()) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1i8..2) as f32).collect();
            let d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-2i8..3) as f32).collect();
            let ids: Vec<String> = (0..nd).map(|_| format!("d{}", rng.random_range(0..1_000_000u32))).collect();
            let tie = crate::search::tie_ranks(&ids.iter().collect(), crate::Convention::Trec);
            let (got, _) = searcher(query_block, query_block.min(nq) * chunk_runs * BLOCK)
                .top_k(&q, &d, dim, &tie, k).unwrap();
            prop_assert_eq!(got, cpu::top_k(&q, &d, dim, &tie, k));
        }
    }

    /// Real-valued unit vectors, the default plan: the same documents as the CPU search
    /// within rounding, and the bound leaves most runs on the device — a search that read
    /// everything back would fail here.
    #[test]
    fn keeps_few_runs_and_matches_the_cpu_search() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (nq, nd, dim, k) = (64, 20_000, 48, 10);
        let mut q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        crate::search::normalize_rows(&mut q, dim);
        crate::search::normalize_rows(&mut d, dim);
        let ties: Vec<u32> = (0..nd as u32).collect();
        let (got, stats) = DeviceSearcher::new(Device::Cpu, "cpu").top_k(&q, &d, dim, &ties, k).unwrap();
        let want = cpu::top_k(&q, &d, dim, &ties, k);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), k);
            for (a, b) in g.iter().zip(w) {
                assert!((a.1 - b.1).abs() < 1e-5, "{a:?} vs {b:?}");
            }
            let (mut gi, mut wi): (Vec<u32>, Vec<u32>) =
                (g.iter().map(|h| h.0).collect(), w.iter().map(|h| h.0).collect());
            gi.sort_unstable();
            wi.sort_unstable();
            assert_eq!(gi, wi);
        }
        assert_eq!(stats.runs, (nq * nd.div_ceil(BLOCK)) as u64);
        // One chunk: at least k runs per query come back, and with random vectors few more.
        assert!(stats.kept >= (nq * k) as u64 && stats.kept < (nq * 2 * k) as u64, "{stats:?}");
    }

    /// Out of memory above 2 runs: every piece is split down to what fits, each counted once
    /// — the result equals the CPU search exactly (integer vectors) — and the splits are
    /// reported; below one run there is nothing left to split and the error comes back.
    #[test]
    fn out_of_memory_splits_the_work() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (nq, nd, dim, k) = (7, 1000, 3, 20);
        let q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1i8..2) as f32).collect();
        let d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-2i8..3) as f32).collect();
        let ties: Vec<u32> = (0..nd as u32).rev().collect();
        let mut s = searcher(4, 4 * 10 * BLOCK);
        s.plan.fail_above = Some(2 * BLOCK);
        let (got, stats) = s.top_k(&q, &d, dim, &ties, k).unwrap();
        assert_eq!(got, cpu::top_k(&q, &d, dim, &ties, k));
        assert!(stats.splits >= 8, "{stats:?}");
        assert!(describe(&stats).contains("out-of-memory splits"), "{}", describe(&stats));
        s.plan.fail_above = Some(BLOCK / 2);
        let e = s.top_k(&q, &d, dim, &ties, k).unwrap_err().to_string();
        assert!(e.contains("OUT_OF_MEMORY"), "{e}");
    }

    #[test]
    fn empty_inputs_and_shape_errors() {
        let s = searcher(4, 4 * BLOCK);
        let (hits, _) = s.top_k(&[1.0, 0.0], &[], 2, &[], 5).unwrap();
        assert_eq!(hits, vec![Vec::<(u32, f32)>::new()]);
        let (hits, _) = s.top_k(&[1.0, 0.0], &[1.0, 1.0], 2, &[0], 0).unwrap();
        assert_eq!(hits, vec![Vec::<(u32, f32)>::new()]);
        assert!(s.top_k(&[1.0, 0.0, 3.0], &[1.0, 1.0], 2, &[0], 1).is_err());
        assert!(s.top_k(&[1.0, 0.0], &[1.0, 1.0], 2, &[], 1).is_err());
    }
}
