//! ResNet-18/34/50 with torchvision's structure and parameter names.
//!
//! Names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.*`, `fc`) so
//! that torchvision state dicts load with one rename (`downsample.0/1` ↔ `downsample.conv/bn`,
//! see [`crate::model::weights`]). Two additions serve small-scale work: a width multiplier and a
//! "small stem" (3x3 stride-1 `conv1`, no max-pool), the CIFAR variant of the MoCo demo, for
//! 32–64 px inputs. All BatchNorms are [`SplitBatchNorm`]s so shuffle-BN works on one device.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch_norm::{SplitBatchNorm, SplitBatchNormConfig};
use crate::kernels::{conv2d, max_pool};

/// The ResNet depths docmoco builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResNetArch {
    Resnet18,
    Resnet34,
    Resnet50,
}

impl ResNetArch {
    /// Blocks per stage, as in He et al. 2016, table 1.
    pub fn layers(self) -> [usize; 4] {
        match self {
            Self::Resnet18 => [2, 2, 2, 2],
            Self::Resnet34 | Self::Resnet50 => [3, 4, 6, 3],
        }
    }

    /// Output channels of a block relative to its width (4 for bottlenecks).
    pub fn expansion(self) -> usize {
        match self {
            Self::Resnet50 => 4,
            _ => 1,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "resnet18" => Some(Self::Resnet18),
            "resnet34" => Some(Self::Resnet34),
            "resnet50" => Some(Self::Resnet50),
            _ => None,
        }
    }
}

impl std::fmt::Display for ResNetArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Resnet18 => "resnet18",
            Self::Resnet34 => "resnet34",
            Self::Resnet50 => "resnet50",
        };
        f.write_str(s)
    }
}

/// Configuration of a [`ResNet`].
#[derive(Config, Debug)]
pub struct ResNetConfig {
    pub arch: ResNetArch,
    /// Multiplies every stage width (64, 128, 256, 512); 1.0 is torchvision's network.
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// 3x3 stride-1 first convolution and no max-pool, for small (32–64 px) inputs.
    #[config(default = false)]
    pub small_stem: bool,
    /// Adds the `fc` classifier with this many outputs; `None` gives a feature extractor.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Sub-batches of every BatchNorm in training mode (shuffle-BN on one device).
    #[config(default = 1)]
    pub bn_splits: usize,
}

/// A residual block: basic (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1; `conv3`/`bn3` set).
#[derive(Module, Debug)]
pub struct Block {
    pub conv1: Conv2d,
    pub bn1: SplitBatchNorm,
    pub conv2: Conv2d,
    pub bn2: SplitBatchNorm,
    pub conv3: Option<Conv2d>,
    pub bn3: Option<SplitBatchNorm>,
    pub downsample: Option<Downsample>,
}

/// The 1x1 projection shortcut (torchvision's `downsample` Sequential).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: SplitBatchNorm,
}

/// ResNet backbone (and optional classifier).
#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: SplitBatchNorm,
    pub maxpool: Option<MaxPool2d>,
    pub layer1: Vec<Block>,
    pub layer2: Vec<Block>,
    pub layer3: Vec<Block>,
    pub layer4: Vec<Block>,
    pub fc: Option<Linear>,
    /// Channels of the pooled feature vector.
    pub feature_dim: usize,
}

/// torchvision initialises convolutions with kaiming_normal_(mode="fan_out", relu).
fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: true,
        })
        .init(device)
}

fn bn(c: usize, splits: usize, device: &Device) -> SplitBatchNorm {
    SplitBatchNormConfig::new(c)
        .with_splits(splits)
        .init(device)
}

fn scaled(width: usize, mult: f64) -> usize {
    ((width as f64 * mult).round() as usize).max(1)
}

impl ResNetConfig {
    /// Stage widths after the multiplier (before the bottleneck expansion).
    pub fn widths(&self) -> [usize; 4] {
        [64, 128, 256, 512].map(|w| scaled(w, self.width_mult))
    }

    /// Channels of the pooled features.
    pub fn feature_dim(&self) -> usize {
        self.widths()[3] * self.arch.expansion()
    }

    pub fn init(&self, device: &Device) -> ResNet {
        let widths = self.widths();
        let stem = scaled(64, self.width_mult);
        let s = self.bn_splits;
        let (conv1, maxpool) = if self.small_stem {
            (conv(3, stem, 3, 1, 1, device), None)
        } else {
            let pool = MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init();
            (conv(3, stem, 7, 2, 3, device), Some(pool))
        };
        let mut in_ch = stem;
        let mut stages = Vec::new();
        for (i, (&blocks, &width)) in self.arch.layers().iter().zip(widths.iter()).enumerate() {
            let stride = if i == 0 { 1 } else { 2 };
            let mut stage = Vec::new();
            for b in 0..blocks {
                let st = if b == 0 { stride } else { 1 };
                stage.push(self.block(in_ch, width, st, device));
                in_ch = width * self.arch.expansion();
            }
            stages.push(stage);
        }
        let [layer1, layer2, layer3, layer4]: [Vec<Block>; 4] = stages
            .try_into()
            .unwrap_or_else(|_| unreachable!("four stages are built above"));
        let feature_dim = self.feature_dim();
        ResNet {
            conv1,
            bn1: bn(stem, s, device),
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            fc: self
                .num_classes
                .map(|k| LinearConfig::new(feature_dim, k).init(device)),
            feature_dim,
        }
    }

    fn block(&self, in_ch: usize, width: usize, stride: usize, device: &Device) -> Block {
        let s = self.bn_splits;
        let out_ch = width * self.arch.expansion();
        let downsample = (stride != 1 || in_ch != out_ch).then(|| Downsample {
            conv: conv(in_ch, out_ch, 1, stride, 0, device),
            bn: bn(out_ch, s, device),
        });
        if self.arch.expansion() == 1 {
            Block {
                conv1: conv(in_ch, width, 3, stride, 1, device),
                bn1: bn(width, s, device),
                conv2: conv(width, width, 3, 1, 1, device),
                bn2: bn(width, s, device),
                conv3: None,
                bn3: None,
                downsample,
            }
        } else {
            // torchvision's ResNet v1.5: the stride sits on the 3x3 convolution.
            Block {
                conv1: conv(in_ch, width, 1, 1, 0, device),
                bn1: bn(width, s, device),
                conv2: conv(width, width, 3, stride, 1, device),
                bn2: bn(width, s, device),
                conv3: Some(conv(width, out_ch, 1, 1, 0, device)),
                bn3: Some(bn(out_ch, s, device)),
                downsample,
            }
        }
    }
}

impl Block {
    /// # Shapes
    /// - input `[N, C_in, H, W]` → output `[N, C_out, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(conv2d::forward(&d.conv, x.clone())),
            None => x.clone(),
        };
        let mut out = relu(self.bn1.forward(conv2d::forward(&self.conv1, x)));
        out = self.bn2.forward(conv2d::forward(&self.conv2, out));
        if let (Some(conv3), Some(bn3)) = (&self.conv3, &self.bn3) {
            out = bn3.forward(conv2d::forward(conv3, relu(out)));
        }
        relu(out + identity)
    }
}

impl ResNet {
    /// Globally average-pooled features.
    ///
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, feature_dim]`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.forward_map(x);
        let [n, c, _, _] = x.dims();
        x.mean_dims(&[2, 3]).reshape([n, c])
    }

    /// The last feature map (before pooling), e.g. for dense tasks.
    ///
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, feature_dim, H/32, W/32]` (H/8 with the small stem)
    pub fn forward_map(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, _, c5] = self.forward_stages(x);
        c5
    }

    /// Outputs of the four stages (C2..C5 in FPN terms), for detection necks.
    pub fn forward_stages(&self, x: Tensor<4>) -> [Tensor<4>; 4] {
        let mut x = relu(self.bn1.forward(conv2d::forward(&self.conv1, x)));
        if let Some(pool) = &self.maxpool {
            x = max_pool::forward(pool, x);
        }
        let mut outs = Vec::with_capacity(4);
        for stage in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            for block in stage {
                x = block.forward(x);
            }
            outs.push(x.clone());
        }
        let [a, b, c, d]: [Tensor<4>; 4] = outs
            .try_into()
            .unwrap_or_else(|_| unreachable!("four stages"));
        [a, b, c, d]
    }

    /// Features followed by the classifier when there is one.
    ///
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, num_classes]` (or `[N, feature_dim]` without `fc`)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let f = self.forward_features(x);
        match &self.fc {
            Some(fc) => fc.forward(f),
            None => f,
        }
    }
}
