//! The fast f32 CPU forward shared by the BERT-shaped encoders ([`super::bert`], [`super::mpnet`])
//! — post-LayerNorm transformer layers ([`Layer`]) — and the pre-norm layers of Qwen3 and
//! ModernBERT ([`PreNormLayer`], [`super::qwen3`], [`super::modernbert`]), on plain `f32` slices,
//! with the matrix products through the `gemm` crate (AVX-512/AVX2/NEON/simd128 kernels picked
//! at run time) and the element-wise work fused into few passes compiled for the CPU's SIMD
//! level through `pulp`.
//!
//! - **Packed tokens.** A batch is held as its real tokens only, sequence after sequence
//!   (`[tokens, hidden]`, no padding rows): the dense layers never touch padding, and attention
//!   runs per sequence over its real length, so padded keys are skipped instead of masked (their
//!   weight after torch's `f32::MIN` mask is exactly 0 anyway).
//! - **Fusions.** One `[hidden, 3·hidden]` QKV product; bias + exact (erf) GELU in one pass, with
//!   a rational erf within 4.2e-7 ([`erf`]); residual + bias folded into the output products'
//!   accumulators, then LayerNorm in place; softmax with a Cephes-style `exp`. Vectors stay
//!   within 4e-7 of sentence-transformers' (tests/st_models.rs).
//! - **Half-precision weights.** Under `--dtype bf16|f16` the weights stay in that format (half
//!   the memory) and each product widens them to f32 a block of columns at a time
//!   ([`Linear`]); embedding rows are widened as they are looked up. Activations are f32: the
//!   vectors are the f32 model's with its weights rounded.
//! - **Threads.** Natively (`cli`, rayon) the products use gemm's threads and the element-wise
//!   passes and per-sequence attention run on rayon; wasm runs the same code on one thread.
//!
//! MPNet's relative position bias is an optional per-head table added to the attention scores.
//! The pre-norm layers add grouped-query attention (each key/value head serves several query
//! heads), causal (Qwen3) or windowed (ModernBERT's local layers) spans, rotary positions (after
//! Qwen3's per-head RMSNorm of Q and K) in one pass over the QKV rows, and gated feed-forwards
//! (SiLU(gate) · up, GELU(input) · gate) in one pass.

use candle_core::Tensor;
use candle_nn::VarBuilder;

pub use super::attention::Span;
use std::f32::consts::FRAC_1_SQRT_2;

/// Which forward a model runs: the fast one of this module, or its candle graph.
pub enum Path<F, C> {
    Fast(Box<F>),
    Candle(Box<C>),
}

/// The fast forward on the CPU for f32 weights, and for bf16/f16 ones kept in that format and
/// widened for each product (activations f32); an explicit `--attention` asks for the candle
/// graph's. Whatever the fast path cannot read, or any other device, the candle graph reads or
/// explains.
pub fn choose<F, C>(
    vb: &VarBuilder,
    attention: super::AttentionChoice,
    fast: impl FnOnce() -> candle_core::Result<F>,
    candle: impl FnOnce() -> candle_core::Result<C>,
) -> Result<Path<F, C>, String> {
    use candle_core::DType;
    let wanted = matches!(vb.device(), candle_core::Device::Cpu)
        && matches!(vb.dtype(), DType::F32 | DType::BF16 | DType::F16)
        && attention == super::AttentionChoice::Auto;
    Ok(match wanted.then(fast) {
        Some(Ok(m)) => Path::Fast(Box::new(m)),
        // Out of memory on the fast path is out of memory on the other.
        Some(Err(e)) if e.to_string().starts_with(super::weights::NO_ROOM) => {
            return Err(super::encoder::weights_misfit(e))
        }
        _ => Path::Candle(Box::new(candle().map_err(super::encoder::weights_misfit)?)),
    })
}

/// The values of one checkpoint tensor — f32, or bf16/f16 under `--dtype bf16|f16` — left in the
/// tensor candle read them into, each use borrowing them: embedding tables are used where they
/// lie (a half-precision row widened to f32 when it is looked up) and the products' weights are
/// transposed from there into their own layout, with no copy in between (a copy of each tensor
/// first took a quarter of a 0.6B model's start-up).
pub struct Values {
    t: Tensor,
    len: usize,
}

impl Values {
    /// `t` on the CPU, row-major, as f32, bf16 or f16 values (other dtypes as f32); no copy when
    /// it already is, as the fast path's tensors are.
    pub fn new(t: Tensor) -> candle_core::Result<Values> {
        use candle_core::DType;
        let t = match t.dtype() {
            DType::F32 | DType::BF16 | DType::F16 => t,
            _ => t.to_dtype(DType::F32)?,
        };
        let t = t.to_device(&candle_core::Device::Cpu)?.flatten_all()?.contiguous()?;
        Ok(Values { len: t.elem_count(), t })
    }

    /// A tensor of `shape` under `vb`.
    pub fn read(vb: &VarBuilder, name: &str, shape: &[usize]) -> candle_core::Result<Values> {
        Values::new(vb.get(shape, name)?)
    }

    #[cfg(test)]
    fn from_vec(v: Vec<f32>) -> candle_core::Result<Values> {
        let len = v.len();
        Values::new(Tensor::from_vec(v, len, &candle_core::Device::Cpu)?)
    }

    /// Bytes the values take.
    fn bytes(&self) -> usize {
        self.len * self.t.dtype().size_in_bytes()
    }

    /// The values, borrowed from the tensor's storage for as long as the guard lives.
    pub fn get(&self) -> Borrowed<'_> {
        let (storage, layout) = self.t.storage_and_layout();
        Borrowed { storage, start: layout.start_offset(), len: self.len }
    }
}

pub struct Borrowed<'a> {
    storage: candle_core::StorageRef<'a>,
    start: usize,
    len: usize,
}

/// Values in one of the formats [`Values`] keeps.
#[derive(Clone, Copy)]
pub enum Slice<'a> {
    F32(&'a [f32]),
    Bf16(&'a [half::bf16]),
    F16(&'a [half::f16]),
}

impl<'a> Slice<'a> {
    /// Values `r` as f32: borrowed, or widened from half precision.
    fn f32s(self, r: std::ops::Range<usize>) -> std::borrow::Cow<'a, [f32]> {
        match self {
            Slice::F32(v) => v[r].into(),
            Slice::Bf16(v) => Widen::widen_vec(&v[r]).into(),
            Slice::F16(v) => Widen::widen_vec(&v[r]).into(),
        }
    }

    fn bf16(self) -> Option<&'a [half::bf16]> {
        if let Slice::Bf16(v) = self {
            Some(v)
        } else {
            None
        }
    }

    fn f16(self) -> Option<&'a [half::f16]> {
        if let Slice::F16(v) = self {
            Some(v)
        } else {
            None
        }
    }
}

impl Borrowed<'_> {
    pub fn slice(&self) -> Slice<'_> {
        use candle_core::{CpuStorage, Storage};
        let r = self.start..self.start + self.len;
        match &*self.storage {
            Storage::Cpu(CpuStorage::F32(v)) => Slice::F32(&v[r]),
            Storage::Cpu(CpuStorage::BF16(v)) => Slice::Bf16(&v[r]),
            Storage::Cpu(CpuStorage::F16(v)) => Slice::F16(&v[r]),
            _ => unreachable!("Values::new keeps f32, bf16 or f16 values on the CPU"),
        }
    }

    /// All the values as f32 (widened where they are half precision: for small tables).
    pub fn f32s(&self) -> std::borrow::Cow<'_, [f32]> {
        self.slice().f32s(0..self.len)
    }

    /// Row `id` of an embedding table with rows of `h` values, as f32.
    pub fn row(&self, id: u32, h: usize) -> candle_core::Result<std::borrow::Cow<'_, [f32]>> {
        let at = id as usize * h;
        if at + h > self.len {
            candle_core::bail!("token id {id} is outside the embedding table ({} rows)", self.len / h);
        }
        Ok(self.slice().f32s(at..at + h))
    }

    /// How many rows of `h` values the table has.
    pub fn rows(&self, h: usize) -> usize {
        self.len / h.max(1)
    }
}

/// A dense layer, `y = x·W + b`, with `W` stored `[in, out]` row-major (torch's transposed):
/// gemm would pack torch's layout again on every product (read through strides, a 0.6B model's
/// products took up to 15 % longer in a micro-benchmark of their shapes). Half-precision
/// weights (`--dtype bf16|f16` on the CPU) stay half precision, in blocks of columns that each
/// product widens to f32 one at a time ([`Stored`]): the weights take half the memory and the
/// arithmetic is the f32 path's.
pub struct Linear {
    w: Stored,
    b: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

/// A [`Linear`]'s weights: f32 `[in, out]`, or half-precision blocks of `block` columns, each
/// `[in, width]` row-major, one after another.
enum Stored {
    F32(Vec<f32>),
    Bf16(Vec<half::bf16>, usize),
    F16(Vec<half::f16>, usize),
}

/// Half-precision weights widened to f32 a block of columns at a time: this many values a
/// block (16 MiB of f32). Fewer, larger blocks pack each product's input fewer times; measured
/// from 2^18 to 2^23 on a Qwen3-0.6B-shaped model (2 cores), 2^22 was fastest on small batches
/// (8 questions: 0.77 s, 0.84 s at 2^20, 1.00 s at 2^18) and as fast as any on paragraphs.
const WIDENED_BLOCK: usize = 1 << 22;

impl Linear {
    /// Concatenates torch-layout (`[out, in]`) weights and their biases along `out`, transposed:
    /// one product for several projections of the same input (Q, K and V).
    fn new(parts: Vec<(Values, Vec<f32>)>, n_in: usize) -> candle_core::Result<Linear> {
        if let Some((w, b)) = parts.iter().find(|(w, b)| w.len != b.len() * n_in) {
            candle_core::bail!("a weight of {} values is not [{}, {n_in}]", w.len, b.len());
        }
        let n_out: usize = parts.iter().map(|(_, b)| b.len()).sum();
        let sources: Vec<_> = parts.iter().map(|(w, _)| w.get()).collect();
        let slices: Vec<Slice> = sources.iter().map(|s| s.slice()).collect();
        // Half precision when every part is in one half format (one VarBuilder's dtype).
        let block = (WIDENED_BLOCK / n_in.max(1)).clamp(16, n_out.max(16)) / 16 * 16;
        let w = if let Some(parts) = slices.iter().map(|s| s.bf16()).collect::<Option<Vec<_>>>() {
            Stored::Bf16(transpose(&parts, n_in, n_out, block), block)
        } else if let Some(parts) = slices.iter().map(|s| s.f16()).collect::<Option<Vec<_>>>() {
            Stored::F16(transpose(&parts, n_in, n_out, block), block)
        } else {
            let wide: Vec<_> = sources.iter().map(|s| s.f32s()).collect();
            Stored::F32(transpose(&wide.iter().map(|s| &s[..]).collect::<Vec<_>>(), n_in, n_out, n_out))
        };
        drop(slices);
        drop(sources);
        Ok(Linear { w, b: parts.into_iter().flat_map(|(_, b)| b).collect(), n_in, n_out })
    }

    /// [`Linear`] from torch-layout weights and biases given as values.
    #[cfg(test)]
    fn from_torch(parts: Vec<(Vec<f32>, Vec<f32>)>, n_in: usize) -> candle_core::Result<Linear> {
        let parts =
            parts.into_iter().map(|(w, b)| Ok((Values::from_vec(w)?, b))).collect::<candle_core::Result<_>>()?;
        Linear::new(parts, n_in)
    }

    /// Reads `weight` `[n_out, n_in]` and `bias` `[n_out]` under each of `vbs`, concatenated.
    pub fn load(vbs: &[VarBuilder], n_in: usize, n_out: usize) -> candle_core::Result<Linear> {
        Linear::load_parts(vbs.iter().map(|vb| (vb, n_out)), n_in, true)
    }

    /// Reads `weight` `[n_out, n_in]` (and `bias` `[n_out]` when `bias`, else zeros) under each
    /// `(vb, n_out)`, concatenated along `out`.
    pub fn load_parts<'a>(
        parts: impl IntoIterator<Item = (&'a VarBuilder<'a>, usize)>,
        n_in: usize,
        bias: bool,
    ) -> candle_core::Result<Linear> {
        let (parts, names): (Vec<_>, Vec<_>) = parts
            .into_iter()
            .map(|(vb, n_out)| {
                let b = if bias { read(vb, "bias", &[n_out])? } else { vec![0.0; n_out] };
                Ok(((Values::read(vb, "weight", &[n_out, n_in])?, b), vb.prefix()))
            })
            .collect::<candle_core::Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        // The copy in this layout is made beside the loaded values (their memory was checked
        // as each loaded).
        super::weights::check_copy(parts.iter().map(|(w, _)| w.bytes()).sum(), || {
            let names: Vec<_> = names.iter().map(|n| format!("'{n}.weight'")).collect();
            format!("the fast path's copy of {}", names.join(", "))
        })?;
        Linear::new(parts, n_in)
    }
}

/// The `[n_in, n_out]` matrix whose columns are the rows of the torch-layout `[rows, n_in]`
/// matrices `parts`, one after another, in blocks of `block` columns (each block `[n_in,
/// width]` row-major, the blocks one after another; `block` = `n_out` is the plain matrix): in
/// tiles so that reads and writes both stay in cache, on every core natively (with [`Values`],
/// a Qwen3-0.6B-shaped model now starts in 6.5 s instead of 11.5: BENCHMARKS.md).
fn transpose<T: Copy + Default + Send + Sync>(parts: &[&[T]], n_in: usize, n_out: usize, block: usize) -> Vec<T> {
    const TILE: usize = 64;
    let mut w = vec![T::default(); n_in * n_out];
    for (b, w) in w.chunks_mut(block.max(1) * n_in).enumerate() {
        let (c0, width) = (b * block, w.len() / n_in);
        let run = |(tile, w): (usize, &mut [T])| {
            let i0 = tile * TILE;
            let mut col = 0;
            for src in parts {
                let rows = src.len() / n_in;
                // This part's columns col..col + rows that fall in this block.
                let (lo, hi) = (col.max(c0), (col + rows).min(c0 + width));
                for o0 in (lo..hi).step_by(TILE) {
                    for (di, out) in w.chunks_exact_mut(width).enumerate() {
                        for o in o0..(o0 + TILE).min(hi) {
                            out[o - c0] = src[(o - col) * n_in + i0 + di];
                        }
                    }
                }
                col += rows;
            }
        };
        each_chunk(w, TILE * width, run);
    }
    w
}

/// LayerNorm weights (`weight`/`bias`, or the old `gamma`/`beta`).
pub struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl Norm {
    pub fn new(g: Vec<f32>, b: Vec<f32>, eps: f64) -> Norm {
        assert_eq!(g.len(), b.len());
        Norm { g, b, eps: eps as f32 }
    }

    pub fn load(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Norm> {
        let pick = |names: [&'static str; 2]| names.into_iter().find(|n| vb.contains_tensor(n)).unwrap_or(names[0]);
        Ok(Norm::new(read(vb, pick(["weight", "gamma"]), &[size])?, read(vb, pick(["bias", "beta"]), &[size])?, eps))
    }

    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        par_rows(x, self);
    }
}

impl RowKernel for Norm {
    fn width(&self) -> usize {
        self.g.len()
    }

    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        layer_norm(x, &self.g, &self.b, self.eps)
    }
}

/// How a model numbers its tokens' absolute positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// BERT: 0, 1, 2, … by index.
    Index,
    /// RoBERTa, XLM-RoBERTa and MPNet, as transformers' `create_position_ids_from_input_ids`:
    /// `pad` + the running count of tokens that are not the pad id, and `pad` itself on the pad
    /// id — so a literal `<pad>` in a text takes padding's position and the tokens after it do
    /// not advance (`pad` = the config's `pad_token_id`, the embedding's padding_idx).
    Roberta { pad: u32 },
}

impl Positions {
    /// The positions of one sequence's real tokens `ids`.
    pub fn of(self, ids: &[u32]) -> Vec<u32> {
        match self {
            Positions::Index => (0..ids.len() as u32).collect(),
            Positions::Roberta { pad } => {
                let mut n = pad;
                ids.iter()
                    .map(|&id| {
                        if id == pad {
                            return pad;
                        }
                        n += 1;
                        n
                    })
                    .collect()
            }
        }
    }

    /// The largest position a sequence of `len` tokens can reach.
    pub fn last(self, len: usize) -> usize {
        match self {
            Positions::Index => len.saturating_sub(1),
            Positions::Roberta { pad } => pad as usize + len,
        }
    }

    /// `[batch, seq_len]` positions for right-padded `ids` under `mask`; padding takes what
    /// transformers gives it (its index, or `pad`), masked out either way.
    pub fn tensor(self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let batch = Batch::new(ids, mask)?;
        let s = batch.seq_len;
        let mut out = Vec::with_capacity(batch.ids.len());
        for (r, &len) in batch.lens.iter().enumerate() {
            out.extend(self.of(&batch.ids[r * s..r * s + len]));
            out.extend((len..s).map(|t| match self {
                Positions::Index => t as u32,
                Positions::Roberta { pad } => pad,
            }));
        }
        Tensor::from_vec(out, (batch.lens.len(), s), ids.device())
    }
}

/// A right-padded batch of token ids (`[batch, seq_len]`) and each sequence's real length.
pub struct Batch {
    pub ids: Vec<u32>,
    pub lens: Vec<usize>,
    pub seq_len: usize,
}

impl Batch {
    pub fn new(ids: &Tensor, mask: &Tensor) -> candle_core::Result<Batch> {
        let (b, seq_len) = ids.dims2()?;
        let mask = mask.to_dtype(candle_core::DType::U32)?.flatten_all()?.to_vec1::<u32>()?;
        let lens: Vec<usize> =
            mask.chunks(seq_len.max(1)).take(b).map(|m| m.iter().filter(|&&v| v != 0).count()).collect();
        for (m, &len) in mask.chunks(seq_len.max(1)).zip(&lens) {
            if m[..len].contains(&0) {
                candle_core::bail!("the attention mask must be right-padded (ones, then zeros)");
            }
        }
        Ok(Batch { ids: ids.flatten_all()?.to_vec1::<u32>()?, lens, seq_len })
    }

    pub fn tokens(&self) -> usize {
        self.lens.iter().sum()
    }

    /// The packed `[tokens, h]` rows back into a `[batch, seq_len, h]` tensor, zeros on padding.
    pub fn unpack(&self, x: &[f32], h: usize) -> candle_core::Result<Tensor> {
        let mut out = vec![0f32; self.lens.len() * self.seq_len * h];
        let mut start = 0;
        for (r, &len) in self.lens.iter().enumerate() {
            let at = r * self.seq_len * h;
            out[at..at + len * h].copy_from_slice(&x[start * h..(start + len) * h]);
            start += len;
        }
        Tensor::from_vec(out, (self.lens.len(), self.seq_len, h), &candle_core::Device::Cpu)
    }
}

/// The packed `[tokens, h]` rows of `table` for the batch's real tokens.
pub fn embed(table: &Values, batch: &Batch, h: usize) -> candle_core::Result<Vec<f32>> {
    let table = table.get();
    let mut x = Vec::with_capacity(batch.tokens() * h);
    for (r, &len) in batch.lens.iter().enumerate() {
        for &id in &batch.ids[r * batch.seq_len..][..len] {
            x.extend_from_slice(&table.row(id, h)?);
        }
    }
    Ok(x)
}

/// A tensor of `shape` under `vb` as f32 values, row-major.
pub fn read(vb: &VarBuilder, name: &str, shape: &[usize]) -> candle_core::Result<Vec<f32>> {
    Ok(Values::read(vb, name, shape)?.get().f32s().into_owned())
}

/// One post-LayerNorm encoder layer: `a = LN(x + Attn(x)·Wo)`, `LN(a + GELU(a·W1)·W2)`.
pub struct Layer {
    pub qkv: Linear,
    pub attn_out: Linear,
    pub attn_norm: Norm,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
    pub out_norm: Norm,
}

/// Relative position bias (MPNet): per head, the value for each `key − query` distance,
/// `table[head][(key − query) + max_len − 1]`.
pub struct PositionBias {
    pub table: Vec<f32>,
    pub max_len: usize,
}

impl PositionBias {
    /// The biases for query `i` and keys `0..len` of `head`, contiguous.
    fn row(&self, head: usize, i: usize, len: usize) -> &[f32] {
        let start = head * (2 * self.max_len - 1) + self.max_len - 1 - i;
        &self.table[start..start + len]
    }
}

/// Work buffers for one batch, reused across layers.
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    inter: Vec<f32>,
}

/// Runs `layers` over the packed batch `x` (`[Σ lens, hidden]`, sequences back to back) in place.
pub fn forward(layers: &[Layer], heads: usize, x: &mut [f32], lens: &[usize], bias: Option<&PositionBias>) {
    let mut scratch = Scratch::default();
    for layer in layers {
        layer.forward(heads, x, lens, bias, &mut scratch);
    }
}

/// Rows per rayon task in the element-wise passes: big enough to amortise the task.
const ROWS_PER_TASK: usize = 16;

impl Layer {
    fn forward(&self, heads: usize, x: &mut [f32], lens: &[usize], bias: Option<&PositionBias>, s: &mut Scratch) {
        let h = self.attn_out.n_out;
        let tokens = x.len() / h;
        debug_assert_eq!(tokens, lens.iter().sum::<usize>());
        resize(&mut s.qkv, tokens * self.qkv.n_out);
        resize(&mut s.ctx, tokens * h);
        resize(&mut s.inter, tokens * self.ffn_in.n_out);

        // QKV = x·Wqkv + b: bias rows first, the product accumulated onto them.
        fill_rows(&mut s.qkv, &self.qkv.b);
        linear(&mut s.qkv, x, &self.qkv, true);
        attention(&s.qkv, &mut s.ctx, lens, Heads { q: heads, kv: heads, d: h / heads, span: Span::All }, bias);
        // x ← LN(x + b_o + ctx·Wo)
        add_rows(x, &self.attn_out.b);
        linear(x, &s.ctx, &self.attn_out, true);
        self.attn_norm.apply(x);
        // x ← LN(x + b2 + GELU(x·W1 + b1)·W2)
        linear(&mut s.inter, x, &self.ffn_in, false);
        par_rows(&mut s.inter, &BiasGelu(&self.ffn_in.b));
        add_rows(x, &self.ffn_out.b);
        linear(x, &s.inter, &self.ffn_out, true);
        self.out_norm.apply(x);
    }
}

/// RMSNorm weights: `x / √(mean(x²) + eps) · g`, as transformers' `Qwen3RMSNorm`.
pub struct RmsNorm {
    g: Vec<f32>,
    eps: f32,
}

impl RmsNorm {
    pub fn load(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<RmsNorm> {
        Ok(RmsNorm { g: read(vb, "weight", &[size])?, eps: eps as f32 })
    }

    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        par_rows(x, self);
    }
}

impl RowKernel for RmsNorm {
    fn width(&self) -> usize {
        self.g.len()
    }

    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        rms_norm(x, &self.g, self.eps)
    }
}

/// The norm before a pre-norm layer's attention or feed-forward.
pub enum PreNorm {
    /// Qwen3.
    Rms(RmsNorm),
    /// ModernBERT (LayerNorm without bias: zeros).
    Layer(Norm),
}

impl PreNorm {
    fn apply(&self, x: &mut [f32]) {
        match self {
            PreNorm::Rms(n) => n.apply(x),
            PreNorm::Layer(n) => n.apply(x),
        }
    }
}

/// The activation of a gated feed-forward: `act(first half) · second half` of `x·Wi`.
#[derive(Clone, Copy)]
pub enum Gated {
    /// Qwen3: `silu(gate) · up`.
    Silu,
    /// ModernBERT's GeGLU: `gelu(input) · gate`, exact (erf) GELU.
    Gelu,
}

/// One pre-norm layer (Qwen3, ModernBERT):
/// `x += Wo(attn(rope(qk_norm(q)), rope(qk_norm(k)), v))` over `attn_norm(x)`, then
/// `x += down(act(a) · b)` with `(a, b) = gate_up(mlp_norm(x))`.
pub struct PreNormLayer {
    /// None: the attention reads `x` itself (ModernBERT's layer 0).
    pub attn_norm: Option<PreNorm>,
    /// Q | K | V in one product (biases used only with `qkv_bias`).
    pub qkv: Linear,
    pub qkv_bias: bool,
    /// Qwen3's RMSNorm of each query and key head, before RoPE.
    pub qk_norms: Option<(RmsNorm, RmsNorm)>,
    /// Which of the forward's rotary tables this layer uses.
    pub rope: usize,
    pub span: Span,
    pub attn_out: Linear,
    pub mlp_norm: PreNorm,
    /// a | b in one product (no bias).
    pub gate_up: Linear,
    pub act: Gated,
    pub down: Linear,
}

/// Rotary tables for positions `0..len`: `cos` and `sin` of `p · inv_freq[i]`, `[len, d/2]`,
/// angles in f32 as transformers computes them.
pub struct RopeTables {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTables {
    pub fn new(inv_freq: &[f32], len: usize) -> RopeTables {
        let angles = (0..len).flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f));
        let (cos, sin) = angles.map(|a| (a.cos(), a.sin())).unzip();
        RopeTables { cos, sin, half: inv_freq.len() }
    }
}

/// Runs the pre-norm `layers` over the packed batch `x` (`[Σ lens, hidden]`) in place; token
/// `t` of each sequence sits at position `t` of `ropes[layer.rope]`. `heads.span` is each layer's.
pub fn forward_pre_norm(layers: &[PreNormLayer], heads: Heads, ropes: &[RopeTables], x: &mut [f32], lens: &[usize]) {
    let Some(first) = layers.first() else { return };
    let h = first.attn_out.n_out;
    let tokens = x.len() / h;
    debug_assert_eq!(tokens, lens.iter().sum::<usize>());
    let positions: Vec<usize> = lens.iter().flat_map(|&len| 0..len).collect();
    let (mut normed, mut qkv, mut ctx, mut inter) = (vec![0f32; x.len()], Vec::new(), Vec::new(), Vec::new());
    resize(&mut qkv, tokens * heads.qkv());
    resize(&mut ctx, tokens * heads.q * heads.d);
    resize(&mut inter, tokens * first.gate_up.n_out);
    for l in layers {
        // Without a norm (ModernBERT's layer 0) the product reads x itself.
        let input = match &l.attn_norm {
            Some(norm) => {
                normed.copy_from_slice(x);
                norm.apply(&mut normed);
                &normed
            }
            None => &*x,
        };
        if l.qkv_bias {
            fill_rows(&mut qkv, &l.qkv.b);
        }
        linear(&mut qkv, input, &l.qkv, l.qkv_bias);
        let heads = Heads { span: l.span, ..heads };
        par_rows(&mut qkv, &QkRope { heads, norms: l.qk_norms.as_ref(), rope: &ropes[l.rope], positions: &positions });
        attention(&qkv, &mut ctx, lens, heads, None);
        if l.qkv_bias {
            add_rows(x, &l.attn_out.b);
        }
        linear(x, &ctx, &l.attn_out, true);
        normed.copy_from_slice(x);
        l.mlp_norm.apply(&mut normed);
        linear(&mut inter, &normed, &l.gate_up, false);
        // act(a) · b into the first half of each row, which the down product reads.
        par_rows(&mut inter, &Glu { half: l.gate_up.n_out / 2, act: l.act });
        linear_strided(x, &inter, l.gate_up.n_out, &l.down, true);
    }
}

/// Per token: Qwen3's RMSNorm of each query and key head if any, then the rotary position
/// embedding of those heads, in place in the QKV row; value heads untouched.
struct QkRope<'a> {
    heads: Heads,
    norms: Option<&'a (RmsNorm, RmsNorm)>,
    rope: &'a RopeTables,
    positions: &'a [usize],
}

impl RowKernel for QkRope<'_> {
    fn width(&self) -> usize {
        self.heads.qkv()
    }

    #[inline(always)]
    fn row(&self, i: usize, x: &mut [f32]) {
        let Heads { q, kv, d, .. } = self.heads;
        let half = self.rope.half;
        let at = self.positions[i] * half;
        let (cos, sin) = (&self.rope.cos[at..at + half], &self.rope.sin[at..at + half]);
        for (n, head) in x[..(q + kv) * d].chunks_exact_mut(d).enumerate() {
            if let Some((q_norm, k_norm)) = self.norms {
                let norm = if n < q { q_norm } else { k_norm };
                rms_norm(head, &norm.g, norm.eps);
            }
            // transformers' rotate-half: x·cos + (−x₂ | x₁)·sin.
            let (a, b) = head.split_at_mut(half);
            for (((a, b), c), s) in a.iter_mut().zip(b.iter_mut()).zip(cos).zip(sin) {
                let (x1, x2) = (*a, *b);
                *a = x1 * c - x2 * s;
                *b = x2 * c + x1 * s;
            }
        }
    }
}

/// `act(a) · b` of an `[a | b]` row, into its first half.
struct Glu {
    half: usize,
    act: Gated,
}

impl RowKernel for Glu {
    fn width(&self) -> usize {
        2 * self.half
    }

    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        let (a, b) = x.split_at_mut(self.half);
        match self.act {
            // torch's vectorised SiLU: x / (1 + e^−x).
            Gated::Silu => a.iter_mut().zip(b.iter()).for_each(|(a, b)| *a = *a / (1.0 + exp(-*a)) * b),
            Gated::Gelu => {
                a.iter_mut().zip(b.iter()).for_each(|(a, b)| *a = *a * 0.5 * (1.0 + erf(*a * FRAC_1_SQRT_2)) * b)
            }
        }
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Sets each row of `x` to `row`.
fn fill_rows(x: &mut [f32], row: &[f32]) {
    par_rows(x, &Fill(row));
}

/// Adds `row` to each row of `x`.
fn add_rows(x: &mut [f32], row: &[f32]) {
    par_rows(x, &Add(row));
}

/// A pass over the rows of a matrix, compiled for the CPU's SIMD level: `row` must be
/// `#[inline(always)]` so that it is inlined into pulp's dispatched function (a closure is
/// not, and then runs as plain SSE2 with `floorf` calls).
trait RowKernel: Sync {
    fn width(&self) -> usize;
    /// Transforms row number `index` (of the slice given to [`par_rows`]).
    fn row(&self, index: usize, x: &mut [f32]);
}

struct Fill<'a>(&'a [f32]);
struct Add<'a>(&'a [f32]);
struct BiasGelu<'a>(&'a [f32]);

impl RowKernel for Fill<'_> {
    fn width(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        x.copy_from_slice(self.0)
    }
}

impl RowKernel for Add<'_> {
    fn width(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        for (a, b) in x.iter_mut().zip(self.0) {
            *a += b;
        }
    }
}

impl RowKernel for BiasGelu<'_> {
    fn width(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn row(&self, _: usize, x: &mut [f32]) {
        bias_gelu(x, self.0)
    }
}

/// Rows `first..` of `x` through `kernel` inside one SIMD dispatch.
struct Rows<'a, K> {
    x: &'a mut [f32],
    first: usize,
    kernel: &'a K,
}

impl<K: RowKernel> pulp::WithSimd for Rows<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for (i, row) in self.x.chunks_exact_mut(self.kernel.width()).enumerate() {
            self.kernel.row(self.first + i, row);
        }
    }
}

/// Runs `kernel` over every row of `x`, in blocks of [`ROWS_PER_TASK`] rows ([`each_chunk`]).
fn par_rows<K: RowKernel>(x: &mut [f32], kernel: &K) {
    let arch = pulp::Arch::new();
    let run = |(block, x): (usize, &mut [f32])| arch.dispatch(Rows { x, first: block * ROWS_PER_TASK, kernel });
    each_chunk(x, kernel.width() * ROWS_PER_TASK, run);
}

/// `run((index, chunk))` for each `size`-long chunk of `x`: on rayon natively, in order in wasm.
fn each_chunk<T: Send>(x: &mut [T], size: usize, run: impl Fn((usize, &mut [T])) + Send + Sync) {
    #[cfg(feature = "cli")]
    {
        use rayon::prelude::*;
        x.par_chunks_mut(size).enumerate().for_each(run);
    }
    #[cfg(not(feature = "cli"))]
    x.chunks_mut(size).enumerate().for_each(run);
}

/// `dst (+)= x·W` for all rows of `x`, threaded natively.
fn linear(dst: &mut [f32], x: &[f32], w: &Linear, accumulate: bool) {
    linear_strided(dst, x, w.n_in, w, accumulate)
}

/// [`linear`] reading the first `n_in` values of each row of `x`, whose rows are `stride` apart.
/// f32 weights are one product; half-precision ones one per block of columns, each block
/// widened first ([`widened`]).
fn linear_strided(dst: &mut [f32], x: &[f32], stride: usize, w: &Linear, accumulate: bool) {
    let (m, n_in, n_out) = (x.len() / stride, w.n_in, w.n_out);
    assert!(stride >= n_in && x.len() == m * stride && dst.len() == m * n_out);
    #[cfg(feature = "cli")]
    let par = gemm::Parallelism::Rayon(0);
    #[cfg(not(feature = "cli"))]
    let par = gemm::Parallelism::None;
    // dst's columns first..first + width (+)= x · rhs, rhs [n_in, width] row-major.
    let mut product = |first: usize, rhs: &[f32]| {
        let width = rhs.len() / n_in;
        assert!(rhs.len() == n_in * width && first + width <= n_out);
        // SAFETY: those columns of dst's m rows (n_out apart) lie inside dst; rhs is
        // n_in×width and x holds m rows of `stride` ≥ n_in values (asserted).
        unsafe {
            sgemm(
                (m, width, n_in),
                (dst.as_mut_ptr().add(first), n_out as isize, 1),
                (x.as_ptr(), stride as isize, 1),
                (rhs.as_ptr(), width as isize, 1),
                accumulate,
                1.0,
                par,
            )
        }
    };
    match &w.w {
        Stored::F32(v) => product(0, v),
        Stored::Bf16(v, block) => widened(v, n_in, *block, product),
        Stored::F16(v, block) => widened(v, n_in, *block, product),
    }
}

/// Half-precision values a [`Stored`] block can be widened from.
trait Widen: Copy + Sync {
    fn widen(src: &[Self], dst: &mut [f32]);

    fn widen_vec(src: &[Self]) -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        Self::widen(src, &mut out);
        out
    }
}

impl Widen for half::bf16 {
    fn widen(src: &[Self], dst: &mut [f32]) {
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst)
    }
}

impl Widen for half::f16 {
    fn widen(src: &[Self], dst: &mut [f32]) {
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst)
    }
}

/// Half-precision weights `v` (`n_in` rows, in blocks of `block` columns) a block at a time:
/// each block widened to f32 (on every core) and handed to `product(first column, block)`.
/// Widening costs one conversion per weight and product, against 2·m multiply-adds.
fn widened<T: Widen>(v: &[T], n_in: usize, block: usize, mut product: impl FnMut(usize, &[f32])) {
    const CHUNK: usize = 1 << 14;
    let mut wide = vec![0f32; (block * n_in).min(v.len())];
    for (b, src) in v.chunks(block.max(1) * n_in).enumerate() {
        let wide = &mut wide[..src.len()];
        each_chunk(wide, CHUNK, |(c, out)| T::widen(&src[c * CHUNK..c * CHUNK + out.len()], out));
        product(b * block, wide);
    }
}

/// `dst[m×n] = (accumulate ? dst : 0) + scale · lhs[m×k] · rhs[k×n]`, each matrix given as
/// (pointer, row stride, column stride).
///
/// # Safety
/// Every element the shapes and strides address must lie inside the pointed-to allocations, and
/// `dst` must not overlap `lhs` or `rhs`.
unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
    accumulate: bool,
    scale: f32,
    par: gemm::Parallelism,
) {
    // gemm computes dst = alpha·dst + beta·lhs·rhs, strides given as (column, row).
    gemm::gemm(
        m, n, k, dst.0, dst.2, dst.1, accumulate, lhs.0, lhs.2, lhs.1, rhs.0, rhs.2, rhs.1, 1.0, scale, false, false,
        false, par,
    )
}

/// The attention heads of a QKV row: `q` query heads, then `kv` key heads, then `kv` value
/// heads, each `d` wide (query head `i` reads key/value head `i / (q / kv)`, as transformers'
/// `repeat_kv`); `span`: the keys a token attends to.
#[derive(Clone, Copy)]
pub struct Heads {
    pub q: usize,
    pub kv: usize,
    pub d: usize,
    pub span: Span,
}

impl Heads {
    /// Width of a QKV row.
    fn qkv(self) -> usize {
        (self.q + 2 * self.kv) * self.d
    }
}

/// Scaled dot-product attention per sequence and head over the packed `qkv` (`[tokens, (q + 2·kv)·d]`,
/// Q | K | V, heads side by side in each) into `ctx` (`[tokens, q·d]`). Sequences run in
/// parallel natively.
fn attention(qkv: &[f32], ctx: &mut [f32], lens: &[usize], heads: Heads, bias: Option<&PositionBias>) {
    let (row, out) = (heads.qkv(), heads.q * heads.d);
    let mut jobs = Vec::with_capacity(lens.len());
    let (mut rest, mut start) = (ctx, 0);
    for &len in lens {
        let (mine, tail) = rest.split_at_mut(len * out);
        jobs.push((&qkv[start * row..(start + len) * row], mine, len));
        rest = tail;
        start += len;
    }
    let run = |(qkv, ctx, len): (&[f32], &mut [f32], usize)| attend(qkv, ctx, len, heads, bias);
    #[cfg(feature = "cli")]
    {
        use rayon::prelude::*;
        jobs.into_par_iter().for_each(run);
    }
    #[cfg(not(feature = "cli"))]
    jobs.into_iter().for_each(run);
}

/// Query rows per block of a causal or windowed span, whose rows each need only some keys.
const ROW_BLOCK: usize = 64;

/// The keys `k0..k1` that query rows `r0..r1` of a sequence of `len` tokens may see.
fn keys(span: Span, (r0, r1): (usize, usize), len: usize) -> (usize, usize) {
    match span {
        Span::All => (0, len),
        Span::Causal => (0, r1),
        Span::Window(w) => (r0.saturating_sub(w), (r1 + w).min(len)),
    }
}

/// Attention of one sequence of `len` tokens. A full span is one `len × len` block of scores;
/// causal and windowed spans go by blocks of [`ROW_BLOCK`] query rows against only the keys
/// those rows may see (a window of 64 over 8,192 tokens computes 1/32 of the products).
fn attend(qkv: &[f32], ctx: &mut [f32], len: usize, heads: Heads, bias: Option<&PositionBias>) {
    if len == 0 {
        return;
    }
    let Heads { d, span, .. } = heads;
    let h = heads.q * d;
    let scale = 1.0 / (d as f32).sqrt();
    let row = heads.qkv();
    assert!(qkv.len() == len * row && ctx.len() == len * h);
    let block = if span == Span::All { len } else { ROW_BLOCK.min(len) };
    let widest = (0..len).step_by(block).map(|r0| {
        let (k0, k1) = keys(span, (r0, (r0 + block).min(len)), len);
        k1 - k0
    });
    let mut scores = vec![0f32; block * widest.max().unwrap_or(0)];
    let arch = pulp::Arch::new();
    let group = heads.q / heads.kv;
    for head in 0..heads.q {
        let kv = head / group;
        let (q, k, v) = (head * d, h + kv * d, h + (heads.kv + kv) * d);
        for r0 in (0..len).step_by(block) {
            let r1 = (r0 + block).min(len);
            let (k0, k1) = keys(span, (r0, r1), len);
            let (m, n) = (r1 - r0, k1 - k0);
            let scores = &mut scores[..m * n];
            // SAFETY: rows r0..r1 of Q and k0..k1 of K and V (≤ len) of this head are d wide at
            // row stride `row` inside qkv; scores is m×n; the context rows r0..r1 of this head are
            // d wide at row stride h inside ctx (asserted above).
            unsafe {
                // scores = Q·Kᵀ / √d
                sgemm(
                    (m, n, d),
                    (scores.as_mut_ptr(), n as isize, 1),
                    (qkv.as_ptr().add(r0 * row + q), row as isize, 1),
                    (qkv.as_ptr().add(k0 * row + k), 1, row as isize),
                    false,
                    scale,
                    gemm::Parallelism::None,
                );
            }
            let kernel = Softmax { len, keys: (k0, k1), head, bias, span };
            arch.dispatch(Rows { x: scores, first: r0, kernel: &kernel });
            // SAFETY: as above.
            unsafe {
                sgemm(
                    (m, d, n),
                    (ctx.as_mut_ptr().add(r0 * h + head * d), h as isize, 1),
                    (scores.as_ptr(), n as isize, 1),
                    (qkv.as_ptr().add(k0 * row + v), row as isize, 1),
                    false,
                    1.0,
                    gemm::Parallelism::None,
                );
            }
        }
    }
}

/// Softmax of score rows of one head — row `i` holding keys `keys.0..keys.1` of a sequence of
/// `len` tokens —, after adding the position bias if any, over the keys of the row's span
/// (causal: `0..=i`; a window of `w`: `i − w..=i + w`), the others weighted 0 (torch's −∞ mask
/// gives exactly that).
struct Softmax<'a> {
    len: usize,
    keys: (usize, usize),
    head: usize,
    bias: Option<&'a PositionBias>,
    span: Span,
}

impl RowKernel for Softmax<'_> {
    fn width(&self) -> usize {
        self.keys.1 - self.keys.0
    }

    #[inline(always)]
    fn row(&self, i: usize, x: &mut [f32]) {
        let (k0, k1) = self.keys;
        if let Some(b) = self.bias {
            for (s, b) in x.iter_mut().zip(&b.row(self.head, i, self.len)[k0..k1]) {
                *s += b;
            }
        }
        let (from, to) = keys(self.span, (i, i + 1), self.len);
        let (from, to) = (from - k0, to - k0);
        x[..from].fill(0.0);
        x[to..].fill(0.0);
        softmax(&mut x[from..to]);
    }
}

/// Σ x in a fixed order of 16 interleaved partial sums, which the compiler can vectorise
/// (a plain left-to-right sum cannot be reordered) and which is the same on every target.
#[inline(always)]
fn sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let mut s = 0.0;
    for (i, a) in acc.iter().enumerate() {
        s += a + tail.get(i).map_or(0.0, |&v| f(v));
    }
    s
}

/// torch's LayerNorm of one row: `(x − mean) / √(var + eps) · g + b`, biased variance.
#[inline(always)]
fn layer_norm(x: &mut [f32], g: &[f32], b: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = sum(x, |v| v) / n;
    let var = sum(x, |v| (v - mean) * (v - mean)) / n;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in x.iter_mut().zip(g).zip(b) {
        *v = (*v - mean) * rstd * g + b;
    }
}

/// transformers' RMSNorm of one row: `x · 1/√(mean(x²) + eps) · g`.
#[inline(always)]
fn rms_norm(x: &mut [f32], g: &[f32], eps: f32) {
    let rstd = 1.0 / (sum(x, |v| v * v) / x.len() as f32 + eps).sqrt();
    for (v, g) in x.iter_mut().zip(g) {
        *v = *v * rstd * g;
    }
}

/// `x ← GELU(x + b)`, the exact (erf) GELU: `x/2 · (1 + erf(x/√2))`.
#[inline(always)]
fn bias_gelu(x: &mut [f32], b: &[f32]) {
    for (v, b) in x.iter_mut().zip(b) {
        let y = *v + b;
        *v = y * 0.5 * (1.0 + erf(y * FRAC_1_SQRT_2));
    }
}

/// erf in f32 as a rational function of x on [−4, 4] (±1 to f32 precision beyond), with
/// Eigen's / XLA's coefficients: within 4.2e-7 (7 ulp of 1.0), branch-free, so it vectorises.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906e-4;
    p = x2 * p + -2.954_600_3e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329_4e-3;
    q = x2 * q + -1.426_474e-2;
    x * p / q
}

/// eˣ for softmax (x ≤ 0 there), Cephes' `expf`: 2ⁿ · e^r with |r| ≤ ln2/2 and a degree-6
/// polynomial for e^r, about 1 ulp; inputs are clamped to the normal f32 range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // ln 2 split in two so n·C1 is exact.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of one row in place: `exp(x − max) / Σ`.
#[inline(always)]
fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let total = sum(x, |v| v);
    for v in x.iter_mut() {
        *v /= total;
    }
}

/// Random weights under `names` (with their shapes) and a padded batch, for checking a fast
/// model against its candle graph.
#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Tensor};
    use candle_nn::VarBuilder;
    use rand::{Rng, SeedableRng};

    pub fn weights(names: &[(String, Vec<usize>)]) -> VarBuilder<'static> {
        weights_as(names, candle_core::DType::F32)
    }

    /// The same random weights as [`weights`], read as `dtype`.
    pub fn weights_as(names: &[(String, Vec<usize>)], dtype: candle_core::DType) -> VarBuilder<'static> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let map = names
            .iter()
            .map(|(n, shape)| {
                let v: Vec<f32> = (0..shape.iter().product()).map(|_| r.random_range(-0.5f32..0.5)).collect();
                (n.clone(), Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap())
            })
            .collect();
        VarBuilder::from_tensors(map, dtype, &Device::Cpu)
    }

    /// `(ids, type ids, mask)` for sequences of `lens` tokens right-padded with `pad`.
    pub fn batch(lens: &[usize], vocab: u32, pad: u32) -> (Tensor, Tensor, Tensor) {
        let s = *lens.iter().max().unwrap();
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let (mut ids, mut types, mut mask) = (vec![], vec![], vec![]);
        for &len in lens {
            for t in 0..s {
                ids.push(if t < len { r.random_range(0..vocab) } else { pad });
                types.push(u32::from(t < len && t >= len / 2));
                mask.push(u32::from(t < len));
            }
        }
        let t = |v: Vec<u32>| Tensor::from_vec(v, (lens.len(), s), &Device::Cpu).unwrap();
        (t(ids), t(types), t(mask))
    }

    /// Max |a − b| over the real (unpadded) positions of `[batch, seq, hidden]` outputs.
    pub fn max_diff(a: &Tensor, b: &Tensor, lens: &[usize]) -> f32 {
        let (a, b) = (a.to_vec3::<f32>().unwrap(), b.to_vec3::<f32>().unwrap());
        let mut worst = 0f32;
        for (r, &len) in lens.iter().enumerate() {
            for t in 0..len {
                for (x, y) in a[r][t].iter().zip(&b[r][t]) {
                    worst = worst.max((x - y).abs());
                }
            }
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_gelu_match_f64_within_f32_precision() {
        let (mut worst_erf, mut worst_gelu) = (0f64, 0f64);
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4; // [-20, 20]
            let want = libm::erf(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - want).abs());
            let mut g = [x];
            bias_gelu(&mut g, &[0.0]);
            let want = x as f64 * 0.5 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            // Relative to max(|x|, 1): f32 itself has ~6e-8 relative precision.
            worst_gelu = worst_gelu.max((g[0] as f64 - want).abs() / (x.abs() as f64).max(1.0));
        }
        // ≤ 7 ulp of 1.0 (at |x| ≈ 3.3); torch's own vectorised erf (Abramowitz–Stegun 7.1.26)
        // is within 1.5e-7.
        assert!(worst_erf < 5e-7, "erf: worst abs error {worst_erf:e}");
        assert!(worst_gelu < 5e-7, "gelu: worst scaled error {worst_gelu:e}");
    }

    #[test]
    fn exp_matches_f64_to_a_few_ulp() {
        let mut worst = 0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4; // [-87, 0]
            let want = (x as f64).exp();
            worst = worst.max((exp(x) as f64 - want).abs() / want);
        }
        assert!(worst < 3e-7, "exp: worst relative error {worst:e}");
    }

    fn rng(seed: u64) -> impl FnMut() -> f32 {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        move || r.random_range(-2.0f32..2.0)
    }

    #[test]
    fn layer_norm_matches_two_pass_f64() {
        let mut next = rng(1);
        for n in [1, 7, 16, 33, 384, 768] {
            let x: Vec<f32> = (0..n).map(|_| next() * 3.0 + 1.0).collect();
            let g: Vec<f32> = (0..n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            let mut got = x.clone();
            layer_norm(&mut got, &g, &b, 1e-5);
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            for i in 0..n {
                let want = (x[i] as f64 - mean) / (var + 1e-5).sqrt() * g[i] as f64 + b[i] as f64;
                assert!((got[i] as f64 - want).abs() < 2e-6, "n={n} i={i}: {} vs {want}", got[i]);
            }
        }
    }

    /// Padded, masked attention as torch does it, in f64: every sequence padded to the longest,
    /// padded keys and those outside the span masked with f32::MIN before the softmax; key
    /// and value heads repeated for their query heads (transformers' `repeat_kv`).
    fn naive_attention(qkv: &[f32], lens: &[usize], heads: Heads, bias: Option<&PositionBias>) -> Vec<f64> {
        let Heads { d, span, .. } = heads;
        let (h, row, group) = (heads.q * d, heads.qkv(), heads.q / heads.kv);
        let s = *lens.iter().max().unwrap();
        let mut out = Vec::new();
        let mut start = 0;
        for &len in lens {
            let at = |t: usize, c: usize| if t < len { qkv[(start + t) * row + c] as f64 } else { 0.0 };
            for i in 0..len {
                let mut ctx = vec![0f64; h];
                for head in 0..heads.q {
                    let (k, v) = (h + head / group * d, h + (heads.kv + head / group) * d);
                    let scores: Vec<f64> = (0..s)
                        .map(|j| {
                            let dot: f64 = (0..d).map(|c| at(i, head * d + c) * at(j, k + c)).sum();
                            let pb = bias
                                .map_or(0.0, |b| b.table[head * (2 * b.max_len - 1) + b.max_len - 1 + j - i] as f64);
                            let outside = match span {
                                Span::All => false,
                                Span::Causal => j > i,
                                Span::Window(w) => i.abs_diff(j) > w,
                            };
                            let masked = j >= len || outside;
                            dot / (d as f64).sqrt() + pb + if masked { f32::MIN as f64 } else { 0.0 }
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|v| (v - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for c in 0..d {
                        ctx[head * d + c] = (0..s).map(|j| e[j] / total * at(j, v + c)).sum();
                    }
                }
                out.extend(ctx);
            }
            start += len;
        }
        out
    }

    #[test]
    fn packed_attention_equals_padded_masked_attention() {
        let mut next = rng(2);
        // Longer than a block of rows (64, 128 and past): causal and windowed spans go by blocks.
        let lens = [9, 1, 5, 9, 2, 150, 64, 65];
        let tokens: usize = lens.iter().sum();
        let max_len = 150;
        // BERT's heads (with MPNet's bias and without), Qwen3's (grouped-query and causal) and
        // ModernBERT's local layers (a window of 2 on either side).
        let bert = Heads { q: 3, kv: 3, d: 8, span: Span::All };
        let bias = PositionBias { table: (0..bert.q * (2 * max_len - 1)).map(|_| next()).collect(), max_len };
        let qwen = Heads { q: 4, kv: 2, d: 6, span: Span::Causal };
        let local = Heads { span: Span::Window(2), ..bert };
        let wide = Heads { span: Span::Window(40), ..bert };
        for (heads, bias) in [
            (bert, None),
            (bert, Some(&bias)),
            (qwen, None),
            (Heads { kv: 1, ..qwen }, None),
            (local, None),
            (wide, None),
        ] {
            let qkv: Vec<f32> = (0..tokens * heads.qkv()).map(|_| next()).collect();
            let mut ctx = vec![0f32; tokens * heads.q * heads.d];
            attention(&qkv, &mut ctx, &lens, heads, bias);
            let want = naive_attention(&qkv, &lens, heads, bias);
            for (i, (g, w)) in ctx.iter().zip(&want).enumerate() {
                let what = format!("kv {} span {:?} bias {}", heads.kv, heads.span, bias.is_some());
                assert!((*g as f64 - w).abs() < 1e-5, "{what}: element {i}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn rms_norm_and_gated_activations_match_f64() {
        let mut next = rng(4);
        for n in [1, 7, 16, 33, 128, 1024] {
            let x: Vec<f32> = (0..n).map(|_| next() * 3.0).collect();
            let g: Vec<f32> = (0..n).map(|_| next()).collect();
            let mut got = x.clone();
            rms_norm(&mut got, &g, 1e-6);
            let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n as f64;
            for i in 0..n {
                let want = x[i] as f64 / (ms + 1e-6).sqrt() * g[i] as f64;
                assert!((got[i] as f64 - want).abs() < 2e-6, "rms n={n} i={i}: {} vs {want}", got[i]);
            }
        }
        let mut row: Vec<f32> = (0..2000).map(|i| (i as f32 - 1000.0) * 0.09).collect(); // gate in [-90, 90)
        let want: Vec<f64> = (0..1000)
            .map(|j| {
                let (g, u) = (row[j] as f64, row[1000 + j] as f64);
                g / (1.0 + (-g).exp()) * u
            })
            .collect();
        Glu { half: 1000, act: Gated::Silu }.row(0, &mut row);
        for (j, w) in want.iter().enumerate() {
            let scale = w.abs().max(1.0);
            assert!((row[j] as f64 - w).abs() / scale < 1e-6, "silu·up {j}: {} vs {w}", row[j]);
        }
        let mut row: Vec<f32> = (0..2000).map(|i| (i as f32 - 1000.0) * 0.01).collect(); // input in [-10, 10)
        let want: Vec<f64> = (0..1000)
            .map(|j| {
                let (a, b) = (row[j] as f64, row[1000 + j] as f64);
                a * 0.5 * (1.0 + libm::erf(a / std::f64::consts::SQRT_2)) * b
            })
            .collect();
        let inputs = row.clone();
        Glu { half: 1000, act: Gated::Gelu }.row(0, &mut row);
        for (j, w) in want.iter().enumerate() {
            // As GELU's own test: erf's 4.2e-7, relative to max(|a|, 1), times the gate.
            let scale = (inputs[j].abs().max(1.0) * inputs[1000 + j].abs().max(1.0)) as f64;
            assert!((row[j] as f64 - w).abs() / scale < 5e-7, "gelu·gate {j}: {} vs {w}", row[j]);
        }
    }

    /// Tiles cut at block and part boundaries (rows and columns not multiples of 64).
    #[test]
    fn transpose_writes_every_part_as_columns() {
        let n_in = 130;
        let parts: Vec<Vec<f32>> = [70, 3, 64].iter().map(|&r| (0..r * n_in).map(|v| v as f32).collect()).collect();
        let n_out = 70 + 3 + 64;
        // One block (the plain [n_in, n_out] matrix), and blocks of 64 and 48 columns.
        for block in [n_out, 64, 48] {
            let w = transpose(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>(), n_in, n_out, block);
            let mut col = 0;
            for p in &parts {
                for o in 0..p.len() / n_in {
                    let c = col + o;
                    let (first, width) = (c / block * block, block.min(n_out - c / block * block));
                    for i in 0..n_in {
                        let at = first * n_in + i * width + c - first;
                        assert_eq!(w[at], p[o * n_in + i], "block {block}: row {o} col {i}");
                    }
                }
                col += p.len() / n_in;
            }
        }
    }

    /// Half-precision weights, widened a block of columns at a time (n_in such that blocks are
    /// 16 columns wide, so the three parts' 40 columns take three blocks, one cut short, and
    /// parts straddle blocks), give the product of the same weights rounded to that format in f32.
    #[test]
    fn half_precision_weights_multiply_as_their_f32_values() {
        let mut next = rng(11);
        let n_in = WIDENED_BLOCK / 16;
        let sizes = [20, 7, 13];
        let parts: Vec<(Vec<f32>, Vec<f32>)> = sizes
            .iter()
            .map(|&o| ((0..o * n_in).map(|_| next()).collect(), (0..o).map(|_| next()).collect()))
            .collect();
        let x: Vec<f32> = (0..3 * n_in).map(|_| next()).collect();
        let n_out: usize = sizes.iter().sum();
        let product = |lin: &Linear| {
            let mut y = vec![0f32; 3 * n_out];
            fill_rows(&mut y, &lin.b);
            linear(&mut y, &x, lin, true);
            y
        };
        fn half_linear<T: candle_core::WithDType>(
            parts: &[(Vec<f32>, Vec<f32>)],
            n_in: usize,
            to: fn(f32) -> T,
        ) -> Linear {
            let parts = parts
                .iter()
                .map(|(w, b)| {
                    let t = Tensor::from_vec(
                        w.iter().map(|&v| to(v)).collect::<Vec<T>>(),
                        w.len(),
                        &candle_core::Device::Cpu,
                    );
                    Ok((Values::new(t?)?, b.clone()))
                })
                .collect::<candle_core::Result<_>>()
                .unwrap();
            Linear::new(parts, n_in).unwrap()
        }
        let rounded = |to: fn(f32) -> f32| {
            parts.iter().map(|(w, b)| (w.iter().map(|&v| to(v)).collect(), b.clone())).collect::<Vec<_>>()
        };
        let cases = [
            ("bf16", half_linear(&parts, n_in, half::bf16::from_f32), rounded(|v| half::bf16::from_f32(v).to_f32())),
            ("f16", half_linear(&parts, n_in, half::f16::from_f32), rounded(|v| half::f16::from_f32(v).to_f32())),
        ];
        for (name, half, rounded) in cases {
            assert!(matches!(half.w, Stored::Bf16(_, 16) | Stored::F16(_, 16)), "{name}: blocks of 16 columns");
            let want = product(&Linear::from_torch(rounded, n_in).unwrap());
            let got = product(&half);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{name} [{}, {}]: {g} vs {w}", i / n_out, i % n_out);
            }
        }
    }

    #[test]
    fn fused_qkv_equals_separate_products() {
        let mut next = rng(3);
        let n_in = 5;
        let parts: Vec<(Vec<f32>, Vec<f32>)> = [3, 2]
            .iter()
            .map(|&o| ((0..o * n_in).map(|_| next()).collect(), (0..o).map(|_| next()).collect()))
            .collect();
        let lin = Linear::from_torch(parts.clone(), n_in).unwrap();
        let x: Vec<f32> = (0..2 * n_in).map(|_| next()).collect();
        let mut y = vec![0f32; 2 * 5];
        fill_rows(&mut y, &lin.b);
        linear(&mut y, &x, &lin, true);
        for r in 0..2 {
            let mut col = 0;
            for (w, b) in &parts {
                for o in 0..b.len() {
                    let want: f32 = b[o] + (0..n_in).map(|i| x[r * n_in + i] * w[o * n_in + i]).sum::<f32>();
                    assert!((y[r * 5 + col] - want).abs() < 1e-5);
                    col += 1;
                }
            }
        }
    }
}
