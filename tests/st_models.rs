//! Real sentence-transformers models (BERT: all-MiniLM-L6-v2 and a fine-tune; MPNet:
//! all-mpnet-base-v2) against sentence-transformers itself
//! (tests/fixtures/st_embeddings/make_fixture.py, sentence-transformers 6.2.0 on CPU):
//! - vectors for 67 English/Japanese texts (short, long past max_seq_length, emoji,
//!   full-width, special-token strings): cosine ≥ 0.99999 and max |diff| ≤ 1e-4 per text;
//! - the st-convention metrics of all-MiniLM-L6-v2 on ../shared/data/xquad-en equal what
//!   `InformationRetrievalEvaluator` reported (xquad_minilm_ir_evaluator.json).
//!
//! The model folders come from scripts/fetch-models.sh (part of scripts/setup.sh) into
//! `models/` or `$EMBEVAL_MODELS`; a missing folder fails the test with that instruction.

use std::path::PathBuf;

use embeval::embed::encoder::Encoder;
use embeval::{Config, Convention, Files, Quiet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_dir(name: &str) -> PathBuf {
    let base = std::env::var("EMBEVAL_MODELS").map(PathBuf::from).unwrap_or_else(|_| root().join("models"));
    let dir = base.join(name);
    assert!(dir.join("config.json").is_file(), "{} is missing: run scripts/fetch-models.sh", dir.display());
    dir
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/st_embeddings").join(name)
}

fn read_npy(path: &PathBuf) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = arr.shape().to_vec();
    (shape[0] as usize, shape[1] as usize, arr.into_vec::<f32>().unwrap())
}

fn texts() -> Vec<(String, String)> {
    std::fs::read_to_string(fixture("texts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
        })
        .collect()
}

fn vectors_match_sentence_transformers(model: &str) {
    let dir = model_dir(model);
    let mut files = Files::new("models");
    files.add_dir(model, &dir).unwrap();
    let enc = Encoder::load(&files, model).unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    // A batch size that does not divide the count, so batches of mixed lengths are padded.
    let (got, _) = enc.encode(&refs, 7, &Quiet).unwrap();
    let (n, dim, want) = read_npy(&fixture(&format!("{model}.npy")));
    assert_eq!((n, dim), (texts.len(), enc.info.dim));
    let mut worst = (1.0f64, 0.0f32);
    for (i, (id, _)) in texts.iter().enumerate() {
        let (g, w) = (&got[i * dim..(i + 1) * dim], &want[i * dim..(i + 1) * dim]);
        let dot: f64 = g.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let cos = dot / (norm(g) * norm(w));
        let diff = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(cos >= 0.99999, "{model} {id}: cosine {cos}");
        assert!(diff <= 1e-4, "{model} {id}: max abs diff {diff}");
        worst = (worst.0.min(cos), worst.1.max(diff));
    }
    eprintln!("{model}: {} texts, worst cosine {:.9}, worst max|diff| {:e}", texts.len(), worst.0, worst.1);
}

#[test]
fn minilm_vectors_match_sentence_transformers() {
    vectors_match_sentence_transformers("all-MiniLM-L6-v2");
}

#[test]
fn fine_tuned_minilm_vectors_match_sentence_transformers() {
    vectors_match_sentence_transformers("sre-embedding-model");
}

#[test]
fn mpnet_vectors_match_sentence_transformers() {
    vectors_match_sentence_transformers("all-mpnet-base-v2");
}

#[test]
fn minilm_on_xquad_equals_information_retrieval_evaluator() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("xquad_minilm_ir_evaluator.json")).unwrap()).unwrap();
    let want = expected["results"].as_object().unwrap();
    let mut files = Files::from_dir(&root().join("../shared/data/xquad-en")).unwrap();
    files.add_dir("all-MiniLM-L6-v2", &model_dir("all-MiniLM-L6-v2")).unwrap();
    let config = Config {
        convention: Convention::St,
        k: vec![1, 3, 5, 10, 100],
        models: vec!["all-MiniLM-L6-v2".into()],
        ..Config::default()
    };
    let report = embeval::evaluate(&files, &config, &Quiet, &mut |_| Ok(())).unwrap();
    let st = report.models[0].st_metrics.as_ref().unwrap();
    let mut compared = 0;
    for (key, v) in want {
        let got = st.get(key).unwrap_or_else(|| panic!("no {key}")).as_f64().unwrap();
        assert!((got - v.as_f64().unwrap()).abs() <= 1e-6, "{key}: embeval {got}, sentence-transformers {v}");
        compared += 1;
    }
    assert_eq!(compared, 30, "6 metrics × 5 cut-offs");
}
