//! Full fine-tuning: backbone and a new linear head trained together on augmented pages.
//!
//! Separate learning rates for backbone and head: the head starts from scratch while the
//! backbone holds what pre-training learnt, and a backbone rate as high as the head's would
//! wash that out in the first epochs (the usual transfer-learning practice; the reference
//! deployment fine-tuned the same way). BatchNorm runs in train mode. Early stopping watches
//! the validation accuracy (ties broken by the validation loss) and keeps the best epoch's
//! weights; a validation split is carved from train when the data has none.

use std::time::Instant;

use anyhow::{bail, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;

use super::config::{ClassifyConfig, Mode};
use super::data::{eval_loader, train_loader, Split};
use super::metrics::argmax;
use super::model::{cross_entropy, new_head, predict_loader, to_rows, Classifier};
use super::report::{EpochRecord, RunReport};
use super::run::{finish, prepare, summary_line, ClassifyOptions, TrainOutcome};
use crate::device;
use crate::model::FeatureExtractor;
use crate::optim::{AnyOptimizer, ScheduleConfig};
use crate::tasks::init::{load_backbone, Init};
use crate::train::pretrain::to_tensor;

/// One parameter group's optimiser, as the configuration names it.
fn group_optimizer(cfg: &ClassifyConfig) -> AnyOptimizer {
    let o = &cfg.optim;
    AnyOptimizer::new(o.optimizer, o.momentum, o.weight_decay)
}

/// Accuracy and mean cross-entropy of `model` (eval mode) on a split.
fn validate(
    model: &Classifier,
    split: &Split,
    cfg: &ClassifyConfig,
    device: &Device,
) -> Result<(f64, f64)> {
    let loader = eval_loader(split, &cfg.input, cfg.train.batch_size, cfg.train.workers)?;
    let p = predict_loader(model, &loader, device)?;
    let n = p.labels.len().max(1) as f64;
    let correct = p
        .probs
        .iter()
        .zip(&p.labels)
        .filter(|(row, &y)| argmax(row) == y)
        .count();
    let loss: f64 = p
        .probs
        .iter()
        .zip(&p.labels)
        .map(|(row, &y)| -(row[y].max(1e-12) as f64).ln())
        .sum();
    Ok((correct as f64 / n, loss / n))
}

/// Fine-tunes the backbone described by `cfg` with a new head; writes the run into
/// `opts.out_dir`.
pub fn finetune(cfg: &ClassifyConfig, opts: &ClassifyOptions) -> Result<RunReport> {
    cfg.validate()?;
    if cfg.mode != Mode::Finetune {
        bail!("finetune needs a configuration with mode = \"finetune\"");
    }
    let init: Init = cfg.init.parse()?;
    let plain = device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    let train_dev = plain.clone().autodiff();
    let started = Instant::now();
    let data = prepare(cfg, opts, cfg.train.patience > 0)?;
    let loaded = load_backbone(
        &init,
        &cfg.model,
        cfg.input.size as usize,
        cfg.train.seed,
        &train_dev,
    )?;
    let head = new_head(
        loaded.backbone.feature_dim(),
        data.classes.len(),
        &train_dev,
    );
    let mut model = Classifier {
        backbone: loaded.backbone,
        head,
    };
    let (bs, seed) = (cfg.train.batch_size, cfg.train.seed);
    let loader = train_loader(
        &data.train,
        &cfg.input,
        &cfg.augment,
        bs,
        cfg.train.workers,
        seed,
    )?;
    let steps = loader.batches_per_epoch();
    // Base rate 1: the schedule gives a factor applied to both groups' base rates.
    let schedule = ScheduleConfig {
        base_lr: 1.0,
        schedule: cfg.optim.schedule.clone(),
        warmup_epochs: cfg.optim.warmup_epochs,
    };
    let mut opt_backbone = group_optimizer(cfg);
    let mut opt_head = group_optimizer(cfg);
    let epochs = cfg.train.epochs;
    let mut history = Vec::new();
    let mut best: Option<(f64, f64, usize, Classifier)> = None;
    let mut since_best = 0usize;
    let bar = crate::train::progress::counter(epochs * steps, "fine-tuning steps", opts.quiet);
    for epoch in 0..epochs {
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0.0, 0usize, 0usize, 0.0);
        for (s, batch) in loader.epoch_iter(epoch as u64, 0)?.enumerate() {
            let factor = schedule.lr_at(epoch, s, steps, epochs);
            lr = cfg.optim.lr * factor;
            let x = to_tensor(batch.images, batch.n, batch.height, batch.width, &train_dev);
            let logits = model.forward(x);
            for (row, &y) in to_rows(logits.clone().inner())?.iter().zip(&batch.labels) {
                correct += usize::from(argmax(row) == y);
            }
            let loss = cross_entropy(logits, &batch.labels);
            let value = loss.clone().inner().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                bail!("loss is {value} at epoch {} step {s} (lr {lr:.3e}): training diverged; lower --lr/--backbone-lr", epoch + 1);
            }
            loss_sum += value * batch.n as f64;
            seen += batch.n;
            let mut grads = loss.backward();
            let g_backbone = GradientsParams::from_module(&mut grads, &model.backbone);
            let g_head = GradientsParams::from_module(&mut grads, &model.head);
            if cfg.optim.backbone_lr > 0.0 {
                model.backbone =
                    opt_backbone.step(model.backbone, g_backbone, cfg.optim.backbone_lr * factor);
            }
            model.head = opt_head.step(model.head, g_head, lr);
            bar.inc(1);
        }
        let (val_acc, val_loss) = match &data.val {
            Some(v) => validate(&model, v, cfg, &plain)?,
            None => (f64::NAN, f64::NAN),
        };
        history.push(EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy: val_acc,
            val_loss,
        });
        if !opts.quiet {
            bar.suspend(|| {
                eprintln!(
                    "epoch {:>3}: train loss {:.4} acc {:.1}%  val acc {:.1}% loss {:.4}",
                    epoch + 1,
                    loss_sum / seen.max(1) as f64,
                    100.0 * correct as f64 / seen.max(1) as f64,
                    val_acc * 100.0,
                    val_loss
                )
            });
        }
        if data.val.is_none() {
            // `valid()` is a snapshot: a plain `clone()` would share burn's BatchNorm
            // running statistics (`RunningState` is reference-counted) with the model that
            // keeps training, and the saved "best" epoch would carry the last epoch's statistics.
            best = Some((val_acc, val_loss, epoch + 1, model.valid()));
            continue;
        }
        let better = match &best {
            None => true,
            Some((a, l, _, _)) => val_acc > *a || (val_acc == *a && val_loss < *l),
        };
        if better {
            best = Some((val_acc, val_loss, epoch + 1, model.valid()));
            since_best = 0;
        } else {
            since_best += 1;
            if cfg.train.patience > 0 && since_best >= cfg.train.patience {
                if !opts.quiet {
                    bar.suspend(|| {
                        eprintln!(
                            "early stop: no better validation accuracy for {} epochs",
                            cfg.train.patience
                        )
                    });
                }
                break;
            }
        }
    }
    bar.finish_and_clear();
    let Some((val_acc, _, best_epoch, best_model)) = best else {
        bail!("no epoch was run");
    };
    let final_model = best_model.valid();
    let outcome = TrainOutcome {
        history,
        best_epoch,
        val_accuracy: data.val.is_some().then_some(val_acc),
        started,
    };
    let report = finish(cfg, opts, &data, &final_model, outcome, None, &plain)?;
    if !opts.quiet {
        eprintln!("{}", summary_line(&report, &opts.out_dir));
    }
    Ok(report)
}
