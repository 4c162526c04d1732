// similarity.wgsl — dot products of a block of queries against a chunk of documents.
//
// Entry point `main`, workgroup_size(8, 8, 1). Each invocation computes a 4×4 register tile:
// 4 queries × 4 documents, so one workgroup covers 32 queries × 32 documents.
// Dispatch: x = ceil(ceil(nd / 4) / 8) doc tiles, y = ceil(ceil(nq / 4) / 8) query tiles.
// No workgroup (shared) memory and no barriers: on software adapters (lavapipe, SwiftShader)
// a barrier costs far more than the extra loads it saves. 16 vec4 accumulators (64 f32) fit a
// hardware GPU's registers; on software adapters the host runs similarity_8x8.wgsl instead.
//
// Input type, bindings and helpers: the host compiles this file after a prelude that defines
// `Elem` (the line `alias Elem = f32;`, or shaders/similarity_f16.wgsl on adapters with
// shader-f16), params.wgsl and similarity_common.wgsl (bindings, `hsum`, `store4`). Loads are
// widened to f32; all arithmetic is f32.
//
// Summation order (the tests mirror it): for each score, four partial sums, lane l in 0..4
// accumulating a[4c + l] * b[4c + l] over c = 0, 1, ..., dim4 - 1 in order, then
// (s0 + s1) + (s2 + s3). A driver may fuse multiply-add, so results can differ from an
// unfused CPU sum in the last bits.
//
// Limits: every buffer must fit max_storage_buffer_binding_size; the host chunks queries and
// documents so that it does (nq, nd ≤ 65535 * 32 per dispatch). Inputs are plain f32: cosine
// similarity needs L2-normalised rows, which the host provides. NaN inputs give NaN scores.

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d0 = gid.x * 4u;
    let q0 = gid.y * 4u;
    if (d0 >= p.nd || q0 >= p.nq) {
        return;
    }
    let qr0 = row_start(q0, p.nq);
    let qr1 = row_start(q0 + 1u, p.nq);
    let qr2 = row_start(q0 + 2u, p.nq);
    let qr3 = row_start(q0 + 3u, p.nq);
    let dr0 = row_start(d0, p.nd);
    let dr1 = row_start(d0 + 1u, p.nd);
    let dr2 = row_start(d0 + 2u, p.nd);
    let dr3 = row_start(d0 + 3u, p.nd);

    // sIJ: query q0 + I against document d0 + J, as four lane-wise partial sums.
    var s00 = vec4<f32>(0.0); var s01 = vec4<f32>(0.0); var s02 = vec4<f32>(0.0); var s03 = vec4<f32>(0.0);
    var s10 = vec4<f32>(0.0); var s11 = vec4<f32>(0.0); var s12 = vec4<f32>(0.0); var s13 = vec4<f32>(0.0);
    var s20 = vec4<f32>(0.0); var s21 = vec4<f32>(0.0); var s22 = vec4<f32>(0.0); var s23 = vec4<f32>(0.0);
    var s30 = vec4<f32>(0.0); var s31 = vec4<f32>(0.0); var s32 = vec4<f32>(0.0); var s33 = vec4<f32>(0.0);

    for (var c = 0u; c < p.dim4; c = c + 1u) {
        let x0 = vec4<f32>(queries[qr0 + c]);
        let x1 = vec4<f32>(queries[qr1 + c]);
        let x2 = vec4<f32>(queries[qr2 + c]);
        let x3 = vec4<f32>(queries[qr3 + c]);
        let y0 = vec4<f32>(docs[dr0 + c]);
        let y1 = vec4<f32>(docs[dr1 + c]);
        let y2 = vec4<f32>(docs[dr2 + c]);
        let y3 = vec4<f32>(docs[dr3 + c]);
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
    }

    store4(q0, d0, vec4<f32>(hsum(s00), hsum(s01), hsum(s02), hsum(s03)));
    store4(q0 + 1u, d0, vec4<f32>(hsum(s10), hsum(s11), hsum(s12), hsum(s13)));
    store4(q0 + 2u, d0, vec4<f32>(hsum(s20), hsum(s21), hsum(s22), hsum(s23)));
    store4(q0 + 3u, d0, vec4<f32>(hsum(s30), hsum(s31), hsum(s32), hsum(s33)));
}
