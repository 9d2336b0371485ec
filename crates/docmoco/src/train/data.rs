//! The bridge from the framework-free data crate to training: open a page folder into the
//! decode-once cache (with a progress bar and counted warnings), build the two-view loader from
//! the run configuration, and the labelled kNN monitor split.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::tensor::Device;
use docmoco_data::augment::{AugmentConfig, OpConfig, Pipeline, TwoViews, TwoViewsConfig};
use docmoco_data::decode::suggested_long_side;
use docmoco_data::loader::{EvalLoader, PretrainLoader};
use docmoco_data::{scan_pages, ImageFolder, Loader, LoaderConfig, PageCache, PageRef};

use super::config::PretrainConfig;
use super::knn::{knn_accuracy, KnnParams, LabelledFeatures};
use super::pretrain::to_tensor;
use super::progress::counter;
use crate::model::FeatureExtractor;
use crate::ssl::info_nce::l2_normalize;

/// Decoded pages of a folder.
pub struct Pages {
    pub cache: Arc<PageCache>,
    skipped: usize,
}

impl Pages {
    pub fn len(&self) -> usize {
        self.cache.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cache.len() == 0
    }
    /// Files or pages that could not be read (each was named in a warning).
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

fn warn_skipped(what: &[(String, String)]) {
    for (name, why) in what.iter().take(20) {
        eprintln!("warning: skipped {name}: {why}");
    }
    if what.len() > 20 {
        eprintln!("warning: ... and {} more unreadable files", what.len() - 20);
    }
}

/// Decodes `pages` once (long side at most `long_side`) with a progress bar; unreadable pages
/// are skipped with a warning each and counted.
pub fn decode_pages(
    pages: &[PageRef],
    long_side: u32,
    quiet: bool,
    what: &str,
) -> Result<(PageCache, usize)> {
    let bar = counter(pages.len(), what, quiet);
    let tick = |_: usize| bar.inc(1);
    let cache = PageCache::build(pages, long_side, Some(&tick))?;
    bar.finish_and_clear();
    let skipped: Vec<(String, String)> = cache
        .skipped()
        .iter()
        .map(|(p, why)| (format!("{p:?}"), why.clone()))
        .collect();
    warn_skipped(&skipped);
    Ok((cache, skipped.len()))
}

/// Scans `dir` recursively for images and PDF pages and decodes them once.
pub fn open_pages(dir: &Path, long_side: u32, quiet: bool) -> Result<Pages> {
    let report = scan_pages(dir)?;
    let mut skipped: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|(p, why)| (p.display().to_string(), why.clone()))
        .collect();
    warn_skipped(&skipped);
    let (cache, bad) = decode_pages(&report.pages, long_side, quiet, "decoding pages")?;
    if cache.is_empty() {
        anyhow::bail!(
            "{}: none of the {} pages could be decoded",
            dir.display(),
            report.pages.len()
        );
    }
    skipped.truncate(0);
    Ok(Pages {
        cache: Arc::new(cache),
        skipped: report.skipped.len() + bad,
    })
}

/// The augmentation of both views for this run.
pub fn two_views_config(cfg: &PretrainConfig) -> TwoViewsConfig {
    let size = cfg.train.image_size as u32;
    let adjust = |mut view: AugmentConfig| {
        if let docmoco_data::augment::GeometryConfig::RandomResizedCrop { scale, min_ink, .. } =
            &mut view.geometry
        {
            if let Some(min) = cfg.augment.crop_min_scale {
                scale[0] = min;
            }
            if let Some(max) = cfg.augment.crop_max_scale {
                scale[1] = max;
            }
            *min_ink = cfg.augment.min_ink;
        }
        for op in &mut view.ops {
            if let OpConfig::HorizontalFlip { p } = op {
                *p = if cfg.augment.hflip { 0.5 } else { 0.0 };
            }
        }
        view
    };
    let mut views = match cfg.augment.preset.as_str() {
        "v1" => TwoViewsConfig::symmetric(adjust(AugmentConfig::moco_v1(size))),
        // MoCo v3's views differ: blur always on view 1, solarize only on view 2.
        "v3" => TwoViewsConfig {
            query: adjust(AugmentConfig::moco_v3_view1(size)),
            key: adjust(AugmentConfig::moco_v3_view2(size)),
            min_overlap: None,
        },
        "doc" => TwoViewsConfig::symmetric(adjust(AugmentConfig::doc(size))),
        _ => TwoViewsConfig::symmetric(adjust(AugmentConfig::moco_v2(size))),
    };
    views.min_overlap = cfg.augment.min_overlap;
    views
}

/// Long side of cached pages: the configured one, or the smallest at which the smallest
/// random crop still has `image_size` pixels per side.
pub fn cache_long_side(cfg: &PretrainConfig) -> u32 {
    if cfg.train.cache_long_side > 0 {
        return cfg.train.cache_long_side as u32;
    }
    let default_min = if cfg.augment.preset == "v3" {
        0.08
    } else {
        0.2
    };
    let min_scale = cfg.augment.crop_min_scale.unwrap_or(default_min);
    suggested_long_side(cfg.train.image_size as u32, min_scale).max(cfg.eval_size() as u32)
}

fn loader_config(cfg: &PretrainConfig, batch_size: usize, pretrain: bool) -> LoaderConfig {
    let mut lc = if pretrain {
        LoaderConfig::pretrain(batch_size)
    } else {
        LoaderConfig::eval(batch_size)
    };
    if cfg.train.workers > 0 {
        lc.workers = cfg.train.workers;
    }
    lc.prefetch = cfg.train.prefetch.max(1);
    lc.seed = cfg.train.seed;
    lc
}

/// The shuffled two-view loader of pre-training (drop_last, as the reference).
pub fn two_view_loader(pages: &Pages, cfg: &PretrainConfig) -> Result<PretrainLoader> {
    let views = TwoViews::from_config(&two_views_config(cfg))?;
    Ok(Loader::new(
        Arc::clone(&pages.cache),
        views,
        loader_config(cfg, cfg.train.batch_size, true),
    )?)
}

/// A labelled split decoded for feature extraction.
pub struct LabelledSplit {
    pub loader: EvalLoader,
    pub classes: Vec<String>,
}

/// An evaluation loader over `cache`: each whole page resized to `train.eval_size`, in order.
pub fn whole_page_loader(cache: PageCache, cfg: &PretrainConfig) -> Result<EvalLoader> {
    let pipeline = Pipeline::from_config(&AugmentConfig::eval(cfg.eval_size() as u32))?;
    Ok(Loader::new(
        Arc::new(cache),
        pipeline,
        loader_config(cfg, cfg.train.batch_size, false),
    )?)
}

/// Opens an ImageFolder for evaluation (whole page resized to `train.eval_size`).
pub fn labelled_split(
    folder: &ImageFolder,
    keep: impl Fn(usize) -> bool,
    cfg: &PretrainConfig,
    quiet: bool,
    what: &str,
) -> Result<LabelledSplit> {
    let (pages, labels): (Vec<PageRef>, Vec<usize>) = folder
        .samples
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, (p, l))| (p.clone(), *l))
        .unzip();
    let (cache, _) = decode_pages(&pages, cache_long_side(cfg), quiet, what)?;
    let labels = cache.carry_labels(&labels)?;
    let loader = whole_page_loader(cache, cfg)?.with_labels(labels)?;
    Ok(LabelledSplit {
        loader,
        classes: folder.classes.clone(),
    })
}

/// L2-normalised features of every sample of `loader`, in eval mode.
pub fn extract_features<M: FeatureExtractor>(
    backbone: &M,
    loader: &EvalLoader,
    device: &Device,
) -> Result<LabelledFeatures> {
    extract_features_with(backbone, loader, device, &|_| {})
}

/// [`extract_features`], calling `on_batch(pages)` after each batch — for the progress bar
/// of `docmoco embed`, whose folders can be far larger than a kNN split.
pub fn extract_features_with<M: FeatureExtractor>(
    backbone: &M,
    loader: &EvalLoader,
    device: &Device,
    on_batch: &dyn Fn(usize),
) -> Result<LabelledFeatures> {
    let model = backbone.valid();
    let mut out = LabelledFeatures {
        dim: backbone.feature_dim(),
        ..Default::default()
    };
    for batch in loader.epoch_iter(0, 0)? {
        let x = to_tensor(batch.images, batch.n, batch.height, batch.width, device);
        let f = l2_normalize(model.features(x));
        let v = f
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("feature read-back: {e:?}"))?;
        out.values.extend(v);
        out.labels.extend(batch.labels);
        on_batch(batch.n);
    }
    Ok(out)
}

/// The kNN monitor's data: a labelled train (memory bank) and test split.
pub struct KnnData {
    pub train: LabelledSplit,
    pub test: LabelledSplit,
}

impl KnnData {
    /// `dir/train` + `dir/test` (or `dir/val`) ImageFolders, or one ImageFolder split 80/20
    /// (every fifth sample of each class to test).
    pub fn open(dir: &Path, cfg: &PretrainConfig, quiet: bool) -> Result<Self> {
        let sub = |name: &str| dir.join(name);
        let test_dir = [sub("test"), sub("val")].into_iter().find(|d| d.is_dir());
        let (train, test) = match (sub("train").is_dir(), test_dir) {
            (true, Some(test_dir)) => {
                let tr = ImageFolder::open(&sub("train"))
                    .with_context(|| format!("kNN monitor data {}", dir.display()))?;
                let te = ImageFolder::open(&test_dir)
                    .with_context(|| format!("kNN monitor data {}", dir.display()))?;
                if tr.classes != te.classes {
                    anyhow::bail!(
                        "{}: train classes {:?} differ from test classes {:?}",
                        dir.display(),
                        tr.classes,
                        te.classes
                    );
                }
                (
                    labelled_split(&tr, |_| true, cfg, quiet, "kNN bank")?,
                    labelled_split(&te, |_| true, cfg, quiet, "kNN test")?,
                )
            }
            _ => {
                let all = ImageFolder::open(dir)
                    .with_context(|| format!("kNN monitor data {}", dir.display()))?;
                (
                    labelled_split(&all, |i| i % 5 != 4, cfg, quiet, "kNN bank")?,
                    labelled_split(&all, |i| i % 5 == 4, cfg, quiet, "kNN test")?,
                )
            }
        };
        Ok(Self { train, test })
    }

    /// kNN top-1 accuracy of `backbone`'s frozen features (ResNet or ViT).
    pub fn accuracy<M: FeatureExtractor>(&self, backbone: &M, cfg: &PretrainConfig) -> Result<f64> {
        let device = crate::device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
        let bank = extract_features(backbone, &self.train.loader, &device)?;
        let queries = extract_features(backbone, &self.test.loader, &device)?;
        Ok(knn_accuracy(
            &bank,
            &queries,
            KnnParams {
                k: cfg.train.knn_k,
                t: cfg.train.knn_t,
                num_classes: self.train.classes.len(),
            },
        ))
    }
}
