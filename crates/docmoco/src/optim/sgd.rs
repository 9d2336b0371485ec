//! SGD with momentum and weight decay, with PyTorch's exact update rule.
//!
//! `d = g + wd·θ; b = μ·b + d (b = d at the first step); θ ← θ − lr·b` (`torch.optim.SGD`,
//! dampening 0, no Nesterov). Written here rather than taken from burn so that (1) the momentum
//! buffers are keyed by parameter *path*, which makes them checkpointable and resumable, and
//! (2) the numbers match the reference bit for bit in the parity tests.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::kernels::param_update;
use crate::model::params::{is_running_stat, map_named};

/// SGD hyper-parameters (`lr` comes from the schedule at each step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdParams {
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 1e-4,
        }
    }
}

/// The optimiser and its state (one momentum buffer per parameter path).
#[derive(Debug, Clone, Default)]
pub struct Sgd {
    pub params: SgdParams,
    pub buffers: BTreeMap<String, Tensor<1>>,
}

impl Sgd {
    pub fn new(params: SgdParams) -> Self {
        Self {
            params,
            buffers: BTreeMap::new(),
        }
    }

    /// Applies one update to every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> M {
        let SgdParams {
            momentum,
            weight_decay,
        } = self.params.clone();
        let buffers = &mut self.buffers;
        map_named(module, Some(&mut grads), |p| {
            if is_running_stat(p.path) {
                return None;
            }
            let grad = p.grad?;
            let fused = momentum != 0.0
                && buffers
                    .get(p.path)
                    .is_some_and(|b| param_update::applies(&[&p.value, &grad, b]));
            if fused {
                // One pass on the CPU, the same numbers as the ops below.
                let b = buffers.remove(p.path).expect("checked above");
                let hyper = [momentum, weight_decay, lr];
                let (theta, b) = param_update::sgd_momentum_step(p.value, grad, b, hyper);
                buffers.insert(p.path.to_string(), b);
                return Some(theta);
            }
            let mut d = grad;
            if weight_decay != 0.0 {
                d = d + p.value.clone().mul_scalar(weight_decay);
            }
            if momentum != 0.0 {
                let b = match buffers.remove(p.path) {
                    Some(b) => b.mul_scalar(momentum) + d,
                    None => d,
                };
                buffers.insert(p.path.to_string(), b.clone());
                d = b;
            }
            Some(p.value - d.mul_scalar(lr))
        })
    }
}
