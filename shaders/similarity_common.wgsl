// similarity_common.wgsl — what both similarity kernels (similarity.wgsl, 4×4 tiles, and
// similarity_8x8.wgsl) share: their bindings, the lane sum that fixes their summation order,
// clamped row starts and the guarded store of four scores. The host compiles, in this order:
// the input-type prelude (`alias Elem = f32;`, or similarity_f16.wgsl), params.wgsl, this
// file, then the kernel.
//
// Bindings (group 0):
//   0 uniform             Params
//   1 storage, read       queries: nq × dim4 vec4<Elem>, row-major; rows zero-padded to dim4 * 4
//   2 storage, read       docs:    nd × dim4 vec4<Elem>, row-major; same padding
//   3 storage, read_write scores:  nq × score_stride f32; scores[q * score_stride + d]

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read> docs: array<vec4<Elem>>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

// A score from its four lane-wise partial sums: (s0 + s1) + (s2 + s3).
fn hsum(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

// Where row i of n starts, in vec4s. Rows past the end are clamped to the last row, so the
// kernels' inner loops have no branches; their results are simply not stored.
fn row_start(i: u32, n: u32) -> u32 {
    return min(i, n - 1u) * p.dim4;
}

// Stores the scores of query q against documents d0..d0+3, skipping those past the end.
fn store4(q: u32, d0: u32, r: vec4<f32>) {
    if (q >= p.nq) {
        return;
    }
    let base = q * p.score_stride + d0;
    if (d0 < p.nd) { scores[base] = r.x; }
    if (d0 + 1u < p.nd) { scores[base + 1u] = r.y; }
    if (d0 + 2u < p.nd) { scores[base + 2u] = r.z; }
    if (d0 + 3u < p.nd) { scores[base + 3u] = r.w; }
}
