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

/// A run that shares no query id — or, with a corpus, no document id — with the dataset is an
/// error naming ids of both sides (trec_eval stops too), not a row of zeros.
#[test]
fn a_run_that_matches_nothing() {
    let (t, d) = beir(&[]);
    let run = t.path().join("r.run");
    let with = |text: &str| {
        std::fs::write(&run, text).unwrap();
        eval_beir(&d, &["--run", run.to_str().unwrap()])
    };
    let o = with("1 Q0 d1 1 2.0 x\n2 Q0 d2 1 1.0 x\n");
    assert_bad(
        &o,
        &["r.run", "none of its query ids is an evaluated query's (run: '1', '2'; judged: 'q1', 'q2', 'q3')"],
    );
    let o = with("q1 Q0 1 1 2.0 x\nq2 Q0 2 1 1.0 x\n");
    assert_bad(&o, &["r.run", "none of its document ids is in the corpus (run: '1', '2'; corpus: 'd1', 'd2', 'd3')"]);
    let o = with("q1 Q0 d1 1 2.0 x\nq2 Q0 9 1 1.0 x\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

/// `--data FOLDER --format trec`: the folder's queries judged by `--qrels`, and its corpus
/// searched by `--model` (it was loaded without documents: every metric 0).
#[test]
fn a_folder_judged_by_trec_qrels_searches_its_corpus() {
    let (t, d) = beir(&[]);
    let qrels = t.path().join("tq");
    std::fs::write(&qrels, "q1 0 d1 1\nq2 0 d2 1\n").unwrap();
    let o = eval_beir(&d, &["--format", "trec", "--qrels", qrels.to_str().unwrap(), "--model", "bm25"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("2 queries, 3 docs"), "{}", o.stderr);
    assert!(o.stdout.contains("| bm25 | 1.0000 |"), "{}", o.stdout);
    // A judged id the queries file lacks has no text: a warning names it.
    std::fs::write(&qrels, "q1 0 d1 1\n1 0 d2 1\n").unwrap();
    let o = eval_beir(&d, &["--format", "trec", "--qrels", qrels.to_str().unwrap(), "--model", "bm25"]);
    assert!(o.stderr.contains("empty queries: 1 (e.g. 1)"), "{}", o.stderr);
}

/// `--queries` with `--qrels`: Anserini's gzipped topics (`qid<TAB>text`) read as such.
#[test]
fn gzipped_tsv_topics_are_tsv() {
    let t = tempfile::tempdir().unwrap();
    let (qrels, run, topics) = (t.path().join("q.txt"), t.path().join("r.run"), t.path().join("topics.tsv.gz"));
    std::fs::write(&qrels, "1 0 d1 1\n").unwrap();
    std::fs::write(&run, "1 Q0 d2 1 2.0 x\n1 Q0 d9 2 1.0 x\n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, "1\t猫はどこ\n".as_bytes()).unwrap();
    std::fs::write(&topics, gz.finish().unwrap()).unwrap();
    let out = t.path().join("out");
    let (run, topics, out) = (run.to_str().unwrap(), topics.to_str().unwrap(), out.to_str().unwrap());
    let args = ["--run", run, "--queries", topics, "--out", out, "--failures", "1"];
    let o = embeval(&[&["eval", "--qrels", qrels.to_str().unwrap()][..], &args].concat());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let results = std::fs::read_to_string(Path::new(out).join("results.json")).unwrap();
    assert!(results.contains(r#""query": "猫はどこ""#), "the failure list shows the query's text: {results}");
    // Topics of other ids than the judgments' are refused (they gave empty query texts).
    let other = Path::new(topics).with_file_name("other.tsv");
    std::fs::write(
        &other,
        "質問1	猫はどこ
",
    )
    .unwrap();
    let args = ["--run", run, "--queries", other.to_str().unwrap()];
    let o = embeval(&[&["eval", "--qrels", qrels.to_str().unwrap()][..], &args].concat());
    assert_bad(
        &o,
        &[&other.display().to_string(), "none of its 1 query ids is a judged query's (queries: '質問1'; judged: '1')"],
    );
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

/// An integer id too large for 64 bits (Python's json would keep its digits; serde's reads it
/// as a float and rounds them) and a fractional one: each says to write the id as a string.
#[test]
fn id_that_is_a_huge_or_fractional_number() {
    for (id, said) in [("123456789012345678901234", "as large as 1.23e23"), ("2.5", "not 2.5"), ("1.0", "not 1.0")] {
        let bad = QUERIES.replace(r#""_id": "q2""#, &format!(r#""_id": {id}"#));
        let (_t, d) = beir(&[("queries.jsonl", bad.as_bytes())]);
        let o = eval_beir(&d, &[]);
        assert_bad(&o, &[&at(&d.join("queries.jsonl"), 2), said, "write it as a JSON string", "fix:"]);
    }
}

/// A QA log whose every reference scores below --min-relevance says so and how to lower it.
#[test]
fn a_qa_log_with_every_reference_below_min_relevance() {
    let t = tempfile::tempdir().unwrap();
    let (log, docs) = (t.path().join("log.jsonl"), t.path().join("docs.jsonl"));
    std::fs::write(&log, "{\"query_id\": \"q1\", \"query_text\": \"a\", \"references\": [{\"doc_id\": \"d1\", \"relevance_score\": 0.6}]}\n")
        .unwrap();
    std::fs::write(&docs, "{\"doc_id\": \"d1\", \"text\": \"alpha\"}\n").unwrap();
    let o = embeval(&["eval", "--data", log.to_str().unwrap(), "--corpus", docs.to_str().unwrap(), "--model", "bm25"]);
    assert_bad(&o, &["all 1 references scored below --min-relevance", "--min-relevance 0.5"]);
}

/// Judged queries the queries file lacks are never searched: a searched model's warning says
/// so (a run's says they have no results).
#[test]
fn judged_queries_the_queries_file_lacks_are_named_as_such() {
    let (_t, d) = beir(&[("qrels/test.tsv", format!("{QRELS}q9\td1\t1\n").as_bytes())]);
    let o = eval_beir(&d, &["--model", "bm25"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("bm25: 1 judged query is not in the queries file, so was not searched, and is left out"),
        "{}",
        o.stderr
    );
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
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 2), "invalid UTF-8", "iconv -f CP932 -t UTF-8"]);
}

/// Files in the other encodings Japanese users' tools write are named with the iconv that
/// converts them: EUC-JP, UTF-16 with a BOM (Excel's "Unicode text") and without one (read as
/// UTF-8 it is valid, with a NUL every other byte).
#[test]
fn other_encodings_are_named_with_their_conversion() {
    let line2 = |bytes: &[u8]| {
        let mut bad = br#"{"_id": "q1", "text": "alpha"}"#.to_vec();
        bad.extend(b"\n{\"_id\": \"q2\", \"text\": \"");
        bad.extend(bytes);
        bad.extend(b"\"}\n");
        bad
    };
    // 日本 in EUC-JP (Python's "日本".encode("euc_jp")).
    let (_t, d) = beir(&[("queries.jsonl", &line2(b"\xc6\xfc\xcb\xdc"))]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 2), "it looks like EUC-JP", "iconv -f EUC-JP -t UTF-8"]);
    let utf16 = |bom: bool| {
        let mut out: Vec<u8> = if bom { vec![0xFF, 0xFE] } else { vec![] };
        out.extend(QUERIES.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    let (_t, d) = beir(&[("queries.jsonl", &utf16(true))]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 1), "it looks like UTF-16", "iconv -f UTF-16 -t UTF-8"]);
    let (_t, d) = beir(&[("queries.jsonl", &utf16(false))]);
    let o = eval_beir(&d, &[]);
    assert_bad(&o, &[&at(&d.join("queries.jsonl"), 1), "NUL bytes", "iconv -f UTF-16LE -t UTF-8"]);
    // A UTF-8 BOM beginning a later line (two files joined with `cat`) is dropped like the first.
    let joined = format!(
        "\u{FEFF}{}\u{FEFF}{}",
        &QUERIES[..QUERIES.find('\n').unwrap() + 1],
        &QUERIES[QUERIES.find('\n').unwrap() + 1..]
    );
    let (_t, d) = beir(&[("queries.jsonl", joined.as_bytes())]);
    let o = eval_beir(&d, &["--model", "bm25"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
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
    // Without the tag (or cut after the score): trec_eval refuses it as malformed too.
    std::fs::write(&run, "# sys\nq1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 2.\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 3), "expected 6 columns, found 5 — the run tag (6th column) is missing"]);
}

#[test]
fn gz_run_that_is_not_gzip() {
    let (t, d) = beir(&[]);
    let run = t.path().join("run.trec.gz");
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\n").unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 1), "its name ends in .gz, but it is not gzip-compressed", "rename it without .gz"]);
    // Gzip data that stops: cut short.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, "q1 Q0 d1 1 2.5 sys\n".repeat(50).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(&run, &bytes[..bytes.len() / 2]).unwrap();
    let o = eval_beir(&d, &["--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&run.display().to_string(), "not a valid gzip file", "cut short"]);
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

/// BEIR qrels lines that are not three tab-separated columns say what they look like: a
/// trailing tab, TREC qrels, spaces for tabs. A header of other names is still a header.
#[test]
fn qrels_tsv_lines_say_what_they_look_like() {
    let qrels = |text: &str| {
        let (t, d) = beir(&[("qrels/test.tsv", text.as_bytes())]);
        (t, d.join("qrels/test.tsv"), eval_beir(&d, &["--model", "bm25"]))
    };
    let (_t, f, o) = qrels("query-id\tcorpus-id\tscore\nq1\td1\t1\t\n");
    assert_bad(&o, &[&at(&f, 2), "found 4 — the line ends in a tab"]);
    let (_t, f, o) = qrels("q1 0 d1 1\n");
    assert_bad(&o, &[&at(&f, 1), "found 1 — no tab"]);
    let (_t, f, o) = qrels("q1\t0\td1\t1\n");
    assert_bad(&o, &[&at(&f, 1), "this looks like TREC qrels", "--qrels"]);
    // A first line without a score is a judgment missing it, not a header.
    let (_t, f, o) = qrels("q1\td1\t\nq2\td2\t1\n");
    assert_bad(&o, &[&at(&f, 1), "relevance '' is not an integer"]);
    let (_t, _f, o) = qrels("qid\tdocid\trel\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("3 queries evaluated"), "{}", o.stderr);
    assert!(!o.stderr.contains("line 1 is a judgment"), "{}", o.stderr);
    // No header: line 1 is kept, with a warning that BEIR's loader (2.2.0, checked) drops it.
    let (_t, _f, o) = qrels("q1\td1\t1\nq2\td2\t1\nq3\td3\t2\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("3 queries evaluated"), "{}", o.stderr);
    assert!(
        o.stderr.contains("qrels line 1 is a judgment, not a header (kept here; BEIR's GenericDataLoader skips line 1 whatever it holds): 1 (e.g. q1 d1 1)"),
        "{}",
        o.stderr
    );
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
    std::fs::write(&q, "q1 0 d1 3000000000\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--run", q.to_str().unwrap()]);
    assert_bad(&o, &[&at(&q, 1), "relevance 3000000000 is out of range"]);
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

/// A QA log judges by its references: a TREC qrels file beside it would be ignored.
#[test]
fn qa_log_with_qrels() {
    let t = tempfile::tempdir().unwrap();
    let (log, corpus, qrels) = (t.path().join("log.jsonl"), t.path().join("docs.jsonl"), t.path().join("qrels.txt"));
    std::fs::write(
        &log,
        r#"{"query_id": "q1", "query_text": "x", "references": [{"doc_id": "d1", "relevance_score": 0.9}]}"#,
    )
    .unwrap();
    std::fs::write(&corpus, "{\"doc_id\": \"d1\", \"text\": \"x\"}\n").unwrap();
    std::fs::write(&qrels, "q1 0 d1 1\n").unwrap();
    let (log, corpus, qrels) = (log.to_str().unwrap(), corpus.to_str().unwrap(), qrels.to_str().unwrap());
    let o = embeval(&["eval", "--data", log, "--corpus", corpus, "--qrels", qrels]);
    assert_bad(&o, &["--qrels", "references are its judgments", "drop --qrels"]);
    assert_eq!(embeval(&["eval", "--data", log, "--corpus", corpus]).code, Some(0));
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
    assert_bad(&eval_beir(&d, &["--k", "10,5,10"]), &["--k", "10 is given twice"]);
    assert_bad(&eval_beir(&d, &["--failure-k", "0"]), &["--failure-k", "give K ≥ 1"]);
    assert_bad(&eval_beir(&d, &["--failure-threshold", "1.5"]), &["--failure-threshold", "in (0, 1]"]);
    assert_bad(&eval_beir(&d, &["--model", "bm25", "--model", "bm25"]), &["--model", "two models are named 'bm25'"]);
    assert_bad(
        &eval_beir(&d, &["--convention", "st", "--run-scores", "float"]),
        &["--run-scores", "st compares scores as Python floats (doubles)"],
    );
    assert_bad(
        &eval_beir(&d, &["--model", "my\nbm25=bm25"]),
        &["--model", "the label \"my\\nbm25\" holds a control character"],
    );
}

/// A cut-off far past the corpus ranks the whole corpus: no allocation for k up front.
#[test]
fn huge_cut_offs_rank_the_whole_corpus() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    std::fs::write(&q, npy("(3, 2)", &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0])).unwrap();
    let emb = format!("emb:{},{}", q.display(), q.display());
    for k in ["99999999999", "18446744073709551615"] {
        for model in ["bm25", emb.as_str()] {
            let o = eval_beir(&d, &["--k", k, "--model", model, "--failures", "2", "--failure-k", k]);
            assert_eq!(o.code, Some(0), "{model} --k {k}: {}", o.stderr);
            assert!(o.stdout.contains(&format!("Recall@{k}")), "{}", o.stdout);
        }
    }
}

/// A .npy header whose shape multiplies past the address space is a truncated file, not a panic.
#[test]
fn emb_npy_shape_that_wraps() {
    let (t, d) = beir(&[]);
    let q = t.path().join("q.npy");
    std::fs::write(&q, npy("(3, 6148914691236517206)", &[1.0, 2.0])).unwrap();
    let o = eval_beir(&d, &["--model", &format!("emb:{},{}", q.display(), q.display())]);
    assert_bad(&o, &[&q.display().to_string(), "cut short"]);
}

/// Id files: an id twice names its line; ids none of which are the dataset's (vectors of another
/// dataset, files swapped) are refused rather than scored 0.
#[test]
fn emb_id_files_repeated_or_foreign() {
    let (t, d) = beir(&[]);
    let v = t.path().join("v.npy");
    std::fs::write(&v, npy("(3, 2)", &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0])).unwrap();
    let (qids, dids) = (t.path().join("q.txt"), t.path().join("d.txt"));
    std::fs::write(&qids, "q1\nq2\nq3\n").unwrap();
    let spec = format!("emb:{},{},{},{}", v.display(), v.display(), qids.display(), dids.display());
    std::fs::write(&dids, "d1\nd2\nd1\n").unwrap();
    assert_bad(&eval_beir(&d, &["--model", &spec]), &[&at(&dids, 3), "id 'd1' again (first on line 1)"]);
    std::fs::write(&dids, "x1\nx2\nx3\n").unwrap();
    assert_bad(
        &eval_beir(&d, &["--model", &spec]),
        &[&dids.display().to_string(), "none of its 3 document ids is one of the dataset's", "'x1'", "'d1'"],
    );
    std::fs::write(&dids, "d3\nd2\nd1\n").unwrap();
    assert_eq!(eval_beir(&d, &["--model", &spec]).code, Some(0));
}

/// Judgments that leave no query to evaluate are an error naming the qrels file and why.
#[test]
fn nothing_to_evaluate() {
    for (qrels, why) in [
        (
            "query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t1\n",
            "none of its 2 judged query ids is a query's id (judged: '1', '2'",
        ),
        ("query-id\tcorpus-id\tscore\nq1\td1\t0\n", "no judgment has relevance ≥ 1"),
        ("query-id\tcorpus-id\tscore\n", "there are no judgments"),
    ] {
        let (_t, d) = beir(&[("qrels/test.tsv", qrels.as_bytes())]);
        assert_bad(&eval_beir(&d, &[]), &[&d.join("qrels/test.tsv").display().to_string(), "nothing to evaluate", why]);
    }
}

#[test]
fn bm25_parameters_out_of_range() {
    let (_t, d) = beir(&[]);
    for (spec, what) in [
        ("bm25:k1=nan", "k1 must be a finite number ≥ 0"),
        ("bm25:k1=-1", "k1 must be a finite number ≥ 0"),
        ("bm25:k1=1e308", "k1 must be a finite number ≥ 0"),
        ("bm25:b=2", "b must be between 0 and 1"),
        ("bm25:b=inf", "b must be between 0 and 1"),
        ("bm25:k1=1,k1=5", "bm25 k1 is given twice"),
    ] {
        assert_bad(&eval_beir(&d, &["--model", spec]), &["--model", what]);
    }
    assert_eq!(eval_beir(&d, &["--model", "bm25:k1=0,b=1"]).code, Some(0));
}

/// Options for models none of those listed is are ignored with a warning naming them (a
/// script may pass them whatever models it lists); used, they say nothing.
#[test]
fn options_no_model_uses_are_named() {
    let (_t, d) = beir(&[]);
    let flags = ["--truncate-dim", "5", "--dtype", "f16", "--query-prompt", "query: ", "--score", "dot"];
    let o = eval_beir(&d, &[&["--model", "bm25"][..], &flags].concat());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    for said in [
        "warning: --dtype applies to neural models, and none is evaluated here: ignored",
        "warning: --truncate-dim, --query-prompt apply to neural and API models, and none is evaluated here: ignored",
        "warning: --score applies to embeddings, and none is evaluated here: ignored",
    ] {
        assert!(o.stderr.contains(said), "{said}\n{}", o.stderr);
    }
    let o = eval_beir(&d, &["--model", "bm25"]);
    assert!(!o.stderr.contains("ignored"), "{}", o.stderr);
}

/// `split --out` onto the dataset itself would replace its judgments: refused, files intact.
/// Weights whose sum passes u32 still split 1/1/1; judgments alone cannot be split.
#[test]
fn split_never_overwrites_its_input() {
    let (t, d) = beir(&[]);
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    assert_bad(&o, &["--out", "is a file of the dataset being split"]);
    assert_eq!(std::fs::read_to_string(d.join("qrels/test.tsv")).unwrap(), QRELS);
    let out = t.path().join("out");
    let huge = "4294967295,4294967295,4294967295";
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--ratios", huge]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stdout, "train: 1 queries\ndev: 1 queries\ntest: 1 queries\n");
    let o =
        embeval(&["split", "--data", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--ratios", "0.8,0.1,0.1"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("weights are whole numbers"), "{}", o.stderr);
    let trec = t.path().join("qrels.txt");
    std::fs::write(&trec, "q1 0 d1 1\nq2 0 d2 1\n").unwrap();
    let o = embeval(&["split", "--qrels", trec.to_str().unwrap(), "--out", t.path().join("o2").to_str().unwrap()]);
    assert_bad(&o, &["needs the corpus and the queries' texts"]);
    assert!(!t.path().join("o2").exists());
    // Nor into a folder inside the dataset's: its files would join the dataset.
    let inside = d.join("splits/v1");
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", inside.to_str().unwrap()]);
    assert_bad(&o, &["--out", "is inside the dataset's folder", "pick a folder outside it"]);
    assert!(!d.join("splits").exists());
}

/// Flags that a dataset folder would silently ignore.
#[test]
fn contradictory_data_flags() {
    let (t, d) = beir(&[]);
    let trec = t.path().join("qrels.txt");
    std::fs::write(&trec, "q1 0 d2 1\n").unwrap();
    let run = t.path().join("run.txt");
    std::fs::write(&run, "q1 Q0 d2 1 1.0 x\n").unwrap();
    let o = eval_beir(&d, &["--qrels", trec.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_bad(&o, &["--qrels", "has its own judgments", "--format trec"]);
    // With --format trec the folder's queries are judged by the TREC file: d2 is q1's answer.
    let o = eval_beir(&d, &["--format", "trec", "--qrels", trec.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("| 1.0000 |"), "{}", o.stdout);
    assert_bad(&eval_beir(&d, &["--queries", d.join("queries.jsonl").to_str().unwrap()]), &["--queries", "--qrels"]);
    assert_bad(&eval_beir(&d, &["--corpus", d.join("corpus.jsonl").to_str().unwrap()]), &["--corpus", "QA log"]);
    assert_bad(&eval_beir(&d, &["--format", "trec"]), &["--format trec", "give --qrels FILE"]);
    let o = embeval(&["eval", "--qrels", trec.to_str().unwrap(), "--run", run.to_str().unwrap(), "--format", "beir"]);
    assert_bad(&o, &["--format", "give --data PATH"]);
}

/// A model folder's missing file is shown in that folder (not under the dataset's); a file given
/// where a model folder belongs says so.
#[test]
fn model_folder_paths_in_errors() {
    let (t, d) = beir(&[]);
    let m = t.path().join("model");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("config.json"), r#"{"model_type": "bert", "hidden_size": 8}"#).unwrap();
    let o = eval_beir(&d, &["--model", m.to_str().unwrap()]);
    assert_bad(&o, &[&format!("error: {}/", m.display()), "file not found", "to the folder"]);
    assert!(!o.stderr.contains(&format!("{}/{}", d.display(), m.display())), "{}", o.stderr);
    let o = eval_beir(&d, &["--model", d.join("corpus.jsonl").to_str().unwrap()]);
    assert_bad(&o, &["a file, where a model folder", "emb:"]);
}

/// stdout closed early (`| head -1`), or stderr too: the output is dropped quietly, no panic, exit 0.
#[test]
fn closed_stdout_is_not_a_panic() {
    // q1 judged to d3, which BM25 never ranks for "alpha": a failure list to print.
    let (_t, d) = beir(&[("qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq1\td3\t1\nq2\td2\t1\n")]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", d.to_str().unwrap(), "--failures", "3"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // Both closed (`2>&1 | head`): still no panic (exit code 101).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", d.to_str().unwrap(), "--failures", "3"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A model that fails after others finished: their table still reaches stdout (and, with --out,
/// the files say the run stopped), then the error, exit 2.
#[test]
fn a_later_models_failure_keeps_the_earlier_results() {
    let (t, d) = beir(&[]);
    let m = t.path().join("broken");
    std::fs::create_dir(&m).unwrap();
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_models/qwen3-embedding");
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tiny.join(f), m.join(f)).unwrap();
    }
    std::fs::write(m.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let out = t.path().join("out");
    let o = eval_beir(&d, &["--model", "bm25", "--model", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_bad(&o, &["model.safetensors", "the table holds the 1 model evaluated before this error"]);
    assert!(o.stdout.contains("| bm25 | 1.0000 |"), "{}", o.stdout);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["models"].as_array().unwrap().len(), 1);
    assert!(r["warnings"].to_string().contains("stopped by an error after 1 model:"), "{}", r["warnings"]);
}

/// A model whose tokenizer is MeCab-based (no tokenizer.json can exist) is named as such, with
/// what to do instead; without that class, a missing tokenizer.json is a missing file.
#[test]
fn a_mecab_tokenizer_is_named() {
    let (t, d) = beir(&[]);
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_models/qwen3-embedding");
    let m = t.path().join("bert-base-japanese");
    std::fs::create_dir(&m).unwrap();
    for e in std::fs::read_dir(&tiny).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir(m.join(e.file_name())).unwrap();
            for f in std::fs::read_dir(e.path()).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), m.join(e.file_name()).join(f.file_name())).unwrap();
            }
        } else if e.file_name() != "tokenizer.json" {
            std::fs::copy(e.path(), m.join(e.file_name())).unwrap();
        }
    }
    let o = eval_beir(&d, &["--model", m.to_str().unwrap(), "--no-cache"]);
    assert_bad(&o, &["tokenizer.json", "file not found"]);
    assert!(!o.stderr.contains("BertJapaneseTokenizer"), "{}", o.stderr);
    std::fs::write(
        m.join("tokenizer_config.json"),
        r#"{"tokenizer_class": "BertJapaneseTokenizer", "model_max_length": 512}"#,
    )
    .unwrap();
    let o = eval_beir(&d, &["--model", m.to_str().unwrap(), "--no-cache"]);
    assert_bad(
        &o,
        &["tokenizer.json", "BertJapaneseTokenizer", "fast tokenizers (tokenizer.json) only", "emb:Q.npy,D.npy"],
    );
}

/// `--query-prompt LABEL=TEXT` whose label is no model's (here a case slip) is refused, not
/// made every model's prompt; labels that match and plain prompts work.
#[test]
fn prompt_for_a_label_that_is_no_model() {
    let (_t, d) = beir(&[]);
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_models/qwen3-embedding");
    let model = format!("mini={}", tiny.display());
    let o = eval_beir(&d, &["--model", &model, "--query-prompt", "Mini=query: ", "--no-cache"]);
    assert_bad(&o, &["--query-prompt", "'Mini=' names no model of this run (neural and API models here: mini)"]);
    for prompt in ["mini=query: ", "query: ", "Instruct: a=b\nQuery:"] {
        let o = eval_beir(&d, &["--model", &model, "--query-prompt", prompt, "--no-cache"]);
        assert_eq!(o.code, Some(0), "{prompt:?}: {}", o.stderr);
    }
}

/// A gzipped dataset split into its own folder would put plain files beside its .gz ones:
/// refused, nothing written. A folder holding a file both ways is read neither way.
#[test]
fn a_file_both_plain_and_gzipped() {
    use std::io::Write;
    let (_t, d) = beir(&[]);
    for name in ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"] {
        let plain = d.join(name);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&std::fs::read(&plain).unwrap()).unwrap();
        std::fs::write(d.join(format!("{name}.gz")), e.finish().unwrap()).unwrap();
        std::fs::remove_file(plain).unwrap();
    }
    assert_eq!(eval_beir(&d, &[]).code, Some(0), "the gzipped folder evaluates");
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    let twin = d.join("corpus.jsonl.gz").display().to_string();
    assert_bad(&o, &["--out", &twin, "would leave two versions of one file", "pick another folder"]);
    let mut left: Vec<String> = walk(&d);
    left.sort();
    assert_eq!(left, ["corpus.jsonl.gz", "qrels/test.tsv.gz", "queries.jsonl.gz"], "nothing written");
    // The plain queries beside the gzipped ones: which to read is not guessed.
    std::fs::write(d.join("queries.jsonl"), QUERIES).unwrap();
    assert_bad(
        &eval_beir(&d, &[]),
        &[
            &d.join("queries.jsonl").display().to_string(),
            "queries.jsonl is here twice: also as queries.jsonl.gz",
            "remove or rename queries.jsonl or queries.jsonl.gz",
        ],
    );
}

/// The files below `dir`, by their path relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    out
}

/// Files and folders in each other's place, and a gzip file not named .gz: each says what it is.
#[test]
fn files_folders_and_compression_in_the_wrong_place() {
    use std::io::Write;
    let (t, d) = beir(&[]);
    let gz = |text: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    // A gzipped run and a gzipped corpus under plain names.
    let run = t.path().join("run.txt");
    std::fs::write(&run, gz("q1 Q0 d1 1 1.0 x\n")).unwrap();
    assert_bad(
        &eval_beir(&d, &["--run", run.to_str().unwrap()]),
        &[&run.display().to_string(), "gzip-compressed", ".gz"],
    );
    let (_t2, d2) = beir(&[("corpus.jsonl", &gz(CORPUS))]);
    assert_bad(&eval_beir(&d2, &[]), &[&d2.join("corpus.jsonl").display().to_string(), "gzip-compressed"]);
    // A folder for a run file; a dataset file for its folder.
    assert_bad(&eval_beir(&d, &["--run", t.path().to_str().unwrap()]), &["a folder, where a file was expected"]);
    let o = embeval(&["eval", "--data", d.join("corpus.jsonl").to_str().unwrap()]);
    assert_bad(&o, &["--data", "is one file of a dataset: give the folder that holds it", &d.display().to_string()]);
    // Half a BEIR folder.
    std::fs::remove_file(d2.join("queries.jsonl")).unwrap();
    assert_bad(&eval_beir(&d2, &[]), &[&d2.join("queries.jsonl").display().to_string(), "beside corpus.jsonl"]);
    // Files where folders belong.
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert_bad(&eval_beir(&d, &["--out", file.to_str().unwrap()]), &["--out", "is a file: give a folder"]);
    assert_bad(&eval_beir(&d, &["--cache", file.to_str().unwrap()]), &["--cache", "is a file: give a folder"]);
    // A folder to make under a file: refused before any model runs, not when the results are written.
    let under = file.join("sub");
    assert_bad(&eval_beir(&d, &["--out", under.to_str().unwrap()]), &["--out", "a-file is a file: give a folder"]);
    let o = embeval(&["split", "--data", d.to_str().unwrap(), "--out", file.to_str().unwrap()]);
    assert_bad(&o, &["--out", "is a file"]);
}

/// (Not bad input, the same harness.) Cut-offs without 10 still show the column the table is
/// sorted by: nDCG and Recall at each k first.
#[test]
fn unusual_cut_offs_show_the_sort_column() {
    let (_t, d) = beir(&[]);
    let o = eval_beir(&d, &["--k", "1,3"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.starts_with("| model | nDCG@1 | Recall@1 | nDCG@3 | Recall@3 | Acc@1 | queries |"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("sorted by ndcg@3"), "{}", o.stdout);
}

/// Judgments and rankings in each other's flags, and BEIR qrels given as TREC qrels, are named.
#[test]
fn qrels_and_runs_swapped() {
    let (t, d) = beir(&[]);
    let (qrels, run) = (t.path().join("qrels.txt"), t.path().join("run.txt"));
    std::fs::write(&qrels, "q1 0 d1 1\n").unwrap();
    std::fs::write(&run, "q1 Q0 d1 1 1.0 x\n").unwrap();
    let o = embeval(&["eval", "--qrels", run.to_str().unwrap(), "--run", qrels.to_str().unwrap()]);
    assert_bad(&o, &[&at(&run, 1), "found 6", "looks like a TREC run"]);
    let o = embeval(&["eval", "--qrels", qrels.to_str().unwrap(), "--run", qrels.to_str().unwrap()]);
    assert_bad(&o, &[&at(&qrels, 1), "found 4", "looks like TREC qrels"]);
    let beir_qrels = d.join("qrels/test.tsv");
    let o = embeval(&["eval", "--qrels", beir_qrels.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_bad(&o, &[&at(&beir_qrels, 1), "looks like BEIR qrels", "--data"]);
}

/// Flags of one format given for a dataset of another are refused, not ignored.
#[test]
fn flags_of_another_format() {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("queries.json", r#"{"q1": "alpha"}"#),
        ("corpus.json", r#"{"d1": "alpha beta", "d2": "gamma"}"#),
        ("relevant_docs.json", r#"{"q1": ["d1"]}"#),
    ] {
        std::fs::write(t.path().join(name), text).unwrap();
    }
    let st = t.path().to_str().unwrap();
    assert_eq!(embeval(&["eval", "--data", st]).code, Some(0));
    assert_bad(&embeval(&["eval", "--data", st, "--split", "dev"]), &["--split", "this dataset is st"]);
    assert_bad(&embeval(&["eval", "--data", st, "--min-relevance", "0.5"]), &["--min-relevance", "this dataset is st"]);
    let (_t, d) = beir(&[]);
    assert_bad(&eval_beir(&d, &["--min-relevance", "0.5"]), &["--min-relevance", "this dataset is beir"]);
    assert_eq!(eval_beir(&d, &["--split", "test"]).code, Some(0));
}

/// Output files are written beside their names and renamed over them once all are complete: a
/// set that cannot be written (here a folder squats one staging name; a full disk alike) leaves
/// the previous set whole, no half-written file, and an error with a fix.
#[test]
fn a_failed_write_keeps_the_previous_results() {
    let (t, d) = beir(&[]);
    let out = t.path().join("out");
    let o = eval_beir(&d, &["--model", "old=bm25", "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let before: Vec<Vec<u8>> = ["results.json", "results.csv", "per_query.jsonl", "results.md", "report.html"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    std::fs::create_dir(out.join(".report.html.partial")).unwrap();
    let o = eval_beir(&d, &["--model", "new=bm25", "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert!(o.stderr.contains(&format!("{}: cannot write", out.join("report.html").display())), "{}", o.stderr);
    assert!(o.stderr.contains("fix: "), "{}", o.stderr);
    let after: Vec<Vec<u8>> = ["results.json", "results.csv", "per_query.jsonl", "results.md", "report.html"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert!(before == after, "the previous set changed");
    let mut left: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(
        left,
        [".report.html.partial", "per_query.jsonl", "report.html", "results.csv", "results.json", "results.md"]
    );
}

/// Ids that cannot meet give an error or a warning, not a silent table of zeros: a searching
/// model with judgments alone, judgments naming no corpus document (`d1` for `1`), a run none of
/// whose documents is judged (a warning: a poor run may retrieve nothing judged).
#[test]
fn ids_that_cannot_meet_are_named() {
    let (t, _d) = beir(&[]);
    let q = t.path().join("qrels.txt");
    std::fs::write(&q, "q1 0 d1 1\nq2 0 d2 1\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--model", "bm25"]);
    assert_bad(
        &o,
        &["--model: 'bm25' searches a corpus, and this dataset has none", "--data FOLDER --format trec --qrels FILE"],
    );

    let numbered = CORPUS.replace("\"d1\"", "\"1\"").replace("\"d2\"", "\"2\"").replace("\"d3\"", "\"3\"");
    let (_t, d) = beir(&[("corpus.jsonl", numbered.as_bytes())]);
    let o = eval_beir(&d, &["--model", "bm25"]);
    assert_bad(
        &o,
        &[
            &d.join("qrels/test.tsv").display().to_string(),
            "none of its relevant documents is in the corpus (judged: 'd1', 'd2', 'd3'; corpus: '1', '2', '3')",
        ],
    );

    let run = t.path().join("x.run");
    std::fs::write(&run, "q1 Q0 x1 1 0.9 r\nq2 Q0 x2 1 0.8 r\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("x: none of its document ids is judged (run: 'x1', 'x2'; judged: 'd1', 'd2')"),
        "{}",
        o.stderr
    );
}

/// `--qrels` given a folder says so; a run that is not a regular file (a pipe, /dev/null) is
/// read as a file is (`--run <(zcat run.gz)` works), not called missing.
#[test]
fn qrels_folders_and_runs_that_are_not_regular_files() {
    let (t, d) = beir(&[]);
    let o = embeval(&["eval", "--qrels", d.to_str().unwrap(), "--run", "/dev/null"]);
    assert_bad(&o, &[&format!("{}: a folder, where a file was expected", d.display()), "--qrels"]);
    let q = t.path().join("qrels.txt");
    std::fs::write(&q, "q1 0 d1 1\n").unwrap();
    let o = embeval(&["eval", "--qrels", q.to_str().unwrap(), "--run", "/dev/null"]);
    assert_bad(&o, &["/dev/null: the file is empty"]);
}

/// A run whose file name is not UTF-8 (Shift_JIS names from Windows zips) is read, not called
/// missing; reports show the name lossily.
#[cfg(unix)]
#[test]
fn a_run_named_in_another_encoding_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let (t, d) = beir(&[]);
    // "実行.run" in Shift_JIS.
    let run = t.path().join(std::ffi::OsStr::from_bytes(b"\x8e\xc0\x8d\x73.run"));
    std::fs::write(&run, "q1 Q0 d1 1 2.5 sys\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", d.to_str().unwrap(), "--quiet", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| 1 |"), "{}", String::from_utf8_lossy(&o.stdout));
}
