//! The pre-training loop every MoCo version shares (burn's custom-training-loop pattern):
//! epochs and the lr schedule, the NaN guard, the progress bar, `metrics.csv`, the kNN monitor
//! (keeping the best epoch's backbone), the frozen diagnostic where the method has one, atomic
//! checkpoints, exact resume, the final backbone export and `summary.json`.
//!
//! What differs between MoCo v1/v2 (`pretrain.rs`) and v3 (`pretrain_v3.rs`) — one training
//! step, what a checkpoint holds, how the backbone is exported — sits behind [`Method`], so a
//! change to the loop (a new monitor, a new column) is made once for all of them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use docmoco_data::loader::TwoViewBatch;

use super::checkpoint::{self, TrainPosition};
use super::config::PretrainConfig;
use super::data::{self, KnnData, Pages};
use super::diagnose::Diagnosis;
use super::metrics::{start_run_files, MetricRow};
use super::pretrain::{PretrainOptions, PretrainSummary, RunSetup, BEST_BACKBONE};
use super::progress::Progress;
use crate::model::backbone::FeatureExtractor;
use crate::ssl::diagnostics::StepSimilarities;

/// Where in the schedule a step runs.
pub(crate) struct StepContext {
    /// Steps done before this one (all invocations of the run).
    pub step: usize,
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    pub lr: f64,
}

impl StepContext {
    /// The epoch as a real number (schedules that move within an epoch).
    pub fn epoch_f(&self) -> f64 {
        self.epoch as f64 + self.step_in_epoch as f64 / self.steps_per_epoch as f64
    }

    /// Refuses a non-finite loss before the update is applied, naming where it happened.
    pub fn check_loss(&self, loss: f64) -> Result<()> {
        if !loss.is_finite() {
            bail!(
                "loss is {loss} at step {} (epoch {}, lr {:.3e}): training diverged; lower --lr or check the data",
                self.step,
                self.epoch,
                self.lr
            );
        }
        Ok(())
    }
}

/// What one step reports to the loop.
pub(crate) struct StepStats {
    pub loss: f64,
    pub instance_accuracy: f64,
    /// Whether this step's instance accuracy counts towards the epoch's training accuracy that
    /// the diagnostic compares with (v1/v2: only once the queue holds real keys).
    pub accuracy_counts: bool,
    /// Per-step cosines to the positive / other pages' / own page's keys (queue methods).
    pub similarities: Option<StepSimilarities>,
}

/// One self-supervised method, as the shared loop drives it.
pub(crate) trait Method {
    /// The network the kNN monitor and the export read.
    type Backbone: FeatureExtractor;

    /// Forward, backward and one optimiser update on a batch of view pairs; the loss is
    /// checked with [`StepContext::check_loss`] before the update.
    fn step(&mut self, batch: TwoViewBatch, ctx: &StepContext) -> Result<StepStats>;

    fn backbone(&self) -> &Self::Backbone;

    /// Writes the backbone alone in the layout PyTorch users load.
    fn export_backbone(&self, path: &Path) -> Result<()>;

    /// Writes an atomic checkpoint with everything needed to resume exactly.
    fn save_checkpoint(&self, pos: &TrainPosition, best_knn: Option<f64>) -> Result<()>;

    /// The frozen shortcut/collapse diagnostic (`None` when the run measures none).
    fn diagnose(
        &mut self,
        _pos: &TrainPosition,
        _train_acc: Option<f64>,
    ) -> Result<Option<Diagnosis>> {
        Ok(None)
    }
}

/// Where and how a method writes its checkpoints.
pub(crate) struct CheckpointTarget {
    pub dir: PathBuf,
    /// The run's configuration, stored in every checkpoint.
    pub config_toml: String,
    /// How many step directories to keep.
    pub keep: usize,
}

impl CheckpointTarget {
    pub fn new(cfg: &PretrainConfig, setup: &RunSetup) -> Self {
        CheckpointTarget {
            dir: setup.ckpt_dir.clone(),
            config_toml: cfg.to_toml(),
            keep: cfg.train.keep_checkpoints,
        }
    }
}

/// Where a run starts: from scratch, or from a resumed checkpoint.
pub(crate) struct Start {
    pub position: TrainPosition,
    pub best_knn: Option<f64>,
}

impl Start {
    pub fn fresh() -> Self {
        Start {
            position: TrainPosition {
                step: 0,
                epoch: 0,
                step_in_epoch: 0,
            },
            best_knn: None,
        }
    }
}

/// Runs `method` from `start` to the end of the configured schedule (or to
/// `opts.interrupt_after`), writing everything into the run directory.
pub(crate) fn run<M: Method>(
    cfg: &PretrainConfig,
    opts: &PretrainOptions,
    setup: &RunSetup,
    method: &mut M,
    start: Start,
) -> Result<PretrainSummary> {
    let (out, pages): (&Path, &Pages) = (&setup.out, &setup.pages);
    if let (Some(path), false) = (&setup.resume_from, opts.quiet) {
        eprintln!(
            "resuming from {} (step {})",
            path.display(),
            start.position.step
        );
    }
    let loader = data::two_view_loader(pages, cfg)?;
    let steps_per_epoch = loader.batches_per_epoch();
    let knn = match &cfg.data.knn_dir {
        Some(dir) if cfg.train.knn_every > 0 => Some(KnnData::open(dir, cfg, opts.quiet)?),
        _ => None,
    };
    let Start {
        position: mut pos,
        mut best_knn,
    } = start;
    let mut metrics = start_run_files(out, &cfg.to_toml(), opts.resume.then_some(pos.step))?;

    let epochs = cfg.train.epochs;
    let total_steps = cfg
        .train
        .max_steps
        .unwrap_or(usize::MAX)
        .min(epochs * steps_per_epoch);
    let progress = Progress::new(total_steps, pos.step, opts.quiet);
    let mut knn_history = Vec::new();
    let mut diagnosis: Option<Diagnosis> = None;
    let mut last_loss = f64::NAN;
    let mut epoch_loss = (0.0, 0usize);
    let mut epoch_acc = (0.0, 0usize);
    let mut best_epoch = None;
    let mut last_epoch_loss = f64::NAN;
    let mut run_steps = 0usize;
    let mut images = 0usize;
    let started = Instant::now();
    let rate = |images: usize| images as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let mut interrupted = false;

    // kNN accuracy of the initial (random) weights: the baseline every later value is read
    // against.
    if let (Some(k), 0) = (&knn, pos.step) {
        let acc = k.accuracy(method.backbone(), cfg)?;
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
        for batch in loader.epoch_iter(epoch as u64, pos.step_in_epoch)? {
            let ctx = StepContext {
                step: pos.step,
                epoch,
                step_in_epoch: pos.step_in_epoch,
                steps_per_epoch,
                epochs,
                lr: cfg
                    .schedule
                    .lr_at(epoch, pos.step_in_epoch, steps_per_epoch, epochs),
            };
            let n = batch.query.n;
            let stats = method.step(batch, &ctx)?;

            pos.step += 1;
            pos.step_in_epoch += 1;
            run_steps += 1;
            images += n;
            last_loss = stats.loss;
            epoch_loss.0 += stats.loss;
            epoch_loss.1 += 1;
            if stats.accuracy_counts {
                epoch_acc.0 += stats.instance_accuracy;
                epoch_acc.1 += 1;
            }
            let (loss, acc, lr) = (stats.loss, stats.instance_accuracy, ctx.lr);
            progress.step(pos.step, epoch, loss, acc, lr, rate(images));
            if pos.step.is_multiple_of(cfg.train.log_every.max(1)) {
                let sims = stats.similarities;
                metrics.write(&MetricRow {
                    kind: "step",
                    epoch,
                    step: pos.step,
                    loss,
                    instance_acc: acc,
                    lr,
                    img_per_s: rate(images),
                    knn_acc: None,
                    cos_pos: sims.map(|s| s.pos),
                    cos_neg: sims.map(|s| s.neg),
                    cos_stale: sims.and_then(|s| s.stale),
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
                method.save_checkpoint(&pos, best_knn)?;
            }
            if opts.interrupt_after.is_some_and(|k| run_steps >= k) {
                method.save_checkpoint(&pos, best_knn)?;
                interrupted = true;
                break 'epochs;
            }
            if pos.step >= total_steps {
                break;
            }
        }
        // End of an epoch (or of the run).
        let finished_epoch = pos.step_in_epoch == 0;
        let e = pos.epoch;
        let due = |every: usize| {
            finished_epoch
                && every > 0
                && (e.is_multiple_of(every) || e == epochs || pos.step >= total_steps)
        };
        let mut knn_acc = None;
        if let Some(k) = knn.as_ref().filter(|_| due(cfg.train.knn_every)) {
            let acc = k.accuracy(method.backbone(), cfg)?;
            progress.message(&format!("epoch {e}: kNN accuracy {:.1}%", acc * 100.0));
            knn_history.push((e, acc));
            if best_knn.is_none_or(|b| acc > b) {
                // The monitor's best weights are kept: on small data MoCo can peak and then
                // decline (issue 9), and the last epoch is not always the one to use.
                method.export_backbone(&out.join(BEST_BACKBONE))?;
                best_epoch = Some(e);
            }
            best_knn = Some(best_knn.map_or(acc, |b: f64| b.max(acc)));
            knn_acc = Some(acc);
        }
        let mut diag_row = None;
        if due(cfg.train.diag_every) {
            let train_acc = (epoch_acc.1 > 0).then(|| epoch_acc.0 / epoch_acc.1 as f64);
            if let Some(d) = method.diagnose(&pos, train_acc)? {
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
        let d = diag_row.as_ref();
        metrics.write(&MetricRow {
            kind: "epoch",
            epoch: pos.epoch,
            step: pos.step,
            loss: last_epoch_loss,
            instance_acc: f64::NAN,
            lr: cfg.schedule.lr_at_epoch(epoch, epochs),
            img_per_s: rate(images),
            knn_acc,
            // On epoch rows the cosine columns are the frozen diagnostic's: cos(q, k−) over the
            // queue (v1/v2) or over the other pages' frozen keys (v3).
            cos_pos: d.map(|d| d.frozen.pos),
            cos_neg: d.map(|d| d.queue_other.unwrap_or(d.frozen.neg)),
            cos_stale: d.and_then(|d| d.queue_stale),
            frozen_acc: d.map(|d| d.frozen.instance_acc),
            spread: d.map(|d| d.spread),
            erank: d.map(|d| d.effective_rank),
            flags: d.map(|d| d.flags.label()),
        })?;
        epoch_loss = (0.0, 0);
        epoch_acc = (0.0, 0);
        method.save_checkpoint(&pos, best_knn)?;
        if !finished_epoch {
            break;
        }
    }
    progress.finish();

    let backbone = if interrupted {
        None
    } else {
        let path = out.join("backbone.safetensors");
        method.export_backbone(&path)?;
        Some(path)
    };
    let summary = PretrainSummary {
        steps: pos.step,
        epochs: pos.epoch,
        final_loss: last_loss,
        last_epoch_loss,
        knn: knn_history,
        images_per_second: rate(images),
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
