//! `docmoco report RUN_DIR`: one self-contained HTML page for a run — what a person opens
//! first after pre-training. Curves from `metrics.csv` (loss, lr, kNN accuracy, throughput),
//! the configuration, the classification results and confusion matrix of downstream runs, and
//! a 2-D PCA map of the embeddings, random init beside MoCo, coloured by class when a
//! labelled folder is given. Images are inlined (SVG as markup, PNG as `data:` URIs), so the
//! file can be mailed or attached to an issue on its own.
//!
//! RUN_DIR may be a pre-training run, a classification run, or a folder holding several (the
//! output of `docmoco demo`: `run/`, `probe-*/`, `finetune-*/`, with `data/cls/` used for
//! the map).

mod detect;
pub mod scatter;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::tasks::embed::pca::pca_2d;
use crate::tasks::embed::search::precision_at_k;
use crate::tasks::embed::{embed_folder, EmbedConfig};
use crate::tasks::init::Init;
use crate::train::plot::{panel, read_metric, Series};
use detect::{detect_section, is_detect};
use scatter::{escape, scatter_svg};

/// What to report on.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub run_dir: PathBuf,
    /// Labelled pages for the embedding map; default `RUN_DIR/data/cls` (or `../data/cls`)
    /// when that exists, as in a `docmoco demo` folder.
    pub data: Option<PathBuf>,
    /// Output file (default `RUN_DIR/report.html`).
    pub out: Option<PathBuf>,
    pub quiet: bool,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub path: PathBuf,
    /// One line per section, for the terminal.
    pub sections: Vec<String>,
}

fn is_pretrain(dir: &Path) -> bool {
    dir.join("metrics.csv").is_file()
        && std::fs::read_to_string(dir.join("config.toml")).is_ok_and(|t| t.contains("[moco]"))
}

fn is_classify(dir: &Path) -> bool {
    dir.join("metrics.json").is_file()
}

/// Standard base64 (RFC 4648) for `data:` URIs; a dozen lines do not justify a dependency.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Panels laid out two per row: `(title, x label, points, colour)`.
fn panels_svg(panels: &[(&str, &str, Series, &str)]) -> String {
    let rows = panels.len().div_ceil(2);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#,
        rows * 285
    );
    for (i, (title, xlabel, pts, color)) in panels.iter().enumerate() {
        let _ = write!(svg, r#"<g transform="translate(0,{})">"#, (i / 2) * 285);
        panel(&mut svg, (i % 2) as f64 * 450.0, title, xlabel, pts, color);
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn config_block(dir: &Path, html: &mut String) {
    if let Ok(cfg) = std::fs::read_to_string(dir.join("config.toml")) {
        let _ = write!(
            html,
            "<details><summary>config.toml</summary><pre>{}</pre></details>",
            escape(&cfg)
        );
    }
}

fn pretrain_section(dir: &Path, html: &mut String) -> Result<String> {
    let csv = dir.join("metrics.csv");
    let m = |kind: &str, x: &str, y: &str| read_metric(&csv, Some(kind), x, y);
    let loss = m("step", "step", "loss")?;
    let lr = m("step", "step", "lr")?;
    let ips: Series = m("step", "step", "img_per_s")?
        .into_iter()
        .filter(|p| p.1 > 0.0)
        .collect();
    let knn: Series = m("epoch", "epoch", "knn_acc")?
        .into_iter()
        .map(|(e, a)| (e, a * 100.0))
        .collect();
    let summary = read_json(&dir.join("summary.json"));
    let get = |k: &str| summary.as_ref().and_then(|s| s.get(k)).cloned();
    let mut median_ips: Vec<f64> = ips.iter().map(|p| p.1).collect();
    median_ips.sort_by(f64::total_cmp);
    let median = median_ips.get(median_ips.len() / 2).copied();
    let _ = write!(
        html,
        "<section><h2>Pre-training run <code>{}</code></h2><table>",
        escape(&dir.display().to_string())
    );
    let row = |html: &mut String, k: &str, v: String| {
        let _ = write!(html, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    };
    row(html, "steps logged", loss.len().to_string());
    if let Some(v) = get("epochs") {
        row(html, "epochs", v.to_string());
    }
    if let Some(v) = get("pages") {
        row(html, "pages", v.to_string());
    }
    if let Some((s, l)) = loss.last() {
        row(html, "last loss", format!("{l:.4} (step {s})"));
    }
    if let Some(v) = get("last_epoch_loss").and_then(|v| v.as_f64()) {
        row(html, "mean loss, last epoch", format!("{v:.4}"));
    }
    if let (Some(first), Some(last)) = (knn.first(), knn.last()) {
        let best = knn.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        row(
            html,
            "kNN accuracy",
            format!(
                "{:.1}% at epoch {} → {:.1}% at epoch {} (best {best:.1}%)",
                first.1, first.0, last.1, last.0
            ),
        );
    }
    let throughput = match (get("images_per_second").and_then(|v| v.as_f64()), median) {
        (Some(avg), Some(med)) => format!("{avg:.1} img/s overall, median step {med:.1} img/s"),
        (Some(avg), None) => format!("{avg:.1} img/s"),
        (None, Some(med)) => format!("median step {med:.1} img/s"),
        (None, None) => "—".into(),
    };
    row(html, "throughput", throughput.clone());
    html.push_str("</table>");
    diagnosis_block(get("diagnosis"), html);
    let mut panels = vec![
        ("InfoNCE loss", "step", loss.clone(), "#1f77b4"),
        ("learning rate", "step", lr, "#2ca02c"),
        (
            "kNN accuracy (%)",
            "epochs completed",
            knn.clone(),
            "#d62728",
        ),
        ("throughput (img/s)", "step", ips, "#9467bd"),
    ];
    // The frozen diagnostic per epoch (MoCo v1/v2): q·k+ against q·(other pages' keys).
    let frozen_gap: Series = m("epoch", "epoch", "cos_pos")
        .unwrap_or_default()
        .into_iter()
        .zip(m("epoch", "epoch", "cos_neg").unwrap_or_default())
        .map(|((e, p), (_, n))| (e, p - n))
        .collect();
    if !frozen_gap.is_empty() {
        panels.push((
            "frozen cos(q,k+) − cos(q,k−)",
            "epochs completed",
            frozen_gap,
            "#8c564b",
        ));
        let spread = m("epoch", "epoch", "spread").unwrap_or_default();
        panels.push((
            "key spread (1 = even, 0 = collapsed)",
            "epochs completed",
            spread,
            "#e377c2",
        ));
    }
    html.push_str(&panels_svg(&panels));
    config_block(dir, html);
    html.push_str("</section>");
    Ok(format!(
        "pre-training {}: {} steps, kNN {} points, {throughput}",
        dir.display(),
        loss.len(),
        knn.len()
    ))
}

/// The last shortcut/collapse diagnostic of a run's `summary.json`: the numbers, and the
/// flags with their reasons in red.
fn diagnosis_block(d: Option<Value>, html: &mut String) {
    let Some(d) = d.filter(|d| !d.is_null()) else {
        return;
    };
    let f = |path: &[&str]| {
        path.iter()
            .try_fold(&d, |v, k| v.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let reasons: Vec<String> = d
        .pointer("/flags/reasons")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // v3 runs have no queue, hence no stale keys of the same page.
    let stale = match f(&["queue_stale"]) {
        s if s.is_nan() => String::new(),
        s => format!(", queued keys of the same page {s:.3}"),
    };
    let _ = write!(
        html,
        "<h3>Shortcut / collapse diagnostic (last)</h3><p>frozen instance accuracy {:.1}% ({} candidates), cos(q,k+) {:.3} vs cos(q,k−) {:.3} (own key above {:.0}% of the others){stale}, spread {:.2}, effective rank {:.1}</p>",
        f(&["frozen", "instance_acc"]) * 100.0,
        f(&["frozen", "candidates"]),
        f(&["frozen", "pos"]),
        f(&["frozen", "neg"]),
        f(&["frozen", "pos_rank"]) * 100.0,
        f(&["spread"]),
        f(&["effective_rank"]),
    );
    if reasons.is_empty() {
        html.push_str("<p>No flag raised.</p>");
    }
    for r in reasons {
        let _ = write!(
            html,
            "<p style=\"color:#b00\"><b>warning:</b> {}</p>",
            escape(&r)
        );
    }
}

fn classify_section(dir: &Path, html: &mut String) -> Result<String> {
    let metrics = read_json(&dir.join("metrics.json"))
        .with_context(|| format!("{}: unreadable JSON", dir.join("metrics.json").display()))?;
    let f = |k: &str| metrics.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let (acc, f1) = (f("accuracy"), f("macro_f1"));
    let _ = write!(
        html,
        "<section><h2>Classification run <code>{}</code></h2><p>test accuracy <b>{:.1}%</b>, macro-F1 <b>{:.1}%</b></p>",
        escape(&dir.display().to_string()),
        acc * 100.0,
        f1 * 100.0
    );
    if let Some(per) = metrics.get("per_class").and_then(Value::as_object) {
        html.push_str(
            "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
        );
        for (c, v) in per {
            let g = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td></tr>",
                escape(c),
                g("precision") * 100.0,
                g("recall") * 100.0,
                g("f1") * 100.0,
                g("support")
            );
        }
        html.push_str("</table>");
    }
    let hist = dir.join("history.csv");
    if hist.is_file() {
        let h = |y: &str| read_metric(&hist, None, "epoch", y);
        let pct = |s: Series| -> Series { s.into_iter().map(|(x, y)| (x, y * 100.0)).collect() };
        html.push_str(&panels_svg(&[
            ("training loss", "epoch", h("train_loss")?, "#1f77b4"),
            (
                "train accuracy (%)",
                "epoch",
                pct(h("train_accuracy")?),
                "#2ca02c",
            ),
        ]));
    }
    let png = dir.join("confusion.png");
    if let Ok(bytes) = std::fs::read(&png) {
        let _ = write!(
            html,
            r#"<h3>Confusion matrix (test)</h3><img alt="confusion matrix" src="data:image/png;base64,{}">"#,
            base64(&bytes)
        );
    }
    config_block(dir, html);
    html.push_str("</section>");
    Ok(format!(
        "classification {}: accuracy {:.1}%",
        dir.display(),
        acc * 100.0
    ))
}

/// The embedding maps of `data`: random init and the run's backbone, side by side.
fn map_section(run: &Path, data: &Path, quiet: bool, html: &mut String) -> Result<String> {
    let _ = write!(
        html,
        "<section><h2>Embedding map</h2><p>Pages of <code>{}</code>, L2-normalised pooled features projected on their two principal components; colours are the folder's classes. precision@10: share of each page's 10 nearest pages (cosine) of its class.</p><div class=\"maps\">",
        escape(&data.display().to_string())
    );
    let mut lines = Vec::new();
    for (name, init) in [
        ("random init", Init::Random),
        ("MoCo", Init::Moco(run.to_path_buf())),
    ] {
        let out = embed_folder(
            data,
            &EmbedConfig {
                init,
                quiet,
                ..Default::default()
            },
        )?;
        let idx = &out.index;
        let (points, explained) = pca_2d(&idx.vectors, idx.dim());
        let labels: Vec<Option<usize>> = idx.meta.rows.iter().map(|r| r.label).collect();
        let p10 = idx
            .labels()
            .filter(|_| idx.len() > 10)
            .map(|l| precision_at_k(&idx.vectors, idx.dim(), &l, 10));
        let title = format!(
            "{name}: PC1 {:.0}% + PC2 {:.0}% of variance{}",
            explained[0] * 100.0,
            explained[1] * 100.0,
            p10.map(|p| format!(", precision@10 {:.1}%", p * 100.0))
                .unwrap_or_default()
        );
        html.push_str(&scatter_svg(
            &title,
            &points,
            &labels,
            &idx.meta.classes,
            420.0,
        ));
        lines.push(format!(
            "{name} map of {} pages{}",
            idx.len(),
            p10.map(|p| format!(" (precision@10 {:.1}%)", p * 100.0))
                .unwrap_or_default()
        ));
    }
    html.push_str("</div></section>");
    Ok(lines.join("; "))
}

/// Writes the report; see the module docs.
pub fn write_report(opts: &ReportOptions) -> Result<ReportSummary> {
    let root = &opts.run_dir;
    if !root.is_dir() {
        bail!("{}: no such run directory", root.display());
    }
    let mut runs: Vec<PathBuf> = Vec::new();
    if is_pretrain(root) || is_classify(root) || is_detect(root) {
        runs.push(root.clone());
    } else {
        let mut subs: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| format!("reading {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && (is_pretrain(p) || is_classify(p) || is_detect(p)))
            .collect();
        subs.sort_by_key(|p| (!is_pretrain(p), p.clone()));
        runs = subs;
    }
    if runs.is_empty() {
        bail!(
            "{}: no pre-training run (metrics.csv + config.toml with [moco]), classification run (metrics.json) or detection run (detector.safetensors) in it or its sub-folders",
            root.display()
        );
    }
    let mut html = String::from(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>docmoco report</title><style>
body{font-family:sans-serif;margin:24px;max-width:1240px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
pre{background:#f6f6f6;padding:8px;font-size:12px}code{font-size:13px}.maps{display:flex;flex-wrap:wrap;gap:8px}
</style></head><body>"#,
    );
    let _ = write!(
        html,
        "<h1>docmoco report: <code>{}</code></h1>",
        escape(&root.display().to_string())
    );
    let mut sections = Vec::new();
    for run in &runs {
        if is_pretrain(run) {
            sections.push(pretrain_section(run, &mut html)?);
        }
    }
    // The map needs a finished pre-training run and labelled pages.
    let pretrain = runs.iter().find(|r| is_pretrain(r));
    let data = opts.data.clone().or_else(|| {
        [root.join("data/cls"), root.join("../data/cls")]
            .into_iter()
            .find(|d| d.is_dir())
    });
    match (pretrain, &data) {
        (Some(run), Some(data)) if run.join("backbone.safetensors").is_file() => {
            sections.push(map_section(run, data, opts.quiet, &mut html)?)
        }
        (Some(run), Some(_)) => {
            let _ = write!(
                html,
                "<p><i>No embedding map: {} has no backbone.safetensors (the run did not finish).</i></p>",
                escape(&run.display().to_string())
            );
        }
        (Some(_), None) => {
            html.push_str("<p><i>No embedding map: pass <code>--data DIR</code> (a labelled page folder) to draw one.</i></p>");
        }
        _ => {}
    }
    for run in &runs {
        if !is_pretrain(run) && is_classify(run) {
            sections.push(classify_section(run, &mut html)?);
        }
    }
    for run in &runs {
        if is_detect(run) {
            sections.push(detect_section(run, &mut html)?);
        }
    }
    html.push_str("</body></html>\n");
    let out = opts.out.clone().unwrap_or_else(|| root.join("report.html"));
    std::fs::write(&out, html).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(ReportSummary {
        path: out,
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn a_pretraining_run_gets_its_curves_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        std::fs::write(run.join("config.toml"), "[moco]\ndim = 128\n").unwrap();
        std::fs::write(
            run.join("metrics.csv"),
            "kind,epoch,step,loss,instance_acc,lr,img_per_s,knn_acc\n\
             epoch,0,0,NaN,NaN,0.03,0.00,0.40\n\
             step,0,1,2.8,1.0,0.03,35.0,\n\
             step,1,2,2.5,1.0,0.02,36.0,\n\
             epoch,1,2,NaN,NaN,0.02,0.00,0.55\n",
        )
        .unwrap();
        let s = write_report(&ReportOptions {
            run_dir: run.to_path_buf(),
            data: None,
            out: None,
            quiet: true,
        })
        .unwrap();
        let html = std::fs::read_to_string(&s.path).unwrap();
        for want in [
            "InfoNCE loss",
            "learning rate",
            "kNN accuracy (%)",
            "throughput (img/s)",
            "40.0% at epoch 0 → 55.0% at epoch 1",
            "dim = 128",
            "pass <code>--data DIR</code>",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
        // Two loss points → a polyline in the first panel.
        assert!(html.matches("<polyline").count() >= 3);
        let e = write_report(&ReportOptions {
            run_dir: run.join("nothing"),
            data: None,
            out: None,
            quiet: true,
        })
        .unwrap_err();
        assert!(e.to_string().contains("nothing"), "{e}");
    }
}
