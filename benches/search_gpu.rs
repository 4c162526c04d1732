//! Exact top-k search: the CPU searcher against the WGSL shaders on whatever adapter wgpu finds
//! (lavapipe here; SwiftShader with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json;
//! a real GPU where there is one), on 256 × 8,192 × 384 and 1,000 × 100,000 × 384 random unit
//! vectors, k = 100. Whole calls are timed (upload, dispatch, read-back, merge); median of 3
//! after one warm-up. One JSON line per measurement: GFLOP/s = 2·nq·nd·dim / s, queries/s.
//!
//! cargo bench --bench search_gpu        (benches/run_search.sh runs both adapters)
//!
//! Filters, for tuning one case: EMBEVAL_BENCH_SHAPE=256x8192 (or 1000x100000) runs only that
//! shape; any other NQxND[xDIM] runs that shape instead (e.g. 10000x1000000x1024 on a GPU
//! machine, benches/gpu/run.sh); EMBEVAL_BENCH_PATH=cpu or gpu runs only that path. The GPU runs each kernel variant:
//! its default tile with f32 inputs, the other tile, and f16 inputs (with exact rescoring)
//! where the adapter has shader-f16.
//!
//! Path `device`: the search on the models' device through candle (`search::device`: cuBLAS
//! on a `--features cuda` build with a GPU, Metal's matmul with `metal`; candle's CPU matmul
//! otherwise — there it measures the bound's overhead against the CPU searcher).
//! EMBEVAL_BENCH_PATH takes a comma-separated list (`gpu,device`).

use std::time::Instant;

use embeval::search::cpu;
use embeval::search::gpu::{GpuSearcher, Precision, Tile};

const DIM: usize = 384;

/// `NQxND[xDIM]`.
fn parse_shape(s: &str) -> Option<(usize, usize, usize)> {
    let v: Vec<usize> = s.split('x').map(|n| n.parse().ok()).collect::<Option<_>>()?;
    match v[..] {
        [nq, nd] => Some((nq, nd, DIM)),
        [nq, nd, dim] => Some((nq, nd, dim)),
        _ => None,
    }
}
const K: usize = 100;

fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut v: Vec<f32> = (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    embeval::search::normalize_rows(&mut v, dim);
    v
}

fn median(f: &mut dyn FnMut()) -> f64 {
    f();
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

fn main() {
    let mut gpu = pollster::block_on(GpuSearcher::new()).ok();
    let adapter = gpu.as_ref().map(GpuSearcher::adapter_description).unwrap_or_default();
    let mut variants = Vec::new();
    if let Some(g) = &gpu {
        let other = if g.tile() == Tile::Wide { Tile::Narrow } else { Tile::Wide };
        variants.extend([(g.tile(), Precision::F32), (other, Precision::F32)]);
        if g.has_f16() {
            variants.push((g.tile(), Precision::F16));
        }
    }
    let shape = std::env::var("EMBEVAL_BENCH_SHAPE").ok().filter(|s| !s.is_empty());
    let path = std::env::var("EMBEVAL_BENCH_PATH").ok().filter(|s| !s.is_empty());
    let wants = |p: &str| path.as_deref().is_none_or(|want| want.split(',').any(|w| w.trim() == p));
    let on_device = embeval::embed::device::Opened::open(embeval::embed::device::DeviceChoice::Auto)
        .map(|o| embeval::search::device::DeviceSearcher::new(o.device, o.name))
        .expect("--device auto never fails");
    let mut shapes = vec![(256, 8192, DIM), (1000, 100_000, DIM)];
    if let Some(s) = &shape {
        let one = parse_shape(s).unwrap_or_else(|| panic!("EMBEVAL_BENCH_SHAPE={s}: expected NQxND[xDIM]"));
        shapes.retain(|&x| x == one);
        if shapes.is_empty() {
            shapes.push(one);
        }
    }
    for (nq, nd, dim) in shapes {
        let (q, d) = (rows(nq, dim, 1), rows(nd, dim, 2));
        let ties: Vec<u32> = (0..nd as u32).collect();
        let flops = 2.0 * (nq * nd * dim) as f64;
        let report = |path: &str, s: f64| {
            println!(
                "{{\"what\": \"top-{K} {nq}x{nd}x{dim}\", \"path\": \"{path}\", \"median_s\": {s:.4}, \"gflops\": {:.2}, \"queries_per_s\": {:.1}, \"threads\": {}}}",
                flops / s / 1e9,
                nq as f64 / s,
                rayon::current_num_threads()
            );
        };
        if wants("cpu") {
            report("cpu", median(&mut || drop(cpu::top_k(&q, &d, dim, &ties, K))));
        }
        if wants("device") {
            let mut kept = String::new();
            let s = median(&mut || {
                let (hits, stats) = on_device.top_k(&q, &d, dim, &ties, K).expect("device search");
                kept = embeval::search::device::describe(&stats);
                drop(hits);
            });
            report(&format!("device: {}, candle matmul{kept}", on_device.name()), s);
        }
        for &(tile, precision) in variants.iter().filter(|_| wants("gpu")) {
            let g = gpu.take().expect("an adapter").with_tile(tile).with_precision(precision);
            let s = median(&mut || drop(g.top_k_blocking(&q, &d, dim, &ties, K).expect("GPU search")));
            report(&format!("gpu: {adapter}, {tile:?} tiles, {precision:?}"), s);
            gpu = Some(g);
        }
    }
}
