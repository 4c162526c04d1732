//! Helpers shared by integration tests.
#![allow(dead_code)]

/// A .npy file (version 1.0, C order), written by hand so tests depend on no writer: magic,
/// version, header length, a Python dict literal padded with spaces to a multiple of 64 bytes
/// ending in '\n', then the raw data. `shape` is the Python tuple, e.g. `(3, 4)` or `(3,)`.
pub fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    assert_eq!((10 + header.len()) % 64, 0);
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes<'a>(values: impl IntoIterator<Item = &'a f32>) -> Vec<u8> {
    values.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A float32 matrix as .npy.
pub fn npy_f32_rows<R: AsRef<[f32]>>(rows: &[R]) -> Vec<u8> {
    let cols = rows.first().map_or(0, |r| r.as_ref().len());
    npy("<f4", &format!("({}, {cols})", rows.len()), &f32_bytes(rows.iter().flat_map(|r| r.as_ref())))
}

/// A float32 .npy matrix: (rows, columns, values row-major).
pub fn read_npy(path: &std::path::Path) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = arr.shape().to_vec();
    (shape[0] as usize, shape[1] as usize, arr.into_vec::<f32>().unwrap())
}

/// (id, text) of tests/fixtures/st_embeddings/texts.jsonl, the texts every model parity
/// fixture was encoded from.
pub fn st_texts() -> Vec<(String, String)> {
    texts_jsonl(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/st_embeddings/texts.jsonl"))
}

/// (id, text) of a fixture's `{"id", "text"}` lines.
pub fn texts_jsonl(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Cosine (in f64) and max |difference| of two vectors.
pub fn cosine_and_max_diff(a: &[f32], b: &[f32]) -> (f64, f32) {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    (dot / (norm(a) * norm(b)), diff)
}

/// vaswani-npl as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), made once.
pub fn vaswani_beir() -> String {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/vaswani-npl");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vaswani-beir");
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        let between = |s: &str, open: &str, close: &str| -> Vec<String> {
            s.split(open).skip(1).map(|p| p.split(close).next().unwrap().to_string()).collect()
        };
        let line = |id: &str, text: &str| serde_json::json!({"_id": id.trim(), "text": text.split_whitespace().collect::<Vec<_>>().join(" ")});
        let docs = std::fs::read_to_string(src.join("doc-text.trec")).unwrap();
        let corpus: Vec<String> = between(&docs, "<DOC>", "</DOC>")
            .iter()
            .map(|d| line(&between(d, "<DOCNO>", "</DOCNO>")[0], d.rsplit("</DOCNO>").next().unwrap()).to_string())
            .collect();
        assert_eq!(corpus.len(), 11429);
        std::fs::write(dir.join("corpus.jsonl"), corpus.join("\n")).unwrap();
        let topics = std::fs::read_to_string(src.join("query-text.trec")).unwrap();
        let queries: Vec<String> = between(&topics, "<top>", "</top>")
            .iter()
            .map(|t| line(&between(t, "<num>", "</num>")[0], &between(t, "<title>", "</title>")[0]).to_string())
            .collect();
        std::fs::write(dir.join("queries.jsonl"), queries.join("\n")).unwrap();
        let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
        for l in std::fs::read_to_string(src.join("qrels")).unwrap().lines() {
            if let [q, _, d, r] = l.split_whitespace().collect::<Vec<_>>()[..] {
                qrels.push_str(&format!("{q}\t{d}\t{r}\n"));
            }
        }
        std::fs::write(dir.join("qrels/test.tsv"), qrels).unwrap();
        dir
    })
    .display()
    .to_string()
}
