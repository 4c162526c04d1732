//! GPU top-k against a naive CPU reference: every pair scored, sorted by score descending
//! (numeric: -0 ties with +0), then tie rank ascending, and truncated.
//!
//! Comparison rule. The reference accumulates each dot product in the shader's order (four
//! lane-wise partial sums over the vec4-padded rows, then (s0 + s1) + (s2 + s3)), so scores
//! usually agree to the bit; a driver may still fuse multiply-adds, so scores are compared
//! within 1e-5. Ids are compared exactly at every rank, except that a different id is
//! accepted where its reference score lies within 1e-5 of the reference score at that rank
//! and is not bitwise equal to it (a near-tie that rounding may flip). Exact ties — identical
//! scores, as produced by duplicate documents — must follow tie_rank exactly. The quantised
//! data uses values whose products and sums are exact in f32 in any order, so there ids and
//! scores are compared with no tolerance at all.
//!
//! Which path runs (see `GpuSearcher::plan`): top-k on the GPU when k ≤ gpu_topk_max_k and
//! 4k ≤ documents per chunk, in slices of max(256, next_power_of_two(32k)) documents (at most
//! a chunk); otherwise the score block is read back. Software adapters default to
//! gpu_topk_max_k = 0, so the tests set GPU_TOPK_MAX_K unless a case says otherwise, and
//! each case names the path it takes.
//!
//! Natively the tests run on whatever adapter wgpu finds (Mesa's lavapipe on a machine
//! without a GPU). In wasm32 (`wasm-bindgen-test-runner`), the `web` tests need WebGPU:
//! headless Chromium started with `--enable-unsafe-webgpu` (a `webdriver.json` with
//! `goog:chromeOptions.args`). With no adapter — no driver, node, a browser without WebGPU —
//! each test prints `SKIPPED: no GPU adapter (...)` and passes.
#![cfg(feature = "gpu")]

use embeval::search::gpu::{GpuError, GpuSearcher, Precision, SearchStats, Tile, GPU_TOPK_MAX_K};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOLERANCE: f32 = 1e-5;

/// Progress and skips: stderr natively, the browser console in wasm.
fn note(message: &str) {
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{message}");
}

/// The searcher, or `None` after printing why the test is skipped.
fn usable(found: Result<GpuSearcher, GpuError>) -> Option<GpuSearcher> {
    match found {
        Ok(searcher) => {
            note(&format!("GPU adapter: {}", searcher.adapter_description()));
            Some(searcher)
        }
        Err(GpuError::NoAdapter(why)) => {
            note(&format!("SKIPPED: no GPU adapter ({why})"));
            None
        }
        Err(e) => panic!("an adapter exists but the device failed: {e}"),
    }
}

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u1: f32 = 1.0 - rng.random::<f32>();
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// `n` L2-normalised gaussian rows.
fn unit_rows(rng: &mut ChaCha8Rng, n: usize, dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let row: Vec<f32> = (0..dim).map(|_| gaussian(rng)).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.extend(row.iter().map(|x| x / norm));
    }
    out
}

/// Copies some documents over others, so that their scores tie exactly.
fn duplicate_some(docs: &mut [f32], dim: usize, rng: &mut ChaCha8Rng, copies: usize) {
    let nd = docs.len() / dim;
    for _ in 0..copies {
        let (from, to) = (rng.random_range(0..nd), rng.random_range(0..nd));
        let row = docs[from * dim..(from + 1) * dim].to_vec();
        docs[to * dim..(to + 1) * dim].copy_from_slice(&row);
    }
}

/// A random permutation of 0..n as tie ranks.
fn shuffled_ranks(rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    let mut ranks: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        ranks.swap(i, rng.random_range(0..=i));
    }
    ranks
}

/// Dot product in similarity.wgsl's order.
fn shader_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 4];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        lanes[i % 4] += x * y;
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Scores of every document for every query.
fn all_scores(queries: &[f32], docs: &[f32], dim: usize) -> Vec<Vec<f32>> {
    queries.chunks_exact(dim).map(|q| docs.chunks_exact(dim).map(|d| shader_dot(q, d)).collect()).collect()
}

/// Every document, best first: the searchers' order (score descending as numbers, then tie
/// rank); the document index only makes the sort deterministic, tie ranks being unique.
fn reference_order(scores: &[f32], tie_rank: &[u32]) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..scores.len() as u32).collect();
    ids.sort_by(|&a, &b| {
        let (sa, sb) = (scores[a as usize], scores[b as usize]);
        sb.partial_cmp(&sa).expect("no NaN").then(tie_rank[a as usize].cmp(&tie_rank[b as usize])).then(a.cmp(&b))
    });
    ids
}

/// Checks one search result against the reference (rule in the module doc); returns the
/// number of near-tie swaps accepted. `exact` demands identical ids and bitwise scores.
fn check(what: &str, got: &[Vec<(u32, f32)>], scores: &[Vec<f32>], tie_rank: &[u32], k: usize, exact: bool) -> usize {
    assert_eq!(got.len(), scores.len(), "{what}: one list per query");
    let mut near_ties = 0;
    for (q, (list, row)) in got.iter().zip(scores).enumerate() {
        let order = reference_order(row, tie_rank);
        assert_eq!(list.len(), k.min(row.len()), "{what}: query {q} list length");
        let mut seen = std::collections::HashSet::new();
        for (rank, &(id, score)) in list.iter().enumerate() {
            assert!(seen.insert(id), "{what}: query {q} returns doc {id} twice");
            let want_id = order[rank];
            let want = row[want_id as usize];
            let own = row[id as usize];
            if exact {
                assert_eq!(
                    (id, score.to_bits()),
                    (want_id, want.to_bits()),
                    "{what}: query {q} rank {rank}: got doc {id} ({score}), want doc {want_id} ({want})"
                );
                continue;
            }
            assert!(
                (score - want).abs() <= TOLERANCE && (score - own).abs() <= TOLERANCE,
                "{what}: query {q} rank {rank}: doc {id} score {score}, reference {own}; rank's reference {want}"
            );
            if id != want_id {
                let near_tie = own.to_bits() != want.to_bits() && (own - want).abs() <= TOLERANCE;
                assert!(
                    near_tie,
                    "{what}: query {q} rank {rank}: got doc {id} ({own}, tie rank {}), want doc {want_id} ({want}, tie rank {})",
                    tie_rank[id as usize],
                    tie_rank[want_id as usize]
                );
                near_ties += 1;
            }
        }
    }
    near_ties
}

/// Queries, documents and tie ranks for one search.
struct Data {
    queries: Vec<f32>,
    docs: Vec<f32>,
    dim: usize,
    tie_rank: Vec<u32>,
}

impl Data {
    /// L2-normalised gaussian rows. Besides random duplicates, doc 0 is copied to 12 places
    /// spread over the corpus and query 0 equals it: that query's best 13 documents tie
    /// exactly at score 1, so with k ≤ 13 the cut falls inside the tie and tie_rank decides.
    fn gaussian(nq: usize, nd: usize, dim: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let queries = unit_rows(&mut rng, nq, dim);
        let mut docs = unit_rows(&mut rng, nd, dim);
        duplicate_some(&mut docs, dim, &mut rng, nd / 10);
        let first = docs[..dim].to_vec();
        for to in (1..13).map(|i| i * (nd - 1) / 12) {
            docs[to * dim..(to + 1) * dim].copy_from_slice(&first);
        }
        let queries = [first, queries[dim..].to_vec()].concat();
        let tie_rank = shuffled_ranks(&mut rng, nd);
        Data { queries, docs, dim, tie_rank }
    }

    /// Values k/8 with |k| ≤ 8: products are multiples of 1/64 and every partial sum is
    /// exact in f32, whatever the order, so GPU and CPU must agree bit for bit. A pool of
    /// only 12 distinct document vectors makes most scores tie exactly, so tie_rank decides
    /// most ranks.
    fn quantised(nq: usize, nd: usize, dim: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values =
            |n: usize| -> Vec<f32> { (0..n * dim).map(|_| rng.random_range(-8i32..=8) as f32 / 8.0).collect() };
        let queries = values(nq);
        let pool = values(12);
        let docs = (0..nd)
            .flat_map(|i| {
                let p = (i * 7 + i / 5) % 12;
                pool[p * dim..(p + 1) * dim].to_vec()
            })
            .collect();
        let tie_rank = shuffled_ranks(&mut rng, nd);
        Data { queries, docs, dim, tie_rank }
    }

    /// Checks a search result (rule in the module doc) and prints a line about it.
    fn verify(&self, what: &str, got: &[Vec<(u32, f32)>], k: usize, exact: bool) {
        let scores = all_scores(&self.queries, &self.docs, self.dim);
        let near = check(what, got, &scores, &self.tie_rank, k, exact);
        note(&format!("{what}: ok ({near} near-tie swaps accepted)"));
    }
}

/// Applies a case's chunk and top-k settings: `None` means no chunk cap and
/// `GPU_TOPK_MAX_K`, so the GPU top-k kernel runs on software adapters too.
fn configure(searcher: GpuSearcher, max_chunk_docs: Option<usize>, gpu_topk_max_k: Option<usize>) -> GpuSearcher {
    searcher
        .with_max_chunk_docs(max_chunk_docs.unwrap_or(usize::MAX))
        .with_gpu_topk_max_k(gpu_topk_max_k.unwrap_or(GPU_TOPK_MAX_K))
}

/// (k, max_chunk_docs, gpu_topk_max_k) on `Data::quantised(21, 600, 12, _)`.
const QUANTISED_CASES: [(usize, Option<usize>, Option<usize>); 6] = [
    (10, None, None),          // GPU top-k, slices 512 + 88
    (5, Some(300), None),      // GPU top-k, 2 chunks × slices 256 + 44
    (100, None, None),         // GPU top-k, one slice
    (64, Some(100), None),     // readback (4k > chunk)
    (200, Some(128), Some(0)), // readback (forced)
    (600, Some(90), None),     // readback, k = nd
];

/// The f16 kernel, or `None` after printing why the f16 tests are skipped.
fn with_f16(searcher: GpuSearcher) -> Option<GpuSearcher> {
    if searcher.has_f16() {
        return Some(searcher.with_precision(Precision::F16));
    }
    note(&format!("SKIPPED: {} has no shader-f16; the f16 kernel is not tested here", searcher.adapter_description()));
    None
}

/// (nq, nd, dim, k, max_chunk_docs, gpu_topk_max_k) of one gaussian search.
type F16Case = (usize, usize, usize, usize, Option<usize>, Option<usize>);

/// Gaussian searches through the f16 kernel: GPU top-k and readback, one chunk and several, k
/// from 1 to 1000.
const F16_CASES: [F16Case; 5] = [
    (37, 1000, 30, 10, None, None),
    (45, 1805, 64, 8, Some(600), None),
    (33, 777, 17, 100, Some(256), Some(0)),
    (9, 5000, 48, 1000, None, None),
    (20, 3000, 384, 1, Some(1024), None),
];

/// Documents whose scores against query 0 differ by less than f16 can see: 1 − j·10⁻⁶ times
/// the query plus noise of 10⁻⁶, so every candidate has the same f16 score and only the CPU
/// rescue can order them; the other queries are ordinary.
fn f16_blind(nq: usize, nd: usize, dim: usize, seed: u64) -> Data {
    let mut data = Data::gaussian(nq, nd, dim, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let query = data.queries[..dim].to_vec();
    for j in 0..nd / 2 {
        let scale = 1.0 - j as f32 * 1e-6;
        for (x, q) in data.docs[j * dim..(j + 1) * dim].iter_mut().zip(&query) {
            *x = q * scale + gaussian(&mut rng) * 1e-6;
        }
    }
    data
}

/// Checks an f16 search: the kernel ran in f16, and the hits are the f32 reference's.
fn verify_f16(
    data: &Data,
    what: &str,
    (got, stats): (Vec<Vec<(u32, f32)>>, SearchStats),
    k: usize,
    exact: bool,
) -> usize {
    assert!(stats.f16, "{what}: the f16 kernel did not run");
    data.verify(&format!("{what} (f16, {} queries rescued on the CPU)", stats.rescued.len()), &got, k, exact);
    stats.rescued.len()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;

    fn searcher() -> Option<GpuSearcher> {
        usable(pollster::block_on(GpuSearcher::new()))
    }

    /// One gaussian search checked against the reference; hands the searcher back.
    fn run(
        searcher: GpuSearcher,
        (nq, nd, dim, k): (usize, usize, usize, usize),
        chunk: Option<usize>,
        gpu_topk_max_k: Option<usize>,
        seed: u64,
    ) -> GpuSearcher {
        let data = Data::gaussian(nq, nd, dim, seed);
        let searcher = configure(searcher, chunk, gpu_topk_max_k);
        let got = searcher.top_k_blocking(&data.queries, &data.docs, dim, &data.tie_rank, k).expect("GPU search");
        let what = format!("nq={nq} nd={nd} dim={dim} k={k} chunk={chunk:?} gpu_topk_max_k={gpu_topk_max_k:?}");
        data.verify(&what, &got, k, false);
        searcher
    }

    #[test]
    fn top_k_matches_cpu_reference_single_chunk() {
        let Some(s) = searcher() else { return };
        // GPU top-k, one chunk, slices of 512: 512 + 488.
        // dim 30 is not a multiple of 4: rows are zero-padded to 32 on the way to the GPU.
        run(s, (37, 1000, 30, 10), None, None, 1);
    }

    #[test]
    fn top_k_matches_cpu_reference_across_chunks_and_slices() {
        let Some(s) = searcher() else { return };
        // GPU top-k. Chunks 600, 600, 600, 5 (shorter than k); slices 256, 256, 88.
        let s = run(s, (45, 1805, 64, 8), Some(600), None, 2);
        // GPU top-k. Chunks 330, 330, 330, 10 (shorter than k), one slice each.
        run(s, (45, 1000, 64, 50), Some(330), None, 3);
    }

    #[test]
    fn top_k_1000_on_gpu_and_read_back_across_chunks() {
        let Some(s) = searcher() else { return };
        // GPU top-k: one chunk of 5000, one slice.
        let s = run(s, (9, 5000, 48, 1000), None, None, 4);
        // Readback: chunks of 700 are shorter than 4k.
        run(s, (9, 3000, 48, 1000), Some(700), None, 5);
    }

    #[test]
    fn readback_path_matches_cpu_reference() {
        let Some(s) = searcher() else { return };
        run(s, (33, 777, 17, 100), Some(256), Some(0), 6);
    }

    #[test]
    fn k_larger_than_corpus_returns_every_doc() {
        let Some(mut s) = searcher() else { return };
        for (k, gpu_topk_max_k) in [(100, None), (100, Some(0)), (5000, None)] {
            s = run(s, (5, 50, 8, k), Some(16), gpu_topk_max_k, 7);
        }
    }

    #[test]
    fn exact_ties_follow_tie_rank() {
        let Some(mut s) = searcher() else { return };
        let data = Data::quantised(21, 600, 12, 8);
        for (k, chunk, gpu_topk_max_k) in QUANTISED_CASES {
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, k).expect("GPU search");
            data.verify(&format!("quantised k={k} chunk={chunk:?} gpu_topk_max_k={gpu_topk_max_k:?}"), &got, k, true);
        }
    }

    /// A corpus of 200,000 × 384 (307 MB of f32) streamed through the chunked path: chunks
    /// sized from the adapter's limits, or capped at 65,536 documents where one chunk would
    /// hold it all, so the test always crosses chunk boundaries.
    #[test]
    fn corpus_of_200k_by_384_runs_in_chunks() {
        let Some(s) = searcher() else { return };
        let (nq, nd, dim, k) = (16, 200_000, 384, 10);
        let natural = s.chunk_docs(nq, nd, dim, k).unwrap();
        let s = if natural >= nd { s.with_max_chunk_docs(65_536) } else { s };
        let chunk = s.chunk_docs(nq, nd, dim, k).unwrap();
        note(&format!("200k × 384: {chunk} documents per chunk (adapter limits allow {natural})"));
        assert!(chunk < nd);
        let data = Data::gaussian(nq, nd, dim, 200);
        let got = s.top_k_blocking(&data.queries, &data.docs, dim, &data.tie_rank, k).expect("GPU search");
        data.verify(&format!("nq={nq} nd={nd} dim={dim} k={k} chunk={chunk}"), &got, k, false);
    }

    #[test]
    fn gpu_topk_and_readback_agree_bit_for_bit() {
        let Some(s) = searcher() else { return };
        let data = Data::gaussian(64, 2048, 40, 9);
        let k = 100;
        let s = configure(s, Some(900), None); // GPU top-k, one slice per chunk
        let on_gpu = s.top_k_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, k).unwrap();
        let s = s.with_gpu_topk_max_k(0);
        let read_back = s.top_k_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, k).unwrap();
        assert_eq!(on_gpu, read_back);
    }

    #[test]
    fn empty_inputs_and_bad_shapes() {
        let Some(s) = searcher() else { return };
        let docs = [1.0, 0.0, 0.0, 1.0];
        assert_eq!(s.top_k_blocking(&[], &docs, 2, &[0, 1], 3).unwrap(), Vec::<Vec<(u32, f32)>>::new());
        assert_eq!(s.top_k_blocking(&[1.0, 0.0], &docs, 2, &[0, 1], 0).unwrap(), vec![vec![]]);
        assert_eq!(s.top_k_blocking(&[1.0, 0.0], &[], 2, &[], 4).unwrap(), vec![vec![]]);
        assert_eq!(s.top_k_blocking(&[1.0, 0.0], &docs, 2, &[0, 1], 4).unwrap(), vec![vec![(0, 1.0), (1, 0.0)]]);
        assert!(matches!(s.top_k_blocking(&[1.0], &docs, 2, &[0, 1], 1), Err(GpuError::Failed(_))));
        assert!(matches!(s.top_k_blocking(&[1.0, 0.0], &docs, 2, &[0], 1), Err(GpuError::Failed(_))));
        assert!(matches!(s.top_k_blocking(&[1.0, 0.0], &docs, 0, &[0, 1], 1), Err(GpuError::Failed(_))));
        // Still usable after rejected calls.
        assert_eq!(s.top_k_blocking(&[0.0, 1.0], &docs, 2, &[0, 1], 1).unwrap(), vec![vec![(1, 1.0)]]);
    }

    /// Both similarity kernels on this adapter: 4×4 tiles (similarity.wgsl, what hardware GPUs
    /// run) and 8×8 (similarity_8x8.wgsl, software adapters), with partial tiles at the edges.
    #[test]
    fn both_tiles_match_cpu_reference() {
        let Some(mut s) = searcher() else { return };
        note(&format!("default tile here: {:?}", s.tile()));
        for tile in [Tile::Narrow, Tile::Wide] {
            s = s.with_tile(tile);
            s = run(s, (37, 1000, 30, 10), None, None, 1);
            s = run(s, (70, 1805, 64, 8), Some(600), None, 2);
            let data = Data::quantised(21, 600, 12, 8);
            for (k, chunk, gpu_topk_max_k) in QUANTISED_CASES {
                s = configure(s, chunk, gpu_topk_max_k);
                let got = s.top_k_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, k).unwrap();
                data.verify(&format!("{tile:?} tiles, quantised k={k} chunk={chunk:?}"), &got, k, true);
            }
        }
    }

    /// The f16 kernel with exact rescoring gives the f32 reference's ids and scores; where f16
    /// cannot separate the scores, the CPU rescue does, and the result is still exact.
    #[test]
    fn f16_candidates_rescored_are_exact() {
        let Some(s) = searcher() else { return };
        let Some(mut s) = with_f16(s) else { return };
        for (i, (nq, nd, dim, k, chunk, gpu_topk_max_k)) in F16_CASES.into_iter().enumerate() {
            let data = Data::gaussian(nq, nd, dim, 30 + i as u64);
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k_with_stats_blocking(&data.queries, &data.docs, dim, &data.tie_rank, k).unwrap();
            verify_f16(&data, &format!("nq={nq} nd={nd} dim={dim} k={k} chunk={chunk:?}"), got, k, false);
        }
        // Multiples of 1/8 are f16 values: f16 and f32 scores coincide, ties decide.
        let data = Data::quantised(21, 600, 12, 8);
        for (k, chunk, gpu_topk_max_k) in QUANTISED_CASES {
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k_with_stats_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, k).unwrap();
            verify_f16(&data, &format!("quantised k={k} chunk={chunk:?}"), got, k, true);
        }
        let data = f16_blind(8, 2000, 64, 40);
        s = configure(s, None, None);
        let got = s.top_k_with_stats_blocking(&data.queries, &data.docs, data.dim, &data.tie_rank, 10).unwrap();
        let rescued = verify_f16(&data, "scores closer than f16 resolves", got, 10, false);
        assert!(rescued >= 1, "query 0's candidates cannot prove its top 10; it must be rescued");
        // Components beyond f16's range: the f32 kernel runs instead.
        let big = [1e5f32, 0.0, 0.0, 1.0];
        let (hits, stats) = s.top_k_with_stats_blocking(&big, &big, 4, &[0], 1).unwrap();
        assert_eq!((hits, stats.f16), (vec![vec![(0, 1e10 + 1.0)]], false));
    }

    /// So that a caller can run a search on a multi-threaded executor.
    #[test]
    fn top_k_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let Some(s) = searcher() else { return };
        let search = s.top_k(&[1.0], &[1.0], 1, &[0], 1);
        assert_send(&search);
        assert_eq!(pollster::block_on(search).unwrap(), vec![vec![(0, 1.0)]]);
    }

    #[test]
    fn adapter_is_described() {
        let Some(s) = searcher() else { return };
        let description = s.adapter_description();
        assert!(description.contains('['), "{description}");
        if s.adapter_info().device_type == wgpu::DeviceType::Cpu {
            assert!(s.is_software());
            assert!(description.contains("(software: a GPU emulated on the CPU)"), "{description}");
        } else {
            assert!(!description.contains("software"), "{description}");
        }
    }

    /// Throughput on the acceptance shape: 256 queries × 8192 documents × 384 dimensions,
    /// whole calls (upload, shaders, readback, CPU merge).
    /// `cargo test --test gpu_search -- --ignored --nocapture throughput`
    #[test]
    #[ignore = "benchmark"]
    fn throughput_256x8192x384() {
        let Some(mut s) = searcher() else { return };
        let (nq, nd, dim) = (256, 8192, 384);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let queries = unit_rows(&mut rng, nq, dim);
        let docs = unit_rows(&mut rng, nd, dim);
        let tie_rank: Vec<u32> = (0..nd as u32).collect();
        let flop = 2.0 * (nq * nd * dim) as f64;
        for (label, k, gpu_topk_max_k) in [
            ("k=10, top-k on GPU", 10, None),
            ("k=10, scores read back", 10, Some(0)),
            ("k=100, top-k on GPU", 100, None),
            ("k=100, scores read back", 100, Some(0)),
            ("k=1000, top-k on GPU", 1000, None),
            ("k=1000, scores read back", 1000, Some(0)),
        ] {
            s = configure(s, None, gpu_topk_max_k);
            s.top_k_blocking(&queries, &docs, dim, &tie_rank, k).unwrap(); // warm-up
            let runs = 3;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                s.top_k_blocking(&queries, &docs, dim, &tie_rank, k).unwrap();
            }
            let secs = start.elapsed().as_secs_f64() / runs as f64;
            println!("{}: {label}: {:.1} ms, {:.2} GFLOP/s", s.adapter_description(), secs * 1e3, flop / secs / 1e9);
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The same checks through the WebGPU backend, where every wait is a map_async callback
    /// rather than device.poll.
    #[wasm_bindgen_test]
    async fn top_k_matches_cpu_reference_in_the_browser() {
        let Some(mut s) = usable(GpuSearcher::new().await) else {
            return;
        };
        let data = Data::gaussian(45, 1805, 64, 2);
        for (k, chunk, gpu_topk_max_k) in [(8, Some(600), None), (50, Some(330), None), (100, Some(256), Some(0))] {
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k(&data.queries, &data.docs, data.dim, &data.tie_rank, k).await.expect("GPU search");
            data.verify(
                &format!("web gaussian k={k} chunk={chunk:?} gpu_topk_max_k={gpu_topk_max_k:?}"),
                &got,
                k,
                false,
            );
        }
        let data = Data::quantised(21, 600, 12, 8);
        for (k, chunk, gpu_topk_max_k) in QUANTISED_CASES {
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k(&data.queries, &data.docs, data.dim, &data.tie_rank, k).await.expect("GPU search");
            data.verify(
                &format!("web quantised k={k} chunk={chunk:?} gpu_topk_max_k={gpu_topk_max_k:?}"),
                &got,
                k,
                true,
            );
        }
        // The other tile than the adapter's default (4×4 and 8×8 both run in the browser).
        let other = if s.tile() == Tile::Wide { Tile::Narrow } else { Tile::Wide };
        s = configure(s.with_tile(other), Some(600), None);
        let data = Data::gaussian(45, 1805, 64, 2);
        let got = s.top_k(&data.queries, &data.docs, data.dim, &data.tie_rank, 8).await.unwrap();
        data.verify(&format!("web {other:?} tiles"), &got, 8, false);
        // The f16 kernel, where the browser's adapter offers shader-f16.
        let Some(mut s) = with_f16(s) else { return };
        for (i, (nq, nd, dim, k, chunk, gpu_topk_max_k)) in F16_CASES.into_iter().enumerate() {
            let data = Data::gaussian(nq, nd, dim, 30 + i as u64);
            s = configure(s, chunk, gpu_topk_max_k);
            let got = s.top_k_with_stats(&data.queries, &data.docs, dim, &data.tie_rank, k).await.unwrap();
            verify_f16(&data, &format!("web nq={nq} nd={nd} dim={dim} k={k} chunk={chunk:?}"), got, k, false);
        }
        let data = f16_blind(8, 2000, 64, 40);
        s = configure(s, None, None);
        let got = s.top_k_with_stats(&data.queries, &data.docs, data.dim, &data.tie_rank, 10).await.unwrap();
        assert!(verify_f16(&data, "web: scores closer than f16 resolves", got, 10, false) >= 1);
    }
}
