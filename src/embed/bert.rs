//! BERT-family encoders (all-MiniLM-L6-v2, multilingual-e5-*, bge-*, ruri-base with a
//! tokenizer.json): candle-transformers' `bert` encoder layers, configured from the model's
//! `config.json`. Pooling is the caller's (see [`super::pooling`]).
//!
//! The embeddings and the attention mask are built here rather than by candle's `BertModel`:
//! its mask is `(1 − mask) · f32::MIN` computed in the model's dtype, where `f32::MIN` is −∞
//! in f16 / bf16 and `0 · −∞` is NaN on every real token. transformers uses the dtype's own
//! finite minimum, as done here.

use candle_core::{DType, Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert::{BertEncoder, Config};

pub struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    encoder: BertEncoder,
    pub hidden_size: usize,
}

impl Bert {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<Bert, String> {
        let c: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let load = || -> candle_core::Result<Bert> {
            let e = vb.pp("embeddings");
            Ok(Bert {
                word_embeddings: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
                position_embeddings: embedding(c.max_position_embeddings, c.hidden_size, e.pp("position_embeddings"))?,
                token_type_embeddings: embedding(c.type_vocab_size, c.hidden_size, e.pp("token_type_embeddings"))?,
                layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
                encoder: BertEncoder::load(vb.pp("encoder"), &c)?,
                hidden_size: c.hidden_size,
            })
        };
        load().map_err(super::encoder::weights_misfit)
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
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
