//! Ground truth: text lines as ICDAR 2015 quadrilaterals, and the geometry that keeps
//! them right when the page is rotated.

/// One text line of a page: `docmoco_data`'s ICDAR 2015 record, so generated ground
/// truth is written and read by the same code as the real data sets.
///
/// `quad` is in pixel coordinates of the output image, ICDAR 2015 order: clockwise
/// starting at the top-left corner of the (unrotated) text, i.e. TL, TR, BR, BL.
/// `dont_care` marks text a detector should neither be rewarded nor punished for
/// (rotated stamp text, signatures), written as `###`.
pub use docmoco_data::icdar::TextLine;

/// An axis-aligned box `[x0, y0, x1, y1)` (exclusive right/bottom edges) as a line.
pub fn rect_line(rect: [f32; 4], text: String, dont_care: bool) -> TextLine {
    let [x0, y0, x1, y1] = rect;
    TextLine {
        quad: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        text,
        dont_care,
    }
}

/// The axis-aligned bounding box `[x0, y0, x1, y1]` of a line's quad.
pub fn bounds(line: &TextLine) -> [f32; 4] {
    let xs = line.quad.map(|p| p[0]);
    let ys = line.quad.map(|p| p[1]);
    let min = |v: [f32; 4]| v.into_iter().fold(f32::INFINITY, f32::min);
    let max = |v: [f32; 4]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
    [min(xs), min(ys), max(xs), max(ys)]
}

/// A rotation by `angle` radians about `(cx, cy)` followed by a shift, mapping source
/// pixel coordinates to destination ones. Used for the page skew and for stamps.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    pub cos: f32,
    pub sin: f32,
    /// Centre of rotation in the source.
    pub src_center: [f32; 2],
    /// Where the source centre lands in the destination.
    pub dst_center: [f32; 2],
}

impl Rotation {
    pub fn new(angle: f32, src_center: [f32; 2], dst_center: [f32; 2]) -> Self {
        Rotation {
            cos: angle.cos(),
            sin: angle.sin(),
            src_center,
            dst_center,
        }
    }

    /// Source → destination. Positive angles turn clockwise on screen (y points down).
    pub fn forward(&self, p: [f32; 2]) -> [f32; 2] {
        let dx = p[0] - self.src_center[0];
        let dy = p[1] - self.src_center[1];
        [
            self.dst_center[0] + self.cos * dx - self.sin * dy,
            self.dst_center[1] + self.sin * dx + self.cos * dy,
        ]
    }

    /// Destination → source, for resampling.
    pub fn inverse(&self, p: [f32; 2]) -> [f32; 2] {
        let dx = p[0] - self.dst_center[0];
        let dy = p[1] - self.dst_center[1];
        [
            self.src_center[0] + self.cos * dx + self.sin * dy,
            self.src_center[1] - self.sin * dx + self.cos * dy,
        ]
    }

    /// Maps a line's quad, keeping the corner order (a rotation preserves orientation,
    /// so TL stays the first corner clockwise).
    pub fn map_line(&self, line: &TextLine) -> TextLine {
        TextLine {
            quad: line.quad.map(|p| self.forward(p)),
            text: line.text.clone(),
            dont_care: line.dont_care,
        }
    }
}

/// Clamps every corner into `[0, w] x [0, h]` so that written boxes are always inside
/// the page, even where a skew pushed a corner of a margin-hugging line over the edge.
pub fn clamp_to_page(line: &mut TextLine, w: f32, h: f32) {
    for p in &mut line.quad {
        p[0] = p[0].clamp(0.0, w);
        p[1] = p[1].clamp(0.0, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_round_trips_and_keeps_order() {
        let r = Rotation::new(0.03, [50.0, 80.0], [51.0, 79.0]);
        let p = [10.0, 20.0];
        let q = r.inverse(r.forward(p));
        assert!((q[0] - p[0]).abs() < 1e-4 && (q[1] - p[1]).abs() < 1e-4);
        let line = rect_line([10.0, 10.0, 40.0, 20.0], "x".into(), false);
        let m = r.map_line(&line);
        // Clockwise in image coordinates (y down): the shoelace sum is positive.
        let q = m.quad;
        let area2: f32 = (0..4)
            .map(|i| {
                let (a, b) = (q[i], q[(i + 1) % 4]);
                a[0] * b[1] - b[0] * a[1]
            })
            .sum();
        assert!(area2 > 0.0);
        assert!(m.quad[0][0] < m.quad[1][0] && m.quad[0][1] < m.quad[3][1]);
    }
}
