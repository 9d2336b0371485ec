//! `docmoco check-data DIR`: what a dataset folder holds and what is wrong with it.
//!
//! Recognises, at DIR or one level below: an ImageFolder (`<class>/<pages>`, possibly under
//! `train/`, `test/`, `val/`), an ICDAR 2015 detection split (`images/` + `gt/`), and plain
//! page folders. Prints counts per class and split, page size statistics, and every problem.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use docmoco_data::icdar::parse_gt_file;
use docmoco_data::{scan_pages, ImageFolder, PageRef};

#[derive(Args, Debug)]
pub struct CheckDataArgs {
    /// Dataset folder.
    pub dir: PathBuf,
}

fn image_size_stats(pages: &[PageRef]) -> Option<String> {
    let dims: Vec<(u32, u32)> = pages
        .iter()
        .filter_map(|p| match p {
            PageRef::Image(path) => image::image_dimensions(path).ok(),
            PageRef::PdfPage { .. } => None,
        })
        .collect();
    if dims.is_empty() {
        return None;
    }
    let n = dims.len() as f64;
    let (w_min, w_max) = dims
        .iter()
        .fold((u32::MAX, 0), |(a, b), d| (a.min(d.0), b.max(d.0)));
    let (h_min, h_max) = dims
        .iter()
        .fold((u32::MAX, 0), |(a, b), d| (a.min(d.1), b.max(d.1)));
    let w_mean = dims.iter().map(|d| d.0 as f64).sum::<f64>() / n;
    let h_mean = dims.iter().map(|d| d.1 as f64).sum::<f64>() / n;
    Some(format!(
        "width {w_min}..{w_max} (mean {w_mean:.0}), height {h_min}..{h_max} (mean {h_mean:.0}) px"
    ))
}

fn check_image_folder(dir: &Path, problems: &mut Vec<String>) -> bool {
    match ImageFolder::open(dir) {
        Ok(f) => {
            println!(
                "{}: ImageFolder, {} classes, {} pages",
                dir.display(),
                f.classes.len(),
                f.samples.len()
            );
            for (class, count) in f.classes.iter().zip(f.class_counts()) {
                println!("  {class:<28} {count:>6}");
            }
            if let Some(s) = image_size_stats(&f.pages()) {
                println!("  sizes: {s}");
            }
            for (p, why) in &f.skipped {
                problems.push(format!("{}: {why}", p.display()));
            }
            true
        }
        Err(e) => {
            problems.push(e.to_string());
            false
        }
    }
}

fn check_detection(dir: &Path, problems: &mut Vec<String>) {
    let images = dir.join("images");
    let gt = dir.join("gt");
    let pages = match scan_pages(&images) {
        Ok(r) => r.pages,
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    let (mut lines, mut dont_care, mut missing) = (0usize, 0usize, 0usize);
    for p in &pages {
        let stem = p
            .path()
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let gt_file = gt.join(format!("gt_{stem}.txt"));
        if !gt_file.exists() {
            missing += 1;
            problems.push(format!(
                "{}: no ground truth {}",
                p.path().display(),
                gt_file.display()
            ));
            continue;
        }
        match parse_gt_file(&gt_file) {
            Ok(l) => {
                lines += l.len();
                dont_care += l.iter().filter(|t| t.dont_care).count();
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    println!(
        "{}: text detection (ICDAR 2015), {} images, {} text lines ({} don't care), {} without GT",
        dir.display(),
        pages.len(),
        lines,
        dont_care,
        missing
    );
    if let Some(s) = image_size_stats(&pages) {
        println!("  sizes: {s}");
    }
}

fn check(dir: &Path, depth: usize, problems: &mut Vec<String>) -> Result<()> {
    if dir.join("images").is_dir() && dir.join("gt").is_dir() {
        check_detection(dir, problems);
        return Ok(());
    }
    let subdirs: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        v
    };
    let split_names = ["train", "test", "val", "cls", "det", "unlabeled"];
    let is_container = !subdirs.is_empty()
        && subdirs.iter().all(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| split_names.contains(&n))
        });
    if is_container && depth < 2 {
        for d in subdirs {
            check(&d, depth + 1, problems)?;
        }
        return Ok(());
    }
    if !subdirs.is_empty() && check_image_folder(dir, problems) {
        return Ok(());
    }
    let report = scan_pages(dir)?;
    println!(
        "{}: {} pages (unlabeled)",
        dir.display(),
        report.pages.len()
    );
    if let Some(s) = image_size_stats(&report.pages) {
        println!("  sizes: {s}");
    }
    for (p, why) in &report.skipped {
        problems.push(format!("{}: {why}", p.display()));
    }
    Ok(())
}

pub fn run(a: CheckDataArgs) -> Result<()> {
    if !a.dir.is_dir() {
        anyhow::bail!("dataset directory not found: {}", a.dir.display());
    }
    let mut problems = Vec::new();
    check(&a.dir, 0, &mut problems)?;
    if problems.is_empty() {
        println!("no problems found");
        Ok(())
    } else {
        println!("{} problem(s):", problems.len());
        for p in &problems {
            println!("  - {p}");
        }
        anyhow::bail!("{}: {} problem(s) found", a.dir.display(), problems.len())
    }
}
