//! `embeval split` on the real xquad-en dataset: sizes from the cumulative rounding, disjoint and
//! complete splits, byte-identical output for the same seed, a different split for another
//! seed, and an output folder that loads as BEIR with `--split dev`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use embeval::{Dataset, Files, LoadOptions};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel)
}

fn split(out: &Path, seed: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["split", "--data", data("xquad-en").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--ratios", "70,15,15", "--seed", seed])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    String::from_utf8(o.stdout).unwrap()
}

/// qrels/<name>.tsv as (query → doc → grade), checking the header.
fn qrels(dir: &Path, name: &str) -> BTreeMap<String, BTreeMap<String, i32>> {
    let text = std::fs::read_to_string(dir.join(format!("qrels/{name}.tsv"))).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("query-id\tcorpus-id\tscore"));
    let mut m: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for l in lines {
        let c: Vec<&str> = l.split('\t').collect();
        assert_eq!(c.len(), 3, "{l}");
        m.entry(c[0].into()).or_default().insert(c[1].into(), c[2].parse().unwrap());
    }
    m
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    ["corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/dev.tsv", "qrels/test.tsv"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
        .collect()
}

#[test]
fn split_xquad_70_15_15() {
    let tmp = tempfile::tempdir().unwrap();
    let out1 = tmp.path().join("a");
    let stdout = split(&out1, "42");
    // 1190 judged queries, weights 70/15/15 (total 100), cumulative rounding half up:
    //   cut1 = round(1190 * 70 / 100) = round(833.0) = 833
    //   cut2 = round(1190 * 85 / 100) = round(1011.5) = 1012
    // so train = 833, dev = 1012 - 833 = 179, test = 1190 - 1012 = 178.
    assert_eq!(stdout, "train: 833 queries\ndev: 179 queries\ntest: 178 queries\n");

    let original = Dataset::load(&Files::from_dir(&data("xquad-en")).unwrap(), &LoadOptions::default()).unwrap();
    let (train, dev, test) = (qrels(&out1, "train"), qrels(&out1, "dev"), qrels(&out1, "test"));
    assert_eq!((train.len(), dev.len(), test.len()), (833, 179, 178));

    // Disjoint and complete, each query with exactly its original judgments.
    let ids = |m: &BTreeMap<String, BTreeMap<String, i32>>| m.keys().cloned().collect::<BTreeSet<_>>();
    let (a, b, c) = (ids(&train), ids(&dev), ids(&test));
    assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
    let all: BTreeSet<String> = a.union(&b).chain(c.iter()).cloned().collect();
    assert_eq!(all, original.qrels.keys().cloned().collect::<BTreeSet<_>>());
    for m in [&train, &dev, &test] {
        for (q, judged) in m {
            assert_eq!(judged, &original.qrels[q]);
        }
    }

    // Same seed → byte-identical files.
    let out2 = tmp.path().join("b");
    split(&out2, "42");
    assert_eq!(files_of(&out1), files_of(&out2));

    // Another seed → another split (same sizes).
    let out3 = tmp.path().join("c");
    assert_eq!(split(&out3, "7"), stdout);
    assert_ne!(ids(&qrels(&out3, "dev")), b);
    assert_ne!(ids(&qrels(&out3, "train")), a);

    // The output is a BEIR folder; --split dev picks the dev queries.
    let files = Files::from_dir(&out1).unwrap();
    let ds = Dataset::load(&files, &LoadOptions { split: "dev".into(), ..LoadOptions::default() }).unwrap();
    assert_eq!(ds.format, embeval::data::Format::Beir);
    assert_eq!(ds.queries.len(), 1190, "queries.jsonl holds the queries of every split");
    assert_eq!(ds.qrels.len(), 179);
    assert_eq!(ds.evaluated_queries(embeval::Convention::Trec).count(), 179);
    let v = embeval::data::validate::validate(&ds, embeval::Convention::Trec);
    assert_eq!(v.num_evaluated_queries, 179);
    assert!(v.qrels_missing_docs.count == 0 && v.qrels_missing_queries.count == 0);
    // Doc texts survive the round trip (the joined title + text is written as the text).
    assert_eq!(ds.corpus, original.corpus);
    // Query texts too.
    let by_id: BTreeMap<&str, &str> = original.queries.iter().map(|q| (q.id.as_str(), q.text.as_str())).collect();
    for q in &ds.queries {
        assert_eq!(by_id[q.id.as_str()], q.text);
    }

    // And the CLI evaluates it.
    let o = Command::new(env!("CARGO_BIN_EXE_embeval"))
        .args(["eval", "--data", out1.to_str().unwrap(), "--split", "dev", "--model", "bm25", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("| bm25 |") && l.contains("| 179 |")), "{table}");
}

#[test]
fn split_is_pinned_across_machines() {
    // The seeded ChaCha8 shuffle of the sorted ids: pinned so that a dependency upgrade that
    // changes the shuffle (and silently every user's split) fails here.
    let ds = Dataset::load(&Files::from_dir(&data("xquad-en")).unwrap(), &LoadOptions::default()).unwrap();
    let s = embeval::data::split::split(&ds, &[70, 15, 15], 42).unwrap();
    let names: Vec<&str> = s.iter().map(|x| x.name).collect();
    assert_eq!(names, ["train", "dev", "test"]);
    let first3 = |i: usize| s[i].queries.iter().take(3).map(|q| q.id.clone()).collect::<Vec<_>>();
    assert_eq!(first3(1), PINNED_DEV_FIRST3, "dev split for seed 42 changed");
    assert_eq!(first3(2), PINNED_TEST_FIRST3, "test split for seed 42 changed");
    // A fingerprint of the whole assignment: the sum of the dataset positions of each split's queries.
    let pos: std::collections::HashMap<&str, usize> =
        ds.queries.iter().enumerate().map(|(i, q)| (q.id.as_str(), i)).collect();
    let sums: Vec<usize> = s.iter().map(|x| x.queries.iter().map(|q| pos[q.id.as_str()]).sum()).collect();
    assert_eq!(sums.iter().sum::<usize>(), 1190 * 1189 / 2);
    assert_eq!(sums, PINNED_POSITION_SUMS, "split for seed 42 changed");
}

const PINNED_DEV_FIRST3: [&str; 3] =
    ["56d6f3500d65d21400198294", "56d9992fdc89441400fdb59c", "56d9992fdc89441400fdb59e"];
const PINNED_TEST_FIRST3: [&str; 3] =
    ["56beb4343aeaaa14008c925b", "56beb4343aeaaa14008c925f", "56d6f3500d65d21400198290"];
const PINNED_POSITION_SUMS: [usize; 3] = [497595, 106288, 103572];
