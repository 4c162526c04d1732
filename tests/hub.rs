//! `--model hf:ORG/NAME` reads the Hugging Face cache layout (`$HF_HOME/hub/models--ORG--NAME/
//! refs/main` → `snapshots/<commit>/...`), shared with Python's huggingface_hub. The hub is
//! unreachable from CI, so these tests run with `HF_HUB_OFFLINE=1` on a cache laid out here
//! from the real all-MiniLM-L6-v2 folder (scripts/fetch-models.sh): the same numbers as the
//! folder itself, and a clear exit-2 error for a model that is not cached. Online downloads run
//! against a stand-in for the hub on loopback (`HF_ENDPOINT`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn embeval(hf_home: &Path, cache: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_embeval"))
        .current_dir(root())
        .args(args)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env("EMBEVAL_CACHE", cache)
        .output()
        .unwrap()
}

#[test]
fn hf_model_ids_read_the_hub_cache_offline() {
    let local = std::env::var("EMBEVAL_MODELS").map(PathBuf::from).unwrap_or_else(|_| root().join("models"));
    let local = local.join("all-MiniLM-L6-v2");
    assert!(local.join("config.json").is_file(), "{} is missing: run scripts/fetch-models.sh", local.display());
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "c9745ed1d9f207416be6d2e6f8de32d1f16199bf").unwrap();
    copy_dir(&local, &repo.join("snapshots/c9745ed1d9f207416be6d2e6f8de32d1f16199bf"));
    let out = t.path().join("out");
    let o = embeval(
        t.path(),
        &t.path().join("emb-cache"),
        &[
            "eval",
            "--data",
            "demo",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
            "--model",
            "hf:sentence-transformers/all-MiniLM-L6-v2",
            "--model",
            &format!("folder={}", local.display()),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["models"][0]["name"], "all-MiniLM-L6-v2");
    assert_eq!(r["models"][1]["name"], "folder");
    assert_eq!(r["models"][0]["metrics"], r["models"][1]["metrics"]);

    let o = embeval(
        t.path(),
        &t.path().join("emb-cache"),
        &["eval", "--data", "demo", "--model", "hf:intfloat/multilingual-e5-small"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("hf:intfloat/multilingual-e5-small") && stderr.contains("HF_HUB_OFFLINE"), "{stderr}");
}

/// A stand-in for the Hugging Face hub on loopback (`HF_ENDPOINT`), speaking what hf-hub's
/// client asks: `GET /api/models/ORG/NAME/revision/REV` (the file list) and
/// `GET /ORG/NAME/resolve/REV/FILE` with a `Range` (first `bytes=0-0` for the etag, commit and
/// size, then the bytes). Serves `files` (relative names) and logs every request as
/// "PATH AUTHORIZATION".
struct FakeHub {
    endpoint: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

impl FakeHub {
    fn start(repo: &'static str, files: Vec<(String, Vec<u8>)>) -> FakeHub {
        use tiny_http::{Header, Response};
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let endpoint = format!("http://{}", server.server_addr().to_ip().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, l) = (server.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let header = |k: &str, v: &str| Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
            for req in s.incoming_requests() {
                let url = req.url().to_string();
                let auth = req.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.to_string());
                l.lock().unwrap().push(format!("{url} {}", auth.unwrap_or_default()));
                let range = req.headers().iter().find(|h| h.field.equiv("Range")).map(|h| h.value.to_string());
                if url == format!("/api/models/{repo}/revision/main") {
                    let siblings: Vec<_> = files.iter().map(|(n, _)| serde_json::json!({"rfilename": n})).collect();
                    let body = serde_json::json!({"sha": COMMIT, "siblings": siblings}).to_string();
                    let _ = req
                        .respond(Response::from_string(body).with_header(header("Content-Type", "application/json")));
                    continue;
                }
                let wanted = url.strip_prefix(&format!("/{repo}/resolve/main/"));
                let Some((_, bytes)) = files.iter().find(|(n, _)| Some(n.as_str()) == wanted) else {
                    let _ = req.respond(Response::from_string("not found").with_status_code(404));
                    continue;
                };
                let (from, to) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
                    Some("0-0") => (0, 1),
                    Some(r) => (r.trim_end_matches('-').parse().unwrap(), bytes.len()),
                    None => (0, bytes.len()),
                };
                let etag = format!("\"{}\"", blake3::hash(bytes).to_hex());
                let response = Response::from_data(bytes[from..to].to_vec())
                    .with_status_code(206)
                    .with_header(header("ETag", &etag))
                    .with_header(header("X-Repo-Commit", COMMIT))
                    .with_header(header("Content-Range", &format!("bytes {from}-{}/{}", to - 1, bytes.len())));
                let _ = req.respond(response);
            }
        });
        FakeHub { endpoint, log, server, thread: Some(thread) }
    }

    fn asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every file of a folder, by relative name.
fn folder_files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.path().is_dir() {
            folder_files(&e.path(), &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

/// Online: a sharded checkpoint (Qwen3-Embedding-8B's layout, on the tiny Qwen3 of
/// tests/fixtures/tiny_models) downloads config, tokenizer, the sentence-transformers files, the
/// index and every shard it lists — nothing else the repository has —, sending HF_TOKEN, and
/// evaluates as the same folder on disk does; a second run and an offline one read the cache
/// without asking the hub.
#[test]
fn hf_model_ids_download_sharded_checkpoints() {
    let fixtures = root().join("tests/fixtures/tiny_models");
    let t = tempfile::tempdir().unwrap();
    let local = t.path().join("local");
    copy_dir(&fixtures.join("qwen3-embedding"), &local);
    std::fs::remove_file(local.join("model.safetensors")).unwrap();
    copy_dir(&fixtures.join("qwen3-embedding-sharded"), &local);
    let mut files = Vec::new();
    folder_files(&local, "", &mut files);
    files.push(("README.md".into(), b"# tiny".to_vec()));
    files.push(("onnx/model.onnx".into(), vec![0; 64]));
    let hub = FakeHub::start("tiny/qwen3-sharded", files);
    let run = |offline: bool, out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_embeval"));
        c.current_dir(root())
            .args(["eval", "--data", "demo", "--quiet", "--no-cache", "--out"])
            .arg(t.path().join(out))
            .args(["--model", "hf:tiny/qwen3-sharded", "--model"])
            .arg(format!("folder={}", local.display()))
            .env("HF_HOME", t.path().join("hf"))
            .env("HF_ENDPOINT", &hub.endpoint)
            .env("HF_TOKEN", "hf_test_token")
            .env_remove("HF_HUB_OFFLINE");
        if offline {
            c.env("HF_HUB_OFFLINE", "1");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(t.path().join(out).join("results.json")).unwrap()).unwrap();
        assert_eq!(r["models"][0]["name"], "qwen3-sharded");
        assert_eq!(r["models"][0]["metrics"], r["models"][1]["metrics"]);
        r["models"][0]["metrics"].clone()
    };
    let first = run(false, "online");
    let asked = hub.asked();
    assert!(asked.iter().all(|r| r.ends_with(" Bearer hf_test_token")), "HF_TOKEN not sent: {asked:?}");
    let mut fetched: Vec<String> = asked
        .iter()
        .filter_map(|r| r.split(' ').next()?.strip_prefix("/tiny/qwen3-sharded/resolve/main/").map(str::to_string))
        .collect();
    fetched.sort();
    fetched.dedup();
    assert_eq!(
        fetched,
        [
            "1_Pooling/config.json",
            "2_Normalize/config.json",
            "config.json",
            "config_sentence_transformers.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
            "model.safetensors.index.json",
            "modules.json",
            "sentence_bert_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
        ]
    );
    assert_eq!(run(false, "again"), first);
    assert_eq!(run(true, "offline"), first);
    assert!(hub.asked().is_empty(), "a model complete in the cache is read without the hub");
}

/// A repository whose tokenizer is MeCab-based has no tokenizer.json: the download stops naming
/// the tokenizer's class and what to do instead, as a folder on disk does.
#[test]
fn hf_models_with_a_mecab_tokenizer_are_named() {
    let fixtures = root().join("tests/fixtures/tiny_models/qwen3-embedding");
    let files = vec![
        ("config.json".to_string(), std::fs::read(fixtures.join("config.json")).unwrap()),
        ("tokenizer_config.json".to_string(), br#"{"tokenizer_class": "BertJapaneseTokenizer"}"#.to_vec()),
        ("vocab.txt".to_string(), b"[PAD]\n[UNK]\n".to_vec()),
    ];
    let hub = FakeHub::start("tiny/ja-bert", files);
    let t = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .current_dir(root())
        .args(["eval", "--data", "demo", "--quiet", "--no-cache", "--model", "hf:tiny/ja-bert"])
        .env("HF_HOME", t.path().join("hf"))
        .env("HF_ENDPOINT", &hub.endpoint)
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("hf:tiny/ja-bert/tokenizer.json") && err.contains("BertJapaneseTokenizer"), "{err}");
    assert!(err.contains("emb:Q.npy,D.npy"), "{err}");
}
