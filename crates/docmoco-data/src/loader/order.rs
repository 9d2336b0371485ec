//! Sample order of an epoch, a pure function of (seed, epoch).
//!
//! Because the order is recomputed rather than drawn from a running generator, a run
//! resumed at batch `b` of epoch `e` sees exactly the batches the uninterrupted run would
//! have seen (with [`crate::rng::view_rng`] the augmentations match too).

use rand::seq::SliceRandom;

use crate::rng::shuffle_rng;

/// The permutation of `0..n` for `epoch` (identity without shuffling).
pub fn epoch_order(n: usize, shuffle: bool, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(&mut shuffle_rng(seed, epoch));
    }
    order
}

/// Number of batches of `batch_size` from `n` samples; `drop_last` drops a partial batch,
/// as the MoCo reference does (`drop_last=True`: the queue length must be a multiple of the
/// batch size, and BatchNorm on a tiny last batch is noisy).
pub fn batches_per_epoch(n: usize, batch_size: usize, drop_last: bool) -> usize {
    if batch_size == 0 {
        0
    } else if drop_last {
        n / batch_size
    } else {
        n.div_ceil(batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_that_depend_on_epoch() {
        let a = epoch_order(50, true, 1, 0);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(50, true, 1, 0));
        assert_ne!(a, epoch_order(50, true, 1, 1));
        assert_eq!(epoch_order(4, false, 1, 3), [0, 1, 2, 3]);
        assert_eq!(batches_per_epoch(10, 4, true), 2);
        assert_eq!(batches_per_epoch(10, 4, false), 3);
    }
}
