//! Framework-free text-line detection (DBNet family): everything around the network.
//!
//! Nothing here depends on the deep-learning framework; maps are plain `Vec<f32>`.
//!
//! * [`geometry`]: polygon area, offsetting (unclip), overlap, hull, minimum-area box.
//! * [`labels`]: DBNet probability / threshold targets ([`make_targets`]).
//! * [`augment`]: scale, rotation, text-aware crop and jitter of a page and its lines.
//! * [`dataset`] / [`loader`]: ICDAR-layout splits in memory, deterministic parallel batches.
//! * [`inference`]: resizing a page for the detector and mapping back.
//! * [`postprocess`]: probability map to boxes ([`detect_boxes`], DBNet's representer).
//! * [`eval`] / [`eval_io`]: the ICDAR 2015 protocol, result files and directories.
//! * [`draw`]: ground truth and detections over the page, as a picture.
//!
//! ```
//! use docmoco_data::icdar::TextLine;
//! use docmoco_det::{detect_boxes, evaluate_image, make_targets, LabelConfig, PostprocessConfig};
//!
//! # fn main() -> Result<(), docmoco_det::DetError> {
//! let line = TextLine::new([[10.0, 10.0], [90.0, 10.0], [90.0, 22.0], [10.0, 22.0]], "Total");
//! // Training targets for a 40 x 100 map (what the loader does for every crop).
//! let t = make_targets(&[line.clone()], 40, 100, &LabelConfig::default());
//! // A perfect network would predict the shrink map; boxes come back in page pixels.
//! let dets = detect_boxes(&t.shrink_map, 40, 100, (1.0, 1.0), (100, 40), &PostprocessConfig::thin_lines())?;
//! let quads: Vec<[[f32; 2]; 4]> = dets.iter().map(|d| d.quad).collect();
//! assert_eq!(evaluate_image(&[line], &quads).matched(), 1);
//! # Ok(())
//! # }
//! ```

pub mod augment;
pub mod components;
pub mod dataset;
pub mod draw;
pub mod error;
pub mod eval;
pub mod eval_io;
pub mod geometry;
pub mod inference;
pub mod labels;
pub mod loader;
pub mod postprocess;
pub mod raster;
pub mod warp;

pub use augment::{augment_page, DetAugmentConfig, DetSample};
pub use dataset::{DetDataset, DetPage};
pub use draw::draw_detections;
pub use error::DetError;
pub use eval::{aggregate, evaluate_image, DetMetrics, ImageEval};
pub use eval_io::{evaluate_dirs, read_detections_dir, write_detections, EvalReport};
pub use inference::prepare_for_inference;
pub use labels::{make_targets, LabelConfig, Targets};
pub use loader::{DetBatch, DetEpochIter, DetLoader};
pub use postprocess::{detect_boxes, Detection, PostprocessConfig};
