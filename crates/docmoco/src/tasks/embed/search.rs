//! Exact cosine nearest neighbours by blocked dot products.
//!
//! Rows are unit vectors, so cosine similarity is a dot product and exact search is one
//! matrix product `queries x baseᵀ`. The base is cut into blocks of [`BLOCK`] rows that are
//! scored in parallel (each block stays in cache while every query meets it) and keep only
//! their own top k; the per-block lists are merged at the end. Cost: `Q x N x D`
//! multiply-adds and one pass over the base — measured with
//! `cargo run --release -p docmoco --example search_bench` (docs/embeddings.md). An
//! approximate index (HNSW, IVF-PQ) only pays off past the point where that pass is too slow.

use rayon::prelude::*;

/// Base rows per parallel block (4096 x 128 floats = 2 MiB).
pub const BLOCK: usize = 4096;

/// A neighbour: index row and cosine similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub row: usize,
    pub score: f32,
}

/// Dot product with eight independent accumulators, which the compiler vectorises (a single
/// running sum cannot be reordered without fast-math).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Keeps the `k` best of `hits`, best first (ties by row, so results are deterministic).
fn keep_top(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let by_score = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, by_score);
        hits.truncate(k);
    }
    hits.sort_by(by_score);
    hits.truncate(k);
    hits
}

/// Rows of a block scored against every query before moving on (256 x 128 floats = 128 KiB,
/// resident in L2 while the queries pass over it).
const TILE: usize = 256;

/// The best `k` hits seen so far; a new hit only costs a comparison unless it beats the worst.
struct TopK {
    k: usize,
    hits: Vec<Hit>,
    /// Score of the worst kept hit once `k` are kept, else -inf.
    floor: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            hits: Vec::with_capacity(k),
            floor: f32::NEG_INFINITY,
        }
    }

    #[inline]
    fn offer(&mut self, row: usize, score: f32) {
        if self.k == 0 || (self.hits.len() == self.k && score <= self.floor) {
            return;
        }
        if self.hits.len() < self.k {
            self.hits.push(Hit { row, score });
        } else if let Some(worst) = self
            .hits
            .iter_mut()
            .min_by(|a, b| a.score.total_cmp(&b.score).then(b.row.cmp(&a.row)))
        {
            *worst = Hit { row, score };
        }
        if self.hits.len() == self.k {
            self.floor = self
                .hits
                .iter()
                .map(|h| h.score)
                .fold(f32::INFINITY, f32::min);
        }
    }
}

/// The `k` most similar rows of `base` (`n x dim`) for each row of `queries` (`q x dim`),
/// best first. `k` larger than `n` returns all `n`.
pub fn top_k(base: &[f32], queries: &[f32], dim: usize, k: usize) -> Vec<Vec<Hit>> {
    if dim == 0 {
        return Vec::new();
    }
    let nq = queries.len() / dim;
    let per_block: Vec<Vec<Vec<Hit>>> = base
        .par_chunks(BLOCK * dim)
        .enumerate()
        .map(|(b, block)| {
            let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
            for (t, tile) in block.chunks(TILE * dim).enumerate() {
                let offset = b * BLOCK + t * TILE;
                for (q, top) in queries.chunks_exact(dim).zip(&mut tops) {
                    for (i, row) in tile.chunks_exact(dim).enumerate() {
                        top.offer(offset + i, dot(q, row));
                    }
                }
            }
            tops.into_iter().map(|t| t.hits).collect()
        })
        .collect();
    (0..nq)
        .map(|qi| {
            let all = per_block
                .iter()
                .flat_map(|b| b[qi].iter().copied())
                .collect();
            keep_top(all, k)
        })
        .collect()
}

/// Precision@k of labelled rows searched against their own index: the fraction of each row's
/// `k` nearest *other* rows that share its label, averaged over rows. The number that says
/// whether an embedding groups pages by document type.
pub fn precision_at_k(base: &[f32], dim: usize, labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if n < 2 || k == 0 {
        return 0.0;
    }
    let hits = top_k(base, base, dim, k + 1);
    let total: f64 = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let others: Vec<&Hit> = h.iter().filter(|x| x.row != i).take(k).collect();
            let same = others.iter().filter(|x| labels[x.row] == labels[i]).count();
            same as f64 / others.len().max(1) as f64
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn unit_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
        for r in v.chunks_exact_mut(dim) {
            let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            r.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    #[test]
    fn blocked_search_equals_brute_force() {
        // More than one block, a dim that is not a multiple of 8.
        let (n, dim) = (BLOCK + 700, 13);
        let base = unit_rows(n, dim, 1);
        let queries = unit_rows(3, dim, 2);
        let got = top_k(&base, &queries, dim, 5);
        for (qi, q) in queries.chunks_exact(dim).enumerate() {
            let mut all: Vec<(f32, usize)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, r)| (q.iter().zip(r).map(|(a, b)| a * b).sum(), i))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<usize> = all[..5].iter().map(|x| x.1).collect();
            let rows: Vec<usize> = got[qi].iter().map(|h| h.row).collect();
            assert_eq!(rows, want);
            assert!((got[qi][0].score - all[0].0).abs() < 1e-5);
        }
        // A base row as query finds itself first, with cosine 1.
        let hit = top_k(&base, base[dim * 4100..dim * 4101].as_ref(), dim, 3);
        assert_eq!(hit[0][0].row, 4100);
        assert!((hit[0][0].score - 1.0).abs() < 1e-5);
        assert_eq!(top_k(&base[..2 * dim], &queries, dim, 10)[0].len(), 2);
    }

    #[test]
    fn precision_at_k_of_separated_and_mixed_labels() {
        // Two tight groups: every neighbour shares the label.
        let dim = 4;
        let mut base = Vec::new();
        let mut labels = Vec::new();
        for i in 0..10 {
            let e = (i % 2) * 2;
            let mut v = [0.05f32; 4];
            v[e] = 1.0;
            v[e + 1] = 0.01 * i as f32;
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            base.extend(v.iter().map(|x| x / n));
            labels.push(i % 2);
        }
        assert_eq!(precision_at_k(&base, dim, &labels, 4), 1.0);
        // Labels that ignore the geometry: neighbours are half right at best.
        let mixed: Vec<usize> = (0..10).map(|i| (i / 2) % 2).collect();
        assert!(precision_at_k(&base, dim, &mixed, 4) < 0.6);
    }
}
