//! `--search gpu` against `--search cpu` through the whole evaluation, on real text: xquad-en
//! queries and paragraphs embedded by a deterministic hashed bag of words (384 dims, made here),
//! so the vectors have the structure of real retrieval (many near-ties, shared words).
//! The GPU path must give the same top-k ids and scores within 1e-5, and report its adapter.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use embeval::search::SearchPath;
use embeval::{Config, Files, Quiet};

const DIM: usize = 384;

fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    for w in embeval::embed::bm25::tokenize(text) {
        let mut h = DefaultHasher::new();
        w.hash(&mut h);
        let x = h.finish();
        v[(x % DIM as u64) as usize] += if x & (1 << 40) == 0 { 1.0 } else { -1.0 };
    }
    v
}

fn npy(rows: &[Vec<f32>]) -> Vec<u8> {
    common::npy_f32_rows(rows)
}

#[test]
fn gpu_search_equals_cpu_search_on_real_text() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/xquad-en");
    let mut files = Files::from_dir(&dir).unwrap();
    let ds = embeval::Dataset::load(&files, &Default::default()).unwrap();
    let q: Vec<Vec<f32>> = ds.queries.iter().map(|t| embed(&t.text)).collect();
    let d: Vec<Vec<f32>> = ds.corpus.iter().map(|t| embed(&t.text)).collect();
    files.add_bytes("q.npy", "q.npy", npy(&q)).add_bytes("d.npy", "d.npy", npy(&d));
    let run = |search| {
        let config = Config { models: vec!["bow=emb:q.npy,d.npy".into()], search, top: 100, ..Config::default() };
        embeval::evaluate(&files, &config, &Quiet, &mut |_| Ok(())).unwrap().models.remove(0)
    };
    let cpu = run(SearchPath::Cpu);
    let gpu = run(SearchPath::Gpu);
    assert_eq!(cpu.search.path, "cpu");
    if !gpu.search.path.starts_with("gpu: ") {
        eprintln!("SKIPPED: {}", gpu.search.notice.as_deref().unwrap_or("no GPU adapter"));
        return;
    }
    eprintln!("GPU path: {}", gpu.search.path);
    assert!(cpu.metrics["ndcg@10"].as_f64().unwrap() > 0.3, "the toy embedding retrieves something");
    // Rank by rank the scores agree; ids may differ only inside groups of near-tied scores
    // (the two paths sum in different orders, so an exact tie on one can be 1 ulp apart on
    // the other), and a doc clearly above the cut-off must be in both lists.
    let mut differing_ranks = 0;
    for (c, g) in cpu.per_query.iter().zip(&gpu.per_query) {
        assert_eq!(c.query_id, g.query_id);
        assert_eq!(c.top.len(), g.top.len());
        for ((cd, cs), (gd, gs)) in c.top.iter().zip(&g.top) {
            assert!((cs - gs).abs() <= 1e-5, "{}: score {cs} vs {gs}", c.query_id);
            differing_ranks += (cd != gd) as usize;
        }
        let last = c.top.last().map_or(f64::NEG_INFINITY, |t| t.1);
        for (list, other) in [(&c.top, &g.top), (&g.top, &c.top)] {
            for (d, s) in list.iter().filter(|(_, s)| *s > last + 1e-5) {
                let o = other.iter().find(|(od, _)| od == d);
                assert!(
                    o.is_some_and(|(_, os)| (os - s).abs() <= 1e-5),
                    "{}: {d} ({s}) missing from the other path",
                    c.query_id
                );
            }
        }
    }
    eprintln!(
        "{} queries compared; {differing_ranks} ranks hold a different doc of a near-tied score",
        cpu.per_query.len()
    );
    let mut max_diff = 0f64;
    for (key, cv) in &cpu.metrics {
        let diff = (cv.as_f64().unwrap() - gpu.metrics[key].as_f64().unwrap()).abs();
        max_diff = max_diff.max(diff);
        assert!(diff <= 1e-4, "{key}: cpu {cv} vs gpu {}", gpu.metrics[key]);
    }
    eprintln!("largest metric difference (from near-tie order): {max_diff:e}");
}

/// Two documents, one query, and their toy vectors as `q.npy`/`d.npy`, in a new folder.
fn tiny_dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("qrels")).unwrap();
    std::fs::write(
        p.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"猫\"}\n{\"_id\": \"d2\", \"text\": \"dog\"}\n",
    )
    .unwrap();
    std::fs::write(p.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"ねこ\"}\n").unwrap();
    std::fs::write(p.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n").unwrap();
    std::fs::write(p.join("q.npy"), npy(&[embed("猫")])).unwrap();
    std::fs::write(p.join("d.npy"), npy(&[embed("猫"), embed("dog")])).unwrap();
    dir
}

/// With no GPU driver at all, `--search gpu` says so in one line and searches on the CPU:
/// exit 0, the same numbers, never a panic or a hang.
#[test]
fn no_adapter_falls_back_to_the_cpu_with_a_notice() {
    let dir = tiny_dataset();
    let p = dir.path();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embeval"))
        .current_dir(p)
        .args(["eval", "--data", ".", "--model", "emb:q.npy,d.npy", "--search", "gpu", "--out", "out"])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("searching on the CPU instead"), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("out/results.json")).unwrap()).unwrap();
    assert_eq!(results["models"][0]["search"]["path"], "cpu");
    assert_eq!(results["models"][0]["metrics"]["ndcg@10"], 1.0);
}

/// `--search auto`: small work never starts a GPU; above [`AUTO_MIN_WORK`] the path that the
/// calibration timed faster runs (on lavapipe that is the CPU), the report says why, and the
/// hits are those of the path it names.
#[test]
fn auto_takes_the_path_the_calibration_timed_faster() {
    use embeval::search::{cpu, Searcher, AUTO_MIN_WORK};
    let mut rng = 0x2545f491u32;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        (rng as f32 / u32::MAX as f32) - 0.5
    };
    let (nq, nd) = (256, 16384);
    let q: Vec<f32> = (0..nq * DIM).map(|_| next()).collect();
    let d: Vec<f32> = (0..nd * DIM).map(|_| next()).collect();
    let ties: Vec<u32> = (0..nd as u32).collect();
    assert!(nq * nd * DIM >= AUTO_MIN_WORK);

    let (small, path, notice) = embeval::block_on(Searcher::new(SearchPath::Auto).top_k(
        &q[..8 * DIM],
        &d[..1000 * DIM],
        DIM,
        &ties[..1000],
        10,
    ))
    .unwrap()
    .unwrap();
    assert_eq!((path.as_str(), notice), ("cpu", None), "small work stays on the CPU");
    assert_eq!(small, cpu::top_k(&q[..8 * DIM], &d[..1000 * DIM], DIM, &ties[..1000], 10));

    let (hits, path, notice) =
        embeval::block_on(Searcher::new(SearchPath::Auto).top_k(&q, &d, DIM, &ties, 10)).unwrap().unwrap();
    eprintln!("auto: {path} {notice:?}");
    if path == "cpu (auto: no GPU adapter)" {
        eprintln!("SKIPPED calibration: no GPU adapter");
        return;
    }
    assert!(notice.is_none(), "{notice:?}");
    let ms = |marker: &str| -> f64 {
        let at = path.find(marker).unwrap_or_else(|| panic!("no '{marker}' in '{path}'"));
        path[at + marker.len()..].split(' ').next().unwrap().parse().unwrap()
    };
    let (gpu_ms, cpu_ms) = (ms("calibration gpu "), ms(", cpu "));
    let cpu_hits = cpu::top_k(&q, &d, DIM, &ties, 10);
    if cpu_ms <= gpu_ms {
        assert!(path.starts_with("cpu (auto: calibration"), "{path}");
        assert_eq!(hits, cpu_hits);
    } else {
        assert!(path.starts_with("gpu: "), "{path}");
        for (g, c) in hits.iter().zip(&cpu_hits) {
            for ((_, gs), (_, cs)) in g.iter().zip(c) {
                assert!((gs - cs).abs() <= 1e-5);
            }
        }
    }
}

/// Outside a desktop session (no `XDG_RUNTIME_DIR`: containers, CI, ssh) the GPU search prints
/// nothing of the Vulkan layers' display probing (Mesa's device-select layer made libwayland
/// print `error: XDG_RUNTIME_DIR is invalid ...` twice on a run that went fine).
#[test]
fn gpu_search_without_a_desktop_session_prints_no_errors() {
    let dir = tiny_dataset();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embeval"))
        .current_dir(dir.path())
        .args(["eval", "--data", ".", "--model", "emb:q.npy,d.npy", "--search", "gpu", "--out", "out"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
