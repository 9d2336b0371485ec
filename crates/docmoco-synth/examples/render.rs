//! Renders a few pages and their overlays: `cargo run --release --example render -- OUT SIZE N [clean]`.

use docmoco_synth::{draw_overlay, render_page, DocClass, PageSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map(String::as_str).unwrap_or("/tmp/synth");
    let size: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(800);
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let degrade = args.get(4).map(|s| s != "clean").unwrap_or(true);
    std::fs::create_dir_all(out)?;
    for class in DocClass::ALL {
        for seed in 0..n {
            let page = render_page(&PageSpec {
                class,
                seed,
                size,
                degrade,
            })?;
            page.image.save(format!("{out}/{class}_{seed}.png"))?;
            draw_overlay(&page.image, &page.lines).save(format!("{out}/{class}_{seed}_gt.png"))?;
            println!("{class} {seed}: {} lines", page.lines.len());
        }
    }
    Ok(())
}
