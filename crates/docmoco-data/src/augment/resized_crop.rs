//! `F.resized_crop`: crop a rectangle and resize it, in one pass.
//!
//! The first step of every pipeline; it turns the cached 8-bit page into the small float
//! image the other ops work on. See [`crate::resample`] for the filter and why fusing crop
//! and resize is both exact and cheap on large pages.

use image::RgbImage;

use super::ChwImage;
use crate::resample::{resample_into, ChwSource, Dest, Rect, Rgb8Source};

/// Clamps `crop` to the image so that out-of-range parameters cannot panic.
fn clamp_crop(crop: Rect, height: usize, width: usize) -> Rect {
    let top = crop.top.min(height.saturating_sub(1));
    let left = crop.left.min(width.saturating_sub(1));
    Rect {
        top,
        left,
        height: crop.height.clamp(1, height - top),
        width: crop.width.clamp(1, width - left),
    }
}

/// `F.resized_crop(page, top, left, h, w, [out_h, out_w], BILINEAR, antialias=True)` on the
/// page as floats in [0, 1]. The crop is clamped to the page.
pub fn resized_crop(page: &RgbImage, crop: Rect, out_h: usize, out_w: usize) -> ChwImage {
    let (h, w) = (page.height() as usize, page.width() as usize);
    let mut out = ChwImage::filled(out_h, out_w, 0.0);
    if h == 0 || w == 0 {
        return out;
    }
    let crop = clamp_crop(crop, h, w);
    let dest = Dest {
        data: &mut out.data,
        height: out_h,
        width: out_w,
        top: 0,
        left: 0,
    };
    resample_into(
        &Rgb8Source {
            raw: page.as_raw(),
            w,
        },
        crop,
        (out_h, out_w),
        Rect::full(out_h, out_w),
        dest,
    );
    out
}

/// The same on a float image (used by parity tests against torchvision's float path).
pub fn resized_crop_chw(img: &ChwImage, crop: Rect, out_h: usize, out_w: usize) -> ChwImage {
    let (h, w) = (img.height, img.width);
    let mut out = ChwImage::filled(out_h, out_w, 0.0);
    if h == 0 || w == 0 {
        return out;
    }
    let crop = clamp_crop(crop, h, w);
    let dest = Dest {
        data: &mut out.data,
        height: out_h,
        width: out_w,
        top: 0,
        left: 0,
    };
    resample_into(
        &ChwSource {
            data: &img.data,
            w,
            plane: h * w,
        },
        crop,
        (out_h, out_w),
        Rect::full(out_h, out_w),
        dest,
    );
    out
}
