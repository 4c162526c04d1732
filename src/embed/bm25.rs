//! BM25, the lexical baseline every comparison should include. Lucene's formula (as in
//! Pyserini and Anserini): score(q, d) = Σ_{t ∈ q} idf(t) · tf / (tf + k1 · (1 − b + b · |d| /
//! avgdl)), idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)); repeated query terms count each time.
//! Defaults k1 = 0.9, b = 0.4 (Pyserini's). Unlike Lucene, document lengths are exact (Lucene
//! stores them lossily), so scores differ from Pyserini's in the last digits.
//!
//! Tokenizer for Japanese and English alike: full-width ASCII is folded to ASCII; runs of CJK
//! ideographs, kana and Hangul become overlapping character bigrams (a lone character stays a
//! unigram); other letters and digits form lower-cased words; everything else separates.

use std::collections::HashMap;

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
        0xFF66..=0xFF9F |                   // half-width katakana
        0x20000..=0x2FA1F)
}

/// Splits text into BM25 terms (see the module header).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|w| w.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in text.chars() {
        // Full-width ASCII (U+FF01..U+FF5E) → ASCII, as NFKC would.
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.extend(c.to_lowercase());
        } else {
            flush_cjk(&mut cjk, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    flush_cjk(&mut cjk, &mut out);
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// An inverted index over a corpus.
pub struct Index {
    params: Params,
    vocab: HashMap<String, u32>,
    /// Per term: (doc, term frequency).
    postings: Vec<Vec<(u32, u32)>>,
    /// Per doc: k1 · (1 − b + b · |d| / avgdl), precomputed.
    norm: Vec<f32>,
}

/// Documents read again from the corpus file at a time when the dataset does not hold their
/// texts.
pub const READ_PART: usize = 4096;

/// An [`Index`] built a document at a time, in corpus order (a corpus read again from its file
/// in parts: its texts are never all held).
#[derive(Default)]
pub struct Builder {
    vocab: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    lens: Vec<f32>,
    tf: HashMap<u32, u32>,
}

impl Builder {
    /// Indexes the next document.
    pub fn add(&mut self, text: &str) {
        let d = self.lens.len() as u32;
        let toks = tokenize(text);
        self.lens.push(toks.len() as f32);
        self.tf.clear();
        for t in toks {
            let next = self.vocab.len() as u32;
            let id = *self.vocab.entry(t).or_insert(next);
            if id as usize == self.postings.len() {
                self.postings.push(Vec::new());
            }
            *self.tf.entry(id).or_insert(0) += 1;
        }
        let mut terms: Vec<_> = self.tf.iter().map(|(&t, &f)| (t, f)).collect();
        terms.sort_unstable();
        for (t, f) in terms {
            self.postings[t as usize].push((d, f));
        }
    }

    pub fn finish(self, params: Params) -> Index {
        let Builder { vocab, postings, lens, .. } = self;
        let avgdl =
            if lens.is_empty() { 1.0 } else { (lens.iter().sum::<f32>() / lens.len() as f32).max(f32::MIN_POSITIVE) };
        let norm = lens.iter().map(|&l| params.k1 * (1.0 - params.b + params.b * l / avgdl)).collect();
        Index { params, vocab, postings, norm }
    }
}

impl Index {
    pub fn num_docs(&self) -> usize {
        self.norm.len()
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// Top-k (doc, score) for one query, ties by `tie_rank` ascending. Docs sharing no term
    /// with the query are not returned (their score would be 0).
    pub fn search(&self, query: &str, k: usize, tie_rank: &[u32], acc: &mut Vec<f32>) -> Vec<(u32, f32)> {
        let n = self.num_docs() as f64;
        acc.clear();
        acc.resize(self.num_docs(), 0.0);
        let mut touched: Vec<u32> = Vec::new();
        for t in tokenize(query) {
            let Some(&id) = self.vocab.get(&t) else { continue };
            let post = &self.postings[id as usize];
            let df = post.len() as f64;
            // In f64 and then rounded, as Lucene does (`(float) Math.log(..)`): f32 `ln` is glibc's
            // natively but Rust's libm in wasm, and they differ in the last bit.
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32;
            for &(d, f) in post {
                let f = f as f32;
                let a = &mut acc[d as usize];
                if *a == 0.0 {
                    touched.push(d);
                }
                *a += idf * f / (f + self.norm[d as usize]);
            }
        }
        let mut top = TopK::new(k);
        for d in touched {
            top.push(Candidate { score: acc[d as usize], tie: tie_rank[d as usize], doc: d });
        }
        top.into_sorted().into_iter().map(|c| (c.doc, c.score)).collect()
    }
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
    }

    #[test]
    fn idf_and_length_normalisation_follow_lucene() {
        // Two docs; "a" in both (df=2), "b" in one (df=1). N=2.
        let mut b = Builder::default();
        ["a b", "a a a c"].iter().for_each(|d| b.add(d));
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
