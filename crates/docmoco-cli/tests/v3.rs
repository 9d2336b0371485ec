//! MoCo v3 through the binary: a tiny ViT (AdamW, chunked query back-propagation) and a tiny
//! ResNet (LARS) each pre-train, and a killed + resumed run ends exactly where an
//! uninterrupted one does — which needs the optimiser state and both encoders checkpointed.
//! The ViT run then serves the downstream commands (probe, fine-tune, predict, embed).

use std::path::Path;

mod common;

use common::{docmoco, stderr};

/// 32 px in 16-px patches (4 + 1 tokens), one 16-d block of 2 heads, batch 8 back-propagated
/// 4 images at a time.
const TINY_VIT: &str = r#"
name = "v3-vit-test"
[model]
arch = "resnet18"
[augment]
preset = "v3"
crop_min_scale = 0.5
[schedule]
base_lr = 1e-3
warmup_epochs = 1.0
schedule = { kind = "stepcosine" }
[train]
epochs = 2
batch_size = 8
image_size = 32
workers = 2
[v3.moco]
dim = 16
mlp_dim = 32
momentum = 0.99
temperature = 0.2
query_chunk = 4
[v3.vit]
dim = 16
depth = 1
heads = 2
patch_size = 16
stop_grad_patch_embed = true
[v3.optimizer.adamw]
weight_decay = 0.1
"#;

fn final_step_loss(run: &Path) -> (usize, f64) {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last = text.lines().rfind(|l| l.starts_with("step,")).unwrap();
    let c: Vec<&str> = last.split(',').collect();
    (c[2].parse().unwrap(), c[3].parse().unwrap())
}

fn kill_and_resume_matches(config: &[&str], tmp: &Path, data: &str) {
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["pretrain", "--data", data, "--out", out.to_str().unwrap()];
        args.extend(config);
        args.extend(["--quiet"]);
        args.extend(extra);
        let o = docmoco(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let full = tmp.join("full");
    run(&full, &[]);
    assert!(full.join("backbone.safetensors").exists());
    let (steps, loss) = final_step_loss(&full);
    assert_eq!(
        steps, 12,
        "48 pages / batch 8 = 6 steps per epoch, 2 epochs"
    );
    assert!(loss.is_finite());

    let cut = tmp.join("cut");
    run(&cut, &["--interrupt-after", "4"]);
    assert!(!cut.join("backbone.safetensors").exists());
    let o = docmoco(&[
        "pretrain",
        "--out",
        cut.to_str().unwrap(),
        "--resume",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (steps2, loss2) = final_step_loss(&cut);
    assert_eq!(steps2, steps);
    assert!(
        (loss2 - loss).abs() < 1e-4,
        "resumed run ends at loss {loss2}, uninterrupted at {loss}"
    );
    frozen_diagnostic_of_a_v3_run(&full);
}

/// The frozen diagnostic ran after each epoch, and `docmoco diagnose` measures the v3 run: the
/// query side (with its predictor) against the momentum encoder, ranked among a batch of
/// candidates as in training, with no queue.
fn frozen_diagnostic_of_a_v3_run(run: &Path) {
    let epoch_rows = common::epoch_rows(run);
    assert_eq!(epoch_rows.len(), 2, "{epoch_rows:?}");
    for row in &epoch_rows {
        let (pos, neg): (f64, f64) = (row[8].parse().unwrap(), row[9].parse().unwrap());
        assert!(
            (-1.0..=1.0).contains(&pos) && (-1.0..=1.0).contains(&neg),
            "{row:?}"
        );
        assert_eq!(row[10], "", "a v3 run has no stale keys: {row:?}");
        let frozen: f64 = row[11].parse().unwrap();
        assert!((0.0..=1.0).contains(&frozen), "{row:?}");
        assert!(
            ["ok", "shortcut", "collapse", "shortcut+collapse"].contains(&row[14].as_str()),
            "{row:?}"
        );
    }
    // The warmup epoch only measures: no flag before it has ended.
    assert_eq!(epoch_rows[0][14], "ok", "{:?}", epoch_rows[0]);

    let o = docmoco(&["diagnose", "--run", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = common::stdout(&o);
    assert!(out.contains("cos(q,k+)"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("diagnosis.json")).unwrap())
            .unwrap();
    // 48 pages measured; each query against its own key and 7 others, as in a batch of 8.
    assert_eq!(json["frozen"]["pages"].as_u64(), Some(48), "{json}");
    assert_eq!(json["frozen"]["candidates"].as_u64(), Some(8), "{json}");
    assert!(
        json["queue_stale"].is_null() && json["queue_other"].is_null(),
        "{json}"
    );
    let rank = json["frozen"]["pos_rank"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rank), "{json}");
    assert!(json["spread"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn v3_vit_adamw_pretrains_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::corpus(tmp.path(), 48, 160).join("unlabeled");
    let cfg = tmp.path().join("vit.toml");
    std::fs::write(&cfg, TINY_VIT).unwrap();
    kill_and_resume_matches(
        &["--config", cfg.to_str().unwrap()],
        tmp.path(),
        data.to_str().unwrap(),
    );
    let saved = std::fs::read_to_string(tmp.path().join("full/config.toml")).unwrap();
    assert!(
        saved.contains("[v3.vit]") && saved.contains("query_chunk = 4"),
        "{saved}"
    );
    vit_run_serves_downstream_commands(tmp.path());
}

/// The ViT of a v3 run in `linear-probe`, `finetune-cls`, `predict-cls` and `embed`, at 48 px
/// (a 3x3 patch grid; pre-training used 2x2: the fixed position embedding is rebuilt), and
/// refused by name where a ResNet is needed (detection).
fn vit_run_serves_downstream_commands(tmp: &Path) {
    let cls = tmp.join("corpus/cls");
    let run = format!("moco:{}", tmp.join("full").display());
    let common = ["--image-size", "48", "--batch-size", "8", "--workers", "2"];
    let go = |cmd: &str, out: &Path, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--init",
            &run,
            "--data",
            cls.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
        ];
        args.extend(common);
        args.extend(extra);
        let o = docmoco(&args);
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        o
    };
    let probe = tmp.join("probe");
    let o = go("linear-probe", &probe, &[]);
    let out = common::stdout(&o);
    assert!(out.contains("frozen-backbone check: passed"), "{out}");
    let meta = std::fs::read_to_string(probe.join("classifier.toml")).unwrap();
    assert!(
        meta.contains("[model.vit]") && meta.contains("dim = 16"),
        "{meta}"
    );
    // timm's layout: top-level blocks and a `head`.
    let bytes = std::fs::read(probe.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names: Vec<String> = st.names().into_iter().map(String::from).collect();
    for key in ["head.weight", "cls_token", "blocks.0.attn.qkv.weight"] {
        assert!(names.iter().any(|n| n == key), "{key} not in {names:?}");
    }
    assert_eq!(st.tensor("pos_embed").unwrap().shape(), &[1, 10, 16]);

    let ft = tmp.join("ft");
    go("finetune-cls", &ft, &[]);
    let page = std::fs::read_dir(cls.join("test"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let o = docmoco(&[
        "predict-cls",
        "--model",
        ft.to_str().unwrap(),
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(common::stdout(&o).contains(page.file_name().unwrap().to_str().unwrap()));

    let index = tmp.join("vit.npy");
    let o = docmoco(&[
        "embed",
        "--init",
        &run,
        "--data",
        cls.to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let det = tmp.join("det");
    let o = docmoco(&[
        "finetune-det",
        "--init",
        &run,
        "--data",
        tmp.join("corpus/det").to_str().unwrap(),
        "--out",
        det.to_str().unwrap(),
        "--steps",
        "1",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("needs a ResNet backbone") && err.contains("ViT"),
        "{err}"
    );
}

#[test]
fn v3_resnet_lars_pretrains_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::corpus(tmp.path(), 48, 160).join("unlabeled");
    kill_and_resume_matches(
        &[
            "--preset",
            "moco-v3-resnet",
            "--image-size",
            "32",
            "--width-mult",
            "0.0625",
            "--batch-size",
            "8",
            "--epochs",
            "2",
            "--workers",
            "2",
        ],
        tmp.path(),
        data.to_str().unwrap(),
    );
}

#[test]
fn v3_flags_that_do_not_fit_the_run_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let (data, out) = (tmp.path().to_str().unwrap(), out.to_str().unwrap());
    for (flags, expected) in [
        (
            &["--preset", "moco-v2-tiny", "--arch", "vit_tiny"][..],
            "moco-v3-vit",
        ),
        (
            &["--preset", "moco-v3-resnet", "--query-chunk", "8"][..],
            "v3.moco.query_chunk",
        ),
        (
            &["--preset", "moco-v2-tiny", "--query-chunk", "8"][..],
            "--query-chunk",
        ),
        (
            &[
                "--preset",
                "moco-v3-resnet",
                "--stop-grad-patch-embed",
                "true",
            ][..],
            "--stop-grad-patch-embed",
        ),
    ] {
        let mut args = vec!["pretrain", "--data", data, "--out", out];
        args.extend(flags);
        let o = docmoco(&args);
        assert!(!o.status.success(), "{flags:?} accepted");
        let e = stderr(&o);
        assert!(e.contains(expected), "{flags:?}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}
