//! MAP@k — mean average precision, cut at k.
//!
//! AP@k = (Σ_{i ≤ k, doc_i relevant} P@i) / D, where P@i = (relevant docs in the top i) / i.
//! - `trec` (= trec_eval `map_cut.k`): D = |R|, the number of judged docs with grade ≥ 1.
//! - `st` (= sentence-transformers `map@k`): D = min(k, |R|).

use super::{Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "map",
    label: "MAP",
    st_key: "map",
    st_label: "MAP",
    trec_eval: "map_cut.k",
    explain_trec: "sum of precision@i at each relevant rank i<=k, divided by |R| (all judged relevant docs)",
    explain_st: "sum of precision@i at each relevant rank i<=k, divided by min(k, |R|)",
    compute,
};

pub fn compute(conv: Convention, q: &QueryRels, k: usize) -> f64 {
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, &g) in q.ranked.iter().take(k).enumerate() {
        if g >= 1 {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    let denom = match conv {
        Convention::Trec => q.num_rel(),
        Convention::St => q.num_rel().min(k),
    };
    if denom == 0 {
        0.0
    } else {
        sum / denom as f64
    }
}
