//! Learning-rate schedules as pure functions of the position in training.
//!
//! The MoCo reference changes the rate once per epoch (`adjust_learning_rate`): half-cosine
//! `lr·½(1 + cos(π·epoch/epochs))` with `--cos`, otherwise ×0.1 at each milestone. docmoco adds
//! an optional linear warmup (per step), used by MoCo v3.

use serde::{Deserialize, Serialize};

/// The shape of the schedule after warmup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LrSchedule {
    Constant,
    Cosine,
    Multistep {
        milestones: Vec<usize>,
        gamma: f64,
    },
    /// `(1 - epoch/epochs)^power`: DBNet's decay (power 0.9). Detection counts "epochs" in
    /// steps, so the rate decays smoothly.
    Poly {
        power: f64,
    },
    /// MoCo v3's `adjust_learning_rate`, evaluated at every step with a fractional epoch `e`:
    /// `lr·e/w` during the `w = warmup_epochs` warmup epochs, then
    /// `lr·½(1 + cos(π(e − w)/(epochs − w)))`.
    StepCosine,
}

/// A learning-rate schedule over a run of `epochs` epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub base_lr: f64,
    pub schedule: LrSchedule,
    /// Linear warmup from ~0 to `base_lr` over this many epochs (0 = none).
    #[serde(default)]
    pub warmup_epochs: f64,
}

impl ScheduleConfig {
    /// Learning rate for a step in `epoch` (0-based) at `step_in_epoch` of `steps_per_epoch`.
    pub fn lr_at(
        &self,
        epoch: usize,
        step_in_epoch: usize,
        steps_per_epoch: usize,
        epochs: usize,
    ) -> f64 {
        let progress = epoch as f64 + step_in_epoch as f64 / steps_per_epoch.max(1) as f64;
        if self.schedule == LrSchedule::StepCosine {
            return step_cosine(self.base_lr, progress, self.warmup_epochs, epochs);
        }
        if self.warmup_epochs > 0.0 && progress < self.warmup_epochs {
            // Reaches base_lr at the end of warmup; never exactly zero at the first step.
            let steps = (self.warmup_epochs * steps_per_epoch as f64).max(1.0);
            let done = epoch * steps_per_epoch + step_in_epoch + 1;
            return self.base_lr * (done as f64 / steps).min(1.0);
        }
        self.lr_at_epoch(epoch, epochs)
    }

    /// The per-epoch rate of the reference (no warmup).
    pub fn lr_at_epoch(&self, epoch: usize, epochs: usize) -> f64 {
        match &self.schedule {
            LrSchedule::Constant => self.base_lr,
            LrSchedule::Cosine => {
                let w = self.warmup_epochs.ceil() as usize;
                let (e, total) = if w > 0 {
                    (epoch.saturating_sub(w), epochs.saturating_sub(w).max(1))
                } else {
                    (epoch, epochs.max(1))
                };
                self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * e as f64 / total as f64).cos())
            }
            LrSchedule::Multistep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                self.base_lr * gamma.powi(passed as i32)
            }
            LrSchedule::StepCosine => {
                step_cosine(self.base_lr, epoch as f64, self.warmup_epochs, epochs)
            }
            LrSchedule::Poly { power } => {
                let left = 1.0 - epoch as f64 / epochs.max(1) as f64;
                self.base_lr * left.max(0.0).powf(*power)
            }
        }
    }
}

/// MoCo v3's learning rate at fractional epoch `epoch` (main_moco.py `adjust_learning_rate`).
pub fn step_cosine(base_lr: f64, epoch: f64, warmup_epochs: f64, epochs: usize) -> f64 {
    if epoch < warmup_epochs {
        base_lr * epoch / warmup_epochs
    } else {
        let span = (epochs as f64 - warmup_epochs).max(1e-12);
        base_lr * 0.5 * (1.0 + (std::f64::consts::PI * (epoch - warmup_epochs) / span).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_cosine_warms_up_from_zero_then_decays_per_step() {
        let s = ScheduleConfig {
            base_lr: 0.6,
            schedule: LrSchedule::StepCosine,
            warmup_epochs: 10.0,
        };
        assert_eq!(s.lr_at(0, 0, 4, 100), 0.0);
        assert!((s.lr_at(5, 0, 4, 100) - 0.3).abs() < 1e-12);
        assert!((s.lr_at(10, 0, 4, 100) - 0.6).abs() < 1e-12);
        assert!((s.lr_at(55, 0, 4, 100) - 0.3).abs() < 1e-12);
        assert!(
            s.lr_at(55, 1, 4, 100) < s.lr_at(55, 0, 4, 100),
            "changes within an epoch"
        );
    }

    #[test]
    fn poly_decays_from_base_to_zero() {
        let s = ScheduleConfig {
            base_lr: 0.007,
            schedule: LrSchedule::Poly { power: 0.9 },
            warmup_epochs: 0.0,
        };
        assert_eq!(s.lr_at_epoch(0, 100), 0.007);
        let half = s.lr_at_epoch(50, 100);
        assert!((half - 0.007 * 0.5f64.powf(0.9)).abs() < 1e-12, "{half}");
        assert_eq!(s.lr_at_epoch(100, 100), 0.0);
    }
}
