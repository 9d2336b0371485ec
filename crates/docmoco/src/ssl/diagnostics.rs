//! Is MoCo learning document content, or a shortcut? Numbers that tell, and the flags read
//! from them (issue 9).
//!
//! MoCo's pretext task can be solved without learning anything about pages. The positive key
//! is the only key of the batch made by the *current* key encoder; every queued negative was
//! made by an older one. When the encoders drift fast (small data, high lr, low momentum),
//! query and positive share a "time signature" and the task is won on it: training instance
//! accuracy climbs while the features get worse. Two measurements expose it:
//!
//! * **Stale own keys** (during training, free): the queue also holds keys of the query's own
//!   page made in an earlier epoch — a different view of the same content, but from an older
//!   encoder. A model that learnt content scores them well above other pages' keys
//!   (`stale ≈ pos`); a model that learnt the time signature scores them like strangers
//!   (`stale ≈ neg`). [`StepSimilarities::stale_ratio`] puts it on a 0–1 scale.
//! * **Frozen instance accuracy** ([`frozen_similarities`]): both encoders frozen and in eval
//!   mode, queries and keys of the same pages made at the same time — no time signature left.
//!   If this accuracy is far below the training one, training was won on the shortcut.
//!
//! Collapse (every page mapped to nearly the same embedding) shows in the per-dimension spread
//! of the normalised embeddings ([`spread`]: 1 for directions spread evenly over the sphere, 0
//! for collapse) and their [`effective_rank`] (Roy & Vetterli 2007).

use serde::{Deserialize, Serialize};

/// Mean cosine similarities of one training step (queries and keys are L2-normalised).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepSimilarities {
    /// Mean `q · k+`.
    pub pos: f64,
    /// Mean `q · k` over the queue's keys of *other* pages.
    pub neg: f64,
    /// Mean `q · k` over the queue's keys of the query's own page (earlier views, older
    /// encoder); `None` when the queue holds none (first epoch, or K much smaller than the data).
    pub stale: Option<f64>,
}

impl StepSimilarities {
    /// Where the stale own keys sit between strangers (0) and the fresh positive (1); `None`
    /// while the positive does not stand out ([`thresholds::MIN_GAP`]).
    pub fn stale_ratio(&self) -> Option<f64> {
        stale_ratio(self.pos, self.neg, self.stale)
    }
}

/// `(stale − neg) / (pos − neg)`, when `pos − neg` ≥ [`thresholds::MIN_GAP`].
pub fn stale_ratio(pos: f64, neg: f64, stale: Option<f64>) -> Option<f64> {
    let gap = pos - neg;
    let stale = stale?;
    (gap >= thresholds::MIN_GAP).then(|| (stale - neg) / gap)
}

/// What the frozen-encoder measurement gives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrozenSimilarities {
    /// Pages measured.
    pub pages: usize,
    /// Candidates per query (own key + `candidates - 1` keys of other pages).
    pub candidates: usize,
    /// Fraction of queries whose own key scores highest among the candidates.
    pub instance_acc: f64,
    /// Mean cosine to the own key.
    pub pos: f64,
    /// Mean cosine to the other candidates.
    pub neg: f64,
    /// Mean share of the other candidates that the own key outscores (the AUC of "own key vs
    /// another page's"): 0.5 is chance, 1 means the own key always comes first. It says how
    /// *clearly* positives stand above negatives where the top-1 accuracy among 1 + K
    /// candidates sits at chance for healthy and failing runs alike.
    #[serde(default)]
    pub pos_rank: f64,
    /// Standard error of `pos − neg` over the pages (from each page's own-key cosine minus its
    /// mean cosine to the other candidates): whether the gap is more than sampling noise.
    #[serde(default)]
    pub gap_se: f64,
}

/// Frozen instance accuracy and mean similarities of `n` queries and their keys (row-major
/// `[n, dim]`, L2-normalised; row `i` of both is page `i`). Each query is ranked against its
/// own key and the keys of the `candidates - 1` pages that follow it (cyclically), so the task
/// has as many candidates as the training task (1 + K) when the sample is large enough.
pub fn frozen_similarities(
    q: &[f32],
    k: &[f32],
    n: usize,
    dim: usize,
    candidates: usize,
) -> FrozenSimilarities {
    let c = candidates.clamp(1, n.max(1));
    let dot = |i: usize, j: usize| -> f64 {
        q[i * dim..(i + 1) * dim]
            .iter()
            .zip(&k[j * dim..(j + 1) * dim])
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    };
    let (mut hits, mut pos, mut neg, mut negs) = (0usize, 0.0, 0.0, 0usize);
    let mut beaten = 0.0;
    let mut gaps = Vec::with_capacity(n);
    for i in 0..n {
        let own = dot(i, i);
        pos += own;
        let mut best_other = f64::NEG_INFINITY;
        let mut own_neg = 0.0;
        for off in 1..c {
            let s = dot(i, (i + off) % n);
            neg += s;
            own_neg += s;
            negs += 1;
            best_other = best_other.max(s);
            beaten += if own > s {
                1.0
            } else if own == s {
                0.5
            } else {
                0.0
            };
        }
        hits += usize::from(own >= best_other);
        if c > 1 {
            gaps.push(own - own_neg / (c - 1) as f64);
        }
    }
    FrozenSimilarities {
        pages: n,
        candidates: c,
        instance_acc: hits as f64 / n.max(1) as f64,
        pos: pos / n.max(1) as f64,
        neg: if negs == 0 {
            f64::NAN
        } else {
            neg / negs as f64
        },
        pos_rank: if negs == 0 {
            f64::NAN
        } else {
            beaten / negs as f64
        },
        gap_se: standard_error(&gaps),
    }
}

/// Standard error of the mean of `xs` (NaN for fewer than two values).
fn standard_error(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return f64::NAN;
    }
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt()
}

/// Mean per-dimension standard deviation of `n` L2-normalised `dim`-vectors, times `√dim`:
/// about 1 when the directions are spread over the sphere, 0 when they have collapsed onto
/// one point (SimSiam's collapse monitor, §4.1).
pub fn spread(z: &[f32], n: usize, dim: usize) -> f64 {
    if n < 2 || dim == 0 {
        return f64::NAN;
    }
    let mut sum = 0.0;
    for j in 0..dim {
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for i in 0..n {
            let v = z[i * dim + j] as f64;
            s += v;
            s2 += v * v;
        }
        let mean = s / n as f64;
        sum += (s2 / n as f64 - mean * mean).max(0.0).sqrt();
    }
    sum / dim as f64 * (dim as f64).sqrt()
}

/// Effective rank of `n` `dim`-vectors: `exp(entropy)` of the normalised eigenvalues of their
/// covariance — from 1 (all variance along one direction) to `dim` (isotropic).
pub fn effective_rank(z: &[f32], n: usize, dim: usize) -> f64 {
    let Some(p) = variance_shares(z, n, dim) else {
        return if n < 2 || dim == 0 { f64::NAN } else { 1.0 };
    };
    let entropy: f64 = p.iter().filter(|p| **p > 0.0).map(|p| -p * p.ln()).sum();
    entropy.exp()
}

/// Share of the variance of `n` `dim`-vectors along their first principal direction: `1/dim`
/// when isotropic, 1 when they lie on a line.
pub fn top_share(z: &[f32], n: usize, dim: usize) -> f64 {
    match variance_shares(z, n, dim) {
        Some(p) => p.iter().cloned().fold(0.0, f64::max),
        None if n < 2 || dim == 0 => f64::NAN,
        None => 1.0,
    }
}

/// The covariance eigenvalues of `n` `dim`-vectors as shares of the total variance; `None`
/// for fewer than 2 vectors or no variance at all.
fn variance_shares(z: &[f32], n: usize, dim: usize) -> Option<Vec<f64>> {
    if n < 2 || dim == 0 {
        return None;
    }
    let mut mean = vec![0.0f64; dim];
    for row in z.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64 / n as f64;
        }
    }
    let mut cov = vec![0.0f64; dim * dim];
    for row in z.chunks_exact(dim) {
        for a in 0..dim {
            let da = row[a] as f64 - mean[a];
            for b in a..dim {
                cov[a * dim + b] += da * (row[b] as f64 - mean[b]);
            }
        }
    }
    for a in 0..dim {
        for b in 0..a {
            cov[a * dim + b] = cov[b * dim + a];
        }
    }
    let eig = symmetric_eigenvalues(cov, dim);
    let total: f64 = eig.iter().map(|e| e.max(0.0)).sum();
    (total > 0.0).then(|| eig.iter().map(|e| e.max(0.0) / total).collect())
}

/// Eigenvalues of a symmetric `d x d` matrix (row-major) by cyclic Jacobi rotations — small
/// matrices only (embedding widths of a few hundred).
fn symmetric_eigenvalues(mut a: Vec<f64>, d: usize) -> Vec<f64> {
    for _sweep in 0..50 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum();
        let diag: f64 = (0..d).map(|i| a[i * d + i] * a[i * d + i]).sum();
        if off <= 1e-22 * diag.max(1e-300) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..d).map(|i| a[i * d + i]).collect()
}

/// Thresholds of the flags. A flag is a prompt to look, not a verdict: the numbers behind it
/// are always written next to it.
pub mod thresholds {
    /// Shortcut when the frozen instance accuracy is below this fraction of the training one
    /// by more than [`NOISE_SE`] binomial standard errors of the pages measured…
    pub const FROZEN_OVER_TRAIN: f64 = 0.5;
    /// …(seen: a healthy v3 run at 8.9% training accuracy measured 3.9% frozen on 256 pages,
    /// 10 hits where half the training rate predicts 11.4 — sampling noise, not a shortcut;
    /// the m = 0.99 failures measure far below);
    pub const NOISE_SE: f64 = 2.0;
    /// …and training accuracy is at least this (a task not yet solved proves nothing).
    pub const MIN_TRAIN_ACC: f64 = 0.05;
    /// Shortcut when stale own keys score less than this far from strangers to the positive…
    pub const STALE_RATIO: f64 = 0.25;
    /// …measured only when the positive stands out from strangers by at least this much: early
    /// in training all cosines are alike and the ratio is noise (seen: a gap of −0.004 gave a
    /// ratio of −3 in a healthy run's second epoch).
    pub const MIN_GAP: f64 = 0.02;
    /// Collapse when the spread falls below this…
    pub const SPREAD: f64 = 0.2;
    /// …or the effective rank below this: the embeddings lie near a line (dimensional
    /// collapse; measured on real pages with m = 0.99: 1.2 of 128, while healthy runs stay at 4+).
    pub const EFFECTIVE_RANK: f64 = 2.0;
}

/// The flags a run's numbers raise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flags {
    pub shortcut: bool,
    pub collapse: bool,
    /// Why, in words (empty when no flag is raised).
    pub reasons: Vec<String>,
}

impl Flags {
    /// `shortcut`, `collapse`, both joined by `+`, or `ok`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.shortcut {
            parts.push("shortcut");
        }
        if self.collapse {
            parts.push("collapse");
        }
        if parts.is_empty() {
            "ok".into()
        } else {
            parts.join("+")
        }
    }
}

/// Reads the flags from what was measured; any input may be missing.
pub fn flags(
    train_acc: Option<f64>,
    frozen: Option<&FrozenSimilarities>,
    stale_ratio: Option<f64>,
    spread: Option<f64>,
    effective_rank: Option<f64>,
) -> Flags {
    use thresholds::*;
    let mut f = Flags::default();
    if let (Some(t), Some(fr)) = (train_acc, frozen) {
        // The frozen accuracy is a count over `fr.pages` pages: below the bar only when more
        // than sampling noise below it.
        let bar = FROZEN_OVER_TRAIN * t;
        let se = (bar * (1.0 - bar) / fr.pages.max(1) as f64).sqrt();
        if t >= MIN_TRAIN_ACC && fr.instance_acc < bar - NOISE_SE * se {
            f.shortcut = true;
            f.reasons.push(format!(
                "training instance accuracy {:.0}% but only {:.0}% with frozen encoders ({} candidates): the pretext task is being won on something other than page content (v1/v2: a time signature of the key encoder; or batch statistics)",
                t * 100.0,
                fr.instance_acc * 100.0,
                fr.candidates
            ));
        }
    }
    if let Some(r) = stale_ratio {
        if r < STALE_RATIO {
            f.shortcut = true;
            f.reasons.push(format!(
                "keys of a query's own page from an earlier epoch score like other pages' keys (stale ratio {r:.2}): the positive is recognised by when it was made"
            ));
        }
    }
    if let Some(s) = spread {
        if s < SPREAD {
            f.collapse = true;
            f.reasons.push(format!(
                "embedding spread {s:.2} (1 = spread over the sphere): the embeddings are collapsing"
            ));
        }
    }
    if let Some(r) = effective_rank {
        if r < EFFECTIVE_RANK {
            f.collapse = true;
            f.reasons.push(format!(
                "effective rank {r:.1}: the embeddings lie near a line (dimensional collapse)"
            ));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn normalised(n: usize, dim: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        for row in v.chunks_exact_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    #[test]
    fn identical_views_are_found_and_random_ones_are_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (n, dim) = (64, 32);
        let q = normalised(n, dim, &mut rng);
        let same = frozen_similarities(&q, &q, n, dim, 16);
        assert_eq!(same.instance_acc, 1.0);
        assert_eq!(same.pos_rank, 1.0);
        assert!((same.pos - 1.0).abs() < 1e-5);
        assert_eq!(same.candidates, 16);
        let k = normalised(n, dim, &mut rng);
        let random = frozen_similarities(&q, &k, n, dim, 16);
        // Chance is 1/16: a random pairing is rarely right.
        assert!(random.instance_acc < 0.25, "{random:?}");
        assert!((random.pos_rank - 0.5).abs() < 0.1, "{random:?}");
        assert!(
            random.pos.abs() < 0.2 && random.neg.abs() < 0.1,
            "{random:?}"
        );
        // Per-page gaps of random unit vectors in 32-d have a spread of about 0.18, so the
        // standard error over 64 pages is about 0.023, and the gap is within noise of zero.
        assert!((0.01..0.04).contains(&random.gap_se), "{random:?}");
        assert!((random.pos - random.neg).abs() < 4.0 * random.gap_se);
        assert!((standard_error(&[1.0, 2.0, 3.0, 4.0]) - 0.645497).abs() < 1e-6);
        assert!(standard_error(&[1.0]).is_nan());
    }

    #[test]
    fn spread_and_rank_see_collapse() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (n, dim) = (400, 16);
        let z = normalised(n, dim, &mut rng);
        let s = spread(&z, n, dim);
        assert!(s > 0.8 && s < 1.2, "{s}");
        let r = effective_rank(&z, n, dim);
        assert!(r > 12.0 && r <= 16.0, "{r}");
        // All rows one vector plus tiny noise: collapsed.
        let one: Vec<f32> = z[..dim].to_vec();
        let mut collapsed = Vec::with_capacity(n * dim);
        for _ in 0..n {
            for v in &one {
                collapsed.push(v + 1e-4 * (rng.gen::<f32>() - 0.5));
            }
        }
        assert!(spread(&collapsed, n, dim) < 0.01);
        // Rows on a line (one direction ± noise): rank near 1.
        let line: Vec<f32> = (0..n)
            .flat_map(|i| {
                let s = if i % 2 == 0 { 1.0 } else { -1.0 };
                one.iter().map(move |v| s * v).collect::<Vec<_>>()
            })
            .collect();
        let r1 = effective_rank(&line, n, dim);
        assert!((r1 - 1.0).abs() < 0.01, "{r1}");
    }

    #[test]
    fn top_share_is_one_for_a_line_and_small_for_isotropic_vectors() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (n, dim) = (400, 16);
        let iso = normalised(n, dim, &mut rng);
        let t = top_share(&iso, n, dim);
        assert!(t < 0.2, "isotropic: {t}");
        // Points on a line through the origin, at random positions along it.
        let line: Vec<f32> = (0..n)
            .flat_map(|_| {
                let a = rng.gen::<f32>() - 0.5;
                (0..dim).map(move |j| a * (j as f32 + 1.0))
            })
            .collect();
        assert!((top_share(&line, n, dim) - 1.0).abs() < 1e-9);
        assert!((effective_rank(&line, n, dim) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn eigenvalues_of_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let mut e = symmetric_eigenvalues(vec![2.0, 1.0, 1.0, 2.0], 2);
        e.sort_by(f64::total_cmp);
        assert!(
            (e[0] - 1.0).abs() < 1e-12 && (e[1] - 3.0).abs() < 1e-12,
            "{e:?}"
        );
    }

    #[test]
    fn flags_follow_the_thresholds() {
        let frozen = FrozenSimilarities {
            instance_acc: 0.1,
            candidates: 100,
            pages: 256,
            ..Default::default()
        };
        let f = flags(Some(0.7), Some(&frozen), None, Some(0.9), Some(20.0));
        assert!(f.shortcut && !f.collapse, "{f:?}");
        assert_eq!(f.label(), "shortcut");
        assert!(f.reasons[0].contains("70%") && f.reasons[0].contains("10%"));
        // Training accuracy too low to say anything.
        assert!(!flags(Some(0.04), Some(&frozen), None, None, None).shortcut);
        // Below half the training accuracy, but within the sampling noise of 256 pages (a
        // healthy v3 run: 8.9% in training, 10 of 256 frozen); 4 of 256 is not.
        let noisy = |hits: f64| FrozenSimilarities {
            instance_acc: hits / 256.0,
            ..frozen.clone()
        };
        assert!(!flags(Some(0.089), Some(&noisy(10.0)), None, None, None).shortcut);
        assert!(flags(Some(0.089), Some(&noisy(4.0)), None, None, None).shortcut);
        // With 25,600 pages the same 3.9% is far below the bar.
        let many = FrozenSimilarities {
            pages: 25_600,
            ..noisy(10.0)
        };
        assert!(flags(Some(0.089), Some(&many), None, None, None).shortcut);
        let healthy = FrozenSimilarities {
            instance_acc: 0.6,
            ..frozen
        };
        let f = flags(Some(0.7), Some(&healthy), Some(0.8), Some(0.1), None);
        assert_eq!(f.label(), "collapse");
        assert_eq!(flags(None, None, None, None, Some(1.2)).label(), "collapse");
        assert!(flags(None, None, Some(0.05), None, None).shortcut);
        let s = StepSimilarities {
            pos: 0.8,
            neg: 0.2,
            stale: Some(0.5),
        };
        assert!((s.stale_ratio().unwrap() - 0.5).abs() < 1e-12);
        // No ratio while the positive does not stand out (a healthy run's second epoch).
        assert_eq!(stale_ratio(0.7277, 0.7313, Some(0.7426)), None);
    }
}
