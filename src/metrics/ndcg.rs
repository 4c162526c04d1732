//! nDCG@k — normalised discounted cumulative gain.
//!
//! DCG@k = Σ_{i=1..k} gain(doc_i) / log2(i + 1).
//! - `trec` (= trec_eval `ndcg_cut.k`): gain = the judged grade (linear; unjudged and grade ≤ 0
//!   give 0); ideal DCG from all grades ≥ 1 sorted descending, cut at k.
//! - `st` (= sentence-transformers `ndcg@k`): gain = 1 for relevant (grade ≥ 1), else 0; ideal
//!   DCG from min(|R|, k) ones.
//!
//! A query without relevant docs never reaches here (it is skipped by the caller).

use super::{discount, Convention, MetricDef, QueryRels};

pub const DEF: MetricDef = MetricDef {
    name: "ndcg",
    label: "nDCG",
    st_key: "ndcg",
    st_label: "NDCG",
    trec_eval: "ndcg_cut.k",
    explain_trec: "sum over ranks i<=k of grade/log2(i+1), divided by the same sum over the ideal ranking of all judged grades (linear gain)",
    explain_st: "binary gain: sum over ranks i<=k of [relevant]/log2(i+1), divided by the sum of 1/log2(i+1) for i<=min(|R|,k)",
    compute,
};

pub fn compute(conv: Convention, q: &QueryRels, k: usize) -> f64 {
    let gain = |g: i32| -> f64 {
        match conv {
            Convention::Trec => g.max(0) as f64,
            Convention::St => (g >= 1) as i32 as f64,
        }
    };
    let dcg: f64 = q.ranked.iter().take(k).enumerate().fold(0.0, |acc, (i, &g)| acc + gain(g) / discount(i + 1));
    let idcg: f64 = q.ideal.iter().take(k).enumerate().fold(0.0, |acc, (i, &g)| acc + gain(g) / discount(i + 1));
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}
