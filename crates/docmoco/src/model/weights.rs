//! Loading and exporting backbone weights in torchvision's layout.
//!
//! One format serves both directions: docmoco exports the pre-trained query backbone as a
//! torchvision-style state dict in `backbone.safetensors` (PyTorch users can load it with
//! `resnet18().load_state_dict(..., strict=False)`), and the same loader reads torchvision
//! ImageNet weights from a `.pth` or `.safetensors` file — the "ImageNet init" baseline.
//!
//! The only renaming: torchvision's `downsample` is a `Sequential`, so its children are
//! `downsample.0` (conv) and `downsample.1` (BN); docmoco names them `downsample.conv/bn`.
//! `num_batches_tracked` buffers are ignored. Linear weights are transposed by burn's
//! PyTorch adapters (PyTorch stores `[out, in]`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};

use super::resnet::ResNet;

/// Errors of weight loading/saving. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights file {0} does not exist")]
    Missing(PathBuf),
    #[error("{path}: unsupported weights format (expected .pth, .pt or .safetensors)")]
    Format { path: PathBuf },
    #[error("{path}: cannot read weights: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: weights do not fit the model: {details}")]
    Mismatch { path: PathBuf, details: String },
    #[error("{path}: cannot write weights: {message}")]
    Write { path: PathBuf, message: String },
}

pub fn torchvision_to_docmoco(strip_prefix: &str) -> KeyRemapper {
    let mut patterns = Vec::new();
    if !strip_prefix.is_empty() {
        patterns.push((
            format!("^{}(.*)$", regex_escape(strip_prefix)),
            "$1".to_string(),
        ));
    }
    patterns.push((
        r"^(.*)\.downsample\.0\.(.*)$".into(),
        "$1.downsample.conv.$2".into(),
    ));
    patterns.push((
        r"^(.*)\.downsample\.1\.(.*)$".into(),
        "$1.downsample.bn.$2".into(),
    ));
    KeyRemapper::from_patterns(patterns)
        .unwrap_or_else(|_| unreachable!("escaped regexes are valid"))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

pub fn docmoco_to_torchvision() -> KeyRemapper {
    KeyRemapper::from_patterns(vec![
        (r"^(.*)\.downsample\.conv\.(.*)$", "$1.downsample.0.$2"),
        (r"^(.*)\.downsample\.bn\.(.*)$", "$1.downsample.1.$2"),
    ])
    .unwrap_or_else(|_| unreachable!("static regexes are valid"))
}

/// What loading applied; `unused` lists file entries the model had no place for (e.g. `fc.*`
/// when loading into a feature extractor).
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub applied: usize,
    pub unused: Vec<String>,
}

/// Loads a torchvision-layout state dict into `model`; `strip_prefix` removes a key prefix
/// such as `module.encoder_q.` (PyTorch MoCo checkpoints) or `model.` ("" for none).
///
/// Every model tensor must be present with the right shape; missing or mis-shaped tensors are
/// an error that lists them. Extra entries (`fc.*` when `model` has no classifier,
/// `num_batches_tracked`) are reported, not fatal.
pub fn load_torchvision(
    model: ResNet,
    path: &Path,
    strip_prefix: &str,
) -> Result<(ResNet, LoadReport), WeightsError> {
    load_state_dict(model, path, torchvision_to_docmoco(strip_prefix))
}

/// Loads a PyTorch state dict (`.pth`/`.pt`/`.safetensors`) into any module, renaming the
/// file's keys with `remap` first; the checks are those of [`load_torchvision`].
pub fn load_state_dict<M: Module>(
    model: M,
    path: &Path,
    remap: KeyRemapper,
) -> Result<(M, LoadReport), WeightsError> {
    if !path.exists() {
        return Err(WeightsError::Missing(path.to_path_buf()));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut model = model;
    let read_err = |e: String| WeightsError::Read {
        path: path.to_path_buf(),
        message: e,
    };
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .remap(remap)
                .allow_partial(true)
                .validate(false);
            model
                .load_from(&mut store)
                .map_err(|e| read_err(e.to_string()))?
        }
        "pth" | "pt" => {
            let mut store = PytorchStore::from_file(path)
                .remap(remap)
                .map_indices_contiguous(false)
                .allow_partial(true)
                .validate(false);
            model
                .load_from(&mut store)
                .map_err(|e| read_err(e.to_string()))?
        }
        _ => {
            return Err(WeightsError::Format {
                path: path.to_path_buf(),
            })
        }
    };
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(n, _)| n.as_str()).collect();
        problems.push(format!("missing tensors: {}", names.join(", ")));
    }
    for e in &result.errors {
        problems.push(format!("{e:?}"));
    }
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch {
            path: path.to_path_buf(),
            details: problems.join("; "),
        });
    }
    let unused = result
        .unused
        .into_iter()
        .filter(|n| !n.ends_with("num_batches_tracked"))
        .collect();
    Ok((
        model,
        LoadReport {
            applied: result.applied.len(),
            unused,
        },
    ))
}

/// Writes `model`'s weights as a torchvision-layout safetensors file, atomically.
pub fn save_torchvision(model: &ResNet, path: &Path) -> Result<(), WeightsError> {
    save_state_dict(model, path, docmoco_to_torchvision())
}

/// Writes any module as a PyTorch-layout safetensors file (keys renamed by `remap`),
/// atomically.
pub fn save_state_dict<M: Module>(
    model: &M,
    path: &Path,
    remap: KeyRemapper,
) -> Result<(), WeightsError> {
    let tmp = path.with_extension("safetensors.tmp");
    let write_err = |e: String| WeightsError::Write {
        path: path.to_path_buf(),
        message: e,
    };
    let mut store = SafetensorsStore::from_file(&tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remap)
        .overwrite(true);
    model
        .clone()
        .no_grad()
        .save_into(&mut store)
        .map_err(|e| write_err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(e.to_string()))
}
