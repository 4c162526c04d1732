//! The library and the page's `#[wasm_bindgen]` surface, run in wasm32 (node by default,
//! headless Chromium with `WASM_BINDGEN_USE_BROWSER=1`): the tiny dataset of
//! `tests/wasm_parity.rs` must give the bits the native build gives. See scripts/test-web.sh.
#![cfg(target_arch = "wasm32")]

#[path = "wasm_parity.rs"]
mod parity;

use js_sys::{Object, Reflect, Uint8Array};
use parity::tiny;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use embeval::report::json::{Json, PerQueryJsonl};
use embeval::report::Exporter;

/// The tiny dataset as the page's worker hands it over: logical name → bytes.
fn js_files() -> Object {
    let obj = Object::new();
    for (name, text) in
        [("corpus.jsonl", tiny::CORPUS), ("queries.jsonl", tiny::QUERIES), ("qrels/test.tsv", tiny::QRELS)]
    {
        Reflect::set(&obj, &name.into(), &Uint8Array::from(text.as_bytes())).unwrap();
    }
    obj
}

fn message(e: wasm_bindgen::JsError) -> String {
    Reflect::get(&JsValue::from(e), &"message".into()).unwrap().as_string().unwrap()
}

/// results.json without the timings, which differ between any two runs.
fn untimed(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    for m in v["models"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("timings");
    }
    v
}

#[wasm_bindgen_test]
fn tiny_bm25_metrics_in_wasm_are_the_native_bits() {
    let report = embeval::evaluate(&tiny::files(), &tiny::config(), &embeval::Quiet, &mut |_| Ok(())).unwrap();
    tiny::check_results_json(std::str::from_utf8(&Json.serialize(&report)).unwrap());
    tiny::check_per_query(std::str::from_utf8(&PerQueryJsonl.serialize(&report)).unwrap());
}

#[wasm_bindgen_test]
fn the_js_surface_returns_the_librarys_results_json() {
    let report = embeval::evaluate(&tiny::files(), &tiny::config(), &embeval::Quiet, &mut |_| Ok(())).unwrap();
    let library = String::from_utf8(Json.serialize(&report)).unwrap();
    let json = embeval::wasm::evaluate(js_files(), tiny::CONFIG_JSON).unwrap();
    tiny::check_results_json(&json);
    assert_eq!(untimed(&json), untimed(&library));

    let all = embeval::wasm::evaluate_all(js_files(), tiny::CONFIG_JSON, None, None).unwrap();
    let get = |name: &str| Reflect::get(&all, &name.into()).unwrap().as_string().unwrap();
    tiny::check_results_json(&get("results.json"));
    tiny::check_per_query(&get("per_query.jsonl"));
    assert!(get("results.csv").starts_with("model,"), "{}", get("results.csv"));
}

#[wasm_bindgen_test]
fn validate_reports_the_dataset_before_any_model_runs() {
    let v: serde_json::Value = serde_json::from_str(&embeval::wasm::validate(js_files(), "").unwrap()).unwrap();
    assert_eq!(v["dataset"]["format"], "beir");
    assert_eq!(v["dataset"]["num_queries"], 4);
    assert_eq!(v["dataset"]["num_docs"], 5);
    assert_eq!(v["dataset"]["queries_without_positive"]["examples"][0], "q4");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.starts_with("dataset (beir): 4 queries, 5 docs"), "{summary}");
}

#[wasm_bindgen_test]
fn errors_reach_js_with_what_to_fix() {
    let no_corpus = js_files();
    Reflect::delete_property(&no_corpus, &"corpus.jsonl".into()).unwrap();
    let e = message(embeval::wasm::evaluate(no_corpus, "").unwrap_err());
    assert!(e.contains("corpus.jsonl"), "{e}");

    let e = message(embeval::wasm::evaluate(js_files(), r#"{"k": [0]}"#).unwrap_err());
    assert!(e.contains("--k"), "{e}");
    let e = message(embeval::wasm::evaluate(js_files(), r#"{"k": "ten"}"#).unwrap_err());
    assert!(e.starts_with("settings:"), "{e}");
    let e = message(embeval::wasm::evaluate(js_files(), r#"{"convension": "st"}"#).unwrap_err());
    assert!(e.contains("unknown setting 'convension'") && e.contains("convention"), "{e}");
    let e = message(embeval::wasm::validate(js_files(), r#"{"models": ["emb:q.npy,d.npy"]}"#).unwrap_err());
    assert!(e.contains("q.npy"), "{e}");
}
