//! Extracts text lines from a PDF page and writes an overlay:
//! `cargo run --example pdf_lines -- FILE.pdf PAGE LONG_SIDE OUT.png`.

use std::path::Path;

use docmoco_synth::draw_overlay;
use docmoco_synth::pdf::pdf_page_with_lines;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let path = a
        .get(1)
        .ok_or("usage: pdf_lines FILE.pdf PAGE LONG_SIDE OUT.png")?;
    let page: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let long: u32 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let out = a.get(4).map(String::as_str).unwrap_or("/tmp/pdf_lines.png");
    let t = std::time::Instant::now();
    let pl = pdf_page_with_lines(Path::new(path), page, long)?;
    println!(
        "{} lines in {:.0} ms",
        pl.lines.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    for l in pl.lines.iter().take(15) {
        println!("{:?} {}", l.quad[0], l.text);
    }
    draw_overlay(&pl.image, &pl.lines).save(out)?;
    Ok(())
}
