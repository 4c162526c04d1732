// params.wgsl — the uniform block every search shader reads at @group(0) @binding(0). The
// host compiles it in front of similarity.wgsl / similarity_8x8.wgsl (after their input-type
// prelude) and of topk.wgsl; field order and size must match `struct Params` in
// src/search/gpu.rs.

struct Params {
    nq: u32,           // queries in this block
    nd: u32,           // documents in this chunk
    dim4: u32,         // vec4s per row (dim rounded up to a multiple of 4, divided by 4)
    score_stride: u32, // row stride of `scores`, in f32 (≥ nd)
    k: u32,            // top-k (topk.wgsl), ≥ 1
    slice_len: u32,    // top-k: documents per slice, ≥ 1
    n_slices: u32,     // top-k: ceil(nd / slice_len)
    _pad: u32,
}
