//! Ground-truth overlays: the quickest way for a person to check that boxes sit on text.

use image::{GrayImage, Rgb, RgbImage};

use crate::gt::TextLine;

/// Colour of readable lines.
const LINE: Rgb<u8> = Rgb([230, 30, 30]);
/// Colour of don't-care lines (stamps, signatures).
const DONT_CARE: Rgb<u8> = Rgb([30, 90, 230]);
/// Colour of the first corner, to show the ICDAR corner order.
const FIRST: Rgb<u8> = Rgb([0, 170, 0]);

/// Draws every line's quad over the page: red for text, blue for don't-care, with a green
/// dot on the first (top-left) corner.
pub fn draw_overlay(page: &GrayImage, lines: &[TextLine]) -> RgbImage {
    let (w, h) = page.dimensions();
    let mut out = RgbImage::from_fn(w, h, |x, y| {
        let v = page.get_pixel(x, y)[0];
        Rgb([v, v, v])
    });
    let thick = if w.max(h) >= 1200 { 2 } else { 1 };
    for l in lines {
        let c = if l.dont_care { DONT_CARE } else { LINE };
        for i in 0..4 {
            let a = l.quad[i];
            let b = l.quad[(i + 1) % 4];
            segment(&mut out, a, b, c, thick);
        }
        let [x, y] = l.quad[0];
        for dy in -1..=1 {
            for dx in -1..=1 {
                put(&mut out, x as i64 + dx, y as i64 + dy, FIRST);
            }
        }
    }
    out
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A straight segment by uniform stepping (boxes are short; simplicity wins).
fn segment(img: &mut RgbImage, a: [f32; 2], b: [f32; 2], c: Rgb<u8>, thick: i64) {
    let n = ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let x = (a[0] + t * (b[0] - a[0])).floor() as i64;
        let y = (a[1] + t * (b[1] - a[1])).floor() as i64;
        for d in 0..thick {
            put(img, x + d, y, c);
            put(img, x, y + d, c);
        }
    }
}
