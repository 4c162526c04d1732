//! Precision@k = (relevant docs in the top k) / k — divided by k even when fewer than k docs
//! were retrieved. Same under both conventions (trec_eval `P.k`, sentence-transformers
//! `precision@k`).

use super::{Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "precision",
    label: "P",
    st_key: "precision",
    st_label: "Precision",
    trec_eval: "P.k",
    explain_trec: "relevant docs in the top k divided by k (also when fewer than k were retrieved)",
    explain_st: "the same",
    compute,
};

pub fn compute(_conv: Convention, q: &QueryRels, k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    q.rel_in_top(k) as f64 / k as f64
}
