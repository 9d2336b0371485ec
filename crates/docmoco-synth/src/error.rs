//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while generating or writing synthetic pages.
///
/// Page generation itself is pure and only fails on invalid requests or a broken
/// embedded font; the rest are I/O and codec errors that carry the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A request that cannot be honoured (size too small, no classes, ...).
    #[error("invalid synth configuration: {0}")]
    InvalidConfig(String),
    /// An embedded font failed to parse (a build problem, not a user error).
    #[error("embedded font {name} is invalid: {message}")]
    Font { name: &'static str, message: String },
    /// Reading or writing a file or folder failed.
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Encoding or decoding an image failed.
    #[error("image codec error at {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// An unknown document class name.
    #[error("unknown document class {0:?} (expected one of: {1})")]
    UnknownClass(String, String),
    /// Writing or reading ground truth through `docmoco-data` failed.
    #[error(transparent)]
    Data(#[from] docmoco_data::DataError),
    /// A PDF could not be read, parsed or rendered.
    #[error("PDF error in {path}: {message}")]
    Pdf { path: PathBuf, message: String },
}

impl SynthError {
    /// Wraps an `std::io::Error` with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SynthError::Io {
            path: path.into(),
            source,
        }
    }
}
