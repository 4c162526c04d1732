//! ModernBERT encoders (ruri-v3, AMBER), after transformers' `modeling_modernbert.py`,
//! configured from the model's `config.json` as transformers 4.x (`global_rope_theta`,
//! `local_rope_theta`, `global_attn_every_n_layers`, `norm_eps`) or 5.x
//! (`rope_parameters.{full,sliding}_attention`, `layer_types`) wrote it. Pooling is the caller's
//! (see [`super::pooling`]); ruri-v3 averages.
//!
//! An own implementation rather than candle-transformers' `modernbert`, which builds its masks in
//! f32 only: here weights and activations are in the model's dtype (f16/bf16 on a GPU) and only
//! the attention scores are masked and normalised in f32, so long inputs in half precision keep an
//! exact softmax. Per layer: x + Wo(attn(rope(q), rope(k), v)) over `attn_norm(x)` (layer 0 has
//! no attn_norm), then x + Wo(gelu(a) · g) with (a, g) = Wi(mlp_norm(x)) split in two (GeGLU,
//! exact erf GELU). Global layers (every n-th from layer 0) attend to every real token with the
//! global RoPE base; the others see tokens at most `local_attention / 2` away, with the local base.
//! Positions are 0, 1, ... per row, so right padding (the encoder's) changes nothing for real tokens.
//!
//! f32 weights on the CPU run the fast forward of [`super::encoder_layer`] (packed tokens, the
//! window as a span of each row's softmax, RoPE and GeGLU fused); any other dtype or device, or
//! an explicit `--attention`, runs the candle graph below.
//!
//! What is refused rather than run wrongly: biases (`attention_bias`, `mlp_bias`, `norm_bias`),
//! activations other than GELU, scaled RoPE, layer patterns other than "global every n-th layer
//! from layer 0". Names mirror the checkpoint (`embeddings.tok_embeddings`, `embeddings.norm`,
//! `layers.N.{attn_norm,attn.Wqkv,attn.Wo,mlp_norm,mlp.Wi,mlp.Wo}`, `final_norm`), with or
//! without the `model.` prefix of ModernBertForMaskedLM checkpoints.

use candle_core::{Device, Module, Tensor, D};
use candle_nn::{embedding, layer_norm_no_bias, linear_no_bias, Embedding, LayerNorm, Linear, VarBuilder};

use super::attention::{Attend, Implementation, Span};
use super::encoder_layer::{self as el, Gated, Heads, PreNorm, PreNormLayer};
use super::hf_config::ConfigJson;
use super::packing::Packing;
use super::profile::phase;
use super::rope::Rope;
use super::AttentionChoice;

#[derive(Debug, Clone, PartialEq)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    layer_norm_eps: f64,
    global_attn_every_n_layers: usize,
    global_rope_theta: f64,
    local_attention: usize,
    local_rope_theta: f64,
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
        layer_norm_eps: c.f64_or("norm_eps", 1e-5)?,
        global_attn_every_n_layers: every,
        global_rope_theta: c.rope_theta("global_rope_theta", Some("full_attention"), 160_000.0)?,
        local_attention: c.usize_or("local_attention", Some(128))?,
        local_rope_theta: c.rope_theta("local_rope_theta", Some("sliding_attention"), 10_000.0)?,
    })
}

struct Layer {
    /// None in layer 0, as transformers' `nn.Identity`.
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    attn_wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_wo: Linear,
    local: bool,
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config, i: usize) -> candle_core::Result<Layer> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        Ok(Layer {
            attn_norm: if i == 0 { None } else { Some(layer_norm_no_bias(h, eps, vb.pp("attn_norm"))?) },
            wqkv: linear_no_bias(h, 3 * h, vb.pp("attn.Wqkv"))?,
            attn_wo: linear_no_bias(h, h, vb.pp("attn.Wo"))?,
            mlp_norm: layer_norm_no_bias(h, eps, vb.pp("mlp_norm"))?,
            wi: linear_no_bias(h, 2 * c.intermediate_size, vb.pp("mlp.Wi"))?,
            mlp_wo: linear_no_bias(c.intermediate_size, h, vb.pp("mlp.Wo"))?,
            local: !i.is_multiple_of(c.global_attn_every_n_layers),
        })
    }

    /// `x` [b, s, hidden] (padded) or [total, hidden] (packed); `rope` this layer's tables;
    /// `attend` the layout with this layer's padding and window (see [`Masks`]).
    fn forward(&self, x: &Tensor, heads: usize, rope: &Rope, attend: &Attend) -> candle_core::Result<Tensor> {
        let dev = x.device();
        let (q, k, v) = phase("q k v", dev, || {
            let normed = match &self.attn_norm {
                Some(n) => n.forward(x)?,
                None => x.clone(),
            };
            // [.., 3·hidden] → [.., 3, heads, d] → q, k, v arranged for attention.
            let qkv = attend.split(&self.wqkv.forward(&normed)?, 3 * heads)?;
            let part = |i: usize| attend.arrange(qkv.narrow(qkv.rank() - 2, i * heads, heads)?);
            Ok((rope.apply(&part(0)?)?, rope.apply(&part(1)?)?, part(2)?))
        })?;
        let ctx = phase("attention", dev, || attend.attend(&q, &k, &v))?;
        let x = phase("attention output", dev, || x + self.attn_wo.forward(&ctx)?)?;
        phase("feed-forward", dev, || {
            let ag = self.wi.forward(&self.mlp_norm.forward(&x)?)?;
            let half = ag.dim(D::Minus1)? / 2;
            let mlp = (ag.narrow(D::Minus1, 0, half)?.gelu_erf()? * ag.narrow(D::Minus1, half, half)?)?;
            x.add(&self.mlp_wo.forward(&mlp)?)
        })
    }
}

pub struct ModernBert {
    model: el::Path<FastModernBert, CandleModernBert>,
    /// How attention runs (`encoder.attention` in the results).
    pub attention: &'static str,
    pub hidden_size: usize,
}

impl ModernBert {
    pub fn load(vb: VarBuilder, config_json: &str, attention: AttentionChoice) -> Result<ModernBert, String> {
        let c = config(config_json)?;
        let vb = if vb.contains_tensor("model.embeddings.tok_embeddings.weight") { vb.pp("model") } else { vb };
        let model = el::choose(
            &vb,
            attention,
            || FastModernBert::load(&vb, &c),
            || CandleModernBert::load(vb.clone(), &c, attention),
        )?;
        let attention = match &model {
            el::Path::Fast(_) => super::attention::FAST_PATH,
            el::Path::Candle(m) => m.attention,
        };
        Ok(ModernBert { model, attention, hidden_size: c.hidden_size })
    }

    /// Token states [batch, seq, hidden] after the final norm, for right-padded `ids` with `mask`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            el::Path::Fast(m) => m.forward(ids, mask),
            el::Path::Candle(m) => m.forward(ids, mask),
        }
    }
}

/// ModernBERT in plain f32 on the CPU: embeddings and their norm, the shared pre-norm layers
/// (rotary tables 0 global, 1 local), the final norm.
struct FastModernBert {
    embed: el::Values,
    embed_norm: el::Norm,
    layers: Vec<PreNormLayer>,
    final_norm: el::Norm,
    global_freq: Vec<f32>,
    local_freq: Vec<f32>,
    heads: Heads,
    hidden: usize,
}

impl FastModernBert {
    fn load(vb: &VarBuilder, c: &Config) -> candle_core::Result<FastModernBert> {
        let (h, i, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let heads = c.num_attention_heads;
        let d = h / heads;
        if d * heads != h || !d.is_multiple_of(2) {
            candle_core::bail!("not a fast-path configuration");
        }
        // LayerNorm without bias: zeros (adding 0 changes no value).
        let norm = |vb: VarBuilder| {
            Ok::<_, candle_core::Error>(el::Norm::new(el::read(&vb, "weight", &[h])?, vec![0.0; h], eps))
        };
        let layers = (0..c.num_hidden_layers)
            .map(|n| {
                let l = vb.pp(format!("layers.{n}"));
                let local = n % c.global_attn_every_n_layers != 0;
                Ok(PreNormLayer {
                    attn_norm: if n == 0 { None } else { Some(PreNorm::Layer(norm(l.pp("attn_norm"))?)) },
                    qkv: el::Linear::load_parts([(&l.pp("attn.Wqkv"), 3 * h)], h, false)?,
                    qkv_bias: false,
                    qk_norms: None,
                    rope: usize::from(local),
                    span: if local { Span::Window(c.local_attention / 2) } else { Span::All },
                    attn_out: el::Linear::load_parts([(&l.pp("attn.Wo"), h)], h, false)?,
                    mlp_norm: PreNorm::Layer(norm(l.pp("mlp_norm"))?),
                    gate_up: el::Linear::load_parts([(&l.pp("mlp.Wi"), 2 * i)], h, false)?,
                    act: Gated::Gelu,
                    down: el::Linear::load_parts([(&l.pp("mlp.Wo"), h)], i, false)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(FastModernBert {
            embed: el::Values::read(&vb.pp("embeddings.tok_embeddings"), "weight", &[c.vocab_size, h])?,
            embed_norm: norm(vb.pp("embeddings.norm"))?,
            layers,
            final_norm: norm(vb.pp("final_norm"))?,
            global_freq: super::rope::inverse_frequencies(c.global_rope_theta, d),
            local_freq: super::rope::inverse_frequencies(c.local_rope_theta, d),
            heads: Heads { q: heads, kv: heads, d, span: Span::All },
            hidden: h,
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.hidden;
        let batch = el::Batch::new(ids, mask)?;
        let mut x = el::embed(&self.embed, &batch, h)?;
        self.embed_norm.apply(&mut x);
        let ropes = [&self.global_freq, &self.local_freq].map(|f| el::RopeTables::new(f, batch.seq_len));
        el::forward_pre_norm(&self.layers, self.heads, &ropes, &mut x, &batch.lens);
        self.final_norm.apply(&mut x);
        batch.unpack(&x, h)
    }
}

/// ModernBERT as a candle graph, for every dtype and device.
struct CandleModernBert {
    tok_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    heads: usize,
    /// Inverse RoPE frequencies of global and local layers.
    global_freq: Vec<f32>,
    local_freq: Vec<f32>,
    half_window: usize,
    device: Device,
    implementation: Implementation,
    attention: &'static str,
}

impl CandleModernBert {
    fn load(vb: VarBuilder, c: &Config, attention: AttentionChoice) -> candle_core::Result<CandleModernBert> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let head_dim = h / c.num_attention_heads;
        let implementation = super::attention::resolve(attention, vb.dtype(), vb.device(), head_dim);
        Ok(CandleModernBert {
            tok_embeddings: embedding(c.vocab_size, h, vb.pp("embeddings.tok_embeddings"))?,
            embeddings_norm: layer_norm_no_bias(h, eps, vb.pp("embeddings.norm"))?,
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::load(vb.pp(format!("layers.{i}")), c, i))
                .collect::<candle_core::Result<_>>()?,
            final_norm: layer_norm_no_bias(h, eps, vb.pp("final_norm"))?,
            heads: c.num_attention_heads,
            global_freq: super::rope::inverse_frequencies(c.global_rope_theta, head_dim),
            local_freq: super::rope::inverse_frequencies(c.local_rope_theta, head_dim),
            half_window: c.local_attention / 2,
            device: vb.device().clone(),
            implementation,
            attention: super::attention::describe(implementation, vb.dtype(), vb.device(), head_dim),
        })
    }

    /// Token states [batch, seq, hidden] after the final norm, for right-padded `ids` with `mask`
    /// (1 = token). Eager: padding keys get the dtype's lowest finite value (as transformers'
    /// padding mask), keys outside a local layer's window −∞ (every row keeps its own position,
    /// so no row is all −∞); varlen: no padding, the window as flash-attention's.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let s = ids.dim(1)?;
        let window = Span::Window(self.half_window);
        let dtype = self.tok_embeddings.embeddings().dtype();
        let plan = match self.implementation {
            Implementation::Varlen => Plan::Packed(Packing::new(mask)?),
            Implementation::Eager => {
                let scores = super::attention::score_dtype(dtype, &self.device);
                let padding = super::attention::padding_bias(mask, scores)?;
                let local = padding.broadcast_add(&super::attention::span_bias(window, s, scores, &self.device)?)?;
                Plan::Padded { padding, local }
            }
        };
        let packing = match &plan {
            Plan::Packed(p) => Some(p),
            Plan::Padded { .. } => None,
        };
        let ids = match packing {
            Some(p) => p.pack(ids)?,
            None => ids.clone(),
        };
        let mut x = self.embeddings_norm.forward(&self.tok_embeddings.forward(&ids)?)?;
        let global = Rope::new(&self.global_freq, s, packing, dtype, &self.device)?;
        let local = Rope::new(&self.local_freq, s, packing, dtype, &self.device)?;
        for layer in &self.layers {
            let attend = match &plan {
                Plan::Packed(p) => Attend::Packed(p, if layer.local { window } else { Span::All }),
                Plan::Padded { padding, local } => Attend::Padded(if layer.local { local } else { padding }),
            };
            x = layer.forward(&x, self.heads, if layer.local { &local } else { &global }, &attend)?;
        }
        let x = self.final_norm.forward(&x)?;
        match packing {
            Some(p) => p.unpack(&x),
            None => Ok(x),
        }
    }
}

/// A forward pass's attention layout: packed tokens, or padded ones with the additive biases of
/// global layers (padding) and local ones (padding and window), in the scores' dtype.
enum Plan {
    Packed(Packing),
    Padded { padding: Tensor, local: Tensor },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::encoder_layer::testing;

    /// The fast path equals the candle graph on random weights: global and windowed local
    /// layers (a window of 2 on either side, so sequences longer than 5 are cut), layer 0
    /// without attn_norm, sequences of mixed lengths.
    #[test]
    fn fast_path_equals_candle_modernbert() {
        let (v, h, i) = (50, 32, 48);
        let c = config(&format!(
            r#"{{"vocab_size": {v}, "hidden_size": {h}, "num_attention_heads": 4, "intermediate_size": {i},
                "num_hidden_layers": 3, "global_attn_every_n_layers": 2, "local_attention": 4,
                "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "norm_eps": 1e-5}}"#
        ))
        .unwrap();
        let mut names = vec![
            ("embeddings.tok_embeddings.weight".to_string(), vec![v, h]),
            ("embeddings.norm.weight".into(), vec![h]),
            ("final_norm.weight".into(), vec![h]),
        ];
        for l in 0..3 {
            let mut add = |name: &str, shape: Vec<usize>| names.push((format!("layers.{l}.{name}.weight"), shape));
            if l > 0 {
                add("attn_norm", vec![h]);
            }
            add("attn.Wqkv", vec![3 * h, h]);
            add("attn.Wo", vec![h, h]);
            add("mlp_norm", vec![h]);
            add("mlp.Wi", vec![2 * i, h]);
            add("mlp.Wo", vec![h, i]);
        }
        let vb = testing::weights(&names);
        let fast = FastModernBert::load(&vb, &c).unwrap();
        let candle = CandleModernBert::load(vb, &c, AttentionChoice::Eager).unwrap();
        let lens = [17, 5, 1, 12];
        let (ids, _, mask) = testing::batch(&lens, v as u32, 0);
        let want = candle.forward(&ids, &mask).unwrap();
        let got = fast.forward(&ids, &mask).unwrap();
        let diff = testing::max_diff(&got, &want, &lens);
        assert!(diff < 2e-5, "max |fast − candle| = {diff:e}");
    }

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
