//! Rotary position tables shared by the RoPE architectures (ModernBERT, Qwen3), computed as
//! transformers does: inverse frequencies θ^(-2i/d) and angles in f32, then cos/sin cast to the
//! model's dtype.

use candle_core::{DType, Device, Tensor};

/// θ^(-2i/d) for i in 0..d/2.
pub fn inverse_frequencies(theta: f64, head_dim: usize) -> Vec<f32> {
    (0..head_dim).step_by(2).map(|i| 1.0 / (theta as f32).powf(i as f32 / head_dim as f32)).collect()
}

/// (cos, sin), each [seq_len, d/2] in `dtype`, for positions 0..seq_len — what
/// `candle_nn::rotary_emb::rope` takes.
pub fn tables(
    inv_freq: &[f32],
    seq_len: usize,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let angles: Vec<f32> = (0..seq_len).flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f)).collect();
    let angles = Tensor::from_vec(angles, (seq_len, half), device)?;
    Ok((angles.cos()?.to_dtype(dtype)?, angles.sin()?.to_dtype(dtype)?))
}
