//! MPNet (all-mpnet-base-v2), which candle-transformers does not have: a BERT-shaped encoder
//! whose attention adds a learned **relative position bias** shared by all layers, after Hugging
//! Face transformers' `modeling_mpnet.py`. Struct and weight names mirror the checkpoint
//! (`embeddings.*`, `encoder.layer.N.attention.attn.{q,k,v,o}`, `encoder.relative_attention_bias`).
//!
//! - Positions start after the padding index, as RoBERTa's: `pos = cumsum(mask) · mask + pad`.
//! - Bias: relative position (key − query) → one of 32 buckets (half per direction; exact below
//!   8, log-spaced up to distance 128) → an `[heads]` vector from `relative_attention_bias`.
//! - Attention: softmax(q·kᵀ/√d + bias + (1 − mask)·f32::MIN) · v; post-LayerNorm residuals,
//!   exact (erf) GELU.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default)]
    pub hidden_act: Option<String>,
}

fn default_buckets() -> usize {
    32
}

struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    layer_norm: LayerNorm,
    pad: u32,
}

impl Embeddings {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        Ok(Embeddings {
            word_embeddings: embedding(c.vocab_size, c.hidden_size, vb.pp("word_embeddings"))?,
            position_embeddings: embedding(c.max_position_embeddings, c.hidden_size, vb.pp("position_embeddings"))?,
            layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("LayerNorm"))?,
            pad: c.pad_token_id,
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        // Position ids: padding_idx + running count of real tokens, padding_idx on padding.
        let maskf = mask.to_dtype(DType::F32)?;
        let pos = (maskf.cumsum(1)? * &maskf)?.affine(1.0, self.pad as f64)?.to_dtype(DType::U32)?;
        let x = (self.word_embeddings.forward(ids)? + self.position_embeddings.forward(&pos)?)?;
        self.layer_norm.forward(&x)
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
    heads: usize,
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let attn = vb.pp("attention");
        Ok(Layer {
            q: linear(h, h, attn.pp("attn").pp("q"))?,
            k: linear(h, h, attn.pp("attn").pp("k"))?,
            v: linear(h, h, attn.pp("attn").pp("v"))?,
            o: linear(h, h, attn.pp("attn").pp("o"))?,
            attn_norm: layer_norm(h, c.layer_norm_eps, attn.pp("LayerNorm"))?,
            intermediate: linear(h, c.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: linear(c.intermediate_size, h, vb.pp("output").pp("dense"))?,
            out_norm: layer_norm(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: c.num_attention_heads,
        })
    }

    /// `x` [b, s, h]; `bias` [1, heads, s, s] (position) + [b, 1, 1, s] (mask), pre-summed.
    fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |t: Tensor| t.reshape((b, s, self.heads, d))?.transpose(1, 2)?.contiguous();
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, h))?;
        let a = self.attn_norm.forward(&(self.o.forward(&ctx)? + x)?)?;
        let i = self.intermediate.forward(&a)?.gelu_erf()?;
        self.out_norm.forward(&(self.output.forward(&i)? + a)?)
    }
}

pub struct MPNet {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    relative_attention_bias: Embedding,
    buckets: usize,
    device: Device,
    pub hidden_size: usize,
}

/// T5/MPNet bucketing of `key − query` distances (bidirectional, max distance 128).
fn bucket(relative: i64, num_buckets: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let n = -relative;
    let mut ret = if n < 0 { half } else { 0 };
    let n = n.abs();
    let max_exact = half / 2;
    ret += if n < max_exact {
        n
    } else {
        let large = max_exact as f64
            + ((n as f64 / max_exact as f64).ln() / (128.0f64 / max_exact as f64).ln() * (half - max_exact) as f64);
        // torch's `.to(long)` truncates toward zero; the value is positive here.
        (large as i64).min(half - 1)
    };
    ret as u32
}

impl MPNet {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<MPNet, String> {
        let c: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        if c.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(format!("hidden_act {:?} is not supported (gelu only)", c.hidden_act));
        }
        let vb = if vb.contains_tensor("mpnet.embeddings.word_embeddings.weight") { vb.pp("mpnet") } else { vb };
        let load = || -> candle_core::Result<MPNet> {
            let layers = (0..c.num_hidden_layers)
                .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), &c))
                .collect::<Result<_, _>>()?;
            Ok(MPNet {
                embeddings: Embeddings::load(vb.pp("embeddings"), &c)?,
                layers,
                relative_attention_bias: embedding(
                    c.relative_attention_num_buckets,
                    c.num_attention_heads,
                    vb.pp("encoder").pp("relative_attention_bias"),
                )?,
                buckets: c.relative_attention_num_buckets,
                device: vb.device().clone(),
                hidden_size: c.hidden_size,
            })
        };
        load().map_err(super::encoder::weights_misfit)
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let mut x = self.embeddings.forward(ids, mask)?;
        // Relative position bias [1, heads, s, s], computed once for all layers.
        let buckets: Vec<u32> =
            (0..s as i64).flat_map(|qi| (0..s as i64).map(move |ki| bucket(ki - qi, self.buckets))).collect();
        let buckets = Tensor::from_vec(buckets, (s, s), &self.device)?;
        let pos_bias = self.relative_attention_bias.forward(&buckets)?.permute((2, 0, 1))?.unsqueeze(0)?;
        // Padding mask [b, 1, 1, s]: 0 for tokens, the dtype's minimum on padding (as transformers).
        let neg = super::bert::padding_bias(mask, x.dtype())?.reshape((b, 1, 1, s))?;
        let bias = pos_bias.broadcast_add(&neg)?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_follow_transformers() {
        // Printed by transformers 4.x: MPNetEncoder.relative_position_bucket(tensor, num_buckets=32).
        let cases =
            [(0, 0), (1, 17), (-1, 1), (7, 23), (-7, 7), (8, 24), (-8, 8), (20, 26), (-20, 10), (127, 31), (-500, 15)];
        for (rel, want) in cases {
            assert_eq!(bucket(rel, 32), want, "relative position {rel}");
        }
    }
}
