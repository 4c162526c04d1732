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
// Input type, bindings and helpers: as similarity.wgsl, the host compiles this file after the
// `Elem` prelude, params.wgsl and similarity_common.wgsl.
//
// Summation order (the tests mirror it): for each score, four partial sums, lane l in 0..4
// accumulating a[4c + l] * b[4c + l] over c = 0, 1, ..., dim4 - 1 in order, then
// (s0 + s1) + (s2 + s3). A driver may fuse multiply-add, so results can differ from an
// unfused CPU sum in the last bits.
//
// Limits: every buffer must fit max_storage_buffer_binding_size; the host chunks queries and
// documents so that it does (nq, nd ≤ 65535 * 64 per dispatch). Inputs are plain numbers: cosine
// similarity needs L2-normalised rows, which the host provides. NaN inputs give NaN scores.

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d0 = gid.x * 8u;
    let q0 = gid.y * 8u;
    if (d0 >= p.nd || q0 >= p.nq) {
        return;
    }
    let qr0 = row_start(q0, p.nq);
    let qr1 = row_start(q0 + 1u, p.nq);
    let qr2 = row_start(q0 + 2u, p.nq);
    let qr3 = row_start(q0 + 3u, p.nq);
    let qr4 = row_start(q0 + 4u, p.nq);
    let qr5 = row_start(q0 + 5u, p.nq);
    let qr6 = row_start(q0 + 6u, p.nq);
    let qr7 = row_start(q0 + 7u, p.nq);
    let dr0 = row_start(d0, p.nd);
    let dr1 = row_start(d0 + 1u, p.nd);
    let dr2 = row_start(d0 + 2u, p.nd);
    let dr3 = row_start(d0 + 3u, p.nd);
    let dr4 = row_start(d0 + 4u, p.nd);
    let dr5 = row_start(d0 + 5u, p.nd);
    let dr6 = row_start(d0 + 6u, p.nd);
    let dr7 = row_start(d0 + 7u, p.nd);

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

    store4(q0, d0, vec4<f32>(hsum(s0_0), hsum(s0_1), hsum(s0_2), hsum(s0_3)));
    store4(q0, d0 + 4u, vec4<f32>(hsum(s0_4), hsum(s0_5), hsum(s0_6), hsum(s0_7)));
    store4(q0 + 1u, d0, vec4<f32>(hsum(s1_0), hsum(s1_1), hsum(s1_2), hsum(s1_3)));
    store4(q0 + 1u, d0 + 4u, vec4<f32>(hsum(s1_4), hsum(s1_5), hsum(s1_6), hsum(s1_7)));
    store4(q0 + 2u, d0, vec4<f32>(hsum(s2_0), hsum(s2_1), hsum(s2_2), hsum(s2_3)));
    store4(q0 + 2u, d0 + 4u, vec4<f32>(hsum(s2_4), hsum(s2_5), hsum(s2_6), hsum(s2_7)));
    store4(q0 + 3u, d0, vec4<f32>(hsum(s3_0), hsum(s3_1), hsum(s3_2), hsum(s3_3)));
    store4(q0 + 3u, d0 + 4u, vec4<f32>(hsum(s3_4), hsum(s3_5), hsum(s3_6), hsum(s3_7)));
    store4(q0 + 4u, d0, vec4<f32>(hsum(s4_0), hsum(s4_1), hsum(s4_2), hsum(s4_3)));
    store4(q0 + 4u, d0 + 4u, vec4<f32>(hsum(s4_4), hsum(s4_5), hsum(s4_6), hsum(s4_7)));
    store4(q0 + 5u, d0, vec4<f32>(hsum(s5_0), hsum(s5_1), hsum(s5_2), hsum(s5_3)));
    store4(q0 + 5u, d0 + 4u, vec4<f32>(hsum(s5_4), hsum(s5_5), hsum(s5_6), hsum(s5_7)));
    store4(q0 + 6u, d0, vec4<f32>(hsum(s6_0), hsum(s6_1), hsum(s6_2), hsum(s6_3)));
    store4(q0 + 6u, d0 + 4u, vec4<f32>(hsum(s6_4), hsum(s6_5), hsum(s6_6), hsum(s6_7)));
    store4(q0 + 7u, d0, vec4<f32>(hsum(s7_0), hsum(s7_1), hsum(s7_2), hsum(s7_3)));
    store4(q0 + 7u, d0 + 4u, vec4<f32>(hsum(s7_4), hsum(s7_5), hsum(s7_6), hsum(s7_7)));
}
