//! MoCo v1/v2 pre-training, and what every pre-training run sets up first.
//!
//! Per step: two augmented views → [`Moco::forward_pages`] (momentum update, keys, queries,
//! InfoNCE, enqueue) → backward → SGD. The loop around it (schedule, monitors, checkpoints,
//! export) is the one all MoCo versions share, in [`super::run`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use docmoco_data::loader::TwoViewBatch;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::checkpoint::{self, Checkpoint, CheckpointMeta, TrainPosition};
use super::config::PretrainConfig;
use super::data;
use super::diagnose::{Diagnosis, FrozenNets, FrozenProbe};
use super::run;
use crate::device;
use crate::model::weights::save_torchvision;
use crate::model::ResNet;
use crate::optim::Sgd;
use crate::ssl::data_parallel::DataParallel;
use crate::ssl::moco::key_encoder_from;
use crate::ssl::{KeyQueue, Moco};

/// How to run (not part of the model configuration).
#[derive(Clone, Debug, Default)]
pub struct PretrainOptions {
    pub out_dir: PathBuf,
    /// Continue from `out_dir/checkpoints/latest`.
    pub resume: bool,
    /// Hide progress bars (tests, logs).
    pub quiet: bool,
    /// Stop (as if killed) after this many steps of this invocation, without the final export.
    pub interrupt_after: Option<usize>,
}

/// What a finished run reports (also written as `summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct PretrainSummary {
    pub steps: usize,
    pub epochs: usize,
    pub final_loss: f64,
    /// Mean loss over the last epoch's steps.
    pub last_epoch_loss: f64,
    pub knn: Vec<(usize, f64)>,
    pub images_per_second: f64,
    pub pages: usize,
    pub skipped_pages: usize,
    pub backbone: Option<PathBuf>,
    pub interrupted: bool,
    /// Epoch of the best kNN accuracy, whose backbone is `backbone_best.safetensors`.
    pub best_knn_epoch: Option<usize>,
    /// The last shortcut/collapse diagnostic (with `train.diag_every > 0`).
    pub diagnosis: Option<Diagnosis>,
}

/// Diagnostic flags are raised only after the queue has been refilled this many times.
const SETTLE_QUEUE_PASSES: usize = 3;

/// The backbone of the best kNN epoch, next to `backbone.safetensors` (the last one).
pub const BEST_BACKBONE: &str = "backbone_best.safetensors";

/// Moves a framework-free batch onto `device` as `[N, 3, H, W]`.
pub fn to_tensor(images: Vec<f32>, n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(images, [n, 3, h, w]), device)
}

fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64)
}

/// What every pre-training loop (v1/v2 here, v3 in `pretrain_v3`) sets up first.
pub(crate) struct RunSetup {
    pub out: PathBuf,
    pub ckpt_dir: PathBuf,
    /// The (first) device: the model's home.
    pub plain: Device,
    /// Every device of a data-parallel run (just `plain` otherwise).
    pub devices: Vec<Device>,
    pub train_dev: Device,
    /// The checkpoint to continue from (`--resume`).
    pub resume_from: Option<PathBuf>,
    pub pages: data::Pages,
}

/// Creates the run directory, picks the devices, finds the checkpoint to resume from and
/// decodes the pages, refusing a page set smaller than one batch.
pub(crate) fn setup_run(cfg: &PretrainConfig, opts: &PretrainOptions) -> Result<RunSetup> {
    let out = opts.out_dir.clone();
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create run dir {}", out.display()))?;
    let ckpt_dir = out.join("checkpoints");
    let devices =
        device::select_all(&cfg.train.device, &cfg.train.devices).map_err(anyhow::Error::msg)?;
    let plain = devices[0].clone();
    let train_dev = plain.clone().autodiff();
    let resume_from = checkpoint::resume_point(&ckpt_dir, opts.resume)?;
    let data_dir = cfg
        .data
        .dir
        .clone()
        .context("no data folder: pass --data DIR (or set data.dir in the config)")?;
    let pages = data::open_pages(&data_dir, data::cache_long_side(cfg), opts.quiet)?;
    if pages.len() < cfg.train.batch_size {
        bail!(
            "{}: {} usable pages, fewer than the batch size {} (drop_last would leave no batch)",
            data_dir.display(),
            pages.len(),
            cfg.train.batch_size
        );
    }
    Ok(RunSetup {
        out,
        ckpt_dir,
        plain,
        devices,
        train_dev,
        resume_from,
        pages,
    })
}

/// Runs (or resumes) a pre-training run described by `cfg` into `opts.out_dir`.
pub fn pretrain(cfg: &PretrainConfig, opts: &PretrainOptions) -> Result<PretrainSummary> {
    if cfg.v3.is_some() {
        return super::pretrain_v3::pretrain_v3(cfg, opts);
    }
    cfg.validate()?;
    let setup = setup_run(cfg, opts)?;
    let cfg = &capped_queue(cfg, setup.pages.len(), opts.quiet);
    let (mut method, start) = MocoMethod::new(cfg, &setup)?;
    run::run(cfg, opts, &setup, &mut method, start)
}

/// The configuration with K fitted to the data. A queue longer than the data set holds stale
/// keys of the query's own page among its "negatives" (issue 9's secondary failure): K is
/// capped at the number of pages, and the capping is said. `queue_size = 0` means half the
/// pages. The result is what config.toml records, so a resumed run agrees with it.
fn capped_queue(cfg: &PretrainConfig, pages: usize, quiet: bool) -> PretrainConfig {
    let mut capped = cfg.clone();
    if cfg.moco.queue_size == 0 {
        let k = (pages / 2).max(cfg.train.batch_size);
        capped.moco.queue_size = k;
        if !quiet {
            eprintln!(
                "queue size K = {k}: half the {pages} pages (moco.queue_size = 0), so a query's own stale keys rarely crowd its negatives"
            );
        }
    } else if cfg.moco.queue_size > pages {
        capped.moco.queue_size = pages;
        eprintln!(
            "note: queue size K = {} exceeds the {pages} pages (a query would meet stale keys of its own page among the negatives): K capped to {pages}",
            cfg.moco.queue_size
        );
    }
    capped
}

/// MoCo v1/v2 as the shared loop drives it: the model with its queue, SGD, and the frozen
/// diagnostic's fixed sample.
struct MocoMethod {
    moco: Moco,
    sgd: Sgd,
    /// Set when the run has several devices.
    parallel: Option<DataParallel>,
    probe: Option<FrozenProbe>,
    plain: Device,
    train_dev: Device,
    seed: u64,
    batch_size: usize,
    checkpoints: run::CheckpointTarget,
}

impl MocoMethod {
    /// A fresh model, or the checkpoint `setup` resumes from.
    fn new(cfg: &PretrainConfig, setup: &RunSetup) -> Result<(Self, run::Start)> {
        let encoder_cfg = cfg.encoder_config();
        let (plain, train_dev) = (&setup.plain, &setup.train_dev);
        let mut moco = Moco::new(
            &encoder_cfg,
            cfg.moco.clone(),
            cfg.train.seed,
            train_dev,
            plain,
        );
        let mut sgd = Sgd::new(cfg.optim.clone());
        let mut start = run::Start::fresh();
        if let Some(path) = &setup.resume_from {
            let template_k = key_encoder_from(&moco.encoder_q, &encoder_cfg, plain);
            let ck = checkpoint::load(path, moco.encoder_q.clone(), template_k, plain)?;
            moco.encoder_q = ck.encoder_q;
            moco.encoder_k = ck.encoder_k;
            moco.queue = KeyQueue::from_parts(ck.queue, ck.meta.queue_ptr, ck.meta.queue_ids);
            sgd.buffers = ck.sgd_buffers;
            start = run::Start {
                position: ck.meta.position,
                best_knn: ck.meta.best_knn,
            };
        }
        let probe = FrozenProbe::for_run(&setup.pages, cfg)?;
        let parallel = if setup.devices.len() > 1 {
            Some(
                DataParallel::new(&encoder_cfg, setup.devices.clone())
                    .map_err(anyhow::Error::msg)?,
            )
        } else {
            None
        };
        let method = MocoMethod {
            moco,
            sgd,
            parallel,
            probe,
            plain: plain.clone(),
            train_dev: train_dev.clone(),
            seed: cfg.train.seed,
            batch_size: cfg.train.batch_size,
            checkpoints: run::CheckpointTarget::new(cfg, setup),
        };
        Ok((method, start))
    }
}

impl run::Method for MocoMethod {
    type Backbone = ResNet;

    fn step(&mut self, batch: TwoViewBatch, ctx: &run::StepContext) -> Result<run::StepStats> {
        let (q, k) = (batch.query, batch.key);
        let im_k = to_tensor(k.images, k.n, k.height, k.width, &self.plain);
        let mut rng = step_rng(self.seed, ctx.step);
        let queue_filled = self.moco.queue.is_filled();
        let (loss, grads, instance_accuracy, similarities) = match &mut self.parallel {
            Some(dp) => {
                let im_q = to_tensor(q.images, q.n, q.height, q.width, &self.plain);
                let s = dp.forward_backward(&mut self.moco, im_q, im_k, Some(&q.indices), &mut rng);
                ctx.check_loss(s.loss)?;
                (s.loss, s.grads, s.instance_accuracy, s.similarities)
            }
            None => {
                let im_q = to_tensor(q.images, q.n, q.height, q.width, &self.train_dev);
                let out = self
                    .moco
                    .forward_pages(im_q, im_k, Some(&q.indices), &mut rng);
                let loss = out.loss.clone().inner().into_scalar::<f32>() as f64;
                ctx.check_loss(loss)?;
                let grads = GradientsParams::from_grads(out.loss.backward(), &self.moco.encoder_q);
                (loss, grads, out.instance_accuracy, out.similarities)
            }
        };
        self.moco.encoder_q = self.sgd.step(self.moco.encoder_q.clone(), grads, ctx.lr);
        Ok(run::StepStats {
            loss,
            instance_accuracy,
            accuracy_counts: queue_filled,
            similarities: Some(similarities),
        })
    }

    fn backbone(&self) -> &ResNet {
        &self.moco.encoder_q.backbone
    }

    fn export_backbone(&self, path: &Path) -> Result<()> {
        save_torchvision(&self.moco.encoder_q.backbone, path)?;
        Ok(())
    }

    fn save_checkpoint(&self, pos: &TrainPosition, best_knn: Option<f64>) -> Result<()> {
        let ck = Checkpoint {
            encoder_q: self.moco.encoder_q.clone(),
            encoder_k: self.moco.encoder_k.clone(),
            queue: self.moco.queue.keys.clone(),
            sgd_buffers: self.sgd.buffers.clone(),
            meta: CheckpointMeta {
                position: pos.clone(),
                queue_ptr: self.moco.queue.ptr,
                config_toml: self.checkpoints.config_toml.clone(),
                best_knn,
                queue_ids: Some(self.moco.queue.ids.clone()),
            },
        };
        checkpoint::save(&self.checkpoints.dir, &ck, self.checkpoints.keep)?;
        Ok(())
    }

    fn diagnose(
        &mut self,
        pos: &TrainPosition,
        train_acc: Option<f64>,
    ) -> Result<Option<Diagnosis>> {
        let Some(probe) = &self.probe else {
            return Ok(None);
        };
        // The first passes over the queue are a transient (fast-moving encoders, keys of the
        // first epoch): measured and logged, not flagged.
        let queue_passes = pos.step * self.batch_size / self.moco.queue.len().max(1);
        let flag = queue_passes >= SETTLE_QUEUE_PASSES;
        let nets = FrozenNets::moco(&self.moco);
        probe
            .measure(&nets, pos.step, train_acc, flag, &self.plain)
            .map(Some)
    }
}

/// The run directory's newest checkpoint, for tools that inspect runs.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    checkpoint::latest(&run_dir.join("checkpoints"))
}
