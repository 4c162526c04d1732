//! The per-model peak memory (src/embed/memory.rs) in a process of its own: the peak is the
//! process's, so tests in other threads would move it.
#![cfg(all(target_os = "linux", feature = "models"))]

use embeval::embed::memory::PeakMemory;

/// Each model's peak starts from the memory in use when it starts (the reset works), and grows
/// with what it touches.
#[test]
fn each_start_resets_the_peak_and_an_allocation_raises_it() {
    let mut big = vec![1u8; 256 << 20];
    big[12345] = 2; // written, so resident
    std::hint::black_box(&big);
    let with_big = PeakMemory::start().read().unwrap();
    assert!(with_big.peak_mib >= 256.0, "{with_big:?}");
    drop(big);

    let m = PeakMemory::start();
    let before = m.read().unwrap();
    assert_eq!(before.scope, "model", "the peak could not be reset here");
    assert!(before.peak_mib + 200.0 <= with_big.peak_mib, "reset: {before:?} after {with_big:?}");
    let mut again = vec![1u8; 128 << 20];
    again[54321] = 2;
    std::hint::black_box(&again);
    let after = m.read().unwrap();
    assert!(after.peak_mib >= before.peak_mib + 100.0, "{before:?} → {after:?} after touching 128 MiB");
}
