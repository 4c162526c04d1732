//! `results.csv`: one row per model, one column per metric. Under the st convention the
//! headings are sentence-transformers' own CSV names (`cosine-NDCG@10`), so existing
//! spreadsheets keep working; under trec they are the `results.json` keys (`ndcg@10`).

use super::{Exporter, Report};
use crate::metrics::{Convention, METRICS};

pub struct Csv;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Exporter for Csv {
    fn serialize(&self, r: &Report) -> Vec<u8> {
        let mut head = vec!["model".to_string()];
        let mut keys = Vec::new();
        for m in &METRICS {
            for k in &r.k {
                keys.push(format!("{}@{k}", m.name));
                head.push(match r.convention {
                    Convention::Trec => format!("{}@{k}", m.name),
                    Convention::St => format!("{}-{}@{k}", r.score_function.name(), m.st_label),
                });
            }
        }
        head.extend(["num_queries".into(), "index_s".into(), "search_s".into(), "metrics_s".into()]);
        let mut out = head.join(",");
        out.push('\n');
        for m in &r.models {
            let mut row = vec![field(&m.name)];
            row.extend(keys.iter().map(|k| m.metrics.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN).to_string()));
            row.extend([
                m.num_queries.to_string(),
                format!("{:.6}", m.timings.index_s),
                format!("{:.6}", m.timings.search_s),
                format!("{:.6}", m.timings.metrics_s),
            ]);
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }
}
