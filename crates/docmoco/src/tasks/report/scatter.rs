//! The 2-D embedding map as SVG: one dot per page at its PCA coordinates, coloured by class,
//! with a legend. SVG rather than PNG so the browser sets the text and the file stays small.

use std::fmt::Write as _;

/// Colours of classes (matplotlib's `tab10`).
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for HTML/SVG content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A `size x size` scatter of `points` (labels index `classes`; `None` is grey).
pub fn scatter_svg(
    title: &str,
    points: &[[f32; 2]],
    labels: &[Option<usize>],
    classes: &[String],
    size: f64,
) -> String {
    let (pad, legend_w) = (30.0, 170.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{}" y="16" font-size="13" text-anchor="middle">{}</text><rect x="{pad}" y="{pad}" width="{}" height="{}" fill="none" stroke="gray"/>"#,
        size + legend_w,
        size,
        size / 2.0,
        escape(title),
        size - 2.0 * pad,
        size - 2.0 * pad
    );
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in points {
        xmin = xmin.min(p[0]);
        xmax = xmax.max(p[0]);
        ymin = ymin.min(p[1]);
        ymax = ymax.max(p[1]);
    }
    let (xs, ys) = ((xmax - xmin).max(1e-9), (ymax - ymin).max(1e-9));
    let inner = size - 2.0 * pad - 10.0;
    for (p, l) in points.iter().zip(labels) {
        let x = pad + 5.0 + ((p[0] - xmin) / xs) as f64 * inner;
        let y = pad + 5.0 + (1.0 - ((p[1] - ymin) / ys) as f64) * inner;
        let color = l.map_or("#999999", |l| PALETTE[l % PALETTE.len()]);
        let _ = write!(
            svg,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}" fill-opacity="0.75"/>"#
        );
    }
    for (i, c) in classes.iter().enumerate() {
        let y = pad + 10.0 + i as f64 * 18.0;
        let _ = write!(
            svg,
            r#"<circle cx="{}" cy="{y}" r="5" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            size + 10.0,
            PALETTE[i % PALETTE.len()],
            size + 20.0,
            y + 4.0,
            escape(c)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dot_per_point_in_its_class_colour() {
        let svg = scatter_svg(
            "map <PCA>",
            &[[0.0, 0.0], [1.0, 2.0], [0.5, 1.0]],
            &[Some(0), Some(1), None],
            &["a&b".into(), "c".into()],
            300.0,
        );
        // 3 points + 2 legend dots.
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains(PALETTE[1]) && svg.contains("#999999"));
        assert!(svg.contains("map &lt;PCA&gt;") && svg.contains("a&amp;b"));
    }
}
