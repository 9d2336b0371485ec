//! Framework-free document data: reading pages (images, PDFs), labelled formats, augmentation
//! and the parallel loader. Nothing here depends on the deep-learning framework.

pub mod augment;
pub mod decode;
pub mod error;
pub mod icdar;
pub mod pdf;
mod resample;
pub mod rng;
pub mod sources;

pub use error::DataError;
pub use sources::{scan_pages, PageRef, ScanReport};
