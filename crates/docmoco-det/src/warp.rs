//! Affine resampling of an 8-bit page into float CHW planes.
//!
//! Detection augmentation scales, rotates and crops in one step, so the page is read once
//! through an inverse affine map. Coordinates are continuous pixels: pixel `i` covers
//! `[i, i + 1)` and its centre is `i + 0.5`, the same frame as ICDAR coordinates, so boxes
//! and pixels move together exactly. Shrinking averages a `k x k` grid of bilinear taps per
//! output pixel (`k = ceil(1 / scale)`, at most 4) so thin strokes do not alias away.

use docmoco_data::augment::ChwImage;
use image::RgbImage;

use crate::geometry::Point;

/// `p -> [a b; c d] p + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [[f64; 2]; 2],
    pub t: [f64; 2],
}

impl Affine {
    pub fn identity() -> Self {
        Affine {
            m: [[1.0, 0.0], [0.0, 1.0]],
            t: [0.0, 0.0],
        }
    }

    /// Uniform scale by `s` (x by `sx`, y by `sy`) about the origin.
    pub fn scale(sx: f64, sy: f64) -> Self {
        Affine {
            m: [[sx, 0.0], [0.0, sy]],
            t: [0.0, 0.0],
        }
    }

    /// Rotation by `rad` radians (clockwise on screen, as y points down).
    pub fn rotate(rad: f64) -> Self {
        let (s, c) = rad.sin_cos();
        Affine {
            m: [[c, -s], [s, c]],
            t: [0.0, 0.0],
        }
    }

    pub fn translate(tx: f64, ty: f64) -> Self {
        Affine {
            m: [[1.0, 0.0], [0.0, 1.0]],
            t: [tx, ty],
        }
    }

    /// `self` after `first`: `p -> self(first(p))`.
    pub fn then_after(&self, first: &Affine) -> Affine {
        let a = &self.m;
        let b = &first.m;
        Affine {
            m: [
                [
                    a[0][0] * b[0][0] + a[0][1] * b[1][0],
                    a[0][0] * b[0][1] + a[0][1] * b[1][1],
                ],
                [
                    a[1][0] * b[0][0] + a[1][1] * b[1][0],
                    a[1][0] * b[0][1] + a[1][1] * b[1][1],
                ],
            ],
            t: [
                a[0][0] * first.t[0] + a[0][1] * first.t[1] + self.t[0],
                a[1][0] * first.t[0] + a[1][1] * first.t[1] + self.t[1],
            ],
        }
    }

    /// The inverse map (`None` when singular).
    pub fn inverse(&self) -> Option<Affine> {
        let [[a, b], [c, d]] = self.m;
        let det = a * d - b * c;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let m = [[d / det, -b / det], [-c / det, a / det]];
        let t = [
            -(m[0][0] * self.t[0] + m[0][1] * self.t[1]),
            -(m[1][0] * self.t[0] + m[1][1] * self.t[1]),
        ];
        Some(Affine { m, t })
    }

    pub fn apply(&self, p: Point) -> Point {
        let (x, y) = (p[0] as f64, p[1] as f64);
        [
            (self.m[0][0] * x + self.m[0][1] * y + self.t[0]) as f32,
            (self.m[1][0] * x + self.m[1][1] * y + self.t[1]) as f32,
        ]
    }

    /// How much the map shrinks lengths at worst (smallest singular value, approximately
    /// the smaller column norm for the similarity transforms used here).
    fn min_scale(&self) -> f64 {
        let c0 = self.m[0][0].hypot(self.m[1][0]);
        let c1 = self.m[0][1].hypot(self.m[1][1]);
        c0.min(c1)
    }
}

/// Renders a `height x width` image whose pixel centre `q` shows page point
/// `forward^-1(q)`; points off the page are `fill` (in [0, 1]). `forward` maps page
/// coordinates to output coordinates. A singular map yields a `fill` image.
pub fn warp(page: &RgbImage, forward: &Affine, height: usize, width: usize, fill: f32) -> ChwImage {
    let mut out = ChwImage::filled(height, width, fill);
    let Some(inv) = forward.inverse() else {
        return out;
    };
    let k = ((1.0 / forward.min_scale()).ceil() as usize).clamp(1, 4);
    let (pw, ph) = (page.width() as usize, page.height() as usize);
    let raw = page.as_raw();
    let n = height * width;
    // Bilinear tap at continuous page point (x, y): pixel-centre frame, white outside.
    let tap = |x: f64, y: f64, acc: &mut [f32; 3]| {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (ax, ay) = ((fx - x0) as f32, (fy - y0) as f32);
        let (x0, y0) = (x0 as i64, y0 as i64);
        for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
            for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
                let w = wx * wy;
                if w == 0.0 {
                    continue;
                }
                let (xx, yy) = (x0 + dx, y0 + dy);
                if xx < 0 || yy < 0 || xx >= pw as i64 || yy >= ph as i64 {
                    for a in acc.iter_mut() {
                        *a += w * fill;
                    }
                } else {
                    let i = 3 * (yy as usize * pw + xx as usize);
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += w * raw[i + c] as f32 / 255.0;
                    }
                }
            }
        }
    };
    let inv_k2 = 1.0 / (k * k) as f32;
    for v in 0..height {
        for u in 0..width {
            let mut acc = [0f32; 3];
            for sy in 0..k {
                for sx in 0..k {
                    let qx = u as f64 + (sx as f64 + 0.5) / k as f64;
                    let qy = v as f64 + (sy as f64 + 0.5) / k as f64;
                    let x = inv.m[0][0] * qx + inv.m[0][1] * qy + inv.t[0];
                    let y = inv.m[1][0] * qx + inv.m[1][1] * qy + inv.t[1];
                    tap(x, y, &mut acc);
                }
            }
            let i = v * width + u;
            out.data[i] = acc[0] * inv_k2;
            out.data[n + i] = acc[1] * inv_k2;
            out.data[2 * n + i] = acc[2] * inv_k2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_compose_and_invert() {
        let f = Affine::translate(3.0, -2.0)
            .then_after(&Affine::rotate(0.3))
            .then_after(&Affine::scale(2.0, 2.0));
        let p = [5.0, 7.0];
        let q = f.apply(p);
        let back = f.inverse().unwrap().apply(q);
        assert!((back[0] - p[0]).abs() < 1e-4 && (back[1] - p[1]).abs() < 1e-4);
        assert!(Affine::scale(0.0, 1.0).inverse().is_none());
    }

    #[test]
    fn identity_warp_reproduces_pixels_and_pads_with_fill() {
        let mut page = RgbImage::from_pixel(4, 3, image::Rgb([255, 255, 255]));
        page.put_pixel(1, 2, image::Rgb([0, 51, 255]));
        let out = warp(&page, &Affine::identity(), 3, 5, 1.0);
        let n = 15;
        assert_eq!(out.data[2 * 5 + 1], 0.0);
        assert!((out.data[n + 2 * 5 + 1] - 0.2).abs() < 1e-6);
        assert_eq!(out.data[5 - 1], 1.0); // column 4 is off the page: fill
                                          // A shift by one pixel moves the dark pixel.
        let out = warp(&page, &Affine::translate(1.0, 0.0), 3, 5, 1.0);
        assert_eq!(out.data[2 * 5 + 2], 0.0);
    }

    #[test]
    fn halving_averages_instead_of_skipping() {
        // Alternating black/white columns: a 2x shrink must give mid-grey, not one colour.
        let page = RgbImage::from_fn(8, 8, |x, _| {
            image::Rgb([if x % 2 == 0 { 0 } else { 255 }; 3])
        });
        let out = warp(&page, &Affine::scale(0.5, 0.5), 4, 4, 1.0);
        for v in &out.data[..16] {
            assert!((v - 0.5).abs() < 1e-6, "{v}");
        }
    }
}
