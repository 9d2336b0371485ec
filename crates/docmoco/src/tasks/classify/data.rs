//! Labelled splits for classification: open `DIR/train` + `DIR/test` (or one ImageFolder split
//! 80/20), check that they agree on the classes, carve a validation split from train when
//! there is no `DIR/val`, decode pages once, and build the loaders.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use docmoco_data::augment::{AugmentConfig, GeometryConfig, Normalize, Pipeline};
use docmoco_data::decode::suggested_long_side;
use docmoco_data::loader::EvalLoader;
use docmoco_data::{ImageFolder, Loader, LoaderConfig, PageCache, PageRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::DocAugment;
use super::config::{AugmentParams, InputParams, Resize};
use crate::train::data::decode_pages;

/// Samples of a split, before decoding.
pub type Samples = Vec<(PageRef, usize)>;

/// The three splits of a labelled dataset.
#[derive(Debug, Clone)]
pub struct SplitSamples {
    pub classes: Vec<String>,
    pub train: Samples,
    /// Empty when no validation was asked for.
    pub val: Samples,
    pub test: Samples,
    /// Where each split came from, for messages (`DIR/train`, `carved 10% of DIR/train`).
    pub sources: [String; 3],
}

fn open_folder(dir: &Path) -> Result<ImageFolder> {
    let f = ImageFolder::open(dir)
        .with_context(|| format!("cannot open labelled folder {}", dir.display()))?;
    for (p, why) in f.skipped.iter().take(10) {
        eprintln!("warning: skipped {}: {why}", p.display());
    }
    Ok(f)
}

/// The class lists of two splits must be identical: labels are indices into the sorted
/// folder names, so a missing class would silently shift every label after it.
pub fn check_same_classes(a: &ImageFolder, b: &ImageFolder) -> Result<()> {
    if a.classes == b.classes {
        return Ok(());
    }
    let missing: Vec<&str> = a
        .classes
        .iter()
        .filter(|c| !b.classes.contains(c))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = b
        .classes
        .iter()
        .filter(|c| !a.classes.contains(c))
        .map(String::as_str)
        .collect();
    bail!(
        "class folders differ: {} has {:?} but {} has {:?} (missing there: {:?}; only there: {:?})",
        a.root.display(),
        a.classes,
        b.root.display(),
        b.classes,
        missing,
        extra
    )
}

/// Per class, `fraction` of the samples (at least one when a class has two or more), chosen
/// by a seeded shuffle; returns `(kept, carved)`.
pub fn carve(
    samples: &Samples,
    num_classes: usize,
    fraction: f64,
    seed: u64,
) -> (Samples, Samples) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7661_6c5f_7370_6c74);
    let mut keep = Vec::new();
    let mut carved = Vec::new();
    for c in 0..num_classes {
        let mut of_class: Vec<&(PageRef, usize)> =
            samples.iter().filter(|(_, l)| *l == c).collect();
        of_class.shuffle(&mut rng);
        let n = of_class.len();
        let k = if n >= 2 {
            ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        carved.extend(of_class[..k].iter().map(|s| (*s).clone()));
        keep.extend(of_class[k..].iter().map(|s| (*s).clone()));
    }
    (keep, carved)
}

/// Opens `dir`: `train/` + `test/` (validation from `val/`, else carved from train when
/// `val_fraction` is given), or a plain ImageFolder split 80/20 (every fifth page of each
/// class is test).
pub fn open_splits(dir: &Path, val_fraction: Option<f64>, seed: u64) -> Result<SplitSamples> {
    if !dir.is_dir() {
        bail!("data folder {} does not exist", dir.display());
    }
    let sub = |n: &str| -> PathBuf { dir.join(n) };
    let has = |n: &str| sub(n).is_dir();
    let (classes, train_all, test, mut sources, val_dir) = if has("train") {
        let train = open_folder(&sub("train"))?;
        let test_name = if has("test") {
            "test"
        } else if has("val") {
            "val"
        } else {
            bail!(
                "{} has train/ but neither test/ nor val/: add a test split or point --data at one ImageFolder (it is split 80/20)",
                dir.display()
            );
        };
        let test = open_folder(&sub(test_name))?;
        check_same_classes(&train, &test)?;
        let val_dir = (test_name == "test" && has("val")).then(|| sub("val"));
        (
            train.classes.clone(),
            train.samples,
            test.samples,
            [
                sub("train").display().to_string(),
                String::new(),
                sub(test_name).display().to_string(),
            ],
            val_dir,
        )
    } else {
        let all = open_folder(dir)?;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (i, s) in all.samples.into_iter().enumerate() {
            if i % 5 == 4 {
                test.push(s);
            } else {
                train.push(s);
            }
        }
        let name = dir.display().to_string();
        (
            all.classes,
            train,
            test,
            [
                format!("80% of {name}"),
                String::new(),
                format!("20% of {name}"),
            ],
            None,
        )
    };
    let (train, val) = match (val_fraction, val_dir) {
        (None, _) => (train_all, Vec::new()),
        (Some(_), Some(vd)) => {
            let val = open_folder(&vd)?;
            if val.classes != classes {
                bail!(
                    "class folders differ: {} has {:?} but {} has {:?}",
                    sources[0],
                    classes,
                    vd.display(),
                    val.classes
                );
            }
            sources[1] = vd.display().to_string();
            (train_all, val.samples)
        }
        (Some(f), None) => {
            sources[1] = format!("{:.0}% carved from {}", f * 100.0, sources[0]);
            carve(&train_all, classes.len(), f, seed)
        }
    };
    if train.is_empty() || test.is_empty() {
        bail!(
            "{}: {} training and {} test pages: both are needed",
            dir.display(),
            train.len(),
            test.len()
        );
    }
    Ok(SplitSamples {
        classes,
        train,
        val,
        test,
        sources,
    })
}

/// A decoded split: pages in memory, their labels and names.
pub struct Split {
    pub cache: Arc<PageCache>,
    pub labels: Vec<usize>,
    /// File (and page) of each cached sample, for the misclassified list.
    pub names: Vec<String>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Human-readable name of a page: the path, with `#page` for PDF pages.
pub fn page_name(p: &PageRef) -> String {
    match p {
        PageRef::Image(path) => path.display().to_string(),
        PageRef::PdfPage { path, page } => format!("{}#{}", path.display(), page + 1),
    }
}

/// Decodes `samples` once at `long_side` (unreadable pages are skipped with a warning).
pub fn decode_split(samples: &Samples, long_side: u32, quiet: bool, what: &str) -> Result<Split> {
    let (pages, labels): (Vec<PageRef>, Vec<usize>) = samples.iter().cloned().unzip();
    let (cache, _) = decode_pages(&pages, long_side, quiet, what)
        .with_context(|| format!("decoding the {what} pages"))?;
    let labels = cache.carry_labels(&labels)?;
    let names = (0..cache.len())
        .map(|i| cache.page_ref(i).map(page_name).unwrap_or_default())
        .collect();
    Ok(Split {
        cache: Arc::new(cache),
        labels,
        names,
    })
}

/// Long side to decode pages at: enough for the smallest training crop to keep full
/// resolution, never less than the input size.
pub fn long_side(input: &InputParams, augment: &AugmentParams) -> u32 {
    if input.cache_long_side > 0 {
        return input.cache_long_side;
    }
    let scale = if augment.enabled {
        augment.crop_min_scale
    } else {
        1.0
    };
    suggested_long_side(input.size, scale).max(input.size)
}

/// The deterministic evaluation view: whole page to `size x size`, ImageNet normalisation.
pub fn eval_augment(input: &InputParams) -> AugmentConfig {
    AugmentConfig {
        size: input.size,
        geometry: GeometryConfig::ResizeToSquare {
            pad: input.resize == Resize::Pad,
        },
        ops: Vec::new(),
        normalize: Some(Normalize::default()),
    }
}

fn loader_config(batch_size: usize, workers: usize, seed: u64, train: bool) -> LoaderConfig {
    let mut lc = if train {
        LoaderConfig::pretrain(batch_size)
    } else {
        LoaderConfig::eval(batch_size)
    };
    if workers > 0 {
        lc.workers = workers;
    }
    lc.seed = seed;
    lc
}

/// Every sample of `split` in order, evaluation view.
pub fn eval_loader(
    split: &Split,
    input: &InputParams,
    batch_size: usize,
    workers: usize,
) -> Result<EvalLoader> {
    let pipeline = Pipeline::from_config(&eval_augment(input))?;
    Ok(Loader::new(
        Arc::clone(&split.cache),
        pipeline,
        loader_config(batch_size, workers, 0, false),
    )?
    .with_labels(split.labels.clone())?)
}

/// Shuffled training batches with the document augmentation (the last partial batch is
/// dropped when there is more than one batch, so BatchNorm never sees a batch of one).
pub fn train_loader(
    split: &Split,
    input: &InputParams,
    augment: &AugmentParams,
    batch_size: usize,
    workers: usize,
    seed: u64,
) -> Result<Loader<DocAugment>> {
    let mut lc = loader_config(batch_size, workers, seed, true);
    if split.len() < batch_size {
        lc.drop_last = false;
    }
    Ok(Loader::new(
        Arc::clone(&split.cache),
        DocAugment::new(input, augment),
        lc,
    )?
    .with_labels(split.labels.clone())?)
}
