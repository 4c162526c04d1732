//! `--model hf:ORG/NAME[@REVISION]`: a model from the Hugging Face hub, through the hub's own
//! cache (`$HF_HOME/hub`, shared with Python's huggingface_hub), so a model downloaded once —
//! by embeval, sentence-transformers or `huggingface-cli` — is reused. With `HF_HUB_OFFLINE=1`
//! only the cache is read; `HF_ENDPOINT` points at a mirror; `HF_TOKEN` (or the token file of
//! `huggingface-cli login`) opens gated models. Native builds only.
//!
//! What is fetched is what the loader reads, as far as the repository has it (its file list
//! comes first): config.json, tokenizer.json and the weights in the first layout the repository
//! has ([`super::weights`]: model.safetensors, every file of a sharded checkpoint, or the PyTorch
//! forms), and the optional sentence-transformers files and module configs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use hf_hub::{Cache, CacheRepo, Repo, RepoType};

use super::weights::{LAYOUTS, SAFETENSORS};
use crate::error::{Error, Result};

/// Files without which no model loads.
const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];
/// Files the loader reads when they are there.
const OPTIONAL: [&str; 4] =
    ["modules.json", "tokenizer_config.json", "sentence_bert_config.json", "config_sentence_transformers.json"];

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
}

/// The local snapshot folder of `id` (`ORG/NAME[@REVISION]`), downloading what is missing
/// unless offline. A model complete in the cache (config, tokenizer, every weights file) is
/// read without asking the hub.
pub fn resolve(id: &str) -> Result<PathBuf> {
    let (name, rev) = id.split_once('@').unwrap_or((id, "main"));
    let repo = Repo::with_revision(name.to_string(), RepoType::Model, rev.to_string());
    let cache = Cache::from_env();
    let spec = format!("hf:{id}");
    let cached = cache.repo(repo.clone());
    match cached_model(&cached) {
        Ok(config) => return Ok(folder(config)),
        Err(missing) if offline() => {
            return Err(Error::missing(
                &spec,
                format!(
                    "{missing} is not in the Hugging Face cache {} and HF_HUB_OFFLINE is set",
                    cache.path().display()
                ),
                "run once online (without HF_HUB_OFFLINE), or download the folder and pass its path",
            ))
        }
        Err(_) => {}
    }
    let unreachable = |what: String| {
        Error::missing(
            &spec,
            what,
            "check the model id and your connection (HF_TOKEN for gated models); offline, download the folder \
             elsewhere and pass its path",
        )
    };
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env().with_progress(false);
    // hf-hub reads the token file `huggingface-cli login` writes; HF_TOKEN, as huggingface_hub
    // reads it, comes first.
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        builder = builder.with_token(Some(token.trim().to_string()));
    }
    let api = builder
        .build()
        .map_err(|e| Error::missing(&spec, format!("cannot set up the Hugging Face client: {e}"), "check HF_HOME"))?;
    let remote = api.repo(repo);
    let listed: BTreeSet<String> = remote
        .info()
        .map_err(|e| unreachable(format!("cannot list the repository's files: {e}")))?
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .collect();
    let get = |f: &str| remote.get(f).map_err(|e| unreachable(format!("cannot download {f}: {e}")));
    for f in REQUIRED {
        if !listed.contains(f) {
            // A Japanese word-splitting tokenizer has no tokenizer.json: say so.
            if f == "tokenizer.json" && listed.contains("tokenizer_config.json") {
                let config = get("tokenizer_config.json").ok().and_then(|p| std::fs::read_to_string(p).ok());
                if let Some(class) = config.as_deref().and_then(super::encoder::slow_tokenizer) {
                    return Err(super::encoder::no_fast_tokenizer(format!("{spec}/tokenizer.json"), &class));
                }
            }
            return Err(Error::missing(
                &spec,
                format!("the repository has no {f}"),
                "pass a transformers / sentence-transformers model with a fast tokenizer (tokenizer.json)",
            ));
        }
    }
    let config = get("config.json")?;
    get("tokenizer.json")?;
    for f in OPTIONAL.iter().filter(|f| listed.contains(**f)) {
        get(f)?;
    }
    // Each module's own config (1_Pooling/config.json …), where modules.json names a folder.
    if let Some(modules) = cached.get("modules.json") {
        for f in module_configs(&std::fs::read_to_string(modules).unwrap_or_default()) {
            if listed.contains(&f) {
                get(&f)?;
            }
        }
    }
    let Some(layout) = LAYOUTS.into_iter().find(|f| listed.contains(*f)) else {
        return Err(Error::missing(
            &spec,
            "the repository has no model.safetensors, model.safetensors.index.json or pytorch_model.bin",
            "pass a repository with transformers weights",
        ));
    };
    let file = get(layout)?;
    if layout.ends_with(".index.json") {
        for shard in index_files(&file)? {
            get(&shard)?;
        }
    }
    Ok(folder(config))
}

fn folder(config: PathBuf) -> PathBuf {
    config.parent().expect("a cached file has a folder").to_path_buf()
}

/// config.json of a model whose required files and weights are all in the cache, else the
/// first file missing.
fn cached_model(cached: &CacheRepo) -> std::result::Result<PathBuf, String> {
    for f in REQUIRED {
        cached.get(f).ok_or_else(|| f.to_string())?;
    }
    let weights =
        LAYOUTS.into_iter().find_map(|f| cached.get(f).map(|p| (f, p))).ok_or_else(|| SAFETENSORS.to_string())?;
    if weights.0.ends_with(".index.json") {
        for shard in index_files(&weights.1).map_err(|_| weights.0.to_string())? {
            cached.get(&shard).ok_or(shard)?;
        }
    }
    Ok(cached.get("config.json").expect("checked above"))
}

/// The weight files a downloaded index lists.
fn index_files(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    super::weights::index_files(&text)
        .map_err(|(line, what)| Error::input(path.display().to_string(), line, what, "download the model again"))
}

/// `PATH/config.json` for every module of a modules.json that lives in a folder of its own.
fn module_configs(modules: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Module {
        #[serde(default)]
        path: String,
    }
    let modules: Vec<Module> = serde_json::from_str(modules).unwrap_or_default();
    modules.into_iter().filter(|m| !m.path.is_empty()).map(|m| format!("{}/config.json", m.path)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_configs_are_those_in_folders() {
        let modules = r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#;
        assert_eq!(super::module_configs(modules), ["1_Pooling/config.json", "2_Normalize/config.json"]);
        assert!(super::module_configs("not json").is_empty());
    }
}
