//! ModernBERT encoders (ruri-v3, AMBER) through candle-transformers' `modernbert`, configured
//! from the model's `config.json` as transformers 4.x (`global_rope_theta`, `local_rope_theta`,
//! `global_attn_every_n_layers`, `norm_eps`) or 5.x (`rope_parameters.{full,sliding}_attention`,
//! `layer_types`) wrote it. Pooling is the caller's (see [`super::pooling`]); ruri-v3 averages.
//!
//! What candle's implementation assumes, checked here so a model it would get wrong is refused
//! instead of giving other vectors than transformers: no biases (`attention_bias`, `mlp_bias`,
//! `norm_bias` false), GeGLU with exact GELU (`hidden_activation` "gelu"), default RoPE, a global
//! layer every n-th layer starting at layer 0 and local (sliding window) attention elsewhere.
//! The window is as transformers': a token sees tokens at most `local_attention / 2` away; positions
//! are 0, 1, ... per row, so right padding (the encoder's) changes nothing for real tokens.
//! Checkpoints saved as `ModernBertModel` (sentence-transformers) have no `model.` prefix; candle
//! expects one, so names are mapped.

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::modernbert::{Config, ModernBert as Model};

use super::hf_config::ConfigJson;

pub struct ModernBert {
    model: Model,
    pub hidden_size: usize,
}

fn config(config_json: &str) -> Result<Config, String> {
    let c = ConfigJson::parse(config_json)?;
    for key in ["attention_bias", "mlp_bias", "norm_bias"] {
        if c.bool_or(key, false)? {
            return Err(format!("config.json: {key} true is not supported"));
        }
    }
    let act = c.str_or("hidden_activation", "gelu")?;
    if act != "gelu" {
        return Err(format!("config.json: hidden_activation '{act}' is not supported (gelu only)"));
    }
    let (hidden_size, heads) = (c.usize("hidden_size")?, c.usize("num_attention_heads")?);
    if c.get("head_dim").is_some() && c.usize("head_dim")? * heads != hidden_size {
        return Err("config.json: head_dim × num_attention_heads must equal hidden_size".into());
    }
    let layers = c.usize("num_hidden_layers")?;
    let every = match c.layer_types()? {
        None => c.usize_or("global_attn_every_n_layers", Some(3))?,
        Some(types) => {
            // candle expresses the pattern as "global when layer % n == 0": find that n.
            let globals: Vec<usize> = (0..types.len()).filter(|&i| types[i] == "full_attention").collect();
            let n = match globals.as_slice() {
                [0] => layers.max(1),
                [0, second, ..] => *second,
                _ => 0,
            };
            let ok = types.len() == layers
                && n > 0
                && types
                    .iter()
                    .enumerate()
                    .all(|(i, t)| t == if i % n == 0 { "full_attention" } else { "sliding_attention" });
            if !ok {
                return Err(format!(
                    "config.json: layer_types {types:?} are not 'global every n-th layer from layer 0'"
                ));
            }
            n
        }
    };
    Ok(Config {
        vocab_size: c.usize("vocab_size")?,
        hidden_size,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: c.usize("intermediate_size")?,
        max_position_embeddings: c.usize_or("max_position_embeddings", Some(8192))?,
        layer_norm_eps: c.f64_or("norm_eps", 1e-5)?,
        pad_token_id: c.usize_or("pad_token_id", Some(50283))? as u32,
        global_attn_every_n_layers: every,
        global_rope_theta: c.rope_theta("global_rope_theta", Some("full_attention"), 160_000.0)?,
        local_attention: c.usize_or("local_attention", Some(128))?,
        local_rope_theta: c.rope_theta("local_rope_theta", Some("sliding_attention"), 10_000.0)?,
        classifier_config: None,
    })
}

impl ModernBert {
    pub fn load(vb: VarBuilder, config_json: &str) -> Result<ModernBert, String> {
        let config = config(config_json)?;
        if vb.dtype() != candle_core::DType::F32 {
            // candle-transformers builds ModernBERT's attention masks in f32 only.
            return Err(format!("ModernBERT runs in f32 only here, not {:?}: use --dtype f32", vb.dtype()));
        }
        let vb = if vb.contains_tensor("model.embeddings.tok_embeddings.weight") {
            vb
        } else {
            vb.rename_f(|name: &str| name.strip_prefix("model.").unwrap_or(name).to_string())
        };
        let model = Model::load(vb, &config).map_err(super::encoder::weights_misfit)?;
        Ok(ModernBert { model, hidden_size: config.hidden_size })
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        self.model.forward(ids, mask)
    }
}

#[cfg(test)]
mod tests {
    use super::config;

    const BASE: &str = r#""vocab_size": 10, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 48,
        "max_position_embeddings": 128, "pad_token_id": 0, "local_attention": 16"#;

    #[test]
    fn transformers_4_and_5_configs_agree() {
        let v4 = format!(
            r#"{{{BASE}, "num_hidden_layers": 3, "global_attn_every_n_layers": 2, "global_rope_theta": 160000.0,
                "local_rope_theta": 10000.0, "norm_eps": 1e-5}}"#
        );
        let v5 = format!(
            r#"{{{BASE}, "num_hidden_layers": 3, "norm_eps": 1e-5,
                "layer_types": ["full_attention", "sliding_attention", "full_attention"],
                "rope_parameters": {{"full_attention": {{"rope_theta": 160000.0, "rope_type": "default"}},
                                     "sliding_attention": {{"rope_theta": 10000.0, "rope_type": "default"}}}}}}"#
        );
        assert_eq!(config(&v4).unwrap(), config(&v5).unwrap());
        assert_eq!(config(&v5).unwrap().global_attn_every_n_layers, 2);
    }

    #[test]
    fn unsupported_variants_are_refused() {
        let irregular = format!(
            r#"{{{BASE}, "num_hidden_layers": 3,
                "layer_types": ["full_attention", "full_attention", "sliding_attention"]}}"#
        );
        assert!(config(&irregular).unwrap_err().contains("layer_types"));
        let biased = format!(r#"{{{BASE}, "num_hidden_layers": 1, "mlp_bias": true}}"#);
        assert!(config(&biased).unwrap_err().contains("mlp_bias"));
    }
}
