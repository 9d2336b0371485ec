//! Framework-free document data: reading pages (images, PDFs), labelled formats, augmentation
//! and the parallel loader. Nothing here depends on the deep-learning framework.

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
