//! Measures the decode-once cache and the two-view loader on synthetic A4 scans.
//!
//! `cargo run -p docmoco-data --example loader_throughput --release -- [pages] [batches]`
//! (or, reusing the dev build's optimised dependencies:
//! `cargo run -p docmoco-data --example loader_throughput
//!  --config 'profile.dev.package.docmoco-data.opt-level=3' -- 300 60`)
//!
//! Measured on the 2-core AMD EPYC dev machine (idle), 300 pages, 60 batches:
//! cache build 90 pages/s (1 thread) / 161 pages/s (2 threads), 167 MB;
//! two-view batches of 32 at 64 px: 54 /s (1 worker), 100 /s (2 workers);
//! at 224 px: 11.9 /s (1 worker), 15.1 /s (2 workers).
//!
//! Writes `pages` JPEG pages of 1240x1754 (A4 at 150 dpi, text-like dark bars on paper) to a
//! temporary directory, times `PageCache::build` at long side 512 with 1 and all threads,
//! then times MoCo v2 two-view batches (batch 32) at 64 and 224 px with 1 and 2 workers.

use std::sync::Arc;
use std::time::Instant;

use docmoco_data::augment::{AugmentConfig, Pipeline, TwoViews};
use docmoco_data::loader::bench::measure;
use docmoco_data::{scan_pages, Loader, LoaderConfig, PageCache};
use image::{Rgb, RgbImage};

fn page(i: u32) -> RgbImage {
    let (w, h) = (1240u32, 1754u32);
    RgbImage::from_fn(w, h, |x, y| {
        let line = !(y / 28 + i).is_multiple_of(5) && y % 28 < 14;
        let word = !(x / 37 + y / 28 * 3 + i).is_multiple_of(7);
        let margin = !(100..w - 100).contains(&x) || !(120..h - 120).contains(&y);
        if line && word && !margin {
            Rgb([30, 30, 40])
        } else {
            Rgb([245, 243, 236])
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_pages = args.first().copied().unwrap_or(300);
    let n_batches = args.get(1).copied().unwrap_or(40);
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    for i in 0..n_pages as u32 {
        page(i).save(dir.path().join(format!("p{i:04}.jpg")))?;
    }
    println!(
        "wrote {n_pages} JPEG pages 1240x1754 in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let scan = scan_pages(dir.path())?;
    println!(
        "scan_pages: {} pages in {:.3}s",
        scan.pages.len(),
        t.elapsed().as_secs_f64()
    );

    let mut cache = None;
    for threads in [1, rayon::current_num_threads()] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let t = Instant::now();
        let c = pool.install(|| PageCache::build(&scan.pages, 512, None))?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "PageCache::build (long side 512, {threads} threads): {:.2}s = {:.1} pages/s, {:.0} MB",
            s,
            c.len() as f64 / s,
            c.memory_bytes() as f64 / 1e6
        );
        cache = Some(c);
    }
    let cache = Arc::new(cache.ok_or("no cache")?);

    for size in [64u32, 224] {
        let views = TwoViews::symmetric(Pipeline::from_config(&AugmentConfig::moco_v2(size))?);
        for workers in [1usize, 2] {
            let config = LoaderConfig {
                workers,
                ..LoaderConfig::pretrain(32)
            };
            let loader = Loader::new(Arc::clone(&cache), views.clone(), config)?;
            let t = measure(&loader, n_batches)?;
            println!(
                "two-view moco_v2 {size}px batch 32, {workers} worker(s): {:.1} batches/s, {:.0} views/s ({} batches in {:.2}s)",
                t.batches_per_sec(),
                t.images_per_sec(),
                t.batches,
                t.seconds
            );
        }
    }
    Ok(())
}
