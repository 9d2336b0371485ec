//! The classification run configuration, written to `RUN_DIR/config.toml`.
//!
//! One structure serves the linear probe and fine-tuning; [`ClassifyConfig::probe`] and
//! [`ClassifyConfig::finetune`] are the two presets, and CLI flags override single fields.
//! Defaults are chosen so that a run on a few hundred pages takes minutes on a 2-core CPU
//! (64 px inputs, the backbone's own width), and were measured on the generated corpus (see
//! `docs/classification.md`).

use serde::{Deserialize, Serialize};

use crate::optim::LrSchedule;
pub use crate::optim::OptimizerKind;
use crate::train::config::BackboneParams;

/// Linear probe (frozen backbone) or full fine-tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Probe,
    Finetune,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Probe => "probe",
            Mode::Finetune => "finetune",
        })
    }
}

/// How a whole page becomes a `size x size` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Stretch the page to a square (RVL-CDIP practice; aspect lost, consistently).
    Squash,
    /// Keep the aspect ratio, long side = size, centred on white paper.
    Pad,
}

/// Input resolution and page-to-square mapping (shared by training, evaluation, prediction).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputParams {
    /// Side of the square network input (px).
    pub size: u32,
    pub resize: Resize,
    /// Long side pages are decoded at (0 = just large enough for the smallest crop).
    #[serde(default)]
    pub cache_long_side: u32,
}

/// Document-suited training augmentation (fine-tuning, optional for the probe).
///
/// No flip by default: a mirrored page is not a document. The crop is a *mild* random
/// resized crop relative to the page (most of the layout stays visible, since the layout is
/// what tells a form from a letter), then the same page-to-square mapping as evaluation, a
/// small rotation (scanner skew) and mild brightness/contrast changes (paper and toner).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentParams {
    pub enabled: bool,
    /// Crop area as a fraction of the page, lower bound (upper bound 1).
    pub crop_min_scale: f64,
    /// Crop aspect relative to the page's, sampled log-uniformly in `[1/r, r]`.
    pub crop_aspect_jitter: f64,
    /// Rotation in degrees, uniform in `[-d, d]`, filled with white.
    pub rotate_deg: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub hflip: bool,
}

/// Optimiser and schedule; the head and the backbone have separate base rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimParams {
    pub optimizer: OptimizerKind,
    /// Base learning rate of the classifier head.
    pub lr: f64,
    /// Base learning rate of the backbone (fine-tuning only; 0 freezes it).
    pub backbone_lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    #[serde(default)]
    pub warmup_epochs: f64,
}

/// Loop settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Loader threads (0 = one per core).
    #[serde(default)]
    pub workers: usize,
    /// Stop after this many epochs without a better validation accuracy (0 = never; then
    /// no validation split is carved and every training page is used).
    #[serde(default)]
    pub patience: usize,
    /// Fraction of each class carved from train as validation when the data has no `val/`.
    pub val_fraction: f64,
    /// Probe: standardise features with the training set's mean/std before the linear layer
    /// (MAE's BatchNorm-without-affine probe); folded into the saved `fc`.
    #[serde(default)]
    pub standardize: bool,
    /// Compute device (`cpu`, or `wgpu` when built with it).
    #[serde(default = "cpu")]
    pub device: String,
}

fn cpu() -> String {
    "cpu".into()
}

/// A whole classification run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    pub mode: Mode,
    /// `random`, `moco:RUN_DIR` or `torchvision:FILE`.
    pub init: String,
    pub model: BackboneParams,
    pub input: InputParams,
    pub augment: AugmentParams,
    pub optim: OptimParams,
    pub train: TrainParams,
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for `{field}`: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

/// `Ok` when `ok`, else the error naming `field` (shared by every task's `validate`).
pub(crate) fn check(ok: bool, field: &str, message: impl Into<String>) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            field: field.into(),
            message: message.into(),
        })
    }
}

impl InputParams {
    pub fn new(size: u32, resize: Resize) -> Self {
        Self {
            size,
            resize,
            cache_long_side: 0,
        }
    }
}

impl AugmentParams {
    /// Document augmentation as described on [`AugmentParams`].
    pub fn documents() -> Self {
        Self {
            enabled: true,
            crop_min_scale: 0.6,
            crop_aspect_jitter: 1.15,
            rotate_deg: 2.0,
            brightness: 0.2,
            contrast: 0.2,
            hflip: false,
        }
    }

    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::documents()
        }
    }
}

impl ClassifyConfig {
    /// The linear-probe protocol of `main_lincls.py` scaled to small data: SGD momentum 0.9,
    /// wd 0, ×0.1 at 60% and 80% of the epochs, batch 64, features cached (no augmentation).
    /// Features are standardised first, which makes one learning rate fit every init.
    pub fn probe(init: &str, model: BackboneParams) -> Self {
        Self {
            mode: Mode::Probe,
            init: init.into(),
            model,
            input: InputParams::new(64, Resize::Squash),
            augment: AugmentParams::off(),
            optim: OptimParams {
                optimizer: OptimizerKind::Sgd,
                lr: 0.1,
                backbone_lr: 0.0,
                momentum: 0.9,
                weight_decay: 0.0,
                schedule: LrSchedule::Multistep {
                    milestones: vec![60, 80],
                    gamma: 0.1,
                },
                warmup_epochs: 0.0,
            },
            train: TrainParams {
                epochs: 100,
                batch_size: 64,
                seed: 0,
                workers: 0,
                patience: 0,
                val_fraction: 0.1,
                standardize: true,
                device: cpu(),
            },
        }
    }

    /// Full fine-tuning: SGD momentum 0.9, wd 1e-4, cosine, a 10x lower rate for the
    /// pre-trained backbone than for the new head, document augmentation, early stopping on
    /// a validation split.
    pub fn finetune(init: &str, model: BackboneParams) -> Self {
        Self {
            mode: Mode::Finetune,
            init: init.into(),
            model,
            input: InputParams::new(64, Resize::Squash),
            augment: AugmentParams::documents(),
            optim: OptimParams {
                optimizer: OptimizerKind::Sgd,
                lr: 0.05,
                backbone_lr: 0.01,
                momentum: 0.9,
                weight_decay: 1e-4,
                schedule: LrSchedule::Cosine,
                warmup_epochs: 0.0,
            },
            train: TrainParams {
                epochs: 20,
                batch_size: 32,
                seed: 0,
                workers: 0,
                patience: 6,
                val_fraction: 0.1,
                standardize: false,
                device: cpu(),
            },
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise config: {e}"))
    }

    /// Checks every value a run depends on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.input.size >= 16,
            "input.size",
            format!("{} is too small (min 16)", self.input.size),
        )?;
        check(
            self.model.width_mult > 0.0 && self.model.width_mult <= 4.0,
            "model.width_mult",
            "must be in (0, 4]",
        )?;
        let a = &self.augment;
        check(
            a.crop_min_scale > 0.0 && a.crop_min_scale <= 1.0,
            "augment.crop_min_scale",
            "must be in (0, 1]",
        )?;
        check(
            a.crop_aspect_jitter >= 1.0,
            "augment.crop_aspect_jitter",
            "must be >= 1",
        )?;
        check(
            (0.0..=45.0).contains(&a.rotate_deg),
            "augment.rotate_deg",
            "must be in [0, 45]",
        )?;
        check(
            (0.0..1.0).contains(&a.brightness) && (0.0..1.0).contains(&a.contrast),
            "augment.brightness/contrast",
            "must be in [0, 1)",
        )?;
        let o = &self.optim;
        check(
            o.lr > 0.0 && o.lr.is_finite(),
            "optim.lr",
            format!("{} must be > 0", o.lr),
        )?;
        check(
            o.backbone_lr >= 0.0 && o.backbone_lr.is_finite(),
            "optim.backbone_lr",
            "must be >= 0",
        )?;
        check(
            (0.0..1.0).contains(&o.momentum),
            "optim.momentum",
            "must be in [0, 1)",
        )?;
        check(o.weight_decay >= 0.0, "optim.weight_decay", "must be >= 0")?;
        check(
            o.warmup_epochs >= 0.0,
            "optim.warmup_epochs",
            "must be >= 0",
        )?;
        let t = &self.train;
        check(t.epochs >= 1, "train.epochs", "must be at least 1")?;
        check(
            t.batch_size >= 2,
            "train.batch_size",
            "must be at least 2 (BatchNorm needs a batch)",
        )?;
        check(
            t.val_fraction > 0.0 && t.val_fraction < 0.5,
            "train.val_fraction",
            "must be in (0, 0.5)",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::init::tiny_backbone;

    #[test]
    fn presets_round_trip_and_validate() {
        for c in [
            ClassifyConfig::probe("random", tiny_backbone()),
            ClassifyConfig::finetune("random", tiny_backbone()),
        ] {
            c.validate().unwrap();
            let back: ClassifyConfig = toml::from_str(&c.to_toml()).unwrap();
            assert_eq!(back, c);
        }
        let mut c = ClassifyConfig::finetune("random", tiny_backbone());
        c.augment.crop_min_scale = 0.0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("augment.crop_min_scale"), "{e}");
    }
}
