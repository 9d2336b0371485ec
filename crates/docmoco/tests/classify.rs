//! Document classification downstream of pre-training: metrics against hand-computed cases,
//! the frozen-backbone guarantee of the linear probe, torchvision key mapping, a tiny
//! fine-tune + predict round trip, and one clear error per bad input.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use docmoco::model::params::named_tensors;
use docmoco::model::{FeatureExtractor, ResNetArch};
use docmoco::tasks::classify::metrics::{argmax, compute};
use docmoco::tasks::classify::model::{new_head, Classifier};
use docmoco::tasks::classify::probe::{check_frozen, snapshot};
use docmoco::tasks::classify::{
    finetune, linear_probe, predict, ClassifyConfig, ClassifyOptions, Resize,
};
use docmoco::tasks::init::{inspect_weights, load_backbone, resolve_arch, ArchOverrides, Init};
use docmoco::train::config::BackboneParams;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

/// The fixture's network: ResNet-18, widths [4, 8, 16, 32], standard stem.
fn tiny18() -> BackboneParams {
    BackboneParams {
        arch: ResNetArch::Resnet18,
        width_mult: 4.0 / 64.0,
        small_stem: false,
        vit: None,
    }
}

fn micro() -> BackboneParams {
    BackboneParams {
        arch: ResNetArch::Resnet18,
        width_mult: 1.0 / 16.0,
        small_stem: true,
        vit: None,
    }
}

#[test]
fn metrics_match_hand_computed_values_with_an_absent_class() {
    // 4 classes; class 3 is neither in the test set nor predicted.
    let truth = [0, 0, 0, 1, 1, 2];
    let pred = [0, 0, 1, 1, 2, 2];
    let m = compute(&truth, &pred, &names(4)).unwrap();
    assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
    // class 0: P 2/2, R 2/3, F1 0.8; class 1: P 1/2, R 1/2, F1 0.5; class 2: P 1/2, R 1, F1 2/3.
    let c0 = &m.per_class["c0"];
    assert_eq!((c0.precision, c0.recall), (Some(1.0), Some(2.0 / 3.0)));
    assert!((c0.f1.unwrap() - 0.8).abs() < 1e-12);
    assert!((m.per_class["c2"].f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    let c3 = &m.per_class["c3"];
    assert_eq!((c3.precision, c3.f1, c3.support), (None, None, 0));
    // Macro averages over the three classes that occur (sklearn's default labels).
    let f1 = (0.8 + 0.5 + 2.0 / 3.0) / 3.0;
    assert!((m.macro_f1 - f1).abs() < 1e-12, "{}", m.macro_f1);
    assert!((m.macro_precision - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.confusion[0], vec![2, 1, 0, 0]);
    assert_eq!(m.n_test, 6);

    // A class absent from the test set but predicted: precision 0, recall 0 (zero_division=0).
    let m = compute(&[0, 0], &[0, 1], &names(2)).unwrap();
    let c1 = &m.per_class["c1"];
    assert_eq!(
        (c1.precision, c1.recall, c1.f1),
        (Some(0.0), Some(0.0), Some(0.0))
    );
    assert!((m.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12);

    assert!(compute(&[0, 5], &[0, 0], &names(2))
        .unwrap_err()
        .contains("label 5"));
}

#[test]
fn ties_in_the_scores_go_to_the_lower_class_like_torch_argmax() {
    let probs = [[0.4f32, 0.4, 0.2], [0.2, 0.4, 0.4], [1.0 / 3.0; 3]];
    let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    assert_eq!(pred, vec![0, 1, 0]);
    let m = compute(&[1, 1, 2], &pred, &names(3)).unwrap();
    assert!((m.accuracy - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn torchvision_keys_are_mapped_prefix_found_and_architecture_inferred() {
    let path = fixture("resnet18_tiny.safetensors");
    let info = inspect_weights(&path).unwrap();
    assert_eq!(info.prefix, "model.");
    assert_eq!(info.arch, tiny18());
    let init = Init::Torchvision(path.clone());
    let arch = resolve_arch(&init, &ArchOverrides::default(), &micro()).unwrap();
    assert_eq!(arch, tiny18());
    let device = Device::flex();
    let loaded = load_backbone(&init, &arch, 32, 0, &device).unwrap();
    let report = loaded.report.unwrap();
    assert!(report.applied > 60, "{report:?}");
    assert!(report.unused.iter().any(|k| k.contains("fc.")));
    // The first conv equals the file's tensor (read independently with safetensors).
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let raw = st.tensor("model.conv1.weight").unwrap();
    let expect: Vec<f32> = raw
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (_, got) = named_tensors(&loaded.backbone)
        .into_iter()
        .find(|(p, _)| p == "ResNet.conv1.weight")
        .unwrap();
    assert_eq!(got.into_data().try_to_vec::<f32>().unwrap(), expect);
    // The .pth twin (no prefix) loads the same way.
    let pth = Init::Torchvision(fixture("resnet18_tiny.pth"));
    assert_eq!(
        inspect_weights(&fixture("resnet18_tiny.pth"))
            .unwrap()
            .prefix,
        ""
    );
    load_backbone(&pth, &arch, 32, 0, &device).unwrap();
}

#[test]
fn wrong_architecture_and_missing_files_are_clear_errors() {
    let device = Device::flex();
    let path = fixture("resnet18_tiny.safetensors");
    let init = Init::Torchvision(path);
    for wrong in [
        BackboneParams {
            arch: ResNetArch::Resnet50,
            ..tiny18()
        },
        BackboneParams {
            width_mult: 0.25,
            ..tiny18()
        },
        micro(),
    ] {
        let e = load_backbone(&init, &wrong, 32, 0, &device)
            .unwrap_err()
            .to_string();
        assert!(e.contains("resnet18_tiny.safetensors"), "{e}");
        assert!(e.contains("but the model asked for"), "{e}");
    }
    let e = load_backbone(
        &Init::Torchvision("/no/such/r18.pth".into()),
        &tiny18(),
        32,
        0,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("/no/such/r18.pth") && e.contains("does not exist"),
        "{e}"
    );
    // A MoCo run folder without its exported backbone.
    let dir = tempfile::tempdir().unwrap();
    let e = resolve_arch(
        &Init::Moco(dir.path().into()),
        &ArchOverrides::default(),
        &micro(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("backbone.safetensors") && e.contains("--resume"),
        "{e}"
    );
    // A file that is no ResNet.
    let not = dir.path().join("head.safetensors");
    std::fs::copy(fixture("mlp_head.safetensors"), &not).unwrap();
    let e = inspect_weights(&not).unwrap_err().to_string();
    assert!(
        e.contains("head.safetensors") && e.contains("no ResNet"),
        "{e}"
    );
}

/// A labelled `train/` + `test/` set of two easily separable classes (dark vs light pages
/// with stripes), small enough to train in seconds.
fn tiny_dataset(root: &Path, classes: &[&str], per_class: usize) {
    for split in ["train", "test"] {
        for (c, name) in classes.iter().enumerate() {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let img = image::RgbImage::from_fn(40, 56, |x, y| {
                    let stripe = if c == 0 { y % 8 < 4 } else { x % 8 < 4 };
                    let v = if stripe { 30 + i as u8 * 3 } else { 230 };
                    image::Rgb([v, v, v])
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

fn tiny_probe(augment: bool) -> ClassifyConfig {
    let mut c = ClassifyConfig::probe("random", micro());
    c.input.size = 32;
    c.train.epochs = 3;
    c.train.batch_size = 4;
    c.train.workers = 1;
    c.augment.enabled = augment;
    c
}

#[test]
fn the_probe_leaves_the_backbone_unchanged_and_the_check_catches_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tiny_dataset(&data, &["a", "b"], 4);
    for augment in [false, true] {
        let out = dir.path().join(format!("probe{augment}"));
        let cfg = tiny_probe(augment);
        let opts = ClassifyOptions {
            data: data.clone(),
            out_dir: out.clone(),
            quiet: true,
        };
        let r = linear_probe(&cfg, &opts).unwrap();
        assert_eq!(r.backbone_unchanged, Some(true));
        assert_eq!(r.metrics.n_test, 8);
        for f in [
            "metrics.json",
            "confusion.csv",
            "confusion.png",
            "misclassified.csv",
            "model.safetensors",
            "classifier.toml",
            "config.toml",
        ] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                .unwrap();
        for key in ["accuracy", "macro_f1", "per_class", "n_test"] {
            assert!(json.get(key).is_some(), "metrics.json lacks {key}");
        }
    }
    // The check itself: an initial snapshot against a backbone with one tensor moved.
    let device = Device::flex();
    let b = load_backbone(&Init::Random, &micro(), 32, 1, &device)
        .unwrap()
        .backbone;
    let head = new_head(b.feature_dim(), 3, &device);
    let before = snapshot(&b).unwrap();
    let model = Classifier { backbone: b, head };
    check_frozen(&before, &model).unwrap();
    let moved = docmoco::model::params::map_named(model, None, |p| {
        p.path
            .ends_with("layer2.0.bn1.running_mean")
            .then(|| p.value.add_scalar(1e-3))
    });
    let e = check_frozen(&before, &moved).unwrap_err().to_string();
    assert!(e.contains("layer2.0.bn1.running_mean"), "{e}");
}

#[test]
fn finetune_then_predict_round_trip_with_padding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tiny_dataset(&data, &["a", "b"], 5);
    let out = dir.path().join("ft");
    let mut c = ClassifyConfig::finetune("random", micro());
    c.input.size = 32;
    c.input.resize = Resize::Pad;
    c.train.epochs = 2;
    c.train.batch_size = 4;
    c.train.workers = 1;
    c.train.patience = 2;
    c.train.val_fraction = 0.2;
    let r = finetune(
        &c,
        &ClassifyOptions {
            data: data.clone(),
            out_dir: out.clone(),
            quiet: true,
        },
    )
    .unwrap();
    assert_eq!(r.n_val, 2, "one page per class carved as validation");
    assert_eq!(r.n_train, 8);
    assert!(r.val_accuracy.is_some());
    let preds = predict(&out, &[data.join("test/b")], &Device::flex()).unwrap();
    assert_eq!(preds.len(), 5);
    for p in &preds {
        assert!(p.class == "a" || p.class == "b");
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    }
}

#[test]
fn class_folder_mismatch_names_both_folders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tiny_dataset(&data, &["a", "b"], 2);
    std::fs::rename(data.join("test/b"), data.join("test/c")).unwrap();
    let c = tiny_probe(false);
    let e = linear_probe(
        &c,
        &ClassifyOptions {
            data: data.clone(),
            out_dir: dir.path().join("out"),
            quiet: true,
        },
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("class folders differ"), "{msg}");
    assert!(msg.contains("train") && msg.contains("test"), "{msg}");
    assert!(msg.contains("\"b\"") && msg.contains("\"c\""), "{msg}");
}
