//! Every architecture in wasm32: the tiny XLM-RoBERTa, ModernBERT and Qwen3 checkpoints of
//! tests/fixtures/tiny_models (made and encoded by sentence-transformers in make_tiny.py),
//! handed to the encoder as bytes the way the page's worker does, must give sentence-transformers'
//! vectors (max |diff| ≤ 1e-5, as the native tests/tiny_models.rs). Real all-MiniLM-L6-v2 weights
//! are checked in the page itself (tests/e2e). Run by scripts/test-web.sh.
#![cfg(all(target_arch = "wasm32", feature = "models"))]

use wasm_bindgen_test::wasm_bindgen_test;

use embeval::embed::encoder::Encoder;
use embeval::{Files, NeuralOptions, Quiet};

/// A tiny model folder's files (all but 2_Normalize, which holds no weights; modules.json
/// decides normalisation), as the page's worker hands them over: bytes under the folder's name.
macro_rules! folder {
    ($name:literal) => {
        files_of(
            $name,
            &[
                (
                    "1_Pooling/config.json",
                    &include_bytes!(concat!("fixtures/tiny_models/", $name, "/1_Pooling/config.json"))[..],
                ),
                ("config.json", &include_bytes!(concat!("fixtures/tiny_models/", $name, "/config.json"))[..]),
                (
                    "config_sentence_transformers.json",
                    &include_bytes!(concat!("fixtures/tiny_models/", $name, "/config_sentence_transformers.json"))[..],
                ),
                (
                    "model.safetensors",
                    &include_bytes!(concat!("fixtures/tiny_models/", $name, "/model.safetensors"))[..],
                ),
                ("modules.json", &include_bytes!(concat!("fixtures/tiny_models/", $name, "/modules.json"))[..]),
                (
                    "sentence_bert_config.json",
                    &include_bytes!(concat!("fixtures/tiny_models/", $name, "/sentence_bert_config.json"))[..],
                ),
                ("tokenizer.json", &include_bytes!(concat!("fixtures/tiny_models/", $name, "/tokenizer.json"))[..]),
                (
                    "tokenizer_config.json",
                    &include_bytes!(concat!("fixtures/tiny_models/", $name, "/tokenizer_config.json"))[..],
                ),
            ],
        )
    };
}

fn files_of(name: &str, entries: &[(&str, &[u8])]) -> Files {
    let mut files = Files::new("tiny");
    for (rel, bytes) in entries {
        let logical = format!("{name}/{rel}");
        files.add_bytes(logical.clone(), logical, bytes.to_vec());
    }
    files
}

fn texts() -> Vec<String> {
    include_str!("fixtures/st_embeddings/texts.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string())
        .collect()
}

fn check(name: &str, files: Files, npy: &[u8]) {
    let opts = NeuralOptions { batch_size: 7, ..Default::default() };
    let enc = Encoder::load(&files, name, &opts).unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (got, _) = enc.encode(&refs, &opts, &Quiet).unwrap();
    let want = npyz::NpyFile::new(npy).unwrap().into_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len(), "{name}");
    let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    wasm_bindgen_test::console_log!(
        "{name} in wasm: {} texts, max |diff| to sentence-transformers {diff:e}",
        texts.len()
    );
    assert!(diff <= 1e-5, "{name}: max |diff| {diff}");
}

#[wasm_bindgen_test]
fn xlm_roberta_in_wasm_equals_sentence_transformers() {
    check("xlm-roberta", folder!("xlm-roberta"), include_bytes!("fixtures/tiny_models/xlm-roberta.npy"));
}

#[wasm_bindgen_test]
fn modernbert_in_wasm_equals_sentence_transformers() {
    check("modernbert", folder!("modernbert"), include_bytes!("fixtures/tiny_models/modernbert.npy"));
}

#[wasm_bindgen_test]
fn qwen3_in_wasm_equals_sentence_transformers() {
    check("qwen3-embedding", folder!("qwen3-embedding"), include_bytes!("fixtures/tiny_models/qwen3-embedding.npy"));
}
