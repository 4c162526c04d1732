//! Parity with trec_eval 10.0 on its own test files (../shared/data/trec-eval-test):
//! `trec_eval qrels.test results.test` → out.test (means) and `-m all_trec -q` → out.test.aq
//! (per query). Every value trec_eval prints for map, ndcg_cut_*, P_*, recall_*, recip_rank and
//! success_* must be reproduced to the 4 printed decimals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use embeval::{Config, Convention, Files};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/trec-eval-test")
}

/// trec_eval's measure name → (our metric key stem, k).
fn ours(measure: &str) -> Option<(String, usize)> {
    let cut = |stem: &str, rest: &str| rest.parse::<usize>().ok().map(|k| (stem.to_string(), k));
    if measure == "map" {
        Some(("map".into(), 1000)) // all retrieved docs: every query has 500 ≤ 1000
    } else if measure == "recip_rank" {
        Some(("mrr".into(), 1000))
    } else if let Some(r) = measure.strip_prefix("ndcg_cut_") {
        cut("ndcg", r)
    } else if let Some(r) = measure.strip_prefix("map_cut_") {
        cut("map", r)
    } else if let Some(r) = measure.strip_prefix("P_") {
        cut("precision", r)
    } else if let Some(r) = measure.strip_prefix("recall_") {
        cut("recall", r)
    } else if let Some(r) = measure.strip_prefix("success_") {
        cut("accuracy", r)
    } else {
        None
    }
}

/// (measure, query or "all") → printed value.
fn read_out(name: &str) -> BTreeMap<(String, String), String> {
    std::fs::read_to_string(data().join(name))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() == 3).then(|| ((c[0].to_string(), c[1].to_string()), c[2].to_string()))
        })
        .collect()
}

fn evaluate() -> embeval::Report {
    evaluate_with(data().join("qrels.test"))
}

fn evaluate_with(qrels: PathBuf) -> embeval::Report {
    let mut files = Files::new("trec-eval-test");
    files.add_path("qrels", qrels);
    files.add_path("results.test", data().join("results.test"));
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        convention: Convention::Trec,
        k: vec![1, 5, 10, 15, 20, 30, 100, 200, 500, 1000],
        models: vec!["run:results.test".into()],
        top: 1000,
        ..Default::default()
    };
    embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap()
}

fn matches(printed: &str, value: f64) -> bool {
    format!("{value:.4}") == printed || (printed.parse::<f64>().unwrap() - value).abs() <= 0.00005 + 1e-12
}

#[test]
fn means_equal_out_test() {
    means_equal(&evaluate());
}

/// trec_eval's own check of comment lines (its Makefile: `trec_eval
/// test/qrels.test.with-comments test/results.test | diff - test/out.test`): qrels.test with the
/// comment lines that file adds (one first, one between judgments, one before a line whose
/// non-relevant docno holds a `#`) gives out.test.
#[test]
fn qrels_with_comment_lines_equal_out_test() {
    let text = std::fs::read_to_string(data().join("qrels.test")).unwrap();
    let mut with = String::from("# comment here\n");
    for (i, line) in text.lines().enumerate() {
        if i == 2 {
            with += "# and comment here\n";
        }
        if line == "301 0 CR93E-1860 0" {
            with += "# comment in docno\n301 0 CR#93E-1860 0\n";
            continue;
        }
        with += line;
        with += "\n";
    }
    assert!(with.contains("CR#93E-1860") && with.matches("\n#").count() == 2);
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("qrels.test.with-comments");
    std::fs::write(&path, with).unwrap();
    means_equal(&evaluate_with(path));
}

fn means_equal(report: &embeval::Report) {
    let m = &report.models[0];
    assert_eq!(m.num_queries, 3, "trec_eval's num_q");
    let mut checked = 0;
    for ((measure, q), printed) in read_out("out.test") {
        let Some((stem, k)) = ours(&measure) else { continue };
        assert_eq!(q, "all");
        let v = m.metrics[&format!("{stem}@{k}")].as_f64().unwrap();
        assert!(matches(&printed, v), "{measure}: trec_eval {printed}, embeval {v}");
        checked += 1;
    }
    assert_eq!(checked, 11, "map, recip_rank and nine P_k");
}

#[test]
fn per_query_values_equal_out_test_aq() {
    let report = evaluate();
    let m = &report.models[0];
    let per_query: BTreeMap<&str, &serde_json::Map<String, serde_json::Value>> =
        m.per_query.iter().map(|p| (p.query_id.as_str(), &p.metrics)).collect();
    let mut checked = 0;
    for ((measure, q), printed) in read_out("out.test.aq") {
        let Some((stem, k)) = ours(&measure) else { continue };
        let key = format!("{stem}@{k}");
        let v = if q == "all" {
            m.metrics[&key].as_f64()
        } else {
            per_query[q.as_str()].get(&key).and_then(|v| v.as_f64())
        };
        let Some(v) = v else { continue }; // cut-offs we did not ask for
        assert!(matches(&printed, v), "{measure} for {q}: trec_eval {printed}, embeval {v}");
        checked += 1;
    }
    eprintln!("{checked} trec_eval values reproduced");
    assert!(checked >= 150, "only {checked} values compared");
}
