//! The report's section for a `finetune-det` run: loss curve, test metrics, and the drawn
//! test pages (shrunk, so a report with three pages stays a few hundred kilobytes).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::scatter::escape;
use super::{base64, config_block, panels_svg, read_json};
use crate::train::plot::read_metric;

/// Width of the embedded page thumbnails (px).
const THUMB_WIDTH: u32 = 560;

/// A detection run: `finetune-det` leaves `detector.safetensors` behind.
pub fn is_detect(dir: &Path) -> bool {
    dir.join("detector.safetensors").is_file()
}

fn thumbnail_png(path: &Path) -> Option<Vec<u8>> {
    let img = image::open(path).ok()?;
    let img = if img.width() > THUMB_WIDTH {
        let h = (img.height() as f64 * THUMB_WIDTH as f64 / img.width() as f64).round() as u32;
        img.resize(THUMB_WIDTH, h.max(1), image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .ok()?;
    Some(bytes)
}

pub fn detect_section(dir: &Path, html: &mut String) -> Result<String> {
    let _ = write!(
        html,
        "<section><h2>Detection run <code>{}</code></h2>",
        escape(&dir.display().to_string())
    );
    let eval = dir.join("eval");
    let metrics = read_json(&eval.join("metrics.json"));
    let f = |k: &str| {
        metrics
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let line = if metrics.is_some() {
        let _ = write!(
            html,
            "<p>ICDAR 2015 on the test split ({} pages): precision <b>{:.4}</b>, recall <b>{:.4}</b>, hmean <b>{:.4}</b></p>",
            f("n_images"),
            f("precision"),
            f("recall"),
            f("hmean")
        );
        format!("detection {}: hmean {:.4}", dir.display(), f("hmean"))
    } else {
        html.push_str("<p><i>Not evaluated (the data had no test split).</i></p>");
        format!("detection {}: not evaluated", dir.display())
    };
    let csv = dir.join("metrics.csv");
    if csv.is_file() {
        let m = |y: &str| read_metric(&csv, Some("step"), "step", y);
        html.push_str(&panels_svg(&[
            ("DBNet loss", "step", m("loss")?, "#1f77b4"),
            ("learning rate", "step", m("lr")?, "#2ca02c"),
        ]));
    }
    let mut pages: Vec<_> = std::fs::read_dir(&eval)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "png"))
                .collect()
        })
        .unwrap_or_default();
    pages.sort();
    if !pages.is_empty() {
        html.push_str("<h3>Test pages: detections (red) over the ground truth (green; grey = don't care)</h3><div class=\"maps\">");
        for p in &pages {
            if let Some(bytes) = thumbnail_png(p) {
                let _ = write!(
                    html,
                    r#"<img alt="{}" src="data:image/png;base64,{}">"#,
                    escape(&p.display().to_string()),
                    base64(&bytes)
                );
            }
        }
        html.push_str("</div>");
    }
    config_block(dir, html);
    html.push_str("</section>");
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detection_run_gets_its_metrics_curve_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        assert!(!is_detect(run));
        std::fs::write(run.join("detector.safetensors"), b"").unwrap();
        std::fs::create_dir_all(run.join("eval")).unwrap();
        std::fs::write(
            run.join("eval/metrics.json"),
            r#"{"precision":0.9,"recall":0.8,"hmean":0.847,"n_images":2}"#,
        )
        .unwrap();
        std::fs::write(
            run.join("metrics.csv"),
            "kind,epoch,step,loss,instance_acc,lr,img_per_s,knn_acc\nstep,0,1,5.0,NaN,0.02,9,\nstep,0,2,4.0,NaN,0.01,9,\n",
        )
        .unwrap();
        image::RgbImage::from_pixel(1200, 1600, image::Rgb([255, 255, 255]))
            .save(run.join("eval/page.png"))
            .unwrap();
        assert!(is_detect(run));
        let mut html = String::new();
        let line = detect_section(run, &mut html).unwrap();
        assert!(line.contains("hmean 0.8470"), "{line}");
        assert!(html.contains("<b>0.8470</b>"), "{html}");
        assert!(html.contains("DBNet loss"));
        assert_eq!(html.matches("data:image/png;base64,").count(), 1);
        // The page is embedded shrunk, not at full size.
        assert!(html.len() < 100_000, "{} bytes", html.len());
    }
}
