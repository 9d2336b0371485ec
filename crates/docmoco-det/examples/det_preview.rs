//! Writes training crops with their DBNet targets side by side, to look at.
//!
//! `cargo run --release -p docmoco-det --example det_preview -- SPLIT_DIR OUT_DIR [N]`
//! Each PNG: the crop (de-normalised), the shrink map (white) over the shrink mask (grey =
//! ignored), and the threshold map (scaled to 0-255) inside its mask.

use std::path::PathBuf;

use docmoco_det::{DetAugmentConfig, DetDataset, DetLoader, LabelConfig};
use image::{Rgb, RgbImage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(split), Some(out)) = (args.first(), args.get(1)) else {
        return Err("usage: det_preview SPLIT_DIR OUT_DIR [N]".into());
    };
    let n: usize = args.get(2).map_or(Ok(8), |s| s.parse())?;
    let ds = DetDataset::load(&PathBuf::from(split), Some(1024))?;
    let aug = DetAugmentConfig::default();
    let loader = DetLoader::new(ds, aug, LabelConfig::default(), n, 0)?;
    let t = std::time::Instant::now();
    let b = loader.batch(0, 0)?;
    eprintln!("batch of {n} in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    std::fs::create_dir_all(out)?;
    let (h, w) = (b.height, b.width);
    let norm = aug.normalize;
    for k in 0..b.n {
        let mut img = RgbImage::new(3 * w as u32, h as u32);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let px: Vec<u8> = (0..3)
                    .map(|c| {
                        let v = b.images[(k * 3 + c) * h * w + i] * norm.std[c] as f32
                            + norm.mean[c] as f32;
                        (v.clamp(0.0, 1.0) * 255.0) as u8
                    })
                    .collect();
                img.put_pixel(x as u32, y as u32, Rgb([px[0], px[1], px[2]]));
                let j = k * h * w + i;
                let s = if b.shrink_map[j] > 0.5 {
                    255
                } else if b.shrink_mask[j] < 0.5 {
                    90
                } else {
                    0
                };
                img.put_pixel((w + x) as u32, y as u32, Rgb([s, s, s]));
                let tv = if b.thresh_mask[j] > 0.5 {
                    (b.thresh_map[j] * 255.0) as u8
                } else {
                    0
                };
                img.put_pixel((2 * w + x) as u32, y as u32, Rgb([tv, tv / 2, 0]));
            }
        }
        img.save(PathBuf::from(out).join(format!("crop_{k}.png")))?;
    }
    Ok(())
}
