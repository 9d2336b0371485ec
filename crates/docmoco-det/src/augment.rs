//! Detection training transforms: scale, small rotation, text-aware crop, photometric jitter.
//!
//! The page is first scaled so its long side is `base_long_side` (so pages of any
//! resolution show text at a similar size), then by a random factor, rotated by a small
//! angle and cropped to `crop_size` squares, all as one affine warp (see [`crate::warp`]).
//!
//! The crop follows the idea of DBNet's `RandomCropData`: among random candidate windows,
//! prefer one that does not cut text *across its height* and that holds text. A document
//! line is usually longer than a crop, so cutting along its length cannot be avoided; such
//! a line is clipped to the crop and stays a text line (DBNet keeps cut polygons the same
//! way). A line cut across its height (a strip of its top or bottom half is visible) becomes
//! don't-care, since neither "text" nor "background" is true of the visible strip; with
//! `keep_cut_lines = false` every cut line becomes don't-care. Lines fully outside are
//! dropped, and the area outside the page is white paper.

use docmoco_data::augment::{ChwImage, Normalize};
use docmoco_data::icdar::{TextLine, DONT_CARE};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::geometry::{intersection_area, min_area_rect_full, Point};
use crate::warp::{warp, Affine};
use crate::DetError;

/// Detection augmentation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetAugmentConfig {
    /// Side of the square training crop, in pixels.
    pub crop_size: usize,
    /// Long side the page is first scaled to.
    pub base_long_side: u32,
    /// Random extra scale `(min, max)`, uniform.
    pub scale_range: (f32, f32),
    /// Rotation drawn uniformly in `[-max, max]` degrees.
    pub max_rotation_deg: f32,
    /// Random horizontal mirror (off for documents: mirrored text is not text).
    pub flip: bool,
    /// Candidate windows tried by the text-aware crop.
    pub crop_tries: usize,
    /// Keep lines cut along their length (clipped) as text; otherwise every cut line is
    /// don't-care.
    pub keep_cut_lines: bool,
    /// Brightness factor drawn from `[1 - b, 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 - c, 1 + c]` (blend with the mean grey).
    pub contrast: f32,
    pub normalize: Normalize,
}

impl Default for DetAugmentConfig {
    fn default() -> Self {
        DetAugmentConfig {
            crop_size: 256,
            base_long_side: 768,
            scale_range: (0.7, 1.3),
            max_rotation_deg: 5.0,
            flip: false,
            crop_tries: 16,
            keep_cut_lines: true,
            brightness: 0.15,
            contrast: 0.15,
            normalize: Normalize::default(),
        }
    }
}

impl DetAugmentConfig {
    /// Refuses values that cannot produce a crop, naming the field.
    pub fn validate(&self) -> Result<(), DetError> {
        if self.crop_size == 0 {
            return Err(DetError::config("augment.crop_size", "must be at least 1"));
        }
        if self.base_long_side == 0 {
            return Err(DetError::config(
                "augment.base_long_side",
                "must be at least 1",
            ));
        }
        let (lo, hi) = self.scale_range;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(DetError::config(
                "augment.scale_range",
                "need 0 < min <= max",
            ));
        }
        if !(0.0..=180.0).contains(&self.max_rotation_deg) {
            return Err(DetError::config(
                "augment.max_rotation_deg",
                "must be in [0, 180]",
            ));
        }
        for (name, v) in [
            ("augment.brightness", self.brightness),
            ("augment.contrast", self.contrast),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(DetError::config(name, "must be in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// One augmented training sample: the normalised crop and its lines in crop pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct DetSample {
    pub image: ChwImage,
    pub lines: Vec<TextLine>,
}

/// Height of a line across its reading direction (the shorter side of its quad).
fn line_thickness(q: &[Point; 4]) -> f32 {
    let d = |a: Point, b: Point| (a[0] - b[0]).hypot(a[1] - b[1]);
    let across = 0.5 * (d(q[0], q[3]) + d(q[1], q[2]));
    let along = 0.5 * (d(q[0], q[1]) + d(q[2], q[3]));
    across.min(along)
}

/// What the crop does to one line.
enum Fate {
    Outside,
    Inside,
    /// Cut along its length: clipped, still text.
    CutLength,
    /// Cut across its height, or any cut with `keep_cut_lines` off.
    CutAcross,
}

/// Fraction of a line's thickness that must stay visible for a cut to count as "along".
const KEEP_THICKNESS: f32 = 0.9;

fn fate(q: &[Point; 4], window: &[Point; 4], keep_cut: bool) -> (Fate, Option<[Point; 4]>) {
    let inside = |p: &Point| {
        p[0] >= window[0][0] && p[0] <= window[2][0] && p[1] >= window[0][1] && p[1] <= window[2][1]
    };
    if q.iter().all(inside) {
        return (Fate::Inside, None);
    }
    // Bounding boxes first: most lines of a page are nowhere near the crop.
    let (x0, x1) = q
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
    let (y0, y1) = q
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    if x1 <= window[0][0] || x0 >= window[2][0] || y1 <= window[0][1] || y0 >= window[2][1] {
        return (Fate::Outside, None);
    }
    let clipped = clip_quad(q, window);
    let Some(clipped) = clipped else {
        return (Fate::Outside, None);
    };
    if !keep_cut {
        return (Fate::CutAcross, Some(clipped));
    }
    if line_thickness(&clipped) >= KEEP_THICKNESS * line_thickness(q) {
        (Fate::CutLength, Some(clipped))
    } else {
        (Fate::CutAcross, Some(clipped))
    }
}

/// The visible part of `q` in the axis-aligned `window`, as its minimum-area rectangle.
fn clip_quad(q: &[Point; 4], window: &[Point; 4]) -> Option<[Point; 4]> {
    if intersection_area(q, window) < 0.5 {
        return None;
    }
    // Sutherland-Hodgman against the four window edges (the window is convex).
    let mut poly: Vec<Point> = q.to_vec();
    let (wx0, wy0, wx1, wy1) = (window[0][0], window[0][1], window[2][0], window[2][1]);
    type Keep = fn(Point, f32) -> bool;
    let edges: [(Keep, usize, f32); 4] = [
        (|p, v| p[0] >= v, 0, wx0),
        (|p, v| p[0] <= v, 0, wx1),
        (|p, v| p[1] >= v, 1, wy0),
        (|p, v| p[1] <= v, 1, wy1),
    ];
    for (keep, axis, v) in edges {
        let mut out = Vec::with_capacity(poly.len() + 2);
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            let (ka, kb) = (keep(a, v), keep(b, v));
            if ka {
                out.push(a);
            }
            if ka != kb {
                let t = (v - a[axis]) / (b[axis] - a[axis]);
                out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
            }
        }
        poly = out;
        if poly.len() < 3 {
            return None;
        }
    }
    min_area_rect_full(&poly).map(|r| r.corners)
}

/// Picks the crop's top-left corner in the transformed page frame.
fn choose_window(
    lines: &[TextLine],
    extent: (f32, f32),
    size: f32,
    cfg: &DetAugmentConfig,
    rng: &mut impl Rng,
) -> (f32, f32) {
    let (ew, eh) = extent;
    // Origins keep the window on the page when it fits, else centre the page in it.
    let range = |e: f32| {
        if e >= size {
            (0.0, e - size)
        } else {
            ((e - size) / 2.0, (e - size) / 2.0)
        }
    };
    let (rx, ry) = (range(ew), range(eh));
    let uniform = |rng: &mut dyn rand::RngCore, (lo, hi): (f32, f32)| {
        if hi > lo {
            rng.gen_range(lo..=hi)
        } else {
            lo
        }
    };
    let text: Vec<&TextLine> = lines.iter().filter(|l| !l.dont_care).collect();
    let mut best: Option<((usize, usize), (f32, f32))> = None;
    for t in 0..cfg.crop_tries.max(1) {
        // Half the candidates are centred near a random line, so sparse pages still give
        // text crops; the others are anywhere, so background is seen too.
        let (ox, oy) = if t % 2 == 0 && !text.is_empty() {
            let l = text[rng.gen_range(0..text.len())];
            let cx = l.quad.iter().map(|p| p[0]).sum::<f32>() / 4.0;
            let cy = l.quad.iter().map(|p| p[1]).sum::<f32>() / 4.0;
            let jx = rng.gen_range(-0.4..=0.4) * size;
            let jy = rng.gen_range(-0.4..=0.4) * size;
            (
                (cx - size / 2.0 + jx).clamp(rx.0, rx.1),
                (cy - size / 2.0 + jy).clamp(ry.0, ry.1),
            )
        } else {
            (uniform(rng, rx), uniform(rng, ry))
        };
        let window = [
            [ox, oy],
            [ox + size, oy],
            [ox + size, oy + size],
            [ox, oy + size],
        ];
        let (mut across, mut with_text) = (0usize, 0usize);
        for l in lines {
            match fate(&l.quad, &window, cfg.keep_cut_lines).0 {
                Fate::Outside => {}
                Fate::CutAcross => across += 1,
                Fate::Inside | Fate::CutLength => with_text += usize::from(!l.dont_care),
            }
        }
        // Fewest lines cut across, then most text lines.
        let key = (across, usize::MAX - with_text);
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, (ox, oy)));
        }
        if across == 0 && with_text > 0 {
            break;
        }
    }
    best.map_or((rx.0, ry.0), |(_, o)| o)
}

/// Brightness then contrast, torchvision style, on [0, 1] planes (clamped).
fn jitter(img: &mut ChwImage, brightness: f32, contrast: f32) {
    for v in &mut img.data {
        *v = (*v * brightness).clamp(0.0, 1.0);
    }
    let n = img.plane_len();
    if n == 0 {
        return;
    }
    let mean = (0..n)
        .map(|i| 0.299 * img.data[i] + 0.587 * img.data[n + i] + 0.114 * img.data[2 * n + i])
        .sum::<f32>()
        / n as f32;
    for v in &mut img.data {
        *v = (contrast * *v + (1.0 - contrast) * mean).clamp(0.0, 1.0);
    }
}

/// Augments one page (`lines` in page pixels) into a `crop_size` square sample.
/// Deterministic given the state of `rng`.
pub fn augment_page(
    page: &image::RgbImage,
    lines: &[TextLine],
    cfg: &DetAugmentConfig,
    rng: &mut impl Rng,
) -> DetSample {
    let (pw, ph) = (page.width() as f64, page.height() as f64);
    let size = cfg.crop_size;
    let base = cfg.base_long_side as f64 / pw.max(ph).max(1.0);
    let (lo, hi) = cfg.scale_range;
    let s = base * if hi > lo { rng.gen_range(lo..=hi) } else { lo } as f64;
    let max_rad = (cfg.max_rotation_deg as f64).to_radians();
    let angle = if max_rad > 0.0 {
        rng.gen_range(-max_rad..=max_rad)
    } else {
        0.0
    };
    let flip = cfg.flip && rng.gen_bool(0.5);
    // Page -> centred, scaled, rotated (and mirrored) frame, then shifted so the transformed
    // page's bounding box starts at the origin.
    let mut f = Affine::rotate(angle)
        .then_after(&Affine::scale(if flip { -s } else { s }, s))
        .then_after(&Affine::translate(-pw / 2.0, -ph / 2.0));
    let corners = [
        [0.0, 0.0],
        [pw as f32, 0.0],
        [pw as f32, ph as f32],
        [0.0, ph as f32],
    ]
    .map(|p| f.apply(p));
    let (minx, maxx) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
    let (miny, maxy) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    f = Affine::translate(-minx as f64, -miny as f64).then_after(&f);
    let moved: Vec<TextLine> = lines
        .iter()
        .map(|l| {
            let q = l.quad.map(|p| f.apply(p));
            // A mirror turns clockwise into counter-clockwise: swap left and right.
            let quad = if flip { [q[1], q[0], q[3], q[2]] } else { q };
            TextLine { quad, ..l.clone() }
        })
        .collect();
    let (ox, oy) = choose_window(&moved, (maxx - minx, maxy - miny), size as f32, cfg, rng);
    let window = [
        [ox, oy],
        [ox + size as f32, oy],
        [ox + size as f32, oy + size as f32],
        [ox, oy + size as f32],
    ];
    let to_crop = Affine::translate(-ox as f64, -oy as f64);
    let mut out_lines = Vec::new();
    for l in &moved {
        let (fate, clipped) = fate(&l.quad, &window, cfg.keep_cut_lines);
        let (quad, dont_care) = match fate {
            Fate::Outside => continue,
            Fate::Inside => (l.quad, l.dont_care),
            Fate::CutLength => (clipped.unwrap_or(l.quad), l.dont_care),
            Fate::CutAcross => (clipped.unwrap_or(l.quad), true),
        };
        out_lines.push(TextLine {
            // The minimum-area box of a rotated line clipped by the crop can poke out of
            // the crop by a fraction of a pixel per degree: clamp it back.
            quad: quad.map(|p| {
                let q = to_crop.apply(p);
                [q[0].clamp(0.0, size as f32), q[1].clamp(0.0, size as f32)]
            }),
            text: if dont_care {
                DONT_CARE.to_string()
            } else {
                l.text.clone()
            },
            dont_care,
        });
    }
    let mut image = warp(page, &to_crop.then_after(&f), size, size, 1.0);
    let b = 1.0 + rng.gen_range(-cfg.brightness..=cfg.brightness);
    let c = 1.0 + rng.gen_range(-cfg.contrast..=cfg.contrast);
    jitter(&mut image, b, c);
    cfg.normalize.apply(&mut image);
    DetSample {
        image,
        lines: out_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A white page with black horizontal bars where the lines are.
    fn page_with_lines() -> (image::RgbImage, Vec<TextLine>) {
        let mut page = image::RgbImage::from_pixel(400, 600, image::Rgb([255, 255, 255]));
        let mut lines = Vec::new();
        for k in 0..12 {
            let (x0, y0, x1, y1) = (40u32, 40 + 45 * k, 40 + 20 * k + 100, 52 + 45 * k);
            for y in y0..y1 {
                for x in x0..x1 {
                    page.put_pixel(x, y, image::Rgb([0, 0, 0]));
                }
            }
            let q = [
                [x0 as f32, y0 as f32],
                [x1 as f32, y0 as f32],
                [x1 as f32, y1 as f32],
                [x0 as f32, y1 as f32],
            ];
            lines.push(TextLine::new(q, format!("l{k}")));
        }
        (page, lines)
    }

    fn plain() -> DetAugmentConfig {
        DetAugmentConfig {
            crop_size: 128,
            base_long_side: 600,
            scale_range: (1.0, 1.0),
            max_rotation_deg: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            normalize: Normalize {
                mean: [0.0; 3],
                std: [1.0; 3],
            },
            ..DetAugmentConfig::default()
        }
    }

    #[test]
    fn boxes_follow_the_pixels_and_stay_in_the_crop() {
        let (page, lines) = page_with_lines();
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let cfg = DetAugmentConfig {
                max_rotation_deg: if seed % 2 == 0 { 0.0 } else { 5.0 },
                scale_range: (0.7, 1.3),
                ..plain()
            };
            let s = augment_page(&page, &lines, &cfg, &mut rng);
            assert_eq!((s.image.height, s.image.width), (128, 128));
            assert!(
                s.lines.iter().any(|l| !l.dont_care),
                "seed {seed}: no text in crop"
            );
            for l in s.lines.iter().filter(|l| !l.dont_care) {
                for p in &l.quad {
                    assert!(
                        (-0.01..=128.01).contains(&p[0]) && (-0.01..=128.01).contains(&p[1]),
                        "{p:?}"
                    );
                }
                // The centre of a text box is dark (it sits on a bar).
                let cx = l.quad.iter().map(|p| p[0]).sum::<f32>() / 4.0;
                let cy = l.quad.iter().map(|p| p[1]).sum::<f32>() / 4.0;
                let v = s.image.data[(cy as usize).min(127) * 128 + (cx as usize).min(127)];
                assert!(v < 0.5, "seed {seed}: box centre ({cx},{cy}) is {v}");
            }
        }
    }

    #[test]
    fn same_rng_same_sample_and_cut_lines_are_handled() {
        let (page, lines) = page_with_lines();
        let cfg = plain();
        let a = augment_page(&page, &lines, &cfg, &mut ChaCha8Rng::seed_from_u64(3));
        let b = augment_page(&page, &lines, &cfg, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
        // A line straddling the crop's bottom edge is don't-care; one cut at the right
        // edge stays text, clipped.
        let window = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]];
        let across = [[10.0, 95.0], [50.0, 95.0], [50.0, 105.0], [10.0, 105.0]];
        assert!(matches!(fate(&across, &window, true).0, Fate::CutAcross));
        let along = [[80.0, 40.0], [150.0, 40.0], [150.0, 50.0], [80.0, 50.0]];
        let (f, clipped) = fate(&along, &window, true);
        assert!(matches!(f, Fate::CutLength));
        let c = clipped.unwrap();
        assert!(
            (c[1][0] - 100.0).abs() < 1e-3 && (c[0][0] - 80.0).abs() < 1e-3,
            "{c:?}"
        );
        assert!(matches!(fate(&along, &window, false).0, Fate::CutAcross));
        let out = [[200.0, 40.0], [250.0, 40.0], [250.0, 50.0], [200.0, 50.0]];
        assert!(matches!(fate(&out, &window, true).0, Fate::Outside));
    }

    #[test]
    fn small_pages_are_padded_white_and_flip_keeps_clockwise_order() {
        let page = image::RgbImage::from_pixel(50, 40, image::Rgb([0, 0, 0]));
        let lines = vec![TextLine::new(
            [[5.0, 5.0], [30.0, 5.0], [30.0, 12.0], [5.0, 12.0]],
            "a",
        )];
        let cfg = DetAugmentConfig {
            base_long_side: 50,
            flip: true,
            ..plain()
        };
        for seed in 0..4 {
            let s = augment_page(&page, &lines, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(s.image.data[0], 1.0); // corner: white padding
            assert_eq!(s.lines.len(), 1);
            assert!(crate::geometry::signed_area(&s.lines[0].quad) > 0.0);
        }
        let bad = DetAugmentConfig {
            scale_range: (1.2, 0.8),
            ..cfg
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("scale_range"));
    }
}
