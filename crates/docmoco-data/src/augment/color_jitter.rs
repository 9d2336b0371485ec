//! `ColorJitter`: random brightness, contrast, saturation and hue, in random order.
//!
//! MoCo v1 uses (0.4, 0.4, 0.4, 0.4); v2's aug+ lowers hue to 0.1 and applies the whole
//! jitter with p = 0.8; v3 uses (0.4, 0.4, 0.2, 0.1). On scanned documents most pixels are
//! paper and ink, so brightness/contrast model scanner exposure, saturation and hue model
//! coloured paper, stamps and highlighter.
//!
//! The math is torchvision's tensor path (`_functional_tensor.py`) on floats in [0, 1]:
//! `_blend(a, b, r) = clamp(r * a + (1 - r) * b, 0, 1)`, contrast blends with the mean luma,
//! saturation with the per-pixel luma, hue rotates H in torchvision's `_rgb2hsv`/`_hsv2rgb`.

use rand::seq::SliceRandom;
use rand::Rng;

use super::grayscale::luma;
use super::{random_apply::RandomOp, ChwImage};

/// `clamp(ratio * a + (1 - ratio) * b, 0, 1)`, with torchvision's f32 rounding.
#[inline]
fn blend(a: f32, b: f32, ratio: f32, one_minus: f32) -> f32 {
    (ratio * a + one_minus * b).clamp(0.0, 1.0)
}

/// `F.adjust_brightness`: blend with black.
pub fn adjust_brightness(img: &mut ChwImage, factor: f64) {
    let (r, q) = (factor as f32, (1.0 - factor) as f32);
    for v in &mut img.data {
        *v = blend(*v, 0.0, r, q);
    }
}

/// `F.adjust_contrast`: blend with the mean luma of the whole image.
pub fn adjust_contrast(img: &mut ChwImage, factor: f64) {
    let n = img.plane_len();
    if n == 0 {
        return;
    }
    let (r, g, b) = (&img.data[..n], &img.data[n..2 * n], &img.data[2 * n..]);
    let sum: f64 = (0..n).map(|i| luma(r[i], g[i], b[i]) as f64).sum();
    let mean = (sum / n as f64) as f32;
    let (rt, q) = (factor as f32, (1.0 - factor) as f32);
    for v in &mut img.data {
        *v = blend(*v, mean, rt, q);
    }
}

/// `F.adjust_saturation`: blend each pixel with its own luma.
pub fn adjust_saturation(img: &mut ChwImage, factor: f64) {
    let (rt, q) = (factor as f32, (1.0 - factor) as f32);
    let (r, g, b) = img.planes_mut();
    for i in 0..r.len() {
        let l = luma(r[i], g[i], b[i]);
        r[i] = blend(r[i], l, rt, q);
        g[i] = blend(g[i], l, rt, q);
        b[i] = blend(b[i], l, rt, q);
    }
}

/// torchvision's `_rgb2hsv` for one pixel.
fn rgb2hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { cr };
    let rc = (maxc - r) / div;
    let gc = (maxc - g) / div;
    let bc = (maxc - b) / div;
    let hr = if maxc == r { bc - gc } else { 0.0 };
    let hg = if maxc == g && maxc != r {
        2.0 + rc - bc
    } else {
        0.0
    };
    let hb = if maxc != g && maxc != r {
        4.0 + gc - rc
    } else {
        0.0
    };
    let h = hr + hg + hb;
    // torch.fmod: truncated remainder, which is Rust's `%` on floats.
    let h = (h / 6.0 + 1.0) % 1.0;
    (h, s, maxc)
}

/// torchvision's `_hsv2rgb` for one pixel.
fn hsv2rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let i = (i as i32).rem_euclid(6);
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// `F.adjust_hue`: shift H by `factor` (in [-0.5, 0.5], a fraction of the colour wheel).
pub fn adjust_hue(img: &mut ChwImage, factor: f64) {
    let shift = factor as f32;
    let (r, g, b) = img.planes_mut();
    for i in 0..r.len() {
        let (h, s, v) = rgb2hsv(r[i], g[i], b[i]);
        // torch.remainder (`%` on tensors) has the sign of the divisor: rem_euclid.
        let h = (h + shift).rem_euclid(1.0);
        let (nr, ng, nb) = hsv2rgb(h, s, v);
        r[i] = nr;
        g[i] = ng;
        b[i] = nb;
    }
}

/// Jitter strengths; 0 disables a component (torchvision's `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
}

/// Factors drawn for one application, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterParams {
    /// A permutation of 0..4 (brightness, contrast, saturation, hue), `torch.randperm(4)`.
    pub order: [usize; 4],
    pub brightness: Option<f64>,
    pub contrast: Option<f64>,
    pub saturation: Option<f64>,
    pub hue: Option<f64>,
}

/// Uniform in [lo, hi] (inclusive of a degenerate range).
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

impl ColorJitter {
    /// torchvision's `get_params`: factors uniform in `[max(0, 1 - x), 1 + x]`, hue in
    /// `[-h, h]`, and a random order of the four ops.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> JitterParams {
        let mut order = [0, 1, 2, 3];
        order.shuffle(rng);
        let factor =
            |rng: &mut R, x: f64| (x > 0.0).then(|| uniform(rng, (1.0 - x).max(0.0), 1.0 + x));
        let brightness = factor(rng, self.brightness);
        let contrast = factor(rng, self.contrast);
        let saturation = factor(rng, self.saturation);
        let hue = (self.hue > 0.0).then(|| uniform(rng, -self.hue, self.hue));
        JitterParams {
            order,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }

    /// Applies drawn parameters (exposed so tests can fix them).
    pub fn apply_params(img: &mut ChwImage, p: &JitterParams) {
        for op in p.order {
            match (op, p.brightness, p.contrast, p.saturation, p.hue) {
                (0, Some(f), ..) => adjust_brightness(img, f),
                (1, _, Some(f), ..) => adjust_contrast(img, f),
                (2, _, _, Some(f), _) => adjust_saturation(img, f),
                (3, .., Some(f)) => adjust_hue(img, f),
                _ => {}
            }
        }
    }
}

impl RandomOp for ColorJitter {
    fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R) {
        let p = self.sample(rng);
        ColorJitter::apply_params(img, &p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn hsv_round_trip_is_identity() {
        for &(r, g, b) in &[
            (0.1, 0.5, 0.9),
            (1.0, 0.0, 0.0),
            (0.3, 0.3, 0.3),
            (0.9, 0.9, 0.1),
        ] {
            let (h, s, v) = rgb2hsv(r, g, b);
            let (nr, ng, nb) = hsv2rgb(h, s, v);
            assert!((nr - r).abs() < 1e-6 && (ng - g).abs() < 1e-6 && (nb - b).abs() < 1e-6);
        }
    }

    #[test]
    fn sampled_factors_stay_in_range_and_order_is_a_permutation() {
        let cj = ColorJitter {
            brightness: 0.4,
            contrast: 1.5,
            saturation: 0.0,
            hue: 0.1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let p = cj.sample(&mut rng);
            let mut o = p.order;
            o.sort();
            assert_eq!(o, [0, 1, 2, 3]);
            let b = p.brightness.unwrap();
            assert!((0.6..=1.4).contains(&b));
            let c = p.contrast.unwrap();
            assert!((0.0..=2.5).contains(&c));
            assert!(p.saturation.is_none());
            assert!(p.hue.unwrap().abs() <= 0.1);
        }
    }

    #[test]
    fn identity_factors_leave_the_image() {
        let mut img = ChwImage {
            height: 2,
            width: 2,
            data: (0..12).map(|i| i as f32 / 11.0).collect(),
        };
        let orig = img.clone();
        adjust_brightness(&mut img, 1.0);
        adjust_contrast(&mut img, 1.0);
        adjust_saturation(&mut img, 1.0);
        assert_eq!(img, orig);
    }
}
