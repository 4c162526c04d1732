//! Parity with the reference implementations themselves, on the real JQaRA runs
//! (../shared/data/jqara) and on a bm25 run with scores rounded to one decimal (ties
//! everywhere; tests/fixtures/st_convention/bm25_rounded.trec.gz):
//! - `st`: sentence-transformers 6.2.0 `InformationRetrievalEvaluator` (fixture made by
//!   tests/fixtures/st_convention/make_fixture.py), including its own `cosine_*@k` key names;
//! - `trec`: pytrec_eval 0.5.11 (tests/fixtures/trec_convention/make_fixture.py), means for
//!   every run and per-query values for the tied run.
//!
//! Tolerance 1e-12: the references average with numpy's pairwise sum, embeval sequentially.
//!
//! And `--model bm25`'s rankings and scores against bm25s 0.3.16 (method "lucene", the formula
//! embeval states; tests/fixtures/bm25/make_fixture.py) on Japanese (jsquad-valid) and English
//! (vaswani-npl) documents.

use std::path::PathBuf;

use embeval::{Config, Convention, Files, Report};
use serde_json::Value;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures").join(path)).unwrap()).unwrap()
}

fn evaluate(run: &str, conv: Convention) -> Report {
    evaluate_with(run, &root().join("../shared/data/jqara/qrels.trec"), conv)
}

/// The text of a gzipped run or qrels file.
fn gunzip(path: &std::path::Path) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()), &mut text)
        .unwrap();
    text
}

/// The lines of `text` whose first column (a query id) `keep` keeps.
fn lines_of(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.lines().filter(|l| l.split_whitespace().next().is_some_and(&keep)).map(|l| format!("{l}\n")).collect()
}

/// [`evaluate`] with the judgments in `qrels`. Runs made by st_convention/make_fixture.py:
/// `bm25_rounded` (its file; judged by the judgments of its 200 queries, the queries ST was
/// given) and `bm25_missing` (bm25 without every 10th query id, sorted, from the first).
fn evaluate_with(run: &str, qrels: &std::path::Path, conv: Convention) -> Report {
    let jqara = root().join("../shared/data/jqara");
    let mut files = Files::new("jqara");
    files.add_path("qrels", qrels);
    match run {
        "bm25_rounded" => {
            let path = root().join("tests/fixtures/st_convention/bm25_rounded.trec.gz");
            let text = gunzip(&path);
            let qids: std::collections::HashSet<&str> =
                text.lines().filter_map(|l| l.split_whitespace().next()).collect();
            let judged = lines_of(&std::fs::read_to_string(qrels).unwrap(), |q| qids.contains(q));
            files.add_bytes("qrels", "jqara/qrels (the rounded run's queries)", judged.into_bytes());
            files.add_path("run.gz", path);
        }
        "bm25_missing" => {
            let text = gunzip(&jqara.join("runs/bm25.trec.gz"));
            let ids: std::collections::BTreeSet<&str> =
                text.lines().filter_map(|l| l.split_whitespace().next()).collect();
            let missing: std::collections::HashSet<&str> = ids.into_iter().step_by(10).collect();
            files.add_bytes(
                "run",
                "jqara/bm25 (every 10th query left out)",
                lines_of(&text, |q| !missing.contains(q)).into_bytes(),
            );
        }
        _ => _ = files.add_path("run.gz", jqara.join(format!("runs/{run}.trec.gz"))),
    }
    let name = if files.has("run") { "run" } else { "run.gz" };
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        convention: conv,
        k: vec![1, 3, 5, 10, 100],
        models: vec![format!("{run}=run:{name}")],
        ..Default::default()
    };
    embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12
}

/// Every run of st_convention/expected.json, among them `bm25_missing`, whose missing queries
/// ST scores 0 (an empty result list): the same queries counted, the same means.
#[test]
fn st_convention_equals_sentence_transformers() {
    let expected = fixture("st_convention/expected.json");
    assert_eq!(expected["runs"]["bm25_missing"]["missing_every"], 10);
    for (run, want) in expected["runs"].as_object().unwrap() {
        let report = evaluate(run, Convention::St);
        let m = &report.models[0];
        assert_eq!(m.num_queries as u64, want["num_queries"].as_u64().unwrap(), "{run}: queries");
        let zeroed = if run == "bm25_missing" { 167 } else { 0 };
        assert_eq!((m.queries_missing_scored_zero, m.queries_missing_from_run), (zeroed, 0), "{run}");
        for (key, v) in want["normalized"].as_object().unwrap() {
            let got = m.metrics[key].as_f64().unwrap();
            assert!(close(got, v.as_f64().unwrap()), "{run} {key}: embeval {got}, sentence-transformers {v}");
        }
        // ST's own names, as its evaluator returns them.
        let st = m.st_metrics.as_ref().expect("st_metrics under the st convention");
        let st_call = want["st_call"].as_object().unwrap();
        assert_eq!(st.len(), st_call.len(), "{run}: same set of ST keys");
        for (key, v) in st_call {
            let got = st.get(key).unwrap_or_else(|| panic!("{run}: missing ST key {key}")).as_f64().unwrap();
            assert!(close(got, v.as_f64().unwrap()), "{run} {key}: embeval {got}, sentence-transformers {v}");
        }
        // Per-query values ST computed for the first queries.
        let per_query: std::collections::HashMap<&str, &serde_json::Map<String, Value>> =
            m.per_query.iter().map(|p| (p.query_id.as_str(), &p.metrics)).collect();
        let mut compared = 0;
        for (key, vals) in want["per_query"].as_object().unwrap() {
            for (qid, v) in vals.as_object().unwrap() {
                let got = per_query[qid.as_str()][key].as_f64().unwrap();
                assert!(close(got, v.as_f64().unwrap()), "{run} {qid} {key}: embeval {got}, ST {v}");
                compared += 1;
            }
        }
        assert_eq!(compared, 40, "{run}: ndcg@10 and map@100 for 20 queries");
    }
}

/// pytrec_eval measure → our key.
fn key(measure: &str) -> String {
    let (stem, k) = measure.rsplit_once('_').unwrap_or((measure, ""));
    match stem {
        "P" => format!("precision@{k}"),
        "recall" => format!("recall@{k}"),
        "map_cut" => format!("map@{k}"),
        "ndcg_cut" => format!("ndcg@{k}"),
        "recip" => "mrr@100".into(), // recip_rank: no cut-off; every run lists 100 docs
        other => panic!("unexpected measure {other}"),
    }
}

#[test]
fn trec_convention_equals_pytrec_eval() {
    let expected = fixture("trec_convention/expected_jqara.json");
    let mut compared = 0;
    let tmp = tempfile::tempdir().unwrap();
    for (run, want) in expected["runs"].as_object().unwrap() {
        let report = match want["zeroed_every"].as_u64() {
            // Every n-th query's judgments graded 0: judged, nothing relevant, each 0 in every mean.
            Some(n) => {
                let qrels = tmp.path().join("zeroed.trec");
                std::fs::write(&qrels, zeroed_qrels(n as usize)).unwrap();
                evaluate_with(want["run"].as_str().unwrap(), &qrels, Convention::Trec)
            }
            None => evaluate(run, Convention::Trec),
        };
        let m = &report.models[0];
        assert_eq!(m.num_queries as u64, want["num_queries"].as_u64().unwrap(), "{run}: queries");
        for (measure, v) in want["mean"].as_object().unwrap() {
            let got = m.metrics[&key(measure)].as_f64().unwrap();
            assert!(close(got, v.as_f64().unwrap()), "{run} {measure}: embeval {got}, pytrec_eval {v}");
            compared += 1;
        }
        let per_query: std::collections::HashMap<&str, &serde_json::Map<String, Value>> =
            m.per_query.iter().map(|p| (p.query_id.as_str(), &p.metrics)).collect();
        for (qid, vals) in want["per_query"].as_object().into_iter().flatten() {
            for (measure, v) in vals.as_object().unwrap() {
                let got = per_query[qid.as_str()][&key(measure)].as_f64().unwrap();
                assert!(close(got, v.as_f64().unwrap()), "{run} {qid} {measure}: embeval {got}, pytrec_eval {v}");
                compared += 1;
            }
        }
    }
    assert!(compared > 4000, "only {compared} values compared");
}

/// JQaRA's judgments with every grade of every `n`-th query (in sorted-id order, from the
/// first) set to 0, as make_fixture.py's `bm25_zeroed`.
fn zeroed_qrels(n: usize) -> String {
    let text = std::fs::read_to_string(root().join("../shared/data/jqara/qrels.trec")).unwrap();
    let ids: std::collections::BTreeSet<&str> = text.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let zeroed: std::collections::HashSet<&str> = ids.into_iter().step_by(n).collect();
    let mut out = String::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split_whitespace().collect();
        let grade = if zeroed.contains(c[0]) { "0" } else { c[3] };
        out += &format!("{} {} {} {grade}\n", c[0], c[1], c[2]);
    }
    out
}

/// BM25's tokenizer's terms equal make_fixture.py's implementation of the documented tokenizer
/// (width folding through Python's unicodedata NFKC/NFC) on texts with half-width katakana and
/// its voiced marks, full-width ASCII and mixed scripts.
#[test]
fn bm25_terms_equal_the_reference_tokenizer() {
    let expected = fixture("bm25/expected.json");
    let examples = expected["tokens"].as_array().unwrap();
    assert!(examples.len() >= 8);
    for example in examples {
        let (text, want): (String, Vec<String>) = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(embeval::embed::bm25::tokenize(&text), want, "{text}");
    }
}

/// BM25's top 10 per query equal bm25s's (method "lucene", k1 0.9, b 0.4, fed the tokens of
/// embeval's documented tokenizer): the same scores within float32 rounding (both sum float32
/// terms, in different orders), the same documents in the same order except among documents
/// whose scores tie within that rounding.
#[test]
fn bm25_equals_bm25s_lucene() {
    let expected = fixture("bm25/expected.json");
    let dirs = [
        ("jsquad-valid", root().join("../shared/data/jsquad-valid").display().to_string()),
        ("vaswani-npl", common::vaswani_beir()),
    ];
    let mut compared = 0;
    for (name, dir) in dirs {
        let want = &expected["datasets"][name];
        let files = Files::from_dir(std::path::Path::new(&dir)).unwrap();
        let config = Config { models: vec!["bm25".into()], k: vec![10], top: 10, ..Default::default() };
        let report = embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap();
        assert_eq!(report.dataset.num_docs as u64, want["num_docs"].as_u64().unwrap(), "{name}: documents");
        let ours: std::collections::HashMap<&str, &Vec<(String, f64)>> =
            report.models[0].per_query.iter().map(|q| (q.query_id.as_str(), &q.top)).collect();
        for (qid, top) in want["queries"].as_object().unwrap() {
            let want: Vec<(String, f64)> = serde_json::from_value(top.clone()).unwrap();
            let got = ours.get(qid.as_str()).unwrap_or_else(|| panic!("{name} {qid}: not ranked"));
            // Measured: at most 2.9e-7 relative (two float32 roundings).
            let tol = |s: f64| 1e-6 * s.abs().max(1.0);
            assert_eq!(got.len(), want.len(), "{name} {qid}: embeval {got:?}\nbm25s {want:?}");
            for (i, ((gd, gs), (wd, ws))) in got.iter().zip(&want).enumerate() {
                assert!((gs - ws).abs() <= tol(*ws), "{name} {qid} rank {}: embeval {gs}, bm25s {ws}", i + 1);
                if gd != wd {
                    // Only a tie may reorder: the document bm25s scored within rounding of this
                    // score, at another rank or just past its top 10.
                    let tied = match want.iter().find(|(d, _)| d == gd) {
                        Some((_, s)) => (s - gs).abs() <= tol(*s),
                        None => (want[want.len() - 1].1 - gs).abs() <= tol(*gs),
                    };
                    assert!(tied, "{name} {qid} rank {}: embeval {gd} ({gs}), bm25s {wd} ({ws})", i + 1);
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 5000, "only {compared} ranks compared");
}
