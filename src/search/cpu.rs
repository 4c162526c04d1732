//! Exact search on the CPU: query blocks × document blocks through the `gemm` crate's sgemm
//! (AVX-512/AVX2/NEON/simd128 kernels picked at run time), each score row streamed into that
//! query's [`TopK`]. Memory is one `QUERY_BLOCK × DOC_BLOCK` score buffer (2 MiB) per worker,
//! whatever the corpus size. Query blocks run in parallel with rayon natively (a lone block
//! lets gemm use the threads instead); wasm runs them one after another.

use super::topk::{Candidate, TopK};

pub const QUERY_BLOCK: usize = 128;
pub const DOC_BLOCK: usize = 4096;

/// Top-k (doc index, score) per query, best first; ties by `tie_rank` ascending.
/// `queries` is nq×dim and `docs` nd×dim, both row-major.
pub fn top_k(queries: &[f32], docs: &[f32], dim: usize, tie_rank: &[u32], k: usize) -> Vec<Vec<(u32, f32)>> {
    assert!(
        dim > 0 && queries.len().is_multiple_of(dim) && docs.len().is_multiple_of(dim),
        "matrix shapes must be n×dim"
    );
    let nd = docs.len() / dim;
    assert_eq!(tie_rank.len(), nd, "one tie rank per document");
    let lone_block = queries.len() <= QUERY_BLOCK * dim;
    #[cfg(feature = "cli")]
    let parallelism = if lone_block { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    #[cfg(not(feature = "cli"))]
    let parallelism = {
        let _ = lone_block;
        gemm::Parallelism::None
    };
    let block = |qblock: &[f32]| -> Vec<Vec<(u32, f32)>> {
        let nq = qblock.len() / dim;
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let mut scores = vec![0f32; nq * DOC_BLOCK];
        for d0 in (0..nd).step_by(DOC_BLOCK) {
            let n = DOC_BLOCK.min(nd - d0);
            let dblock = &docs[d0 * dim..(d0 + n) * dim];
            // scores[nq×n] = qblock[nq×dim] · dblockᵀ[dim×n]; gemm computes
            // dst = alpha·dst + beta·lhs·rhs, with strides given as (column, row).
            // SAFETY: the slices cover m×k, k×n and m×n elements at the strides given.
            unsafe {
                gemm::gemm(
                    nq,
                    n,
                    dim,
                    scores.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    qblock.as_ptr(),
                    1,
                    dim as isize,
                    dblock.as_ptr(),
                    dim as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
            for (qi, top) in tops.iter_mut().enumerate() {
                for (j, &s) in scores[qi * n..(qi + 1) * n].iter().enumerate() {
                    let doc = (d0 + j) as u32;
                    top.push(Candidate { score: s, tie: tie_rank[doc as usize], doc });
                }
            }
        }
        tops.into_iter().map(|t| t.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect()).collect()
    };
    let chunks = queries.chunks(QUERY_BLOCK * dim);
    #[cfg(feature = "cli")]
    let per_block: Vec<Vec<Vec<(u32, f32)>>> = {
        use rayon::prelude::*;
        chunks.collect::<Vec<_>>().into_par_iter().map(block).collect()
    };
    #[cfg(not(feature = "cli"))]
    let per_block: Vec<Vec<Vec<(u32, f32)>>> = chunks.map(block).collect();
    per_block.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(q: &[f32], d: &[f32], dim: usize, tie: &[u32], k: usize) -> Vec<Vec<(u32, f32)>> {
        q.chunks(dim)
            .map(|qv| {
                let mut all: Vec<(u32, f32)> = d
                    .chunks(dim)
                    .enumerate()
                    .map(|(i, dv)| (i as u32, qv.iter().zip(dv).map(|(a, b)| a * b).sum::<f32>()))
                    .collect();
                all.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(tie[a.0 as usize].cmp(&tie[b.0 as usize])));
                all.truncate(k);
                all
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Small integer vectors make dot products exact in f32 whatever the summation order,
        /// so ties are real and the comparison can be exact.
        #[test]
        fn equals_sort_and_truncate(nq in 1usize..70, nd in 1usize..2100, dim in 1usize..9, k in 0usize..30, seed in any::<u64>()) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-2i8..3) as f32).collect();
            let d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-2i8..3) as f32).collect();
            let mut tie: Vec<u32> = (0..nd as u32).collect();
            tie.reverse();
            prop_assert_eq!(top_k(&q, &d, dim, &tie, k), naive(&q, &d, dim, &tie, k));
        }
    }
}
