//! A model's ranking as a TREC run file (`--save-runs`; [`crate::data::trec::write_run`] writes
//! it): `qid Q0 docid rank score tag`, one line per retrieved document, best first, as
//! trec_eval, pytrec_eval's `parse_run`, ranx and Pyserini read and write them. The lines are the
//! ranking embeval evaluated (to the search depth: the largest cut-off, `--top` or
//! `--failure-k`), in its order, the tie rule of the convention already applied; scores are
//! written with every digit they have (the shortest decimal that reads back to the same f64), so
//! the file evaluated again — by embeval, pytrec_eval or trec_eval — ranks exactly as here.

use crate::search::Rankings;

/// Why `rankings` cannot be written as a TREC run: an id that a whitespace-split format
/// cannot hold. `None` when it can.
pub fn unwritable(rankings: &Rankings) -> Option<String> {
    let spaced = |s: &str| s.is_empty() || s.contains(char::is_whitespace);
    let why =
        |what: &str, id: &str| format!("{what} id '{id}' is empty or holds whitespace, which a TREC run cannot hold");
    if let Some(q) = rankings.queries.iter().find(|q| spaced(&q.query_id)) {
        return Some(why("query", &q.query_id));
    }
    let mut used = rankings.queries.iter().flat_map(|q| q.hits.iter().map(|h| &rankings.doc_ids[h.doc as usize]));
    used.find(|d| spaced(d)).map(|d| why("document", d))
}

/// The run file's name for a model labelled `label`: the label with every character other than
/// a letter, digit, `-`, `_` or `.` made `_` (`.trec` added; a leading `.` made `_`), and `-2`,
/// `-3`… where an earlier model's file (`taken`) has that name, in any case. The same string, without
/// `.trec`, is the run's tag.
pub fn file_name<'a>(label: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    let base = tag(label);
    let mut name = format!("{base}.trec");
    let mut n = 1;
    // Compared as case-insensitive file systems (macOS, Windows) compare names.
    while taken.clone().any(|t| t.to_lowercase() == name.to_lowercase()) {
        n += 1;
        name = format!("{base}-{n}.trec");
    }
    name
}

/// `--save-runs`, after each model: the last model's run file name and its ranking, where it
/// kept one (it is held only then: see [`super::ModelReport::rankings`]).
pub fn to_save(r: &super::Report) -> Option<(&str, &Rankings)> {
    let m = r.models.last()?;
    Some((m.run_file.as_deref()?, m.rankings.as_deref()?))
}

/// Writes `rankings` as the run file `name` (its tag: the name without `.trec`).
pub fn write(name: &str, rankings: &Rankings, mut w: &mut dyn std::io::Write) -> std::io::Result<()> {
    crate::data::trec::write_run(rankings, name.trim_end_matches(".trec"), &mut w)
}

/// A label as one whitespace-free token that is also a safe file name.
pub fn tag(label: &str) -> String {
    let mut t: String =
        label.chars().map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if t.starts_with('.') || t.is_empty() {
        t.replace_range(..t.chars().next().map_or(0, char::len_utf8), "_");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Hit, QueryRanking};

    #[test]
    fn tags_are_tokens_and_file_names() {
        assert_eq!(tag("bm25"), "bm25");
        assert_eq!(tag("../models/all-MiniLM-L6-v2"), "_._models_all-MiniLM-L6-v2");
        assert_eq!(tag("社内 モデル/v2"), "社内_モデル_v2");
        assert_eq!(tag(".hidden"), "_hidden");
        assert_eq!(tag(""), "_");
        let taken = ["bm25.trec", "bm25-2.trec", "e5.trec"];
        assert_eq!(file_name("bm25", taken.iter().copied()), "bm25-3.trec");
        assert_eq!(file_name("ベースライン", taken.iter().copied()), "ベースライン.trec");
        assert_eq!(file_name("E5", taken.iter().copied()), "E5-2.trec", "e5.trec and E5.trec are one file on macOS");
    }

    #[test]
    fn lines_are_trec_runs_with_every_digit() {
        let rankings = Rankings {
            doc_ids: ["d1", "文書2"].into_iter().collect(),
            queries: vec![
                QueryRanking {
                    query_id: "q1".into(),
                    hits: vec![Hit { doc: 1, score: 0.1f32 as f64 }, Hit { doc: 0, score: -2.5 }],
                },
                QueryRanking { query_id: "質問2".into(), hits: vec![] },
            ],
        };
        let mut out = Vec::new();
        assert_eq!(unwritable(&rankings), None);
        crate::data::trec::write_run(&rankings, "m", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "q1 Q0 文書2 1 0.10000000149011612 m\nq1 Q0 d1 2 -2.5 m\n");
        let back: f64 = text.split(' ').nth(4).unwrap().parse().unwrap();
        assert_eq!(back, 0.1f32 as f64);

        let spaced = Rankings { doc_ids: ["d1", "d 1"].into_iter().collect(), ..rankings.clone() };
        let e = unwritable(&spaced).unwrap();
        assert!(e.starts_with("document id 'd 1'"), "{e}");
    }
}
