//! Deterministic parallel batches of augmented crops and their DBNet targets.
//!
//! Same design as `docmoco_data::loader`: the sample order is a pure function of
//! `(seed, epoch)` ([`epoch_order`]) and each sample's randomness a pure function of
//! `(seed, epoch, sample index)` ([`view_rng`]), so batches are identical for any number of
//! threads and [`DetLoader::epoch_iter`] can resume in the middle of an epoch. One producer
//! thread builds batches in order (samples in parallel on the loader's pool) into a bounded
//! channel, so at most `prefetch` batches wait in memory.

use std::sync::Arc;

use docmoco_data::loader::order::{batches_per_epoch, epoch_order};
use docmoco_data::loader::EpochIter;
use docmoco_data::rng::view_rng;
use rayon::prelude::*;

use crate::augment::{augment_page, DetAugmentConfig};
use crate::dataset::DetDataset;
use crate::labels::{make_targets, LabelConfig};
use crate::DetError;

/// A batch in NCHW / NHW order, ready to become tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct DetBatch {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    /// `n * 3 * height * width`, normalised.
    pub images: Vec<f32>,
    /// Each `n * height * width`.
    pub shrink_map: Vec<f32>,
    pub shrink_mask: Vec<f32>,
    pub thresh_map: Vec<f32>,
    pub thresh_mask: Vec<f32>,
    /// Dataset indices of the samples, for debugging and logging.
    pub indices: Vec<usize>,
}

/// Serves training batches of a [`DetDataset`].
pub struct DetLoader {
    dataset: Arc<DetDataset>,
    aug: DetAugmentConfig,
    labels: LabelConfig,
    batch_size: usize,
    seed: u64,
    prefetch: usize,
    pool: Arc<rayon::ThreadPool>,
}

fn pool(workers: usize) -> Result<Arc<rayon::ThreadPool>, DetError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("docmoco-det-aug-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| DetError::ThreadPool(e.to_string()))
}

/// Builds batch `indices` of `epoch` (on the current rayon pool).
fn make_batch(
    ds: &DetDataset,
    aug: &DetAugmentConfig,
    lab: &LabelConfig,
    indices: &[usize],
    seed: u64,
    epoch: u64,
) -> DetBatch {
    let samples: Vec<_> = indices
        .par_iter()
        .map(|&i| {
            let page = &ds.pages()[i];
            let mut rng = view_rng(seed, epoch, i as u64, 0);
            let s = augment_page(&page.image, &page.lines, aug, &mut rng);
            let t = make_targets(&s.lines, aug.crop_size, aug.crop_size, lab);
            (s.image, t)
        })
        .collect();
    let (h, w) = (aug.crop_size, aug.crop_size);
    let n = samples.len();
    let mut b = DetBatch {
        n,
        height: h,
        width: w,
        images: Vec::with_capacity(n * 3 * h * w),
        shrink_map: Vec::with_capacity(n * h * w),
        shrink_mask: Vec::with_capacity(n * h * w),
        thresh_map: Vec::with_capacity(n * h * w),
        thresh_mask: Vec::with_capacity(n * h * w),
        indices: indices.to_vec(),
    };
    for (img, t) in samples {
        b.images.extend_from_slice(&img.data);
        b.shrink_map.extend_from_slice(&t.shrink_map);
        b.shrink_mask.extend_from_slice(&t.shrink_mask);
        b.thresh_map.extend_from_slice(&t.thresh_map);
        b.thresh_mask.extend_from_slice(&t.thresh_mask);
    }
    b
}

impl DetLoader {
    /// Shuffled batches of `batch_size` (the last partial batch is dropped: BatchNorm on a
    /// tiny batch is noise), all threads, 2 batches of prefetch.
    pub fn new(
        dataset: impl Into<Arc<DetDataset>>,
        aug: DetAugmentConfig,
        labels: LabelConfig,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, DetError> {
        let dataset = dataset.into();
        aug.validate()?;
        labels.validate()?;
        if batch_size == 0 {
            return Err(DetError::config("batch_size", "must be at least 1"));
        }
        if dataset.len() < batch_size {
            return Err(DetError::config(
                "batch_size",
                format!(
                    "{batch_size} is larger than the dataset ({} pages): no full batch",
                    dataset.len()
                ),
            ));
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(DetLoader {
            dataset,
            aug,
            labels,
            batch_size,
            seed,
            prefetch: 2,
            pool: pool(workers)?,
        })
    }

    /// Uses `workers` augmentation threads (results do not depend on it).
    pub fn with_workers(mut self, workers: usize) -> Result<Self, DetError> {
        if workers == 0 {
            return Err(DetError::config("workers", "must be at least 1"));
        }
        self.pool = pool(workers)?;
        Ok(self)
    }

    /// Prepares up to `prefetch` batches ahead of the consumer.
    pub fn with_prefetch(mut self, prefetch: usize) -> Result<Self, DetError> {
        if prefetch == 0 {
            return Err(DetError::config("prefetch", "must be at least 1"));
        }
        self.prefetch = prefetch;
        Ok(self)
    }

    pub fn dataset(&self) -> &DetDataset {
        &self.dataset
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn batches_per_epoch(&self) -> usize {
        batches_per_epoch(self.dataset.len(), self.batch_size, true)
    }

    /// Dataset indices of batch `b` of `epoch`.
    pub fn batch_indices(&self, epoch: u64, b: usize) -> Vec<usize> {
        let order = epoch_order(self.dataset.len(), true, self.seed, epoch);
        let lo = (b * self.batch_size).min(order.len());
        order[lo..(lo + self.batch_size).min(order.len())].to_vec()
    }

    /// Builds batch `b` of `epoch` now, without prefetch.
    pub fn batch(&self, epoch: u64, b: usize) -> Result<DetBatch, DetError> {
        let n = self.batches_per_epoch();
        if b >= n {
            return Err(DetError::OutOfRange {
                what: "batches of the epoch",
                index: b,
                len: n,
            });
        }
        let idx = self.batch_indices(epoch, b);
        Ok(self.pool.install(|| {
            make_batch(
                &self.dataset,
                &self.aug,
                &self.labels,
                &idx,
                self.seed,
                epoch,
            )
        }))
    }

    /// Batches `start_batch..` of `epoch`, prepared in the background. `start_batch` equal
    /// to [`Self::batches_per_epoch`] gives an empty iterator.
    pub fn epoch_iter(&self, epoch: u64, start_batch: usize) -> Result<DetEpochIter, DetError> {
        let n = self.batches_per_epoch();
        if start_batch > n {
            return Err(DetError::OutOfRange {
                what: "batches of the epoch",
                index: start_batch,
                len: n,
            });
        }
        let order = epoch_order(self.dataset.len(), true, self.seed, epoch);
        let (ds, pool) = (Arc::clone(&self.dataset), Arc::clone(&self.pool));
        let (aug, lab, bs, seed) = (self.aug, self.labels, self.batch_size, self.seed);
        EpochIter::spawn(
            "docmoco-det-loader",
            start_batch..n,
            self.prefetch,
            move |b| {
                let idx = &order[b * bs..(b + 1) * bs];
                Ok(pool.install(|| make_batch(&ds, &aug, &lab, idx, seed, epoch)))
            },
        )
        .map_err(|e| DetError::ThreadPool(e.to_string()))
    }
}

/// The batches of one epoch (docmoco-data's prefetching producer); dropping it stops the
/// producer after its current batch.
pub type DetEpochIter = EpochIter<Result<DetBatch, DetError>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DetPage;
    use docmoco_data::icdar::TextLine;
    use image::RgbImage;

    fn dataset(n: usize) -> DetDataset {
        let pages = (0..n)
            .map(|k| {
                let mut img = RgbImage::from_pixel(120, 160, image::Rgb([255, 255, 255]));
                for y in 20..30 {
                    for x in 10..(60 + 5 * k as u32) {
                        img.put_pixel(x, y, image::Rgb([0, 0, 0]));
                    }
                }
                let q = [
                    [10.0, 20.0],
                    [60.0 + 5.0 * k as f32, 20.0],
                    [60.0 + 5.0 * k as f32, 30.0],
                    [10.0, 30.0],
                ];
                DetPage {
                    name: format!("p{k}"),
                    image_path: Default::default(),
                    gt_path: Default::default(),
                    image: img,
                    lines: vec![TextLine::new(q, "t")],
                    orig_size: (120, 160),
                }
            })
            .collect();
        DetDataset::from_pages(pages)
    }

    fn cfg() -> DetAugmentConfig {
        DetAugmentConfig {
            crop_size: 64,
            base_long_side: 160,
            ..DetAugmentConfig::default()
        }
    }

    #[test]
    fn batches_have_the_right_shapes_and_text() {
        let l = DetLoader::new(dataset(5), cfg(), LabelConfig::default(), 2, 7).unwrap();
        assert_eq!(l.batches_per_epoch(), 2);
        let batches: Vec<DetBatch> = l
            .epoch_iter(0, 0)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(batches.len(), 2);
        for b in &batches {
            assert_eq!((b.n, b.height, b.width), (2, 64, 64));
            assert_eq!(b.images.len(), 2 * 3 * 64 * 64);
            assert_eq!(b.shrink_map.len(), 2 * 64 * 64);
            assert_eq!(b.thresh_mask.len(), 2 * 64 * 64);
            assert!(b.shrink_map.contains(&1.0), "a crop without text kernel");
        }
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn deterministic_across_workers_and_resumable() {
        let ds = Arc::new(dataset(6));
        let a = DetLoader::new(Arc::clone(&ds), cfg(), LabelConfig::default(), 2, 1)
            .unwrap()
            .with_workers(1)
            .unwrap();
        let b = DetLoader::new(ds, cfg(), LabelConfig::default(), 2, 1)
            .unwrap()
            .with_workers(3)
            .unwrap();
        let full: Vec<DetBatch> = a.epoch_iter(4, 0).unwrap().map(|r| r.unwrap()).collect();
        let resumed: Vec<DetBatch> = b.epoch_iter(4, 1).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(full[1..], resumed[..]);
        assert_eq!(a.batch(4, 2).unwrap(), full[2]);
        assert_ne!(a.batch(5, 0).unwrap(), full[0]);
        assert_eq!(a.epoch_iter(0, 3).unwrap().count(), 0);
        assert!(a.epoch_iter(0, 4).is_err());
        assert!(DetLoader::new(dataset(1), cfg(), LabelConfig::default(), 2, 0).is_err());
    }
}
