//! Accuracy@k (hit rate) = 1 if any relevant doc is in the top k, else 0.
//! Same under both conventions (trec_eval `success.k`, sentence-transformers `accuracy@k`).

use super::{Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "accuracy",
    label: "Acc",
    st_key: "accuracy",
    st_label: "Accuracy",
    trec_eval: "success.k",
    explain_trec: "1 if a relevant doc is within the top k, else 0",
    explain_st: "the same",
    compute,
};

pub fn compute(_conv: Convention, q: &QueryRels, k: usize) -> f64 {
    (q.rel_in_top(k) > 0) as i32 as f64
}
