//! The detector's weights in the reference DBNet state-dict layout.
//!
//! `detector.safetensors` in a detection run is a plain PyTorch-style state dict:
//!
//! | docmoco module path                 | file key (MhLiao/DB `SegDetectorModel`)        |
//! |-------------------------------------|------------------------------------------------|
//! | `backbone.<torchvision name>`       | `backbone.<torchvision name>` (`downsample.0/1`) |
//! | `head.in2..in5.weight`              | `decoder.in2..in5.weight`                      |
//! | `head.out5/out4/out3.weight`        | `decoder.out5/out4/out3.0.weight` (conv + upsample) |
//! | `head.out2.weight`                  | `decoder.out2.weight`                          |
//! | `head.{binarize,thresh}.conv`       | `decoder.{binarize,thresh}.0`                  |
//! | `…bn1` / `…deconv1` / `…bn2` / `…deconv2` | `….1` / `….3` / `….4` / `….6`            |
//!
//! Conv weights are `[out, in, kh, kw]`, transposed-conv weights `[in, out, kh, kw]`, BN
//! tensors `weight/bias/running_mean/running_var`, all float32 — what `torch.load_state_dict`
//! of the reference model expects (without the `module.model.` DataParallel prefix). ONNX
//! is one step further: burn 0.22 reads ONNX but cannot write it, so `tools/export_onnx.py`
//! rebuilds the network in PyTorch, loads this file with `strict=True` and exports the
//! probability map with dynamic height and width — the input the Rust OCR crates' ONNX
//! DBNet inference path takes.

use std::path::Path;

use burn::store::KeyRemapper;

use super::model::DbNet;
use crate::model::weights::{load_state_dict, save_state_dict, LoadReport, WeightsError};

const HEAD_SEQ: [(&str, &str); 5] = [
    ("conv", "0"),
    ("bn1", "1"),
    ("deconv1", "3"),
    ("bn2", "4"),
    ("deconv2", "6"),
];

/// File keys (reference layout) → docmoco module paths.
pub fn reference_to_docmoco() -> KeyRemapper {
    let mut p: Vec<(String, String)> =
        vec![(r"^decoder\.out([345])\.0\.".into(), "head.out$1.".into())];
    for (ours, theirs) in HEAD_SEQ {
        p.push((
            format!(r"^decoder\.(binarize|thresh)\.{theirs}\."),
            format!("head.$1.{ours}."),
        ));
    }
    p.push((r"^decoder\.".into(), "head.".into()));
    p.push((r"\.downsample\.0\.".into(), ".downsample.conv.".into()));
    p.push((r"\.downsample\.1\.".into(), ".downsample.bn.".into()));
    KeyRemapper::from_patterns(p).unwrap_or_else(|_| unreachable!("static regexes are valid"))
}

/// docmoco module paths → file keys (reference layout).
pub fn docmoco_to_reference() -> KeyRemapper {
    let mut p: Vec<(String, String)> =
        vec![(r"^head\.out([345])\.".into(), "decoder.out$1.0.".into())];
    for (ours, theirs) in HEAD_SEQ {
        p.push((
            format!(r"^head\.(binarize|thresh)\.{ours}\."),
            format!("decoder.$1.{theirs}."),
        ));
    }
    p.push((r"^head\.".into(), "decoder.".into()));
    p.push((r"\.downsample\.conv\.".into(), ".downsample.0.".into()));
    p.push((r"\.downsample\.bn\.".into(), ".downsample.1.".into()));
    KeyRemapper::from_patterns(p).unwrap_or_else(|_| unreachable!("static regexes are valid"))
}

/// Writes `model` in the reference layout (atomically).
pub fn save_detector(model: &DbNet, path: &Path) -> Result<(), WeightsError> {
    save_state_dict(model, path, docmoco_to_reference())
}

/// Loads a reference-layout state dict (docmoco's own export, or a PyTorch DBNet with a
/// ResNet backbone of the same shape) into `model`.
pub fn load_detector(model: DbNet, path: &Path) -> Result<(DbNet, LoadReport), WeightsError> {
    load_state_dict(model, path, reference_to_docmoco())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::detect::config::DetectConfig;
    use crate::tasks::detect::train::build_detector;
    use crate::tasks::init::tiny_backbone;
    use burn::module::Module;
    use burn::tensor::{Device, Distribution, Tensor};

    /// Saving renames docmoco paths to the reference layout and loading renames them back:
    /// the two remappers must be inverse, every tensor included, for PyTorch to read the
    /// file (`tools/export_onnx.py` loads it with `strict=True`).
    #[test]
    fn export_round_trips_every_tensor() {
        let device = Device::flex();
        let mut model = tiny_backbone();
        model.width_mult = 0.125;
        let mut cfg = DetectConfig::dbnet("random", model);
        cfg.head.inner_channels = 16;
        let a = build_detector(&cfg, &device).unwrap().valid();
        cfg.train.seed = 1;
        let b = build_detector(&cfg, &device).unwrap().valid();
        let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
        assert_ne!(
            a.forward_prob(x.clone()).into_data(),
            b.forward_prob(x.clone()).into_data(),
            "two seeds give two different detectors"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detector.safetensors");
        save_detector(&a, &path).unwrap();
        let (b, report) = load_detector(b, &path).unwrap();
        assert!(report.unused.is_empty(), "{:?}", report.unused);
        assert_eq!(
            a.forward_prob(x.clone()).into_data(),
            b.forward_prob(x).into_data()
        );
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let names: Vec<String> = st.names().into_iter().map(String::from).collect();
        for key in [
            "backbone.layer2.0.downsample.0.weight",
            "backbone.layer2.0.downsample.1.running_var",
            "decoder.out5.0.weight",
            "decoder.out2.weight",
            "decoder.binarize.0.weight",
            "decoder.binarize.3.bias",
            "decoder.thresh.6.weight",
        ] {
            assert!(names.iter().any(|n| n == key), "{key} missing: {names:?}");
        }
    }
}
