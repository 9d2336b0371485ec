//! The optimiser a downstream run picks by name: docmoco's PyTorch-exact SGD, or burn's AdamW.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use serde::{Deserialize, Serialize};

use super::{Sgd, SgdParams};

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adamw,
}

/// One parameter group's optimiser and its state.
pub enum AnyOptimizer {
    Sgd(Sgd),
    AdamW(Box<ModuleOptimizer>),
}

impl AnyOptimizer {
    pub fn new(kind: OptimizerKind, momentum: f64, weight_decay: f64) -> Self {
        match kind {
            OptimizerKind::Sgd => AnyOptimizer::Sgd(Sgd::new(SgdParams {
                momentum,
                weight_decay,
            })),
            OptimizerKind::Adamw => AnyOptimizer::AdamW(Box::new(
                AdamWConfig::new()
                    .with_weight_decay(weight_decay as f32)
                    .init(),
            )),
        }
    }

    /// Applies one update with learning rate `lr`.
    pub fn step<M: Module>(&mut self, module: M, grads: GradientsParams, lr: f64) -> M {
        match self {
            AnyOptimizer::Sgd(s) => s.step(module, grads, lr),
            AnyOptimizer::AdamW(a) => a.step(lr, module, grads),
        }
    }

    /// The SGD momentum buffers (checkpointable by parameter path); `None` for AdamW, whose
    /// moments live inside burn and are not checkpointed.
    pub fn sgd(&mut self) -> Option<&mut Sgd> {
        match self {
            AnyOptimizer::Sgd(s) => Some(s),
            AnyOptimizer::AdamW(_) => None,
        }
    }
}
