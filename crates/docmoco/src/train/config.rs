//! The pre-training run configuration: one TOML document, written to `RUN_DIR/config.toml`.
//!
//! Presets are TOML files in `configs/` (embedded in the binary); `--config FILE` reads
//! another; CLI flags override single fields. [`PretrainConfig::validate`] rejects bad values
//! with a message naming the field.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::backbone::BackboneConfig;
use crate::model::heads::HeadSpec;
use crate::model::{EncoderConfig, ResNetArch, ResNetConfig, VitConfig};
use crate::optim::{AdamWParams, LarsParams, ScheduleConfig, SgdParams};
use crate::ssl::moco_v3::MocoV3Config;
use crate::ssl::{MocoParams, MocoV3Params};

/// The presets shipped with docmoco: `(name, TOML)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("moco-v1", include_str!("../../../../configs/moco-v1.toml")),
    ("moco-v2", include_str!("../../../../configs/moco-v2.toml")),
    (
        "moco-v2-tiny",
        include_str!("../../../../configs/moco-v2-tiny.toml"),
    ),
    (
        "moco-v2-doc",
        include_str!("../../../../configs/moco-v2-doc.toml"),
    ),
    (
        "moco-v3-vit",
        include_str!("../../../../configs/moco-v3-vit.toml"),
    ),
    (
        "moco-v3-resnet",
        include_str!("../../../../configs/moco-v3-resnet.toml"),
    ),
    (
        "moco-v3-doc",
        include_str!("../../../../configs/moco-v3-doc.toml"),
    ),
];

/// Backbone choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneParams {
    pub arch: ResNetArch,
    #[serde(default = "one")]
    pub width_mult: f64,
    /// 3x3 stride-1 stem without max-pool, for inputs of 32–96 px.
    #[serde(default)]
    pub small_stem: bool,
    /// A ViT instead of the ResNet (downstream tasks on a MoCo v3 ViT): then `arch`,
    /// `width_mult` and `small_stem` are unused. Pre-training takes its ViT in `[v3.vit]`,
    /// where the method that trains it is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vit: Option<VitParams>,
}

fn one() -> f64 {
    1.0
}

/// Which augmentation recipe, with the document-specific switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentParams {
    /// `v1` (RRC + grayscale + jitter 0.4), `v2` ("aug+": jitter p=0.8, blur p=0.5), `v3`
    /// (asymmetric blur/solarize) or `doc` (v2 without hue/saturation, always grayscale).
    pub preset: String,
    /// Horizontal flip. Off by default: a mirrored page is no longer a document (text reads
    /// backwards), so flip invariance teaches nothing useful about documents.
    #[serde(default)]
    pub hflip: bool,
    /// Lower bound of RandomResizedCrop's area scale (0.2 in MoCo v1/v2).
    #[serde(default)]
    pub crop_min_scale: Option<f64>,
    /// Upper bound of the area scale (1.0). Below 1 with a large `train.cache_long_side`,
    /// crops see text near its native resolution rather than a thumbnail of the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_max_scale: Option<f64>,
    /// Ink-aware crops: redraw crops with less ink (non-paper pixels) than this fraction (documents'
    /// blank margins make blank positive pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ink: Option<f64>,
    /// The key's crop shares at least this fraction of the smaller crop's area with the
    /// query's (drawn next to it); unset: independent crops, as in the reference. With small
    /// native-resolution crops, independent ones rarely share a line of text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_overlap: Option<f64>,
}

/// A ViT backbone for MoCo v3 (the image size is `train.image_size`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitParams {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    #[serde(default = "sixteen")]
    pub patch_size: usize,
    #[serde(default = "four")]
    pub mlp_ratio: f64,
    /// Frozen random patch projection (MoCo v3, §5).
    #[serde(default)]
    pub stop_grad_patch_embed: bool,
}

impl VitParams {
    /// `vit_tiny`, `vit_small` or `vit_base` ([`VitConfig::preset`]), patch 16, trainable
    /// patch projection.
    pub fn preset(name: &str) -> Option<Self> {
        VitConfig::preset(name).map(|v| VitParams {
            dim: v.dim,
            depth: v.depth,
            heads: v.heads,
            patch_size: v.patch_size,
            mlp_ratio: v.mlp_ratio,
            stop_grad_patch_embed: false,
        })
    }
}

fn sixteen() -> usize {
    16
}
fn four() -> f64 {
    4.0
}

/// MoCo v3's optimiser: LARS (ResNet) or AdamW (ViT), as in the reference recipes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V3Optimizer {
    Lars(LarsParams),
    Adamw(AdamWParams),
}

/// The `[v3]` section: present exactly when the run is MoCo v3. Then `[moco]` and `[optim]`
/// (queue, SGD) are unused, and `[model]` describes the backbone only when `v3.vit` is absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V3Params {
    pub moco: MocoV3Params,
    #[serde(default)]
    pub vit: Option<VitParams>,
    pub optimizer: V3Optimizer,
}

/// Loop, data and bookkeeping settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    pub epochs: usize,
    /// Stop after this many optimisation steps in all (overrides `epochs` when smaller).
    #[serde(default)]
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub image_size: usize,
    /// Side of the whole-page views of the kNN monitor and the diagnostic (0 = `image_size`).
    /// Crops of a page cached at high resolution see its text larger than a thumbnail of the
    /// whole page at `image_size` would: evaluate at the page scale the crops were trained at
    /// (`moco-v2-doc`: 96 px crops of 4–16% of a 512 px page ≈ a 320 px page).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub eval_size: usize,
    #[serde(default)]
    pub seed: u64,
    /// Augmentation worker threads (0 = one per core).
    #[serde(default)]
    pub workers: usize,
    /// Batches prepared ahead of the training step.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// Decoded pages are kept in memory with their long side at most this (0 = the smallest
    /// size at which the smallest random crop keeps full resolution).
    #[serde(default)]
    pub cache_long_side: usize,
    /// Write a metrics row every this many steps.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Checkpoint every this many steps (0 = at the end of each epoch only).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk.
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// kNN monitor every this many epochs (0 = off); needs `data.knn_dir`.
    #[serde(default = "default_knn_every")]
    pub knn_every: usize,
    #[serde(default = "default_knn_k")]
    pub knn_k: usize,
    #[serde(default = "default_knn_t")]
    pub knn_t: f64,
    /// Frozen-encoder shortcut/collapse diagnostic every this many epochs (0 = off), on
    /// `diag_pages` pages.
    #[serde(default = "default_diag_every")]
    pub diag_every: usize,
    #[serde(default = "default_diag_pages")]
    pub diag_pages: usize,
    /// Compute device: `cpu` (burn flex) or, when built with that feature, `wgpu` or `cuda`
    /// (`cuda:N` for the N-th GPU).
    #[serde(default = "default_device")]
    pub device: String,
    /// Data parallelism (MoCo v1/v2): several devices, each computing `1/N` of every batch with
    /// BatchNorm over `moco.bn_splits / N` groups, keys gathered into one queue, gradients
    /// averaged — the numbers one device computes (`ssl/data_parallel.rs`). Empty: `device`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn default_prefetch() -> usize {
    4
}
fn default_log_every() -> usize {
    1
}
fn default_keep() -> usize {
    2
}
fn default_knn_every() -> usize {
    1
}
fn default_diag_every() -> usize {
    1
}
fn default_diag_pages() -> usize {
    256
}
fn default_knn_k() -> usize {
    200
}
fn default_knn_t() -> f64 {
    0.1
}
fn default_device() -> String {
    "cpu".into()
}

/// Inputs of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataParams {
    /// Folder of unlabeled page images / PDFs (searched recursively).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Labelled ImageFolder for the kNN monitor: `train/` and `test/` (or `val/`) sub-folders
    /// of class folders, or a plain ImageFolder that is split 80/20.
    #[serde(default)]
    pub knn_dir: Option<PathBuf>,
}

/// The whole pre-training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub name: String,
    pub model: BackboneParams,
    /// MoCo v1/v2 settings (unused by v3 runs, hence optional in the TOML).
    #[serde(default)]
    pub moco: MocoParams,
    pub augment: AugmentParams,
    #[serde(default)]
    pub optim: SgdParams,
    pub schedule: ScheduleConfig,
    pub train: TrainParams,
    #[serde(default)]
    pub data: DataParams,
    /// MoCo v3 (no queue, predictor, symmetric loss); absent for v1/v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v3: Option<V3Params>,
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset `{0}` (available: {1})")]
    UnknownPreset(String, String),
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("invalid value for `{field}`: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// `{section}.momentum` in [0, 1] and `{section}.temperature` > 0 (MoCo v1/v2 and v3 alike).
fn check_momentum_temperature(
    section: &str,
    momentum: f64,
    temperature: f64,
) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(invalid(
            &format!("{section}.momentum"),
            format!("{momentum} is not in [0, 1]"),
        ));
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(invalid(
            &format!("{section}.temperature"),
            format!("{temperature} must be > 0"),
        ));
    }
    Ok(())
}

impl PretrainConfig {
    /// One of the shipped presets by name.
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        let toml = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                ConfigError::UnknownPreset(name.into(), names.join(", "))
            })?;
        Self::from_toml(toml, &format!("preset {name}"))
    }

    /// Parses a TOML document; `source_name` (a file name) appears in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.into(),
            message: e.to_string(),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise config: {e}"))
    }

    /// Checks every value a run depends on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        let m = &self.moco;
        if t.batch_size < 2 {
            return Err(invalid(
                "train.batch_size",
                "must be at least 2 (InfoNCE needs a batch)",
            ));
        }
        if t.epochs == 0 {
            return Err(invalid("train.epochs", "must be at least 1"));
        }
        if t.image_size < 16 {
            return Err(invalid(
                "train.image_size",
                format!("{} is too small (min 16)", t.image_size),
            ));
        }
        if !(self.model.width_mult > 0.0 && self.model.width_mult <= 4.0) {
            return Err(invalid("model.width_mult", "must be in (0, 4]"));
        }
        if let Some(v3) = &self.v3 {
            return self.validate_v3(v3);
        }
        if m.dim == 0 {
            return Err(invalid("moco.dim", "must be positive"));
        }
        // 0 = half the number of pages, decided when the pages are known (see `pretrain`).
        if m.queue_size != 0 && m.queue_size < t.batch_size {
            return Err(invalid(
                "moco.queue_size",
                format!(
                    "K = {} is smaller than the batch size {}: each step enqueues a whole batch of keys",
                    m.queue_size, t.batch_size
                ),
            ));
        }
        check_momentum_temperature("moco", m.momentum, m.temperature)?;
        if m.bn_splits == 0 || !t.batch_size.is_multiple_of(m.bn_splits) {
            return Err(invalid(
                "moco.bn_splits",
                format!(
                    "{} must divide the batch size {} (each split is one emulated device)",
                    m.bn_splits, t.batch_size
                ),
            ));
        }
        let nd = t.devices.len();
        if nd > 1 && !m.bn_splits.is_multiple_of(nd) {
            return Err(invalid(
                "train.devices",
                format!(
                    "{nd} devices need moco.bn_splits = {} to be a multiple of {nd}: each device computes BatchNorm over bn_splits / {nd} of the one-device groups",
                    m.bn_splits
                ),
            ));
        }
        self.validate_common()?;
        if self.optim.weight_decay < 0.0 || !(0.0..1.0).contains(&self.optim.momentum) {
            return Err(invalid(
                "optim",
                "weight_decay must be >= 0 and momentum in [0, 1)",
            ));
        }
        if !matches!(self.augment.preset.as_str(), "v1" | "v2" | "v3" | "doc") {
            return Err(invalid(
                "augment.preset",
                format!("`{}` is not one of v1, v2, v3, doc", self.augment.preset),
            ));
        }
        if let Some(ink) = self.augment.min_ink {
            if !(0.0..1.0).contains(&ink) {
                return Err(invalid("augment.min_ink", "must be in [0, 1)"));
            }
        }
        Ok(())
    }

    /// The schedule, augmentation and kNN checks shared by every version.
    fn validate_common(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        let s = &self.schedule;
        if !(s.base_lr > 0.0 && s.base_lr.is_finite()) {
            return Err(invalid(
                "schedule.base_lr",
                format!("{} must be > 0", s.base_lr),
            ));
        }
        if s.warmup_epochs.is_nan() || s.warmup_epochs < 0.0 {
            return Err(invalid("schedule.warmup_epochs", "must be >= 0"));
        }
        if let Some(c) = self.augment.crop_min_scale {
            if !(c > 0.0 && c <= 1.0) {
                return Err(invalid("augment.crop_min_scale", "must be in (0, 1]"));
            }
        }
        if let Some(c) = self.augment.crop_max_scale {
            let min = self.augment.crop_min_scale.unwrap_or(0.0);
            if !(c > 0.0 && c <= 1.0 && c >= min) {
                return Err(invalid(
                    "augment.crop_max_scale",
                    format!("{c} must be in (0, 1] and at least crop_min_scale"),
                ));
            }
        }
        if let Some(m) = self.augment.min_overlap {
            if !(m > 0.0 && m <= 1.0) {
                return Err(invalid(
                    "augment.min_overlap",
                    format!("{m} must be in (0, 1]"),
                ));
            }
        }
        if t.knn_k == 0 || t.knn_t.is_nan() || t.knn_t <= 0.0 {
            return Err(invalid("train.knn_k/knn_t", "k must be >= 1 and t > 0"));
        }
        Ok(())
    }

    fn validate_v3(&self, v3: &V3Params) -> Result<(), ConfigError> {
        let m = &v3.moco;
        if m.dim == 0 || m.mlp_dim == 0 {
            return Err(invalid("v3.moco.dim/mlp_dim", "must be positive"));
        }
        check_momentum_temperature("v3.moco", m.momentum, m.temperature)?;
        if let Some(vit) = self.vit_config() {
            vit.check().map_err(|e| invalid("v3.vit", e))?;
        } else if m.query_chunk > 0 {
            return Err(invalid(
                "v3.moco.query_chunk",
                "chunked back-propagation is exact only for a ViT: a ResNet's BatchNorm makes each image's features depend on its whole batch",
            ));
        }
        if self.augment.preset != "v3" {
            return Err(invalid(
                "augment.preset",
                format!("a v3 run uses preset v3, not `{}`", self.augment.preset),
            ));
        }
        if self.train.devices.len() > 1 {
            return Err(invalid(
                "train.devices",
                "data parallelism is implemented for MoCo v1/v2; a v3 run uses one device (train.device)",
            ));
        }
        self.validate_common()
    }

    /// Side of the whole-page evaluation views (kNN monitor, diagnostic).
    pub fn eval_size(&self) -> usize {
        if self.train.eval_size > 0 {
            self.train.eval_size
        } else {
            self.train.image_size
        }
    }

    /// The ViT of a v3 run, when it has one.
    pub fn vit_config(&self) -> Option<VitConfig> {
        let v = self.v3.as_ref()?.vit.as_ref()?;
        Some(
            VitConfig::new(v.dim, v.depth, v.heads)
                .with_image_size(self.train.image_size)
                .with_patch_size(v.patch_size)
                .with_mlp_ratio(v.mlp_ratio)
                .with_stop_grad_patch_embed(v.stop_grad_patch_embed),
        )
    }

    /// The MoCo v3 networks (backbone, projector, predictor), for a v3 configuration.
    pub fn v3_config(&self) -> Option<MocoV3Config> {
        let v3 = self.v3.as_ref()?;
        let backbone = match self.vit_config() {
            Some(vit) => BackboneConfig::Vit(vit),
            None => BackboneConfig::ResNet(
                ResNetConfig::new(self.model.arch)
                    .with_width_mult(self.model.width_mult)
                    .with_small_stem(self.model.small_stem),
            ),
        };
        Some(MocoV3Config::new(backbone, &v3.moco))
    }

    /// The encoder (backbone + head) this configuration trains.
    pub fn encoder_config(&self) -> EncoderConfig {
        let backbone = ResNetConfig::new(self.model.arch)
            .with_width_mult(self.model.width_mult)
            .with_small_stem(self.model.small_stem)
            .with_bn_splits(self.moco.bn_splits);
        let feat = backbone.feature_dim();
        let head = if self.moco.mlp {
            HeadSpec::mlp(feat, feat, self.moco.dim)
        } else {
            HeadSpec::linear(feat, self.moco.dim)
        };
        EncoderConfig::new(backbone, head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        for (name, _) in PRESETS {
            let c = PretrainConfig::preset(name).unwrap();
            c.validate().unwrap();
            // Round trip through TOML keeps every field.
            let back = PretrainConfig::from_toml(&c.to_toml(), "roundtrip").unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut c = PretrainConfig::preset("moco-v2-tiny").unwrap();
        c.moco.queue_size = 8;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("moco.queue_size"), "{e}");
        let mut c = PretrainConfig::preset("moco-v2-tiny").unwrap();
        c.moco.temperature = 0.0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("moco.temperature"));
        let mut c = PretrainConfig::preset("moco-v3-resnet").unwrap();
        c.v3.as_mut().unwrap().moco.query_chunk = 8;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("v3.moco.query_chunk"), "{e}");
        let mut c = PretrainConfig::preset("moco-v3-vit").unwrap();
        c.v3.as_mut().unwrap().vit.as_mut().unwrap().heads = 5;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("v3.vit"), "{e}");
        let e = PretrainConfig::from_toml("name = 3", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml"), "{e}");
    }
}
