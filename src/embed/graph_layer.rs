//! The post-LayerNorm encoder layer of [`super::encoder_layer`] as a candle graph, for every dtype
//! and device (f16/bf16, CUDA, Metal): BERT, XLM-RoBERTa ([`super::bert`]) and MPNet
//! ([`super::mpnet`]) run it wherever the fast f32 CPU forward does not apply.
//!
//! Attention is [`super::attention`]'s: its softmax sums in f32 whatever the model's dtype, as
//! PyTorch's attention kernels do.

use candle_core::{Module, Tensor};

use super::profile::phase;
use candle_nn::{layer_norm, linear, LayerNorm, Linear, VarBuilder};

/// The activation between the two feed-forward products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Exact GELU (erf): transformers' `gelu`.
    Gelu,
    /// tanh-approximated GELU: transformers' `gelu_new` / `gelu_pytorch_tanh`.
    GeluTanh,
    Relu,
}

/// Where a layer's tensors sit in the checkpoint (each a [`VarBuilder`] prefix).
pub struct Names<'a> {
    pub q: VarBuilder<'a>,
    pub k: VarBuilder<'a>,
    pub v: VarBuilder<'a>,
    pub attn_out: VarBuilder<'a>,
    pub attn_norm: VarBuilder<'a>,
    pub ffn_in: VarBuilder<'a>,
    pub ffn_out: VarBuilder<'a>,
    pub out_norm: VarBuilder<'a>,
}

/// `a = LN(x + Attn(x)·Wo)`, `LN(a + act(a·W1)·W2)`.
pub struct GraphLayer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: LayerNorm,
    heads: usize,
    act: Act,
}

impl GraphLayer {
    /// `hidden` wide, `intermediate` in the feed-forward, LayerNorm `eps`.
    pub fn load(
        n: Names,
        hidden: usize,
        intermediate: usize,
        eps: f64,
        heads: usize,
        act: Act,
    ) -> candle_core::Result<Self> {
        let h = hidden;
        Ok(GraphLayer {
            q: linear(h, h, n.q)?,
            k: linear(h, h, n.k)?,
            v: linear(h, h, n.v)?,
            attn_out: linear(h, h, n.attn_out)?,
            attn_norm: layer_norm(h, eps, n.attn_norm)?,
            ffn_in: linear(h, intermediate, n.ffn_in)?,
            ffn_out: linear(intermediate, h, n.ffn_out)?,
            out_norm: layer_norm(h, eps, n.out_norm)?,
            heads,
            act,
        })
    }

    /// `x` `[b, s, h]` in the model's dtype; `bias` broadcastable to `[b, heads, s, s]` in
    /// [`super::attention::score_dtype`] (padding mask, plus MPNet's relative positions).
    pub fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let d = h / self.heads;
        let dev = x.device();
        let split = |t: Tensor| t.reshape((b, s, self.heads, d))?.transpose(1, 2)?.contiguous();
        let (q, k, v) = phase("q k v", dev, || {
            Ok((split(self.q.forward(x)?)?, split(self.k.forward(x)?)?, split(self.v.forward(x)?)?))
        })?;
        let ctx = phase("attention", dev, || super::attention::attention(&q, &k, &v, &[bias]))?;
        let a = phase("attention output", dev, || {
            let ctx = ctx.transpose(1, 2)?.reshape((b, s, h))?;
            self.attn_norm.forward(&(self.attn_out.forward(&ctx)? + x)?)
        })?;
        phase("feed-forward", dev, || {
            let i = self.ffn_in.forward(&a)?;
            let i = match self.act {
                Act::Gelu => i.gelu_erf()?,
                Act::GeluTanh => i.gelu()?,
                Act::Relu => i.relu()?,
            };
            self.out_norm.forward(&(self.ffn_out.forward(&i)? + &a)?)
        })
    }
}
