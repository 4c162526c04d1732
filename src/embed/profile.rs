//! Where a forward pass spends its time, phase by phase, for finding the slow part on a GPU
//! without a profiler (the lent GPU machines have no Nsight Systems). With `EMBEVAL_PROFILE=1`
//! each phase of the candle-graph layers (projections, attention, feed-forward, norms)
//! synchronises the device before and after it and adds its wall time; `encode` prints the table
//! to stderr when it ends. The synchronisations slow the run down, so the table tells shares,
//! not speed. Off (the default) a phase costs one check of a flag read once.

use std::sync::{LazyLock, Mutex};

use candle_core::Device;

static ON: LazyLock<bool> = LazyLock::new(|| std::env::var_os("EMBEVAL_PROFILE").is_some_and(|v| v == "1"));

/// (phase, seconds, calls), in the order the phases first ran.
static TABLE: Mutex<Vec<(&'static str, f64, usize)>> = Mutex::new(Vec::new());

/// Runs `f` as the phase `name`, timed when profiling is on.
pub fn phase<T>(
    name: &'static str,
    device: &Device,
    f: impl FnOnce() -> candle_core::Result<T>,
) -> candle_core::Result<T> {
    if !*ON {
        return f();
    }
    timed(name, device, f)
}

fn timed<T>(name: &'static str, device: &Device, f: impl FnOnce() -> candle_core::Result<T>) -> candle_core::Result<T> {
    device.synchronize()?;
    let clock = web_time::Instant::now();
    let out = f()?;
    device.synchronize()?;
    let seconds = clock.elapsed().as_secs_f64();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    match table.iter_mut().find(|(n, ..)| *n == name) {
        Some(row) => (row.1, row.2) = (row.1 + seconds, row.2 + 1),
        None => table.push((name, seconds, 1)),
    }
    Ok(out)
}

/// The table so far (phase, seconds, calls, share of the total) under `heading`, emptied;
/// `None` when nothing was timed.
pub fn take(heading: &str) -> Option<String> {
    let table = std::mem::take(&mut *TABLE.lock().unwrap_or_else(|e| e.into_inner()));
    let total: f64 = table.iter().map(|r| r.1).sum();
    (!table.is_empty()).then(|| {
        let rows: String = table
            .iter()
            .map(|(name, s, n)| {
                format!("  {name:<22} {s:>9.3} s {n:>8} calls {:>6.1} %\n", 100.0 * s / total.max(1e-12))
            })
            .collect();
        format!(
            "profile of {heading} (EMBEVAL_PROFILE=1, device synchronised around each phase):\n{rows}  {:<22} {total:>9.3} s\n",
            "total"
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn phases_add_up_in_first_run_order() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        for _ in 0..3 {
            super::timed("attention", &dev, || {
                std::thread::sleep(std::time::Duration::from_millis(2));
                Ok(())
            })?;
            super::timed("feed-forward", &dev, || Ok(()))?;
        }
        let table = super::take("a test").expect("three phases timed");
        let rows: Vec<&str> = table.lines().collect();
        assert!(rows[1].trim_start().starts_with("attention") && rows[1].contains("3 calls"), "{table}");
        assert!(rows[2].trim_start().starts_with("feed-forward"), "{table}");
        assert!(rows[3].trim_start().starts_with("total"), "{table}");
        assert!(super::take("a test").is_none(), "emptied");
        Ok(())
    }
}
