//! The per-query detail behind the means, in `results.json` under `details` when asked for
//! (`--details ids|texts`; the page always asks): what the page's per-query explorer,
//! model-vs-model view and `report.html` show without the dataset at hand.
//!
//! `ids` carries judgments, rankings and per-query metrics — ids and numbers, no text — so it can
//! be shared without the data; `texts` adds the evaluated queries' texts and previews of every
//! document judged or ranked in a top list.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{PerQuery, Report};
use crate::data::{Dataset, Qrels};

/// How much per-query detail `results.json` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DetailLevel {
    /// None: the summary only (the CLI's default; `per_query.jsonl` has the rankings).
    #[default]
    Off,
    /// Judgments, rankings and per-query metrics: ids and numbers only.
    Ids,
    /// `Ids` plus query texts and document previews.
    Texts,
}

/// Characters kept of each document text (whole characters: Japanese is never cut in two).
pub const DOC_PREVIEW_CHARS: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct Details {
    /// Judgments of the evaluated queries: query id → doc id → grade.
    pub qrels: Qrels,
    /// Model name → one row per evaluated query (as in `per_query.jsonl`), in query order.
    pub per_query: BTreeMap<String, Vec<PerQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub texts: Option<Texts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Texts {
    /// Query id → text.
    pub queries: BTreeMap<String, String>,
    /// Doc id → the first [`DOC_PREVIEW_CHARS`] characters, for every document judged for an
    /// evaluated query or shown in a top list.
    pub docs: BTreeMap<String, String>,
}

impl Details {
    /// The details of `report`'s models on `dataset`; `None` for [`DetailLevel::Off`].
    pub fn build(report: &Report, dataset: &Dataset, level: DetailLevel) -> Option<Details> {
        if level == DetailLevel::Off {
            return None;
        }
        let per_query: BTreeMap<String, Vec<PerQuery>> =
            report.models.iter().map(|m| (m.name.clone(), m.per_query.clone())).collect();
        let evaluated: BTreeSet<&str> = per_query.values().flatten().map(|q| q.query_id.as_str()).collect();
        let qrels: Qrels = dataset
            .qrels
            .iter()
            .filter(|(q, _)| evaluated.contains(q.as_str()))
            .map(|(q, docs)| (q.clone(), docs.clone()))
            .collect();
        let texts = (level == DetailLevel::Texts).then(|| {
            let shown: BTreeSet<&str> = qrels
                .values()
                .flat_map(|docs| docs.keys())
                .chain(per_query.values().flatten().flat_map(|q| q.top.iter().map(|(d, _)| d)))
                .map(String::as_str)
                .collect();
            Texts {
                queries: dataset
                    .queries
                    .iter()
                    .filter(|q| evaluated.contains(q.id.as_str()))
                    .map(|q| (q.id.clone(), q.text.clone()))
                    .collect(),
                docs: dataset
                    .corpus
                    .iter()
                    .filter(|d| shown.contains(d.id.as_str()))
                    .map(|d| (d.id.clone(), d.text.chars().take(DOC_PREVIEW_CHARS).collect()))
                    .collect(),
            }
        });
        Some(Details { qrels, per_query, texts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Files, Quiet};

    fn tiny() -> Files {
        let mut f = Files::new("mem");
        f.add_bytes(
            "corpus.jsonl",
            "mem/corpus.jsonl",
            "{\"_id\": \"d1\", \"text\": \"東京は日本の首都です。\"}\n{\"_id\": \"d2\", \"text\": \"cats\"}\n{\"_id\": \"d3\", \"text\": \"unrelated\"}\n"
                .into(),
        )
        .add_bytes(
            "queries.jsonl",
            "mem/queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"日本の首都\"}\n{\"_id\": \"q2\", \"text\": \"cats\"}\n{\"_id\": \"q3\", \"text\": \"no judgment\"}\n".into(),
        )
        .add_bytes("qrels/test.tsv", "mem/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\n".into());
        f
    }

    fn report(level: DetailLevel) -> serde_json::Value {
        let config = Config { details: level, models: vec!["bm25".into(), "b=bm25:k1=1.2".into()], ..Config::default() };
        let r = crate::evaluate(&tiny(), &config, &Quiet, &mut |_| Ok(())).unwrap();
        serde_json::from_slice(&crate::report::Exporter::serialize(&crate::report::json::Json, &r)).unwrap()
    }

    #[test]
    fn levels_carry_ids_then_texts() {
        assert!(report(DetailLevel::Off).get("details").is_none());
        let ids = report(DetailLevel::Ids);
        let d = &ids["details"];
        assert_eq!(d["qrels"], serde_json::json!({"q1": {"d1": 2}, "q2": {"d2": 1}}));
        assert_eq!(d["per_query"]["bm25"].as_array().unwrap().len(), 2, "evaluated queries only");
        assert_eq!(d["per_query"]["b"][0]["query_id"], "q1");
        assert!(d.get("texts").is_none(), "ids carry no text");
        assert!(!ids["details"].to_string().contains("東京"));

        let texts = report(DetailLevel::Texts);
        let t = &texts["details"]["texts"];
        assert_eq!(t["queries"], serde_json::json!({"q1": "日本の首都", "q2": "cats"}));
        assert_eq!(t["docs"]["d1"], "東京は日本の首都です。");
        assert!(t["docs"].get("d3").is_none(), "d3 is neither judged nor ranked");
    }
}
