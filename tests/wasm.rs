//! The library and the page's `#[wasm_bindgen]` surface, run in wasm32 (node by default,
//! headless Chromium with `WASM_BINDGEN_USE_BROWSER=1`): the tiny dataset of
//! `tests/wasm_parity.rs` must give the bits the native build gives. See scripts/test-web.sh.
#![cfg(target_arch = "wasm32")]

mod common;
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
async fn the_js_surface_returns_the_librarys_results_json() {
    let report = embeval::evaluate(&tiny::files(), &tiny::config(), &embeval::Quiet, &mut |_| Ok(())).unwrap();
    let library = String::from_utf8(Json.serialize(&report)).unwrap();
    let json = embeval::wasm::evaluate(js_files(), tiny::CONFIG_JSON.into()).await.unwrap();
    tiny::check_results_json(&json);
    assert_eq!(untimed(&json), untimed(&library));

    let all = embeval::wasm::evaluate_all(js_files(), tiny::CONFIG_JSON.into(), None, None).await.unwrap();
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
async fn errors_reach_js_with_what_to_fix() {
    let no_corpus = js_files();
    Reflect::delete_property(&no_corpus, &"corpus.jsonl".into()).unwrap();
    let e = message(embeval::wasm::evaluate(no_corpus, "".into()).await.unwrap_err());
    assert!(e.contains("corpus.jsonl"), "{e}");

    let e = message(embeval::wasm::evaluate(js_files(), r#"{"k": [0]}"#.into()).await.unwrap_err());
    assert!(e.contains("--k"), "{e}");
    let e = message(embeval::wasm::evaluate(js_files(), r#"{"k": "ten"}"#.into()).await.unwrap_err());
    assert!(e.starts_with("settings:"), "{e}");
    let e = message(embeval::wasm::evaluate(js_files(), r#"{"convension": "st"}"#.into()).await.unwrap_err());
    assert!(e.contains("unknown setting 'convension'") && e.contains("convention"), "{e}");
    let e = message(embeval::wasm::validate(js_files(), r#"{"models": ["emb:q.npy,d.npy"]}"#).unwrap_err());
    assert!(e.contains("q.npy"), "{e}");
}

/// The page's search on WebGPU: with `"search": "gpu"` the shaders run in the browser
/// (headless Chromium's SwiftShader adapter under scripts/test-web.sh) and give exactly the
/// CPU's rankings and scores. The vectors are multiples of 1/8 with dot products exact in f32
/// in any order, so no tolerance is needed. Where no adapter exists (node) the CPU answers
/// with a notice, and the test says SKIPPED in its output.
#[wasm_bindgen_test]
async fn gpu_search_in_the_page_gives_the_cpu_results() {
    // 4 queries and 5 docs in tiny's row order, dim 6, with ties (d2 = d4 up to order).
    let q: [[f32; 6]; 4] = [
        [1., 0.5, 0., -0.25, 0.125, 0.],
        [0., 1., 0.25, 0., 0., 0.5],
        [0.5, 0.5, 0.5, 0.5, 0., 0.],
        [-1., 0., 0., 0.125, 0., 1.],
    ];
    let d: [[f32; 6]; 5] = [
        [1., 0., 0., 0., 0., 0.],
        [0.5, 0.5, 0., 0., 0.25, 0.],
        [0., 0., 1., 0.5, 0., -0.5],
        [0.5, 0.5, 0., 0., 0.25, 0.],
        [0., 0.75, 0.25, 0., 0., 0.5],
    ];
    let files = || {
        let obj = js_files();
        for (name, rows) in [("q.npy", &q[..]), ("d.npy", &d[..])] {
            let bytes = common::npy_f32_rows(rows);
            Reflect::set(&obj, &name.into(), &Uint8Array::from(&bytes[..])).unwrap();
        }
        obj
    };
    let config = |search: &str| {
        format!(r#"{{"k": [1, 3, 10], "models": ["emb:q.npy,d.npy"], "score_function": "dot", "search": "{search}"}}"#)
    };
    let run = |search: &'static str| async move {
        let json = embeval::wasm::evaluate(files(), config(search)).await.unwrap();
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let (cpu, gpu) = (run("cpu").await, run("gpu").await);
    let (c, g) = (&cpu["models"][0], &gpu["models"][0]);
    assert_eq!(c["search"]["path"], "cpu");
    let path = g["search"]["path"].as_str().unwrap();
    if path.starts_with("gpu: ") {
        wasm_bindgen_test::console_log!("page search ran on {path}");
    } else {
        let notice = g["search"]["notice"].as_str().unwrap_or_default();
        assert!(notice.contains("no GPU adapter") || notice.contains("WebGPU is not available"), "{g}");
        wasm_bindgen_test::console_log!("SKIPPED: no GPU adapter; the page's search fell back: {notice}");
    }
    assert_eq!(g["metrics"], c["metrics"]);
    assert_eq!(g["per_query"], c["per_query"]);
}
