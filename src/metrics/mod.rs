//! IR metrics under two declared conventions. Each metric lives in its own file whose header
//! states the formula; [`METRICS`] is the one registry, in report-column order, that also
//! feeds `embeval metrics --explain`.
//!
//! A metric sees a query as a [`QueryRels`]: the relevance grade of each retrieved doc in rank
//! order (0 for unjudged docs) and the grades of all judged docs. Ranking, tie-breaking and
//! averaging happen here, once, for every metric.

pub mod accuracy;
pub mod map;
pub mod mrr;
pub mod ndcg;
pub mod precision;
pub mod recall;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::search::Rankings;

/// Which reference implementation the numbers equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    /// pytrec_eval / trec_eval: graded gains, ties by doc id descending (`strcmp`).
    #[default]
    Trec,
    /// sentence-transformers v6 `InformationRetrievalEvaluator`: binary relevance, ties by doc
    /// id ascending.
    St,
}

/// How a run file's scores compare when ranking under `trec`: as C floats (pytrec_eval, so BEIR
/// and MTEB, and trec_eval 9: scores equal to single precision tie, then doc ids decide) or as
/// doubles (trec_eval 10, ranx). `st` always compares doubles (Python floats). The scores
/// embeval computes are single-precision values, so this matters for `run:` files only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunScores {
    #[default]
    Float,
    Double,
}

impl Convention {
    pub fn name(self) -> &'static str {
        match self {
            Convention::Trec => "trec",
            Convention::St => "st",
        }
    }

    /// A score as the reference implementation holds it when ranking: pytrec_eval (and so BEIR
    /// and MTEB) and trec_eval 9 store run scores in a C `float`, so scores that differ only
    /// beyond single precision tie there; trec_eval 10 keeps doubles (`RunScores::Double`);
    /// sentence-transformers keeps Python floats (f64).
    #[inline]
    pub fn score(self, s: f64, p: RunScores) -> f64 {
        match (self, p) {
            (Convention::Trec, RunScores::Float) => s as f32 as f64,
            _ => s,
        }
    }

    /// Order of two doc ids with equal scores: `Less` means `a` ranks first.
    pub fn tie_cmp(self, a: &str, b: &str) -> Ordering {
        match self {
            Convention::Trec => b.as_bytes().cmp(a.as_bytes()),
            Convention::St => a.as_bytes().cmp(b.as_bytes()),
        }
    }
}

/// One query, reduced to the numbers every metric needs.
#[derive(Debug, Clone, Default)]
pub struct QueryRels {
    /// Grade of each retrieved doc in rank order; unjudged docs are 0.
    pub ranked: Vec<i32>,
    /// Grades ≥ 1 of all judged docs, sorted descending (the ideal ranking).
    pub ideal: Vec<i32>,
}

impl QueryRels {
    /// |R|: judged docs with grade ≥ 1.
    pub fn num_rel(&self) -> usize {
        self.ideal.len()
    }
    /// 1-based rank of the first relevant retrieved doc.
    pub fn first_relevant_rank(&self) -> Option<usize> {
        self.ranked.iter().position(|&r| r >= 1).map(|i| i + 1)
    }
    fn rel_in_top(&self, k: usize) -> usize {
        self.ranked.iter().take(k).filter(|&&r| r >= 1).count()
    }
}

/// A metric's entry in the registry.
pub struct MetricDef {
    /// Key in `results.json`: `<name>@<k>`.
    pub name: &'static str,
    /// Column heading: `nDCG@10`.
    pub label: &'static str,
    /// sentence-transformers' JSON key stem (`cosine_<st_key>@k`) and CSV heading stem.
    pub st_key: &'static str,
    pub st_label: &'static str,
    /// The trec_eval measure it equals under `trec` (with `.k` or `_k`).
    pub trec_eval: &'static str,
    pub explain_trec: &'static str,
    pub explain_st: &'static str,
    pub compute: fn(Convention, &QueryRels, usize) -> f64,
}

/// Every metric, in report-column order.
pub static METRICS: [MetricDef; 6] = [ndcg::DEF, map::DEF, mrr::DEF, recall::DEF, precision::DEF, accuracy::DEF];

/// The default cut-offs: the union of sentence-transformers' defaults (1, 3, 5, 10 and MAP@100).
pub const DEFAULT_KS: [usize; 5] = [1, 3, 5, 10, 100];

/// `log2(rank + 1)` for a 1-based rank; shared by nDCG under both conventions.
#[inline]
pub(crate) fn discount(rank: usize) -> f64 {
    ((rank + 1) as f64).log2()
}

/// Metric values of one query: `values[m][i]` is metric `METRICS[m]` at `ks[i]`.
#[derive(Debug, Clone)]
pub struct QueryScores {
    pub query_id: String,
    pub values: Vec<Vec<f64>>,
    pub first_relevant_rank: Option<usize>,
    /// True when equal scores straddle one of the cut-offs (the metric depends on tie-breaking).
    pub tie_at_cutoff: bool,
}

/// Means over the evaluated queries.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `"ndcg@10" → 0.5123`, in registry order then k order.
    pub metrics: BTreeMap<String, f64>,
    pub num_queries: usize,
    /// Queries evaluated under the convention that the model returned nothing for (count 0 in means
    /// for our own models; for runs they are skipped, as trec_eval does without `-c`).
    pub queries_missing_from_run: usize,
    /// Queries with ties straddling a cut-off.
    pub queries_with_ties_at_cutoff: usize,
}

/// Ranks, tie-breaks and scores every query evaluated under `conv`
/// ([`crate::Dataset::evaluated_queries`]).
///
/// `rankings` must already be sorted ([`Rankings::sort`]). Queries absent from `rankings` are
/// counted in `queries_missing_from_run` and left out of the means (pytrec_eval; trec_eval
/// without `-c`). Under `st` the report gives a run's missing queries empty rankings first.
pub fn evaluate(
    rankings: &Rankings,
    qrels: &crate::data::Qrels,
    conv: Convention,
    scores: RunScores,
    ks: &[usize],
) -> (Vec<QueryScores>, Summary) {
    let score_one = |q: &crate::search::QueryRanking| -> Option<QueryScores> {
        let judged = qrels.get(&q.query_id).filter(|j| crate::data::evaluated(conv, j))?;
        let mut ideal: Vec<i32> = judged.values().copied().filter(|&r| r >= 1).collect();
        ideal.sort_unstable_by(|a, b| b.cmp(a));
        let ranked: Vec<i32> =
            q.hits.iter().map(|h| judged.get(&rankings.doc_ids[h.doc as usize]).copied().unwrap_or(0)).collect();
        let rels = QueryRels { ranked, ideal };
        // Nothing relevant (`trec` only): 0 for every metric, as trec_eval gives.
        let value = |m: &MetricDef, k| if rels.ideal.is_empty() { 0.0 } else { (m.compute)(conv, &rels, k) };
        let values = METRICS.iter().map(|m| ks.iter().map(|&k| value(m, k)).collect()).collect();
        let tie_at_cutoff = ks.iter().any(|&k| {
            k >= 1 && k < q.hits.len() && conv.score(q.hits[k - 1].score, scores) == conv.score(q.hits[k].score, scores)
        });
        Some(QueryScores {
            query_id: q.query_id.clone(),
            values,
            first_relevant_rank: rels.first_relevant_rank(),
            tie_at_cutoff,
        })
    };
    #[cfg(feature = "cli")]
    let per_query: Vec<QueryScores> = {
        use rayon::prelude::*;
        rankings.queries.par_iter().filter_map(score_one).collect()
    };
    #[cfg(not(feature = "cli"))]
    let per_query: Vec<QueryScores> = rankings.queries.iter().filter_map(score_one).collect();
    let seen: std::collections::HashSet<&str> = rankings.queries.iter().map(|q| q.query_id.as_str()).collect();
    let missing = qrels.iter().filter(|(q, m)| !seen.contains(q.as_str()) && crate::data::evaluated(conv, m)).count();
    let n = per_query.len();
    let mut metrics = BTreeMap::new();
    for (mi, m) in METRICS.iter().enumerate() {
        for (ki, k) in ks.iter().enumerate() {
            let sum = per_query.iter().fold(0.0, |acc, q| acc + q.values[mi][ki]);
            metrics.insert(format!("{}@{}", m.name, k), if n == 0 { 0.0 } else { sum / n as f64 });
        }
    }
    let ties = per_query.iter().filter(|q| q.tie_at_cutoff).count();
    (
        per_query,
        Summary { metrics, num_queries: n, queries_missing_from_run: missing, queries_with_ties_at_cutoff: ties },
    )
}

/// Metric keys in report order: registry order, then k ascending.
pub fn keys(ks: &[usize]) -> Vec<String> {
    METRICS.iter().flat_map(|m| ks.iter().map(move |k| format!("{}@{}", m.name, k))).collect()
}

/// The text `embeval metrics --explain` prints.
/// `embeval metrics`: each metric's names in results.json, trec_eval and sentence-transformers,
/// one line each (`--explain` gives [`explain`]).
pub fn names() -> String {
    let mut s = format!("{:<8}{:<16}{:<14}{}\n", "metric", "results.json", "trec_eval", "sentence-transformers");
    for m in &METRICS {
        let te = m.trec_eval.split(" (").next().unwrap_or(m.trec_eval);
        s.push_str(&format!("{:<8}{:<16}{:<14}cosine_{}@k\n", m.label, format!("{}@k", m.name), te, m.st_key));
    }
    s.push_str(
        "\nEach at every cut-off k (--k); trec_eval's recip_rank has no cut-off (equal to mrr@k when k reaches\n\
         the ranking's length). `embeval metrics --explain`: the definitions under both conventions.\n",
    );
    s
}

pub fn explain() -> String {
    let mut s = String::from(
        "Metrics, each at every cut-off k (--k). Means are over the judged queries under trec (one\n\
         judged only below relevance 1 scores 0, as in trec_eval and pytrec_eval), over queries with a\n\
         judgment of relevance >= 1 under st; the others are skipped and counted in the validation report.\n\
         A query a run lacks is left out of the means under trec (pytrec_eval; trec_eval without -c) and\n\
         counts 0 under st (sentence-transformers scores an empty result list).\n\n",
    );
    for m in &METRICS {
        s.push_str(&format!(
            "{label}  (results.json key \"{name}@k\"; trec_eval: {te}; sentence-transformers: cosine_{st}@k)\n  trec: {et}\n  st:   {es}\n\n",
            label = m.label,
            name = m.name,
            te = m.trec_eval,
            st = m.st_key,
            et = m.explain_trec,
            es = m.explain_st
        ));
    }
    s.push_str(
        "Ties: under trec, scores are compared as single-precision floats, as pytrec_eval and trec_eval 9\n\
         store them (trec_eval 10 and ranx keep doubles: --run-scores double for run files), and equal\n\
         ones are ordered by doc id descending (bytewise, as trec_eval's strcmp); under st, full double\n\
         precision, by doc id ascending. A warning counts queries whose ties straddle a cut-off.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_each_metric_its_three_names() {
        let text = names();
        let rows: Vec<Vec<&str>> =
            text.lines().skip(1).take(METRICS.len()).map(|l| l.split_whitespace().collect()).collect();
        let want = [
            ["nDCG", "ndcg@k", "ndcg_cut.k", "cosine_ndcg@k"],
            ["MAP", "map@k", "map_cut.k", "cosine_map@k"],
            ["MRR", "mrr@k", "recip_rank", "cosine_mrr@k"],
            ["Recall", "recall@k", "recall.k", "cosine_recall@k"],
            ["P", "precision@k", "P.k", "cosine_precision@k"],
            ["Acc", "accuracy@k", "success.k", "cosine_accuracy@k"],
        ];
        assert_eq!(rows, want.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), "{text}");
        assert!(explain().len() > text.len());
    }
}
