//! `emb:` models on hand-written vectors whose right ranking is known, so every metric can be
//! computed by hand: `.npy` files written byte by byte, a safetensors file written with the
//! `safetensors` crate, id files, float64, cosine versus dot.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use embeval::{Config, Convention, Files, ModelReport, Quiet, Report, ScoreFn};
use serde_json::Value;

fn npy_raw(descr: &str, shape: (usize, usize), data: &[u8]) -> Vec<u8> {
    common::npy(descr, &format!("({}, {})", shape.0, shape.1), data)
}

fn npy_f32(rows: &[&[f32]]) -> Vec<u8> {
    let data: Vec<u8> = rows.iter().flat_map(|r| r.iter()).flat_map(|x| x.to_le_bytes()).collect();
    npy_raw("<f4", (rows.len(), rows[0].len()), &data)
}

fn npy_f64(rows: &[&[f64]]) -> Vec<u8> {
    let data: Vec<u8> = rows.iter().flat_map(|r| r.iter()).flat_map(|x| x.to_le_bytes()).collect();
    npy_raw("<f8", (rows.len(), rows[0].len()), &data)
}

/// A BEIR dataset in memory. Docs d1..d4, queries q1..q3.
fn dataset(qrels: &str) -> Files {
    let corpus = (1..=4).map(|i| format!("{{\"_id\": \"d{i}\", \"text\": \"doc {i}\"}}\n")).collect::<String>();
    let queries = (1..=3).map(|i| format!("{{\"_id\": \"q{i}\", \"text\": \"query {i}\"}}\n")).collect::<String>();
    let mut f = Files::new("mem");
    f.add_bytes("corpus.jsonl", "mem/corpus.jsonl", corpus.into_bytes())
        .add_bytes("queries.jsonl", "mem/queries.jsonl", queries.into_bytes())
        .add_bytes("qrels/test.tsv", "mem/qrels/test.tsv", qrels.as_bytes().to_vec());
    f
}

fn evaluate(files: &Files, model: &str, convention: Convention, score: ScoreFn) -> (Report, ModelReport) {
    let config = Config { models: vec![model.to_string()], convention, score_function: score, ..Config::default() };
    let report = embeval::evaluate(files, &config, &Quiet, &mut |_| Ok(())).unwrap_or_else(|e| panic!("{e}"));
    let m = report.models[0].clone();
    (report, m)
}

fn metric(m: &embeval::report::ModelReport, key: &str) -> f64 {
    m.metrics[key].as_f64().unwrap_or_else(|| panic!("no {key}"))
}

fn per_query(m: &ModelReport, q: &str, key: &str) -> f64 {
    m.per_query.iter().find(|p| p.query_id == q).unwrap().metrics[key].as_f64().unwrap()
}

fn top_ids(m: &ModelReport, q: &str) -> Vec<String> {
    m.per_query.iter().find(|p| p.query_id == q).unwrap().top.iter().map(|(d, _)| d.clone()).collect()
}

const E: [[f32; 4]; 4] = [[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 0.], [0., 0., 0., 1.]];

#[test]
fn perfect_retrieval_scores_one() {
    // Query i is doc i's own one-hot vector; each query's one relevant doc is doc i.
    let mut files = dataset("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n");
    files.add_bytes("q.npy", "q.npy", npy_f32(&[&E[0], &E[1], &E[2]]));
    files.add_bytes("d.npy", "d.npy", npy_f32(&[&E[0], &E[1], &E[2], &E[3]]));
    for conv in [Convention::Trec, Convention::St] {
        for score in [ScoreFn::Cosine, ScoreFn::Dot] {
            let (_, m) = evaluate(&files, "emb:q.npy,d.npy", conv, score);
            assert_eq!(m.num_queries, 3);
            for k in [1, 3, 5, 10, 100] {
                for name in ["ndcg", "map", "mrr", "recall", "accuracy"] {
                    assert_eq!(metric(&m, &format!("{name}@{k}")), 1.0, "{name}@{k} {conv:?} {score:?}");
                }
                // One relevant doc in the top k: P@k = 1/k per query (both trec_eval and ST
                // divide by k), averaged over the three queries in f64 as the report does.
                let p = 1.0 / k as f64;
                assert_eq!(metric(&m, &format!("precision@{k}")), (p + p + p) / 3.0, "P@{k}");
                assert_eq!(per_query(&m, "q2", &format!("precision@{k}")), p);
            }
            for q in ["q1", "q2", "q3"] {
                assert_eq!(top_ids(&m, q)[0], format!("d{}", &q[1..]));
            }
        }
    }
}

/// q1 perfect; q2 has its doc second (a swap); q3 has two graded docs in the wrong order.
fn swap_files() -> Files {
    let mut files = dataset("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\nq3\td4\t1\n");
    // q2 · d3 = 0.8 > q2 · d2 = 0.6; q3 · d4 = 0.8 > q3 · d3 = 0.6. All vectors unit length.
    files.add_bytes("q.npy", "q.npy", npy_f32(&[&E[0], &[0., 0.6, 0.8, 0.], &[0., 0., 0.6, 0.8]]));
    files.add_bytes("d.npy", "d.npy", npy_f32(&[&E[0], &E[1], &E[2], &E[3]]));
    files
}

#[test]
fn known_swap_gives_hand_computed_metrics() {
    let files = swap_files();
    let l3 = 3f64.log2();
    let (report, m) = evaluate(&files, "emb:q.npy,d.npy", Convention::Trec, ScoreFn::Cosine);
    assert_eq!(report.dataset.num_evaluated_queries, 3);
    assert_eq!(top_ids(&m, "q2")[..2], ["d3", "d2"]);
    assert_eq!(top_ids(&m, "q3")[..2], ["d4", "d3"]);

    // q1: perfect.
    assert_eq!(per_query(&m, "q1", "ndcg@10"), 1.0);
    // q2: its relevant doc at rank 2 → DCG = 1/log2(3), IDCG = 1.
    assert_eq!(per_query(&m, "q2", "ndcg@10"), 1.0 / l3);
    assert_eq!(per_query(&m, "q2", "mrr@10"), 0.5);
    assert_eq!(per_query(&m, "q2", "map@100"), 0.5);
    assert_eq!(per_query(&m, "q2", "recall@1"), 0.0);
    assert_eq!(per_query(&m, "q2", "recall@3"), 1.0);
    assert_eq!(per_query(&m, "q2", "accuracy@1"), 0.0);
    assert_eq!(per_query(&m, "q2", "precision@3"), 1.0 / 3.0);
    // q3 (trec, graded): ranking d4 (1), d3 (2) → DCG = 1/1 + 2/log2(3); ideal d3, d4 → 2/1 + 1/log2(3).
    let q3_ndcg = (1.0 + 2.0 / l3) / (2.0 + 1.0 / l3);
    assert!((per_query(&m, "q3", "ndcg@10") - q3_ndcg).abs() < 1e-15, "{}", per_query(&m, "q3", "ndcg@10"));
    assert_eq!(per_query(&m, "q3", "mrr@10"), 1.0);
    // AP = (1/1 + 2/2) / 2 = 1: both relevant docs fill ranks 1-2.
    assert_eq!(per_query(&m, "q3", "map@100"), 1.0);
    assert_eq!(per_query(&m, "q3", "recall@1"), 0.5);
    // nDCG@1 (trec): DCG@1 = 1, IDCG@1 = 2.
    assert_eq!(per_query(&m, "q3", "ndcg@1"), 0.5);

    // Means over the three queries.
    let mean = (1.0 + 1.0 / l3 + q3_ndcg) / 3.0;
    assert!((metric(&m, "ndcg@10") - mean).abs() < 1e-15);
    assert_eq!(metric(&m, "mrr@10"), (1.0 + 0.5 + 1.0) / 3.0);
    assert_eq!(metric(&m, "recall@1"), (1.0 + 0.0 + 0.5) / 3.0);
    assert_eq!(metric(&m, "accuracy@1"), 2.0 / 3.0);

    // st convention: binary gains, so q3's order no longer matters.
    let (report, m) = evaluate(&files, "emb:q.npy,d.npy", Convention::St, ScoreFn::Cosine);
    assert_eq!(per_query(&m, "q3", "ndcg@10"), 1.0);
    assert_eq!(per_query(&m, "q2", "ndcg@10"), 1.0 / l3);
    let st = m.st_metrics.as_ref().expect("st metric names");
    assert!((st["cosine_ndcg@10"].as_f64().unwrap() - (2.0 + 1.0 / l3) / 3.0).abs() < 1e-15);
    assert_eq!(report.convention, Convention::St);
}

#[test]
fn id_files_reorder_rows_and_f64_is_accepted() {
    // Same vectors as `swap_files`, rows in another order, named by id files; docs as float64.
    let mut files = swap_files();
    files.add_bytes("q2.npy", "q2.npy", npy_f32(&[&[0., 0., 0.6, 0.8], &E[0], &[0., 0.6, 0.8, 0.]]));
    files.add_bytes("qids.txt", "qids.txt", b"q3\nq1\nq2\n".to_vec());
    let e64: Vec<[f64; 4]> = [3, 1, 0, 2].iter().map(|&i| E[i].map(f64::from)).collect();
    files.add_bytes("d2.npy", "d2.npy", npy_f64(&[&e64[0], &e64[1], &e64[2], &e64[3]]));
    files.add_bytes("dids.txt", "dids.txt", b"d4\r\nd2\r\nd1\r\nd3\r\n".to_vec());
    let (_, a) = evaluate(&files, "emb:q.npy,d.npy", Convention::Trec, ScoreFn::Cosine);
    let (_, b) = evaluate(&files, "emb:q2.npy,d2.npy,qids.txt,dids.txt", Convention::Trec, ScoreFn::Cosine);
    assert_eq!(a.metrics, b.metrics);
    for q in ["q1", "q2", "q3"] {
        assert_eq!(top_ids(&a, q), top_ids(&b, q));
    }
    assert_eq!(b.name, "emb:d2");
}

/// Id files that cover part of the dataset, or more, say so: an evaluated query without a
/// vector is not searched, a corpus document without one is never ranked (a smaller corpus),
/// vectors of ids the corpus lacks are ranked all the same, all-zero vectors score 0.
#[test]
fn id_files_that_leave_out_or_add_are_named() {
    let mut files = swap_files();
    files.add_bytes("q2.npy", "q2.npy", npy_f32(&[&E[0], &[0., 0.6, 0.8, 0.]]));
    files.add_bytes("qids.txt", "qids.txt", b"q1\nq2\n".to_vec());
    files.add_bytes("d2.npy", "d2.npy", npy_f32(&[&E[0], &E[1], &[0.; 4], &E[2]]));
    files.add_bytes("dids.txt", "dids.txt", b"d1\nd2\nd3\nzz\n".to_vec());
    let (report, m) = evaluate(&files, "emb:q2.npy,d2.npy,qids.txt,dids.txt", Convention::Trec, ScoreFn::Cosine);
    let notice = m.search.notice.clone().unwrap_or_default();
    for said in [
        "1 evaluated queries have no vector in q2.npy (e.g. 'q3'): not searched",
        "1 of the corpus's 4 documents have no vector in d2.npy (e.g. 'd4'): never ranked, so the metrics are those of a smaller corpus",
        "1 document vectors in d2.npy have ids the corpus lacks (e.g. 'zz'): ranked all the same",
        "1 vectors in d2.npy are all zeros (e.g. 'd3'): they score 0 against everything",
    ] {
        assert!(notice.contains(said), "{said}\n{notice}");
    }
    assert!(report.warnings.iter().any(|w| w.contains("1 judged query is not in the queries file or has no vector")));
    assert!(top_ids(&m, "q1").contains(&"zz".to_string()));
    let (_, full) = evaluate(&files, "emb:q.npy,d.npy", Convention::Trec, ScoreFn::Cosine);
    assert_eq!(full.search.notice, None);
}

#[test]
fn safetensors_with_id_metadata() {
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    // The swap vectors, rows in metadata order (reversed from the dataset), queries as F32 and
    // docs as F16 (0, 1 are exact in f16).
    let q: Vec<u8> =
        [[0f32, 0., 0.6, 0.8], [0., 0.6, 0.8, 0.], E[0]].iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    let d: Vec<u8> =
        [3, 2, 1, 0].iter().flat_map(|&i| E[i]).flat_map(|x| half::f16::from_f32(x).to_le_bytes()).collect();
    let tensors = vec![
        ("queries", TensorView::new(Dtype::F32, vec![3, 4], &q).unwrap()),
        ("docs", TensorView::new(Dtype::F16, vec![4, 4], &d).unwrap()),
    ];
    let meta = HashMap::from([
        ("query_ids".to_string(), r#"["q3", "q2", "q1"]"#.to_string()),
        ("doc_ids".to_string(), r#"["d4", "d3", "d2", "d1"]"#.to_string()),
    ]);
    let bytes = safetensors::serialize(tensors, Some(meta)).unwrap();
    let mut files = swap_files();
    files.add_bytes("vectors.safetensors", "vectors.safetensors", bytes);
    let (_, a) = evaluate(&files, "emb:q.npy,d.npy", Convention::Trec, ScoreFn::Cosine);
    let (_, b) = evaluate(&files, "st=emb:vectors.safetensors", Convention::Trec, ScoreFn::Cosine);
    assert_eq!(b.name, "st");
    assert_eq!(per_query(&b, "q2", "ndcg@10"), 1.0 / 3f64.log2());
    assert_eq!(a.metrics, b.metrics);
    for q in ["q1", "q2", "q3"] {
        assert_eq!(top_ids(&a, q), top_ids(&b, q));
    }
}

/// Runs the CLI binary; returns results.json and per_query.jsonl.
fn cli(dir: &Path, extra: &[&str]) -> (Value, Vec<Value>) {
    let out = dir.join(format!("out-{}", extra.join("-").replace(['/', ':', ','], "_")));
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", dir.join("data").to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results: Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let per_query = std::fs::read_to_string(out.join("per_query.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (results, per_query)
}

#[test]
fn cosine_and_dot_rank_differently_on_unnormalised_vectors() {
    // One query [1, 0]; d1 = [10, 10] (dot 10, cosine 0.7071), d2 = [1, 0.1] (dot 1, cosine
    // 0.99504), d3 = [-1, 5] (dot -1, cosine -0.19612). d2 is the relevant one.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("qrels")).unwrap();
    std::fs::write(
        data.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\", \"text\": \"b\"}\n{\"_id\": \"d3\", \"text\": \"c\"}\n",
    )
    .unwrap();
    std::fs::write(data.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"x\"}\n").unwrap();
    std::fs::write(data.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td2\t1\n").unwrap();
    let q = tmp.path().join("q.npy");
    let d = tmp.path().join("d.npy");
    std::fs::write(&q, npy_f32(&[&[1., 0.]])).unwrap();
    std::fs::write(&d, npy_f32(&[&[10., 10.], &[1., 0.1], &[-1., 5.]])).unwrap();
    let model = format!("emb:{},{}", q.display(), d.display());

    let (cos, cos_pq) = cli(tmp.path(), &["--model", &model]);
    let (dot, dot_pq) = cli(tmp.path(), &["--model", &model, "--score", "dot"]);
    assert_eq!(cos["score_function"], "cosine");
    assert_eq!(dot["score_function"], "dot");
    let top = |pq: &[Value]| -> Vec<(String, f64)> {
        pq[0]["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_f64().unwrap()))
            .collect()
    };
    let (ct, dt) = (top(&cos_pq), top(&dot_pq));
    assert_eq!(ct.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["d2", "d1", "d3"]);
    assert_eq!(dt.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["d1", "d2", "d3"]);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    assert!(
        close(ct[0].1, 1.0 / 1.01f64.sqrt()) && close(ct[1].1, 0.5f64.sqrt()) && close(ct[2].1, -1.0 / 26f64.sqrt()),
        "{ct:?}"
    );
    assert!(close(dt[0].1, 10.0) && close(dt[1].1, 1.0) && close(dt[2].1, -1.0), "{dt:?}");

    let m = |r: &Value, k: &str| r["models"][0]["metrics"][k].as_f64().unwrap();
    assert_eq!(m(&cos, "ndcg@10"), 1.0);
    assert_eq!(m(&dot, "ndcg@10"), 1.0 / 3f64.log2());
    assert_eq!(m(&cos, "mrr@10"), 1.0);
    assert_eq!(m(&dot, "mrr@10"), 0.5);
    assert_eq!(m(&dot, "accuracy@1"), 0.0);
    assert_eq!(cos_pq[0]["first_relevant_rank"], 1);
    assert_eq!(dot_pq[0]["first_relevant_rank"], 2);
}
