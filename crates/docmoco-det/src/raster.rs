//! Filling polygons into pixel maps the way `cv2.fillPoly` does in the DBNet reference.
//!
//! The reference casts vertices to `int32` (truncation toward zero) and fills every pixel
//! whose centre lies inside the polygon *or on its boundary*. The boundary rule matters for
//! our thin lines: a shrunk kernel 1.2 px tall still covers one or two rows instead of
//! vanishing, exactly as in the labels DBNet was trained with.

use crate::geometry::Point;

/// Truncates vertices toward zero, as numpy's `astype(np.int32)`.
pub fn truncate(poly: &[Point]) -> Vec<Point> {
    poly.iter().map(|p| [p[0].trunc(), p[1].trunc()]).collect()
}

/// Calls `f(y, x0, x1)` for every row span `x0..=x1` (clipped to the map) covered by the
/// closed polygon (even-odd interior plus boundary).
pub fn for_each_span(
    poly: &[Point],
    height: usize,
    width: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let n = poly.len();
    if n == 0 || height == 0 || width == 0 {
        return;
    }
    let (ymin, ymax) = poly.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
        (lo.min(p[1]), hi.max(p[1]))
    });
    if !ymin.is_finite() || !ymax.is_finite() {
        return;
    }
    const EPS: f32 = 1e-4;
    let y0 = (ymin - EPS).ceil().max(0.0) as usize;
    let y1 = (ymax + EPS).floor().min(height as f32 - 1.0);
    if y1 < 0.0 {
        return;
    }
    let y1 = y1 as usize;
    let mut crossings: Vec<f32> = Vec::new();
    let mut intervals: Vec<(f32, f32)> = Vec::new();
    for y in y0..=y1 {
        let yf = y as f32;
        crossings.clear();
        intervals.clear();
        for i in 0..n {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            let (lo, hi) = if a[1] <= b[1] { (a, b) } else { (b, a) };
            if yf < lo[1] - EPS || yf > hi[1] + EPS {
                continue;
            }
            if (hi[1] - lo[1]).abs() <= EPS {
                // Horizontal edge on this row: all of it is boundary.
                intervals.push((a[0].min(b[0]), a[0].max(b[0])));
                continue;
            }
            let x = lo[0] + (yf - lo[1]) / (hi[1] - lo[1]) * (hi[0] - lo[0]);
            intervals.push((x, x)); // boundary point
                                    // Half-open rule so a vertex on the row is counted once for the interior.
            if lo[1] <= yf && yf < hi[1] {
                crossings.push(x);
            }
        }
        crossings.sort_by(f32::total_cmp);
        for pair in crossings.chunks_exact(2) {
            intervals.push((pair[0], pair[1]));
        }
        for &(lo, hi) in &intervals {
            let x0 = (lo - EPS).ceil().max(0.0);
            let x1 = (hi + EPS).floor().min(width as f32 - 1.0);
            if x1 >= x0 {
                f(y, x0 as usize, x1 as usize);
            }
        }
    }
}

/// Sets every pixel of the (truncated) polygon to `value` in a row-major map.
pub fn fill_polygon(map: &mut [f32], height: usize, width: usize, poly: &[Point], value: f32) {
    let poly = truncate(poly);
    for_each_span(&poly, height, width, |y, x0, x1| {
        map[y * width + x0..=y * width + x1].fill(value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(map: &[f32]) -> usize {
        map.iter().filter(|&&v| v > 0.0).count()
    }

    #[test]
    fn fills_rectangles_inclusive_of_their_boundary() {
        let mut m = vec![0.0; 10 * 10];
        fill_polygon(
            &mut m,
            10,
            10,
            &[[2.0, 3.0], [5.0, 3.0], [5.0, 4.0], [2.0, 4.0]],
            1.0,
        );
        assert_eq!(count(&m), 4 * 2);
        assert_eq!(m[3 * 10 + 2], 1.0);
        assert_eq!(m[4 * 10 + 5], 1.0);
        assert_eq!(m[5 * 10 + 5], 0.0);
        // Truncation: 2.9 -> 2, like astype(int32).
        let mut m = vec![0.0; 100];
        fill_polygon(
            &mut m,
            10,
            10,
            &[[2.9, 3.9], [5.9, 3.9], [5.9, 4.9], [2.9, 4.9]],
            1.0,
        );
        assert_eq!(m[3 * 10 + 2], 1.0);
        // A degenerate (zero-height) polygon still marks its row, as cv2 does.
        let mut m = vec![0.0; 100];
        fill_polygon(
            &mut m,
            10,
            10,
            &[[1.0, 1.0], [4.0, 1.0], [4.0, 1.0], [1.0, 1.0]],
            1.0,
        );
        assert_eq!(count(&m), 4);
    }

    #[test]
    fn triangles_and_clipping_to_the_map() {
        let mut m = vec![0.0; 100];
        // Right triangle with legs 4: 15 lattice points inside or on the boundary.
        fill_polygon(&mut m, 10, 10, &[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], 1.0);
        assert_eq!(count(&m), 15);
        let mut m = vec![0.0; 100];
        fill_polygon(
            &mut m,
            10,
            10,
            &[[-5.0, -5.0], [50.0, -5.0], [50.0, 2.0], [-5.0, 2.0]],
            1.0,
        );
        assert_eq!(count(&m), 30);
    }
}
