//! The classification commands as a user runs them on a small generated corpus: probe,
//! fine-tune, predict, the comparison table, and one clear message (no panic) per bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::docmoco;

fn text(o: &Output) -> (String, String) {
    (common::stdout(o), common::stderr(o))
}

fn corpus(dir: &Path) -> PathBuf {
    common::corpus(dir, 36, 128).join("cls")
}

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docmoco/tests/fixtures/resnet18_tiny.safetensors")
        .display()
        .to_string()
}

const FAST: &[&str] = &[
    "--image-size",
    "32",
    "--width-mult",
    "0.0625",
    "--batch-size",
    "8",
    "--workers",
    "2",
    "--quiet",
];

#[test]
fn probe_finetune_predict_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path());
    let d = data.to_str().unwrap();
    let probe = dir.path().join("probe");
    let mut args = vec![
        "linear-probe",
        "--init",
        "random",
        "--data",
        d,
        "--out",
        probe.to_str().unwrap(),
        "--epochs",
        "5",
    ];
    args.extend_from_slice(FAST);
    let o = docmoco(&args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("frozen-backbone check: passed"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(probe.join("metrics.json")).unwrap())
            .unwrap();
    let acc = json["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(json["macro_f1"].is_number() && json["per_class"].is_object());
    assert!(json["n_test"].as_u64().unwrap() > 0);

    let ft = dir.path().join("ft");
    let mut args = vec![
        "finetune-cls",
        "--data",
        d,
        "--out",
        ft.to_str().unwrap(),
        "--epochs",
        "1",
        "--resize",
        "pad",
    ];
    args.extend_from_slice(FAST);
    let o = docmoco(&args);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(ft.join("confusion.png").is_file());

    let page = data.join("test/invoice");
    let o = docmoco(&[
        "predict-cls",
        "--model",
        probe.to_str().unwrap(),
        page.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let first = out.lines().next().unwrap_or_default();
    let cols: Vec<&str> = first.split('\t').collect();
    assert_eq!(cols.len(), 3, "{out}");
    let p: f64 = cols[2].parse().unwrap();
    assert!((0.0..=1.0).contains(&p));

    let cmp = dir.path().join("cmp");
    let inits = format!("random,torchvision:{}", fixture());
    let o = docmoco(&[
        "compare-cls",
        "--data",
        d,
        "--inits",
        &inits,
        "--seeds",
        "2",
        "--modes",
        "probe",
        "--epochs",
        "3",
        "--out",
        cmp.to_str().unwrap(),
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--workers",
        "2",
        "--quiet",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let table = std::fs::read_to_string(cmp.join("comparison.md")).unwrap();
    assert!(table.contains("| random |") && table.contains("torchvision-resnet18_tiny"));
    assert!(table.contains(" ± "), "{table}");
    assert!(out.contains("linear probe acc"), "{out}");
}

fn expect_error(args: &[&str], needles: &[&str]) {
    let o = docmoco(args);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected `{n}` in: {err}");
    }
}

#[test]
fn bad_inputs_give_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path());
    let d = data.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    expect_error(
        &[
            "linear-probe",
            "--init",
            "imagenet",
            "--data",
            d,
            "--out",
            o,
        ],
        &["invalid --init `imagenet`"],
    );
    expect_error(
        &[
            "linear-probe",
            "--init",
            "torchvision:/no/such/r18.pth",
            "--data",
            d,
            "--out",
            o,
        ],
        &["/no/such/r18.pth", "does not exist"],
    );
    let fx = format!("torchvision:{}", fixture());
    expect_error(
        &[
            "finetune-cls",
            "--init",
            &fx,
            "--arch",
            "resnet50",
            "--data",
            d,
            "--out",
            o,
        ],
        &["resnet18_tiny.safetensors", "resnet50"],
    );
    std::fs::rename(data.join("test/receipt"), data.join("test/receipts")).unwrap();
    expect_error(
        &["linear-probe", "--data", d, "--out", o, "--quiet"],
        &["class folders differ", "receipts"],
    );
    expect_error(
        &["predict-cls", "--model", o, d],
        &["not a classification run"],
    );
}
