//! The browser's entry points, a thin skin over [`crate::evaluate`] like `main.rs` is for the
//! CLI. The page's worker hands over the chosen files as `{logical name: Uint8Array}` (names as
//! in [`crate::data::names`]: `corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`, ...) and the
//! [`Config`] as JSON; results come back as the same bytes the CLI writes to its files.

use std::cell::{Cell, RefCell};

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::report::csv::Csv;
use crate::report::html::ReportHtml;
use crate::report::json::{Json, PerQueryJsonl};
use crate::report::markdown::Markdown;
use crate::report::{Exporter, Report};
use crate::{Config, Dataset, Error, Files, ModelSpec, Progress};

/// A panic would otherwise surface as a bare `RuntimeError: unreachable`.
#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Errors reach JS with the library's message, which names the file, line or setting to fix.
fn js(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

/// `{name: Uint8Array | string}` → [`Files`], every file named by its logical name.
fn files_from(obj: &Object) -> Result<Files, JsError> {
    let mut files = Files::new("browser files");
    for name in Object::keys(obj).iter() {
        let name = name.as_string().unwrap_or_default();
        let value =
            Reflect::get(obj, &JsValue::from_str(&name)).map_err(|_| JsError::new(&format!("cannot read {name}")))?;
        let bytes = if let Some(text) = value.as_string() {
            text.into_bytes()
        } else if let Some(array) = value.dyn_ref::<Uint8Array>() {
            array.to_vec()
        } else {
            return Err(JsError::new(&format!("{name}: expected a Uint8Array with the file's bytes")));
        };
        files.add_bytes(name.clone(), name, bytes);
    }
    Ok(files)
}

/// The page's JSON → [`Config`]; every field is optional (CLI defaults), a misspelt one is an
/// error (serde cannot deny unknown fields next to `flatten`). Model files named in `emb:` /
/// `run:` specs must be among the chosen files, as the CLI checks they exist on disk.
fn config_from(config_json: &str, files: &Files) -> Result<Config, JsError> {
    let json = if config_json.trim().is_empty() { "{}" } else { config_json };
    let bad = |e: &dyn std::fmt::Display| JsError::new(&format!("settings: {e}"));
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(&e))?;
    let known = serde_json::to_value(Config::default()).expect("a config always serializes");
    if let (Some(given), Some(known)) = (value.as_object(), known.as_object()) {
        if let Some(key) = given.keys().find(|k| !known.contains_key(*k)) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(bad(&format!("unknown setting '{key}' (known: {})", names.join(", "))));
        }
    }
    let config: Config =
        serde_json::from_value(value).map_err(|e| bad(&format!("{e} (check the k values and model lines)")))?;
    for spec in config.validate().map_err(js)? {
        // A model folder is a prefix, not a file: its config.json stands for it.
        let needed = match &spec {
            ModelSpec::Neural { dir, .. } => vec![format!("{}/config.json", dir.trim_end_matches('/'))],
            _ => spec.files(),
        };
        for f in needed {
            if !files.has(&f) {
                return Err(js(Error::missing(
                    &f,
                    "model file not chosen",
                    match &spec {
                        ModelSpec::Neural { dir, .. } => {
                            format!("choose the model folder '{dir}' (or name a bundled model), for '{}'", spec.label())
                        }
                        _ => format!("choose {f} too, for the model '{}'", spec.label()),
                    },
                )));
            }
        }
    }
    Ok(config)
}

/// Reports progress to an optional JS callback `(step, done, total)`, at most ~100 calls a step.
struct JsProgress {
    callback: Option<Function>,
    step: RefCell<String>,
    done: Cell<u64>,
    total: Cell<u64>,
}

// SAFETY: `Progress` is `Sync` for the CLI's rayon threads; this build has no threads
// (wasm32-unknown-unknown without the atomics feature), so nothing is ever shared.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for JsProgress {}

impl JsProgress {
    fn call(&self) {
        if let Some(f) = &self.callback {
            let step = JsValue::from_str(&self.step.borrow());
            // A throwing callback must not abort the evaluation.
            let _ = f.call3(&JsValue::NULL, &step, &(self.done.get() as f64).into(), &(self.total.get() as f64).into());
        }
    }
}

impl Progress for JsProgress {
    fn begin(&self, step: &str, total: u64) {
        *self.step.borrow_mut() = step.to_string();
        self.done.set(0);
        self.total.set(total);
        self.call();
    }
    fn advance(&self, n: u64) {
        let every = (self.total.get() / 100).max(1);
        let before = self.done.get();
        self.done.set(before + n);
        if before / every != (before + n) / every {
            self.call();
        }
    }
    fn end(&self) {
        self.done.set(self.total.get());
        self.call();
    }
}

impl JsProgress {
    fn new(callback: Option<Function>) -> Self {
        JsProgress { callback, step: RefCell::default(), done: Cell::new(0), total: Cell::new(0) }
    }
}

/// Evaluates; with `"save_runs": true` in the config, each model's ranking is written into
/// `runs` as its TREC run file (`runs/LABEL.trec` → text) when that model is done, as a JS
/// string (wasm memory never shrinks: the text is not kept there).
async fn run(
    files: &Object,
    config_json: &str,
    progress: Option<Function>,
    on_model: Option<Function>,
    runs: &mut Vec<(String, JsValue)>,
) -> Result<Report, JsError> {
    let files = files_from(files)?;
    let config = config_from(config_json, &files)?;
    let progress = JsProgress::new(progress);
    crate::evaluate_async(&files, &config, &progress, &mut |report| {
        if let Some((name, rankings)) = crate::report::trec_run::to_save(report) {
            let mut run = Vec::new();
            crate::report::trec_run::write(name, rankings, &mut run)
                .map_err(|e| crate::Error::Write { file: format!("runs/{name}"), source: e })?;
            runs.push((format!("runs/{name}"), JsValue::from_str(&text(run))));
        }
        if let Some(f) = &on_model {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&text(Json.serialize(report))));
        }
        Ok(())
    })
    .await
    .map_err(js)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("exporters write UTF-8")
}

/// Evaluates every model of the config: resolves to `results.json`, byte for byte what the CLI
/// writes. A promise because the GPU search (`"search": "gpu"`, or `auto` on a large
/// workload) waits for WebGPU's callbacks.
#[wasm_bindgen]
pub async fn evaluate(files: Object, config_json: String) -> Result<String, JsError> {
    Ok(text(Json.serialize(&run(&files, &config_json, None, None, &mut Vec::new()).await?)))
}

/// Like [`evaluate`], resolving to every file the CLI's `--out` writes, by name
/// (`results.json`, `results.csv`, `per_query.jsonl`, `results.md`, `report.html`), plus the
/// results-only share (`share.json`, `share.html`: no corpus or query text) and, with
/// `"save_runs": true`, each model's TREC run (`runs/LABEL.trec`, as the CLI's `--save-runs`).
/// `progress(step, done, total)` is called during long steps and `on_model(results_json_so_far)`
/// after each model; both may be omitted.
#[wasm_bindgen(js_name = evaluateAll)]
pub async fn evaluate_all(
    files: Object,
    config_json: String,
    progress: Option<Function>,
    on_model: Option<Function>,
) -> Result<Object, JsError> {
    let mut runs = Vec::new();
    let report = run(&files, &config_json, progress, on_model, &mut runs).await?;
    let out = Object::new();
    let outputs: [(&str, &dyn Exporter); 5] = [
        ("results.json", &Json),
        ("results.csv", &Csv),
        ("per_query.jsonl", &PerQueryJsonl),
        ("results.md", &Markdown),
        ("report.html", &ReportHtml),
    ];
    let set = |name: &str, value: String| Reflect::set(&out, &name.into(), &value.into()).expect("plain object");
    for (name, exporter) in outputs {
        set(name, text(exporter.serialize(&report)));
    }
    // The results-only share: ids and numbers, no corpus or query text.
    let shared = crate::report::html::results_only(&text(Json.serialize(&report))).map_err(js)?;
    set("share.html", crate::report::html::report_html(&shared));
    set("share.json", shared);
    for (name, run) in runs {
        Reflect::set(&out, &name.into(), &run).expect("plain object");
    }
    Ok(out)
}

/// Loads the dataset and checks the config without running a model, so the page can show the
/// validation report first: `{"dataset": <as in results.json>, "summary": <the CLI's text>}`;
/// an error where no model could be evaluated on the dataset ([`crate::check_evaluable`]).
#[wasm_bindgen]
pub fn validate(files: Object, config_json: &str) -> Result<String, JsError> {
    let files = files_from(&files)?;
    let config = config_from(config_json, &files)?;
    let dataset = Dataset::load(&files, &config.load).map_err(js)?;
    crate::check_evaluable(&files, &dataset, &config).map_err(js)?;
    let v = crate::data::validate::validate(&dataset, config.convention);
    let summary = v.to_string();
    Ok(serde_json::json!({ "dataset": v, "summary": summary }).to_string())
}

/// One neural model loaded once, to embed texts directly: the page's tests compare its vectors
/// with the native build's, and the benchmark page times it against transformers.js.
#[cfg(feature = "models")]
#[wasm_bindgen]
pub struct Embedder {
    encoder: crate::embed::encoder::Encoder,
    options: crate::embed::NeuralOptions,
}

#[cfg(feature = "models")]
#[wasm_bindgen]
impl Embedder {
    /// Loads the model folder `dir` (a prefix of the names in `files`), as `--model DIR` does.
    /// `options_json`: the neural settings of the page's config (`batch_size`,
    /// `max_batch_tokens`, `max_length`, `dtype`, ...; prompts are not applied here), or empty.
    #[wasm_bindgen(constructor)]
    pub fn new(files: Object, dir: &str, options_json: Option<String>) -> Result<Embedder, JsError> {
        let options: crate::embed::NeuralOptions = match options_json.as_deref().map(str::trim) {
            None | Some("") => Default::default(),
            Some(json) => serde_json::from_str(json).map_err(|e| JsError::new(&format!("embedder options: {e}")))?,
        };
        let files = files_from(&files)?;
        let encoder = crate::embed::encoder::Encoder::load(&files, dir, &options).map_err(js)?;
        Ok(Embedder { encoder, options })
    }

    /// Vector length.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.encoder.info.dim
    }

    /// What the folder says (architecture, pooling, normalize, max_seq_length, dim, prompts)
    /// and how attention runs, as JSON.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> String {
        self.encoder.report().to_string()
    }

    /// Embeds `texts` as they are (no prompt added): `texts.length × dim` floats, row-major, in
    /// input order, exactly as the CLI encodes them. `progress(step, done, total)` is optional.
    pub fn encode(&self, texts: Vec<String>, progress: Option<Function>) -> Result<Vec<f32>, JsError> {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (vectors, _) = self.encoder.encode(&texts, &self.options, &JsProgress::new(progress)).map_err(js)?;
        Ok(vectors)
    }
}

/// The search step alone: exact top-`k` of `queries` (nq × dim, row-major) against `docs`
/// (nd × dim) by dot product, on `path` (`"auto"`, `"cpu"` or `"gpu"`, as `--search`), ties by
/// document index. Resolves to `{path, notice, ids: Uint32Array, scores: Float32Array}` with
/// min(k, nd) entries per query, best first. The browser benchmark (benches/web/search.mjs)
/// times WebGPU against the wasm CPU searcher with it.
#[wasm_bindgen(js_name = searchTopK)]
pub async fn search_top_k(
    queries: Vec<f32>,
    docs: Vec<f32>,
    dim: usize,
    k: usize,
    path: String,
) -> Result<Object, JsError> {
    let path: crate::search::SearchPath = serde_json::from_value(serde_json::Value::String(path.clone()))
        .map_err(|_| JsError::new(&format!("search path '{path}': expected auto, cpu or gpu")))?;
    if dim == 0 || queries.len() % dim != 0 || docs.len() % dim != 0 {
        return Err(JsError::new(&format!(
            "queries ({}) and docs ({}) must hold whole rows of dim {dim}",
            queries.len(),
            docs.len()
        )));
    }
    let ties: Vec<u32> = (0..(docs.len() / dim) as u32).collect();
    let (hits, ran, notice) =
        crate::search::Searcher::new(path).top_k(&queries, &docs, dim, &ties, k).await.map_err(js)?;
    let ids: Vec<u32> = hits.iter().flatten().map(|&(d, _)| d).collect();
    let scores: Vec<f32> = hits.iter().flatten().map(|&(_, s)| s).collect();
    let out = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&out, &key.into(), &value).expect("plain object");
    set("path", ran.into());
    set("notice", notice.map_or(JsValue::NULL, JsValue::from));
    set("ids", js_sys::Uint32Array::from(&ids[..]).into());
    set("scores", js_sys::Float32Array::from(&scores[..]).into());
    Ok(out)
}
