//! Measures generation speed: `cargo run --release --example bench -- [PAGES]`.
//! Prints pages/s per class on one thread and for the whole mix on all rayon threads.

use std::time::Instant;

use docmoco_synth::{render_page, DocClass, PageSpec};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    for size in [512u32, 1024] {
        for degrade in [false, true] {
            let t = Instant::now();
            let per_class = 3;
            for class in DocClass::ALL {
                let t = Instant::now();
                for seed in 0..per_class {
                    render_page(&PageSpec {
                        class,
                        seed,
                        size,
                        degrade,
                    })?;
                }
                let ms = t.elapsed().as_secs_f64() * 1000.0 / per_class as f64;
                print!("{class}={ms:.0}ms ");
            }
            println!(
                "(1 thread, size {size}, degrade {degrade}, {:.1}s)",
                t.elapsed().as_secs_f64()
            );
            let t = Instant::now();
            (0..n).into_par_iter().try_for_each(|i| {
                let class = DocClass::ALL[i % DocClass::ALL.len()];
                render_page(&PageSpec {
                    class,
                    seed: i as u64,
                    size,
                    degrade,
                })
                .map(|_| ())
            })?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "size {size} degrade {degrade}: {n} pages in {s:.2}s = {:.1} pages/s on {} threads",
                n as f64 / s,
                rayon::current_num_threads()
            );
        }
    }
    Ok(())
}
