//! `--init`: where a downstream backbone's weights come from.
//!
//! The reference deployment compared ImageNet-supervised against MoCo-pretrained weights; a
//! fair table also needs the random-init floor. One flag names all three:
//!
//! * `random` — torchvision's initialisation, seeded;
//! * `moco:RUN_DIR` (or `moco:FILE.safetensors`) — the query backbone a `docmoco pretrain`
//!   run exported; the architecture comes from the run's `config.toml`;
//! * `torchvision:FILE` — a `.pth`/`.safetensors` state dict in torchvision's layout (e.g.
//!   ImageNet weights the user downloaded). The architecture is read from the tensor shapes,
//!   and a key prefix (`module.`, `model.`, `module.encoder_q.` of PyTorch MoCo checkpoints)
//!   is found and stripped, as `main_lincls.py` strips `encoder_q.`.
//!
//! Every failure names the file and what did not fit.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::store::{KeyRemapper, ModuleStore, PytorchStore, SafetensorsStore};
use burn::tensor::Device;
use serde::Deserialize;

use crate::model::params::{initialize, seeded_init};
use crate::model::weights::{load_state_dict, load_torchvision, LoadReport, WeightsError};
use crate::model::{Backbone, ResNet, ResNetArch, ResNetConfig, VitConfig};
use crate::train::config::{BackboneParams, VitParams};

/// Errors of resolving and loading an `--init`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("invalid --init `{0}`: expected `random`, `moco:RUN_DIR` (or moco:FILE.safetensors) or `torchvision:FILE` (.pth/.safetensors)")]
    Syntax(String),
    #[error("--init {kind}: {path} does not exist")]
    Missing { kind: &'static str, path: PathBuf },
    #[error("moco run {0} has no backbone.safetensors: the run did not finish (continue it with `docmoco pretrain --resume --out {0}`)")]
    NoBackbone(PathBuf),
    #[error("{path}: cannot read the run configuration: {message}")]
    RunConfig { path: PathBuf, message: String },
    #[error("{path}: no ResNet found in the weights (no `conv1.weight` with 3 input channels among {count} tensors; first keys: {sample})")]
    NotResNet {
        path: PathBuf,
        count: usize,
        sample: String,
    },
    #[error("{path}: the weights are a {file} but the model asked for is a {model} (pass matching --arch/--width-mult/--small-stem, or leave them out to use the file's)")]
    ArchMismatch {
        path: PathBuf,
        file: String,
        model: String,
    },
    #[error("{path}: these are ViT weights; docmoco reads a ViT's shape (heads, patch) from its MoCo v3 run, so pass `--init moco:RUN_DIR` of the run that made them")]
    BareVit { path: PathBuf },
    #[error("{task} needs a ResNet backbone, but {init} is a ViT ({why})")]
    NeedsResNet {
        task: &'static str,
        init: String,
        why: &'static str,
    },
    #[error("the ViT's input size {size} px is not a multiple of its patch size {patch} (set the input size to a multiple of {patch})")]
    VitInputSize { size: usize, patch: usize },
    #[error("{0} applies to ViT backbones only (pass --arch vit_tiny|vit_small|vit_base, or a MoCo v3 ViT run as --init)")]
    VitFlag(&'static str),
    #[error("{0} applies to ResNet backbones only; this backbone is a ViT")]
    ResNetFlag(&'static str),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// Where the backbone's initial weights come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Init {
    Random,
    Moco(PathBuf),
    Torchvision(PathBuf),
}

impl FromStr for Init {
    type Err = InitError;

    fn from_str(s: &str) -> Result<Self, InitError> {
        let s = s.trim();
        let path = |rest: &str| {
            if rest.is_empty() {
                Err(InitError::Syntax(s.to_string()))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if s == "random" {
            Ok(Init::Random)
        } else if let Some(rest) = s.strip_prefix("moco:") {
            Ok(Init::Moco(path(rest)?))
        } else if let Some(rest) = s.strip_prefix("torchvision:") {
            Ok(Init::Torchvision(path(rest)?))
        } else {
            Err(InitError::Syntax(s.to_string()))
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Random => f.write_str("random"),
            Init::Moco(p) => write!(f, "moco:{}", p.display()),
            Init::Torchvision(p) => write!(f, "torchvision:{}", p.display()),
        }
    }
}

impl Init {
    /// Parses a comma-separated list (`random,moco:runs/v2`).
    pub fn parse_list(s: &str) -> Result<Vec<Self>, InitError> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect()
    }

    /// A short name for tables and folder names: `random`, `moco-<run>`, `torchvision-<file>`.
    pub fn label(&self) -> String {
        let name = |p: &Path| {
            let p = if p.file_name().is_some_and(|n| n == "backbone.safetensors") {
                p.parent().unwrap_or(p)
            } else {
                p
            };
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "weights".into())
        };
        match self {
            Init::Random => "random".into(),
            Init::Moco(p) => format!("moco-{}", name(p)),
            Init::Torchvision(p) => format!("torchvision-{}", name(p)),
        }
    }

    /// The weights file, and for MoCo runs the run's `config.toml` when there is one.
    pub fn files(&self) -> Result<Option<(PathBuf, Option<PathBuf>)>, InitError> {
        match self {
            Init::Random => Ok(None),
            Init::Moco(p) => {
                if !p.exists() {
                    return Err(InitError::Missing {
                        kind: "moco",
                        path: p.clone(),
                    });
                }
                let (weights, run) = if p.is_dir() {
                    let w = p.join("backbone.safetensors");
                    if !w.is_file() {
                        return Err(InitError::NoBackbone(p.clone()));
                    }
                    (w, p.clone())
                } else {
                    (
                        p.clone(),
                        p.parent().map(Path::to_path_buf).unwrap_or_default(),
                    )
                };
                let cfg = run.join("config.toml");
                Ok(Some((weights, cfg.is_file().then_some(cfg))))
            }
            Init::Torchvision(p) => {
                if !p.is_file() {
                    return Err(InitError::Missing {
                        kind: "torchvision",
                        path: p.clone(),
                    });
                }
                Ok(Some((p.clone(), None)))
            }
        }
    }
}

/// Architecture flags given on the command line; each replaces what the init implies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchOverrides {
    pub arch: Option<ResNetArch>,
    /// `--arch vit_tiny|vit_small|vit_base`: a ViT (for `random`, or to check a run's shape).
    pub vit: Option<VitParams>,
    /// `--patch-size` of a ViT.
    pub patch_size: Option<usize>,
    pub width_mult: Option<f64>,
    pub small_stem: Option<bool>,
}

/// The architecture of the small runs docmoco's CPU defaults are made for — the
/// `moco-v2-tiny` preset's backbone (read from the preset, so the two cannot drift apart), used
/// for `random` when no MoCo run says otherwise.
pub fn tiny_backbone() -> BackboneParams {
    crate::train::PretrainConfig::preset("moco-v2-tiny")
        .map(|c| c.model)
        .unwrap_or(BackboneParams {
            arch: ResNetArch::Resnet18,
            width_mult: 0.25,
            small_stem: false,
            vit: None,
        })
}

/// `ResNetConfig` of `p` (feature extractor, plain BN).
pub fn resnet_config(p: &BackboneParams) -> ResNetConfig {
    ResNetConfig::new(p.arch)
        .with_width_mult(p.width_mult)
        .with_small_stem(p.small_stem)
}

/// The ViT of `v` for square inputs of `image_size` px, trainable end to end (a downstream
/// task fine-tunes the patch projection that MoCo v3 kept frozen).
pub fn vit_config(v: &VitParams, image_size: usize) -> VitConfig {
    VitConfig::new(v.dim, v.depth, v.heads)
        .with_image_size(image_size)
        .with_patch_size(v.patch_size)
        .with_mlp_ratio(v.mlp_ratio)
}

/// Human-readable architecture, e.g. `resnet18 (widths [16, 32, 64, 128], small stem)` or
/// `ViT 192-d, 12 blocks, 3 heads, patch 16`.
pub fn describe(p: &BackboneParams) -> String {
    if let Some(v) = &p.vit {
        return format!(
            "ViT {}-d, {} blocks, {} heads, patch {}",
            v.dim, v.depth, v.heads, v.patch_size
        );
    }
    format!(
        "{} (widths {:?}, {} stem)",
        p.arch,
        resnet_config(p).widths(),
        if p.small_stem { "small" } else { "standard" }
    )
}

fn same_arch(a: &BackboneParams, b: &BackboneParams) -> bool {
    a.vit.is_none()
        && b.vit.is_none()
        && a.arch == b.arch
        && a.small_stem == b.small_stem
        && resnet_config(a).widths() == resnet_config(b).widths()
}

/// What a weights file holds: the key prefix to strip and the architecture its shapes imply.
#[derive(Clone, Debug)]
pub struct WeightsInfo {
    pub prefix: String,
    pub arch: BackboneParams,
    pub tensors: usize,
}

fn tensor_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, InitError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let read = |message: String| WeightsError::Read {
        path: path.to_path_buf(),
        message,
    };
    let shapes = |all: &BTreeMap<String, burn::store::burn_pack::Tensor>| {
        all.iter()
            .map(|(k, t)| (k.clone(), t.shape.to_vec()))
            .collect()
    };
    match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path);
            let all = store.get_all_tensors().map_err(|e| read(e.to_string()))?;
            Ok(shapes(all))
        }
        "pth" | "pt" => {
            let mut store = PytorchStore::from_file(path);
            let all = store.get_all_tensors().map_err(|e| read(e.to_string()))?;
            Ok(shapes(all))
        }
        _ => Err(WeightsError::Format {
            path: path.to_path_buf(),
        }
        .into()),
    }
}

/// Reads the tensor names and shapes of a torchvision-layout file and infers the prefix and
/// architecture: `layer1.0.conv3` means a bottleneck ResNet-50, a sixth `layer3` block a
/// ResNet-34; the width multiplier is `layer4` width / 512 and a 3x3 `conv1` is the small stem.
pub fn inspect_weights(path: &Path) -> Result<WeightsInfo, InitError> {
    let shapes = tensor_shapes(path)?;
    let mut stems: Vec<(&String, &Vec<usize>)> = shapes
        .iter()
        .filter(|(k, s)| {
            k.ends_with("conv1.weight")
                && !k.contains("layer")
                && s.len() == 4
                && s.get(1) == Some(&3)
        })
        .collect();
    // A PyTorch MoCo checkpoint holds both encoders: the query encoder is the one to use.
    stems.sort_by_key(|(k, _)| (!k.contains("encoder_q"), k.len()));
    let Some((stem_key, stem_shape)) = stems.first() else {
        if shapes.contains_key("cls_token") && shapes.contains_key("pos_embed") {
            return Err(InitError::BareVit {
                path: path.to_path_buf(),
            });
        }
        return Err(InitError::NotResNet {
            path: path.to_path_buf(),
            count: shapes.len(),
            sample: shapes
                .keys()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let prefix = stem_key[..stem_key.len() - "conv1.weight".len()].to_string();
    let has = |k: &str| shapes.contains_key(&format!("{prefix}{k}"));
    let arch = if has("layer1.0.conv3.weight") {
        ResNetArch::Resnet50
    } else if has("layer3.5.conv1.weight") {
        ResNetArch::Resnet34
    } else {
        ResNetArch::Resnet18
    };
    let stem_width = stem_shape[0];
    let small_stem = stem_shape[2] == 3;
    let mut width_mult = stem_width as f64 / 64.0;
    if let Some(s) = shapes.get(&format!("{prefix}layer4.0.conv1.weight")) {
        let from_layer4 = s[0] as f64 / 512.0;
        let candidate = BackboneParams {
            arch,
            width_mult: from_layer4,
            small_stem,
            vit: None,
        };
        if resnet_config(&candidate).widths()[0] == stem_width {
            width_mult = from_layer4;
        }
    }
    Ok(WeightsInfo {
        prefix,
        arch: BackboneParams {
            arch,
            width_mult,
            small_stem,
            vit: None,
        },
        tensors: shapes.len(),
    })
}

#[derive(Deserialize)]
struct RunModel {
    model: BackboneParams,
    #[serde(default)]
    v3: Option<RunV3>,
}

#[derive(Deserialize)]
struct RunV3 {
    #[serde(default)]
    vit: Option<VitParams>,
}

/// The backbone of a pre-training run's `config.toml`: its `[model]` table, or the ViT of its
/// `[v3.vit]` table.
pub fn run_architecture(config: &Path) -> Result<BackboneParams, InitError> {
    let err = |message: String| InitError::RunConfig {
        path: config.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(config).map_err(|e| err(e.to_string()))?;
    let run: RunModel = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let mut model = run.model;
    if let Some(vit) = run.v3.and_then(|v| v.vit) {
        model.vit = Some(VitParams {
            stop_grad_patch_embed: false,
            ..vit
        });
    }
    Ok(model)
}

/// A backbone ready for a downstream task.
#[derive(Debug)]
pub struct LoadedBackbone {
    pub backbone: Backbone,
    pub arch: BackboneParams,
    /// The weights file (none for `random`).
    pub weights: Option<PathBuf>,
    pub report: Option<LoadReport>,
}

/// The architecture `init` implies, with `overrides` applied: the MoCo run's `[model]`, the
/// shapes of a weights file, or `fallback` for `random`.
pub fn resolve_arch(
    init: &Init,
    overrides: &ArchOverrides,
    fallback: &BackboneParams,
) -> Result<BackboneParams, InitError> {
    let mut arch = match init.files()? {
        None => fallback.clone(),
        Some((_, Some(cfg))) => run_architecture(&cfg)?,
        Some((weights, None)) => inspect_weights(&weights)?.arch,
    };
    if let Some(a) = overrides.arch {
        arch.arch = a;
        arch.vit = None;
    }
    if let Some(v) = &overrides.vit {
        let patch = arch.vit.as_ref().map(|old| old.patch_size);
        arch.vit = Some(VitParams {
            patch_size: patch.unwrap_or(v.patch_size),
            ..v.clone()
        });
    }
    if let Some(p) = overrides.patch_size {
        match arch.vit.as_mut() {
            Some(v) => v.patch_size = p,
            None => return Err(InitError::VitFlag("--patch-size")),
        }
    }
    if arch.vit.is_some() {
        if overrides.width_mult.is_some() {
            return Err(InitError::ResNetFlag("--width-mult"));
        }
        if overrides.small_stem.is_some() {
            return Err(InitError::ResNetFlag("--small-stem"));
        }
    }
    if let Some(w) = overrides.width_mult {
        arch.width_mult = w;
    }
    if let Some(s) = overrides.small_stem {
        arch.small_stem = s;
    }
    Ok(arch)
}

/// Builds a `arch` feature extractor on `device` (seeded with `seed`) and loads `init`'s
/// weights into it. Random init draws from burn's generator, so the seed makes it repeatable.
/// `image_size` is the task's input side; only a ViT depends on it (its position embedding).
pub fn load_backbone(
    init: &Init,
    arch: &BackboneParams,
    image_size: usize,
    seed: u64,
    device: &Device,
) -> Result<LoadedBackbone, InitError> {
    device.seed(seed);
    if let Some(vit) = &arch.vit {
        return load_vit(init, arch, vit, image_size, device);
    }
    // Concrete parameter values now, before any clone (see `initialize`), the same on every
    // device (see `seeded_init`).
    let model = seeded_init(seed, device, |d| resnet_config(arch).init(d));
    let Some((weights, _)) = init.files()? else {
        return Ok(LoadedBackbone {
            backbone: Backbone::ResNet(model),
            arch: arch.clone(),
            weights: None,
            report: None,
        });
    };
    let info = inspect_weights(&weights)?;
    if !same_arch(&info.arch, arch) {
        return Err(InitError::ArchMismatch {
            path: weights,
            file: describe(&info.arch),
            model: describe(arch),
        });
    }
    let (backbone, report) = load_torchvision(model, &weights, &info.prefix)?;
    Ok(LoadedBackbone {
        backbone: Backbone::ResNet(backbone),
        arch: arch.clone(),
        weights: Some(weights),
        report: Some(report),
    })
}

/// A ViT, random or from a MoCo v3 run. The file's position embedding is for the
/// pre-training input size; the network is built for that size, loaded (every tensor checked),
/// then given the embedding of the task's size — exact, since the embedding is a fixed function
/// of the grid.
fn load_vit(
    init: &Init,
    arch: &BackboneParams,
    vit: &VitParams,
    image_size: usize,
    device: &Device,
) -> Result<LoadedBackbone, InitError> {
    let patch = vit.patch_size;
    if patch == 0 || !image_size.is_multiple_of(patch) {
        return Err(InitError::VitInputSize {
            size: image_size,
            patch,
        });
    }
    let grid = image_size / patch;
    let Some((weights, _)) = init.files()? else {
        let model = initialize(vit_config(vit, image_size).init(device));
        return Ok(LoadedBackbone {
            backbone: Backbone::Vit(model),
            arch: arch.clone(),
            weights: None,
            report: None,
        });
    };
    let shapes = tensor_shapes(&weights)?;
    let file_grid = match shapes.get("pos_embed").map(Vec::as_slice) {
        Some([1, tokens, d]) if *d == vit.dim && *tokens > 1 => {
            ((tokens - 1) as f64).sqrt().round() as usize
        }
        other => {
            return Err(InitError::ArchMismatch {
                path: weights,
                file: match other {
                    Some(s) => format!("network with pos_embed {s:?}"),
                    None => "file without a ViT pos_embed".into(),
                },
                model: describe(arch),
            })
        }
    };
    let model = initialize(vit_config(vit, file_grid * patch).init(device));
    let (model, report) = load_state_dict(model, &weights, KeyRemapper::default())?;
    Ok(LoadedBackbone {
        backbone: Backbone::Vit(model.with_grid(grid)),
        arch: arch.clone(),
        weights: Some(weights),
        report: Some(report),
    })
}

impl LoadedBackbone {
    /// The ResNet, for tasks built on its feature pyramid (text-line detection).
    pub fn into_resnet(self, task: &'static str, init: &Init) -> Result<ResNet, InitError> {
        match self.backbone {
            Backbone::ResNet(r) => Ok(r),
            Backbone::Vit(_) => Err(InitError::NeedsResNet {
                task,
                init: init.to_string(),
                why: "it builds on the four stages of a ResNet feature pyramid",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds_and_rejects_others() {
        assert_eq!("random".parse::<Init>().unwrap(), Init::Random);
        assert_eq!(
            "moco:runs/v2".parse::<Init>().unwrap(),
            Init::Moco("runs/v2".into())
        );
        assert_eq!(
            "torchvision:r18.pth".parse::<Init>().unwrap(),
            Init::Torchvision("r18.pth".into())
        );
        for bad in ["imagenet", "moco:", "torchvision:", "Random"] {
            let e = bad.parse::<Init>().unwrap_err().to_string();
            assert!(e.contains("expected `random`"), "{bad}: {e}");
        }
        let list = Init::parse_list("random, moco:a/run").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].label(), "moco-run");
        assert_eq!(
            Init::Moco("x/run7/backbone.safetensors".into()).label(),
            "moco-run7"
        );
    }

    #[test]
    fn missing_paths_are_named() {
        let e = Init::Moco("/no/such/run".into()).files().unwrap_err();
        assert!(e.to_string().contains("/no/such/run"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = Init::Moco(dir.path().into()).files().unwrap_err();
        assert!(matches!(e, InitError::NoBackbone(_)), "{e}");
        let e = Init::Torchvision(dir.path().join("r18.pth"))
            .files()
            .unwrap_err();
        assert!(e.to_string().contains("r18.pth"), "{e}");
    }
}
