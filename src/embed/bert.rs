//! BERT-family encoders (all-MiniLM-L6-v2, multilingual-e5-*, bge-*, ruri-base with a
//! tokenizer.json), configured from the model's `config.json`. Pooling is the caller's (see
//! [`super::pooling`]).
//!
//! f32 weights on the CPU run the fast forward of [`super::encoder_layer`] (packed tokens, fused
//! passes); any other dtype or device, or an activation it does not have, runs
//! candle-transformers' BERT encoder layers.
//!
//! On that candle path the embeddings and the attention mask are built here rather than by
//! candle's `BertModel`: its mask is `(1 − mask) · f32::MIN` computed in the model's dtype, where
//! `f32::MIN` is −∞ in f16 / bf16 and `0 · −∞` is NaN on every real token. transformers uses the
//! dtype's own finite minimum, as done here.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert::{BertEncoder, Config, HiddenAct};

use super::encoder_layer::{self as el, Layer, Linear, Norm};

pub struct Bert {
    model: Model,
    pub hidden_size: usize,
}

enum Model {
    Fast(FastBert),
    Candle(Box<CandleBert>),
}

impl Bert {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<Bert, String> {
        let config: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        let hidden_size = config.hidden_size;
        let fast = matches!(vb.device(), Device::Cpu) && vb.dtype() == DType::F32;
        let model = match fast.then(|| FastBert::load(&vb, &config)) {
            Some(Ok(m)) => Model::Fast(m),
            // Whatever the fast path cannot read, candle reads or explains.
            _ => Model::Candle(Box::new(CandleBert::load(vb, &config).map_err(super::encoder::weights_misfit)?)),
        };
        Ok(Bert { model, hidden_size })
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            Model::Fast(m) => m.forward(ids, type_ids, mask),
            Model::Candle(m) => m.forward(ids, type_ids, mask),
        }
    }
}

/// candle-transformers' BERT layers with embeddings and a dtype-safe padding mask.
struct CandleBert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    encoder: BertEncoder,
}

impl CandleBert {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<CandleBert> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let e = vb.pp("embeddings");
        Ok(CandleBert {
            word_embeddings: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            position_embeddings: embedding(c.max_position_embeddings, c.hidden_size, e.pp("position_embeddings"))?,
            token_type_embeddings: embedding(c.type_vocab_size, c.hidden_size, e.pp("token_type_embeddings"))?,
            layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            encoder: BertEncoder::load(vb.pp("encoder"), c)?,
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let positions = Tensor::arange(0u32, s as u32, ids.device())?;
        let x = (self.word_embeddings.forward(ids)? + self.token_type_embeddings.forward(type_ids)?)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?;
        let x = self.layer_norm.forward(&x)?;
        let bias = padding_bias(mask, x.dtype())?.reshape((b, 1, 1, s))?;
        self.encoder.forward(&x, &bias)
    }
}

/// `[b, s]` mask (1 = token) → additive attention bias in `dtype`: 0 on tokens, the dtype's
/// most negative finite value on padding (transformers' `torch.finfo(dtype).min`).
pub fn padding_bias(mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let min = match dtype {
        DType::F16 => f64::from(half::f16::MIN),
        DType::BF16 => f64::from(half::bf16::MIN),
        DType::F64 => f64::MIN,
        _ => f64::from(f32::MIN),
    };
    let m = mask.to_dtype(DType::F32)?;
    ((m.ones_like()? - m)? * min)?.to_dtype(dtype)
}

/// BERT in plain f32: embeddings (word + token type + absolute position, LayerNorm), then the
/// shared encoder layers.
struct FastBert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

impl FastBert {
    fn load(vb: &VarBuilder, c: &Config) -> candle_core::Result<FastBert> {
        if c.hidden_act != HiddenAct::Gelu || c.hidden_size % c.num_attention_heads != 0 {
            candle_core::bail!("not a fast-path configuration");
        }
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") { vb.clone() } else { vb.pp("bert") };
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let emb = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|n| {
                let l = vb.pp(format!("encoder.layer.{n}"));
                let att = l.pp("attention");
                Ok(Layer {
                    qkv: Linear::load(&["query", "key", "value"].map(|n| att.pp("self").pp(n)), h, h)?,
                    attn_out: Linear::load(&[att.pp("output").pp("dense")], h, h)?,
                    attn_norm: Norm::load(&att.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
                    ffn_in: Linear::load(&[l.pp("intermediate").pp("dense")], h, i)?,
                    ffn_out: Linear::load(&[l.pp("output").pp("dense")], i, h)?,
                    out_norm: Norm::load(&l.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(FastBert {
            word: el::read(&emb.pp("word_embeddings"), "weight", &[c.vocab_size, h])?,
            position: el::read(&emb.pp("position_embeddings"), "weight", &[c.max_position_embeddings, h])?,
            token_type: el::read(&emb.pp("token_type_embeddings"), "weight", &[c.type_vocab_size, h])?,
            norm: Norm::load(&emb.pp("LayerNorm"), h, c.layer_norm_eps)?,
            layers,
            heads: c.num_attention_heads,
            hidden: h,
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.hidden;
        let batch = el::Batch::new(ids, mask)?;
        let types = type_ids.flatten_all()?.to_vec1::<u32>()?;
        if batch.seq_len > self.position.len() / h {
            candle_core::bail!("{} tokens exceed max_position_embeddings", batch.seq_len);
        }
        // torch's order: (word + token type) + position.
        let mut x = vec![0f32; batch.tokens() * h];
        let mut rows = x.chunks_exact_mut(h);
        for (r, &len) in batch.lens.iter().enumerate() {
            for t in 0..len {
                let at = r * batch.seq_len + t;
                let word = el::row(&self.word, batch.ids[at], h)?;
                let tt = el::row(&self.token_type, types[at], h)?;
                let pos = &self.position[t * h..(t + 1) * h];
                for (((o, w), y), p) in rows.next().unwrap().iter_mut().zip(word).zip(tt).zip(pos) {
                    *o = w + y + p;
                }
            }
        }
        self.norm.apply(&mut x);
        el::forward(&self.layers, self.heads, &mut x, &batch.lens, None);
        batch.unpack(&x, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::encoder_layer::testing;

    #[test]
    fn fast_path_equals_candle_bert() {
        let (v, h, i, p) = (50, 16, 40, 24);
        let config: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": v, "hidden_size": h, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": i, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "max_position_embeddings": p, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null, "model_type": "bert"
        }))
        .unwrap();
        let mut names = vec![
            ("embeddings.word_embeddings.weight".to_string(), vec![v, h]),
            ("embeddings.position_embeddings.weight".into(), vec![p, h]),
            ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ];
        let mut dense = |prefix: String, n_out: usize, n_in: usize| {
            names.push((format!("{prefix}.weight"), vec![n_out, n_in]));
            names.push((format!("{prefix}.bias"), vec![n_out]));
        };
        dense("embeddings.LayerNorm".into(), h, 0);
        for l in 0..2 {
            let at = format!("encoder.layer.{l}");
            for n in ["query", "key", "value"] {
                dense(format!("{at}.attention.self.{n}"), h, h);
            }
            dense(format!("{at}.attention.output.dense"), h, h);
            dense(format!("{at}.attention.output.LayerNorm"), h, 0);
            dense(format!("{at}.intermediate.dense"), i, h);
            dense(format!("{at}.output.dense"), h, i);
            dense(format!("{at}.output.LayerNorm"), h, 0);
        }
        // LayerNorm weights are [h]: drop the 0-wide second dimension given above.
        for (_, shape) in names.iter_mut() {
            shape.retain(|&d| d != 0);
        }
        let vb = testing::weights(&names);
        let fast = FastBert::load(&vb, &config).unwrap();
        let ours = CandleBert::load(vb.clone(), &config).unwrap();
        let candle = candle_transformers::models::bert::BertModel::load(vb, &config).unwrap();
        let lens = [17, 5, 1, 12];
        let (ids, types, mask) = testing::batch(&lens, v as u32, 0);
        let want = candle.forward(&ids, &types, Some(&mask)).unwrap();
        let got = fast.forward(&ids, &types, &mask).unwrap();
        let diff = testing::max_diff(&got, &want, &lens);
        assert!(diff < 2e-5, "max |fast − candle| = {diff:e}");
        let diff = testing::max_diff(&ours.forward(&ids, &types, &mask).unwrap(), &want, &lens);
        assert!(diff < 1e-6, "max |our candle path − candle's BertModel| = {diff:e}");
    }
}
