//! Qwen3 decoders used as encoders (Qwen3-Embedding), after transformers' `modeling_qwen3.py`.
//! Pooling is the caller's: Qwen3-Embedding pools the last token (`<|endoftext|>`, which its
//! tokenizer appends) and normalises.
//!
//! An own implementation, not candle-transformers' `qwen3`: that one is built for generation —
//! `forward(&mut self)` with a KV cache that grows across calls, weight names under `model.`
//! (sentence-transformers saves `Qwen3Model` without it) — and takes no padding into account.
//! Names here mirror the checkpoint (`embed_tokens`, `layers.N.self_attn.{q,k,v,o}_proj`,
//! `{q,k}_norm`, `mlp.{gate,up,down}_proj`, `input_layernorm`, `post_attention_layernorm`, `norm`).
//!
//! Padding: sentence-transformers pads Qwen3-Embedding on the **left**; the encoder pads every
//! model on the right. The vectors are the same: attention is causal, so a real token never sees
//! the padding after it, and RoPE makes the score of two tokens depend only on the distance
//! between them — transformers numbers positions 0..len over the padded row (left padding shifts
//! every real token by the same amount), here they start at 0 at the first real token. With right
//! padding the last real token sits at `mask.sum() - 1`, which is where last-token pooling reads.
//! tests/tiny_models.rs compares against sentence-transformers' left-padded batches of mixed lengths.
//!
//! Per layer: x + o(attn(q_norm(q(rms(x))), k_norm(k(rms(x))), v(rms(x)))) with RoPE on q and k,
//! grouped-query attention (`num_key_value_heads` ≤ `num_attention_heads`), scale head_dim^-½,
//! then x + down(silu(gate(rms(x))) · up(rms(x))). Sliding-window layers and RoPE scaling are refused.
//!
//! f32 weights on the CPU run the fast forward of [`super::encoder_layer`] (packed tokens, one
//! QKV and one gate|up product, norms, RoPE and SiLU fused); any other dtype or device, or an
//! explicit `--attention`, runs the candle graph below.

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, linear_b, linear_no_bias, rms_norm, Embedding, Linear, RmsNorm, VarBuilder};

use super::attention::{span_bias, Attend, Implementation, Span};
use super::encoder_layer::{self as el, Gated, Heads, PreNorm, PreNormLayer};
use super::hf_config::ConfigJson;
use super::packing::Packing;
use super::profile::phase;
use super::rope::Rope;
use super::AttentionChoice;

#[derive(Debug)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: usize,
    head_dim: usize,
    attention_bias: bool,
    rms_norm_eps: f64,
    rope_theta: f64,
}

fn config(config_json: &str) -> Result<Config, String> {
    let c = ConfigJson::parse(config_json)?;
    let act = c.str_or("hidden_act", "silu")?;
    if act != "silu" {
        return Err(format!("config.json: hidden_act '{act}' is not supported (silu only)"));
    }
    let sliding = c.layer_types()?.is_some_and(|t| t.iter().any(|t| t != "full_attention"));
    if c.bool_or("use_sliding_window", false)? || sliding {
        return Err("config.json: sliding-window attention is not supported".into());
    }
    let heads = c.usize("num_attention_heads")?;
    let kv_heads = c.usize_or("num_key_value_heads", Some(heads))?;
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err("config.json: num_attention_heads must be a multiple of num_key_value_heads".into());
    }
    Ok(Config {
        vocab_size: c.usize("vocab_size")?,
        hidden_size: c.usize("hidden_size")?,
        intermediate_size: c.usize("intermediate_size")?,
        num_hidden_layers: c.usize("num_hidden_layers")?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim: c.usize_or("head_dim", Some(128))?,
        attention_bias: c.bool_or("attention_bias", false)?,
        rms_norm_eps: c.f64_or("rms_norm_eps", 1e-6)?,
        rope_theta: c.rope_theta("rope_theta", None, 10_000.0)?,
    })
}

struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    heads: usize,
    kv_heads: usize,
}

impl Attention {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        let (h, d) = (c.hidden_size, c.head_dim);
        Ok(Attention {
            q_proj: linear_b(h, c.num_attention_heads * d, c.attention_bias, vb.pp("q_proj"))?,
            k_proj: linear_b(h, c.num_key_value_heads * d, c.attention_bias, vb.pp("k_proj"))?,
            v_proj: linear_b(h, c.num_key_value_heads * d, c.attention_bias, vb.pp("v_proj"))?,
            o_proj: linear_b(c.num_attention_heads * d, h, c.attention_bias, vb.pp("o_proj"))?,
            q_norm: rms_norm(d, c.rms_norm_eps, vb.pp("q_norm"))?,
            k_norm: rms_norm(d, c.rms_norm_eps, vb.pp("k_norm"))?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
        })
    }

    /// `x` [b, s, hidden] (padded) or [total, hidden] (packed); `attend` causal.
    fn forward(&self, x: &Tensor, rope: &Rope, attend: &Attend) -> candle_core::Result<Tensor> {
        let dev = x.device();
        let (q, k, v) = phase("q k v", dev, || {
            // [.., heads, d] → per-head RMSNorm → arranged for attention, as transformers orders them.
            let normed =
                |l: &Linear, n: usize, norm: &RmsNorm| attend.arrange(norm.forward(&attend.split(&l.forward(x)?, n)?)?);
            let q = normed(&self.q_proj, self.heads, &self.q_norm)?;
            let k = normed(&self.k_proj, self.kv_heads, &self.k_norm)?;
            Ok((rope.apply(&q)?, rope.apply(&k)?, attend.heads(&self.v_proj.forward(x)?, self.kv_heads)?))
        })?;
        let ctx = phase("attention", dev, || attend.attend(&q, &k, &v))?;
        phase("attention output", dev, || self.o_proj.forward(&ctx))
    }
}

struct Layer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let mlp = vb.pp("mlp");
        Ok(Layer {
            input_layernorm: rms_norm(h, c.rms_norm_eps, vb.pp("input_layernorm"))?,
            self_attn: Attention::load(vb.pp("self_attn"), c)?,
            post_attention_layernorm: rms_norm(h, c.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
            gate_proj: linear_no_bias(h, i, mlp.pp("gate_proj"))?,
            up_proj: linear_no_bias(h, i, mlp.pp("up_proj"))?,
            down_proj: linear_no_bias(i, h, mlp.pp("down_proj"))?,
        })
    }

    fn forward(&self, x: &Tensor, rope: &Rope, attend: &Attend) -> candle_core::Result<Tensor> {
        let normed = phase("norms", x.device(), || self.input_layernorm.forward(x))?;
        let x = (x + self.self_attn.forward(&normed, rope, attend)?)?;
        phase("feed-forward", x.device(), || {
            let h = self.post_attention_layernorm.forward(&x)?;
            let mlp = self.down_proj.forward(&(self.gate_proj.forward(&h)?.silu()? * self.up_proj.forward(&h)?)?)?;
            x.add(&mlp)
        })
    }
}

pub struct Qwen3 {
    model: el::Path<FastQwen3, CandleQwen3>,
    /// How attention runs (`encoder.attention` in the results).
    pub attention: &'static str,
    pub hidden_size: usize,
}

impl Qwen3 {
    pub fn load(vb: VarBuilder, config_json: &str, attention: AttentionChoice) -> Result<Qwen3, String> {
        let c = config(config_json)?;
        // Saved as Qwen3Model (sentence-transformers) or as Qwen3ForCausalLM (`model.` prefix).
        let vb = if vb.contains_tensor("model.embed_tokens.weight") { vb.pp("model") } else { vb };
        let model =
            el::choose(&vb, attention, || FastQwen3::load(&vb, &c), || CandleQwen3::load(vb.clone(), &c, attention))?;
        let attention = match &model {
            el::Path::Fast(_) => super::attention::FAST_PATH,
            el::Path::Candle(m) => m.attention,
        };
        Ok(Qwen3 { model, attention, hidden_size: c.hidden_size })
    }

    /// Token states [batch, seq, hidden] after the final norm, for right-padded `ids`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            el::Path::Fast(m) => m.forward(ids, mask),
            el::Path::Candle(m) => m.forward(ids, mask),
        }
    }
}

/// Qwen3 in plain f32 on the CPU: embeddings, the shared decoder layers, the final RMSNorm.
struct FastQwen3 {
    embed: el::Values,
    layers: Vec<PreNormLayer>,
    norm: el::RmsNorm,
    inv_freq: Vec<f32>,
    heads: Heads,
    hidden: usize,
}

impl FastQwen3 {
    fn load(vb: &VarBuilder, c: &Config) -> candle_core::Result<FastQwen3> {
        let (h, i, d) = (c.hidden_size, c.intermediate_size, c.head_dim);
        let (q, kv) = (c.num_attention_heads, c.num_key_value_heads);
        if d % 2 != 0 {
            candle_core::bail!("not a fast-path configuration");
        }
        let layers = (0..c.num_hidden_layers)
            .map(|n| {
                let l = vb.pp(format!("layers.{n}"));
                let (att, mlp) = (l.pp("self_attn"), l.pp("mlp"));
                let eps = c.rms_norm_eps;
                let bias = c.attention_bias;
                let [qp, kp, vp, op] = ["q_proj", "k_proj", "v_proj", "o_proj"].map(|n| att.pp(n));
                let [gate, up, down] = ["gate_proj", "up_proj", "down_proj"].map(|n| mlp.pp(n));
                let norms =
                    (el::RmsNorm::load(&att.pp("q_norm"), d, eps)?, el::RmsNorm::load(&att.pp("k_norm"), d, eps)?);
                Ok(PreNormLayer {
                    attn_norm: Some(PreNorm::Rms(el::RmsNorm::load(&l.pp("input_layernorm"), h, eps)?)),
                    qkv: el::Linear::load_parts([(&qp, q * d), (&kp, kv * d), (&vp, kv * d)], h, bias)?,
                    qkv_bias: bias,
                    qk_norms: Some(norms),
                    rope: 0,
                    span: Span::Causal,
                    attn_out: el::Linear::load_parts([(&op, h)], q * d, bias)?,
                    mlp_norm: PreNorm::Rms(el::RmsNorm::load(&l.pp("post_attention_layernorm"), h, eps)?),
                    gate_up: el::Linear::load_parts([(&gate, i), (&up, i)], h, false)?,
                    act: Gated::Silu,
                    down: el::Linear::load_parts([(&down, h)], i, false)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(FastQwen3 {
            embed: el::Values::read(&vb.pp("embed_tokens"), "weight", &[c.vocab_size, h])?,
            layers,
            norm: el::RmsNorm::load(&vb.pp("norm"), h, c.rms_norm_eps)?,
            inv_freq: super::rope::inverse_frequencies(c.rope_theta, d),
            heads: Heads { q, kv, d, span: Span::Causal },
            hidden: h,
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.hidden;
        let batch = el::Batch::new(ids, mask)?;
        let mut x = el::embed(&self.embed, &batch, h)?;
        let rope = el::RopeTables::new(&self.inv_freq, batch.seq_len);
        el::forward_pre_norm(&self.layers, self.heads, &[rope], &mut x, &batch.lens);
        self.norm.apply(&mut x);
        batch.unpack(&x, h)
    }
}

/// Qwen3 as a candle graph, for every dtype and device.
struct CandleQwen3 {
    embed_tokens: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    /// RoPE inverse frequencies, θ^(-2i/head_dim), in f32 as transformers computes them.
    inv_freq: Vec<f32>,
    device: Device,
    implementation: Implementation,
    attention: &'static str,
}

impl CandleQwen3 {
    fn load(vb: VarBuilder, c: &Config, attention: AttentionChoice) -> candle_core::Result<CandleQwen3> {
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("layers.{i}")), c))
            .collect::<candle_core::Result<_>>()?;
        let inv_freq = super::rope::inverse_frequencies(c.rope_theta, c.head_dim);
        let implementation = super::attention::resolve(attention, vb.dtype(), vb.device(), c.head_dim);
        Ok(CandleQwen3 {
            embed_tokens: embedding(c.vocab_size, c.hidden_size, vb.pp("embed_tokens"))?,
            layers,
            norm: rms_norm(c.hidden_size, c.rms_norm_eps, vb.pp("norm"))?,
            inv_freq,
            device: vb.device().clone(),
            implementation,
            attention: super::attention::describe(implementation, vb.dtype(), vb.device(), c.head_dim),
        })
    }

    /// Token states [batch, seq, hidden] after the final norm, for right-padded `ids`. Eager
    /// needs no padding mask: with causal attention and right padding no real token attends to
    /// padding. Varlen packs the tokens by `mask`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let s = ids.dim(1)?;
        let dtype = self.embed_tokens.embeddings().dtype();
        let dev = &self.device;
        let packing = match self.implementation {
            Implementation::Varlen => Some(Packing::new(mask)?),
            Implementation::Eager => None,
        };
        let causal;
        let attend = match &packing {
            Some(p) => Attend::Packed(p, Span::Causal),
            // The causal mask in the attention scores' dtype.
            None => {
                causal = span_bias(Span::Causal, s, super::attention::score_dtype(dtype, dev), dev)?;
                Attend::Padded(&causal)
            }
        };
        let ids = match &packing {
            Some(p) => p.pack(ids)?,
            None => ids.clone(),
        };
        let mut x = self.embed_tokens.forward(&ids)?;
        // Rotary tables in the model's dtype (computed in f32 first).
        let rope = Rope::new(&self.inv_freq, s, packing.as_ref(), dtype, dev)?;
        for layer in &self.layers {
            x = layer.forward(&x, &rope, &attend)?;
        }
        let x = self.norm.forward(&x)?;
        match &packing {
            Some(p) => p.unpack(&x),
            None => Ok(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::encoder_layer::testing;

    /// The fast path equals the candle graph on random weights: grouped-query heads, causal
    /// attention, per-head norms and RoPE over sequences of mixed lengths, with and without
    /// attention biases, and with heads × head_dim wider than hidden_size as in
    /// Qwen3-Embedding-4B (32 × 128 = 4096 from 2560; 0.6B and 8B have them equal).
    #[test]
    fn fast_path_equals_candle_qwen3() {
        let (v, i, q, kv) = (50, 48, 4, 2);
        for (h, d, bias) in [(32, 8, false), (32, 8, true), (24, 16, false)] {
            let c = config(&format!(
                r#"{{"vocab_size": {v}, "hidden_size": {h}, "intermediate_size": {i}, "num_hidden_layers": 2,
                    "num_attention_heads": {q}, "num_key_value_heads": {kv}, "head_dim": {d},
                    "attention_bias": {bias}, "rope_theta": 10000.0, "rms_norm_eps": 1e-6}}"#
            ))
            .unwrap();
            let mut names = vec![("embed_tokens.weight".to_string(), vec![v, h]), ("norm.weight".into(), vec![h])];
            for l in 0..2 {
                let at = format!("layers.{l}");
                let mut dense = |name: String, n_out: usize, n_in: usize, b: bool| {
                    names.push((format!("{at}.{name}.weight"), vec![n_out, n_in]));
                    if b {
                        names.push((format!("{at}.{name}.bias"), vec![n_out]));
                    }
                };
                for (n, out) in [("q_proj", q * d), ("k_proj", kv * d), ("v_proj", kv * d)] {
                    dense(format!("self_attn.{n}"), out, h, bias);
                }
                dense("self_attn.o_proj".into(), h, q * d, bias);
                dense("mlp.gate_proj".into(), i, h, false);
                dense("mlp.up_proj".into(), i, h, false);
                dense("mlp.down_proj".into(), h, i, false);
                for (n, size) in [
                    ("input_layernorm", h),
                    ("post_attention_layernorm", h),
                    ("self_attn.q_norm", d),
                    ("self_attn.k_norm", d),
                ] {
                    names.push((format!("{at}.{n}.weight"), vec![size]));
                }
            }
            let vb = testing::weights(&names);
            let fast = FastQwen3::load(&vb, &c).unwrap();
            let candle = CandleQwen3::load(vb, &c, AttentionChoice::Eager).unwrap();
            let lens = [17, 5, 1, 12];
            let (ids, _, mask) = testing::batch(&lens, v as u32, 0);
            let want = candle.forward(&ids, &mask).unwrap();
            let got = fast.forward(&ids, &mask).unwrap();
            let diff = testing::max_diff(&got, &want, &lens);
            assert!(diff < 2e-5, "hidden {h}, head_dim {d}, bias {bias}: max |fast − candle| = {diff:e}");
        }
    }

    #[test]
    fn configs_from_transformers_4_and_5() {
        let base = r#""vocab_size": 10, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8"#;
        let v4 = super::config(&format!(r#"{{{base}, "rope_theta": 1000000.0, "sliding_window": null}}"#)).unwrap();
        let v5 = super::config(&format!(
            r#"{{{base}, "rope_parameters": {{"rope_theta": 1000000.0, "rope_type": "default"}},
                "layer_types": ["full_attention", "full_attention"]}}"#
        ))
        .unwrap();
        assert_eq!((v4.rope_theta, v4.num_key_value_heads), (1e6, 2));
        assert_eq!((v5.rope_theta, v5.head_dim), (1e6, 8));
        let sliding = format!(r#"{{{base}, "use_sliding_window": true}}"#);
        assert!(super::config(&sliding).unwrap_err().contains("sliding"));
    }
}
