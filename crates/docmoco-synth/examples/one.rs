//! Renders one page with its overlay: `cargo run --example one -- CLASS SEED SIZE OUT_PREFIX`.

use docmoco_synth::{draw_overlay, generate_page, DocClass};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let class: DocClass = a.get(1).map(String::as_str).unwrap_or("invoice").parse()?;
    let seed: u64 = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let size: u32 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(800);
    let out = a.get(4).map(String::as_str).unwrap_or("/tmp/one");
    let page = generate_page(class, seed, size)?;
    page.image.save(format!("{out}.png"))?;
    draw_overlay(&page.image, &page.lines).save(format!("{out}_gt.png"))?;
    Ok(())
}
