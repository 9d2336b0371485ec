//! The drawing surface: an "ink" buffer in page points, plus the text lines drawn on it.
//!
//! Layouts think in PostScript points (1/72 in) on a physical page, so a template looks
//! the same at every output size; only the scale to pixels changes. Ink is stored as a
//! darkness in `0..=1` and combined with `max`, which is how overlapping toner behaves
//! and keeps the tight-box logic independent of drawing order.

use crate::gt::{Rotation, TextLine};

/// Ink buffer of one page (or of a stamp drawn separately and pasted rotated).
#[derive(Debug, Clone)]
pub struct Canvas {
    w: usize,
    h: usize,
    /// Pixels per point.
    scale: f32,
    ink: Vec<f32>,
    lines: Vec<TextLine>,
}

impl Canvas {
    /// A blank canvas of `w_pt x h_pt` points whose long side becomes `long_side_px`.
    pub fn new(w_pt: f32, h_pt: f32, long_side_px: u32) -> Self {
        let scale = long_side_px as f32 / w_pt.max(h_pt);
        Self::with_scale(w_pt, h_pt, scale)
    }

    /// A blank canvas at an explicit pixels-per-point scale.
    pub fn with_scale(w_pt: f32, h_pt: f32, scale: f32) -> Self {
        let w = ((w_pt * scale).round() as usize).max(1);
        let h = ((h_pt * scale).round() as usize).max(1);
        Canvas {
            w,
            h,
            scale,
            ink: vec![0.0; w * h],
            lines: Vec::new(),
        }
    }

    pub fn width_px(&self) -> usize {
        self.w
    }
    pub fn height_px(&self) -> usize {
        self.h
    }
    pub fn scale(&self) -> f32 {
        self.scale
    }
    pub fn width_pt(&self) -> f32 {
        self.w as f32 / self.scale
    }
    pub fn height_pt(&self) -> f32 {
        self.h as f32 / self.scale
    }
    pub fn ink(&self) -> &[f32] {
        &self.ink
    }
    pub fn lines(&self) -> &[TextLine] {
        &self.lines
    }

    /// Consumes the canvas into (width, height, ink, lines).
    pub fn into_parts(self) -> (usize, usize, Vec<f32>, Vec<TextLine>) {
        (self.w, self.h, self.ink, self.lines)
    }

    /// Records a ground-truth line (already in pixel coordinates).
    pub fn push_line(&mut self, line: TextLine) {
        self.lines.push(line);
    }

    /// Adds ink at a pixel; out-of-page pixels are ignored (clipping).
    #[inline]
    pub fn plot(&mut self, x: i64, y: i64, dark: f32) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = y as usize * self.w + x as usize;
            if self.ink[i] < dark {
                self.ink[i] = dark;
            }
        }
    }

    /// Fills a rectangle given in points, anti-aliased at fractional pixel edges.
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, dark: f32) {
        let s = self.scale;
        self.fill_rect_px(x * s, y * s, (x + w) * s, (y + h) * s, dark);
    }

    /// Fills `[x0, x1) x [y0, y1)` in pixels with area coverage at the borders.
    fn fill_rect_px(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, dark: f32) {
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let (ix0, ix1) = (x0.floor() as i64, x1.ceil() as i64);
        let (iy0, iy1) = (y0.floor() as i64, y1.ceil() as i64);
        let ix0c = ix0.max(0);
        let ix1c = ix1.min(self.w as i64);
        let iy0c = iy0.max(0);
        let iy1c = iy1.min(self.h as i64);
        for py in iy0c..iy1c {
            let cy = overlap(py as f32, y0, y1);
            for px in ix0c..ix1c {
                let c = cy * overlap(px as f32, x0, x1);
                self.plot(px, py, c * dark);
            }
        }
    }

    /// A horizontal rule of thickness `t` points centred on `y`, never thinner than
    /// about one pixel so rules survive small output sizes (as they do in real scans).
    pub fn hline(&mut self, x0: f32, x1: f32, y: f32, t: f32, dark: f32) {
        let s = self.scale;
        let tp = (t * s).max(0.9);
        self.fill_rect_px(x0 * s, y * s - tp / 2.0, x1 * s, y * s + tp / 2.0, dark);
    }

    /// A vertical rule, see [`Canvas::hline`].
    pub fn vline(&mut self, x: f32, y0: f32, y1: f32, t: f32, dark: f32) {
        let s = self.scale;
        let tp = (t * s).max(0.9);
        self.fill_rect_px(x * s - tp / 2.0, y0 * s, x * s + tp / 2.0, y1 * s, dark);
    }

    /// A dashed or dotted horizontal rule (receipts, signature lines, tear-off marks);
    /// `dash` is `[dash length, gap]` in points.
    pub fn dashed_hline(&mut self, x0: f32, x1: f32, y: f32, t: f32, dash: [f32; 2], dark: f32) {
        let [dash, gap] = dash;
        let mut x = x0;
        while x < x1 {
            self.hline(x, (x + dash).min(x1), y, t, dark);
            x += dash + gap;
        }
    }

    /// A rectangle outline of stroke `t` points drawn inside the rectangle.
    pub fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, t: f32, dark: f32) {
        self.hline(x, x + w, y + t / 2.0, t, dark);
        self.hline(x, x + w, y + h - t / 2.0, t, dark);
        self.vline(x + t / 2.0, y, y + h, t, dark);
        self.vline(x + w - t / 2.0, y, y + h, t, dark);
    }

    /// A straight stroke with round caps, anti-aliased by distance to the segment.
    pub fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, t: f32, dark: f32) {
        let s = self.scale;
        let (ax, ay, bx, by) = (x0 * s, y0 * s, x1 * s, y1 * s);
        let r = (t * s).max(0.9) / 2.0;
        let minx = (ax.min(bx) - r - 1.0).floor() as i64;
        let maxx = (ax.max(bx) + r + 1.0).ceil() as i64;
        let miny = (ay.min(by) - r - 1.0).floor() as i64;
        let maxy = (ay.max(by) + r + 1.0).ceil() as i64;
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for py in miny.max(0)..=maxy.min(self.h as i64 - 1) {
            for px in minx.max(0)..=maxx.min(self.w as i64 - 1) {
                let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                let tt = (((cx - ax) * dx + (cy - ay) * dy) / len2).clamp(0.0, 1.0);
                let (qx, qy) = (ax + tt * dx - cx, ay + tt * dy - cy);
                let d = (qx * qx + qy * qy).sqrt();
                let c = (r + 0.5 - d).clamp(0.0, 1.0);
                if c > 0.0 {
                    self.plot(px, py, c * dark);
                }
            }
        }
    }

    /// A polyline through the given points.
    pub fn polyline(&mut self, pts: &[[f32; 2]], t: f32, dark: f32) {
        for w in pts.windows(2) {
            self.line(w[0][0], w[0][1], w[1][0], w[1][1], t, dark);
        }
    }

    /// A circle outline (stamps, logos) of radius `r` and stroke `t`, in points.
    pub fn ring(&mut self, cx: f32, cy: f32, r: f32, t: f32, dark: f32) {
        self.annulus(cx, cy, r - t / 2.0, r + t / 2.0, dark);
    }

    /// A filled disc.
    pub fn disc(&mut self, cx: f32, cy: f32, r: f32, dark: f32) {
        self.annulus(cx, cy, 0.0, r, dark);
    }

    fn annulus(&mut self, cx: f32, cy: f32, r_in: f32, r_out: f32, dark: f32) {
        let s = self.scale;
        let (cx, cy) = (cx * s, cy * s);
        let (r_in, r_out) = (r_in * s, (r_out * s).max(r_in * s + 0.9));
        let x0 = (cx - r_out - 1.0).floor() as i64;
        let x1 = (cx + r_out + 1.0).ceil() as i64;
        let y0 = (cy - r_out - 1.0).floor() as i64;
        let y1 = (cy + r_out + 1.0).ceil() as i64;
        for py in y0.max(0)..=y1.min(self.h as i64 - 1) {
            for px in x0.max(0)..=x1.min(self.w as i64 - 1) {
                let d = ((px as f32 + 0.5 - cx).powi(2) + (py as f32 + 0.5 - cy).powi(2)).sqrt();
                let c_out = (r_out + 0.5 - d).clamp(0.0, 1.0);
                let c_in = if r_in > 0.0 {
                    (d - r_in + 0.5).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                let c = c_out.min(c_in);
                if c > 0.0 {
                    self.plot(px, py, c * dark);
                }
            }
        }
    }

    /// Fills a polygon (points) with 2x2 supersampling: logos and chart shapes only,
    /// so simplicity beats speed here.
    pub fn fill_polygon(&mut self, pts: &[[f32; 2]], dark: f32) {
        if pts.len() < 3 {
            return;
        }
        let s = self.scale;
        let p: Vec<[f32; 2]> = pts.iter().map(|q| [q[0] * s, q[1] * s]).collect();
        let minx = p
            .iter()
            .map(|q| q[0])
            .fold(f32::INFINITY, f32::min)
            .floor()
            .max(0.0) as i64;
        let maxx = p
            .iter()
            .map(|q| q[0])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil()
            .min(self.w as f32) as i64;
        let miny = p
            .iter()
            .map(|q| q[1])
            .fold(f32::INFINITY, f32::min)
            .floor()
            .max(0.0) as i64;
        let maxy = p
            .iter()
            .map(|q| q[1])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil()
            .min(self.h as f32) as i64;
        let inside = |x: f32, y: f32| -> bool {
            let mut c = false;
            let n = p.len();
            for i in 0..n {
                let (a, b) = (p[i], p[(i + n - 1) % n]);
                if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]
                {
                    c = !c;
                }
            }
            c
        };
        for py in miny..maxy {
            for px in minx..maxx {
                let mut k = 0;
                for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                    if inside(px as f32 + ox, py as f32 + oy) {
                        k += 1;
                    }
                }
                if k > 0 {
                    self.plot(px, py, dark * k as f32 / 4.0);
                }
            }
        }
    }

    /// Fills a rectangle (points) with a darkness computed per pixel from its relative
    /// position `(u, v)` in `0..1`: halftone photos and gradients.
    pub fn fill_with(&mut self, x: f32, y: f32, w: f32, h: f32, f: impl Fn(f32, f32) -> f32) {
        let s = self.scale;
        let (x0, y0) = ((x * s).round() as i64, (y * s).round() as i64);
        let (x1, y1) = (((x + w) * s).round() as i64, ((y + h) * s).round() as i64);
        let (wp, hp) = ((x1 - x0).max(1) as f32, (y1 - y0).max(1) as f32);
        for py in y0.max(0)..y1.min(self.h as i64) {
            for px in x0.max(0)..x1.min(self.w as i64) {
                let d = f((px - x0) as f32 / wp, (py - y0) as f32 / hp);
                self.plot(px, py, d.clamp(0.0, 1.0));
            }
        }
    }

    /// Pastes another canvas (same scale) rotated by `angle` radians with its centre at
    /// `(cx, cy)` points, scaling its ink by `dark`; its text lines come along as quads,
    /// marked don't-care because rotated stamp text is not what the detector is for.
    pub fn paste_rotated(&mut self, src: &Canvas, cx: f32, cy: f32, angle: f32, dark: f32) {
        let rot = Rotation::new(
            angle,
            [src.w as f32 / 2.0, src.h as f32 / 2.0],
            [cx * self.scale, cy * self.scale],
        );
        // Destination bounding box of the rotated source.
        let corners = [
            [0.0, 0.0],
            [src.w as f32, 0.0],
            [src.w as f32, src.h as f32],
            [0.0, src.h as f32],
        ]
        .map(|p| rot.forward(p));
        let minx = corners
            .iter()
            .map(|p| p[0])
            .fold(f32::INFINITY, f32::min)
            .floor() as i64;
        let maxx = corners
            .iter()
            .map(|p| p[0])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil() as i64;
        let miny = corners
            .iter()
            .map(|p| p[1])
            .fold(f32::INFINITY, f32::min)
            .floor() as i64;
        let maxy = corners
            .iter()
            .map(|p| p[1])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil() as i64;
        for py in miny.max(0)..maxy.min(self.h as i64) {
            for px in minx.max(0)..maxx.min(self.w as i64) {
                let [sx, sy] = rot.inverse([px as f32 + 0.5, py as f32 + 0.5]);
                let v = sample_bilinear(&src.ink, src.w, src.h, sx - 0.5, sy - 0.5, 0.0);
                if v > 0.0 {
                    self.plot(px, py, v * dark);
                }
            }
        }
        let (w, h) = (self.w as f32, self.h as f32);
        for l in &src.lines {
            let mut m = rot.map_line(l);
            m.dont_care = true;
            crate::gt::clamp_to_page(&mut m, w, h);
            self.lines.push(m);
        }
    }
}

/// Length of `[p, p+1) ∩ [a, b)`: the fraction of pixel `p` covered along one axis.
#[inline]
fn overlap(p: f32, a: f32, b: f32) -> f32 {
    ((p + 1.0).min(b) - p.max(a)).max(0.0)
}

/// Bilinear sample of a `w x h` buffer at pixel-centre coordinates, `fill` outside.
#[inline]
pub fn sample_bilinear(buf: &[f32], w: usize, h: usize, x: f32, y: f32, fill: f32) -> f32 {
    let x0 = x.floor();
    let y0 = y.floor();
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let get = |xx: i64, yy: i64| -> f32 {
        if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
            buf[yy as usize * w + xx as usize]
        } else {
            fill
        }
    };
    let a = get(x0, y0) * (1.0 - fx) + get(x0 + 1, y0) * fx;
    let b = get(x0, y0 + 1) * (1.0 - fx) + get(x0 + 1, y0 + 1) * fx;
    a * (1.0 - fy) + b * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_coverage_is_exact_on_pixel_grid() {
        let mut c = Canvas::with_scale(10.0, 10.0, 1.0);
        c.fill_rect(2.0, 3.0, 4.0, 2.0, 1.0);
        let total: f32 = c.ink().iter().sum();
        assert!((total - 8.0).abs() < 1e-4);
        c.fill_rect(0.5, 0.0, 1.0, 1.0, 1.0);
        assert!((c.ink()[0] - 0.5).abs() < 1e-4);
    }

    #[test]
    fn drawing_outside_is_clipped() {
        let mut c = Canvas::with_scale(10.0, 10.0, 1.0);
        c.fill_rect(-5.0, -5.0, 30.0, 30.0, 1.0);
        c.line(-10.0, -10.0, 30.0, 30.0, 2.0, 1.0);
        c.ring(5.0, 5.0, 20.0, 1.0, 1.0);
        assert!(c.ink().iter().all(|&v| v == 1.0));
    }
}
