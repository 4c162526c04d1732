//! The architectures embeval loads beyond BERT and MPNet — XLM-RoBERTa (bge-m3, multilingual-e5),
//! ModernBERT (ruri-v3, AMBER), Qwen3 (Qwen3-Embedding) — on tiny random checkpoints made and
//! encoded by sentence-transformers (tests/fixtures/tiny_models/make_tiny.py; sentence-transformers
//! 6.2.0, transformers 5.23 on CPU; no real model of these families can be downloaded here):
//! - vectors for 67 English/Japanese texts, encoded by ST in batches of 8 and here in batches of
//!   7 (both mix lengths): cosine ≥ 0.99999 and max |diff| ≤ 1e-4 per text;
//! - token counts and truncations at max_seq_length equal ST's tokenizer's;
//! - Qwen3-Embedding: ST pads on the left, embeval on the right — same vectors; the query prompt
//!   comes from config_sentence_transformers.json or, without it, from the family preset;
//! - pytorch_model.bin gives the same vectors as model.safetensors, and so do sharded
//!   checkpoints (an index + several files, safetensors or .bin; make_sharded.py); missing or
//!   misfitting weights give errors that name the files.

use std::path::PathBuf;

mod common;

use common::{cosine_and_max_diff, read_npy, st_texts as texts};
use embeval::embed::encoder::Encoder;
use embeval::{AttentionChoice, Files, NeuralOptions, Quiet};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_models").join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

/// The files of fixture folder `model` under logical folder `name`, except those in `skip`.
fn add_folder(files: &mut Files, name: &str, model: &str, skip: &[&str]) {
    let root = fixture(model);
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            if p.is_dir() {
                stack.push(p);
            } else if !skip.contains(&rel.as_str()) {
                files.add_path(format!("{name}/{rel}"), p);
            }
        }
    }
}

/// Vectors for `texts` against `npy`, and token counts against `counts` (ST's tokenizer, before
/// truncation). Returns the worst cosine and max |diff|.
fn check(enc: &Encoder, label: &str, texts: &[String], npy: &str, counts: &[u64]) -> (f64, f32) {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (got, stats) = enc.encode(&refs, &NeuralOptions { batch_size: 7, ..Default::default() }, &Quiet).unwrap();
    let (n, dim, want) = read_npy(&fixture(npy));
    assert_eq!((n, dim), (texts.len(), enc.info.dim), "{label}");
    let mut worst = (1.0f64, 0.0f32);
    for i in 0..n {
        let (g, w) = (&got[i * dim..(i + 1) * dim], &want[i * dim..(i + 1) * dim]);
        let (cos, diff) = cosine_and_max_diff(g, w);
        assert!(cos >= 0.99999, "{label} text {i}: cosine {cos}");
        assert!(diff <= 1e-4, "{label} text {i}: max abs diff {diff}");
        worst = (worst.0.min(cos), worst.1.max(diff));
    }
    let max_len = enc.info.max_seq_length as u64;
    assert!(counts.iter().any(|&c| c > max_len), "{label}: some texts must be truncated");
    assert_eq!(stats.tokens as u64, counts.iter().map(|&c| c.min(max_len)).sum::<u64>(), "{label}: tokens");
    assert_eq!(stats.truncated, counts.iter().filter(|&&c| c > max_len).count(), "{label}: truncated texts");
    eprintln!("{label}: {n} texts, worst cosine {:.9}, worst max|diff| {:e}", worst.0, worst.1);
    worst
}

fn counts(model: &serde_json::Value, key: &str, texts: &[(String, String)]) -> Vec<u64> {
    texts.iter().map(|(id, _)| model[key][id].as_u64().unwrap()).collect()
}

/// Loads fixture folder `model`, checks what the encoder read from it against what ST reported,
/// and compares the vectors of the plain texts.
fn matches_sentence_transformers(model: &str, architecture: &str) {
    matches_sentence_transformers_with(model, architecture, AttentionChoice::Auto);
}

fn matches_sentence_transformers_with(model: &str, architecture: &str, attention: AttentionChoice) {
    let mut files = Files::new("tiny");
    add_folder(&mut files, model, model, &[]);
    let enc = Encoder::load(&files, model, &NeuralOptions { attention, ..Default::default() }).unwrap();
    let exp = &expected()["models"][model];
    assert_eq!(enc.info.architecture, architecture);
    let ran = enc.attention().unwrap();
    if attention == AttentionChoice::Varlen {
        assert!(ran.starts_with("varlen"), "{model}: {ran}");
    }
    // f32 on the CPU runs the fast path unless an attention implementation is asked for.
    let fast = attention == AttentionChoice::Auto;
    assert_eq!(ran.contains("CPU fast path"), fast, "{model}: {ran}");
    assert_eq!(enc.info.max_seq_length as u64, exp["max_seq_length"].as_u64().unwrap());
    assert_eq!(enc.info.dim as u64, exp["dimension"].as_u64().unwrap());
    assert_eq!(serde_json::to_value(enc.info.pooling).unwrap().as_str().unwrap().replace('_', ""), exp["pooling_mode"]);
    assert_eq!(enc.info.normalize, exp["normalize"].as_bool().unwrap());
    let texts = texts();
    let plain: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
    check(&enc, model, &plain, &format!("{model}.npy"), &counts(exp, "n_tokens_before_truncation", &texts));
}

#[test]
fn xlm_roberta_cls_matches_sentence_transformers() {
    matches_sentence_transformers("xlm-roberta", "xlm-roberta");
}

/// Mean pooling (multilingual-e5), weights only in pytorch_model.bin.
#[test]
fn xlm_roberta_mean_from_pytorch_model_bin_matches_sentence_transformers() {
    matches_sentence_transformers("xlm-roberta-mean-bin", "xlm-roberta");
}

/// Local (±8 tokens) and global layers, texts up to 48 tokens; no Normalize, so the vector
/// lengths are compared too.
#[test]
fn modernbert_matches_sentence_transformers() {
    matches_sentence_transformers("modernbert", "modernbert");
}

/// ST pads these batches on the left (make_tiny.py checks), embeval on the right.
#[test]
fn qwen3_embedding_matches_sentence_transformers() {
    matches_sentence_transformers("qwen3-embedding", "qwen3");
}

/// `--attention varlen`: the tokens packed without padding (flash-attention's layout; its
/// kernel runs only on CUDA in f16/bf16, so here and in f32 the same candle ops run per packed
/// batch). Same vectors as sentence-transformers' padded batches.
#[test]
fn packed_tokens_match_sentence_transformers() {
    for (model, architecture) in
        [("xlm-roberta", "xlm-roberta"), ("modernbert", "modernbert"), ("qwen3-embedding", "qwen3")]
    {
        matches_sentence_transformers_with(model, architecture, AttentionChoice::Varlen);
    }
}

/// `--attention eager` on the CPU in f32: the candle graph instead of the fast path (which
/// `auto` runs there), still sentence-transformers' vectors.
#[test]
fn candle_graph_matches_sentence_transformers() {
    for (model, architecture) in
        [("xlm-roberta", "xlm-roberta"), ("modernbert", "modernbert"), ("qwen3-embedding", "qwen3")]
    {
        matches_sentence_transformers_with(model, architecture, AttentionChoice::Eager);
    }
}

/// Queries get Qwen3-Embedding's instruction: from config_sentence_transformers.json when the
/// folder has one, from the preset when the folder is only named like the family; either way
/// the vectors are ST's `encode(..., prompt_name="query")`.
#[test]
fn qwen3_embedding_query_prompt_from_folder_or_preset() {
    let exp = &expected()["models"]["qwen3-embedding"];
    let texts = texts();
    let mut files = Files::new("tiny");
    add_folder(&mut files, "q", "qwen3-embedding", &[]);
    add_folder(&mut files, "Qwen3-Embedding-tiny", "qwen3-embedding", &["config_sentence_transformers.json"]);
    add_folder(&mut files, "unnamed", "qwen3-embedding", &["config_sentence_transformers.json"]);
    let from_file = Encoder::load(&files, "q", &NeuralOptions::default()).unwrap();
    let from_preset = Encoder::load(&files, "Qwen3-Embedding-tiny", &NeuralOptions::default()).unwrap();
    let unnamed = Encoder::load(&files, "unnamed", &NeuralOptions::default()).unwrap();
    assert_eq!(from_file.info.prompts.source, "config_sentence_transformers.json");
    assert_eq!(from_preset.info.prompts.source, "preset:qwen3-embedding");
    assert_eq!(unnamed.info.prompts.source, "none");
    let want = exp["query_prompt"].as_str().unwrap();
    let query_counts = counts(exp, "query_n_tokens_before_truncation", &texts);
    for enc in [&from_file, &from_preset] {
        let p = &enc.info.prompts;
        assert_eq!((p.query.as_str(), p.document.as_str()), (want, ""), "{}", p.source);
        let queries: Vec<String> = texts.iter().map(|(_, t)| format!("{}{t}", p.query)).collect();
        check(
            enc,
            &format!("qwen3-embedding query ({})", p.source),
            &queries,
            "qwen3-embedding.query.npy",
            &query_counts,
        );
    }
}

/// The same weights from pytorch_model.bin and from model.safetensors give identical vectors.
#[test]
fn pytorch_model_bin_equals_safetensors() {
    let mut files = Files::new("tiny");
    add_folder(&mut files, "bin", "xlm-roberta-mean-bin", &[]);
    add_folder(&mut files, "safe", "xlm-roberta-mean-bin", &["pytorch_model.bin"]);
    files.add_path("safe/model.safetensors", fixture("xlm-roberta/model.safetensors"));
    assert!(!files.has("bin/model.safetensors"));
    let texts: Vec<&str> =
        ["hello", "猫がマットの上に座っていた。", "The last train to the airport leaves at 11:45 pm."].into();
    let (bin, _) = Encoder::load(&files, "bin", &NeuralOptions::default())
        .unwrap()
        .encode(&texts, &NeuralOptions { batch_size: 2, ..Default::default() }, &Quiet)
        .unwrap();
    let (safe, _) = Encoder::load(&files, "safe", &NeuralOptions::default())
        .unwrap()
        .encode(&texts, &NeuralOptions { batch_size: 2, ..Default::default() }, &Quiet)
        .unwrap();
    assert_eq!(bin, safe);
}

/// qwen3-embedding/ with its weights replaced by the sharded checkpoint in fixture folder
/// `shards` (make_sharded.py), under logical folder `name`; `lent`: the shards handed over as
/// bytes, as the browser does, instead of paths on disk.
fn add_sharded(files: &mut Files, name: &str, shards: &str, lent: bool) {
    add_folder(files, name, "qwen3-embedding", &["model.safetensors"]);
    for entry in std::fs::read_dir(fixture(shards)).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        if lent {
            files.add_bytes(format!("{name}/{file}"), file.clone(), std::fs::read(entry.path()).unwrap());
        } else {
            files.add_path(format!("{name}/{file}"), entry.path());
        }
    }
}

/// Checkpoints in several files with an index (how Qwen3-Embedding-4B/8B ship), written by
/// transformers' save_pretrained(max_shard_size=...), and the same shards as torch.save'd
/// pytorch_model-0000K-of-00003.bin files: sentence-transformers' vectors, and bit for bit those
/// of the single model.safetensors — from disk and, for safetensors, from bytes handed over.
#[test]
fn sharded_checkpoints_match_sentence_transformers() {
    let exp = &expected()["models"]["qwen3-embedding"];
    let texts = texts();
    let plain: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
    let refs: Vec<&str> = plain.iter().map(String::as_str).collect();
    let options = NeuralOptions { batch_size: 7, ..Default::default() };
    let mut files = Files::new("tiny");
    add_folder(&mut files, "single", "qwen3-embedding", &[]);
    let (single, _) =
        Encoder::load(&files, "single", &NeuralOptions::default()).unwrap().encode(&refs, &options, &Quiet).unwrap();
    for (shards, lent) in
        [("qwen3-embedding-sharded", false), ("qwen3-embedding-sharded", true), ("qwen3-embedding-sharded-bin", false)]
    {
        let label = format!("{shards}{}", if lent { " (bytes)" } else { "" });
        let mut files = Files::new("tiny");
        add_sharded(&mut files, "m", shards, lent);
        assert!(!files.has("m/model.safetensors"));
        let enc = Encoder::load(&files, "m", &NeuralOptions::default()).unwrap();
        check(&enc, &label, &plain, "qwen3-embedding.npy", &counts(exp, "n_tokens_before_truncation", &texts));
        let (got, _) = enc.encode(&refs, &options, &Quiet).unwrap();
        assert_eq!(got, single, "{label}: not the single file's vectors");
    }
}

/// A shard the index lists but the folder lacks is named before anything loads; a config.json
/// that does not fit the shards names the index.
#[test]
fn a_missing_shard_or_misfit_config_names_the_file() {
    for (shards, gone, index) in [
        ("qwen3-embedding-sharded", "model-00002-of-00003.safetensors", "model.safetensors.index.json"),
        ("qwen3-embedding-sharded-bin", "pytorch_model-00003-of-00003.bin", "pytorch_model.bin.index.json"),
    ] {
        let mut files = Files::new("tiny");
        add_sharded(&mut files, "m", shards, false);
        let mut partial = Files::new("tiny");
        for name in files.names().filter(|n| !n.ends_with(gone)) {
            partial.add_path(name, files.local_path(name).unwrap());
        }
        let err = Encoder::load(&partial, "m", &NeuralOptions::default()).err().unwrap().to_string();
        assert!(err.contains(gone) && err.contains(&format!("{index} lists 3 weight files")), "{err}");

        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("qwen3-embedding/config.json")).unwrap()).unwrap();
        config["intermediate_size"] = 65.into();
        files.add_bytes("m/config.json", "m/config.json", config.to_string().into_bytes());
        let err = Encoder::load(&files, "m", &NeuralOptions::default()).err().unwrap().to_string();
        let path = fixture(shards).join(index).display().to_string();
        assert!(err.contains(&path) && err.contains("config.json"), "{err}");
    }
}

#[test]
fn missing_weights_name_the_folder_and_every_layout() {
    let mut files = Files::new("tiny");
    add_folder(&mut files, "m", "xlm-roberta", &["model.safetensors"]);
    let err = Encoder::load(&files, "m", &NeuralOptions::default()).err().unwrap().to_string();
    assert!(
        err.contains("model.safetensors,")
            && err.contains("model.safetensors.index.json")
            && err.contains("pytorch_model.bin"),
        "{err}"
    );
    assert!(err.starts_with(&format!("{}: ", fixture("xlm-roberta").display())), "{err}");
}

/// A config.json that does not fit the weights (one layer more than they have) is an error that
/// names the weights file and points at config.json, for every architecture and both formats.
#[test]
fn config_weights_mismatch_names_the_file() {
    for (model, weights) in [
        ("xlm-roberta", "model.safetensors"),
        ("xlm-roberta-mean-bin", "pytorch_model.bin"),
        ("modernbert", "model.safetensors"),
        ("qwen3-embedding", "model.safetensors"),
    ] {
        let mut files = Files::new("tiny");
        add_folder(&mut files, "m", model, &["config.json"]);
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(model).join("config.json")).unwrap()).unwrap();
        let layers = config["num_hidden_layers"].as_u64().unwrap();
        config["num_hidden_layers"] = (layers + 1).into();
        if let Some(types) = config.get_mut("layer_types").and_then(|t| t.as_array_mut()) {
            // ModernBERT: layer 3 is global (every 2nd); Qwen3: all full attention.
            types.push(
                (if model == "modernbert" && layers % 2 == 1 { "sliding_attention" } else { "full_attention" }).into(),
            );
        }
        files.add_bytes("m/config.json", "m/config.json", config.to_string().into_bytes());
        let err = Encoder::load(&files, "m", &NeuralOptions::default()).err().unwrap().to_string();
        let path = fixture(model).join(weights).display().to_string();
        assert!(err.contains(&path) && err.contains("config.json"), "{model}: {err}");
    }
}

/// `--dtype bf16` and `f16` give finite vectors close to sentence-transformers' f32 ones (bf16
/// keeps 8 bits of mantissa: cosine ≥ 0.999, not 0.99999; measured worst 0.99952, Qwen3) on
/// every architecture.
#[test]
fn half_precision_close_to_f32() {
    let texts: Vec<String> = texts().into_iter().map(|(_, t)| t).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let runs = [(embeval::Dtype::Bf16, 0.999), (embeval::Dtype::F16, 0.9999)]
        .into_iter()
        .flat_map(|d| [AttentionChoice::Auto, AttentionChoice::Varlen].map(|a| (d, a)));
    for ((dtype, floor), attention) in runs {
        let opts = NeuralOptions { dtype, batch_size: 7, attention, ..Default::default() };
        for model in ["xlm-roberta", "modernbert", "qwen3-embedding"] {
            let mut files = Files::new("tiny");
            add_folder(&mut files, model, model, &[]);
            let enc = Encoder::load(&files, model, &opts).unwrap();
            let (got, _) = enc.encode(&refs, &opts, &Quiet).unwrap();
            let (_, dim, want) = read_npy(&fixture(&format!("{model}.npy")));
            let mut worst = 1.0f64;
            for (i, (g, w)) in got.chunks(dim).zip(want.chunks(dim)).enumerate() {
                let (cos, _) = cosine_and_max_diff(g, w);
                assert!(cos >= floor, "{model} {dtype:?} {attention:?} text {i}: cosine {cos} to ST f32");
                worst = worst.min(cos);
            }
            eprintln!("{model} {dtype:?} ({}): worst cosine to ST f32 {worst:.6}", enc.attention().unwrap());
        }
    }
}

/// Texts encoded a window at a time (here 10 of the 67, so the last window is short): each
/// window is handed over in input order, once, with the texts cut at the max length, and the
/// vectors still match sentence-transformers' — for the padded candle graph (Qwen3, token type
/// ids all 0) and XLM-R's.
#[test]
fn windows_hand_over_in_order_and_match_sentence_transformers() {
    let with_ids = texts();
    let texts: Vec<String> = with_ids.iter().map(|(_, t)| t.clone()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let opts = NeuralOptions { batch_size: 4, ..Default::default() };
    for model in ["qwen3-embedding", "xlm-roberta"] {
        let mut files = Files::new("tiny");
        add_folder(&mut files, model, model, &[]);
        let enc = Encoder::load(&files, model, &opts).unwrap();
        let (mut got, mut handed, mut cut) = (Vec::new(), Vec::new(), Vec::new());
        let stats = enc
            .encode_in_windows(&refs, &opts, &Quiet, 10, &mut |b| {
                handed.push((b.first, b.vectors.len() / b.dim));
                got.extend_from_slice(b.vectors);
                cut.extend(b.truncated.iter().map(|i| b.first + i));
                Ok(())
            })
            .unwrap();
        let want: Vec<(usize, usize)> = (0..67).step_by(10).map(|f| (f, 10.min(67 - f))).collect();
        assert_eq!(handed, want, "{model}");
        let (_, whole) = enc.encode(&refs, &opts, &Quiet).unwrap();
        assert_eq!((stats.texts, stats.tokens, stats.truncated), (whole.texts, whole.tokens, whole.truncated));
        // The texts handed over as cut are the ones longer than max_seq_length tokens (ST's
        // tokenizer, untruncated, in the fixture), and the tokenizer alone counts them too.
        let counts = counts(&expected()["models"][model], "n_tokens_before_truncation", &with_ids);
        let longer: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > enc.info.max_seq_length as u64).collect();
        assert!(!longer.is_empty(), "{model}: some texts must be truncated");
        assert_eq!((cut, stats.truncated), (longer.clone(), longer.len()), "{model}");
        assert_eq!(enc.count_truncated(&refs).unwrap(), longer.len(), "{model}");
        let (n, dim, st) = read_npy(&fixture(&format!("{model}.npy")));
        assert_eq!(got.len(), n * dim);
        for (i, (g, w)) in got.chunks(dim).zip(st.chunks(dim)).enumerate() {
            let (cos, diff) = cosine_and_max_diff(g, w);
            assert!(cos >= 0.99999 && diff <= 1e-4, "{model} text {i}: cosine {cos}, max |diff| {diff}");
        }
    }
}

/// `--max-length` goes up to the model's own limit: max_position_embeddings, less XLM-RoBERTa's
/// position offset (pad_token_id + 1); one token more is an error naming the limit.
#[test]
fn max_length_up_to_the_models_limit() {
    for (model, limit) in [("xlm-roberta", 62), ("modernbert", 128), ("qwen3-embedding", 256)] {
        let mut files = Files::new("tiny");
        add_folder(&mut files, "m", model, &[]);
        let at = NeuralOptions { max_length: Some(limit), ..Default::default() };
        let enc = Encoder::load(&files, "m", &at).unwrap_or_else(|e| panic!("{model}: {e}"));
        let long = "長い文書 long text ".repeat(200);
        let (v, stats) = enc.encode(&[long.as_str()], &at, &Quiet).unwrap();
        assert_eq!((stats.tokens, stats.truncated), (limit, 1), "{model}");
        assert!(v.iter().all(|x| x.is_finite()), "{model}");
        let past = NeuralOptions { max_length: Some(limit + 1), ..Default::default() };
        let e = Encoder::load(&files, "m", &past).err().expect("past the limit").to_string();
        assert!(e.contains(&format!("limit of {limit}")), "{model}: {e}");
    }
}

/// `--dtype auto` (the default) takes the checkpoint's format from config.json as
/// sentence-transformers 6 does (transformers 5 loads `dtype="auto"`; what it loads is
/// recorded by make_dtype_auto.py, checked in `dtype_auto_loads_what_sentence_transformers_loads`):
/// `dtype`, or transformers 4's `torch_dtype`; f32 when it names float32 (or none, for these f32
/// weights); an explicit `--dtype` wins. Auto-bf16 gives exactly the vectors of an explicit
/// `--dtype bf16`.
#[test]
fn dtype_auto_follows_the_checkpoint_config() {
    use embeval::Dtype::{self, Auto, Bf16, F16, F32};
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("qwen3-embedding").join("config.json")).unwrap())
            .unwrap();
    assert_eq!(base["dtype"], "float32");
    let with = |key: Option<(&str, &str)>| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove("dtype");
        if let Some((k, v)) = key {
            c[k] = v.into();
        }
        let mut files = Files::new("tiny");
        add_folder(&mut files, "m", "qwen3-embedding", &["config.json"]);
        files.add_bytes("m/config.json", "tiny/m/config.json", c.to_string().into_bytes());
        files
    };
    let texts: Vec<String> = texts().into_iter().take(9).map(|(_, t)| t).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encode = |files: &Files, dtype: Dtype| {
        let opts = NeuralOptions { dtype, batch_size: 4, ..Default::default() };
        let enc = Encoder::load(files, "m", &opts).unwrap();
        (enc.info.dtype, enc.encode(&refs, &opts, &Quiet).unwrap().0)
    };
    let cases = [
        (Some(("dtype", "bfloat16")), Auto, Bf16),
        (Some(("torch_dtype", "float16")), Auto, F16),
        (Some(("dtype", "float32")), Auto, F32),
        (None, Auto, F32),
        (Some(("dtype", "bfloat16")), F32, F32),
        (Some(("torch_dtype", "bfloat16")), F16, F16),
    ];
    for (key, asked, want) in cases {
        let files = with(key);
        let (got, vectors) = encode(&files, asked);
        assert_eq!(got, want, "{key:?}, --dtype {}", asked.name());
        if asked == Auto {
            assert_eq!(vectors, encode(&files, want).1, "{key:?}: auto gives what --dtype {} gives", want.name());
        }
    }
    assert_eq!(NeuralOptions::default().dtype, Auto);
}

/// `--dtype auto` loads the tiny Qwen3 checkpoint in the format sentence-transformers 6.2 /
/// transformers 5.23 load it in, for each case make_dtype_auto.py ran (dtype_auto.json):
/// config.json naming a format, or naming none and the weights' format deciding — that of the
/// first floating-point tensor by name, whatever the others'; in a pytorch_model.bin the first
/// in the order saved; a sharded checkpoint's index `metadata.dtype` before either.
#[test]
fn dtype_auto_loads_what_sentence_transformers_loads() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("dtype_auto.json")).unwrap()).unwrap();
    let dir = fixture("qwen3-embedding");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let first = expected["first_tensor"].as_str().unwrap();
    let mut names = weights.names();
    names.sort();
    assert_eq!(names[0], first);
    let cases = expected["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let mut config = base.clone();
        config.as_object_mut().unwrap().retain(|k, _| k != "dtype" && k != "torch_dtype");
        for (k, v) in case["config"].as_object().unwrap() {
            config[k] = v.clone();
        }
        // Every tensor (f32 in the fixture) in `rest`'s format, the first by name in `first`'s.
        let converted: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = weights
            .tensors()
            .into_iter()
            .map(|(name, t)| {
                let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                let to = case[if name == first { "first" } else { "rest" }].as_str().unwrap();
                let (dtype, bytes) = match to {
                    "F32" => (safetensors::Dtype::F32, t.data().to_vec()),
                    "BF16" => {
                        let v: Vec<half::bf16> = values.iter().map(|&x| half::bf16::from_f32(x)).collect();
                        (safetensors::Dtype::BF16, bytemuck::cast_slice(&v).to_vec())
                    }
                    "F16" => {
                        let v: Vec<half::f16> = values.iter().map(|&x| half::f16::from_f32(x)).collect();
                        (safetensors::Dtype::F16, bytemuck::cast_slice(&v).to_vec())
                    }
                    other => panic!("format {other}"),
                };
                (name, dtype, t.shape().to_vec(), bytes)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = converted
            .iter()
            .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let bytes = safetensors::serialize(views, None).unwrap();
        let mut files = Files::new("tiny");
        add_folder(&mut files, "m", "qwen3-embedding", &["config.json", "model.safetensors"]);
        files.add_bytes("m/config.json", "tiny/m/config.json", config.to_string().into_bytes());
        files.add_bytes("m/model.safetensors", "tiny/m/model.safetensors", bytes);
        let enc = Encoder::load(&files, "m", &NeuralOptions::default()).unwrap();
        let want = match case["loads"].as_str().unwrap() {
            "bfloat16" => embeval::Dtype::Bf16,
            "float16" => embeval::Dtype::F16,
            "float32" => embeval::Dtype::F32,
            other => panic!("loads {other}"),
        };
        assert_eq!(enc.info.dtype, want, "{case}");
        let (v, _) = enc.encode(&["東京の天気"], &NeuralOptions::default(), &Quiet).unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{case}");
    }

    // A pytorch_model.bin: its first floating-point tensor in the order it was saved (not by name).
    let mut config = base.clone();
    config.as_object_mut().unwrap().retain(|k, _| k != "dtype" && k != "torch_dtype");
    let mut files = Files::new("tiny");
    add_folder(&mut files, "bin", "qwen3-embedding", &["config.json", "model.safetensors"]);
    files.add_bytes("bin/config.json", "tiny/bin/config.json", config.to_string().into_bytes());
    files.add_path("bin/pytorch_model.bin", fixture("dtype_auto_bin/pytorch_model.bin"));
    let case = &expected["pytorch_bin"];
    assert_eq!((case["first_saved_dtype"].as_str(), case["loads"].as_str()), (Some("F16"), Some("float16")));
    let enc = Encoder::load(&files, "bin", &NeuralOptions::default()).unwrap();
    assert_eq!(enc.info.dtype, embeval::Dtype::F16, "{case}");

    // A sharded checkpoint whose index names a dtype: that one, whatever the weights'.
    let mut files = Files::new("tiny");
    add_folder(&mut files, "sh", "qwen3-embedding", &["config.json", "model.safetensors"]);
    add_folder(&mut files, "sh", "qwen3-embedding-sharded", &["model.safetensors.index.json"]);
    files.add_bytes("sh/config.json", "tiny/sh/config.json", config.to_string().into_bytes());
    let index_path = fixture("qwen3-embedding-sharded/model.safetensors.index.json");
    let mut index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(index_path).unwrap()).unwrap();
    let case = &expected["index_metadata"];
    index["metadata"]["dtype"] = case["metadata_dtype"].clone();
    files.add_bytes(
        "sh/model.safetensors.index.json",
        "tiny/sh/model.safetensors.index.json",
        index.to_string().into_bytes(),
    );
    assert_eq!(case["loads"], "float16");
    let enc = Encoder::load(&files, "sh", &NeuralOptions::default()).unwrap();
    assert_eq!(enc.info.dtype, embeval::Dtype::F16, "{case}");
    // Without it, the first file's first tensor by name: float32.
    index["metadata"].as_object_mut().unwrap().remove("dtype");
    files.add_bytes(
        "sh/model.safetensors.index.json",
        "tiny/sh/model.safetensors.index.json",
        index.to_string().into_bytes(),
    );
    let enc = Encoder::load(&files, "sh", &NeuralOptions::default()).unwrap();
    assert_eq!(enc.info.dtype, embeval::Dtype::F32);
}
