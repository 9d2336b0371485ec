//! A folder of PDFs to an ICDAR 2015 detection set (`images/`, `gt/`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use docmoco_data::icdar::write_gt_file;
use docmoco_data::pdf::pdf_page_count;
use rayon::prelude::*;

use crate::pdf::pdf_page_with_lines;
use crate::SynthError;

/// What [`pdf_to_det`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PdfDetSummary {
    pub pdfs: usize,
    /// Pages written (image + gt).
    pub pages: usize,
    /// Pages skipped because they have no text layer on ink (scans without OCR, figures).
    pub empty_pages: usize,
    /// Pages (or whole files) that could not be read, with the reason.
    pub failures: Vec<String>,
    pub lines: usize,
}

/// Renders every page of every `*.pdf` under `pdfs_dir` (recursively) at `long_side`
/// pixels and writes `out_dir/images/<stem>_p<page>.png` and
/// `out_dir/gt/gt_<stem>_p<page>.txt`. A broken file or page is reported in the summary
/// and skipped, so one bad PDF does not stop a large conversion.
pub fn pdf_to_det(
    pdfs_dir: &Path,
    out_dir: &Path,
    long_side: u32,
) -> Result<PdfDetSummary, SynthError> {
    let mut pdfs = Vec::new();
    find_pdfs(pdfs_dir, &mut pdfs)?;
    pdfs.sort();
    let images = out_dir.join("images");
    let gt = out_dir.join("gt");
    for d in [&images, &gt] {
        fs::create_dir_all(d).map_err(|e| SynthError::io(d, e))?;
    }
    // (file, page) work items; counting pages parses each file once.
    let mut items = Vec::new();
    let mut failures = Vec::new();
    for p in &pdfs {
        match pdf_page_count(p) {
            Ok(n) => items.extend((0..n).map(|i| (p.clone(), i))),
            Err(e) => failures.push(format!("{}: {e}", p.display())),
        }
    }
    let written = AtomicUsize::new(0);
    let empty = AtomicUsize::new(0);
    let lines = AtomicUsize::new(0);
    let page_failures: Vec<String> = items
        .par_iter()
        .filter_map(|(path, page)| {
            let stem = unique_stem(pdfs_dir, path);
            let name = format!("{stem}_p{page:03}");
            let r = (|| -> Result<(), SynthError> {
                let pl = pdf_page_with_lines(path, *page, long_side)?;
                if pl.lines.is_empty() {
                    empty.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let img = images.join(format!("{name}.png"));
                pl.image.save(&img).map_err(|source| SynthError::Image {
                    path: img.clone(),
                    source,
                })?;
                write_gt_file(&gt.join(format!("gt_{name}.txt")), &pl.lines)?;
                written.fetch_add(1, Ordering::Relaxed);
                lines.fetch_add(pl.lines.len(), Ordering::Relaxed);
                Ok(())
            })();
            r.err()
                .map(|e| format!("{} page {page}: {e}", path.display()))
        })
        .collect();
    failures.extend(page_failures);
    Ok(PdfDetSummary {
        pdfs: pdfs.len(),
        pages: written.into_inner(),
        empty_pages: empty.into_inner(),
        failures,
        lines: lines.into_inner(),
    })
}

/// File stem made unique across sub-folders: `a/b/report.pdf` -> `a_b_report`.
fn unique_stem(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    rel.components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "_")
        })
        .collect::<Vec<_>>()
        .join("_")
}

fn find_pdfs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SynthError> {
    let rd = fs::read_dir(dir).map_err(|e| SynthError::io(dir, e))?;
    for e in rd {
        let p = e.map_err(|e| SynthError::io(dir, e))?.path();
        if p.is_dir() {
            find_pdfs(&p, out)?;
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("pdf")) {
            out.push(p);
        }
    }
    Ok(())
}
