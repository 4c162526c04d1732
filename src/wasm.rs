//! The browser's entry points, a thin skin over [`crate::evaluate`] like `main.rs` is for the
//! CLI. The page's worker hands over the chosen files as `{logical name: Uint8Array}` (names as
//! in [`crate::data::names`]: `corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`, ...) and the
//! [`Config`] as JSON; results come back as the same bytes the CLI writes to its files.

use std::cell::{Cell, RefCell};

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::report::csv::Csv;
use crate::report::json::{Json, PerQueryJsonl};
use crate::report::{Exporter, Report};
use crate::{Config, Dataset, Error, Files, Progress};

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
        for f in spec.files() {
            if !files.has(&f) {
                return Err(js(Error::missing(
                    &f,
                    "model file not chosen",
                    format!("choose {f} too, for the model '{}'", spec.label()),
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

fn run(
    files: &Object,
    config_json: &str,
    progress: Option<Function>,
    on_model: Option<Function>,
) -> Result<Report, JsError> {
    let files = files_from(files)?;
    let config = config_from(config_json, &files)?;
    let progress = JsProgress { callback: progress, step: RefCell::default(), done: Cell::new(0), total: Cell::new(0) };
    crate::evaluate(&files, &config, &progress, &mut |report| {
        if let Some(f) = &on_model {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&text(Json.serialize(report))));
        }
        Ok(())
    })
    .map_err(js)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("exporters write UTF-8")
}

/// Evaluates every model of the config: `results.json`, byte for byte what the CLI writes.
#[wasm_bindgen]
pub fn evaluate(files: Object, config_json: &str) -> Result<String, JsError> {
    Ok(text(Json.serialize(&run(&files, config_json, None, None)?)))
}

/// Like [`evaluate`], returning every file the CLI's `--out` writes, by name
/// (`results.json`, `results.csv`, `per_query.jsonl`). `progress(step, done, total)` is called
/// during long steps and `on_model(results_json_so_far)` after each model; both may be omitted.
#[wasm_bindgen(js_name = evaluateAll)]
pub fn evaluate_all(
    files: Object,
    config_json: &str,
    progress: Option<Function>,
    on_model: Option<Function>,
) -> Result<Object, JsError> {
    let report = run(&files, config_json, progress, on_model)?;
    let out = Object::new();
    let outputs: [(&str, &dyn Exporter); 3] =
        [("results.json", &Json), ("results.csv", &Csv), ("per_query.jsonl", &PerQueryJsonl)];
    for (name, exporter) in outputs {
        Reflect::set(&out, &name.into(), &text(exporter.serialize(&report)).into()).expect("plain object");
    }
    Ok(out)
}

/// Loads the dataset and checks the config without running a model, so the page can show the
/// validation report first: `{"dataset": <as in results.json>, "summary": <the CLI's text>}`.
#[wasm_bindgen]
pub fn validate(files: Object, config_json: &str) -> Result<String, JsError> {
    let files = files_from(&files)?;
    let config = config_from(config_json, &files)?;
    let dataset = Dataset::load(&files, &config.load).map_err(js)?;
    let v = crate::data::validate::validate(&dataset);
    let summary = v.to_string();
    Ok(serde_json::json!({ "dataset": v, "summary": summary }).to_string())
}
