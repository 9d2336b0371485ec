//! `ImageFolder`: a labelled dataset as `<root>/<class>/<pages>`.
//!
//! The layout of torchvision's `ImageFolder`, used for document classification (RVL-CDIP
//! and Tobacco-3482 are commonly unpacked this way) by the linear probe, fine-tuning and the
//! kNN monitor. Class indices are the sorted folder names, so they are stable across
//! machines. Unlike [`crate::scan_pages`], which takes whatever pages it finds, a labelled
//! set is strict: a stray file of another type inside a class folder is an error that names
//! it (it usually means a wrongly unpacked archive), as is an empty class. Hidden files are
//! ignored; non-page files in the root (a README, a split list) are ignored too.

use std::path::{Path, PathBuf};

use crate::sources::{file_kind, is_hidden, probe_file, PageRef};
use crate::DataError;

/// A labelled page dataset.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    pub root: PathBuf,
    /// Sorted class folder names; a label is an index into this.
    pub classes: Vec<String>,
    /// Every page with its label, sorted by class then path.
    pub samples: Vec<(PageRef, usize)>,
    /// Unreadable files, with the reason (not fatal).
    pub skipped: Vec<(PathBuf, String)>,
}

impl ImageFolder {
    /// Scans `dir`; see the module docs for what is an error.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::MissingDir(dir.to_path_buf()));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
        let mut class_dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| DataError::io(dir, e))?;
            let path = entry.path();
            if is_hidden(&path) {
                continue;
            }
            if path.is_dir() {
                class_dirs.push(path);
            } else if file_kind(&path).is_some() {
                return Err(DataError::OutsideClassFolder(path));
            }
        }
        if class_dirs.is_empty() {
            return Err(DataError::NoClasses(dir.to_path_buf()));
        }
        class_dirs.sort();

        let mut folder = ImageFolder {
            root: dir.to_path_buf(),
            classes: Vec::with_capacity(class_dirs.len()),
            samples: Vec::new(),
            skipped: Vec::new(),
        };
        for (label, class_dir) in class_dirs.iter().enumerate() {
            let name = class_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            folder.classes.push(name);
            let before = folder.samples.len();
            folder.scan_class(class_dir, label)?;
            if folder.samples.len() == before {
                return Err(DataError::EmptyClass(class_dir.clone()));
            }
        }
        Ok(folder)
    }

    fn scan_class(&mut self, class_dir: &Path, label: usize) -> Result<(), DataError> {
        for path in crate::sources::files_under(class_dir, &mut self.skipped) {
            let path = path.as_path();
            let kind =
                file_kind(path).ok_or_else(|| DataError::UnsupportedFile(path.to_path_buf()))?;
            match probe_file(path, kind) {
                Ok(pages) => self.samples.extend(pages.into_iter().map(|p| (p, label))),
                Err(why) => self.skipped.push((path.to_path_buf(), why)),
            }
        }
        Ok(())
    }

    /// The pages, in sample order (input for [`crate::decode::PageCache::build`]).
    pub fn pages(&self) -> Vec<PageRef> {
        self.samples.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The labels, in sample order.
    pub fn labels(&self) -> Vec<usize> {
        self.samples.iter().map(|(_, l)| *l).collect()
    }

    /// Pages per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for (_, l) in &self.samples {
            counts[*l] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path) {
        image::RgbImage::from_pixel(3, 4, image::Rgb([1, 2, 3]))
            .save(path)
            .unwrap();
    }

    fn layout(d: &Path) {
        for c in ["letter", "form", "email"] {
            std::fs::create_dir_all(d.join(c)).unwrap();
        }
        png(&d.join("letter/b.png"));
        png(&d.join("letter/a.png"));
        std::fs::create_dir_all(d.join("form/nested")).unwrap();
        png(&d.join("form/nested/x.png"));
        png(&d.join("email/e.png"));
        std::fs::write(d.join("email/.DS_Store"), b"x").unwrap();
        std::fs::write(d.join("README.txt"), b"about").unwrap();
    }

    #[test]
    fn classes_are_sorted_and_samples_labelled() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path());
        let f = ImageFolder::open(dir.path()).unwrap();
        assert_eq!(f.classes, ["email", "form", "letter"]);
        assert_eq!(f.labels(), [0, 1, 2, 2]);
        assert!(f.samples[2].0.path().ends_with("letter/a.png"));
        assert_eq!(f.class_counts(), [1, 1, 2]);
    }

    #[test]
    fn layout_errors_are_specific() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(matches!(
            ImageFolder::open(&d.join("no")),
            Err(DataError::MissingDir(_))
        ));
        assert!(matches!(ImageFolder::open(d), Err(DataError::NoClasses(_))));
        layout(d);
        std::fs::write(d.join("form/notes.docx"), b"x").unwrap();
        let e = ImageFolder::open(d).unwrap_err();
        assert!(
            matches!(&e, DataError::UnsupportedFile(p) if p.ends_with("notes.docx")),
            "{e}"
        );
        std::fs::remove_file(d.join("form/notes.docx")).unwrap();
        std::fs::create_dir_all(d.join("memo")).unwrap();
        let e = ImageFolder::open(d).unwrap_err();
        assert!(
            matches!(&e, DataError::EmptyClass(p) if p.ends_with("memo")),
            "{e}"
        );
        std::fs::remove_dir(d.join("memo")).unwrap();
        png(&d.join("loose.png"));
        assert!(matches!(
            ImageFolder::open(d),
            Err(DataError::OutsideClassFolder(_))
        ));
    }

    #[test]
    fn broken_files_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path());
        std::fs::write(dir.path().join("form/broken.png"), b"nope").unwrap();
        let f = ImageFolder::open(dir.path()).unwrap();
        assert_eq!(f.samples.len(), 4);
        assert_eq!(f.skipped.len(), 1);
    }
}
