//! The frozen-encoder diagnostic of a MoCo v1/v2 run, inside `pretrain` (every
//! `train.diag_every` epochs) and as `docmoco diagnose` on a finished or running run.
//!
//! Both encoders are frozen and put in eval mode; a sample of pages goes through the run's own
//! two-view pipeline (query view → query encoder, key view → key encoder), and the measures of
//! [`crate::ssl::diagnostics`] are read off: frozen instance accuracy with as many candidates as
//! training had (1 + K), mean cos(q, k+) and cos(q, k−), the queue's stale keys of the same
//! pages, and the spread / effective rank of the keys.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::config::PretrainConfig;
use super::data::{self, extract_features, Pages};
use super::pretrain::to_tensor;
use crate::model::Encoder;
use crate::ssl::diagnostics::{
    effective_rank, flags, frozen_similarities, spread, stale_ratio, top_share, Flags,
    FrozenSimilarities,
};
use crate::ssl::info_nce::l2_normalize;
use crate::ssl::moco::{key_encoder_from, Moco};
use crate::ssl::queue::KeyQueue;
use docmoco_data::loader::{EvalLoader, PretrainLoader};
use docmoco_data::PageCache;

/// The views of the diagnostic come from this epoch number of the loader: fixed, so two
/// measurements of a run see the same crops, and far from any training epoch.
const DIAG_EPOCH: u64 = 1 << 40;

/// Everything one diagnostic measured, and the flags.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Training steps done when measured.
    pub step: usize,
    pub frozen: FrozenSimilarities,
    /// Mean cosine of the frozen queries to the queue's keys of their own pages (made by
    /// earlier key encoders), and to the other queued keys.
    pub queue_stale: Option<f64>,
    pub queue_other: f64,
    /// Spread (1 = even over the sphere, 0 = collapsed) and effective rank of the keys.
    pub spread: f64,
    pub effective_rank: f64,
    pub dim: usize,
    /// Share of the variance of the (normalised) key-encoder *backbone* features of whole
    /// pages along their first principal direction, and their effective rank — reported, not
    /// flagged: on real pages that direction is the amount of ink in every backbone, random
    /// init included, and its share did not predict linear-probe accuracy (docs/doc-recipe.md).
    #[serde(default)]
    pub backbone_top_share: Option<f64>,
    #[serde(default)]
    pub backbone_effective_rank: Option<f64>,
    /// Training instance accuracy the frozen one is compared with: the last epoch's mean over
    /// the steps whose queue held only real keys (none while random initial keys remain).
    pub train_instance_acc: Option<f64>,
    pub flags: Flags,
}

impl Diagnosis {
    /// `(stale - other) / (pos - other)` for the frozen queries: 0 when the queue's old keys
    /// of a page look like strangers, 1 when they look like the fresh positive.
    pub fn stale_ratio(&self) -> Option<f64> {
        stale_ratio(self.frozen.pos, self.queue_other, self.queue_stale)
    }

    /// One line for the progress bar and the console.
    pub fn summary(&self) -> String {
        format!(
            "diagnostic [{}]: frozen instance acc {:.1}% ({} candidates; training {}), cos(q,k+) {:.3} vs cos(q,k-) {:.3} (gap {:.3} ± {:.3} s.e.; own key above {:.0}% of the others), stale own keys {}, spread {:.2}, eff. rank {:.1}/{}, backbone top direction {}",
            self.flags.label(),
            self.frozen.instance_acc * 100.0,
            self.frozen.candidates,
            self.train_instance_acc
                .map_or("n/a".into(), |a| format!("{:.1}%", a * 100.0)),
            self.frozen.pos,
            self.frozen.neg,
            self.frozen.pos - self.frozen.neg,
            self.frozen.gap_se,
            self.frozen.pos_rank * 100.0,
            self.queue_stale
                .map_or("n/a".into(), |s| format!("{s:.3} (ratio {:.2})", self.stale_ratio().unwrap_or(f64::NAN))),
            self.spread,
            self.effective_rank,
            self.dim,
            self.backbone_top_share
                .map_or("n/a".into(), |t| format!("{:.0}%", t * 100.0))
        )
    }
}

/// The diagnostic's fixed sample of views.
pub struct FrozenProbe {
    loader: PretrainLoader,
    /// Up to `max_pages` pages spread over the data set, whole-page views.
    whole_pages: EvalLoader,
    max_pages: usize,
}

impl FrozenProbe {
    /// Up to `max_pages` pages of `pages`, viewed by `cfg`'s pre-training pipeline.
    pub fn new(pages: &Pages, cfg: &PretrainConfig, max_pages: usize) -> Result<Self> {
        let mut small = cfg.clone();
        // Batch statistics are not used (eval mode), so any batch size gives the same numbers.
        small.train.batch_size = cfg.train.batch_size.min(pages.len()).max(1);
        let max_pages = max_pages.max(2);
        let every = pages.len().div_ceil(max_pages).max(1);
        let sample: Vec<_> = (0..pages.len())
            .step_by(every)
            .map(|i| pages.cache.get(i).clone())
            .collect();
        let sample = PageCache::from_images(sample)?;
        Ok(Self {
            loader: data::two_view_loader(pages, &small)?,
            whole_pages: data::whole_page_loader(sample, &small)?,
            max_pages,
        })
    }

    /// Measures `moco`'s encoders (frozen copies; the run's are not touched).
    pub fn measure(
        &self,
        moco: &Moco,
        step: usize,
        train_instance_acc: Option<f64>,
        device: &Device,
    ) -> Result<Diagnosis> {
        let encoder_q = moco.encoder_q.valid();
        let encoder_k = moco.encoder_k.valid();
        let embed = |e: &Encoder, x: Tensor<4>| -> Result<(Tensor<2>, Vec<f32>)> {
            let z = l2_normalize(e.forward(x));
            let v = z
                .clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("read-back: {e:?}"))?;
            Ok((z, v))
        };
        let (mut q, mut k, mut pages) = (Vec::new(), Vec::new(), Vec::new());
        let (mut stale_sum, mut stale_n, mut other_sum, mut other_n) = (0.0, 0usize, 0.0, 0usize);
        for batch in self.loader.epoch_iter(DIAG_EPOCH, 0)? {
            let n = batch.query.n;
            let xq = to_tensor(
                batch.query.images,
                n,
                batch.query.height,
                batch.query.width,
                device,
            );
            let xk = to_tensor(
                batch.key.images,
                n,
                batch.key.height,
                batch.key.width,
                device,
            );
            let (zq, vq) = embed(&encoder_q, xq)?;
            let (_, vk) = embed(&encoder_k, xk)?;
            let ids = batch.query.indices.clone();
            let queue = KeyQueue {
                keys: moco.queue.keys.clone().to_device(device),
                ptr: moco.queue.ptr,
                ids: moco.queue.ids.clone(),
            };
            let (other, stale) = queue.similarities(&zq, Some(&ids));
            other_sum += other * n as f64;
            other_n += n;
            if let Some((s, pairs)) = stale {
                stale_sum += s * pairs as f64;
                stale_n += pairs;
            }
            q.extend(vq);
            k.extend(vk);
            pages.extend(ids);
            if pages.len() >= self.max_pages {
                break;
            }
        }
        let dim = moco.params.dim;
        let n = pages.len().min(self.max_pages);
        if n < 2 {
            bail!("the diagnostic needs at least 2 pages, got {n}");
        }
        q.truncate(n * dim);
        k.truncate(n * dim);
        let candidates = (moco.queue.len() + 1).min(n);
        let frozen = frozen_similarities(&q, &k, n, dim, candidates);
        let queue_stale = (stale_n > 0).then(|| stale_sum / stale_n as f64);
        let queue_other = other_sum / other_n.max(1) as f64;
        let spread_k = spread(&k, n, dim);
        let rank_k = effective_rank(&k, n, dim);
        // The backbone on whole pages, as a linear probe or kNN will see it.
        let whole = extract_features(&encoder_k.backbone, &self.whole_pages, device)?;
        let m = whole.values.len() / whole.dim.max(1);
        let backbone_top_share = Some(top_share(&whole.values, m, whole.dim));
        let mut d = Diagnosis {
            step,
            frozen,
            queue_stale,
            queue_other,
            spread: spread_k,
            effective_rank: rank_k,
            dim,
            backbone_top_share,
            backbone_effective_rank: Some(effective_rank(&whole.values, m, whole.dim)),
            train_instance_acc,
            flags: Flags::default(),
        };
        d.flags = flags(
            train_instance_acc,
            Some(&d.frozen),
            d.stale_ratio(),
            Some(spread_k),
            Some(rank_k),
        );
        Ok(d)
    }
}

/// The mean training instance accuracy of the last logged epoch of `metrics.csv`.
pub fn last_epoch_instance_acc(metrics: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(metrics).ok()?;
    let rows: Vec<(usize, f64)> = text
        .lines()
        .filter(|l| l.starts_with("step,"))
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Some((c.get(1)?.parse().ok()?, c.get(4)?.parse().ok()?))
        })
        .collect();
    let last = rows.last()?.0;
    let accs: Vec<f64> = rows
        .iter()
        .filter(|(e, _)| *e == last)
        .map(|(_, a)| *a)
        .collect();
    Some(accs.iter().sum::<f64>() / accs.len() as f64)
}

/// `docmoco diagnose`: loads the newest checkpoint of `run_dir` and measures it on the pages of
/// `data` (default: the run's own data folder). Writes `run_dir/diagnosis.json`.
pub fn diagnose_run(
    run_dir: &Path,
    data: Option<&Path>,
    max_pages: usize,
    quiet: bool,
) -> Result<(Diagnosis, PathBuf)> {
    let cfg_path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path).with_context(|| {
        format!(
            "{} is not a pre-training run (no config.toml)",
            run_dir.display()
        )
    })?;
    let mut cfg: PretrainConfig =
        toml::from_str(&text).with_context(|| format!("{}", cfg_path.display()))?;
    if cfg.v3.is_some() {
        bail!(
            "{}: a MoCo v3 run has no queue and no momentum-encoder shortcut of this kind; `diagnose` reads MoCo v1/v2 runs",
            run_dir.display()
        );
    }
    if let Some(d) = data {
        cfg.data.dir = Some(d.to_path_buf());
    }
    let Some(data_dir) = cfg.data.dir.clone() else {
        bail!(
            "{} does not name its data folder: pass --data DIR",
            cfg_path.display()
        );
    };
    let ckpt = checkpoint::latest(&run_dir.join("checkpoints"))
        .with_context(|| format!("{} has no checkpoint yet", run_dir.display()))?;
    let device = crate::device::select(&cfg.train.device).map_err(anyhow::Error::msg)?;
    let encoder_cfg = cfg.encoder_config();
    let moco = Moco::new(
        &encoder_cfg,
        cfg.moco.clone(),
        cfg.train.seed,
        &device,
        &device,
    );
    let template_k = key_encoder_from(&moco.encoder_q, &encoder_cfg, &device);
    let ck = checkpoint::load(&ckpt, moco.encoder_q.clone(), template_k, &device)?;
    let moco = Moco {
        encoder_q: ck.encoder_q,
        encoder_k: ck.encoder_k,
        queue: KeyQueue::from_parts(ck.queue, ck.meta.queue_ptr, ck.meta.queue_ids),
        params: cfg.moco.clone(),
    };
    let pages = data::open_pages(&data_dir, data::cache_long_side(&cfg), quiet)?;
    let probe = FrozenProbe::new(&pages, &cfg, max_pages)?;
    // With random initial keys still queued the training accuracy says nothing (see
    // `KeyQueue::is_filled`).
    let train_acc = moco
        .queue
        .is_filled()
        .then(|| last_epoch_instance_acc(&run_dir.join("metrics.csv")))
        .flatten();
    let d = probe.measure(&moco, ck.meta.position.step, train_acc, &device)?;
    let out = run_dir.join("diagnosis.json");
    checkpoint::write_atomic(&out, serde_json::to_string_pretty(&d)?.as_bytes())?;
    Ok((d, out))
}
