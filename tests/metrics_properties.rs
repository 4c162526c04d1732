//! Property tests: on random graded qrels and random runs full of tied scores, every metric
//! under both conventions equals a deliberately naive reference written here from the
//! definitions (trec_eval's and sentence-transformers' code paths, not embeval's).

use std::collections::BTreeMap;

use embeval::{Config, Convention, Files};
use proptest::prelude::*;

type Qrels = BTreeMap<String, BTreeMap<String, i32>>;
type Run = BTreeMap<String, Vec<(String, f64)>>;

/// The naive reference: sort, then compute each metric straight from its definition.
fn reference(qrels: &Qrels, run: &Run, conv: Convention, k: usize) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut n = 0usize;
    // trec_eval (without -c) and pytrec_eval score the run's queries; sentence-transformers
    // every query with a relevant doc, one the run lacks with an empty result list. A run with
    // none of them is an error (as trec_eval's), under either.
    let queries: Vec<&String> = match conv {
        Convention::Trec => run.keys().collect(),
        Convention::St => qrels.iter().filter(|(_, j)| j.values().any(|&r| r >= 1)).map(|(q, _)| q).collect(),
    };
    if !queries.iter().any(|q| run.contains_key(*q) && qrels.contains_key(*q)) {
        return sums;
    }
    let none = Vec::new();
    for q in queries {
        let docs = run.get(q).unwrap_or(&none);
        let Some(judged) = qrels.get(q) else { continue };
        let relevant: Vec<&String> = judged.iter().filter(|(_, &r)| r >= 1).map(|(d, _)| d).collect();
        if relevant.is_empty() {
            // trec_eval counts a judged query with nothing relevant (num_q), every measure 0;
            // sentence-transformers leaves it out.
            if conv == Convention::Trec {
                n += 1;
                for m in ["ndcg", "map", "mrr", "recall", "precision", "accuracy"] {
                    *sums.entry(format!("{m}@{k}")).or_default() += 0.0;
                }
            }
            continue;
        }
        n += 1;
        let mut ranked = docs.clone();
        ranked.sort_by(|a, b| {
            b.1.partial_cmp(&a.1).unwrap().then_with(|| match conv {
                Convention::Trec => b.0.cmp(&a.0),
                Convention::St => a.0.cmp(&b.0),
            })
        });
        let top: Vec<i32> = ranked.iter().take(k).map(|(d, _)| *judged.get(d).unwrap_or(&0)).collect();
        let is_rel: Vec<bool> = top.iter().map(|&r| r >= 1).collect();
        let hits = is_rel.iter().filter(|&&h| h).count() as f64;
        let r = relevant.len() as f64;
        // nDCG
        let (dcg, idcg) = match conv {
            Convention::Trec => {
                let dcg: f64 = top.iter().enumerate().map(|(i, &g)| g.max(0) as f64 / ((i + 2) as f64).log2()).sum();
                let mut ideal: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
                ideal.sort_by(|a, b| b.cmp(a));
                let idcg: f64 =
                    ideal.iter().take(k).enumerate().map(|(i, &g)| g as f64 / ((i + 2) as f64).log2()).sum();
                (dcg, idcg)
            }
            Convention::St => {
                let dcg: f64 =
                    is_rel.iter().enumerate().filter(|(_, &h)| h).map(|(i, _)| 1.0 / ((i + 2) as f64).log2()).sum();
                let idcg: f64 = (0..relevant.len().min(k)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
                (dcg, idcg)
            }
        };
        // AP
        let mut seen = 0.0;
        let mut ap = 0.0;
        for (i, &h) in is_rel.iter().enumerate() {
            if h {
                seen += 1.0;
                ap += seen / (i + 1) as f64;
            }
        }
        let ap_den = match conv {
            Convention::Trec => r,
            Convention::St => r.min(k as f64),
        };
        let rr = is_rel.iter().position(|&h| h).map_or(0.0, |i| 1.0 / (i + 1) as f64);
        for (m, v) in [
            ("ndcg", if idcg > 0.0 { dcg / idcg } else { 0.0 }),
            ("map", ap / ap_den),
            ("mrr", rr),
            ("recall", hits / r),
            ("precision", hits / k as f64),
            ("accuracy", if hits > 0.0 { 1.0 } else { 0.0 }),
        ] {
            *sums.entry(format!("{m}@{k}")).or_default() += v;
        }
    }
    sums.into_iter().map(|(key, s)| (key, s / n as f64)).collect()
}

/// The means, or the error's text.
fn embeval_metrics(
    qrels: &Qrels,
    run: &Run,
    conv: Convention,
    k: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut qtext = String::new();
    for (q, m) in qrels {
        for (d, r) in m {
            qtext.push_str(&format!("{q} 0 {d} {r}\n"));
        }
    }
    let mut rtext = String::new();
    for (q, docs) in run {
        for (i, (d, s)) in docs.iter().enumerate() {
            // The rank column is deliberately wrong: trec_eval ignores it and so must we.
            rtext.push_str(&format!("{q} Q0 {d} {} {s} tag\n", 1000 - i));
        }
    }
    let mut files = Files::new("generated");
    files.add_bytes("qrels", "qrels", qtext.into_bytes());
    files.add_bytes("run", "run", rtext.into_bytes());
    let config = Config {
        load: embeval::LoadOptions { format: embeval::data::Format::Trec, ..Default::default() },
        convention: conv,
        k: vec![k],
        models: vec!["run:run".into()],
        ..Default::default()
    };
    let r = embeval::evaluate(&files, &config, &embeval::Quiet, &mut |_| Ok(())).map_err(|e| e.to_string())?;
    Ok(r.models[0].metrics.clone())
}

/// Random qrels (grades -1..3, some queries without positives) and runs whose scores come from
/// a handful of values, so ties straddle every cut-off; doc ids share prefixes ("d1" < "d10").
fn dataset() -> impl Strategy<Value = (Qrels, Run)> {
    let query = (
        proptest::collection::btree_map(0u16..40, -1i32..4, 0..12),
        proptest::collection::btree_map(0u16..40, 0u8..5, 0..25),
    );
    proptest::collection::vec(query, 1..12).prop_map(|qs| {
        let mut qrels = Qrels::new();
        let mut run = Run::new();
        for (i, (judged, ranked)) in qs.into_iter().enumerate() {
            let q = format!("q{i}");
            if !judged.is_empty() {
                qrels.insert(q.clone(), judged.into_iter().map(|(d, r)| (format!("d{d}"), r)).collect());
            }
            if !ranked.is_empty() {
                run.insert(q, ranked.into_iter().map(|(d, s)| (format!("d{d}"), s as f64 * 0.25)).collect());
            }
        }
        (qrels, run)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_metric_equals_the_naive_reference((qrels, run) in dataset(), k in 1usize..15, st in any::<bool>()) {
        prop_assume!(!qrels.is_empty() && !run.is_empty(), "an empty file is an input error");
        prop_assume!(
            qrels.values().flat_map(|m| m.values()).any(|&r| r >= 1),
            "judgments without a relevant document are an input error (nothing to evaluate)"
        );
        let conv = if st { Convention::St } else { Convention::Trec };
        let want = reference(&qrels, &run, conv, k);
        let got = embeval_metrics(&qrels, &run, conv, k);
        if want.is_empty() {
            // No evaluated query in the run: an error, as trec_eval's, not a row of zeros.
            let e = got.unwrap_err();
            prop_assert!(e.contains("none of its query ids is an evaluated query's"), "{}", e);
        } else {
            let got = got.unwrap();
            for (key, w) in &want {
                let g = got[key].as_f64().unwrap();
                prop_assert!((g - w).abs() < 1e-12, "{} under {:?}: embeval {} vs reference {}", key, conv, g, w);
            }
        }
    }
}
