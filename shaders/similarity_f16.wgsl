// similarity_f16.wgsl — the prelude that turns similarity.wgsl into its half-precision variant.
// The host compiles this file, then params.wgsl, similarity_common.wgsl and a kernel
// (similarity.wgsl or similarity_8x8.wgsl); the f32 variant starts with the one line
// `alias Elem = f32;` instead. So both variants share each kernel: the same register tiles,
// dispatch, bindings, Params and summation order.
//
// With Elem = f16, queries and documents are stored as vec4<f16> (half the memory and
// bandwidth) and widened to f32 before multiplying. The product of two f16 values is exact in
// f32 (11 + 11 significand bits) and the sums accumulate in f32 in similarity.wgsl's order, so
// a score here is what the f32 kernel gives for the f16-rounded vectors. Rounding the inputs
// moves a score by up to about 2^-10 · |q| · |d|, far above the 1e-5 exactness bound, so the
// host uses these scores only to choose candidates and rescores those from the f32 vectors,
// proving that no other document could enter the top k (src/search/gpu.rs, `Precision`).
//
// Requires the `shader-f16` feature (wgpu::Features::SHADER_F16).

enable f16;
alias Elem = f16;
