//! On-disk embedding cache, so re-runs and parameter sweeps don't re-encode (and re-runs of an
//! API model send nothing): one folder per model key — a model folder's BLAKE3 hash and max
//! length, or an API's provider, base URL, model and input type — and vector size, holding an
//! append-only `vectors.bin` of records `[16-byte BLAKE3 of the prompted text][dim × f32 LE]`,
//! and `truncated.bin`: a little-endian u64, the number of `vectors.bin` records written before
//! it existed (by an embeval that did not record truncation), then the 16-byte keys of the
//! texts cut at the max length, so a run from the cache counts them as the run that encoded
//! them did. A record cut short by a crash is ignored. Processes sharing a folder (shard jobs on
//! one machine, a sweep run in parallel) take turns through its `lock` file to open and to
//! append, and a text one of them wrote is not written again by another. Beside the folders,
//! `model-hashes/` remembers model folders' hashes ([`files_hash`]). Native builds only;
//! `--no-cache` turns it all off.

use std::collections::{HashMap, HashSet};
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
/// `memo`: the cache folder, where the hash is remembered ([`files_hash`]).
pub fn model_key(
    files: &Files,
    dir: &str,
    max_length: usize,
    dtype: super::Dtype,
    attention: super::AttentionChoice,
    device: &str,
    memo: Option<&Path>,
) -> Result<String> {
    let mut suffix = format!("\0max_length={max_length}");
    if dtype != super::Dtype::F32 {
        // f32 keys stay as they were before --dtype existed, so old caches remain valid.
        suffix += &format!("\0dtype={}", dtype.name());
        if dtype.activations(attention, device) == super::Dtype::F32 {
            // Half-precision weights on the CPU's fast path, activations f32: other vectors than
            // the candle graph's half-precision activations, which had this key without it.
            suffix += "\0activations=f32";
        }
    }
    if device != "cpu" {
        // cuda / metal: the backend, not the card or its number.
        let backend = device.split([':', ' ']).next().unwrap_or(device);
        suffix += &format!("\0device={backend}");
    }
    files_hash(files, dir, suffix.as_bytes(), memo)
}

/// Hash of the model folder's files alone (names and bytes): which model made a set of
/// vectors, whatever device, dtype or length it ran with (document shards record those apart).
pub fn model_hash(files: &Files, dir: &str, memo: Option<&Path>) -> Result<String> {
    files_hash(files, dir, b"", memo)
}

/// The first 32 hex digits of the BLAKE3 of the model folder's files (names and bytes, in name
/// order) and then `suffix`.
///
/// An 8B model's 16 GB take seconds to hash, every run, where its vectors are all cached and
/// the model is never loaded. So when the files all lie on disk and `memo` (the cache folder)
/// is given, the hash is remembered in `memo/model-hashes/` under what identifies the files
/// there — each one's name, path, size and modification time (and on Unix its device, inode
/// and change time) — as git's index and cargo's fingerprints trust them. A file modified in
/// the last 2 seconds is not remembered (a file system that keeps coarse times could see it
/// change again under the same time).
fn files_hash(files: &Files, dir: &str, suffix: &[u8], memo: Option<&Path>) -> Result<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let finish = |mut h: blake3::Hasher| -> String {
        h.update(suffix);
        h.finalize().to_hex()[..32].to_string()
    };
    #[cfg(target_arch = "wasm32")]
    {
        let _ = memo;
        Ok(finish(hash_model_files(files, &prefix)?))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let Some((id, newest)) = identity(files, &prefix) else {
            return Ok(finish(hash_model_files(files, &prefix)?));
        };
        let mut k = blake3::Hasher::new();
        k.update(id.as_bytes());
        k.update(&[0xff]);
        k.update(suffix);
        let remembered = memo.map(|root| root.join("model-hashes").join(&k.finalize().to_hex()[..32]));
        if let Some(hash) = remembered.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            if hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(hash);
            }
        }
        // Within one process the files' bytes are hashed once, whatever the suffixes asked
        // for (an `encode` job needs the shards' model hash and the cache key).
        static HASHED: std::sync::Mutex<Vec<(String, blake3::Hasher)>> = std::sync::Mutex::new(Vec::new());
        let known = HASHED.lock().ok().and_then(|m| m.iter().find(|(i, _)| *i == id).map(|(_, h)| h.clone()));
        let started = std::time::SystemTime::now();
        let h = match known {
            Some(h) => h,
            None => {
                let h = hash_model_files(files, &prefix)?;
                if let Ok(mut m) = HASHED.lock() {
                    m.push((id.clone(), h.clone()));
                }
                h
            }
        };
        let hash = finish(h);
        let settled = started.checked_sub(std::time::Duration::from_secs(2)).is_some_and(|t| newest < t);
        let unchanged = || identity(files, &prefix).is_some_and(|(again, _)| again == id);
        if let Some(file) = remembered.filter(|_| settled && unchanged()) {
            // Best effort: a cache folder that cannot be written only costs the next run a hash.
            let tmp = file.with_extension(format!("partial-{}", std::process::id()));
            let _ = std::fs::create_dir_all(file.parent().unwrap_or(&file))
                .and_then(|()| std::fs::write(&tmp, &hash))
                .and_then(|()| std::fs::rename(&tmp, &file));
            std::fs::remove_file(&tmp).ok();
        }
        Ok(hash)
    }
}

/// What identifies the files under `prefix` on disk (one line each: name, path, size,
/// modification time in ns, and on Unix device, inode and change time), and the newest
/// modification time; `None` if any is not a file on disk.
#[cfg(not(target_arch = "wasm32"))]
fn identity(files: &Files, prefix: &str) -> Option<(String, std::time::SystemTime)> {
    let mut id = String::new();
    let mut newest = std::time::UNIX_EPOCH;
    for name in files.names().filter(|n| n.starts_with(prefix)) {
        let path = files.local_path(name)?;
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        newest = newest.max(modified);
        let ns = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        id += &format!("{name}\0{}\0{}\0{ns}", path.display(), meta.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            id += &format!("\0{}\0{}\0{}.{}", meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec());
        }
        id.push('\n');
    }
    Some((id, newest))
}

/// Names and bytes of the files under `prefix`, in name order.
fn hash_model_files(files: &Files, prefix: &str) -> Result<blake3::Hasher> {
    let mut h = blake3::Hasher::new();
    for name in files.names().filter(|n| n.starts_with(prefix)) {
        h.update(&name.as_bytes()[prefix.len()..]);
        h.update(&[0]);
        // Files on disk are hashed where they lie, a block at a time (a large model is not held
        // in memory for this, nor its pages kept resident beside the model already loaded), on
        // every core in the CLI: an 8B model's 16 GB on each first run ([`files_hash`]).
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
    /// `vectors.bin` as it was when opened (`None` if empty): vectors are read from it where
    /// they lie, not loaded — the folder may hold other datasets' vectors too, and a million
    /// cached vectors are read once, into the run's own matrix.
    disk: Option<MappedFile>,
    /// Records in `disk`.
    on_disk: usize,
    /// Bytes of `vectors.bin` this cache has seen: as opened, and its own appends since. Records
    /// beyond were appended by another process sharing the folder.
    seen: u64,
    /// Bytes of `disk` read at a time: [`mapped::BLOCK`] (tests: less).
    block: usize,
    /// Each cached text's record: its index in `vectors.bin` as opened, or [`ADDED`].
    index: HashMap<TextKey, usize>,
    /// Records added since opening, not yet written.
    pending: Vec<u8>,
    /// Texts cut at the max length (`truncated.bin`).
    cut: HashSet<TextKey>,
    /// Records older than `truncated.bin`: whether they were cut is not known.
    unknown: HashSet<TextKey>,
    pending_cut: Vec<u8>,
}

impl Cache {
    /// Opens (creating) `root/<key>/vectors.bin` for vectors of `dim` floats. Only the keys
    /// are read (a block at a time, each block's pages handed back).
    pub fn open(root: &Path, key: &str, dim: usize) -> Result<Cache> {
        let dir = root.join(format!("{key}-d{dim}"));
        let werr = |e| Error::Write { file: dir.display().to_string(), source: e };
        std::fs::create_dir_all(&dir).map_err(werr)?;
        let file = dir.join("vectors.bin");
        let rerr = |e| unreadable(&file, e);
        let rec = 16 + 4 * dim;
        // Held while the tails are trimmed and the files' lengths taken: a tail being written by
        // another process is not a crash's. The records mapped then do not change.
        let held = lock(&dir);
        let len = std::fs::metadata(&file).map_or(0, |m| m.len());
        if !len.is_multiple_of(rec as u64) {
            // A record cut short by a crash: trimmed before the file is mapped (Windows cannot
            // shorten a mapped file).
            let werr = |e| Error::Write { file: file.display().to_string(), source: e };
            let f = std::fs::OpenOptions::new().write(true).open(&file).map_err(werr)?;
            f.set_len(len - len % rec as u64).map_err(werr)?;
        }
        let disk = if len >= rec as u64 { Some(MappedFile::open(&file).map_err(rerr)?) } else { None };
        let on_disk = disk.as_ref().map_or(0, |d| d.bytes().len() / rec);
        let cut_file = dir.join(TRUNCATED);
        let cut_bytes = std::fs::read(&cut_file).unwrap_or_default();
        let older = match cut_bytes.get(..8) {
            Some(n) => u64::from_le_bytes(n.try_into().expect("8 bytes")) as usize,
            None => start_truncated(&cut_file, on_disk)?,
        };
        drop(held);
        let cut = cut_bytes.get(8..).unwrap_or_default().chunks_exact(16).map(record_key).collect();
        let mut index = HashMap::with_capacity(on_disk);
        let mut unknown = HashSet::new();
        if let Some(d) = &disk {
            each_key(&file, d, 0..on_disk * rec, rec, |i, k| {
                index.insert(k, i);
                if i < older {
                    unknown.insert(k);
                }
            })?;
        }
        Ok(Cache {
            file,
            dim,
            disk,
            on_disk,
            seen: (on_disk * rec) as u64,
            block: mapped::BLOCK,
            index,
            pending: Vec::new(),
            cut,
            unknown,
            pending_cut: Vec::new(),
        })
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
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, k: &TextKey) -> bool {
        self.index.contains_key(k)
    }

    /// Whether the vector of key `k` was on disk when the cache opened: what
    /// [`Cache::read_rows`] reads (not the ones added since).
    pub fn has_on_disk(&self, k: &TextKey) -> bool {
        self.index.get(k).is_some_and(|&i| i < self.on_disk)
    }

    /// Copies the vector of each `(key, row)` of `wanted` into row `row` of `out` (rows of
    /// [`Cache::dim`] floats). Records on disk are read in file order, a block at a time, each
    /// block's pages handed back once copied. False if a key was not cached when the cache
    /// opened (vectors added since are the caller's own).
    pub fn read_rows(&self, wanted: &[(TextKey, usize)], out: &mut [f32]) -> Result<bool> {
        let dim = self.dim;
        let mut records = Vec::with_capacity(wanted.len());
        for (k, row) in wanted {
            match self.index.get(k) {
                Some(&i) if i < self.on_disk => records.push((i, *row)),
                _ => return Ok(false),
            }
        }
        records.sort_unstable();
        let (Some(d), Some(&(lo, _)), Some(&(hi, _))) = (&self.disk, records.first(), records.last()) else {
            return Ok(records.is_empty());
        };
        let rec = 16 + 4 * dim;
        let mut next = records.iter().peekable();
        // From the first record wanted to the last: a part of a long encoding reads its own.
        d.read_records(lo * rec..(hi + 1) * rec, rec, self.block, |first, piece| {
            let first = lo + first;
            let end = first + piece.len() / rec;
            while let Some(&(i, row)) = next.next_if(|&&(i, _)| i < end) {
                let bytes = &piece[(i - first) * rec + 16..][..4 * dim];
                for (o, b) in out[row * dim..][..dim].iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        })
        .map_err(|e| unreadable(&self.file, e))?;
        Ok(true)
    }

    /// Whether the text of key `k` was cut at the max length when encoded; `None` where the
    /// cache does not know (records older than `truncated.bin`, texts not cached).
    pub fn truncated(&self, k: &TextKey) -> Option<bool> {
        (self.index.contains_key(k) && !self.unknown.contains(k)).then(|| self.cut.contains(k))
    }

    /// Adds the vector `v` of a text (`truncated`: cut at the max length) unless it is cached:
    /// written by the next [`Cache::flush`].
    pub fn insert(&mut self, k: TextKey, v: &[f32], truncated: bool) {
        debug_assert_eq!(v.len(), self.dim);
        if let std::collections::hash_map::Entry::Vacant(e) = self.index.entry(k) {
            e.insert(ADDED);
            self.pending.extend_from_slice(&k);
            v.iter().for_each(|x| self.pending.extend_from_slice(&x.to_le_bytes()));
            if truncated && self.cut.insert(k) {
                self.pending_cut.extend_from_slice(&k);
            }
        }
    }

    /// [`Cache::flush`] once 16 MiB of new records wait in memory: an encoder's window of
    /// vectors (256 MiB at 1,024 dimensions) is not held again as records.
    pub fn flush_when_full(&mut self) -> Result<()> {
        const PENDING_BYTES: usize = 16 << 20;
        if self.pending.len() >= PENDING_BYTES {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Appends the new records to disk: which texts were cut first, so a vector on disk never
    /// lacks its mark (a mark without its vector, after a crash, only waits for the vector).
    /// A text another process sharing the folder wrote since is not written again (runs of
    /// one model at once, a sweep, encode the same texts).
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() && self.pending_cut.is_empty() {
            return Ok(());
        }
        let _lock = lock(self.folder());
        let cut_file = self.folder().join(TRUNCATED);
        let rec = 16 + 4 * self.dim as u64;
        let len = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let theirs = self.seen..len - len % rec;
        if !theirs.is_empty() && !self.pending.is_empty() {
            let mut written = HashSet::new();
            let disk = MappedFile::open(&self.file).map_err(|e| unreadable(&self.file, e))?;
            let range = theirs.start as usize..theirs.end as usize;
            each_key(&self.file, &disk, range, rec as usize, |_, k| {
                written.insert(k);
            })?;
            let ours = std::mem::take(&mut self.pending);
            self.pending = ours
                .chunks_exact(rec as usize)
                .filter(|r| !written.contains(&record_key(r)))
                .flatten()
                .copied()
                .collect();
        }
        if !self.pending_cut.is_empty() && std::fs::metadata(&cut_file).map_or(true, |m| m.len() < 8) {
            // Gone since the cache was opened: the records on disk now are of unknown truncation.
            start_truncated(&cut_file, (std::fs::metadata(&self.file).map_or(0, |m| m.len()) / rec) as usize)?;
        }
        append_records(&cut_file, 8, 16, &self.pending_cut)?;
        self.pending_cut.clear();
        append_records(&self.file, 0, rec, &self.pending)?;
        if !self.pending.is_empty() {
            // The others' records were read above, and this one's follow them.
            self.seen = theirs.end + self.pending.len() as u64;
        }
        self.pending.clear();
        Ok(())
    }
}

fn unreadable(file: &Path, e: std::io::Error) -> Error {
    Error::missing(
        file.display().to_string(),
        format!("cannot read: {e}"),
        "check the permissions, or run with --no-cache",
    )
}

/// The text key a record (of `vectors.bin` or `truncated.bin`) starts with.
fn record_key(r: &[u8]) -> TextKey {
    r[..16].try_into().expect("records start with a 16-byte key")
}

/// Hands the key of each record of `rec` bytes in the byte `range` of `disk` (the mapped
/// `file`) to `f(index in range, key)`, a block at a time, each block's pages handed back.
fn each_key(
    file: &Path,
    disk: &MappedFile,
    range: std::ops::Range<usize>,
    rec: usize,
    mut f: impl FnMut(usize, TextKey),
) -> Result<()> {
    disk.read_records(range, rec, mapped::BLOCK, |first, piece| {
        piece.chunks_exact(rec).enumerate().for_each(|(j, r)| f(first + j, record_key(r)))
    })
    .map_err(|e| unreadable(file, e))
}

/// Takes the `lock` file of the cache folder `dir` (waiting for another process that holds
/// it), released when the file returned is dropped or the process ends. Where the file system
/// cannot lock (some network file systems), or the folder is read-only, `None`: unlocked.
fn lock(dir: &Path) -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK)).ok()?;
    f.lock().ok().map(|()| f)
}

/// The lock file in each cache folder ([`lock`]).
const LOCK: &str = "lock";

/// [`Cache::index`] of a record added since the cache opened: its vector is not kept here (the
/// run that encoded it has it), only written.
const ADDED: usize = usize::MAX;

/// Which texts were cut at the max length, beside `vectors.bin`.
const TRUNCATED: &str = "truncated.bin";

/// Writes `truncated.bin`'s header: `older` records of `vectors.bin` are of unknown truncation.
fn start_truncated(file: &Path, older: usize) -> Result<usize> {
    std::fs::write(file, (older as u64).to_le_bytes())
        .map_err(|e| Error::Write { file: file.display().to_string(), source: e })?;
    Ok(older)
}

/// Appends `bytes` (whole records of `rec` bytes) to `file`, whose records start after a
/// `header` of that many bytes. A record cut short by an earlier crash would misalign
/// everything after it: it is trimmed first.
fn append_records(file: &Path, header: u64, rec: u64, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let werr = |e| Error::Write { file: file.display().to_string(), source: e };
    let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let f = std::fs::OpenOptions::new().create(true).append(true).open(file).map_err(werr)?;
    let torn = len.saturating_sub(header) % rec;
    if torn != 0 {
        f.set_len(len - torn).map_err(werr)?;
    }
    let mut f = std::io::BufWriter::new(f);
    f.write_all(bytes).map_err(werr)?;
    f.flush().map_err(werr)
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
        assert_eq!(model_hash(&on_disk, "m", None).unwrap(), model_hash(&lent, "m", None).unwrap());
        lent.add_bytes("m/extra.json", "extra.json", b"{}".to_vec());
        assert_ne!(model_hash(&on_disk, "m", None).unwrap(), model_hash(&lent, "m", None).unwrap());
    }

    /// A model folder on disk whose files were last modified `age` ago.
    fn aged_model(dir: &Path, weights: &[u8], age: u64) -> Files {
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        for (name, bytes) in [("config.json", &b"{}"[..]), ("model.safetensors", weights)] {
            std::fs::write(dir.join(name), bytes).unwrap();
            std::fs::File::options().write(true).open(dir.join(name)).unwrap().set_modified(then).unwrap();
        }
        let mut files = Files::new("t");
        files.add_dir("m", dir).unwrap();
        files
    }

    /// The hash remembered in the cache folder is served on the next run (even a false one
    /// planted there: the files are not read), not once a file changed — same size, other
    /// bytes, another modification time — and not for files modified just now. The keys are
    /// the hashes made without a memo, as before one existed.
    #[test]
    fn hashes_are_remembered_until_a_file_changes() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let memo = Some(cache.path());
        let memo_files = || std::fs::read_dir(cache.path().join("model-hashes")).unwrap().flatten().collect::<Vec<_>>();
        let files = aged_model(dir.path(), &[1u8; 4096], 60);
        let key = |files: &Files, memo| {
            model_key(files, "m", 128, super::super::Dtype::F32, super::super::AttentionChoice::Auto, "cpu", memo)
                .unwrap()
        };
        let first = key(&files, memo);
        assert_eq!(first, key(&files, None));
        let remembered = memo_files();
        assert_eq!(remembered.len(), 1);
        std::fs::write(remembered[0].path(), "0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(key(&files, memo), "0123456789abcdef0123456789abcdef");
        assert_eq!(model_hash(&files, "m", memo).unwrap(), model_hash(&files, "m", None).unwrap(), "another suffix");

        let files = aged_model(dir.path(), &[2u8; 4096], 30);
        let changed = key(&files, memo);
        assert_ne!(changed, first);
        assert_eq!(changed, key(&files, None));

        let fresh = tempfile::tempdir().unwrap();
        let files = aged_model(fresh.path(), &[3u8; 4096], 0);
        let before = memo_files().len();
        assert_eq!(key(&files, memo), key(&files, None));
        assert_eq!(memo_files().len(), before, "a file modified just now is not remembered");
    }

    /// Keys part what gives other vectors: the dtype, and in half precision on the CPU the fast
    /// path (f32 activations) from the candle graph (`--attention eager|varlen`, half-precision
    /// activations); f32 keys do not depend on the attention (the paths agree to 1e-6).
    #[test]
    fn keys_part_dtypes_and_the_cpus_two_half_precision_paths() {
        use super::super::{AttentionChoice as A, Dtype as D};
        let dir = tempfile::tempdir().unwrap();
        let files = aged_model(dir.path(), &[1u8; 4096], 60);
        let key = |dtype, attention, device| model_key(&files, "m", 128, dtype, attention, device, None).unwrap();
        assert_eq!(key(D::F32, A::Auto, "cpu"), key(D::F32, A::Eager, "cpu"));
        assert_ne!(key(D::F32, A::Auto, "cpu"), key(D::Bf16, A::Auto, "cpu"));
        assert_ne!(key(D::Bf16, A::Auto, "cpu"), key(D::Bf16, A::Eager, "cpu"));
        assert_eq!(key(D::Bf16, A::Eager, "cpu"), key(D::Bf16, A::Varlen, "cpu"));
        assert_ne!(key(D::Bf16, A::Auto, "cpu"), key(D::F16, A::Auto, "cpu"));
        assert_eq!(key(D::Bf16, A::Auto, "cuda:0"), key(D::Bf16, A::Auto, "cuda:1"));
        assert_ne!(key(D::Bf16, A::Auto, "cuda:0"), key(D::Bf16, A::Auto, "cpu"));
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 2).unwrap();
        c.insert(text_key("猫"), &[1.0, 2.0], true);
        c.insert(text_key("dog"), &[3.0, -4.5], false);
        c.flush().unwrap();
        // A crash mid-record leaves a partial tail, in either file.
        for (name, tail) in [("vectors.bin", 10), ("truncated.bin", 5)] {
            let f = dir.path().join("k-d2").join(name);
            let mut bytes = std::fs::read(&f).unwrap();
            bytes.extend_from_slice(&vec![7; tail]);
            std::fs::write(&f, &bytes).unwrap();
        }
        let mut c = Cache::open(dir.path(), "k", 2).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(rows(&c, &[text_key("猫")]), Some(vec![1.0f32, 2.0]));
        assert_eq!(c.truncated(&text_key("猫")), Some(true));
        assert_eq!(c.truncated(&text_key("dog")), Some(false));
        assert_eq!(c.truncated(&text_key("bird")), None);
        c.insert(text_key("bird"), &[0.5, 0.25], true);
        assert_eq!(rows(&c, &[text_key("dog")]), Some(vec![3.0, -4.5]));
        assert_eq!(rows(&c, &[text_key("dog"), text_key("bird")]), None, "added: the run's own");
        c.flush().unwrap();
        let c = Cache::open(dir.path(), "k", 2).unwrap();
        assert_eq!(c.len(), 3);
        let keys = [text_key("bird"), text_key("dog"), text_key("bird"), text_key("猫")];
        assert_eq!(rows(&c, &keys), Some(vec![0.5f32, 0.25, 3.0, -4.5, 0.5, 0.25, 1.0, 2.0]));
        assert_eq!(rows(&c, &[text_key("dog"), text_key("fish")]), None);
        assert_eq!(c.truncated(&text_key("bird")), Some(true));
        assert_eq!(c.truncated(&text_key("dog")), Some(false));
    }

    /// A process appending to a cache folder holds its `lock`: a cache opened meanwhile (by
    /// another shard job on the machine) waits, and does not take the record being written
    /// for a crash's torn tail and cut it — which would misalign every record after it.
    #[test]
    fn opening_waits_for_a_record_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 2).unwrap();
        c.insert(text_key("a"), &[1.0, 2.0], false);
        c.flush().unwrap();
        let folder = dir.path().join("k-d2");
        let held = lock(&folder).expect("this file system locks");
        let mut record = text_key("b").to_vec();
        [3.0f32, 4.0].iter().for_each(|x| record.extend_from_slice(&x.to_le_bytes()));
        let mut f = std::fs::OpenOptions::new().append(true).open(folder.join("vectors.bin")).unwrap();
        f.write_all(&record[..10]).unwrap();
        let root = dir.path().to_path_buf();
        let opener = std::thread::spawn(move || Cache::open(&root, "k", 2).unwrap().len());
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(!opener.is_finished(), "opened while the lock was held");
        f.write_all(&record[10..]).unwrap();
        drop(held);
        assert_eq!(opener.join().unwrap(), 2);
        let c = Cache::open(dir.path(), "k", 2).unwrap();
        assert_eq!(rows(&c, &[text_key("b"), text_key("a")]), Some(vec![3.0, 4.0, 1.0, 2.0]));
    }

    /// Two runs of one model at once (a sweep) encode the same texts: each text is written
    /// once, by the first to flush, and the second's own texts after it.
    #[test]
    fn a_text_another_process_wrote_meanwhile_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (Cache::open(dir.path(), "k", 1).unwrap(), Cache::open(dir.path(), "k", 1).unwrap());
        a.insert(text_key("x"), &[1.0], false);
        a.insert(text_key("y"), &[2.0], false);
        b.insert(text_key("y"), &[2.5], false);
        b.insert(text_key("z"), &[3.0], true);
        a.flush().unwrap();
        b.flush().unwrap();
        b.insert(text_key("w"), &[4.0], false);
        b.flush().unwrap();
        a.insert(text_key("z"), &[3.5], false);
        a.insert(text_key("v"), &[5.0], false);
        a.flush().unwrap();
        let c = Cache::open(dir.path(), "k", 1).unwrap();
        let bytes = std::fs::metadata(dir.path().join("k-d1/vectors.bin")).unwrap().len();
        assert_eq!((c.len(), bytes), (5, 5 * 20));
        let keys = ["x", "y", "z", "w", "v"].map(text_key);
        assert_eq!(rows(&c, &keys), Some(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(c.truncated(&text_key("z")), Some(true));
    }

    /// New records wait in memory up to 16 MiB: then they are written, not at the end of an
    /// encoder's window (256 MiB of 1,024-dim vectors).
    #[test]
    fn records_are_written_once_16_mib_wait() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 1024).unwrap();
        let (rec, file) = (16 + 4 * 1024, dir.path().join("k-d1024/vectors.bin"));
        let on_disk = || std::fs::metadata(&file).map_or(0, |m| m.len() as usize);
        let full = (16usize << 20).div_ceil(rec);
        for i in 0..full + 10 {
            c.insert(text_key(&i.to_string()), &[i as f32; 1024], false);
            c.flush_when_full().unwrap();
            assert_eq!(on_disk(), if i + 1 < full { 0 } else { full * rec }, "after {} records", i + 1);
        }
        c.flush().unwrap();
        assert_eq!(on_disk(), (full + 10) * rec);
        let c = Cache::open(dir.path(), "k", 1024).unwrap();
        assert_eq!(
            rows(&c, &[text_key("0"), text_key(&(full + 9).to_string())]).map(|r| (r[0], r[1024])),
            Some((0.0, (full + 9) as f32))
        );
    }

    /// The vectors of `keys`, row after row, if all were cached when `c` opened.
    fn rows(c: &Cache, keys: &[TextKey]) -> Option<Vec<f32>> {
        let mut out = vec![f32::NAN; keys.len() * c.dim()];
        let wanted: Vec<(TextKey, usize)> = keys.iter().copied().zip(0..).collect();
        c.read_rows(&wanted, &mut out).unwrap().then_some(out)
    }

    /// Rows gathered from records read a few at a time (blocks of 1 to 4 records here, 64 MiB
    /// in a run), in any order, repeated, come out in the keys' order; a vector added since
    /// the cache opened is not read back (the run that encoded it has it).
    #[test]
    fn rows_come_in_the_keys_order_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 3).unwrap();
        let row = |i: usize| [i as f32, -(i as f32), 0.5 * i as f32];
        for i in 0..10 {
            c.insert(text_key(&format!("text {i}")), &row(i), false);
        }
        c.flush().unwrap();
        let mut c = Cache::open(dir.path(), "k", 3).unwrap();
        c.insert(text_key("text 10"), &row(10), false);
        let order = [7, 0, 9, 3, 3, 1, 8, 2, 5, 4, 6];
        let keys: Vec<TextKey> = order.iter().map(|i| text_key(&format!("text {i}"))).collect();
        let want: Vec<f32> = order.iter().flat_map(|&i| row(i)).collect();
        // Some records from the middle: read from the first of them to the last.
        let some = [6, 3, 5];
        let some_keys: Vec<TextKey> = some.iter().map(|i| text_key(&format!("text {i}"))).collect();
        let some_want: Vec<f32> = some.iter().flat_map(|&i| row(i)).collect();
        for records in 1..=4 {
            c.block = records * (16 + 4 * 3);
            assert_eq!(rows(&c, &keys).as_deref(), Some(&want[..]), "{records} records a block");
            assert_eq!(rows(&c, &some_keys).as_deref(), Some(&some_want[..]), "{records} records a block");
        }
        assert!(c.contains(&text_key("text 10")));
        assert!(c.has_on_disk(&text_key("text 3")) && !c.has_on_disk(&text_key("text 10")));
        assert_eq!(rows(&c, &[text_key("text 10")]), None);
    }

    /// A cache written before truncation was recorded: its records' truncation is unknown
    /// (counted again by the tokenizer), the records added since are known.
    #[test]
    fn records_older_than_truncated_bin_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "k", 1).unwrap();
        c.insert(text_key("old cut"), &[1.0], true);
        c.insert(text_key("old whole"), &[2.0], false);
        c.flush().unwrap();
        std::fs::remove_file(dir.path().join("k-d1").join(TRUNCATED)).unwrap();
        let mut c = Cache::open(dir.path(), "k", 1).unwrap();
        assert_eq!(c.truncated(&text_key("old cut")), None);
        assert_eq!(c.truncated(&text_key("old whole")), None);
        c.insert(text_key("new cut"), &[3.0], true);
        c.insert(text_key("new whole"), &[4.0], false);
        c.flush().unwrap();
        let c = Cache::open(dir.path(), "k", 1).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c.truncated(&text_key("old cut")), None);
        assert_eq!(c.truncated(&text_key("old whole")), None);
        assert_eq!(c.truncated(&text_key("new cut")), Some(true));
        assert_eq!(c.truncated(&text_key("new whole")), Some(false));
    }

    #[test]
    fn find_dim_reads_the_folder_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_dim(dir.path(), "openai-k"), None);
        let mut c = Cache::open(dir.path(), "openai-k", 3).unwrap();
        c.insert(text_key("a"), &[1.0, 2.0, 3.0], false);
        c.flush().unwrap();
        Cache::open(dir.path(), "openai-kk", 5).unwrap();
        assert_eq!(find_dim(dir.path(), "openai-k"), Some(3));
        assert_eq!(find_dim(dir.path(), "openai-kk"), Some(5));
        assert_eq!(find_dim(dir.path(), "voyage-k"), None);
    }
}
