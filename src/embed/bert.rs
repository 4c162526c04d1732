//! BERT-family encoders (all-MiniLM-L6-v2, multilingual-e5-*, bge-*, ruri-base with a
//! tokenizer.json) through candle-transformers' `bert`, configured from the model's
//! `config.json`. Pooling is the caller's (see [`super::pooling`]).

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

pub struct Bert {
    model: BertModel,
    pub hidden_size: usize,
}

impl Bert {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<Bert, String> {
        let config: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        let hidden_size = config.hidden_size;
        let model = BertModel::load(vb, &config).map_err(|e| format!("weights do not fit config.json: {e}"))?;
        Ok(Bert { model, hidden_size })
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        self.model.forward(ids, type_ids, Some(mask))
    }
}
