//! What a loader produces per sample: one view (evaluation) or two (pre-training).

use rayon::prelude::*;

use super::batch::{Batch, TwoViewBatch};
use crate::augment::{Pipeline, TwoViews};
use crate::decode::PageCache;
use crate::rng::view_rng;

/// Turns a list of dataset indices into a batch. Runs inside the loader's thread pool.
pub trait Views: Send + Sync + 'static {
    type Batch: Send + 'static;
    /// Augmented images per sample (1 or 2), for throughput numbers.
    const VIEWS_PER_SAMPLE: usize;

    fn make_batch(
        &self,
        cache: &PageCache,
        labels: Option<&[usize]>,
        indices: &[usize],
        seed: u64,
        epoch: u64,
    ) -> Self::Batch;
}

/// An empty batch with the metadata filled in.
fn empty_batch(pipeline: &Pipeline, labels: Option<&[usize]>, indices: &[usize]) -> Batch {
    let (height, width) = pipeline.output_size();
    empty_batch_of(height, width, labels, indices)
}

fn empty_batch_of(
    height: usize,
    width: usize,
    labels: Option<&[usize]>,
    indices: &[usize],
) -> Batch {
    Batch {
        images: vec![0f32; indices.len() * 3 * height * width],
        n: indices.len(),
        height,
        width,
        labels: labels
            .map(|l| indices.iter().map(|&i| l[i]).collect())
            .unwrap_or_default(),
        indices: indices.to_vec(),
    }
}

/// A one-view batch of `height x width` images, each written by `augment(page, rng, out)`
/// with the sample's own generator (view 0), in parallel. Any single-view transform — the
/// [`Pipeline`] here, or a task's own augmentation — implements [`Views`] through this.
pub fn single_view_batch<F>(
    (height, width): (usize, usize),
    augment: F,
    cache: &PageCache,
    labels: Option<&[usize]>,
    indices: &[usize],
    seed: u64,
    epoch: u64,
) -> Batch
where
    F: Fn(&image::RgbImage, &mut rand_chacha::ChaCha8Rng, &mut [f32]) + Sync,
{
    let mut batch = empty_batch_of(height, width, labels, indices);
    batch
        .images
        .par_chunks_mut((3 * height * width).max(1))
        .zip(indices.par_iter())
        .for_each(|(out, &i)| {
            let mut rng = view_rng(seed, epoch, i as u64, 0);
            augment(cache.get(i), &mut rng, out);
        });
    batch
}

impl Views for Pipeline {
    type Batch = Batch;
    const VIEWS_PER_SAMPLE: usize = 1;

    fn make_batch(
        &self,
        cache: &PageCache,
        labels: Option<&[usize]>,
        indices: &[usize],
        seed: u64,
        epoch: u64,
    ) -> Batch {
        let augment = |page: &image::RgbImage,
                       rng: &mut rand_chacha::ChaCha8Rng,
                       out: &mut [f32]| { self.apply_into(page, rng, out) };
        single_view_batch(
            self.output_size(),
            augment,
            cache,
            labels,
            indices,
            seed,
            epoch,
        )
    }
}

impl Views for TwoViews {
    type Batch = TwoViewBatch;
    const VIEWS_PER_SAMPLE: usize = 2;

    fn make_batch(
        &self,
        cache: &PageCache,
        labels: Option<&[usize]>,
        indices: &[usize],
        seed: u64,
        epoch: u64,
    ) -> TwoViewBatch {
        let mut query = empty_batch(&self.query, labels, indices);
        let mut key = empty_batch(&self.key, labels, indices);
        query
            .images
            .par_chunks_mut(self.query.output_len().max(1))
            .zip(key.images.par_chunks_mut(self.key.output_len().max(1)))
            .zip(indices.par_iter())
            .for_each(|((q, k), &i)| {
                self.apply_into(cache.get(i), (seed, epoch, i as u64), q, k);
            });
        TwoViewBatch { query, key }
    }
}
