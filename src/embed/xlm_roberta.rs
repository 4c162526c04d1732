//! XLM-RoBERTa encoders (bge-m3's dense vectors, multilingual-e5-*), configured from the model's
//! `config.json` as transformers 4.x or 5.x wrote it (5.x leaves out `position_embedding_type`).
//! Pooling is the caller's (see [`super::pooling`]): bge-m3 pools the `<s>` token, e5 averages.
//!
//! The layers are BERT's, so this is [`Bert`] (with its fast f32 CPU forward) under RoBERTa's
//! position numbering ([`Positions::Roberta`]): tokens sit at `pad_token_id` + their count among
//! the row's tokens that are not the pad id, kept in integers: candle-transformers' own
//! `xlm_roberta` counts positions as a cumulative sum in the model's dtype, which in bf16 is
//! exact only up to 256 tokens (f16: 2048), far short of bge-m3's 8192.

use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};

use super::bert::Bert;
use super::encoder_layer::Positions;
use super::hf_config::ConfigJson;
use super::AttentionChoice;

/// BERT's `Config` from an XLM-RoBERTa `config.json`, with transformers' defaults for absent
/// fields, and how positions are numbered.
fn config(config_json: &str) -> Result<(Config, Positions), String> {
    let c = ConfigJson::parse(config_json)?;
    let position = c.str_or("position_embedding_type", "absolute")?;
    if position != "absolute" {
        return Err(format!("config.json: position_embedding_type '{position}' is not supported (absolute only)"));
    }
    let hidden_act = match c.str_or("hidden_act", "gelu")? {
        "gelu" => HiddenAct::Gelu,
        "gelu_new" | "gelu_pytorch_tanh" => HiddenAct::GeluApproximate,
        "relu" => HiddenAct::Relu,
        other => return Err(format!("config.json: hidden_act '{other}' is not supported (gelu, gelu_new, relu)")),
    };
    let pad_token_id = c.usize_or("pad_token_id", Some(1))?;
    let config = Config {
        vocab_size: c.usize("vocab_size")?,
        hidden_size: c.usize("hidden_size")?,
        num_hidden_layers: c.usize("num_hidden_layers")?,
        num_attention_heads: c.usize("num_attention_heads")?,
        intermediate_size: c.usize("intermediate_size")?,
        hidden_act,
        hidden_dropout_prob: 0.0,
        max_position_embeddings: c.usize_or("max_position_embeddings", Some(512))?,
        type_vocab_size: c.usize_or("type_vocab_size", Some(2))?,
        initializer_range: 0.02,
        layer_norm_eps: c.f64_or("layer_norm_eps", 1e-12)?,
        pad_token_id,
        position_embedding_type: PositionEmbeddingType::Absolute,
        use_cache: false,
        classifier_dropout: None,
        model_type: Some("xlm-roberta".into()),
    };
    let pad =
        u32::try_from(pad_token_id).map_err(|_| format!("config.json: pad_token_id {pad_token_id} is too large"))?;
    Ok((config, Positions::Roberta { pad }))
}

/// Loads the encoder; token embeddings come from [`Bert::forward`] (ids right-padded, mask 1 = token).
pub fn load(vb: VarBuilder, config_json: &str, attention: AttentionChoice) -> Result<Bert, String> {
    let (config, positions) = config(config_json)?;
    // Saved as XLMRobertaModel (sentence-transformers) or inside a task model (`roberta.`).
    Bert::with_config(vb, &config, positions, attention)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Tensor};
    use candle_transformers::models::xlm_roberta::XLMRobertaModel;

    use crate::embed::bert::{tests::weight_names, Bert};
    use crate::embed::encoder_layer::testing;
    use crate::embed::AttentionChoice;

    const V: usize = 50;

    /// A 2-layer, 16-wide XLM-R with `p` positions: config.json, candle's config, tensors.
    fn tiny(p: usize) -> (String, candle_transformers::models::xlm_roberta::Config, Vec<(String, Vec<usize>)>) {
        let json = serde_json::json!({
            "vocab_size": V, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 40, "hidden_act": "gelu", "max_position_embeddings": p,
            "type_vocab_size": 2, "layer_norm_eps": 1e-5, "pad_token_id": 1
        });
        let mut c = json.clone();
        c["hidden_dropout_prob"] = 0.0.into();
        c["attention_probs_dropout_prob"] = 0.0.into();
        c["position_embedding_type"] = "absolute".into();
        (json.to_string(), serde_json::from_value(c).unwrap(), weight_names(V, 16, 40, p, 2, 2))
    }

    /// Right-padded with pad id 1, which no real token is (candle's model finds padding by id).
    fn batch(lens: &[usize]) -> (Tensor, Tensor, Tensor) {
        let (ids, types, mask) = testing::batch(lens, V as u32, 1);
        let m = mask.to_vec2::<u32>().unwrap();
        let fixed: Vec<Vec<u32>> = ids
            .to_vec2::<u32>()
            .unwrap()
            .into_iter()
            .zip(&m)
            .map(|(row, mask)| {
                row.into_iter().zip(mask).map(|(id, &m)| if m == 1 && id == 1 { 2 } else { id }).collect()
            })
            .collect();
        (Tensor::new(fixed, ids.device()).unwrap(), types, mask)
    }

    fn run(m: &Bert, (ids, types, mask): &(Tensor, Tensor, Tensor)) -> Tensor {
        m.forward(ids, types, mask).unwrap().to_dtype(DType::F32).unwrap()
    }

    /// Worst cosine between `a` and `b` over the real tokens of rows with `lens`, from token `from`.
    fn worst_cosine(a: &Tensor, b: &Tensor, lens: &[usize], from: usize) -> f32 {
        let (a, b) = (a.to_vec3::<f32>().unwrap(), b.to_vec3::<f32>().unwrap());
        let mut worst = 1f32;
        for (r, &len) in lens.iter().enumerate() {
            for t in from.min(len)..len {
                let (x, y) = (&a[r][t], &b[r][t]);
                let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
                worst = worst.min(dot / (norm(x) * norm(y)));
            }
        }
        worst
    }

    /// BERT's layers under RoBERTa positions (fast f32 path and candle path) give what
    /// candle-transformers' XLMRobertaModel gives in f32.
    #[test]
    fn equals_candle_xlm_roberta_in_f32() {
        let (json, config, names) = tiny(24);
        let vb = testing::weights(&names);
        let want_model = XLMRobertaModel::new(&config, vb.clone()).unwrap();
        let lens = [22, 5, 1, 12];
        let b = batch(&lens);
        let want = want_model.forward(&b.0, &b.2, &b.1, None, None, None).unwrap();
        let fast = super::load(vb.clone(), &json, AttentionChoice::Auto).unwrap();
        let diff = testing::max_diff(&run(&fast, &b), &want, &lens);
        assert!(diff < 2e-5, "max |fast − candle's XLMRobertaModel| = {diff:e}");
        let (bert, first) = super::config(&json).unwrap();
        let candle = Bert::candle_path(vb.clone(), &bert, first, AttentionChoice::Eager);
        let diff = testing::max_diff(&run(&candle, &b), &want, &lens);
        assert!(diff < 1e-6, "max |candle path − candle's XLMRobertaModel| = {diff:e}");
        // Packed tokens (varlen): the same numbers without the padding.
        let packed = Bert::candle_path(vb, &bert, first, AttentionChoice::Varlen);
        assert_eq!(packed.attention(), "varlen (candle ops)");
        let diff = testing::max_diff(&run(&packed, &b), &want, &lens);
        assert!(diff < 1e-5, "max |packed candle path − candle's XLMRobertaModel| = {diff:e}");
    }

    /// Past 256 tokens bf16 cannot count positions: ours are integers, so bf16 stays as close to
    /// f32 at token 300 as at token 3. Measured: ours ≥ 0.9994 cosine to f32 on every token;
    /// candle's XLMRobertaModel 0.9956 from token 256 on (odd positions rounded to even ones).
    #[test]
    fn bf16_positions_stay_right_past_256_tokens() {
        let (json, config, names) = tiny(320);
        let lens = [300, 270, 7];
        let b = batch(&lens);
        let load = |dtype, attention| super::load(testing::weights_as(&names, dtype), &json, attention).unwrap();
        let f32 = run(&load(DType::F32, AttentionChoice::Auto), &b);
        // The candle graph, padded and packed, and the fast path's bf16 weights.
        let bf16 = run(&load(DType::BF16, AttentionChoice::Eager), &b);
        for (what, attention) in [("packed", AttentionChoice::Varlen), ("fast-path", AttentionChoice::Auto)] {
            let other = run(&load(DType::BF16, attention), &b);
            let late = worst_cosine(&other, &f32, &lens, 256);
            assert!(late >= 0.998, "{what} bf16 past token 256: cosine {late} to f32");
        }
        let (early, late) = (worst_cosine(&bf16, &f32, &lens, 0), worst_cosine(&bf16, &f32, &lens, 256));
        let candle = XLMRobertaModel::new(&config, testing::weights_as(&names, DType::BF16)).unwrap();
        let theirs = candle.forward(&b.0, &b.2, &b.1, None, None, None).unwrap().to_dtype(DType::F32).unwrap();
        eprintln!(
            "bf16 vs f32, worst token cosine: ours {early} (from token 256: {late}); candle's XLMRobertaModel from token 256: {}",
            worst_cosine(&theirs, &f32, &lens, 256)
        );
        assert!(late >= 0.998, "bf16 past token 256: cosine {late} to f32");
    }

    #[test]
    fn config_without_position_embedding_type_loads() {
        let v5 = r#"{"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64, "num_hidden_layers": 2,
                     "vocab_size": 10, "layer_norm_eps": 1e-5, "pad_token_id": 1}"#;
        let (c, positions) = super::config(v5).unwrap();
        assert_eq!(
            (c.type_vocab_size, c.max_position_embeddings, positions),
            (2, 512, super::Positions::Roberta { pad: 1 })
        );
        let relative = v5.replace('}', r#", "position_embedding_type": "relative_key"}"#);
        assert!(super::config(&relative).unwrap_err().contains("relative_key"));
    }
}
