//! Recall@k = (relevant docs in the top k) / |R|, relevant meaning grade ≥ 1.
//! Same under both conventions (trec_eval `recall.k`, sentence-transformers `recall@k`).

use super::{Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "recall",
    label: "Recall",
    st_key: "recall",
    st_label: "Recall",
    trec_eval: "recall.k",
    explain_trec: "relevant docs in the top k divided by |R|",
    explain_st: "the same",
    compute,
};

pub fn compute(_conv: Convention, q: &QueryRels, k: usize) -> f64 {
    q.rel_in_top(k) as f64 / q.num_rel() as f64
}
