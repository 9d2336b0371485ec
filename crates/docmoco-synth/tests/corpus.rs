//! The on-disk corpus layout (ImageFolder + ICDAR 2015 + unlabeled) and the preview.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use docmoco_synth::{write_corpus, write_preview, DocClass, SynthConfig};

fn count(dir: &Path, ext: &str) -> usize {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn corpus_layout_is_written_as_specified() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path();
    let cfg = SynthConfig {
        pages: 20,
        seed: 5,
        size: 160,
        test_fraction: 0.2,
        classes: DocClass::CORE.to_vec(),
        degrade: true,
    };
    let calls = AtomicUsize::new(0);
    let max_done = AtomicUsize::new(0);
    let summary = write_corpus(&cfg, out, &|done| {
        calls.fetch_add(1, Ordering::Relaxed);
        max_done.fetch_max(done, Ordering::Relaxed);
    })
    .expect("corpus");
    assert_eq!(calls.load(Ordering::Relaxed), 20);
    assert_eq!(max_done.load(Ordering::Relaxed), 20);
    assert_eq!((summary.pages, summary.train, summary.test), (20, 15, 5));
    assert!(summary.lines > 20 * 10);

    for c in DocClass::CORE {
        assert_eq!(
            count(&out.join("cls/train").join(c.as_str()), "png"),
            3,
            "{c}"
        );
        assert_eq!(
            count(&out.join("cls/test").join(c.as_str()), "png"),
            1,
            "{c}"
        );
    }
    assert!(!out.join("cls/train/form").exists());
    assert_eq!(count(&out.join("det/train/images"), "png"), 15);
    assert_eq!(count(&out.join("det/test/images"), "png"), 5);
    assert_eq!(count(&out.join("det/train/gt"), "txt"), 15);
    assert_eq!(count(&out.join("det/test/gt"), "txt"), 5);
    assert_eq!(count(&out.join("unlabeled"), "png"), 20);

    // Every detection image has its gt file, in ICDAR 2015 syntax, inside the image.
    for split in ["train", "test"] {
        for e in fs::read_dir(out.join("det").join(split).join("images")).expect("images") {
            let p = e.expect("entry").path();
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("stem")
                .to_string();
            let img = image::open(&p).expect("png").to_luma8();
            assert_eq!(img.width().max(img.height()), 160);
            let gt = fs::read_to_string(
                out.join("det")
                    .join(split)
                    .join("gt")
                    .join(format!("gt_{stem}.txt")),
            )
            .expect("gt");
            assert!(gt.lines().count() > 3);
            // Read back with docmoco-data's ICDAR parser, as the detection task will.
            let parsed =
                docmoco_data::icdar::parse_gt_str(&gt, Path::new("gt")).expect("ICDAR syntax");
            assert_eq!(parsed.len(), gt.lines().count());
            for l in &parsed {
                for q in &l.quad {
                    assert!((0.0..=img.width() as f32).contains(&q[0]), "{:?}", l.quad);
                    assert!((0.0..=img.height() as f32).contains(&q[1]), "{:?}", l.quad);
                }
                assert!(!l.text.is_empty());
            }
        }
    }
    let classes = fs::read_to_string(out.join("classes.txt")).expect("classes");
    assert_eq!(
        classes.lines().collect::<Vec<_>>(),
        DocClass::CORE.map(|c| c.as_str()).to_vec()
    );
    let manifest = fs::read_to_string(out.join("manifest.tsv")).expect("manifest");
    assert_eq!(manifest.lines().count(), 21);

    // Re-running into the same folder replaces files and gives identical bytes.
    let first = fs::read(out.join("unlabeled/invoice_000000.png")).expect("png");
    write_corpus(&cfg, out, &|_| {}).expect("second run");
    assert_eq!(
        fs::read(out.join("unlabeled/invoice_000000.png")).expect("png"),
        first
    );
}

#[test]
fn preview_writes_pages_and_overlays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = SynthConfig {
        size: 200,
        ..Default::default()
    };
    let files = write_preview(&cfg, tmp.path(), 3).expect("preview");
    assert_eq!(files.len(), 6);
    for f in files {
        assert!(f.exists());
    }
    let ov = image::open(tmp.path().join("invoice_000000_gt.png")).expect("overlay");
    assert_eq!(ov.color(), image::ColorType::Rgb8);
}
