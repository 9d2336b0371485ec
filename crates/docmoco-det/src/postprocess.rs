//! From a probability map to boxes: DBNet's `SegDetectorRepresenter` (box output).
//!
//! Binarise at `thresh`; for each 8-connected component (at most `max_candidates`) fit a
//! minimum-area rectangle to its pixel centres; drop it if its short side is below
//! `min_size`; score it by the mean probability inside the rectangle (the reference's "fast"
//! score) and drop it below `box_thresh`; grow ("unclip") it by `D = A * unclip_ratio / L`
//! (the network predicts *shrunk* kernels), refit a rectangle, drop it if its short side is
//! below `min_size + 2`; finally scale to the original page and clip to it.
//!
//! Beware thin lines: a kernel is only `r^2 = 16%` of a long line's height, so a line must be
//! about `min_size / 0.16` map pixels tall to survive the first size filter (19 px for the
//! default 3), and the ratio unclip of a long thin kernel restores only ~40% of the line's
//! height. [`PostprocessConfig::unclip_from_shrink_ratio`] instead solves for the distance
//! that exactly undoes the label shrink of a rectangle (see [`inverse_shrink_distance`]).

use serde::{Deserialize, Serialize};

use crate::components::components;
use crate::geometry::{area, min_area_rect_full, offset, perimeter, Point};
use crate::raster::{for_each_span, truncate};
use crate::DetError;

/// Post-processing parameters (defaults of DBNet's ICDAR 2015 configuration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostprocessConfig {
    /// Binarisation threshold on the probability map.
    pub thresh: f32,
    /// Minimum mean probability inside a box.
    pub box_thresh: f32,
    /// Grow distance `A * unclip_ratio / L`.
    pub unclip_ratio: f32,
    /// Components examined, in raster order of their first pixel.
    pub max_candidates: usize,
    /// Minimum short side, in map pixels (`min_size + 2` after unclipping).
    pub min_size: f32,
    /// When set to the label `shrink_ratio`, unclip each rectangle by the distance that
    /// undoes the label shrink exactly, instead of by `unclip_ratio`.
    pub unclip_from_shrink_ratio: Option<f32>,
}

impl Default for PostprocessConfig {
    fn default() -> Self {
        PostprocessConfig {
            thresh: 0.3,
            box_thresh: 0.6,
            unclip_ratio: 1.5,
            max_candidates: 1000,
            min_size: 3.0,
            unclip_from_shrink_ratio: None,
        }
    }
}

impl PostprocessConfig {
    /// For document lines only a few map pixels tall: unclip by the exact inverse of the
    /// label shrink (ratio 0.4) and keep kernels down to one row. With perfect probability
    /// maps of generated 768 px pages this recovers 98% of the lines at a 768 px input,
    /// where the reference settings recover 9% (`examples/det_oracle.rs`).
    pub fn thin_lines() -> Self {
        PostprocessConfig {
            min_size: 0.0,
            unclip_from_shrink_ratio: Some(0.4),
            ..Self::default()
        }
    }
}

/// A detected text box in original page pixels, clockwise from the top-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub quad: [Point; 4],
    pub score: f32,
}

/// Mean of `prob` over the (truncated, boundary-inclusive) polygon, 0 if it covers nothing.
pub fn box_score_fast(prob: &[f32], height: usize, width: usize, poly: &[Point]) -> f32 {
    let (mut sum, mut n) = (0f64, 0usize);
    for_each_span(&truncate(poly), height, width, |y, x0, x1| {
        for &v in &prob[y * width + x0..=y * width + x1] {
            sum += v as f64;
        }
        n += x1 - x0 + 1;
    });
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// The distance `D` with which a `w x h` rectangle was shrunk by the DBNet labels (ratio
/// `r`) to give a `kw x kh` kernel: the positive root of
/// `2 D (W + H) = (1 - r^2) W H` with `W = kw + 2D`, `H = kh + 2D`.
pub fn inverse_shrink_distance(kw: f32, kh: f32, r: f32) -> f32 {
    let c = (1.0 - r * r) as f64;
    let (kw, kh) = (kw as f64, kh as f64);
    // (8 - 4c) D^2 + (2 - 2c)(kw + kh) D - c kw kh = 0
    let (a, b, cc) = (8.0 - 4.0 * c, (2.0 - 2.0 * c) * (kw + kh), -c * kw * kh);
    let disc = (b * b - 4.0 * a * cc).max(0.0);
    ((-b + disc.sqrt()) / (2.0 * a)).max(0.0) as f32
}

/// Boxes from a `height x width` probability map. `scale` maps map pixels to original pixels
/// (`(scale_x, scale_y)` from [`crate::prepare_for_inference`]); `orig_size` is the page's
/// `(width, height)`, which boxes are clipped to.
pub fn detect_boxes(
    prob: &[f32],
    height: usize,
    width: usize,
    scale: (f32, f32),
    orig_size: (u32, u32),
    cfg: &PostprocessConfig,
) -> Result<Vec<Detection>, DetError> {
    if prob.len() != height * width {
        return Err(DetError::Shape {
            what: "probability map",
            expected: height * width,
            got: prob.len(),
        });
    }
    let bitmap: Vec<bool> = prob.iter().map(|&p| p > cfg.thresh).collect();
    let mut out = Vec::new();
    for comp in components(&bitmap, height, width, cfg.max_candidates) {
        let Some(rect) = min_area_rect_full(&comp.extremes) else {
            continue;
        };
        if rect.short_side() < cfg.min_size {
            continue;
        }
        let score = box_score_fast(prob, height, width, &rect.corners);
        if score < cfg.box_thresh {
            continue;
        }
        let d = match cfg.unclip_from_shrink_ratio {
            Some(r) => inverse_shrink_distance(rect.width, rect.height, r),
            None => {
                let l = perimeter(&rect.corners);
                if l <= 0.0 {
                    continue;
                }
                area(&rect.corners) * cfg.unclip_ratio / l
            }
        };
        // pyclipper takes integer input; keep that so boxes match the reference.
        let Some(grown) = offset(&truncate(&rect.corners), d).into_iter().next() else {
            continue;
        };
        let Some(big) = min_area_rect_full(&grown) else {
            continue;
        };
        if big.short_side() < cfg.min_size + 2.0 {
            continue;
        }
        let (ow, oh) = (orig_size.0 as f32, orig_size.1 as f32);
        let quad = big.corners.map(|p| {
            [
                (p[0] * scale.0).round().clamp(0.0, ow),
                (p[1] * scale.1).round().clamp(0.0, oh),
            ]
        });
        out.push(Detection { quad, score });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{make_targets, LabelConfig};
    use docmoco_data::icdar::TextLine;

    #[test]
    fn a_kernel_becomes_a_box_that_covers_its_line() {
        // Use the label kernel of a 60 x 30 box as a "perfect" probability map.
        let line = TextLine::new(
            [[20.0, 20.0], [80.0, 20.0], [80.0, 50.0], [20.0, 50.0]],
            "t",
        );
        let t = make_targets(&[line], 80, 100, &LabelConfig::default());
        let cfg = PostprocessConfig::default();
        let d = detect_boxes(&t.shrink_map, 80, 100, (2.0, 2.0), (200, 160), &cfg).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].score, 1.0);
        // The ratio unclip restores the box roughly; the inverse-shrink unclip closely.
        let q = d[0].quad;
        assert!(q[0][0] < 50.0 && q[2][0] > 150.0, "{q:?}");
        let exact = PostprocessConfig {
            unclip_from_shrink_ratio: Some(0.4),
            ..cfg
        };
        let d = detect_boxes(&t.shrink_map, 80, 100, (2.0, 2.0), (200, 160), &exact).unwrap();
        let q = d[0].quad;
        for (got, want) in
            q.iter()
                .zip([[40.0, 40.0], [160.0, 40.0], [160.0, 100.0], [40.0, 100.0]])
        {
            assert!(
                (got[0] - want[0]).abs() <= 4.0 && (got[1] - want[1]).abs() <= 4.0,
                "{q:?}"
            );
        }
    }

    #[test]
    fn small_faint_and_clipped_boxes() {
        let (h, w) = (40, 60);
        let mut p = vec![0.0f32; h * w];
        let mut put = |x0: usize, x1: usize, y0: usize, y1: usize, v: f32| {
            for y in y0..y1 {
                for x in x0..x1 {
                    p[y * w + x] = v;
                }
            }
        };
        put(2, 20, 2, 4, 0.9); // 2 rows: short side 1 < 3, dropped
        put(2, 20, 10, 20, 0.5); // above thresh but score 0.5 < 0.6, dropped
        put(30, 60, 25, 35, 0.95); // kept, touches the right border
        let d = detect_boxes(
            &p,
            h,
            w,
            (1.0, 1.0),
            (60, 40),
            &PostprocessConfig::default(),
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert!((d[0].score - 0.95).abs() < 1e-6);
        assert!(d[0].quad.iter().all(|q| q[0] <= 60.0 && q[1] <= 40.0));
        assert_eq!(d[0].quad[1][0], 60.0); // clipped to the page
        assert!(detect_boxes(
            &p,
            h,
            w + 1,
            (1.0, 1.0),
            (60, 40),
            &PostprocessConfig::default()
        )
        .is_err());
    }

    #[test]
    fn perfect_maps_of_thin_lines_round_trip_through_labels_boxes_and_eval() {
        // Lines 6-12 px tall, as on generated pages: labels -> boxes -> ICDAR protocol.
        let lines: Vec<TextLine> = (0..12)
            .map(|k| {
                let (x0, y0) = (10.0 + 7.0 * k as f32, 10.0 + 20.0 * k as f32);
                let (w, h) = (80.0 + 20.0 * k as f32, 6.0 + (k % 4) as f32 * 2.0);
                TextLine::new(
                    [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]],
                    "t",
                )
            })
            .collect();
        let (h, w) = (260, 400);
        let t = make_targets(
            &lines,
            h,
            w,
            &LabelConfig {
                min_text_size: 0.0,
                ..LabelConfig::default()
            },
        );
        let run = |cfg: &PostprocessConfig| {
            let d =
                detect_boxes(&t.shrink_map, h, w, (1.0, 1.0), (w as u32, h as u32), cfg).unwrap();
            let quads: Vec<[Point; 4]> = d.iter().map(|d| d.quad).collect();
            crate::eval::evaluate_image(&lines, &quads)
        };
        let thin = run(&PostprocessConfig::thin_lines());
        assert_eq!((thin.matched(), thin.n_det_care), (12, 12));
        // The reference settings lose most of these lines (documented, not a goal).
        assert!(run(&PostprocessConfig::default()).matched() < 6);
    }

    #[test]
    fn inverse_shrink_undoes_the_label_shrink() {
        let (w, h, r) = (200.0f32, 12.0f32, 0.4f32);
        let d = w * h * (1.0 - r * r) / (2.0 * (w + h));
        let back = inverse_shrink_distance(w - 2.0 * d, h - 2.0 * d, r);
        assert!((back - d).abs() < 1e-3, "{back} vs {d}");
    }
}
