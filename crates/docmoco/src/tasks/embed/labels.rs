//! Labels of an embedded folder, when it has them.
//!
//! `docmoco embed` takes any folder of pages; labels are a bonus that makes search precision,
//! cluster purity and coloured maps measurable. They are read when the folder is an
//! ImageFolder (`DIR/<class>/...`), or a split layout whose splits are ImageFolders with the
//! same classes (`DIR/{train,val,test}/<class>/...`, what `docmoco synth` writes to `cls/`) —
//! in the latter the split names are not classes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use docmoco_data::{ImageFolder, PageRef};

const SPLITS: [&str; 3] = ["train", "val", "test"];

/// Class names and the label of each page of `pages` (`None` for pages outside any class).
/// Empty classes when `dir` is not labelled.
pub fn folder_labels(dir: &Path, pages: &[PageRef]) -> (Vec<String>, Vec<Option<usize>>) {
    let none = || (Vec::new(), vec![None; pages.len()]);
    let folders: Vec<ImageFolder> = match ImageFolder::open(dir) {
        Ok(f) if !f.classes.iter().all(|c| SPLITS.contains(&c.as_str())) => vec![f],
        _ => {
            let splits: Vec<ImageFolder> = SPLITS
                .iter()
                .map(|s| dir.join(s))
                .filter(|d| d.is_dir())
                .map(|d| ImageFolder::open(&d))
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            if splits.is_empty() || splits.iter().any(|s| s.classes != splits[0].classes) {
                return none();
            }
            splits
        }
    };
    let classes = folders[0].classes.clone();
    let by_page: HashMap<(PathBuf, usize), usize> = folders
        .iter()
        .flat_map(|f| f.samples.iter())
        .map(|(p, l)| (key(p), *l))
        .collect();
    let labels = pages
        .iter()
        .map(|p| by_page.get(&key(p)).copied())
        .collect();
    (classes, labels)
}

fn key(p: &PageRef) -> (PathBuf, usize) {
    match p {
        PageRef::Image(path) => (path.clone(), 0),
        PageRef::PdfPage { path, page } => (path.clone(), *page),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(8, 10, image::Rgb([200, 200, 200]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn image_folder_split_layout_and_unlabelled() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for p in [
            "train/a/1.png",
            "train/b/2.png",
            "test/a/3.png",
            "test/b/4.png",
        ] {
            png(&d.join(p));
        }
        let pages = docmoco_data::scan_pages(d).unwrap().pages;
        let (classes, labels) = folder_labels(d, &pages);
        assert_eq!(classes, ["a", "b"]);
        // Sorted scan: test/a/3, test/b/4, train/a/1, train/b/2.
        assert_eq!(labels, [Some(0), Some(1), Some(0), Some(1)]);

        let train = d.join("train");
        let pages = docmoco_data::scan_pages(&train).unwrap().pages;
        assert_eq!(folder_labels(&train, &pages).1, [Some(0), Some(1)]);

        png(&d.join("loose/x.png"));
        png(&d.join("loose/y.png"));
        let loose = d.join("loose");
        let pages = docmoco_data::scan_pages(&loose).unwrap().pages;
        let (classes, labels) = folder_labels(&loose, &pages);
        assert!(classes.is_empty());
        assert_eq!(labels, [None, None]);
    }
}
