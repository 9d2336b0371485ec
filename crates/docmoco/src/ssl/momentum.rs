//! The momentum (exponential moving average) update of the key encoder (He et al. 2020, eq. 2).
//!
//! `θ_k ← m θ_k + (1 − m) θ_q`, for *parameters only*. BatchNorm running statistics of the
//! key encoder are not copied from the query encoder: they evolve from the key encoder's own
//! train-mode forwards, exactly as in the reference, which averages `parameters()` and not
//! `buffers()` (facebookresearch/moco issue #70).

use std::collections::HashMap;

use burn::module::Module;

use crate::kernels::param_update;
use crate::model::params::{is_running_stat, map_named, named_tensors};

/// Returns `key` moved towards `query` with momentum `m` (1 keeps `key` unchanged).
///
/// `query` may live on an autodiff device; `key` is kept on the plain device.
pub fn momentum_update<M: Module>(key: M, query: &M, m: f64) -> M {
    let q: HashMap<String, _> = named_tensors(query)
        .into_iter()
        .filter(|(p, _)| !is_running_stat(p))
        .collect();
    map_named(key, None, |p| {
        if is_running_stat(p.path) {
            return None;
        }
        let theta_q = q.get(p.path)?.clone().inner().to_device(&p.value.device());
        if param_update::applies(&[&p.value, &theta_q]) {
            // One pass on the CPU, the same numbers as the ops below.
            return Some(param_update::momentum_update(p.value, theta_q, m));
        }
        Some(p.value.mul_scalar(m) + theta_q.mul_scalar(1.0 - m))
    })
}
