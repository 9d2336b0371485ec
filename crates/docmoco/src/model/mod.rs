//! Networks: ResNet and ViT backbones, projection heads, the encoder that joins them, and weight I/O.

pub mod backbone;
pub mod batch_norm;
pub mod encoder;
pub mod heads;
pub mod params;
pub mod resnet;
pub mod vit;
pub mod weights;

pub use backbone::{Backbone, BackboneConfig, FeatureExtractor};
pub use batch_norm::{SplitBatchNorm, SplitBatchNormConfig};
pub use encoder::{Encoder, EncoderConfig};
pub use heads::{HeadSpec, ProjectionHead};
pub use resnet::{ResNet, ResNetArch, ResNetConfig};
pub use vit::{Vit, VitConfig};
