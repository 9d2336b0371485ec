//! What the probe and fine-tuning share: preparing the splits, and finishing a run (save the
//! classifier, read it back, evaluate it on the test split, write the reports).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::Device;

use super::config::ClassifyConfig;
use super::data::{decode_split, eval_loader, long_side, open_splits, Split};
use super::model::{load_classifier, predict_loader, save_classifier, Classifier, ClassifierMeta};
use super::report::{evaluate, write_reports, EpochRecord, RunReport};

/// How to run (not part of the configuration).
#[derive(Clone, Debug, Default)]
pub struct ClassifyOptions {
    /// Labelled data: `train/` + `test/` (+ `val/`) ImageFolders, or one ImageFolder.
    pub data: PathBuf,
    pub out_dir: PathBuf,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
}

/// The decoded splits of a run.
pub struct Prepared {
    pub classes: Vec<String>,
    pub train: Split,
    pub val: Option<Split>,
    pub test: Split,
}

/// Opens and decodes the data, writes `config.toml`.
pub fn prepare(cfg: &ClassifyConfig, opts: &ClassifyOptions, with_val: bool) -> Result<Prepared> {
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("cannot create run dir {}", opts.out_dir.display()))?;
    crate::train::checkpoint::write_atomic(
        &opts.out_dir.join("config.toml"),
        cfg.to_toml().as_bytes(),
    )?;
    let splits = open_splits(
        &opts.data,
        with_val.then_some(cfg.train.val_fraction),
        cfg.train.seed,
    )?;
    if splits.classes.len() < 2 {
        bail!(
            "{}: only one class ({:?}): classification needs at least two",
            opts.data.display(),
            splits.classes
        );
    }
    if !opts.quiet {
        eprintln!(
            "classes {:?}; train {} ({}), val {} ({}), test {} ({})",
            splits.classes,
            splits.train.len(),
            splits.sources[0],
            splits.val.len(),
            if splits.val.is_empty() {
                "none"
            } else {
                &splits.sources[1]
            },
            splits.test.len(),
            splits.sources[2]
        );
    }
    let ls = long_side(&cfg.input, &cfg.augment);
    let train = decode_split(&splits.train, ls, opts.quiet, "train")?;
    let val = if splits.val.is_empty() {
        None
    } else {
        Some(decode_split(&splits.val, ls, opts.quiet, "val")?)
    };
    let test = decode_split(&splits.test, ls, opts.quiet, "test")?;
    Ok(Prepared {
        classes: splits.classes,
        train,
        val,
        test,
    })
}

/// A check run on the saved-and-read-back model (the probe's frozen-backbone check).
pub type ModelCheck<'a> = &'a dyn Fn(&Classifier) -> Result<()>;

/// How training went, for the report.
pub struct TrainOutcome {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub val_accuracy: Option<f64>,
    pub started: Instant,
}

/// Saves `model`, reads it back exactly as `predict-cls` will, evaluates
/// the read-back model on the test split and writes every report. `check` runs on the
/// read-back model first (the probe's frozen-backbone check).
pub fn finish(
    cfg: &ClassifyConfig,
    opts: &ClassifyOptions,
    data: &Prepared,
    model: &Classifier,
    outcome: TrainOutcome,
    check: Option<ModelCheck<'_>>,
    device: &Device,
) -> Result<RunReport> {
    let meta = ClassifierMeta {
        classes: data.classes.clone(),
        model: cfg.model.clone(),
        input: cfg.input.clone(),
        mode: cfg.mode,
        init: cfg.init.clone(),
    };
    save_classifier(&opts.out_dir, model, &meta)?;
    let (saved, _) = load_classifier(&opts.out_dir, device)?;
    let backbone_unchanged = match check {
        Some(f) => {
            f(&saved)?;
            Some(true)
        }
        None => None,
    };
    let loader = eval_loader(
        &data.test,
        &cfg.input,
        cfg.train.batch_size,
        cfg.train.workers,
    )?;
    let preds = predict_loader(&saved, &loader, device)?;
    let (metrics, misses) = evaluate(&preds, &data.classes, &data.test.names)?;
    let report = RunReport {
        metrics,
        mode: cfg.mode.to_string(),
        init: cfg.init.clone(),
        val_accuracy: outcome.val_accuracy,
        best_epoch: outcome.best_epoch,
        epochs_run: outcome.history.len(),
        n_train: data.train.len(),
        n_val: data.val.as_ref().map_or(0, Split::len),
        train_seconds: outcome.started.elapsed().as_secs_f64(),
        backbone_unchanged,
    };
    write_reports(&opts.out_dir, &report, &misses, &outcome.history)?;
    Ok(report)
}

/// A one-line summary of a finished run.
pub fn summary_line(r: &RunReport, dir: &Path) -> String {
    format!(
        "{} {}: test accuracy {:.1}%, macro-F1 {:.1}% on {} pages ({:.0} s) → {}",
        r.mode,
        r.init,
        r.metrics.accuracy * 100.0,
        r.metrics.macro_f1 * 100.0,
        r.metrics.n_test,
        r.train_seconds,
        dir.display()
    )
}
