//! What a classification run writes into `RUN_DIR`: `metrics.json`, `confusion.csv`,
//! `confusion.png`, `misclassified.csv` and `history.csv`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::confusion_png::write_confusion_png;
use super::metrics::{argmax, compute, Metrics};
use super::model::Predictions;
use crate::train::checkpoint::write_atomic;

/// One epoch of training, as `history.csv` rows.
#[derive(Clone, Debug, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// `NaN` when there is no validation split.
    pub val_accuracy: f64,
    pub val_loss: f64,
}

/// `metrics.json`: the test metrics and how the run went.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub metrics: Metrics,
    pub mode: String,
    pub init: String,
    /// Accuracy on the validation split at the chosen epoch (fine-tuning).
    pub val_accuracy: Option<f64>,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub n_train: usize,
    pub n_val: usize,
    pub train_seconds: f64,
    /// Probe: the backbone read back from the saved model equals the initial weights.
    pub backbone_unchanged: Option<bool>,
}

/// A misclassified test page.
#[derive(Clone, Debug, Serialize)]
pub struct Miss {
    pub file: String,
    pub truth: String,
    pub predicted: String,
    pub probability: f32,
}

/// Metrics and misclassified pages of `preds` (names: one per loader index).
pub fn evaluate(
    preds: &Predictions,
    classes: &[String],
    names: &[String],
) -> Result<(Metrics, Vec<Miss>)> {
    let predicted: Vec<usize> = preds.probs.iter().map(|p| argmax(p)).collect();
    let metrics = compute(&preds.labels, &predicted, classes).map_err(anyhow::Error::msg)?;
    let mut misses: Vec<Miss> = preds
        .labels
        .iter()
        .zip(&predicted)
        .enumerate()
        .filter(|(_, (t, p))| t != p)
        .map(|(row, (&t, &p))| Miss {
            file: names.get(preds.indices[row]).cloned().unwrap_or_default(),
            truth: classes[t].clone(),
            predicted: classes[p].clone(),
            probability: preds.probs[row][p],
        })
        .collect();
    // Most confident mistakes first: they are the interesting ones to look at.
    misses.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    Ok((metrics, misses))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The confusion matrix as CSV: header `true\predicted,<classes>`, one row per true class.
pub fn confusion_csv(m: &Metrics) -> String {
    let mut s = String::from("true\\predicted");
    for c in &m.classes {
        let _ = write!(s, ",{}", csv_field(c));
    }
    s.push('\n');
    for (c, row) in m.classes.iter().zip(&m.confusion) {
        s.push_str(&csv_field(c));
        for v in row {
            let _ = write!(s, ",{v}");
        }
        s.push('\n');
    }
    s
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes every report file of a finished run into `dir`.
pub fn write_reports(
    dir: &Path,
    report: &RunReport,
    misses: &[Miss],
    history: &[EpochRecord],
) -> Result<()> {
    write(
        &dir.join("metrics.json"),
        &serde_json::to_string_pretty(report)?,
    )?;
    write(&dir.join("confusion.csv"), &confusion_csv(&report.metrics))?;
    write_confusion_png(&report.metrics, &dir.join("confusion.png"))?;
    let mut s = String::from("file,true,predicted,probability\n");
    for m in misses {
        let _ = writeln!(
            s,
            "{},{},{},{:.4}",
            csv_field(&m.file),
            csv_field(&m.truth),
            csv_field(&m.predicted),
            m.probability
        );
    }
    write(&dir.join("misclassified.csv"), &s)?;
    let mut h = String::from("epoch,lr,train_loss,train_accuracy,val_accuracy,val_loss\n");
    for r in history {
        let _ = writeln!(
            h,
            "{},{:.6e},{:.5},{:.4},{:.4},{:.5}",
            r.epoch, r.lr, r.train_loss, r.train_accuracy, r.val_accuracy, r.val_loss
        );
    }
    write(&dir.join("history.csv"), &h)
}
