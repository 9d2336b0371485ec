//! The detection commands end to end on a tiny generated corpus: training with checkpoints
//! and exact resume, evaluation of a model and of bare result files, detection on pages,
//! the comparison table, and bad input.

mod common;

use std::fs;
use std::path::Path;

use common::{corpus, docmoco, stderr, stdout};

/// A tiny, fast recipe: ResNet-18 x0.125, 64 px crops, 16-channel FPN.
const TINY: &[&str] = &[
    "--width-mult",
    "0.125",
    "--crop-size",
    "64",
    "--page-size",
    "256",
    "--infer-size",
    "256",
    "--inner-channels",
    "16",
    "--batch-size",
    "2",
    "--workers",
    "2",
    "--quiet",
];

fn finetune(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "finetune-det",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    docmoco(&args)
}

fn metrics(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The last step's loss in `metrics.csv`.
fn last_loss(run: &Path) -> String {
    let csv = fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last = csv.lines().last().unwrap().to_string();
    last.split(',').nth(3).unwrap().to_string()
}

#[test]
fn train_resume_evaluate_detect_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus(tmp.path(), 36, 256).join("det");
    let run = tmp.path().join("run");
    let o = finetune(&data, &run, &["--steps", "4", "--checkpoint-every", "2"]);
    assert!(o.status.success(), "finetune-det: {}", stderr(&o));
    for f in [
        "config.toml",
        "metrics.csv",
        "loss.svg",
        "detector.safetensors",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let m = metrics(&run.join("eval/metrics.json"));
    for k in ["precision", "recall", "hmean", "n_images"] {
        assert!(m.get(k).is_some(), "metrics.json lacks {k}: {m}");
    }
    assert!(m["n_images"].as_u64().unwrap() > 0);
    assert!(stdout(&o).contains("hmean"), "{}", stdout(&o));
    let drawn = fs::read_dir(run.join("eval"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert_eq!(drawn, 3, "three test pages drawn");

    // Kill after step 2: keep only that checkpoint, resume, and land on the same loss.
    let killed = tmp.path().join("killed");
    fs::create_dir_all(killed.join("checkpoints")).unwrap();
    fs::copy(run.join("config.toml"), killed.join("config.toml")).unwrap();
    let src = run.join("checkpoints/step-00000002");
    assert!(src.is_dir(), "checkpoint of step 2 kept (keep 2)");
    let dst = killed.join("checkpoints/step-00000002");
    fs::create_dir_all(&dst).unwrap();
    for e in fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    fs::write(killed.join("checkpoints/latest"), "step-00000002").unwrap();
    let o = docmoco(&[
        "finetune-det",
        "--data",
        data.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
        "--resume",
        "--quiet",
    ]);
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert_eq!(last_loss(&killed), last_loss(&run), "resumed run diverged");
    // ... having trained only the two missing steps.
    let steps: Vec<String> = fs::read_to_string(killed.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(steps, ["3", "4"]);

    // eval-det with the model, elsewhere.
    let ev = tmp.path().join("ev");
    let o = docmoco(&[
        "eval-det",
        "--model",
        run.to_str().unwrap(),
        "--data",
        data.join("test").to_str().unwrap(),
        "--out",
        ev.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "eval-det: {}", stderr(&o));
    assert_eq!(
        metrics(&ev.join("metrics.json")),
        metrics(&run.join("eval/metrics.json")),
        "the saved detector reproduces the end-of-training evaluation"
    );

    // eval-det on result files alone gives the same numbers.
    let ev2 = tmp.path().join("ev2");
    let o = docmoco(&[
        "eval-det",
        "--pred",
        ev.join("res").to_str().unwrap(),
        "--gt",
        data.join("test/gt").to_str().unwrap(),
        "--out",
        ev2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "eval-det --pred: {}", stderr(&o));
    assert_eq!(
        metrics(&ev2.join("metrics.json"))["hmean"],
        metrics(&ev.join("metrics.json"))["hmean"]
    );

    // detect on two pages.
    let pages = data.join("test/images");
    let first = fs::read_dir(&pages)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let det = tmp.path().join("det");
    let o = docmoco(&[
        "detect",
        "--model",
        run.to_str().unwrap(),
        first.to_str().unwrap(),
        "--out",
        det.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "detect: {}", stderr(&o));
    let stem = first.file_stem().unwrap().to_str().unwrap();
    assert!(det.join(format!("res_{stem}.txt")).is_file());
    assert!(det.join(format!("{stem}.png")).is_file());

    // compare-det: a table row per init.
    let cmp = tmp.path().join("cmp");
    let mut args = vec![
        "compare-det",
        "--inits",
        "random",
        "--data",
        data.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
        "--steps",
        "2",
    ];
    args.extend_from_slice(TINY);
    let o = docmoco(&args);
    assert!(o.status.success(), "compare-det: {}", stderr(&o));
    let table = fs::read_to_string(cmp.join("compare.md")).unwrap();
    assert!(table.contains("| random | 1 |"), "{table}");
}

#[test]
fn eval_det_scores_result_files_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let (gt, pred) = (tmp.path().join("gt"), tmp.path().join("pred"));
    fs::create_dir_all(&gt).unwrap();
    fs::create_dir_all(&pred).unwrap();
    // Two lines and a don't-care region; one exact detection, one shifted by most of its
    // width (IoU < 0.5), one on the don't-care region (ignored).
    fs::write(
        gt.join("gt_a.txt"),
        "0,0,100,0,100,10,0,10,hello\n0,20,100,20,100,30,0,30,world\n200,0,300,0,300,10,200,10,###\n",
    )
    .unwrap();
    fs::write(
        pred.join("res_a.txt"),
        "0,0,100,0,100,10,0,10\n60,20,160,20,160,30,60,30\n205,0,295,0,295,10,205,10\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = docmoco(&[
        "eval-det",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&out.join("metrics.json"));
    assert_eq!(m["precision"].as_f64().unwrap(), 0.5, "{m}");
    assert_eq!(m["recall"].as_f64().unwrap(), 0.5, "{m}");
    assert_eq!(m["n_images"].as_u64().unwrap(), 1, "{m}");

    // A malformed line names the file and the line.
    fs::write(pred.join("res_a.txt"), "0,0,100,0,oops,10,0,10\n").unwrap();
    let o = docmoco(&[
        "eval-det",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("res_a.txt:1") && e.contains("x3"), "{e}");
}

#[test]
fn bad_detection_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = docmoco(&[
        "eval-det",
        "--model",
        tmp.path().to_str().unwrap(),
        "--data",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("config.toml"), "{}", stderr(&o));
    let o = docmoco(&[
        "finetune-det",
        "--data",
        tmp.path().to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
        "--crop-size",
        "100",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("crop_size"), "{}", stderr(&o));
}
