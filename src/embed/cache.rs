//! On-disk embedding cache, so re-runs and parameter sweeps don't re-encode (and re-runs of an
//! API model send nothing): one folder per model key — a model folder's BLAKE3 hash and max
//! length, or an API's provider, base URL, model and input type — and vector size, holding an
//! append-only `vectors.bin` of records `[16-byte BLAKE3 of the prompted text][dim × f32 LE]`.
//! A record cut short by a crash is ignored. Native builds only; `--no-cache` turns it off.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::mapped::{self, MappedFile};
use crate::data::Files;
use crate::error::{Error, Result};

pub type TextKey = [u8; 16];

pub fn text_key(text: &str) -> TextKey {
    let h = blake3::hash(text.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&h.as_bytes()[..16]);
    k
}

/// Hash of every file of the model folder (names and bytes, in name order) and the max
/// length: with the text key (which covers the prompt, part of the text), anything that
/// changes a vector changes the key.
/// Vectors made on a GPU (`device` other than `cpu`) are kept apart from the CPU's: the same
/// model gives slightly different numbers there.
pub fn model_key(files: &Files, dir: &str, max_length: usize, dtype: super::Dtype, device: &str) -> Result<String> {
    let mut h = model_files_hasher(files, dir)?;
    h.update(format!("\0max_length={max_length}").as_bytes());
    if dtype != super::Dtype::F32 {
        // f32 keys stay as they were before --dtype existed, so old caches remain valid.
        h.update(format!("\0dtype={}", dtype.name()).as_bytes());
    }
    if device != "cpu" {
        // cuda / metal: the backend, not the card or its number.
        let backend = device.split([':', ' ']).next().unwrap_or(device);
        h.update(format!("\0device={backend}").as_bytes());
    }
    Ok(h.finalize().to_hex()[..32].to_string())
}

/// Hash of the model folder's files alone (names and bytes): which model made a set of
/// vectors, whatever device, dtype or length it ran with (document shards record those apart).
pub fn model_hash(files: &Files, dir: &str) -> Result<String> {
    Ok(model_files_hasher(files, dir)?.finalize().to_hex()[..32].to_string())
}

/// Files on disk, each as (name, path, length, modification time): the identity under which
/// their hash is remembered.
#[cfg(not(target_arch = "wasm32"))]
type OnDisk = Vec<(String, PathBuf, u64, std::time::SystemTime)>;

/// The hasher after the model folder's files, remembered for the process when they all lie on
/// disk: `encode` and `eval --doc-embeddings` need it twice (the shards' model hash and the
/// cache key), and an 8B model's 16 GB take seconds to hash.
fn model_files_hasher(files: &Files, dir: &str) -> Result<blake3::Hasher> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    #[cfg(not(target_arch = "wasm32"))]
    {
        static HASHED: std::sync::Mutex<Vec<(OnDisk, blake3::Hasher)>> = std::sync::Mutex::new(Vec::new());
        let on_disk: Option<OnDisk> = files
            .names()
            .filter(|n| n.starts_with(&prefix))
            .map(|name| {
                let path = files.local_path(name)?;
                let meta = std::fs::metadata(path).ok()?;
                Some((name.to_string(), path.to_path_buf(), meta.len(), meta.modified().ok()?))
            })
            .collect();
        if let Some(on_disk) = on_disk {
            if let Some((_, h)) = HASHED.lock().ok().and_then(|m| m.iter().find(|(k, _)| *k == on_disk).cloned()) {
                return Ok(h);
            }
            let h = hash_model_files(files, &prefix)?;
            if let Ok(mut m) = HASHED.lock() {
                m.push((on_disk, h.clone()));
            }
            return Ok(h);
        }
    }
    hash_model_files(files, &prefix)
}

/// Names and bytes of the files under `prefix`, in name order.
fn hash_model_files(files: &Files, prefix: &str) -> Result<blake3::Hasher> {
    let mut h = blake3::Hasher::new();
    for name in files.names().filter(|n| n.starts_with(prefix)) {
        h.update(&name.as_bytes()[prefix.len()..]);
        h.update(&[0]);
        // Files on disk are hashed where they lie, a block at a time (a large model is not held
        // in memory for this, nor its pages kept resident beside the model already loaded), on
        // every core in the CLI: an 8B model's 16 GB every run.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(path) =
            files.local_path(name).filter(|p| !name.ends_with(".gz") && p.extension().is_none_or(|e| e != "gz"))
        {
            hash_file(&mut h, path).map_err(|e| {
                Error::missing(
                    path.display().to_string(),
                    format!("cannot read: {e}"),
                    "check the path and permissions",
                )
            })?;
            continue;
        }
        h.update(&files.bytes(name)?);
    }
    Ok(h)
}

/// Adds the bytes of the file at `path` to `h`, read through a map a block at a time (each
/// block's pages handed back once hashed), on every core in the CLI.
fn hash_file(h: &mut blake3::Hasher, path: &Path) -> std::io::Result<()> {
    let file = MappedFile::open(path)?;
    file.read_blocks(0..file.bytes().len(), mapped::BLOCK, |_, block| {
        #[cfg(feature = "cli")]
        h.update_rayon(block);
        #[cfg(not(feature = "cli"))]
        h.update(block);
    })
}

pub struct Cache {
    file: PathBuf,
    dim: usize,
    map: HashMap<TextKey, Vec<f32>>,
    pending: Vec<u8>,
}

impl Cache {
    /// Opens (creating) `root/<key>/vectors.bin` for vectors of `dim` floats.
    pub fn open(root: &Path, key: &str, dim: usize) -> Result<Cache> {
        let dir = root.join(format!("{key}-d{dim}"));
        let werr = |e| Error::Write { file: dir.display().to_string(), source: e };
        std::fs::create_dir_all(&dir).map_err(werr)?;
        let file = dir.join("vectors.bin");
        let bytes = std::fs::read(&file).unwrap_or_default();
        let rec = 16 + 4 * dim;
        let map = bytes
            .chunks_exact(rec)
            .map(|r| {
                let mut k = [0u8; 16];
                k.copy_from_slice(&r[..16]);
                (k, r[16..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            })
            .collect();
        Ok(Cache { file, dim, map, pending: Vec::new() })
    }

    /// Vector size, of every record.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The folder holding this cache's records.
    pub fn folder(&self) -> &Path {
        self.file.parent().unwrap_or(&self.file)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, k: &TextKey) -> Option<&[f32]> {
        self.map.get(k).map(Vec::as_slice)
    }

    pub fn insert(&mut self, k: TextKey, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        if self.map.insert(k, v.to_vec()).is_none() {
            self.pending.extend_from_slice(&k);
            v.iter().for_each(|x| self.pending.extend_from_slice(&x.to_le_bytes()));
        }
    }

    /// Appends the new records to disk.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let werr = |e| Error::Write { file: self.file.display().to_string(), source: e };
        // A record cut short by an earlier crash would misalign everything after it: trim first.
        let rec = (16 + 4 * self.dim) as u64;
        let len = std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&self.file).map_err(werr)?;
        if len % rec != 0 {
            f.set_len(len - len % rec).map_err(werr)?;
        }
        let mut f = std::io::BufWriter::new(f);
        f.write_all(&self.pending).map_err(werr)?;
        f.flush().map_err(werr)?;
        self.pending.clear();
        Ok(())
    }
}

/// The vector size of an existing cache for `key` (the `-dN` of its folder), for models that
/// tell their size only in their first answer (APIs); the largest cache if there are several.
pub fn find_dim(root: &Path, key: &str) -> Option<usize> {
    let prefix = format!("{key}-d");
    std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let dim: usize = e.file_name().to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            let size = std::fs::metadata(e.path().join("vectors.bin")).map_or(0, |m| m.len());
            (dim > 0).then_some((size, dim))
        })
        .max()
        .map(|(_, dim)| dim)
}

/// `$EMBEVAL_CACHE/embeddings`, else `$XDG_CACHE_HOME/embeval/embeddings`, else
/// `~/.cache/embeval/embeddings`.
pub fn default_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EMBEVAL_CACHE") {
        return Some(PathBuf::from(d).join("embeddings"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("embeval").join("embeddings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model folder on disk (streamed through the hasher) and the same files handed over as
    /// bytes (the browser, tests) have one hash: caches and shard manifests match either way.
    #[test]
    fn model_hash_is_the_same_from_disk_and_from_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        for (name, bytes) in
            [("config.json", &b"{}"[..]), ("model.safetensors", &big), ("1_Pooling/config.json", b"[]")]
        {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let mut on_disk = Files::new("t");
        on_disk.add_dir("m", dir.path()).unwrap();
        let mut lent = Files::new("t");
        for name in ["config.json", "model.safetensors", "1_Pooling/config.json"] {
            lent.add_bytes(format!("m/{name}"), name, std::fs::read(dir.path().join(name)).unwrap());
        }
        assert_eq!(model_hash(&on_disk, "m").unwrap(), model_hash(&lent, "m").unwrap());
        lent.add_bytes("m/extra.json", "extra.json", b"{}".to_vec());
        assert_ne!(model_hash(&on_disk, "m").unwrap(), model_hash(&lent, "m").unwrap());
    }

    /// The hash remembered for a folder on disk is not served once one of its files changed.
    #[test]
    fn a_changed_model_file_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        std::fs::write(&weights, [1u8; 4096]).unwrap();
        let mut files = Files::new("t");
        files.add_dir("m", dir.path()).unwrap();
        let first = model_hash(&files, "m").unwrap();
        assert_eq!(model_hash(&files, "m").unwrap(), first);
        std::fs::write(&weights, [2u8; 4100]).unwrap();
        let mut lent = Files::new("t");
        lent.add_bytes("m/config.json", "config.json", b"{}".to_vec());
        lent.add_bytes("m/model.safetensors", "model.safetensors", vec![2u8; 4100]);
        assert_ne!(model_hash(&files, "m").unwrap(), first);
        assert_eq!(model_hash(&files, "m").unwrap(), model_hash(&lent, "m").unwrap());
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 2).unwrap();
        c.insert(text_key("猫"), &[1.0, 2.0]);
        c.insert(text_key("dog"), &[3.0, -4.5]);
        c.flush().unwrap();
        // A crash mid-record leaves a partial tail.
        let f = dir.path().join("k-d2/vectors.bin");
        let mut bytes = std::fs::read(&f).unwrap();
        bytes.extend_from_slice(&[7; 10]);
        std::fs::write(&f, &bytes).unwrap();
        let mut c = Cache::open(dir.path(), "k", 2).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&text_key("猫")), Some(&[1.0f32, 2.0][..]));
        c.insert(text_key("bird"), &[0.5, 0.25]);
        c.flush().unwrap();
        let c = Cache::open(dir.path(), "k", 2).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&text_key("dog")), Some(&[3.0f32, -4.5][..]));
        assert_eq!(c.get(&text_key("bird")), Some(&[0.5f32, 0.25][..]));
    }

    #[test]
    fn find_dim_reads_the_folder_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_dim(dir.path(), "openai-k"), None);
        let mut c = Cache::open(dir.path(), "openai-k", 3).unwrap();
        c.insert(text_key("a"), &[1.0, 2.0, 3.0]);
        c.flush().unwrap();
        Cache::open(dir.path(), "openai-kk", 5).unwrap();
        assert_eq!(find_dim(dir.path(), "openai-k"), Some(3));
        assert_eq!(find_dim(dir.path(), "openai-kk"), Some(5));
        assert_eq!(find_dim(dir.path(), "voyage-k"), None);
    }
}
