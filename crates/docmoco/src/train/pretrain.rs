//! The MoCo v1/v2 pre-training loop (burn's custom-training-loop pattern).
//!
//! Per step: two augmented views → [`Moco::forward`] (momentum update, keys, queries, InfoNCE,
//! enqueue) → backward → SGD. Around it: lr schedule, NaN guard, `metrics.csv`, progress bar,
//! periodic kNN monitor, atomic checkpoints, exact resume, and the final export of the query
//! backbone as `backbone.safetensors`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::checkpoint::{self, Checkpoint, CheckpointMeta, TrainPosition};
use super::config::PretrainConfig;
use super::data::{self, KnnData};
use super::diagnose::{Diagnosis, FrozenProbe};
use super::metrics::{start_run_files, MetricRow};
use super::progress::Progress;
use crate::device;
use crate::model::weights::save_torchvision;
use crate::optim::Sgd;
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
    /// The last shortcut/collapse diagnostic (MoCo v1/v2 with `train.diag_every > 0`).
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
    pub plain: Device,
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
    let plain = device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
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
    let RunSetup {
        out,
        ckpt_dir,
        plain,
        train_dev,
        resume_from,
        pages,
    } = setup_run(cfg, opts)?;
    let out = &out;
    let seed = cfg.train.seed;
    // A queue longer than the data set holds stale keys of the query's own page among its
    // "negatives" (issue 9's secondary failure): cap K at the number of pages, and say so.
    // The capped value is what config.toml records, so a resumed run agrees with it.
    let mut capped = cfg.clone();
    if cfg.moco.queue_size == 0 {
        let k = (pages.len() / 2).max(cfg.train.batch_size);
        capped.moco.queue_size = k;
        if !opts.quiet {
            eprintln!(
                "queue size K = {k}: half the {} pages (moco.queue_size = 0), so a query's own stale keys rarely crowd its negatives",
                pages.len()
            );
        }
    } else if cfg.moco.queue_size > pages.len() {
        capped.moco.queue_size = pages.len();
        eprintln!(
            "note: queue size K = {} exceeds the {} pages (a query would meet stale keys of its own page among the negatives): K capped to {}",
            cfg.moco.queue_size,
            pages.len(),
            pages.len()
        );
    }
    let cfg = &capped;
    let loader = data::two_view_loader(&pages, cfg)?;
    let steps_per_epoch = loader.batches_per_epoch();
    let knn = match &cfg.data.knn_dir {
        Some(dir) if cfg.train.knn_every > 0 => Some(KnnData::open(dir, cfg, opts.quiet)?),
        _ => None,
    };
    let probe = if cfg.train.diag_every > 0 {
        Some(FrozenProbe::new(&pages, cfg, cfg.train.diag_pages)?)
    } else {
        None
    };
    let mut diagnosis: Option<Diagnosis> = None;

    // Model, optimiser, position.
    let encoder_cfg = cfg.encoder_config();
    let mut moco = Moco::new(&encoder_cfg, cfg.moco.clone(), seed, &train_dev, &plain);
    let mut sgd = Sgd::new(cfg.optim.clone());
    let mut pos = TrainPosition {
        step: 0,
        epoch: 0,
        step_in_epoch: 0,
    };
    let mut best_knn = None;
    if let Some(path) = resume_from {
        let template_k = key_encoder_from(&moco.encoder_q, &encoder_cfg, &plain);
        let ck = checkpoint::load(&path, moco.encoder_q.clone(), template_k, &plain)?;
        moco.encoder_q = ck.encoder_q;
        moco.encoder_k = ck.encoder_k;
        moco.queue = KeyQueue::from_parts(ck.queue, ck.meta.queue_ptr, ck.meta.queue_ids);
        sgd.buffers = ck.sgd_buffers;
        pos = ck.meta.position;
        best_knn = ck.meta.best_knn;
        if !opts.quiet {
            eprintln!("resuming from {} (step {})", path.display(), pos.step);
        }
    }
    let config_toml = cfg.to_toml();
    let mut metrics = start_run_files(out, &config_toml, opts.resume.then_some(pos.step))?;

    let epochs = cfg.train.epochs;
    let total_steps = cfg
        .train
        .max_steps
        .unwrap_or(usize::MAX)
        .min(epochs * steps_per_epoch);
    let progress = Progress::new(total_steps, pos.step, opts.quiet);
    let mut knn_history = Vec::new();
    let mut last_loss = f64::NAN;
    let mut epoch_loss = (0.0, 0usize);
    let mut epoch_acc = (0.0, 0usize);
    let mut best_epoch = None;
    let mut last_epoch_loss = f64::NAN;
    let mut run_steps = 0usize;
    let mut images = 0usize;
    let started = Instant::now();
    let mut interrupted = false;

    let save = |moco: &Moco, sgd: &Sgd, pos: &TrainPosition, best: Option<f64>| -> Result<()> {
        let ck = Checkpoint {
            encoder_q: moco.encoder_q.clone(),
            encoder_k: moco.encoder_k.clone(),
            queue: moco.queue.keys.clone(),
            sgd_buffers: sgd.buffers.clone(),
            meta: CheckpointMeta {
                position: pos.clone(),
                queue_ptr: moco.queue.ptr,
                config_toml: config_toml.clone(),
                best_knn: best,
                queue_ids: Some(moco.queue.ids.clone()),
            },
        };
        checkpoint::save(&ckpt_dir, &ck, cfg.train.keep_checkpoints)?;
        Ok(())
    };

    // kNN accuracy of the initial (random) weights: the baseline every later value is read
    // against.
    if let (Some(k), 0) = (&knn, pos.step) {
        let acc = k.accuracy(&moco.encoder_q.backbone, cfg)?;
        progress.message(&format!(
            "epoch 0 (random init): kNN accuracy {:.1}%",
            acc * 100.0
        ));
        knn_history.push((0, acc));
        metrics.write(&MetricRow {
            kind: "epoch",
            epoch: 0,
            step: 0,
            loss: f64::NAN,
            instance_acc: f64::NAN,
            lr: cfg.schedule.lr_at_epoch(0, epochs),
            img_per_s: 0.0,
            knn_acc: Some(acc),
            ..Default::default()
        })?;
    }

    'epochs: while pos.epoch < epochs && pos.step < total_steps {
        let epoch = pos.epoch;
        let lr_epoch_start = pos.step_in_epoch;
        for batch in loader.epoch_iter(epoch as u64, lr_epoch_start)? {
            let lr = cfg
                .schedule
                .lr_at(epoch, pos.step_in_epoch, steps_per_epoch, epochs);
            let n = batch.query.n;
            let im_q = to_tensor(
                batch.query.images,
                n,
                batch.query.height,
                batch.query.width,
                &train_dev,
            );
            let im_k = to_tensor(
                batch.key.images,
                n,
                batch.key.height,
                batch.key.width,
                &plain,
            );
            let mut rng = step_rng(seed, pos.step);
            let queue_filled = moco.queue.is_filled();
            let output = moco.forward_pages(im_q, im_k, Some(&batch.query.indices), &mut rng);
            let loss = output.loss.clone().inner().into_scalar::<f32>() as f64;
            if !loss.is_finite() {
                bail!(
                    "loss is {loss} at step {} (epoch {epoch}, lr {lr:.3e}): training diverged; lower --lr or check the data",
                    pos.step
                );
            }
            let grads = output.loss.backward();
            let grads = GradientsParams::from_grads(grads, &moco.encoder_q);
            moco.encoder_q = sgd.step(moco.encoder_q.clone(), grads, lr);

            pos.step += 1;
            pos.step_in_epoch += 1;
            run_steps += 1;
            images += n;
            last_loss = loss;
            epoch_loss.0 += loss;
            epoch_loss.1 += 1;
            if queue_filled {
                epoch_acc.0 += output.instance_accuracy;
                epoch_acc.1 += 1;
            }
            let sims = output.similarities;
            let rate = images as f64 / started.elapsed().as_secs_f64().max(1e-9);
            progress.step(pos.step, epoch, loss, output.instance_accuracy, lr, rate);
            if pos.step.is_multiple_of(cfg.train.log_every.max(1)) {
                metrics.write(&MetricRow {
                    kind: "step",
                    epoch,
                    step: pos.step,
                    loss,
                    instance_acc: output.instance_accuracy,
                    lr,
                    img_per_s: rate,
                    knn_acc: None,
                    cos_pos: Some(sims.pos),
                    cos_neg: Some(sims.neg),
                    cos_stale: sims.stale,
                    ..Default::default()
                })?;
            }
            let end_of_epoch = pos.step_in_epoch >= steps_per_epoch;
            if end_of_epoch {
                pos.epoch += 1;
                pos.step_in_epoch = 0;
            }
            if cfg.train.checkpoint_every > 0
                && pos.step.is_multiple_of(cfg.train.checkpoint_every)
                && !end_of_epoch
            {
                save(&moco, &sgd, &pos, best_knn)?;
            }
            if opts.interrupt_after.is_some_and(|k| run_steps >= k) {
                save(&moco, &sgd, &pos, best_knn)?;
                interrupted = true;
                break 'epochs;
            }
            if pos.step >= total_steps {
                break;
            }
        }
        // End of an epoch (or of the run).
        let finished_epoch = pos.step_in_epoch == 0;
        let mut knn_acc = None;
        if let Some(k) = &knn {
            let e = pos.epoch;
            if finished_epoch
                && (e.is_multiple_of(cfg.train.knn_every) || e == epochs || pos.step >= total_steps)
            {
                let acc = k.accuracy(&moco.encoder_q.backbone, cfg)?;
                progress.message(&format!("epoch {e}: kNN accuracy {:.1}%", acc * 100.0));
                knn_history.push((e, acc));
                if best_knn.is_none_or(|b| acc > b) {
                    // The monitor's best weights are kept: on small data MoCo can peak and
                    // then decline (issue 9), and the last epoch is not always the one to use.
                    save_torchvision(&moco.encoder_q.backbone, &out.join(BEST_BACKBONE))?;
                    best_epoch = Some(e);
                }
                best_knn = Some(best_knn.map_or(acc, |b: f64| b.max(acc)));
                knn_acc = Some(acc);
            }
        }
        let mut diag_row = None;
        if let Some(p) = &probe {
            let e = pos.epoch;
            if finished_epoch
                && (e.is_multiple_of(cfg.train.diag_every)
                    || e == epochs
                    || pos.step >= total_steps)
            {
                let train_acc = (epoch_acc.1 > 0).then(|| epoch_acc.0 / epoch_acc.1 as f64);
                let mut d = p.measure(&moco, pos.step, train_acc, &plain)?;
                // The first passes over the queue are a transient (fast-moving encoders, keys
                // of the first epoch): measured and logged, not flagged.
                let queue_passes = pos.step * cfg.train.batch_size / moco.queue.len().max(1);
                if queue_passes < SETTLE_QUEUE_PASSES {
                    d.flags = Default::default();
                }
                progress.message(&format!("epoch {e}: {}", d.summary()));
                let newly = d.flags.label() != "ok"
                    && diagnosis
                        .as_ref()
                        .is_none_or(|old| old.flags.label() != d.flags.label());
                if newly {
                    for reason in &d.flags.reasons {
                        progress.message(&format!("  warning: {reason}"));
                    }
                }
                progress.set_flag(&d.flags.label());
                diag_row = Some(d.clone());
                diagnosis = Some(d);
            }
        }
        if epoch_loss.1 > 0 {
            last_epoch_loss = epoch_loss.0 / epoch_loss.1 as f64;
        }
        metrics.write(&MetricRow {
            kind: "epoch",
            epoch: pos.epoch,
            step: pos.step,
            loss: last_epoch_loss,
            instance_acc: f64::NAN,
            lr: cfg.schedule.lr_at_epoch(epoch, epochs),
            img_per_s: images as f64 / started.elapsed().as_secs_f64().max(1e-9),
            knn_acc,
            // On epoch rows the cosine columns are the frozen diagnostic's.
            cos_pos: diag_row.as_ref().map(|d| d.frozen.pos),
            cos_neg: diag_row.as_ref().map(|d| d.queue_other),
            cos_stale: diag_row.as_ref().and_then(|d| d.queue_stale),
            frozen_acc: diag_row.as_ref().map(|d| d.frozen.instance_acc),
            spread: diag_row.as_ref().map(|d| d.spread),
            erank: diag_row.as_ref().map(|d| d.effective_rank),
            flags: diag_row.as_ref().map(|d| d.flags.label()),
        })?;
        epoch_loss = (0.0, 0);
        epoch_acc = (0.0, 0);
        save(&moco, &sgd, &pos, best_knn)?;
        if !finished_epoch {
            break;
        }
    }
    progress.finish();

    let backbone = if interrupted {
        None
    } else {
        let path = out.join("backbone.safetensors");
        save_torchvision(&moco.encoder_q.backbone, &path)?;
        Some(path)
    };
    let summary = PretrainSummary {
        steps: pos.step,
        epochs: pos.epoch,
        final_loss: last_loss,
        last_epoch_loss,
        knn: knn_history,
        images_per_second: images as f64 / started.elapsed().as_secs_f64().max(1e-9),
        pages: pages.len(),
        skipped_pages: pages.skipped(),
        backbone,
        interrupted,
        best_knn_epoch: best_epoch,
        diagnosis,
    };
    if let Err(e) = super::plot::write_curves_svg(&out.join("metrics.csv"), &out.join("curves.svg"))
    {
        eprintln!("warning: cannot draw curves.svg: {e}");
    }
    let json = serde_json::to_string_pretty(&summary)?;
    checkpoint::write_atomic(&out.join("summary.json"), json.as_bytes())?;
    Ok(summary)
}

/// The run directory's newest checkpoint, for tools that inspect runs.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    checkpoint::latest(&run_dir.join("checkpoints"))
}
