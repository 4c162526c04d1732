//! A model folder's weights in each layout the Hugging Face hub serves them, preferred in
//! transformers' order:
//! 1. `model.safetensors`;
//! 2. `model.safetensors.index.json` + the files its `weight_map` names
//!    (`model-00001-of-00004.safetensors` …): how models past a few GB ship (Qwen3-Embedding-4B
//!    in 2 files, 8B in 4);
//! 3. natively, `pytorch_model.bin`, then `pytorch_model.bin.index.json` + its files
//!    (transformers 4.x with `safe_serialization=False`).
//!
//! Files on disk are memory-mapped (safetensors), their pages handed back as each tensor is
//! copied out, and bytes handed over (the browser) are read where they lie: each tensor is
//! copied once, into the model. Every listed file must be present before anything loads, and an
//! error names the file.

use std::collections::HashMap;

use candle_core::safetensors::{BufferedSafetensors, SliceSafetensors};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use super::encoder::join;
#[cfg(not(target_arch = "wasm32"))]
use super::mapped::MappedFile;
use crate::data::Files;
use crate::error::{Error, Result};

pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH: &str = "pytorch_model.bin";
pub const PYTORCH_INDEX: &str = "pytorch_model.bin.index.json";
/// Where a folder's weights may be, in the order they are preferred.
pub const LAYOUTS: [&str; 4] = [SAFETENSORS, SAFETENSORS_INDEX, PYTORCH, PYTORCH_INDEX];

/// The folder's weights: the name errors about them use (the file, or the index of a sharded
/// checkpoint) and the tensors.
pub fn load<'a>(files: &'a Files, dir: &str, dtype: DType, device: &Device) -> Result<(&'static str, VarBuilder<'a>)> {
    if let Some((layout, names)) = weight_files(files, dir).transpose()? {
        let vb = if layout.starts_with("model") {
            safetensors(files, &names, dtype, device)?
        } else {
            pytorch(files, &names, dtype, device)?
        };
        return Ok((layout, vb));
    }
    // The folder as the user gave it: where its config.json (read before this) lies.
    let config = files.display(&join(dir, "config.json"));
    let folder = config.strip_suffix("config.json").map_or(config.as_str(), |f| f.trim_end_matches(['/', '\\']));
    Err(Error::missing(
        folder,
        "no model.safetensors, model.safetensors.index.json or pytorch_model.bin in this model folder",
        "add the model's weights (model.safetensors, or every file of a sharded checkpoint with its index)",
    ))
}

/// The folder's weight layout, the first of [`LAYOUTS`] present, and its files as names in
/// `files` (a sharded checkpoint's in file-name order); `None` when there are none.
fn weight_files(files: &Files, dir: &str) -> Option<Result<(&'static str, Vec<String>)>> {
    let layout = LAYOUTS.into_iter().find(|f| files.has(&join(dir, f)))?;
    Some(if layout.ends_with(".index.json") {
        shards(files, dir, layout).map(|names| (layout, names))
    } else {
        Ok((layout, vec![join(dir, layout)]))
    })
}

/// The files `index` (in `dir`) lists in its `weight_map`, as names in `files`, in file-name
/// order; an error names the index when it cannot be read or names a file outside the folder,
/// and the first listed file that is not there.
pub fn shards(files: &Files, dir: &str, index: &str) -> Result<Vec<String>> {
    let path = join(dir, index);
    let shown = files.display(&path);
    let listed = index_files(&files.read_text(&path)?)
        .map_err(|(line, what)| Error::input(&shown, line, what, "re-download the index with the model's weights"))?;
    let missing: Vec<&String> = listed.iter().filter(|f| !files.has(&join(dir, f))).collect();
    if let Some(first) = missing.first() {
        let many = if missing.len() == 1 { "is".to_string() } else { format!("and {} more are", missing.len() - 1) };
        return Err(Error::missing(
            files.display(&join(dir, first)),
            format!("{index} lists {} weight files; this one {many} missing", listed.len()),
            "download every file of the checkpoint (e.g. `huggingface-cli download ORG/NAME`), or pass \
             --model hf:ORG/NAME",
        ));
    }
    Ok(listed.iter().map(|f| join(dir, f)).collect())
}

/// The distinct file names of an index's `weight_map`, sorted; `Err((line, what))`.
pub(crate) fn index_files(text: &str) -> std::result::Result<Vec<String>, (usize, String)> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let index: Index = serde_json::from_str(text)
        .map_err(|e| (e.line(), format!("not a weights index ({{\"weight_map\": …}}): {e}")))?;
    let mut names: Vec<String> = index.weight_map.into_values().collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err((1, "the weight_map lists no files".into()));
    }
    // The hub writes plain names beside the index; anything else could reach outside the folder.
    if let Some(bad) = names.iter().find(|n| n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.')) {
        return Err((1, format!("the weight_map names '{bad}', not a file beside the index")));
    }
    Ok(names)
}

/// The checkpoint's own format as transformers 5 takes it when config.json names none
/// (`dtype="auto"`): a sharded checkpoint's index `metadata.dtype` if it has one, else
/// `get_state_dict_dtype` of the first file of its weights ([`weight_files`]) — the first
/// floating-point tensor in name order (safetensors) or in the order it was saved
/// (pytorch_model.bin) — as transformers' name (`bfloat16`, `float16`, `float32`, `float64`).
/// `None` when none holds a floating-point tensor or the file cannot be read (loading the
/// weights then says why), and for pytorch_model.bin in the browser.
pub fn checkpoint_dtype(files: &Files, dir: &str) -> Option<&'static str> {
    let (layout, names) = weight_files(files, dir)?.ok()?;
    let named = |s: &str| ["bfloat16", "float16", "float32", "float64"].into_iter().find(|&n| n == s);
    if layout.ends_with(".index.json") {
        let index: serde_json::Value = serde_json::from_str(&files.read_text(&join(dir, layout)).ok()?).ok()?;
        if let Some(d) = index["metadata"]["dtype"].as_str().and_then(named) {
            return Some(d);
        }
    }
    let first = names.first()?;
    if !layout.starts_with("model") {
        return pytorch_dtype(files, first);
    }
    let header = safetensors_header(files, first)?;
    let tensors: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header).ok()?;
    tensors.iter().filter(|(name, _)| *name != "__metadata__").find_map(|(_, t)| match t["dtype"].as_str()? {
        "BF16" => Some("bfloat16"),
        "F16" => Some("float16"),
        "F32" => Some("float32"),
        "F64" => Some("float64"),
        _ => None,
    })
}

/// The format of the first floating-point tensor of a torch.save'd state dict, in the order it
/// was saved (its pickle alone is read, not the tensors). candle lists the tensors in another
/// order; torch.save numbers storages as it meets them (`data/0`, `data/1`, …), so that number
/// gives the saved order.
#[cfg(not(target_arch = "wasm32"))]
fn pytorch_dtype(files: &Files, name: &str) -> Option<&'static str> {
    let mut infos = candle_core::pickle::read_pth_tensor_info(files.local_path(name)?, false, None).ok()?;
    infos.sort_by_key(|t| t.path.rsplit('/').next().and_then(|k| k.parse::<u64>().ok()).unwrap_or(u64::MAX));
    infos.iter().find_map(|t| match t.dtype {
        DType::BF16 => Some("bfloat16"),
        DType::F16 => Some("float16"),
        DType::F32 => Some("float32"),
        DType::F64 => Some("float64"),
        _ => None,
    })
}

#[cfg(target_arch = "wasm32")]
fn pytorch_dtype(_: &Files, _: &str) -> Option<&'static str> {
    None
}

/// The JSON header of safetensors file `name`: on disk only its first bytes are read.
fn safetensors_header(files: &Files, name: &str) -> Option<Vec<u8>> {
    // safetensors' own limit on a header's size.
    const MAX: u64 = 100_000_000;
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(path) = files.local_path(name) {
        use std::io::Read;
        let mut f = std::fs::File::open(path).ok()?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).ok()?;
        let n = u64::from_le_bytes(len);
        let mut header = vec![0u8; usize::try_from(n.min(MAX)).ok()?];
        f.read_exact(&mut header).ok()?;
        return Some(header);
    }
    let bytes = files.bytes(name).ok()?;
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?).min(MAX)).ok()?;
    bytes.get(8..8usize.checked_add(n)?).map(<[u8]>::to_vec)
}

/// How a load that would not fit in memory begins its error ([`Room`]), so that it is not taken
/// for weights that do not fit config.json.
pub const NO_ROOM: &str = "not enough memory for the model's weights";

/// Whether a failed load ran out of memory: [`NO_ROOM`]'s check, or the device's allocation.
pub fn out_of_room(message: &str) -> bool {
    message.starts_with(NO_ROOM) || super::device::is_out_of_memory(message)
}

/// Memory kept free beside each tensor loaded: the forward pass needs some too.
const MARGIN: usize = 128 << 20;

/// Whether the next tensor fits in the memory free on the device (the host's available memory
/// for the CPU), asked before each is read: a model larger than the memory stops with an error
/// giving the sizes, instead of the system's out-of-memory killer ending the process without a
/// word (the CPU) or a failed allocation reading as a misfit (a GPU). Asked anew each time, so
/// memory freed meanwhile (a path given up, another process ending) counts.
struct Room {
    device: Device,
    /// Bytes of all the checkpoint's tensors in the model's dtype, for the message.
    total: usize,
}

impl Room {
    fn new(device: &Device, total: usize) -> Room {
        // What earlier models left in the CUDA pool is free for this one.
        super::device::release_freed_memory(device);
        Room { device: device.clone(), total }
    }

    /// An error when `need` bytes for tensor `name` (and [`MARGIN`]) are more than is free.
    fn check(&self, name: &str, need: usize, dtype: DType) -> candle_core::Result<()> {
        check_room(&self.device, need, || {
            (format!("'{name}'"), format!(" (the checkpoint's tensors take {} as {dtype:?})", size(self.total)))
        })
    }
}

/// `b` bytes as MiB, or GiB past 1 GiB.
fn size(b: usize) -> String {
    match b >> 20 {
        mib @ 0..1024 => format!("{mib} MiB"),
        mib => format!("{:.1} GiB", mib as f64 / 1024.0),
    }
}

/// An error beginning with [`NO_ROOM`] when `need` bytes (and [`MARGIN`]) are more than is free
/// on `device`; `message` gives what needs them and a note that ends the error (made only then).
fn check_room(device: &Device, need: usize, message: impl FnOnce() -> (String, String)) -> candle_core::Result<()> {
    let Some(free) = free_now(device) else {
        return Ok(());
    };
    if need.saturating_add(MARGIN) > free {
        let on = match device.location() {
            candle_core::DeviceLocation::Cpu => "the CPU".to_string(),
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
        };
        let (what, note) = message();
        candle_core::bail!(
            "{NO_ROOM} on {on}: {what} needs {} with {} kept for encoding, and {} is free{note}",
            size(need),
            size(MARGIN),
            size(free),
        );
    }
    Ok(())
}

/// [`check_room`] on the CPU for the copy of loaded weights that the fast path makes in its own
/// layout (`what` names them), while the loaded ones are still held.
pub fn check_copy(need: usize, what: impl FnOnce() -> String) -> candle_core::Result<()> {
    check_room(&Device::Cpu, need, || {
        (what(), " (the fast path lays each weight out anew, the loaded one held until then)".into())
    })
}

/// Bytes free now on `device`, if known (tests set their own: `tests::FREE`).
fn free_now(device: &Device) -> Option<usize> {
    #[cfg(test)]
    if let Some(free) = tests::FREE.get() {
        return Some(free);
    }
    match device {
        Device::Cpu => super::device::host_available_memory(),
        d => super::device::free_memory(d).map(|(free, _)| free),
    }
}

/// One or more safetensors files (`names` in `files`) as one set of tensors.
fn safetensors<'a>(files: &'a Files, names: &[String], dtype: DType, device: &Device) -> Result<VarBuilder<'a>> {
    let mut set = Shards { routing: HashMap::new(), shards: Vec::with_capacity(names.len()), room: None };
    for name in names {
        let bad = |e: candle_core::Error| {
            Error::input(files.display(name), 0, format!("cannot read as safetensors: {e}"), "re-download the model")
        };
        #[cfg(not(target_arch = "wasm32"))]
        let shard = match files.local_path(name) {
            Some(path) => Some(Shard::Mapped(Mapped::open(path).map_err(bad)?)),
            None => None,
        };
        #[cfg(target_arch = "wasm32")]
        let shard = None;
        let shard = match shard {
            Some(shard) => shard,
            None => match files.bytes(name)? {
                std::borrow::Cow::Borrowed(bytes) => Shard::Lent(SliceSafetensors::new(bytes).map_err(bad)?),
                std::borrow::Cow::Owned(bytes) => Shard::Owned(BufferedSafetensors::new(bytes).map_err(bad)?),
            },
        };
        for tensor in shard.names() {
            set.routing.insert(tensor, set.shards.len());
        }
        set.shards.push(shard);
    }
    let total = set.routing.iter().map(|(name, &i)| set.shards[i].elements(name).unwrap_or(0)).sum::<usize>();
    set.room = Some(Room::new(device, total * dtype.size_in_bytes()));
    Ok(VarBuilder::from_backend(Box::new(set), dtype, device.clone()))
}

/// A safetensors file: bytes handed over (read where they lie), or a file on disk, mapped.
enum Shard<'a> {
    Lent(SliceSafetensors<'a>),
    Owned(BufferedSafetensors),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(Mapped),
}

impl Shard<'_> {
    fn names(&self) -> Vec<String> {
        let tensors = match self {
            Shard::Lent(s) => s.tensors(),
            Shard::Owned(s) => s.tensors(),
            #[cfg(not(target_arch = "wasm32"))]
            Shard::Mapped(m) => return m.meta.offset_keys(),
        };
        tensors.into_iter().map(|(name, _)| name).collect()
    }

    /// How many values tensor `name` holds.
    fn elements(&self, name: &str) -> candle_core::Result<usize> {
        Ok(self.elements_and_dtype(name)?.0)
    }

    /// How many values tensor `name` holds, and in which dtype.
    fn elements_and_dtype(&self, name: &str) -> candle_core::Result<(usize, DType)> {
        let (shape, dtype) = match self {
            Shard::Lent(s) => {
                let t = s.get(name)?;
                (t.shape().to_vec(), t.dtype())
            }
            Shard::Owned(s) => {
                let t = s.get(name)?;
                (t.shape().to_vec(), t.dtype())
            }
            #[cfg(not(target_arch = "wasm32"))]
            Shard::Mapped(m) => {
                let info =
                    m.meta.info(name).ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.into() })?;
                (info.shape.clone(), info.dtype)
            }
        };
        Ok((shape.iter().product(), DType::try_from(dtype)?))
    }

    fn load(&self, name: &str, device: &Device) -> candle_core::Result<Tensor> {
        match self {
            Shard::Lent(s) => s.load(name, device),
            Shard::Owned(s) => s.load(name, device),
            #[cfg(not(target_arch = "wasm32"))]
            Shard::Mapped(m) => m.load(name, device),
        }
    }
}

/// A safetensors file on disk, memory-mapped, each tensor's pages handed back once it is copied
/// out ([`MappedFile`]): the peak is the model plus one block, as sentence-transformers holds,
/// not the model plus the file.
#[cfg(not(target_arch = "wasm32"))]
struct Mapped {
    file: MappedFile,
    /// Where the tensors' bytes begin: past the 8-byte length and the JSON header.
    data: usize,
    meta: safetensors::tensor::Metadata,
    /// The bytes of a large tensor copied out in one piece, at most.
    block: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl Mapped {
    fn open(path: &std::path::Path) -> candle_core::Result<Mapped> {
        let file = MappedFile::open(path)?;
        // Checks the header and that every tensor's bytes lie within the file.
        let (header, meta) = safetensors::SafeTensors::read_metadata(file.bytes())?;
        Ok(Mapped { file, data: 8 + header, meta, block: super::mapped::BLOCK })
    }

    fn load(&self, name: &str, device: &Device) -> candle_core::Result<Tensor> {
        use candle_core::safetensors::Load;
        use safetensors::Dtype;
        let info = self.meta.info(name).ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.into() })?;
        let (start, end) = (self.data + info.data_offsets.0, self.data + info.data_offsets.1);
        let shape = info.shape.as_slice();
        // The tensor owns a copy once it is made (candle's CPU storage, or device memory). A large
        // one on the CPU is copied a block at a time: a vocabulary's embedding table (1 GB in
        // XLM-R large) would otherwise be resident twice at once.
        let tensor = match (info.dtype, device.is_cpu() && end - start > self.block) {
            (Dtype::F32, true) => Tensor::from_vec(self.copy_out::<f32>(start..end)?, shape, device)?,
            (Dtype::F16, true) => Tensor::from_vec(self.copy_out::<half::f16>(start..end)?, shape, device)?,
            (Dtype::BF16, true) => Tensor::from_vec(self.copy_out::<half::bf16>(start..end)?, shape, device)?,
            _ => {
                let bytes = &self.file.bytes()[start..end];
                let tensor = safetensors::tensor::TensorView::new(info.dtype, shape.to_vec(), bytes)?.load(device);
                self.file.hand_back(start..end)?;
                tensor?
            }
        };
        Ok(tensor)
    }

    /// The values in bytes `range` of the file, copied out a block at a time.
    fn copy_out<T: bytemuck::Pod>(&self, range: std::ops::Range<usize>) -> candle_core::Result<Vec<T>> {
        let size = std::mem::size_of::<T>();
        if !range.len().is_multiple_of(size) {
            candle_core::bail!("{} bytes are not whole values of {size} bytes", range.len());
        }
        let mut values = vec![T::zeroed(); range.len() / size];
        let out: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
        self.file.read_blocks(range, self.block, |at, piece| out[at..at + piece.len()].copy_from_slice(piece))?;
        Ok(values)
    }
}

/// Every tensor of several files, found by name in the file that has it.
struct Shards<'a> {
    routing: HashMap<String, usize>,
    shards: Vec<Shard<'a>>,
    room: Option<Room>,
}

impl SimpleBackend for Shards<'_> {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let tensor = self.get_unchecked(name, dtype, dev)?;
        if tensor.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: tensor.shape().clone(),
            });
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let &i =
            self.routing.get(name).ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.to_string() })?;
        if let Some(room) = &self.room {
            // The tensor as read, and its conversion to `dtype` beside it until that is done.
            let (elements, stored) = self.shards[i].elements_and_dtype(name)?;
            let converted = if stored == dtype { 0 } else { dtype.size_in_bytes() };
            room.check(name, elements * (stored.size_in_bytes() + converted), dtype)?;
        }
        self.shards[i].load(name, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.routing.contains_key(name)
    }
}

/// One or more `pytorch_model.bin` files (torch.save zips) through candle's pickle reader,
/// which reads from a file.
#[cfg(not(target_arch = "wasm32"))]
fn pytorch(files: &Files, names: &[String], dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let mut tensors = HashMap::new();
    for name in names {
        let path = files.local_path(name).ok_or_else(|| {
            Error::missing(
                files.display(name),
                "PyTorch checkpoints are read from disk only",
                "pass the model folder on disk, or convert the weights to model.safetensors",
            )
        })?;
        let read = candle_core::pickle::read_all(path).map_err(|e| {
            Error::input(
                files.display(name),
                0,
                format!("cannot read as a PyTorch checkpoint: {e}"),
                "re-save it with torch.save(model.state_dict()), or convert it to model.safetensors",
            )
        })?;
        tensors.extend(read);
    }
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}

#[cfg(target_arch = "wasm32")]
fn pytorch(files: &Files, names: &[String], _dtype: DType, _device: &Device) -> Result<VarBuilder<'static>> {
    Err(Error::missing(
        files.display(&names[0]),
        "PyTorch checkpoints (pytorch_model.bin) cannot be read in the browser (no model.safetensors in this folder)",
        "convert the weights to model.safetensors (e.g. safetensors.torch.save_file) and pick the folder again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    std::thread_local! {
        /// Memory free as this test thread's loads see it ([`free_now`]), when set.
        pub(super) static FREE: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    }

    /// A model larger than the memory free stops at the first tensor that does not fit, with
    /// an error giving the sizes and what to do (not "weights do not fit config.json"), on the
    /// CPU's fast path (f32, and bf16 weights) and on the candle graph (bf16, `--attention
    /// eager`) alike, half precision suggested only to f32; with room it loads.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn weights_past_the_free_memory_stop_with_the_sizes() {
        use crate::embed::{encoder::Encoder, Dtype, NeuralOptions};
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_models");
        let mut files = Files::new("t");
        files.add_dir("m", std::path::Path::new(root).join("qwen3-embedding").as_path()).unwrap();
        use crate::embed::AttentionChoice::{Auto, Eager};
        for (dtype, attention) in [(Dtype::F32, Auto), (Dtype::F32, Eager), (Dtype::Bf16, Auto), (Dtype::Bf16, Eager)] {
            let options = NeuralOptions { dtype, attention, ..Default::default() };
            FREE.set(Some(MARGIN + 1000));
            let e = Encoder::load(&files, "m", &options);
            let Err(Error::Model { what }) = e else { panic!("{dtype:?}: loaded, or another error: {:?}", e.err()) };
            assert!(what.starts_with(&format!("cpu: {NO_ROOM} on the CPU: '")), "{what}");
            assert!(what.contains("needs 0 MiB with 128 MiB kept for encoding, and 128 MiB is free"), "{what}");
            assert!(what.contains("(the checkpoint's tensors take 0 MiB as"), "{what}");
            let fix = if dtype == Dtype::F32 { "fix: --dtype bf16 halves the weights" } else { "fix: use a machine" };
            assert!(what.contains(fix), "{what}");
            // Computed in f32 only on the fast path; the candle graph's half precision is its own.
            assert_eq!(what.contains("computed in f32"), (dtype, attention) == (Dtype::F32, Auto), "{what}");
            FREE.set(Some(usize::MAX));
            Encoder::load(&files, "m", &options).unwrap();
            FREE.set(None);
        }
    }

    /// The fast path's copy of a product's weights — every part laid out anew while the loaded
    /// ones are held — is checked too: each part fits, the copy of both does not.
    #[test]
    fn the_fast_paths_copy_of_the_weights_is_checked() {
        use crate::embed::encoder_layer::Linear;
        let cpu = Device::Cpu;
        let part = Tensor::zeros((64, 32), DType::F32, &cpu).unwrap();
        let tensors = HashMap::from([("a.weight".to_string(), part.clone()), ("b.weight".to_string(), part)]);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &cpu);
        let (a, b) = (vb.pp("a"), vb.pp("b"));
        let part_bytes = 64 * 32 * 4;
        FREE.set(Some(MARGIN + part_bytes + 100));
        let e = Linear::load_parts([(&a, 64), (&b, 64)], 32, false).err().expect("the copy of both parts fit");
        FREE.set(Some(MARGIN + 2 * part_bytes));
        let fits = Linear::load_parts([(&a, 64), (&b, 64)], 32, false);
        FREE.set(None);
        let what = e.to_string();
        assert!(out_of_room(&what), "{what}");
        assert!(what.contains("on the CPU: the fast path's copy of 'a.weight', 'b.weight' needs 0 MiB"), "{what}");
        fits.unwrap();
    }

    /// A safetensors file of `tensors` in a new temporary folder.
    #[cfg(not(target_arch = "wasm32"))]
    fn saved(tensors: Vec<(&str, Tensor)>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SAFETENSORS);
        let tensors: HashMap<String, Tensor> = tensors.into_iter().map(|(n, t)| (n.to_string(), t)).collect();
        candle_core::safetensors::save(&tensors, &path).unwrap();
        (dir, path)
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_mapped_file_gives_every_tensor_as_candle_reads_it() -> candle_core::Result<()> {
        let cpu = &Device::Cpu;
        // 13 × 771 f32 values are 9.8 blocks of 4 KiB: copied out block by block, the last one short.
        let big = Tensor::arange(0u32, 13 * 771, cpu)?.to_dtype(DType::F32)?.affine(0.37, -5.0)?.reshape((13, 771))?;
        let (_dir, path) = saved(vec![
            ("big", big.clone()),
            ("half", big.to_dtype(DType::F16)?),
            ("brain", big.to_dtype(DType::BF16)?),
            ("ids", Tensor::arange(-3i64, 5, cpu)?),
            ("small", Tensor::new(&[1.5f32, -2.0, 3.25], cpu)?),
        ]);
        let mut mapped = Mapped::open(&path)?;
        mapped.block = 4096;
        let reference = candle_core::safetensors::load(&path, cpu)?;
        assert_eq!(reference.len(), 5);
        for (name, want) in reference {
            let got = mapped.load(&name, cpu)?;
            assert_eq!((got.dtype(), got.dims()), (want.dtype(), want.dims()), "{name}");
            let values = |t: &Tensor| t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>();
            assert_eq!(values(&got)?, values(&want)?, "{name}");
        }
        assert!(matches!(mapped.load("nope", cpu), Err(candle_core::Error::CannotFindTensor { .. })));
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_mapped_tensor_leaves_no_pages_resident_once_copied() -> candle_core::Result<()> {
        // 16 MiB of f32, copied out in 1 MiB blocks; and an 8 KiB tensor in one piece.
        let cpu = &Device::Cpu;
        let (_dir, path) = saved(vec![
            ("big", Tensor::ones(4 << 20, DType::F32, cpu)?),
            ("small", Tensor::ones(2048, DType::F32, cpu)?),
        ]);
        let mut mapped = Mapped::open(&path)?;
        mapped.block = 1 << 20;
        let at = mapped.file.bytes().as_ptr();
        for name in ["big", "small"] {
            assert_eq!(
                mapped.load(name, cpu)?.sum_all()?.to_scalar::<f32>()?,
                mapped.meta.info(name).unwrap().shape[0] as f32
            );
            // A page or two around the header and at block edges may stay; not the tensor's 16 MiB.
            assert!(
                crate::embed::mapped::resident_kib(at) < 1024,
                "{name}: {} KiB resident",
                crate::embed::mapped::resident_kib(at)
            );
        }
        // What the check reads: the pages of a map that is read and not handed back.
        std::hint::black_box(mapped.file.bytes().iter().step_by(4096).map(|&b| b as usize).sum::<usize>());
        assert!(
            crate::embed::mapped::resident_kib(at) >= 16 << 10,
            "{} KiB resident after reading every page",
            crate::embed::mapped::resident_kib(at)
        );
        Ok(())
    }

    #[test]
    fn an_index_lists_its_files_once_sorted() {
        let text = r#"{"metadata": {"total_size": 10},
            "weight_map": {"b.w": "model-00002-of-00002.safetensors", "a.w": "model-00001-of-00002.safetensors",
                           "c.w": "model-00002-of-00002.safetensors"}}"#;
        assert_eq!(
            index_files(text).unwrap(),
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        );
    }

    #[test]
    fn a_bad_index_is_an_error_with_its_line() {
        let (line, what) = index_files("{\n \"weight_map\": {\n  \"a\": 3}}").unwrap_err();
        assert_eq!(line, 3, "{what}");
        assert!(index_files(r#"{"weight_map": {}}"#).unwrap_err().1.contains("lists no files"));
        for outside in ["../secret.safetensors", "/etc/passwd", "sub/x.safetensors", ".hidden"] {
            let text = format!(r#"{{"weight_map": {{"a": "{outside}"}}}}"#);
            assert!(index_files(&text).unwrap_err().1.contains("not a file beside the index"), "{outside}");
        }
    }
}
