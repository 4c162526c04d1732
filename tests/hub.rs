//! `--model hf:ORG/NAME` reads the Hugging Face cache layout (`$HF_HOME/hub/models--ORG--NAME/
//! refs/main` → `snapshots/<commit>/...`), shared with Python's huggingface_hub. The hub is
//! unreachable from CI, so these tests run with `HF_HUB_OFFLINE=1` on a cache laid out here
//! from the real all-MiniLM-L6-v2 folder (scripts/fetch-models.sh): the same numbers as the
//! folder itself, and a clear exit-2 error for a model that is not cached.

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
