//! Peak memory while one neural model loads and encodes, for the results' efficiency figures.
//!
//! - Linux: the resident-set high-water mark (`VmHWM` in `/proc/self/status`), reset when the
//!   model starts loading (`echo 5 > /proc/self/clear_refs`), so each model gets its own peak.
//!   Where the reset is refused the value is the process's peak so far, and says so.
//! - macOS: the process's resident-set high-water mark (`getrusage`'s `ru_maxrss`, in bytes
//!   there), which cannot be reset: the peak of the process so far.
//! - Windows: the process's peak working set (`K32GetProcessMemoryInfo`'s `PeakWorkingSetSize`),
//!   which cannot be reset either: the peak of the process so far.
//! - wasm32: the size of the module's linear memory, which only grows: the peak of the page's
//!   worker so far (weights, activations and the dataset together).
//! - Elsewhere: not measured (`null` in results.json).

use serde::Serialize;

/// What was measured, in MiB, and over what span.
#[derive(Debug, Clone, Serialize)]
pub struct Peak {
    pub peak_mib: f64,
    /// `model` (reset when this model started loading), `process` (since the process
    /// started) or `wasm-memory` (the wasm instance's linear memory).
    pub scope: &'static str,
}

/// Started before a model loads; [`PeakMemory::read`] after it has encoded.
pub struct PeakMemory {
    scope: &'static str,
}

impl PeakMemory {
    pub fn start() -> PeakMemory {
        #[cfg(target_os = "linux")]
        {
            let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            PeakMemory { scope: if reset { "model" } else { "process" } }
        }
        #[cfg(any(target_os = "macos", windows))]
        {
            PeakMemory { scope: "process" }
        }
        #[cfg(target_arch = "wasm32")]
        {
            PeakMemory { scope: "wasm-memory" }
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", windows, target_arch = "wasm32")))]
        {
            PeakMemory { scope: "none" }
        }
    }

    pub fn read(&self) -> Option<Peak> {
        let bytes = current_peak_bytes()?;
        Some(Peak { peak_mib: (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0, scope: self.scope })
    }
}

#[cfg(target_os = "linux")]
fn current_peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(target_os = "macos")]
fn current_peak_bytes() -> Option<u64> {
    // SAFETY: rusage is plain integers, valid when all zero; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    u64::try_from(usage.ru_maxrss).ok()
}

#[cfg(windows)]
fn current_peak_bytes() -> Option<u64> {
    use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    // SAFETY: the counters are plain integers, valid when all zero; the call writes at most `cb`
    // bytes into them, and the current process's pseudo-handle needs no closing.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    counters.cb = cb;
    if unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, cb) } == 0 {
        return None;
    }
    Some(counters.PeakWorkingSetSize as u64)
}

#[cfg(target_arch = "wasm32")]
fn current_peak_bytes() -> Option<u64> {
    Some(core::arch::wasm32::memory_size(0) as u64 * 65536)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows, target_arch = "wasm32")))]
fn current_peak_bytes() -> Option<u64> {
    None
}
