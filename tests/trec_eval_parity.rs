//! Parity with trec_eval 10.0 on its own test files (../shared/data/trec-eval-test):
//! `trec_eval qrels.test results.test` → out.test (means) and `-m all_trec -q` → out.test.aq
//! (per query). Every value trec_eval prints for map, ndcg_cut_*, P_*, recall_*, recip_rank and
//! success_* must be reproduced to the 4 printed decimals.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    read_out_at(&data().join(name))
}

/// [`read_out`] of a file anywhere.
fn read_out_at(path: &Path) -> BTreeMap<(String, String), String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() == 3).then(|| ((c[0].to_string(), c[1].to_string()), c[2].to_string()))
        })
        .collect()
}

fn evaluate() -> embeval::Report {
    evaluate_with(data().join("qrels.test"), data().join("results.test"))
}

fn evaluate_with(qrels: PathBuf, run: PathBuf) -> embeval::Report {
    evaluate_as(qrels, run, embeval::RunScores::Float, vec![1, 5, 10, 15, 20, 30, 100, 200, 500, 1000])
}

fn evaluate_as(qrels: PathBuf, run: PathBuf, run_scores: embeval::RunScores, k: Vec<usize>) -> embeval::Report {
    let mut files = Files::new("trec-eval-test");
    files.add_path("qrels", qrels);
    files.add_path("results.test", run);
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        convention: Convention::Trec,
        run_scores,
        k,
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
    means_equal(&evaluate_with(path, data().join("results.test")));
}

/// Run lines as trec_eval 10 reads them (get_trec_results.c): a line whose first non-blank
/// character is `#` is a comment, and columns past the 6th are skipped. results.test so edited
/// gives out.test (checked with trec_eval 10.0-rc3 on the same file).
#[test]
fn run_comment_lines_and_extra_columns_equal_out_test() {
    let text = std::fs::read_to_string(data().join("results.test")).unwrap();
    let mut with = String::from("# a run with comments\n");
    for (i, line) in text.lines().enumerate() {
        match i % 50 {
            0 => with += &format!("  # comment before line {i}\n{line}\n"),
            1 => with += &format!("{line} extra columns\n"),
            _ => with += &format!("{line}\n"),
        }
    }
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("results.test.with-comments");
    std::fs::write(&path, with).unwrap();
    means_equal(&evaluate_with(data().join("qrels.test"), path));
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

/// A run whose scores are equal as C floats but not as doubles (6-decimal BM25 scores above 16;
/// tests/fixtures/run_scores/make_fixture.py): `--run-scores float` gives pytrec_eval 0.5.11's
/// values per query (to 1e-9), `--run-scores double` trec_eval 10.0-rc3's (`-q`, to its 4
/// printed decimals), and the two differ.
#[test]
fn run_scores_float_and_double_equal_their_references() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run_scores");
    let report = |p| evaluate_as(here.join("qrels"), here.join("run"), p, vec![1, 5, 10, 1000]);
    let per_query = |r: &embeval::Report| -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
        r.models[0].per_query.iter().map(|p| (p.query_id.clone(), p.metrics.clone())).collect()
    };
    let (float, double) = (report(embeval::RunScores::Float), report(embeval::RunScores::Double));

    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(here.join("pytrec_eval.json")).unwrap()).unwrap();
    let as_float = per_query(&float);
    let mut checked = 0;
    for (q, measures) in reference["per_query"].as_object().unwrap() {
        for (measure, want) in measures.as_object().unwrap() {
            let (stem, k) = ours_of(measure);
            let got = as_float[q][&format!("{stem}@{k}")].as_f64().unwrap();
            assert!((got - want.as_f64().unwrap()).abs() <= 1e-9, "float {measure} {q}: {got} vs pytrec_eval {want}");
            checked += 1;
        }
    }
    assert_eq!(checked, 30 * 10);

    let as_double = per_query(&double);
    let mut differ = 0;
    for ((measure, q), printed) in read_out_at(&here.join("trec_eval10.out")) {
        let Some((stem, k)) = ours(&measure) else { continue };
        let key = format!("{stem}@{k}");
        let v = if q == "all" { double.models[0].metrics[&key].as_f64() } else { as_double[&q][&key].as_f64() };
        let v = v.unwrap();
        assert!(matches(&printed, v), "double {measure} for {q}: trec_eval 10 {printed}, embeval {v}");
        differ += usize::from(q != "all" && as_float[&q][&key] != as_double[&q][&key]);
    }
    assert!(differ >= 10, "the fixture must tell floats from doubles ({differ} values differ)");
}

/// [`ours`] for a measure pytrec_eval names (it names them as trec_eval does).
fn ours_of(measure: &str) -> (String, usize) {
    ours(measure).unwrap_or_else(|| panic!("measure {measure}"))
}

/// `embeval eval` with `--out DIR`, then `extra`; stderr, and results.json when it succeeded.
fn cli(data: &str, out: &Path, extra: &[&str]) -> (String, Option<serde_json::Value>) {
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", data, "--quiet", "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let results =
        o.status.success().then(|| serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap());
    (String::from_utf8_lossy(&o.stderr).into_owned(), results)
}

/// `--save-runs` writes each model's ranking as a TREC run that, evaluated again as `--run`,
/// gives every metric of every query exactly as the model did (order, ties and score digits
/// kept), under both conventions; `run:` models get no copy; a label becomes a file name and
/// tag; an id a run cannot hold costs only that file, with a warning.
#[test]
fn saved_runs_evaluate_as_the_models_did() {
    let data = common::vaswani_beir();
    let tmp = tempfile::tempdir().unwrap();
    for conv in ["trec", "st"] {
        let out = tmp.path().join(conv);
        let models = ["--model", "bm25", "--model", "語/彙 bm25=bm25:k1=1.2,b=0.75", "--convention", conv];
        let (err, first) = cli(&data, &out, &[&models[..], &["--save-runs"]].concat());
        let first = first.unwrap_or_else(|| panic!("{err}"));
        let runs = out.join("runs");
        let mut names: Vec<String> =
            std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["bm25.trec", "語_彙_bm25.trec"]);
        assert_eq!(
            (&first["models"][0]["run_file"], &first["models"][1]["run_file"]),
            (&"bm25.trec".into(), &"語_彙_bm25.trec".into())
        );
        let text = std::fs::read_to_string(runs.join("語_彙_bm25.trec")).unwrap();
        let line: Vec<&str> = text.lines().next().unwrap().split(' ').collect();
        assert_eq!((line.len(), line[1], line[3], line[5]), (6, "Q0", "1", "語_彙_bm25"), "{line:?}");
        // 93 queries, 100 documents each (the deepest cut-off).
        assert_eq!(text.lines().count(), 9300);
        for (i, name) in names.iter().enumerate() {
            let again = tmp.path().join(format!("{conv}-again-{i}"));
            let run = runs.join(name);
            let (err, second) =
                cli(&data, &again, &["--run", run.to_str().unwrap(), "--convention", conv, "--save-runs"]);
            let second = second.unwrap_or_else(|| panic!("{err}"));
            let (a, b) = (&first["models"][i], &second["models"][0]);
            assert_eq!(a["metrics"], b["metrics"], "{conv} {name}");
            assert_eq!(a["num_queries"], b["num_queries"]);
            let per_query = |dir: &Path, model: usize| -> Vec<serde_json::Value> {
                let all = std::fs::read_to_string(dir.join("per_query.jsonl")).unwrap();
                let want = first["models"][model]["name"].as_str().unwrap().to_string();
                all.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                    .filter(|v| dir == again || v["model"] == want.as_str())
                    .map(|v| serde_json::json!([v["query_id"], v["metrics"], v["top"]]))
                    .collect()
            };
            assert_eq!(per_query(&out, i), per_query(&again, 0), "{conv} {name}");
            assert!(!again.join("runs").exists(), "a run: model is its own file");
        }
    }

    // A document id with a space: no run file for the model, a warning, the results written.
    let spaced = tmp.path().join("spaced");
    std::fs::create_dir_all(spaced.join("qrels")).unwrap();
    std::fs::write(
        spaced.join("corpus.jsonl"),
        "{\"_id\": \"d 1\", \"text\": \"東京の天気\"}\n{\"_id\": \"d2\", \"text\": \"大阪\"}\n",
    )
    .unwrap();
    std::fs::write(spaced.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"東京\"}\n").unwrap();
    std::fs::write(spaced.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td 1\t1\n").unwrap();
    let out = tmp.path().join("spaced-out");
    let (err, results) = cli(spaced.to_str().unwrap(), &out, &["--model", "bm25", "--save-runs"]);
    let results = results.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(results["models"][0]["metrics"]["ndcg@10"], 1.0);
    let said = "bm25: no run file: document id 'd 1' is empty or holds whitespace";
    assert!(results["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().starts_with(said)), "{results}");
    assert!(!out.join("runs/bm25.trec").exists());

    // Two labels that make one file name: the second model's file (and tag) gets `-2`, each
    // written when its model is done.
    let out = tmp.path().join("clash");
    let (err, results) = cli(&data, &out, &["--model", "x y=bm25", "--model", "x_y=bm25:k1=1.2,b=0.75", "--save-runs"]);
    let results = results.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(results["models"][1]["run_file"], "x_y-2.trec");
    let first =
        |f: &str| std::fs::read_to_string(out.join("runs").join(f)).unwrap().lines().next().unwrap().to_string();
    assert!(first("x_y.trec").ends_with(" x_y"), "{}", first("x_y.trec"));
    assert!(first("x_y-2.trec").ends_with(" x_y-2"), "{}", first("x_y-2.trec"));
}
