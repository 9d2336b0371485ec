//! `RandomResizedCrop`: the main augmentation of every MoCo version.
//!
//! Two crops of the same page that share content are the positive pair; the scale range sets
//! how much they share (MoCo v1/v2: 20-100 % of the area; v3: 8-100 %). On a document a
//! 20 % crop is still a paragraph or a table, so the task stays about layout and texture.
//! Parameter sampling is torchvision's `RandomResizedCrop.get_params`, including Python's
//! round-half-to-even and the centre-crop fallback after ten failed tries.

use image::RgbImage;
use rand::Rng;

use super::{resized_crop::resized_crop, ChwImage};
use crate::resample::Rect;

/// Random crop of random area and aspect ratio, resized to `size x size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomResizedCrop {
    /// Output side in pixels.
    pub size: usize,
    /// Range of the crop area as a fraction of the page area.
    pub scale: (f64, f64),
    /// Range of the crop aspect ratio `w / h`, sampled log-uniformly.
    pub ratio: (f64, f64),
}

impl RandomResizedCrop {
    /// torchvision's defaults for ratio (3/4, 4/3) with MoCo's scale (0.2, 1.0).
    pub fn new(size: usize) -> Self {
        RandomResizedCrop {
            size,
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }

    /// `get_params`: the crop rectangle for an image of `height x width`.
    pub fn get_params<R: Rng + ?Sized>(&self, height: usize, width: usize, rng: &mut R) -> Rect {
        let area = (height * width) as f64;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * uniform(rng, self.scale.0, self.scale.1);
            let aspect = uniform(rng, log_lo, log_hi).exp();
            let w = (target_area * aspect).sqrt().round_ties_even() as usize;
            let h = (target_area / aspect).sqrt().round_ties_even() as usize;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.gen_range(0..=height - h);
                let left = rng.gen_range(0..=width - w);
                return Rect {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        self.fallback(height, width)
    }

    /// Centre crop with the aspect ratio clamped to the allowed range.
    pub fn fallback(&self, height: usize, width: usize) -> Rect {
        let in_ratio = width as f64 / height as f64;
        let (lo, hi) = (
            self.ratio.0.min(self.ratio.1),
            self.ratio.0.max(self.ratio.1),
        );
        let (h, w) = if in_ratio < lo {
            let h = (width as f64 / lo).round_ties_even() as usize;
            (h.min(height), width)
        } else if in_ratio > hi {
            let w = (height as f64 * hi).round_ties_even() as usize;
            (height, w.min(width))
        } else {
            (height, width)
        };
        Rect {
            top: (height - h) / 2,
            left: (width - w) / 2,
            height: h,
            width: w,
        }
    }

    /// Draws a crop of `page` and resizes it to `size x size` in one pass.
    pub fn apply<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        let crop = self.get_params(page.height() as usize, page.width() as usize, rng);
        resized_crop(page, crop, self.size, self.size)
    }
}

/// Uniform in [lo, hi], tolerating `lo == hi`.
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn crops_respect_bounds_scale_and_ratio() {
        let rrc = RandomResizedCrop::new(32);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for &(h, w) in &[(400usize, 283usize), (100, 100), (64, 500), (33, 17)] {
            for _ in 0..300 {
                let r = rrc.get_params(h, w, &mut rng);
                assert!(r.height >= 1 && r.width >= 1);
                assert!(
                    r.top + r.height <= h && r.left + r.width <= w,
                    "{r:?} in {h}x{w}"
                );
                let fb = rrc.fallback(h, w);
                if r != fb {
                    // A sampled crop: area and ratio within range, up to rounding to pixels.
                    let a = (r.height * r.width) as f64 / (h * w) as f64;
                    let slack = (r.height + r.width + 1) as f64 / (h * w) as f64;
                    assert!(a >= 0.2 - slack && a <= 1.0 + slack, "area {a}");
                    let ratio = r.width as f64 / r.height as f64;
                    let rs = 1.0 / r.height.min(r.width) as f64 + 1e-9;
                    assert!(
                        ratio >= 0.75 * (1.0 - rs) - rs && ratio <= 4.0 / 3.0 * (1.0 + rs) + rs
                    );
                }
            }
        }
    }

    #[test]
    fn fallback_is_a_ratio_clamped_centre_crop_with_python_rounding() {
        let rrc = RandomResizedCrop {
            size: 8,
            scale: (0.5, 1.0),
            ratio: (0.8, 1.25),
        };
        // Too thin for any sampled crop: every try fails and the fallback is used.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let r = rrc.get_params(1000, 10, &mut rng);
        // h = round(10 / 0.8) = round(12.5) = 12 (half to even), centred.
        assert_eq!(
            r,
            Rect {
                top: 494,
                left: 0,
                height: 12,
                width: 10
            }
        );
        assert_eq!(rrc.fallback(1000, 6).height, 8); // round(7.5) = 8
                                                     // Too wide: w = round(h * max ratio).
        assert_eq!(
            rrc.fallback(10, 1000),
            Rect {
                top: 0,
                left: 494,
                height: 10,
                width: 12
            }
        );
        // Within range: the whole image.
        assert_eq!(rrc.fallback(10, 11), Rect::full(10, 11));
    }
}
