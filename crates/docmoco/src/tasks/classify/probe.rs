//! Linear probe: a linear classifier on the frozen backbone's pooled features
//! (`main_lincls.py`).
//!
//! The backbone runs in eval mode (BatchNorm uses its running statistics and never updates
//! them) and on the plain device, so no gradient can reach it. Without augmentation every
//! page's features are computed once and the head trains on the cache — hundreds of epochs
//! cost less than one backbone pass. With augmentation the features of fresh views are
//! computed each epoch. As in the reference's `sanity_check`, the saved model is read back
//! and its backbone compared, tensor by tensor, with the initial weights.

use std::time::Instant;

use anyhow::{bail, Result};
use burn::module::Module;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use docmoco_data::loader::Views;
use docmoco_data::{Batch, Loader};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::{ClassifyConfig, Mode};
use super::data::{eval_loader, train_loader};
use super::metrics::argmax;
use super::model::{cross_entropy, new_head, to_rows, Classifier};
use super::report::{EpochRecord, RunReport};
use super::run::{finish, prepare, summary_line, ClassifyOptions, TrainOutcome};
use crate::device;
use crate::model::params::{map_named, named_tensors, without_autodiff};
use crate::model::{Backbone, FeatureExtractor};
use crate::optim::{ScheduleConfig, Sgd, SgdParams};
use crate::tasks::init::{load_backbone, Init};
use crate::train::pretrain::to_tensor;

/// Every float tensor of a backbone (parameters and BN running statistics), by path.
pub type Snapshot = Vec<(String, Vec<f32>)>;

/// Values of every tensor of `backbone`.
pub fn snapshot(backbone: &Backbone) -> Result<Snapshot> {
    named_tensors(backbone)
        .into_iter()
        .map(|(p, t)| {
            let v = t
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("read-back of {p}: {e:?}"))?;
            Ok((p, v))
        })
        .collect()
}

/// The reference's `sanity_check`: every backbone tensor of `after` equals `before` exactly.
/// The error names the first tensor that moved and by how much.
pub fn check_frozen(before: &Snapshot, after: &Classifier) -> Result<()> {
    let now = snapshot(&after.backbone)?;
    if now.len() != before.len() {
        bail!(
            "frozen-backbone check: {} tensors before, {} after",
            before.len(),
            now.len()
        );
    }
    for ((p0, v0), (p1, v1)) in before.iter().zip(&now) {
        if p0 != p1 || v0.len() != v1.len() {
            bail!("frozen-backbone check: tensor {p0} became {p1}");
        }
        let diff = v0
            .iter()
            .zip(v1)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        if diff != 0.0 {
            bail!("frozen-backbone check failed: {p0} changed during the linear probe (max |Δ| = {diff:e})");
        }
    }
    Ok(())
}

/// Pooled features `[N, D]` (row-major) and labels of every batch of `loader`.
fn features<V: Views<Batch = Batch>>(
    backbone: &Backbone,
    loader: &Loader<V>,
    epoch: u64,
    device: &Device,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let (mut f, mut l) = (Vec::new(), Vec::new());
    for batch in loader.epoch_iter(epoch, 0)? {
        let x = to_tensor(batch.images, batch.n, batch.height, batch.width, device);
        for row in to_rows(backbone.forward_features(x))? {
            f.extend(row);
        }
        l.extend(batch.labels);
    }
    Ok((f, l))
}

/// Per-dimension mean and standard deviation of `[N, D]` features.
pub fn feature_stats(f: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (f.len() / dim.max(1)).max(1) as f64;
    let mut mean = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for row in f.chunks_exact(dim) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0) + 1e-5).sqrt() as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

fn standardize(f: &mut [f32], mean: &[f32], std: &[f32]) {
    let d = mean.len();
    for row in f.chunks_exact_mut(d) {
        for j in 0..d {
            row[j] = (row[j] - mean[j]) / std[j];
        }
    }
}

/// Folds `(x - mean) / std` into the linear layer, so the saved `fc` takes raw features:
/// `W' = W / std` (per input row of burn's `[in, out]` weight), `b' = b - (mean / std)·W`.
pub fn fold_standardization(head: Linear, mean: &[f32], std: &[f32], device: &Device) -> Linear {
    let d = mean.len();
    let head = without_autodiff(head).to_device(device);
    let w: Tensor<2> = head.weight.val();
    let k = w.dims()[1];
    let inv: Vec<f32> = std.iter().map(|s| 1.0 / s).collect();
    let shift: Vec<f32> = mean.iter().zip(&inv).map(|(m, i)| m * i).collect();
    let inv = Tensor::<2>::from_data(TensorData::new(inv, [d, 1]), device);
    let shift = Tensor::<2>::from_data(TensorData::new(shift, [1, d]), device);
    let w_new = w.clone().mul(inv);
    let b_delta = shift.matmul(w).reshape([k]);
    map_named(head, None, |p| match p.path {
        "weight" => Some(w_new.clone().reshape([d * k])),
        "bias" => Some(p.value - b_delta.clone()),
        _ => None,
    })
}

/// Trains and evaluates a linear probe described by `cfg`; writes the run into
/// `opts.out_dir`.
pub fn linear_probe(cfg: &ClassifyConfig, opts: &ClassifyOptions) -> Result<RunReport> {
    cfg.validate()?;
    if cfg.mode != Mode::Probe {
        bail!("linear_probe needs a configuration with mode = \"probe\"");
    }
    let init: Init = cfg.init.parse()?;
    let plain = device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    let train_dev = plain.clone().autodiff();
    let started = Instant::now();
    let data = prepare(cfg, opts, false)?;
    let loaded = load_backbone(
        &init,
        &cfg.model,
        cfg.input.size as usize,
        cfg.train.seed,
        &plain,
    )?;
    // Eval mode: running statistics are used and never updated.
    let backbone = loaded.backbone.valid();
    let before = snapshot(&backbone)?;
    let (bs, workers, seed) = (cfg.train.batch_size, cfg.train.workers, cfg.train.seed);
    let dim = backbone.feature_dim();
    let k = data.classes.len();

    let clean = eval_loader(&data.train, &cfg.input, bs, workers)?;
    let (cached, labels) = features(&backbone, &clean, 0, &plain)?;
    let (mean, std) = if cfg.train.standardize {
        feature_stats(&cached, dim)
    } else {
        (vec![0.0; dim], vec![1.0; dim])
    };
    let augmented = if cfg.augment.enabled {
        Some(train_loader(
            &data.train,
            &cfg.input,
            &cfg.augment,
            bs,
            workers,
            seed,
        )?)
    } else {
        None
    };

    let mut head = new_head(dim, k, &train_dev);
    let mut sgd = Sgd::new(SgdParams {
        momentum: cfg.optim.momentum,
        weight_decay: cfg.optim.weight_decay,
    });
    let schedule = ScheduleConfig {
        base_lr: cfg.optim.lr,
        schedule: cfg.optim.schedule.clone(),
        warmup_epochs: cfg.optim.warmup_epochs,
    };
    let epochs = cfg.train.epochs;
    let mut history = Vec::with_capacity(epochs);
    let bar = crate::train::progress::counter(epochs, "linear probe epochs", opts.quiet);
    for epoch in 0..epochs {
        let (mut f, l) = match &augmented {
            Some(loader) => features(&backbone, loader, epoch as u64, &plain)?,
            None => (cached.clone(), labels.clone()),
        };
        standardize(&mut f, &mean, &std);
        let n = l.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            seed ^ ((epoch as u64) << 20),
        ));
        let steps = n.div_ceil(bs);
        let (mut loss_sum, mut correct, mut lr) = (0.0, 0usize, 0.0);
        for (s, chunk) in order.chunks(bs).enumerate() {
            lr = schedule.lr_at(epoch, s, steps, epochs);
            let mut xb = Vec::with_capacity(chunk.len() * dim);
            for &i in chunk {
                xb.extend_from_slice(&f[i * dim..(i + 1) * dim]);
            }
            let yb: Vec<usize> = chunk.iter().map(|&i| l[i]).collect();
            let x = Tensor::<2>::from_data(TensorData::new(xb, [chunk.len(), dim]), &train_dev);
            let logits = head.forward(x);
            for (row, &y) in to_rows(logits.clone().inner())?.iter().zip(&yb) {
                correct += usize::from(argmax(row) == y);
            }
            let loss = cross_entropy(logits, &yb);
            loss_sum += loss.clone().inner().into_scalar::<f32>() as f64 * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = sgd.step(head, grads, lr);
        }
        history.push(EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / n.max(1) as f64,
            train_accuracy: correct as f64 / n.max(1) as f64,
            val_accuracy: f64::NAN,
            val_loss: f64::NAN,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();

    let model = Classifier {
        backbone,
        head: fold_standardization(head, &mean, &std, &plain),
    };
    let check = |saved: &Classifier| check_frozen(&before, saved);
    let outcome = TrainOutcome {
        history,
        best_epoch: epochs,
        val_accuracy: None,
        started,
    };
    let report = finish(cfg, opts, &data, &model, outcome, Some(&check), &plain)?;
    if !opts.quiet {
        eprintln!("{}", summary_line(&report, &opts.out_dir));
    }
    Ok(report)
}
