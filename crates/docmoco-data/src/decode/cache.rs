//! Decode every page once and keep it in memory.
//!
//! Pre-training visits each page hundreds of times (two views per epoch); decoding a JPEG
//! scan or rasterising a PDF page costs far more than cropping it, so pages are decoded once,
//! in parallel, shrunk to a long-side limit, and kept as 8-bit RGB. Memory is about
//! `3 * long_side^2 / sqrt(2)` bytes per A4 page (~0.56 MB at 512 px), and the random resized
//! crop then reads only the crop's pixels (see [`crate::resample`]). Broken pages are
//! recorded in [`PageCache::skipped`] rather than failing a long run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::RgbImage;
use rayon::prelude::*;

use super::decode_page;
use crate::pdf::render_pdf_pages;
use crate::sources::PageRef;
use crate::DataError;

/// PDF pages rendered per task: enough to amortise parsing the file, few enough that a
/// single long PDF still spreads over all threads.
const PDF_PAGES_PER_TASK: usize = 8;

/// Decoded pages, in the order of the list they were built from (minus skipped ones).
#[derive(Debug, Clone)]
pub struct PageCache {
    refs: Vec<PageRef>,
    images: Vec<RgbImage>,
    source_index: Vec<usize>,
    skipped: Vec<(PageRef, String)>,
    max_long_side: u32,
}

/// Long side at which the smallest random crop of an A4-shaped page still has `size`
/// pixels per side: `size / sqrt(min_scale / sqrt(2))`. Caching pages larger than this
/// costs memory without adding detail to any view (596 px for 224 and scale 0.2).
pub fn suggested_long_side(size: u32, min_scale: f64) -> u32 {
    let aspect = std::f64::consts::FRAC_1_SQRT_2;
    (size as f64 / (min_scale.clamp(1e-4, 1.0) * aspect).sqrt()).ceil() as u32
}

/// A unit of parallel work: one image, or a run of pages of one PDF (parsed once).
enum Task {
    Image(usize),
    Pdf(PathBuf, Vec<(usize, usize)>),
}

fn tasks(pages: &[PageRef]) -> Vec<Task> {
    let mut pdfs: BTreeMap<&PathBuf, Vec<(usize, usize)>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        match p {
            PageRef::Image(_) => out.push(Task::Image(i)),
            PageRef::PdfPage { path, page } => pdfs.entry(path).or_default().push((i, *page)),
        }
    }
    for (path, items) in pdfs {
        for chunk in items.chunks(PDF_PAGES_PER_TASK) {
            out.push(Task::Pdf(path.clone(), chunk.to_vec()));
        }
    }
    out
}

impl PageCache {
    /// Decodes `pages` in parallel (rayon's current pool), long side at most
    /// `max_long_side`. `progress(done)` is called from worker threads after each page.
    pub fn build(
        pages: &[PageRef],
        max_long_side: u32,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<Self, DataError> {
        if max_long_side == 0 {
            return Err(DataError::Config {
                field: "max_long_side".into(),
                message: "must be at least 1".into(),
            });
        }
        let done = AtomicUsize::new(0);
        let tick = || {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(f) = progress {
                f(n);
            }
        };
        let mut results: Vec<(usize, Result<RgbImage, DataError>)> = tasks(pages)
            .into_par_iter()
            .flat_map_iter(|task| match task {
                Task::Image(i) => {
                    let r = decode_page(&pages[i], Some(max_long_side));
                    tick();
                    vec![(i, r)]
                }
                Task::Pdf(path, items) => {
                    let numbers: Vec<usize> = items.iter().map(|&(_, p)| p).collect();
                    let rendered = render_pdf_pages(&path, &numbers, Some(max_long_side));
                    items
                        .iter()
                        .zip(rendered)
                        .map(|(&(i, _), r)| {
                            tick();
                            (i, r)
                        })
                        .collect()
                }
            })
            .collect();
        results.sort_by_key(|(i, _)| *i);

        let mut cache = PageCache {
            refs: Vec::new(),
            images: Vec::new(),
            source_index: Vec::new(),
            skipped: Vec::new(),
            max_long_side,
        };
        for (i, r) in results {
            match r {
                Ok(img) => {
                    cache.refs.push(pages[i].clone());
                    cache.images.push(img);
                    cache.source_index.push(i);
                }
                Err(e) => cache.skipped.push((pages[i].clone(), e.to_string())),
            }
        }
        if cache.images.is_empty() {
            return Err(DataError::NoDecodablePages {
                count: pages.len(),
                first: cache
                    .skipped
                    .first()
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| "no pages given".into()),
            });
        }
        Ok(cache)
    }

    /// A cache over images already in memory (synthetic pages, tests, benchmarks). They are
    /// named `memory:<i>` and kept at their size.
    pub fn from_images(images: Vec<RgbImage>) -> Result<Self, DataError> {
        if images.is_empty() {
            return Err(DataError::NoDecodablePages {
                count: 0,
                first: "no pages given".into(),
            });
        }
        if let Some(i) = images
            .iter()
            .position(|i| i.width() == 0 || i.height() == 0)
        {
            return Err(DataError::Config {
                field: format!("images[{i}]"),
                message: "empty image".into(),
            });
        }
        let max_long_side = images
            .iter()
            .map(|i| i.width().max(i.height()))
            .max()
            .unwrap_or(0);
        Ok(PageCache {
            refs: (0..images.len())
                .map(|i| PageRef::Image(PathBuf::from(format!("memory:{i}"))))
                .collect(),
            source_index: (0..images.len()).collect(),
            images,
            skipped: Vec::new(),
            max_long_side,
        })
    }

    /// Number of decoded pages.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Page `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing; see [`Self::try_get`].
    pub fn get(&self, i: usize) -> &RgbImage {
        &self.images[i]
    }

    /// Page `i`, or `None` past the end.
    pub fn try_get(&self, i: usize) -> Option<&RgbImage> {
        self.images.get(i)
    }

    /// Where page `i` came from.
    pub fn page_ref(&self, i: usize) -> Option<&PageRef> {
        self.refs.get(i)
    }

    /// Position of each cached page in the list given to [`Self::build`], to carry labels
    /// over when pages were skipped.
    pub fn source_indices(&self) -> &[usize] {
        &self.source_index
    }

    /// Picks, from per-input-page values (e.g. [`crate::ImageFolder::labels`]), those of
    /// the pages that were kept, so they line up with the cache's indices.
    pub fn carry_labels(&self, labels: &[usize]) -> Result<Vec<usize>, DataError> {
        self.source_index
            .iter()
            .map(|&i| {
                labels.get(i).copied().ok_or(DataError::LabelCount {
                    labels: labels.len(),
                    pages: i + 1,
                })
            })
            .collect()
    }

    /// Pages that could not be decoded, with the reason.
    pub fn skipped(&self) -> &[(PageRef, String)] {
        &self.skipped
    }

    /// The long-side limit pages were decoded at.
    pub fn max_long_side(&self) -> u32 {
        self.max_long_side
    }

    /// Bytes of pixel data held.
    pub fn memory_bytes(&self) -> usize {
        self.images.iter().map(|i| i.as_raw().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::tiny_pdf_bytes;

    #[test]
    fn decodes_once_skips_broken_pages_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut pages = Vec::new();
        for i in 0..5u8 {
            let p = d.join(format!("{i}.png"));
            image::RgbImage::from_pixel(60, 30, image::Rgb([i * 40, 0, 0]))
                .save(&p)
                .unwrap();
            pages.push(PageRef::Image(p));
        }
        std::fs::write(d.join("bad.png"), b"garbage").unwrap();
        pages.insert(2, PageRef::Image(d.join("bad.png")));
        std::fs::write(d.join("doc.pdf"), tiny_pdf_bytes(2)).unwrap();
        for page in 0..2 {
            pages.push(PageRef::PdfPage {
                path: d.join("doc.pdf"),
                page,
            });
        }
        let calls = AtomicUsize::new(0);
        let progress = |_: usize| {
            calls.fetch_add(1, Ordering::Relaxed);
        };
        let cache = PageCache::build(&pages, 40, Some(&progress)).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), pages.len());
        assert_eq!(cache.len(), 7);
        assert_eq!(cache.skipped().len(), 1);
        assert_eq!(cache.source_indices(), &[0, 1, 3, 4, 5, 6, 7]);
        assert_eq!(cache.get(2).dimensions(), (40, 20));
        assert_eq!(cache.get(2).get_pixel(0, 0).0, [80, 0, 0]);
        assert_eq!(cache.get(6).height(), 40);
        assert!(cache.try_get(7).is_none());
    }

    #[test]
    fn all_broken_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.png");
        std::fs::write(&p, b"garbage").unwrap();
        let e = PageCache::build(&[PageRef::Image(p)], 64, None).unwrap_err();
        assert!(matches!(e, DataError::NoDecodablePages { count: 1, .. }));
        assert_eq!(suggested_long_side(224, 0.2), 596);
    }
}
