//! Preparing a whole page for the detector.
//!
//! The network downsamples by 32, so the input's sides are rounded to multiples of 32
//! (DBNet resizes rather than pads, changing the aspect ratio by at most a few percent);
//! the two scale factors returned map positions on the resized image (and on probability
//! maps of the same size) back to the original page.

use docmoco_data::augment::{ChwImage, Normalize};
use image::RgbImage;

use crate::warp::{warp, Affine};

/// Input side granularity of the detector (its total stride).
pub const STRIDE: u32 = 32;

/// Size `(width, height)` with the long side scaled to `long_side`, both rounded to the
/// nearest multiple of [`STRIDE`] (at least one stride).
pub fn inference_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let s = long_side as f64 / width.max(height).max(1) as f64;
    let round = |v: u32| {
        let r = ((v as f64 * s / STRIDE as f64).round() as u32).max(1);
        r * STRIDE
    };
    (round(width), round(height))
}

/// Resizes (antialiased) and normalises `page` so its long side is about `long_side`, with
/// sides multiples of 32. Returns the image and `(scale_x, scale_y)`: multiply a resized
/// coordinate by them to get the original page coordinate.
pub fn prepare_for_inference(page: &RgbImage, long_side: u32) -> (ChwImage, f32, f32) {
    let (w, h) = page.dimensions();
    let (nw, nh) = inference_size(w, h, long_side);
    let (sx, sy) = (nw as f64 / w.max(1) as f64, nh as f64 / h.max(1) as f64);
    let mut img = warp(page, &Affine::scale(sx, sy), nh as usize, nw as usize, 1.0);
    Normalize::default().apply(&mut img);
    (img, (1.0 / sx) as f32, (1.0 / sy) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_multiples_of_32_and_scales_map_back() {
        assert_eq!(inference_size(1000, 1414, 1024), (736, 1024));
        assert_eq!(inference_size(10, 10, 20), (32, 32));
        let page = RgbImage::from_pixel(300, 200, image::Rgb([255, 255, 255]));
        let (img, sx, sy) = prepare_for_inference(&page, 640);
        assert_eq!((img.width, img.height), (640, 416));
        assert!((sx * 640.0 - 300.0).abs() < 1e-3 && (sy * 416.0 - 200.0).abs() < 1e-3);
        // White normalised with ImageNet statistics.
        assert!((img.data[0] - (1.0 - 0.485) / 0.229).abs() < 1e-4);
    }
}
