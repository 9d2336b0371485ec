//! `predict-cls`: class and probability of new pages under a trained classifier, with the
//! exact input mapping (size, squash/pad) the classifier was trained with.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use docmoco_data::sources::{file_kind, probe_file};
use docmoco_data::{scan_pages, PageRef};

use super::data::{decode_split, eval_loader, page_name};
use super::metrics::argmax;
use super::model::{load_classifier, predict_loader};

/// The prediction for one page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Prediction {
    pub file: String,
    pub class: String,
    pub probability: f32,
    /// Probability of every class, in class order.
    pub probabilities: Vec<f32>,
}

/// Pages of `inputs`: image files, every page of a PDF, every page found under a folder.
fn pages_of(inputs: &[PathBuf]) -> Result<Vec<PageRef>> {
    let mut pages = Vec::new();
    for p in inputs {
        if p.is_dir() {
            pages.extend(scan_pages(p)?.pages);
        } else if !p.exists() {
            bail!("{} does not exist", p.display());
        } else {
            let kind = file_kind(p)
                .with_context(|| format!("{}: not an image or PDF file", p.display()))?;
            pages.extend(probe_file(p, kind).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?);
        }
    }
    if pages.is_empty() {
        bail!("no pages to classify");
    }
    Ok(pages)
}

/// Classifies every page of `inputs` with the classifier in `run_dir`. Pages that cannot be
/// decoded are skipped with a warning.
pub fn predict(run_dir: &Path, inputs: &[PathBuf], device: &Device) -> Result<Vec<Prediction>> {
    let (model, meta) = load_classifier(run_dir, device)?;
    let samples: Vec<(PageRef, usize)> = pages_of(inputs)?.into_iter().map(|p| (p, 0)).collect();
    let long_side = meta.input.size.max(super::data::long_side(
        &meta.input,
        &super::config::AugmentParams::off(),
    ));
    let split = decode_split(&samples, long_side, true, "pages")?;
    let loader = eval_loader(&split, &meta.input, 32, 0)?;
    let preds = predict_loader(&model, &loader, device)?;
    Ok(preds
        .probs
        .into_iter()
        .zip(preds.indices)
        .map(|(probs, i)| {
            let c = argmax(&probs);
            Prediction {
                file: split.cache.page_ref(i).map(page_name).unwrap_or_default(),
                class: meta.classes[c].clone(),
                probability: probs[c],
                probabilities: probs,
            }
        })
        .collect())
}
