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
    /// Ink-aware: redraw crops with less ink than this fraction (see [`ink_fraction`]).
    pub min_ink: Option<f64>,
}

/// How many crops an ink-aware crop draws at most before it takes the inkiest.
const INK_TRIES: usize = 10;

/// Fraction of ink — pixels visibly darker than paper (luma < 224) — in `rect` of `page`,
/// estimated on a grid of at most 32 x 32 points: a cheap test, independent of the crop's size.
/// Not "black" pixels: pages are cached small, and text there is grey (a 1024 px page has
/// 2-10% pixels under 128; the same page at 300 px has almost none, but 5-15% under 224).
pub fn ink_fraction(page: &RgbImage, rect: Rect) -> f64 {
    let (gh, gw) = (rect.height.min(32), rect.width.min(32));
    let mut dark = 0usize;
    for i in 0..gh {
        let y = rect.top + (2 * i + 1) * rect.height / (2 * gh);
        for j in 0..gw {
            let x = rect.left + (2 * j + 1) * rect.width / (2 * gw);
            let p = page.get_pixel(x as u32, y as u32).0;
            let luma = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
            dark += usize::from(luma < 224.0);
        }
    }
    dark as f64 / (gh * gw).max(1) as f64
}

impl RandomResizedCrop {
    /// torchvision's defaults for ratio (3/4, 4/3) with MoCo's scale (0.2, 1.0).
    pub fn new(size: usize) -> Self {
        RandomResizedCrop {
            size,
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            min_ink: None,
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

    /// The crop of `page`: torchvision's draw, or with `min_ink` the first of up to
    /// [`INK_TRIES`] draws with enough ink (else the inkiest of them).
    pub fn crop_of<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> Rect {
        let (h, w) = (page.height() as usize, page.width() as usize);
        let Some(min_ink) = self.min_ink else {
            return self.get_params(h, w, rng);
        };
        let mut best = (f64::NEG_INFINITY, self.fallback(h, w));
        for _ in 0..INK_TRIES {
            let rect = self.get_params(h, w, rng);
            let ink = ink_fraction(page, rect);
            if ink >= min_ink {
                return rect;
            }
            if ink > best.0 {
                best = (ink, rect);
            }
        }
        best.1
    }

    /// Draws a crop of `page` and resizes it to `size x size` in one pass.
    pub fn apply<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        let crop = self.crop_of(page, rng);
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
            min_ink: None,
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

    #[test]
    fn ink_aware_crops_avoid_blank_margins() {
        // A page whose text block is its top-left 50 x 50 corner; everything else is paper.
        let mut page = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        for y in 0..50 {
            for x in 0..50 {
                if (x + y) % 2 == 0 {
                    page.put_pixel(x, y, image::Rgb([0, 0, 0]));
                }
            }
        }
        let full = Rect {
            top: 0,
            left: 0,
            height: 100,
            width: 100,
        };
        let f = ink_fraction(&page, full);
        assert!((f - 0.125).abs() < 0.02, "{f}");
        let mut plain = RandomResizedCrop::new(16);
        plain.scale = (0.05, 0.1);
        let aware = RandomResizedCrop {
            min_ink: Some(0.1),
            ..plain
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let blank = |r: &RandomResizedCrop, rng: &mut ChaCha8Rng| {
            (0..400)
                .filter(|_| ink_fraction(&page, r.crop_of(&page, rng)) < 0.1)
                .count()
        };
        let (b_plain, b_aware) = (blank(&plain, &mut rng), blank(&aware, &mut rng));
        // Small crops of this page are mostly blank; ink-aware ones rarely (10 tries each).
        assert!(b_plain > 200, "{b_plain}");
        assert!(b_aware < b_plain / 4, "{b_aware} vs {b_plain}");
    }
}
