//! The MoCo v3 pre-training loop: the v1/v2 loop's shape (metrics, kNN monitor, atomic
//! checkpoints, exact resume, backbone export) around [`MocoV3::forward_backward`].
//!
//! Per step (main_moco.py `train`): lr and momentum from their schedules at the fractional epoch,
//! both views through both encoders (symmetric loss, no queue), backward — chunked when
//! `v3.moco.query_chunk` is set — and one LARS or AdamW update of the query side.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, load_module, read_json, read_tensors, StepDirWriter, TrainPosition};
use super::config::{PretrainConfig, V3Optimizer};
use super::data::{self, KnnData};
use super::metrics::{start_run_files, MetricRow};
use super::pretrain::{
    setup_run, to_tensor, PretrainOptions, PretrainSummary, RunSetup, BEST_BACKBONE,
};
use super::progress::Progress;
use crate::model::backbone::Backbone;
use crate::model::weights::{save_state_dict, save_torchvision};
use crate::optim::adamw::AdamState;
use crate::optim::{AdamW, Lars};
use crate::ssl::moco_v3::{momentum_at, momentum_encoder_from, MocoV3};

/// One `state.safetensors` entry: name, shape, flattened values.
type Entry = (String, Vec<usize>, Tensor<1>);

/// LARS or AdamW with its per-path state.
pub enum V3Optim {
    Lars(Lars),
    AdamW(AdamW),
}

impl V3Optim {
    pub fn new(cfg: &V3Optimizer) -> Self {
        match cfg {
            V3Optimizer::Lars(p) => V3Optim::Lars(Lars::new(p.clone())),
            V3Optimizer::Adamw(p) => V3Optim::AdamW(AdamW::new(p.clone())),
        }
    }

    pub fn step<M: burn::module::Module>(
        &mut self,
        module: M,
        grads: burn::optim::GradientsParams,
        lr: f64,
    ) -> M {
        match self {
            V3Optim::Lars(o) => o.step(module, grads, lr),
            V3Optim::AdamW(o) => o.step(module, grads, lr),
        }
    }

    /// Tensors for `state.safetensors` (`lars.<path>`, `adamw_m.<path>`, `adamw_v.<path>`)
    /// and AdamW's step counts for `state.json`.
    fn entries(&self) -> (Vec<Entry>, BTreeMap<String, u64>) {
        let entry = |prefix: &str, path: &str, t: &Tensor<1>| {
            (format!("{prefix}.{path}"), vec![t.dims()[0]], t.clone())
        };
        match self {
            V3Optim::Lars(o) => (
                o.buffers.iter().map(|(p, b)| entry("lars", p, b)).collect(),
                BTreeMap::new(),
            ),
            V3Optim::AdamW(o) => {
                let mut out = Vec::new();
                let mut steps = BTreeMap::new();
                for (p, s) in &o.state {
                    out.push(entry("adamw_m", p, &s.m));
                    out.push(entry("adamw_v", p, &s.v));
                    steps.insert(p.clone(), s.step);
                }
                (out, steps)
            }
        }
    }

    fn restore(
        &mut self,
        entries: &BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        steps: &BTreeMap<String, u64>,
    ) {
        let with = |prefix: &str| -> BTreeMap<String, Tensor<1>> {
            entries
                .iter()
                .filter_map(|(n, (_, t))| {
                    n.strip_prefix(prefix).map(|p| (p.to_string(), t.clone()))
                })
                .collect()
        };
        match self {
            V3Optim::Lars(o) => o.buffers = with("lars."),
            V3Optim::AdamW(o) => {
                let mut v = with("adamw_v.");
                o.state = with("adamw_m.")
                    .into_iter()
                    .filter_map(|(p, m)| {
                        let v = v.remove(&p)?;
                        let step = *steps.get(&p)?;
                        Some((p, AdamState { m, v, step }))
                    })
                    .collect();
            }
        }
    }
}

/// The non-tensor part of a v3 checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct V3Meta {
    position: TrainPosition,
    config_toml: String,
    best_knn: Option<f64>,
    /// AdamW's per-parameter step counts (empty for LARS).
    adam_steps: BTreeMap<String, u64>,
}

fn save_checkpoint(
    dir: &Path,
    moco: &MocoV3,
    optim: &V3Optim,
    meta: V3Meta,
    keep: usize,
) -> Result<()> {
    let w = StepDirWriter::begin(dir, meta.position.step)?;
    w.module("query.safetensors", &moco.query)?;
    w.module("momentum.safetensors", &moco.momentum_encoder)?;
    let (entries, adam_steps) = optim.entries();
    w.tensors("state.safetensors", entries)?;
    w.json("state.json", &V3Meta { adam_steps, ..meta })?;
    w.commit(keep)?;
    Ok(())
}

/// The backbone alone, in the layout PyTorch users load: torchvision's for a ResNet, timm's
/// key names for a ViT (LayerNorm gamma/beta and Linear layout converted by the adapter).
fn save_backbone(backbone: &Backbone, path: &Path) -> Result<()> {
    match backbone {
        Backbone::ResNet(m) => save_torchvision(m, path)?,
        Backbone::Vit(m) => save_state_dict(m, path, Default::default())?,
    }
    Ok(())
}

/// Runs (or resumes) a MoCo v3 pre-training run; [`super::pretrain`] comes here when the
/// configuration has a `[v3]` section.
pub fn pretrain_v3(cfg: &PretrainConfig, opts: &PretrainOptions) -> Result<PretrainSummary> {
    cfg.validate()?;
    let (Some(v3), Some(net)) = (cfg.v3.as_ref(), cfg.v3_config()) else {
        bail!("not a MoCo v3 configuration (no [v3] section)");
    };
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
    let loader = data::two_view_loader(&pages, cfg)?;
    let steps_per_epoch = loader.batches_per_epoch();
    let knn = match &cfg.data.knn_dir {
        Some(dir) if cfg.train.knn_every > 0 => Some(KnnData::open(dir, cfg, opts.quiet)?),
        _ => None,
    };

    let mut moco = MocoV3::new(net.clone(), v3.moco.clone(), seed, &train_dev, &plain);
    let mut optim = V3Optim::new(&v3.optimizer);
    let mut pos = TrainPosition {
        step: 0,
        epoch: 0,
        step_in_epoch: 0,
    };
    let mut best_knn = None;
    let mut best_epoch = None;
    if let Some(path) = resume_from {
        let meta: V3Meta = read_json(&path.join("state.json"))?;
        let template_m = momentum_encoder_from(&moco.query.encoder, &net, &plain);
        moco.query = load_module(moco.query, &path.join("query.safetensors"))?;
        moco.momentum_encoder = load_module(template_m, &path.join("momentum.safetensors"))?;
        let entries = read_tensors(&path.join("state.safetensors"), &plain)?;
        optim.restore(&entries, &meta.adam_steps);
        pos = meta.position;
        best_knn = meta.best_knn;
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
    let mut last_epoch_loss = f64::NAN;
    let mut run_steps = 0usize;
    let mut images = 0usize;
    let started = Instant::now();
    let mut interrupted = false;
    let meta = |pos: &TrainPosition, best: Option<f64>| V3Meta {
        position: pos.clone(),
        config_toml: config_toml.clone(),
        best_knn: best,
        adam_steps: BTreeMap::new(),
    };
    let keep = cfg.train.keep_checkpoints;

    if let (Some(k), 0) = (&knn, pos.step) {
        let acc = k.accuracy(&moco.query.encoder.backbone, cfg)?;
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
            lr: 0.0,
            img_per_s: 0.0,
            knn_acc: Some(acc),
            ..Default::default()
        })?;
    }

    'epochs: while pos.epoch < epochs && pos.step < total_steps {
        let epoch = pos.epoch;
        for batch in loader.epoch_iter(epoch as u64, pos.step_in_epoch)? {
            let lr = cfg
                .schedule
                .lr_at(epoch, pos.step_in_epoch, steps_per_epoch, epochs);
            let epoch_f = epoch as f64 + pos.step_in_epoch as f64 / steps_per_epoch as f64;
            let m = if v3.moco.momentum_cos {
                momentum_at(v3.moco.momentum, epoch_f, epochs)
            } else {
                v3.moco.momentum
            };
            let n = batch.query.n;
            let (h, w) = (batch.query.height, batch.query.width);
            let x1 = to_tensor(batch.query.images, n, h, w, &plain);
            let x2 = to_tensor(batch.key.images, n, h, w, &plain);
            let step = moco.forward_backward(x1, x2, m);
            let loss = step.loss;
            if !loss.is_finite() {
                bail!(
                    "loss is {loss} at step {} (epoch {epoch}, lr {lr:.3e}): training diverged; lower --lr or check the data",
                    pos.step
                );
            }
            moco.query = optim.step(moco.query, step.grads, lr);

            pos.step += 1;
            pos.step_in_epoch += 1;
            run_steps += 1;
            images += n;
            last_loss = loss;
            epoch_loss.0 += loss;
            epoch_loss.1 += 1;
            let rate = images as f64 / started.elapsed().as_secs_f64().max(1e-9);
            progress.step(pos.step, epoch, loss, step.instance_accuracy, lr, rate);
            if pos.step.is_multiple_of(cfg.train.log_every.max(1)) {
                metrics.write(&MetricRow {
                    kind: "step",
                    epoch,
                    step: pos.step,
                    loss,
                    instance_acc: step.instance_accuracy,
                    lr,
                    img_per_s: rate,
                    knn_acc: None,
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
                save_checkpoint(&ckpt_dir, &moco, &optim, meta(&pos, best_knn), keep)?;
            }
            if opts.interrupt_after.is_some_and(|k| run_steps >= k) {
                save_checkpoint(&ckpt_dir, &moco, &optim, meta(&pos, best_knn), keep)?;
                interrupted = true;
                break 'epochs;
            }
            if pos.step >= total_steps {
                break;
            }
        }
        let finished_epoch = pos.step_in_epoch == 0;
        let mut knn_acc = None;
        if let Some(k) = &knn {
            let e = pos.epoch;
            if finished_epoch
                && (e.is_multiple_of(cfg.train.knn_every) || e == epochs || pos.step >= total_steps)
            {
                let acc = k.accuracy(&moco.query.encoder.backbone, cfg)?;
                progress.message(&format!("epoch {e}: kNN accuracy {:.1}%", acc * 100.0));
                knn_history.push((e, acc));
                if best_knn.is_none_or(|b| acc > b) {
                    save_backbone(&moco.query.encoder.backbone, &out.join(BEST_BACKBONE))?;
                    best_epoch = Some(e);
                }
                best_knn = Some(best_knn.map_or(acc, |b: f64| b.max(acc)));
                knn_acc = Some(acc);
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
            ..Default::default()
        })?;
        epoch_loss = (0.0, 0);
        save_checkpoint(&ckpt_dir, &moco, &optim, meta(&pos, best_knn), keep)?;
        if !finished_epoch {
            break;
        }
    }
    progress.finish();

    let backbone = if interrupted {
        None
    } else {
        let path = out.join("backbone.safetensors");
        save_backbone(&moco.query.encoder.backbone, &path)?;
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
        diagnosis: None,
    };
    if let Err(e) = super::plot::write_curves_svg(&out.join("metrics.csv"), &out.join("curves.svg"))
    {
        eprintln!("warning: cannot draw curves.svg: {e}");
    }
    let json = serde_json::to_string_pretty(&summary)?;
    checkpoint::write_atomic(&out.join("summary.json"), json.as_bytes())?;
    Ok(summary)
}
