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
//!
//! f32 weights on the CPU run the fast forward of [`super::encoder_layer`] (the layers BERT uses,
//! plus this bias); other dtypes and devices run the same layers as a candle graph
//! ([`super::graph_layer`]: attention normalised in f32).

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

use super::attention;
use super::encoder_layer::{self as el, Norm};
use super::graph_layer::{self as gl, Act, GraphLayer};

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
        // Position ids as transformers numbers them (from the ids: a `<pad>` in the text too).
        let pos = el::Positions::Roberta { pad: self.pad }.tensor(ids, mask)?;
        let x = (self.word_embeddings.forward(ids)? + self.position_embeddings.forward(&pos)?)?;
        self.layer_norm.forward(&x)
    }
}

pub struct MPNet {
    model: el::Path<FastMPNet, CandleMPNet>,
    pub hidden_size: usize,
}

/// The candle graph, for dtypes and devices other than f32 on the CPU.
struct CandleMPNet {
    embeddings: Embeddings,
    layers: Vec<GraphLayer>,
    relative_attention_bias: Embedding,
    buckets: usize,
    device: Device,
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
    /// `attention`: `auto` takes the CPU's fast path where it can; `eager` or `varlen` the
    /// candle graph, which runs eager (the relative position bias needs the scores).
    pub fn load(vb: VarBuilder, config_json: &str, attention: super::AttentionChoice) -> Result<MPNet, String> {
        let c: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        if c.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(format!("hidden_act {:?} is not supported (gelu only)", c.hidden_act));
        }
        let vb = if vb.contains_tensor("mpnet.embeddings.word_embeddings.weight") { vb.pp("mpnet") } else { vb };
        let model = el::choose(&vb, attention, || FastMPNet::load(&vb, &c), || CandleMPNet::load(vb.clone(), &c))?;
        Ok(MPNet { model, hidden_size: c.hidden_size })
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    /// How attention runs (`encoder.attention` in the results): relative position bias, so
    /// never varlen.
    pub fn attention(&self) -> &'static str {
        match &self.model {
            el::Path::Fast(_) => attention::FAST_PATH,
            el::Path::Candle(_) => "eager",
        }
    }

    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            el::Path::Fast(m) => m.forward(ids, mask),
            el::Path::Candle(m) => m.forward(ids, mask),
        }
    }
}

impl CandleMPNet {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<CandleMPNet> {
        let shape = gl::Shape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            eps: c.layer_norm_eps,
            heads: c.num_attention_heads,
            act: Act::Gelu,
        };
        let layers = GraphLayer::load_all(&vb, c.num_hidden_layers, &shape, |att| {
            let a = att.pp("attn");
            [a.pp("q"), a.pp("k"), a.pp("v"), a.pp("o"), att.pp("LayerNorm")]
        })?;
        Ok(CandleMPNet {
            embeddings: Embeddings::load(vb.pp("embeddings"), c)?,
            layers,
            relative_attention_bias: embedding(
                c.relative_attention_num_buckets,
                c.num_attention_heads,
                vb.pp("encoder").pp("relative_attention_bias"),
            )?,
            buckets: c.relative_attention_num_buckets,
            device: vb.device().clone(),
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let s = ids.dim(1)?;
        let mut x = self.embeddings.forward(ids, mask)?;
        // Relative position bias [1, heads, s, s], computed once for all layers.
        let buckets: Vec<u32> =
            (0..s as i64).flat_map(|qi| (0..s as i64).map(move |ki| bucket(ki - qi, self.buckets))).collect();
        let buckets = Tensor::from_vec(buckets, (s, s), &self.device)?;
        let pos_bias = self.relative_attention_bias.forward(&buckets)?.permute((2, 0, 1))?.unsqueeze(0)?;
        // Plus the padding mask [b, 1, 1, s], both in the attention scores' dtype.
        let dtype = attention::score_dtype(x.dtype(), x.device());
        let bias = pos_bias.to_dtype(dtype)?.broadcast_add(&attention::padding_bias(mask, dtype)?)?;
        for layer in &self.layers {
            x = layer.forward(&x, &attention::Attend::Padded(&bias))?;
        }
        Ok(x)
    }
}

/// MPNet in plain f32 on the shared encoder layers (see [`super::encoder_layer`]).
struct FastMPNet {
    word: el::Values,
    position: el::Values,
    norm: Norm,
    layers: Vec<el::Layer>,
    /// `relative_attention_bias` `[buckets, heads]`.
    relative: Vec<f32>,
    buckets: usize,
    heads: usize,
    hidden: usize,
    pad: u32,
}

impl FastMPNet {
    fn load(vb: &VarBuilder, c: &Config) -> candle_core::Result<FastMPNet> {
        let (h, i, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        if h % c.num_attention_heads != 0 {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let emb = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|n| {
                let l = vb.pp(format!("encoder.layer.{n}"));
                let att = l.pp("attention");
                Ok(el::Layer {
                    qkv: el::Linear::load(&["q", "k", "v"].map(|n| att.pp("attn").pp(n)), h, h)?,
                    attn_out: el::Linear::load(&[att.pp("attn").pp("o")], h, h)?,
                    attn_norm: Norm::load(&att.pp("LayerNorm"), h, eps)?,
                    ffn_in: el::Linear::load(&[l.pp("intermediate").pp("dense")], h, i)?,
                    ffn_out: el::Linear::load(&[l.pp("output").pp("dense")], i, h)?,
                    out_norm: Norm::load(&l.pp("output").pp("LayerNorm"), h, eps)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(FastMPNet {
            word: el::Values::read(&emb.pp("word_embeddings"), "weight", &[c.vocab_size, h])?,
            position: el::Values::read(&emb.pp("position_embeddings"), "weight", &[c.max_position_embeddings, h])?,
            norm: Norm::load(&emb.pp("LayerNorm"), h, eps)?,
            layers,
            relative: el::read(
                &vb.pp("encoder").pp("relative_attention_bias"),
                "weight",
                &[c.relative_attention_num_buckets, c.num_attention_heads],
            )?,
            buckets: c.relative_attention_num_buckets,
            heads: c.num_attention_heads,
            hidden: h,
            pad: c.pad_token_id,
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.hidden;
        let batch = el::Batch::new(ids, mask)?;
        let s = batch.seq_len;
        // Positions as transformers numbers them (padding rows are not computed at all).
        let positions = el::Positions::Roberta { pad: self.pad };
        let (word, position) = (self.word.get(), self.position.get());
        if positions.last(s) >= position.rows(h) {
            candle_core::bail!("{s} tokens exceed max_position_embeddings");
        }
        let mut x = vec![0f32; batch.tokens() * h];
        let mut rows = x.chunks_exact_mut(h);
        for (r, &len) in batch.lens.iter().enumerate() {
            for (t, p) in positions.of(&batch.ids[r * s..r * s + len]).into_iter().enumerate() {
                let word = word.row(batch.ids[r * s + t], h)?;
                let pos = position.row(p, h)?;
                for ((o, w), p) in rows.next().unwrap().iter_mut().zip(word.iter()).zip(pos.iter()) {
                    *o = w + p;
                }
            }
        }
        self.norm.apply(&mut x);
        // bias[head][(key − query) + s − 1], shared by all layers.
        let mut table = vec![0f32; self.heads * (2 * s.max(1) - 1)];
        for (j, rel) in (1 - s as i64..s as i64).enumerate() {
            let b = bucket(rel, self.buckets) as usize;
            for head in 0..self.heads {
                table[head * (2 * s - 1) + j] = self.relative[b * self.heads + head];
            }
        }
        let bias = el::PositionBias { table, max_len: s };
        el::forward(&self.layers, self.heads, &mut x, &batch.lens, Some(&bias));
        batch.unpack(&x, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::encoder_layer::testing;

    #[test]
    fn fast_path_equals_candle_graph() {
        let (v, h, i, p, heads, buckets) = (50, 16, 40, 64, 4, 32);
        let c: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": v, "hidden_size": h, "num_hidden_layers": 2, "num_attention_heads": heads,
            "intermediate_size": i, "max_position_embeddings": p, "layer_norm_eps": 1e-5,
            "pad_token_id": 1, "relative_attention_num_buckets": buckets
        }))
        .unwrap();
        let mut names = vec![
            ("embeddings.word_embeddings.weight".to_string(), vec![v, h]),
            ("embeddings.position_embeddings.weight".into(), vec![p, h]),
            ("encoder.relative_attention_bias.weight".into(), vec![buckets, heads]),
        ];
        let mut dense = |prefix: String, shape: Vec<usize>| {
            names.push((format!("{prefix}.bias"), vec![shape[0]]));
            names.push((format!("{prefix}.weight"), shape));
        };
        dense("embeddings.LayerNorm".into(), vec![h]);
        for l in 0..2 {
            let at = format!("encoder.layer.{l}");
            for n in ["q", "k", "v", "o"] {
                dense(format!("{at}.attention.attn.{n}"), vec![h, h]);
            }
            dense(format!("{at}.attention.LayerNorm"), vec![h]);
            dense(format!("{at}.intermediate.dense"), vec![i, h]);
            dense(format!("{at}.output.dense"), vec![h, i]);
            dense(format!("{at}.output.LayerNorm"), vec![h]);
        }
        let vb = testing::weights(&names);
        let fast = FastMPNet::load(&vb, &c).unwrap();
        let candle = CandleMPNet::load(vb, &c).unwrap();
        // Distances past 8 reach the log-spaced buckets.
        let lens = [40, 3, 1, 25];
        let (ids, _, mask) = testing::batch(&lens, v as u32, 1);
        let want = candle.forward(&ids, &mask).unwrap();
        let got = fast.forward(&ids, &mask).unwrap();
        let diff = testing::max_diff(&got, &want, &lens);
        assert!(diff < 2e-5, "max |fast − candle| = {diff:e}");
    }

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
