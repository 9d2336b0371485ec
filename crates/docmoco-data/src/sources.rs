//! Finding pages on disk: image files and PDF pages, in a deterministic order.
//!
//! A page is the unit of the dataset, not a file: a PDF contributes one [`PageRef`] per
//! page. The scan is sorted so that sample indices (which seed the augmentation streams,
//! see [`crate::rng`]) mean the same page on every machine. Files are checked cheaply here
//! (image header, PDF page tree) and fully when decoded; anything unreadable is reported in
//! [`ScanReport::skipped`] instead of aborting, because a large scraped collection always
//! has a few broken files.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use crate::pdf::pdf_page_count;
use crate::DataError;

/// Extensions read as raster images (lower case).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

/// One page of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PageRef {
    /// A raster image file (a multi-page TIFF contributes its first page).
    Image(PathBuf),
    /// Page `page` (0-based) of a PDF file.
    PdfPage { path: PathBuf, page: usize },
}

impl PageRef {
    /// The file the page lives in.
    pub fn path(&self) -> &Path {
        match self {
            PageRef::Image(p) => p,
            PageRef::PdfPage { path, .. } => path,
        }
    }
}

impl fmt::Display for PageRef {
    /// `file.png`, or `file.pdf#page=3` (1-based, as PDF viewers' open parameters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageRef::Image(p) => write!(f, "{}", p.display()),
            PageRef::PdfPage { path, page } => write!(f, "{}#page={}", path.display(), page + 1),
        }
    }
}

/// What a file is, judged by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Image,
    Pdf,
}

/// The kind of a supported file, `None` for anything else (case-insensitive extension).
pub fn file_kind(path: &Path) -> Option<FileKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if ext == "pdf" {
        Some(FileKind::Pdf)
    } else if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        Some(FileKind::Image)
    } else {
        None
    }
}

/// True for dot-files and dot-folders (`.DS_Store`, `.git`), which are never data.
pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Cheap validity check of one supported file: the image header, or the PDF page tree.
/// Returns its pages, or why it is unusable.
pub fn probe_file(path: &Path, kind: FileKind) -> Result<Vec<PageRef>, String> {
    match kind {
        FileKind::Image => {
            let reader = image::ImageReader::open(path)
                .map_err(|e| e.to_string())?
                .with_guessed_format()
                .map_err(|e| e.to_string())?;
            if reader.format().is_none() {
                return Err("not a recognised image format".into());
            }
            let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
            if w == 0 || h == 0 {
                return Err(format!("empty image ({w}x{h})"));
            }
            Ok(vec![PageRef::Image(path.to_path_buf())])
        }
        FileKind::Pdf => {
            let n = pdf_page_count(path).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("PDF has no pages".into());
            }
            Ok((0..n)
                .map(|page| PageRef::PdfPage {
                    path: path.to_path_buf(),
                    page,
                })
                .collect())
        }
    }
}

/// The result of scanning a directory.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Usable pages, sorted by path then page number.
    pub pages: Vec<PageRef>,
    /// Supported files (or directory entries) that could not be read, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Files with an unsupported extension (e.g. ground-truth text files next to images).
    pub ignored: Vec<PathBuf>,
}

/// Every file under `dir`, recursively, sorted by name, hidden files and folders excluded,
/// symlinks followed. Entries that cannot be read are recorded in `skipped` with the reason.
pub(crate) fn files_under(dir: &Path, skipped: &mut Vec<(PathBuf, String)>) -> Vec<PathBuf> {
    let walker = WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.path()));
    let mut files = Vec::new();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.to_path_buf());
                skipped.push((path, e.to_string()));
            }
        }
    }
    files
}

/// Recursively finds all pages under `dir` (hidden files and folders excluded, symlinks
/// followed), sorted by path.
pub fn scan_pages(dir: &Path) -> Result<ScanReport, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir(dir.to_path_buf()));
    }
    let mut report = ScanReport::default();
    for path in files_under(dir, &mut report.skipped) {
        let path = path.as_path();
        match file_kind(path) {
            None => report.ignored.push(path.to_path_buf()),
            Some(kind) => match probe_file(path, kind) {
                Ok(pages) => report.pages.extend(pages),
                Err(why) => report.skipped.push((path.to_path_buf(), why)),
            },
        }
    }
    if report.pages.is_empty() {
        if let Some((first, reason)) = report.skipped.first() {
            return Err(DataError::AllUnreadable {
                dir: dir.to_path_buf(),
                count: report.skipped.len(),
                first: first.clone(),
                reason: reason.clone(),
            });
        }
        return Err(DataError::EmptyDataset(dir.to_path_buf()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::tiny_pdf_bytes;

    fn png(path: &Path, w: u32, h: u32) {
        image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn scans_recursively_sorted_with_pdf_pages_and_skips_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/sub")).unwrap();
        std::fs::create_dir_all(d.join(".hidden")).unwrap();
        png(&d.join("b/sub/z.PNG"), 4, 3);
        png(&d.join("a.png"), 5, 6);
        png(&d.join(".hidden/x.png"), 2, 2);
        std::fs::write(d.join("b/doc.pdf"), tiny_pdf_bytes(2)).unwrap();
        std::fs::write(d.join("b/broken.jpg"), b"not a jpeg at all").unwrap();
        std::fs::write(d.join("b/gt.txt"), b"1,2,3,4,5,6,7,8,x").unwrap();
        let r = scan_pages(d).unwrap();
        let names: Vec<String> = r
            .pages
            .iter()
            .map(|p| p.to_string().replace(&d.display().to_string(), ""))
            .collect();
        assert_eq!(
            names,
            [
                "/a.png",
                "/b/doc.pdf#page=1",
                "/b/doc.pdf#page=2",
                "/b/sub/z.PNG"
            ]
        );
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].0.ends_with("broken.jpg"));
        assert_eq!(r.ignored.len(), 1);
    }

    #[test]
    fn missing_and_empty_directories_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            scan_pages(&dir.path().join("nope")),
            Err(DataError::MissingDir(_))
        ));
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert!(matches!(
            scan_pages(dir.path()),
            Err(DataError::EmptyDataset(_))
        ));
    }
}
