//! Throughput measurements for `docmoco bench` (never timed tests).
//!
//! Each workload runs `warmup` untimed iterations, then `iters` timed ones, on synthetic
//! inputs so that only the measured part is measured. Peak memory is the process's high-water
//! mark (`VmHWM`), which only grows: run one workload per process for a clean number.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};
use serde::Serialize;

use crate::optim::Sgd;
use crate::ssl::data_parallel::DataParallel;
use crate::ssl::Moco;
use crate::train::PretrainConfig;

/// One measured workload.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub workload: String,
    pub images_per_second: f64,
    pub seconds_per_iter: f64,
    pub peak_rss_mb: Option<f64>,
}

/// Peak resident memory of this process in MB (Linux), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn random_images(n: usize, size: usize, seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dist = Uniform::new(-2.0f32, 2.0);
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|_| dist.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 3, size, size]), device)
}

/// Times `f` after `warmup` untimed calls. GPU backends queue work asynchronously, so the
/// device is synchronised before the clock starts and before it stops: the timed span then
/// holds exactly the `iters` iterations (a no-op on the CPU).
fn measure(
    workload: String,
    images_per_iter: usize,
    device: &Device,
    warmup: usize,
    iters: usize,
    mut f: impl FnMut(),
) -> BenchResult {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(device);
    let secs = t.elapsed().as_secs_f64() / iters.max(1) as f64;
    BenchResult {
        workload,
        images_per_second: images_per_iter as f64 / secs,
        seconds_per_iter: secs,
        peak_rss_mb: peak_rss_mb(),
    }
}

fn sync(device: &Device) {
    if let Err(e) = device.sync() {
        eprintln!("warning: device sync failed ({e:?}); timings may be off");
    }
}

/// A full MoCo training step (momentum update, key and query forwards, InfoNCE against the
/// queue, backward, SGD) on random images at the configuration's size and batch; data
/// parallel when `train.devices` names several devices.
pub fn pretrain_step(
    cfg: &PretrainConfig,
    device: &Device,
    warmup: usize,
    iters: usize,
) -> Result<BenchResult, String> {
    let train = device.clone().autodiff();
    let n = cfg.train.batch_size;
    let size = cfg.train.image_size;
    let mut moco = Moco::new(&cfg.encoder_config(), cfg.moco.clone(), 0, &train, device);
    let mut sgd = Sgd::new(cfg.optim.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x_k = random_images(n, size, 2, device);
    let mut name = format!(
        "pretrain step {} x{} {}px batch {}",
        cfg.model.arch, cfg.model.width_mult, size, n
    );
    if cfg.train.devices.len() > 1 {
        // Data parallel: the query batch stays on the plain device, shards move to theirs.
        let devices = crate::device::select_all(&cfg.train.device, &cfg.train.devices)?;
        let mut dp = DataParallel::new(&cfg.encoder_config(), devices)?;
        name.push_str(&format!(" on {} devices", dp.devices()));
        let x_q = random_images(n, size, 1, device);
        return Ok(measure(name, n, device, warmup, iters, || {
            let step = dp.forward_backward(&mut moco, x_q.clone(), x_k.clone(), None, &mut rng);
            moco.encoder_q = sgd.step(moco.encoder_q.clone(), step.grads, 0.03);
        }));
    }
    let x_q = random_images(n, size, 1, &train);
    Ok(measure(name, n, device, warmup, iters, || {
        let out = moco.forward(x_q.clone(), x_k.clone(), &mut rng);
        let grads = GradientsParams::from_grads(out.loss.backward(), &moco.encoder_q);
        moco.encoder_q = sgd.step(moco.encoder_q.clone(), grads, 0.03);
    }))
}

/// The key encoder's forward alone (train-mode BN, no gradient): the cost MoCo adds per step.
pub fn key_forward(
    cfg: &PretrainConfig,
    device: &Device,
    warmup: usize,
    iters: usize,
) -> BenchResult {
    let train = device.clone().autodiff();
    let n = cfg.train.batch_size;
    let size = cfg.train.image_size;
    let moco = Moco::new(&cfg.encoder_config(), cfg.moco.clone(), 0, &train, device);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x_k = random_images(n, size, 2, device);
    let name = format!("key-encoder forward {size}px batch {n}");
    measure(name, n, device, warmup, iters, || {
        let k = moco.keys(x_k.clone(), &mut rng);
        let _ = k.into_data();
    })
}

/// Eval-mode feature extraction (linear probe, kNN, embedding).
pub fn feature_extraction(
    cfg: &PretrainConfig,
    device: &Device,
    warmup: usize,
    iters: usize,
) -> BenchResult {
    let n = cfg.train.batch_size;
    let size = cfg.train.image_size;
    let backbone = cfg.encoder_config().backbone.init(device).valid();
    let x = random_images(n, size, 3, device);
    let name = format!("feature extraction (eval) {size}px batch {n}");
    measure(name, n, device, warmup, iters, || {
        let _ = backbone.forward_features(x.clone()).into_data();
    })
}

/// A DBNet training step (forward, the three-term loss with hard-negative mining, backward,
/// SGD) on random crops of `crop` px, `n` per step, with text-like stripes as targets.
pub fn detect_step(
    cfg: &crate::tasks::detect::config::DetectConfig,
    device: &Device,
    warmup: usize,
    iters: usize,
) -> anyhow::Result<BenchResult> {
    use crate::tasks::detect::loss::{db_loss, DbTargets};
    let train = device.clone().autodiff();
    let (n, s) = (cfg.train.batch_size, cfg.augment.crop_size);
    let mut model = crate::tasks::detect::train::build_detector(cfg, &train)?;
    let mut sgd = Sgd::new(crate::optim::SgdParams {
        momentum: cfg.optim.momentum,
        weight_decay: cfg.optim.weight_decay,
    });
    let x = random_images(n, s, 4, &train);
    // Rows 3..6 of every 16 are "text": about the text share of a document page.
    let stripes: Vec<f32> = (0..n * s * s)
        .map(|i| f32::from(u8::from((3..6).contains(&((i / s) % 16)))))
        .collect();
    let map = |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [n, s, s]), &train);
    let targets = DbTargets {
        shrink_map: map(stripes.clone()),
        shrink_mask: map(vec![1.0; n * s * s]),
        thresh_map: map(vec![0.5; n * s * s]),
        thresh_mask: map(stripes),
    };
    let name = format!(
        "detect step {} x{} crop {s}px batch {n} (FPN {})",
        cfg.model.arch, cfg.model.width_mult, cfg.head.inner_channels
    );
    Ok(measure(name, n, device, warmup, iters, || {
        let loss = db_loss(&model.forward(x.clone()), &targets, &cfg.loss);
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        model = sgd.step(model.clone(), grads, cfg.optim.lr);
    }))
}

/// Detector inference on one page of `side` x `side * 3/4` px (probability map only).
pub fn detect_infer(
    cfg: &crate::tasks::detect::config::DetectConfig,
    device: &Device,
    warmup: usize,
    iters: usize,
) -> anyhow::Result<BenchResult> {
    let model = crate::tasks::detect::train::build_detector(cfg, device)?.valid();
    let h = (cfg.infer.long_side as usize).div_ceil(32) * 32;
    let w = (h * 3 / 4).div_ceil(32) * 32;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let dist = Uniform::new(-2.0f32, 2.0);
    let v: Vec<f32> = (0..3 * h * w).map(|_| dist.sample(&mut rng)).collect();
    let x = Tensor::<4>::from_data(TensorData::new(v, [1, 3, h, w]), device);
    let name = format!("detect inference page {h}x{w} (probability map)");
    Ok(measure(name, 1, device, warmup, iters, || {
        let _ = model.forward_prob(x.clone()).into_data();
    }))
}

/// One convolution's three matrix-product passes, timed through docmoco's CPU kernels.
#[derive(Clone, Debug, Serialize)]
pub struct ConvPassResult {
    /// Which layer: `stem`, `stageN` (its 3×3 stride-1 convolutions), `stageN-down` (the
    /// boundary's stride-2 3×3) or `stageN-proj` (the boundary's 1×1 stride-2 projection).
    pub layer: String,
    /// `forward`, `weight_grad` or `input_grad`.
    pub pass: String,
    /// Matrix-multiply micro-kernel family the process may use for the pass: `avx512` or `avx2`
    /// (what [`crate::kernels::matmul::widest`] allows; narrow products may still take AVX2).
    pub family: String,
    pub milliseconds: f64,
    /// Multiply-adds × 2 of the pass as im2col counts them (every tap at every output
    /// position, the zero padding included, as `tools/bench_torch_conv.py` counts PyTorch's),
    /// per second: a kernel that skips the padding (docmoco's per-tap path, oneDNN) can show
    /// more than the CPU's FMA peak.
    pub gflops: f64,
}

/// A convolution `bench conv` times: (name, input channels, output channels, kernel, stride,
/// input side).
type BenchLayer = (String, usize, usize, usize, usize, usize);

/// ResNet-18's stem, one 3×3 stride-1 convolution per stage, then (after all four, so that
/// earlier rows keep their order) the stage boundaries' stride-2 3×3 (`-down`) and 1×1
/// projection (`-proj`), with the input side and channels of the stage before.
fn resnet_layers(image_size: usize, width: impl Fn(usize) -> usize) -> Vec<BenchLayer> {
    let mut layers = vec![("stem".to_string(), 3, width(64), 7, 2, image_size)];
    let mut side = image_size.div_ceil(2).div_ceil(2); // after the stem and its max pool
    let mut boundaries = Vec::new();
    for (s, c) in [64, 128, 256, 512].into_iter().enumerate() {
        if s > 0 {
            let (before, c_prev) = (side, width([64, 128, 256][s - 1]));
            side = side.div_ceil(2);
            let name = |kind: &str| format!("stage{}-{kind}", s + 1);
            boundaries.push((name("down"), c_prev, width(c), 3, 2, before));
            boundaries.push((name("proj"), c_prev, width(c), 1, 2, before));
        }
        layers.push((format!("stage{}", s + 1), width(c), width(c), 3, 1, side));
    }
    layers.extend(boundaries);
    layers
}

/// DBNet's FPN neck on that backbone (`tasks::detect::model`): the lateral 1×1 convolutions
/// `fpn-inK` (stage K's channels → `inner`) and the 3×3 smoothing ones `fpn-outK` (`inner` →
/// `inner / 4`), at the stage's side. The two heads' first convolutions have `fpn-out2`'s
/// shape (3×3, `inner` → `inner / 4` on the 1/4-scale plane).
fn fpn_layers(image_size: usize, width: impl Fn(usize) -> usize, inner: usize) -> Vec<BenchLayer> {
    let mut side = image_size.div_ceil(2).div_ceil(2);
    let mut lateral = Vec::new();
    let mut smooth = Vec::new();
    for (s, c) in [64, 128, 256, 512].into_iter().enumerate() {
        if s > 0 {
            side = side.div_ceil(2);
        }
        lateral.push((format!("fpn-in{}", s + 2), width(c), inner, 1, 1, side));
        smooth.push((
            format!("fpn-out{}", s + 2),
            inner,
            (inner / 4).max(1),
            3,
            1,
            side,
        ));
    }
    lateral.into_iter().chain(smooth).collect()
}

/// Times the forward, weight-gradient and input-gradient passes of ResNet-18's stem, of one
/// 3×3 convolution per stage and of the stage boundaries' strided convolutions, at the given
/// input size, batch and width (and, with `fpn` = DBNet's FPN width, of that neck's
/// convolutions, listed after them), through [`crate::kernels::conv_cpu`] (im2col, the
/// product, the layout copies, or a direct kernel): how fast docmoco's convolution kernels run
/// on this CPU. `DOCMOCO_MATMUL=avx2` in the environment keeps the products on AVX2, to
/// compare the families in one binary.
pub fn conv_passes(
    image_size: usize,
    batch: usize,
    (width_mult, fpn): (f64, Option<usize>),
    warmup: usize,
    iters: usize,
) -> Vec<ConvPassResult> {
    use crate::kernels::conv_cpu::{backward, forward, ConvGeometry};
    use crate::kernels::matmul::{widest, Isa};
    let width = |c: usize| ((c as f64 * width_mult).round() as usize).max(1);
    let mut layers = resnet_layers(image_size, width);
    if let Some(inner) = fpn {
        layers.extend(fpn_layers(image_size, width, inner));
    }
    let family = match widest() {
        Isa::Avx512 => "avx512",
        Isa::Avx2 => "avx2",
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let dist = Uniform::new(-1.0f32, 1.0);
    let mut random = |n: usize| -> Vec<f32> { (0..n).map(|_| dist.sample(&mut rng)).collect() };
    let mut out = Vec::new();
    for (layer, c_in, c_out, k, stride, side) in layers {
        let pad = k / 2;
        let Some(g) = ConvGeometry::new(
            [batch, c_in, side, side],
            [c_out, c_in, k, k],
            [stride; 2],
            [pad; 2],
            [1, 1],
        ) else {
            continue;
        };
        let (x, w, dy) = (random(g.x_len()), random(g.weight_len()), random(g.y_len()));
        let flops = 2.0 * (g.c_out * g.k() * g.positions() * g.batch) as f64;
        let passes: [(&str, &dyn Fn()); 3] = [
            ("forward", &|| drop(forward(&x, &w, &g))),
            ("weight_grad", &|| {
                drop(backward(&x, &w, &dy, &g, false, true))
            }),
            ("input_grad", &|| {
                drop(backward(&x, &w, &dy, &g, true, false))
            }),
        ];
        for (pass, f) in passes {
            for _ in 0..warmup {
                f();
            }
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            let secs = t.elapsed().as_secs_f64() / iters.max(1) as f64;
            out.push(ConvPassResult {
                layer: layer.clone(),
                pass: pass.to_string(),
                family: family.to_string(),
                milliseconds: secs * 1e3,
                gflops: flops / secs / 1e9,
            });
        }
    }
    out
}
