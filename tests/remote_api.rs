//! `--model openai:MODEL@URL` and `voyage:MODEL@URL` against a real HTTP server on loopback
//! (no network): a stand-in speaking both protocols, whose vectors are a hashed bag of
//! characters and character bigrams (64 dims, Japanese included), so retrieval is meaningful
//! and the test can compute the very same vectors itself. It checks the key and Voyage's
//! `input_type`, logs every request, and can answer 429, 503 or 401 on demand.
//!
//! The API model's metrics must equal those of the same vectors given as `.npy` files; retries,
//! batching, the cache, Voyage's input types and the errors are checked through the binary.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const DIM: usize = 64;

/// The server's vectors: every character adds 1 to its bucket, every bigram 2 to its own.
/// Integer counts, so JSON carries them exactly.
fn embed(text: &str) -> Vec<f32> {
    let chars: Vec<char> = text.to_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
    let mut v = vec![0f32; DIM];
    for c in &chars {
        v[bucket(&c.to_string())] += 1.0;
    }
    for w in chars.windows(2) {
        v[bucket(&format!("{}{}", w[0], w[1]))] += 2.0;
    }
    v
}

/// FNV-1a, modulo the dimension.
fn bucket(s: &str) -> usize {
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    (h % DIM as u64) as usize
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    OpenAi,
    Voyage,
}

/// What the stand-in does.
struct Behaviour {
    protocol: Protocol,
    /// The key it wants as `Authorization: Bearer KEY`; `None` takes requests without one.
    key: Option<&'static str>,
    /// Request number (1-based) → status to answer instead of vectors.
    fail: HashMap<usize, u16>,
    /// Answer every request with this status (and `Retry-After: 0`).
    always: Option<u16>,
}

impl Behaviour {
    fn new(protocol: Protocol, key: Option<&'static str>) -> Behaviour {
        Behaviour { protocol, key, fail: HashMap::new(), always: None }
    }
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
struct Logged {
    auth: Option<String>,
    model: String,
    input_type: Option<String>,
    texts: Vec<String>,
    status: u16,
}

struct Server {
    /// `http://127.0.0.1:PORT/v1`
    base: String,
    log: Arc<Mutex<Vec<Logged>>>,
    /// The most requests in flight at once.
    most: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(b: Behaviour) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let most = Arc::new(AtomicUsize::new(0));
        let (s, l, m) = (server.clone(), log.clone(), most.clone());
        let b = Arc::new(b);
        let thread = std::thread::spawn(move || {
            // Each request on its own thread, held 20 ms, so requests a client sends at once
            // overlap here and `most` sees how many were in flight together.
            let (count, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let mut handlers = Vec::new();
            for mut req in s.incoming_requests() {
                let (b, l, m, count, now) = (b.clone(), l.clone(), m.clone(), count.clone(), now.clone());
                handlers.push(std::thread::spawn(move || {
                    m.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let mut body = String::new();
                    let _ = req.as_reader().read_to_string(&mut body);
                    let auth = req
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.as_str().to_string());
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let texts: Vec<String> = v["input"]
                        .as_array()
                        .map(|a| a.iter().map(|t| t.as_str().unwrap_or("").to_string()).collect())
                        .unwrap_or_default();
                    let input_type = v["input_type"].as_str().map(str::to_string);
                    let n = count.fetch_add(1, SeqCst) + 1;
                    let status = if req.url() != "/v1/embeddings" || req.method() != &tiny_http::Method::Post {
                        404
                    } else if b.key.is_some_and(|k| auth.as_deref() != Some(&format!("Bearer {k}"))) {
                        401
                    } else if let Some(s) = b.always.or(b.fail.get(&n).copied()) {
                        s
                    } else if texts.iter().any(|t| t.trim().is_empty())
                        || match b.protocol {
                            Protocol::Voyage => !matches!(input_type.as_deref(), Some("query" | "document")),
                            Protocol::OpenAi => input_type.is_some() || v["encoding_format"] != "float",
                        }
                    {
                        // OpenAI answers 400 to an empty or whitespace-only input; so does this.
                        400
                    } else {
                        200
                    };
                    l.lock().unwrap().push(Logged {
                        auth,
                        model: v["model"].as_str().unwrap_or("").to_string(),
                        input_type,
                        texts: texts.clone(),
                        status,
                    });
                    let answer = match status {
                        200 => {
                            // Backwards, as a server may: the client must order by `index`.
                            let data: Vec<Value> = texts
                                .iter()
                                .enumerate()
                                .rev()
                                .map(|(i, t)| json!({"object": "embedding", "embedding": embed(t), "index": i}))
                                .collect();
                            let tokens: usize = texts.iter().map(|t| t.chars().count()).sum();
                            json!({"object": "list", "data": data, "model": v["model"],
                                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
                        }
                        401 => {
                            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                        }
                        s => json!({"error": {"message": format!("status {s}")}}),
                    };
                    let mut r = tiny_http::Response::from_string(answer.to_string()).with_status_code(status);
                    // 429 says when to come back; a 503 does so only in `always` mode (the client's
                    // own backoff is tested by the other 503s).
                    if status == 429 || b.always.is_some() {
                        r.add_header(tiny_http::Header::from_bytes(&b"Retry-After"[..], &b"0"[..]).unwrap());
                    }
                    now.fetch_sub(1, SeqCst);
                    let _ = req.respond(r);
                }));
            }
            handlers.into_iter().for_each(|h| drop(h.join()));
        });
        Server { base: format!("http://127.0.0.1:{port}/v1"), log, most, server, thread: Some(thread) }
    }

    fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name)
}

/// `embeval eval ARGS` with no API variables but `env`.
fn embeval(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_embeval"));
    c.arg("eval").args(args);
    for v in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "VOYAGE_API_KEY", "VOYAGE_BASE_URL", "EMBEVAL_CACHE"] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

/// Runs an evaluation that must succeed; returns results.json and per_query.jsonl's text.
fn eval_ok(data: &Path, out: &Path, args: &[&str], env: &[(&str, &str)]) -> (Value, String) {
    let mut all = vec!["--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet", "--search", "cpu"];
    all.extend_from_slice(args);
    let o = embeval(&all, env);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let results = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    (results, std::fs::read_to_string(out.join("per_query.jsonl")).unwrap())
}

/// The dataset's judged query texts and doc texts, as the CLI sends them (no prompts).
fn texts(dir: &Path) -> (Vec<String>, Vec<String>) {
    let ds = embeval::Dataset::load(&embeval::Files::from_dir(dir).unwrap(), &Default::default()).unwrap();
    (
        ds.evaluated_queries(embeval::Convention::Trec).map(|q| q.text.clone()).collect(),
        ds.corpus.iter().map(|d| d.text.clone()).collect(),
    )
}

/// The stand-in's vectors of every query and doc, as `emb:` files in `tmp`; returns the spec.
fn same_vectors_as_npy(dir: &Path, tmp: &Path) -> String {
    let ds = embeval::Dataset::load(&embeval::Files::from_dir(dir).unwrap(), &Default::default()).unwrap();
    let q: Vec<Vec<f32>> = ds.queries.iter().map(|t| embed(&t.text)).collect();
    let d: Vec<Vec<f32>> = ds.corpus.iter().map(|t| embed(&t.text)).collect();
    let ids = |v: Vec<&String>| v.into_iter().map(|s| format!("{s}\n")).collect::<String>();
    std::fs::write(tmp.join("q.npy"), common::npy_f32_rows(&q)).unwrap();
    std::fs::write(tmp.join("d.npy"), common::npy_f32_rows(&d)).unwrap();
    std::fs::write(tmp.join("qids.txt"), ids(ds.queries.iter().map(|t| &t.id).collect())).unwrap();
    std::fs::write(tmp.join("dids.txt"), ids(ds.corpus.iter().map(|t| &t.id).collect())).unwrap();
    let p = |n: &str| tmp.join(n).display().to_string();
    format!("emb:{},{},{},{}", p("q.npy"), p("d.npy"), p("qids.txt"), p("dids.txt"))
}

/// A three-document dataset for the error paths.
fn tiny_dataset(tmp: &Path) -> PathBuf {
    let p = tmp.join("tiny");
    std::fs::create_dir_all(p.join("qrels")).unwrap();
    std::fs::write(
        p.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"猫が好き\"}\n{\"_id\": \"d2\", \"text\": \"dogs bark\"}\n\
         {\"_id\": \"d3\", \"text\": \"雨の日\"}\n",
    )
    .unwrap();
    std::fs::write(p.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"猫\"}\n").unwrap();
    std::fs::write(p.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n").unwrap();
    p
}

#[test]
fn openai_metrics_equal_the_same_vectors_given_as_npy() {
    let dir = data("xquad-en");
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(Behaviour::new(Protocol::OpenAi, Some("test-key")));
    let model = format!("api=openai:test-model@{}", server.base);
    let env = [("OPENAI_API_KEY", "test-key")];
    // One request at a time, so the log's order is the client's (the other tests send several).
    let args = ["--model", &model, "--no-cache", "--api-concurrency", "1"];
    let (api, api_pq) = eval_ok(&dir, &tmp.path().join("api"), &args, &env);
    let emb = format!("api={}", same_vectors_as_npy(&dir, tmp.path()));
    let (npy, npy_pq) = eval_ok(&dir, &tmp.path().join("npy"), &["--model", &emb], &[]);

    let (a, n) = (&api["models"][0], &npy["models"][0]);
    assert_eq!(a["metrics"], n["metrics"]);
    assert_eq!(api_pq, npy_pq, "per-query metrics and rankings");
    assert!(a["metrics"]["ndcg@10"].as_f64().unwrap() > 0.2, "the toy vectors retrieve: {}", a["metrics"]);

    let (queries, docs) = texts(&dir);
    let log = server.log();
    assert!(log.iter().all(|r| r.status == 200 && r.model == "test-model" && r.input_type.is_none()));
    assert!(log.iter().all(|r| r.auth.as_deref() == Some("Bearer test-key")));
    let sent: Vec<String> = log.iter().flat_map(|r| r.texts.clone()).collect();
    assert_eq!(sent, [queries.clone(), docs.clone()].concat(), "queries, then documents, in order");

    let s = &a["search"];
    assert_eq!(
        s["encoder"],
        json!({"api": "openai", "model": "test-model", "base_url": server.base, "dim": 64,
        "prompts": {"query": "", "document": "", "source": "none"}})
    );
    assert_eq!(s["throughput"]["queries"]["texts"], queries.len());
    assert_eq!(s["throughput"]["docs"]["texts"], docs.len());
    assert_eq!(s["throughput"]["docs"]["cached"], 0);
    assert_eq!(s["throughput"]["docs"]["batches"], docs.len().div_ceil(32));
    let tokens: usize = docs.iter().map(|t| t.chars().count()).sum();
    assert_eq!(s["throughput"]["docs"]["tokens"], tokens, "from the answers' usage");
    assert!(s["throughput"]["docs"]["texts_per_s"].as_f64().unwrap() > 0.0);
    assert!(!std::fs::read_to_string(tmp.path().join("api/results.json")).unwrap().contains("test-key"));
}

/// Blank texts are not sent (OpenAI refuses them with a 400): they get zero vectors, as in
/// MTEB's API models — the same ranking as the stand-in's own vectors, which are zero for them.
#[test]
fn blank_texts_are_not_sent_and_score_as_zero_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_dataset(tmp.path());
    let corpus = dir.join("corpus.jsonl");
    let mut docs = std::fs::read_to_string(&corpus).unwrap();
    docs.push_str("{\"_id\": \"blank\", \"text\": \"\u{3000} \"}\n{\"_id\": \"d5\", \"text\": \"猫の日\"}\n");
    std::fs::write(&corpus, docs).unwrap();
    let server = Server::start(Behaviour::new(Protocol::OpenAi, None));
    let model = format!("api=openai:test-model@{}", server.base);
    // One request at a time, so the log's order is the client's.
    let args = ["--model", &model, "--no-cache", "--batch-size", "2", "--api-concurrency", "1"];
    let (api, api_pq) = eval_ok(&dir, &tmp.path().join("api"), &args, &[]);
    let emb = format!("api={}", same_vectors_as_npy(&dir, tmp.path()));
    let (npy, npy_pq) = eval_ok(&dir, &tmp.path().join("npy"), &["--model", &emb], &[]);
    assert_eq!(api["models"][0]["metrics"], npy["models"][0]["metrics"]);
    assert_eq!(api_pq, npy_pq);
    let log = server.log();
    assert!(log.iter().all(|r| r.status == 200), "no request refused");
    let sent: Vec<String> = log.iter().flat_map(|r| r.texts.clone()).collect();
    assert_eq!(sent, ["猫", "猫が好き", "dogs bark", "雨の日", "猫の日"], "the blank doc was not sent");
    let docs = &api["models"][0]["search"]["throughput"]["docs"];
    assert_eq!((docs["texts"].as_u64(), docs["empty"].as_u64()), (Some(5), Some(1)), "{docs}");
}

#[test]
fn rate_limits_and_unavailable_servers_are_retried() {
    let dir = data("xquad-en");
    let tmp = tempfile::tempdir().unwrap();
    let mut b = Behaviour::new(Protocol::OpenAi, None);
    b.fail = HashMap::from([(1, 429), (4, 503), (5, 502)]);
    let server = Server::start(b);
    let model = format!("openai:m@{}", server.base);
    // One request at a time: the failures hit the requests numbered in `fail`.
    let args = ["--model", &model, "--no-cache", "--batch-size", "100", "--api-concurrency", "1"];
    let clock = std::time::Instant::now();
    let (r, _) = eval_ok(&dir, &tmp.path().join("retried"), &args, &[]);
    // 429 waits for its Retry-After (0 s); the 503 then 502 of one request back off 1 s, then 2 s.
    let waited = clock.elapsed().as_secs_f64();
    assert!(waited >= 3.0, "backoff after 503 and 502: {waited:.2} s");
    let log = server.log();
    let status: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(status[..7], [429, 200, 200, 503, 502, 200, 200]);
    assert_eq!(log[0].texts, log[1].texts, "the rate-limited request is sent again");
    assert_eq!(log[3].texts, log[5].texts);
    assert_eq!(log[4].texts, log[5].texts);
    assert_eq!(r["models"][0]["search"]["throughput"]["queries"]["retries"], 3);

    let clean = Server::start(Behaviour::new(Protocol::OpenAi, None));
    let model = format!("openai:m@{}", clean.base);
    let (c, _) = eval_ok(&dir, &tmp.path().join("clean"), &["--model", &model, "--no-cache"], &[]);
    assert_eq!(r["models"][0]["metrics"], c["models"][0]["metrics"]);
    assert!(c["models"][0]["search"]["throughput"]["queries"].get("retries").is_none(), "no retries, no field");
}

/// At most --batch-size texts a request and --api-concurrency requests in flight (they do
/// overlap: the stand-in holds each 20 ms on its own thread).
#[test]
fn no_request_carries_more_than_the_batch_size() {
    let dir = data("xquad-en");
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(Behaviour::new(Protocol::OpenAi, None));
    // The base URL from OPENAI_BASE_URL; no key for a local server.
    eval_ok(
        &dir,
        &tmp.path().join("out"),
        &["--model", "openai:m", "--no-cache", "--batch-size", "7", "--api-concurrency", "3"],
        &[("OPENAI_BASE_URL", &server.base)],
    );
    let most = server.most.load(SeqCst);
    assert!((2..=3).contains(&most), "{most} requests in flight at most");
    // Answers arriving out of order still land on their texts: the same results one at a time.
    let one = Server::start(Behaviour::new(Protocol::OpenAi, None));
    let model = format!("openai:m@{}", one.base);
    let args = ["--model", &model, "--no-cache", "--batch-size", "50", "--api-concurrency", "1"];
    let (_, sequential) = eval_ok(&dir, &tmp.path().join("one"), &args, &[]);
    assert_eq!(one.most.load(SeqCst), 1, "one request at a time");
    let concurrent = std::fs::read_to_string(tmp.path().join("out/per_query.jsonl")).unwrap();
    assert_eq!(concurrent, sequential);
    let (queries, docs) = texts(&dir);
    let log = server.log();
    assert!(log.iter().all(|r| r.texts.len() <= 7 && !r.texts.is_empty()));
    assert_eq!(log.len(), queries.len().div_ceil(7) + docs.len().div_ceil(7));
    assert_eq!(log.iter().map(|r| r.texts.len()).sum::<usize>(), queries.len() + docs.len());
    assert!(log.iter().all(|r| r.auth.is_none()), "no key set, none sent");
}

#[test]
fn a_second_run_with_the_same_cache_sends_nothing() {
    let dir = data("xquad-en");
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(Behaviour::new(Protocol::OpenAi, None));
    let model = format!("openai:m@{}", server.base);
    let cache = tmp.path().join("cache");
    let args = ["--model", &model, "--cache", cache.to_str().unwrap(), "--api-concurrency", "1"];
    let (first, first_pq) = eval_ok(&dir, &tmp.path().join("1"), &args, &[]);
    let (queries, docs) = texts(&dir);
    assert_eq!(server.log().iter().map(|r| r.texts.len()).sum::<usize>(), queries.len() + docs.len());

    server.clear();
    let (second, second_pq) = eval_ok(&dir, &tmp.path().join("2"), &args, &[]);
    assert_eq!(server.log().len(), 0, "everything came from the cache");
    assert_eq!(first["models"][0]["metrics"], second["models"][0]["metrics"]);
    assert_eq!(first_pq, second_pq);
    let t = &second["models"][0]["search"]["throughput"];
    assert_eq!(t["docs"]["cached"], docs.len());
    assert_eq!(t["queries"]["cached"], queries.len());
    assert_eq!(second["models"][0]["search"]["encoder"]["dim"], 64, "the size from the cache folder");

    // A new query prompt: only the queries are new texts (OpenAI's queries and docs share a cache).
    let (third, _) = eval_ok(&dir, &tmp.path().join("3"), &[&args[..], &["--query-prompt", "q: "]].concat(), &[]);
    let sent: Vec<String> = server.log().iter().flat_map(|r| r.texts.clone()).collect();
    assert_eq!(sent, queries.iter().map(|q| format!("q: {q}")).collect::<Vec<_>>());
    assert_eq!(third["models"][0]["search"]["encoder"]["prompts"]["source"], "flag");
}

#[test]
fn voyage_sends_queries_and_documents_with_their_input_type() {
    let dir = data("jsquad-valid");
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(Behaviour::new(Protocol::Voyage, Some("voyage-key")));
    let model = format!("v=voyage:voyage-test@{}", server.base);
    let cache = tmp.path().join("cache");
    let env = [("VOYAGE_API_KEY", "voyage-key"), ("OPENAI_API_KEY", "not-this-one")];
    let args = ["--model", &model, "--cache", cache.to_str().unwrap(), "--batch-size", "128", "--api-concurrency", "1"];
    let (api, api_pq) = eval_ok(&dir, &tmp.path().join("api"), &args, &env);
    let emb = format!("v={}", same_vectors_as_npy(&dir, tmp.path()));
    let (npy, npy_pq) = eval_ok(&dir, &tmp.path().join("npy"), &["--model", &emb], &[]);
    assert_eq!(api["models"][0]["metrics"], npy["models"][0]["metrics"]);
    assert_eq!(api_pq, npy_pq);
    assert!(api["models"][0]["metrics"]["mrr@10"].as_f64().unwrap() > 0.2, "{}", api["models"][0]["metrics"]);

    let (queries, docs) = texts(&dir);
    let log = server.log();
    assert!(log.iter().all(|r| r.status == 200 && r.auth.as_deref() == Some("Bearer voyage-key")));
    let sent = |kind: &str| -> Vec<String> {
        log.iter().filter(|r| r.input_type.as_deref() == Some(kind)).flat_map(|r| r.texts.clone()).collect()
    };
    assert_eq!(sent("query"), queries);
    assert_eq!(sent("document"), docs);
    // Voyage embeds the two sides differently: one cache folder each.
    let folders = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(folders, 2);
}

#[test]
fn unauthorized_names_the_url_and_the_key_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path());
    let server = Server::start(Behaviour::new(Protocol::OpenAi, Some("right-key")));
    let model = format!("openai:m@{}", server.base);
    for (env, says) in [(&[("OPENAI_API_KEY", "wrong-key")][..], "refused its key"), (&[][..], "no key was sent")] {
        server.clear();
        let o = embeval(&["--data", data.to_str().unwrap(), "--model", &model, "--no-cache", "--quiet"], env);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for part in ["401 Unauthorized", &format!("{}/embeddings", server.base), "OPENAI_API_KEY", says] {
            assert!(stderr.contains(part), "{part}: {stderr}");
        }
        assert!(stderr.contains("Incorrect API key provided"), "the start of the answer: {stderr}");
        assert_eq!(server.log().len(), 1, "a 401 is not retried");
    }
}

#[test]
fn a_server_that_never_succeeds_fails_after_the_retry_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path());
    let mut b = Behaviour::new(Protocol::OpenAi, None);
    b.always = Some(503);
    let server = Server::start(b);
    let model = format!("openai:m@{}", server.base);
    let o = embeval(&["--data", data.to_str().unwrap(), "--model", &model, "--no-cache", "--quiet"], &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("gave up after 7 attempts"), "{stderr}");
    assert!(stderr.contains("503 Service Unavailable") && stderr.contains(&server.base), "{stderr}");
    assert_eq!(server.log().len(), 7);
}

/// Nothing listening at the base URL (a wrong port): three tries, not the minute of retries a
/// server that answered once gets, and the error says to check the server and the URL.
#[test]
fn no_server_at_the_url_fails_after_three_tries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let model = format!("openai:m@http://127.0.0.1:{port}/v1");
    let o = embeval(&["--data", data.to_str().unwrap(), "--model", &model, "--no-cache", "--quiet"], &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gave up after 3 attempts") && stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("check that a server is running at the base URL"), "{stderr}");
}

#[test]
fn an_official_host_without_a_key_fails_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path());
    for (spec, var) in [("openai:text-embedding-3-small", "OPENAI_API_KEY"), ("voyage:voyage-3.5", "VOYAGE_API_KEY")] {
        let o = embeval(&["--data", data.to_str().unwrap(), "--model", "bm25", "--model", spec, "--no-cache"], &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(!stderr.contains("bm25:"), "nothing ran: {stderr}");
    }
}
