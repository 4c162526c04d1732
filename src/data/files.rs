//! The files of one evaluation, by logical name, whether they sit on disk (CLI) or were handed
//! over as bytes (the browser page, tests). `.gz` files are decompressed on read.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Entry {
    #[cfg(not(target_arch = "wasm32"))]
    Path(PathBuf),
    Bytes {
        display: String,
        bytes: Vec<u8>,
    },
}

/// Logical name → file. Names are `corpus.jsonl`, `qrels/test.tsv`, `run/NAME`, ...
#[derive(Debug, Clone, Default)]
pub struct Files {
    root: String,
    entries: BTreeMap<String, Entry>,
    /// Folders added under a prefix ([`Files::add_dir`]): where a missing file of theirs would be.
    #[cfg(not(target_arch = "wasm32"))]
    folders: BTreeMap<String, PathBuf>,
}

/// Files a folder given as a dataset or a model may hold.
#[cfg(not(target_arch = "wasm32"))]
const MAX_FILES: usize = if cfg!(test) { 50 } else { 100_000 };

impl Files {
    pub fn new(root: impl Into<String>) -> Self {
        Files { root: root.into(), ..Default::default() }
    }

    /// The folder added under a prefix that `name` lies in, and `name`'s path there.
    #[cfg(not(target_arch = "wasm32"))]
    fn in_folder(&self, name: &str) -> Option<PathBuf> {
        self.folders.iter().find_map(|(prefix, dir)| {
            let rest = name.strip_prefix(prefix.as_str())?.strip_prefix('/')?;
            Some(rest.split('/').fold(dir.clone(), |p, c| p.join(c)))
        })
    }

    /// Every file below `dir` (hidden folders left out), named by its path relative to `dir`
    /// with `/` separators; an error past [`MAX_FILES`] (`--data /`: a wrong folder, listed for
    /// minutes).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut files = Files::new(dir.display().to_string());
        if !dir.is_dir() {
            return Err(Error::missing(
                dir.display().to_string(),
                "not a folder",
                "pass the dataset folder with --data",
            ));
        }
        let mut stack = vec![dir.to_path_buf()];
        // Folders listed, by their real path: a link back up (`a -> .`) or two links to one
        // folder are listed once, not followed for ever.
        let mut seen = std::collections::HashSet::new();
        while let Some(d) = stack.pop() {
            if !seen.insert(std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone())) {
                continue;
            }
            let rd = std::fs::read_dir(&d).map_err(|e| {
                Error::missing(d.display().to_string(), format!("cannot list: {e}"), "check the path and permissions")
            })?;
            for ent in rd.flatten() {
                let p = ent.path();
                if p.is_dir() {
                    // .git, .cache (huggingface-cli's download notes), .ipynb_checkpoints: never
                    // a dataset's or a model's files.
                    if !ent.file_name().to_string_lossy().starts_with('.') {
                        stack.push(p);
                    }
                } else if files.entries.len() >= MAX_FILES {
                    return Err(Error::missing(
                        dir.display().to_string(),
                        format!("more than {MAX_FILES} files below this folder: not a dataset or model folder"),
                        "give the folder that holds the dataset's files (corpus.jsonl, queries.jsonl, qrels/) or \
                         the model's (config.json, model.safetensors), or name the files themselves (--qrels, \
                         --run, --queries, --corpus)",
                    ));
                } else if let Ok(rel) = p.strip_prefix(dir) {
                    let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    files.entries.insert(name, Entry::Path(p));
                }
            }
        }
        Ok(files)
    }

    /// Adds every file below `dir` as `<prefix>/<relative path>` (a model folder, say).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn add_dir(&mut self, prefix: &str, dir: &Path) -> Result<&mut Self> {
        let sub = Files::from_dir(dir)?;
        let prefix = prefix.trim_end_matches('/');
        for (name, entry) in sub.entries {
            self.entries.insert(format!("{prefix}/{name}"), entry);
        }
        self.folders.insert(prefix.to_string(), dir.to_path_buf());
        Ok(self)
    }

    /// Adds (or replaces) a file on disk under a logical name.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn add_path(&mut self, name: impl Into<String>, path: impl Into<PathBuf>) -> &mut Self {
        self.entries.insert(name.into(), Entry::Path(path.into()));
        self
    }

    /// Adds (or replaces) a file given as bytes; `display` is what error messages call it.
    pub fn add_bytes(&mut self, name: impl Into<String>, display: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.entries.insert(name.into(), Entry::Bytes { display: display.into(), bytes });
        self
    }

    /// What error messages call the whole set (a folder path, or "browser files").
    pub fn root(&self) -> &str {
        &self.root
    }

    /// True if `name` is present, also as `name.gz`.
    pub fn has(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    /// Logical names present, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn resolve(&self, name: &str) -> Option<(&String, &Entry)> {
        self.entries.get_key_value(name).or_else(|| self.entries.get_key_value(&format!("{name}.gz")))
    }

    /// The name error messages use for `name`: the real path where there is one.
    pub fn display(&self, name: &str) -> String {
        match self.resolve(name) {
            #[cfg(not(target_arch = "wasm32"))]
            Some((_, Entry::Path(p))) => p.display().to_string(),
            Some((_, Entry::Bytes { display, .. })) => display.clone(),
            None => {
                #[cfg(not(target_arch = "wasm32"))]
                if let Some(path) = self.in_folder(name) {
                    return path.display().to_string();
                }
                // In the browser the files have no folder: a missing one is named as it is chosen.
                if self.root.is_empty() || cfg!(target_arch = "wasm32") {
                    name.to_string()
                } else {
                    format!("{}/{}", self.root.trim_end_matches('/'), name)
                }
            }
        }
    }

    /// Where `name` lies on disk, if it was added as a path (for readers that need a file, such
    /// as candle's `pytorch_model.bin` reader).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn local_path(&self, name: &str) -> Option<&Path> {
        match self.entries.get(name)? {
            Entry::Path(p) => Some(p),
            Entry::Bytes { .. } => None,
        }
    }

    /// The bytes of `name`, gunzipped when the file name ends in `.gz`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.bytes(name).map(std::borrow::Cow::into_owned)
    }

    /// [`Files::read`] without a copy where there is nothing to undo: bytes handed over (the
    /// browser's files, model weights among them) are lent, not cloned.
    pub fn bytes(&self, name: &str) -> Result<std::borrow::Cow<'_, [u8]>> {
        use std::borrow::Cow;
        let (display, key, entry) = self.find(name)?;
        let raw = match entry {
            #[cfg(not(target_arch = "wasm32"))]
            Entry::Path(p) => Cow::Owned(std::fs::read(p).map_err(|e| {
                Error::missing(&display, format!("cannot read: {e}"), "check the path and permissions")
            })?),
            Entry::Bytes { bytes, .. } => Cow::Borrowed(&bytes[..]),
        };
        if !gzipped(key, &display) {
            return Ok(raw);
        }
        super::text::check_gzip(&display, &raw)?;
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| {
            // What decompressed before the error is in `out`: the line it stopped in.
            super::text::gzip_error(&display, out.iter().filter(|&&b| b == b'\n').count() + 1, &e)
        })?;
        Ok(Cow::Owned(out))
    }

    /// The text of `name`: UTF-8 checked (the error names the line), BOM dropped, not empty.
    pub fn read_text(&self, name: &str) -> Result<String> {
        let bytes = self.read(name)?;
        super::text::decode(&self.display(name), bytes)
    }

    /// The non-blank lines of `name` with their 1-based numbers, as [`Files::read_text`] and
    /// [`super::text::lines`] give them, handed to `f` as they are read: a file on disk is read
    /// a line at a time (a corpus of millions of documents is never in memory twice, once as
    /// bytes and once parsed), a `.gz` one decompressed as it goes.
    pub fn for_each_line(&self, name: &str, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
        self.lines_until(name, |n, line| f(n, line).map(|()| ControlFlow::Continue(())))
    }

    /// [`Files::for_each_line`] until `f` returns [`ControlFlow::Break`]: the rest of the file
    /// is not read.
    pub fn lines_until(&self, name: &str, f: impl FnMut(usize, &str) -> Result<ControlFlow<()>>) -> Result<()> {
        use std::io::BufReader;
        let (display, key, entry) = self.find(name)?;
        let gz = gzipped(key, &display);
        let reader: Box<dyn std::io::BufRead + '_> = match entry {
            #[cfg(not(target_arch = "wasm32"))]
            Entry::Path(p) => {
                let file = std::fs::File::open(p).map_err(|e| {
                    Error::missing(&display, format!("cannot read: {e}"), "check the path and permissions")
                })?;
                let mut file = BufReader::with_capacity(1 << 16, file);
                if gz {
                    super::text::check_gzip(&display, std::io::BufRead::fill_buf(&mut file).unwrap_or(&[]))?;
                    Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file)))
                } else {
                    Box::new(file)
                }
            }
            Entry::Bytes { bytes, .. } if gz => {
                super::text::check_gzip(&display, bytes)?;
                Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(&bytes[..])))
            }
            Entry::Bytes { bytes, .. } => Box::new(&bytes[..]),
        };
        super::text::each_line(&display, reader, gz, f)
    }

    /// `name`'s display name, logical name (maybe with `.gz`) and entry, or "file not found".
    fn find(&self, name: &str) -> Result<(String, &String, &Entry)> {
        let display = self.display(name);
        let gz = format!("{name}.gz");
        match self.resolve(name) {
            // Both, and perhaps different (a file gzipped and not removed, or a split written
            // beside the .gz it came from): reading either would be a guess.
            Some(_) if self.entries.contains_key(name) && self.entries.contains_key(&gz) => Err(Error::missing(
                &display,
                format!("{name} is here twice: also as {gz}, whose contents may differ"),
                format!("keep one of the two: remove or rename {name} or {gz}"),
            )),
            Some((key, entry)) => Ok((display, key, entry)),
            #[cfg(not(target_arch = "wasm32"))]
            None if self.in_folder(name).is_some() => {
                let file = name.rsplit('/').next().unwrap_or(name);
                Err(Error::missing(
                    &display,
                    "file not found",
                    format!(
                        "add {file} to the folder (download the whole model, or save it with sentence-transformers)"
                    ),
                ))
            }
            None => {
                Err(Error::missing(&display, "file not found", format!("add {name} (see README, 'Input formats')")))
            }
        }
    }
}

/// Whether a file is read through gunzip: by its logical name or by the name it is shown as.
fn gzipped(key: &str, display: &str) -> bool {
    key.ends_with(".gz") || display.ends_with(".gz")
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::io::Write;

    use super::Files;

    /// Bytes handed over are lent, not copied (a model's weights would otherwise be in memory
    /// twice); a `.gz` file is decompressed into its own buffer.
    #[test]
    fn handed_over_bytes_are_lent_and_gz_decompressed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all("日本語 text".as_bytes()).unwrap();
        let mut files = Files::new("t");
        files.add_bytes("model.safetensors", "model.safetensors", vec![1, 2, 3]);
        files.add_bytes("queries.jsonl.gz", "queries.jsonl.gz", gz.finish().unwrap());
        let Cow::Borrowed(lent) = files.bytes("model.safetensors").unwrap() else { panic!("copied") };
        assert_eq!(lent, [1, 2, 3]);
        assert_eq!(files.bytes("queries.jsonl").unwrap().as_ref(), "日本語 text".as_bytes());
        assert_eq!(files.read("queries.jsonl").unwrap(), "日本語 text".as_bytes());
        assert!(files.bytes("corpus.jsonl").unwrap_err().to_string().contains("file not found"));
    }

    /// Links back up the tree (`a -> .`, `b -> .`) are listed once, not followed for ever; a
    /// linked folder elsewhere is listed.
    #[cfg(unix)]
    #[test]
    fn folder_links_back_up_end() {
        let dir = tempfile::tempdir().unwrap();
        let (d, other) = (dir.path().join("data"), dir.path().join("other"));
        std::fs::create_dir_all(d.join("qrels")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(d.join("qrels/test.tsv"), "").unwrap();
        std::fs::write(other.join("corpus.jsonl"), "").unwrap();
        std::os::unix::fs::symlink(".", d.join("a")).unwrap();
        std::os::unix::fs::symlink("..", d.join("qrels/up")).unwrap();
        std::os::unix::fs::symlink(&other, d.join("more")).unwrap();
        let files = Files::from_dir(&d).unwrap();
        assert!(files.has("qrels/test.tsv") && files.has("more/corpus.jsonl"));
        assert_eq!(files.entries.len(), 2, "{:?}", files.entries.keys().collect::<Vec<_>>());
    }

    /// Hidden folders (.git, huggingface-cli's .cache) are not listed; a folder holding more
    /// files than a dataset or model would (here past the tests' cap of 50) is refused.
    #[test]
    fn hidden_folders_are_skipped_and_huge_trees_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join(".git/objects")).unwrap();
        std::fs::create_dir_all(d.join("qrels")).unwrap();
        std::fs::write(d.join(".git/objects/ab"), "").unwrap();
        std::fs::write(d.join(".hidden-file"), "").unwrap();
        std::fs::write(d.join("qrels/test.tsv"), "").unwrap();
        let files = Files::from_dir(d).unwrap();
        let mut names: Vec<&String> = files.entries.keys().collect();
        names.sort();
        assert_eq!(names, [".hidden-file", "qrels/test.tsv"]);
        for i in 0..super::MAX_FILES {
            std::fs::write(d.join(format!("f{i}")), "").unwrap();
        }
        let e = Files::from_dir(d).err().unwrap().to_string();
        assert!(e.contains("more than 50 files below this folder") && e.contains("corpus.jsonl"), "{e}");
    }

    /// A file there both plain and gzipped is read neither way: an error names the two.
    #[test]
    fn a_file_both_plain_and_gzipped_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"_id\": \"q1\", \"text\": \"old\"}\n").unwrap();
        let gz = gz.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"new\"}\n").unwrap();
        std::fs::write(dir.path().join("queries.jsonl.gz"), &gz).unwrap();
        let mut handed = Files::new("t");
        handed.add_bytes("queries.jsonl", "queries.jsonl", b"x\n".to_vec());
        handed.add_bytes("queries.jsonl.gz", "queries.jsonl.gz", gz);
        for files in [Files::from_dir(dir.path()).unwrap(), handed] {
            assert!(files.has("queries.jsonl"));
            for e in [
                files.bytes("queries.jsonl").unwrap_err(),
                files.for_each_line("queries.jsonl", |_, _| Ok(())).unwrap_err(),
            ] {
                let e = e.to_string();
                assert!(e.contains("queries.jsonl is here twice: also as queries.jsonl.gz"), "{e}");
                assert!(e.contains("remove or rename queries.jsonl or queries.jsonl.gz"), "{e}");
            }
        }
        // Alone, each is read.
        let mut one = Files::new("t");
        one.add_bytes("queries.jsonl", "queries.jsonl", b"x\n".to_vec());
        assert_eq!(one.read("queries.jsonl").unwrap(), b"x\n");
    }

    /// Lines read as they come give what the whole-file path gives (BOM dropped, CRLF and
    /// blank lines handled, Japanese kept), from disk and from bytes, plain and gzipped; the
    /// errors name the same lines.
    #[test]
    fn lines_streamed_match_the_whole_file() {
        let text = "\u{feff}{\"_id\": \"d1\", \"text\": \"猫が好き\"}\r\n\n  \n{\"_id\": 2}\nlast line, no newline";
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), text).unwrap();
        std::fs::write(dir.path().join("b.jsonl.gz"), gz(text.as_bytes())).unwrap();
        let mut files = Files::from_dir(dir.path()).unwrap();
        files.add_bytes("c.jsonl", "c.jsonl", text.as_bytes().to_vec());
        files.add_bytes("d.jsonl.gz", "d.jsonl.gz", gz(text.as_bytes()));
        let whole = files.read_text("a.jsonl").unwrap();
        let want: Vec<(usize, String)> = super::super::text::lines(&whole).map(|(n, l)| (n, l.to_string())).collect();
        assert_eq!(want[0].1, "{\"_id\": \"d1\", \"text\": \"猫が好き\"}");
        assert_eq!(want.iter().map(|w| w.0).collect::<Vec<_>>(), [1, 4, 5]);
        for name in ["a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"] {
            let mut got = Vec::new();
            files
                .for_each_line(name, |n, l| {
                    got.push((n, l.to_string()));
                    Ok(())
                })
                .unwrap();
            assert_eq!(got, want, "{name}");
        }

        let bad: &[u8] = b"ok\n\xff\xfe broken\n";
        let empty: &[u8] = b"\n \r\n";
        std::fs::write(dir.path().join("bad.jsonl"), bad).unwrap();
        std::fs::write(dir.path().join("empty.jsonl"), empty).unwrap();
        std::fs::write(dir.path().join("fake.jsonl.gz"), b"plain text").unwrap();
        // A gzip file cut short halfway.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let text: String =
            (0..20_000).map(|i| format!("{{\"_id\": \"d{i}\", \"text\": \"{}\"}}\n", i * 7919 % 10007)).collect();
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let whole_gz = gz.finish().unwrap();
        std::fs::write(dir.path().join("cut.jsonl.gz"), &whole_gz[..whole_gz.len() / 2]).unwrap();
        let files = Files::from_dir(dir.path()).unwrap();
        let error = |name: &str| files.for_each_line(name, |_, _| Ok(())).unwrap_err().to_string();
        let whole = |name: &str| files.read_text(name).unwrap_err().to_string();
        assert_eq!(error("bad.jsonl"), whole("bad.jsonl"));
        assert!(error("bad.jsonl").contains(":2: invalid UTF-8"), "{}", error("bad.jsonl"));
        assert_eq!(error("empty.jsonl"), whole("empty.jsonl"));
        assert!(error("fake.jsonl").contains("not gzip-compressed"), "{}", error("fake.jsonl"));
        assert_eq!(error("fake.jsonl"), whole("fake.jsonl"));
        let cut = error("cut.jsonl");
        assert_eq!(cut, whole("cut.jsonl"));
        let line: usize = cut.split(':').nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{cut}"));
        // The streaming read (its own count of lines) and the whole read name the same line,
        // past the start and before the end.
        assert!(line > 1 && line <= text.lines().count(), "{cut}");
        assert!(cut.contains("ends early"), "{cut}");
        assert!(error("nope.jsonl").contains("file not found"));
    }
}
