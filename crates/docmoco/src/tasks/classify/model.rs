//! The classifier (backbone + linear head), its loss, evaluation, and the saved form.
//!
//! A trained classifier is stored as `RUN_DIR/model.safetensors` — a torchvision ResNet
//! state dict *with* its `fc` layer, so PyTorch users load it with
//! `resnet18(num_classes=K).load_state_dict(...)` — next to `RUN_DIR/classifier.toml`, which
//! names the classes, the architecture and the input mapping `predict-cls` must reproduce.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use docmoco_data::loader::EvalLoader;
use serde::{Deserialize, Serialize};

use super::config::{InputParams, Mode};
use crate::model::params::initialize;
use crate::model::weights::{load_torchvision, save_torchvision};
use crate::model::ResNet;
use crate::tasks::init::resnet_config;
use crate::train::config::BackboneParams;
use crate::train::pretrain::to_tensor;

/// Backbone and a new linear head, trained together (fine-tuning) or head only (probe).
#[derive(Module, Debug)]
pub struct Classifier {
    pub backbone: ResNet,
    pub head: Linear,
}

/// A linear layer initialised as `main_lincls.py` does: weights N(0, 0.01) (burn draws the
/// bias from the same tiny normal; the reference zeroes it — immaterial at this scale).
pub fn new_head(features: usize, classes: usize, device: &Device) -> Linear {
    initialize(
        LinearConfig::new(features, classes)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: 0.01,
            })
            .init(device),
    )
}

impl Classifier {
    /// # Shapes
    /// - input `[N, 3, H, W]` → logits `[N, classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward_features(x))
    }

    /// The torchvision form: the head becomes the ResNet's `fc`.
    pub fn into_resnet(self) -> ResNet {
        let mut r = self.backbone;
        r.fc = Some(self.head);
        r
    }
}

/// Mean cross-entropy of `logits` against `labels`.
///
/// # Shapes
/// - `logits` `[N, K]` → scalar `[1]`
pub fn cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [n, k] = logits.dims();
    let device = logits.device();
    let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &device);
    let one_hot = targets.one_hot(k).float();
    log_softmax(logits, 1)
        .mul(one_hot)
        .sum()
        .neg()
        .div_scalar(n as f64)
}

/// Row-major `[N, K]` floats of a tensor.
pub fn to_rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, k] = t.dims();
    let v = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("tensor read-back: {e:?}"))?;
    Ok(v.chunks(k.max(1)).map(<[f32]>::to_vec).collect())
}

/// Class probabilities of every sample of `loader` under `model` (put in eval mode here).
pub struct Predictions {
    pub probs: Vec<Vec<f32>>,
    pub labels: Vec<usize>,
    /// Loader index of each row.
    pub indices: Vec<usize>,
}

/// Softmax outputs of a ResNet with `fc` over a loader, BatchNorm in eval mode.
pub fn predict_loader(model: &ResNet, loader: &EvalLoader, device: &Device) -> Result<Predictions> {
    let model = model.clone().valid();
    let mut out = Predictions {
        probs: Vec::new(),
        labels: Vec::new(),
        indices: Vec::new(),
    };
    for batch in loader.epoch_iter(0, 0)? {
        let x = to_tensor(batch.images, batch.n, batch.height, batch.width, device);
        out.probs.extend(to_rows(softmax(model.forward(x), 1))?);
        out.labels.extend(batch.labels);
        out.indices.extend(batch.indices);
    }
    Ok(out)
}

/// What `predict-cls` needs besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierMeta {
    pub classes: Vec<String>,
    pub model: BackboneParams,
    pub input: InputParams,
    pub mode: Mode,
    pub init: String,
}

pub const META_FILE: &str = "classifier.toml";
pub const MODEL_FILE: &str = "model.safetensors";

/// Writes `RUN_DIR/model.safetensors` and `RUN_DIR/classifier.toml`.
pub fn save_classifier(run_dir: &Path, model: &ResNet, meta: &ClassifierMeta) -> Result<PathBuf> {
    let path = run_dir.join(MODEL_FILE);
    save_torchvision(model, &path)?;
    let text = toml::to_string_pretty(meta).context("serialising classifier.toml")?;
    crate::train::checkpoint::write_atomic(&run_dir.join(META_FILE), text.as_bytes())?;
    Ok(path)
}

/// Reads a classifier saved by [`save_classifier`] onto `device`.
pub fn load_classifier(run_dir: &Path, device: &Device) -> Result<(ResNet, ClassifierMeta)> {
    let meta_path = run_dir.join(META_FILE);
    let text = std::fs::read_to_string(&meta_path).with_context(|| {
        format!(
            "{} is not a classification run (no readable {META_FILE}; train one with linear-probe or finetune-cls)",
            run_dir.display()
        )
    })?;
    let meta: ClassifierMeta =
        toml::from_str(&text).with_context(|| format!("{}", meta_path.display()))?;
    let cfg = resnet_config(&meta.model).with_num_classes(Some(meta.classes.len()));
    let model = initialize(cfg.init(device));
    let (model, _) = load_torchvision(model, &run_dir.join(MODEL_FILE), "")?;
    Ok((model, meta))
}
