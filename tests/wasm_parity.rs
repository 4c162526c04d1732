//! The same evaluation must give the same numbers natively and in the browser. `tiny` is a
//! four-query Japanese/English BEIR dataset whose BM25 metrics are worked out by hand below;
//! this file asserts them natively and `tests/wasm.rs` (which includes this file) asserts the
//! identical bits in wasm32, under node and in headless Chromium.

pub mod tiny {
    use embeval::{Config, Files};

    pub const CORPUS: &str = r#"{"_id": "d1", "title": "東京", "text": "東京は日本の首都です。"}
{"_id": "d2", "title": "京都", "text": "京都は古い都です。"}
{"_id": "d3", "title": "", "text": "The cat sat on the mat."}
{"_id": "d4", "title": "", "text": "Dogs chase cats in the big park."}
{"_id": "d5", "title": "", "text": "Tokyo is the capital of Japan."}
"#;
    pub const QUERIES: &str = r#"{"_id": "q1", "text": "日本の首都"}
{"_id": "q2", "text": "capital of Japan"}
{"_id": "q3", "text": "dogs sat"}
{"_id": "q4", "text": "東京タワー"}
"#;
    pub const QRELS: &str = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td5\t1\nq2\td1\t1\nq3\td4\t1\n";

    pub fn files() -> Files {
        let mut f = Files::new("tiny");
        f.add_bytes("corpus.jsonl", "tiny/corpus.jsonl", CORPUS.as_bytes().to_vec());
        f.add_bytes("queries.jsonl", "tiny/queries.jsonl", QUERIES.as_bytes().to_vec());
        f.add_bytes("qrels/test.tsv", "tiny/qrels/test.tsv", QRELS.as_bytes().to_vec());
        f
    }

    /// The page's JSON for [`config`].
    pub const CONFIG_JSON: &str = r#"{"k": [1, 10], "models": ["bm25"], "convention": "trec"}"#;

    pub fn config() -> Config {
        Config { k: vec![1, 10], models: vec!["bm25".into()], ..Config::default() }
    }

    // BM25 retrieves only docs sharing a term with the query (bigrams for Japanese):
    //   q1 日本の首都 → [d1 (grade 2)]; d2 (grade 1) shares no bigram, so it is missed.
    //   q2 capital of Japan → [d5 (1)]; d1 (1, Japanese) is missed.
    //   q3 dogs sat → [d3 (0), d4 (1)]: one term each, equal idf; d3 is shorter (6 terms
    //      against 7), so it scores higher and the relevant d4 comes second.
    //   q4 has no judgment: skipped by every metric (3 queries evaluated).
    // With L = 1/log2(3) = 0.6309297535714575 (the discount of rank 2):
    //   nDCG@10 (linear gain, ideal from all grades): q1 2/(2+L) = 0.7601875334318685,
    //     q2 1/(1+L) = 0.6131471927654584, q3 L / 1 → mean 0.6680881599229282.
    //   nDCG@1: 1, 1, 0.  MAP@k divides by |R|: @1 1/2, 1/2, 0; @10 1/2, 1/2, 1/2.
    //   MRR@1: 1, 1, 0; MRR@10: 1, 1, 1/2.
    //   Recall: @1 1/2, 1/2, 0; @10 1/2, 1/2, 1.  P@1: 1, 1, 0; P@10: 1/10 each.
    //   Accuracy: @1 1, 1, 0; @10 1, 1, 1.
    pub const EXPECTED: [(&str, f64); 12] = [
        ("ndcg@1", 0.6666666666666666),
        ("ndcg@10", 0.6680881599229282),
        ("map@1", 0.3333333333333333),
        ("map@10", 0.5),
        ("mrr@1", 0.6666666666666666),
        ("mrr@10", 0.8333333333333334),
        ("recall@1", 0.3333333333333333),
        ("recall@10", 0.6666666666666666),
        ("precision@1", 0.6666666666666666),
        ("precision@10", 0.10000000000000002),
        ("accuracy@1", 0.6666666666666666),
        ("accuracy@10", 1.0),
    ];

    /// Each query's `top` as `per_query.jsonl` writes it: BM25 scores are f32 widened to f64,
    /// compared as text because serde_json's default float parser may be 1 ulp off on 17 digits.
    /// q2's and q3's scores are bm25s 0.3.16's (method "lucene", given the same tokens) to the
    /// bit; bm25s sums q1's four bigram terms to 2.7363505363464355, one float32 step lower.
    pub const EXPECTED_TOP: [(&str, &str); 3] = [
        ("q1", r#"[["d1",2.7363507747650146]]"#),
        ("q2", r#"[["d5",2.270266532897949]]"#),
        ("q3", r#"[["d3",0.756755530834198],["d4",0.7371786832809448]]"#),
    ];

    /// Checks a `results.json` text against [`EXPECTED`] bit for bit.
    pub fn check_results_json(json: &str) {
        let v: serde_json::Value = serde_json::from_str(json).expect("results.json parses");
        let model = &v["models"][0];
        assert_eq!(model["name"], "bm25");
        assert_eq!(model["num_queries"], 3);
        assert_eq!(v["dataset"]["num_queries"], 4);
        assert_eq!(v["dataset"]["num_evaluated_queries"], 3);
        let metrics = model["metrics"].as_object().expect("metrics object");
        let keys: Vec<&str> = metrics.keys().map(String::as_str).collect();
        assert_eq!(keys, EXPECTED.iter().map(|(k, _)| *k).collect::<Vec<_>>(), "metric keys in report order");
        for (key, want) in EXPECTED {
            let got = metrics[key].as_f64().expect("a number");
            assert_eq!(got.to_bits(), want.to_bits(), "{key}: got {got:?}, want {want:?}");
        }
    }

    /// Checks `per_query.jsonl` against [`EXPECTED_TOP`], byte for byte.
    pub fn check_per_query(jsonl: &str) {
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), EXPECTED_TOP.len(), "{jsonl}");
        for (line, (qid, top)) in lines.iter().zip(EXPECTED_TOP) {
            assert!(line.contains(&format!(r#""query_id":"{qid}""#)), "{line}");
            assert!(line.ends_with(&format!(r#""top":{top}}}"#)), "{qid}: want top {top} in {line}");
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use embeval::report::json::{Json, PerQueryJsonl};
    use embeval::report::Exporter;

    use super::tiny;

    fn run() -> embeval::Report {
        embeval::evaluate(&tiny::files(), &tiny::config(), &embeval::Quiet, &mut |_| Ok(())).expect("evaluates")
    }

    #[test]
    fn tiny_bm25_metrics_match_the_hand_computed_values() {
        let json = String::from_utf8(Json.serialize(&run())).unwrap();
        tiny::check_results_json(&json);
    }

    #[test]
    fn tiny_bm25_scores_match_the_values_wasm_asserts() {
        let jsonl = String::from_utf8(PerQueryJsonl.serialize(&run())).unwrap();
        tiny::check_per_query(&jsonl);
    }

    #[test]
    fn the_pages_config_json_is_the_cli_config() {
        let from_json: embeval::Config = serde_json::from_str(tiny::CONFIG_JSON).unwrap();
        assert_eq!(serde_json::to_value(&from_json).unwrap(), serde_json::to_value(tiny::config()).unwrap());
        let defaults: embeval::Config = serde_json::from_str("{}").unwrap();
        assert_eq!(serde_json::to_value(&defaults).unwrap(), serde_json::to_value(embeval::Config::default()).unwrap());
    }
}
