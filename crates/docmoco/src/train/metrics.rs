//! `metrics.csv`: one row per logged step, one per epoch; readable by any plotting tool.
//!
//! `step` rows: `epoch` is the (0-based) epoch the step belongs to, `step` the number of steps
//! done. `epoch` rows: `epoch` is the number of epochs completed (0 = before training, the
//! random-init kNN baseline), `loss` the epoch's mean loss, `knn_acc` the monitor's accuracy.
//!
//! The shortcut/collapse diagnostic (`ssl::diagnostics`) adds: on MoCo v1/v2 `step` rows the
//! mean `cos_pos` (q·k+), `cos_neg` (q· other pages' queued keys) and `cos_stale` (q· its own
//! page's queued keys); on `epoch` rows the frozen-encoder `frozen_acc`, the key `spread` and
//! effective rank `erank`, and `flags` (`ok`, `shortcut`, `collapse`, `shortcut+collapse`); there
//! the cosine columns hold the frozen measurement: `cos_pos` frozen q·k+, `cos_neg` frozen q·
//! other pages' queued keys (v3, which has no queue: other pages' frozen keys), `cos_stale`
//! frozen q· own page's queued keys (empty for v3).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Column order of `metrics.csv`.
pub const HEADER: &str = "kind,epoch,step,loss,instance_acc,lr,img_per_s,knn_acc,cos_pos,cos_neg,cos_stale,frozen_acc,spread,erank,flags";

/// One row.
#[derive(Clone, Debug, Default)]
pub struct MetricRow {
    /// `step` or `epoch`.
    pub kind: &'static str,
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    pub instance_acc: f64,
    pub lr: f64,
    pub img_per_s: f64,
    pub knn_acc: Option<f64>,
    pub cos_pos: Option<f64>,
    pub cos_neg: Option<f64>,
    pub cos_stale: Option<f64>,
    pub frozen_acc: Option<f64>,
    pub spread: Option<f64>,
    pub erank: Option<f64>,
    pub flags: Option<String>,
}

/// Appends rows, flushing each so a killed run loses nothing it reported.
pub struct MetricsWriter {
    file: File,
    path: PathBuf,
}

impl MetricsWriter {
    /// Opens `path`; when resuming from `resume_step`, rows written after that step by the
    /// interrupted run are dropped so the file reads as one uninterrupted run.
    pub fn open(path: &Path, resume_step: Option<usize>) -> std::io::Result<Self> {
        let mut keep = Vec::new();
        if let (Some(step), true) = (resume_step, path.exists()) {
            for line in BufReader::new(File::open(path)?).lines().skip(1) {
                let line = line?;
                let s: Option<usize> = line.split(',').nth(2).and_then(|v| v.parse().ok());
                if s.is_some_and(|s| s <= step) {
                    keep.push(line);
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        writeln!(file, "{HEADER}")?;
        for line in keep {
            writeln!(file, "{line}")?;
        }
        file.flush()?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, r: &MetricRow) -> std::io::Result<()> {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        writeln!(
            self.file,
            "{},{},{},{:.6},{:.6},{:.8},{:.2},{},{},{},{},{},{},{},{}",
            r.kind,
            r.epoch,
            r.step,
            r.loss,
            r.instance_acc,
            r.lr,
            r.img_per_s,
            opt(r.knn_acc),
            opt(r.cos_pos),
            opt(r.cos_neg),
            opt(r.cos_stale),
            opt(r.frozen_acc),
            opt(r.spread),
            opt(r.erank),
            r.flags.as_deref().unwrap_or("")
        )?;
        self.file.flush()
    }
}

/// Writes a run's effective configuration to `out/config.toml` and opens `out/metrics.csv`
/// (rows after `resume_step` dropped when resuming): how every training loop starts its files.
pub fn start_run_files(
    out: &Path,
    config_toml: &str,
    resume_step: Option<usize>,
) -> anyhow::Result<MetricsWriter> {
    use anyhow::Context as _;
    let config = out.join("config.toml");
    std::fs::write(&config, config_toml)
        .with_context(|| format!("cannot write {}", config.display()))?;
    let csv = out.join("metrics.csv");
    MetricsWriter::open(&csv, resume_step)
        .with_context(|| format!("cannot write {}", csv.display()))
}

/// Reads the `step` rows of a metrics file: `(step, loss)` pairs (for tests and reports).
pub fn read_losses(path: &Path) -> std::io::Result<Vec<(usize, f64)>> {
    let mut out = Vec::new();
    for line in BufReader::new(File::open(path)?).lines().skip(1) {
        let line = line?;
        let cols: Vec<&str> = line.split(',').collect();
        if cols.first() == Some(&"step") {
            if let (Some(s), Some(l)) = (cols.get(2), cols.get(3)) {
                if let (Ok(s), Ok(l)) = (s.parse(), l.parse()) {
                    out.push((s, l));
                }
            }
        }
    }
    Ok(out)
}
