//! DBNet (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization",
//! AAAI 2020): a ResNet backbone, an FPN neck and two full-resolution heads.
//!
//! ```text
//! C2..C5 ──1x1──▶ in2..in5 (inner) ── top-down: up(x2) + add ──▶ 3x3 to inner/4 per level
//!        ── nearest upsample to 1/4 ──▶ concat (inner channels) = fused
//! fused ─▶ probability head: conv3x3-BN-ReLU, deconv x2-BN-ReLU, deconv x2, sigmoid ─▶ P
//! fused ─▶ threshold head (same layout)                                              ─▶ T
//! B = 1 / (1 + exp(-k (P - T)))   (differentiable binarisation, k = 50)
//! ```
//!
//! Field names follow the reference implementation (MhLiao/DB `decoders/seg_detector.py`:
//! `in2..in5`, `out2..out5`, `binarize`, `thresh`) so the exported weights map onto it one
//! to one (see `export.rs`). `inner_channels` is 256 in the paper; width-reduced backbones
//! use a smaller neck so the head does not dwarf the backbone.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use crate::kernels::{conv2d, deconv2d};
use crate::model::{ResNet, SplitBatchNorm, SplitBatchNormConfig};

/// Configuration of the neck and heads (the backbone is built by `tasks::init`).
#[derive(Config, Debug)]
pub struct DbHeadConfig {
    /// Channels of the backbone's four stages (C2..C5).
    pub in_channels: [usize; 4],
    /// FPN width (256 in the paper); must be a multiple of 4.
    #[config(default = 256)]
    pub inner_channels: usize,
    /// Steepness of the differentiable binarisation.
    #[config(default = 50.0)]
    pub k: f64,
}

/// `conv3x3 → BN → ReLU → deconv x2 → BN → ReLU → deconv x2 → sigmoid` (one map).
#[derive(Module, Debug)]
pub struct MapHead {
    pub conv: Conv2d,
    pub bn1: SplitBatchNorm,
    pub deconv1: ConvTranspose2d,
    pub bn2: SplitBatchNorm,
    pub deconv2: ConvTranspose2d,
}

/// The FPN neck plus the probability and threshold heads.
#[derive(Module, Debug)]
pub struct DbHead {
    pub in2: Conv2d,
    pub in3: Conv2d,
    pub in4: Conv2d,
    pub in5: Conv2d,
    pub out2: Conv2d,
    pub out3: Conv2d,
    pub out4: Conv2d,
    pub out5: Conv2d,
    pub binarize: MapHead,
    pub thresh: MapHead,
    pub k: f64,
}

/// The whole detector.
#[derive(Module, Debug)]
pub struct DbNet {
    pub backbone: ResNet,
    pub head: DbHead,
}

/// What one forward pass gives, each `[N, 1, H, W]` at input resolution.
#[derive(Debug, Clone)]
pub struct DbOutput {
    /// Probability map `P` (the only output inference needs).
    pub prob: Tensor<4>,
    /// Threshold map `T`.
    pub thresh: Tensor<4>,
    /// Approximate binary map `B`.
    pub binary: Tensor<4>,
}

/// The reference initialises every convolution with `kaiming_normal_` (fan-in, ReLU gain).
fn kaiming() -> Initializer {
    Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: false,
    }
}

fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .with_initializer(kaiming())
        .init(device)
}

fn deconv(cin: usize, cout: usize, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([cin, cout], [2, 2])
        .with_stride([2, 2])
        .with_initializer(kaiming())
        .init(device)
}

/// The reference sets BN weight 1 and bias 1e-4. The bias is built as a fresh leaf tensor:
/// `Param::map(|b| b + 1e-4)` would record an autodiff op, and the bias would stay a node of
/// the first step's (consumed) graph, never receiving a gradient of its own.
fn bn(c: usize, device: &Device) -> SplitBatchNorm {
    let mut bn = SplitBatchNormConfig::new(c).init(device);
    bn.bias = Param::from_tensor(Tensor::full([c], 1e-4, device));
    bn
}

impl DbHeadConfig {
    pub fn init(&self, device: &Device) -> DbHead {
        let inner = self.inner_channels;
        let quarter = (inner / 4).max(1);
        let [c2, c3, c4, c5] = self.in_channels;
        let map_head = || MapHead {
            conv: conv(inner, quarter, 3, device),
            bn1: bn(quarter, device),
            deconv1: deconv(quarter, quarter, device),
            bn2: bn(quarter, device),
            deconv2: deconv(quarter, 1, device),
        };
        DbHead {
            in2: conv(c2, inner, 1, device),
            in3: conv(c3, inner, 1, device),
            in4: conv(c4, inner, 1, device),
            in5: conv(c5, inner, 1, device),
            out2: conv(inner, quarter, 3, device),
            out3: conv(inner, quarter, 3, device),
            out4: conv(inner, quarter, 3, device),
            out5: conv(inner, quarter, 3, device),
            binarize: map_head(),
            thresh: map_head(),
            k: self.k,
        }
    }
}

/// Nearest-neighbour upsampling by an integer factor (the reference's `nn.Upsample`).
fn upsample(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if factor == 1 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest)
            .with_output_size([h * factor, w * factor]),
    )
}

/// Upsamples `x` to `like`'s spatial size (x2 when the input size is a multiple of 32).
fn upsample_to(x: Tensor<4>, like: &Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = like.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
    )
}

impl MapHead {
    /// # Shapes
    /// - input `[N, inner, H/4, W/4]` → output `[N, 1, H, W]`, in (0, 1)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.forward(conv2d::forward(&self.conv, x)));
        let x = relu(self.bn2.forward(deconv2d::forward(&self.deconv1, x)));
        sigmoid(deconv2d::forward(&self.deconv2, x))
    }
}

impl DbHead {
    /// The fused 1/4-resolution feature map.
    ///
    /// # Shapes
    /// - inputs C2..C5 at strides 4, 8, 16, 32 → output `[N, inner, H/4, W/4]`
    pub fn fuse(&self, stages: [Tensor<4>; 4]) -> Tensor<4> {
        let [c2, c3, c4, c5] = stages;
        let in5 = conv2d::forward(&self.in5, c5);
        let in4 = conv2d::forward(&self.in4, c4);
        let in3 = conv2d::forward(&self.in3, c3);
        let in2 = conv2d::forward(&self.in2, c2);
        let out4 = upsample_to(in5.clone(), &in4) + in4;
        let out3 = upsample_to(out4.clone(), &in3) + in3;
        let out2 = upsample_to(out3.clone(), &in2) + in2;
        let p5 = upsample(conv2d::forward(&self.out5, in5), 8);
        let p4 = upsample(conv2d::forward(&self.out4, out4), 4);
        let p3 = upsample(conv2d::forward(&self.out3, out3), 2);
        let p2 = conv2d::forward(&self.out2, out2);
        Tensor::cat(vec![p5, p4, p3, p2], 1)
    }

    /// All three maps from the backbone's stages.
    pub fn forward(&self, stages: [Tensor<4>; 4]) -> DbOutput {
        let fused = self.fuse(stages);
        let prob = self.binarize.forward(fused.clone());
        let thresh = self.thresh.forward(fused);
        let binary = step_function(prob.clone(), thresh.clone(), self.k);
        DbOutput {
            prob,
            thresh,
            binary,
        }
    }

    /// The probability map alone (inference skips the threshold branch).
    pub fn forward_prob(&self, stages: [Tensor<4>; 4]) -> Tensor<4> {
        self.binarize.forward(self.fuse(stages))
    }
}

/// Differentiable binarisation `1 / (1 + exp(-k (p - t)))`.
pub fn step_function(p: Tensor<4>, t: Tensor<4>, k: f64) -> Tensor<4> {
    sigmoid((p - t).mul_scalar(k))
}

impl DbNet {
    /// # Shapes
    /// - input `[N, 3, H, W]` with `H`, `W` multiples of 32 → maps `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> DbOutput {
        self.head.forward(self.backbone.forward_stages(x))
    }

    /// # Shapes
    /// - input `[N, 3, H, W]` → probability map `[N, 1, H, W]`
    pub fn forward_prob(&self, x: Tensor<4>) -> Tensor<4> {
        self.head.forward_prob(self.backbone.forward_stages(x))
    }
}

/// The four stage widths of a ResNet (C2..C5), for the neck's lateral convolutions.
pub fn stage_channels(backbone: &ResNet) -> [usize; 4] {
    let ch = |b: &[crate::model::resnet::Block]| {
        b.last()
            .map(|blk| {
                let conv = blk.conv3.as_ref().unwrap_or(&blk.conv2);
                conv.weight.dims()[0]
            })
            .unwrap_or(0)
    };
    [
        ch(&backbone.layer1),
        ch(&backbone.layer2),
        ch(&backbone.layer3),
        ch(&backbone.layer4),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResNetArch, ResNetConfig};

    #[test]
    fn maps_have_input_resolution_and_valid_range() {
        let device = Device::flex();
        device.seed(1);
        let backbone = ResNetConfig::new(ResNetArch::Resnet18)
            .with_width_mult(0.125)
            .init(&device);
        let channels = stage_channels(&backbone);
        assert_eq!(channels, [8, 16, 32, 64]);
        let head = DbHeadConfig::new(channels)
            .with_inner_channels(16)
            .init(&device);
        let net = DbNet { backbone, head };
        let x = Tensor::<4>::random(
            [2, 3, 64, 96],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let out = net.forward(x);
        for t in [&out.prob, &out.thresh, &out.binary] {
            assert_eq!(t.dims(), [2, 1, 64, 96]);
            let v = t.clone().into_data().try_to_vec::<f32>().unwrap();
            assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
}
