//! `embed`, `search`, `dedup`, `cluster` and `report` as a user runs them: a tiny MoCo run on a
//! generated corpus, degraded copies of a few pages planted next to the originals, and one
//! clear message per bad input.

use std::path::{Path, PathBuf};

mod common;

use common::{docmoco, stderr, stdout};
use docmoco::tasks::embed::npy::{read_npy, write_npy};
use image::RgbImage;

/// A 2-epoch MoCo run at 32 px on the corpus's unlabeled pages.
fn tiny_run(dir: &Path, corpus: &Path) -> PathBuf {
    let run = dir.join("run");
    let o = docmoco(&[
        "pretrain",
        "--preset",
        "moco-v2-tiny",
        "--data",
        corpus.join("unlabeled").to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
        "--image-size",
        "32",
        "--width-mult",
        "0.0625",
        "--batch-size",
        "8",
        "--bn-splits",
        "2",
        "--queue-size",
        "32",
        "--epochs",
        "2",
        "--workers",
        "2",
    ]);
    assert!(o.status.success(), "pretrain: {}", stderr(&o));
    run
}

/// Copies every labelled page flat into `out/pages/` and plants three degraded copies of
/// pages 0, 5, 10 in `out/dups/`: JPEG quality 70, brightness +6, ±4 noise. Returns the
/// (copy, original) pairs.
fn plant(cls: &Path, out: &Path) -> Vec<(PathBuf, PathBuf)> {
    let pages_dir = out.join("pages");
    let dups = out.join("dups");
    std::fs::create_dir_all(&pages_dir).unwrap();
    std::fs::create_dir_all(&dups).unwrap();
    let mut pages: Vec<PathBuf> = walk(cls);
    pages.sort();
    let mut copied = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let dst = pages_dir.join(format!("{i:03}.png"));
        std::fs::copy(p, &dst).unwrap();
        copied.push(dst);
    }
    let mut pairs = Vec::new();
    for (k, &i) in [0usize, 5, 10].iter().enumerate() {
        let img = image::open(&copied[i]).unwrap().to_rgb8();
        let dst = match k {
            0 => {
                let d = dups.join("jpeg.jpg");
                let mut buf = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 70)
                    .encode_image(&img)
                    .unwrap();
                std::fs::write(&d, buf).unwrap();
                d
            }
            1 => {
                let mut b: RgbImage = img.clone();
                b.pixels_mut()
                    .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.saturating_add(6)));
                let d = dups.join("brighter.png");
                b.save(&d).unwrap();
                d
            }
            _ => {
                let mut b: RgbImage = img.clone();
                let mut s = 12345u32;
                for p in b.pixels_mut() {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let n = ((s >> 16) % 9) as i16 - 4;
                    p.0.iter_mut()
                        .for_each(|v| *v = (*v as i16 + n).clamp(0, 255) as u8);
                }
                let d = dups.join("noisy.png");
                b.save(&d).unwrap();
                d
            }
        };
        pairs.push((dst, copied[i].clone()));
    }
    pairs
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "png") {
            out.push(p);
        }
    }
    out
}

fn ok(args: &[&str]) -> String {
    let o = docmoco(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn embed_search_dedup_cluster_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = common::corpus(dir, 36, 128);
    let cls = corpus.join("cls");
    let run = tiny_run(dir, &corpus);
    let init = format!("moco:{}", run.display());

    // embed: [N, D] float32 unit rows, labels from the train/test class folders.
    let idx = dir.join("idx/cls.npy");
    let out = ok(&[
        "embed",
        "--init",
        &init,
        "--data",
        cls.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.contains("embedded 36 pages") && out.contains("pages/s"),
        "{out}"
    );
    let (v, n, d) = read_npy(&idx).unwrap();
    assert_eq!((n, d), (36, 32)); // ResNet-18 x 0.0625: 512 / 16 features
    for r in v.chunks_exact(d) {
        let norm: f32 = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("idx/cls.json")).unwrap()).unwrap();
    assert_eq!(meta["rows"].as_array().unwrap().len(), 36);
    assert_eq!(meta["classes"].as_array().unwrap().len(), 6);
    assert!(meta["rows"][0]["label"].is_u64());

    // search: a page of the index is its own nearest neighbour, at cosine 1.
    let query = meta["rows"][7]["path"].as_str().unwrap().to_string();
    let sheet = dir.join("sheet.png");
    let out = ok(&[
        "search",
        "--index",
        idx.to_str().unwrap(),
        &query,
        "--k",
        "5",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    let first = out.lines().nth(2).unwrap_or_default();
    assert!(first.contains(&query) && first.contains("1.0000"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("  ") && l.contains(".png"))
            .count(),
        5
    );
    let img = image::open(&sheet).unwrap();
    assert!(img.width() > 6 * 150, "query + 5 tiles: {}", img.width());
    let out = ok(&[
        "search",
        "--index",
        idx.to_str().unwrap(),
        "--eval",
        "--k",
        "5",
    ]);
    assert!(
        out.contains("precision@5:") && out.contains("chance"),
        "{out}"
    );

    // dedup: every planted copy lands in its original's group, and little else is grouped.
    // With random-init features: a 2-epoch 32 px run has not learned to tell pages apart yet
    // (docs/embeddings.md compares both backbones on the demo corpus).
    let dd = dir.join("dd");
    let pairs = plant(&cls, &dd);
    let dd_idx = dir.join("idx/dd.npy");
    ok(&[
        "embed",
        "--init",
        "random",
        "--data",
        dd.to_str().unwrap(),
        "--out",
        dd_idx.to_str().unwrap(),
        "--quiet",
    ]);
    let csv_path = dir.join("dups.csv");
    let out = ok(&[
        "dedup",
        "--index",
        dd_idx.to_str().unwrap(),
        "--threshold",
        "0.8",
        "--out",
        csv_path.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let group_of = |p: &Path| {
        let p = std::fs::canonicalize(p).unwrap().display().to_string();
        csv.lines()
            .skip(1)
            .find(|l| l.split(',').nth(2) == Some(p.as_str()))
            .map(|l| l.split(',').next().unwrap().to_string())
    };
    for (copy, orig) in &pairs {
        let g = group_of(copy);
        assert!(
            g.is_some() && g == group_of(orig),
            "{copy:?} not with {orig:?}:\n{out}"
        );
    }
    let grouped = csv.lines().count() - 1;
    assert!(
        grouped <= 12,
        "{grouped} pages grouped for 3 planted pairs:\n{out}"
    );

    // cluster: assignments for every page, a sheet per cluster, purity/NMI from the labels.
    let cdir = dir.join("clusters");
    let out = ok(&[
        "cluster",
        "--index",
        idx.to_str().unwrap(),
        "--k",
        "3",
        "--seed",
        "1",
        "--out",
        cdir.to_str().unwrap(),
    ]);
    assert!(out.contains("purity") && out.contains("NMI"), "{out}");
    assert_eq!(
        std::fs::read_to_string(cdir.join("clusters.csv"))
            .unwrap()
            .lines()
            .count(),
        37
    );
    for c in 0..3 {
        assert!(cdir.join(format!("cluster-{c:02}.png")).is_file());
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cdir.join("summary.json")).unwrap()).unwrap();
    let purity = s["purity"].as_f64().unwrap();
    assert!((1.0 / 6.0..=1.0).contains(&purity), "{purity}");
    assert_eq!(
        s["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        36
    );

    // report: curves and config of the run, the map from the labelled folder.
    let html_path = dir.join("report.html");
    ok(&[
        "report",
        run.to_str().unwrap(),
        "--data",
        cls.to_str().unwrap(),
        "--out",
        html_path.to_str().unwrap(),
        "--quiet",
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    for want in [
        "InfoNCE loss",
        "learning rate",
        "<polyline",
        "[moco]",
        "Embedding map",
        "precision@10",
    ] {
        assert!(html.contains(want), "report lacks {want}");
    }
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = docmoco(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in: {err}");
    }
}

#[test]
fn bad_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = common::corpus(dir, 12, 96);
    let test = corpus.join("cls");
    let idx = dir.join("e.npy");
    let i = idx.to_str().unwrap();
    fails_with(
        &[
            "embed",
            "--init",
            "random",
            "--data",
            "/no/such/dir",
            "--out",
            i,
        ],
        &["/no/such/dir"],
    );
    fails_with(
        &[
            "embed",
            "--init",
            "moco:/no/run",
            "--data",
            test.to_str().unwrap(),
            "--out",
            i,
        ],
        &["/no/run"],
    );
    fails_with(
        &["search", "--index", i, "q.png"],
        &["e.npy", "does not exist"],
    );
    ok(&[
        "embed",
        "--init",
        "random",
        "--data",
        test.to_str().unwrap(),
        "--out",
        i,
        "--quiet",
    ]);
    fails_with(&["search", "--index", i, "/no/q.png"], &["/no/q.png"]);
    fails_with(&["search", "--index", i], &["QUERY_IMAGE"]);
    fails_with(
        &[
            "cluster",
            "--index",
            i,
            "--k",
            "99",
            "--out",
            dir.join("c").to_str().unwrap(),
        ],
        &["--k 99", "(12)"],
    );
    fails_with(
        &["dedup", "--index", i, "--threshold", "2"],
        &["--threshold 2"],
    );
    // Vectors of the wrong width for the index's metadata.
    write_npy(&idx, &vec![0.0; 12 * 7], 12, 7).unwrap();
    fails_with(&["dedup", "--index", i], &["e.npy", "[12, 7]", "dim"]);
}
