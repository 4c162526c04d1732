//! The real CLI binary on bad input: every case exits with code 2, never panics, and says
//! which file, which line (where a line makes sense) and what is wrong.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn embeval(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_embeval")).args(args).output().expect("run embeval");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Exit code 2, no panic, and every `needles` string in stderr.
#[track_caller]
fn assert_bad(o: &Out, needles: &[&str]) {
    assert!(!o.stderr.contains("panicked"), "panic:\n{}", o.stderr);
    assert_eq!(o.code, Some(2), "exit code; stderr:\n{}\nstdout:\n{}", o.stderr, o.stdout);
    assert!(o.stderr.contains("error: "), "stderr:\n{}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "stderr lacks {n:?}:\n{}", o.stderr);
    }
}

/// `path:line` as the error prints it.
fn at(p: &Path, line: usize) -> String {
    format!("{}:{line}:", p.display())
}

const CORPUS: &str = r#"{"_id": "d1", "title": "Alpha", "text": "alpha beta"}
{"_id": "d2", "title": "Gamma", "text": "gamma delta"}
{"_id": "d3", "title": "Eps", "text": "epsilon zeta"}
"#;
const QUERIES: &str = r#"{"_id": "q1", "text": "alpha"}
{"_id": "q2", "text": "gamma"}
{"_id": "q3", "text": "zeta"}
"#;
const QRELS: &str = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n";

/// A valid BEIR folder; `edit` overwrites some of its files.
fn beir(edit: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    std::fs::create_dir_all(d.join("qrels")).unwrap();
    std::fs::write(d.join("corpus.jsonl"), CORPUS).unwrap();
    std::fs::write(d.join("queries.jsonl"), QUERIES).unwrap();
    std::fs::write(d.join("qrels/test.tsv"), QRELS).unwrap();
    for (name, bytes) in edit {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    (tmp, d)
}

fn eval_beir(d: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["eval", "--data", d.to_str().unwrap()];
    args.extend_from_slice(extra);
    embeval(&args)
}

/// A .npy file (little-endian f32) with the given shape tuple.
fn npy(shape: &str, data: &[f32]) -> Vec<u8> {
    common::npy("<f4", shape, &common::f32_bytes(data))
}

#[test]
fn sanity_the_valid_dataset_evaluates() {
    let (_t, d) = beir(&[]);
    let o = eval_beir(&d, &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("| bm25 | 1.0000 |"), "{}", o.stdout);
}

#[test]
fn malformed_json_names_line_3() {
    let bad = CORPUS.replace(r#""text": "epsilon zeta"}"#, r#""text": "epsilon zeta""#);
    let (_t, d) = beir(&[("corpus.jsonl", bad.as_bytes())]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("corpus.jsonl"), 3), "malformed JSON", "fix:", "one JSON object"]);
}

#[test]
fn id_that_is_an_object() {
    let bad = QUERIES.replace(r#""_id": "q2""#, r#""_id": {}"#);
    let (_t, d) = beir(&[("queries.jsonl", bad.as_bytes())]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 2), "an id must be a string or an integer", "fix:"]);
}

#[test]
fn text_that_is_a_number() {
    let bad = CORPUS.replace(r#""text": "gamma delta""#, r#""text": 5"#);
    let (_t, d) = beir(&[("corpus.jsonl", bad.as_bytes())]);
    let o = eval_beir(&d, &[]);
    assert_bad(
        &o,
        &[&at(&d.join("corpus.jsonl"), 2), "(column 41): invalid type: integer `5`, expected a string", "fix:"],
    );
    // serde's own "at line 1" (the line within the one-line string) would contradict line 2.
    assert!(!o.stderr.contains("at line 1"), "{}", o.stderr);
}

#[test]
fn missing_text_field() {
    let bad = QUERIES.replace(r#", "text": "zeta""#, "");
    let (_t, d) = beir(&[("queries.jsonl", bad.as_bytes())]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 3), "missing field `text`"]);
}

#[test]
fn invalid_utf8_on_line_2() {
    // Line 2 holds 日本 in Shift-JIS (0x93FA 0x967B), as a user's Excel export might.
    let mut bad = br#"{"_id": "q1", "text": "alpha"}"#.to_vec();
    bad.extend(b"\n{\"_id\": \"q2\", \"text\": \"\x93\xfa\x96\x7b\"}\n");
    let (_t, d) = beir(&[("queries.jsonl", &bad)]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 2), "invalid UTF-8", "UTF-8"]);
}

#[test]
fn empty_file() {
    // A whole-file problem: the message names the file (no line applies) and says it is empty.
    let (_t, d) = beir(&[("corpus.jsonl", b"")]);
    let o = eval_beir(&d, &[]);
    let p = d.join("corpus.jsonl").display().to_string();
    assert_bad(&o, &[&format!("{p}: the file is empty"), "fix:"]);
    // Blank lines only count as empty too.
    let (_t, d) = beir(&[("queries.jsonl", b"\n  \r\n\n")]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&d.join("queries.jsonl").display().to_string(), "the file is empty"]);
}

#[test]
fn nan_score_in_a_run() {
    let (t, d) = beir(&[]);
    let run = t.path().join("run.trec");
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 nan sys\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 2), "NaN", "fix:"]);
    std::fs::write(&run, "q1 Q0 d1 1 inf sys\n").unwrap();
    let o = eval_beir(&d, &["--model", &format!("run:{}", run.display())]);
    assert_bad(&o, &[&at(&run, 1), "infinite"]);
    std::fs::write(&run, "q1 Q0 d1 1 high sys\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 1), "score 'high' is not a number"]);
}

#[test]
fn doc_twice_for_one_query_in_a_run() {
    let (t, d) = beir(&[]);
    let run = t.path().join("run.trec");
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 1.5 sys\nq1 Q0 d1 3 0.5 sys\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 3), "doc 'd1' is listed twice for query 'q1'", "fix:"]);
}

#[test]
fn run_line_with_too_few_columns() {
    let (t, d) = beir(&[]);
    let run = t.path().join("run.trec");
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\nq1 d2 1.5\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 2), "expected 6 columns"]);
}

#[test]
fn gz_run_that_is_not_gzip() {
    let (t, d) = beir(&[]);
    let run = t.path().join("run.trec.gz");
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&run.display().to_string(), "not a valid gzip file"]);
}

#[test]
fn qrels_line_with_two_columns() {
    // BEIR qrels: line 3 (after the header and one good line).
    let (_t, d) = beir(&[("qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\n")]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("qrels/test.tsv"), 3), "expected 3 tab-separated columns, found 2", "fix:"]);
    // TREC qrels.
    let (t, _d) = beir(&[]);
    let q = t.path().join("qrels.txt");
    let run = t.path().join("run.trec");
    std::fs::write(&q, "q1 0 d1 1\nq2 d2\n").unwrap();
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&q, 2), "expected 4 columns, found 2", "query-id 0 doc-id relevance"]);
}

#[test]
fn non_integer_relevance() {
    let (_t, d) = beir(&[("qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0.5\n")]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("qrels/test.tsv"), 3), "relevance '0.5' is not an integer", "fix:"]);
    let (t, _d) = beir(&[]);
    let q = t.path().join("qrels.txt");
    std::fs::write(&q, "q1 0 d1 yes\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--run", q.to_str().unwrap()]);
    assert_bad(&o, &[&at(&q, 1), "relevance 'yes' is not an integer"]);
}

#[test]
fn missing_qrels_split() {
    let (_t, d) = beir(&[]);
    let o = eval_beir(&d, &["--split", "dev"]);
    assert_bad(
        &o,
        &[&d.join("qrels/dev.tsv").display().to_string(), "no qrels for split 'dev'", "choose --split from: test"],
    );
}

#[test]
fn no_qrels_at_all() {
    let (_t, d) = beir(&[]);
    std::fs::remove_file(d.join("qrels/test.tsv")).unwrap();
    let o = eval_beir(&d, &[]);
    assert_bad(
        &o,
        &[&d.join("qrels/test.tsv").display().to_string(), "no qrels for split 'test'", "add qrels/test.tsv"],
    );
}

#[test]
fn emb_dimension_mismatch() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    let e = t.path().join("d.npy");
    std::fs::write(&q, npy("(3, 2)", &[1.0; 6])).unwrap();
    std::fs::write(&e, npy("(3, 4)", &[1.0; 12])).unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", q.display(), e.display())]);
    assert_bad(&o, &[&e.display().to_string(), "dimension mismatch: queries have 2 dims", "docs 4", "fix:"]);
}

#[test]
fn emb_nan_names_the_row() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    let e = t.path().join("d.npy");
    std::fs::write(&q, npy("(3, 2)", &[1.0, 0.0, 0.0, f32::NAN, 1.0, 1.0])).unwrap();
    std::fs::write(&e, npy("(3, 2)", &[1.0; 6])).unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", q.display(), e.display())]);
    assert_bad(&o, &[&q.display().to_string(), "row 2 (id 'q2') contains NaN or infinity", "fix:"]);
}

#[test]
fn emb_row_count_not_matching_the_dataset() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    let e = t.path().join("d.npy");
    std::fs::write(&q, npy("(2, 2)", &[1.0; 4])).unwrap();
    std::fs::write(&e, npy("(3, 2)", &[1.0; 6])).unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", q.display(), e.display())]);
    assert_bad(&o, &[&q.display().to_string(), "2 rows but 3 ids", "fix:"]);
}

#[test]
fn emb_zero_dimensions_refused() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    let e = t.path().join("d.npy");
    std::fs::write(&q, npy("(3, 0)", &[])).unwrap();
    std::fs::write(&e, npy("(3, 0)", &[])).unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", q.display(), e.display())]);
    assert_bad(&o, &[&q.display().to_string(), "0 dimensions"]);
}

#[test]
fn emb_bad_npy_files() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    let e = t.path().join("d.npy");
    std::fs::write(&e, npy("(3, 2)", &[1.0; 6])).unwrap();
    let spec = format!("emb:{},{}", q.display(), e.display());
    // 1-D array.
    std::fs::write(&q, npy("(6,)", &[1.0; 6])).unwrap();
    assert_bad(&eval_beir(&d, &["--model", &spec]), &[&q.display().to_string(), "expected a 2-D array"]);
    // Truncated data.
    std::fs::write(&q, npy("(3, 2)", &[1.0; 5])).unwrap();
    assert_bad(&eval_beir(&d, &["--model", &spec]), &[&q.display().to_string(), "shape [3, 2]", "cut short"]);
    // Not a .npy at all.
    std::fs::write(&q, "q1,1.0,0.0\n").unwrap();
    assert_bad(&eval_beir(&d, &["--model", &spec]), &[&q.display().to_string(), "not a .npy file"]);
    // A missing file.
    let gone = t.path().join("missing.npy");
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", gone.display(), e.display())]);
    assert_bad(&o, &[&gone.display().to_string(), "model file or folder not found"]);
}

#[test]
fn emb_bad_safetensors() {
    let (t, d) = beir(&[]);
    let f = t.path().join("e.safetensors");
    std::fs::write(&f, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{}", f.display())]);
    assert_bad(&o, &[&f.display().to_string(), "not a safetensors file"]);
}

#[test]
fn qa_log_without_corpus() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log.jsonl");
    std::fs::write(
        &log,
        r#"{"query_id": "q1", "query_text": "x", "references": [{"doc_id": "d1", "relevance_score": 0.9}]}"#,
    )
    .unwrap();
    let o = embeval(&["eval", "--data", log.to_str().unwrap()]);
    assert_bad(&o, &["--corpus", &log.display().to_string(), "needs its corpus too (--corpus CORPUS.jsonl)"]);
}

#[test]
fn qa_log_bad_reference() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log.jsonl");
    let corpus = t.path().join("docs.jsonl");
    std::fs::write(
        &log,
        "{\"query_id\": \"q1\", \"query_text\": \"x\", \"references\": [{\"doc_id\": \"d1\", \"relevance_score\": 0.9}]}\n\
         {\"query_id\": \"q2\", \"query_text\": \"y\", \"references\": [{\"doc_id\": \"d1\", \"relevance_score\": \"high\"}]}\n",
    )
    .unwrap();
    std::fs::write(&corpus, "{\"doc_id\": \"d1\", \"text\": \"x\"}\n").unwrap();
    let o = embeval(&["eval", "--data", log.to_str().unwrap(), "--corpus", corpus.to_str().unwrap()]);
    assert_bad(&o, &[&at(&log, 2), "invalid type: string \"high\", expected f64", "fix:"]);
}

#[test]
fn st_triple_wrong_shape_names_the_line() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("queries.json"), "{\n  \"q1\": \"x\",\n  \"q2\": 7\n}\n").unwrap();
    std::fs::write(d.join("corpus.json"), "{\"d1\": \"x\"}").unwrap();
    std::fs::write(d.join("relevant_docs.json"), "{\"q1\": [\"d1\"]}").unwrap();
    let o = embeval(&["eval", "--data", d.to_str().unwrap()]);
    assert_bad(
        &o,
        &[&at(&d.join("queries.json"), 3), "(column 9): invalid type: integer `7`, expected a string", "fix:"],
    );
}

#[test]
fn data_path_that_does_not_exist() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("nope");
    let o = embeval(&["eval", "--data", p.to_str().unwrap()]);
    assert_bad(&o, &[&p.display().to_string(), "no such file or folder"]);
}

#[test]
fn folder_of_unknown_format() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("notes.txt"), "hello").unwrap();
    let o = embeval(&["eval", "--data", t.path().to_str().unwrap()]);
    assert_bad(&o, &[&t.path().display().to_string(), "cannot tell the dataset format"]);
}

#[test]
fn bad_split_ratios() {
    let (t, d) = beir(&[]);
    let out = t.path().join("out");
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--ratios", "70,30"]);
    assert_bad(&o, &["--ratios", "three weights"]);
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--ratios", "0,0,0"]);
    assert_bad(&o, &["--ratios"]);
}

#[test]
fn bad_model_and_k_flags() {
    let (_t, d) = beir(&[]);
    assert_bad(&eval_beir(&d, &["--model", "bm25:k1=fast"]), &["--model", "bm25 k1 and b must be numbers"]);
    assert_bad(&eval_beir(&d, &["--model", "colbert"]), &["--model", "known models are"]);
    assert_bad(&eval_beir(&d, &["--k", "0,10"]), &["--k", "positive cut-offs"]);
    assert_bad(&eval_beir(&d, &["--model", "bm25", "--model", "bm25"]), &["--model", "two models are named 'bm25'"]);
}
