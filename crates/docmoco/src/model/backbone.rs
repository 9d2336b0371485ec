//! A backbone of either family, for the methods that accept both (MoCo v3).
//!
//! MoCo v1/v2 keep their ResNet-only [`Encoder`](super::Encoder); v3 is defined for ResNets and
//! ViTs alike (Chen, Xie, He 2021), and only this enum knows the difference.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::resnet::{ResNet, ResNetConfig};
use super::vit::{Vit, VitConfig};

/// Which backbone to build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BackboneConfig {
    ResNet(ResNetConfig),
    Vit(VitConfig),
}

/// A ResNet or a ViT, both ending in a feature vector per image.
// A handful of these exist per run (query and momentum encoders), so the variants' size
// difference costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    ResNet(ResNet),
    Vit(Vit),
}

impl BackboneConfig {
    pub fn init(&self, device: &Device) -> Backbone {
        match self {
            BackboneConfig::ResNet(c) => Backbone::ResNet(c.init(device)),
            BackboneConfig::Vit(c) => Backbone::Vit(c.init(device)),
        }
    }

    /// Width of [`Backbone::forward_features`]' output (the reference's `hidden_dim`).
    pub fn feature_dim(&self) -> usize {
        match self {
            BackboneConfig::ResNet(c) => c.feature_dim(),
            BackboneConfig::Vit(c) => c.feature_dim(),
        }
    }

    /// Whether an image's features depend on the other images of its batch (BatchNorm in the
    /// backbone). Such a backbone cannot be run in chunks without changing the result.
    pub fn couples_batch(&self) -> bool {
        matches!(self, BackboneConfig::ResNet(_))
    }
}

/// A network that maps images to one feature vector each: what kNN monitors, linear probes
/// and embedding indexes need, whichever family the backbone is.
pub trait FeatureExtractor: Module {
    /// Width of the output.
    fn feature_dim(&self) -> usize;
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, feature_dim]`
    fn features(&self, x: Tensor<4>) -> Tensor<2>;
}

impl FeatureExtractor for ResNet {
    fn feature_dim(&self) -> usize {
        self.feature_dim
    }
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_features(x)
    }
}

impl FeatureExtractor for Vit {
    fn feature_dim(&self) -> usize {
        self.dim()
    }
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_features(x)
    }
}

impl FeatureExtractor for Backbone {
    fn feature_dim(&self) -> usize {
        match self {
            Backbone::ResNet(m) => m.feature_dim,
            Backbone::Vit(m) => m.dim(),
        }
    }
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_features(x)
    }
}

impl Backbone {
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, feature_dim]`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet(m) => m.forward_features(x),
            Backbone::Vit(m) => m.forward_features(x),
        }
    }

    /// Which family, for messages (`ResNet`, `ViT`).
    pub fn family(&self) -> &'static str {
        match self {
            Backbone::ResNet(_) => "ResNet",
            Backbone::Vit(_) => "ViT",
        }
    }
}
