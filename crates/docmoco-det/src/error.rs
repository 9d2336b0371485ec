//! The one error type of the crate.
//!
//! Like [`docmoco_data::DataError`] (which it wraps), every variant names the file, and for
//! text formats the 1-based line and field, so a broken file among thousands can be found
//! without a debugger.

use std::path::PathBuf;

use docmoco_data::DataError;

/// Errors from loading detection data, configuring transforms or evaluating results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetError {
    /// Reading, decoding or parsing failed in the data crate (its message names the file).
    #[error(transparent)]
    Data(#[from] DataError),

    /// An operating-system error on a named path.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A malformed line in a detection result file.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Parse {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        field: String,
        message: String,
    },

    /// A directory the layout requires is missing.
    #[error("directory not found: {0}")]
    MissingDir(PathBuf),

    /// A detection dataset directory without any image.
    #[error("no images (png/jpg/jpeg/tif/tiff/bmp/webp) in {0}")]
    NoImages(PathBuf),

    /// An image without its ground-truth file.
    #[error("no ground truth for {image}: expected {expected} (or {alt})")]
    MissingGt {
        image: PathBuf,
        expected: PathBuf,
        alt: PathBuf,
    },

    /// A result file whose image has no ground truth: evaluating it would silently skip it.
    #[error("result file {result} has no matching ground truth (looked for {expected})")]
    OrphanResult { result: PathBuf, expected: PathBuf },

    /// Two files that map to the same image name (e.g. `res_a.txt` and `gt_a.txt`).
    #[error("two files for image `{name}`: {first} and {second}")]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// An invalid configuration value.
    #[error("invalid config field `{field}`: {message}")]
    Config { field: String, message: String },

    /// Inputs whose sizes do not agree (a probability map of the wrong length, ...).
    #[error("{what}: expected {expected} values, got {got}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },

    /// An index past the end of a collection.
    #[error("index {index} out of range for {what} of length {len}")]
    OutOfRange {
        what: &'static str,
        index: usize,
        len: usize,
    },

    /// The loader's threads could not be started.
    #[error("cannot start the loader threads: {0}")]
    ThreadPool(String),
}

impl DetError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DetError::Io {
            path: path.into(),
            source,
        }
    }

    /// A configuration error for `field`.
    pub(crate) fn config(field: &str, message: impl Into<String>) -> Self {
        DetError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}
