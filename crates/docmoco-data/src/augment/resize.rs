//! Deterministic whole-page geometry for evaluation.
//!
//! Classification of documents depends on the whole layout (a letter's header, a form's
//! boxes), so evaluation usually resizes the *whole* page rather than centre-cropping the
//! middle the way ImageNet evaluation does. Three options:
//! * [`ResizeToSquare`] without padding: squash the page to `size x size` (the common
//!   RVL-CDIP practice; aspect is lost but consistent across pages).
//! * [`ResizeToSquare`] with padding: keep the aspect, long side = `size`, centred on white
//!   (paper) so padding looks like margin rather than a black frame.
//! * [`ResizeCenterCrop`]: torchvision's `Resize(resize)` then `CenterCrop(size)` for
//!   ImageNet-style protocols.
//!
//! Each runs in one resampling pass (see [`crate::resample`]).

use image::RgbImage;

use super::ChwImage;
use crate::resample::{resample_into, Dest, Rect, Rgb8Source};

/// Squash or letterbox the whole page into `size x size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResizeToSquare {
    pub size: usize,
    /// Keep the aspect ratio and pad with white.
    pub pad: bool,
}

impl ResizeToSquare {
    pub fn apply(&self, page: &RgbImage) -> ChwImage {
        let (h, w) = (page.height() as usize, page.width() as usize);
        let s = self.size;
        let mut out = ChwImage::filled(s, s, 1.0);
        if h == 0 || w == 0 || s == 0 {
            return out;
        }
        let (rh, rw) = if self.pad {
            let scale = s as f64 / h.max(w) as f64;
            (
                ((h as f64 * scale).round() as usize).clamp(1, s),
                ((w as f64 * scale).round() as usize).clamp(1, s),
            )
        } else {
            (s, s)
        };
        let dest = Dest {
            data: &mut out.data,
            height: s,
            width: s,
            top: (s - rh) / 2,
            left: (s - rw) / 2,
        };
        resample_into(
            &Rgb8Source {
                raw: page.as_raw(),
                w,
            },
            Rect::full(h, w),
            (rh, rw),
            Rect::full(rh, rw),
            dest,
        );
        out
    }
}

/// torchvision's `Resize(size)` output size: shorter side to `size`, the longer one scaled
/// and truncated (`int(size * long / short)`).
pub fn resize_shorter_side(height: usize, width: usize, size: usize) -> (usize, usize) {
    if height <= width {
        (
            size,
            ((size * width) as f64 / height.max(1) as f64) as usize,
        )
    } else {
        (
            ((size * height) as f64 / width.max(1) as f64) as usize,
            size,
        )
    }
}

/// `Resize(resize)` (shorter side) then `CenterCrop(size)`; needs `resize >= size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResizeCenterCrop {
    pub resize: usize,
    pub size: usize,
}

impl ResizeCenterCrop {
    pub fn apply(&self, page: &RgbImage) -> ChwImage {
        let (h, w) = (page.height() as usize, page.width() as usize);
        let s = self.size;
        let mut out = ChwImage::filled(s, s, 0.0);
        if h == 0 || w == 0 || s == 0 {
            return out;
        }
        let (rh, rw) = resize_shorter_side(h, w, self.resize.max(s));
        let (rh, rw) = (rh.max(s), rw.max(s));
        // CenterCrop: int(round((len - size) / 2)).
        let window = Rect {
            top: ((rh - s) as f64 / 2.0).round_ties_even() as usize,
            left: ((rw - s) as f64 / 2.0).round_ties_even() as usize,
            height: s,
            width: s,
        };
        let dest = Dest {
            data: &mut out.data,
            height: s,
            width: s,
            top: 0,
            left: 0,
        };
        resample_into(
            &Rgb8Source {
                raw: page.as_raw(),
                w,
            },
            Rect::full(h, w),
            (rh, rw),
            window,
            dest,
        );
        out
    }
}
