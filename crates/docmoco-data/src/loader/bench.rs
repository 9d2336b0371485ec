//! Loader throughput, for `docmoco bench`: is data loading the bottleneck of a step?

use std::time::Instant;

use super::views::Views;
use super::Loader;
use crate::DataError;

/// How long producing a number of batches took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub batches: usize,
    /// Samples (pages) in those batches.
    pub samples: usize,
    /// Augmented images (samples x views per sample).
    pub images: usize,
    pub seconds: f64,
}

impl Throughput {
    pub fn batches_per_sec(&self) -> f64 {
        self.batches as f64 / self.seconds.max(1e-12)
    }

    pub fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-12)
    }
}

/// Times producing `n_batches` batches through the prefetching iterator, consuming them
/// immediately (so the number is the loader's ceiling), across epochs if needed.
pub fn measure<V: Views>(loader: &Loader<V>, n_batches: usize) -> Result<Throughput, DataError> {
    let per_epoch = loader.batches_per_epoch();
    let mut t = Throughput {
        batches: 0,
        samples: 0,
        images: 0,
        seconds: 0.0,
    };
    if per_epoch == 0 {
        return Ok(t);
    }
    let start = Instant::now();
    let mut epoch = 0u64;
    while t.batches < n_batches {
        let take = (n_batches - t.batches).min(per_epoch);
        let first = per_epoch - take;
        let mut iter = loader.epoch_iter(epoch, first)?;
        for b in first..per_epoch {
            if iter.next().is_none() {
                break;
            }
            t.batches += 1;
            t.samples += loader.batch_len(b);
        }
        epoch += 1;
    }
    t.images = t.samples * V::VIEWS_PER_SAMPLE;
    t.seconds = start.elapsed().as_secs_f64();
    Ok(t)
}
