//! Framework-free text-line detection (DBNet family): everything around the network.
//!
//! Nothing here depends on the deep-learning framework; maps are plain `Vec<f32>`.
//!
//! * [`geometry`]: polygon area, offsetting (unclip), overlap, hull, minimum-area box.
//! * [`labels`]: DBNet probability / threshold targets ([`make_targets`]).

pub mod error;
pub mod geometry;
pub mod labels;
pub mod raster;

pub use error::DetError;
pub use labels::{make_targets, LabelConfig, Targets};
