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

    /// A crop of `page` that shares at least `anchor.min_overlap` of its area with
    /// `anchor.rect` (see [`overlap`]): the key's crop drawn next to the query's.
    ///
    /// Area and aspect ratio are drawn as in [`Self::get_params`]; the position is drawn
    /// among those where the two crops intersect at all, and redrawn (up to [`INK_TRIES`]
    /// times) until the overlap and `min_ink` hold, else the draw with the largest overlap
    /// is kept. Why: two crops of 4-16% of a page at native resolution rarely share a line
    /// of text, so a positive pair can only be matched by page style; sharing some lines
    /// makes instance discrimination learnable from content.
    pub fn crop_near<R: Rng + ?Sized>(&self, page: &RgbImage, anchor: Anchor, rng: &mut R) -> Rect {
        let (h, w) = (page.height() as usize, page.width() as usize);
        let a = anchor.rect;
        let mut best: Option<(f64, Rect)> = None;
        for _ in 0..INK_TRIES {
            let size = self.get_params(h, w, rng);
            let top = near(a.top, a.height, size.height, h, rng);
            let left = near(a.left, a.width, size.width, w, rng);
            let rect = Rect { top, left, ..size };
            let shared = overlap(a, rect);
            let inky = self.min_ink.is_none_or(|m| ink_fraction(page, rect) >= m);
            if shared >= anchor.min_overlap && inky {
                return rect;
            }
            if best.is_none_or(|(s, _)| shared > s) {
                best = Some((shared, rect));
            }
        }
        best.map_or(a, |(_, rect)| rect)
    }

    /// Draws a crop of `page` (next to `anchor` when given) and resizes it to
    /// `size x size` in one pass; returns the view and the crop.
    pub fn apply_near<R: Rng + ?Sized>(
        &self,
        page: &RgbImage,
        anchor: Option<Anchor>,
        rng: &mut R,
    ) -> (ChwImage, Rect) {
        let crop = match anchor {
            Some(anchor) => self.crop_near(page, anchor, rng),
            None => self.crop_of(page, rng),
        };
        (resized_crop(page, crop, self.size, self.size), crop)
    }

    /// Draws a crop of `page` and resizes it to `size x size` in one pass.
    pub fn apply<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        self.apply_near(page, None, rng).0
    }
}

/// A crop that the next crop must overlap (the query's, for the key).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub rect: Rect,
    /// Least share of the smaller crop's area inside the other crop, in (0, 1].
    pub min_overlap: f64,
}

/// Intersection area over the smaller rectangle's area: 1 when one contains the other.
pub fn overlap(a: Rect, b: Rect) -> f64 {
    let span = |a0: usize, al: usize, b0: usize, bl: usize| {
        (a0 + al).min(b0 + bl).saturating_sub(a0.max(b0))
    };
    let inter = span(a.top, a.height, b.top, b.height) * span(a.left, a.width, b.left, b.width);
    let smaller = (a.height * a.width).min(b.height * b.width).max(1);
    inter as f64 / smaller as f64
}

/// A start for a segment of `len` within `0..extent` that intersects `start..start + anchor_len`.
fn near<R: Rng + ?Sized>(
    start: usize,
    anchor_len: usize,
    len: usize,
    extent: usize,
    rng: &mut R,
) -> usize {
    let lo = (start + 1).saturating_sub(len);
    let hi = (start + anchor_len).saturating_sub(1).min(extent - len);
    rng.gen_range(lo.min(hi)..=hi)
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

    #[test]
    fn overlap_is_shared_area_over_the_smaller_crop() {
        let r = |top, left, height, width| Rect {
            top,
            left,
            height,
            width,
        };
        assert_eq!(overlap(r(0, 0, 10, 10), r(0, 0, 10, 10)), 1.0);
        assert_eq!(overlap(r(0, 0, 10, 10), r(2, 2, 4, 4)), 1.0);
        assert_eq!(overlap(r(0, 0, 10, 10), r(5, 0, 10, 10)), 0.5);
        assert_eq!(overlap(r(0, 0, 10, 10), r(5, 5, 10, 20)), 0.25);
        assert_eq!(overlap(r(0, 0, 10, 10), r(10, 0, 10, 10)), 0.0);
        assert_eq!(overlap(r(0, 0, 10, 10), r(30, 40, 5, 5)), 0.0);
    }

    #[test]
    fn crops_near_an_anchor_share_its_area_and_keep_their_scale() {
        let page = RgbImage::from_pixel(360, 512, image::Rgb([0, 0, 0]));
        let mut rrc = RandomResizedCrop::new(24);
        rrc.scale = (0.04, 0.16);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (mut free, mut anchored) = (0usize, 0usize);
        for _ in 0..300 {
            let q = rrc.crop_of(&page, &mut rng);
            let anchor = Anchor {
                rect: q,
                min_overlap: 0.5,
            };
            let k = rrc.crop_near(&page, anchor, &mut rng);
            assert!(k.top + k.height <= 512 && k.left + k.width <= 360, "{k:?}");
            let a = (k.height * k.width) as f64 / (360.0 * 512.0);
            assert!((0.035..=0.17).contains(&a), "area {a}");
            anchored += usize::from(overlap(q, k) >= 0.5);
            free += usize::from(overlap(q, rrc.crop_of(&page, &mut rng)) >= 0.5);
        }
        // About 15% of independent crops of 4-16% share half their area; anchored ones (10
        // tries) nearly always do.
        assert!(free < 80, "{free}");
        assert!(anchored > 285, "{anchored}");
    }

    #[test]
    fn crops_near_an_anchor_at_a_page_corner_stay_inside() {
        let page = RgbImage::from_pixel(40, 30, image::Rgb([0, 0, 0]));
        let rrc = RandomResizedCrop::new(8);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for rect in [
            Rect::full(30, 40),
            Rect {
                top: 29,
                left: 39,
                height: 1,
                width: 1,
            },
        ] {
            for _ in 0..100 {
                let anchor = Anchor {
                    rect,
                    min_overlap: 1.0,
                };
                let k = rrc.crop_near(&page, anchor, &mut rng);
                assert!(k.top + k.height <= 30 && k.left + k.width <= 40, "{k:?}");
                assert!(overlap(rect, k) > 0.0);
            }
        }
    }
}
