//! k-means over embeddings — to group an unlabeled archive and bootstrap labels — and the two
//! standard scores of a clustering against known labels.
//!
//! Initialisation is k-means++ (Arthur & Vassilvitskii 2007: each next centre drawn with
//! probability proportional to the squared distance to the nearest chosen one), from a seeded
//! ChaCha generator so a seed always gives the same clusters. Then Lloyd iterations until no
//! assignment changes; a cluster that empties is re-seeded with the point farthest from its
//! centre, so exactly `k` clusters come back.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::search::dot;

/// A fitted clustering.
#[derive(Clone, Debug)]
pub struct KMeans {
    /// `k x dim`, row-major.
    pub centroids: Vec<f32>,
    /// Cluster of each row.
    pub assignment: Vec<usize>,
    /// Sum of squared distances to the assigned centre.
    pub inertia: f64,
    pub iterations: usize,
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Nearest centre of `x` and the squared distance, via `|c|² - 2 x·c` (`|x|²` is common).
fn nearest(x: &[f32], centroids: &[f32], norms: &[f32], dim: usize) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, row) in centroids.chunks_exact(dim).enumerate() {
        let d = norms[c] - 2.0 * dot(x, row);
        if d < best.1 {
            best = (c, d);
        }
    }
    let x2 = dot(x, x);
    (best.0, (best.1 + x2).max(0.0))
}

/// k-means++ seeding: `k` rows of `x`.
fn plus_plus(x: &[f32], n: usize, dim: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let mut centroids = row(rng.gen_range(0..n)).to_vec();
    let mut d2: Vec<f32> = (0..n).map(|i| sq_dist(row(i), &centroids)).collect();
    while centroids.len() < k * dim {
        let total: f64 = d2.iter().map(|&d| d as f64).sum();
        let pick = if total <= 0.0 {
            rng.gen_range(0..n) // all remaining points coincide with centres
        } else {
            let mut r = rng.gen_range(0.0..total);
            let mut pick = n - 1;
            for (i, &d) in d2.iter().enumerate() {
                r -= d as f64;
                if r < 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        let c = row(pick).to_vec();
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(sq_dist(row(i), &c));
        }
        centroids.extend(c);
    }
    centroids
}

/// Clusters the rows of `x` (`n x dim`) into `k` groups.
pub fn kmeans(x: &[f32], dim: usize, k: usize, seed: u64, max_iter: usize) -> Result<KMeans> {
    if dim == 0 || !x.len().is_multiple_of(dim) {
        bail!("kmeans: {} values are not rows of dim {dim}", x.len());
    }
    let n = x.len() / dim;
    if k == 0 {
        bail!("--k must be at least 1");
    }
    if k > n {
        bail!("--k {k} is larger than the number of pages in the index ({n})");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centroids = plus_plus(x, n, dim, k, &mut rng);
    let mut assignment = vec![usize::MAX; n];
    let mut dists = vec![0f32; n];
    let mut iterations = 0;
    for it in 0..max_iter.max(1) {
        iterations = it + 1;
        let norms: Vec<f32> = centroids.chunks_exact(dim).map(|c| dot(c, c)).collect();
        let new: Vec<(usize, f32)> = x
            .par_chunks(dim)
            .map(|r| nearest(r, &centroids, &norms, dim))
            .collect();
        let changed = new
            .iter()
            .zip(&assignment)
            .filter(|(a, b)| a.0 != **b)
            .count();
        for (i, (c, d)) in new.into_iter().enumerate() {
            assignment[i] = c;
            dists[i] = d;
        }
        if changed == 0 {
            break;
        }
        // Update: each centre becomes the mean of its rows.
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignment.iter().enumerate() {
            counts[c] += 1;
            for (s, &v) in sums[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&x[i * dim..(i + 1) * dim])
            {
                *s += v as f64;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // Re-seed with the worst-served row, and take it out of the running.
                let far = (0..n)
                    .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
                    .unwrap_or(0);
                dists[far] = 0.0;
                centroids[c * dim..(c + 1) * dim].copy_from_slice(&x[far * dim..(far + 1) * dim]);
            } else {
                for j in 0..dim {
                    centroids[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
                }
            }
        }
    }
    let inertia = dists.iter().map(|&d| d as f64).sum();
    Ok(KMeans {
        centroids,
        assignment,
        inertia,
        iterations,
    })
}

/// Contingency counts `[cluster][class]`.
fn contingency(clusters: &[usize], labels: &[usize]) -> Vec<Vec<usize>> {
    let k = clusters.iter().max().map_or(0, |m| m + 1);
    let c = labels.iter().max().map_or(0, |m| m + 1);
    let mut t = vec![vec![0usize; c]; k];
    for (&a, &l) in clusters.iter().zip(labels) {
        t[a][l] += 1;
    }
    t
}

/// Purity: each cluster votes for its majority class; the fraction of rows in their
/// cluster's majority class. 1 for a perfect clustering, but also for one cluster per row —
/// read it with [`nmi`].
pub fn purity(clusters: &[usize], labels: &[usize]) -> f64 {
    let t = contingency(clusters, labels);
    let hits: usize = t
        .iter()
        .map(|row| row.iter().copied().max().unwrap_or(0))
        .sum();
    hits as f64 / labels.len().max(1) as f64
}

fn entropy(counts: impl Iterator<Item = usize>, n: f64) -> f64 {
    counts
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Normalised mutual information `I(U; V) / mean(H(U), H(V))` (arithmetic mean, scikit-learn's
/// default): 1 when clusters and classes determine each other, 0 when independent; unlike
/// purity it penalises splitting a class over many clusters.
pub fn nmi(clusters: &[usize], labels: &[usize]) -> f64 {
    let n = labels.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let t = contingency(clusters, labels);
    let rows: Vec<usize> = t.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<usize> = (0..t.first().map_or(0, Vec::len))
        .map(|j| t.iter().map(|r| r[j]).sum())
        .collect();
    let (hu, hv) = (
        entropy(rows.iter().copied(), n),
        entropy(cols.iter().copied(), n),
    );
    if hu == 0.0 && hv == 0.0 {
        return 1.0; // one cluster, one class: identical partitions
    }
    let mut mi = 0.0;
    for (i, row) in t.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c > 0 {
                let c = c as f64;
                mi += c / n * (c * n / (rows[i] as f64 * cols[j] as f64)).ln();
            }
        }
    }
    (mi / ((hu + hv) / 2.0)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn separable_blobs_are_recovered_for_every_seed() {
        // Four well separated blobs of 30 points in 16-D (centres 10 apart, sigma 0.5).
        let (dim, per) = (16, 30);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let noise = Normal::new(0.0f32, 0.5).unwrap();
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for c in 0..4 {
            for _ in 0..per {
                for j in 0..dim {
                    let centre = if j == c { 10.0 } else { 0.0 };
                    x.push(centre + noise.sample(&mut rng));
                }
                labels.push(c);
            }
        }
        for seed in 0..5 {
            let km = kmeans(&x, dim, 4, seed, 100).unwrap();
            assert_eq!(purity(&km.assignment, &labels), 1.0, "seed {seed}");
            assert!((nmi(&km.assignment, &labels) - 1.0).abs() < 1e-9);
            assert!(km.iterations < 100);
        }
        // Same seed, same clustering.
        let a = kmeans(&x, dim, 4, 3, 100).unwrap();
        let b = kmeans(&x, dim, 4, 3, 100).unwrap();
        assert_eq!(a.assignment, b.assignment);
        let e = kmeans(&x, dim, 121, 0, 10).unwrap_err().to_string();
        assert!(e.contains("121") && e.contains("(120)"), "{e}");
    }

    #[test]
    fn nmi_and_purity_on_known_cases() {
        let labels = [0, 0, 1, 1];
        // Renamed clusters are the same partition.
        assert!((nmi(&[1, 1, 0, 0], &labels) - 1.0).abs() < 1e-12);
        // Independent: each cluster holds one of each class.
        assert!(nmi(&[0, 1, 0, 1], &labels).abs() < 1e-12);
        assert_eq!(purity(&[0, 1, 0, 1], &labels), 0.5);
        // One cluster per row: purity 1, NMI well below 1. H(U) = ln 4, H(V) = ln 2,
        // I = ln 2 → NMI = 2 ln2 / (ln4 + ln2) = 2/3.
        assert_eq!(purity(&[0, 1, 2, 3], &labels), 1.0);
        assert!((nmi(&[0, 1, 2, 3], &labels) - 2.0 / 3.0).abs() < 1e-12);
        // A partial match, computed independently from the definition (Python): 0.7396673768.
        let v = nmi(&[0, 0, 1, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert!((v - 0.739_667_376_8).abs() < 1e-9, "{v}");
    }
}
