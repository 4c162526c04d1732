//! A deterministic train/dev/test split by query (the 70/15/15 protocol): query ids are sorted,
//! shuffled with a seeded ChaCha8 generator, and cut by the ratios. The corpus is shared by all
//! splits; each split gets the qrels of its queries. Same input + seed → same split, on any
//! machine.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{Dataset, Qrels, Text};
use crate::error::{Error, Result};

pub const SPLIT_NAMES: [&str; 3] = ["train", "dev", "test"];

/// Query ids of each split, in dataset order within a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub name: &'static str,
    pub queries: Vec<Text>,
    pub qrels: Qrels,
}

/// Splits the queries that have judgments. `ratios` are weights (e.g. 70,15,15).
pub fn split(ds: &Dataset, ratios: &[u32], seed: u64) -> Result<Vec<Split>> {
    let total: u64 = ratios.iter().map(|&r| r as u64).sum();
    if ratios.len() != 3 || total == 0 {
        return Err(Error::usage("--ratios", "give three weights for train,dev,test, e.g. 70,15,15"));
    }
    if ds.corpus.is_empty() {
        return Err(Error::usage(
            "--data",
            "a split is written as a BEIR folder, which needs the corpus and the queries' texts; give a dataset \
             with them (BEIR, sentence-transformers or QA-log), not judgments alone",
        ));
    }
    let mut ids: Vec<&str> =
        ds.queries.iter().filter(|q| ds.qrels.contains_key(&q.id)).map(|q| q.id.as_str()).collect();
    ids.sort_unstable();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    ids.shuffle(&mut rng);
    // Cumulative rounding so the three sizes always add up to n; in u128, as n × a u32 weight
    // sum can pass u64.
    let (n, total) = (ids.len() as u128, total as u128);
    let cut1 = (n * ratios[0] as u128 + total / 2) / total;
    let cut2 = (n * (ratios[0] as u128 + ratios[1] as u128) + total / 2) / total;
    let bounds = [0, cut1 as usize, cut2 as usize, ids.len()];
    let mut which = std::collections::HashMap::new();
    for s in 0..3 {
        for id in &ids[bounds[s]..bounds[s + 1]] {
            which.insert(*id, s);
        }
    }
    let mut out: Vec<Split> =
        SPLIT_NAMES.iter().map(|name| Split { name, queries: Vec::new(), qrels: Qrels::new() }).collect();
    for q in &ds.queries {
        if let Some(&s) = which.get(q.id.as_str()) {
            out[s].queries.push(q.clone());
            out[s].qrels.insert(q.id.clone(), ds.qrels[&q.id].clone());
        }
    }
    Ok(out)
}

/// `p` with symbolic links and `..` resolved as far as it exists, the rest appended.
#[cfg(not(target_arch = "wasm32"))]
fn resolved(p: &std::path::Path) -> std::path::PathBuf {
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        if let Ok(c) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = if parent.as_os_str().is_empty() { std::path::Path::new(".") } else { parent };
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Writes the splits as one BEIR folder: `corpus.jsonl`, `queries.jsonl` (all split queries)
/// and `qrels/{train,dev,test}.tsv`, so `--split dev` picks one.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_beir(ds: &Dataset, splits: &[Split], out: &std::path::Path, inputs: &[&std::path::Path]) -> Result<()> {
    use std::io::Write;
    let werr = |p: &std::path::Path| {
        let f = p.display().to_string();
        move |e| Error::Write { file: f, source: e }
    };
    // Never over an input: `--out` the dataset's own folder would replace its judgments.
    let targets: Vec<std::path::PathBuf> = ["corpus.jsonl", "queries.jsonl"]
        .iter()
        .map(|f| out.join(f))
        .chain(splits.iter().map(|s| out.join("qrels").join(format!("{}.tsv", s.name))))
        .collect();
    for t in &targets {
        // Nor beside a gzipped file of the same name (the dataset's own, split into its own
        // folder): the folder would hold two versions of one file (an error to read).
        let mut twin = t.clone().into_os_string();
        twin.push(".gz");
        if std::path::Path::new(&twin).exists() {
            return Err(Error::usage(
                "--out",
                format!(
                    "{} is there: writing {} beside it would leave two versions of one file — pick another folder",
                    std::path::Path::new(&twin).display(),
                    t.display()
                ),
            ));
        }
        let t = std::fs::canonicalize(t).unwrap_or_else(|_| t.clone());
        if inputs.iter().any(|i| std::fs::canonicalize(i).is_ok_and(|i| i == t)) {
            return Err(Error::usage(
                "--out",
                format!(
                    "{} is a file of the dataset being split; writing there would replace it — pick another folder",
                    t.display()
                ),
            ));
        }
    }
    // Nor inside the dataset's folder: the split's files would become files of the dataset
    // (more qrels to pick with --split, a second corpus in a subfolder).
    let at = resolved(out);
    if let Some(folder) = inputs
        .iter()
        .filter_map(|i| std::fs::canonicalize(i).ok()?.parent().map(|p| p.to_path_buf()))
        .find(|f| at.starts_with(f))
    {
        return Err(Error::usage(
            "--out",
            format!(
                "{} is inside the dataset's folder {}: its files would join the dataset — pick a folder outside it",
                out.display(),
                folder.display()
            ),
        ));
    }
    std::fs::create_dir_all(out.join("qrels")).map_err(werr(out))?;
    let mut buf = Vec::new();
    for d in &ds.corpus {
        serde_json::to_writer(&mut buf, &serde_json::json!({"_id": d.id, "title": "", "text": d.text})).expect("json");
        buf.push(b'\n');
    }
    let p = out.join("corpus.jsonl");
    std::fs::write(&p, &buf).map_err(werr(&p))?;
    buf.clear();
    for s in splits {
        for q in &s.queries {
            serde_json::to_writer(&mut buf, &serde_json::json!({"_id": q.id, "text": q.text})).expect("json");
            buf.push(b'\n');
        }
    }
    let p = out.join("queries.jsonl");
    std::fs::write(&p, &buf).map_err(werr(&p))?;
    for s in splits {
        let p = out.join("qrels").join(format!("{}.tsv", s.name));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).map_err(werr(&p))?);
        writeln!(f, "query-id\tcorpus-id\tscore").map_err(werr(&p))?;
        for q in &s.queries {
            for (d, r) in &s.qrels[&q.id] {
                writeln!(f, "{}\t{}\t{}", q.id, d, r).map_err(werr(&p))?;
            }
        }
        f.flush().map_err(werr(&p))?;
    }
    Ok(())
}
