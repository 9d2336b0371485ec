//! Training augmentation for document classification (see [`AugmentParams`] for the why).
//!
//! MoCo's own crops (RandomResizedCrop down to 20% of the area, square aspect) are made for
//! learning invariances, and they cut a page's layout apart; a *classifier* of documents needs
//! the layout, so fine-tuning crops are mild and relative to the page (the crop keeps the
//! page's aspect up to a small jitter), then go through the same squash/pad mapping as
//! evaluation so train and test inputs look alike. Random streams come from
//! `docmoco_data::rng::view_rng`, so batches are identical for any number of workers.

use docmoco_data::augment::color_jitter::{adjust_brightness, adjust_contrast};
use docmoco_data::augment::{resized_crop, ChwImage, Normalize, Rect};
use docmoco_data::loader::{single_view_batch, Views};
use docmoco_data::{Batch, PageCache};
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{AugmentParams, InputParams, Resize};

/// A runnable [`AugmentParams`] (plus the input mapping).
#[derive(Debug, Clone)]
pub struct DocAugment {
    size: usize,
    pad: bool,
    params: AugmentParams,
    normalize: Normalize,
}

impl DocAugment {
    pub fn new(input: &InputParams, params: &AugmentParams) -> Self {
        Self {
            size: input.size as usize,
            pad: input.resize == Resize::Pad,
            params: params.clone(),
            normalize: Normalize::default(),
        }
    }

    /// The crop rectangle: area fraction `s ~ U[min, 1]`, aspect relative to the page
    /// log-uniform in `[1/j, j]`, position uniform.
    fn crop<R: Rng + ?Sized>(&self, h: usize, w: usize, rng: &mut R) -> Rect {
        let p = &self.params;
        if !p.enabled || p.crop_min_scale >= 1.0 && p.crop_aspect_jitter <= 1.0 {
            return Rect::full(h, w);
        }
        let s = rng.gen_range(p.crop_min_scale..=1.0);
        let lj = p.crop_aspect_jitter.ln();
        let r = if lj > 0.0 {
            rng.gen_range(-lj..=lj).exp()
        } else {
            1.0
        };
        let cw = ((w as f64 * (s * r).sqrt()).round() as usize).clamp(1, w);
        let ch = ((h as f64 * (s / r).sqrt()).round() as usize).clamp(1, h);
        Rect {
            top: rng.gen_range(0..=h - ch),
            left: rng.gen_range(0..=w - cw),
            height: ch,
            width: cw,
        }
    }

    /// One augmented view, before normalisation (values in [0, 1]).
    pub fn apply_unnormalized<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        let (h, w) = (page.height() as usize, page.width() as usize);
        let s = self.size;
        let rect = self.crop(h, w, rng);
        let mut img = if self.pad {
            // Letterbox the crop on white, exactly as evaluation letterboxes the page.
            let scale = s as f64 / rect.height.max(rect.width) as f64;
            let rh = ((rect.height as f64 * scale).round() as usize).clamp(1, s);
            let rw = ((rect.width as f64 * scale).round() as usize).clamp(1, s);
            let small = resized_crop(page, rect, rh, rw);
            paste_centered(&small, s)
        } else {
            resized_crop(page, rect, s, s)
        };
        let p = &self.params;
        if !p.enabled {
            return img;
        }
        if p.rotate_deg > 0.0 {
            let deg = rng.gen_range(-p.rotate_deg..=p.rotate_deg);
            img = rotate(&img, deg.to_radians(), 1.0);
        }
        if p.brightness > 0.0 {
            adjust_brightness(
                &mut img,
                rng.gen_range(1.0 - p.brightness..=1.0 + p.brightness),
            );
        }
        if p.contrast > 0.0 {
            adjust_contrast(&mut img, rng.gen_range(1.0 - p.contrast..=1.0 + p.contrast));
        }
        if p.hflip && rng.gen_bool(0.5) {
            hflip(&mut img);
        }
        img
    }

    /// One augmented, normalised view: `3 * size * size` floats.
    pub fn apply<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> Vec<f32> {
        let mut img = self.apply_unnormalized(page, rng);
        self.normalize.apply(&mut img);
        img.data
    }
}

fn paste_centered(small: &ChwImage, s: usize) -> ChwImage {
    let mut out = ChwImage::filled(s, s, 1.0);
    let (top, left) = ((s - small.height) / 2, (s - small.width) / 2);
    for c in 0..3 {
        for y in 0..small.height {
            let src = c * small.plane_len() + y * small.width;
            let dst = c * s * s + (top + y) * s + left;
            out.data[dst..dst + small.width].copy_from_slice(&small.data[src..src + small.width]);
        }
    }
    out
}

fn hflip(img: &mut ChwImage) {
    let w = img.width;
    for row in img.data.chunks_exact_mut(w.max(1)) {
        row.reverse();
    }
}

/// Rotates `img` by `angle` radians about its centre (bilinear), filling with `fill`.
pub fn rotate(img: &ChwImage, angle: f64, fill: f32) -> ChwImage {
    let (h, w) = (img.height, img.width);
    let mut out = ChwImage::filled(h, w, fill);
    let (sin, cos) = angle.sin_cos();
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let n = img.plane_len();
    for y in 0..h {
        for x in 0..w {
            // Inverse mapping: where in the source does output pixel (x, y) come from.
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let sx = cos * dx + sin * dy + cx;
            let sy = -sin * dx + cos * dy + cy;
            if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f64 || sy > (h - 1) as f64 {
                continue;
            }
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
            for c in 0..3 {
                let p = &img.data[c * n..(c + 1) * n];
                let top = p[y0 * w + x0] * (1.0 - fx) + p[y0 * w + x1] * fx;
                let bot = p[y1 * w + x0] * (1.0 - fx) + p[y1 * w + x1] * fx;
                out.data[c * n + y * w + x] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

impl Views for DocAugment {
    type Batch = Batch;
    const VIEWS_PER_SAMPLE: usize = 1;

    fn make_batch(
        &self,
        cache: &PageCache,
        labels: Option<&[usize]>,
        indices: &[usize],
        seed: u64,
        epoch: u64,
    ) -> Batch {
        let augment = |page: &RgbImage, rng: &mut ChaCha8Rng, out: &mut [f32]| {
            out.copy_from_slice(&self.apply(page, rng));
        };
        single_view_batch(
            (self.size, self.size),
            augment,
            cache,
            labels,
            indices,
            seed,
            epoch,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rotation_by_zero_is_identity_and_fills_corners_with_white() {
        let img = ChwImage {
            height: 5,
            width: 7,
            data: (0..105).map(|i| (i % 11) as f32 / 10.0).collect(),
        };
        assert_eq!(rotate(&img, 0.0, 1.0), img);
        let dark = ChwImage::filled(9, 9, 0.0);
        let r = rotate(&dark, 0.5, 1.0);
        assert_eq!(r.data[0], 1.0, "corner becomes paper");
        assert_eq!(r.data[4 * 9 + 4], 0.0, "centre stays");
    }

    #[test]
    fn views_have_the_size_and_stay_deterministic() {
        let page = RgbImage::from_fn(60, 85, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 3) as u8, 200])
        });
        for resize in [Resize::Squash, Resize::Pad] {
            let a = DocAugment::new(&InputParams::new(16, resize), &AugmentParams::documents());
            let v1 = a.apply(&page, &mut ChaCha8Rng::seed_from_u64(1));
            let v2 = a.apply(&page, &mut ChaCha8Rng::seed_from_u64(1));
            assert_eq!(v1.len(), 3 * 16 * 16);
            assert_eq!(v1, v2);
            assert!(v1.iter().all(|v| v.is_finite()));
        }
    }
}
