//! The classifier (backbone + linear head), its loss, evaluation, and the saved form.
//!
//! A trained classifier is stored as `RUN_DIR/model.safetensors` in the layout PyTorch users
//! already load: a torchvision ResNet state dict *with* its `fc` layer
//! (`resnet18(num_classes=K).load_state_dict(...)`), or for a ViT timm's layout with its
//! `head` (`blocks.0.attn.qkv.weight`, ..., `head.weight`). Next to it `RUN_DIR/classifier.toml`
//! names the classes, the architecture and the input mapping `predict-cls` must reproduce.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::store::KeyRemapper;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use docmoco_data::loader::EvalLoader;
use serde::{Deserialize, Serialize};

use super::config::{InputParams, Mode};
use crate::model::params::initialize;
use crate::model::weights::{load_state_dict, save_state_dict};
use crate::model::{Backbone, FeatureExtractor};
use crate::tasks::init::{resnet_config, vit_config};
use crate::train::config::BackboneParams;
use crate::train::pretrain::to_tensor;

/// Backbone and a new linear head, trained together (fine-tuning) or head only (probe).
#[derive(Module, Debug)]
pub struct Classifier {
    pub backbone: Backbone,
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

/// Softmax outputs of a classifier over a loader, BatchNorm in eval mode.
pub fn predict_loader(
    model: &Classifier,
    loader: &EvalLoader,
    device: &Device,
) -> Result<Predictions> {
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

/// File keys ↔ module paths of a classifier. burn names an enum variant in the path
/// (`backbone.ResNet.conv1.weight`); the file has the plain PyTorch names, a ResNet's head
/// as `fc` and torchvision's `downsample.0/1`, a ViT's as timm's `head`.
fn to_file_keys(backbone: &Backbone) -> KeyRemapper {
    let patterns: Vec<(&str, &str)> = match backbone {
        Backbone::ResNet(_) => vec![
            (r"^backbone\.ResNet\.", ""),
            (r"^head\.", "fc."),
            (r"^(.*)\.downsample\.conv\.(.*)$", "$1.downsample.0.$2"),
            (r"^(.*)\.downsample\.bn\.(.*)$", "$1.downsample.1.$2"),
        ],
        Backbone::Vit(_) => vec![(r"^backbone\.Vit\.", "")],
    };
    KeyRemapper::from_patterns(patterns).unwrap_or_else(|_| unreachable!("static regexes"))
}

fn from_file_keys(backbone: &Backbone) -> KeyRemapper {
    let patterns: Vec<(&str, &str)> = match backbone {
        Backbone::ResNet(_) => vec![
            (r"^(.*)\.downsample\.0\.(.*)$", "$1.downsample.conv.$2"),
            (r"^(.*)\.downsample\.1\.(.*)$", "$1.downsample.bn.$2"),
            (r"^fc\.", "HEAD."),
            (r"^([a-z])", "backbone.ResNet.$1"),
            (r"^HEAD\.", "head."),
        ],
        Backbone::Vit(_) => vec![
            (r"^head\.", "HEAD."),
            (r"^([a-z])", "backbone.Vit.$1"),
            (r"^HEAD\.", "head."),
        ],
    };
    KeyRemapper::from_patterns(patterns).unwrap_or_else(|_| unreachable!("static regexes"))
}

/// Writes `RUN_DIR/model.safetensors` and `RUN_DIR/classifier.toml`.
pub fn save_classifier(
    run_dir: &Path,
    model: &Classifier,
    meta: &ClassifierMeta,
) -> Result<PathBuf> {
    let path = run_dir.join(MODEL_FILE);
    save_state_dict(model, &path, to_file_keys(&model.backbone))?;
    let text = toml::to_string_pretty(meta).context("serialising classifier.toml")?;
    crate::train::checkpoint::write_atomic(&run_dir.join(META_FILE), text.as_bytes())?;
    Ok(path)
}

/// Reads a classifier saved by [`save_classifier`] onto `device`.
pub fn load_classifier(run_dir: &Path, device: &Device) -> Result<(Classifier, ClassifierMeta)> {
    let meta_path = run_dir.join(META_FILE);
    let text = std::fs::read_to_string(&meta_path).with_context(|| {
        format!(
            "{} is not a classification run (no readable {META_FILE}; train one with linear-probe or finetune-cls)",
            run_dir.display()
        )
    })?;
    let meta: ClassifierMeta =
        toml::from_str(&text).with_context(|| format!("{}", meta_path.display()))?;
    let backbone = match &meta.model.vit {
        Some(v) => Backbone::Vit(initialize(
            vit_config(v, meta.input.size as usize).init(device),
        )),
        None => Backbone::ResNet(initialize(resnet_config(&meta.model).init(device))),
    };
    let head = new_head(backbone.feature_dim(), meta.classes.len(), device);
    let remap = from_file_keys(&backbone);
    let model = Classifier { backbone, head };
    let (model, _) = load_state_dict(model, &run_dir.join(MODEL_FILE), remap)?;
    Ok((model, meta))
}
