//! Scan-like degradations: paper tone and texture, skew, blur, border shadows, contrast,
//! noise and speckle, JPEG artefacts.
//!
//! Each has a random strength (often zero), because MoCo's augmentations should not be the
//! only thing that makes pages look different, and a detector trained on clean renders
//! fails on real scans. The skew is the only geometric step and is applied to the ground
//! truth too.

use std::io::Cursor;

use image::{GrayImage, ImageFormat};
use rand::Rng;

use crate::canvas::sample_bilinear;
use crate::gt::{clamp_to_page, Rotation, TextLine};
use crate::SynthError;

/// Strengths of every degradation for one page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degradation {
    /// Grey level of blank paper (0..255).
    pub paper: f32,
    /// Grey level of full ink.
    pub ink: f32,
    /// Amplitude of the low-frequency paper texture, in grey levels.
    pub texture: f32,
    /// Page skew in radians (positive is clockwise on screen).
    pub angle: f32,
    /// Gaussian blur sigma in pixels.
    pub blur: f32,
    /// Border shadow strength (0..1) and width as a fraction of the page, per side
    /// (left, top, right, bottom).
    pub shadow: [(f32, f32); 4],
    /// Contrast factor around mid-grey and brightness offset.
    pub contrast: f32,
    pub brightness: f32,
    /// Gaussian noise sigma in grey levels.
    pub noise: f32,
    /// Speckles (dust, toner dots) per megapixel.
    pub speckle: f32,
    /// JPEG round trip quality, if any.
    pub jpeg_quality: Option<u8>,
}

impl Degradation {
    /// A clean render: white paper, black ink, nothing else.
    pub fn none() -> Self {
        Degradation {
            paper: 255.0,
            ink: 0.0,
            texture: 0.0,
            angle: 0.0,
            blur: 0.0,
            shadow: [(0.0, 0.0); 4],
            contrast: 1.0,
            brightness: 0.0,
            noise: 0.0,
            speckle: 0.0,
            jpeg_quality: None,
        }
    }

    /// Random strengths for a page whose long side is `long_side` pixels; pixel-sized
    /// effects (blur) scale with resolution so that they mean the same physical thing.
    pub fn random<R: Rng>(rng: &mut R, long_side: u32) -> Self {
        let res = long_side as f32 / 1000.0;
        let mut d = Degradation::none();
        d.paper = rng.gen_range(215.0..255.0);
        d.ink = rng.gen_range(0.0..70.0);
        if rng.gen_bool(0.5) {
            d.texture = rng.gen_range(0.0..10.0);
        }
        if rng.gen_bool(0.8) {
            d.angle = rng.gen_range(-2.0f32..2.0).to_radians();
        }
        if rng.gen_bool(0.6) {
            d.blur = rng.gen_range(0.3..1.3) * res.max(0.5);
        }
        for s in d.shadow.iter_mut() {
            if rng.gen_bool(0.15) {
                *s = (rng.gen_range(0.1..0.5), rng.gen_range(0.01..0.06));
            }
        }
        if rng.gen_bool(0.5) {
            d.contrast = rng.gen_range(0.75..1.25);
            d.brightness = rng.gen_range(-20.0..20.0);
        }
        if rng.gen_bool(0.6) {
            d.noise = rng.gen_range(1.0..10.0);
        }
        if rng.gen_bool(0.4) {
            d.speckle = rng.gen_range(20.0..400.0);
        }
        if rng.gen_bool(0.5) {
            d.jpeg_quality = Some(rng.gen_range(25..92));
        }
        d
    }
}

/// Turns an ink buffer into a degraded greyscale image and moves the ground truth with
/// the skew. `rng` drives the noise, so the result is deterministic given its seed.
pub fn apply<R: Rng>(
    ink: &[f32],
    w: usize,
    h: usize,
    lines: &[TextLine],
    d: &Degradation,
    rng: &mut R,
) -> Result<(GrayImage, Vec<TextLine>), SynthError> {
    let mut v: Vec<f32> = ink
        .iter()
        .map(|&k| d.paper - k.clamp(0.0, 1.0) * (d.paper - d.ink))
        .collect();
    if d.texture > 0.0 {
        texture(&mut v, w, h, d.texture, rng);
    }
    let mut out_lines: Vec<TextLine> = lines.to_vec();
    let angle = fitting_angle(d.angle, w, h, lines);
    if angle != 0.0 {
        let c = [w as f32 / 2.0, h as f32 / 2.0];
        let rot = Rotation::new(angle, c, c);
        // Fill the uncovered corners with what the border looks like (paper, or the grey
        // scanner bed around a receipt), not with a constant that would draw a wedge.
        let fill = border_mean(&v, w, h);
        v = rotate(&v, w, h, &rot, fill);
        out_lines = lines.iter().map(|l| rot.map_line(l)).collect();
    }
    for l in &mut out_lines {
        clamp_to_page(l, w as f32, h as f32);
    }
    if d.blur > 0.05 {
        gaussian_blur(&mut v, w, h, d.blur);
    }
    shadows(&mut v, w, h, &d.shadow);
    if d.contrast != 1.0 || d.brightness != 0.0 {
        for x in v.iter_mut() {
            *x = (*x - 128.0) * d.contrast + 128.0 + d.brightness;
        }
    }
    if d.noise > 0.0 {
        // Box-Muller per pixel dominated the page time; a per-page table of normal samples
        // indexed by a cheap random draw is statistically indistinguishable for noise.
        let table: Vec<f32> = (0..NOISE_TABLE).map(|_| d.noise * gauss(rng)).collect();
        for x in v.iter_mut() {
            *x += table[(rng.next_u32() as usize) % NOISE_TABLE];
        }
    }
    if d.speckle > 0.0 {
        let n = (d.speckle * (w * h) as f32 / 1e6) as usize;
        for _ in 0..n {
            let (x, y) = (rng.gen_range(0..w), rng.gen_range(0..h));
            let val = if rng.gen_bool(0.8) {
                rng.gen_range(0.0..90.0)
            } else {
                255.0
            };
            let r = if rng.gen_bool(0.2) { 1 } else { 0 };
            for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    v[yy * w + xx] = val;
                }
            }
        }
    }
    let bytes: Vec<u8> = v
        .iter()
        .map(|x| x.round().clamp(0.0, 255.0) as u8)
        .collect();
    let mut img = GrayImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| SynthError::InvalidConfig(format!("image buffer does not match {w}x{h}")))?;
    if let Some(q) = d.jpeg_quality {
        img = jpeg_round_trip(&img, q)?;
    }
    Ok((img, out_lines))
}

/// The largest of `angle`, `angle / 2`, `angle / 4`, ... (or 0) that keeps every text line
/// inside the page after the skew: a scan of a narrow receipt cannot be tilted as far as an
/// A4 page without cutting text off at the edge.
fn fitting_angle(angle: f32, w: usize, h: usize, lines: &[TextLine]) -> f32 {
    let c = [w as f32 / 2.0, h as f32 / 2.0];
    let mut a = angle;
    for _ in 0..6 {
        if a == 0.0 {
            break;
        }
        let rot = Rotation::new(a, c, c);
        let inside = lines.iter().flat_map(|l| l.quad).all(|p| {
            let [x, y] = rot.forward(p);
            x >= 0.0 && y >= 0.0 && x <= w as f32 && y <= h as f32
        });
        if inside {
            return a;
        }
        a *= 0.5;
    }
    0.0
}

/// Mean of the outermost rows and columns.
fn border_mean(v: &[f32], w: usize, h: usize) -> f32 {
    let top = &v[..w];
    let bottom = &v[(h - 1) * w..];
    let sides = (0..h).flat_map(|y| [v[y * w], v[y * w + w - 1]]);
    let (sum, n) = top
        .iter()
        .chain(bottom)
        .copied()
        .chain(sides)
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f32
}

/// Size of the per-page table of noise samples.
const NOISE_TABLE: usize = 1 << 14;

/// Standard normal sample (Box-Muller; one of the pair is dropped for simplicity).
fn gauss<R: Rng>(rng: &mut R) -> f32 {
    let u1: f32 = rng.gen_range(1e-7..1.0);
    let u2: f32 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Low-frequency paper texture: a coarse random grid, bilinearly upsampled (the grid is
/// first interpolated along y once per row, then along x with precomputed weights).
fn texture<R: Rng>(v: &mut [f32], w: usize, h: usize, amp: f32, rng: &mut R) {
    let (gw, gh) = (9usize, 12usize);
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.gen_range(-amp..amp)).collect();
    let cols: Vec<(usize, f32)> = (0..w)
        .map(|x| {
            let gx = x as f32 / w as f32 * (gw - 1) as f32;
            let i = (gx.floor() as usize).min(gw - 2);
            (i, gx - i as f32)
        })
        .collect();
    let mut line = vec![0.0f32; gw];
    for (y, row) in v.chunks_exact_mut(w).enumerate() {
        let gy = y as f32 / h as f32 * (gh - 1) as f32;
        let j = (gy.floor() as usize).min(gh - 2);
        let fy = gy - j as f32;
        for (i, l) in line.iter_mut().enumerate() {
            *l = grid[j * gw + i] * (1.0 - fy) + grid[(j + 1) * gw + i] * fy;
        }
        for (px, &(i, fx)) in row.iter_mut().zip(&cols) {
            *px += line[i] * (1.0 - fx) + line[i + 1] * fx;
        }
    }
}

/// Rotates about the centre with bilinear resampling, filling with paper. The source
/// position advances by a constant step along a row (it is affine), and pixels whose four
/// neighbours are inside skip the bounds checks.
fn rotate(v: &[f32], w: usize, h: usize, rot: &Rotation, fill: f32) -> Vec<f32> {
    let mut out = vec![fill; w * h];
    let [x1, y1] = rot.inverse([1.5, 0.5]);
    let [x0, y0] = rot.inverse([0.5, 0.5]);
    let (dx, dy) = (x1 - x0, y1 - y0);
    for y in 0..h {
        let [mut sx, mut sy] = rot.inverse([0.5, y as f32 + 0.5]);
        sx -= 0.5;
        sy -= 0.5;
        let row = &mut out[y * w..(y + 1) * w];
        for px in row.iter_mut() {
            let (fx0, fy0) = (sx.floor(), sy.floor());
            if fx0 >= 0.0 && fy0 >= 0.0 && (fx0 as usize) + 1 < w && (fy0 as usize) + 1 < h {
                let (ix, iy) = (fx0 as usize, fy0 as usize);
                let (fx, fy) = (sx - fx0, sy - fy0);
                let i = iy * w + ix;
                let a = v[i] + (v[i + 1] - v[i]) * fx;
                let b = v[i + w] + (v[i + w + 1] - v[i + w]) * fx;
                *px = a + (b - a) * fy;
            } else {
                *px = sample_bilinear(v, w, h, sx, sy, fill);
            }
            sx += dx;
            sy += dy;
        }
    }
    out
}

/// Separable Gaussian blur with clamped borders (clamping only near the borders).
pub fn gaussian_blur(v: &mut [f32], w: usize, h: usize, sigma: f32) {
    let r = (sigma * 3.0).ceil() as usize;
    let k: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|x| x / sum).collect();
    let mut tmp = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &v[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            *o = if x >= r && x + r < w {
                row[x - r..=x + r].iter().zip(&k).map(|(a, b)| a * b).sum()
            } else {
                k.iter()
                    .enumerate()
                    .map(|(j, kk)| row[(x + j).saturating_sub(r).min(w - 1)] * kk)
                    .sum()
            };
        }
    }
    // Vertical pass one output row at a time, accumulating whole rows (cache friendly).
    for y in 0..h {
        let out = &mut v[y * w..(y + 1) * w];
        out.iter_mut().for_each(|o| *o = 0.0);
        for (j, kk) in k.iter().enumerate() {
            let yy = (y + j).saturating_sub(r).min(h - 1);
            let src = &tmp[yy * w..(yy + 1) * w];
            for (o, s) in out.iter_mut().zip(src) {
                *o += s * kk;
            }
        }
    }
}

/// Darkens towards the page edges, like a scanner lid or a book spine. The factor is
/// separable (left/right depend on x only, top/bottom on y only), so it costs one
/// multiplication per pixel.
fn shadows(v: &mut [f32], w: usize, h: usize, shadow: &[(f32, f32); 4]) {
    if shadow.iter().all(|s| s.0 <= 0.0) {
        return;
    }
    let long = w.max(h) as f32;
    let edge = |d: f32, (s, width): (f32, f32)| {
        if s > 0.0 {
            1.0 - s * (-d / (width * long)).exp()
        } else {
            1.0
        }
    };
    let fx: Vec<f32> = (0..w)
        .map(|x| edge(x as f32, shadow[0]) * edge((w - 1 - x) as f32, shadow[2]))
        .collect();
    let fy: Vec<f32> = (0..h)
        .map(|y| edge(y as f32, shadow[1]) * edge((h - 1 - y) as f32, shadow[3]))
        .collect();
    for (row, f) in v.chunks_exact_mut(w).zip(&fy) {
        for (px, g) in row.iter_mut().zip(&fx) {
            *px *= f * g;
        }
    }
}

/// Encodes as JPEG at `quality` and decodes again, to get real block artefacts.
fn jpeg_round_trip(img: &GrayImage, quality: u8) -> Result<GrayImage, SynthError> {
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality);
    img.write_with_encoder(enc)
        .map_err(|source| SynthError::Image {
            path: "<jpeg round trip>".into(),
            source,
        })?;
    let dec =
        image::load(Cursor::new(buf), ImageFormat::Jpeg).map_err(|source| SynthError::Image {
            path: "<jpeg round trip>".into(),
            source,
        })?;
    Ok(dec.to_luma8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn clean_render_maps_ink_to_black_on_white() {
        let ink = vec![0.0, 1.0, 0.5, 0.0];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let (img, _) = apply(&ink, 2, 2, &[], &Degradation::none(), &mut rng).expect("render");
        assert_eq!(img.as_raw(), &vec![255, 0, 128, 255]);
    }

    #[test]
    fn skew_is_reduced_until_text_stays_on_the_page() {
        // A line hugging the top-right corner of a narrow page.
        let line = crate::gt::rect_line([80.0, 2.0, 99.0, 10.0], "x".into(), false);
        let a = fitting_angle(2.0f32.to_radians(), 100, 300, std::slice::from_ref(&line));
        assert!(a.abs() < 2.0f32.to_radians());
        let centred = crate::gt::rect_line([40.0, 140.0, 60.0, 160.0], "x".into(), false);
        let b = fitting_angle(2.0f32.to_radians(), 100, 300, &[centred]);
        assert_eq!(b, 2.0f32.to_radians());
    }

    #[test]
    fn skew_moves_boxes_with_the_pixels() {
        // A dark block; after rotation its box's centre must still be dark.
        let (w, h) = (200, 300);
        let mut ink = vec![0.0; w * h];
        for y in 20..40 {
            for x in 20..120 {
                ink[y * w + x] = 1.0;
            }
        }
        let line = crate::gt::rect_line([20.0, 20.0, 120.0, 40.0], "x".into(), false);
        let mut d = Degradation::none();
        d.angle = 2.0f32.to_radians();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let (img, lines) = apply(&ink, w, h, &[line], &d, &mut rng).expect("render");
        let q = lines[0].quad;
        for t in [0.1f32, 0.5, 0.9] {
            // Points along the middle of the rotated box.
            let top = [
                q[0][0] + t * (q[1][0] - q[0][0]),
                q[0][1] + t * (q[1][1] - q[0][1]),
            ];
            let bot = [
                q[3][0] + t * (q[2][0] - q[3][0]),
                q[3][1] + t * (q[2][1] - q[3][1]),
            ];
            let mid = [(top[0] + bot[0]) / 2.0, (top[1] + bot[1]) / 2.0];
            assert!(img.get_pixel(mid[0] as u32, mid[1] as u32)[0] < 60);
        }
    }
}
