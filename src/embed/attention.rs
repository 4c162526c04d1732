//! Scaled dot-product attention as candle ops, for every candle-graph encoder (BERT, XLM-RoBERTa
//! and MPNet through [`super::graph_layer`], [`super::modernbert`], [`super::qwen3`]):
//! `softmax(q·kᵀ/√d + bias)·v`, with the work over the `b·heads·s²` scores kept to one matrix
//! product out, one bias add, one softmax and one matrix product in.
//!
//! - **Where the softmax sums.** PyTorch's attention kernels accumulate an f16/bf16 softmax in
//!   f32. candle's CUDA and Metal softmax kernels do too (candle-kernels `reduce.cu`:
//!   `SOFTMAX_OP(__nv_bfloat16, float, softmax_bf16)`), so on a GPU the scores stay in the
//!   model's dtype. candle's CPU softmax sums in the tensor's own dtype — a bf16 sum over
//!   hundreds of keys is what put candle's BERT at cosine 0.9955 to sentence-transformers' bf16
//!   vectors — so on the CPU the scores are upcast to f32 first ([`score_dtype`]).
//! - **The scale** multiplies `q` (`b·heads·s·d` values) rather than the scores (`b·heads·s²`).
//! - **Grouped-query attention** (Qwen3: fewer key/value heads than query heads) multiplies each
//!   key/value head with its group of query heads in one product, without copying k and v
//!   `heads / kv_heads` times.
//!
//! **Two layouts** ([`Attend`]): *eager* keeps the padded batch and the scores as a tensor
//! (`b·heads·s²` values written and read several times); *varlen* packs the real tokens
//! ([`super::packing`]) and, built with `--features flash-attn` on CUDA in f16/bf16, runs
//! flash-attention 2's variable-length kernel (candle-flash-attn): scores never leave the
//! chip, padding costs nothing. Without that kernel, varlen runs the eager ops on a re-padded
//! copy — slower, kept so the packed models are tested on every machine.

use candle_core::{DType, Device, Tensor};

use super::packing::Packing;
use super::AttentionChoice;

/// Which keys a query sees within its own sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    All,
    /// Itself and the keys before it (decoders: Qwen3).
    Causal,
    /// Keys at most this many positions away on either side (ModernBERT's local layers).
    Window(usize),
}

/// What an encoder's candle graph runs, resolved once at load ([`resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    Eager,
    Varlen,
}

/// Whether flash-attention's kernel runs heads of width `head_dim` in `dtype` on `device`: a
/// `--features flash-attn` build, a CUDA device, f16 or bf16, a width that is a multiple of 8
/// up to 256 (the kernels candle-flash-attn builds).
pub fn flash_runs(dtype: DType, device: &Device, head_dim: usize) -> bool {
    cfg!(feature = "flash-attn")
        && device.is_cuda()
        && matches!(dtype, DType::F16 | DType::BF16)
        && head_dim.is_multiple_of(8)
        && head_dim <= 256
}

/// `--attention`: `auto` is varlen exactly where flash-attention runs.
pub fn resolve(choice: AttentionChoice, dtype: DType, device: &Device, head_dim: usize) -> Implementation {
    match choice {
        AttentionChoice::Eager => Implementation::Eager,
        AttentionChoice::Varlen => Implementation::Varlen,
        AttentionChoice::Auto if flash_runs(dtype, device, head_dim) => Implementation::Varlen,
        AttentionChoice::Auto => Implementation::Eager,
    }
}

/// [`describe`] of flash-attention: the scores never exist as a tensor.
pub const FLASH: &str = "varlen (flash-attn 2)";

/// [`describe`]-style name of BERT's and MPNet's f32 CPU fast path, which attends its own way.
pub const FAST_PATH: &str = "packed f32 (CPU fast path)";

/// How a run's attention is reported (`encoder.attention` in the results).
pub fn describe(implementation: Implementation, dtype: DType, device: &Device, head_dim: usize) -> &'static str {
    match implementation {
        Implementation::Eager => "eager",
        Implementation::Varlen if flash_runs(dtype, device, head_dim) => FLASH,
        Implementation::Varlen => "varlen (candle ops)",
    }
}

/// One forward pass's attention layout, shared by its layers.
pub enum Attend<'a> {
    /// Padded `[b, s, …]` activations; the complete additive bias, broadcastable to
    /// `[b, heads, s, s]`, in [`score_dtype`].
    Padded(&'a Tensor),
    /// Packed `[total, …]` activations and which keys each query sees.
    Packed(&'a Packing, Span),
}

impl Attend<'_> {
    /// A projection `[b, s, n·d]` / `[total, n·d]` → `[b, s, n, d]` / `[total, n, d]`.
    pub fn split(&self, t: &Tensor, n: usize) -> candle_core::Result<Tensor> {
        let mut dims = t.dims().to_vec();
        let width = dims.pop().unwrap_or(0);
        dims.extend([n, width / n.max(1)]);
        t.reshape(dims)
    }

    /// Split heads → what [`Attend::attend`] takes, contiguous: `[b, n, s, d]` (eager) or
    /// `[total, n, d]` (varlen).
    pub fn arrange(&self, t: Tensor) -> candle_core::Result<Tensor> {
        match self {
            Attend::Padded(_) => t.transpose(1, 2)?.contiguous(),
            Attend::Packed(..) => t.contiguous(),
        }
    }

    /// [`Attend::arrange`] of [`Attend::split`].
    pub fn heads(&self, t: &Tensor, n: usize) -> candle_core::Result<Tensor> {
        self.arrange(self.split(t, n)?)
    }

    /// Attention over arranged `q` (`heads`) and `k`, `v` (`kv_heads`, dividing `heads`), scaled
    /// by d^-½; the heads merged back: `[b, s, heads·d]` / `[total, heads·d]`.
    pub fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Attend::Padded(bias) => {
                let (b, heads, s, d) = q.dims4()?;
                attention(q, k, v, &[bias])?.transpose(1, 2)?.reshape((b, s, heads * d))
            }
            Attend::Packed(p, span) => {
                let (total, heads, d) = q.dims3()?;
                varlen(q, k, v, p, *span)?.reshape((total, heads * d))
            }
        }
    }
}

/// The additive bias `[s, s]` in `dtype` that hides from query `i` the keys outside `span`
/// (−∞: every query keeps at least itself; zeros for [`Span::All`]).
pub fn span_bias(span: Span, s: usize, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
    let hidden = |i: usize, j: usize| match span {
        Span::All => false,
        Span::Causal => j > i,
        Span::Window(w) => i.abs_diff(j) > w,
    };
    let bias: Vec<f32> =
        (0..s).flat_map(|i| (0..s).map(move |j| if hidden(i, j) { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(bias, (s, s), device)?.to_dtype(dtype)
}

/// Attention over packed `q` `[total, heads, d]`, `k`, `v` `[total, kv_heads, d]` → `[total,
/// heads, d]`: flash-attention's varlen kernel where [`flash_runs`], else [`attention`] over a
/// re-padded copy with the padding and `span` biases (made once per batch, [`Packing::bias`]).
pub fn varlen(q: &Tensor, k: &Tensor, v: &Tensor, p: &Packing, span: Span) -> candle_core::Result<Tensor> {
    let d = q.dim(2)?;
    if flash_runs(q.dtype(), q.device(), d) {
        return flash(q, k, v, p, span);
    }
    let scores = score_dtype(q.dtype(), q.device());
    let bias = p.bias(span, scores, || {
        let padding = padding_bias(&p.mask, scores)?;
        match span {
            Span::All => Ok(padding),
            _ => padding.broadcast_add(&span_bias(span, p.seq_len, scores, q.device())?),
        }
    })?;
    let padded = |t: &Tensor| p.unpack(t)?.transpose(1, 2)?.contiguous();
    let ctx = attention(&padded(q)?, &padded(k)?, &padded(v)?, &[&bias])?;
    p.pack(&ctx.transpose(1, 2)?)
}

#[cfg(feature = "flash-attn")]
fn flash(q: &Tensor, k: &Tensor, v: &Tensor, p: &Packing, span: Span) -> candle_core::Result<Tensor> {
    // (left, right) window: None is unbounded; causal is (None, Some(0)).
    let (left, right) = match span {
        Span::All => (None, None),
        Span::Causal => (None, Some(0)),
        Span::Window(w) => (Some(w), Some(w)),
    };
    let scale = (q.dim(2)? as f32).powf(-0.5);
    let (cu, n) = (&p.cu_seqlens, p.max_len);
    candle_flash_attn::flash_attn_varlen_windowed(q, k, v, cu, cu, n, n, scale, left, right)
}

#[cfg(not(feature = "flash-attn"))]
fn flash(_: &Tensor, _: &Tensor, _: &Tensor, _: &Packing, _: Span) -> candle_core::Result<Tensor> {
    candle_core::bail!("built without the flash-attn feature")
}

/// The dtype attention scores are biased and normalised in: the model's on CUDA and Metal, f32
/// on the CPU (see the module doc). Biases are built in this dtype once per forward pass.
pub fn score_dtype(model: DType, device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        model
    }
}

/// The additive bias that masks a key: the dtype's lowest finite value, transformers'
/// `torch.finfo(dtype).min` (finite, so a padded query's row never becomes all −∞).
pub fn masked(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => f64::from(half::f16::MIN),
        DType::BF16 => f64::from(half::bf16::MIN),
        _ => f64::from(f32::MIN),
    }
}

/// `[b, s]` mask (1 = token) → the additive padding bias `[b, 1, 1, s]` in `dtype`: 0 on
/// tokens, [`masked`] on padding.
pub fn padding_bias(mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (b, s) = mask.dims2()?;
    let m = mask.to_dtype(DType::F32)?;
    ((m.ones_like()? - m)? * masked(dtype))?.reshape((b, 1, 1, s))?.to_dtype(dtype)
}

/// `softmax(q·kᵀ·d^-½ + Σ biases)·v` → `[b, heads, s, d]`, in `q`'s dtype. `q` is
/// `[b, heads, s, d]`, `k` and `v` `[b, kv_heads, s, d]` contiguous, with `kv_heads` dividing
/// `heads` (query head `i` reads key/value head `i / (heads / kv_heads)`, as transformers'
/// `repeat_kv`). Each bias broadcasts to `[b, heads, s, s]`; it is converted to
/// [`score_dtype`] if it is not already in it.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, biases: &[&Tensor]) -> candle_core::Result<Tensor> {
    attention_in(q, k, v, biases, score_dtype(q.dtype(), q.device()))
}

fn attention_in(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    biases: &[&Tensor],
    scores_in: DType,
) -> candle_core::Result<Tensor> {
    let (b, heads, s, d) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let group = heads / kv_heads;
    // [b, kv_heads, group·s, d]: the query heads of one group stacked, a free reshape.
    let q = (q * (d as f64).powf(-0.5))?.reshape((b, kv_heads, group * s, d))?;
    let mut scores = q.matmul(&k.t()?)?.reshape((b, heads, s, s))?.to_dtype(scores_in)?;
    for bias in biases {
        scores = scores.broadcast_add(&bias.to_dtype(scores_in)?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
    probs.reshape((b, kv_heads, group * s, s))?.matmul(v)?.reshape((b, heads, s, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The textbook formula in f64, with k and v repeated per query head.
    fn reference(q: &[f32], k: &[f32], v: &[f32], dims: (usize, usize, usize, usize, usize), bias: &[f64]) -> Vec<f64> {
        let (b, h, kvh, s, d) = dims;
        let mut out = vec![0f64; b * h * s * d];
        for bi in 0..b {
            for hi in 0..h {
                let kh = hi / (h / kvh);
                for i in 0..s {
                    let qrow = &q[((bi * h + hi) * s + i) * d..][..d];
                    let scores: Vec<f64> = (0..s)
                        .map(|j| {
                            let krow = &k[((bi * kvh + kh) * s + j) * d..][..d];
                            let dot: f64 = qrow.iter().zip(krow).map(|(a, c)| f64::from(*a) * f64::from(*c)).sum();
                            dot / (d as f64).sqrt() + bias[(bi * s + i) * s + j]
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = exps.iter().sum();
                    for j in 0..s {
                        let vrow = &v[((bi * kvh + kh) * s + j) * d..][..d];
                        for (o, x) in out[((bi * h + hi) * s + i) * d..][..d].iter_mut().zip(vrow) {
                            *o += exps[j] / sum * f64::from(*x);
                        }
                    }
                }
            }
        }
        out
    }

    /// Grouped heads, padding and a causal mask, in f32 (scores f32) and in bf16 with the scores
    /// in f32 (the CPU's choice) and in bf16 (the GPU's choice, here on candle's CPU softmax).
    #[test]
    fn equals_the_formula_with_grouped_heads_padding_and_causal_masks() -> candle_core::Result<()> {
        let (b, h, kvh, s, d) = (2, 4, 2, 5, 8);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut random = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>();
        let (q, k, v) = (random(b * h * s * d), random(b * kvh * s * d), random(b * kvh * s * d));
        let lens = [5, 3];
        let mask: Vec<u32> = lens.iter().flat_map(|&l| (0..s).map(move |j| u32::from(j < l))).collect();
        let bias: Vec<f64> = (0..b)
            .flat_map(|bi| {
                (0..s).flat_map(move |i| (0..s).map(move |j| if j >= lens[bi] || j > i { -1e30 } else { 0.0 }))
            })
            .collect();
        let want = reference(&q, &k, &v, (b, h, kvh, s, d), &bias);
        let dev = Device::Cpu;
        let causal: Vec<f32> =
            (0..s).flat_map(|i| (0..s).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
        for (dtype, scores_in, tolerance) in
            [(DType::F32, DType::F32, 1e-6), (DType::BF16, DType::F32, 2e-2), (DType::BF16, DType::BF16, 3e-2)]
        {
            let t = |x: &[f32], heads| Tensor::from_slice(x, (b, heads, s, d), &dev)?.to_dtype(dtype);
            let padding = padding_bias(&Tensor::from_vec(mask.clone(), (b, s), &dev)?, scores_in)?;
            let causal = Tensor::from_slice(&causal, (s, s), &dev)?.to_dtype(scores_in)?;
            let got = attention_in(&t(&q, h)?, &t(&k, kvh)?, &t(&v, kvh)?, &[&padding, &causal], scores_in)?;
            assert_eq!(got.dtype(), dtype);
            let got = got.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
            assert!(worst < tolerance, "{dtype:?} with scores in {scores_in:?}: max |diff| {worst}");
        }
        Ok(())
    }

    #[test]
    fn scores_stay_in_f32_on_the_cpu_and_the_masked_value_is_finite() {
        assert_eq!(score_dtype(DType::BF16, &Device::Cpu), DType::F32);
        for dtype in [DType::F16, DType::BF16, DType::F32] {
            let t = Tensor::new(&[masked(dtype) as f32], &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
            let back = t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap()[0];
            assert!(back.is_finite() && back < -6e4, "{dtype:?}: {back}");
        }
    }
}
