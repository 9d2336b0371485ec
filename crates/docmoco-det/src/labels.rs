//! DBNet training targets (Liao et al., "Real-time Scene Text Detection with Differentiable
//! Binarization", AAAI 2020), with the semantics of the reference data pipeline.
//!
//! * **Probability ("shrink") map**: each text polygon shrunk by `D = A (1 - r^2) / L`
//!   (area `A`, perimeter `L`, shrink ratio `r`), filled with 1. Shrinking separates
//!   neighbouring lines, which is what lets connected components split them at inference.
//! * **Shrink mask**: 1 everywhere except don't-care lines (`###`), lines whose axis-aligned
//!   extent is below `min_text_size`, and lines whose shrink vanishes: those are 0, so the
//!   loss neither rewards nor punishes predictions there.
//! * **Threshold map**: for pixels within `D` of a polygon edge, `1 - dist / D` (max over
//!   lines), then rescaled to `[thresh_min, thresh_max]`; the rest is `thresh_min`.
//!   **Threshold mask**: 1 inside the polygons grown by `D`.
//!
//! Like the reference, the edge "distance" is the perpendicular distance to the edge's line
//! when the pixel sees the edge under an obtuse angle (inside the circle on the edge) and
//! the distance to the nearer end-point otherwise; polygons are first clipped to the map,
//! and nearly empty ones (area < 1) become don't-care.

use docmoco_data::icdar::TextLine;
use serde::{Deserialize, Serialize};

use crate::geometry::{area, offset, perimeter, Point};
use crate::raster::{fill_polygon, truncate};
use crate::DetError;

/// Parameters of the DBNet targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// `r` in `D = A (1 - r^2) / L` (DBNet: 0.4).
    pub shrink_ratio: f32,
    /// Threshold-map value far from any edge (DBNet: 0.3).
    pub thresh_min: f32,
    /// Threshold-map value on an edge (DBNet: 0.7).
    pub thresh_max: f32,
    /// Lines whose width or height (axis-aligned, in target pixels) is below this are
    /// don't-care. DBNet uses 8 for scene text; generated document lines are only a few
    /// pixels tall at training scale, hence the smaller default.
    pub min_text_size: f32,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            shrink_ratio: 0.4,
            thresh_min: 0.3,
            thresh_max: 0.7,
            min_text_size: 3.0,
        }
    }
}

impl LabelConfig {
    /// Refuses values that would make the targets meaningless.
    pub fn validate(&self) -> Result<(), DetError> {
        if !(self.shrink_ratio > 0.0 && self.shrink_ratio < 1.0) {
            return Err(DetError::config("label.shrink_ratio", "must be in (0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.thresh_min)
            || !(0.0..=1.0).contains(&self.thresh_max)
            || self.thresh_min > self.thresh_max
        {
            return Err(DetError::config(
                "label.thresh_min/thresh_max",
                "need 0 <= thresh_min <= thresh_max <= 1",
            ));
        }
        if !(self.min_text_size >= 0.0 && self.min_text_size.is_finite()) {
            return Err(DetError::config("label.min_text_size", "must be >= 0"));
        }
        Ok(())
    }
}

/// The four DBNet target maps of one image, each `height * width`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub height: usize,
    pub width: usize,
    pub shrink_map: Vec<f32>,
    pub shrink_mask: Vec<f32>,
    pub thresh_map: Vec<f32>,
    pub thresh_mask: Vec<f32>,
}

/// The shrink/grow distance `D = A (1 - r^2) / L` of a polygon (0 for a degenerate one).
pub fn shrink_distance(poly: &[Point], shrink_ratio: f32) -> f32 {
    let l = perimeter(poly);
    if l <= 0.0 {
        return 0.0;
    }
    area(poly) * (1.0 - shrink_ratio * shrink_ratio) / l
}

/// Offsets like `pyclipper` does in the reference: input vertices truncated to integers,
/// output vertices rounded to integers. On lines a few pixels tall this half-pixel rounding
/// decides whether a kernel is one row or three, so it is kept rather than "improved".
fn pyclipper_offset(poly: &[Point], delta: f32) -> Vec<Vec<Point>> {
    offset(&truncate(poly), delta)
        .into_iter()
        .map(|p| p.iter().map(|v| [v[0].round(), v[1].round()]).collect())
        .collect()
}

/// Builds the targets for `lines` (in map pixel coordinates) on a `height x width` map.
pub fn make_targets(lines: &[TextLine], height: usize, width: usize, cfg: &LabelConfig) -> Targets {
    let n = height * width;
    let mut t = Targets {
        height,
        width,
        shrink_map: vec![0.0; n],
        shrink_mask: vec![1.0; n],
        thresh_map: vec![0.0; n],
        thresh_mask: vec![0.0; n],
    };
    if n == 0 {
        return t;
    }
    let (wmax, hmax) = ((width - 1) as f32, (height - 1) as f32);
    let mut kept: Vec<Vec<Point>> = Vec::new();
    for line in lines {
        // Clip to the map (the reference's `validate_polygons`).
        let poly: Vec<Point> = line
            .quad
            .iter()
            .map(|p| [p[0].clamp(0.0, wmax), p[1].clamp(0.0, hmax)])
            .collect();
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &poly {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        let ignore = line.dont_care
            || area(&poly) < 1.0
            || (x1 - x0).min(y1 - y0) < cfg.min_text_size
            || !poly.iter().flatten().all(|v| v.is_finite());
        if ignore {
            fill_polygon(&mut t.shrink_mask, height, width, &poly, 0.0);
            continue;
        }
        let d = shrink_distance(&poly, cfg.shrink_ratio);
        match pyclipper_offset(&poly, -d).into_iter().next() {
            Some(shrunk) => {
                fill_polygon(&mut t.shrink_map, height, width, &shrunk, 1.0);
                kept.push(poly);
            }
            None => fill_polygon(&mut t.shrink_mask, height, width, &poly, 0.0),
        }
    }
    for poly in &kept {
        draw_border(poly, cfg.shrink_ratio, &mut t);
    }
    let span = cfg.thresh_max - cfg.thresh_min;
    for v in &mut t.thresh_map {
        *v = *v * span + cfg.thresh_min;
    }
    t
}

/// The reference's point-to-edge distance (see the module doc), in f64.
fn edge_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let d1 = (p[0] - a[0]).powi(2) + (p[1] - a[1]).powi(2);
    let d2 = (p[0] - b[0]).powi(2) + (p[1] - b[1]).powi(2);
    let d = (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
    if d1 == 0.0 || d2 == 0.0 {
        return 0.0;
    }
    if d == 0.0 {
        return d1.min(d2).sqrt();
    }
    // Minus the cosine of the angle at `p` between `a` and `b` (law of cosines).
    let cosin = (d - d1 - d2) / (2.0 * (d1 * d2).sqrt());
    if cosin < 0.0 {
        return d1.min(d2).sqrt();
    }
    let sin2 = (1.0 - cosin * cosin).max(0.0);
    (d1 * d2 * sin2 / d).sqrt()
}

/// Adds one polygon's border to `thresh_map` (unscaled, max-combined) and `thresh_mask`.
fn draw_border(poly: &[Point], shrink_ratio: f32, t: &mut Targets) {
    let d = shrink_distance(poly, shrink_ratio);
    if d <= 0.0 {
        return;
    }
    let Some(padded) = pyclipper_offset(poly, d).into_iter().next() else {
        return;
    };
    fill_polygon(&mut t.thresh_mask, t.height, t.width, &padded, 1.0);
    // The window is the padded polygon's bounding box on the integer grid (pyclipper returns
    // integer vertices), clipped to the map.
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in &padded {
        x0 = x0.min(p[0].round());
        x1 = x1.max(p[0].round());
        y0 = y0.min(p[1].round());
        y1 = y1.max(p[1].round());
    }
    let clip = |v: f32, hi: usize| v.clamp(0.0, (hi - 1) as f32) as usize;
    let (xa, xb) = (clip(x0, t.width), clip(x1, t.width));
    let (ya, yb) = (clip(y0, t.height), clip(y1, t.height));
    let pts: Vec<[f64; 2]> = poly.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    let m = pts.len();
    let d = d as f64;
    for y in ya..=yb {
        for x in xa..=xb {
            let p = [x as f64, y as f64];
            let mut best = 1.0f64;
            for i in 0..m {
                let dist = (edge_distance(p, pts[i], pts[(i + 1) % m]) / d).clamp(0.0, 1.0);
                best = best.min(dist);
            }
            let v = &mut t.thresh_map[y * t.width + x];
            *v = v.max((1.0 - best) as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(x0: f32, y0: f32, x1: f32, y1: f32, text: &str) -> TextLine {
        TextLine::new([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text)
    }

    fn at(v: &[f32], w: usize, x: usize, y: usize) -> f32 {
        v[y * w + x]
    }

    #[test]
    fn shrink_distance_matches_the_formula() {
        let sq: Vec<Point> = vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!((shrink_distance(&sq, 0.4) - 100.0 * 0.84 / 40.0).abs() < 1e-5);
    }

    #[test]
    fn a_square_gives_a_shrunk_kernel_and_a_border_ring() {
        let cfg = LabelConfig::default();
        let t = make_targets(&[line(10.0, 10.0, 30.0, 30.0, "a")], 40, 40, &cfg);
        // D = 400 * 0.84 / 80 = 4.2: kernel [14.2, 25.8], rounded to [14, 26] as pyclipper.
        assert_eq!(at(&t.shrink_map, 40, 20, 20), 1.0);
        assert_eq!(at(&t.shrink_map, 40, 14, 20), 1.0);
        assert_eq!(at(&t.shrink_map, 40, 13, 20), 0.0);
        assert_eq!(at(&t.shrink_map, 40, 26, 26), 1.0);
        assert_eq!(at(&t.shrink_map, 40, 27, 20), 0.0);
        assert!(t.shrink_mask.iter().all(|&v| v == 1.0));
        // Threshold: thresh_max on the edge, thresh_min in the centre and far away.
        assert!((at(&t.thresh_map, 40, 10, 20) - 0.7).abs() < 1e-6);
        assert!((at(&t.thresh_map, 40, 20, 20) - 0.3).abs() < 1e-6);
        assert!((at(&t.thresh_map, 40, 0, 0) - 0.3).abs() < 1e-6);
        // 2 px inside the left edge: 1 - 2/4.2, rescaled.
        let want = (1.0 - 2.0 / 4.2) * 0.4 + 0.3;
        assert!((at(&t.thresh_map, 40, 12, 20) - want).abs() < 1e-5);
        // The mask covers the polygon grown by D, not beyond.
        assert_eq!(at(&t.thresh_mask, 40, 6, 20), 1.0);
        assert_eq!(at(&t.thresh_mask, 40, 5, 20), 0.0);
        assert_eq!(at(&t.thresh_mask, 40, 20, 20), 1.0);
    }

    #[test]
    fn dont_care_small_and_outside_lines_are_masked_not_labelled() {
        let cfg = LabelConfig {
            min_text_size: 4.0,
            ..LabelConfig::default()
        };
        let lines = [
            line(2.0, 2.0, 20.0, 10.0, "###"),
            line(2.0, 20.0, 30.0, 22.0, "thin"), // 2 px tall < 4
            line(100.0, 100.0, 120.0, 110.0, "off the map"),
        ];
        let t = make_targets(&lines, 32, 40, &cfg);
        assert!(t.shrink_map.iter().all(|&v| v == 0.0));
        assert_eq!(at(&t.shrink_mask, 40, 10, 6), 0.0);
        assert_eq!(at(&t.shrink_mask, 40, 10, 21), 0.0);
        assert_eq!(at(&t.shrink_mask, 40, 10, 15), 1.0);
        assert!(t.thresh_mask.iter().all(|&v| v == 0.0));
        assert!(t.thresh_map.iter().all(|&v| (v - 0.3).abs() < 1e-6));
    }

    #[test]
    fn thin_long_lines_keep_a_three_row_kernel() {
        // 6 px tall: D = 2.38, kernel y in [12.4, 13.6], rounded to [12, 14] by the
        // pyclipper emulation and drawn boundary-inclusive: 3 rows.
        let t = make_targets(
            &[line(5.0, 10.0, 105.0, 16.0, "x")],
            30,
            120,
            &LabelConfig::default(),
        );
        let rows: Vec<usize> = (0..30)
            .filter(|&y| at(&t.shrink_map, 120, 50, y) == 1.0)
            .collect();
        assert_eq!(rows, [12, 13, 14]);
    }

    #[test]
    fn reference_edge_distance() {
        let (a, b) = ([0.0, 0.0], [0.0, 10.0]);
        assert!((edge_distance([-3.0, 5.0], a, b) - 3.0).abs() < 1e-9); // inside the circle
                                                                        // Beside the edge but outside its circle: distance to the nearer end.
        assert!((edge_distance([-6.0, 5.0], a, b) - 61f64.sqrt()).abs() < 1e-9);
        assert!((edge_distance([0.0, -4.0], a, b) - 4.0).abs() < 1e-9);
        assert_eq!(edge_distance([0.0, 0.0], a, b), 0.0);
    }

    #[test]
    fn config_validation_names_fields() {
        let bad = LabelConfig {
            shrink_ratio: 1.5,
            ..LabelConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("shrink_ratio"));
        assert!(LabelConfig::default().validate().is_ok());
    }
}
