//! Evaluations larger than one machine, through the binary: `embeval encode --shard I/N` jobs
//! run as separate processes, then `embeval eval --doc-embeddings DIR`, with the tiny
//! Qwen3-Embedding-shaped model (tests/fixtures/tiny_models/qwen3-embedding, last-token
//! pooling) on real data from ../shared/data:
//! - vaswani-npl (11,429 physics abstracts, 93 queries; its TREC files are turned into a BEIR
//!   folder here): three encode jobs, then the streamed eval, equal one `embeval eval` exactly:
//!   every metric and every query's top 100 (doc ids and scores). The shard boundaries (docs
//!   3809 and 7619) straddle the search's 4096-doc blocks, so the streaming and merging run;
//! - xquad-en (240 paragraphs): the same with `--truncate-dim`, `--score dot` and the st
//!   convention; the files and their manifest; and each mismatch — a missing shard, another
//!   model, prompt or corpus, shards of two different N, a truncated or damaged file — an error
//!   (exit code 2) naming the file and the fix.
//!
//! Exactness needs equal vectors, and a document's vector depends on its batch here: with the
//! default `--batch-size 32`, 113 of vaswani's 11,429 doc vectors from three shards differ from
//! one process's in the last bits (up to 3e-7: different neighbours give another padded length,
//! so other GEMM shapes), which moves scores in every query's top 100 (not the ids). So both
//! sides run `--batch-size 1`: every text is encoded alone, the vectors are bit-equal by
//! construction, and the results are compared exactly, not within a tolerance.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model(name: &str) -> String {
    root().join("tests/fixtures/tiny_models").join(name).display().to_string()
}

fn xquad() -> String {
    root().join("../shared/data/xquad-en").display().to_string()
}

fn embeval(args: &[&str]) -> Output {
    embeval_env(args, &[])
}

fn embeval_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embeval")).args(args).envs(env.iter().copied()).output().expect("run embeval")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "embeval failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The error message of a run that must fail with exit code 2.
fn fails(o: Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "expected exit code 2, got {:?}: {err}", o.status.code());
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// One `embeval encode` job.
fn encode(data: &str, model: &str, shard: &str, out: &Path, extra: &[&str]) -> Output {
    encode_env(data, model, shard, out, extra, &[])
}

/// One `embeval encode` job with environment variables `env`.
fn encode_env(data: &str, model: &str, shard: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let out = out.display().to_string();
    let mut args = vec!["encode", "--data", data, "--model", model, "--shard", shard, "--out", &out, "-q"];
    if !extra.contains(&"--cache") {
        args.push("--no-cache");
    }
    args.extend_from_slice(extra);
    embeval_env(&args, env)
}

/// `embeval eval` of the tiny Qwen3 model, one process or (`shards`) streamed from shards
/// (`chunk_rows` of a shard at a time, else the default); returns results.json and
/// per_query.jsonl.
fn eval(data: &str, shards: Option<&Path>, chunk_rows: Option<&str>, extra: &[&str]) -> (Value, String) {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let m = model("qwen3-embedding");
    let mut args = vec!["eval", "--data", data, "--model", &m, "--no-cache", "--out", &o, "-q"];
    if !extra.contains(&"--search") {
        args.extend(["--search", "cpu"]);
    }
    let dir = shards.map(|s| s.display().to_string());
    if let Some(d) = &dir {
        args.extend(["--doc-embeddings", d]);
    }
    args.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = chunk_rows.map(|n| ("EMBEVAL_SHARD_CHUNK_ROWS", n)).into_iter().collect();
    ok(embeval_env(&args, &env));
    let results = serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap()).unwrap();
    (results, std::fs::read_to_string(out.path().join("per_query.jsonl")).unwrap())
}

/// results.json without what may differ between the two ways: timings and how it searched.
fn comparable(mut r: Value) -> (Value, Value) {
    let m = r["models"][0].as_object_mut().unwrap();
    m.remove("timings");
    let search = m.remove("search").unwrap();
    (r, search)
}

/// Three encode processes (each encoding and writing its slice 37 documents at a time; the
/// last one given a folder that holds only the corpus file, as a job's machine may), then
/// the streamed eval, against one process: equal in everything but timings, and the search
/// path says it streamed. Streamed again reading 37 rows of a shard at a time (the search
/// blocks then straddle chunks inside and across shards): equal too.
fn sharded_equals_one_process(data: &str, extra: &[&str]) -> (Value, Value) {
    let shards = tempfile::tempdir().unwrap();
    let corpus_only = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(data).join("corpus.jsonl"), corpus_only.path().join("corpus.jsonl")).unwrap();
    let m = model("qwen3-embedding");
    for i in 0..3 {
        let parts = [("EMBEVAL_SHARD_CHUNK_ROWS", "37")];
        let data = if i == 2 { corpus_only.path().to_str().unwrap() } else { data };
        let o = ok(encode_env(data, &m, &format!("{i}/3"), shards.path(), &["--batch-size", "1"], &parts));
        let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(printed, shards.path().join(format!("shard-{i}-of-3.safetensors")).display().to_string());
    }
    let mut args = vec!["--batch-size", "1", "--top", "100"];
    args.extend_from_slice(extra);
    let (one, one_pq) = eval(data, None, None, &args);
    assert_eq!(one_pq.lines().count(), one["models"][0]["num_queries"].as_u64().unwrap() as usize);
    let (one, _) = comparable(one);
    let mut searches = Vec::new();
    for chunk_rows in [None, Some("37")] {
        let (streamed, streamed_pq) = eval(data, Some(shards.path()), chunk_rows, &args);
        assert!(one_pq == streamed_pq, "per_query.jsonl differs ({chunk_rows:?} rows at a time)");
        let (streamed, search) = comparable(streamed);
        assert_eq!(one, streamed, "{chunk_rows:?} rows at a time");
        assert_eq!(search["path"], "cpu, streamed from 3 shards");
        assert_eq!(search["throughput"]["docs"]["from_shards"], 3);
        searches.push(search);
    }
    (one, searches.swap_remove(0))
}

/// BM25 indexes the same documents whether the dataset holds their texts (another model reads
/// them) or not (bm25 alone, or beside document vectors from shards: corpus.jsonl read again
/// 4,096 documents at a time — three parts here): the same rankings, scores and metrics.
#[test]
fn bm25_from_the_corpus_file_equals_bm25_from_held_texts() {
    let files = embeval::Files::from_dir(Path::new(&common::vaswani_beir())).unwrap();
    let config = embeval::Config { models: vec!["bm25".into()], k: vec![1, 10, 100], ..Default::default() };
    assert!(!config.load_options().keep_doc_texts, "bm25 alone: the texts are not held");
    let run = |keep_doc_texts| {
        let load = embeval::LoadOptions { keep_doc_texts, ..config.load_options() };
        let ds = embeval::Dataset::load(&files, &load).unwrap();
        assert_eq!(ds.has_doc_texts(), keep_doc_texts);
        let report = embeval::evaluate_dataset(&files, &ds, &config, &embeval::Quiet, &mut |_| Ok(())).unwrap();
        let m = report.models.into_iter().next().unwrap();
        let top: Vec<_> = m.per_query.iter().map(|q| (q.query_id.clone(), q.top.clone())).collect();
        (m.metrics, top)
    };
    let (held, read_again) = (run(true), run(false));
    assert_eq!(held.1.len(), 93);
    assert!(held.1.iter().all(|(_, top)| !top.is_empty()));
    assert_eq!(held, read_again);
}

/// The streamed eval does not hold the documents' texts (it checks them by digest, and reads
/// the corpus again for the previews a report shows): its failure lists and `--details texts`
/// previews equal those of the run that held them.
#[test]
fn three_encode_jobs_then_streamed_eval_equal_one_process() {
    let (one, _) = sharded_equals_one_process(&common::vaswani_beir(), &["--failures", "5", "--details", "texts"]);
    assert_eq!(one["dataset"]["num_docs"], 11429, "{}", one["dataset"]);
    assert_eq!(one["models"][0]["num_queries"], 93);
    let failures = one["models"][0]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 5);
    let (doc, _, text) = serde_json::from_value::<(String, f64, String)>(failures[0]["retrieved"][0].clone()).unwrap();
    assert!(!doc.is_empty() && !text.is_empty() && text.chars().count() <= 100, "{doc}: {text}");
    let previews = one["details"]["texts"]["docs"].as_object().unwrap();
    assert!(previews.len() > 93 && previews.values().all(|t| t.as_str().unwrap().chars().count() <= 300));
}

/// Streamed through the WGSL search (Mesa's lavapipe where there is no GPU), a chunk at a
/// time: each chunk's search merged as the CPU's are, the same rankings as one process's GPU
/// search, and the path named once.
#[test]
fn streamed_gpu_search_a_chunk_at_a_time_equals_one_process() {
    let (data, m) = (common::vaswani_beir(), model("qwen3-embedding"));
    let shards = tempfile::tempdir().unwrap();
    for i in 0..2 {
        ok(encode(&data, &m, &format!("{i}/2"), shards.path(), &[]));
    }
    let args = ["--search", "gpu", "--top", "100"];
    let (one, one_pq) = eval(&data, None, None, &args);
    let (one, search) = comparable(one);
    let path = search["path"].as_str().unwrap().to_string();
    if !path.starts_with("gpu: ") {
        eprintln!("SKIPPED: no GPU adapter ({})", search["notice"]);
        return;
    }
    let (streamed, streamed_pq) = eval(&data, Some(shards.path()), Some("1000"), &args);
    let (streamed, search) = comparable(streamed);
    assert_eq!(search["path"], format!("{path}, streamed from 2 shards"));
    assert!(one_pq == streamed_pq, "per_query.jsonl differs");
    assert_eq!(one, streamed);
}

/// Matryoshka truncation and re-normalisation, dot product and the st convention's tie rule
/// apply to the shards' vectors as to vectors encoded in the run.
#[test]
fn truncate_dim_and_dot_product_streamed_equal_one_process() {
    let (one, _) =
        sharded_equals_one_process(&xquad(), &["--truncate-dim", "16", "--score", "dot", "--convention", "st"]);
    assert_eq!(one["models"][0]["num_queries"], 1190);
}

/// Three encode jobs running at once on one machine share one embedding cache folder (they
/// take turns through its lock file, appending each batch): afterwards it holds each document
/// once, whole, and an eval from it — no document encoded — equals the eval streamed from the
/// shard files those jobs wrote.
#[test]
fn encode_jobs_running_at_once_share_one_cache() {
    let (shards, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (data, m) = (xquad(), model("qwen3-embedding"));
    let (s, c) = (shards.path().display().to_string(), cache.path().display().to_string());
    let jobs: Vec<_> = (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            let args = ["encode", "--data", &data, "--model", &m, "--shard", &shard, "--out", &s, "--cache", &c, "-q"];
            let piped = || std::process::Stdio::piped();
            Command::new(env!("CARGO_BIN_EXE_embeval")).args(args).stdout(piped()).stderr(piped()).spawn().unwrap()
        })
        .collect();
    for job in jobs {
        ok(job.wait_with_output().unwrap());
    }
    let folders: Vec<PathBuf> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let folder = folders.iter().find(|f| f.join("vectors.bin").exists()).expect("a cache folder");
    let bytes = std::fs::read(folder.join("vectors.bin")).unwrap();
    let rec = 16 + 4 * 32;
    assert_eq!(bytes.len() % rec, 0);
    let keys: std::collections::HashSet<&[u8]> = bytes.chunks_exact(rec).map(|r| &r[..16]).collect();
    assert_eq!((bytes.len() / rec, keys.len()), (240, 240), "each document once");

    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().display().to_string();
        let mut args = vec!["eval", "--data", &data, "--model", &m, "--search", "cpu", "--out", &o, "-q"];
        args.extend_from_slice(extra);
        ok(embeval(&args));
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap()).unwrap();
        (results, std::fs::read_to_string(out.path().join("per_query.jsonl")).unwrap())
    };
    let (cached, cached_pq) = run(&["--cache", &c]);
    let (streamed, streamed_pq) = run(&["--no-cache", "--doc-embeddings", &s]);
    assert_eq!(cached["models"][0]["search"]["throughput"]["docs"]["cached"], 240);
    assert!(cached_pq == streamed_pq, "per_query.jsonl differs");
    let metrics = |r: Value| r["models"][0]["metrics"].as_object().unwrap().clone();
    let (cached, streamed) = (metrics(cached), metrics(streamed));
    assert!(cached.len() > 5 && cached == streamed, "{cached:?}\n{streamed:?}");
}

/// An encode job through the embedding cache, 7 documents at a time, over xquad-en with 30
/// documents more that repeat earlier ones' texts under new ids (a text a part meets again
/// after an earlier part cached it): the cold run, a run with half of them cached (shard 0/2
/// first) and a run from the cache alone write the same vectors, ids and digests as one
/// uncached pass, and count what came from the cache.
#[test]
fn encode_in_parts_through_the_cache_writes_what_one_pass_writes() {
    let data = tempfile::tempdir().unwrap();
    let src = root().join("../shared/data/xquad-en");
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let mut lines: Vec<String> = corpus.lines().map(str::to_string).collect();
    for (i, l) in corpus.lines().take(30).enumerate() {
        let mut doc: Value = serde_json::from_str(l).unwrap();
        doc["_id"] = format!("again-{i}").into();
        lines.push(doc.to_string());
    }
    std::fs::write(data.path().join("corpus.jsonl"), lines.join("\n")).unwrap();
    std::fs::copy(src.join("queries.jsonl"), data.path().join("queries.jsonl")).unwrap();
    std::fs::create_dir(data.path().join("qrels")).unwrap();
    std::fs::copy(src.join("qrels/test.tsv"), data.path().join("qrels/test.tsv")).unwrap();
    let (d, m) = (data.path().display().to_string(), model("qwen3-embedding"));
    // The file's tensors and its manifest's encoding figures.
    let read = |dir: &Path, name: &str| {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors: Vec<Vec<u8>> = ["docs", "doc_ids", "doc_id_offsets", "doc_text_digests"]
            .iter()
            .map(|t| st.tensor(t).unwrap().data().to_vec())
            .collect();
        let json = dir.join(name.replace(".safetensors", ".json"));
        let manifest: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        (tensors, manifest["checksum"].clone(), manifest["encoding"].clone())
    };
    let one = tempfile::tempdir().unwrap();
    ok(encode(&d, &m, "0/1", one.path(), &["--batch-size", "1"]));
    let (want, checksum, enc) = read(one.path(), "shard-0-of-1.safetensors");
    assert_eq!((enc["texts"].as_u64(), enc["cached"].as_u64()), (Some(270), Some(0)));
    assert_eq!(want[0].len(), 270 * 32 * 4);
    let (cold, warm) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let with = |cache: &Path| ["--batch-size", "1", "--cache", &cache.display().to_string()].map(String::from);
    let parts = [("EMBEVAL_SHARD_CHUNK_ROWS", "7")];
    // Docs 0..135 into the warm cache: then the texts of 165 of the 270 are cached.
    let half = tempfile::tempdir().unwrap();
    let args = with(warm.path());
    ok(encode_env(&d, &m, "0/2", half.path(), &args.each_ref().map(String::as_str), &parts));
    for (run, cache, cached) in [("cold", &cold, 0), ("half cached", &warm, 165), ("all cached", &warm, 270)] {
        let args = with(cache.path());
        let args = args.each_ref().map(String::as_str);
        let out = tempfile::tempdir().unwrap();
        let printed = ok(encode_env(&d, &m, "0/1", out.path(), &args, &parts)).stdout;
        assert!(String::from_utf8_lossy(&printed).trim().ends_with("shard-0-of-1.safetensors"), "{run}");
        let (got, got_checksum, enc) = read(out.path(), "shard-0-of-1.safetensors");
        assert!(got == want, "{run}: the file's tensors differ from one pass's");
        assert_eq!(got_checksum, checksum, "{run}");
        assert_eq!((enc["texts"].as_u64(), enc["cached"].as_u64()), (Some(270), Some(cached)), "{run}");
        let names: Vec<String> =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 2, "{run}: {names:?}");
    }
}

/// Three shards of xquad-en made once with the default settings; each test copies them.
fn xquad_shards() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shards-xquad");
        std::fs::remove_dir_all(&dir).ok();
        for i in 0..3 {
            ok(encode(&xquad(), &model("qwen3-embedding"), &format!("{i}/3"), &dir, &[]));
        }
        dir
    })
}

fn copy_of_xquad_shards() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(xquad_shards()).unwrap().flatten() {
        std::fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
    }
    t
}

/// The streamed eval of xquad-en from `dir`, expected to fail: its message.
fn eval_fails(dir: &Path, extra: &[&str]) -> String {
    eval_fails_env(dir, extra, &[])
}

fn eval_fails_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let d = dir.display().to_string();
    let (data, m) = (xquad(), model("qwen3-embedding"));
    let mut args = vec!["eval", "--data", &data, "--model", &m, "--no-cache", "-q", "--doc-embeddings", &d];
    args.extend_from_slice(extra);
    fails(embeval_env(&args, env))
}

#[test]
fn encode_writes_vectors_ids_and_the_manifest_in_the_file_and_beside_it() {
    let dir = xquad_shards();
    let bytes = std::fs::read(dir.join("shard-1-of-3.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let docs = st.tensor("docs").unwrap();
    assert_eq!((docs.dtype(), docs.shape()), (safetensors::Dtype::F32, &[80usize, 32][..]));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let inner: Value = serde_json::from_str(&meta.metadata().as_ref().unwrap()["embeval_shard"]).unwrap();
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shard-1-of-3.json")).unwrap()).unwrap();
    assert_eq!(inner, sidecar);
    assert_eq!(sidecar["format"], "embeval-doc-shard");
    assert_eq!(sidecar["model"]["label"], "qwen3-embedding");
    assert_eq!(sidecar["model"]["pooling"], "last_token");
    assert_eq!(sidecar["shard"], serde_json::json!({"index": 1, "count": 3, "start": 80, "end": 160}));
    assert_eq!(sidecar["corpus"]["size"], 240);
    assert_eq!((sidecar["dim"].as_u64(), sidecar["dtype"].as_str()), (Some(32), Some("f32")));
    assert_eq!(sidecar["encoding"]["texts"], 80);
    // The ids: the corpus's docs 80..160 in order.
    let ids = st.tensor("doc_ids").unwrap().data().to_vec();
    let offsets: Vec<usize> = st
        .tensor("doc_id_offsets")
        .unwrap()
        .data()
        .chunks(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
        .collect();
    let corpus = std::fs::read_to_string(root().join("../shared/data/xquad-en/corpus.jsonl")).unwrap();
    let want: Vec<String> = corpus
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["_id"].as_str().unwrap().to_string())
        .collect();
    let got: Vec<&str> = offsets.windows(2).map(|w| std::str::from_utf8(&ids[w[0]..w[1]]).unwrap()).collect();
    assert_eq!(got, want[80..160]);
    // Each text's digest: BLAKE3 of BEIR's `(title + " " + text).strip()`, first 16 bytes.
    let digests = st.tensor("doc_text_digests").unwrap();
    assert_eq!((digests.dtype(), digests.shape()), (safetensors::Dtype::U8, &[80usize, 16][..]));
    let line: Value = serde_json::from_str(corpus.lines().nth(80).unwrap()).unwrap();
    let text = format!("{} {}", line["title"].as_str().unwrap(), line["text"].as_str().unwrap());
    assert_eq!(&digests.data()[..16], &blake3::hash(text.trim().as_bytes()).as_bytes()[..16]);
    // Nothing half-written is left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
}

#[test]
fn a_missing_shard_is_named_with_the_command_that_makes_it() {
    let t = copy_of_xquad_shards();
    std::fs::remove_file(t.path().join("shard-1-of-3.safetensors")).unwrap();
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("1 of 3 shards missing: shard-1-of-3.safetensors"), "{err}");
    assert!(err.contains("embeval encode --data") && err.contains("--shard 1/3 --out"), "{err}");
    // A job stopped while writing leaves its temporary file: named in the error, and removed
    // when the job is run again and its shard is in place.
    let stale = t.path().join(".shard-1-of-3.safetensors.partial-4242");
    std::fs::write(&stale, b"half a shard").unwrap();
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("unfinished: .shard-1-of-3.safetensors.partial-4242"), "{err}");
    ok(encode(&xquad(), &model("qwen3-embedding"), "1/3", t.path(), &[]));
    assert!(!stale.exists(), "the stopped job's temporary file is left");
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 6, "three shards and their manifests");
    let empty = tempfile::tempdir().unwrap();
    let err = eval_fails(empty.path(), &[]);
    assert!(err.contains("no shard files") && err.contains("--shard I/N"), "{err}");
    // N far past the corpus: the first few are named, the rest counted (not ten million names).
    let far = tempfile::tempdir().unwrap();
    ok(encode(&xquad(), &model("qwen3-embedding"), "0/10000000", far.path(), &[]));
    let err = eval_fails(far.path(), &[]);
    assert!(err.contains("9999999 of 10000000 shards missing") && err.contains("and 9999991 more"), "{err}");
    assert!(err.len() < 4000, "{} bytes of error", err.len());
}

#[test]
fn a_shard_of_another_model_prompt_or_corpus_is_refused() {
    let cases: [(&str, String, &[&str], &str); 3] = [
        ("model", model("xlm-roberta"), &[], "made by another model: 'xlm-roberta'"),
        (
            "prompt",
            model("qwen3-embedding"),
            &["--doc-prompt", "passage: "],
            "documents encoded with the prompt \"passage: \"",
        ),
        ("corpus", model("qwen3-embedding"), &[], "made from another corpus"),
    ];
    for (what, m, extra, want) in cases {
        let t = copy_of_xquad_shards();
        let data =
            if what == "corpus" { root().join("../shared/data/tatoeba-ja-en").display().to_string() } else { xquad() };
        ok(encode(&data, &m, "2/3", t.path(), extra));
        let err = eval_fails(t.path(), &[]);
        assert!(err.contains("shard-2-of-3.safetensors: ") && err.contains(want), "{what}: {err}");
        assert!(err.contains("fix: ") && err.contains("--shard 2/3"), "{what}: {err}");
    }
}

/// Same ids, other texts: another `--doc-text`, or one document edited after encoding. The
/// streamed eval holds only each text's digest, and finds the shard holding the edited one.
#[test]
fn a_corpus_whose_texts_changed_under_the_same_ids_is_refused() {
    let t = copy_of_xquad_shards();
    let err = eval_fails(t.path(), &["--doc-text", "text"]);
    assert!(err.contains("shard-0-of-3.safetensors: ") && err.contains("texts differ"), "{err}");
    assert!(err.contains("under the same ids, first doc 0 'xq00p00': "), "{err}");
    let edited = tempfile::tempdir().unwrap();
    let src = Path::new(&xquad()).to_path_buf();
    std::fs::create_dir(edited.path().join("qrels")).unwrap();
    for f in ["queries.jsonl", "qrels/test.tsv"] {
        std::fs::copy(src.join(f), edited.path().join(f)).unwrap();
    }
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let last = corpus.trim_end().lines().last().unwrap();
    let changed = corpus.replace(last, &last.replacen("\"text\": \"", "\"text\": \"Edited. ", 1));
    assert_ne!(changed, corpus);
    std::fs::write(edited.path().join("corpus.jsonl"), changed).unwrap();
    let (data, m, d) = (edited.path().display().to_string(), model("qwen3-embedding"), t.path().display().to_string());
    let err = fails(embeval(&["eval", "--data", &data, "--model", &m, "--no-cache", "-q", "--doc-embeddings", &d]));
    assert!(err.contains("shard-2-of-3.safetensors: ") && err.contains("texts differ"), "{err}");
    let id = serde_json::from_str::<Value>(last).unwrap()["_id"].as_str().unwrap().to_string();
    let n = corpus.trim_end().lines().count() - 1;
    assert!(err.contains(&format!(", first doc {n} '{id}': ")), "{err}");
    assert!(!err.contains("shard-0-of-3") && !err.contains("shard-1-of-3"), "{err}");
}

#[test]
fn shards_of_two_counts_are_refused() {
    let t = copy_of_xquad_shards();
    ok(encode(&xquad(), &model("qwen3-embedding"), "1/2", t.path(), &[]));
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("shard files of different runs") && err.contains("shard-1-of-2.safetensors"), "{err}");
    assert!(err.contains("N=3") && err.contains("fix: keep the files of one"), "{err}");
}

#[test]
fn a_truncated_or_damaged_shard_is_refused() {
    let t = copy_of_xquad_shards();
    let f = t.path().join("shard-0-of-3.safetensors");
    let whole = std::fs::read(&f).unwrap();
    // Cut short, as by a copy that stopped.
    std::fs::write(&f, &whole[..whole.len() / 2]).unwrap();
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("shard-0-of-3.safetensors: not a complete shard file"), "{err}");
    assert!(err.contains("--shard 0/3"), "{err}");
    // One bit flipped in the vectors: the checksum catches it when the shard is read.
    let st = safetensors::SafeTensors::deserialize(&whole).unwrap();
    let at = st.tensor("docs").unwrap().data().as_ptr() as usize - whole.as_ptr() as usize;
    let mut damaged = whole.clone();
    damaged[at + 100] ^= 1;
    std::fs::write(&f, &damaged).unwrap();
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("shard-0-of-3.safetensors: the vectors do not match the checksum"), "{err}");
    // Read 7 rows at a time, a bit flipped in the last row: caught once the last chunk is read.
    let mut damaged = whole.clone();
    damaged[at + st.tensor("docs").unwrap().data().len() - 3] ^= 1;
    std::fs::write(&f, &damaged).unwrap();
    let err = eval_fails_env(t.path(), &[], &[("EMBEVAL_SHARD_CHUNK_ROWS", "7")]);
    assert!(err.contains("shard-0-of-3.safetensors: the vectors do not match the checksum"), "{err}");
    // Another shard copied into this one's name.
    std::fs::copy(t.path().join("shard-1-of-3.safetensors"), &f).unwrap();
    let err = eval_fails(t.path(), &[]);
    assert!(err.contains("its name says shard 0 of 3 but its manifest says shard 1 of 3"), "{err}");
}

/// A bad number of rows to read at a time is refused before any search, naming the
/// variable and the default.
#[test]
fn a_bad_chunk_size_is_refused() {
    let out = tempfile::tempdir().unwrap();
    for bad in ["0", "lots", "-5"] {
        let env = [("EMBEVAL_SHARD_CHUNK_ROWS", bad)];
        let eval_err = eval_fails_env(xquad_shards(), &[], &env);
        let encode_err = fails(encode_env(&xquad(), &model("qwen3-embedding"), "0/3", out.path(), &[], &env));
        for err in [eval_err, encode_err] {
            let named = format!("EMBEVAL_SHARD_CHUNK_ROWS: '{bad}' is not a number of rows above 0");
            assert!(err.contains(&named), "{err}");
            assert!(err.contains("defaults: 65536 documents per part encoded, 256 MiB of vectors read"), "{err}");
        }
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");
}

/// Shards encoded on different devices (here one relabelled as made on a GPU) are searched as
/// any others, with a warning that their vectors differ in the last bits.
#[test]
fn shards_from_different_devices_are_searched_with_a_warning() {
    let t = copy_of_xquad_shards();
    let (data, dir) = (xquad(), t.path().display().to_string());
    let run = || {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().display().to_string();
        let m = model("qwen3-embedding");
        ok(embeval(&[
            "eval",
            "--data",
            &data,
            "--model",
            &m,
            "--no-cache",
            "-q",
            "--out",
            &o,
            "--doc-embeddings",
            &dir,
        ]));
        serde_json::from_str::<Value>(&std::fs::read_to_string(out.path().join("results.json")).unwrap()).unwrap()
    };
    let before = run();
    assert!(before["models"][0]["search"]["notice"].is_null(), "{}", before["models"][0]["search"]);
    let f = t.path().join("shard-2-of-3.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut manifest: Value = serde_json::from_str(&meta["embeval_shard"]).unwrap();
    manifest["device"] = "cuda:0 (NVIDIA H100 80GB HBM3)".into();
    meta.insert("embeval_shard".into(), manifest.to_string());
    std::fs::write(&f, safetensors::serialize(st.tensors(), Some(meta)).unwrap()).unwrap();
    let after = run();
    let notice = after["models"][0]["search"]["notice"].as_str().unwrap_or_default();
    assert!(notice.contains("encoded on different devices (cpu, cuda:0 (NVIDIA H100 80GB HBM3))"), "{notice}");
    assert_eq!(
        after["models"][0]["search"]["throughput"]["docs"]["devices"],
        serde_json::json!(["cpu", "cuda:0 (NVIDIA H100 80GB HBM3)"])
    );
    assert_eq!(after["models"][0]["metrics"], before["models"][0]["metrics"]);
}

/// Half-precision shards record the format their activations were computed in: documents from
/// the candle graph (bf16 activations, as a GPU computes) evaluated with queries from the CPU's
/// fast path (bf16 weights, f32 activations) are searched with a warning naming both and the
/// flag that computes the queries alike; with that flag, or from a shard that predates the
/// record, there is none.
#[test]
fn half_precision_shards_say_when_the_queries_activations_differ() {
    let t = tempfile::tempdir().unwrap();
    let data = xquad();
    let m = model("qwen3-embedding");
    ok(encode(&data, &m, "0/1", t.path(), &["--dtype", "bf16", "--attention", "eager"]));
    let file = t.path().join("shard-0-of-1.safetensors");
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("shard-0-of-1.json")).unwrap()).unwrap();
    assert_eq!((sidecar["dtype"].as_str(), sidecar["activations"].as_str()), (Some("bf16"), Some("bf16")));
    let notice = |extra: &[&str]| {
        let mut args = vec!["--dtype", "bf16"];
        args.extend_from_slice(extra);
        let (r, _) = eval(&data, Some(t.path()), None, &args);
        r["models"][0]["search"]["notice"].as_str().unwrap_or_default().to_string()
    };
    let fast = notice(&[]);
    assert!(
        fast.contains(
            "the documents' activations were computed in bf16 on cpu, the queries' in f32 on cpu (bf16 \
                       weights both times): their vectors differ"
        ) && fast.contains("--attention eager"),
        "{fast}"
    );
    assert_eq!(notice(&["--attention", "eager"]), "");
    // A shard written before manifests recorded the activations: nothing to compare.
    let bytes = std::fs::read(&file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut manifest: Value = serde_json::from_str(&meta["embeval_shard"]).unwrap();
    manifest.as_object_mut().unwrap().remove("activations");
    meta.insert("embeval_shard".into(), manifest.to_string());
    std::fs::write(&file, safetensors::serialize(st.tensors(), Some(meta)).unwrap()).unwrap();
    assert_eq!(notice(&[]), "");
}

#[test]
fn shards_need_this_runs_settings_and_one_neural_model() {
    let t = copy_of_xquad_shards();
    let err = eval_fails(t.path(), &["--max-length", "20"]);
    assert!(
        err.contains("texts truncated at 40 tokens; this run truncates at 20") && err.contains("--max-length 40"),
        "{err}"
    );
    let m2 = format!("other={}", model("qwen3-embedding"));
    let err = eval_fails(t.path(), &["--model", &m2]);
    assert!(err.contains("--doc-embeddings") && err.contains("exactly that model's folder"), "{err}");
    let err = eval_fails(t.path(), &["--truncate-dim", "64"]);
    assert!(err.contains("--truncate-dim: 64 is larger than the model's 32 dimensions"), "{err}");
}

#[test]
fn encode_refuses_bad_flags_before_encoding() {
    let t = tempfile::tempdir().unwrap();
    let m = model("qwen3-embedding");
    for (shard, extra, want) in [
        ("3/3", &[][..], "--shard: '3/3': give I/N with 0 ≤ I < N"),
        ("0/3", &["--truncate-dim", "16"][..], "give --truncate-dim to `embeval eval --doc-embeddings`"),
    ] {
        let err = fails(encode(&xquad(), &m, shard, t.path(), extra));
        assert!(err.contains(want), "{err}");
    }
    for (m, what) in [
        ("bm25", "'bm25' is BM25, not a model folder"),
        ("openai:e@http://127.0.0.1:9/v1", "'e' is an embedding API (evaluate it with `embeval eval`"),
    ] {
        let err = fails(encode(&xquad(), m, "0/3", t.path(), &[]));
        assert!(err.contains(what) && err.contains("shards hold a local neural model's"), "{err}");
    }
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0, "no file for a refused job");
}
