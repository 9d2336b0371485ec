//! The dictionary of negative keys: a `dim x K` ring buffer (He et al. 2020, §3.2).
//!
//! Unlike the reference (`assert K % batch_size == 0`), enqueueing wraps around, so any
//! `K >= batch` works; the write position `ptr` is part of the checkpoint. Each column also
//! remembers which page its key was made from (`ids`), so the shortcut diagnostic can find a
//! query's own stale keys (see `ssl::diagnostics`).

use std::collections::HashMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Queue of `K` keys of dimension `dim`, stored column-wise as `[dim, K]` like the reference.
#[derive(Debug, Clone)]
pub struct KeyQueue {
    /// `[dim, K]`, columns L2-normalised.
    pub keys: Tensor<2>,
    /// Column where the next key is written.
    pub ptr: usize,
    /// Page index of each column's key; -1 for the random initial keys and unknown pages.
    pub ids: Vec<i64>,
}

impl KeyQueue {
    /// Random-normal columns, L2-normalised — the reference's `randn` + `normalize(dim=0)`,
    /// drawn from a seeded generator so runs are reproducible.
    pub fn random(dim: usize, size: usize, seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9d2c_5680_a5a5_1234);
        let values: Vec<f32> = (0..dim * size)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let keys = Tensor::<2>::from_data(TensorData::new(values, [dim, size]), device);
        let norm = keys
            .clone()
            .powf_scalar(2.0)
            .sum_dim(0)
            .sqrt()
            .clamp_min(1e-12);
        Self {
            keys: keys / norm,
            ptr: 0,
            ids: vec![-1; size],
        }
    }

    /// A queue restored from a checkpoint; `ids` of the wrong length (checkpoints written
    /// before ids were kept) become unknown.
    pub fn from_parts(keys: Tensor<2>, ptr: usize, ids: Option<Vec<i64>>) -> Self {
        let k = keys.dims()[1];
        let ids = ids.filter(|v| v.len() == k).unwrap_or_else(|| vec![-1; k]);
        Self { keys, ptr, ids }
    }

    pub fn dim(&self) -> usize {
        self.keys.dims()[0]
    }

    pub fn len(&self) -> usize {
        self.keys.dims()[1]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every column holds a key made from a known page — no random initial key left.
    /// Before that, the pretext task is easy (random keys are trivial negatives) and its
    /// accuracy says nothing about a shortcut.
    pub fn is_filled(&self) -> bool {
        self.ids.iter().all(|&id| id >= 0)
    }

    /// Writes `keys` `[N, dim]` at `ptr`, wrapping around the end; `N <= K` is required
    /// (checked when the run is configured). The keys' pages are unknown.
    pub fn enqueue(&mut self, keys: Tensor<2>) {
        self.enqueue_pages(keys, None);
    }

    /// [`Self::enqueue`], recording that row `i` of `keys` was made from page `pages[i]`.
    pub fn enqueue_pages(&mut self, keys: Tensor<2>, pages: Option<&[usize]>) {
        let [n, dim] = keys.dims();
        let k = self.len();
        for i in 0..n {
            self.ids[(self.ptr + i) % k] = pages.and_then(|p| p.get(i)).map_or(-1, |&p| p as i64);
        }
        debug_assert!(n <= k && dim == self.dim());
        let cols = keys.transpose(); // [dim, N]
        let first = n.min(k - self.ptr);
        let mut queue = self.keys.clone().slice_assign(
            [0..dim, self.ptr..self.ptr + first],
            cols.clone().slice([0..dim, 0..first]),
        );
        if first < n {
            queue = queue.slice_assign([0..dim, 0..n - first], cols.slice([0..dim, first..n]));
        }
        self.keys = queue;
        self.ptr = (self.ptr + n) % k;
    }

    /// Mean cosine similarity of queries `q` `[N, dim]` (L2-normalised, on the queue's
    /// device) to the keys of *other* pages, and to the keys of their own page (`pages[i]` is
    /// query `i`'s page; with the number of such pairs; `None` when no own key is queued).
    /// Only the own-page pairs are gathered: the sum over all keys is `(Σ q)·(Σ k)`, no
    /// `N x K` read-back.
    pub fn similarities(
        &self,
        q: &Tensor<2>,
        pages: Option<&[usize]>,
    ) -> (f64, Option<(f64, usize)>) {
        let [n, dim] = q.dims();
        let k = self.len();
        let device = q.device();
        let scalar = |x: Tensor<1>| x.into_scalar::<f32>() as f64;
        let q_sum = q.clone().sum_dim(0); // 1 x dim
        let k_sum = self.keys.clone().sum_dim(1); // dim x 1
        let total = scalar(q_sum.matmul(k_sum).reshape([1]));
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        if let Some(pages) = pages {
            let mut slots: HashMap<i64, Vec<usize>> = HashMap::new();
            for (slot, &id) in self.ids.iter().enumerate() {
                if id >= 0 {
                    slots.entry(id).or_default().push(slot);
                }
            }
            for (i, &p) in pages.iter().enumerate().take(n) {
                for &slot in slots.get(&(p as i64)).map_or(&[][..], Vec::as_slice) {
                    rows.push(i as i64);
                    cols.push(slot as i64);
                }
            }
        }
        let m = rows.len();
        let own = if m == 0 {
            0.0
        } else {
            let index = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [m]), &device);
            let qs = q.clone().select(0, index(rows)); // m x dim
            let ks = self.keys.clone().select(1, index(cols)).transpose(); // m x dim
            debug_assert_eq!(ks.dims(), [m, dim]);
            scalar((qs * ks).sum())
        };
        let others = (n * k).saturating_sub(m).max(1);
        (
            (total - own) / others as f64,
            (m > 0).then(|| (own / m as f64, m)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarities_split_own_page_keys_from_the_others() {
        let dev = Device::flex();
        let (dim, k) = (8, 6);
        let mut queue = KeyQueue::random(dim, k, 3, &dev);
        let q = KeyQueue::random(dim, 2, 4, &dev).keys.transpose(); // 2 x dim
                                                                    // Keys of pages 7 and 9 in slots 0..2; query 0 is page 9, query 1 page 5 (not queued).
        let keys = KeyQueue::random(dim, 2, 5, &dev).keys.transpose();
        queue.enqueue_pages(keys, Some(&[7, 9]));
        assert_eq!(queue.ids, vec![7, 9, -1, -1, -1, -1]);
        let (neg, stale) = queue.similarities(&q, Some(&[9, 5]));
        // Brute force from the read-back values.
        let qv = q.into_data().try_to_vec::<f32>().unwrap();
        let kv = queue.keys.clone().into_data().try_to_vec::<f32>().unwrap();
        let dot = |i: usize, j: usize| {
            (0..dim)
                .map(|d| qv[i * dim + d] * kv[d * k + j])
                .sum::<f32>() as f64
        };
        let own = dot(0, 1);
        let others: f64 = (0..2)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .filter(|&(i, j)| !(i == 0 && j == 1))
            .map(|(i, j)| dot(i, j))
            .sum::<f64>()
            / 11.0;
        assert_eq!(stale.unwrap().1, 1);
        assert!((stale.unwrap().0 - own).abs() < 1e-5, "{stale:?} vs {own}");
        assert!((neg - others).abs() < 1e-5, "{neg} vs {others}");
        let (_, none) =
            queue.similarities(&KeyQueue::random(dim, 2, 4, &dev).keys.transpose(), None);
        assert!(none.is_none());
    }
}
