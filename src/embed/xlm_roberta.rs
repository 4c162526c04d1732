//! XLM-RoBERTa encoders (bge-m3's dense vectors, multilingual-e5-*) through candle-transformers'
//! `xlm_roberta`, configured from the model's `config.json` as transformers 4.x or 5.x wrote it
//! (5.x leaves out `position_embedding_type`). Pooling is the caller's (see [`super::pooling`]):
//! bge-m3 pools the `<s>` token, e5 averages.
//!
//! Positions follow RoBERTa: `pad_token_id + 1 + index` for real tokens, computed from the ids
//! (`id != pad_token_id`), so batches must be padded with `pad_token_id` (1), which the encoder does.

use candle_core::Tensor;
use candle_nn::{Activation, VarBuilder};
use candle_transformers::models::xlm_roberta::{Config, XLMRobertaModel};

use super::hf_config::ConfigJson;

pub struct XlmRoberta {
    model: XLMRobertaModel,
    pub hidden_size: usize,
}

/// candle's `Config` from `config.json`, with transformers' defaults for absent fields.
fn config(config_json: &str) -> Result<Config, String> {
    let c = ConfigJson::parse(config_json)?;
    let position = c.str_or("position_embedding_type", "absolute")?;
    if position != "absolute" {
        return Err(format!("config.json: position_embedding_type '{position}' is not supported (absolute only)"));
    }
    let act = c.str_or("hidden_act", "gelu")?;
    let hidden_act: Activation =
        serde_json::from_value(act.into()).map_err(|_| format!("config.json: hidden_act '{act}' is not supported"))?;
    Ok(Config {
        hidden_size: c.usize("hidden_size")?,
        layer_norm_eps: c.f64_or("layer_norm_eps", 1e-12)?,
        attention_probs_dropout_prob: 0.0,
        hidden_dropout_prob: 0.0,
        num_attention_heads: c.usize("num_attention_heads")?,
        position_embedding_type: position.into(),
        intermediate_size: c.usize("intermediate_size")?,
        hidden_act,
        num_hidden_layers: c.usize("num_hidden_layers")?,
        vocab_size: c.usize("vocab_size")?,
        max_position_embeddings: c.usize_or("max_position_embeddings", Some(512))?,
        type_vocab_size: c.usize_or("type_vocab_size", Some(2))?,
        pad_token_id: c.usize_or("pad_token_id", Some(1))? as u32,
    })
}

impl XlmRoberta {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<XlmRoberta, String> {
        let config = config(config_json)?;
        // Saved as XLMRobertaModel (sentence-transformers) or inside a task model (`roberta.`).
        let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") { vb.pp("roberta") } else { vb };
        let model = XLMRobertaModel::new(&config, vb).map_err(super::encoder::weights_misfit)?;
        Ok(XlmRoberta { model, hidden_size: config.hidden_size })
    }

    /// Token embeddings [batch, seq, hidden] for `ids` right-padded with `pad_token_id`, `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        self.model.forward(ids, mask, type_ids, None, None, None)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_without_position_embedding_type_loads() {
        let v5 = r#"{"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64, "num_hidden_layers": 2,
                     "vocab_size": 10, "layer_norm_eps": 1e-5, "pad_token_id": 1}"#;
        let c = super::config(v5).unwrap();
        assert_eq!(
            (c.position_embedding_type.as_str(), c.type_vocab_size, c.max_position_embeddings),
            ("absolute", 2, 512)
        );
        let relative = v5.replace('}', r#", "position_embedding_type": "relative_key"}"#);
        assert!(super::config(&relative).unwrap_err().contains("relative_key"));
    }
}
