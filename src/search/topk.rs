//! Per-query top-k, after tantivy's `TopNComputer`: candidates go into a buffer of 2k; when it
//! fills, `select_nth_unstable_by` keeps the best k and their worst score becomes a threshold
//! that rejects most later candidates with one comparison. Sorting happens once, at the end.
//!
//! Order: score descending, then `tie` ascending (see [`super::tie_ranks`]). This is a total
//! order, so the result equals sort-and-truncate exactly (checked by a proptest below).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub score: f32,
    pub tie: u32,
    pub doc: u32,
}

/// Scores compare as numbers (so -0.0 ties with 0.0); NaN never gets here (inputs are checked).
#[inline]
pub(crate) fn score_cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or_else(|| a.total_cmp(&b))
}

#[inline]
fn better(a: &Candidate, b: &Candidate) -> Ordering {
    score_cmp(b.score as f64, a.score as f64).then(a.tie.cmp(&b.tie))
}

pub struct TopK {
    k: usize,
    buf: Vec<Candidate>,
    /// The k-th best candidate seen so far, once known.
    threshold: Option<Candidate>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        // A k past the corpus (`--k 99999999999`) costs only the candidates pushed: the buffer
        // grows from a bounded start.
        TopK { k, buf: Vec::with_capacity(k.clamp(1, 1 << 16) * 2), threshold: None }
    }

    #[inline]
    pub fn push(&mut self, c: Candidate) {
        if self.k == 0 {
            return;
        }
        if let Some(t) = &self.threshold {
            if better(&c, t) != Ordering::Less {
                return;
            }
        }
        self.buf.push(c);
        if self.buf.len() == self.k.saturating_mul(2) {
            self.truncate();
        }
    }

    /// A score below which no candidate can enter the top k: the k-th best at the last
    /// truncation (none before 2k candidates came). Candidates equal to it still can, by tie rank.
    pub fn threshold(&self) -> Option<f32> {
        self.threshold.map(|t| t.score)
    }

    fn truncate(&mut self) {
        self.buf.select_nth_unstable_by(self.k - 1, better);
        self.buf.truncate(self.k);
        self.threshold = Some(self.buf[self.k - 1]);
    }

    /// The best k, best first.
    pub fn into_sorted(mut self) -> Vec<Candidate> {
        self.buf.sort_unstable_by(better);
        self.buf.truncate(self.k);
        self.buf
    }
}

/// Merges `more` into `into`, both per-query top lists (doc, score) sorted best first by this
/// module's order (ties by `tie_rank[doc]`), keeping the best `k`. Top lists of disjoint doc
/// sets merged this way equal the top k of their union: how the per-shard searches of a
/// streamed evaluation become one ranking.
pub fn merge(into: &mut Vec<(u32, f32)>, more: &[(u32, f32)], tie_rank: &[u32], k: usize) {
    let order = |a: &(u32, f32), b: &(u32, f32)| {
        score_cmp(b.1 as f64, a.1 as f64).then(tie_rank[a.0 as usize].cmp(&tie_rank[b.0 as usize]))
    };
    let mut out = Vec::with_capacity(k.min(into.len() + more.len()));
    let (mut a, mut b) = (into.iter().peekable(), more.iter().peekable());
    while out.len() < k {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if order(x, y) != Ordering::Greater => a.next(),
            (_, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    *into = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The corpus cut into contiguous parts at random, each part searched alone (its slice of
        /// the global tie ranks, indices shifted back), the lists merged: the one-pass top k,
        /// ids, scores and tie order alike. Small integer vectors make dot products exact and
        /// ties common.
        #[test]
        fn merged_parts_equal_one_pass(nq in 1usize..20, nd in 1usize..600, dim in 1usize..6,
                                       k in 0usize..40, cuts in proptest::collection::vec(0usize..600, 0..6),
                                       seed in any::<u64>()) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let q: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1i8..2) as f32).collect();
            let d: Vec<f32> = (0..nd * dim).map(|_| rng.random_range(-1i8..2) as f32).collect();
            let ids: Vec<String> = (0..nd).map(|_| format!("d{}", rng.random_range(0..1_000_000u32))).collect();
            let tie = crate::search::tie_ranks(&ids.iter().collect(), crate::Convention::Trec);
            let want = crate::search::cpu::top_k(&q, &d, dim, &tie, k);
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (nd + 1)).chain([0, nd]).collect();
            bounds.sort_unstable();
            let mut got = vec![Vec::new(); nq];
            for w in bounds.windows(2) {
                let (s, e) = (w[0], w[1]);
                let part = crate::search::cpu::top_k(&q, &d[s * dim..e * dim], dim, &tie[s..e], k);
                for (g, hits) in got.iter_mut().zip(part) {
                    let shifted: Vec<(u32, f32)> = hits.into_iter().map(|(i, x)| (i + s as u32, x)).collect();
                    merge(g, &shifted, &tie, k);
                }
            }
            prop_assert_eq!(got, want);
        }
    }

    /// A k far past the candidates (`--k 99999999999`) reserves nothing for it.
    #[test]
    fn a_huge_k_keeps_every_candidate() {
        for k in [99_999_999_999, usize::MAX] {
            let mut t = TopK::new(k);
            (0..3).for_each(|i| t.push(Candidate { score: i as f32, tie: i, doc: i }));
            assert_eq!(t.into_sorted().iter().map(|c| c.doc).collect::<Vec<_>>(), [2, 1, 0]);
        }
    }

    proptest! {
        #[test]
        fn equals_sort_and_truncate(scores in proptest::collection::vec(0u8..6, 0..300), k in 0usize..40) {
            // Few distinct scores, so ties are everywhere.
            let cands: Vec<Candidate> = scores.iter().enumerate()
                .map(|(i, &s)| Candidate { score: s as f32 / 4.0, tie: (i as u32 * 7919) % 1009, doc: i as u32 })
                .collect();
            let mut t = TopK::new(k);
            cands.iter().for_each(|&c| t.push(c));
            let mut want = cands.clone();
            want.sort_by(better);
            want.truncate(k);
            prop_assert_eq!(t.into_sorted(), want);
        }
    }
}
