//! Native CPU encoding throughput of a sentence-transformers model folder on real texts:
//! the xquad-en paragraphs (240, title + text) and questions (1,190), batch size 32.
//! Prints JSON lines like benches/reference_encode.py, which times sentence-transformers
//! (PyTorch CPU, same threads) on the same texts, so benches/run_encode.sh can take the ratio.
//!
//! cargo bench --bench encode -- MODEL_DIR
//! `EMBEVAL_ENCODE_TEXTS=N` times the first N texts of each list (a large model on few cores);
//! `EMBEVAL_ENCODE_JOIN=K` joins every K consecutive paragraphs (one article's, with a space)
//! into one long text and `EMBEVAL_ENCODE_MAX_LENGTH=L` truncates at L tokens instead of the
//! model's max_seq_length (long-context speed). `EMBEVAL_ENCODE_DTYPE=f32|bf16|f16` and
//! `EMBEVAL_ENCODE_ATTENTION=auto|eager|varlen` set `--dtype` and `--attention` (on the CPU, bf16
//! with `eager` is the candle graph, with `auto` the fast path's half-precision weights).

use std::path::PathBuf;
use std::time::Instant;

use embeval::embed::encoder::Encoder;
use embeval::{Dataset, Files, NeuralOptions, Quiet};

fn main() {
    let model =
        std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "models/all-MiniLM-L6-v2".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ds =
        Dataset::load(&Files::from_dir(&root.join("../shared/data/xquad-en")).unwrap(), &Default::default()).unwrap();
    let mut files = Files::new("bench");
    files.add_dir("m", &PathBuf::from(&model)).unwrap();
    // Batches of 32 texts as sentence-transformers' default (the token budget never binds here).
    let env = |name: &str| std::env::var(name).ok().and_then(|n| n.parse::<usize>().ok());
    fn choice<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
        std::env::var(name).ok().map(|v| serde_json::from_value(serde_json::json!(v)).expect(name))
    }
    let mut opts = NeuralOptions { max_length: env("EMBEVAL_ENCODE_MAX_LENGTH"), ..Default::default() };
    // f32 unless asked, as reference_encode.py (`--dtype auto` would follow a bf16 config).
    opts.dtype = choice("EMBEVAL_ENCODE_DTYPE").unwrap_or(embeval::Dtype::F32);
    opts.attention = choice("EMBEVAL_ENCODE_ATTENTION").unwrap_or(opts.attention);
    let enc = Encoder::load(&files, "m", &opts).unwrap();
    let threads = rayon::current_num_threads();
    let limit = env("EMBEVAL_ENCODE_TEXTS").unwrap_or(usize::MAX);
    let join = env("EMBEVAL_ENCODE_JOIN").unwrap_or(1).max(1);
    let docs: Vec<String> =
        ds.corpus.chunks(join).map(|c| c.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join(" ")).collect();
    for (what, texts) in [
        ("docs", docs.iter().map(String::as_str).take(limit).collect::<Vec<_>>()),
        ("queries", ds.queries.iter().map(|q| q.text.as_str()).take(limit).collect::<Vec<_>>()),
    ] {
        enc.encode(&texts[..32.min(texts.len())], &opts, &Quiet).unwrap(); // warm-up
        let mut runs = Vec::new();
        let mut tokens = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let (_, stats) = enc.encode(&texts, &opts, &Quiet).unwrap();
            runs.push(t.elapsed().as_secs_f64());
            tokens = stats.tokens;
        }
        runs.sort_by(f64::total_cmp);
        let m = runs[1];
        println!(
            "{{\"tool\": \"embeval\", \"model\": \"{}\", \"what\": \"encode {what}\", \"dtype\": \"{}\", \"attention\": \"{}\", \"texts\": {}, \"tokens\": {tokens}, \"median_s\": {m:.4}, \"texts_per_s\": {:.1}, \"threads\": {threads}, \"runs\": {runs:?}}}",
            model.rsplit('/').next().unwrap_or(&model),
            enc.info.dtype.name(),
            enc.attention().unwrap_or_default(),
            texts.len(),
            texts.len() as f64 / m
        );
    }
}
