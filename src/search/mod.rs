//! Exact search: every query scored against every document, block by block, keeping a
//! per-query top-k so the full Q×D matrix never sits in memory. CPU ([`cpu`]) and GPU
//! ([`gpu`], WGSL through wgpu) share the tie rule: equal scores are ordered by a per-doc
//! `tie_rank` derived from the doc ids and the metric convention.

pub mod cpu;
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

/// What a model returns: per query a ranked list. Runs read from files are re-sorted by
/// [`Rankings::sort`] before metrics, exactly as trec_eval ignores the rank column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rankings {
    pub doc_ids: Vec<String>,
    pub queries: Vec<QueryRanking>,
}

impl Rankings {
    /// Sorts every query's hits by score descending, ties by the convention's doc id order.
    pub fn sort(&mut self, conv: Convention) {
        let ids = &self.doc_ids;
        for q in &mut self.queries {
            q.hits.sort_by(|a, b| {
                b.score.total_cmp(&a.score).then_with(|| conv.tie_cmp(&ids[a.doc as usize], &ids[b.doc as usize]))
            });
        }
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

/// Per-doc tie ranks: among equal scores the smaller rank comes first. Under `trec` that is
/// the bytewise-larger id (trec_eval sorts ties by `strcmp` descending); under `st` the smaller.
pub fn tie_ranks(doc_ids: &[String], conv: Convention) -> Vec<u32> {
    let mut order: Vec<u32> = (0..doc_ids.len() as u32).collect();
    order.sort_by(|&a, &b| conv.tie_cmp(&doc_ids[a as usize], &doc_ids[b as usize]));
    let mut rank = vec![0u32; doc_ids.len()];
    for (r, &d) in order.iter().enumerate() {
        rank[d as usize] = r as u32;
    }
    rank
}

/// Scales each row of a row-major matrix to unit L2 norm (zero rows stay zero).
pub fn normalize_rows(m: &mut [f32], dim: usize) {
    for row in m.chunks_exact_mut(dim) {
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
}
