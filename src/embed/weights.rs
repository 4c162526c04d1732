//! A model folder's weights in each layout the Hugging Face hub serves them, preferred in
//! transformers' order:
//! 1. `model.safetensors`;
//! 2. `model.safetensors.index.json` + the files its `weight_map` names
//!    (`model-00001-of-00004.safetensors` …): how models past a few GB ship (Qwen3-Embedding-4B
//!    in 2 files, 8B in 4);
//! 3. natively, `pytorch_model.bin`, then `pytorch_model.bin.index.json` + its files
//!    (transformers 4.x with `safe_serialization=False`).
//!
//! Files on disk are memory-mapped (safetensors) and bytes handed over (the browser) are read
//! where they lie: each tensor is copied once, into the model. Every listed file must be present
//! before anything loads, and an error names the file.

use std::collections::HashMap;

use candle_core::safetensors::{BufferedSafetensors, SliceSafetensors};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use super::encoder::join;
use crate::data::Files;
use crate::error::{Error, Result};

pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH: &str = "pytorch_model.bin";
pub const PYTORCH_INDEX: &str = "pytorch_model.bin.index.json";
/// Where a folder's weights may be, in the order they are preferred.
pub const LAYOUTS: [&str; 4] = [SAFETENSORS, SAFETENSORS_INDEX, PYTORCH, PYTORCH_INDEX];

/// The folder's weights: the name errors about them use (the file, or the index of a sharded
/// checkpoint) and the tensors.
pub fn load<'a>(files: &'a Files, dir: &str, dtype: DType, device: &Device) -> Result<(&'static str, VarBuilder<'a>)> {
    if let Some(layout) = LAYOUTS.into_iter().find(|f| files.has(&join(dir, f))) {
        let names = if layout.ends_with(".index.json") { shards(files, dir, layout)? } else { vec![join(dir, layout)] };
        let vb = if layout.starts_with("model") {
            safetensors(files, &names, dtype, device)?
        } else {
            pytorch(files, &names, dtype, device)?
        };
        return Ok((layout, vb));
    }
    // The folder as the user gave it: where its config.json (read before this) lies.
    let config = files.display(&join(dir, "config.json"));
    let folder = config.strip_suffix("config.json").map_or(config.as_str(), |f| f.trim_end_matches(['/', '\\']));
    Err(Error::missing(
        folder,
        "no model.safetensors, model.safetensors.index.json or pytorch_model.bin in this model folder",
        "add the model's weights (model.safetensors, or every file of a sharded checkpoint with its index)",
    ))
}

/// The files `index` (in `dir`) lists in its `weight_map`, as names in `files`, in file-name
/// order; an error names the index when it cannot be read or names a file outside the folder,
/// and the first listed file that is not there.
pub fn shards(files: &Files, dir: &str, index: &str) -> Result<Vec<String>> {
    let path = join(dir, index);
    let shown = files.display(&path);
    let listed = index_files(&files.read_text(&path)?)
        .map_err(|(line, what)| Error::input(&shown, line, what, "re-download the index with the model's weights"))?;
    let missing: Vec<&String> = listed.iter().filter(|f| !files.has(&join(dir, f))).collect();
    if let Some(first) = missing.first() {
        let many = if missing.len() == 1 { "is".to_string() } else { format!("and {} more are", missing.len() - 1) };
        return Err(Error::missing(
            files.display(&join(dir, first)),
            format!("{index} lists {} weight files; this one {many} missing", listed.len()),
            "download every file of the checkpoint (e.g. `huggingface-cli download ORG/NAME`), or pass \
             --model hf:ORG/NAME",
        ));
    }
    Ok(listed.iter().map(|f| join(dir, f)).collect())
}

/// The distinct file names of an index's `weight_map`, sorted; `Err((line, what))`.
pub(crate) fn index_files(text: &str) -> std::result::Result<Vec<String>, (usize, String)> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let index: Index = serde_json::from_str(text)
        .map_err(|e| (e.line(), format!("not a weights index ({{\"weight_map\": …}}): {e}")))?;
    let mut names: Vec<String> = index.weight_map.into_values().collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err((1, "the weight_map lists no files".into()));
    }
    // The hub writes plain names beside the index; anything else could reach outside the folder.
    if let Some(bad) = names.iter().find(|n| n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.')) {
        return Err((1, format!("the weight_map names '{bad}', not a file beside the index")));
    }
    Ok(names)
}

/// One or more safetensors files (`names` in `files`) as one set of tensors.
fn safetensors<'a>(files: &'a Files, names: &[String], dtype: DType, device: &Device) -> Result<VarBuilder<'a>> {
    let bad = |name: &str, e: candle_core::Error| {
        Error::input(files.display(name), 0, format!("cannot read as safetensors: {e}"), "re-download the model")
    };
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(paths) = names.iter().map(|n| files.local_path(n)).collect::<Option<Vec<_>>>() {
        // SAFETY: the maps are read while the model loads and dropped after; as with every
        // memory-mapped reader, a file changed meanwhile by another process gives wrong bytes.
        return unsafe { VarBuilder::from_mmaped_safetensors(&paths, dtype, device) }.map_err(|e| {
            // The error does not say which file: the first that does not read alone is it.
            let culprit = names
                .iter()
                .zip(&paths)
                .find(|(_, p)| unsafe { candle_core::safetensors::MmapedSafetensors::new(p) }.is_err());
            bad(culprit.map_or(&names[0], |(n, _)| n), e)
        });
    }
    let mut set = Shards { routing: HashMap::new(), shards: Vec::with_capacity(names.len()) };
    for name in names {
        let shard = match files.bytes(name)? {
            std::borrow::Cow::Borrowed(bytes) => Shard::Lent(SliceSafetensors::new(bytes).map_err(|e| bad(name, e))?),
            std::borrow::Cow::Owned(bytes) => Shard::Owned(BufferedSafetensors::new(bytes).map_err(|e| bad(name, e))?),
        };
        for tensor in shard.names() {
            set.routing.insert(tensor, set.shards.len());
        }
        set.shards.push(shard);
    }
    Ok(VarBuilder::from_backend(Box::new(set), dtype, device.clone()))
}

/// Safetensors files handed over as bytes, read where they lie.
enum Shard<'a> {
    Lent(SliceSafetensors<'a>),
    Owned(BufferedSafetensors),
}

impl Shard<'_> {
    fn names(&self) -> Vec<String> {
        let tensors = match self {
            Shard::Lent(s) => s.tensors(),
            Shard::Owned(s) => s.tensors(),
        };
        tensors.into_iter().map(|(name, _)| name).collect()
    }

    fn load(&self, name: &str, device: &Device) -> candle_core::Result<Tensor> {
        match self {
            Shard::Lent(s) => s.load(name, device),
            Shard::Owned(s) => s.load(name, device),
        }
    }
}

/// Every tensor of several files, found by name in the file that has it.
struct Shards<'a> {
    routing: HashMap<String, usize>,
    shards: Vec<Shard<'a>>,
}

impl SimpleBackend for Shards<'_> {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let tensor = self.get_unchecked(name, dtype, dev)?;
        if tensor.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: tensor.shape().clone(),
            });
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let &i =
            self.routing.get(name).ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.to_string() })?;
        self.shards[i].load(name, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.routing.contains_key(name)
    }
}

/// One or more `pytorch_model.bin` files (torch.save zips) through candle's pickle reader,
/// which reads from a file.
#[cfg(not(target_arch = "wasm32"))]
fn pytorch(files: &Files, names: &[String], dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let mut tensors = HashMap::new();
    for name in names {
        let path = files.local_path(name).ok_or_else(|| {
            Error::missing(
                files.display(name),
                "PyTorch checkpoints are read from disk only",
                "pass the model folder on disk, or convert the weights to model.safetensors",
            )
        })?;
        let read = candle_core::pickle::read_all(path).map_err(|e| {
            Error::input(
                files.display(name),
                0,
                format!("cannot read as a PyTorch checkpoint: {e}"),
                "re-save it with torch.save(model.state_dict()), or convert it to model.safetensors",
            )
        })?;
        tensors.extend(read);
    }
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}

#[cfg(target_arch = "wasm32")]
fn pytorch(files: &Files, names: &[String], _dtype: DType, _device: &Device) -> Result<VarBuilder<'static>> {
    Err(Error::missing(
        files.display(&names[0]),
        "PyTorch checkpoints (pytorch_model.bin) cannot be read in the browser (no model.safetensors in this folder)",
        "convert the weights to model.safetensors (e.g. safetensors.torch.save_file) and pick the folder again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_lists_its_files_once_sorted() {
        let text = r#"{"metadata": {"total_size": 10},
            "weight_map": {"b.w": "model-00002-of-00002.safetensors", "a.w": "model-00001-of-00002.safetensors",
                           "c.w": "model-00002-of-00002.safetensors"}}"#;
        assert_eq!(
            index_files(text).unwrap(),
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        );
    }

    #[test]
    fn a_bad_index_is_an_error_with_its_line() {
        let (line, what) = index_files("{\n \"weight_map\": {\n  \"a\": 3}}").unwrap_err();
        assert_eq!(line, 3, "{what}");
        assert!(index_files(r#"{"weight_map": {}}"#).unwrap_err().1.contains("lists no files"));
        for outside in ["../secret.safetensors", "/etc/passwd", "sub/x.safetensors", ".hidden"] {
            let text = format!(r#"{{"weight_map": {{"a": "{outside}"}}}}"#);
            assert!(index_files(&text).unwrap_err().1.contains("not a file beside the index"), "{outside}");
        }
    }
}
