//! `--model hf:ORG/NAME[@REVISION]`: a model from the Hugging Face hub, through the hub's own
//! cache (`$HF_HOME/hub`, shared with Python's huggingface_hub), so a model downloaded once —
//! by embeval, sentence-transformers or `huggingface-cli` — is reused. With `HF_HUB_OFFLINE=1`
//! only the cache is read. Native builds only.

use std::path::PathBuf;

use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, Result};

/// Files a sentence-transformers folder may have; the first four are required.
const REQUIRED: [&str; 4] = ["config.json", "tokenizer.json", "model.safetensors", "modules.json"];
const OPTIONAL: [&str; 3] = ["sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"];

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
}

/// The local snapshot folder of `id` (`ORG/NAME[@REVISION]`), downloading what is missing
/// unless offline.
pub fn resolve(id: &str) -> Result<PathBuf> {
    let (name, rev) = id.split_once('@').unwrap_or((id, "main"));
    let repo = Repo::with_revision(name.to_string(), RepoType::Model, rev.to_string());
    let cache = Cache::from_env();
    let cached = |f: &str| cache.repo(repo.clone()).get(f);
    let spec = format!("hf:{id}");
    if offline() || REQUIRED.iter().all(|f| cached(f).is_some()) {
        let config = cached("config.json").ok_or_else(|| {
            Error::missing(
                &spec,
                format!("not in the Hugging Face cache {} and HF_HUB_OFFLINE is set", cache.path().display()),
                "run once online (without HF_HUB_OFFLINE), or download the folder and pass its path",
            )
        })?;
        for f in REQUIRED {
            if cached(f).is_none() {
                return Err(Error::missing(&spec, format!("{f} is not in the Hugging Face cache"), "run once online"));
            }
        }
        return Ok(config.parent().expect("a cached file has a folder").to_path_buf());
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| Error::missing(&spec, format!("cannot set up the Hugging Face client: {e}"), "check HF_HOME"))?;
    let remote = api.repo(repo.clone());
    let mut config = None;
    for f in REQUIRED {
        let p = remote.get(f).map_err(|e| {
            Error::missing(
                &spec,
                format!("cannot download {f}: {e}"),
                "check the model id and your connection; offline, download the folder elsewhere and pass its path",
            )
        })?;
        if f == "config.json" {
            config = Some(p);
        }
    }
    for f in OPTIONAL {
        let _ = remote.get(f); // absent in some models; the loader says what it needs
    }
    Ok(config.expect("config.json is required").parent().expect("a file has a folder").to_path_buf())
}
