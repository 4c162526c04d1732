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
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/st_embeddings/texts.jsonl");
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
