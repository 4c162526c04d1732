//! Paired significance (src/report/significance.rs) against independent references:
//! tests/fixtures/significance/expected.json, made by make_fixture.py beside it from per-query
//! nDCG@10 of the real JQaRA runs (pytrec_eval): exact sign-flip p-values by brute force and
//! scipy (must equal ours to 1e-12), Monte-Carlo p-values and percentile-bootstrap intervals
//! from scipy (ours must fall within the Monte-Carlo tolerances derived in that script).
//! Then the block in results.json from real evaluations.

use std::path::PathBuf;

use embeval::report::significance::{self, Comparison};
use embeval::report::{json::Json, markdown::Markdown, Exporter};
use embeval::{Config, Files, Report};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> Value {
    let path = root().join("tests/fixtures/significance/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (x, y) per-query values of a fixture case, in its query order.
fn case_values(fx: &Value, case: &Value) -> (Vec<f64>, Vec<f64>) {
    let run = |name: &Value| fx["ndcg_cut_10"][name.as_str().unwrap()].as_object().unwrap();
    let (x, y) = (run(&case["x"]), run(&case["y"]));
    let ids: Vec<&String> = match &case["query_ids"] {
        Value::Array(ids) => ids.iter().map(|q| x.keys().find(|k| *k == q.as_str().unwrap()).unwrap()).collect(),
        _ => {
            let mut all: Vec<&String> = x.keys().filter(|q| y.contains_key(*q)).collect();
            all.sort();
            all
        }
    };
    ids.iter().map(|q| (x[*q].as_f64().unwrap(), y[*q].as_f64().unwrap())).unzip()
}

fn check_against_case(name: &str, c: &Comparison, case: &Value) {
    let f = |k: &str| case[k].as_f64().unwrap();
    let u = |k: &str| case[k].as_u64().unwrap() as usize;
    assert_eq!(c.queries, u("n"), "{name}");
    assert!((c.delta - f("delta")).abs() < 1e-12, "{name}: delta {} vs {}", c.delta, f("delta"));
    assert_eq!((c.wins, c.losses, c.ties), (u("wins"), u("losses"), u("ties")), "{name}");
    if let Some(exact) = case["exact_p"].as_f64() {
        assert!(c.p_exact, "{name}");
        assert!((c.p_value - exact).abs() < 1e-12, "{name}: exact p {} vs brute force {exact}", c.p_value);
    } else {
        assert!(!c.p_exact, "{name}");
        let (p, tol) = (f("p"), f("p_tolerance"));
        assert!((c.p_value - p).abs() <= tol, "{name}: p {} vs scipy {p} ± {tol}", c.p_value);
    }
    let bounds = case["ci95_bounds"].as_array().unwrap();
    for (end, b) in c.ci95.iter().zip(bounds) {
        let (lo, hi) = (b[0].as_f64().unwrap(), b[1].as_f64().unwrap());
        assert!(lo <= *end && *end <= hi, "{name}: CI {:?}, endpoint {end} outside scipy's [{lo}, {hi}]", c.ci95);
    }
}

#[test]
fn fixture_cases_match_brute_force_and_scipy() {
    let fx = fixture();
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (x, y) = case_values(&fx, case);
        let c = significance::compare(&x, &y).unwrap();
        check_against_case(name, &c, case);
    }
}

fn jqara() -> PathBuf {
    root().join("../shared/data/jqara")
}

fn evaluate_runs(runs: &[&str]) -> Report {
    let mut files = Files::new("jqara");
    files.add_path("qrels", jqara().join("qrels.trec"));
    for run in runs {
        let name = format!("runs/{run}.trec.gz");
        files.add_path(name.clone(), jqara().join(&name));
    }
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        k: vec![10],
        models: runs.iter().map(|r| format!("{r}=run:runs/{r}.trec.gz")).collect(),
        ..Default::default()
    };
    embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap()
}

fn results_json(r: &Report) -> Value {
    serde_json::from_slice(&Json.serialize(r)).unwrap()
}

/// The whole pipeline on the three JQaRA runs: per-query nDCG@10 equals pytrec_eval's, the
/// reference is ruri-small (the best), and both comparisons match the fixture's references.
#[test]
fn jqara_runs_results_json_matches_fixture() {
    let fx = fixture();
    let report = evaluate_runs(&["bm25", "multilingual-e5-small", "ruri-small"]);
    for m in &report.models {
        let expected = fx["ndcg_cut_10"][&m.name].as_object().unwrap();
        assert_eq!(m.per_query.len(), expected.len(), "{}", m.name);
        for q in &m.per_query {
            let (ours, theirs) = (q.metrics["ndcg@10"].as_f64().unwrap(), expected[&q.query_id].as_f64().unwrap());
            assert!((ours - theirs).abs() < 1e-12, "{} {}: {ours} vs pytrec_eval {theirs}", m.name, q.query_id);
        }
    }
    let sig = report.significance.as_ref().unwrap();
    assert_eq!((sig.metric.as_str(), sig.reference.as_str()), ("ndcg@10", "ruri-small"));
    let case = |name: &str| fx["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let e5 = &sig.comparisons[0];
    assert_eq!(e5.model, "multilingual-e5-small");
    check_against_case("e5 vs ruri in results.json", e5, &case("mc_all_e5_vs_ruri"));
    // bm25 vs e5 from the pipeline's own per-query values.
    let per = |name: &str| report.models.iter().find(|m| m.name == name).unwrap();
    let (bm25, e5m) = (per("bm25"), per("multilingual-e5-small"));
    assert!(bm25.per_query.iter().zip(&e5m.per_query).all(|(a, b)| a.query_id == b.query_id));
    let vals = |m: &embeval::ModelReport| -> Vec<f64> {
        m.per_query.iter().map(|q| q.metrics["ndcg@10"].as_f64().unwrap()).collect()
    };
    let c = significance::compare(&vals(bm25), &vals(e5m)).unwrap();
    check_against_case("bm25 vs e5 from per_query", &c, &case("mc_all_bm25_vs_e5"));

    let json = results_json(&report);
    let block = &json["significance"];
    assert_eq!(block["reference"], "ruri-small");
    assert_eq!(block["method"]["bootstrap_resamples"], 10_000);
    assert_eq!(block["method"]["permutations"], 10_000);
    assert_eq!(block["comparisons"].as_array().unwrap().len(), 2);
}

fn xquad() -> Files {
    embeval::data::Files::from_dir(&root().join("../shared/data/xquad-en")).unwrap()
}

/// Three BM25 settings on xquad-en: the block in results.json agrees with the models' own
/// means, intervals contain their estimate, and the Markdown shows it.
#[test]
fn bm25_variants_significance_block_is_consistent() {
    let config = Config {
        models: vec!["bm25".into(), "tuned=bm25:k1=1.2,b=0.75".into(), "loose=bm25:k1=2.0,b=1.0".into()],
        ..Default::default()
    };
    let report = embeval::evaluate(&xquad(), &config, &embeval::Quiet, &mut |_| Ok(())).unwrap();
    let json = results_json(&report);
    let block = &json["significance"];
    let key = block["metric"].as_str().unwrap();
    assert_eq!(key, "ndcg@10");
    let models = json["models"].as_array().unwrap();
    let mean_of = |name: &str| models.iter().find(|m| m["name"] == name).unwrap()["metrics"][key].as_f64().unwrap();
    let reference = block["reference"].as_str().unwrap();
    let best = models.iter().map(|m| m["metrics"][key].as_f64().unwrap()).fold(f64::MIN, f64::max);
    assert_eq!(mean_of(reference), best);
    let comps = block["comparisons"].as_array().unwrap();
    assert_eq!(comps.len(), 2);
    let names: Vec<&str> = report.ranked_models()[1..].iter().map(|m| m.name.as_str()).collect();
    assert_eq!(comps.iter().map(|c| c["model"].as_str().unwrap()).collect::<Vec<_>>(), names);
    for c in comps {
        let f = |k: &str| c[k].as_f64().unwrap();
        let n = c["queries"].as_u64().unwrap();
        assert_eq!(n, 1190);
        assert!((f("mean") - mean_of(c["model"].as_str().unwrap())).abs() < 1e-12);
        assert!((f("reference_mean") - best).abs() < 1e-12);
        assert!((f("delta") - (f("mean") - f("reference_mean"))).abs() < 1e-12, "{c}");
        assert!(f("delta") <= 0.0, "the reference is the best");
        let ci = [c["ci95"][0].as_f64().unwrap(), c["ci95"][1].as_f64().unwrap()];
        assert!(ci[0] <= f("delta") && f("delta") <= ci[1], "{c}");
        assert!(f("p_value") > 0.0 && f("p_value") <= 1.0);
        let [w, l, t] = ["wins", "losses", "ties"].map(|k| c[k].as_u64().unwrap());
        assert_eq!(w + l + t, n);
    }
    // Computed afresh, the block is the same: updating it after each model changed nothing.
    let fresh = significance::compute(&report, None).unwrap();
    assert_eq!(fresh.comparisons, report.significance.as_ref().unwrap().comparisons);

    let md = String::from_utf8(Markdown.serialize(&report)).unwrap();
    assert!(md.contains(&format!("vs {reference} on ndcg@10")), "{md}");
    assert!(md.contains("| model | ndcg@10 | Δ | 95% CI | p | wins / losses / ties | queries |"), "{md}");

    // One model: no block, in results.json or the table.
    let one = Config { models: vec!["bm25".into()], ..Default::default() };
    let report = embeval::evaluate(&xquad(), &one, &embeval::Quiet, &mut |_| Ok(())).unwrap();
    assert!(results_json(&report).get("significance").is_none());
    assert!(!String::from_utf8(Markdown.serialize(&report)).unwrap().contains("95% CI"));
}
