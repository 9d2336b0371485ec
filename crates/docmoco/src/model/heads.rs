//! Projection and prediction heads, built from one block type (as lightly's `ProjectionHead`).
//!
//! - MoCo v1: a single linear layer `feature_dim → 128` (the ResNet's `fc` replaced).
//! - MoCo v2: `Linear(d, d) → ReLU → Linear(d, 128)`; the hidden width equals the backbone's
//!   feature width, as in the reference's `fc = Sequential(Linear(dim_mlp, dim_mlp), ReLU(), fc)`.
//! - MoCo v3: `Linear → BN → ReLU` blocks, the last BN without affine parameters
//!   (projector) and a predictor of the same kind (Chen, Xie, He 2021, §4).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch_norm::{SplitBatchNorm, SplitBatchNormConfig};

/// One `Linear → (BN) → (ReLU)` block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadLayerSpec {
    pub input: usize,
    pub output: usize,
    /// Whether the linear layer has a bias (v3 drops it before a BN).
    pub bias: bool,
    /// `None`: no BN; `Some(affine)`: a BN with or without scale/shift.
    pub batch_norm: Option<bool>,
    pub relu: bool,
}

/// A head is a list of blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadSpec {
    pub layers: Vec<HeadLayerSpec>,
}

impl HeadSpec {
    /// MoCo v1: the encoder's `fc` maps features straight to the embedding.
    pub fn linear(input: usize, output: usize) -> Self {
        Self {
            layers: vec![HeadLayerSpec {
                input,
                output,
                bias: true,
                batch_norm: None,
                relu: false,
            }],
        }
    }

    /// MoCo v2: `Linear(d, hidden) → ReLU → Linear(hidden, out)`.
    pub fn mlp(input: usize, hidden: usize, output: usize) -> Self {
        Self {
            layers: vec![
                HeadLayerSpec {
                    input,
                    output: hidden,
                    bias: true,
                    batch_norm: None,
                    relu: true,
                },
                HeadLayerSpec {
                    input: hidden,
                    output,
                    bias: true,
                    batch_norm: None,
                    relu: false,
                },
            ],
        }
    }

    /// MoCo v3 MLP: `num_layers` blocks of `Linear(no bias) → BN → ReLU`; the last block has no
    /// ReLU and its BN is affine-free when `last_bn` is set (moco-v3 `_build_mlp`).
    pub fn bn_mlp(
        num_layers: usize,
        input: usize,
        hidden: usize,
        output: usize,
        last_bn: bool,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|i| {
                let last = i + 1 == num_layers;
                HeadLayerSpec {
                    input: if i == 0 { input } else { hidden },
                    output: if last { output } else { hidden },
                    bias: false,
                    batch_norm: if last {
                        last_bn.then_some(false)
                    } else {
                        Some(true)
                    },
                    relu: !last,
                }
            })
            .collect();
        Self { layers }
    }

    pub fn output_dim(&self) -> usize {
        self.layers.last().map(|l| l.output).unwrap_or(0)
    }

    pub fn init(&self, bn_splits: usize, device: &Device) -> ProjectionHead {
        let layers = self
            .layers
            .iter()
            .map(|spec| HeadLayer {
                linear: LinearConfig::new(spec.input, spec.output)
                    .with_bias(spec.bias)
                    .init(device),
                bn: spec.batch_norm.map(|affine| {
                    SplitBatchNormConfig::new(spec.output)
                        .with_affine(affine)
                        .with_splits(bn_splits)
                        .init(device)
                }),
                relu: spec.relu,
            })
            .collect();
        ProjectionHead { layers }
    }
}

/// One block of a head.
#[derive(Module, Debug)]
pub struct HeadLayer {
    pub linear: Linear,
    pub bn: Option<SplitBatchNorm>,
    pub relu: bool,
}

/// A projection (or prediction) head.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    pub layers: Vec<HeadLayer>,
}

impl ProjectionHead {
    /// # Shapes
    /// - input `[N, in]` → output `[N, out]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.layers {
            x = layer.linear.forward(x);
            if let Some(bn) = &layer.bn {
                x = bn.forward(x);
            }
            if layer.relu {
                x = relu(x);
            }
        }
        x
    }
}
