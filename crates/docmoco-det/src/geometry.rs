//! Plane geometry on text polygons: area, offsetting, overlap, hull and minimum-area box.
//!
//! Coordinates are image pixels (x right, y *down*). In that frame the ICDAR order
//! "clockwise from the top-left" has a *positive* shoelace area, so every polygon this module
//! returns is oriented that way. Boolean operations and offsetting go through `i_overlay`
//! (pure Rust, snap-rounded integer core, so degenerate overlaps do not blow up the way naive
//! float clipping does); the rest is small enough to write here. Sums run in f64 because
//! shoelace terms of page-sized coordinates lose digits in f32.

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::float::single::SingleFloatOverlay;
use i_overlay::mesh::float::outline::offset::OutlineOffset;
use i_overlay::mesh::float::style::{LineJoin, OutlineStyle};

/// A point `[x, y]` in pixels.
pub type Point = [f32; 2];
/// A simple polygon as its vertices (closing edge implied).
pub type Polygon = Vec<Point>;

/// Largest distance between an offset arc and its polygonal approximation, in pixels: the
/// default `ArcTolerance` of pyclipper, which DBNet's labels and boxes were tuned with.
const ARC_TOLERANCE: f64 = 0.25;

/// Twice the signed area in f64 (positive = clockwise on screen).
fn signed_area2(poly: &[Point]) -> f64 {
    let n = poly.len();
    let mut s = 0.0;
    for i in 0..n {
        let [x0, y0] = poly[i];
        let [x1, y1] = poly[(i + 1) % n];
        s += x0 as f64 * y1 as f64 - x1 as f64 * y0 as f64;
    }
    s
}

/// Signed shoelace area: positive when the vertices go clockwise on screen (y down).
pub fn signed_area(poly: &[Point]) -> f32 {
    (signed_area2(poly) / 2.0) as f32
}

/// Absolute area.
pub fn area(poly: &[Point]) -> f32 {
    signed_area(poly).abs()
}

/// Length of the closed boundary.
pub fn perimeter(poly: &[Point]) -> f32 {
    let n = poly.len();
    if n < 2 {
        return 0.0;
    }
    let mut s = 0.0f64;
    for i in 0..n {
        let [x0, y0] = poly[i];
        let [x1, y1] = poly[(i + 1) % n];
        s += ((x1 - x0) as f64).hypot((y1 - y0) as f64);
    }
    s as f32
}

/// The polygon in f64 with positive orientation, which `i_overlay` expects for outer
/// boundaries (it drops clockwise-in-its-frame input as a hole without an outer ring).
fn to_f64_positive(poly: &[Point]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = poly.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    if signed_area2(poly) < 0.0 {
        out.reverse();
    }
    out
}

fn to_f32(contour: &[[f64; 2]]) -> Polygon {
    contour.iter().map(|p| [p[0] as f32, p[1] as f32]).collect()
}

/// Offsets a polygon by `delta` pixels with round joins: positive grows ("unclip"),
/// negative shrinks. Like pyclipper, the result may be empty (shrunk away) or split into
/// several pieces (a shrunk dumbbell); only outer boundaries are returned.
pub fn offset(poly: &[Point], delta: f32) -> Vec<Polygon> {
    if poly.len() < 3 || !delta.is_finite() {
        return Vec::new();
    }
    if delta == 0.0 {
        return vec![to_f32(&to_f64_positive(poly))];
    }
    let path = to_f64_positive(poly);
    // Segment angle L/R whose sagitta R(1 - cos(a/2)) stays within the tolerance.
    let r = (delta as f64).abs().max(1e-6);
    let half = (1.0 - (ARC_TOLERANCE / r).min(1.0)).acos();
    let step = 2.0 * half.sin();
    let style = OutlineStyle::new(delta as f64).line_join(LineJoin::Round(step));
    let shapes = path.outline(&style);
    shapes
        .iter()
        .filter_map(|shape| shape.first())
        .filter(|c| c.len() >= 3)
        .map(|c| to_f32(c))
        .collect()
}

/// Area of the intersection of two simple polygons (any orientation, convex or not).
pub fn intersection_area(a: &[Point], b: &[Point]) -> f32 {
    if a.len() < 3 || b.len() < 3 {
        return 0.0;
    }
    let (pa, pb) = (to_f64_positive(a), to_f64_positive(b));
    // Cheap reject: most pairs in a page do not overlap at all.
    let bbox = |p: &[[f64; 2]]| {
        p.iter().fold(
            [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
            |[x0, y0, x1, y1], q| [x0.min(q[0]), y0.min(q[1]), x1.max(q[0]), y1.max(q[1])],
        )
    };
    let (ba, bb) = (bbox(&pa), bbox(&pb));
    if ba[2] <= bb[0] || bb[2] <= ba[0] || ba[3] <= bb[1] || bb[3] <= ba[1] {
        return 0.0;
    }
    let shapes = pa.overlay(&pb, OverlayRule::Intersect, FillRule::NonZero);
    // Outer rings are positive and holes negative, so the signed sum is the area.
    let total: f64 = shapes
        .iter()
        .flatten()
        .map(|c| {
            let n = c.len();
            (0..n)
                .map(|i| {
                    let (p, q) = (c[i], c[(i + 1) % n]);
                    p[0] * q[1] - q[0] * p[1]
                })
                .sum::<f64>()
                / 2.0
        })
        .sum();
    total.max(0.0) as f32
}

/// Area of the union of two polygons.
pub fn union_area(a: &[Point], b: &[Point]) -> f32 {
    area(a) + area(b) - intersection_area(a, b)
}

/// Intersection over union; 0 when both are empty.
pub fn iou(a: &[Point], b: &[Point]) -> f32 {
    let inter = intersection_area(a, b);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        (inter / union).clamp(0.0, 1.0)
    }
}

fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a[0] - o[0]) as f64 * (b[1] - o[1]) as f64 - (a[1] - o[1]) as f64 * (b[0] - o[0]) as f64
}

/// Convex hull (Andrew's monotone chain), positive orientation, collinear points dropped.
pub fn convex_hull(points: &[Point]) -> Polygon {
    let mut pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    // With y down, keeping right turns (cross < 0 in math terms is a left turn on screen)
    // builds the hull with positive shoelace area.
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len() + 1);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: its corners (clockwise from top-left) and side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub corners: [Point; 4],
    /// Length along the edge the rectangle was fitted to.
    pub width: f32,
    pub height: f32,
}

impl RotatedRect {
    /// The shorter side (DBNet's `sside`, compared with `min_size`).
    pub fn short_side(&self) -> f32 {
        self.width.min(self.height)
    }
}

/// The minimum-area enclosing rectangle of `points` (rotating calipers over the hull
/// edges, like `cv2.minAreaRect` + `boxPoints`), corners ordered as DBNet's
/// `get_mini_boxes` does: top-left, top-right, bottom-right, bottom-left. Degenerate inputs
/// give a zero-width rectangle; no points give `None`.
pub fn min_area_rect_full(points: &[Point]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return None,
        1 => {
            return Some(RotatedRect {
                corners: [hull[0]; 4],
                width: 0.0,
                height: 0.0,
            })
        }
        _ => {}
    }
    let n = hull.len();
    let mut best: Option<(f64, [f64; 2], [f64; 4])> = None; // (area, unit dir, extents)
    for i in 0..n {
        let (p, q) = (hull[i], hull[(i + 1) % n]);
        let (dx, dy) = ((q[0] - p[0]) as f64, (q[1] - p[1]) as f64);
        let len = dx.hypot(dy);
        if len == 0.0 {
            continue;
        }
        let u = [dx / len, dy / len];
        let (mut lo_u, mut hi_u, mut lo_v, mut hi_v) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for h in &hull {
            let (x, y) = (h[0] as f64, h[1] as f64);
            let a = x * u[0] + y * u[1];
            let b = -x * u[1] + y * u[0];
            lo_u = lo_u.min(a);
            hi_u = hi_u.max(a);
            lo_v = lo_v.min(b);
            hi_v = hi_v.max(b);
        }
        let ar = (hi_u - lo_u) * (hi_v - lo_v);
        if best.as_ref().is_none_or(|b| ar < b.0 - 1e-9) {
            best = Some((ar, u, [lo_u, hi_u, lo_v, hi_v]));
        }
    }
    let (_, u, [lo_u, hi_u, lo_v, hi_v]) = best?;
    let at =
        |a: f64, b: f64| -> Point { [(a * u[0] - b * u[1]) as f32, (a * u[1] + b * u[0]) as f32] };
    let corners = [
        at(lo_u, lo_v),
        at(hi_u, lo_v),
        at(hi_u, hi_v),
        at(lo_u, hi_v),
    ];
    Some(RotatedRect {
        corners: order_quad(corners),
        width: (hi_u - lo_u) as f32,
        height: (hi_v - lo_v) as f32,
    })
}

/// [`min_area_rect_full`]'s corners only (all zero for no points).
pub fn min_area_rect(points: &[Point]) -> [Point; 4] {
    min_area_rect_full(points).map_or([[0.0; 2]; 4], |r| r.corners)
}

/// Orders four corners top-left, top-right, bottom-right, bottom-left: the two leftmost
/// points (by x) are the left side, the upper of each side comes first. This is DBNet's
/// rule; it is ambiguous only for boxes rotated by exactly 45 degrees.
pub fn order_quad(mut q: [Point; 4]) -> [Point; 4] {
    q.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if q[1][1] > q[0][1] {
        (q[0], q[1])
    } else {
        (q[1], q[0])
    };
    let (tr, br) = if q[3][1] > q[2][1] {
        (q[2], q[3])
    } else {
        (q[3], q[2])
    };
    [tl, tr, br, bl]
}

/// Is `p` inside `poly` or within `eps` of its boundary? (Even-odd rule.)
pub fn contains(poly: &[Point], p: Point, eps: f32) -> bool {
    let n = poly.len();
    if n == 0 {
        return false;
    }
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if segment_distance(p, a, b) <= eps {
            return true;
        }
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Euclidean distance from `p` to the segment `a`-`b`.
pub fn segment_distance(p: Point, a: Point, b: Point) -> f32 {
    let (dx, dy) = ((b[0] - a[0]) as f64, (b[1] - a[1]) as f64);
    let (px, py) = ((p[0] - a[0]) as f64, (p[1] - a[1]) as f64);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (px - t * dx).hypot(py - t * dy) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Polygon {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    #[test]
    fn area_perimeter_and_orientation() {
        let r = rect(0.0, 0.0, 10.0, 4.0);
        assert_eq!(signed_area(&r), 40.0);
        let mut rev = r.clone();
        rev.reverse();
        assert_eq!(signed_area(&rev), -40.0);
        assert_eq!(area(&rev), 40.0);
        assert_eq!(perimeter(&r), 28.0);
        assert_eq!(perimeter(&[]), 0.0);
    }

    #[test]
    fn offset_grows_with_round_corners_and_shrinks_to_nothing() {
        for poly in [rect(0.0, 0.0, 100.0, 10.0), {
            let mut r = rect(0.0, 0.0, 100.0, 10.0);
            r.reverse();
            r
        }] {
            let grown = offset(&poly, 2.0);
            assert_eq!(grown.len(), 1);
            // Minkowski sum with a disk: A + L*d + pi*d^2.
            let want = 1000.0 + 220.0 * 2.0 + std::f32::consts::PI * 4.0;
            assert!((area(&grown[0]) - want).abs() < 1.5, "{}", area(&grown[0]));
            assert!(signed_area(&grown[0]) > 0.0);
            let shrunk = offset(&poly, -2.0);
            assert_eq!(shrunk.len(), 1);
            assert!((area(&shrunk[0]) - 96.0 * 6.0).abs() < 0.5);
            assert!(offset(&poly, -6.0).is_empty());
        }
    }

    #[test]
    fn intersection_and_iou_of_rotated_and_concave_polygons() {
        let a = rect(0.0, 0.0, 10.0, 10.0);
        let b = rect(5.0, 0.0, 15.0, 10.0);
        assert!((intersection_area(&a, &b) - 50.0).abs() < 1e-3);
        assert!((iou(&a, &b) - 50.0 / 150.0).abs() < 1e-4);
        assert_eq!(intersection_area(&a, &rect(20.0, 0.0, 30.0, 1.0)), 0.0);
        // A diamond inside the square: the intersection is the diamond.
        let d = vec![[5.0, 0.0], [10.0, 5.0], [5.0, 10.0], [0.0, 5.0]];
        assert!((intersection_area(&a, &d) - 50.0).abs() < 1e-3);
        // An L shape (concave) against a square covering its notch.
        let l = vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 4.0],
            [4.0, 4.0],
            [4.0, 10.0],
            [0.0, 10.0],
        ];
        assert!((area(&l) - 64.0).abs() < 1e-4);
        assert!((intersection_area(&l, &rect(4.0, 4.0, 10.0, 10.0))).abs() < 1e-3);
        assert!((intersection_area(&l, &a) - 64.0).abs() < 1e-3);
        assert_eq!(iou(&a, &a), 1.0);
    }

    #[test]
    fn hull_and_min_area_rect_of_a_rotated_box() {
        let pts = vec![
            [0.0, 0.0],
            [2.0, 2.0],
            [1.0, 1.0],
            [4.0, 0.0],
            [2.0, -2.0],
            [2.0, 0.5],
        ];
        let h = convex_hull(&pts);
        assert_eq!(h.len(), 4);
        assert!(signed_area(&h) > 0.0);
        // A 45-degree square of side sqrt(8): area 8.
        let r = min_area_rect_full(&pts).unwrap();
        assert!((r.width * r.height - 8.0).abs() < 1e-4);
        // A slightly rotated 20 x 4 box recovers its size and ICDAR order.
        let (c, s) = (0.1f32.cos(), 0.1f32.sin());
        let rot = |x: f32, y: f32| [50.0 + x * c - y * s, 30.0 + x * s + y * c];
        let quad = [
            rot(-10.0, -2.0),
            rot(10.0, -2.0),
            rot(10.0, 2.0),
            rot(-10.0, 2.0),
        ];
        let r = min_area_rect_full(&quad).unwrap();
        assert!((r.short_side() - 4.0).abs() < 1e-3);
        assert!((r.width.max(r.height) - 20.0).abs() < 1e-3);
        for (got, want) in r.corners.iter().zip(quad.iter()) {
            assert!(
                (got[0] - want[0]).abs() < 1e-3 && (got[1] - want[1]).abs() < 1e-3,
                "{:?}",
                r.corners
            );
        }
        // Collinear points: zero-width box; one point; none.
        assert_eq!(
            min_area_rect_full(&[[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
                .unwrap()
                .short_side(),
            0.0
        );
        assert_eq!(min_area_rect(&[[2.0, 3.0]]), [[2.0, 3.0]; 4]);
        assert!(min_area_rect_full(&[]).is_none());
    }

    #[test]
    fn containment_and_segment_distance() {
        let r = rect(0.0, 0.0, 4.0, 4.0);
        assert!(contains(&r, [2.0, 2.0], 0.0));
        assert!(contains(&r, [4.0, 2.0], 1e-4));
        assert!(!contains(&r, [4.5, 2.0], 1e-4));
        assert_eq!(segment_distance([0.0, 3.0], [0.0, 0.0], [4.0, 0.0]), 3.0);
        assert_eq!(segment_distance([7.0, 4.0], [0.0, 0.0], [4.0, 0.0]), 5.0);
    }
}
