//! Framework-free document data: reading pages (images, PDFs), labelled formats, augmentation
//! and the parallel loader. Nothing here depends on the deep-learning framework.

pub mod augment;
pub mod error;
pub mod icdar;
mod resample;
pub mod rng;

pub use error::DataError;
