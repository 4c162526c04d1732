//! A right-padded batch as packed tokens: the real tokens of every row one after another, no
//! padding — the layout of flash-attention's variable-length kernels (and of transformers'
//! "unpadded" FlashAttention-2 path). Every operation of a layer except attention works on each
//! token alone, so a model can embed, project and normalise `[total, hidden]` instead of
//! `[b, s, hidden]` and spend nothing on padding; attention gets the sequence boundaries
//! ([`Packing::cu_seqlens`]).
//!
//! Built from the `[b, s]` attention mask (1 = token); rows may have any pattern of real tokens,
//! but positions ([`Packing::positions`]) are column indices, which is each token's position
//! only under the encoder's right padding.

use std::sync::Mutex;

use candle_core::{DType, Tensor};

use super::attention::Span;

pub struct Packing {
    /// `[b, s]` attention mask, as given.
    pub mask: Tensor,
    /// Row-major index in `[b·s]` of each real token (u32, `[total]`).
    gather: Tensor,
    /// For each padded slot its packed row, or `total` (a zero row appended by [`Packing::unpack`]).
    scatter: Tensor,
    /// The column of each real token (u32, `[total]`): its position under right padding.
    pub positions: Tensor,
    /// Cumulative token counts per row, `[0, n₀, n₀+n₁, …]` (u32, `[b + 1]`): flash-attention's
    /// `cu_seqlens`.
    pub cu_seqlens: Tensor,
    /// The longest row's token count.
    pub max_len: usize,
    /// Real tokens in the batch.
    pub total: usize,
    pub batch: usize,
    pub seq_len: usize,
    /// Attention biases made for this batch ([`Packing::bias`]), by span and dtype.
    biases: Mutex<Vec<(Span, DType, Tensor)>>,
}

impl Packing {
    /// Reads `mask` (`[b, s]`, any integer or float dtype, nonzero = token) to the host once.
    pub fn new(mask: &Tensor) -> candle_core::Result<Packing> {
        let (b, s) = mask.dims2()?;
        let host = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let (mut gather, mut positions, mut cu) = (Vec::new(), Vec::new(), vec![0u32]);
        let mut scatter = Vec::with_capacity(b * s);
        for row in 0..b {
            for col in 0..s {
                if host[row * s + col] != 0.0 {
                    scatter.push(gather.len() as u32);
                    gather.push((row * s + col) as u32);
                    positions.push(col as u32);
                } else {
                    scatter.push(u32::MAX);
                }
            }
            cu.push(gather.len() as u32);
        }
        let total = gather.len();
        for slot in scatter.iter_mut().filter(|x| **x == u32::MAX) {
            *slot = total as u32;
        }
        let max_len = cu.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(0);
        let dev = mask.device();
        let u32s = |v: Vec<u32>| {
            let n = v.len();
            Tensor::from_vec(v, n, dev)
        };
        Ok(Packing {
            mask: mask.clone(),
            gather: u32s(gather)?,
            scatter: u32s(scatter)?,
            positions: u32s(positions)?,
            cu_seqlens: u32s(cu)?,
            max_len,
            total,
            batch: b,
            seq_len: s,
            biases: Mutex::new(Vec::new()),
        })
    }

    /// The bias for `span` in `dtype`, made by `make` the first time it is asked for: the layers
    /// of one forward pass share a batch, so the eager fallback of varlen attention builds its
    /// padding and span bias once per pass instead of once per layer.
    pub fn bias(
        &self,
        span: Span,
        dtype: DType,
        make: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let mut biases = self.biases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((.., t)) = biases.iter().find(|(sp, dt, _)| *sp == span && *dt == dtype) {
            return Ok(t.clone());
        }
        let t = make()?;
        biases.push((span, dtype, t.clone()));
        Ok(t)
    }

    /// `[b, s, …]` → `[total, …]`: the real tokens' rows, in row-major order.
    pub fn pack(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let mut flat = vec![self.batch * self.seq_len];
        flat.extend_from_slice(&dims[2..]);
        x.reshape(flat)?.index_select(&self.gather, 0)
    }

    /// `[total, …]` → `[b, s, …]`, zeros on padding.
    pub fn unpack(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let mut zero = dims.to_vec();
        zero[0] = 1;
        let with_zero = Tensor::cat(&[x, &Tensor::zeros(zero, x.dtype(), x.device())?], 0)?;
        let mut padded = vec![self.batch, self.seq_len];
        padded.extend_from_slice(&dims[1..]);
        with_zero.index_select(&self.scatter, 0)?.reshape(padded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn packs_and_unpacks_right_and_left_padded_rows() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Rows of 3, 1, 0 and 2 tokens (the last left-padded).
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 1]], &dev)?;
        let p = Packing::new(&mask)?;
        assert_eq!((p.total, p.max_len, p.batch, p.seq_len), (6, 3, 4, 3));
        assert_eq!(p.cu_seqlens.to_vec1::<u32>()?, [0, 3, 4, 4, 6]);
        assert_eq!(p.positions.to_vec1::<u32>()?, [0, 1, 2, 0, 1, 2]);
        let x = Tensor::arange(1f32, 25., &dev)?.reshape((4, 3, 2))?;
        let packed = p.pack(&x)?;
        assert_eq!(packed.to_vec2::<f32>()?, [[1., 2.], [3., 4.], [5., 6.], [7., 8.], [21., 22.], [23., 24.]]);
        let back = p.unpack(&packed)?;
        let want = (x.clone() * mask.to_dtype(DType::F32)?.unsqueeze(2)?.broadcast_as((4, 3, 2))?)?;
        assert_eq!(back.to_vec3::<f32>()?, want.to_vec3::<f32>()?);
        // Trailing dimensions travel along: [b, s, heads, d].
        let heads = x.reshape((4, 3, 2, 1))?;
        assert_eq!(p.unpack(&p.pack(&heads)?)?.dims(), [4, 3, 2, 1]);
        Ok(())
    }

    #[test]
    fn each_bias_is_made_once_per_span_and_dtype() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let p = Packing::new(&Tensor::new(&[[1u32, 1], [1, 0]], &dev)?)?;
        let made = std::cell::Cell::new(0);
        let make = |v: f32| {
            made.set(made.get() + 1);
            Tensor::new(&[v], &dev)
        };
        for _ in 0..3 {
            assert_eq!(p.bias(Span::All, DType::F32, || make(1.0))?.to_vec1::<f32>()?, [1.0]);
        }
        assert_eq!(p.bias(Span::Causal, DType::F32, || make(2.0))?.to_vec1::<f32>()?, [2.0]);
        assert_eq!(p.bias(Span::Window(1), DType::F32, || make(3.0))?.to_vec1::<f32>()?, [3.0]);
        assert_eq!(p.bias(Span::All, DType::BF16, || make(4.0))?.to_vec1::<f32>()?, [4.0]);
        assert_eq!(p.bias(Span::Causal, DType::F32, || make(5.0))?.to_vec1::<f32>()?, [2.0]);
        assert_eq!(made.get(), 4);
        Ok(())
    }
}
