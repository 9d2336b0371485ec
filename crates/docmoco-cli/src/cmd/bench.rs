//! `docmoco bench`: throughput of the training step, the key encoder, feature extraction and
//! the data loader, with peak memory. Compare with `tools/bench_torch.py` (same workloads).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use docmoco::bench::{
    conv_passes, detect_infer, detect_step, feature_extraction, key_forward, peak_rss_mb,
    pretrain_step, BenchResult,
};
use docmoco::model::ResNetArch;
use docmoco::tasks::detect::config::DetectConfig;
use docmoco::tasks::init::tiny_backbone;
use docmoco::train::{data, PretrainConfig};
use docmoco_data::augment::TwoViews;
use docmoco_data::{Loader, LoaderConfig, PageCache};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// MoCo v2 pre-training: step, key-encoder forward, eval features, loader alone.
    Pretrain(PretrainBench),
    /// DBNet text-line detection: training step and page inference.
    Detect(DetectBench),
    /// docmoco's CPU convolution kernels alone: forward, weight-gradient and input-gradient
    /// passes of ResNet-18's stem, of one 3x3 convolution per stage and of the stage boundaries'
    /// stride-2 convolutions, in ms and GFLOP/s as im2col counts them (run again with DOCMOCO_MATMUL=avx2 to compare the matrix-kernel families).
    Conv(ConvBench),
}

#[derive(Args, Debug)]
pub struct ConvBench {
    /// Input side (px) of the network the layers come from.
    #[arg(long, default_value_t = 112)]
    pub image_size: usize,
    /// Images per pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Width multiplier of the backbone.
    #[arg(long, default_value_t = 1.0)]
    pub width_mult: f64,
    /// Timed iterations per pass (after 2 warm-up ones).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Also time DBNet's FPN neck of this width on that backbone (`bench detect`'s network is
    /// `--image-size 256 --batch-size 8 --width-mult 0.25 --fpn-channels 64`): its lateral 1×1
    /// (`fpn-inK`) and 3×3 (`fpn-outK`) convolutions, listed after the ResNet layers.
    #[arg(long)]
    pub fpn_channels: Option<usize>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DetectBench {
    /// Width multiplier of the ResNet-18 backbone.
    #[arg(long, default_value_t = 0.25)]
    pub width_mult: f64,
    /// Training crop side (px, multiple of 32).
    #[arg(long, default_value_t = 256)]
    pub crop_size: usize,
    /// Crops per step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// FPN width.
    #[arg(long, default_value_t = 64)]
    pub inner_channels: usize,
    /// Inference page long side (px).
    #[arg(long, default_value_t = 1536)]
    pub infer_size: u32,
    /// Timed iterations per workload (after 2 warm-up ones).
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// Only these workloads (step, infer); default both.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Compute device: cpu (default), or wgpu / cuda in a build with that feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Run convolutions, batch norms, max pools and parameter updates with burn's own kernels
    /// instead of docmoco's CPU kernels (to compare).
    #[arg(long)]
    pub burn_conv: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PretrainBench {
    /// Backbone: resnet18, resnet34, resnet50.
    #[arg(long, default_value = "resnet18")]
    pub arch: String,
    /// Width multiplier of the backbone.
    #[arg(long, default_value_t = 1.0)]
    pub width_mult: f64,
    /// 3x3 stride-1 stem without max-pool.
    #[arg(long)]
    pub small_stem: bool,
    /// Input side (px).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Negative keys K in the queue.
    #[arg(long, default_value_t = 4096)]
    pub queue_size: usize,
    /// BatchNorm sub-batches (shuffle-BN on one device).
    #[arg(long, default_value_t = 8)]
    pub bn_splits: usize,
    /// Data-parallel training step over these devices, comma-separated (e.g. cpu,cpu).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Timed iterations per workload (after 2 warm-up ones).
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// Pages for the loader benchmark (default: generated pages).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Loader worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Only these workloads (step, key, features, loader); default all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Compute device: cpu (default), or wgpu / cuda in a build with that feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Run convolutions, batch norms, max pools and parameter updates with burn's own kernels
    /// instead of docmoco's CPU kernels (to compare).
    #[arg(long)]
    pub burn_conv: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn print(r: &BenchResult, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    } else {
        println!(
            "{:<58} {:>9.1} img/s  {:>8.1} ms/iter  peak RSS {}",
            r.workload,
            r.images_per_second,
            r.seconds_per_iter * 1e3,
            r.peak_rss_mb
                .map(|m| format!("{m:.0} MB"))
                .unwrap_or_else(|| "?".into())
        );
    }
}

pub fn run(a: BenchArgs) -> Result<()> {
    match a.what {
        BenchWhat::Pretrain(b) => pretrain(b),
        BenchWhat::Detect(b) => detect(b),
        BenchWhat::Conv(b) => conv(b),
    }
}

fn conv(b: ConvBench) -> Result<()> {
    if b.image_size < 8 || b.batch_size == 0 || b.width_mult.is_nan() || b.width_mult <= 0.0 {
        anyhow::bail!(
            "`--image-size` must be at least 8, `--batch-size` and `--width-mult` positive"
        );
    }
    if b.fpn_channels == Some(0) {
        anyhow::bail!("`--fpn-channels` must be positive");
    }
    let net = (b.width_mult, b.fpn_channels);
    let results = conv_passes(b.image_size, b.batch_size, net, 2, b.iters);
    if !b.json {
        let fpn = b
            .fpn_channels
            .map_or(String::new(), |c| format!(" + DBNet FPN {c}"));
        println!(
            "docmoco bench conv: ResNet-18 x{}{fpn} at {} px, batch {}, matrix kernels up to {}",
            b.width_mult,
            b.image_size,
            b.batch_size,
            results.first().map_or("?", |r| r.family.as_str())
        );
    }
    for r in &results {
        if b.json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        } else {
            println!(
                "{:<12} {:<12} {:>9.2} ms  {:>7.1} GFLOP/s",
                r.layer, r.pass, r.milliseconds, r.gflops
            );
        }
    }
    Ok(())
}

/// The `--only` filter: whether a workload runs (all when `only` is empty). A name that is not
/// one of `known` is an error, so that a typo does not silently skip the measurement.
fn workloads<'a>(only: &'a [String], known: &[&str]) -> Result<impl Fn(&str) -> bool + 'a> {
    if let Some(bad) = only.iter().find(|o| !known.contains(&o.as_str())) {
        anyhow::bail!(
            "invalid value for `--only`: `{bad}` (expected one or more of {})",
            known.join(", ")
        );
    }
    Ok(move |w: &str| only.is_empty() || only.iter().any(|o| o == w))
}

fn detect(b: DetectBench) -> Result<()> {
    if b.burn_conv {
        docmoco::kernels::use_burn_kernels(true);
    }
    let mut model = tiny_backbone();
    model.width_mult = b.width_mult;
    let mut cfg = DetectConfig::dbnet("random", model);
    cfg.augment.crop_size = b.crop_size;
    cfg.train.batch_size = b.batch_size;
    cfg.head.inner_channels = b.inner_channels;
    cfg.infer.long_side = b.infer_size;
    cfg.train.device = b.device.clone();
    cfg.validate()?;
    let want = workloads(&b.only, &["step", "infer"])?;
    let device = docmoco::device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    if want("step") {
        print(&detect_step(&cfg, &device, 2, b.iters)?, b.json);
    }
    if want("infer") {
        print(
            &detect_infer(&cfg, &device, 1, b.iters.div_ceil(3))?,
            b.json,
        );
    }
    Ok(())
}

fn pretrain(b: PretrainBench) -> Result<()> {
    if b.burn_conv {
        docmoco::kernels::use_burn_kernels(true);
    }
    let mut cfg = PretrainConfig::preset("moco-v2")?;
    cfg.model.arch = ResNetArch::parse(&b.arch)
        .ok_or_else(|| anyhow::anyhow!("invalid value for `--arch`: `{}`", b.arch))?;
    cfg.model.width_mult = b.width_mult;
    cfg.model.small_stem = b.small_stem;
    cfg.train.image_size = b.image_size;
    cfg.train.batch_size = b.batch_size;
    cfg.moco.queue_size = b.queue_size;
    cfg.moco.bn_splits = b.bn_splits;
    cfg.moco.momentum = 0.99;
    cfg.train.device = b.device.clone();
    cfg.train.devices = b.devices.clone();
    cfg.validate()?;
    let device = docmoco::device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    let want = workloads(&b.only, &["step", "key", "features", "loader"])?;
    if !b.json {
        println!(
            "docmoco bench pretrain ({} threads available)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    if want("step") {
        let step = pretrain_step(&cfg, &device, 2, b.iters).map_err(anyhow::Error::msg)?;
        print(&step, b.json);
    }
    if want("key") {
        print(&key_forward(&cfg, &device, 2, b.iters), b.json);
    }
    if want("features") {
        print(&feature_extraction(&cfg, &device, 2, b.iters), b.json);
    }
    if want("loader") {
        let cache = match &b.data {
            Some(dir) => data::open_pages(dir, data::cache_long_side(&cfg), true)?.cache,
            None => Arc::new(generated_pages(64, 512)?),
        };
        let views = TwoViews::from_config(&data::two_views_config(&cfg))?;
        let mut lc = LoaderConfig::pretrain(cfg.train.batch_size);
        if let Some(w) = b.workers {
            lc.workers = w;
        }
        let workers = lc.workers;
        let loader = Loader::new(cache, views, lc)?;
        let batches = loader.batches_per_epoch().min(b.iters.max(4));
        let t = Instant::now();
        let mut n = 0;
        for batch in loader.epoch_iter(0, loader.batches_per_epoch() - batches)? {
            n += batch.query.n;
        }
        let secs = t.elapsed().as_secs_f64();
        print(
            &BenchResult {
                workload: format!(
                    "loader alone (two views, {}px, {workers} workers)",
                    cfg.train.image_size
                ),
                images_per_second: n as f64 / secs,
                seconds_per_iter: secs / batches as f64,
                peak_rss_mb: peak_rss_mb(),
            },
            b.json,
        );
    }
    Ok(())
}

/// Generated pages in memory, for a loader benchmark without a data folder.
fn generated_pages(n: usize, size: u32) -> Result<PageCache> {
    let classes = docmoco_synth::DocClass::ALL;
    let pages = (0..n)
        .map(|i| {
            let page = docmoco_synth::generate_page(classes[i % classes.len()], i as u64, size)?;
            Ok(image::DynamicImage::ImageLuma8(page.image).to_rgb8())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PageCache::from_images(pages)?)
}
