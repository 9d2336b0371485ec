//! A dependency-free SVG of a run's curves: loss per step (with ln(K+1) for reference is up to
//! the reader) and kNN accuracy per epoch, from `metrics.csv`.

use std::fmt::Write as _;
use std::path::Path;

/// `(x, y)` points of one curve.
pub type Series = Vec<(f64, f64)>;

fn read_series(csv: &Path) -> std::io::Result<(Series, Series)> {
    let text = std::fs::read_to_string(csv)?;
    let (mut loss, mut knn) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let num = |i: usize| c.get(i).and_then(|v| v.parse::<f64>().ok());
        match c.first() {
            Some(&"step") => {
                if let (Some(s), Some(l)) = (num(2), num(3)) {
                    loss.push((s, l));
                }
            }
            Some(&"epoch") => {
                if let (Some(e), Some(a)) = (num(1), num(7)) {
                    knn.push((e, a * 100.0));
                }
            }
            _ => {}
        }
    }
    Ok((loss, knn))
}

/// Column `y` against column `x` of a CSV with a header row (`metrics.csv`, `history.csv`),
/// keeping rows whose `kind` column equals `kind` when given; unparsable cells are skipped.
/// Used by the run report, which plots more columns than `curves.svg`.
pub fn read_metric(csv: &Path, kind: Option<&str>, x: &str, y: &str) -> std::io::Result<Series> {
    let text = std::fs::read_to_string(csv)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(xi), Some(yi)) = (col(x), col(y)) else {
        return Ok(Vec::new());
    };
    let ki = col("kind");
    let mut out = Vec::new();
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        if let (Some(k), Some(ki)) = (kind, ki) {
            if c.get(ki) != Some(&k) {
                continue;
            }
        }
        let num = |i: usize| c.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(a), Some(b)) = (num(xi), num(yi)) {
            out.push((a, b));
        }
    }
    Ok(out)
}

/// One 420 x 260 plot of `pts` at horizontal offset `x0` (the panel's own width is 450) of an
/// SVG being written; the run report lays several out.
pub fn panel(
    svg: &mut String,
    x0: f64,
    title: &str,
    xlabel: &str,
    pts: &[(f64, f64)],
    color: &str,
) {
    let (w, h, pad) = (420.0, 260.0, 40.0);
    let _ = write!(
        svg,
        r#"<g transform="translate({x0},0)"><rect x="{pad}" y="20" width="{}" height="{}" fill="none" stroke="gray"/><text x="{}" y="14" font-size="13" text-anchor="middle">{title}</text><text x="{}" y="{}" font-size="11" text-anchor="middle">{xlabel}</text>"#,
        w - pad,
        h - 40.0,
        w / 2.0 + pad / 2.0,
        w / 2.0 + pad / 2.0,
        h + 2.0
    );
    let finite: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.1.is_finite()).collect();
    if !finite.is_empty() {
        let (xmin, xmax) = finite
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (ymin, ymax) = finite
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let (xs, ys) = ((xmax - xmin).max(1e-9), (ymax - ymin).max(1e-9));
        let px = |x: f64| pad + (x - xmin) / xs * (w - pad);
        let py = |y: f64| 20.0 + (1.0 - (y - ymin) / ys) * (h - 40.0);
        let path: Vec<String> = finite
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            path.join(" ")
        );
        for (v, y) in [(ymax, 24.0), (ymin, h - 22.0)] {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{y}" font-size="10" text-anchor="end">{v:.3}</text>"#,
                pad - 3.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{pad}" y="{}" font-size="10">{xmin:.0}</text><text x="{w}" y="{}" font-size="10" text-anchor="end">{xmax:.0}</text>"#,
            h - 8.0,
            h - 8.0
        );
        if finite.len() <= 60 {
            for p in &finite {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                    px(p.0),
                    py(p.1)
                );
            }
        }
    } else {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">no data</text>"#,
            w / 2.0,
            h / 2.0
        );
    }
    svg.push_str("</g>");
}

/// Writes `curves.svg`: InfoNCE loss per step, and kNN accuracy (%) per epoch when monitored.
pub fn write_curves_svg(metrics_csv: &Path, out: &Path) -> std::io::Result<()> {
    let (loss, knn) = read_series(metrics_csv)?;
    let mut svg = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="275" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#,
    );
    panel(&mut svg, 0.0, "InfoNCE loss", "step", &loss, "#1f77b4");
    panel(
        &mut svg,
        450.0,
        "kNN accuracy (%)",
        "epochs completed",
        &knn,
        "#d62728",
    );
    svg.push_str("</svg>\n");
    std::fs::write(out, svg)
}

/// Writes a one-panel SVG of the `step` rows' loss, titled `title` (downstream runs, whose
/// loss is not InfoNCE and which have no kNN monitor).
pub fn write_loss_svg(metrics_csv: &Path, out: &Path, title: &str) -> std::io::Result<()> {
    let (loss, _) = read_series(metrics_csv)?;
    let mut svg = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="450" height="275" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#,
    );
    panel(&mut svg, 0.0, title, "step", &loss, "#1f77b4");
    svg.push_str("</svg>\n");
    std::fs::write(out, svg)
}
