//! Every loader on real files from `../shared/data` (read-only, never copied into the repo):
//! BEIR (xquad-en, jsquad-valid, tatoeba-ja-en), the sentence-transformers triple and QA logs
//! (built in a tempdir from real xquad-en / jsquad records), TREC qrels from `qrels-only/`
//! and TREC runs from `jqara/runs`, plus the validation report on small crafted datasets and
//! BOM / CRLF input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embeval::data::{Format, Text};
use embeval::{Dataset, Error, Files, LoadOptions};
use serde_json::{json, Value};

/// The validation report under the default convention (`trec`).
fn validate(ds: &Dataset) -> embeval::data::validate::Validation {
    embeval::data::validate::validate(ds, embeval::Convention::Trec)
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel)
}

fn load_dir(rel: &str) -> Dataset {
    let files = Files::from_dir(&data(rel)).expect("dataset folder");
    Dataset::load(&files, &LoadOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn find<'a>(v: &'a [Text], id: &str) -> &'a Text {
    v.iter().find(|t| t.id == id).unwrap_or_else(|| panic!("id {id} not found"))
}

fn num_judgments(ds: &Dataset) -> usize {
    ds.qrels.values().map(|m| m.len()).sum()
}

// ---------------------------------------------------------------------------------------------
// BEIR

#[test]
fn beir_xquad_en_counts_and_title_text() {
    let ds = load_dir("xquad-en");
    assert_eq!(ds.format, Format::Beir);
    assert_eq!(ds.corpus.len(), 240);
    assert_eq!(ds.queries.len(), 1190);
    assert_eq!(ds.qrels.len(), 1190);
    assert_eq!(num_judgments(&ds), 1190);
    assert!(ds.qrels.values().flat_map(|m| m.values()).all(|&r| r == 1));
    // File order is kept.
    assert_eq!(ds.corpus[0].id, "xq00p00");
    assert_eq!(ds.queries[0].id, "56beb4343aeaaa14008c925b");
    assert_eq!(ds.queries[0].text, "How many points did the Panthers defense surrender?");
    assert_eq!(ds.qrels["56beb4343aeaaa14008c925b"], BTreeMap::from([("xq00p00".to_string(), 1)]));
    // title + " " + text, checked against the raw JSON of the same record.
    let raw = &jsonl(&data("xquad-en/corpus.jsonl"))[0];
    let (title, text) = (raw["title"].as_str().unwrap(), raw["text"].as_str().unwrap());
    assert_eq!(title, "Super_Bowl_50");
    assert_eq!(ds.corpus[0].text, format!("{title} {text}"));
    assert!(ds.corpus[0].text.starts_with("Super_Bowl_50 The Panthers defense gave up just 308 points"));

    let v = validate(&ds);
    assert_eq!(
        (v.num_queries, v.num_docs, v.num_qrels, v.num_relevant_qrels, v.num_evaluated_queries),
        (1190, 240, 1190, 1190, 1190)
    );
    assert!(v.warnings().is_empty(), "{:?}", v.warnings());
}

#[test]
fn beir_doc_text_option_uses_text_only() {
    let files = Files::from_dir(&data("xquad-en")).unwrap();
    let opts = LoadOptions { doc_text: embeval::data::DocText::Text, ..LoadOptions::default() };
    let ds = Dataset::load(&files, &opts).unwrap();
    let raw = &jsonl(&data("xquad-en/corpus.jsonl"))[0];
    assert_eq!(ds.corpus[0].text, raw["text"].as_str().unwrap());
}

#[test]
fn beir_jsquad_valid_japanese_round_trips() {
    let ds = load_dir("jsquad-valid");
    assert_eq!(ds.corpus.len(), 1145);
    assert_eq!(ds.queries.len(), 4442);
    assert_eq!(ds.qrels.len(), 4442);
    assert_eq!(num_judgments(&ds), 4442);
    // Exact Japanese text, byte for byte.
    let q = find(&ds.queries, "a10336p0q0");
    assert_eq!(q.text, "日本で梅雨がないのは北海道とどこか。");
    assert_eq!(q.text.as_bytes(), "日本で梅雨がないのは北海道とどこか。".as_bytes());
    let d = find(&ds.corpus, "a10336p0");
    assert!(d.text.starts_with("梅雨 梅雨（つゆ、ばいう）は、北海道と小笠原諸島を除く日本、"), "{}", d.text);
    assert!(d.text.ends_with("雨季の一種である。"));
    assert_eq!(ds.qrels["a10336p0q0"], BTreeMap::from([("a10336p0".to_string(), 1)]));
    // Every query and doc equals its raw record (title + " " + text for docs).
    let raw_q = jsonl(&data("jsquad-valid/queries.jsonl"));
    for (t, r) in ds.queries.iter().zip(&raw_q) {
        assert_eq!(t.id, r["_id"].as_str().unwrap());
        assert_eq!(t.text, r["text"].as_str().unwrap());
    }
    let raw_d = jsonl(&data("jsquad-valid/corpus.jsonl"));
    for (t, r) in ds.corpus.iter().zip(&raw_d) {
        let joined = format!("{} {}", r["title"].as_str().unwrap(), r["text"].as_str().unwrap());
        assert_eq!(t.text, joined.trim());
    }
    // Doc id = question id without its qN suffix.
    for (q, m) in &ds.qrels {
        let d = m.keys().next().unwrap();
        assert_eq!(q.rsplit_once('q').unwrap().0, d);
    }
}

#[test]
fn beir_tatoeba_cross_lingual_empty_titles() {
    let ds = load_dir("tatoeba-ja-en");
    assert_eq!((ds.corpus.len(), ds.queries.len(), ds.qrels.len(), num_judgments(&ds)), (1000, 1000, 1000, 1000));
    assert_eq!(find(&ds.queries, "ja0").text, "言う価値のあることがなければ、しゃべるな。");
    // Empty title: the text alone, no leading space.
    assert_eq!(find(&ds.corpus, "en0").text, "Don't speak unless you have something worth saying.");
    assert_eq!(ds.qrels["ja0"], BTreeMap::from([("en0".to_string(), 1)]));
    assert!(validate(&ds).warnings().is_empty());
}

#[test]
fn beir_split_choice_and_missing_split_lists_available() {
    let tmp = tempfile::tempdir().unwrap();
    // A dev split over the first 10 real xquad-en judgments; corpus and queries stay the real files.
    let test = std::fs::read_to_string(data("xquad-en/qrels/test.tsv")).unwrap();
    let dev: Vec<&str> = test.lines().take(11).collect();
    let dev_path = tmp.path().join("dev.tsv");
    std::fs::write(&dev_path, dev.join("\n") + "\n").unwrap();
    let mut files = Files::new(data("xquad-en").display().to_string());
    files
        .add_path("corpus.jsonl", data("xquad-en/corpus.jsonl"))
        .add_path("queries.jsonl", data("xquad-en/queries.jsonl"))
        .add_path("qrels/test.tsv", data("xquad-en/qrels/test.tsv"))
        .add_path("qrels/dev.tsv", &dev_path);
    let opts = LoadOptions { split: "dev".into(), ..LoadOptions::default() };
    let ds = Dataset::load(&files, &opts).unwrap();
    assert_eq!(ds.queries.len(), 1190);
    assert_eq!(ds.qrels.len(), 10);
    let v = validate(&ds);
    assert_eq!(v.num_evaluated_queries, 10);
    assert_eq!(v.queries_without_positive.count, 1180);
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.qrels.len(), 1190);

    // A split that does not exist: the error names the missing file and lists the splits there.
    let files = Files::from_dir(&data("xquad-en")).unwrap();
    let opts = LoadOptions { split: "validation".into(), ..LoadOptions::default() };
    let err = Dataset::load(&files, &opts).unwrap_err();
    match &err {
        Error::Missing { file, what, fix } => {
            assert!(file.ends_with("qrels/validation.tsv"), "{file}");
            assert!(what.contains("validation"), "{what}");
            assert!(fix.contains("--split") && fix.contains("test"), "{fix}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 2);
    // The listed names are usable --split values, not file paths.
    let msg = err.to_string();
    assert!(msg.contains("choose --split from: test"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// sentence-transformers triple, from real xquad-en records

#[test]
fn st_triple_from_real_xquad() {
    let queries = jsonl(&data("xquad-en/queries.jsonl"));
    let corpus = jsonl(&data("xquad-en/corpus.jsonl"));
    let qrels = std::fs::read_to_string(data("xquad-en/qrels/test.tsv")).unwrap();
    // Objects in file order (serde_json's preserve_order feature).
    let mut q = serde_json::Map::new();
    for r in &queries {
        q.insert(r["_id"].as_str().unwrap().into(), r["text"].clone());
    }
    let mut c = serde_json::Map::new();
    for r in &corpus {
        c.insert(r["_id"].as_str().unwrap().into(), r["text"].clone());
    }
    let mut rel: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in qrels.lines().skip(1) {
        let cols: Vec<&str> = l.split('\t').collect();
        rel.entry(cols[0].into()).or_default().push(cols[1].into());
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("queries.json"), serde_json::to_vec_pretty(&q).unwrap()).unwrap();
    std::fs::write(tmp.path().join("corpus.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    std::fs::write(tmp.path().join("relevant_docs.json"), serde_json::to_vec(&rel).unwrap()).unwrap();

    let files = Files::from_dir(tmp.path()).unwrap();
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.format, Format::St);
    assert_eq!((ds.queries.len(), ds.corpus.len(), ds.qrels.len(), num_judgments(&ds)), (1190, 240, 1190, 1190));
    // File order kept, texts exact (the text field alone: the triple has no titles).
    for (t, r) in ds.queries.iter().zip(&queries) {
        assert_eq!((t.id.as_str(), t.text.as_str()), (r["_id"].as_str().unwrap(), r["text"].as_str().unwrap()));
    }
    for (t, r) in ds.corpus.iter().zip(&corpus) {
        assert_eq!((t.id.as_str(), t.text.as_str()), (r["_id"].as_str().unwrap(), r["text"].as_str().unwrap()));
    }
    assert_eq!(ds.qrels["56beb4343aeaaa14008c925b"], BTreeMap::from([("xq00p00".to_string(), 1)]));
    let v = validate(&ds);
    assert_eq!(v.format, "st");
    assert_eq!(v.num_evaluated_queries, 1190);
    assert!(v.warnings().is_empty(), "{:?}", v.warnings());
}

// ---------------------------------------------------------------------------------------------
// QA logs, from real jsquad-valid records

#[test]
fn qalog_from_real_jsquad_with_min_relevance() {
    let queries = jsonl(&data("jsquad-valid/queries.jsonl"));
    let corpus = jsonl(&data("jsquad-valid/corpus.jsonl"));
    // A distractor paragraph: another real paragraph than the query's own.
    let distractor = |own: &str| -> String {
        let first = corpus[0]["_id"].as_str().unwrap();
        if own == first {
            corpus[1]["_id"].as_str().unwrap().to_string()
        } else {
            first.to_string()
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut log = String::new();
    let (mut expect_kept, mut expect_dropped_refs, mut expect_dropped_queries) = (0usize, 0usize, 0usize);
    for (i, r) in queries.iter().enumerate() {
        let qid = r["_id"].as_str().unwrap();
        let doc = qid.rsplit_once('q').unwrap().0;
        let refs = if i % 10 == 0 {
            // Only a weak reference: dropped, and the query with it.
            expect_dropped_refs += 1;
            expect_dropped_queries += 1;
            json!([{"doc_id": doc, "relevance_score": 0.5}])
        } else {
            // Its paragraph (exactly 0.7 on every 7th: the threshold keeps >=) and a weak distractor.
            expect_dropped_refs += 1;
            expect_kept += 1;
            let score = if i % 7 == 0 { 0.7 } else { 0.93 };
            json!([{"doc_id": doc, "relevance_score": score}, {"doc_id": distractor(doc), "relevance_score": 0.69}])
        };
        let line = json!({"query_id": qid, "query_text": r["text"], "references": refs});
        log.push_str(&serde_json::to_string(&line).unwrap());
        log.push('\n');
    }
    let mut corpus_jsonl = String::new();
    for r in &corpus {
        corpus_jsonl.push_str(&serde_json::to_string(&json!({"doc_id": r["_id"], "text": r["text"]})).unwrap());
        corpus_jsonl.push('\n');
    }
    // 4442 queries, i = 0, 10, ..., 4440 → 445 dropped, 3997 kept; one reference dropped per query.
    assert_eq!((expect_kept, expect_dropped_queries, expect_dropped_refs), (3997, 445, 4442));
    let log_path = tmp.path().join("log.jsonl");
    let corpus_path = tmp.path().join("docs.jsonl");
    std::fs::write(&log_path, log).unwrap();
    std::fs::write(&corpus_path, corpus_jsonl).unwrap();

    let mut files = Files::new(tmp.path().display().to_string());
    files.add_path("qalog.jsonl", &log_path).add_path("corpus.jsonl", &corpus_path);
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.format, Format::Qalog);
    assert_eq!(ds.queries.len(), 3997);
    assert_eq!(ds.corpus.len(), 1145);
    assert_eq!(ds.qrels.len(), 3997);
    assert_eq!(num_judgments(&ds), 3997);
    assert_eq!(ds.notes.dropped_references, 4442);
    assert_eq!(ds.notes.dropped_queries.len(), 445);
    assert_eq!(ds.notes.dropped_queries[0], "a10336p0q0");
    assert!(!ds.qrels.contains_key("a10336p0q0"));
    // Kept at exactly 0.7 (i = 7), as relevance 1.
    let q7 = queries[7]["_id"].as_str().unwrap();
    assert_eq!(ds.qrels[q7].len(), 1);
    assert_eq!(ds.qrels[q7].values().copied().collect::<Vec<_>>(), vec![1]);
    // Japanese text exact.
    let q1 = find(&ds.queries, queries[1]["_id"].as_str().unwrap());
    assert_eq!(q1.text, queries[1]["text"].as_str().unwrap());
    assert_eq!(find(&ds.corpus, "a10336p0").text, corpus[0]["text"].as_str().unwrap());

    let v = validate(&ds);
    assert_eq!(v.format, "qalog");
    assert_eq!(v.dropped_references, 4442);
    assert_eq!(v.dropped_queries.count, 445);
    assert_eq!(v.dropped_queries.examples.len(), 5);
    assert_eq!(v.num_evaluated_queries, 3997);
    let report = v.to_string();
    assert!(report.contains("dropped (no reference ≥ --min-relevance): 445"), "{report}");
    assert!(report.contains("references below --min-relevance dropped: 4442"), "{report}");

    // A lower threshold keeps the 0.69 distractors and the 0.5-only queries.
    let opts = LoadOptions { min_relevance: 0.5, ..LoadOptions::default() };
    let ds = Dataset::load(&files, &opts).unwrap();
    assert_eq!(ds.queries.len(), 4442);
    assert_eq!(num_judgments(&ds), 3997 * 2 + 445);
    assert_eq!(ds.notes.dropped_references, 0);
}

// ---------------------------------------------------------------------------------------------
// TREC qrels (qrels-only/) and runs (jqara/runs)

fn trec_qrels(file: &str, queries: Option<&str>) -> Dataset {
    let mut files = Files::new("");
    files.add_path("qrels", data(&format!("qrels-only/{file}")));
    if let Some(q) = queries {
        files.add_path("queries.tsv", data(&format!("qrels-only/{q}")));
    }
    let opts = LoadOptions { format: Format::Trec, ..LoadOptions::default() };
    Dataset::load(&files, &opts).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn grades(ds: &Dataset) -> BTreeMap<i32, usize> {
    let mut g = BTreeMap::new();
    for r in ds.qrels.values().flat_map(|m| m.values()) {
        *g.entry(*r).or_default() += 1;
    }
    g
}

#[test]
fn trec_qrels_scifact_space_separated() {
    // `1 0 31715818 1`: single spaces.
    let ds = trec_qrels("qrels.beir-v1.0.0-scifact.test.txt", Some("topics.beir-v1.0.0-scifact.test.tsv.gz"));
    assert_eq!(ds.format, Format::Trec);
    assert_eq!(ds.qrels.len(), 300);
    assert_eq!(num_judgments(&ds), 339);
    assert_eq!(grades(&ds), BTreeMap::from([(1, 339)]));
    assert_eq!(ds.qrels["1"], BTreeMap::from([("31715818".to_string(), 1)]));
    // Query texts from the gzipped topics file.
    assert_eq!(find(&ds.queries, "1").text, "0-dimensional biomaterials show inductive properties.");
    assert!(ds.queries.iter().all(|q| !q.text.is_empty()));
    let v = validate(&ds);
    assert_eq!((v.num_queries, v.num_docs, v.num_evaluated_queries), (300, 0, 300));
    assert_eq!(v.qrels_missing_docs.count, 0, "no corpus: nothing checked");
}

#[test]
fn trec_qrels_nfcorpus_graded() {
    let ds = trec_qrels("qrels.beir-v1.0.0-nfcorpus.test.txt", Some("topics.beir-v1.0.0-nfcorpus.test.tsv.gz"));
    assert_eq!(ds.qrels.len(), 323);
    assert_eq!(num_judgments(&ds), 12334);
    assert_eq!(grades(&ds), BTreeMap::from([(1, 11758), (2, 576)]));
    assert_eq!(ds.qrels["PLAIN-2"]["MED-2427"], 2);
    assert!(ds.queries.iter().all(|q| !q.text.is_empty()));
}

#[test]
fn trec_qrels_miracl_ja_tab_separated_with_zero_grades() {
    // `0<TAB>Q0<TAB>2681119#1<TAB>1`: tabs, `#` in doc ids, and grade-0 judgments.
    let raw = std::fs::read_to_string(data("qrels-only/qrels.miracl-v1.0-ja-dev.tsv")).unwrap();
    assert!(raw.lines().next().unwrap().contains('\t'));
    let ds = trec_qrels("qrels.miracl-v1.0-ja-dev.tsv", Some("topics.miracl-v1.0-ja-dev.tsv"));
    assert_eq!(ds.qrels.len(), 860);
    assert_eq!(num_judgments(&ds), 8354);
    assert_eq!(grades(&ds), BTreeMap::from([(0, 6564), (1, 1790)]));
    assert_eq!(ds.qrels["0"]["2681119#1"], 1);
    assert_eq!(ds.qrels["0"]["2681119#0"], 0);
    assert_eq!(find(&ds.queries, "4").text, "森上亜希子の出身はどこ");
    let v = validate(&ds);
    assert_eq!((v.num_qrels, v.num_relevant_qrels, v.num_evaluated_queries), (8354, 1790, 860));
}

#[test]
fn trec_qrels_mrtydi_ja() {
    let ds = trec_qrels("qrels.mrtydi-v1.1-ja.test.txt", Some("topics.mrtydi-v1.1-ja.test.txt.gz"));
    assert_eq!(ds.qrels.len(), 720);
    assert_eq!(num_judgments(&ds), 923);
    assert_eq!(grades(&ds), BTreeMap::from([(1, 923)]));
    assert_eq!(ds.qrels["4631"]["88104#2"], 1);
    assert_eq!(find(&ds.queries, "4631").text, "化学兵器禁止条約はどこで採択された？");
    assert_eq!(find(&ds.queries, "4632").text, "『莫逆家族』の実写映画版で主演を務めたのは誰");
}

#[test]
fn trec_runs_jqara_gz() {
    for (name, first_doc, first_score) in [
        ("bm25", "3349535", 27.11525967888486),
        ("multilingual-e5-small", "5191928", 0.8887163400650024),
        ("ruri-small", "5191928", 0.87060546875),
    ] {
        let mut files = Files::new("");
        files.add_path("run", data(&format!("jqara/runs/{name}.trec.gz")));
        let r = embeval::data::trec::read_run(&files, "run").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.queries.len(), 1667, "{name}");
        assert!(r.queries.iter().all(|q| q.hits.len() == 100), "{name}");
        assert_eq!(
            r.doc_ids.iter().collect::<std::collections::HashSet<_>>().len(),
            144372,
            "{name}: distinct doc ids"
        );
        let q = &r.queries[0];
        assert_eq!(q.query_id, "QA20CAPR-1004");
        assert_eq!(&r.doc_ids[q.hits[0].doc as usize], first_doc);
        assert_eq!(q.hits[0].score, first_score, "{name}: scores parsed exactly as f64");
    }
    // The jqara qrels (no trailing newline on the last line) read as TREC qrels too.
    let mut files = Files::new("");
    files.add_path("qrels", data("jqara/qrels.trec"));
    let ds = Dataset::load(&files, &LoadOptions { format: Format::Trec, ..LoadOptions::default() }).unwrap();
    assert_eq!(ds.qrels.len(), 1667);
    assert_eq!(num_judgments(&ds), 16204);
}

// ---------------------------------------------------------------------------------------------
// The validation report, on small crafted datasets

fn beir_bytes(corpus: &str, queries: &str, qrels: &str) -> Files {
    let mut files = Files::new("mem");
    files
        .add_bytes("corpus.jsonl", "mem/corpus.jsonl", corpus.as_bytes().to_vec())
        .add_bytes("queries.jsonl", "mem/queries.jsonl", queries.as_bytes().to_vec())
        .add_bytes("qrels/test.tsv", "mem/qrels/test.tsv", qrels.as_bytes().to_vec());
    files
}

#[test]
fn validation_report_findings() {
    let corpus = r#"{"_id": "d1", "title": "", "text": "alpha"}
{"_id": "d2", "title": "", "text": "   "}
{"_id": "d1", "title": "", "text": "alpha again"}
{"_id": "q3", "title": "t", "text": "a doc whose id is also a query id"}
{"_id": 7, "text": "integer id, no title"}
"#;
    let queries = r#"{"_id": "q1", "text": "first"}
{"_id": "q2", "text": "second"}
{"_id": "q3", "text": "third"}
{"_id": "q1", "text": "first again"}
{"_id": "q4", "text": " "}
"#;
    let qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td9\t1\nq5\td1\t1\nq3\td1\t0\nq1\td1\t2\nq1\t7\t0\n";
    let ds = Dataset::load(&beir_bytes(corpus, queries, qrels), &LoadOptions::default()).unwrap();
    // An id that comes again: its first place, its last text (as BEIR's loader:
    // beir_folder_reads_as_beirs_loader_does); the last of duplicate judgments.
    assert_eq!(find(&ds.corpus, "d1").text, "alpha again");
    assert_eq!(find(&ds.queries, "q1").text, "first again");
    assert_eq!(ds.qrels["q1"]["d1"], 2);
    assert_eq!(find(&ds.corpus, "7").text, "integer id, no title");
    assert_eq!(find(&ds.corpus, "q3").text, "t a doc whose id is also a query id");

    let v = validate(&ds);
    let f = |x: &embeval::data::validate::Finding| (x.count, x.examples.clone());
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!((v.num_queries, v.num_docs), (4, 4));
    // q1:{d1,7} q2:{d9} q3:{d1 graded 0} q5:{d1}; q3 is judged: evaluated under trec (0 in
    // every metric, as trec_eval), skipped under st.
    assert_eq!((v.num_qrels, v.num_relevant_qrels, v.num_evaluated_queries), (5, 3, 3));
    let st = embeval::data::validate::validate(&ds, embeval::Convention::St);
    assert_eq!(st.num_evaluated_queries, 2);
    assert_eq!(f(&st.queries_without_positive), (2, s(&["q3", "q4"])));
    assert_eq!(st.judged_queries_without_positive.count, 0);
    assert_eq!(f(&v.duplicate_query_ids), (1, s(&["q1"])));
    assert_eq!(f(&v.duplicate_doc_ids), (1, s(&["d1"])));
    assert_eq!(f(&v.duplicate_qrels), (1, s(&["q1 d1"])));
    assert_eq!(f(&v.qrels_missing_docs), (1, s(&["q2 d9"])));
    assert_eq!(f(&v.qrels_missing_queries), (1, s(&["q5"])));
    assert_eq!(f(&v.queries_without_positive), (1, s(&["q4"])));
    assert_eq!(f(&v.judged_queries_without_positive), (1, s(&["q3"])));
    assert_eq!(f(&v.empty_queries), (1, s(&["q4"])));
    assert_eq!(f(&v.empty_docs), (1, s(&["d2"])));
    assert_eq!(f(&v.ids_shared_by_query_and_doc), (1, s(&["q3"])));
    assert_eq!(v.dropped_references, 0);
    assert_eq!(v.warnings().len(), 10);
    let text = v.to_string();
    assert!(
        text.starts_with("dataset (beir): 4 queries, 4 docs, 5 judgments (3 relevant), 3 queries evaluated"),
        "{text}"
    );
    assert!(text.contains("judged queries without a relevant doc (0 in every metric, as trec_eval): 1 (e.g. q3)"));
    assert!(text.contains("judgments for docs not in the corpus: 1 (e.g. q2 d9)"), "{text}");
    assert!(text.contains("ids used for both a query and a doc: 1 (e.g. q3)"), "{text}");
}

#[test]
fn validation_examples_are_capped_at_five() {
    let corpus = r#"{"_id": "d1", "text": "x"}"#;
    let queries: String = (0..12).map(|i| format!("{{\"_id\": \"q{i:02}\", \"text\": \"q\"}}\n")).collect();
    let qrels = "q00\td1\t1\n";
    let ds = Dataset::load(&beir_bytes(corpus, &queries, qrels), &LoadOptions::default()).unwrap();
    let v = validate(&ds);
    assert_eq!(v.queries_without_positive.count, 11);
    assert_eq!(v.queries_without_positive.examples, vec!["q01", "q02", "q03", "q04", "q05"]);
    assert_eq!(v.num_evaluated_queries, 1);
}

// ---------------------------------------------------------------------------------------------
// UTF-8 BOM and CRLF

#[test]
fn bom_and_crlf_accepted_everywhere() {
    let bom = "\u{feff}";
    let corpus = format!("{bom}{{\"_id\": \"d1\", \"title\": \"見出し\", \"text\": \"本文です\"}}\r\n{{\"_id\": \"d2\", \"text\": \"two\"}}\r\n\r\n");
    let queries =
        format!("{bom}{{\"_id\": \"q1\", \"text\": \"質問\"}}\r\n{{\"_id\": \"q2\", \"text\": \"two?\"}}\r\n");
    let qrels = format!("{bom}query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td2\t2\r\n");
    let ds = Dataset::load(&beir_bytes(&corpus, &queries, &qrels), &LoadOptions::default()).unwrap();
    assert_eq!(ds.corpus.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["d1", "d2"]);
    assert_eq!(ds.corpus[0].text, "見出し 本文です");
    assert_eq!(ds.queries[0].text, "質問");
    assert_eq!(ds.qrels.len(), 2, "the BOM-prefixed header is recognised as a header");
    assert_eq!(ds.qrels["q1"]["d1"], 1);
    assert_eq!(ds.qrels["q2"]["d2"], 2);
    assert!(validate(&ds).warnings().is_empty());

    // TREC qrels and runs with BOM + CRLF.
    let mut files = Files::new("mem");
    files.add_bytes("qrels", "mem/qrels", format!("{bom}q1 0 d1 1\r\nq1 0 d2 0\r\n").into_bytes());
    files.add_bytes("run", "mem/run", format!("{bom}q1 Q0 d2 1 2.5 sys\r\nq1 Q0 d1 2 1.5 sys\r\n").into_bytes());
    let ds = Dataset::load(&files, &LoadOptions { format: Format::Trec, ..LoadOptions::default() }).unwrap();
    assert_eq!(ds.qrels["q1"], BTreeMap::from([("d1".to_string(), 1), ("d2".to_string(), 0)]));
    let r = embeval::data::trec::read_run(&files, "run").unwrap();
    assert_eq!(r.doc_ids.iter().collect::<Vec<_>>(), ["d2", "d1"]);
    assert_eq!(r.queries[0].hits.iter().map(|h| h.score).collect::<Vec<_>>(), [2.5, 1.5]);

    // The sentence-transformers triple with a BOM and CRLF line ends.
    let mut files = Files::new("mem");
    files
        .add_bytes("queries.json", "mem/queries.json", format!("{bom}{{\r\n\"q1\": \"質問\"\r\n}}\r\n").into_bytes())
        .add_bytes("corpus.json", "mem/corpus.json", format!("{bom}{{\"d1\": \"本文\"}}").into_bytes())
        .add_bytes(
            "relevant_docs.json",
            "mem/relevant_docs.json",
            format!("{bom}{{\"q1\": [\"d1\"]}}\r\n").into_bytes(),
        );
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.format, Format::St);
    assert_eq!(ds.queries[0].text, "質問");
    assert_eq!(ds.qrels["q1"]["d1"], 1);
}

// ---------------------------------------------------------------------------------------------
// The bundled demo dataset

#[test]
fn demo_dataset_loads_clean() {
    let files = Files::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")).unwrap();
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    let v = validate(&ds);
    assert_eq!(
        (v.num_docs, v.num_queries, v.num_qrels, v.num_relevant_qrels, v.num_evaluated_queries),
        (50, 38, 69, 66, 38)
    );
    assert!(v.warnings().is_empty(), "{:?}", v.warnings());
    let japanese = |t: &Text| t.text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c));
    assert_eq!(ds.corpus.iter().filter(|t| japanese(t)).count(), 25);
    assert_eq!(ds.queries.iter().filter(|t| japanese(t)).count(), 20);
    assert!(ds.qrels.values().flat_map(|m| m.values()).all(|r| (0..=2).contains(r)));
}

/// A BEIR folder whose documents, queries and a judgment come twice reads as BEIR 2.2.0's
/// GenericDataLoader reads it (tests/fixtures/beir_loader/make_fixture.py): the same ids in the
/// same order, each with its last text (a document's as BEIR's models encode it), the same
/// judgments — texts held, or dropped and read again from the file.
#[test]
fn beir_folder_reads_as_beirs_loader_does() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/beir_loader");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let pairs = |v: &Value| -> Vec<(String, String)> { serde_json::from_value(v.clone()).unwrap() };
    let files = Files::from_dir(&dir.join("data")).unwrap();
    for keep_doc_texts in [true, false] {
        let ds = Dataset::load(&files, &LoadOptions { keep_doc_texts, ..Default::default() }).unwrap();
        let mut corpus = Vec::new();
        ds.docs_in_parts(&files, 0..ds.corpus.len(), 4, false, &mut |part| {
            corpus.extend(part.iter().map(|d| (d.id.clone(), d.text.clone())));
            Ok(())
        })
        .unwrap();
        assert_eq!(corpus, pairs(&want["corpus"]), "keep_doc_texts {keep_doc_texts}");
        let queries: Vec<(String, String)> = ds.queries.iter().map(|q| (q.id.clone(), q.text.clone())).collect();
        assert_eq!(queries, pairs(&want["queries"]));
        assert_eq!(serde_json::to_value(&ds.qrels).unwrap(), want["qrels"]);
        assert_eq!((ds.notes.duplicate_doc_ids.len(), ds.notes.duplicate_query_ids.len()), (2, 1));
    }
}

/// A query logged again in a QA log keeps its first place and takes its last entry, as ids
/// do in the other formats: its text and references; a last entry with no reference left
/// drops the query.
#[test]
fn a_query_logged_again_takes_its_last_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let log = [
        json!({"query_id": "q1", "query_text": "最初", "references": [{"doc_id": "d1", "relevance_score": 0.9}]}),
        json!({"query_id": "q2", "query_text": "two", "references": [{"doc_id": "d2", "relevance_score": 0.9}]}),
        json!({"query_id": "q3", "query_text": "three", "references": [{"doc_id": "d1", "relevance_score": 0.8}]}),
        json!({"query_id": "q1", "query_text": "もう一度", "references": [{"doc_id": "d2", "relevance_score": 0.95}]}),
        json!({"query_id": "q2", "query_text": "two", "references": [{"doc_id": "d1", "relevance_score": 0.1}]}),
    ];
    let files =
        qalog_files(tmp.path(), &log, "{\"doc_id\": \"d1\", \"text\": \"a\"}\n{\"doc_id\": \"d2\", \"text\": \"b\"}\n");
    let ds = Dataset::load(&files, &LoadOptions::default()).unwrap();
    let queries: Vec<(&str, &str)> = ds.queries.iter().map(|q| (q.id.as_str(), q.text.as_str())).collect();
    assert_eq!(queries, [("q1", "もう一度"), ("q3", "three")]);
    assert_eq!(serde_json::to_value(&ds.qrels).unwrap(), json!({"q1": {"d2": 1}, "q3": {"d1": 1}}));
    assert_eq!(ds.notes.duplicate_query_ids, ["q1", "q2"]);
    assert_eq!(ds.notes.dropped_queries, ["q2"]);
}

/// A QA log's corpus in BEIR's shape (`_id`, `title`, `text`) reads as BEIR's does: the title
/// joined before the text (not dropped), or the text alone with `--doc-text text`.
#[test]
fn a_qa_logs_beir_shaped_corpus_keeps_its_titles() {
    let tmp = tempfile::tempdir().unwrap();
    let log = json!({"query_id": "q1", "query_text": "首都", "references": [{"doc_id": "d1", "relevance_score": 0.9}]});
    let files = qalog_files(
        tmp.path(),
        &[log],
        "{\"_id\": \"d1\", \"title\": \"首都\", \"text\": \"東京です。\"}\n{\"doc_id\": \"d2\", \"text\": \" b \"}\n",
    );
    let texts = |doc_text| {
        let ds = Dataset::load(&files, &LoadOptions { doc_text, ..Default::default() }).unwrap();
        ds.corpus.iter().map(|d| d.text.clone()).collect::<Vec<_>>()
    };
    assert_eq!(texts(embeval::data::DocText::TitleText), ["首都 東京です。", "b"]);
    assert_eq!(texts(embeval::data::DocText::Text), ["東京です。", "b"]);
}

/// A QA log of `entries` and its corpus `docs` (JSON lines), written into `dir`, as files.
fn qalog_files(dir: &Path, entries: &[Value], docs: &str) -> Files {
    let log: String = entries.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("log.jsonl"), log).unwrap();
    std::fs::write(dir.join("docs.jsonl"), docs).unwrap();
    let mut files = Files::new(dir.display().to_string());
    files.add_path("qalog.jsonl", dir.join("log.jsonl")).add_path("corpus.jsonl", dir.join("docs.jsonl"));
    files
}
