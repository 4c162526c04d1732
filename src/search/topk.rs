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
        TopK { k, buf: Vec::with_capacity(2 * k.max(1)), threshold: None }
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
        if self.buf.len() == 2 * self.k {
            self.truncate();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
