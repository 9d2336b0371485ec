//! MoCo v1/v2: a query encoder, a momentum key encoder and a queue of negatives.
//!
//! The forward pass follows `moco/builder.py` of the reference step by step:
//! 1. momentum update of the key encoder (no gradient);
//! 2. keys from the key encoder in train-mode BN, with the batch shuffled (shuffle-BN);
//! 3. queries from the query encoder; both L2-normalised;
//! 4. logits `[l_pos, l_neg] / T`, InfoNCE with label 0;
//! 5. the keys are enqueued (after the loss is computed).
//!
//! Each step also measures, for free, the similarities the shortcut diagnostic reads
//! (`ssl::diagnostics`): fresh positive, other pages' queued keys, the query's own stale keys.
//!
//! v1 and v2 differ only by configuration: the head (linear vs MLP), the temperature
//! (0.07 vs 0.2) and the augmentation — see the presets in `configs/`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::diagnostics::StepSimilarities;
use super::info_nce::{info_nce_loss, instance_accuracy, l2_normalize, moco_logits};
use super::momentum::momentum_update;
use super::queue::KeyQueue;
use super::shuffle_bn::Shuffle;
use crate::model::params::{copy_tensors, initialize, seeded_init};
use crate::model::{Encoder, EncoderConfig};

/// Hyper-parameters of the MoCo v1/v2 method itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MocoParams {
    /// Embedding dimension (128).
    pub dim: usize,
    /// Number of negative keys K (65536); 0 = half the number of pages (at least one batch),
    /// the small-data choice of `moco-v2-doc`.
    pub queue_size: usize,
    /// Key-encoder momentum m (0.999).
    pub momentum: f64,
    /// Softmax temperature T (0.07 for v1, 0.2 for v2).
    pub temperature: f64,
    /// MLP projection head (v2) instead of a linear one (v1).
    pub mlp: bool,
    /// Shuffle the key batch before the key encoder (shuffle-BN).
    pub shuffle_bn: bool,
    /// BatchNorm sub-batches emulating several devices (8 in the official demo).
    pub bn_splits: usize,
}

impl Default for MocoParams {
    fn default() -> Self {
        Self {
            dim: 128,
            queue_size: 65536,
            momentum: 0.999,
            temperature: 0.07,
            mlp: false,
            shuffle_bn: true,
            bn_splits: 8,
        }
    }
}

/// What one MoCo forward produced.
pub struct MocoOutput {
    /// Scalar InfoNCE loss, on the training (autodiff) device.
    pub loss: Tensor<1>,
    /// Top-1 accuracy of the pretext task on this batch.
    pub instance_accuracy: f64,
    /// Mean similarities to the positive, the other pages' and the own page's queued keys.
    pub similarities: StepSimilarities,
}

/// The MoCo v1/v2 model state.
#[derive(Debug, Clone)]
pub struct Moco {
    /// Trained by gradient descent, lives on the autodiff device.
    pub encoder_q: Encoder,
    /// Moving average of `encoder_q`, on the plain device (never differentiated).
    pub encoder_k: Encoder,
    pub queue: KeyQueue,
    pub params: MocoParams,
}

impl Moco {
    /// Builds both encoders with identical initial weights (the reference copies `encoder_q`
    /// into `encoder_k`) and a random queue.
    pub fn new(
        encoder: &EncoderConfig,
        params: MocoParams,
        seed: u64,
        train_device: &Device,
        plain_device: &Device,
    ) -> Self {
        // Concrete weights now, before the key encoder is copied from them (the same start on
        // every device: see `seeded_init`).
        let encoder_q = seeded_init(seed, train_device, |d| encoder.init(d));
        let encoder_k = key_encoder_from(&encoder_q, encoder, plain_device);
        let queue = KeyQueue::random(params.dim, params.queue_size, seed, plain_device);
        Self {
            encoder_q,
            encoder_k,
            queue,
            params,
        }
    }

    /// One MoCo forward (steps 1–5 above).
    ///
    /// # Shapes
    /// - `im_q` `[N, 3, H, W]` on the training device, `im_k` the same on the plain device.
    pub fn forward<R: Rng>(&mut self, im_q: Tensor<4>, im_k: Tensor<4>, rng: &mut R) -> MocoOutput {
        self.forward_pages(im_q, im_k, None, rng)
    }

    /// [`Self::forward`] for a batch made from pages `pages` (row `i` from page `pages[i]`):
    /// the queue remembers them, and the own-page stale similarity is measured.
    pub fn forward_pages<R: Rng>(
        &mut self,
        im_q: Tensor<4>,
        im_k: Tensor<4>,
        pages: Option<&[usize]>,
        rng: &mut R,
    ) -> MocoOutput {
        // 1. momentum update of the key encoder
        self.encoder_k = momentum_update(
            self.encoder_k.clone(),
            &self.encoder_q,
            self.params.momentum,
        );

        // 2. keys, with shuffle-BN
        let k = self.keys(im_k, rng); // NxC, plain device

        // 3. queries
        let q = l2_normalize(self.encoder_q.forward(im_q)); // NxC
        let device = q.device();
        let (neg, stale) = self.queue.similarities(&q.clone().inner(), pages);

        // 4. logits and loss
        let logits = moco_logits(
            q,
            k.clone().to_device(&device),
            self.queue.keys.clone().to_device(&device),
            self.params.temperature,
        ); // Nx(1+K)
        let plain_logits = logits.clone().inner();
        let acc = instance_accuracy(&plain_logits);
        let [n, _] = plain_logits.dims();
        let pos = plain_logits.slice([0..n, 0..1]).mean().into_scalar::<f32>() as f64;
        let similarities = StepSimilarities {
            pos: pos * self.params.temperature,
            neg,
            stale: stale.map(|(s, _)| s),
        };
        let loss = info_nce_loss(logits);

        // 5. dequeue and enqueue
        self.queue.enqueue_pages(k, pages);
        MocoOutput {
            loss,
            instance_accuracy: acc,
            similarities,
        }
    }

    /// Normalised keys of `im_k` from the key encoder, shuffled through BN when configured.
    pub fn keys<R: Rng>(&self, im_k: Tensor<4>, rng: &mut R) -> Tensor<2> {
        let n = im_k.dims()[0];
        if self.params.shuffle_bn && self.params.bn_splits > 1 {
            let shuffle = Shuffle::random(n, rng);
            let k = self.encoder_k.forward(shuffle.shuffle(im_k));
            shuffle.unshuffle(l2_normalize(k))
        } else {
            l2_normalize(self.encoder_k.forward(im_k))
        }
    }
}

/// A copy of `query` on the plain device with gradients off and BatchNorm statistics of its
/// own (the reference's `param_k.data.copy_(param_q.data)` at construction; buffers copied
/// too, then independent). BN stays in train mode: the reference's key encoder computes keys
/// with batch statistics.
pub fn key_encoder_from(query: &Encoder, config: &EncoderConfig, plain_device: &Device) -> Encoder {
    let fresh = initialize(config.init(plain_device)).no_grad();
    copy_tensors(fresh, query)
}
