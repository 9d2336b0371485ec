//! `compare-det`: the same detector recipe from several initialisations — the reference
//! deployment's table (ImageNet init vs MoCo init: recall / precision / F1).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use docmoco_det::DetMetrics;

use super::config::DetectConfig;
use super::train::{finetune_det, DetectOptions};
use crate::tasks::init::Init;
use crate::train::checkpoint::write_atomic;

/// One init's runs (one per seed) and their spread.
#[derive(Clone, Debug, Serialize)]
pub struct CompareRow {
    pub init: String,
    pub label: String,
    pub runs: Vec<DetMetrics>,
    pub run_dirs: Vec<PathBuf>,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

impl CompareRow {
    fn stat(&self, f: impl Fn(&DetMetrics) -> f64) -> (f64, f64) {
        mean_std(&self.runs.iter().map(f).collect::<Vec<_>>())
    }
}

/// Trains `base` from every init and seed into `out/<label>-s<seed>/`, evaluating each on
/// `data/test`; writes `out/compare.md` and `out/compare.json`.
pub fn compare_det(
    base: &DetectConfig,
    inits: &[Init],
    seeds: &[u64],
    data: &Path,
    out: &Path,
    quiet: bool,
) -> Result<Vec<CompareRow>> {
    if !data.join("test").is_dir() {
        anyhow::bail!(
            "{}: compare-det needs a test split ({}/test with images/ and gt/)",
            data.display(),
            data.display()
        );
    }
    let mut rows = Vec::new();
    for init in inits {
        let mut row = CompareRow {
            init: init.to_string(),
            label: init.label(),
            runs: Vec::new(),
            run_dirs: Vec::new(),
        };
        for &seed in seeds {
            let mut cfg = base.clone();
            cfg.init = init.to_string();
            cfg.train.seed = seed;
            let dir = out.join(format!("{}-s{seed}", init.label()));
            if !quiet {
                eprintln!("== {} (seed {seed}) -> {}", init, dir.display());
            }
            let summary = finetune_det(
                &cfg,
                &DetectOptions {
                    data_dir: data.to_path_buf(),
                    out_dir: dir.clone(),
                    resume: false,
                    quiet,
                    draw_pages: 3,
                },
            )?;
            if let Some(m) = summary.test {
                row.runs.push(m);
                row.run_dirs.push(dir);
            }
        }
        rows.push(row);
    }
    std::fs::create_dir_all(out)?;
    write_atomic(&out.join("compare.md"), format_table(&rows).as_bytes())?;
    write_atomic(
        &out.join("compare.json"),
        serde_json::to_string_pretty(&rows)?.as_bytes(),
    )?;
    Ok(rows)
}

/// The markdown table: recall / precision / F1 (hmean) per init, mean ± std over seeds.
pub fn format_table(rows: &[CompareRow]) -> String {
    let mut s =
        String::from("| init | runs | recall | precision | F1 (hmean) |\n|---|---|---|---|---|\n");
    for r in rows {
        let f = |(m, sd): (f64, f64)| {
            if r.runs.len() > 1 {
                format!("{m:.4} ± {sd:.4}")
            } else {
                format!("{m:.4}")
            }
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.init,
            r.runs.len(),
            f(r.stat(|m| m.recall)),
            f(r.stat(|m| m.precision)),
            f(r.stat(|m| m.hmean)),
        ));
    }
    s
}
