//! Rotary position tables shared by the RoPE architectures (ModernBERT, Qwen3), computed as
//! transformers does: inverse frequencies θ^(-2i/d) and angles in f32, then cos/sin cast to the
//! model's dtype.

use candle_core::{DType, Device, Tensor};

use super::packing::Packing;

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

/// One forward pass's rotary tables, for padded heads `[b, n, s, d]` (rows by position) or, with
/// a [`Packing`], packed heads `[total, n, d]` (one row per token, at its position).
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(
        inv_freq: &[f32],
        seq_len: usize,
        packing: Option<&Packing>,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Rope> {
        let (cos, sin) = tables(inv_freq, seq_len, dtype, device)?;
        Ok(match packing {
            None => Rope { cos, sin },
            Some(p) => Rope { cos: cos.index_select(&p.positions, 0)?, sin: sin.index_select(&p.positions, 0)? },
        })
    }

    /// Rotates heads arranged by [`super::attention::Attend::arrange`] (rotate-half, as
    /// transformers' `apply_rotary_pos_emb`).
    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if x.rank() == 3 {
            // [total, n, d] is rope_thd's [b = 1, t = total, n, d] with a table row per token.
            candle_nn::rotary_emb::rope_thd(&x.unsqueeze(0)?, &self.cos, &self.sin)?.squeeze(0)
        } else {
            candle_nn::rotary_emb::rope(x, &self.cos, &self.sin)
        }
    }
}
