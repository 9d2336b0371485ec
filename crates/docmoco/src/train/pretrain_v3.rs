//! MoCo v3 pre-training: [`MocoV3::forward_backward`] and its optimisers and checkpoints,
//! driven by the loop all MoCo versions share ([`super::run`]).
//!
//! Per step (main_moco.py `train`): lr and momentum from their schedules at the fractional epoch,
//! both views through both encoders (symmetric loss, no queue), backward — chunked when
//! `v3.moco.query_chunk` is set — and one LARS or AdamW update of the query side.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use burn::tensor::{Device, Tensor};
use docmoco_data::loader::TwoViewBatch;
use serde::{Deserialize, Serialize};

use super::checkpoint::{load_module, read_json, read_tensors, StepDirWriter, TrainPosition};
use super::config::{PretrainConfig, V3Optimizer};
use super::diagnose::{Diagnosis, FrozenNets, FrozenProbe};
use super::pretrain::{setup_run, to_tensor, PretrainOptions, PretrainSummary, RunSetup};
use super::run;
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

/// `moco` with the query side and momentum encoder of the checkpoint directory `path`.
fn load_networks(mut moco: MocoV3, path: &Path, device: &Device) -> Result<(MocoV3, V3Meta)> {
    let meta: V3Meta = read_json(&path.join("state.json"))?;
    let template_m = momentum_encoder_from(&moco.query.encoder, &moco.config, device);
    moco.query = load_module(moco.query, &path.join("query.safetensors"))?;
    moco.momentum_encoder = load_module(template_m, &path.join("momentum.safetensors"))?;
    Ok((moco, meta))
}

/// The networks of a v3 checkpoint directory (for `docmoco diagnose`), with its step.
pub(crate) fn load_checkpoint(
    cfg: &PretrainConfig,
    path: &Path,
    device: &Device,
) -> Result<(MocoV3, usize)> {
    let (Some(v3), Some(net)) = (cfg.v3.as_ref(), cfg.v3_config()) else {
        bail!("not a MoCo v3 configuration (no [v3] section)");
    };
    let moco = MocoV3::new(net, v3.moco.clone(), cfg.train.seed, device, device);
    let (moco, meta) = load_networks(moco, path, device)?;
    Ok((moco, meta.position.step))
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
    let setup = setup_run(cfg, opts)?;
    let (mut method, start) = V3Method::new(cfg, &setup)?;
    run::run(cfg, opts, &setup, &mut method, start)
}

/// MoCo v3 as the shared loop drives it: query and momentum encoders, LARS or AdamW.
struct V3Method {
    moco: MocoV3,
    optim: V3Optim,
    /// Base momentum and whether it rises to 1 by a half cosine over the run.
    momentum: (f64, bool),
    plain: Device,
    checkpoints: run::CheckpointTarget,
    /// The frozen diagnostic's fixed sample (`train.diag_every > 0`).
    probe: Option<FrozenProbe>,
    batch_size: usize,
    /// Flags are raised only after this many epochs: during the lr warmup (and the first
    /// epoch) the random projector and predictor still map every page near one point.
    settle_epochs: f64,
}

impl V3Method {
    /// A fresh model, or the checkpoint `setup` resumes from.
    fn new(cfg: &PretrainConfig, setup: &RunSetup) -> Result<(Self, run::Start)> {
        let (Some(v3), Some(net)) = (cfg.v3.as_ref(), cfg.v3_config()) else {
            bail!("not a MoCo v3 configuration (no [v3] section)");
        };
        let plain = &setup.plain;
        let mut moco = MocoV3::new(
            net.clone(),
            v3.moco.clone(),
            cfg.train.seed,
            &setup.train_dev,
            plain,
        );
        let mut optim = V3Optim::new(&v3.optimizer);
        let mut start = run::Start::fresh();
        if let Some(path) = &setup.resume_from {
            let meta;
            (moco, meta) = load_networks(moco, path, plain)?;
            let entries = read_tensors(&path.join("state.safetensors"), plain)?;
            optim.restore(&entries, &meta.adam_steps);
            start = run::Start {
                position: meta.position,
                best_knn: meta.best_knn,
            };
        }
        let probe = FrozenProbe::for_run(&setup.pages, cfg)?;
        let method = V3Method {
            moco,
            optim,
            momentum: (v3.moco.momentum, v3.moco.momentum_cos),
            plain: plain.clone(),
            checkpoints: run::CheckpointTarget::new(cfg, setup),
            probe,
            batch_size: cfg.train.batch_size,
            settle_epochs: cfg.schedule.warmup_epochs.max(1.0),
        };
        Ok((method, start))
    }
}

impl run::Method for V3Method {
    type Backbone = Backbone;

    fn step(&mut self, batch: TwoViewBatch, ctx: &run::StepContext) -> Result<run::StepStats> {
        let m = match self.momentum {
            (base, true) => momentum_at(base, ctx.epoch_f(), ctx.epochs),
            (base, false) => base,
        };
        let (v1, v2) = (batch.query, batch.key);
        let x1 = to_tensor(v1.images, v1.n, v1.height, v1.width, &self.plain);
        let x2 = to_tensor(v2.images, v2.n, v2.height, v2.width, &self.plain);
        let step = self.moco.forward_backward(x1, x2, m);
        ctx.check_loss(step.loss)?;
        self.moco.query = self.optim.step(self.moco.query.clone(), step.grads, ctx.lr);
        Ok(run::StepStats {
            loss: step.loss,
            instance_accuracy: step.instance_accuracy,
            accuracy_counts: true,
            similarities: None,
        })
    }

    fn backbone(&self) -> &Backbone {
        &self.moco.query.encoder.backbone
    }

    fn export_backbone(&self, path: &Path) -> Result<()> {
        save_backbone(&self.moco.query.encoder.backbone, path)
    }

    fn diagnose(
        &mut self,
        pos: &TrainPosition,
        train_acc: Option<f64>,
    ) -> Result<Option<Diagnosis>> {
        let Some(probe) = &self.probe else {
            return Ok(None);
        };
        let flag = pos.epoch as f64 > self.settle_epochs;
        let nets = FrozenNets::moco_v3(&self.moco, self.batch_size);
        probe
            .measure(&nets, pos.step, train_acc, flag, &self.plain)
            .map(Some)
    }

    fn save_checkpoint(&self, pos: &TrainPosition, best_knn: Option<f64>) -> Result<()> {
        let meta = V3Meta {
            position: pos.clone(),
            config_toml: self.checkpoints.config_toml.clone(),
            best_knn,
            adam_steps: BTreeMap::new(),
        };
        let c = &self.checkpoints;
        save_checkpoint(&c.dir, &self.moco, &self.optim, meta, c.keep)
    }
}
