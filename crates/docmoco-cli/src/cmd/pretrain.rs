//! `docmoco pretrain`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use docmoco::model::ResNetArch;
use docmoco::train::{pretrain, PretrainConfig, PretrainOptions};

/// Arguments of `docmoco pretrain`. Every override replaces one field of the preset/config.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Shipped preset: moco-v1, moco-v2, moco-v2-tiny, moco-v2-doc, moco-v3-vit, moco-v3-resnet, moco-v3-doc.
    #[arg(long, default_value = "moco-v2")]
    pub preset: String,
    /// A TOML configuration file (same layout as RUN_DIR/config.toml); replaces --preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Folder of unlabeled document images or PDFs (searched recursively).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run directory: config.toml, metrics.csv, checkpoints/, backbone.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many optimisation steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Side of the square crops fed to the network (px).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Whole-page side (px) of the kNN monitor and the diagnostic (default: --image-size).
    #[arg(long)]
    pub eval_size: Option<usize>,
    /// Backbone: resnet18, resnet34, resnet50; with MoCo v3 also vit_tiny, vit_small, vit_base
    /// (patch 16).
    #[arg(long)]
    pub arch: Option<String>,
    /// Width multiplier of the backbone (1.0 = torchvision).
    #[arg(long)]
    pub width_mult: Option<f64>,
    /// Use the 3x3 stride-1 stem without max-pool (small inputs).
    #[arg(long)]
    pub small_stem: Option<bool>,
    /// Number of negative keys K in the queue.
    #[arg(long)]
    pub queue_size: Option<usize>,
    /// Key-encoder momentum m (MoCo v3: its initial value m0).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Softmax temperature T.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// BatchNorm sub-batches for shuffle-BN on one device.
    #[arg(long)]
    pub bn_splits: Option<usize>,
    /// MoCo v3 ViT: freeze the random patch projection (true/false).
    #[arg(long)]
    pub stop_grad_patch_embed: Option<bool>,
    /// MoCo v3 ViT: back-propagate the query backbone N images at a time (0 = whole batch);
    /// large batches in little memory, same loss and gradients.
    #[arg(long)]
    pub query_chunk: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Random seed (data order, augmentation, initialisation, queue).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Labelled ImageFolder for the kNN monitor (train/ and test/ sub-folders, or split 80/20).
    #[arg(long)]
    pub knn_data: Option<PathBuf>,
    /// Run the kNN monitor every N epochs (0 = off).
    #[arg(long)]
    pub knn_every: Option<usize>,
    /// Run the frozen-encoder shortcut/collapse diagnostic every N epochs (0 = off).
    #[arg(long)]
    pub diag_every: Option<usize>,
    /// Lower bound of the random crop's area, as a fraction of the page.
    #[arg(long)]
    pub crop_min_scale: Option<f64>,
    /// Largest crop's share of the page area (default 1.0); with --cache-long-side, small
    /// crops of a large page show text near its native resolution.
    #[arg(long)]
    pub crop_max_scale: Option<f64>,
    /// Long side (px) pages are decoded and cached at (default: what the smallest crop needs).
    #[arg(long)]
    pub cache_long_side: Option<usize>,
    /// Ink-aware crops: redraw crops with less ink (non-paper pixels) than this fraction (e.g. 0.02).
    #[arg(long)]
    pub min_ink: Option<f64>,
    /// Draw the key's crop next to the query's: they share at least this fraction of the
    /// smaller crop's area (e.g. 0.3; default: independent crops, as in the reference).
    #[arg(long)]
    pub min_overlap: Option<f64>,
    /// Augmentation recipe: v1, v2, v3 or doc (v2 without hue/saturation, always grayscale).
    #[arg(long)]
    pub augment: Option<String>,
    /// Augmentation worker threads (0 = one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Checkpoint every N steps (besides every epoch end).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Compute device: cpu (default), or wgpu / cuda / cuda:N when built with that feature.
    #[arg(long)]
    pub device: Option<String>,
    /// Data parallelism over these devices, comma-separated (e.g. cpu,cpu or cuda:0,cuda:1):
    /// each computes 1/N of every batch; same numbers as one device (MoCo v1/v2).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Stop after N steps of this invocation as if killed (leaves a checkpoint to --resume).
    #[arg(long, hide = true)]
    pub interrupt_after: Option<usize>,
}

/// Builds the effective configuration: preset or file, then the overrides.
pub fn build_config(a: &PretrainArgs) -> Result<PretrainConfig> {
    let mut c = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            PretrainConfig::from_toml(&text, &path.display().to_string())?
        }
        None => PretrainConfig::preset(&a.preset)?,
    };
    if a.resume && a.config.is_none() {
        // A resumed run continues with the configuration it was started with.
        let saved = a.out.join("config.toml");
        if let Ok(text) = std::fs::read_to_string(&saved) {
            c = PretrainConfig::from_toml(&text, &saved.display().to_string())?;
        }
    }
    if let Some(v) = &a.data {
        c.data.dir = Some(v.clone());
    }
    if let Some(v) = &a.knn_data {
        c.data.knn_dir = Some(v.clone());
    }
    macro_rules! set {
        ($field:expr, $value:expr) => {
            if let Some(v) = $value {
                $field = v;
            }
        };
    }
    set!(c.train.epochs, a.epochs);
    if a.steps.is_some() {
        c.train.max_steps = a.steps;
    }
    set!(c.train.batch_size, a.batch_size);
    set!(c.train.image_size, a.image_size);
    set!(c.train.eval_size, a.eval_size);
    if let Some(name) = &a.arch {
        match (docmoco::train::config::VitParams::preset(name), c.v3.as_mut()) {
            // MoCo v3 takes a ViT preset as well as a ResNet.
            (Some(vit), Some(v3)) => {
                let stop_grad = v3.vit.as_ref().is_none_or(|v| v.stop_grad_patch_embed);
                v3.vit = Some(docmoco::train::config::VitParams {
                    stop_grad_patch_embed: stop_grad,
                    ..vit
                });
            }
            (Some(_), None) => anyhow::bail!(
                "invalid value for `--arch`: `{name}` is a ViT, which needs MoCo v3 (--preset moco-v3-vit)"
            ),
            (None, v3) => {
                c.model.arch = ResNetArch::parse(name).with_context(|| {
                    format!(
                        "invalid value for `--arch`: `{name}` (expected resnet18, resnet34, resnet50, or with MoCo v3 vit_tiny, vit_small, vit_base)"
                    )
                })?;
                if let Some(v3) = v3 {
                    v3.vit = None;
                }
            }
        }
    }
    set!(c.model.width_mult, a.width_mult);
    set!(c.model.small_stem, a.small_stem);
    set!(c.moco.queue_size, a.queue_size);
    set!(c.moco.momentum, a.momentum);
    set!(c.moco.temperature, a.temperature);
    if let Some(v3) = c.v3.as_mut() {
        set!(v3.moco.momentum, a.momentum);
        set!(v3.moco.temperature, a.temperature);
        set!(v3.moco.query_chunk, a.query_chunk);
    }
    if let Some(stop) = a.stop_grad_patch_embed {
        match c.v3.as_mut().and_then(|v3| v3.vit.as_mut()) {
            Some(vit) => vit.stop_grad_patch_embed = stop,
            None => anyhow::bail!(
                "invalid value for `--stop-grad-patch-embed`: the run has no ViT (use --preset moco-v3-vit)"
            ),
        }
    }
    if a.query_chunk.is_some() && c.v3.is_none() {
        anyhow::bail!("invalid value for `--query-chunk`: only MoCo v3 runs have one");
    }
    set!(c.moco.bn_splits, a.bn_splits);
    set!(c.schedule.base_lr, a.lr);
    set!(c.train.seed, a.seed);
    set!(c.train.knn_every, a.knn_every);
    set!(c.train.diag_every, a.diag_every);
    if a.crop_max_scale.is_some() {
        c.augment.crop_max_scale = a.crop_max_scale;
    }
    set!(c.train.cache_long_side, a.cache_long_side);
    if a.crop_min_scale.is_some() {
        c.augment.crop_min_scale = a.crop_min_scale;
    }
    if a.min_ink.is_some() {
        c.augment.min_ink = a.min_ink;
    }
    if a.min_overlap.is_some() {
        c.augment.min_overlap = a.min_overlap;
    }
    if let Some(p) = &a.augment {
        c.augment.preset = p.clone();
    }
    set!(c.train.workers, a.workers);
    set!(c.train.checkpoint_every, a.checkpoint_every);
    if let Some(d) = &a.device {
        c.train.device = d.clone();
    }
    if !a.devices.is_empty() {
        c.train.devices = a.devices.clone();
    }
    c.validate()?;
    Ok(c)
}

pub fn run(a: PretrainArgs) -> Result<()> {
    let cfg = build_config(&a)?;
    let summary = pretrain(
        &cfg,
        &PretrainOptions {
            out_dir: a.out.clone(),
            resume: a.resume,
            quiet: a.quiet,
            interrupt_after: a.interrupt_after,
        },
    )?;
    if summary.interrupted {
        println!(
            "stopped after step {} (checkpoint in {}); continue with --resume",
            summary.steps,
            a.out.join("checkpoints").display()
        );
        return Ok(());
    }
    println!(
        "done: {} steps, {} epochs, final loss {:.4} (last-epoch mean {:.4}), {:.1} img/s",
        summary.steps,
        summary.epochs,
        summary.final_loss,
        summary.last_epoch_loss,
        summary.images_per_second
    );
    for (epoch, acc) in &summary.knn {
        println!("  kNN accuracy after epoch {epoch}: {:.1}%", acc * 100.0);
    }
    if let Some(b) = &summary.backbone {
        println!("backbone: {}", b.display());
    }
    println!("metrics: {}", a.out.join("metrics.csv").display());
    Ok(())
}
