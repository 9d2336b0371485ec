//! `docmoco finetune-det`, `eval-det`, `detect`, `compare-det`: text-line detection
//! (DBNet) downstream of pre-training. Flags override single fields of the DBNet preset
//! (`docmoco::tasks::detect::config::DetectConfig::dbnet`) or of a saved `--config`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use docmoco::optim::OptimizerKind;
use docmoco::tasks::detect::compare::{compare_det, format_table};
use docmoco::tasks::detect::config::DetectConfig;
use docmoco::tasks::detect::infer::{evaluate_dir, write_metrics, Detector};
use docmoco::tasks::detect::train::{finetune_det, DetectOptions};
use docmoco::tasks::init::{resolve_arch, tiny_backbone, ArchOverrides, Init};
use docmoco_data::sources::{file_kind, probe_file};
use docmoco_data::{scan_pages, PageRef};
use docmoco_det::{draw_detections, evaluate_dirs, write_detections, DetMetrics};

use super::arch::ArchArgs;
use super::classify::OptimizerArg;

/// Flags of a detection training run; each replaces one field of the preset.
#[derive(Args, Debug, Clone, Default)]
pub struct DetTrainArgs {
    /// Detection data: DIR/train and DIR/test, each with images/ and gt/ (ICDAR 2015 format).
    #[arg(long)]
    pub data: PathBuf,
    /// Start from this configuration (a run's config.toml) instead of the DBNet preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Optimisation steps [default: 1500].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Crops per step [default: 8].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate [default: 0.02, poly decay 0.9].
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd (default, momentum 0.9) or adamw.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Weight decay [default: 1e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Linear warmup steps [default: 0].
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// Side of the square training crops, a multiple of 32 [default: 256].
    #[arg(long)]
    pub crop_size: Option<usize>,
    /// Long side pages are scaled to before random scaling and cropping [default: 1536].
    #[arg(long)]
    pub page_size: Option<u32>,
    /// Long side pages are resized to for inference (multiple of 32) [default: 1536].
    #[arg(long)]
    pub infer_size: Option<u32>,
    /// Label shrink ratio r (kernel = polygon shrunk by A(1-r^2)/L); the post-processing
    /// unclip undoes the same r [default: 0.7; DBNet's 0.4 leaves thin lines 1-2 px kernels].
    #[arg(long)]
    pub shrink_ratio: Option<f32>,
    /// FPN width (256 in the paper) [default: 64].
    #[arg(long)]
    pub inner_channels: Option<usize>,
    #[command(flatten)]
    pub shape: ArchArgs,
    /// Random seed (random weights, head init, crops).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Loader threads (0 = one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Checkpoint every N steps [default: 200].
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Compute device: cpu (default) or wgpu when built with that feature.
    #[arg(long)]
    pub device: Option<String>,
    #[command(flatten)]
    pub post: PostArgs,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Post-processing flags (also accepted by eval-det/detect with --model, to tune without
/// retraining).
#[derive(Args, Debug, Clone, Default)]
pub struct PostArgs {
    /// Probability above which a pixel is text [default: 0.3].
    #[arg(long)]
    pub thresh: Option<f32>,
    /// Minimum mean probability inside a box [default: 0.6].
    #[arg(long)]
    pub box_thresh: Option<f32>,
    /// Unclip (grow) ratio of the shrunk text regions [default: 1.5].
    #[arg(long)]
    pub unclip_ratio: Option<f32>,
}

impl PostArgs {
    fn apply(&self, cfg: &mut DetectConfig) {
        if let Some(v) = self.thresh {
            cfg.post.thresh = v;
        }
        if let Some(v) = self.box_thresh {
            cfg.post.box_thresh = v;
        }
        if let Some(v) = self.unclip_ratio {
            cfg.post.unclip_ratio = v;
        }
    }
}

/// The preset (or `--config`) for `init` with every flag applied.
fn build_config(init: &Init, a: &DetTrainArgs) -> Result<DetectConfig> {
    let mut cfg = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let mut c: DetectConfig =
                toml::from_str(&text).with_context(|| format!("{}", p.display()))?;
            c.init = init.to_string();
            c
        }
        None => {
            let arch = resolve_arch(init, &a.shape.overrides()?, &tiny_backbone())?;
            DetectConfig::dbnet(&init.to_string(), arch)
        }
    };
    macro_rules! set {
        ($flag:expr => $($field:tt)+) => {
            if let Some(v) = $flag.clone() {
                cfg.$($field)+ = v;
            }
        };
    }
    set!(a.steps => train.steps);
    set!(a.batch_size => train.batch_size);
    set!(a.lr => optim.lr);
    set!(a.weight_decay => optim.weight_decay);
    set!(a.warmup_steps => optim.warmup_steps);
    set!(a.crop_size => augment.crop_size);
    set!(a.page_size => augment.base_long_side);
    set!(a.infer_size => infer.long_side);
    set!(a.inner_channels => head.inner_channels);
    if let Some(r) = a.shrink_ratio {
        cfg.labels.shrink_ratio = r;
        if cfg.post.unclip_from_shrink_ratio.is_some() {
            cfg.post.unclip_from_shrink_ratio = Some(r);
        }
    }
    set!(a.seed => train.seed);
    set!(a.workers => train.workers);
    set!(a.checkpoint_every => train.checkpoint_every);
    set!(a.device => train.device);
    if let Some(o) = a.optimizer {
        cfg.optim.optimizer = match o {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adamw => OptimizerKind::Adamw,
        };
    }
    a.post.apply(&mut cfg);
    cfg.validate()?;
    Ok(cfg)
}

fn print_metrics(m: &DetMetrics, out: &Path) {
    println!(
        "precision {:.4}  recall {:.4}  hmean {:.4}  ({} images, {} matched / {} GT lines / {} detections)",
        m.precision, m.recall, m.hmean, m.n_images, m.matched, m.n_gt, m.n_det
    );
    println!("metrics: {}", out.join("metrics.json").display());
}

/// Arguments of `docmoco finetune-det`.
#[derive(Args, Debug)]
pub struct FinetuneDetArgs {
    /// Backbone weights: random, moco:RUN_DIR (or moco:FILE.safetensors), torchvision:FILE.
    #[arg(long, default_value = "random")]
    pub init: String,
    /// Run directory (config.toml, metrics.csv, checkpoints/, detector.safetensors, eval/).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Test pages drawn with their detections into OUT/eval/.
    #[arg(long, default_value_t = 3)]
    pub draw: usize,
    #[command(flatten)]
    pub train: DetTrainArgs,
}

pub fn run_finetune(a: FinetuneDetArgs) -> Result<()> {
    let init: Init = a.init.parse()?;
    let cfg = if a.resume {
        // The run's own configuration: a resumed run must not change its recipe.
        let p = a.out.join("config.toml");
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("cannot resume: {} is missing", p.display()))?;
        toml::from_str(&text).with_context(|| format!("{}", p.display()))?
    } else {
        build_config(&init, &a.train)?
    };
    let s = finetune_det(
        &cfg,
        &DetectOptions {
            data_dir: a.train.data.clone(),
            out_dir: a.out.clone(),
            resume: a.resume,
            quiet: a.train.quiet,
            draw_pages: a.draw,
        },
    )?;
    println!(
        "{} steps in {:.0} s ({:.1} img/s), final loss {:.4}; detector: {}",
        s.steps,
        s.seconds,
        s.img_per_s,
        s.final_loss,
        a.out.join("detector.safetensors").display()
    );
    match &s.test {
        Some(m) => print_metrics(m, &a.out.join("eval")),
        None => println!("no test split in {}: not evaluated", a.train.data.display()),
    }
    Ok(())
}

/// Arguments of `docmoco eval-det`: a trained model on a folder, or result files alone.
#[derive(Args, Debug)]
pub struct EvalDetArgs {
    /// A finetune-det run directory (config.toml + detector.safetensors).
    #[arg(long, conflicts_with = "pred", required_unless_present = "pred")]
    pub model: Option<PathBuf>,
    /// Pages to evaluate the model on: a folder with images/ and gt/.
    #[arg(long, requires = "model")]
    pub data: Option<PathBuf>,
    /// Result files of any detector (res_<name>.txt or gt_<name>.txt, ICDAR 2015 format).
    #[arg(long, requires = "gt")]
    pub pred: Option<PathBuf>,
    /// Ground-truth files (gt_<name>.txt) matching --pred.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    /// Where metrics.json (and, with --model, res_*.txt and drawn pages) go
    /// [default: RUN_DIR/eval, or PRED_DIR with --pred].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pages drawn with their detections (with --model).
    #[arg(long, default_value_t = 3)]
    pub draw: usize,
    #[command(flatten)]
    pub post: PostArgs,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run_eval(a: EvalDetArgs) -> Result<()> {
    if let (Some(pred), Some(gt)) = (&a.pred, &a.gt) {
        let out = a.out.clone().unwrap_or_else(|| pred.clone());
        let report = evaluate_dirs(gt, pred)?;
        if !report.missing.is_empty() {
            eprintln!(
                "warning: {} ground-truth files have no result file (counted as no detections): {}",
                report.missing.len(),
                report.missing.join(", ")
            );
        }
        write_metrics(&out, &report.metrics)?;
        print_metrics(&report.metrics, &out);
        return Ok(());
    }
    let Some(run) = &a.model else {
        bail!("pass --model RUN_DIR --data DIR, or --pred PRED_DIR --gt GT_DIR");
    };
    let Some(data) = &a.data else {
        bail!("--model needs --data DIR (a folder with images/ and gt/)");
    };
    let mut detector = Detector::load(run)?;
    a.post.apply(&mut detector.config);
    let out = a.out.clone().unwrap_or_else(|| run.join("eval"));
    let m = evaluate_dir(&detector, data, &out, a.draw, a.quiet)?;
    print_metrics(&m, &out);
    Ok(())
}

/// Arguments of `docmoco detect`.
#[derive(Args, Debug)]
pub struct DetectArgs {
    /// A finetune-det run directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Page images, PDFs or folders of them.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Output folder: res_<name>.txt (ICDAR 2015) and <name>.png with the boxes drawn.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub post: PostArgs,
}

/// Every page the arguments name: files as given (all pages of a PDF), folders scanned.
fn pages_of(inputs: &[PathBuf]) -> Result<Vec<PageRef>> {
    let mut pages = Vec::new();
    for p in inputs {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
        if p.is_file() {
            let kind = file_kind(p).with_context(|| {
                format!("{}: not an image or PDF (by its extension)", p.display())
            })?;
            let found =
                probe_file(p, kind).map_err(|why| anyhow::anyhow!("{}: {why}", p.display()))?;
            pages.extend(found);
            continue;
        }
        let report = scan_pages(p)?;
        for (path, why) in &report.skipped {
            eprintln!("warning: skipped {}: {why}", path.display());
        }
        pages.extend(report.pages);
    }
    if pages.is_empty() {
        bail!("no pages found in the given inputs");
    }
    Ok(pages)
}

fn page_name(page: &PageRef) -> String {
    let stem = page
        .path()
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("page")
        .to_string();
    match page {
        PageRef::Image(_) => stem,
        PageRef::PdfPage { page, .. } => format!("{stem}_p{}", page + 1),
    }
}

pub fn run_detect(a: DetectArgs) -> Result<()> {
    let mut detector = Detector::load(&a.model)?;
    a.post.apply(&mut detector.config);
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let pages = pages_of(&a.images)?;
    for page in &pages {
        let img = docmoco_data::decode_page(page, Some(detector.config.infer.long_side * 2))?;
        let dets = detector.detect(&img)?;
        let name = page_name(page);
        write_detections(&a.out.join(format!("res_{name}.txt")), &dets)?;
        let png = a.out.join(format!("{name}.png"));
        draw_detections(&img, &[], &dets)
            .save(&png)
            .with_context(|| format!("cannot write {}", png.display()))?;
        println!("{name}: {} text lines", dets.len());
    }
    println!(
        "{} pages; results and drawings in {}",
        pages.len(),
        a.out.display()
    );
    Ok(())
}

/// Arguments of `docmoco compare-det`.
#[derive(Args, Debug)]
pub struct CompareDetArgs {
    /// Comma-separated inits, e.g. random,moco:runs/v2,torchvision:r18.pth.
    #[arg(long, value_delimiter = ',', required = true)]
    pub inits: Vec<String>,
    /// Seeds per init (mean ± std over them).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub seeds: Vec<u64>,
    /// Output folder: one run per init and seed, compare.md, compare.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub train: DetTrainArgs,
}

pub fn run_compare(a: CompareDetArgs) -> Result<()> {
    let inits: Vec<Init> = a
        .inits
        .iter()
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let Some(first) = inits.first() else {
        bail!("--inits is empty");
    };
    // One recipe for all inits. `random` takes the architecture of the first pre-trained
    // init, so random vs MoCo compares the same network; pre-trained inits must agree.
    let reference = inits
        .iter()
        .find(|i| !matches!(i, Init::Random))
        .unwrap_or(first);
    let base = build_config(reference, &a.train)?;
    for init in inits.iter().filter(|i| !matches!(i, Init::Random)) {
        let implied = resolve_arch(init, &ArchOverrides::default(), &base.model)?;
        if implied != base.model {
            bail!(
                "{init} is a {implied:?} backbone but the comparison trains {:?}: compare inits of the same shape",
                base.model
            );
        }
    }
    let rows = compare_det(
        &base,
        &inits,
        &a.seeds,
        &a.train.data,
        &a.out,
        a.train.quiet,
    )?;
    print!("{}", format_table(&rows));
    println!("tables: {}", a.out.join("compare.md").display());
    Ok(())
}
