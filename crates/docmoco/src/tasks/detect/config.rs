//! The detection run configuration, written to `RUN_DIR/config.toml`.
//!
//! DBNet's recipe (SGD momentum 0.9, poly decay 0.9, wd 1e-4, random crops) at a scale a
//! 2-core CPU trains in minutes: a ResNet-18 ×0.25 backbone, a 64-channel FPN, 256 px crops
//! of pages whose long side is 1536 px (an A4 scan at ~130 dpi: body text 10–15 px tall;
//! at 1024 px the same 300 steps gave hmean 0.41 instead of 0.53). Every field can be overridden by a CLI flag or by
//! editing the saved TOML (`--config`).
//!
//! Two departures from the paper's ICDAR values, both measured on generated pages (see
//! `docs/detection.md`), both because document lines are long and thin where scene words
//! are short and tall:
//! - **shrink ratio 0.7** (paper 0.4): the kernel of a long line keeps `r²` of its height,
//!   16% at 0.4 (1–2 px, which a network from random init did not learn within 300 steps:
//!   its loss sat at the constant-prediction plateau) and 49% at 0.7;
//! - **lr 0.02** (paper 0.007 for batch 16 and 1200 epochs from ImageNet weights): at
//!   0.007 the loss had not left the plateau after 300 steps; at 0.05 it never did.
//!
//! The post-processing unclips by the exact inverse of the label shrink
//! (`PostprocessConfig::unclip_from_shrink_ratio`), which `validate` keeps in step.

use serde::{Deserialize, Serialize};

use docmoco_det::{DetAugmentConfig, LabelConfig, PostprocessConfig};

use super::loss::DbLossConfig;
use crate::optim::{LrSchedule, OptimizerKind};
use crate::tasks::classify::config::{check, ConfigError};
use crate::train::config::BackboneParams;

/// Neck and head widths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadParams {
    /// FPN width (256 in the paper).
    pub inner_channels: usize,
    /// Steepness of the differentiable binarisation (50 in the paper).
    pub k: f64,
}

/// Optimiser and schedule (the schedule runs over steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetOptimParams {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    /// Linear warmup over this many steps (0 = none).
    #[serde(default)]
    pub warmup_steps: usize,
}

/// Loop settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetTrainParams {
    /// Optimisation steps in all (the page set is cycled as often as needed).
    pub steps: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Loader threads (0 = one per core).
    #[serde(default)]
    pub workers: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    pub keep_checkpoints: usize,
    /// Compute device (`cpu`, or `wgpu` when built with it).
    pub device: String,
}

/// Inference input size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferParams {
    /// Pages are resized so their long side is this (rounded to multiples of 32) before the
    /// network sees them; boxes are mapped back to the original page.
    pub long_side: u32,
}

/// A whole detection run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// `random`, `moco:RUN_DIR` or `torchvision:FILE`.
    pub init: String,
    pub model: BackboneParams,
    pub head: HeadParams,
    pub augment: DetAugmentConfig,
    pub labels: LabelConfig,
    pub loss: DbLossConfig,
    pub optim: DetOptimParams,
    pub train: DetTrainParams,
    pub infer: InferParams,
    pub post: PostprocessConfig,
}

impl DetectConfig {
    /// The CPU-sized DBNet recipe described in the module docs.
    pub fn dbnet(init: &str, model: BackboneParams) -> Self {
        DetectConfig {
            init: init.into(),
            model,
            head: HeadParams {
                inner_channels: 64,
                k: 50.0,
            },
            augment: DetAugmentConfig {
                base_long_side: 1536,
                ..DetAugmentConfig::default()
            },
            labels: LabelConfig {
                shrink_ratio: 0.7,
                ..LabelConfig::default()
            },
            loss: DbLossConfig::default(),
            optim: DetOptimParams {
                optimizer: OptimizerKind::Sgd,
                lr: 0.02,
                momentum: 0.9,
                weight_decay: 1e-4,
                schedule: LrSchedule::Poly { power: 0.9 },
                warmup_steps: 0,
            },
            train: DetTrainParams {
                steps: 1500,
                batch_size: 8,
                seed: 0,
                workers: 0,
                checkpoint_every: 200,
                keep_checkpoints: 2,
                device: "cpu".into(),
            },
            infer: InferParams { long_side: 1536 },
            // Document lines are a few pixels tall: DBNet's ratio unclip would give back
            // only ~40% of a long line's height; undo the label shrink exactly instead.
            post: PostprocessConfig {
                unclip_from_shrink_ratio: Some(0.7),
                ..PostprocessConfig::thin_lines()
            },
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise config: {e}"))
    }

    /// Checks every value a run depends on, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.model.width_mult > 0.0 && self.model.width_mult <= 4.0,
            "model.width_mult",
            "must be in (0, 4]",
        )?;
        check(
            self.head.inner_channels >= 4 && self.head.inner_channels.is_multiple_of(4),
            "head.inner_channels",
            "must be a multiple of 4, at least 4",
        )?;
        check(self.head.k > 0.0, "head.k", "must be > 0")?;
        check(
            self.augment.crop_size >= 32 && self.augment.crop_size.is_multiple_of(32),
            "augment.crop_size",
            format!(
                "{} must be a multiple of 32 (the backbone's stride)",
                self.augment.crop_size
            ),
        )?;
        self.augment.validate().map_err(|e| ConfigError {
            field: "augment".into(),
            message: e.to_string(),
        })?;
        self.labels.validate().map_err(|e| ConfigError {
            field: "labels".into(),
            message: e.to_string(),
        })?;
        if let Some(r) = self.post.unclip_from_shrink_ratio {
            check(
                (r - self.labels.shrink_ratio).abs() < 1e-6,
                "post.unclip_from_shrink_ratio",
                format!(
                    "{r} differs from labels.shrink_ratio {}: boxes would not grow back to the text",
                    self.labels.shrink_ratio
                ),
            )?;
        }
        let o = &self.optim;
        check(
            o.lr > 0.0 && o.lr.is_finite(),
            "optim.lr",
            format!("{} must be > 0", o.lr),
        )?;
        check(
            (0.0..1.0).contains(&o.momentum),
            "optim.momentum",
            "must be in [0, 1)",
        )?;
        check(o.weight_decay >= 0.0, "optim.weight_decay", "must be >= 0")?;
        let t = &self.train;
        check(t.steps >= 1, "train.steps", "must be at least 1")?;
        check(
            t.batch_size >= 2,
            "train.batch_size",
            "must be at least 2 (BatchNorm needs a batch)",
        )?;
        check(
            t.checkpoint_every >= 1,
            "train.checkpoint_every",
            "must be at least 1",
        )?;
        check(
            self.infer.long_side >= 64,
            "infer.long_side",
            "must be at least 64",
        )?;
        check(
            (0.0..1.0).contains(&self.post.thresh) && (0.0..1.0).contains(&self.post.box_thresh),
            "post.thresh/box_thresh",
            "must be in [0, 1)",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::init::tiny_backbone;

    #[test]
    fn preset_round_trips_and_bad_values_name_their_field() {
        let c = DetectConfig::dbnet("random", tiny_backbone());
        c.validate().unwrap();
        let back: DetectConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let mut bad = c.clone();
        bad.augment.crop_size = 100;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("augment.crop_size"), "{e}");
        let mut bad = c;
        bad.optim.lr = f64::NAN;
        assert!(bad.validate().unwrap_err().to_string().contains("optim.lr"));
    }
}
