//! Where neural models run: `--device auto|cpu|cuda|cuda:N|metal`.
//!
//! CUDA and Metal come from candle's backends, compiled in with this crate's `cuda` / `metal`
//! features; the default build is CPU-only. `auto` takes the first CUDA GPU, else the Metal GPU,
//! else the CPU, and the report says which ([`Opened::name`]). A GPU asked for by name that is
//! not there (or not compiled in) is an error naming the fix, never a silent CPU run.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A `--device` value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl DeviceChoice {
    pub fn parse(s: &str) -> Result<DeviceChoice> {
        let bad = || Error::usage("--device", format!("'{s}': give auto, cpu, cuda, cuda:N (N = 0, 1, …) or metal"));
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => DeviceChoice::Auto,
            "cpu" => DeviceChoice::Cpu,
            "cuda" | "gpu" => DeviceChoice::Cuda(0),
            "metal" | "mps" => DeviceChoice::Metal,
            other => match other.strip_prefix("cuda:") {
                Some(n) => DeviceChoice::Cuda(n.parse().map_err(|_| bad())?),
                None => return Err(bad()),
            },
        })
    }

    pub fn name(self) -> String {
        match self {
            DeviceChoice::Auto => "auto".into(),
            DeviceChoice::Cpu => "cpu".into(),
            DeviceChoice::Cuda(n) => format!("cuda:{n}"),
            DeviceChoice::Metal => "metal".into(),
        }
    }
}

impl DeviceChoice {
    /// A GPU asked for by name must be compiled into this build: checked when the flags are
    /// read, before any model runs.
    pub fn check_built_in(self) -> Result<()> {
        #[cfg(feature = "models")]
        use candle_core::utils::{cuda_is_available, metal_is_available};
        #[cfg(not(feature = "models"))]
        let (cuda_is_available, metal_is_available) = (|| false, || false);
        match self {
            DeviceChoice::Cuda(n) if !cuda_is_available() => Err(Error::usage(
                "--device",
                format!(
                    "cuda:{n}: this embeval was built without CUDA; rebuild with `cargo install --features cuda` \
                     (needs the CUDA toolkit), or use --device cpu"
                ),
            )),
            DeviceChoice::Metal if !metal_is_available() => Err(Error::usage(
                "--device",
                "metal: this embeval was built without Metal; rebuild with `cargo install --features metal` on macOS, \
                 or use --device cpu",
            )),
            _ => Ok(()),
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DeviceChoice::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An opened device and what to call it in reports.
#[cfg(feature = "models")]
pub struct Opened {
    pub device: candle_core::Device,
    /// `cpu`, `cuda:0 (NVIDIA H100 80GB HBM3)`, `metal`.
    pub name: String,
}

/// A candle error's message without the backtrace candle appends to some of them.
#[cfg(feature = "models")]
pub fn candle_message(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

#[cfg(feature = "models")]
impl Opened {
    /// Opens the device a choice names. `auto` never fails: without a usable GPU it is the CPU.
    pub fn open(choice: DeviceChoice) -> Result<Opened> {
        use candle_core::{utils, Device};
        let cpu = || Opened { device: Device::Cpu, name: "cpu".into() };
        let gpu_error = |what: &str, e: candle_core::Error, fix: &str| {
            Error::usage("--device", format!("{what}: {}; {fix}", candle_message(&e)))
        };
        choice.check_built_in()?;
        match choice {
            DeviceChoice::Cpu => Ok(cpu()),
            DeviceChoice::Cuda(n) => Device::new_cuda(n)
                .map(|device| cuda_opened(device, n))
                .map_err(|e| gpu_error(&format!("cuda:{n}"), e, "check nvidia-smi and the GPU number")),
            DeviceChoice::Metal => Device::new_metal(0)
                .map(|device| Opened { device, name: "metal".into() })
                .map_err(|e| gpu_error("metal", e, "use --device cpu")),
            DeviceChoice::Auto => {
                if utils::cuda_is_available() {
                    if let Ok(device) = Device::new_cuda(0) {
                        return Ok(cuda_opened(device, 0));
                    }
                }
                if utils::metal_is_available() {
                    if let Ok(device) = Device::new_metal(0) {
                        return Ok(Opened { device, name: "metal".into() });
                    }
                }
                Ok(cpu())
            }
        }
    }
}

/// A CUDA device as opened: named, its memory pool keeping what it frees.
#[cfg(feature = "models")]
fn cuda_opened(device: candle_core::Device, n: usize) -> Opened {
    keep_freed_memory(&device);
    Opened { name: cuda_name(&device, n), device }
}

/// cudarc allocates with `cuMemAllocAsync` from the device's memory pool, whose release threshold
/// is 0 by default: at every synchronisation — each batch ends in one, copying its vectors to
/// the host — the pool hands all its unused memory back to the driver, and the next batch maps
/// it again. A threshold of `u64::MAX` keeps it, as PyTorch's caching allocator does; an
/// out-of-memory retry first gives it back ([`release_freed_memory`]). Best effort: a driver
/// that refuses leaves the default.
#[cfg(feature = "models")]
fn keep_freed_memory(device: &candle_core::Device) {
    #[cfg(feature = "cuda")]
    if let Some(pool) = memory_pool(device) {
        use candle_core::cuda_backend::cudarc::driver::{result, sys};
        let mut keep = u64::MAX;
        let threshold = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD;
        // SAFETY: a valid pool, and the release threshold is a u64.
        let _ = unsafe { result::mem_pool::set_attribute(pool, threshold, (&mut keep as *mut u64).cast()) };
    }
    let _ = device;
}

/// Gives the memory a CUDA pool keeps ([`keep_freed_memory`]) back to the driver, so that a
/// batch retried after running out of memory finds all of it. Nothing elsewhere.
#[cfg(feature = "models")]
pub fn release_freed_memory(device: &candle_core::Device) {
    #[cfg(feature = "cuda")]
    if let Some(pool) = memory_pool(device) {
        if device.synchronize().is_ok() {
            // SAFETY: a valid pool; trimming frees only memory no allocation uses.
            let _ = unsafe { candle_core::cuda_backend::cudarc::driver::result::mem_pool::trim_to(pool, 0) };
        }
    }
    let _ = device;
}

/// The memory pool cudarc allocates from on a CUDA device (`None`: not CUDA, or the driver
/// allocates without pools).
#[cfg(feature = "cuda")]
fn memory_pool(device: &candle_core::Device) -> Option<candle_core::cuda_backend::cudarc::driver::sys::CUmemoryPool> {
    use candle_core::cuda_backend::cudarc::driver::result;
    let candle_core::Device::Cuda(d) = device else { return None };
    let stream = d.cuda_stream();
    let ctx = stream.context();
    if !ctx.has_async_alloc() {
        return None;
    }
    // SAFETY: the device is the context's own.
    unsafe { result::device::get_mem_pool(ctx.cu_device()) }.ok()
}

/// `cuda:N (GPU name)` where the driver tells the name.
#[cfg(feature = "models")]
fn cuda_name(device: &candle_core::Device, n: usize) -> String {
    #[cfg(feature = "cuda")]
    if let candle_core::Device::Cuda(d) = device {
        if let Ok(name) = d.cuda_stream().context().name() {
            return format!("cuda:{n} ({name})");
        }
    }
    let _ = device;
    format!("cuda:{n}")
}

/// Free and total memory of a CUDA device in bytes; `None` elsewhere (the CPU and Metal batch
/// by the fixed token budget, and every device halves a batch that runs out of memory).
#[cfg(feature = "models")]
pub fn free_memory(device: &candle_core::Device) -> Option<(usize, usize)> {
    #[cfg(feature = "cuda")]
    if let candle_core::Device::Cuda(d) = device {
        return d.cuda_stream().context().mem_get_info().ok();
    }
    let _ = device;
    None
}

/// Memory the host can still give this process without swapping, in bytes: `MemAvailable` in
/// `/proc/meminfo` on Linux, and no more than the memory limits of the process's cgroup leave
/// ([`cgroup_room`]: a container's limit, a Kubernetes pod's or a Slurm job's, which
/// `MemAvailable` does not show); `None` elsewhere (and in wasm, whose memory the browser limits).
pub fn host_available_memory() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let host = parse_mem_available(&info)?;
        let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Some(cgroup_room(std::path::Path::new("/sys/fs/cgroup"), &groups).map_or(host, |room| room.min(host)))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// What the memory limits of the cgroup in `proc_self_cgroup` (the text of `/proc/self/cgroup`)
/// and of its ancestors leave, under the cgroup file system at `root`: at each level with a
/// limit, the limit less the memory in use that is not the page cache (usage less its file
/// pages, active and inactive, which the kernel reclaims before it kills: a model's file read
/// through a map leaves gigabytes of them charged to the cgroup); the least of them. cgroup v2
/// (`0::/PATH`: `memory.max`, `memory.current`, `inactive_file` + `active_file`) and v1
/// (`N:memory:/PATH` under `root/memory`: `memory.limit_in_bytes`, `memory.usage_in_bytes`,
/// `total_inactive_file` + `total_active_file`). Levels whose folder is not there are passed
/// over: inside a container the path names the host's folder, and the container's own cgroup
/// is the mounted root. `None` without any limit.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn cgroup_room(root: &std::path::Path, proc_self_cgroup: &str) -> Option<usize> {
    let read = |dir: &std::path::Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
    // A limit this large is none (v1 writes 2^63 rounded down to a page).
    let number = |text: Option<String>| text?.trim().parse::<u64>().ok().filter(|&n| n < 1 << 60);
    // The sum of `keys`' values in memory.stat.
    let stat = |dir: &std::path::Path, keys: &[&str]| -> u64 {
        let text = read(dir, "memory.stat").unwrap_or_default();
        let value = |l: &str| l.split_once(' ').filter(|(k, _)| keys.contains(k))?.1.trim().parse::<u64>().ok();
        text.lines().filter_map(value).sum()
    };
    let mut least: Option<u64> = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (base, files) = if id == "0" && controllers.is_empty() {
            (root.to_path_buf(), ["memory.max", "memory.current", "inactive_file", "active_file"])
        } else if controllers.split(',').any(|c| c == "memory") {
            let v1 = ["memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file", "total_active_file"];
            (root.join("memory"), v1)
        } else {
            continue;
        };
        // The cgroup itself, then each ancestor up to the root.
        let mut dir =
            path.trim_start_matches('/').split('/').filter(|c| !c.is_empty()).fold(base.clone(), |d, c| d.join(c));
        loop {
            if let Some(limit) = number(read(&dir, files[0])) {
                let cache = stat(&dir, &files[2..]);
                let used = number(read(&dir, files[1])).unwrap_or(0).saturating_sub(cache);
                let room = limit.saturating_sub(used);
                least = Some(least.map_or(room, |l| l.min(room)));
            }
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    least.map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// `MemAvailable:   20971520 kB` → bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_mem_available(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Whether a failed forward pass ran out of device memory (CUDA, Metal or the host allocator as
/// candle reports it), so the batch can be split and retried.
pub fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("out of memory")
        || m.contains("out_of_memory")
        || m.contains("outofmemory")
        || m.contains("failed to create metal resource")
        || m.contains("failed to allocate")
        || m.contains("alloc_failed")
}

#[cfg(test)]
mod tests {
    use super::{is_out_of_memory, parse_mem_available, DeviceChoice};

    #[test]
    fn mem_available_from_proc_meminfo() {
        let info = "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20971520 kB\n";
        assert_eq!(parse_mem_available(info), Some(20 << 30));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        #[cfg(target_os = "linux")]
        assert!(super::host_available_memory().is_some_and(|b| b > 0));
    }

    /// The limits of a cgroup and its ancestors, v2 and v1, less their working sets; levels
    /// that are not there passed over; no limit, no figure.
    #[test]
    fn cgroup_limits_leave_the_least_room() {
        use super::cgroup_room;
        let root = tempfile::tempdir().unwrap();
        let put = |dir: &str, files: &[(&str, &str)]| {
            let d = root.path().join(dir);
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in files {
                std::fs::write(d.join(name), text).unwrap();
            }
        };
        const GIB: usize = 1 << 30;
        // v2: a pod's limit (4 GiB, 3 GiB used of which 1 GiB file pages) above the
        // container's own (no limit), under a root without memory.max.
        put("kubepods/pod1", &[("memory.max", "4294967296\n"), ("memory.current", "3221225472\n")]);
        put("kubepods/pod1", &[("memory.stat", "anon 1\ninactive_file 1073741823\nactive_file 1\nfile 9\n")]);
        put("kubepods/pod1/c1", &[("memory.max", "max\n"), ("memory.current", "100\n")]);
        assert_eq!(cgroup_room(root.path(), "0::/kubepods/pod1/c1\n"), Some(2 * GIB));
        // A tighter limit further down wins; usage past a limit leaves nothing.
        put("kubepods/pod1/c1", &[("memory.max", "1073741824\n"), ("memory.current", "1610612736\n")]);
        assert_eq!(cgroup_room(root.path(), "0::/kubepods/pod1/c1\n"), Some(0));
        // v1 (hybrid: the v2 line has no memory files), inside a container whose path is the
        // host's: only the mounted root is there.
        put(
            "memory",
            &[
                ("memory.limit_in_bytes", "8589934592\n"),
                ("memory.usage_in_bytes", "2147483648\n"),
                ("memory.stat", "inactive_file 0\ntotal_inactive_file 536870912\ntotal_active_file 536870912\n"),
            ],
        );
        assert_eq!(cgroup_room(root.path(), "5:cpu:/\n4:memory,foo:/docker/abc\n0::/\n"), Some(7 * GIB));
        // v1's "no limit" and no memory line at all: none.
        put("memory", &[("memory.limit_in_bytes", "9223372036854771712\n")]);
        assert_eq!(cgroup_room(root.path(), "4:memory:/docker/abc\n"), None);
        assert_eq!(cgroup_room(root.path(), "3:cpuset:/\n"), None);
        assert_eq!(cgroup_room(root.path(), ""), None);
    }

    #[test]
    fn device_values() {
        assert_eq!(DeviceChoice::parse("auto").unwrap(), DeviceChoice::Auto);
        assert_eq!(DeviceChoice::parse("CPU").unwrap(), DeviceChoice::Cpu);
        assert_eq!(DeviceChoice::parse("cuda").unwrap(), DeviceChoice::Cuda(0));
        assert_eq!(DeviceChoice::parse("cuda:3").unwrap(), DeviceChoice::Cuda(3));
        assert_eq!(DeviceChoice::parse("metal").unwrap(), DeviceChoice::Metal);
        for bad in ["cuda:x", "tpu", "cuda:-1"] {
            let e = DeviceChoice::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--device") && e.contains("cuda:N"), "{e}");
        }
        let json = serde_json::to_string(&DeviceChoice::Cuda(1)).unwrap();
        assert_eq!(json, "\"cuda:1\"");
        assert_eq!(serde_json::from_str::<DeviceChoice>(&json).unwrap(), DeviceChoice::Cuda(1));
    }

    #[cfg(feature = "models")]
    #[test]
    fn a_gpu_not_built_in_is_an_error_and_auto_falls_back() {
        use super::Opened;
        // The default build (CI, laptops) has neither backend.
        if !candle_core::utils::cuda_is_available() {
            let e = Opened::open(DeviceChoice::Cuda(0)).err().unwrap().to_string();
            assert!(e.contains("--features cuda"), "{e}");
            // The same check runs when the flags are read, before any model.
            let config = crate::Config {
                models: vec!["bm25".into(), "some/model-folder".into()],
                neural: crate::NeuralOptions { device: DeviceChoice::Cuda(0), ..Default::default() },
                ..Default::default()
            };
            assert!(config.validate().unwrap_err().to_string().contains("--features cuda"));
            assert!(DeviceChoice::Cpu.check_built_in().is_ok());
            if !candle_core::utils::metal_is_available() {
                assert_eq!(Opened::open(DeviceChoice::Auto).unwrap().name, "cpu");
            }
        }
        assert_eq!(Opened::open(DeviceChoice::Cpu).unwrap().name, "cpu");
    }

    #[test]
    fn out_of_memory_messages() {
        // cudarc 0.19's driver error as candle passes it on (Display is its Debug form); a
        // Metal buffer that cannot be made.
        assert!(is_out_of_memory("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"));
        assert!(is_out_of_memory("Metal error Failed to create metal resource: Buffer"));
        // cuBLAS's workspace allocation (cudarc's Debug form, as candle's error shows it).
        assert!(is_out_of_memory("Cublas(CublasError(CUBLAS_STATUS_ALLOC_FAILED))"));
        assert!(!is_out_of_memory("Cublas(CublasError(CUBLAS_STATUS_NOT_SUPPORTED))"));
        assert!(!is_out_of_memory("shape mismatch in matmul, lhs: [2, 3], rhs: [4, 5]"));
    }
}
