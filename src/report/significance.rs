//! Paired significance: is a model's difference from the best model more than query sampling?
//!
//! The reference is the report's best model by its sort key ([`Report::sort_key`], nDCG@10
//! unless 10 is not a cut-off); every other model is compared with it on that metric, paired
//! by query id over the queries both evaluated (a query missing from one run is left out of
//! that pair). With d_i = model_i − reference_i over those n queries:
//!
//! - **delta** = mean(d); **wins / losses / ties** count d_i > 0, < 0 and |d_i| ≤ [`TIE_EPS`].
//! - **95% CI**: percentile bootstrap. B = [`BOOTSTRAP_RESAMPLES`] resamples of n queries
//!   drawn with replacement, each giving mean(d*); the interval is the 2.5th and 97.5th
//!   percentiles of those B means, interpolated linearly between order statistics as
//!   `numpy.percentile` does (position (B − 1)·q) — what `scipy.stats.bootstrap(...,
//!   paired=True, method="percentile")` reports.
//! - **p**: two-sided paired randomization (sign-flip, Fisher) test of mean(d) = 0, the usual
//!   IR significance test (Smucker, Allan & Carterette, CIKM 2007). Under the null each d_i is
//!   as likely to have either sign, so with t(s) = mean(s_i·d_i) and t_obs = mean(d):
//!   for n > [`EXACT_MAX_QUERIES`], R = [`PERMUTATIONS`] random sign vectors and
//!   p = (1 + #{r : |t(s_r)| ≥ |t_obs| − ε}) / (1 + R) (never 0, a valid p-value);
//!   for n ≤ 20, exactly: p = #{s ∈ {±1}ⁿ : |t(s)| ≥ |t_obs| − ε} / 2ⁿ.
//!   ε = [`TIE_EPS`] (metric values lie in [0, 1]; rounding in a mean of them is far smaller,
//!   real gaps far larger) makes flips that reach |t_obs| up to rounding count as extreme.
//!
//! Deterministic on every platform: random numbers are ChaCha8 (value-stable, portable) from
//! [`SEED`], bootstrap resample b on stream 2b and sign vector r on stream 2r + 1, with
//! integers below n drawn by Lemire's unbiased multiply-and-reject on 32-bit words — so each
//! resample is independent of how many threads run (rayon natively, one thread in wasm) and
//! of the other models. Cost per model: B·n random draws plus R·n additions.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;

use super::{ModelReport, Report};

pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
pub const PERMUTATIONS: usize = 10_000;
pub const SEED: u64 = 42;
/// Up to this many paired queries the sign-flip p-value is exact (2ⁿ sign vectors).
pub const EXACT_MAX_QUERIES: usize = 20;
/// Per-query differences, and flipped means against the observed one, closer than this are equal.
pub const TIE_EPS: f64 = 1e-12;

/// `results.json`'s `significance` block (present with two or more models).
#[derive(Debug, Clone, Serialize)]
pub struct Significance {
    /// The metric compared, the report's sort key (`ndcg@10`).
    pub metric: String,
    /// The best model by that metric; every comparison is model − reference.
    pub reference: String,
    pub method: Method,
    /// One per other model, in the table's order (best first).
    pub comparisons: Vec<Comparison>,
}

/// How the numbers were made, enough to reproduce them.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub pairing: &'static str,
    pub ci: &'static str,
    pub bootstrap_resamples: usize,
    pub test: &'static str,
    pub permutations: usize,
    pub exact_up_to_queries: usize,
    pub p_value: &'static str,
    pub tie_eps: f64,
    pub rng: &'static str,
    pub seed: u64,
}

impl Default for Method {
    fn default() -> Self {
        Method {
            pairing: "per query id, over queries both models evaluated",
            ci: "percentile bootstrap 95% (queries resampled with replacement; numpy linear percentile)",
            bootstrap_resamples: BOOTSTRAP_RESAMPLES,
            test: "paired randomization (sign flip), two-sided",
            permutations: PERMUTATIONS,
            exact_up_to_queries: EXACT_MAX_QUERIES,
            p_value: "(1 + #{|mean flipped| >= |delta| - eps}) / (1 + permutations); exact over all 2^n sign vectors when n <= exact_up_to_queries",
            tie_eps: TIE_EPS,
            rng: "ChaCha8, bootstrap resample b on stream 2b, sign vector r on stream 2r+1",
            seed: SEED,
        }
    }
}

/// One model against the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub model: String,
    /// Paired queries n.
    pub queries: usize,
    /// The model's mean over the paired queries.
    pub mean: f64,
    pub reference_mean: f64,
    /// mean(model − reference).
    pub delta: f64,
    pub ci95: [f64; 2],
    pub p_value: f64,
    /// Whether `p_value` is the exact one (n ≤ [`EXACT_MAX_QUERIES`]).
    pub p_exact: bool,
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
}

/// The significance block for a report: `None` with fewer than two models. Comparisons of
/// `previous` against the same reference and metric are kept (each depends only on its two
/// models), so a report updated after every model computes each pair once.
pub fn compute(report: &Report, previous: Option<Significance>) -> Option<Significance> {
    let ranked = report.ranked_models();
    let (reference, others) = ranked.split_first()?;
    if others.is_empty() {
        return None;
    }
    let metric = report.sort_key();
    let mut kept = previous
        .filter(|p| p.metric == metric && p.reference == reference.name)
        .map(|p| p.comparisons)
        .unwrap_or_default();
    let comparisons = others
        .iter()
        .filter_map(|m| match kept.iter().position(|c| c.model == m.name) {
            Some(i) => Some(kept.swap_remove(i)),
            None => {
                let (x, y) = paired(m, reference, &metric);
                compare(&x, &y).map(|s| Comparison { model: m.name.clone(), ..s })
            }
        })
        .collect();
    Some(Significance { metric, reference: reference.name.clone(), method: Method::default(), comparisons })
}

/// Per-query values of `metric` for the queries both models evaluated, in the model's query order.
fn paired(model: &ModelReport, reference: &ModelReport, metric: &str) -> (Vec<f64>, Vec<f64>) {
    let value = |q: &super::PerQuery| q.metrics.get(metric).and_then(Value::as_f64);
    let reference: std::collections::HashMap<&str, f64> =
        reference.per_query.iter().filter_map(|q| Some((q.query_id.as_str(), value(q)?))).collect();
    model.per_query.iter().filter_map(|q| Some((value(q)?, *reference.get(q.query_id.as_str())?))).unzip()
}

/// Compares paired values `x` (model) and `y` (reference); `None` when there is no pair.
/// The returned comparison's `model` is empty.
pub fn compare(x: &[f64], y: &[f64]) -> Option<Comparison> {
    assert_eq!(x.len(), y.len(), "paired values");
    let n = x.len();
    if n == 0 {
        return None;
    }
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (p_value, p_exact) = if n <= EXACT_MAX_QUERIES {
        (exact_sign_flip_p(&d), true)
    } else {
        (sign_flip_p(&d, PERMUTATIONS, SEED), false)
    };
    Some(Comparison {
        model: String::new(),
        queries: n,
        mean: mean(x),
        reference_mean: mean(y),
        delta: mean(&d),
        ci95: bootstrap_ci(&d, BOOTSTRAP_RESAMPLES, SEED, 0.95),
        p_value,
        p_exact,
        wins: d.iter().filter(|&&v| v > TIE_EPS).count(),
        losses: d.iter().filter(|&&v| v < -TIE_EPS).count(),
        ties: d.iter().filter(|&&v| v.abs() <= TIE_EPS).count(),
    })
}

/// The generator for resample or sign vector `index` of kind `kind` (0 bootstrap, 1 sign flip).
fn stream(seed: u64, kind: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2 * index as u64 + kind);
    rng
}

/// `f(i)` for i in 0..count: on rayon natively, in order on one thread in wasm; same values.
fn map_indices(count: usize, f: impl Fn(usize) -> f64 + Sync + Send) -> Vec<f64> {
    #[cfg(feature = "cli")]
    {
        use rayon::prelude::*;
        (0..count).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "cli"))]
    {
        (0..count).map(f).collect()
    }
}

/// Independent partial sums in the resampling loops, so additions need not wait on each other
/// (a fixed order: the same sums on every platform).
const LANES: usize = 4;

/// A uniform integer in 0..n (n ≥ 1): Lemire's multiply-and-reject, unbiased.
fn below(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    let mut m = rng.next_u32() as u64 * n as u64;
    if (m as u32) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u32) < threshold {
            m = rng.next_u32() as u64 * n as u64;
        }
    }
    (m >> 32) as u32
}

/// Percentile bootstrap interval of mean(d) at `level` (0.95): `resamples` means of n values
/// drawn with replacement, their (1 − level)/2 and (1 + level)/2 percentiles.
pub fn bootstrap_ci(d: &[f64], resamples: usize, seed: u64, level: f64) -> [f64; 2] {
    let n = u32::try_from(d.len()).expect("fewer than 2^32 queries");
    let mut means = map_indices(resamples, |b| {
        let mut rng = stream(seed, 0, b);
        let mut lanes = [0.0; LANES];
        for i in 0..n as usize {
            lanes[i % LANES] += d[below(&mut rng, n) as usize];
        }
        lanes.iter().sum::<f64>() / n as f64
    });
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    [percentile(&means, alpha), percentile(&means, 1.0 - alpha)]
}

/// `numpy.percentile(sorted, 100·q)` (method "linear") of an ascending, non-empty slice.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Monte-Carlo two-sided sign-flip p-value of mean(d): (1 + #extreme) / (1 + permutations).
pub fn sign_flip_p(d: &[f64], permutations: usize, seed: u64) -> f64 {
    let n = d.len() as f64;
    let observed = (d.iter().sum::<f64>() / n).abs();
    let extreme = map_indices(permutations, |r| {
        let mut rng = stream(seed, 1, r);
        // One random bit per query; flipping the sign bit negates exactly.
        let mut lanes = [0.0; LANES];
        for chunk in d.chunks(64) {
            let bits = rng.next_u64();
            for (j, &v) in chunk.iter().enumerate() {
                lanes[j % LANES] += f64::from_bits(v.to_bits() ^ (((bits >> j) & 1) << 63));
            }
        }
        ((lanes.iter().sum::<f64>() / n).abs() >= observed - TIE_EPS) as u8 as f64
    });
    (1.0 + extreme.iter().sum::<f64>()) / (1.0 + permutations as f64)
}

/// Exact two-sided sign-flip p-value over all 2ⁿ sign vectors (n ≤ [`EXACT_MAX_QUERIES`]).
pub fn exact_sign_flip_p(d: &[f64]) -> f64 {
    assert!(!d.is_empty() && d.len() <= EXACT_MAX_QUERIES, "exact test for 1..=20 values");
    let n = d.len() as f64;
    let observed = (d.iter().sum::<f64>() / n).abs();
    let total = 1u32 << d.len();
    let extreme = (0..total)
        .filter(|&mask| {
            let sum = d.iter().enumerate().fold(0.0, |acc, (i, &v)| acc + if mask >> i & 1 == 1 { -v } else { v });
            (sum / n).abs() >= observed - TIE_EPS
        })
        .count();
    extreme as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded values shaped like per-query metrics: in [0, 1], many exact 0s and 1s.
    fn metric_like(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| match below(&mut rng, 4) {
                0 => 0.0,
                1 => 1.0,
                _ => (rng.next_u32() >> 8) as f64 / (1u32 << 24) as f64,
            })
            .collect()
    }

    #[test]
    fn identical_models_give_delta_0_ci_0_p_1() {
        for n in [1, 5, 20, 21, 300] {
            let x = metric_like(n, n as u64);
            let c = compare(&x, &x).unwrap();
            assert_eq!((c.delta, c.ci95, c.p_value), (0.0, [0.0, 0.0], 1.0), "n = {n}");
            assert_eq!((c.wins, c.losses, c.ties), (0, 0, n));
            assert_eq!(c.p_exact, n <= EXACT_MAX_QUERIES);
        }
    }

    #[test]
    fn swapping_models_negates_delta_and_ci_and_keeps_p() {
        for n in [12, 25, 400] {
            let (x, y) = (metric_like(n, 1), metric_like(n, 2));
            let (a, b) = (compare(&x, &y).unwrap(), compare(&y, &x).unwrap());
            assert_eq!(a.delta, -b.delta);
            assert!((a.ci95[0] + b.ci95[1]).abs() < 1e-15 && (a.ci95[1] + b.ci95[0]).abs() < 1e-15, "{a:?} {b:?}");
            assert_eq!(a.p_value, b.p_value);
            assert_eq!((a.wins, a.losses, a.ties), (b.losses, b.wins, b.ties));
            assert_eq!((a.mean, a.reference_mean), (b.reference_mean, b.mean));
        }
    }

    #[test]
    fn exact_p_equals_a_hand_count() {
        // Sums over the 8 sign vectors of (0.5, 0.25, -0.25):
        //  +++ 0.5   ++- 1.0   +-+ 0.0   +-- 0.5   -++ -0.5   -+- 0.0   --+ -1.0   --- -0.5
        // |sum| ≥ 0.5 (observed, +++) for +++, ++-, +--, -++, --+, ---: 6 of 8.
        assert_eq!(exact_sign_flip_p(&[0.5, 0.25, -0.25]), 6.0 / 8.0);
        // A single difference: both signs reach it.
        assert_eq!(exact_sign_flip_p(&[0.3]), 1.0);
        // All four of the same size and sign: only +/−(1,1,1,1) reach 4: 2 of 16.
        assert_eq!(exact_sign_flip_p(&[0.1; 4]), 2.0 / 16.0);
        // Zeros flip to themselves: p as for the non-zero values alone.
        assert_eq!(exact_sign_flip_p(&[0.1, 0.0, 0.1, 0.0]), exact_sign_flip_p(&[0.1, 0.1]));
    }

    #[test]
    fn monte_carlo_p_is_never_0_and_near_exact() {
        let d: Vec<f64> = (0..20).map(|i| if i % 3 == 0 { -0.1 } else { 0.15 }).collect();
        let exact = exact_sign_flip_p(&d);
        let mc = sign_flip_p(&d, PERMUTATIONS, SEED);
        let sd = (exact * (1.0 - exact) / PERMUTATIONS as f64).sqrt();
        assert!((mc - exact).abs() < 4.0 * sd, "{mc} vs {exact}");
        let all_up = vec![0.5; 500];
        assert_eq!(sign_flip_p(&all_up, 99, SEED), 1.0 / 100.0);
    }

    #[test]
    fn bootstrap_of_a_constant_is_that_constant() {
        assert_eq!(bootstrap_ci(&[0.25; 50], 1000, 7, 0.95), [0.25, 0.25]);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(&mut rng, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (850..1150).contains(&c)), "{seen:?}");
    }

    #[test]
    fn percentile_is_numpys_linear() {
        // numpy.percentile([0, 1, 2, 10], [2.5, 97.5]) = [0.075, 9.4]
        let s = [0.0, 1.0, 2.0, 10.0];
        assert!((percentile(&s, 0.025) - 0.075).abs() < 1e-15);
        assert!((percentile(&s, 0.975) - 9.4).abs() < 1e-12);
    }
}
