//! BM25, the lexical baseline every comparison should include. Lucene's formula (as in
//! Pyserini and Anserini): score(q, d) = Σ_{t ∈ q} idf(t) · tf / (tf + k1 · (1 − b + b · |d| /
//! avgdl)), idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)); repeated query terms count each time.
//! Defaults k1 = 0.9, b = 0.4 (Pyserini's). Unlike Lucene, document lengths are exact (Lucene
//! stores them lossily), so scores differ from Pyserini's in the last digits.
//!
//! Tokenizer for Japanese and English alike, as Lucene's CJKAnalyzer (CJKWidthFilter, then
//! bigrams): full-width ASCII is folded to ASCII, half-width katakana to full-width (as NFKC: a
//! half-width voiced or semi-voiced mark joins the kana before it, `ｶﾞ` → `ガ`); runs of CJK
//! ideographs, kana and Hangul become overlapping character bigrams (a lone character stays a
//! unigram); other letters and digits form lower-cased words; everything else separates.

use rustc_hash::FxHashMap;

use super::super::search::topk::{Candidate, TopK};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub k1: f32,
    pub b: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params { k1: 0.9, b: 0.4 }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005 | 0x3006 | 0x3007 |          // 々 〆 〇
        0x3040..=0x309F |                   // hiragana
        0x30A1..=0x30FA | 0x30FC..=0x30FF | // katakana incl. ー, without ゠ and the middle dot ・
        0x31F0..=0x31FF |                   // katakana phonetic extensions
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | // CJK ideographs
        0xF900..=0xFAFF |                   // compatibility ideographs
        0xAC00..=0xD7AF |                   // Hangul syllables
        0x20000..=0x2FA1F)
}

/// Full-width ASCII (U+FF01..U+FF5E) → ASCII and half-width katakana (U+FF65..U+FF9F, with the
/// voiced marks ﾞ ﾟ) → full-width, as NFKC (and Lucene's CJKWidthFilter) map them.
fn fold_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0xFF65..=0xFF9F => {
            let mut wide = c;
            unicode_normalization::char::decompose_compatible(c, |d| wide = d);
            wide
        }
        _ => c,
    }
}

/// Splits text into BM25 terms (see the module header).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_term(text, &mut String::new(), |t| out.push(t.to_string()));
    out
}

/// Calls `f` with each of `text`'s BM25 terms in order, as [`tokenize`] lists them, each
/// written into `buf` (no allocation per term: a million documents make hundreds of millions).
pub fn each_term(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    // The CJK run so far: its length, and its last character (the first of the next bigram).
    let (mut run, mut prev) = (0usize, '\0');
    buf.clear();
    let end_run = |run: &mut usize, prev: char, buf: &mut String, f: &mut dyn FnMut(&str)| {
        if *run == 1 {
            buf.clear();
            buf.push(prev);
            f(buf);
        }
        *run = 0;
    };
    let mut word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut c = fold_width(c);
        if let Some(&mark @ ('\u{FF9E}' | '\u{FF9F}')) = chars.peek() {
            if let Some(voiced) = unicode_normalization::char::compose(c, fold_width(mark)) {
                c = voiced;
                chars.next();
            }
        }
        if is_cjk(c) {
            if word {
                f(buf);
                word = false;
            }
            if run > 0 {
                buf.clear();
                buf.push(prev);
                buf.push(c);
                f(buf);
            }
            run += 1;
            prev = c;
        } else if c.is_alphanumeric() {
            end_run(&mut run, prev, buf, &mut f);
            if !word {
                buf.clear();
                word = true;
            }
            buf.extend(c.to_lowercase());
        } else {
            end_run(&mut run, prev, buf, &mut f);
            if word {
                f(buf);
                word = false;
            }
        }
    }
    end_run(&mut run, prev, buf, &mut f);
    if word {
        f(buf);
    }
}

/// An inverted index over a corpus.
pub struct Index {
    params: Params,
    vocab: FxHashMap<String, u32>,
    /// Per term: (doc, tf / (tf + k1 · (1 − b + b · |d| / avgdl))), the score's part that is
    /// the document's; a query multiplies it by the term's idf.
    postings: Vec<Vec<(u32, f32)>>,
    num_docs: usize,
}

/// Documents read again from the corpus file at a time when the dataset does not hold their
/// texts.
pub const READ_PART: usize = 4096;

/// An [`Index`] built a part of the corpus at a time, in corpus order (a corpus read again from
/// its file in parts: its texts are never all held). A part's documents are tokenized on every
/// core, and its postings appended on every core, each thread owning a shard of the terms.
#[derive(Default)]
pub struct Builder {
    vocab: FxHashMap<String, u32>,
    /// Term t's postings (doc, tf) are `shards[t % SHARDS][t / SHARDS]`.
    shards: [Vec<Vec<(u32, u32)>>; SHARDS],
    lens: Vec<f32>,
}

/// Shards of the postings, filled on separate threads.
const SHARDS: usize = 16;
/// Documents one thread tokenizes at a time.
const TOKENIZE_CHUNK: usize = 256;
/// A term id with this bit set is an index into a chunk's terms new to the vocabulary.
const FRESH: u32 = 1 << 31;

/// A chunk of documents tokenized against the vocabulary as it was before their part.
#[derive(Default)]
struct Tokenized {
    /// Each document's length in terms.
    lens: Vec<f32>,
    /// (doc, term, tf) for terms the vocabulary had, by the term's shard.
    known: [Vec<(u32, u32, u32)>; SHARDS],
    /// (doc, index into `fresh_terms` | FRESH, tf) for terms it did not have.
    fresh: Vec<(u32, u32, u32)>,
    fresh_terms: Vec<String>,
}

impl Builder {
    /// Indexes the next documents.
    pub fn add_part(&mut self, texts: &[&str]) {
        self.add_part_in(texts, TOKENIZE_CHUNK)
    }

    fn add_part_in(&mut self, texts: &[&str], chunk: usize) {
        let first = self.lens.len();
        let vocab = &self.vocab;
        let tokenize = |(i, docs): (usize, &[&str])| tokenize_chunk(vocab, docs, (first + i * chunk) as u32);
        #[cfg(feature = "cli")]
        let mut chunks: Vec<Tokenized> = {
            use rayon::prelude::*;
            texts.par_chunks(chunk.max(1)).enumerate().map(tokenize).collect()
        };
        #[cfg(not(feature = "cli"))]
        let mut chunks: Vec<Tokenized> = texts.chunks(chunk.max(1)).enumerate().map(tokenize).collect();
        // The new terms get ids in corpus order (a term new to two chunks, the first's).
        let Builder { vocab, shards, lens } = self;
        let mut ids: Vec<Vec<u32>> = Vec::with_capacity(chunks.len());
        for c in &mut chunks {
            lens.extend(&c.lens);
            let new_id = |t: String| match vocab.get(&t) {
                Some(&id) => id,
                None => {
                    let id = vocab.len() as u32;
                    vocab.insert(t, id);
                    shards[id as usize % SHARDS].push(Vec::new());
                    id
                }
            };
            ids.push(std::mem::take(&mut c.fresh_terms).into_iter().map(new_id).collect());
        }
        // A term's postings of this part are all known or all fresh, each kind in doc order.
        let fill = |(s, shard): (usize, &mut Vec<Vec<(u32, u32)>>)| {
            for c in &chunks {
                c.known[s].iter().for_each(|&(d, t, f)| shard[t as usize / SHARDS].push((d, f)));
            }
            for (c, ids) in chunks.iter().zip(&ids) {
                for &(d, t, f) in &c.fresh {
                    let t = ids[(t & !FRESH) as usize] as usize;
                    if t % SHARDS == s {
                        shard[t / SHARDS].push((d, f));
                    }
                }
            }
        };
        #[cfg(feature = "cli")]
        {
            use rayon::prelude::*;
            shards.par_iter_mut().enumerate().for_each(fill);
        }
        #[cfg(not(feature = "cli"))]
        shards.iter_mut().enumerate().for_each(fill);
    }

    pub fn finish(self, params: Params) -> Index {
        let Builder { vocab, mut shards, lens } = self;
        let avgdl =
            if lens.is_empty() { 1.0 } else { (lens.iter().sum::<f32>() / lens.len() as f32).max(f32::MIN_POSITIVE) };
        let norm: Vec<f32> = lens.iter().map(|&l| params.k1 * (1.0 - params.b + params.b * l / avgdl)).collect();
        let postings: Vec<Vec<(u32, u32)>> =
            (0..vocab.len()).map(|t| std::mem::take(&mut shards[t % SHARDS][t / SHARDS])).collect();
        // In place: (u32, u32) and (u32, f32) have the same size, so each list's memory is reused.
        let weigh = |post: Vec<(u32, u32)>| -> Vec<(u32, f32)> {
            post.into_iter()
                .map(|(d, f)| {
                    let f = f as f32;
                    (d, f / (f + norm[d as usize]))
                })
                .collect()
        };
        #[cfg(feature = "cli")]
        let postings = {
            use rayon::prelude::*;
            postings.into_par_iter().map(weigh).collect()
        };
        #[cfg(not(feature = "cli"))]
        let postings = postings.into_iter().map(weigh).collect();
        Index { params, vocab, postings, num_docs: lens.len() }
    }
}

/// Tokenizes documents `first`.. against `vocab`: each document's distinct terms once, with
/// their counts.
fn tokenize_chunk(vocab: &FxHashMap<String, u32>, docs: &[&str], first: u32) -> Tokenized {
    let mut out = Tokenized::default();
    let mut fresh: FxHashMap<String, u32> = FxHashMap::default();
    let (mut ids, mut term) = (Vec::new(), String::new());
    for (i, text) in docs.iter().enumerate() {
        ids.clear();
        each_term(text, &mut term, |t| {
            let id = match vocab.get(t) {
                Some(&id) => id,
                None => match fresh.get(t) {
                    Some(&id) => id,
                    None => {
                        let id = fresh.len() as u32 | FRESH;
                        fresh.insert(t.to_string(), id);
                        id
                    }
                },
            };
            ids.push(id);
        });
        out.lens.push(ids.len() as f32);
        let d = first + i as u32;
        ids.sort_unstable();
        for run in ids.chunk_by(|a, b| a == b) {
            let (t, f) = (run[0], run.len() as u32);
            if t & FRESH != 0 {
                out.fresh.push((d, t, f));
            } else {
                out.known[t as usize % SHARDS].push((d, t, f));
            }
        }
    }
    out.fresh_terms = vec![String::new(); fresh.len()];
    for (t, id) in fresh {
        out.fresh_terms[(id & !FRESH) as usize] = t;
    }
    out
}

impl Index {
    pub fn num_docs(&self) -> usize {
        self.num_docs
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// Top-k (doc, score) for one query, ties by `tie_rank` ascending. Docs sharing no term
    /// with the query are not returned (their score would be 0).
    pub fn search(&self, query: &str, k: usize, tie_rank: &[u32], acc: &mut Vec<f32>) -> Vec<(u32, f32)> {
        self.search_in_blocks(query, k, tie_rank, acc, BLOCK)
    }

    fn search_in_blocks(
        &self,
        query: &str,
        k: usize,
        tie_rank: &[u32],
        acc: &mut Vec<f32>,
        block: usize,
    ) -> Vec<(u32, f32)> {
        let n = self.num_docs;
        // Zero between queries: each mode sets back the entries it touched.
        if acc.len() != n {
            acc.clear();
            acc.resize(n, 0.0);
        }
        let mut terms: Vec<(&[(u32, f32)], f32)> = Vec::new();
        each_term(query, &mut String::new(), |t| {
            if let Some(&id) = self.vocab.get(t) {
                let post = &self.postings[id as usize][..];
                let df = post.len() as f64;
                // In f64 and then rounded, as Lucene does (`(float) Math.log(..)`): f32 `ln` is
                // glibc's natively but Rust's libm in wasm, and they differ in the last bit.
                let idf = (1.0 + (n as f64 - df + 0.5) / (df + 0.5)).ln() as f32;
                terms.push((post, idf));
            }
        });
        let mut top = TopK::new(k);
        // A document's score is the sum over the query's terms in query order in both modes,
        // so both give the same bits.
        if terms.iter().map(|(post, _)| post.len()).sum::<usize>() > n / 8 {
            // Past an eighth of the corpus, every score is read once instead of listing the
            // documents touched, a block of documents at a time: the block's scores stay in
            // the core's cache while every term adds to them (a million scores would not).
            for first in (0..n).step_by(block) {
                let end = (first + block).min(n);
                for (post, idf) in terms.iter_mut() {
                    let (head, rest) = post.split_at(count_below(post, end as u32));
                    head.iter().for_each(|&(d, w)| acc[d as usize] += *idf * w);
                    *post = rest;
                }
                offer_block(&mut top, &mut acc[first..end], first, tie_rank);
            }
        } else {
            let mut touched = Vec::new();
            for (post, idf) in terms {
                for &(d, w) in post {
                    let a = &mut acc[d as usize];
                    if *a == 0.0 {
                        touched.push(d);
                    }
                    *a += idf * w;
                }
            }
            for d in touched {
                offer(&mut top, d, std::mem::take(&mut acc[d as usize]), tie_rank);
            }
        }
        top.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect()
    }
}

/// Documents whose scores one block holds in a dense search: 128 KiB of scores, within a
/// core's L2 cache.
const BLOCK: usize = 1 << 15;

/// How many of `post`'s leading documents come before `end`, by galloping: the probes stay
/// near the start, where the block's postings are read next anyway (a binary search over a
/// long list would miss the cache at every probe).
fn count_below(post: &[(u32, f32)], end: u32) -> usize {
    let mut hi = 1;
    while hi < post.len() && post[hi].0 < end {
        hi *= 2;
    }
    let lo = hi / 2;
    lo + post[lo..hi.min(post.len())].partition_point(|&(d, _)| d < end)
}

/// Pushes a document scored `score` (0: untouched, never pushed), reading its tie rank only
/// when the score can enter the top k.
#[inline]
fn offer(top: &mut TopK, doc: u32, score: f32, tie_rank: &[u32]) {
    if score != 0.0 && top.threshold().is_none_or(|t| score >= t) {
        top.push(Candidate { score, tie: tie_rank[doc as usize], doc });
    }
}

/// Offers a block of scores (documents `first`..) and zeroes it. Once the top k has a
/// threshold, 16 scores below it are passed over with one vector comparison: nearly all of a
/// million are.
fn offer_block(top: &mut TopK, scores: &mut [f32], first: usize, tie_rank: &[u32]) {
    const LANES: usize = 16;
    for (i, lanes) in scores.chunks(LANES).enumerate() {
        if let Some(t) = top.threshold() {
            if lanes.iter().fold(0.0f32, |m, &a| if a > m { a } else { m }) < t {
                continue;
            }
        }
        for (j, &a) in lanes.iter().enumerate() {
            offer(top, (first + i * LANES + j) as u32, a, tie_rank);
        }
    }
    scores.fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_becomes_bigrams_and_english_words() {
        assert_eq!(tokenize("東京都に住む"), vec!["東京", "京都", "都に", "に住", "住む"]);
        assert_eq!(tokenize("Hello, WORLD! ＡＢＣ１２"), vec!["hello", "world", "abc12"]);
        assert_eq!(tokenize("BM25とは何か"), vec!["bm25", "とは", "は何", "何か"]);
        assert_eq!(tokenize("猫 cat"), vec!["猫", "cat"]);
        assert!(tokenize("  ・、。!? ").is_empty());
        // A lone character between words; a run ending the text; full-width letters beside a run.
        assert_eq!(tokenize("猫cat東"), vec!["猫", "cat", "東"]);
        assert_eq!(tokenize("ａ東京ｂ日本語"), vec!["a", "東京", "b", "日本", "本語"]);
        assert_eq!(tokenize("Ünïcode Straße"), vec!["ünïcode", "straße"]);
    }

    /// Listing the touched documents (a query of rare terms) and reading every score (past an
    /// eighth of the corpus; in blocks that do and do not divide the corpus and its 16-score
    /// lanes; with top lists short enough that lanes are passed over) rank as scoring every
    /// document, one score buffer serving every query.
    #[test]
    fn sparse_and_dense_queries_rank_as_scoring_every_document() {
        let docs: Vec<String> = (0..64)
            .map(|i| format!("common {}w{i} {}", if i % 16 == 0 { "rare " } else { "" }, "pad ".repeat(i % 5)))
            .collect();
        let texts: Vec<&str> = docs.iter().map(|d| d.as_str()).collect();
        let idx = built(&texts, 64, TOKENIZE_CHUNK);
        // Later documents rank first among equals: pushed in corpus order, ties must be resolved.
        let (ties, mut acc): (Vec<u32>, _) = ((0..64).rev().collect(), Vec::new());
        let avgdl = docs.iter().map(|d| tokenize(d).len() as f64).sum::<f64>() / 64.0;
        for query in ["rare", "common", "rare common", "common rare w3", "w5 w6"] {
            let mut want: Vec<(u32, f64)> = docs
                .iter()
                .enumerate()
                .map(|(d, text)| {
                    let toks = tokenize(text);
                    let norm = 0.9 * (1.0 - 0.4 + 0.4 * toks.len() as f64 / avgdl);
                    let score = tokenize(query)
                        .iter()
                        .map(|t| {
                            let df = docs.iter().filter(|d| tokenize(d).contains(t)).count() as f64;
                            let f = toks.iter().filter(|x| *x == t).count() as f64;
                            (1.0 + (64.0 - df + 0.5) / (df + 0.5)).ln() * f / (f + norm)
                        })
                        .sum();
                    (d as u32, score)
                })
                .filter(|&(_, s)| s > 0.0)
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(ties[a.0 as usize].cmp(&ties[b.0 as usize])));
            for (k, block) in [(100, BLOCK), (100, 5), (3, 64), (1, 13), (2, 16)] {
                let got = idx.search_in_blocks(query, k, &ties, &mut acc, block);
                assert_eq!(got.len(), want.len().min(k), "{query} k {k} block {block}");
                for ((gd, gs), (wd, ws)) in got.iter().zip(&want) {
                    assert!((*gs as f64 - ws).abs() < 1e-5, "{query}: doc {gd} {gs} vs {wd} {ws}");
                    // Equal scores (the same terms and length) rank by tie rank in both.
                    assert_eq!(gd, wd, "{query} k {k} block {block}");
                }
                assert!(acc.iter().all(|&a| a == 0.0), "{query}: scores left for the next query");
            }
        }
    }

    /// `texts` indexed `part` documents at a time, each part tokenized `chunk` at a time.
    fn built(texts: &[&str], part: usize, chunk: usize) -> Index {
        let mut b = Builder::default();
        texts.chunks(part).for_each(|p| b.add_part_in(p, chunk));
        b.finish(Params::default())
    }

    /// However the corpus is cut into parts and the parts into chunks (terms new to several
    /// chunks of a part, known to later parts), the index is the same to the bit.
    #[test]
    fn parts_and_chunks_build_one_index() {
        let words = ["東京", "大阪に住む", "Tokyo", "station", "駅", "ｂｍ２５", "x"];
        let docs: Vec<String> = (0..300)
            .map(|i| format!("{} {} w{} {}", words[i % 7], words[i * 3 % 5], i % 37, "pad ".repeat(i % 4)))
            .collect();
        let texts: Vec<&str> = docs.iter().map(|d| d.as_str()).collect();
        let postings = |idx: &Index| -> Vec<(String, Vec<(u32, u32)>)> {
            let mut v: Vec<_> = idx
                .vocab
                .iter()
                .map(|(t, &id)| (t.clone(), idx.postings[id as usize].iter().map(|&(d, w)| (d, w.to_bits())).collect()))
                .collect();
            v.sort();
            v
        };
        let one = built(&texts, 1, 1);
        assert_eq!(one.vocab.len(), 10 + 37 + 1, "東京 大阪 阪に に住 住む tokyo station 駅 bm25 x; w0..w36; pad");
        for (part, chunk) in [(300, 256), (300, 7), (64, 3), (5, 2), (4096, 1)] {
            let idx = built(&texts, part, chunk);
            assert_eq!(idx.num_docs, 300);
            assert_eq!(postings(&idx), postings(&one), "parts of {part}, chunks of {chunk}");
        }
    }

    #[test]
    fn galloping_counts_as_a_binary_search() {
        for len in 0..40u32 {
            let post: Vec<(u32, f32)> = (0..len).map(|i| (i * 3, 1.0)).collect();
            for end in 0..len * 3 + 2 {
                assert_eq!(count_below(&post, end), post.partition_point(|&(d, _)| d < end), "{len} {end}");
            }
        }
    }

    #[test]
    fn idf_and_length_normalisation_follow_lucene() {
        // Two docs; "a" in both (df=2), "b" in one (df=1). N=2.
        let mut b = Builder::default();
        b.add_part(&["a b", "a a a c"]);
        let idx = b.finish(Params { k1: 0.9, b: 0.4 });
        let ties = [0, 1];
        let mut acc = Vec::new();
        let got = idx.search("b", 10, &ties, &mut acc);
        let avgdl = 3.0f32;
        let idf_b = (1.0f32 + (2.0 - 1.0 + 0.5) / (1.0 + 0.5)).ln();
        let want = idf_b * 1.0 / (1.0 + 0.9 * (1.0 - 0.4 + 0.4 * 2.0 / avgdl));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 0);
        assert!((got[0].1 - want).abs() < 1e-6, "{} vs {}", got[0].1, want);
    }
}
