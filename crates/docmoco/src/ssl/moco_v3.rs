//! MoCo v3 (Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision
//! Transformers"), following `moco/builder.py` of facebookresearch/moco-v3.
//!
//! Differences from v1/v2, each one data or one function here:
//! - **no queue**: the negatives of a query are the other keys of its batch;
//! - **predictor** MLP on the query branch only (BYOL-style asymmetry);
//! - **symmetric loss** `ctr(q1, k2) + ctr(q2, k1)`, `ctr = CE(q·kᵀ/T, arange(N)) · 2T`;
//! - **momentum schedule** `m` rising from `m0` to 1 by half a cosine, set every step;
//! - heads are `Linear → BN → ReLU` MLPs ([`HeadSpec::bn_mlp`]): projector of 2 (ResNet) or 3
//!   (ViT) layers with an affine-free last BN, predictor of 2 layers whose last BN is on for
//!   ViT and off for ResNet (`MoCo_ViT` / `MoCo_ResNet` in the reference).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::info_nce::{diagonal_cross_entropy, l2_normalize};
use super::momentum::momentum_update;
use crate::model::backbone::{Backbone, BackboneConfig};
use crate::model::heads::{HeadSpec, ProjectionHead};
use crate::model::params::{copy_tensors, initialize, seeded_init, without_autodiff};

/// Hyper-parameters of MoCo v3 itself (the reference's `--moco-*` flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MocoV3Params {
    /// Output dimension of projector and predictor (`--moco-dim`, 256).
    pub dim: usize,
    /// Hidden width of both MLPs (`--moco-mlp-dim`, 4096).
    pub mlp_dim: usize,
    /// Initial momentum `m0` (`--moco-m`, 0.99).
    pub momentum: f64,
    /// Raise `m` to 1 by half a cosine over training (`--moco-m-cos`).
    #[serde(default = "yes")]
    pub momentum_cos: bool,
    /// Softmax temperature (`--moco-t`: 1.0 for ResNet, 0.2 for ViT).
    pub temperature: f64,
    /// Back-propagate the query backbone this many images at a time (0 = whole batch). Exact
    /// only for backbones without batch statistics (ViT), see [`MocoV3::forward_backward`].
    #[serde(default)]
    pub query_chunk: usize,
}

fn yes() -> bool {
    true
}

impl Default for MocoV3Params {
    fn default() -> Self {
        Self {
            dim: 256,
            mlp_dim: 4096,
            momentum: 0.99,
            momentum_cos: true,
            temperature: 1.0,
            query_chunk: 0,
        }
    }
}

/// `adjust_moco_momentum` of main_moco.py: `m = 1 − ½(1 + cos(π·epoch/epochs))(1 − m0)`, with
/// `epoch` fractional (`epoch + i / iters_per_epoch`) so that `m` changes every step.
pub fn momentum_at(m0: f64, epoch: f64, epochs: usize) -> f64 {
    1.0 - 0.5 * (1.0 + (std::f64::consts::PI * epoch / epochs.max(1) as f64).cos()) * (1.0 - m0)
}

/// `MoCo.contrastive_loss`: in-batch InfoNCE, the positive of row `i` is key `i`; scaled by `2T`
/// as the reference does (it makes the gradient scale independent of `T`).
///
/// # Shapes
/// - q, k: `[N, C]` (not normalised) → scalar `[1]`
pub fn contrastive_loss(q: Tensor<2>, k: Tensor<2>, temperature: f64) -> Tensor<1> {
    let q = l2_normalize(q);
    let k = l2_normalize(k);
    let logits = q.matmul(k.transpose()).div_scalar(temperature); // NxN
    diagonal_cross_entropy(logits).mul_scalar(2.0 * temperature)
}

/// `ctr(q1, k2) + ctr(q2, k1)`.
pub fn symmetric_loss(
    q1: Tensor<2>,
    q2: Tensor<2>,
    k1: Tensor<2>,
    k2: Tensor<2>,
    temperature: f64,
) -> Tensor<1> {
    contrastive_loss(q1, k2, temperature) + contrastive_loss(q2, k1, temperature)
}

/// Fraction of queries whose own key (the diagonal) scores highest among the batch's keys:
/// the pretext task's top-1 accuracy, as `instance_accuracy` is for v1/v2.
///
/// # Shapes
/// - q, k: `[N, C]` (not normalised, no graph needed)
pub fn in_batch_accuracy(q: Tensor<2>, k: Tensor<2>) -> f64 {
    let [n, _] = q.dims();
    let logits = l2_normalize(q).matmul(l2_normalize(k).transpose()); // NxN
    let diag = (logits.clone() * Tensor::<2>::eye(n, &logits.device())).sum_dim(1);
    let hits = diag.greater_equal(logits.max_dim(1)).float().sum();
    hits.into_scalar::<f32>() as f64 / n as f64
}

/// The heads of a v3 model for `backbone` (`_build_projector_and_predictor_mlps`).
pub fn v3_heads(backbone: &BackboneConfig, params: &MocoV3Params) -> (HeadSpec, HeadSpec) {
    let hidden = backbone.feature_dim();
    let (d, mlp) = (params.dim, params.mlp_dim);
    match backbone {
        BackboneConfig::ResNet(_) => (
            HeadSpec::bn_mlp(2, hidden, mlp, d, true),
            HeadSpec::bn_mlp(2, d, mlp, d, false),
        ),
        BackboneConfig::Vit(_) => (
            HeadSpec::bn_mlp(3, hidden, mlp, d, true),
            HeadSpec::bn_mlp(2, d, mlp, d, true),
        ),
    }
}

/// Configuration of the v3 networks: a backbone and the two heads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MocoV3Config {
    pub backbone: BackboneConfig,
    pub projector: HeadSpec,
    pub predictor: HeadSpec,
}

impl MocoV3Config {
    /// The reference heads for `backbone`.
    pub fn new(backbone: BackboneConfig, params: &MocoV3Params) -> Self {
        let (projector, predictor) = v3_heads(&backbone, params);
        Self {
            backbone,
            projector,
            predictor,
        }
    }

    pub fn init_encoder(&self, device: &Device) -> V3Encoder {
        V3Encoder {
            backbone: self.backbone.init(device),
            // v3 uses (Sync)BN over the whole batch: no split statistics.
            projector: self.projector.init(1, device),
        }
    }
}

/// `base_encoder` / `momentum_encoder`: backbone + projector.
#[derive(Module, Debug)]
pub struct V3Encoder {
    pub backbone: Backbone,
    pub projector: ProjectionHead,
}

impl V3Encoder {
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, dim]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.projector.forward(self.backbone.forward_features(x))
    }
}

/// Everything trained by gradient descent: the base encoder and the predictor.
#[derive(Module, Debug)]
pub struct V3Query {
    pub encoder: V3Encoder,
    pub predictor: ProjectionHead,
}

impl V3Query {
    /// `predictor(base_encoder(x))`.
    ///
    /// # Shapes
    /// - input `[N, 3, H, W]` → output `[N, dim]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.predictor.forward(self.encoder.forward(x))
    }
}

/// The MoCo v3 model state.
#[derive(Debug)]
pub struct MocoV3 {
    /// Trained, on the autodiff device.
    pub query: V3Query,
    /// Moving average of `query.encoder`, on the plain device.
    pub momentum_encoder: V3Encoder,
    pub config: MocoV3Config,
    pub params: MocoV3Params,
}

/// What one step computed.
pub struct V3Step {
    pub loss: f64,
    /// Mean in-batch top-1 accuracy of both directions (q1→k2, q2→k1).
    pub instance_accuracy: f64,
    /// Gradients of the loss for every trained parameter of [`MocoV3::query`].
    pub grads: GradientsParams,
}

impl MocoV3 {
    /// Both encoders with identical initial weights (the reference copies `param_b` into
    /// `param_m`), the momentum one without gradients and with BN statistics of its own.
    pub fn new(
        config: MocoV3Config,
        params: MocoV3Params,
        seed: u64,
        train_device: &Device,
        plain_device: &Device,
    ) -> Self {
        let query = seeded_init(seed, train_device, |d| V3Query {
            encoder: config.init_encoder(d),
            predictor: config.predictor.init(1, d),
        });
        let momentum_encoder = momentum_encoder_from(&query.encoder, &config, plain_device);
        Self {
            query,
            momentum_encoder,
            config,
            params,
        }
    }

    /// `param_m ← m·param_m + (1 − m)·param_b` (parameters only, not BN statistics).
    pub fn update_momentum_encoder(&mut self, m: f64) {
        self.momentum_encoder =
            momentum_update(self.momentum_encoder.clone(), &self.query.encoder, m);
    }

    /// Keys of both views, without gradients (the reference's `torch.no_grad()` block).
    fn keys(&self, x1: Tensor<4>, x2: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        (
            self.momentum_encoder.forward(x1),
            self.momentum_encoder.forward(x2),
        )
    }

    /// The reference's `forward(x1, x2, m)`: momentum update, queries, keys, symmetric loss —
    /// as an autodiff tensor, for callers that back-propagate themselves.
    ///
    /// # Shapes
    /// - `x1`, `x2` `[N, 3, H, W]` on the plain device (moved to the training device here).
    pub fn forward(&mut self, x1: Tensor<4>, x2: Tensor<4>, m: f64) -> Tensor<1> {
        self.forward_with_accuracy(x1, x2, m).0
    }

    fn forward_with_accuracy(&mut self, x1: Tensor<4>, x2: Tensor<4>, m: f64) -> (Tensor<1>, f64) {
        self.update_momentum_encoder(m);
        let (k1, k2) = self.keys(x1.clone(), x2.clone());
        let q1 = self.query.forward(Tensor::from_inner(x1));
        let q2 = self.query.forward(Tensor::from_inner(x2));
        self.loss_and_accuracy(q1, q2, k1, k2)
    }

    /// The symmetric loss (with graph) and the in-batch accuracy; `k1`, `k2` on the plain device.
    fn loss_and_accuracy(
        &self,
        q1: Tensor<2>,
        q2: Tensor<2>,
        k1: Tensor<2>,
        k2: Tensor<2>,
    ) -> (Tensor<1>, f64) {
        let accuracy = 0.5
            * (in_batch_accuracy(q1.clone().inner(), k2.clone())
                + in_batch_accuracy(q2.clone().inner(), k1.clone()));
        let loss = symmetric_loss(
            q1,
            q2,
            Tensor::from_inner(k1),
            Tensor::from_inner(k2),
            self.params.temperature,
        );
        (loss, accuracy)
    }

    /// One step's loss and gradients, with the query backbone back-propagated
    /// `params.query_chunk` images at a time when set.
    ///
    /// The chunked path is gradient checkpointing at the backbone output (as GradCache): the
    /// backbone runs once over the whole batch *without* a graph, the heads and the loss run on
    /// the full batch with a graph from the features on (cheap: `[N, hidden]`), which gives
    /// `∂L/∂h`; then each chunk's features are recomputed with a graph and `Σ h·∂L/∂h` is
    /// back-propagated, summing exactly the full-batch gradient. Peak memory holds the
    /// activations of one chunk, not of the batch. It is exact only when an image's features
    /// do not depend on the rest of its batch — true for ViT (LayerNorm is per token), false
    /// for a ResNet's BatchNorm, so [`PretrainConfig::validate`](crate::train::config) refuses
    /// that combination. The heads' BN still sees the whole batch, as in the reference.
    pub fn forward_backward(&mut self, x1: Tensor<4>, x2: Tensor<4>, m: f64) -> V3Step {
        let n = x1.dims()[0];
        let chunk = self.params.query_chunk;
        if chunk == 0 || chunk >= n {
            let (loss, instance_accuracy) = self.forward_with_accuracy(x1, x2, m);
            let value = loss.clone().inner().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &self.query);
            return V3Step {
                loss: value,
                instance_accuracy,
                grads,
            };
        }

        self.update_momentum_encoder(m);
        let (k1, k2) = self.keys(x1.clone(), x2.clone());
        // Features of the whole batch, no graph.
        let backbone = without_autodiff(self.query.encoder.backbone.clone());
        let h1 = Tensor::from_inner(backbone.forward_features(x1.clone())).require_grad();
        let h2 = Tensor::from_inner(backbone.forward_features(x2.clone())).require_grad();
        // Heads and loss on the full batch.
        let q1 = self
            .query
            .predictor
            .forward(self.query.encoder.projector.forward(h1.clone()));
        let q2 = self
            .query
            .predictor
            .forward(self.query.encoder.projector.forward(h2.clone()));
        let (loss, instance_accuracy) = self.loss_and_accuracy(q1, q2, k1, k2);
        let value = loss.clone().inner().into_scalar::<f32>() as f64;
        let grads = loss.backward();
        let g1 = h1.grad(&grads).map(|g| g.inner());
        let g2 = h2.grad(&grads).map(|g| g.inner());
        let mut acc = GradientsAccumulator::<V3Query>::new();
        acc.accumulate(&self.query, GradientsParams::from_grads(grads, &self.query));
        // The backbone, chunk by chunk.
        for (x, g) in [(x1, g1), (x2, g2)] {
            let Some(g) = g else { continue };
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                let xc = Tensor::from_inner(x.clone().narrow(0, start, end - start));
                let gc = Tensor::from_inner(g.clone().narrow(0, start, end - start));
                let hc = self.query.encoder.backbone.forward_features(xc);
                let surrogate = (hc * gc).sum();
                let grads = GradientsParams::from_grads(surrogate.backward(), &self.query);
                acc.accumulate(&self.query, grads);
                start = end;
            }
        }
        V3Step {
            loss: value,
            instance_accuracy,
            grads: acc.grads(),
        }
    }
}

/// A copy of `query` on `plain_device`, gradients off, BN statistics of its own (see
/// [`copy_tensors`] for why not `Clone`).
pub fn momentum_encoder_from(
    query: &V3Encoder,
    config: &MocoV3Config,
    plain_device: &Device,
) -> V3Encoder {
    let fresh = initialize(config.init_encoder(plain_device)).no_grad();
    copy_tensors(fresh, query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResNetArch, ResNetConfig};
    use burn::tensor::{Distribution, Tensor};

    #[test]
    fn momentum_schedule_rises_from_m0_to_one() {
        assert!((momentum_at(0.99, 0.0, 100) - 0.99).abs() < 1e-15);
        assert!((momentum_at(0.99, 50.0, 100) - 0.995).abs() < 1e-12);
        assert!((momentum_at(0.99, 100.0, 100) - 1.0).abs() < 1e-15);
        let a = momentum_at(0.99, 10.25, 100);
        let b = momentum_at(0.99, 10.5, 100);
        assert!(a < b, "changes within an epoch");
    }

    #[test]
    fn loss_of_identical_well_separated_pairs_is_small() {
        let dev = Device::flex();
        // Orthogonal rows: each query matches only its own key.
        let q = Tensor::<2>::eye(4, &dev).mul_scalar(3.0);
        let low = contrastive_loss(q.clone(), q.clone(), 0.2).into_scalar::<f32>();
        let k = Tensor::<2>::ones([4, 4], &dev); // every key equal: chance level
        let chance = contrastive_loss(q.clone(), k, 0.2).into_scalar::<f32>();
        assert!(
            (chance as f64 - 2.0 * 0.2 * 4f64.ln()).abs() < 1e-5,
            "{chance}"
        );
        assert!(low < 0.05, "{low}");
        // Orthogonal keys are each found by their own query; shifted by one row, none is.
        assert_eq!(in_batch_accuracy(q.clone(), q.clone()), 1.0);
        let shifted = Tensor::cat(
            vec![q.clone().narrow(0, 1, 3), q.clone().narrow(0, 0, 1)],
            0,
        );
        assert_eq!(in_batch_accuracy(q.clone(), shifted), 0.0);
    }

    #[test]
    fn resnet_heads_follow_the_reference() {
        let bb =
            BackboneConfig::ResNet(ResNetConfig::new(ResNetArch::Resnet18).with_width_mult(0.125));
        let (proj, pred) = v3_heads(&bb, &MocoV3Params::default());
        assert_eq!(proj.layers.len(), 2);
        assert_eq!(proj.layers[0].input, 64);
        assert_eq!(proj.layers[1].batch_norm, Some(false)); // affine-free last BN
        assert_eq!(pred.layers[1].batch_norm, None); // predictor: no last BN for ResNet
    }

    #[test]
    fn momentum_branch_gets_no_gradient_and_moves_only_by_ema() {
        let plain = Device::flex();
        let train = plain.clone().autodiff();
        let params = MocoV3Params {
            dim: 8,
            mlp_dim: 16,
            ..Default::default()
        };
        let cfg = MocoV3Config::new(
            BackboneConfig::ResNet(
                ResNetConfig::new(ResNetArch::Resnet18)
                    .with_width_mult(0.0625)
                    .with_small_stem(true),
            ),
            &params,
        );
        let mut moco = MocoV3::new(cfg, params, 0, &train, &plain);
        let before = crate::model::params::named_tensors(&moco.momentum_encoder);
        let x1 = Tensor::<4>::random([4, 3, 16, 16], Distribution::Default, &plain);
        let x2 = Tensor::<4>::random([4, 3, 16, 16], Distribution::Default, &plain);
        let step = moco.forward_backward(x1, x2, 1.0);
        assert!(step.loss.is_finite());
        // m = 1 leaves the momentum encoder's parameters unchanged.
        let after = crate::model::params::named_tensors(&moco.momentum_encoder);
        for ((p, a), (_, b)) in before.iter().zip(after.iter()) {
            if crate::model::params::is_running_stat(p) {
                continue;
            }
            let d = (a.clone() - b.clone()).abs().max().into_scalar::<f32>();
            assert_eq!(d, 0.0, "{p}");
        }
        // Every trained query parameter has a gradient (predictor included).
        let mut with_grad = 0;
        let mut missing = Vec::new();
        crate::model::params::map_named(moco.query.clone(), Some(&mut { step.grads }), |p| {
            let frozen = p.path.contains("layers.1.bn") && p.path.starts_with("encoder.projector");
            if p.grad.is_some() {
                with_grad += 1;
            } else if !crate::model::params::is_running_stat(p.path) && !frozen {
                missing.push(p.path.to_string());
            }
            None
        });
        assert!(with_grad > 20);
        assert!(missing.is_empty(), "{missing:?}");
    }

    fn grads_by_path(query: &V3Query, mut grads: GradientsParams) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        crate::model::params::map_named(query.clone(), Some(&mut grads), |p| {
            if let Some(g) = p.grad {
                out.push((
                    p.path.to_string(),
                    g.into_data().try_to_vec::<f32>().unwrap(),
                ));
            }
            None
        });
        out
    }

    #[test]
    fn chunked_query_backprop_equals_the_full_batch() {
        let plain = Device::flex();
        let train = plain.clone().autodiff();
        let params = MocoV3Params {
            dim: 8,
            mlp_dim: 16,
            temperature: 0.2,
            ..Default::default()
        };
        let vit = crate::model::VitConfig::new(16, 1, 2)
            .with_image_size(16)
            .with_patch_size(8);
        let cfg = MocoV3Config::new(BackboneConfig::Vit(vit), &params);
        let mut moco = MocoV3::new(cfg, params, 0, &train, &plain);
        let x1 = Tensor::<4>::random([6, 3, 16, 16], Distribution::Default, &plain);
        let x2 = Tensor::<4>::random([6, 3, 16, 16], Distribution::Default, &plain);
        // m = 1: the momentum encoder, hence the keys, are the same in both calls.
        let full = moco.forward_backward(x1.clone(), x2.clone(), 1.0);
        moco.params.query_chunk = 4; // chunks of 4 and 2
        let chunked = moco.forward_backward(x1, x2, 1.0);
        assert_eq!(full.instance_accuracy, chunked.instance_accuracy);
        assert!(
            (full.loss - chunked.loss).abs() < 1e-5 * full.loss,
            "{} vs {}",
            full.loss,
            chunked.loss
        );
        let a = grads_by_path(&moco.query, full.grads);
        let b = grads_by_path(&moco.query, chunked.grads);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().any(|(p, _)| p.contains("blocks.0.attn.qkv")));
        for ((pa, ga), (pb, gb)) in a.iter().zip(&b) {
            assert_eq!(pa, pb);
            let scale = ga.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let err = ga
                .iter()
                .zip(gb)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            // The absolute floor covers gradients that are exactly zero in theory (a shift of the
            // features before the projector's BN), which both paths give as rounding noise.
            assert!(
                err <= 1e-4 * scale + 1e-5,
                "{pa}: max |diff| {err} (max |grad| {scale})"
            );
        }
    }
}
