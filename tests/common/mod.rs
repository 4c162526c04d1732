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
