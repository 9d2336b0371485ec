//! Using the learned representation directly: embed every page of a folder, then search,
//! de-duplicate and cluster the embeddings.
//!
//! People who pre-train on their own unlabeled documents first want to *see* what the model
//! learned, and often need the vectors themselves: find pages like this one, drop
//! near-duplicate scans, group an archive to bootstrap labels. The embedding is the
//! backbone's global-average-pooled feature, L2-normalised — the same features the kNN monitor
//! (Wu et al. 2018) and the linear probe use, extracted by [`extract_features_with`] — so
//! cosine similarity is a dot product.
//!
//! * [`index`]: `.npy` vectors + JSON/CSV index on disk ([`npy`] writes the format).
//! * [`search`]: exact top-k cosine search in blocked dot products.
//! * [`dedup`]: near-duplicate groups (all pairs above a threshold, union-find).
//! * [`cluster`]: seeded k-means++ / Lloyd, purity and NMI against labels.
//! * [`contact_sheet`]: thumbnails with captions, for search results and clusters.
//! * [`pca`]: a 2-D map of the embeddings for the run report.

pub mod cluster;
pub mod contact_sheet;
pub mod dedup;
pub mod index;
pub mod labels;
pub mod npy;
pub mod pca;
pub mod search;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use docmoco_data::augment::{AugmentConfig, Pipeline};
use docmoco_data::loader::EvalLoader;
use docmoco_data::{scan_pages, Loader, LoaderConfig, PageCache, PageRef};

pub use index::{EmbeddingIndex, IndexMeta, IndexRow};

use crate::model::{Backbone, FeatureExtractor};
use crate::tasks::init::{load_backbone, resolve_arch, tiny_backbone, ArchOverrides, Init};
use crate::train::config::BackboneParams;
use crate::train::data::{decode_pages, extract_features_with};
use crate::train::progress::counter;

/// How to embed: the backbone and the input view.
#[derive(Clone, Debug)]
pub struct EmbedConfig {
    pub init: Init,
    /// Side of the square input; `None` = the MoCo run's `train.image_size`, else the
    /// `moco-v2-tiny` preset's (64).
    pub image_size: Option<u32>,
    /// Seed of `random` weights.
    pub seed: u64,
    pub batch_size: usize,
    /// Loader threads (0 = one per core).
    pub workers: usize,
    pub device: String,
    pub quiet: bool,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            init: Init::Random,
            image_size: None,
            seed: 0,
            batch_size: 64,
            workers: 0,
            device: "cpu".into(),
            quiet: true,
        }
    }
}

/// The input size a run was pre-trained at (`[train] image_size` of its `config.toml`).
fn run_image_size(init: &Init) -> Result<Option<u32>> {
    let Some((_, Some(cfg))) = init.files()? else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(&cfg).with_context(|| format!("reading {}", cfg.display()))?;
    let run = crate::train::PretrainConfig::from_toml(&text, &cfg.display().to_string())?;
    Ok(Some(run.train.image_size as u32))
}

/// `init` with its path made absolute, so an index still finds its backbone from another
/// working directory.
fn absolute_init(init: &Init) -> Init {
    let abs = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    match init {
        Init::Random => Init::Random,
        Init::Moco(p) => Init::Moco(abs(p)),
        Init::Torchvision(p) => Init::Torchvision(abs(p)),
    }
}

/// A loaded backbone and the view its inputs get.
pub struct Embedder {
    backbone: Backbone,
    pub init: Init,
    pub arch: BackboneParams,
    pub seed: u64,
    pub image_size: u32,
    /// Pages are decoded at this long side, then the whole page is resized to
    /// `image_size x image_size`. Twice the input size: an A4 page's short side is then
    /// still larger than the input, and decoding stays cheap.
    pub decode_long_side: u32,
    batch_size: usize,
    workers: usize,
    device: Device,
}

impl Embedder {
    /// Resolves `cfg.init` (architecture from the run or the weights) and loads it.
    pub fn new(cfg: &EmbedConfig) -> Result<Self> {
        if cfg.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        let image_size = match cfg.image_size {
            Some(s) => s,
            None => run_image_size(&cfg.init)?.unwrap_or(
                crate::train::PretrainConfig::preset("moco-v2-tiny")?
                    .train
                    .image_size as u32,
            ),
        };
        if image_size < 16 {
            bail!("image_size {image_size} is too small (min 16)");
        }
        let device = crate::device::select(&cfg.device).map_err(anyhow::Error::msg)?;
        let arch = resolve_arch(&cfg.init, &ArchOverrides::default(), &tiny_backbone())?;
        let loaded = load_backbone(&cfg.init, &arch, image_size as usize, cfg.seed, &device)
            .with_context(|| format!("loading the backbone --init {}", cfg.init))?;
        Ok(Self {
            backbone: loaded.backbone,
            init: absolute_init(&cfg.init),
            arch,
            seed: cfg.seed,
            image_size,
            decode_long_side: 2 * image_size,
            batch_size: cfg.batch_size,
            workers: cfg.workers,
            device,
        })
    }

    /// The backbone an index was made with, to embed queries the same way.
    pub fn for_index(meta: &IndexMeta, device: &str) -> Result<Self> {
        let init: Init = meta
            .init
            .parse()
            .with_context(|| format!("index field `init` = `{}`", meta.init))?;
        let mut e = Self::new(&EmbedConfig {
            init,
            image_size: Some(meta.image_size),
            seed: meta.seed,
            device: device.into(),
            ..Default::default()
        })?;
        if e.arch != meta.arch {
            bail!(
                "the index was made with {:?} but --init {} is now {:?} (was the run replaced?)",
                meta.arch,
                meta.init,
                e.arch
            );
        }
        e.decode_long_side = meta.decode_long_side;
        Ok(e)
    }

    /// Pooled feature width.
    pub fn dim(&self) -> usize {
        self.backbone.feature_dim()
    }

    fn loader(&self, cache: Arc<PageCache>) -> Result<EvalLoader> {
        let pipeline = Pipeline::from_config(&AugmentConfig::eval(self.image_size))?;
        let mut lc = LoaderConfig::eval(self.batch_size);
        if self.workers > 0 {
            lc.workers = self.workers;
        }
        Ok(Loader::new(cache, pipeline, lc)?)
    }

    /// L2-normalised embeddings (`n x dim`) of decoded pages, with a progress bar.
    pub fn embed_cache(&self, cache: Arc<PageCache>, quiet: bool) -> Result<Vec<f32>> {
        let bar = counter(cache.len(), "embedding", quiet);
        let loader = self.loader(cache)?;
        let tick = |n: usize| bar.inc(n as u64);
        let f = extract_features_with(&self.backbone, &loader, &self.device, &tick)?;
        bar.finish_and_clear();
        Ok(f.values)
    }

    /// Decodes and embeds `pages` (queries); fails on the first unreadable one, naming it.
    pub fn embed_pages(&self, pages: &[PageRef]) -> Result<Vec<f32>> {
        for p in pages {
            if !p.path().is_file() {
                bail!("{}: no such file", p.path().display());
            }
        }
        let (cache, _) = decode_pages(pages, self.decode_long_side, true, "decoding")?;
        if let Some((p, why)) = cache.skipped().first() {
            bail!("{p}: cannot be read: {why}");
        }
        self.embed_cache(Arc::new(cache), true)
    }
}

/// What [`embed_folder`] did.
pub struct EmbedOutcome {
    pub index: EmbeddingIndex,
    pub skipped: usize,
    pub seconds: f64,
}

impl EmbedOutcome {
    /// Pages per second, decoding included.
    pub fn pages_per_second(&self) -> f64 {
        self.index.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Embeds every image and PDF page under `dir` (recursively), labels read as described in
/// [`labels`].
pub fn embed_folder(dir: &Path, cfg: &EmbedConfig) -> Result<EmbedOutcome> {
    if !dir.is_dir() {
        bail!("--data {}: no such directory", dir.display());
    }
    // Absolute paths in the index, so thumbnails and labels resolve from anywhere.
    let dir = &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let embedder = Embedder::new(cfg)?;
    let started = Instant::now();
    let scan = scan_pages(dir).with_context(|| format!("scanning {}", dir.display()))?;
    for (p, why) in scan.skipped.iter().take(20) {
        eprintln!("warning: skipped {}: {why}", p.display());
    }
    if scan.pages.is_empty() {
        bail!("{}: no image or PDF pages found", dir.display());
    }
    let (cache, bad) = decode_pages(
        &scan.pages,
        embedder.decode_long_side,
        cfg.quiet,
        "decoding pages",
    )?;
    let (classes, labels) = labels::folder_labels(dir, &scan.pages);
    let rows: Vec<IndexRow> = cache
        .source_indices()
        .iter()
        .map(|&i| {
            let (path, page) = match &scan.pages[i] {
                PageRef::Image(p) => (p.clone(), 0),
                PageRef::PdfPage { path, page } => (path.clone(), *page),
            };
            IndexRow {
                path,
                page,
                label: labels[i],
            }
        })
        .collect();
    let vectors = embedder.embed_cache(Arc::new(cache), cfg.quiet)?;
    let dim = embedder.dim();
    let data = dir.to_path_buf();
    let index = EmbeddingIndex {
        meta: IndexMeta {
            format: index::FORMAT.into(),
            init: embedder.init.to_string(),
            arch: embedder.arch.clone(),
            seed: embedder.seed,
            image_size: embedder.image_size,
            decode_long_side: embedder.decode_long_side,
            dim,
            data,
            classes,
            rows,
        },
        vectors,
    };
    Ok(EmbedOutcome {
        index,
        skipped: scan.skipped.len() + bad,
        seconds: started.elapsed().as_secs_f64(),
    })
}
