//! Real Japanese reranking runs (../shared/data/jqara): nDCG@10 must equal pytrec_eval's
//! (trec convention) and MRR@10 the value computed with ties by doc id ascending (the st
//! convention's rule), both as recorded in EXPECTED_METRICS.tsv to 4 decimals.

use std::path::PathBuf;

use embeval::{Config, Convention, Files};

fn jqara() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/jqara")
}

fn run_metric(run: &str, conv: Convention, key: &str) -> (f64, usize) {
    let mut files = Files::new("jqara");
    files.add_path("qrels", jqara().join("qrels.trec"));
    let name = format!("runs/{run}.trec.gz");
    files.add_path(name.clone(), jqara().join(&name));
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        convention: conv,
        k: vec![10],
        models: vec![format!("{run}=run:{name}")],
        ..Default::default()
    };
    let r = embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap();
    (r.models[0].metrics[key].as_f64().unwrap(), r.models[0].num_queries)
}

#[test]
fn three_runs_equal_expected_metrics_tsv() {
    let tsv = std::fs::read_to_string(jqara().join("EXPECTED_METRICS.tsv")).unwrap();
    let mut rows = 0;
    for line in tsv.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let (run, queries, ndcg, mrr) = (c[0], c[1].parse::<usize>().unwrap(), c[3], c[4]);
        let (v, n) = run_metric(run, Convention::Trec, "ndcg@10");
        assert_eq!(n, queries, "{run}: queries evaluated");
        assert_eq!(format!("{v:.4}"), ndcg, "{run}: nDCG@10 (pytrec_eval ndcg_cut.10)");
        let (v, _) = run_metric(run, Convention::St, "mrr@10");
        assert_eq!(format!("{v:.4}"), mrr, "{run}: MRR@10 (ties by doc id ascending)");
        rows += 1;
    }
    assert_eq!(rows, 3);
}
