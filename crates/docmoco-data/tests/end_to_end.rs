//! ImageFolder -> PageCache -> loaders, on a tiny labelled set written to a temp dir.

use std::path::Path;
use std::sync::Arc;

use docmoco_data::augment::{AugmentConfig, Pipeline, TwoViews};
use docmoco_data::{ImageFolder, Loader, LoaderConfig, PageCache};

fn page(path: &Path, shade: u8) {
    image::RgbImage::from_fn(30, 42, |x, y| {
        let ink = y % 6 < 2 && x % 9 < 7;
        image::Rgb(if ink {
            [shade, shade, shade]
        } else {
            [250, 250, 245]
        })
    })
    .save(path)
    .unwrap();
}

#[test]
fn labelled_folder_to_batches_survives_a_page_that_only_fails_at_decode_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (class, n) in [("invoice", 3), ("letter", 4)] {
        std::fs::create_dir_all(d.join(class)).unwrap();
        for i in 0..n {
            page(&d.join(format!("{class}/{i}.png")), (i * 30) as u8);
        }
    }
    // A PNG whose header is fine (passes the scan) but whose pixel data is cut off.
    let mut bytes = std::fs::read(d.join("invoice/0.png")).unwrap();
    bytes.truncate(bytes.len() - 40);
    std::fs::write(d.join("invoice/1.png"), bytes).unwrap();

    let folder = ImageFolder::open(d).unwrap();
    assert_eq!(folder.samples.len(), 7);
    let cache = PageCache::build(&folder.pages(), 32, None).unwrap();
    assert_eq!(cache.len(), 6);
    assert_eq!(cache.skipped().len(), 1);
    assert!(cache.skipped()[0].0.to_string().ends_with("invoice/1.png"));
    let labels = cache.carry_labels(&folder.labels()).unwrap();
    assert_eq!(labels, [0, 0, 1, 1, 1, 1]);

    let cache = Arc::new(cache);
    let eval = Pipeline::from_config(&AugmentConfig::eval(16)).unwrap();
    let loader = Loader::new(Arc::clone(&cache), eval, LoaderConfig::eval(4))
        .unwrap()
        .with_labels(labels)
        .unwrap();
    let batches: Vec<_> = loader.epoch_iter(0, 0).unwrap().collect();
    assert_eq!(batches.iter().map(|b| b.n).collect::<Vec<_>>(), [4, 2]);
    assert_eq!(batches[1].labels, [1, 1]);

    let views = TwoViews::asymmetric(
        Pipeline::from_config(&AugmentConfig::moco_v3_view1(16)).unwrap(),
        Pipeline::from_config(&AugmentConfig::moco_v3_view2(16)).unwrap(),
    )
    .unwrap();
    let pre = Loader::new(cache, views, LoaderConfig::pretrain(4)).unwrap();
    assert_eq!(pre.batches_per_epoch(), 1);
    let b = pre.epoch_iter(0, 0).unwrap().next().unwrap();
    assert_eq!(b.query.shape(), [4, 3, 16, 16]);
    assert!(b.query.labels.is_empty());
    assert!(b.key.images.iter().all(|v| v.is_finite()));
}
