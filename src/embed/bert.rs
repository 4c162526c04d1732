//! BERT-family encoders (all-MiniLM-L6-v2, bge-*, ruri-base with a tokenizer.json), configured
//! from the model's `config.json`, and the same layers under XLM-RoBERTa's embeddings (see
//! [`super::xlm_roberta`]: positions start at `pad_token_id + 1` there, at 0 here). Pooling is
//! the caller's (see [`super::pooling`]).
//!
//! f32 weights on the CPU run the fast forward of [`super::encoder_layer`] (packed tokens, fused
//! passes); any other dtype or device, or an activation it does not have, runs the same layers
//! as a candle graph ([`super::graph_layer`]: attention normalised in f32, as PyTorch does).
//! candle-transformers' `BertModel` is not used: its padding mask is `(1 − mask) · f32::MIN`
//! computed in the model's dtype, where `f32::MIN` is −∞ in f16 / bf16 and `0 · −∞` is NaN on
//! every real token, and its softmax sums in the model's dtype.

use candle_core::{Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

use super::attention::{self, Attend, Implementation, Span};
use super::encoder_layer::{self as el, Layer, Linear, Norm};
use super::graph_layer::{self as gl, Act, GraphLayer};
use super::packing::Packing;
use super::AttentionChoice;

pub struct Bert {
    model: el::Path<FastBert, CandleBert>,
    pub hidden_size: usize,
}

impl Bert {
    pub fn load(vb: VarBuilder, config_json: &str, attention: AttentionChoice) -> Result<Bert, String> {
        let config: Config = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        Bert::with_config(vb, &config, el::Positions::Index, attention)
    }

    /// The layers of `config` with absolute positions numbered by `positions` (BERT: by index;
    /// RoBERTa / XLM-RoBERTa: from `pad_token_id`). Weights may sit under `bert.` or `roberta.`.
    pub fn with_config(
        vb: VarBuilder,
        config: &Config,
        positions: el::Positions,
        attention: AttentionChoice,
    ) -> Result<Bert, String> {
        let word = "embeddings.word_embeddings.weight";
        let vb = match ["bert", "roberta"].into_iter().find(|p| vb.contains_tensor(&format!("{p}.{word}"))) {
            Some(p) if !vb.contains_tensor(word) => vb.pp(p),
            _ => vb,
        };
        let model = el::choose(
            &vb,
            attention,
            || FastBert::load(&vb, config, positions),
            || CandleBert::load(vb.clone(), config, positions, attention),
        )?;
        Ok(Bert { model, hidden_size: config.hidden_size })
    }

    /// How attention runs (`encoder.attention` in the results).
    pub fn attention(&self) -> &'static str {
        match &self.model {
            el::Path::Fast(_) => attention::FAST_PATH,
            el::Path::Candle(m) => m.attention,
        }
    }

    /// Token embeddings [batch, seq, hidden] for right-padded `ids` with `mask` (1 = token).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            el::Path::Fast(m) => m.forward(ids, type_ids, mask),
            el::Path::Candle(m) => m.forward(ids, type_ids, mask),
        }
    }
}

#[cfg(test)]
impl Bert {
    /// The candle path whatever the dtype and device (the fast one is chosen for f32 on the CPU).
    pub(crate) fn candle_path(
        vb: VarBuilder,
        config: &Config,
        positions: el::Positions,
        attention: AttentionChoice,
    ) -> Bert {
        let model = el::Path::Candle(Box::new(CandleBert::load(vb, config, positions, attention).unwrap()));
        Bert { model, hidden_size: config.hidden_size }
    }
}

/// BERT as a candle graph, for every dtype and device. Positions are
/// counted in integers: candle's XLM-RoBERTa counts them in the model's dtype (a cumulative sum),
/// and bf16 holds integers exactly only up to 256 (f16: 2048), so long inputs got wrong positions.
struct CandleBert {
    positions: el::Positions,
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    layers: Vec<GraphLayer>,
    implementation: Implementation,
    attention: &'static str,
}

impl CandleBert {
    fn load(
        vb: VarBuilder,
        c: &Config,
        positions: el::Positions,
        attention: AttentionChoice,
    ) -> candle_core::Result<CandleBert> {
        let e = vb.pp("embeddings");
        let (dtype, head_dim) = (vb.dtype(), c.hidden_size / c.num_attention_heads.max(1));
        let implementation = attention::resolve(attention, dtype, vb.device(), head_dim);
        let shape = gl::Shape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            eps: c.layer_norm_eps,
            heads: c.num_attention_heads,
            act: match c.hidden_act {
                HiddenAct::Gelu => Act::Gelu,
                HiddenAct::GeluApproximate => Act::GeluTanh,
                HiddenAct::Relu => Act::Relu,
            },
        };
        Ok(CandleBert {
            positions,
            word_embeddings: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            position_embeddings: embedding(c.max_position_embeddings, c.hidden_size, e.pp("position_embeddings"))?,
            token_type_embeddings: embedding(c.type_vocab_size, c.hidden_size, e.pp("token_type_embeddings"))?,
            layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: GraphLayer::load_all(&vb, c.num_hidden_layers, &shape, |att| {
                let (s, o) = (att.pp("self"), att.pp("output"));
                [s.pp("query"), s.pp("key"), s.pp("value"), o.pp("dense"), o.pp("LayerNorm")]
            })?,
            implementation,
            attention: attention::describe(implementation, dtype, vb.device(), head_dim),
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        // Each token's position as transformers numbers it (right padding: real tokens first);
        // padding is masked out of attention (eager) or dropped (varlen).
        let positions = self.positions.tensor(ids, mask)?;
        let embed = |ids: &Tensor, types: &Tensor, positions: &Tensor| {
            let x = (self.word_embeddings.forward(ids)? + self.token_type_embeddings.forward(types)?)?;
            self.layer_norm.forward(&(x + self.position_embeddings.forward(positions)?)?)
        };
        if self.implementation == Implementation::Varlen {
            let p = Packing::new(mask)?;
            let mut x = embed(&p.pack(ids)?, &p.pack(type_ids)?, &p.pack(&positions)?)?;
            for layer in &self.layers {
                x = layer.forward(&x, &Attend::Packed(&p, Span::All))?;
            }
            return p.unpack(&x);
        }
        let mut x = embed(ids, type_ids, &positions)?;
        let bias = attention::padding_bias(mask, attention::score_dtype(x.dtype(), x.device()))?;
        for layer in &self.layers {
            x = layer.forward(&x, &Attend::Padded(&bias))?;
        }
        Ok(x)
    }
}

/// BERT in plain f32: embeddings (word + token type + absolute position, LayerNorm), then the
/// shared encoder layers.
struct FastBert {
    positions: el::Positions,
    word: el::Values,
    position: el::Values,
    token_type: el::Values,
    norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

impl FastBert {
    fn load(vb: &VarBuilder, c: &Config, positions: el::Positions) -> candle_core::Result<FastBert> {
        if c.hidden_act != HiddenAct::Gelu || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            candle_core::bail!("not a fast-path configuration");
        }
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
            positions,
            word: el::Values::read(&emb.pp("word_embeddings"), "weight", &[c.vocab_size, h])?,
            position: el::Values::read(&emb.pp("position_embeddings"), "weight", &[c.max_position_embeddings, h])?,
            token_type: el::Values::read(&emb.pp("token_type_embeddings"), "weight", &[c.type_vocab_size, h])?,
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
        let (word, token_type, position) = (self.word.get(), self.token_type.get(), self.position.get());
        if self.positions.last(batch.seq_len) >= position.rows(h) {
            candle_core::bail!("{} tokens exceed max_position_embeddings", batch.seq_len);
        }
        // torch's order: (word + token type) + position.
        let mut x = vec![0f32; batch.tokens() * h];
        let mut rows = x.chunks_exact_mut(h);
        for (r, &len) in batch.lens.iter().enumerate() {
            let start = r * batch.seq_len;
            for (t, p) in self.positions.of(&batch.ids[start..start + len]).into_iter().enumerate() {
                let at = start + t;
                let word = word.row(batch.ids[at], h)?;
                let tt = token_type.row(types[at], h)?;
                let pos = position.row(p, h)?;
                for (((o, w), y), p) in rows.next().unwrap().iter_mut().zip(word.iter()).zip(tt.iter()).zip(pos.iter())
                {
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
pub(crate) mod tests {
    use super::*;
    use crate::embed::encoder_layer::testing;

    /// A BERT checkpoint's tensor names and shapes: vocabulary `v`, hidden `h`, intermediate
    /// `i`, `p` positions, `types` token types, `layers` layers.
    pub(crate) fn weight_names(
        v: usize,
        h: usize,
        i: usize,
        p: usize,
        types: usize,
        layers: usize,
    ) -> Vec<(String, Vec<usize>)> {
        let mut names = vec![
            ("embeddings.word_embeddings.weight".to_string(), vec![v, h]),
            ("embeddings.position_embeddings.weight".into(), vec![p, h]),
            ("embeddings.token_type_embeddings.weight".into(), vec![types, h]),
        ];
        let mut dense = |prefix: String, n_out: usize, n_in: usize| {
            names.push((format!("{prefix}.weight"), vec![n_out, n_in]));
            names.push((format!("{prefix}.bias"), vec![n_out]));
        };
        dense("embeddings.LayerNorm".into(), h, 0);
        for l in 0..layers {
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
        names
    }

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
        let vb = testing::weights(&weight_names(v, h, i, p, 2, 2));
        let fast = FastBert::load(&vb, &config, el::Positions::Index).unwrap();
        let ours = CandleBert::load(vb.clone(), &config, el::Positions::Index, AttentionChoice::Eager).unwrap();
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
