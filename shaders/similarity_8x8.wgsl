// similarity_8x8.wgsl — similarity.wgsl with 8×8 register tiles, for software adapters.
//
// Entry point `main`, workgroup_size(8, 8, 1). Each invocation computes an 8×8 register tile:
// 8 queries × 8 documents, so one workgroup covers 64 queries × 64 documents.
// Dispatch: x = ceil(nd / 64) document tiles, y = ceil(nq / 64) query tiles.
// No workgroup (shared) memory and no barriers: on software adapters (lavapipe, SwiftShader)
// a barrier costs far more than the extra loads it saves. The 8×8 tile does 64 vec4
// multiply-adds per 16 vec4 loads (4×4: 16 per 8), and on those adapters, where loads are
// costly, it measured 1.2–2.1× faster than similarity.wgsl's 4×4 (BENCHMARKS.md). Its 64 vec4
// accumulators (256 f32) exceed a hardware GPU's registers per thread (255 on NVIDIA), so the
// host uses this kernel on software adapters only (src/search/gpu.rs, `Tile`).
//
// Input type: as similarity.wgsl, the host compiles this file after a prelude that defines
// `Elem` (f32, or f16 with shaders/similarity_f16.wgsl). Loads are widened to f32.
//
// Bindings (group 0):
//   0 uniform             Params
//   1 storage, read       queries: nq × dim4 vec4<Elem>, row-major; rows zero-padded to dim4 * 4
//   2 storage, read       docs:    nd × dim4 vec4<Elem>, row-major; same padding
//   3 storage, read_write scores:  nq × score_stride f32; scores[q * score_stride + d]
//
// Summation order (the tests mirror it): for each score, four partial sums, lane l in 0..4
// accumulating a[4c + l] * b[4c + l] over c = 0, 1, ..., dim4 - 1 in order, then
// (s0 + s1) + (s2 + s3). A driver may fuse multiply-add, so results can differ from an
// unfused CPU sum in the last bits.
//
// Limits: every buffer must fit max_storage_buffer_binding_size; the host chunks queries and
// documents so that it does (nq, nd ≤ 65535 * 64 per dispatch). Inputs are plain numbers: cosine
// similarity needs L2-normalised rows, which the host provides. NaN inputs give NaN scores.

struct Params {
    nq: u32,           // queries in this block
    nd: u32,           // documents in this chunk
    dim4: u32,         // vec4s per row (dim rounded up to a multiple of 4, divided by 4)
    score_stride: u32, // row stride of `scores`, in f32 (≥ nd)
    k: u32,            // top-k: used by topk.wgsl only
    slice_len: u32,    // top-k: used by topk.wgsl only
    n_slices: u32,     // top-k: used by topk.wgsl only
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read> docs: array<vec4<Elem>>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

fn hsum(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d0 = gid.x * 8u;
    let q0 = gid.y * 8u;
    if (d0 >= p.nd || q0 >= p.nq) {
        return;
    }
    // Rows past the end are clamped to the last row, so the inner loop has no branches;
    // their results are simply not stored.
    let qr0 = min(q0, p.nq - 1u) * p.dim4;
    let qr1 = min(q0 + 1u, p.nq - 1u) * p.dim4;
    let qr2 = min(q0 + 2u, p.nq - 1u) * p.dim4;
    let qr3 = min(q0 + 3u, p.nq - 1u) * p.dim4;
    let qr4 = min(q0 + 4u, p.nq - 1u) * p.dim4;
    let qr5 = min(q0 + 5u, p.nq - 1u) * p.dim4;
    let qr6 = min(q0 + 6u, p.nq - 1u) * p.dim4;
    let qr7 = min(q0 + 7u, p.nq - 1u) * p.dim4;
    let dr0 = min(d0, p.nd - 1u) * p.dim4;
    let dr1 = min(d0 + 1u, p.nd - 1u) * p.dim4;
    let dr2 = min(d0 + 2u, p.nd - 1u) * p.dim4;
    let dr3 = min(d0 + 3u, p.nd - 1u) * p.dim4;
    let dr4 = min(d0 + 4u, p.nd - 1u) * p.dim4;
    let dr5 = min(d0 + 5u, p.nd - 1u) * p.dim4;
    let dr6 = min(d0 + 6u, p.nd - 1u) * p.dim4;
    let dr7 = min(d0 + 7u, p.nd - 1u) * p.dim4;

    // s_I_J: query q0 + I against document d0 + J, as four lane-wise partial sums.
    var s0_0 = vec4<f32>(0.0); var s0_1 = vec4<f32>(0.0); var s0_2 = vec4<f32>(0.0); var s0_3 = vec4<f32>(0.0); var s0_4 = vec4<f32>(0.0); var s0_5 = vec4<f32>(0.0); var s0_6 = vec4<f32>(0.0); var s0_7 = vec4<f32>(0.0);
    var s1_0 = vec4<f32>(0.0); var s1_1 = vec4<f32>(0.0); var s1_2 = vec4<f32>(0.0); var s1_3 = vec4<f32>(0.0); var s1_4 = vec4<f32>(0.0); var s1_5 = vec4<f32>(0.0); var s1_6 = vec4<f32>(0.0); var s1_7 = vec4<f32>(0.0);
    var s2_0 = vec4<f32>(0.0); var s2_1 = vec4<f32>(0.0); var s2_2 = vec4<f32>(0.0); var s2_3 = vec4<f32>(0.0); var s2_4 = vec4<f32>(0.0); var s2_5 = vec4<f32>(0.0); var s2_6 = vec4<f32>(0.0); var s2_7 = vec4<f32>(0.0);
    var s3_0 = vec4<f32>(0.0); var s3_1 = vec4<f32>(0.0); var s3_2 = vec4<f32>(0.0); var s3_3 = vec4<f32>(0.0); var s3_4 = vec4<f32>(0.0); var s3_5 = vec4<f32>(0.0); var s3_6 = vec4<f32>(0.0); var s3_7 = vec4<f32>(0.0);
    var s4_0 = vec4<f32>(0.0); var s4_1 = vec4<f32>(0.0); var s4_2 = vec4<f32>(0.0); var s4_3 = vec4<f32>(0.0); var s4_4 = vec4<f32>(0.0); var s4_5 = vec4<f32>(0.0); var s4_6 = vec4<f32>(0.0); var s4_7 = vec4<f32>(0.0);
    var s5_0 = vec4<f32>(0.0); var s5_1 = vec4<f32>(0.0); var s5_2 = vec4<f32>(0.0); var s5_3 = vec4<f32>(0.0); var s5_4 = vec4<f32>(0.0); var s5_5 = vec4<f32>(0.0); var s5_6 = vec4<f32>(0.0); var s5_7 = vec4<f32>(0.0);
    var s6_0 = vec4<f32>(0.0); var s6_1 = vec4<f32>(0.0); var s6_2 = vec4<f32>(0.0); var s6_3 = vec4<f32>(0.0); var s6_4 = vec4<f32>(0.0); var s6_5 = vec4<f32>(0.0); var s6_6 = vec4<f32>(0.0); var s6_7 = vec4<f32>(0.0);
    var s7_0 = vec4<f32>(0.0); var s7_1 = vec4<f32>(0.0); var s7_2 = vec4<f32>(0.0); var s7_3 = vec4<f32>(0.0); var s7_4 = vec4<f32>(0.0); var s7_5 = vec4<f32>(0.0); var s7_6 = vec4<f32>(0.0); var s7_7 = vec4<f32>(0.0);

    for (var c = 0u; c < p.dim4; c = c + 1u) {
        let x0 = vec4<f32>(queries[qr0 + c]);
        let x1 = vec4<f32>(queries[qr1 + c]);
        let x2 = vec4<f32>(queries[qr2 + c]);
        let x3 = vec4<f32>(queries[qr3 + c]);
        let x4 = vec4<f32>(queries[qr4 + c]);
        let x5 = vec4<f32>(queries[qr5 + c]);
        let x6 = vec4<f32>(queries[qr6 + c]);
        let x7 = vec4<f32>(queries[qr7 + c]);
        let y0 = vec4<f32>(docs[dr0 + c]);
        let y1 = vec4<f32>(docs[dr1 + c]);
        let y2 = vec4<f32>(docs[dr2 + c]);
        let y3 = vec4<f32>(docs[dr3 + c]);
        let y4 = vec4<f32>(docs[dr4 + c]);
        let y5 = vec4<f32>(docs[dr5 + c]);
        let y6 = vec4<f32>(docs[dr6 + c]);
        let y7 = vec4<f32>(docs[dr7 + c]);
        s0_0 += x0 * y0; s0_1 += x0 * y1; s0_2 += x0 * y2; s0_3 += x0 * y3; s0_4 += x0 * y4; s0_5 += x0 * y5; s0_6 += x0 * y6; s0_7 += x0 * y7;
        s1_0 += x1 * y0; s1_1 += x1 * y1; s1_2 += x1 * y2; s1_3 += x1 * y3; s1_4 += x1 * y4; s1_5 += x1 * y5; s1_6 += x1 * y6; s1_7 += x1 * y7;
        s2_0 += x2 * y0; s2_1 += x2 * y1; s2_2 += x2 * y2; s2_3 += x2 * y3; s2_4 += x2 * y4; s2_5 += x2 * y5; s2_6 += x2 * y6; s2_7 += x2 * y7;
        s3_0 += x3 * y0; s3_1 += x3 * y1; s3_2 += x3 * y2; s3_3 += x3 * y3; s3_4 += x3 * y4; s3_5 += x3 * y5; s3_6 += x3 * y6; s3_7 += x3 * y7;
        s4_0 += x4 * y0; s4_1 += x4 * y1; s4_2 += x4 * y2; s4_3 += x4 * y3; s4_4 += x4 * y4; s4_5 += x4 * y5; s4_6 += x4 * y6; s4_7 += x4 * y7;
        s5_0 += x5 * y0; s5_1 += x5 * y1; s5_2 += x5 * y2; s5_3 += x5 * y3; s5_4 += x5 * y4; s5_5 += x5 * y5; s5_6 += x5 * y6; s5_7 += x5 * y7;
        s6_0 += x6 * y0; s6_1 += x6 * y1; s6_2 += x6 * y2; s6_3 += x6 * y3; s6_4 += x6 * y4; s6_5 += x6 * y5; s6_6 += x6 * y6; s6_7 += x6 * y7;
        s7_0 += x7 * y0; s7_1 += x7 * y1; s7_2 += x7 * y2; s7_3 += x7 * y3; s7_4 += x7 * y4; s7_5 += x7 * y5; s7_6 += x7 * y6; s7_7 += x7 * y7;
    }

    if (q0 < p.nq) {
        let base = q0 * p.score_stride + d0;
        scores[base] = hsum(s0_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s0_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s0_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s0_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s0_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s0_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s0_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s0_7); }
    }
    if (q0 + 1u < p.nq) {
        let base = (q0 + 1u) * p.score_stride + d0;
        scores[base] = hsum(s1_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s1_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s1_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s1_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s1_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s1_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s1_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s1_7); }
    }
    if (q0 + 2u < p.nq) {
        let base = (q0 + 2u) * p.score_stride + d0;
        scores[base] = hsum(s2_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s2_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s2_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s2_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s2_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s2_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s2_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s2_7); }
    }
    if (q0 + 3u < p.nq) {
        let base = (q0 + 3u) * p.score_stride + d0;
        scores[base] = hsum(s3_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s3_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s3_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s3_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s3_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s3_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s3_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s3_7); }
    }
    if (q0 + 4u < p.nq) {
        let base = (q0 + 4u) * p.score_stride + d0;
        scores[base] = hsum(s4_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s4_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s4_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s4_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s4_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s4_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s4_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s4_7); }
    }
    if (q0 + 5u < p.nq) {
        let base = (q0 + 5u) * p.score_stride + d0;
        scores[base] = hsum(s5_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s5_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s5_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s5_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s5_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s5_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s5_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s5_7); }
    }
    if (q0 + 6u < p.nq) {
        let base = (q0 + 6u) * p.score_stride + d0;
        scores[base] = hsum(s6_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s6_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s6_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s6_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s6_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s6_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s6_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s6_7); }
    }
    if (q0 + 7u < p.nq) {
        let base = (q0 + 7u) * p.score_stride + d0;
        scores[base] = hsum(s7_0);
        if (d0 + 1u < p.nd) { scores[base + 1u] = hsum(s7_1); }
        if (d0 + 2u < p.nd) { scores[base + 2u] = hsum(s7_2); }
        if (d0 + 3u < p.nd) { scores[base + 3u] = hsum(s7_3); }
        if (d0 + 4u < p.nd) { scores[base + 4u] = hsum(s7_4); }
        if (d0 + 5u < p.nd) { scores[base + 5u] = hsum(s7_5); }
        if (d0 + 6u < p.nd) { scores[base + 6u] = hsum(s7_6); }
        if (d0 + 7u < p.nd) { scores[base + 7u] = hsum(s7_7); }
    }
}
