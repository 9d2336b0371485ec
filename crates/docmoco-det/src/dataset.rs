//! A text-detection dataset in the ICDAR 2015 layout, decoded once into memory.
//!
//! `DIR/images/<name>.<ext>` with `DIR/gt/gt_<name>.txt` (the official naming) or
//! `DIR/gt/<name>.txt`. Unlike pre-training, where a broken page is skipped, a detection
//! set is small and curated: a missing ground-truth file or a malformed line is an error
//! naming the file and line, before any image is decoded. Pages are decoded in parallel and
//! shrunk to a long-side cap, with their lines scaled along, because each training crop
//! re-reads the page and decoding it every time would cost more than the crop.

use std::path::{Path, PathBuf};

use docmoco_data::decode::{decode_page, downscale};
use docmoco_data::icdar::{parse_gt_file, TextLine};
use docmoco_data::sources::{PageRef, IMAGE_EXTENSIONS};
use image::RgbImage;
use rayon::prelude::*;

use crate::DetError;

/// One decoded page with its ground truth, in the decoded image's pixel coordinates.
#[derive(Debug, Clone)]
pub struct DetPage {
    /// File stem, used to pair results with ground truth (`res_<name>.txt`).
    pub name: String,
    pub image_path: PathBuf,
    pub gt_path: PathBuf,
    pub image: RgbImage,
    pub lines: Vec<TextLine>,
    /// Size of the image file before shrinking, `(width, height)`.
    pub orig_size: (u32, u32),
}

/// Pages of one split, sorted by file name so sample indices are stable across machines.
#[derive(Debug, Clone, Default)]
pub struct DetDataset {
    pages: Vec<DetPage>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `(image, gt)` pairs of a split directory, checked for ground truth, sorted.
pub fn list_pairs(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, DetError> {
    let (images, gt) = (dir.join("images"), dir.join("gt"));
    for d in [&images, &gt] {
        if !d.is_dir() {
            return Err(DetError::MissingDir(d.clone()));
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images)
        .map_err(|e| DetError::io(&images, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DetError::NoImages(images));
    }
    files
        .into_iter()
        .map(|img| {
            let stem = img
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let expected = gt.join(format!("gt_{stem}.txt"));
            let alt = gt.join(format!("{stem}.txt"));
            if expected.is_file() {
                Ok((img, expected))
            } else if alt.is_file() {
                Ok((img, alt))
            } else {
                Err(DetError::MissingGt {
                    image: img,
                    expected,
                    alt,
                })
            }
        })
        .collect()
}

impl DetDataset {
    /// Loads `dir/images` + `dir/gt`, pages shrunk to `max_long_side` (if given), decoding
    /// in parallel on rayon's current pool.
    pub fn load(dir: &Path, max_long_side: Option<u32>) -> Result<Self, DetError> {
        if max_long_side == Some(0) {
            return Err(DetError::config("max_long_side", "must be at least 1"));
        }
        let pairs = list_pairs(dir)?;
        // Parse all ground truth first: a typo should fail in milliseconds, not after decoding.
        let gts: Vec<Vec<TextLine>> = pairs
            .iter()
            .map(|(_, gt)| parse_gt_file(gt).map_err(DetError::from))
            .collect::<Result<_, _>>()?;
        let pages = pairs
            .into_par_iter()
            .zip(gts)
            .map(|((image_path, gt_path), lines)| {
                let full = decode_page(&PageRef::Image(image_path.clone()), None)?;
                let orig_size = full.dimensions();
                let image = match max_long_side {
                    Some(m) => downscale(&full, m),
                    None => full,
                };
                let sx = image.width() as f32 / orig_size.0 as f32;
                let sy = image.height() as f32 / orig_size.1 as f32;
                let lines = lines
                    .into_iter()
                    .map(|l| TextLine {
                        quad: l.quad.map(|p| [p[0] * sx, p[1] * sy]),
                        ..l
                    })
                    .collect();
                let name = image_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(DetPage {
                    name,
                    image_path,
                    gt_path,
                    image,
                    lines,
                    orig_size,
                })
            })
            .collect::<Result<Vec<_>, DetError>>()?;
        Ok(DetDataset { pages })
    }

    /// A dataset from pages already in memory (tests, generated data).
    pub fn from_pages(pages: Vec<DetPage>) -> Self {
        DetDataset { pages }
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&DetPage> {
        self.pages.get(i)
    }

    pub fn pages(&self) -> &[DetPage] {
        &self.pages
    }

    /// Bytes held by the decoded pages.
    pub fn memory_bytes(&self) -> usize {
        self.pages.iter().map(|p| p.image.as_raw().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docmoco_data::icdar::write_gt_file;

    fn make_split(dir: &Path, names: &[&str]) {
        std::fs::create_dir_all(dir.join("images")).unwrap();
        std::fs::create_dir_all(dir.join("gt")).unwrap();
        for (k, name) in names.iter().enumerate() {
            RgbImage::from_pixel(200, 100, image::Rgb([255, 255, 255]))
                .save(dir.join("images").join(format!("{name}.png")))
                .unwrap();
            let l = TextLine::new(
                [[10.0, 20.0], [110.0, 20.0], [110.0, 30.0], [10.0, 30.0]],
                "x",
            );
            // Both namings are accepted.
            let gt = if k % 2 == 0 {
                format!("gt_{name}.txt")
            } else {
                format!("{name}.txt")
            };
            write_gt_file(&dir.join("gt").join(gt), &[l]).unwrap();
        }
    }

    #[test]
    fn loads_pairs_and_scales_lines_with_the_page() {
        let tmp = tempfile::tempdir().unwrap();
        make_split(tmp.path(), &["b", "a", "c"]);
        std::fs::write(tmp.path().join("images/notes.txt"), "not an image").unwrap();
        let ds = DetDataset::load(tmp.path(), Some(100)).unwrap();
        assert_eq!(ds.len(), 3);
        let p = ds.get(0).unwrap();
        assert_eq!(p.name, "a");
        assert_eq!(p.image.dimensions(), (100, 50));
        assert_eq!(p.orig_size, (200, 100));
        assert_eq!(p.lines[0].quad[1], [55.0, 10.0]);
        let full = DetDataset::load(tmp.path(), None).unwrap();
        assert_eq!(full.get(2).unwrap().lines[0].quad[1], [110.0, 20.0]);
    }

    #[test]
    fn missing_gt_and_bad_lines_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        make_split(tmp.path(), &["a", "b"]);
        std::fs::remove_file(tmp.path().join("gt/b.txt")).unwrap();
        let e = DetDataset::load(tmp.path(), None).unwrap_err();
        assert!(matches!(e, DetError::MissingGt { .. }), "{e}");
        assert!(e.to_string().contains("gt_b.txt"), "{e}");
        std::fs::write(
            tmp.path().join("gt/gt_b.txt"),
            "1,2,3,4,5,6,7,8,ok\n1,2,3,x,5,6,7,8,bad\n",
        )
        .unwrap();
        let e = DetDataset::load(tmp.path(), None).unwrap_err().to_string();
        assert!(e.contains("gt_b.txt:2") && e.contains("y2"), "{e}");
        let e = DetDataset::load(&tmp.path().join("nope"), None).unwrap_err();
        assert!(matches!(e, DetError::MissingDir(_)));
    }
}
