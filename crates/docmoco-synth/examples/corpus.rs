//! Writes a corpus and reports the throughput, PNG encoding and disk included:
//! `cargo run --release --example corpus -- OUT PAGES SIZE`.

use std::path::Path;
use std::time::Instant;

use docmoco_synth::{write_corpus, SynthConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let out = a.get(1).map(String::as_str).unwrap_or("/tmp/synth_corpus");
    let pages: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let size: u32 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(512);
    let cfg = SynthConfig {
        pages,
        size,
        ..Default::default()
    };
    let t = Instant::now();
    let s = write_corpus(&cfg, Path::new(out), &|_| {})?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} pages ({} train / {} test, {} lines) at {size} px in {secs:.2}s = {:.1} pages/s on {} threads",
        s.pages,
        s.train,
        s.test,
        s.lines,
        s.pages as f64 / secs,
        rayon::current_num_threads()
    );
    Ok(())
}
