//! `docmoco linear-probe`, `finetune-cls`, `predict-cls`, `compare-cls`: document
//! classification downstream of pre-training. Flags override single fields of the probe or
//! fine-tune preset (`docmoco::tasks::classify::ClassifyConfig`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::arch::ArchArgs;
use docmoco::optim::LrSchedule;
use docmoco::tasks::classify::config::OptimizerKind;
use docmoco::tasks::classify::{
    compare, finetune, linear_probe, predict, ClassifyConfig, ClassifyOptions, CompareConfig, Mode,
    Resize,
};
use docmoco::tasks::init::{resolve_arch, tiny_backbone, Init};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ResizeArg {
    /// Stretch the whole page to a square.
    Squash,
    /// Keep the aspect ratio, pad with white.
    Pad,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScheduleArg {
    Cosine,
    Multistep,
    Constant,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Sgd,
    Adamw,
}

/// Flags shared by the training commands; each replaces one field of the preset.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Labelled data: DIR/train + DIR/test (+ DIR/val) class folders, or one ImageFolder (split 80/20).
    #[arg(long)]
    pub data: PathBuf,
    /// Side of the square network input (px) [default: 64].
    #[arg(long)]
    pub image_size: Option<u32>,
    /// How a page becomes a square: squash (default) or pad (keep aspect, white margins).
    #[arg(long, value_enum)]
    pub resize: Option<ResizeArg>,
    #[command(flatten)]
    pub shape: ArchArgs,
    /// Training epochs (probe default 100, fine-tune default 20).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per step (probe default 64, fine-tune default 32).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate of the classifier head.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Multistep milestones in epochs, comma-separated (x0.1 at each).
    #[arg(long, value_delimiter = ',')]
    pub milestones: Option<Vec<usize>>,
    /// Weight decay (probe default 0, fine-tune default 1e-4).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Random seed (init of random weights and of the head, data order, augmentation).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Loader threads (0 = one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Long side pages are decoded at (0 = automatic).
    #[arg(long)]
    pub cache_long_side: Option<u32>,
    /// Compute device: cpu (default) or wgpu when built with that feature.
    #[arg(long)]
    pub device: Option<String>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of the fine-tuning augmentation and optimiser.
#[derive(Args, Debug, Clone, Default)]
pub struct FinetuneFlags {
    /// Learning rate of the backbone (default 0.01, a fifth of the head's).
    #[arg(long)]
    pub backbone_lr: Option<f64>,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Early-stopping patience in epochs (0 = off, no validation split).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Fraction of train carved as validation when DIR/val does not exist.
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Smallest crop area (fraction of the page) of the training crops.
    #[arg(long)]
    pub crop_min_scale: Option<f64>,
    /// Largest training rotation in degrees.
    #[arg(long)]
    pub rotate: Option<f64>,
    /// Mirror pages at random (off: mirrored text is not a document).
    #[arg(long)]
    pub hflip: bool,
    /// No training augmentation at all.
    #[arg(long)]
    pub no_augment: bool,
}

/// Applies the common flags to a preset.
fn apply_common(cfg: &mut ClassifyConfig, c: &CommonArgs) {
    if let Some(v) = c.image_size {
        cfg.input.size = v;
    }
    if let Some(r) = c.resize {
        cfg.input.resize = match r {
            ResizeArg::Squash => Resize::Squash,
            ResizeArg::Pad => Resize::Pad,
        };
    }
    if let Some(v) = c.cache_long_side {
        cfg.input.cache_long_side = v;
    }
    if let Some(v) = c.epochs {
        cfg.train.epochs = v;
        // Milestones of the probe preset are at 60% and 80% of the run, as in the reference.
        if let LrSchedule::Multistep { milestones, .. } = &mut cfg.optim.schedule {
            if c.milestones.is_none() {
                *milestones = vec![v * 3 / 5, v * 4 / 5];
            }
        }
    }
    if let Some(v) = c.batch_size {
        cfg.train.batch_size = v;
    }
    if let Some(v) = c.lr {
        cfg.optim.lr = v;
    }
    match (c.schedule, &c.milestones) {
        (Some(ScheduleArg::Cosine), _) => cfg.optim.schedule = LrSchedule::Cosine,
        (Some(ScheduleArg::Constant), _) => cfg.optim.schedule = LrSchedule::Constant,
        (Some(ScheduleArg::Multistep), m) | (None, m @ Some(_)) => {
            let e = cfg.train.epochs;
            cfg.optim.schedule = LrSchedule::Multistep {
                milestones: m.clone().unwrap_or_else(|| vec![e * 3 / 5, e * 4 / 5]),
                gamma: 0.1,
            }
        }
        (None, None) => {}
    }
    if let Some(v) = c.weight_decay {
        cfg.optim.weight_decay = v;
    }
    if let Some(v) = c.seed {
        cfg.train.seed = v;
    }
    if let Some(v) = c.workers {
        cfg.train.workers = v;
    }
    if let Some(d) = &c.device {
        cfg.train.device = d.clone();
    }
}

fn apply_finetune(cfg: &mut ClassifyConfig, f: &FinetuneFlags) {
    if let Some(v) = f.backbone_lr {
        cfg.optim.backbone_lr = v;
    }
    if let Some(o) = f.optimizer {
        cfg.optim.optimizer = match o {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adamw => OptimizerKind::Adamw,
        };
    }
    if let Some(v) = f.patience {
        cfg.train.patience = v;
    }
    if let Some(v) = f.val_fraction {
        cfg.train.val_fraction = v;
    }
    if let Some(v) = f.crop_min_scale {
        cfg.augment.crop_min_scale = v;
    }
    if let Some(v) = f.rotate {
        cfg.augment.rotate_deg = v;
    }
    cfg.augment.hflip |= f.hflip;
    if f.no_augment {
        cfg.augment.enabled = false;
    }
}

fn options(c: &CommonArgs, out: &std::path::Path) -> ClassifyOptions {
    ClassifyOptions {
        data: c.data.clone(),
        out_dir: out.to_path_buf(),
        quiet: c.quiet,
    }
}

fn print_report(r: &docmoco::tasks::classify::report::RunReport, out: &std::path::Path) {
    println!(
        "test accuracy {:.1}%  macro-F1 {:.1}%  ({} pages, {} init, {:.0} s)",
        r.metrics.accuracy * 100.0,
        r.metrics.macro_f1 * 100.0,
        r.metrics.n_test,
        r.init,
        r.train_seconds
    );
    for (name, m) in &r.metrics.per_class {
        let pct = |v: Option<f64>| v.map_or("   -".to_string(), |v| format!("{:5.1}", v * 100.0));
        println!(
            "  {name:<24} P {}  R {}  F1 {}  (n = {})",
            pct(m.precision),
            pct(m.recall),
            pct(m.f1),
            m.support
        );
    }
    if let Some(true) = r.backbone_unchanged {
        println!("frozen-backbone check: passed (saved backbone equals the initial weights)");
    }
    println!(
        "reports: {} (metrics.json, confusion.csv/.png, misclassified.csv, model.safetensors)",
        out.display()
    );
}

/// Arguments of `docmoco linear-probe`.
#[derive(Args, Debug)]
pub struct LinearProbeArgs {
    /// Backbone weights: random, moco:RUN_DIR (or moco:FILE.safetensors), torchvision:FILE.
    #[arg(long, default_value = "random")]
    pub init: String,
    /// Run directory for config.toml, model.safetensors and the reports.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Train the head on features of augmented views (slower; features are recomputed each epoch).
    #[arg(long)]
    pub augment: bool,
    /// Feed raw features to the linear layer instead of standardised ones.
    #[arg(long)]
    pub no_standardize: bool,
}

fn build_config(mode: Mode, init: &str, c: &CommonArgs) -> Result<ClassifyConfig> {
    let parsed: Init = init.parse()?;
    let arch = resolve_arch(&parsed, &c.shape.overrides()?, &tiny_backbone())?;
    let mut cfg = match mode {
        Mode::Probe => ClassifyConfig::probe(init, arch),
        Mode::Finetune => ClassifyConfig::finetune(init, arch),
    };
    apply_common(&mut cfg, c);
    Ok(cfg)
}

pub fn run_probe(a: LinearProbeArgs) -> Result<()> {
    let mut cfg = build_config(Mode::Probe, &a.init, &a.common)?;
    if a.augment {
        cfg.augment = docmoco::tasks::classify::config::AugmentParams::documents();
    }
    if a.no_standardize {
        cfg.train.standardize = false;
    }
    cfg.validate()?;
    let r = linear_probe(&cfg, &options(&a.common, &a.out))?;
    print_report(&r, &a.out);
    Ok(())
}

/// Arguments of `docmoco finetune-cls`.
#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// Backbone weights: random, moco:RUN_DIR (or moco:FILE.safetensors), torchvision:FILE.
    #[arg(long, default_value = "random")]
    pub init: String,
    /// Run directory for config.toml, model.safetensors and the reports.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub finetune: FinetuneFlags,
}

pub fn run_finetune(a: FinetuneArgs) -> Result<()> {
    let mut cfg = build_config(Mode::Finetune, &a.init, &a.common)?;
    apply_finetune(&mut cfg, &a.finetune);
    cfg.validate()?;
    let r = finetune(&cfg, &options(&a.common, &a.out))?;
    if let Some(v) = r.val_accuracy {
        println!(
            "best epoch {} of {} (validation accuracy {:.1}%)",
            r.best_epoch,
            r.epochs_run,
            v * 100.0
        );
    }
    print_report(&r, &a.out);
    Ok(())
}

/// Arguments of `docmoco predict-cls`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A run directory of linear-probe or finetune-cls.
    #[arg(long)]
    pub model: PathBuf,
    /// Images, PDFs or folders of them.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run_predict(a: PredictArgs) -> Result<()> {
    let device = docmoco::device::select(&a.device).map_err(anyhow::Error::msg)?;
    for p in predict(&a.model, &a.images, &device)? {
        if a.json {
            println!("{}", serde_json::to_string(&p)?);
        } else {
            println!("{}\t{}\t{:.3}", p.file, p.class, p.probability);
        }
    }
    Ok(())
}

/// Arguments of `docmoco compare-cls`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Comma-separated inits, e.g. random,moco:runs/v2,torchvision:r18.pth.
    #[arg(long)]
    pub inits: String,
    /// Seeds per (init, mode).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Which protocols: finetune, probe (comma-separated).
    #[arg(long, default_value = "probe,finetune", value_delimiter = ',')]
    pub modes: Vec<String>,
    /// Folder for comparison.md/.json and one run directory per (init, mode, seed).
    #[arg(long)]
    pub out: PathBuf,
    /// Fine-tuning epochs (the common --epochs sets the probe's).
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub finetune: FinetuneFlags,
}

pub fn run_compare(a: CompareArgs) -> Result<()> {
    let inits = Init::parse_list(&a.inits)?;
    anyhow::ensure!(!inits.is_empty(), "--inits is empty");
    anyhow::ensure!(a.seeds >= 1, "--seeds must be at least 1");
    let modes = a
        .modes
        .iter()
        .map(|m| match m.trim() {
            "probe" | "linear-probe" => Ok(Mode::Probe),
            "finetune" | "fine-tune" => Ok(Mode::Finetune),
            other => anyhow::bail!("invalid --modes entry `{other}` (expected probe, finetune)"),
        })
        .collect::<Result<Vec<_>>>()?;
    let arch = tiny_backbone();
    let mut probe = ClassifyConfig::probe("random", arch.clone());
    apply_common(&mut probe, &a.common);
    let mut ft_common = a.common.clone();
    ft_common.epochs = a.finetune_epochs;
    ft_common.lr = None;
    ft_common.schedule = None;
    ft_common.milestones = None;
    let mut ft = ClassifyConfig::finetune("random", arch);
    apply_common(&mut ft, &ft_common);
    apply_finetune(&mut ft, &a.finetune);
    probe.validate()?;
    ft.validate()?;
    let cfg = CompareConfig {
        inits,
        seeds: a.seeds,
        modes,
        probe,
        finetune: ft,
        overrides: a.common.shape.overrides()?,
    };
    let table = compare(&cfg, &options(&a.common, &a.out))?;
    println!("{}", table.markdown());
    println!("written: {}", a.out.join("comparison.md").display());
    Ok(())
}
