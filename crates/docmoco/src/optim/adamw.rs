//! AdamW with `torch.optim.AdamW`'s exact update (Loshchilov & Hutter 2019), MoCo v3's ViT
//! optimiser.
//!
//! `θ ← θ(1 − lr·wd)`; `m ← β₁m + (1−β₁)g`; `v ← β₂v + (1−β₂)g²`;
//! `θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`. burn's AdamW computes the same update when
//! given PyTorch's hyper-parameters (its defaults, ε = 1e-5 and wd = 1e-4, are not; both are
//! checked in the parity tests), but keys its moments by `ParamId`, which is not stable across
//! runs: written here so the moments are keyed by parameter path and a resumed run continues
//! exactly. As in the reference
//! (`torch.optim.AdamW(model.parameters(), ...)`), weight decay applies to every parameter.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::params::{is_running_stat, map_named};

/// AdamW hyper-parameters (`lr` comes from the schedule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWParams {
    pub weight_decay: f64,
    #[serde(default = "beta1")]
    pub beta1: f64,
    #[serde(default = "beta2")]
    pub beta2: f64,
    #[serde(default = "eps")]
    pub eps: f64,
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn eps() -> f64 {
    1e-8
}

impl Default for AdamWParams {
    fn default() -> Self {
        Self {
            weight_decay: 0.1,
            beta1: beta1(),
            beta2: beta2(),
            eps: eps(),
        }
    }
}

/// The moments of one parameter.
#[derive(Debug, Clone)]
pub struct AdamState {
    pub m: Tensor<1>,
    pub v: Tensor<1>,
    pub step: u64,
}

/// The optimiser and its per-path state.
#[derive(Debug, Clone, Default)]
pub struct AdamW {
    pub params: AdamWParams,
    pub state: BTreeMap<String, AdamState>,
}

impl AdamW {
    pub fn new(params: AdamWParams) -> Self {
        Self {
            params,
            state: BTreeMap::new(),
        }
    }

    /// One update of every parameter of `module` that has a gradient in `grads` (frozen
    /// parameters, such as a stop-gradient patch embedding, have none and are left alone).
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> M {
        let AdamWParams {
            weight_decay,
            beta1,
            beta2,
            eps,
        } = self.params.clone();
        let state = &mut self.state;
        map_named(module, Some(&mut grads), |p| {
            if is_running_stat(p.path) {
                return None;
            }
            let g = p.grad?;
            let theta = p.value.mul_scalar(1.0 - lr * weight_decay);
            let s = match state.remove(p.path) {
                Some(s) => AdamState {
                    m: s.m.mul_scalar(beta1) + g.clone().mul_scalar(1.0 - beta1),
                    v: s.v.mul_scalar(beta2) + g.clone().powf_scalar(2.0).mul_scalar(1.0 - beta2),
                    step: s.step + 1,
                },
                None => AdamState {
                    m: g.clone().mul_scalar(1.0 - beta1),
                    v: g.powf_scalar(2.0).mul_scalar(1.0 - beta2),
                    step: 1,
                },
            };
            let bc1 = 1.0 - beta1.powi(s.step as i32);
            let bc2 = 1.0 - beta2.powi(s.step as i32);
            let denom = s.v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(eps);
            let new = theta - (s.m.clone() / denom).mul_scalar(lr / bc1);
            state.insert(p.path.to_string(), s);
            Some(new)
        })
    }
}
