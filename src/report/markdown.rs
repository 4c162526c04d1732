//! The comparison table printed on stdout: models best first by nDCG@10, a handful of columns
//! (all metrics are in results.json / results.csv), values to 4 decimals as trec_eval prints.

use super::{Exporter, Report};

pub struct Markdown;

/// (metric key stem, k preference) columns shown when their k was requested.
const COLUMNS: [(&str, &str, usize); 7] = [
    ("ndcg", "nDCG", 10),
    ("mrr", "MRR", 10),
    ("map", "MAP", 100),
    ("recall", "Recall", 10),
    ("recall", "Recall", 100),
    ("precision", "P", 10),
    ("accuracy", "Acc", 1),
];

impl Exporter for Markdown {
    fn serialize(&self, r: &Report) -> Vec<u8> {
        let mut cols: Vec<(String, String)> = COLUMNS
            .iter()
            .filter(|(_, _, k)| r.k.contains(k))
            .map(|(m, l, k)| (format!("{m}@{k}"), format!("{l}@{k}")))
            .collect();
        if cols.is_empty() {
            // Unusual cut-offs: show nDCG and Recall at each.
            for k in &r.k {
                cols.push((format!("ndcg@{k}"), format!("nDCG@{k}")));
                cols.push((format!("recall@{k}"), format!("Recall@{k}")));
            }
        }
        let mut s = format!(
            "| model | {} | queries | time (s) |\n|---|{}---:|---:|\n",
            cols.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join(" | "),
            "---:|".repeat(cols.len())
        );
        for m in r.ranked_models() {
            let vals: Vec<String> = cols
                .iter()
                .map(|(k, _)| m.metrics.get(k).and_then(|v| v.as_f64()).map_or("-".into(), |v| format!("{v:.4}")))
                .collect();
            s.push_str(&format!(
                "| {} | {} | {} | {:.2} |\n",
                m.name.replace('|', "\\|"),
                vals.join(" | "),
                m.num_queries,
                m.timings.total_s
            ));
        }
        s.push_str(&format!(
            "\nconvention: {} ({}){}; sorted by {}\n",
            r.convention.name(),
            match r.convention {
                crate::Convention::Trec => "trec_eval / pytrec_eval",
                crate::Convention::St => "sentence-transformers InformationRetrievalEvaluator",
            },
            if r.models.iter().any(|m| matches!(m.spec, crate::ModelSpec::Emb { .. })) {
                format!("; embeddings scored by {}", r.score_function.name())
            } else {
                String::new()
            },
            r.sort_key()
        ));
        s.into_bytes()
    }
}
