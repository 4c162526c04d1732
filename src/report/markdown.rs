//! The comparison table printed on stdout: models best first by nDCG@10, a handful of columns
//! (all metrics are in results.json / results.csv), values to 4 decimals as trec_eval prints;
//! then, with two or more models, each model against the best one (results.json's
//! `significance`): difference, bootstrap interval, randomization p-value, per-query wins.

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
        if !cols.iter().any(|(m, _)| m.starts_with("ndcg@")) {
            // Unusual cut-offs (no 10): nDCG and Recall at each first, so the column the table
            // is sorted by is in it.
            let each = r.k.iter().flat_map(|k| {
                [(format!("ndcg@{k}"), format!("nDCG@{k}")), (format!("recall@{k}"), format!("Recall@{k}"))]
            });
            let mut all: Vec<(String, String)> = each.collect();
            all.extend(cols.into_iter().filter(|(m, _)| !m.starts_with("recall@")));
            cols = all;
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
            if r.models.iter().any(|m| {
                matches!(
                    m.spec,
                    crate::ModelSpec::Emb { .. } | crate::ModelSpec::Neural { .. } | crate::ModelSpec::Api { .. }
                )
            }) {
                format!("; embeddings scored by {}", r.score_function.name())
            } else {
                String::new()
            },
            r.sort_key()
        ));
        if let Some(sig) = &r.significance {
            s.push_str(&significance_table(sig));
        }
        s.into_bytes()
    }
}

fn significance_table(sig: &super::significance::Significance) -> String {
    let mut s = format!(
        "\nvs {} on {} (Δ = model − {}, paired by query):\n\n\
         | model | {} | Δ | 95% CI | p | wins / losses / ties | queries |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        sig.reference.replace('|', "\\|"),
        sig.metric,
        sig.reference.replace('|', "\\|"),
        sig.metric
    );
    for c in &sig.comparisons {
        s.push_str(&format!(
            "| {} | {:.4} | {:+.4} | [{:+.4}, {:+.4}] | {} | {} / {} / {} | {} |\n",
            c.model.replace('|', "\\|"),
            c.mean,
            c.delta,
            c.ci95[0],
            c.ci95[1],
            p_value(c.p_value),
            c.wins,
            c.losses,
            c.ties,
            c.queries
        ));
    }
    let m = &sig.method;
    s.push_str(&format!(
        "\n95% CI: percentile bootstrap over queries ({} resamples); p: two-sided paired randomization \
         (sign-flip) test, {} random sign vectors (exact when ≤ {} queries); seed {}; no correction for \
         multiple comparisons\n",
        m.bootstrap_resamples, m.permutations, m.exact_up_to_queries, m.seed
    ));
    s
}

/// A p-value to 3 significant digits, `< 0.0001` below that.
fn p_value(p: f64) -> String {
    if p < 1e-4 {
        return "< 0.0001".into();
    }
    // The exponent after rounding to 3 digits (0.00099990 is 1.00e-3, so 0.00100).
    let sci = format!("{p:.2e}");
    let exponent: i32 = sci[sci.find('e').expect("scientific") + 1..].parse().expect("exponent");
    let decimals = (2 - exponent).max(0) as usize;
    format!("{p:.decimals$}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn p_values_have_3_significant_digits() {
        let cases = [
            (1.0, "1.00"),
            (0.5, "0.500"),
            (0.04321, "0.0432"),
            (0.001234, "0.00123"),
            (9.999e-5, "< 0.0001"),
            (0.0009999, "0.00100"),
            (0.99999, "1.00"),
        ];
        for (p, shown) in cases {
            assert_eq!(super::p_value(p), shown);
        }
    }
}
