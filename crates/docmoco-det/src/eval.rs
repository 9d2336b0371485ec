//! The ICDAR 2015 "Incidental Scene Text" task 4.1 localisation protocol.
//!
//! Per image, as the official Robust Reading Competition script does it:
//! 1. A detection whose overlap with some don't-care ground truth (`###`) covers more than
//!    half of the detection's own area is *ignored*: neither a hit nor a false alarm.
//! 2. Greedy one-to-one matching in file order: for each cared ground truth, for each
//!    cared detection, both still unmatched and IoU > 0.5 -> a match.
//! 3. Counts: matched, cared GT, cared detections.
//!
//! Over a data set the counts are *summed* and the ratios taken once at the end (so an image
//! with 40 lines weighs 40 times one with a single line). Edge cases follow the official
//! script: no cared GT and no cared detection in an image gives precision = recall = 1 for
//! that image; over the data set, no cared GT gives recall 0 and no cared detection gives
//! precision 0.

use docmoco_data::icdar::TextLine;
use serde::{Deserialize, Serialize};

use crate::geometry::{area, intersection_area, iou, Point};

/// Matching thresholds of the protocol.
pub const IOU_CONSTRAINT: f32 = 0.5;
/// Fraction of a detection inside a don't-care region above which it is ignored.
pub const AREA_PRECISION_CONSTRAINT: f32 = 0.5;

/// The outcome for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEval {
    /// Matched (GT index, detection index) pairs, in matching order.
    pub pairs: Vec<(usize, usize)>,
    /// Indices of detections ignored for lying on don't-care regions.
    pub ignored_dets: Vec<usize>,
    /// Ground truth that counts (not `###`).
    pub n_gt_care: usize,
    /// Detections that count (not ignored).
    pub n_det_care: usize,
    pub n_gt: usize,
    pub n_det: usize,
    /// Per-image ratios with the official script's edge cases.
    pub precision: f64,
    pub recall: f64,
    pub hmean: f64,
}

impl ImageEval {
    pub fn matched(&self) -> usize {
        self.pairs.len()
    }
}

/// Metrics summed over a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetMetrics {
    pub precision: f64,
    pub recall: f64,
    pub hmean: f64,
    pub n_images: usize,
    /// Matched detections (true positives).
    pub matched: usize,
    /// Cared ground-truth lines (the recall denominator).
    pub n_gt: usize,
    /// Cared detections (the precision denominator).
    pub n_det: usize,
    /// Detections ignored on don't-care regions.
    pub n_det_ignored: usize,
    /// Images that had ground truth but no result file (counted as no detections).
    pub missing_results: usize,
}

fn hmean(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Evaluates one image's detections (any polygons, e.g. `[[f32; 2]; 4]` quads) against its
/// ground truth.
pub fn evaluate_image<P: AsRef<[Point]>>(gt: &[TextLine], det: &[P]) -> ImageEval {
    let dont_care: Vec<usize> = (0..gt.len()).filter(|&g| gt[g].dont_care).collect();
    let mut ignored = vec![false; det.len()];
    for (d, poly) in det.iter().enumerate() {
        let poly = poly.as_ref();
        let a = area(poly);
        for &g in &dont_care {
            let covered = if a == 0.0 {
                0.0
            } else {
                intersection_area(&gt[g].quad, poly) / a
            };
            if covered > AREA_PRECISION_CONSTRAINT {
                ignored[d] = true;
                break;
            }
        }
    }
    let mut gt_used = vec![false; gt.len()];
    let mut det_used = vec![false; det.len()];
    let mut pairs = Vec::new();
    for g in 0..gt.len() {
        if gt[g].dont_care {
            continue;
        }
        for d in 0..det.len() {
            if gt_used[g] || det_used[d] || ignored[d] {
                continue;
            }
            if iou(&gt[g].quad, det[d].as_ref()) > IOU_CONSTRAINT {
                gt_used[g] = true;
                det_used[d] = true;
                pairs.push((g, d));
            }
        }
    }
    let n_gt_care = gt.len() - dont_care.len();
    let ignored_dets: Vec<usize> = (0..det.len()).filter(|&d| ignored[d]).collect();
    let n_det_care = det.len() - ignored_dets.len();
    let m = pairs.len() as f64;
    let (precision, recall) = if n_gt_care == 0 {
        (if n_det_care > 0 { 0.0 } else { 1.0 }, 1.0)
    } else {
        let p = if n_det_care == 0 {
            0.0
        } else {
            m / n_det_care as f64
        };
        (p, m / n_gt_care as f64)
    };
    ImageEval {
        pairs,
        ignored_dets,
        n_gt_care,
        n_det_care,
        n_gt: gt.len(),
        n_det: det.len(),
        precision,
        recall,
        hmean: hmean(precision, recall),
    }
}

/// Sums per-image counts into data-set metrics (`missing_results` is left at 0; the
/// directory evaluation fills it in).
pub fn aggregate(images: &[ImageEval]) -> DetMetrics {
    let matched: usize = images.iter().map(ImageEval::matched).sum();
    let n_gt: usize = images.iter().map(|i| i.n_gt_care).sum();
    let n_det: usize = images.iter().map(|i| i.n_det_care).sum();
    let recall = if n_gt == 0 {
        0.0
    } else {
        matched as f64 / n_gt as f64
    };
    let precision = if n_det == 0 {
        0.0
    } else {
        matched as f64 / n_det as f64
    };
    DetMetrics {
        precision,
        recall,
        hmean: hmean(precision, recall),
        n_images: images.len(),
        matched,
        n_gt,
        n_det,
        n_det_ignored: images.iter().map(|i| i.ignored_dets.len()).sum(),
        missing_results: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> [Point; 4] {
        [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    fn gt(x0: f32, y0: f32, x1: f32, y1: f32, text: &str) -> TextLine {
        TextLine::new(rect(x0, y0, x1, y1), text)
    }

    #[test]
    fn exact_match_and_shifted_boxes_around_the_iou_threshold() {
        let g = [gt(0.0, 0.0, 100.0, 10.0, "a")];
        let e = evaluate_image(&g, &[rect(0.0, 0.0, 100.0, 10.0)]);
        assert_eq!(
            (e.matched(), e.precision, e.recall, e.hmean),
            (1, 1.0, 1.0, 1.0)
        );
        // Shift by s along x: IoU = (100 - s) / (100 + s); 1/3 gives 0.5 exactly.
        let below = evaluate_image(&g, &[rect(34.0, 0.0, 134.0, 10.0)]); // 66/134 = 0.4925
        assert_eq!(below.matched(), 0);
        assert_eq!((below.precision, below.recall), (0.0, 0.0));
        let above = evaluate_image(&g, &[rect(32.0, 0.0, 132.0, 10.0)]); // 68/132 = 0.515
        assert_eq!(above.matched(), 1);
    }

    #[test]
    fn split_and_merged_lines_match_at_most_once() {
        // One line split into two halves: each half has IoU 0.5 (not > 0.5): no match...
        let g = [gt(0.0, 0.0, 100.0, 10.0, "a")];
        let split = evaluate_image(
            &g,
            &[rect(0.0, 0.0, 50.0, 10.0), rect(50.0, 0.0, 100.0, 10.0)],
        );
        assert_eq!((split.matched(), split.n_det_care), (0, 2));
        // ... a 70/30 split matches the larger piece only.
        let split = evaluate_image(
            &g,
            &[rect(0.0, 0.0, 70.0, 10.0), rect(70.0, 0.0, 100.0, 10.0)],
        );
        assert_eq!(split.pairs, vec![(0, 0)]);
        assert_eq!((split.precision, split.recall), (0.5, 1.0));
        // Two lines merged into one detection: IoU with each is below 0.5.
        let two = [
            gt(0.0, 0.0, 100.0, 10.0, "a"),
            gt(0.0, 12.0, 100.0, 22.0, "b"),
        ];
        let merged = evaluate_image(&two, &[rect(0.0, 0.0, 100.0, 22.0)]);
        assert_eq!(merged.matched(), 0);
        // A duplicate detection matches only once.
        let dup = evaluate_image(
            &g,
            &[rect(0.0, 0.0, 100.0, 10.0), rect(0.0, 0.0, 100.0, 10.0)],
        );
        assert_eq!((dup.matched(), dup.precision), (1, 0.5));
    }

    #[test]
    fn detections_on_dont_care_regions_are_ignored() {
        let g = [
            gt(0.0, 0.0, 100.0, 10.0, "a"),
            gt(0.0, 50.0, 100.0, 60.0, "###"),
        ];
        let dets = [
            rect(0.0, 0.0, 100.0, 10.0),
            rect(10.0, 50.0, 60.0, 60.0), // fully inside the don't-care box
            rect(0.0, 55.0, 100.0, 70.0), // a third inside: counts, unmatched
        ];
        let e = evaluate_image(&g, &dets);
        assert_eq!(e.ignored_dets, vec![1]);
        assert_eq!((e.n_gt_care, e.n_det_care, e.matched()), (1, 2, 1));
        assert_eq!((e.precision, e.recall), (0.5, 1.0));
    }

    #[test]
    fn empty_images_and_aggregation_sums_counts() {
        let none: [[Point; 4]; 0] = [];
        let e = evaluate_image(&[], &none);
        assert_eq!((e.precision, e.recall, e.hmean), (1.0, 1.0, 1.0));
        let only_dc = evaluate_image(
            &[gt(0.0, 0.0, 9.0, 9.0, "###")],
            &[rect(50.0, 50.0, 60.0, 60.0)],
        );
        assert_eq!((only_dc.precision, only_dc.recall), (0.0, 1.0));
        let no_det = evaluate_image(&[gt(0.0, 0.0, 9.0, 9.0, "x")], &none);
        assert_eq!((no_det.precision, no_det.recall), (0.0, 0.0));
        // 1 of 1 plus 0 of 3 GT: recall 1/4 (the mean of ratios would be 0.5).
        let a = evaluate_image(
            &[gt(0.0, 0.0, 10.0, 10.0, "x")],
            &[rect(0.0, 0.0, 10.0, 10.0)],
        );
        let b = evaluate_image(
            &[
                gt(0.0, 0.0, 10.0, 10.0, "x"),
                gt(20.0, 0.0, 30.0, 10.0, "y"),
                gt(40.0, 0.0, 50.0, 10.0, "z"),
            ],
            &none,
        );
        let m = aggregate(&[a, b, e]);
        assert_eq!((m.matched, m.n_gt, m.n_det, m.n_images), (1, 4, 1, 3));
        assert_eq!((m.precision, m.recall), (1.0, 0.25));
        assert!((m.hmean - 0.4).abs() < 1e-12);
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.contains("\"precision\":1.0") && json.contains("\"n_images\":3"),
            "{json}"
        );
        let empty = aggregate(&[]);
        assert_eq!(
            (empty.precision, empty.recall, empty.hmean),
            (0.0, 0.0, 0.0)
        );
    }
}
