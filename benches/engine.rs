//! Times embeval's metric engine and exact search on the synthetic data that
//! `benches/make_bench_data.py` writes (default /tmp/embeval-bench, or $EMBEVAL_BENCH_DIR).
//! Prints one JSON line per measurement with the median of `REPEATS` runs, in the same shape
//! as `benches/reference_*.py`, so `benches/run.sh` can put ratios side by side.
//!
//! cargo bench --bench engine

use std::path::PathBuf;
use std::time::Instant;

use embeval::data::Files;
use embeval::metrics::{self, Convention};

const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(what: &str, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..REPEATS {
        let t = Instant::now();
        let out = f();
        runs.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    let m = median(runs.clone());
    print!("{{\"tool\": \"embeval\", \"what\": \"{what}\", \"median_s\": {m:.6}, \"runs\": {runs:?}");
    (m, last.expect("REPEATS > 0"))
}

fn npy(path: &PathBuf) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run benches/make_bench_data.py first)", path.display()));
    let arr = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = arr.shape().to_vec();
    (shape[0] as usize, shape[1] as usize, arr.into_vec::<f32>().expect("f32"))
}

fn main() {
    let dir = PathBuf::from(std::env::var("EMBEVAL_BENCH_DIR").unwrap_or_else(|_| "/tmp/embeval-bench".into()));
    let threads = rayon::current_num_threads();
    eprintln!("embeval bench: {} (rayon threads: {threads})", dir.display());

    // Metrics: 10,000 queries × 1,000 docs, ks as in reference_metrics.py.
    let mut files = Files::new(dir.display().to_string());
    files.add_path("qrels", dir.join("qrels.trec"));
    files.add_path("run", dir.join("run.trec"));
    let ks = [10, 100];
    let (_, (rankings, qrels)) = time("metrics: parse qrels+run", || {
        let mut dups = Vec::new();
        let qrels = embeval::data::trec::read_qrels(&files, "qrels", &mut dups).expect("qrels");
        let mut r = embeval::data::trec::read_run(&files, "run").expect("run");
        r.sort(Convention::Trec, embeval::RunScores::Float);
        (r, qrels)
    });
    println!("}}");
    let (_, (_, summary)) = time("metrics: evaluate (parsed)", || {
        metrics::evaluate(&rankings, &qrels, Convention::Trec, embeval::RunScores::Float, &ks)
    });
    println!(", \"ndcg@10\": {:.6}, \"queries\": {}}}", summary.metrics["ndcg@10"], summary.num_queries);
    let (_, _) = time("metrics: parse + evaluate", || {
        let mut dups = Vec::new();
        let qrels = embeval::data::trec::read_qrels(&files, "qrels", &mut dups).expect("qrels");
        let mut r = embeval::data::trec::read_run(&files, "run").expect("run");
        r.sort(Convention::Trec, embeval::RunScores::Float);
        metrics::evaluate(&r, &qrels, Convention::Trec, embeval::RunScores::Float, &ks)
    });
    println!("}}");

    // Exact search: top-100 by dot product of unit vectors.
    for (qf, df) in [("q256.npy", "d8192.npy"), ("q1000.npy", "d100k.npy")] {
        let (nq, dim, q) = npy(&dir.join(qf));
        let (nd, _, d) = npy(&dir.join(df));
        let ties: Vec<u32> = (0..nd as u32).collect();
        let (t, _) =
            time(&format!("search top-100 {nq}x{nd}x{dim}"), || embeval::search::cpu::top_k(&q, &d, dim, &ties, 100));
        let gflops = 2.0 * nq as f64 * nd as f64 * dim as f64 / t / 1e9;
        println!(", \"gflops\": {gflops:.2}, \"queries_per_s\": {:.1}, \"threads\": {threads}}}", nq as f64 / t);
    }
}
