//! An encoder is a backbone followed by a projection head: MoCo's `encoder_q` / `encoder_k`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::heads::{HeadSpec, ProjectionHead};
use super::resnet::{ResNet, ResNetConfig};

/// Configuration of an [`Encoder`].
#[derive(Config, Debug)]
pub struct EncoderConfig {
    pub backbone: ResNetConfig,
    pub head: HeadSpec,
}

/// Backbone + projection head.
#[derive(Module, Debug)]
pub struct Encoder {
    pub backbone: ResNet,
    pub head: ProjectionHead,
}

impl EncoderConfig {
    pub fn init(&self, device: &Device) -> Encoder {
        Encoder {
            backbone: self.backbone.init(device),
            head: self.head.init(self.backbone.bn_splits, device),
        }
    }
}

impl Encoder {
    /// Un-normalised embeddings.
    ///
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, dim]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward_features(x))
    }
}
