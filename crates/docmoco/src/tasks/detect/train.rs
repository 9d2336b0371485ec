//! `finetune-det`: train DBNet on ICDAR-format pages, from any `--init`.
//!
//! The loop is the classification fine-tuning loop's sibling, with what detection adds:
//! steps rather than epochs (pages are cycled, each visit a new random crop), checkpoints
//! every `checkpoint_every` steps that resume exactly (the crop of sample `i` in epoch `e`
//! is a pure function of `(seed, e, i)`), and the final model exported in the reference
//! layout and evaluated on `DATA/test` when it exists.
//!
//! Run directory:
//! ```text
//! RUN/config.toml            the effective configuration
//! RUN/metrics.csv            loss (weighted total), lr, img/s per logged step
//! RUN/loss.svg               the loss curve
//! RUN/checkpoints/step-N/    model.safetensors, state.safetensors (SGD buffers), state.json
//! RUN/detector.safetensors   final weights, reference DBNet layout (see export.rs)
//! RUN/eval/                  metrics.json, res_<name>.txt, pages drawn as PNG (with a test split)
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use docmoco_det::{DetBatch, DetDataset, DetLoader, DetMetrics};

use super::config::DetectConfig;
use super::export::save_detector;
use super::infer::{evaluate_dir, Detector};
use super::loss::{db_loss, DbTargets};
use super::model::{stage_channels, DbHeadConfig, DbNet};
use crate::device;
use crate::model::params::initialize;
use crate::optim::{AnyOptimizer, ScheduleConfig};
use crate::tasks::init::{load_backbone, Init};
use crate::train::checkpoint::{
    self, load_module, read_json, read_tensors, sgd_buffers, sgd_entries, StepDirWriter,
    TrainPosition,
};
use crate::train::metrics::{start_run_files, MetricRow};
use crate::train::plot::write_loss_svg;
use crate::train::progress::Progress;

/// Where the run goes and how it talks.
#[derive(Clone, Debug)]
pub struct DetectOptions {
    /// Folder with `train/` (and optionally `test/`), each `images/` + `gt/`; or a single
    /// `images/` + `gt/` folder used for training.
    pub data_dir: PathBuf,
    pub out_dir: PathBuf,
    pub resume: bool,
    pub quiet: bool,
    /// Test pages drawn with their detections into `RUN/eval/` (0 = none).
    pub draw_pages: usize,
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct DetectSummary {
    pub steps: usize,
    pub final_loss: f64,
    pub seconds: f64,
    pub img_per_s: f64,
    /// Test-split metrics when `DATA/test` exists.
    pub test: Option<DetMetrics>,
}

/// The non-tensor part of a detection checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DetCheckpointMeta {
    position: TrainPosition,
    config_toml: String,
}

/// `DATA/train` when present, else `DATA` itself.
pub fn train_dir(data: &Path) -> PathBuf {
    let t = data.join("train");
    if t.is_dir() {
        t
    } else {
        data.to_path_buf()
    }
}

/// Builds the detector `cfg` describes on `device`, the backbone loaded from `cfg.init`.
pub fn build_detector(cfg: &DetectConfig, device: &Device) -> Result<DbNet> {
    let init: Init = cfg.init.parse()?;
    // The input size only matters to a ViT, which detection refuses just below.
    let loaded = load_backbone(&init, &cfg.model, 0, cfg.train.seed, device)?;
    let backbone = loaded.into_resnet("text-line detection (DBNet)", &init)?;
    let head = DbHeadConfig::new(stage_channels(&backbone))
        .with_inner_channels(cfg.head.inner_channels)
        .with_k(cfg.head.k)
        .init(device);
    Ok(DbNet {
        backbone,
        // Concrete values before any clone (burn's lazy parameters, see `initialize`).
        head: initialize(head),
    })
}

fn map_tensor(values: Vec<f32>, b: &DetBatch, device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, [b.n, b.height, b.width]), device)
}

fn to_tensors(b: DetBatch, device: &Device) -> (Tensor<4>, DbTargets) {
    let targets = DbTargets {
        shrink_map: map_tensor(b.shrink_map.clone(), &b, device),
        shrink_mask: map_tensor(b.shrink_mask.clone(), &b, device),
        thresh_map: map_tensor(b.thresh_map.clone(), &b, device),
        thresh_mask: map_tensor(b.thresh_mask.clone(), &b, device),
    };
    let x = Tensor::from_data(
        TensorData::new(b.images, [b.n, 3, b.height, b.width]),
        device,
    );
    (x, targets)
}

/// Trains (or resumes) the detector described by `cfg`.
pub fn finetune_det(cfg: &DetectConfig, opts: &DetectOptions) -> Result<DetectSummary> {
    cfg.validate()?;
    let out = &opts.out_dir;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create run dir {}", out.display()))?;
    let ckpt_dir = out.join("checkpoints");
    let plain = device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    let train_dev = plain.clone().autodiff();
    let resume_from = checkpoint::resume_point(&ckpt_dir, opts.resume)?;

    let dir = train_dir(&opts.data_dir);
    // Pages are kept at the largest scale a crop can ask for, so crops see full resolution.
    let cap = (cfg.augment.base_long_side as f32 * cfg.augment.scale_range.1).ceil() as u32;
    let dataset = DetDataset::load(&dir, Some(cap))
        .with_context(|| format!("cannot read detection data in {}", dir.display()))?;
    if dataset.len() < cfg.train.batch_size {
        bail!(
            "{}: {} pages, fewer than the batch size {}",
            dir.display(),
            dataset.len(),
            cfg.train.batch_size
        );
    }
    let workers = match cfg.train.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let loader = DetLoader::new(
        dataset,
        cfg.augment,
        cfg.labels,
        cfg.train.batch_size,
        cfg.train.seed,
    )?
    .with_workers(workers)?;
    let per_epoch = loader.batches_per_epoch();

    let mut model = build_detector(cfg, &train_dev)?;
    let mut optim = AnyOptimizer::new(
        cfg.optim.optimizer,
        cfg.optim.momentum,
        cfg.optim.weight_decay,
    );
    let mut pos = TrainPosition {
        step: 0,
        epoch: 0,
        step_in_epoch: 0,
    };
    if let Some(path) = &resume_from {
        let meta: DetCheckpointMeta = read_json(&path.join("state.json"))?;
        model = load_module(model, &path.join("model.safetensors"))?;
        let entries = read_tensors(&path.join("state.safetensors"), &train_dev)?;
        match optim.sgd() {
            Some(sgd) => sgd.buffers = sgd_buffers(&entries),
            None => eprintln!(
                "warning: AdamW moments are not checkpointed; they restart from zero at step {}",
                meta.position.step
            ),
        }
        pos = meta.position;
        if !opts.quiet {
            eprintln!("resuming from {} (step {})", path.display(), pos.step);
        }
    }
    let config_toml = cfg.to_toml();
    let mut metrics = start_run_files(out, &config_toml, opts.resume.then_some(pos.step))?;
    let metrics_path = metrics.path().to_path_buf();

    let total = cfg.train.steps;
    // The schedule runs over steps: one "epoch" of the schedule is one step.
    let schedule = ScheduleConfig {
        base_lr: cfg.optim.lr,
        schedule: cfg.optim.schedule.clone(),
        warmup_epochs: cfg.optim.warmup_steps as f64,
    };
    let save = |model: &DbNet, optim: &mut AnyOptimizer, pos: &TrainPosition| -> Result<()> {
        let w = StepDirWriter::begin(&ckpt_dir, pos.step)?;
        w.module("model.safetensors", model)?;
        let entries = optim
            .sgd()
            .map(|s| sgd_entries(&s.buffers))
            .unwrap_or_default();
        w.tensors("state.safetensors", entries)?;
        w.json(
            "state.json",
            &DetCheckpointMeta {
                position: pos.clone(),
                config_toml: config_toml.clone(),
            },
        )?;
        w.commit(cfg.train.keep_checkpoints)?;
        Ok(())
    };

    let progress = Progress::new(total, pos.step, opts.quiet);
    let started = Instant::now();
    let (mut images, mut last_loss) = (0usize, f64::NAN);
    // Time spent waiting for the loader: if it is a large share, add workers.
    let mut data_wait = std::time::Duration::ZERO;
    'outer: while pos.step < total {
        let epoch = pos.epoch;
        let mut batches = loader.epoch_iter(epoch as u64, pos.step_in_epoch)?;
        loop {
            let waited = Instant::now();
            let Some(batch) = batches.next() else { break };
            data_wait += waited.elapsed();
            let batch = batch?;
            let n = batch.n;
            let lr = schedule.lr_at(pos.step, 0, 1, total);
            let (x, targets) = to_tensors(batch, &train_dev);
            let out = model.forward(x);
            let loss = db_loss(&out, &targets, &cfg.loss);
            let value = loss.total.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                bail!(
                    "loss is {value} at step {} (lr {lr:.3e}; bce {}, dice {}, l1 {}): training diverged; lower --lr",
                    pos.step + 1,
                    loss.bce.into_scalar::<f32>(),
                    loss.dice.into_scalar::<f32>(),
                    loss.l1.into_scalar::<f32>()
                );
            }
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            model = optim.step(model, grads, lr);
            pos.step += 1;
            pos.step_in_epoch += 1;
            images += n;
            last_loss = value;
            let rate = images as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let terms =
                [&loss.bce, &loss.dice, &loss.l1].map(|t| t.clone().into_scalar::<f32>() as f64);
            progress.step_detect(pos.step, value, terms, lr, rate);
            metrics.write(&MetricRow {
                kind: "step",
                epoch,
                step: pos.step,
                loss: value,
                instance_acc: f64::NAN,
                lr,
                img_per_s: rate,
                knn_acc: None,
                ..Default::default()
            })?;
            if pos.step_in_epoch == per_epoch {
                pos.epoch += 1;
                pos.step_in_epoch = 0;
            }
            if pos.step.is_multiple_of(cfg.train.checkpoint_every) || pos.step == total {
                save(&model, &mut optim, &pos)?;
            }
            if pos.step >= total {
                break 'outer;
            }
        }
        if pos.step_in_epoch != 0 {
            // The loader ran dry before the epoch's last batch (cannot happen with a fixed
            // page set, but never loop forever on it).
            pos.epoch += 1;
            pos.step_in_epoch = 0;
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if !opts.quiet {
        eprintln!(
            "waited {:.1} s of {:.1} s for data ({:.0}%)",
            data_wait.as_secs_f64(),
            seconds,
            100.0 * data_wait.as_secs_f64() / seconds.max(1e-9)
        );
    }
    let weights = out.join("detector.safetensors");
    save_detector(&model.clone().valid(), &weights)
        .with_context(|| format!("cannot write {}", weights.display()))?;
    let _ = write_loss_svg(&metrics_path, &out.join("loss.svg"), "DBNet loss");

    let test_dir = opts.data_dir.join("test");
    let test = if test_dir.is_dir() {
        let detector = Detector::new(model.valid(), cfg.clone(), plain);
        let m = evaluate_dir(
            &detector,
            &test_dir,
            &out.join("eval"),
            opts.draw_pages,
            opts.quiet,
        )?;
        Some(m)
    } else {
        None
    };
    Ok(DetectSummary {
        steps: pos.step,
        final_loss: last_loss,
        seconds,
        img_per_s: images as f64 / seconds.max(1e-9),
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{is_running_stat, named_tensors};
    use crate::optim::{Sgd, SgdParams};
    use crate::tasks::init::tiny_backbone;

    /// burn's lazy parameters once left conv weights without gradients (only BN trained);
    /// every detector parameter, backbone and head, must get a gradient and an update.
    #[test]
    fn every_parameter_of_a_fresh_detector_is_trained() {
        let device = Device::flex().autodiff();
        let mut model_cfg = tiny_backbone();
        model_cfg.width_mult = 0.125;
        let mut cfg = DetectConfig::dbnet("random", model_cfg);
        cfg.head.inner_channels = 16;
        let model = build_detector(&cfg, &device).unwrap();
        let n_params = named_tensors(&model)
            .iter()
            .filter(|(p, _)| !is_running_stat(p))
            .count();
        let (n, h, w) = (2, 64, 64);
        let batch = DetBatch {
            n,
            height: h,
            width: w,
            images: (0..n * 3 * h * w)
                .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
                .collect(),
            shrink_map: (0..n * h * w)
                .map(|i| ((i / w) % 8 == 3) as u8 as f32)
                .collect(),
            shrink_mask: vec![1.0; n * h * w],
            thresh_map: vec![0.5; n * h * w],
            thresh_mask: vec![1.0; n * h * w],
            indices: vec![0, 1],
        };
        let (x, targets) = to_tensors(batch, &device);
        let loss = db_loss(&model.forward(x), &targets, &cfg.loss);
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        let mut sgd = Sgd::new(SgdParams::default());
        let model = sgd.step(model, grads, 0.01);
        let missing: Vec<String> = named_tensors(&model)
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !is_running_stat(p) && !sgd.buffers.contains_key(p))
            .collect();
        assert_eq!(sgd.buffers.len(), n_params, "no gradient: {missing:?}");
    }
}
