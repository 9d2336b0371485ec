//! The one error type of the crate.
//!
//! Every variant names the file (and, for text formats, the 1-based line and the field) so a
//! user facing a dataset of thousands of files can fix the offending one without a debugger.

use std::path::PathBuf;

/// Errors from reading, decoding, parsing or configuring document data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The dataset directory does not exist (or is not a directory).
    #[error("dataset directory not found: {0}")]
    MissingDir(PathBuf),

    /// The directory exists but holds no usable page (image or PDF).
    #[error("no usable pages (png/jpg/jpeg/tif/tiff/bmp/webp/pdf) under {0}")]
    EmptyDataset(PathBuf),

    /// Page files were found but none could be read; names the first and why.
    #[error(
        "no readable pages under {dir}: {count} file(s) could not be read, e.g. {first}: {reason}"
    )]
    AllUnreadable {
        dir: PathBuf,
        count: usize,
        first: PathBuf,
        reason: String,
    },

    /// An operating-system error on a named path.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A malformed line in a text ground-truth file.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Parse {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        field: String,
        message: String,
    },

    /// Ground truth that cannot be written in the target format.
    #[error("cannot write {path}: entry {index}: {message}")]
    Write {
        path: PathBuf,
        index: usize,
        message: String,
    },

    /// An image file that could not be decoded.
    #[error("cannot decode image {path}: {message}")]
    Decode { path: PathBuf, message: String },

    /// A PDF that could not be opened, or a page that could not be rendered.
    #[error("cannot read PDF {path}{}: {message}", page.map(|p| format!(" page {p}")).unwrap_or_default())]
    Pdf {
        path: PathBuf,
        /// 0-based page index, when the failure concerns one page.
        page: Option<usize>,
        message: String,
    },

    /// An ImageFolder directory without any class sub-folder.
    #[error("{0} has no class sub-folders (expected <dir>/<class>/<image>)")]
    NoClasses(PathBuf),

    /// An ImageFolder class folder without any usable page.
    #[error("class folder {0} holds no usable page")]
    EmptyClass(PathBuf),

    /// A file whose type the dataset layout does not allow.
    #[error("unsupported file {0} (expected png/jpg/jpeg/tif/tiff/bmp/webp/pdf)")]
    UnsupportedFile(PathBuf),

    /// A page file directly in an ImageFolder root, where it has no class.
    #[error("{0} is outside any class folder (expected <dir>/<class>/<file>)")]
    OutsideClassFolder(PathBuf),

    /// Every page of the dataset failed to decode.
    #[error("none of the {count} pages could be decoded (first failure: {first})")]
    NoDecodablePages { count: usize, first: String },

    /// An index past the end of a collection.
    #[error("index {index} out of range for {what} of length {len}")]
    OutOfRange {
        what: &'static str,
        index: usize,
        len: usize,
    },

    /// An invalid configuration value (augmentation, loader).
    #[error("invalid config field `{field}`: {message}")]
    Config { field: String, message: String },

    /// The label list does not line up with the pages.
    #[error("{labels} labels given for {pages} pages")]
    LabelCount { labels: usize, pages: usize },

    /// The worker thread pool could not be created.
    #[error("cannot start the loader thread pool: {0}")]
    ThreadPool(String),
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
