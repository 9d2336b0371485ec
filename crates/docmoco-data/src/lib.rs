//! Framework-free document data for docmoco: reading pages (images, PDFs), labelled formats,
//! augmentation and the parallel loader. Nothing here depends on the deep-learning
//! framework; batches are plain `Vec<f32>` in NCHW order.
//!
//! * [`sources`]: [`scan_pages`] finds image files and PDF pages ([`PageRef`]).
//! * [`image_folder`]: [`ImageFolder`], `<root>/<class>/<pages>` for classification.
//! * [`icdar`]: ICDAR 2015 text-line ground truth (read and write).
//! * [`decode`]: [`decode_page`] and the decode-once [`PageCache`].
//! * [`augment`]: torchvision-exact augmentations, MoCo v1/v2/v3 presets, two views.
//! * [`loader`]: deterministic parallel batches with prefetch, resumable mid-epoch.
//!
//! ```
//! use std::sync::Arc;
//! use docmoco_data::augment::{AugmentConfig, Pipeline, TwoViews};
//! use docmoco_data::{Loader, LoaderConfig, PageCache};
//!
//! # fn main() -> Result<(), docmoco_data::DataError> {
//! // Pages usually come from `scan_pages(dir)` + `PageCache::build`; here, in memory.
//! let pages = vec![image::RgbImage::from_pixel(60, 85, image::Rgb([250, 250, 245])); 8];
//! let cache = Arc::new(PageCache::from_images(pages)?);
//! let views = TwoViews::symmetric(Pipeline::from_config(&AugmentConfig::moco_v2(32))?);
//! let loader = Loader::new(cache, views, LoaderConfig::pretrain(4))?;
//! for batch in loader.epoch_iter(0, 0)? {
//!     assert_eq!(batch.query.shape(), [4, 3, 32, 32]); // im_q; batch.key is im_k
//! }
//! # Ok(())
//! # }
//! ```

pub mod augment;
pub mod decode;
pub mod error;
pub mod icdar;
pub mod image_folder;
pub mod loader;
pub mod pdf;
mod resample;
pub mod rng;
pub mod sources;

pub use decode::{decode_page, PageCache};
pub use error::DataError;
pub use image_folder::ImageFolder;
pub use loader::{Batch, Loader, LoaderConfig, TwoViewBatch};
pub use sources::{scan_pages, PageRef, ScanReport};
