//! LARS (You et al. 2017) exactly as MoCo v3's `moco/optimizer.py`, its ResNet optimiser.
//!
//! For a parameter of rank > 1: `d = g + wd·θ`, then `d ← d · η‖θ‖/‖d‖` (trust ratio, η = 0.001;
//! 1 when either norm is 0). Biases and BN scale/shift (rank 1) get neither weight decay nor
//! adaptation — the reference's `if p.ndim > 1` — because their scale carries no meaning for a
//! layer-wise ratio. Then SGD momentum without dampening: `μ ← β·μ + d; θ ← θ − lr·μ` (the buffer
//! starts at zero, unlike `torch.optim.SGD`'s first-step copy; both give `μ₁ = d₁`). Buffers
//! are keyed by parameter path so checkpoints can hold them.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::params::{is_running_stat, map_named};

/// LARS hyper-parameters (`lr` comes from the schedule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LarsParams {
    pub weight_decay: f64,
    pub momentum: f64,
    pub trust_coefficient: f64,
}

impl Default for LarsParams {
    fn default() -> Self {
        Self {
            weight_decay: 1e-6,
            momentum: 0.9,
            trust_coefficient: 0.001,
        }
    }
}

/// The optimiser and its momentum buffers.
#[derive(Debug, Clone, Default)]
pub struct Lars {
    pub params: LarsParams,
    pub buffers: BTreeMap<String, Tensor<1>>,
}

impl Lars {
    pub fn new(params: LarsParams) -> Self {
        Self {
            params,
            buffers: BTreeMap::new(),
        }
    }

    /// One update of every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> M {
        let LarsParams {
            weight_decay,
            momentum,
            trust_coefficient,
        } = self.params.clone();
        let buffers = &mut self.buffers;
        map_named(module, Some(&mut grads), |p| {
            if is_running_stat(p.path) {
                return None;
            }
            let mut d = p.grad?;
            if p.rank > 1 {
                d = d + p.value.clone().mul_scalar(weight_decay);
                let param_norm = norm(&p.value);
                let update_norm = norm(&d);
                let q = if param_norm > 0.0 && update_norm > 0.0 {
                    trust_coefficient * param_norm / update_norm
                } else {
                    1.0
                };
                d = d.mul_scalar(q);
            }
            let mu = match buffers.remove(p.path) {
                Some(mu) => mu.mul_scalar(momentum) + d,
                None => d,
            };
            buffers.insert(p.path.to_string(), mu.clone());
            Some(p.value - mu.mul_scalar(lr))
        })
    }
}

fn norm(t: &Tensor<1>) -> f64 {
    t.clone().powf_scalar(2.0).sum().sqrt().into_scalar::<f32>() as f64
}
