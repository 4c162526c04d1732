//! The post-LayerNorm encoder layer of [`super::encoder_layer`] as a candle graph, for every dtype
//! and device (f16/bf16, CUDA, Metal): BERT, XLM-RoBERTa ([`super::bert`]) and MPNet
//! ([`super::mpnet`]) run it wherever the fast f32 CPU forward does not apply.
//!
//! Attention is [`super::attention`]'s, over padded or packed tokens ([`Attend`]).

use candle_core::{Module, Tensor};
use candle_nn::{layer_norm, linear, LayerNorm, Linear, VarBuilder};

use super::attention::Attend;
use super::profile::phase;

/// The activation between the two feed-forward products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Exact GELU (erf): transformers' `gelu`.
    Gelu,
    /// tanh-approximated GELU: transformers' `gelu_new` / `gelu_pytorch_tanh`.
    GeluTanh,
    Relu,
}

/// A layer's widths and activation.
pub struct Shape {
    pub hidden: usize,
    /// The feed-forward's inner width.
    pub intermediate: usize,
    /// LayerNorm's epsilon.
    pub eps: f64,
    pub heads: usize,
    pub act: Act,
}

/// Where one layer's attention tensors sit under its `attention.` prefix: q, k, v, the output
/// projection and its LayerNorm.
pub type AttentionNames<'a> = [VarBuilder<'a>; 5];

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
    /// The `layers` layers under `encoder.layer.N`, with the feed-forward where BERT and MPNet
    /// both keep it (`intermediate.dense`, `output.dense`, `output.LayerNorm`) and the attention
    /// where `attention` says, given `encoder.layer.N.attention`.
    pub fn load_all<'a>(
        vb: &VarBuilder<'a>,
        layers: usize,
        shape: &Shape,
        attention: impl Fn(VarBuilder<'a>) -> AttentionNames<'a>,
    ) -> candle_core::Result<Vec<GraphLayer>> {
        let (h, eps) = (shape.hidden, shape.eps);
        (0..layers)
            .map(|n| {
                let l = vb.pp(format!("encoder.layer.{n}"));
                let [q, k, v, attn_out, attn_norm] = attention(l.pp("attention"));
                Ok(GraphLayer {
                    q: linear(h, h, q)?,
                    k: linear(h, h, k)?,
                    v: linear(h, h, v)?,
                    attn_out: linear(h, h, attn_out)?,
                    attn_norm: layer_norm(h, eps, attn_norm)?,
                    ffn_in: linear(h, shape.intermediate, l.pp("intermediate").pp("dense"))?,
                    ffn_out: linear(shape.intermediate, h, l.pp("output").pp("dense"))?,
                    out_norm: layer_norm(h, eps, l.pp("output").pp("LayerNorm"))?,
                    heads: shape.heads,
                    act: shape.act,
                })
            })
            .collect()
    }

    /// `x` `[b, s, h]` (padded) or `[total, h]` (packed) in the model's dtype; `attend` its
    /// layout and, padded, the bias (padding mask, plus MPNet's relative positions).
    pub fn forward(&self, x: &Tensor, attend: &Attend) -> candle_core::Result<Tensor> {
        let dev = x.device();
        let (q, k, v) = phase("q k v", dev, || {
            let heads = |l: &Linear| attend.heads(&l.forward(x)?, self.heads);
            Ok((heads(&self.q)?, heads(&self.k)?, heads(&self.v)?))
        })?;
        let ctx = phase("attention", dev, || attend.attend(&q, &k, &v))?;
        let a = phase("attention output", dev, || self.attn_norm.forward(&(self.attn_out.forward(&ctx)? + x)?))?;
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
