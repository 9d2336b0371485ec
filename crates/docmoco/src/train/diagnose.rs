//! The frozen-encoder diagnostic of a MoCo run, inside `pretrain` (every `train.diag_every`
//! epochs) and as `docmoco diagnose` on a finished or running run.
//!
//! Both encoders are frozen and put in eval mode; a sample of pages goes through the run's own
//! two-view pipeline (query view → query side, key view → key side; [`FrozenNets`]), and the
//! measures of [`crate::ssl::diagnostics`] are read off: frozen instance accuracy with as many
//! candidates as training had (v1/v2: 1 + K; v3: the batch), mean cos(q, k+) and cos(q, k−),
//! the queue's stale keys of the same pages (v1/v2), and the spread / effective rank of the
//! keys.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::config::PretrainConfig;
use super::data::{self, extract_features, Pages};
use super::pretrain::to_tensor;
use crate::model::Backbone;
use crate::ssl::diagnostics::{
    effective_rank, flags, frozen_similarities, spread, stale_ratio, top_share, Flags,
    FrozenSimilarities,
};
use crate::ssl::info_nce::l2_normalize;
use crate::ssl::moco::{key_encoder_from, Moco};
use crate::ssl::moco_v3::MocoV3;
use crate::ssl::queue::KeyQueue;
use docmoco_data::loader::{EvalLoader, PretrainLoader};
use docmoco_data::PageCache;

/// The views of the diagnostic come from this epoch number of the loader: fixed, so two
/// measurements of a run see the same crops, and far from any training epoch.
const DIAG_EPOCH: u64 = 1 << 40;

/// How many standard errors the frozen gap must reach for the positive to "clearly" stand
/// out (random init: 0–1; the overlapping-view `moco-v2-doc` runs: 7–12).
pub const CLEAR_GAP_SE: f64 = 3.0;

/// Everything one diagnostic measured, and the flags.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Training steps done when measured.
    pub step: usize,
    pub frozen: FrozenSimilarities,
    /// Mean cosine of the frozen queries to the queue's keys of their own pages (made by
    /// earlier key encoders), and to the other queued keys (v1/v2; `None` for v3: no queue).
    pub queue_stale: Option<f64>,
    #[serde(default)]
    pub queue_other: Option<f64>,
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
        stale_ratio(self.frozen.pos, self.queue_other?, self.queue_stale)
    }

    /// Whether the frozen positive stands out from the other pages' keys by more than
    /// sampling noise: the gap at least [`CLEAR_GAP_SE`] standard errors.
    pub fn positive_stands_out(&self) -> bool {
        let gap = self.frozen.pos - self.frozen.neg;
        gap > 0.0 && gap >= CLEAR_GAP_SE * self.frozen.gap_se
    }

    /// What the numbers say, in one sentence, when no flag is raised.
    pub fn unflagged_verdict(&self) -> String {
        let gap = self.frozen.pos - self.frozen.neg;
        if self.positive_stands_out() {
            format!(
                "no shortcut or collapse flag: frozen encoders tell a page's views from other pages' (gap {gap:.3} = {:.0} s.e.)",
                gap / self.frozen.gap_se.max(f64::MIN_POSITIVE)
            )
        } else {
            format!(
                "no shortcut or collapse flag, but the frozen positive does not clearly stand out (gap {gap:.3} ± {:.3} s.e.): the encoders have not learnt to tell pages apart",
                self.frozen.gap_se
            )
        }
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

    /// The sample a run measures every `train.diag_every` epochs, if it does.
    pub fn for_run(pages: &Pages, cfg: &PretrainConfig) -> Result<Option<Self>> {
        (cfg.train.diag_every > 0)
            .then(|| Self::new(pages, cfg, cfg.train.diag_pages))
            .transpose()
    }

    /// Measures `nets` (frozen copies; the run's networks are not touched). With `flag` false
    /// (a run's transient first epochs) the numbers are measured and no flag is raised.
    pub fn measure(
        &self,
        nets: &FrozenNets,
        step: usize,
        train_instance_acc: Option<f64>,
        flag: bool,
        device: &Device,
    ) -> Result<Diagnosis> {
        let embed =
            |f: &dyn Fn(Tensor<4>) -> Tensor<2>, x: Tensor<4>| -> Result<(Tensor<2>, Vec<f32>)> {
                let z = l2_normalize(f(x));
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
        let queue = nets.queue.map(|queue| KeyQueue {
            keys: queue.keys.clone().to_device(device),
            ptr: queue.ptr,
            ids: queue.ids.clone(),
        });
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
            let (zq, vq) = embed(&*nets.query, xq)?;
            let (_, vk) = embed(&*nets.key, xk)?;
            let ids = batch.query.indices.clone();
            if let Some(queue) = &queue {
                let (other, stale) = queue.similarities(&zq, Some(&ids));
                other_sum += other * n as f64;
                other_n += n;
                if let Some((s, pairs)) = stale {
                    stale_sum += s * pairs as f64;
                    stale_n += pairs;
                }
            }
            q.extend(vq);
            k.extend(vk);
            pages.extend(ids);
            if pages.len() >= self.max_pages {
                break;
            }
        }
        let dim = nets.dim;
        let n = pages.len().min(self.max_pages);
        if n < 2 {
            bail!("the diagnostic needs at least 2 pages, got {n}");
        }
        q.truncate(n * dim);
        k.truncate(n * dim);
        let frozen = frozen_similarities(&q, &k, n, dim, nets.candidates.min(n));
        let queue_stale = (stale_n > 0).then(|| stale_sum / stale_n as f64);
        let queue_other = (other_n > 0).then(|| other_sum / other_n as f64);
        let spread_k = spread(&k, n, dim);
        let rank_k = effective_rank(&k, n, dim);
        // The backbone on whole pages, as a linear probe or kNN will see it.
        let whole = extract_features(&nets.key_backbone, &self.whole_pages, device)?;
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
        if flag {
            d.flags = flags(
                train_instance_acc,
                Some(&d.frozen),
                d.stale_ratio(),
                Some(spread_k),
                Some(rank_k),
            );
        }
        Ok(d)
    }
}

/// The frozen networks a diagnostic compares, in eval mode: v1/v2's query and key encoders
/// with the queue, or v3's query (base encoder + predictor) and momentum encoder.
pub struct FrozenNets<'a> {
    query: Box<dyn Fn(Tensor<4>) -> Tensor<2>>,
    key: Box<dyn Fn(Tensor<4>) -> Tensor<2>>,
    /// The key side's backbone, read on whole pages as a probe or kNN reads it.
    key_backbone: Backbone,
    queue: Option<&'a KeyQueue>,
    /// Candidates per query of the training task: 1 + K (v1/v2), the batch (v3, in-batch).
    candidates: usize,
    dim: usize,
}

impl<'a> FrozenNets<'a> {
    /// MoCo v1/v2: `encoder_q` against `encoder_k`, and the queue's stale keys.
    pub fn moco(moco: &'a Moco) -> Self {
        let (q, k) = (moco.encoder_q.valid(), moco.encoder_k.valid());
        Self {
            key_backbone: Backbone::ResNet(k.backbone.clone()),
            query: Box::new(move |x| q.forward(x)),
            key: Box::new(move |x| k.forward(x)),
            queue: Some(&moco.queue),
            candidates: moco.queue.len() + 1,
            dim: moco.params.dim,
        }
    }

    /// MoCo v3: `predictor(base_encoder(x1))` against `momentum_encoder(x2)`, as the loss
    /// compares them, ranked among `batch_size` candidates like the in-batch training task.
    /// No queue, so no stale keys: a shortcut shows only as training accuracy far above the
    /// frozen one (e.g. won on batch statistics, which eval mode removes).
    pub fn moco_v3(moco: &MocoV3, batch_size: usize) -> Self {
        let (q, k) = (moco.query.valid(), moco.momentum_encoder.valid());
        Self {
            key_backbone: k.backbone.clone(),
            query: Box::new(move |x| q.forward(x)),
            key: Box::new(move |x| k.forward(x)),
            queue: None,
            candidates: batch_size,
            dim: moco.params.dim,
        }
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
    let pages = data::open_pages(&data_dir, data::cache_long_side(&cfg), quiet)?;
    let probe = FrozenProbe::new(&pages, &cfg, max_pages)?;
    let train_acc = || last_epoch_instance_acc(&run_dir.join("metrics.csv"));
    let d = if cfg.v3.is_some() {
        let (moco, step) = super::pretrain_v3::load_checkpoint(&cfg, &ckpt, &device)?;
        let nets = FrozenNets::moco_v3(&moco, cfg.train.batch_size);
        probe.measure(&nets, step, train_acc(), true, &device)?
    } else {
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
        // With random initial keys still queued the training accuracy says nothing (see
        // `KeyQueue::is_filled`).
        let train_acc = moco.queue.is_filled().then(train_acc).flatten();
        let step = ck.meta.position.step;
        probe.measure(&FrozenNets::moco(&moco), step, train_acc, true, &device)?
    };
    let out = run_dir.join("diagnosis.json");
    checkpoint::write_atomic(&out, serde_json::to_string_pretty(&d)?.as_bytes())?;
    Ok((d, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnosis(pos: f64, neg: f64, gap_se: f64) -> Diagnosis {
        Diagnosis {
            step: 1,
            frozen: FrozenSimilarities {
                pos,
                neg,
                gap_se,
                ..Default::default()
            },
            queue_stale: None,
            queue_other: None,
            spread: 0.9,
            effective_rank: 30.0,
            dim: 128,
            backbone_top_share: None,
            backbone_effective_rank: None,
            train_instance_acc: None,
            flags: Flags::default(),
        }
    }

    /// Measured on real pages: the overlapping-view moco-v2-doc (gap 0.078 ± 0.008) stands
    /// out, the non-overlapping moco-v3-doc (0.007 ± 0.003) and random init do not.
    #[test]
    fn the_verdict_needs_a_gap_of_several_standard_errors() {
        let clear = diagnosis(0.45, 0.37, 0.008);
        assert!(clear.positive_stands_out());
        assert!(clear.unflagged_verdict().contains("tell a page's views"));
        for d in [
            diagnosis(0.009, 0.002, 0.003),
            diagnosis(0.98, 0.98, 0.0),
            diagnosis(0.30, 0.35, 0.001),
        ] {
            assert!(!d.positive_stands_out(), "{:?}", d.frozen);
            assert!(d.unflagged_verdict().contains("does not clearly stand out"));
        }
        // No stale ratio without a queue.
        assert_eq!(clear.stale_ratio(), None);
    }
}
