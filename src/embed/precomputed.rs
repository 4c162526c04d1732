//! Embeddings made elsewhere — by an API (Voyage, OpenAI), another framework, an earlier run —
//! evaluated like any model: `emb:QUERIES.npy,DOCS.npy[,QUERY_IDS,DOC_IDS]` or
//! `emb:FILE.safetensors`.
//!
//! - `.npy`: 2-D float32 or float64 arrays, one row per text. Rows follow the id files when
//!   given (one id per line), else the order of the dataset's queries / corpus files.
//! - `.safetensors`: tensors `queries` and `docs` (F32, F64 or F16 → f32) and metadata keys
//!   `query_ids` and `doc_ids`, each a JSON list of strings.

use super::super::data::Files;
use crate::error::{Error, Result};
use crate::search::Ids;

/// A matrix with the ids of its rows.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub ids: Ids,
    pub dim: usize,
    pub data: Vec<f32>,
    pub file: String,
}

fn npy(files: &Files, name: &str) -> Result<(usize, usize, Vec<f32>)> {
    let file = files.display(name);
    let bytes = files.bytes(name)?;
    let bad = |what: String| Error::input(&file, 0, what, "save a 2-D float32 array with numpy.save");
    let arr = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a .npy file: {e}")))?;
    let shape = arr.shape().to_vec();
    if shape.len() != 2 {
        return Err(bad(format!("expected a 2-D array, found shape {shape:?}")));
    }
    if arr.order() != npyz::Order::C {
        return Err(bad("Fortran-ordered array".into()));
    }
    let truncated = |e: String| {
        bad(format!("the data does not fill the shape {shape:?} in its header ({e}): the file is cut short"))
    };
    let dtype = arr.dtype();
    let data: Vec<f32> = match &dtype {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            arr.into_vec::<f32>().map_err(|e| truncated(e.to_string()))?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            arr.into_vec::<f64>().map_err(|e| truncated(e.to_string()))?.into_iter().map(|x| x as f32).collect()
        }
        other => return Err(bad(format!("unsupported dtype {}", other.descr()))),
    };
    // npyz reads as many elements as the shape's product, which wraps for absurd headers.
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    if rows.checked_mul(cols) != Some(data.len()) {
        return Err(truncated(format!("{} values read", data.len())));
    }
    Ok((rows, cols, data))
}

/// One id per non-blank line; a repeated id is an error naming its line (a ranking would list
/// that document twice, as a run file with a repeated document is refused).
fn ids_file(files: &Files, name: &str) -> Result<Ids> {
    let mut ids = Ids::default();
    let mut seen = std::collections::HashMap::new();
    files.for_each_line(name, |line, l| {
        let id = l.trim().to_string();
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(Error::input(
                files.display(name),
                line,
                format!("id '{id}' again (first on line {first})"),
                "list each id once, one per row of the vectors",
            ));
        }
        ids.push(&id);
        Ok(())
    })?;
    Ok(ids)
}

/// Refuses ids of which none is the dataset's (`known`): every metric would be 0 — vectors of
/// another dataset, or id files swapped.
fn check_ids_match(ids: &Ids, file: &str, what: &str, known: &Ids) -> Result<()> {
    if ids.is_empty() || known.is_empty() {
        return Ok(());
    }
    let set: std::collections::HashSet<&str> = known.iter().collect();
    if ids.iter().any(|id| set.contains(id)) {
        return Ok(());
    }
    Err(Error::input(
        file,
        0,
        format!(
            "none of its {} {what} ids is one of the dataset's (its first: '{}'; the dataset's first: '{}')",
            ids.len(),
            &ids[0],
            &known[0]
        ),
        "give the vectors of this dataset, with the id files in the order queries, docs",
    ))
}

/// Refuses NaN/∞, naming the row (1-based, as a line would be).
fn check_finite(m: &Matrix) -> Result<()> {
    if let Some(i) = m.data.iter().position(|x| !x.is_finite()) {
        return Err(Error::input(
            &m.file,
            0,
            format!(
                "row {} (id '{}') contains NaN or infinity",
                i / m.dim + 1,
                m.ids.get(i / m.dim).map_or("?", |s| s)
            ),
            "re-create the embeddings; every value must be finite",
        ));
    }
    Ok(())
}

/// Loads `(queries, docs)` for the spec's file list. `default_*_ids` give row order when the
/// spec has no id files.
pub fn load(
    files: &Files,
    paths: &[String],
    default_query_ids: &Ids,
    default_doc_ids: &Ids,
) -> Result<(Matrix, Matrix)> {
    let (q, d) = match paths {
        [st] if st.ends_with(".safetensors") => {
            let (q, d) = safetensors(files, st)?;
            check_ids_match(&q.ids, &q.file, "query", default_query_ids)?;
            check_ids_match(&d.ids, &d.file, "document", default_doc_ids)?;
            (q, d)
        }
        [qp, dp, rest @ ..] if rest.is_empty() || rest.len() == 2 => {
            let with_ids = |p: &str, ids: Option<&String>, what: &str, default: &Ids| -> Result<Matrix> {
                let (rows, dim, data) = npy(files, p)?;
                let ids = match ids {
                    Some(f) => {
                        let ids = ids_file(files, f)?;
                        check_ids_match(&ids, &files.display(f), what, default)?;
                        ids
                    }
                    None => default.clone(),
                };
                if ids.len() != rows {
                    return Err(Error::input(
                        files.display(p),
                        0,
                        format!("{rows} rows but {} ids", ids.len()),
                        "give one row per id, in the order of the id file (or of the dataset file when none is given)",
                    ));
                }
                Ok(Matrix { ids, dim, data, file: files.display(p) })
            };
            (
                with_ids(qp, rest.first(), "query", default_query_ids)?,
                with_ids(dp, rest.get(1), "document", default_doc_ids)?,
            )
        }
        _ => {
            return Err(Error::usage(
                "--model emb:",
                "expected emb:QUERIES.npy,DOCS.npy[,QUERY_IDS.txt,DOC_IDS.txt] or emb:FILE.safetensors",
            ))
        }
    };
    for m in [&q, &d] {
        if m.dim == 0 {
            return Err(Error::input(&m.file, 0, "the vectors have 0 dimensions", "save one non-empty vector per row"));
        }
    }
    if q.dim != d.dim {
        return Err(Error::input(
            &d.file,
            0,
            format!("dimension mismatch: queries have {} dims ({}), docs {}", q.dim, q.file, d.dim),
            "embed queries and docs with the same model",
        ));
    }
    check_finite(&q)?;
    check_finite(&d)?;
    Ok((q, d))
}

/// What the vectors leave out or add, as warnings: evaluated queries without a vector (not
/// searched), corpus documents without one (never ranked: the metrics are a smaller corpus's),
/// vectors whose ids the dataset lacks, and all-zero vectors (cosine 0 with everything).
/// `queries`: the evaluated queries' ids; `corpus`: the corpus's (empty with judgments alone).
pub fn coverage(q: &Matrix, d: &Matrix, queries: &[&str], corpus: &Ids) -> Vec<String> {
    use std::collections::HashSet;
    let examples = |ids: &[&str]| crate::data::validate::quoted(ids.iter().copied(), 3);
    let mut out = Vec::new();
    let (qset, dset): (HashSet<&str>, HashSet<&str>) = (q.ids.iter().collect(), d.ids.iter().collect());
    let unqueried: Vec<&str> = queries.iter().copied().filter(|id| !qset.contains(id)).collect();
    if !unqueried.is_empty() {
        out.push(format!(
            "{} evaluated queries have no vector in {} (e.g. {}): not searched",
            unqueried.len(),
            q.file,
            examples(&unqueried)
        ));
    }
    if !corpus.is_empty() {
        let unranked: Vec<&str> = corpus.iter().filter(|id| !dset.contains(id)).collect();
        if !unranked.is_empty() {
            out.push(format!(
                "{} of the corpus's {} documents have no vector in {} (e.g. {}): never ranked, so the metrics \
                 are those of a smaller corpus",
                unranked.len(),
                corpus.len(),
                d.file,
                examples(&unranked)
            ));
        }
        let known: HashSet<&str> = corpus.iter().collect();
        let extra: Vec<&str> = d.ids.iter().filter(|id| !known.contains(id)).collect();
        if !extra.is_empty() {
            out.push(format!(
                "{} document vectors in {} have ids the corpus lacks (e.g. {}): ranked all the same",
                extra.len(),
                d.file,
                examples(&extra)
            ));
        }
    }
    for m in [q, d] {
        let zero: Vec<&str> = m
            .data
            .chunks_exact(m.dim)
            .zip(m.ids.iter())
            .filter(|(r, _)| r.iter().all(|&x| x == 0.0))
            .map(|(_, id)| id)
            .collect();
        if !zero.is_empty() {
            out.push(format!(
                "{} vectors in {} are all zeros (e.g. {}): they score 0 against everything",
                zero.len(),
                m.file,
                examples(&zero)
            ));
        }
    }
    out
}

fn safetensors(files: &Files, name: &str) -> Result<(Matrix, Matrix)> {
    let file = files.display(name);
    let bytes = files.bytes(name)?;
    let bad = |what: String| {
        Error::input(
            &file,
            0,
            what,
            "write tensors 'queries' and 'docs' and metadata 'query_ids'/'doc_ids' (JSON lists)",
        )
    };
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let md = meta.metadata().clone().unwrap_or_default();
    let get = |tensor: &str, key: &str| -> Result<Matrix> {
        let t = st.tensor(tensor).map_err(|_| bad(format!("no tensor '{tensor}'")))?;
        let shape = t.shape();
        if shape.len() != 2 {
            return Err(bad(format!("tensor '{tensor}' has shape {shape:?}, expected 2-D")));
        }
        let data: Vec<f32> = match t.dtype() {
            safetensors::Dtype::F32 => {
                t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            safetensors::Dtype::F64 => {
                t.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
            }
            safetensors::Dtype::F16 => {
                t.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            other => return Err(bad(format!("tensor '{tensor}' has dtype {other:?}; use F32"))),
        };
        let ids_json = md.get(key).ok_or_else(|| bad(format!("no metadata key '{key}'")))?;
        let ids: Vec<String> = serde_json::from_str(ids_json)
            .map_err(|e| bad(format!("metadata '{key}' is not a JSON list of strings: {e}")))?;
        if ids.len() != shape[0] {
            return Err(bad(format!("tensor '{tensor}' has {} rows but '{key}' lists {} ids", shape[0], ids.len())));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = seen.insert(id.as_str(), i) {
                return Err(bad(format!("'{key}' lists '{id}' twice (entries {} and {})", first + 1, i + 1)));
            }
        }
        Ok(Matrix { ids: ids.iter().collect(), dim: shape[1], data, file: file.clone() })
    };
    Ok((get("queries", "query_ids")?, get("docs", "doc_ids")?))
}
