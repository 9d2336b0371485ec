//! The dictionary of negative keys: a `dim x K` ring buffer (He et al. 2020, §3.2).
//!
//! Unlike the reference (`assert K % batch_size == 0`), enqueueing wraps around, so any
//! `K >= batch` works; the write position `ptr` is part of the checkpoint.

use burn::tensor::{Device, Tensor, TensorData};
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
        }
    }

    pub fn from_parts(keys: Tensor<2>, ptr: usize) -> Self {
        Self { keys, ptr }
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

    /// Writes `keys` `[N, dim]` at `ptr`, wrapping around the end; `N <= K` is required
    /// (checked when the run is configured).
    pub fn enqueue(&mut self, keys: Tensor<2>) {
        let [n, dim] = keys.dims();
        let k = self.len();
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
}
