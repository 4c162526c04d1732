//! The per-query detail behind the means, in `results.json` under `details` when asked for
//! (`--details ids|texts`; the page always asks): what the page's per-query explorer,
//! model-vs-model view and `report.html` show without the dataset at hand.
//!
//! `ids` carries judgments, rankings and per-query metrics — ids and numbers, no text — so it can
//! be shared without the data; `texts` adds the evaluated queries' texts and previews of every
//! document judged or ranked in a top list.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{ModelReport, PerQuery};
use crate::data::{Dataset, Files, Qrels};
use crate::error::Result;

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
    /// Empty details at `level`; `None` for [`DetailLevel::Off`].
    pub fn new(level: DetailLevel) -> Option<Details> {
        (level != DetailLevel::Off).then(|| Details {
            qrels: Qrels::new(),
            per_query: BTreeMap::new(),
            texts: (level == DetailLevel::Texts).then(|| Texts { queries: BTreeMap::new(), docs: BTreeMap::new() }),
        })
    }

    /// Adds one model's rows, and the judgments and texts its rows need that earlier models'
    /// did not bring: each model costs its own rows, whatever came before.
    pub fn add(&mut self, model: &ModelReport, files: &Files, dataset: &Dataset) -> Result<()> {
        let mut new_docs: BTreeSet<&str> = BTreeSet::new();
        let mut new_queries: BTreeSet<&str> = BTreeSet::new();
        for q in &model.per_query {
            if !self.qrels.contains_key(&q.query_id) {
                if let Some(judged) = dataset.qrels.get(&q.query_id) {
                    self.qrels.insert(q.query_id.clone(), judged.clone());
                    new_docs.extend(judged.keys().map(String::as_str));
                }
                new_queries.insert(&q.query_id);
            }
            new_docs.extend(q.top.iter().map(|(d, _)| d.as_str()));
        }
        self.per_query.insert(model.name.clone(), model.per_query.clone());
        let Some(texts) = &mut self.texts else { return Ok(()) };
        new_docs.retain(|d| !texts.docs.contains_key(*d));
        for q in dataset.queries.iter().filter(|q| new_queries.contains(q.id.as_str())) {
            texts.queries.insert(q.id.clone(), q.text.clone());
        }
        texts.docs.extend(dataset.doc_previews(files, &new_docs, DOC_PREVIEW_CHARS)?);
        Ok(())
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
        let config =
            Config { details: level, models: vec!["bm25".into(), "b=bm25:k1=1.2".into()], ..Config::default() };
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

    /// A run file's evaluation reads no document text, so the corpus is loaded without them and
    /// previews are read again: the same report as with the texts held. A corpus file changed
    /// in between costs the previews (with a warning), never the metrics.
    #[test]
    fn previews_read_again_equal_held_ones_and_a_changed_corpus_costs_only_them() {
        let mut files = tiny();
        files.add_bytes("r.run", "mem/r.run", "q1 Q0 d2 1 0.9 t\nq1 Q0 d1 2 0.5 t\nq2 Q0 d3 1 0.7 t\n".into());
        let config = Config {
            details: DetailLevel::Texts,
            models: vec!["run:r.run".into()],
            failures: 5,
            failure_k: 1,
            ..Config::default()
        };
        assert!(!config.load_options().keep_doc_texts);
        let run = |load: &crate::LoadOptions| {
            let ds = Dataset::load(&files, load).unwrap();
            let r = crate::evaluate_dataset(&files, &ds, &config, &Quiet, &mut |_| Ok(())).unwrap();
            let json = crate::report::Exporter::serialize(&crate::report::json::Json, &r);
            let mut v = serde_json::from_slice::<serde_json::Value>(&json).unwrap();
            v["models"][0].as_object_mut().unwrap().remove("timings");
            v
        };
        let dropped = run(&config.load_options());
        let held = run(&config.load);
        assert_eq!(dropped, held);
        assert_eq!(held["details"]["texts"]["docs"]["d1"], "東京は日本の首都です。");
        assert_eq!(held["models"][0]["failures"][0]["retrieved"][0], serde_json::json!(["d3", 0.7, "unrelated"]));

        // The corpus file changes after loading: same metrics, previews left out, said why.
        let ds = Dataset::load(&files, &config.load_options()).unwrap();
        let mut changed = files.clone();
        changed.add_bytes("corpus.jsonl", "mem/corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"edited\"}\n".into());
        let r = crate::evaluate_dataset(&changed, &ds, &config, &Quiet, &mut |_| Ok(())).unwrap();
        assert_eq!(serde_json::to_value(&r.models[0].metrics).unwrap(), held["models"][0]["metrics"]);
        let warnings = r.warnings.join("\n");
        assert!(warnings.contains("listed without document texts") && warnings.contains("changed"), "{warnings}");
        assert!(warnings.contains("details without some document previews"), "{warnings}");
        assert!(r.models[0].failures.iter().all(|f| f.retrieved.iter().all(|d| d.2.is_empty())));
    }
}
