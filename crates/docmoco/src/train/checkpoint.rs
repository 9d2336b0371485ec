//! Checkpoints that survive a kill at any moment.
//!
//! A checkpoint is a directory `checkpoints/step-NNNNNNNN/` holding
//! - `encoder_q.safetensors`, `encoder_k.safetensors`: both encoders with BN running stats;
//! - `state.safetensors`: the queue and the optimiser's momentum buffers (`sgd.<path>`);
//! - `state.json`: position (epoch, step), queue pointer, and the effective config.
//!
//! It is written into a temporary directory and renamed into place (atomic on one file
//! system); `checkpoints/latest` (also replaced atomically) names the newest complete one.
//! The data order and augmentation are pure functions of (seed, epoch, index), and the shuffle-BN
//! permutation of (seed, step), so position + seed is the whole random state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::model::Encoder;

/// Errors reading or writing checkpoints; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: checkpoint is incomplete or does not fit the model: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no checkpoint found in {0} (nothing to resume)")]
    NoCheckpoint(PathBuf),
}

fn io(path: &Path, e: impl ToString) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Where training stands; enough to continue exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainPosition {
    /// Optimisation steps done so far.
    pub step: usize,
    /// Epoch of the next step.
    pub epoch: usize,
    /// Batch index of the next step within `epoch`.
    pub step_in_epoch: usize,
}

/// The non-tensor part of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub position: TrainPosition,
    pub queue_ptr: usize,
    /// The run's effective configuration (TOML), for the record.
    pub config_toml: String,
    /// Best kNN accuracy so far (when monitored).
    pub best_knn: Option<f64>,
    /// Page of each queue column (-1 unknown), for the shortcut diagnostic; absent in
    /// checkpoints written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_ids: Option<Vec<i64>>,
}

/// Everything a checkpoint holds, in memory.
pub struct Checkpoint {
    pub encoder_q: Encoder,
    pub encoder_k: Encoder,
    pub queue: Tensor<2>,
    pub sgd_buffers: BTreeMap<String, Tensor<1>>,
    pub meta: CheckpointMeta,
}

pub(crate) fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), CheckpointError> {
    let mut store = SafetensorsStore::from_file(path).overwrite(true);
    module.save_into(&mut store).map_err(|e| io(path, e))
}

/// Loads `path` into `module`; every tensor of the module must be in the file.
pub fn load_module<M: Module>(mut module: M, path: &Path) -> Result<M, CheckpointError> {
    let mut store = SafetensorsStore::from_file(path);
    let result = module
        .load_from(&mut store)
        .map_err(|e| CheckpointError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(CheckpointError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "missing {:?}, errors {:?}",
                result.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
                result.errors
            ),
        });
    }
    Ok(module)
}

fn tensor_bytes(t: Tensor<1>) -> Vec<u8> {
    let v = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A checkpoint directory being written. Files go into a temporary sibling that
/// [`StepDirWriter::commit`] renames into place, so a kill at any moment leaves either the
/// previous checkpoint or the new one, never half of one. Every run kind (pre-training,
/// detection) writes its checkpoints through this.
pub struct StepDirWriter {
    dir: PathBuf,
    tmp: PathBuf,
    name: String,
}

impl StepDirWriter {
    /// Starts `dir/step-NNNNNNNN`.
    pub fn begin(dir: &Path, step: usize) -> Result<Self, CheckpointError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let name = format!("step-{step:08}");
        let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            tmp,
            name,
        })
    }

    /// A module (parameters and BN running statistics) as `file`.
    pub fn module<M: Module>(&self, file: &str, module: &M) -> Result<(), CheckpointError> {
        save_module(module, &self.tmp.join(file))
    }

    /// Plain named f32 tensors `(name, shape, values flattened)` as one safetensors `file`.
    pub fn tensors(
        &self,
        file: &str,
        tensors: Vec<(String, Vec<usize>, Tensor<1>)>,
    ) -> Result<(), CheckpointError> {
        let named: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(n, shape, t)| (n, shape, tensor_bytes(t)))
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = named
            .iter()
            .map(|(n, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (n.clone(), v))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| io(&self.tmp, e))?;
        let path = self.tmp.join(file);
        safetensors::serialize_to_file(views, None, &path).map_err(|e| io(&path, e))
    }

    /// A serialisable value as pretty JSON `file`.
    pub fn json<T: Serialize>(&self, file: &str, value: &T) -> Result<(), CheckpointError> {
        let path = self.tmp.join(file);
        let json = serde_json::to_string_pretty(value).map_err(|e| io(&path, e))?;
        std::fs::write(&path, json).map_err(|e| io(&path, e))
    }

    /// Renames the directory into place, points `latest` at it and keeps the `keep` newest.
    pub fn commit(self, keep: usize) -> Result<PathBuf, CheckpointError> {
        let final_dir = self.dir.join(&self.name);
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(|e| io(&final_dir, e))?;
        }
        std::fs::rename(&self.tmp, &final_dir).map_err(|e| io(&final_dir, e))?;
        write_atomic(&self.dir.join("latest"), self.name.as_bytes())?;
        prune(&self.dir, keep)?;
        Ok(final_dir)
    }
}

/// Reads a JSON file written by [`StepDirWriter::json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a file written by [`StepDirWriter::tensors`]: name → (shape, flattened tensor).
pub fn read_tensors(
    path: &Path,
    device: &Device,
) -> Result<BTreeMap<String, (Vec<usize>, Tensor<1>)>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let st =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| CheckpointError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let n = values.len();
        let t = Tensor::<1>::from_data(TensorData::new(values, [n]), device);
        out.insert(name.to_string(), (view.shape().to_vec(), t));
    }
    Ok(out)
}

/// Writes a MoCo checkpoint for `step` under `dir` (the run's `checkpoints/`), atomically,
/// and keeps only the `keep` newest.
pub fn save(dir: &Path, ckpt: &Checkpoint, keep: usize) -> Result<PathBuf, CheckpointError> {
    let w = StepDirWriter::begin(dir, ckpt.meta.position.step)?;
    w.module("encoder_q.safetensors", &ckpt.encoder_q)?;
    w.module("encoder_k.safetensors", &ckpt.encoder_k)?;
    // Queue and optimiser state in one plain safetensors file.
    let [dim, k] = ckpt.queue.dims();
    let mut named = vec![(
        "queue".to_string(),
        vec![dim, k],
        ckpt.queue.clone().reshape([dim * k]),
    )];
    named.extend(sgd_entries(&ckpt.sgd_buffers));
    w.tensors("state.safetensors", named)?;
    w.json("state.json", &ckpt.meta)?;
    w.commit(keep)
}

/// SGD momentum buffers as checkpoint entries `sgd.<path>`.
pub fn sgd_entries(buffers: &BTreeMap<String, Tensor<1>>) -> Vec<(String, Vec<usize>, Tensor<1>)> {
    buffers
        .iter()
        .map(|(p, b)| (format!("sgd.{p}"), vec![b.dims()[0]], b.clone()))
        .collect()
}

/// The SGD momentum buffers among checkpoint entries read by [`read_tensors`].
pub fn sgd_buffers(
    entries: &BTreeMap<String, (Vec<usize>, Tensor<1>)>,
) -> BTreeMap<String, Tensor<1>> {
    entries
        .iter()
        .filter_map(|(n, (_, t))| n.strip_prefix("sgd.").map(|p| (p.to_string(), t.clone())))
        .collect()
}

/// Replaces `path` with `bytes` via a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn prune(dir: &Path, keep: usize) -> Result<(), CheckpointError> {
    let mut steps: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    steps.sort();
    let excess = steps.len().saturating_sub(keep.max(1));
    for p in steps.into_iter().take(excess) {
        std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// The checkpoint a run continues from: the newest under `dir` when `resume`, none
/// otherwise; resuming without any checkpoint is an error naming `dir`.
pub fn resume_point(dir: &Path, resume: bool) -> Result<Option<PathBuf>, CheckpointError> {
    if !resume {
        return Ok(None);
    }
    latest(dir)
        .map(Some)
        .ok_or_else(|| CheckpointError::NoCheckpoint(dir.to_path_buf()))
}

/// The newest complete checkpoint under `dir`, if any.
pub fn latest(dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(dir.join("latest")).ok()?;
    let p = dir.join(name.trim());
    p.join("state.json").exists().then_some(p)
}

/// Reads a MoCo checkpoint into encoders shaped like `template_q`/`template_k`.
pub fn load(
    path: &Path,
    template_q: Encoder,
    template_k: Encoder,
    device: &Device,
) -> Result<Checkpoint, CheckpointError> {
    let meta: CheckpointMeta = read_json(&path.join("state.json"))?;
    let encoder_q = load_module(template_q, &path.join("encoder_q.safetensors"))?;
    let encoder_k = load_module(template_k, &path.join("encoder_k.safetensors"))?;
    let state_path = path.join("state.safetensors");
    let entries = read_tensors(&state_path, device)?;
    let (shape, queue) = entries
        .get("queue")
        .cloned()
        .ok_or_else(|| CheckpointError::Invalid {
            path: state_path.clone(),
            message: "no `queue` tensor".into(),
        })?;
    let queue = queue.reshape([shape[0], shape[1]]);
    Ok(Checkpoint {
        encoder_q,
        encoder_k,
        queue,
        sgd_buffers: sgd_buffers(&entries),
        meta,
    })
}
