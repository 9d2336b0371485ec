//! The confusion matrix as a labelled heat map (`confusion.png`).
//!
//! Cells are shaded by the row-normalised value (the recall of the true class), so classes of
//! different sizes read alike; each cell prints its count. Row labels are the true classes,
//! column labels (written vertically, class names are long) the predicted ones. Text is set
//! with the Liberation Sans face shipped in `assets/fonts/` (SIL OFL), compiled in so the
//! report needs no system fonts.

use std::path::Path;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use anyhow::{Context, Result};
use image::{Rgb, RgbImage};

use super::metrics::Metrics;

pub(crate) static FONT: &[u8] =
    include_bytes!("../../../../../assets/fonts/LiberationSans-Regular.ttf");

const CELL: u32 = 46;
const TEXT_PX: f32 = 14.0;
const MARGIN: u32 = 10;

/// A string rendered as coverage (0..1), `width x height`, row-major.
pub(crate) struct TextMask {
    pub(crate) width: u32,
    pub(crate) height: u32,
    alpha: Vec<f32>,
}

pub(crate) fn render(font: &FontRef<'_>, text: &str) -> TextMask {
    let scaled = font.as_scaled(PxScale::from(TEXT_PX));
    let height = (scaled.ascent() - scaled.descent()).ceil() as u32 + 1;
    let mut x = 0.0f32;
    let mut glyphs = Vec::new();
    let mut prev = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(TEXT_PX, point(x, scaled.ascent())));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    let width = x.ceil() as u32 + 1;
    let mut alpha = vec![0f32; (width * height) as usize];
    for g in glyphs {
        if let Some(outlined) = font.outline_glyph(g) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, c| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                    let i = (py as u32 * width + px as u32) as usize;
                    alpha[i] = alpha[i].max(c);
                }
            });
        }
    }
    TextMask {
        width,
        height,
        alpha,
    }
}

/// Blends `mask` in `color` onto `img` with its top-left at `(x, y)`; `vertical` rotates it
/// 90° counter-clockwise (reading bottom to top).
pub(crate) fn blit(
    img: &mut RgbImage,
    mask: &TextMask,
    x: u32,
    y: u32,
    color: [u8; 3],
    vertical: bool,
) {
    for my in 0..mask.height {
        for mx in 0..mask.width {
            let a = mask.alpha[(my * mask.width + mx) as usize];
            if a <= 0.0 {
                continue;
            }
            let (px, py) = if vertical {
                (x + my, y + mask.width - 1 - mx)
            } else {
                (x + mx, y + my)
            };
            if px < img.width() && py < img.height() {
                let p = img.get_pixel_mut(px, py);
                for (v, &ink) in p.0.iter_mut().zip(&color) {
                    *v = (*v as f32 * (1.0 - a) + ink as f32 * a).round() as u8;
                }
            }
        }
    }
}

/// White to dark blue.
fn shade(v: f64) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    [lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0)]
}

/// Draws the heat map of `m.confusion` (rows: true class, columns: predicted).
pub fn confusion_image(m: &Metrics) -> Result<RgbImage> {
    let font = FontRef::try_from_slice(FONT).context("embedded font")?;
    let k = m.classes.len() as u32;
    let labels: Vec<TextMask> = m.classes.iter().map(|c| render(&font, c)).collect();
    let label_w = labels.iter().map(|l| l.width).max().unwrap_or(0);
    let title = render(&font, "true \\ predicted");
    let left = label_w.max(title.width) + 2 * MARGIN;
    let top = label_w + 2 * MARGIN + title.height;
    let (w, h) = (left + k * CELL + MARGIN, top + k * CELL + MARGIN);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    blit(&mut img, &title, MARGIN, MARGIN, [90, 90, 90], false);
    for (i, row) in m.confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (j, &count) in row.iter().enumerate() {
            let v = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            let color = shade(v);
            let (x0, y0) = (left + j as u32 * CELL, top + i as u32 * CELL);
            for y in y0..y0 + CELL - 1 {
                for x in x0..x0 + CELL - 1 {
                    img.put_pixel(x, y, Rgb(color));
                }
            }
            let text = render(&font, &count.to_string());
            let ink = if v > 0.5 {
                [255, 255, 255]
            } else {
                [20, 20, 20]
            };
            blit(
                &mut img,
                &text,
                x0 + (CELL - text.width.min(CELL)) / 2,
                y0 + (CELL - text.height.min(CELL)) / 2,
                ink,
                false,
            );
        }
    }
    for (i, l) in labels.iter().enumerate() {
        let i = i as u32;
        // Row label, right-aligned against the matrix.
        let y = top + i * CELL + (CELL - l.height.min(CELL)) / 2;
        blit(&mut img, l, left - MARGIN - l.width, y, [0, 0, 0], false);
        // Column label, vertical, ending just above the matrix.
        let x = left + i * CELL + (CELL - l.height.min(CELL)) / 2;
        blit(&mut img, l, x, top - MARGIN - l.width, [0, 0, 0], true);
    }
    Ok(img)
}

/// Writes [`confusion_image`] as PNG.
pub fn write_confusion_png(m: &Metrics, path: &Path) -> Result<()> {
    confusion_image(m)?
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}
