//! What a dataset keeps of its documents' texts.
//!
//! An evaluation that searches document vectors made elsewhere (`eval --doc-embeddings`, the
//! shards of `embeval encode`) needs of each text only a digest — to check that the shards were
//! made from these texts — and, for the few documents a report shows, a preview. At millions of
//! documents the texts themselves are gigabytes, so such a run loads the corpus with
//! [`LoadOptions::keep_doc_texts`] off: [`Builder`] keeps each document's id and
//! [`Digest`] instead of its text, and [`Dataset::doc_previews`] reads the files again for the
//! documents a report names. An `embeval encode` job loads the same way and reads back only its
//! slice's texts, a part at a time ([`Dataset::docs_in_parts`]).
//!
//! [`LoadOptions::keep_doc_texts`]: super::LoadOptions::keep_doc_texts

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{ControlFlow, Range};

use super::{names, Dataset, DocText, Files, Format, LoadOptions, Text};
use crate::error::{Error, Result};

/// The first 16 bytes of a text's BLAKE3 hash.
pub type Digest = [u8; 16];

/// A text's [`Digest`].
pub fn digest(text: &str) -> Digest {
    blake3::hash(text.as_bytes()).as_bytes()[..16].try_into().expect("16 of 32 bytes")
}

/// Whether `Dataset::corpus[i].text` holds the documents' texts.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum DocTexts {
    /// Every document's text is in the corpus.
    #[default]
    Kept,
    /// The texts were read and dropped (each `corpus[i].text` is empty); what was kept of them.
    Dropped {
        /// [`digest`] of each document's text, in corpus order.
        digests: Vec<Digest>,
        /// Corpus positions of the documents whose text is empty or whitespace.
        empty: Vec<usize>,
        /// The texts of documents whose id comes again later in the file (the last one's), by
        /// corpus position: reading the file again finds the first one at that place.
        later: HashMap<usize, String>,
        /// How the texts were built, to read them again the same way.
        doc_text: DocText,
    },
}

/// Collects a corpus as a loader reads it, as BEIR, MTEB and sentence-transformers build their
/// dicts: an id that comes again keeps its first place and takes the last text (later ones are
/// recorded as duplicates); each text kept or, when texts are not kept, its digest.
pub(crate) struct Builder {
    keep: bool,
    /// Each id's corpus position.
    at: HashMap<String, usize>,
    docs: Vec<Text>,
    digests: Vec<Digest>,
    empty: Vec<usize>,
    later: HashMap<usize, String>,
    dups: Vec<String>,
}

impl Builder {
    pub fn new(keep_texts: bool) -> Builder {
        Builder {
            keep: keep_texts,
            at: HashMap::new(),
            docs: Vec::new(),
            digests: Vec::new(),
            empty: Vec::new(),
            later: HashMap::new(),
            dups: Vec::new(),
        }
    }

    pub fn push(&mut self, id: String, mut text: String) {
        if let Some(&at) = self.at.get(&id) {
            self.dups.push(id);
            if self.keep {
                self.docs[at].text = text;
            } else {
                // `empty` is in corpus order: a place found or made by binary search.
                match (self.empty.binary_search(&at), super::text::py_strip(&text).is_empty()) {
                    (Err(i), true) => self.empty.insert(i, at),
                    (Ok(i), false) => _ = self.empty.remove(i),
                    _ => {}
                }
                self.digests[at] = digest(&text);
                self.later.insert(at, text);
            }
            return;
        }
        self.at.insert(id.clone(), self.docs.len());
        if !self.keep {
            if super::text::py_strip(&text).is_empty() {
                self.empty.push(self.docs.len());
            }
            self.digests.push(digest(&text));
            text = String::new();
        }
        self.docs.push(Text { id, text });
    }

    /// The texts (or empty texts and what was kept of them), and the duplicate ids appended to `dups`.
    pub fn finish(self, dups: &mut Vec<String>, doc_text: DocText) -> (Vec<Text>, DocTexts) {
        dups.extend(self.dups);
        let texts = if self.keep {
            DocTexts::Kept
        } else {
            DocTexts::Dropped { digests: self.digests, empty: self.empty, later: self.later, doc_text }
        };
        (self.docs, texts)
    }
}

/// Reads `format`'s corpus ([`Builder`]: an id that comes again keeps its first place and takes
/// its last text; the later ones appended to `dups`), with its text or, where
/// `opts.keep_doc_texts` is off, its digest.
pub(crate) fn load(
    files: &Files,
    format: Format,
    opts: &LoadOptions,
    dups: &mut Vec<String>,
) -> Result<(Vec<Text>, DocTexts)> {
    let mut docs = Builder::new(opts.keep_doc_texts);
    each_doc(files, format, opts.doc_text, &mut |_, id, text| {
        docs.push(id, text);
        ControlFlow::Continue(())
    })?;
    Ok(docs.finish(dups, opts.doc_text))
}

/// What [`each_doc`] hands each document to: `(line, id, text)`; breaking stops the reading.
pub(crate) type EachDoc<'a> = dyn FnMut(usize, String, String) -> ControlFlow<()> + 'a;

/// Reads the documents of `format`'s corpus file in file order (duplicates included), each
/// text built as the loader builds it, until `f` breaks (the rest is not read).
fn each_doc(files: &Files, format: Format, doc_text: DocText, f: &mut EachDoc<'_>) -> Result<()> {
    match corpus_format(files, format) {
        Format::Beir => super::beir::each_doc(files, doc_text, f),
        Format::Qalog => super::qalog::each_doc(files, doc_text, f),
        Format::St => super::st_triple::each_doc(files, f),
        Format::Trec | Format::Auto => Ok(()),
    }
}

/// The format of the corpus file `format`'s documents come from: its own, except a TREC
/// dataset's (`--data FOLDER --format trec`), whose documents are its folder's `corpus.jsonl`
/// (BEIR) or `corpus.json` (sentence-transformers), if any.
fn corpus_format(files: &Files, format: Format) -> Format {
    match format {
        Format::Trec if files.has(names::BEIR_CORPUS) => Format::Beir,
        Format::Trec if files.has(names::ST_CORPUS) => Format::St,
        f => f,
    }
}

/// The corpus file a format reads its documents from, for messages.
fn corpus_name(format: Format) -> &'static str {
    match format {
        Format::St => names::ST_CORPUS,
        _ => names::BEIR_CORPUS,
    }
}

impl Dataset {
    /// Whether `corpus[i].text` holds the documents' texts (see [`DocTexts`]).
    pub fn has_doc_texts(&self) -> bool {
        self.doc_texts == DocTexts::Kept
    }

    /// [`digest`] of the texts of documents `range`: kept from loading, or computed now.
    pub fn doc_digests(&self, range: Range<usize>) -> Cow<'_, [Digest]> {
        match &self.doc_texts {
            DocTexts::Kept => Cow::Owned(self.corpus[range].iter().map(|d| digest(&d.text)).collect()),
            DocTexts::Dropped { digests, .. } => Cow::Borrowed(&digests[range]),
        }
    }

    /// Ids of the documents whose text is empty or whitespace, in corpus order.
    pub fn empty_doc_ids(&self) -> Vec<String> {
        match &self.doc_texts {
            DocTexts::Kept => {
                self.corpus.iter().filter(|d| super::text::py_strip(&d.text).is_empty()).map(|d| d.id.clone()).collect()
            }
            DocTexts::Dropped { empty, .. } => empty.iter().map(|&i| self.corpus[i].id.clone()).collect(),
        }
    }

    /// The documents `range` with their texts, handed to `f` `rows` at a time in corpus order:
    /// the corpus's own where kept, else read again from `files` in one pass, each checked
    /// against its digest from loading. With `ahead` (native builds) the next part is read on a
    /// thread of its own while `f` works on one: two parts are held instead of one (small parts:
    /// BM25's; an `embeval encode` job holds one part of its slice's texts at a time). The
    /// first error — `f`'s, or a corpus file changed since loading —
    /// stops the parts.
    pub fn docs_in_parts(
        &self,
        files: &Files,
        range: Range<usize>,
        rows: usize,
        ahead: bool,
        f: &mut dyn FnMut(&[Text]) -> Result<()>,
    ) -> Result<()> {
        let rows = rows.max(1);
        if range.is_empty() {
            return Ok(());
        }
        let DocTexts::Dropped { digests, doc_text, later, .. } = &self.doc_texts else {
            return self.corpus[range].chunks(rows).try_for_each(f);
        };
        // Reads the parts in one pass, handing each to `send` until it says stop (then Ok: the
        // error is the receiver's).
        let read = |send: &mut dyn FnMut(Vec<Text>) -> bool| -> Result<()> {
            let (mut next, mut failed, mut stopped) = (0, None, false);
            let mut part = Vec::with_capacity(rows.min(range.len()));
            // Documents come in corpus order (each id where it first comes in the file), so the
            // next one is the one whose id is next; a later duplicate is never that one (its
            // text, the document's, is in `later`).
            // The file is read up to the slice's last document, not past it (a job's slice may
            // be the first of many).
            each_doc(files, self.format, *doc_text, &mut |line, id, text| {
                if next >= range.end || id != self.corpus[next].id {
                    return ControlFlow::Continue(());
                }
                if next >= range.start {
                    let text = match later.get(&next) {
                        Some(last) => last.clone(),
                        None if digest(&text) != digests[next] => {
                            failed = Some(self.changed(files, line, &id));
                            return ControlFlow::Break(());
                        }
                        None => text,
                    };
                    part.push(Text { id, text });
                    if part.len() == rows || next + 1 == range.end {
                        let rest = rows.min(range.end - next - 1);
                        stopped = !send(std::mem::replace(&mut part, Vec::with_capacity(rest)));
                    }
                }
                next += 1;
                if stopped || failed.is_some() || next >= range.end {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            match failed {
                Some(e) => Err(e),
                // A document the corpus had that the file no longer has.
                None if !stopped && next < range.end => Err(self.changed(files, 0, &self.corpus[next].id)),
                None => Ok(()),
            }
        };
        // Parsing and checking the next part overlaps the work on this one. The channel holds
        // none: two parts are held at most, this one and the next.
        #[cfg(feature = "cli")]
        if ahead {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Text>>(0);
            return std::thread::scope(|s| {
                let reader = s.spawn(move || read(&mut |part| tx.send(part).is_ok()));
                let done = rx.iter().try_for_each(|part| f(&part));
                // Its next send fails: the reader stops.
                drop(rx);
                let read = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                done.and(read)
            });
        }
        #[cfg(not(feature = "cli"))]
        let _ = ahead;
        let mut done = Ok(());
        let read = read(&mut |part| {
            done = f(&part);
            done.is_ok()
        });
        done.and(read)
    }

    /// Document `id`, read again from line `line` (0: not found) of the corpus file, is not
    /// the text loaded.
    fn changed(&self, files: &Files, line: usize, id: &str) -> Error {
        Error::input(
            files.display(corpus_name(corpus_format(files, self.format))),
            line,
            format!("document '{id}' is not the text this evaluation loaded: the file changed while it ran"),
            "evaluate again once the corpus file is no longer being written",
        )
    }

    /// The first `chars` characters (whole characters: Japanese is never cut in two) of the
    /// text of each document in `wanted` that the corpus has. Texts that were not kept are read
    /// again from `files`, and each is checked against its digest from loading: a corpus file
    /// changed since is an error, not a wrong preview.
    pub fn doc_previews(
        &self,
        files: &Files,
        wanted: &BTreeSet<&str>,
        chars: usize,
    ) -> Result<BTreeMap<String, String>> {
        // Bytes of the first `chars` characters (all of a text with no more bytes than that).
        let end = |t: &str| match chars >= t.len() {
            true => t.len(),
            false => t.char_indices().nth(chars).map_or(t.len(), |(i, _)| i),
        };
        let mut out = BTreeMap::new();
        match &self.doc_texts {
            DocTexts::Kept => {
                for d in self.corpus.iter().filter(|d| wanted.contains(d.id.as_str())) {
                    out.insert(d.id.clone(), d.text[..end(&d.text)].to_string());
                }
            }
            DocTexts::Dropped { digests, doc_text, later, .. } => {
                if wanted.is_empty() {
                    return Ok(out);
                }
                let at: HashMap<&str, usize> = self
                    .corpus
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| wanted.contains(d.id.as_str()))
                    .map(|(i, d)| (d.id.as_str(), i))
                    .collect();
                let mut changed = None;
                // Read up to the last wanted document (what follows is only later duplicates of
                // those found) or to the first changed one.
                each_doc(files, self.format, *doc_text, &mut |line, id, mut text| {
                    let Some(&i) = at.get(id.as_str()) else { return ControlFlow::Continue(()) };
                    if out.contains_key(&id) {
                        // a later duplicate: its text, the document's, was taken in its place
                        return ControlFlow::Continue(());
                    }
                    if let Some(last) = later.get(&i) {
                        text = last.clone();
                    } else if digest(&text) != digests[i] {
                        changed = Some((line, id));
                        return ControlFlow::Break(());
                    }
                    text.truncate(end(&text));
                    out.insert(id, text);
                    if out.len() == at.len() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })?;
                if changed.is_none() {
                    // A document the corpus had that the file no longer has.
                    changed = at.keys().find(|id| !out.contains_key(**id)).map(|id| (0, id.to_string()));
                }
                if let Some((line, id)) = changed {
                    return Err(self.changed(files, line, &id));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beir(corpus: &str) -> Files {
        let mut f = Files::new("mem");
        f.add_bytes("corpus.jsonl", "mem/corpus.jsonl", corpus.as_bytes().to_vec());
        f.add_bytes("queries.jsonl", "mem/queries.jsonl", b"{\"_id\": \"q1\", \"text\": \"cat\"}\n".to_vec());
        f.add_bytes("qrels/test.tsv", "mem/qrels/test.tsv", b"q1\td2\t1\n".to_vec());
        f
    }

    const CORPUS: &str = "{\"_id\": \"d1\", \"title\": \"首都\", \"text\": \"東京は日本の首都です。\"}\n\
                          {\"_id\": \"d2\", \"text\": \"  \"}\n\
                          {\"_id\": \"d1\", \"text\": \"a later duplicate\"}\n\
                          {\"_id\": \"d3\", \"text\": \"cats and dogs\"}\n";

    fn load(files: &Files, keep_doc_texts: bool) -> Dataset {
        Dataset::load(files, &LoadOptions { keep_doc_texts, ..Default::default() }).unwrap()
    }

    #[test]
    fn dropped_texts_give_what_kept_texts_give() {
        let files = beir(CORPUS);
        let (kept, dropped) = (load(&files, true), load(&files, false));
        assert!(kept.has_doc_texts() && !dropped.has_doc_texts());
        assert!(dropped.corpus.iter().all(|d| d.text.is_empty()));
        let ids = |ds: &Dataset| ds.corpus.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&kept), ["d1", "d2", "d3"]);
        assert_eq!(ids(&kept), ids(&dropped));
        assert_eq!(kept.notes.duplicate_doc_ids, dropped.notes.duplicate_doc_ids);
        assert_eq!(kept.doc_digests(0..3), dropped.doc_digests(0..3));
        assert_eq!(dropped.doc_digests(0..1)[0], digest("a later duplicate"), "the last text of an id, as BEIR");
        assert_eq!(kept.empty_doc_ids(), ["d2"]);
        assert_eq!(dropped.empty_doc_ids(), ["d2"]);
        let wanted: BTreeSet<&str> = ["d1", "d3", "not in the corpus"].into();
        let previews = kept.doc_previews(&files, &wanted, 4).unwrap();
        assert_eq!(previews, dropped.doc_previews(&files, &wanted, 4).unwrap());
        assert_eq!(previews["d1"], "a la", "the last text of an id, cut at whole characters");
        assert_eq!(previews["d3"], "cats");
        assert_eq!(previews.len(), 2);
        // An encode job's slice, whole texts, in parts of 2 (d1 in its first place, line 3's text).
        for (ds, ahead) in [(&kept, false), (&dropped, false), (&dropped, true)] {
            let mut parts = Vec::new();
            ds.docs_in_parts(&files, 0..3, 2, ahead, &mut |p| {
                parts.push(p.to_vec());
                Ok(())
            })
            .unwrap();
            assert_eq!(parts, [&kept.corpus[0..2], &kept.corpus[2..3]]);
            assert_eq!(parts[0][0].text, "a later duplicate");
            parts.clear();
            ds.docs_in_parts(&files, 1..3, 5, ahead, &mut |p| {
                parts.push(p.to_vec());
                Ok(())
            })
            .unwrap();
            assert_eq!(parts, [&kept.corpus[1..3]]);
            // An error of the part's stops the parts.
            let mut calls = 0;
            let err = ds.docs_in_parts(&files, 0..3, 1, ahead, &mut |_| {
                calls += 1;
                Err(Error::Model { what: "out of memory".into() })
            });
            assert_eq!((calls, err.unwrap_err().to_string()), (1, "model: out of memory".to_string()));
        }
    }

    /// An id that comes again keeps its first place and takes its last text (a Python dict's
    /// `d[id] = text`, as BEIR's, MTEB's and sentence-transformers' loaders build the corpus),
    /// empty or not, whether texts are kept or read again.
    #[test]
    fn an_id_that_comes_again_takes_its_last_text() {
        let files = beir(
            "{\"_id\": \"d1\", \"text\": \"first\"}\n{\"_id\": \"d2\", \"text\": \" \"}\n\
             {\"_id\": \"d1\", \"text\": \" \"}\n{\"_id\": \"d2\", \"text\": \"猫\"}\n{\"_id\": \"d3\", \"text\": \"c\"}\n",
        );
        let (kept, dropped) = (load(&files, true), load(&files, false));
        let texts: Vec<(&str, &str)> = kept.corpus.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        assert_eq!(texts, [("d1", ""), ("d2", "猫"), ("d3", "c")]);
        for ds in [&kept, &dropped] {
            assert_eq!(ds.notes.duplicate_doc_ids, ["d1", "d2"]);
            assert_eq!(ds.empty_doc_ids(), ["d1"]);
            assert_eq!(ds.doc_digests(0..3), kept.doc_digests(0..3));
            let mut parts = Vec::new();
            ds.docs_in_parts(&files, 0..3, 2, false, &mut |p| {
                parts.extend_from_slice(p);
                Ok(())
            })
            .unwrap();
            assert_eq!(parts, kept.corpus);
            let previews = ds.doc_previews(&files, &["d1", "d2"].into(), 10).unwrap();
            assert_eq!((previews["d1"].as_str(), previews["d2"].as_str()), ("", "猫"));
        }
    }

    #[test]
    fn a_corpus_changed_since_loading_is_an_error_not_a_wrong_preview() {
        let dropped = load(&beir(CORPUS), false);
        let edited = beir(&CORPUS.replace("cats and dogs", "cats and mice"));
        let err = dropped.doc_previews(&edited, &["d3"].into(), 100).unwrap_err().to_string();
        assert!(err.contains("mem/corpus.jsonl:4") && err.contains("'d3'") && err.contains("changed"), "{err}");
        // Documents no report asks for are not checked (nor read into memory).
        assert_eq!(dropped.doc_previews(&edited, &["d1"].into(), 2).unwrap()["d1"], "a ");
        let cut = beir(&CORPUS.replace("{\"_id\": \"d3\", \"text\": \"cats and dogs\"}\n", ""));
        let err = dropped.doc_previews(&cut, &["d1", "d3"].into(), 100).unwrap_err().to_string();
        assert!(err.starts_with("mem/corpus.jsonl: document 'd3'") && err.contains("changed"), "{err}");
        // An encode job's parts (and BM25's, read ahead): the same errors, after the parts
        // before the change.
        for ahead in [false, true] {
            let mut parts = Vec::new();
            let err = dropped
                .docs_in_parts(&edited, 0..3, 1, ahead, &mut |p| {
                    parts.push(p[0].id.clone());
                    Ok(())
                })
                .unwrap_err();
            assert!(err.to_string().contains("mem/corpus.jsonl:4") && err.to_string().contains("'d3'"), "{err}");
            assert_eq!(parts, ["d1", "d2"]);
            let err = dropped.docs_in_parts(&cut, 0..3, 5, ahead, &mut |_| Ok(())).unwrap_err().to_string();
            assert!(err.starts_with("mem/corpus.jsonl: document 'd3'") && err.contains("changed"), "{err}");
        }
    }

    /// An encode job reads the corpus file up to its slice's last document, previews up to the
    /// last wanted one: what follows is not read (here a line that is not JSON would say so).
    #[test]
    fn reading_again_stops_after_the_last_document_wanted() {
        let dropped = load(&beir(CORPUS), false);
        let tail = beir(&format!("{CORPUS}not JSON\n"));
        for (range, ahead) in [(0..1, false), (0..3, false), (1..3, false), (0..3, true), (1..3, true)] {
            let mut ids = Vec::new();
            dropped
                .docs_in_parts(&tail, range.clone(), 2, ahead, &mut |p| {
                    ids.extend(p.iter().map(|d| d.id.clone()));
                    Ok(())
                })
                .unwrap();
            assert_eq!(ids, dropped.corpus[range].iter().map(|d| d.id.clone()).collect::<Vec<_>>());
        }
        let wanted: BTreeSet<&str> = ["d2", "d3"].into();
        assert_eq!(dropped.doc_previews(&tail, &wanted, 4).unwrap().len(), 2);
        // A wanted id the corpus does not have is not looked for.
        let wanted: BTreeSet<&str> = ["d2", "not in the corpus"].into();
        assert_eq!(dropped.doc_previews(&tail, &wanted, 4).unwrap().len(), 1);
    }

    /// A sentence-transformers dataset and a QA log, both with their corpus.
    fn st_and_qalog() -> [Files; 2] {
        let mut st = Files::new("st");
        st.add_bytes("queries.json", "st/queries.json", br#"{"q1": "cat"}"#.to_vec());
        st.add_bytes("corpus.json", "st/corpus.json", r#"{"d1": "猫です", "d2": "dog"}"#.as_bytes().to_vec());
        st.add_bytes("relevant_docs.json", "st/relevant_docs.json", br#"{"q1": ["d1"]}"#.to_vec());
        let mut qa = Files::new("qa");
        qa.add_bytes(
            "qalog.jsonl",
            "qa/qalog.jsonl",
            br#"{"query_id": "q1", "query_text": "cat", "references": [{"doc_id": "d1", "relevance_score": 0.9}]}"#
                .to_vec(),
        );
        qa.add_bytes(
            "corpus.jsonl",
            "qa/corpus.jsonl",
            "{\"doc_id\": \"d1\", \"text\": \"猫です\"}\n".as_bytes().to_vec(),
        );
        [st, qa]
    }

    #[test]
    fn every_format_with_a_corpus_reads_it_again_the_same_way() {
        for files in st_and_qalog() {
            let (kept, dropped) = (load(&files, true), load(&files, false));
            assert_eq!(kept.doc_digests(0..1), dropped.doc_digests(0..1));
            let wanted: BTreeSet<&str> = ["d1"].into();
            assert_eq!(kept.doc_previews(&files, &wanted, 9).unwrap()["d1"], "猫です");
            assert_eq!(dropped.doc_previews(&files, &wanted, 9).unwrap()["d1"], "猫です");
        }
    }

    /// An encode job's load: the corpus alone equals the whole dataset's, in every format, with
    /// or without the queries and judgments beside it; queries and judgments are not read.
    #[test]
    fn the_corpus_alone_is_the_whole_datasets_corpus() {
        let only = |files: &Files, keep: &[&str]| {
            let mut f = Files::new(files.root());
            for name in files.names().filter(|n| keep.contains(n)) {
                f.add_bytes(name, files.display(name), files.read_text(name).unwrap().into_bytes());
            }
            f
        };
        let [st, qa] = st_and_qalog();
        let beir = beir(CORPUS);
        let cases = [
            (only(&beir, &["corpus.jsonl"]), &beir, Format::Beir),
            (only(&st, &["corpus.json"]), &st, Format::St),
            (only(&qa, &["corpus.jsonl", "qalog.jsonl"]), &qa, Format::Qalog),
        ];
        for (alone, whole, format) in &cases {
            let opts = LoadOptions { keep_doc_texts: false, ..Default::default() };
            let want = Dataset::load(whole, &opts).unwrap();
            for files in [alone, *whole] {
                let got = Dataset::load_corpus(files, &opts).unwrap();
                assert_eq!(got.format, *format);
                assert_eq!(got.corpus, want.corpus);
                assert_eq!(got.doc_digests(0..got.corpus.len()), want.doc_digests(0..want.corpus.len()));
                assert_eq!(got.notes.duplicate_doc_ids, want.notes.duplicate_doc_ids);
                assert!(got.queries.is_empty() && got.qrels.is_empty());
            }
        }
        assert_eq!(Dataset::load_corpus(&cases[0].0, &Default::default()).unwrap().corpus.len(), 3);
        // A BEIR folder without qrels for the split, or with broken queries: the corpus still loads.
        let mut broken = only(&beir, &["corpus.jsonl"]);
        broken.add_bytes("queries.jsonl", "mem/queries.jsonl", b"not JSON\n".to_vec());
        let opts = LoadOptions { split: "dev".into(), ..Default::default() };
        assert_eq!(Dataset::load_corpus(&broken, &opts).unwrap().corpus.len(), 3);
        // No corpus: TREC files, or nothing the formats know.
        let mut trec = Files::new("t");
        trec.add_bytes("qrels", "t/qrels", b"q1 0 d1 1\n".to_vec());
        let err = Dataset::load_corpus(&trec, &Default::default()).unwrap_err().to_string();
        assert!(err.contains("no documents to encode") && err.contains("corpus.jsonl"), "{err}");
        let err = Dataset::load_corpus(&Files::new("empty"), &Default::default()).unwrap_err().to_string();
        assert!(err.contains("cannot tell the dataset format"), "{err}");
    }
}
