//! Near-duplicate groups: every pair of rows with cosine similarity at or above a threshold,
//! joined transitively (union-find), so a scan, its re-scan and a JPEG of the re-scan end up
//! in one group even if the first and last fall just under the threshold.
//!
//! All pairs are scored — `N² / 2 x D` multiply-adds in square tiles of [`TILE`] rows, tiles
//! in parallel — which is exact and fast to some 10⁵ pages (see docs/embeddings.md); beyond
//! that the quadratic cost needs an approximate neighbour index.

use rayon::prelude::*;

use super::search::dot;

/// Rows per side of a tile (256 x 128 floats = 128 KiB, two tiles stay in L2).
pub const TILE: usize = 256;

/// Disjoint sets with path halving and union by size.
#[derive(Clone, Debug)]
pub struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    pub fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

/// Every pair `(i, j, cosine)` with `i < j` and cosine ≥ `threshold`, sorted by `(i, j)`.
pub fn similar_pairs(vectors: &[f32], dim: usize, threshold: f32) -> Vec<(usize, usize, f32)> {
    if dim == 0 {
        return Vec::new();
    }
    let n = vectors.len() / dim;
    let tiles = n.div_ceil(TILE);
    let tile_pairs: Vec<(usize, usize)> = (0..tiles)
        .flat_map(|a| (a..tiles).map(move |b| (a, b)))
        .collect();
    let mut pairs: Vec<(usize, usize, f32)> = tile_pairs
        .par_iter()
        .flat_map_iter(|&(ta, tb)| {
            let mut out = Vec::new();
            for i in ta * TILE..((ta + 1) * TILE).min(n) {
                let vi = &vectors[i * dim..(i + 1) * dim];
                let j0 = if ta == tb { i + 1 } else { tb * TILE };
                for j in j0..((tb + 1) * TILE).min(n) {
                    let s = dot(vi, &vectors[j * dim..(j + 1) * dim]);
                    if s >= threshold {
                        out.push((i, j, s));
                    }
                }
            }
            out
        })
        .collect();
    pairs.sort_by_key(|p| (p.0, p.1));
    pairs
}

/// A group of near-duplicates: its rows (ascending) and the lowest pair similarity that
/// joined it.
#[derive(Clone, Debug, PartialEq)]
pub struct DupGroup {
    pub rows: Vec<usize>,
    pub min_link: f32,
}

/// Groups of two or more rows linked by pairs at or above `threshold`, largest first (then by
/// first row).
pub fn duplicate_groups(vectors: &[f32], dim: usize, threshold: f32) -> Vec<DupGroup> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    let pairs = similar_pairs(vectors, dim, threshold);
    let mut uf = UnionFind::new(n);
    for &(i, j, _) in &pairs {
        uf.union(i, j);
    }
    let mut by_root: std::collections::BTreeMap<usize, DupGroup> = Default::default();
    for &(i, _, s) in &pairs {
        let g = by_root.entry(uf.find(i)).or_insert(DupGroup {
            rows: Vec::new(),
            min_link: f32::INFINITY,
        });
        g.min_link = g.min_link.min(s);
    }
    for i in 0..n {
        if let Some(g) = by_root.get_mut(&uf.find(i)) {
            g.rows.push(i);
        }
    }
    let mut groups: Vec<DupGroup> = by_root.into_values().collect();
    groups.sort_by(|a, b| {
        b.rows
            .len()
            .cmp(&a.rows.len())
            .then(a.rows[0].cmp(&b.rows[0]))
    });
    groups
}

/// `vectors` minus their mean row, each row re-normalised to unit length.
///
/// Pooled ReLU features are non-negative and share a large common component: on generated
/// documents any two pages have cosine 0.9 or more (a random-init backbone puts every page
/// above 0.99), so no threshold separates copies from merely similar pages. Removing the
/// corpus mean leaves what distinguishes pages; a copy stays close to its original while
/// unrelated pages spread out (docs/embeddings.md has the measurements).
pub fn centred(vectors: &[f32], dim: usize) -> Vec<f32> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    let mut mean = vec![0f64; dim];
    for r in vectors.chunks_exact(dim.max(1)) {
        mean.iter_mut().zip(r).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut out = vectors.to_vec();
    for r in out.chunks_exact_mut(dim.max(1)) {
        r.iter_mut().zip(&mean).for_each(|(v, m)| *v -= *m as f32);
        let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            r.iter_mut().for_each(|v| *v /= norm);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalise(v: &mut [f32], dim: usize) {
        for r in v.chunks_exact_mut(dim) {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            r.iter_mut().for_each(|x| *x /= n);
        }
    }

    #[test]
    fn planted_duplicates_are_grouped_transitively() {
        // 600 rows (three tiles) of distinct directions; 300 is a near copy of 5 (cos 0.981),
        // 599 of 300 (0.981) — a chain: 5 and 599 themselves are at 0.962 — and 11 of 10.
        let dim = 700;
        let mut v = vec![0f32; 600 * dim];
        for i in 0..600 {
            v[i * dim + i] = 1.0;
        }
        let copy = |v: &mut Vec<f32>, from: usize, to: usize, eps: f32| {
            let src: Vec<f32> = v[from * dim..(from + 1) * dim].to_vec();
            v[to * dim..(to + 1) * dim].copy_from_slice(&src);
            v[to * dim + to] = eps;
        };
        copy(&mut v, 5, 300, 0.2);
        copy(&mut v, 300, 599, 0.2);
        copy(&mut v, 10, 11, 0.1);
        normalise(&mut v, dim);
        let g = duplicate_groups(&v, dim, 0.97);
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].rows, vec![5, 300, 599]);
        assert_eq!(g[1].rows, vec![10, 11]);
        assert!(g[0].min_link >= 0.97 && g[0].min_link < 0.99, "{g:?}");
        // 5 and 599 alone are under the threshold: only the chain joins them.
        let s = dot(&v[5 * dim..6 * dim], &v[599 * dim..600 * dim]);
        assert!(s < 0.97, "{s}");
        assert!(duplicate_groups(&v, dim, 0.9999).is_empty());
    }

    #[test]
    fn centring_removes_the_common_component() {
        // Three rows sharing a big common direction: raw cosines all > 0.99.
        let dim = 3;
        let mut v = vec![10.0, 1.0, 0.0, 10.0, 0.0, 1.0, 10.0, -1.0, -1.0];
        normalise(&mut v, dim);
        assert!(dot(&v[0..3], &v[3..6]) > 0.99);
        let c = centred(&v, dim);
        assert!(dot(&c[0..3], &c[3..6]) < 0.0);
        for r in c.chunks_exact(dim) {
            assert!((dot(r, r) - 1.0).abs() < 1e-5);
        }
    }
}
