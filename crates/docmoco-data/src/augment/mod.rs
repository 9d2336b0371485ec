//! Augmentations with torchvision semantics, one op per file.
//!
//! A [`Pipeline`] runs one geometric step on the cached 8-bit page (random resized crop, or
//! a whole-page resize for evaluation) which yields a small float CHW image, then the
//! photometric ops on float planes, then normalisation. [`TwoViews`] draws two independent
//! views per page: MoCo's query and key ("two crops", `TwoCropsTransform`).

mod chw;
pub mod color_jitter;
pub mod flip;
pub mod gaussian_blur;
pub mod grayscale;
pub mod normalize;
pub mod pipeline;
pub mod presets;
pub mod random_apply;
pub mod random_resized_crop;
pub mod resize;
pub mod resized_crop;
pub mod solarize;
pub mod two_views;

pub use chw::ChwImage;
pub use color_jitter::ColorJitter;
pub use flip::HorizontalFlip;
pub use gaussian_blur::GaussianBlur;
pub use grayscale::RandomGrayscale;
pub use normalize::Normalize;
pub use pipeline::Pipeline;
pub use presets::{AugmentConfig, GeometryConfig, OpConfig};
pub use random_apply::{RandomApply, RandomOp};
pub use random_resized_crop::{overlap, Anchor, RandomResizedCrop};
pub use resize::{ResizeCenterCrop, ResizeToSquare};
pub use resized_crop::{resized_crop, resized_crop_chw};
pub use solarize::Solarize;
pub use two_views::{TwoViews, TwoViewsConfig};

pub use crate::resample::Rect;
