//! Shuffling BN on one device (He et al. 2020, §3.3).
//!
//! With several GPUs, the reference shuffles the key batch across GPUs so that BN statistics
//! of query and positive key come from different sub-batches — otherwise the model can "cheat"
//! the pretext task through intra-batch statistics. On one device docmoco computes BN
//! statistics over `splits` sub-batches ([`SplitBatchNorm`](crate::model::SplitBatchNorm);
//! sample `n` is in split `n % S`) and shuffles the key batch before the key encoder, then
//! restores the order — so a query and its key land in different splits.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::Rng;

/// A permutation of the batch and its inverse.
#[derive(Debug, Clone)]
pub struct Shuffle {
    pub perm: Vec<usize>,
    pub inverse: Vec<usize>,
}

impl Shuffle {
    pub fn random<R: Rng>(n: usize, rng: &mut R) -> Self {
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(rng);
        Self::from_perm(perm)
    }

    pub fn from_perm(perm: Vec<usize>) -> Self {
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Self { perm, inverse }
    }

    fn index(ix: &[usize], device: &Device) -> Tensor<1, Int> {
        let v: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(v, [ix.len()]), device)
    }

    /// `x[perm]` along the batch dimension.
    pub fn shuffle<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let idx = Self::index(&self.perm, &x.device());
        x.select(0, idx)
    }

    /// Undoes [`Shuffle::shuffle`].
    pub fn unshuffle<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let idx = Self::index(&self.inverse, &x.device());
        x.select(0, idx)
    }
}
