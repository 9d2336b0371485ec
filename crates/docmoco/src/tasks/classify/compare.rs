//! `compare-cls`: the table the reference deployment reported — the same classifier trained
//! from each initialisation, several seeds each, mean ± standard deviation.
//!
//! `random` gets the architecture of the first MoCo run in the list (else the tiny default),
//! so the random row measures the same network without pre-training; a torchvision file
//! brings its own architecture. Every run is a normal run directory under
//! `OUT/<init>/<mode>/seed<N>/` with its own reports.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::config::{ClassifyConfig, Mode};
use super::finetune::finetune;
use super::probe::linear_probe;
use super::run::{summary_line, ClassifyOptions};
use crate::tasks::init::{resolve_arch, tiny_backbone, ArchOverrides, Init};
use crate::train::checkpoint::write_atomic;
use crate::train::config::BackboneParams;

/// What to compare.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    pub inits: Vec<Init>,
    /// Seeds `0..seeds` for every (init, mode).
    pub seeds: usize,
    pub modes: Vec<Mode>,
    /// Templates (their `init`, `model` and `train.seed` are replaced per run).
    pub probe: ClassifyConfig,
    pub finetune: ClassifyConfig,
    pub overrides: ArchOverrides,
}

/// Mean and sample standard deviation.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
}

/// Mean and sample standard deviation (n − 1; 0 for a single value).
pub fn mean_std(v: &[f64]) -> Stat {
    let n = v.len();
    if n == 0 {
        return Stat {
            mean: f64::NAN,
            std: f64::NAN,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Stat { mean, std }
}

/// Results of one (init, mode) over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub mode: Mode,
    pub accuracy: Vec<f64>,
    pub macro_f1: Vec<f64>,
    pub accuracy_stat: Stat,
    pub macro_f1_stat: Stat,
}

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub init: String,
    pub label: String,
    pub arch: String,
    pub cells: Vec<Cell>,
}

/// The whole comparison (`comparison.json`); [`Comparison::markdown`] is the table.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub seeds: usize,
    pub data: PathBuf,
    pub n_test: usize,
    pub input: String,
}

fn arch_name(p: &BackboneParams) -> String {
    if let Some(v) = &p.vit {
        return format!("ViT {}-d ×{}, patch {}", v.dim, v.depth, v.patch_size);
    }
    let mut s = p.arch.to_string();
    if p.width_mult != 1.0 {
        let _ = write!(s, " ×{}", p.width_mult);
    }
    if p.small_stem {
        s.push_str(", small stem");
    }
    s
}

impl Comparison {
    /// The Markdown table: accuracy and macro-F1 in %, mean ± std over seeds.
    pub fn markdown(&self) -> String {
        let modes: Vec<Mode> = self
            .rows
            .first()
            .map(|r| r.cells.iter().map(|c| c.mode).collect())
            .unwrap_or_default();
        let mut s = String::from("| init | backbone |");
        let mut rule = String::from("|---|---|");
        for m in &modes {
            let name = match m {
                Mode::Probe => "linear probe",
                Mode::Finetune => "fine-tune",
            };
            let _ = write!(s, " {name} acc % | {name} macro-F1 % |");
            rule.push_str("---:|---:|");
        }
        s.push('\n');
        s.push_str(&rule);
        s.push('\n');
        for r in &self.rows {
            let _ = write!(s, "| {} | {} |", r.label, r.arch);
            for c in &r.cells {
                let f = |st: Stat| format!("{:.1} ± {:.1}", st.mean * 100.0, st.std * 100.0);
                let _ = write!(s, " {} | {} |", f(c.accuracy_stat), f(c.macro_f1_stat));
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "\n{} seed(s) per cell (mean ± sample std); test split: {} pages of {}; input {}.",
            self.seeds,
            self.n_test,
            self.data.display(),
            self.input
        );
        s
    }
}

/// Runs every (init, mode, seed) and writes `comparison.md` and `comparison.json` into
/// `opts.out_dir`.
pub fn compare(cfg: &CompareConfig, opts: &ClassifyOptions) -> Result<Comparison> {
    // The network `random` is compared on: that of the first MoCo run listed.
    let mut fallback = tiny_backbone();
    if let Some(m) = cfg.inits.iter().find(|i| matches!(i, Init::Moco(_))) {
        fallback = resolve_arch(m, &cfg.overrides, &tiny_backbone())?;
    }
    let mut rows = Vec::new();
    let mut n_test = 0;
    for init in &cfg.inits {
        let arch = resolve_arch(init, &cfg.overrides, &fallback)?;
        let mut cells = Vec::new();
        for &mode in &cfg.modes {
            let (mut acc, mut f1) = (Vec::new(), Vec::new());
            for seed in 0..cfg.seeds as u64 {
                let mut c = match mode {
                    Mode::Probe => cfg.probe.clone(),
                    Mode::Finetune => cfg.finetune.clone(),
                };
                c.init = init.to_string();
                c.model = arch.clone();
                c.train.seed = seed;
                let run_opts = ClassifyOptions {
                    data: opts.data.clone(),
                    out_dir: opts
                        .out_dir
                        .join(init.label())
                        .join(mode.to_string())
                        .join(format!("seed{seed}")),
                    quiet: true,
                };
                let report = match mode {
                    Mode::Probe => linear_probe(&c, &run_opts)?,
                    Mode::Finetune => finetune(&c, &run_opts)?,
                };
                if !opts.quiet {
                    eprintln!("{}", summary_line(&report, &run_opts.out_dir));
                }
                n_test = report.metrics.n_test;
                acc.push(report.metrics.accuracy);
                f1.push(report.metrics.macro_f1);
            }
            cells.push(Cell {
                mode,
                accuracy_stat: mean_std(&acc),
                macro_f1_stat: mean_std(&f1),
                accuracy: acc,
                macro_f1: f1,
            });
        }
        rows.push(Row {
            init: init.to_string(),
            label: init.label(),
            arch: arch_name(&arch),
            cells,
        });
    }
    let input = &cfg.finetune.input;
    let comparison = Comparison {
        rows,
        seeds: cfg.seeds,
        data: opts.data.clone(),
        n_test,
        input: format!(
            "{} px, {}",
            input.size,
            match input.resize {
                super::config::Resize::Squash => "page squashed",
                super::config::Resize::Pad => "page padded",
            }
        ),
    };
    std::fs::create_dir_all(&opts.out_dir)?;
    write_atomic(
        &opts.out_dir.join("comparison.md"),
        comparison.markdown().as_bytes(),
    )?;
    write_atomic(
        &opts.out_dir.join("comparison.json"),
        serde_json::to_string_pretty(&comparison)?.as_bytes(),
    )?;
    Ok(comparison)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let s = mean_std(&[0.5, 0.7, 0.9]);
        assert!((s.mean - 0.7).abs() < 1e-12);
        assert!((s.std - 0.2).abs() < 1e-12);
        assert_eq!(mean_std(&[0.4]).std, 0.0);
    }
}
