//! A parallel batch loader with bounded prefetch, independent of any DL framework.
//!
//! A [`Loader`] serves batches of a [`PageCache`] through one view pipeline (evaluation,
//! kNN: [`EvalLoader`]) or two (pre-training: [`PretrainLoader`]). Everything random is a
//! pure function of `(seed, epoch, sample, view)` (see [`crate::rng`]), so batches are the
//! same for any number of workers, and [`Loader::epoch_iter`] can start in the middle of an
//! epoch to resume a run exactly.

pub mod batch;
pub mod bench;
mod iter;
pub mod order;
pub mod views;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use batch::{Batch, TwoViewBatch};
pub use iter::EpochIter;
pub use views::{single_view_batch, Views};

use crate::augment::{Pipeline, TwoViews};
use crate::decode::PageCache;
use crate::DataError;

/// Loader settings (part of the run config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Shuffle with a permutation derived from `(seed, epoch)`.
    pub shuffle: bool,
    /// Drop the last partial batch (the MoCo reference does for pre-training).
    pub drop_last: bool,
    /// Threads that augment samples.
    pub workers: usize,
    /// Batches prepared ahead of the consumer.
    pub prefetch: usize,
    pub seed: u64,
}

/// Threads available to this process (at least 1).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl LoaderConfig {
    /// Pre-training: shuffled, last partial batch dropped.
    pub fn pretrain(batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            shuffle: true,
            drop_last: true,
            workers: default_workers(),
            prefetch: 2,
            seed: 0,
        }
    }

    /// Evaluation and feature extraction: dataset order, every sample.
    pub fn eval(batch_size: usize) -> Self {
        LoaderConfig {
            shuffle: false,
            drop_last: false,
            ..Self::pretrain(batch_size)
        }
    }
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self::pretrain(32)
    }
}

/// Batches over a page cache; `V` is [`Pipeline`] (one view) or [`TwoViews`].
pub struct Loader<V> {
    cache: Arc<PageCache>,
    labels: Option<Arc<Vec<usize>>>,
    views: Arc<V>,
    config: LoaderConfig,
    pool: Arc<rayon::ThreadPool>,
}

/// Single-view loader for evaluation, kNN and linear probing.
pub type EvalLoader = Loader<Pipeline>;
/// Two-view loader for MoCo pre-training.
pub type PretrainLoader = Loader<TwoViews>;

impl<V: Views> Loader<V> {
    /// Validates `config` against the dataset and starts the worker pool.
    pub fn new(cache: Arc<PageCache>, views: V, config: LoaderConfig) -> Result<Self, DataError> {
        let bad = |field: &str, message: String| DataError::Config {
            field: field.into(),
            message,
        };
        if config.batch_size == 0 {
            return Err(bad("batch_size", "must be at least 1".into()));
        }
        if config.workers == 0 {
            return Err(bad("workers", "must be at least 1".into()));
        }
        if config.prefetch == 0 {
            return Err(bad("prefetch", "must be at least 1".into()));
        }
        if config.drop_last && cache.len() < config.batch_size {
            return Err(bad(
                "batch_size",
                format!(
                    "{} is larger than the dataset ({} pages) and drop_last is set: no batch",
                    config.batch_size,
                    cache.len()
                ),
            ));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("docmoco-aug-{i}"))
            .build()
            .map_err(|e| DataError::ThreadPool(e.to_string()))?;
        Ok(Loader {
            cache,
            labels: None,
            views: Arc::new(views),
            config,
            pool: Arc::new(pool),
        })
    }

    /// Attaches one label per cached page (see [`PageCache::source_indices`] to map
    /// labels when pages were skipped).
    pub fn with_labels(mut self, labels: Vec<usize>) -> Result<Self, DataError> {
        if labels.len() != self.cache.len() {
            return Err(DataError::LabelCount {
                labels: labels.len(),
                pages: self.cache.len(),
            });
        }
        self.labels = Some(Arc::new(labels));
        Ok(self)
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    pub fn cache(&self) -> &PageCache {
        &self.cache
    }

    pub fn views(&self) -> &V {
        &self.views
    }

    /// Number of samples (pages).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        order::batches_per_epoch(self.len(), self.config.batch_size, self.config.drop_last)
    }

    /// Number of samples in batch `b` (the last one may be partial without `drop_last`).
    pub fn batch_len(&self, b: usize) -> usize {
        let bs = self.config.batch_size;
        self.len().saturating_sub(b * bs).min(bs)
    }

    /// The sample order of `epoch`.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        order::epoch_order(self.len(), self.config.shuffle, self.config.seed, epoch)
    }

    /// Dataset indices of batch `b` of `epoch`.
    pub fn batch_indices(&self, epoch: u64, b: usize) -> Vec<usize> {
        let order = self.epoch_order(epoch);
        let bs = self.config.batch_size;
        let lo = (b * bs).min(order.len());
        let hi = (lo + bs).min(order.len());
        order[lo..hi].to_vec()
    }

    /// Builds batch `b` of `epoch` on the calling thread's behalf (no prefetch).
    pub fn batch(&self, epoch: u64, b: usize) -> Result<V::Batch, DataError> {
        let n = self.batches_per_epoch();
        if b >= n {
            return Err(DataError::OutOfRange {
                what: "batches of the epoch",
                index: b,
                len: n,
            });
        }
        let indices = self.batch_indices(epoch, b);
        let labels = self.labels.as_deref().map(Vec::as_slice);
        Ok(self.pool.install(|| {
            self.views
                .make_batch(&self.cache, labels, &indices, self.config.seed, epoch)
        }))
    }

    /// Batches `start_batch..` of `epoch`, prepared in the background. `start_batch` equal
    /// to [`Self::batches_per_epoch`] gives an empty iterator (a run stopped at the end of an
    /// epoch).
    pub fn epoch_iter(
        &self,
        epoch: u64,
        start_batch: usize,
    ) -> Result<EpochIter<V::Batch>, DataError> {
        let n = self.batches_per_epoch();
        if start_batch > n {
            return Err(DataError::OutOfRange {
                what: "batches of the epoch",
                index: start_batch,
                len: n,
            });
        }
        let order = self.epoch_order(epoch);
        let (cache, labels, views, pool) = (
            Arc::clone(&self.cache),
            self.labels.clone(),
            Arc::clone(&self.views),
            Arc::clone(&self.pool),
        );
        let (bs, seed) = (self.config.batch_size, self.config.seed);
        EpochIter::spawn(
            "docmoco-loader",
            start_batch..n,
            self.config.prefetch,
            move |b| {
                let labels = labels.as_deref().map(Vec::as_slice);
                let lo = b * bs;
                let indices = &order[lo..(lo + bs).min(order.len())];
                pool.install(|| views.make_batch(&cache, labels, indices, seed, epoch))
            },
        )
        .map_err(|e| DataError::ThreadPool(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;

    fn cache(n: usize) -> Arc<PageCache> {
        let pages = (0..n)
            .map(|i| {
                image::RgbImage::from_fn(40 + i as u32 % 7, 56, |x, y| {
                    image::Rgb([(x * 5 + i as u32) as u8, (y * 4) as u8, (i * 20) as u8])
                })
            })
            .collect();
        Arc::new(PageCache::from_images(pages).unwrap())
    }

    fn two_views() -> TwoViews {
        TwoViews::symmetric(Pipeline::from_config(&AugmentConfig::moco_v2(16)).unwrap())
    }

    fn config(workers: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size: 4,
            workers,
            ..LoaderConfig::pretrain(4)
        }
    }

    #[test]
    fn batches_are_identical_for_any_worker_count_and_resume_mid_epoch() {
        let one = Loader::new(cache(10), two_views(), config(1)).unwrap();
        let three = Loader::new(cache(10), two_views(), config(3)).unwrap();
        assert_eq!(one.batches_per_epoch(), 2);
        let a: Vec<_> = one.epoch_iter(1, 0).unwrap().collect();
        let b: Vec<_> = three.epoch_iter(1, 0).unwrap().collect();
        assert_eq!(a.len(), 2);
        assert_eq!(a, b);
        let resumed: Vec<_> = three.epoch_iter(1, 1).unwrap().collect();
        assert_eq!(resumed, a[1..]);
        assert_eq!(a[0].query.shape(), [4, 3, 16, 16]);
        assert_ne!(a[0].query.images, a[0].key.images);
        assert_eq!(a[0].query.indices, one.batch_indices(1, 0));
        assert_eq!(one.batch(1, 1).unwrap(), a[1]);
        assert_eq!(one.epoch_iter(1, 2).unwrap().count(), 0);
        assert!(one.epoch_iter(1, 3).is_err());
        let other_epoch: Vec<_> = one.epoch_iter(2, 0).unwrap().collect();
        assert_ne!(other_epoch, a);
    }

    #[test]
    fn eval_loader_keeps_order_labels_and_the_last_partial_batch() {
        let p = Pipeline::from_config(&AugmentConfig::eval(8)).unwrap();
        let loader = Loader::new(cache(5), p, LoaderConfig::eval(2))
            .unwrap()
            .with_labels(vec![0, 1, 2, 0, 1])
            .unwrap();
        let batches: Vec<Batch> = loader.epoch_iter(0, 0).unwrap().collect();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[2].n, 1);
        assert_eq!(batches[2].indices, [4]);
        assert_eq!(batches[1].labels, [2, 0]);
        assert_eq!(batches[2].images.len(), 3 * 8 * 8);
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Loader::new(cache(3), two_views(), config(1)).is_err()); // 3 < batch 4
        let mut c = config(1);
        c.prefetch = 0;
        assert!(Loader::new(cache(8), two_views(), c).is_err());
        let l = Loader::new(cache(8), two_views(), config(1)).unwrap();
        assert!(matches!(
            l.with_labels(vec![0; 3]),
            Err(DataError::LabelCount { .. })
        ));
    }

    #[test]
    fn dropping_the_iterator_early_stops_the_producer() {
        let l = Loader::new(cache(40), two_views(), config(2)).unwrap();
        let mut it = l.epoch_iter(0, 0).unwrap();
        assert!(it.next().is_some());
        assert_eq!(it.len(), 9);
        drop(it); // must not hang
        let t = bench::measure(&l, 12).unwrap();
        assert_eq!((t.batches, t.samples, t.images), (12, 48, 96));
    }
}
