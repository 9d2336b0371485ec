//! Inference: pages in, text-line boxes out, and the ICDAR 2015 evaluation of a folder.
//!
//! A page is resized so its long side is `infer.long_side` (multiples of 32), the
//! probability map is computed, and `docmoco-det`'s post-processing turns it into boxes in
//! the original page's coordinates.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use docmoco_data::{decode_page, PageRef};
use image::RgbImage;

use docmoco_det::dataset::list_pairs;
use docmoco_det::{
    aggregate, detect_boxes, draw_detections, evaluate_image, prepare_for_inference,
    write_detections, DetMetrics, Detection, ImageEval,
};

use super::config::DetectConfig;
use super::export::load_detector;
use super::model::DbNet;
use super::train::build_detector;
use crate::device;
use crate::train::checkpoint::write_atomic;
use crate::train::progress::counter;

/// A trained detector in evaluation mode.
pub struct Detector {
    model: DbNet,
    pub config: DetectConfig,
    device: Device,
}

impl Detector {
    pub fn new(model: DbNet, config: DetectConfig, device: Device) -> Self {
        Detector {
            model: model.valid(),
            config,
            device,
        }
    }

    /// Loads `RUN_DIR/config.toml` and `RUN_DIR/detector.safetensors`.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let cfg_path = run_dir.join("config.toml");
        let text = std::fs::read_to_string(&cfg_path).with_context(|| {
            format!(
                "{}: not a detection run (no config.toml; train one with `docmoco finetune-det`)",
                run_dir.display()
            )
        })?;
        let mut config: DetectConfig =
            toml::from_str(&text).with_context(|| format!("{}", cfg_path.display()))?;
        let device = device::select(&config.train.device).map_err(anyhow::Error::msg)?;
        // The weights file replaces whatever the init would load.
        config.init = "random".into();
        let model = build_detector(&config, &device)?;
        let weights = run_dir.join("detector.safetensors");
        let (model, _) = load_detector(model, &weights)
            .with_context(|| format!("cannot load {}", weights.display()))?;
        Ok(Detector::new(model, config, device))
    }

    /// Text lines on one page, in the page's pixel coordinates.
    pub fn detect(&self, page: &RgbImage) -> Result<Vec<Detection>> {
        let (img, scale_x, scale_y) = prepare_for_inference(page, self.config.infer.long_side);
        let (h, w) = (img.height, img.width);
        let x = Tensor::<4>::from_data(TensorData::new(img.data, [1, 3, h, w]), &self.device);
        let prob = self
            .model
            .forward_prob(x)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        Ok(detect_boxes(
            &prob,
            h,
            w,
            (scale_x, scale_y),
            (page.width(), page.height()),
            &self.config.post,
        )?)
    }
}

/// Detects every page of `data` (`images/` + `gt/`), writes `res_<name>.txt` files,
/// `metrics.json` and the first `draw` pages with their boxes into `out`, and returns the
/// ICDAR 2015 metrics.
pub fn evaluate_dir(
    detector: &Detector,
    data: &Path,
    out: &Path,
    draw: usize,
    quiet: bool,
) -> Result<DetMetrics> {
    let pairs = list_pairs(data)?;
    let res_dir = out.join("res");
    std::fs::create_dir_all(&res_dir)
        .with_context(|| format!("cannot create {}", res_dir.display()))?;
    let bar = counter(pairs.len(), "detecting pages", quiet);
    let started = Instant::now();
    let mut counts: Vec<ImageEval> = Vec::with_capacity(pairs.len());
    for (i, (image, gt_path)) in pairs.iter().enumerate() {
        let name = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let page = decode_page(&PageRef::Image(image.clone()), None)?;
        let gt = docmoco_data::icdar::parse_gt_file(gt_path)?;
        let dets = detector.detect(&page)?;
        write_detections(&res_dir.join(format!("res_{name}.txt")), &dets)?;
        let quads: Vec<[[f32; 2]; 4]> = dets.iter().map(|d| d.quad).collect();
        counts.push(evaluate_image(&gt, &quads));
        if i < draw {
            let png = out.join(format!("{name}.png"));
            draw_detections(&page, &gt, &dets)
                .save(&png)
                .with_context(|| format!("cannot write {}", png.display()))?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let metrics = aggregate(&counts);
    write_metrics(out, &metrics)?;
    if !quiet {
        eprintln!(
            "{} pages in {:.1} s: precision {:.4}  recall {:.4}  hmean {:.4}",
            pairs.len(),
            started.elapsed().as_secs_f64(),
            metrics.precision,
            metrics.recall,
            metrics.hmean
        );
    }
    Ok(metrics)
}

/// Writes `out/metrics.json` atomically.
pub fn write_metrics(out: &Path, metrics: &DetMetrics) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("metrics.json");
    let json = serde_json::to_string_pretty(metrics)?;
    write_atomic(&path, json.as_bytes())?;
    Ok(path)
}
