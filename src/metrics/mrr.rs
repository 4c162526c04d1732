//! MRR@k — reciprocal rank of the first relevant doc, 0 if none is in the top k.
//! Same under both conventions. trec_eval's `recip_rank` has no cut-off: it equals MRR@k for
//! any k at least as long as the ranking (e.g. `mrr@1000` for trec_eval's 1,000-doc runs).

use super::{Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "mrr",
    label: "MRR",
    st_key: "mrr",
    st_label: "MRR",
    trec_eval: "recip_rank (no cut-off; equal when k >= ranking length)",
    explain_trec: "1/rank of the first relevant doc (grade >= 1) if it is within the top k, else 0",
    explain_st: "the same",
    compute,
};

pub fn compute(_conv: Convention, q: &QueryRels, k: usize) -> f64 {
    match q.first_relevant_rank() {
        Some(r) if r <= k => 1.0 / r as f64,
        _ => 0.0,
    }
}
