//! MoCo v1/v2 data-parallel over several devices, as the reference trains with DDP.
//!
//! The reference runs one process per GPU: each computes keys and queries for its part of the
//! global batch with BatchNorm over that part only, the keys of all GPUs are gathered before
//! they enter the queue, shuffle-BN permutes the key batch *across* GPUs, and DDP averages the
//! gradients. Here one process drives `N` devices from `N` threads, and the step is built so
//! that it computes **the same numbers as one device** with `moco.bn_splits = S` split-BN
//! (within float summation order):
//!
//! - sample `n` of a batch goes to device `n % N` (interleaved shards), and every device runs
//!   split-BN with `S / N` splits. One-device split-BN puts sample `n` in group `n % S`; on
//!   device `d`, local sample `j` (global `d + jN`) lands in local group `j % (S/N)`, which is
//!   global group `d + N·(j % (S/N))`: the same groups of samples, so the same statistics;
//! - keys: one permutation of the whole key batch (as one device draws it), sharded, encoded,
//!   gathered, un-permuted — shuffle-BN across devices;
//! - each device's loss is its shard's mean InfoNCE divided by `N`, so the summed gradients
//!   (the all-reduce) are the gradient of the global batch mean;
//! - BatchNorm running statistics of the replicas are averaged: each replica averaged its
//!   `S / N` groups, so the mean of the replicas is the mean of all `S` groups.
//!
//! Replicas are copies of the encoders with state of their own (not `Clone`s, which would
//! share BatchNorm state and one autodiff graph, serialising the threads). They are built once
//! and refreshed with the current weights at every step.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;

use super::diagnostics::StepSimilarities;
use super::info_nce::{info_nce_loss, instance_accuracy, l2_normalize, moco_logits};
use super::moco::{key_encoder_from, Moco};
use super::momentum::momentum_update;
use super::shuffle_bn::Shuffle;
use crate::model::params::{copy_tensors, initialize, is_running_stat, map_named, named_tensors};
use crate::model::{Encoder, EncoderConfig};

/// The devices of a data-parallel run and the encoder replicas that run on them.
#[derive(Debug)]
pub struct DataParallel {
    /// Plain (non-autodiff) devices, one per shard.
    devices: Vec<Device>,
    /// The encoder with `S / N` BatchNorm splits.
    replica: EncoderConfig,
    /// Per device: the query replica (on its autodiff device) and the key replica.
    replicas: Vec<(Option<Encoder>, Option<Encoder>)>,
}

/// What one data-parallel step computed, for the optimiser and the logs.
pub struct ParallelStep {
    /// Mean InfoNCE loss over the global batch.
    pub loss: f64,
    pub instance_accuracy: f64,
    pub similarities: StepSimilarities,
    /// Gradients of the global mean loss for [`Moco::encoder_q`]'s parameters.
    pub grads: GradientsParams,
}

/// One device's share of a step, returned by its thread.
struct ShardResult {
    loss: f64,
    accuracy: f64,
    pos: f64,
    neg: f64,
    stale: Option<(f64, usize)>,
    grads: Vec<(String, Tensor<1>)>,
    running: Vec<(String, Tensor<1>)>,
}

impl DataParallel {
    /// `encoder` is the one-device encoder (with `bn_splits` = S); `devices` the plain devices.
    pub fn new(encoder: &EncoderConfig, devices: Vec<Device>) -> Result<Self, String> {
        let n = devices.len();
        let s = encoder.backbone.bn_splits;
        if n < 2 {
            return Err("data parallelism needs at least 2 devices".into());
        }
        if !s.is_multiple_of(n) {
            return Err(format!(
                "moco.bn_splits = {s} is not a multiple of the {n} devices: each device computes BatchNorm over S/N of the one-device groups"
            ));
        }
        let mut replica = encoder.clone();
        replica.backbone = replica.backbone.with_bn_splits(s / n);
        let replicas = (0..n).map(|_| (None, None)).collect();
        Ok(Self {
            devices,
            replica,
            replicas,
        })
    }

    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// Rows `d, d + N, d + 2N, ...` of a batch of `n`: device `d`'s shard.
    fn shard_rows(&self, d: usize, n: usize) -> Vec<usize> {
        (d..n).step_by(self.devices.len()).collect()
    }

    /// One MoCo step (the steps of [`Moco::forward_pages`]) over all devices, then the
    /// backward pass of every shard and the gradient all-reduce. `im_q`, `im_k` are the global
    /// batch on any device; the batch must divide by the number of devices.
    pub fn forward_backward<R: Rng>(
        &mut self,
        moco: &mut Moco,
        im_q: Tensor<4>,
        im_k: Tensor<4>,
        pages: Option<&[usize]>,
        rng: &mut R,
    ) -> ParallelStep {
        let n = im_q.dims()[0];
        let nd = self.devices.len();
        assert!(
            n.is_multiple_of(nd),
            "batch {n} must divide by the {nd} devices"
        );
        // 1. momentum update of the key encoder
        moco.encoder_k = momentum_update(
            moco.encoder_k.clone(),
            &moco.encoder_q,
            moco.params.momentum,
        );

        // 2. keys, shuffle-BN across devices
        let home = im_k.device();
        let shuffle =
            (moco.params.shuffle_bn && moco.params.bn_splits > 1).then(|| Shuffle::random(n, rng));
        let x = match &shuffle {
            Some(s) => s.shuffle(im_k),
            None => im_k,
        };
        let (queries, keys): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.replicas).into_iter().unzip();
        let key_shards = self.on_devices(keys, |d, dev, cached| {
            let encoder = match cached {
                Some(e) => copy_tensors(e, &moco.encoder_k),
                None => key_encoder_from(&moco.encoder_k, &self.replica, dev),
            };
            let xs = rows(&x, &self.shard_rows(d, n)).to_device(dev);
            let k = l2_normalize(encoder.forward(xs));
            (k, running_stats(&encoder), encoder)
        });
        let mut keys = Vec::with_capacity(nd);
        let key_shards: Vec<_> = key_shards
            .into_iter()
            .map(|(k, stats, encoder)| {
                keys.push(Some(encoder));
                (k, stats)
            })
            .collect();
        let (shards, running): (Vec<_>, Vec<_>) = key_shards.into_iter().unzip();
        moco.encoder_k = average_running_stats(moco.encoder_k.clone(), &running);
        let gathered = interleave(shards, &home);
        let k = match &shuffle {
            Some(s) => s.unshuffle(gathered),
            None => gathered,
        };

        // 3.–4. queries, logits, loss and backward on every device
        let queue = moco.queue.keys.clone();
        let temperature = moco.params.temperature;
        let results = self.on_devices(queries, |d, dev, cached| {
            let train = dev.clone().autodiff();
            let fresh = || initialize(self.replica.init(&train));
            let replica = copy_tensors(cached.unwrap_or_else(fresh), &moco.encoder_q);
            let shard = self.shard_rows(d, n);
            let q = l2_normalize(replica.forward(rows(&im_q, &shard).to_device(&train)));
            let shard_pages: Option<Vec<usize>> =
                pages.map(|p| shard.iter().map(|&i| p[i]).collect());
            let (neg, stale) = moco
                .queue
                .similarities(&q.clone().inner().to_device(&home), shard_pages.as_deref());
            let logits = moco_logits(
                q,
                rows(&k, &shard).to_device(&train),
                queue.clone().to_device(&train),
                temperature,
            );
            let plain_logits = logits.clone().inner();
            let accuracy = instance_accuracy(&plain_logits);
            let m = shard.len();
            let pos = plain_logits.slice([0..m, 0..1]).mean().into_scalar::<f32>() as f64;
            let loss = info_nce_loss(logits).div_scalar(nd as f64);
            let loss_value = loss.clone().inner().into_scalar::<f32>() as f64;
            let mut grads = GradientsParams::from_grads(loss.backward(), &replica);
            let mut named = Vec::new();
            let replica = map_named(replica, Some(&mut grads), |p| {
                if let Some(g) = p.grad {
                    named.push((p.path.to_string(), g.to_device(&home)));
                }
                None
            });
            let result = ShardResult {
                loss: loss_value,
                accuracy,
                pos,
                neg,
                stale,
                grads: named,
                running: running_stats(&replica),
            };
            (result, replica)
        });
        let (results, queries): (Vec<ShardResult>, Vec<Encoder>) = results.into_iter().unzip();
        self.replicas = queries.into_iter().map(Some).zip(keys).collect();

        // All-reduce: the shard losses were divided by N, so the sum is the global mean's.
        let grads = gradients_for(
            &moco.encoder_q,
            sum_by_path(results.iter().map(|r| &r.grads)),
        );
        let running: Vec<_> = results.iter().map(|r| r.running.clone()).collect();
        moco.encoder_q = average_running_stats(moco.encoder_q.clone(), &running);

        let mean = |f: &dyn Fn(&ShardResult) -> f64| results.iter().map(f).sum::<f64>() / nd as f64;
        let stale_pairs: usize = results.iter().filter_map(|r| r.stale.map(|s| s.1)).sum();
        let stale = (stale_pairs > 0).then(|| {
            results
                .iter()
                .filter_map(|r| r.stale.map(|(s, m)| s * m as f64))
                .sum::<f64>()
                / stale_pairs as f64
        });
        let similarities = StepSimilarities {
            pos: mean(&|r| r.pos) * temperature,
            neg: mean(&|r| r.neg),
            stale,
        };

        // 5. enqueue the keys of all devices, in batch order
        moco.queue.enqueue_pages(k, pages);
        ParallelStep {
            loss: results.iter().map(|r| r.loss).sum(),
            instance_accuracy: mean(&|r| r.accuracy),
            similarities,
            grads,
        }
    }

    /// Runs `f(d, device_d, inputs[d])` for every device, each in its own thread, and returns
    /// the results in device order.
    fn on_devices<I: Send, T: Send>(
        &self,
        inputs: Vec<I>,
        f: impl Fn(usize, &Device, I) -> T + Sync,
    ) -> Vec<T> {
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = self
                .devices
                .iter()
                .zip(inputs)
                .enumerate()
                .map(|(d, (dev, input))| scope.spawn(move || f(d, dev, input)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a data-parallel worker panicked"))
                .collect()
        })
    }
}

/// `x[rows]` along the batch dimension.
fn rows<const D: usize>(x: &Tensor<D>, rows: &[usize]) -> Tensor<D> {
    let v: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(v, [rows.len()]), &x.device());
    x.clone().select(0, index)
}

/// The inverse of interleaved sharding: row `d + N·j` of the result is row `j` of shard `d`.
fn interleave(shards: Vec<Tensor<2>>, device: &Device) -> Tensor<2> {
    let nd = shards.len();
    let per = shards[0].dims()[0];
    let stacked = Tensor::cat(shards.into_iter().map(|s| s.to_device(device)).collect(), 0);
    let order: Vec<usize> = (0..nd * per).map(|p| (p % nd) * per + p / nd).collect();
    rows(&stacked, &order)
}

fn running_stats(encoder: &Encoder) -> Vec<(String, Tensor<1>)> {
    named_tensors(encoder)
        .into_iter()
        .filter(|(path, _)| is_running_stat(path))
        .map(|(path, t)| (path, t.inner()))
        .collect()
}

/// `encoder` with each BatchNorm running statistic replaced by the mean of the replicas'.
fn average_running_stats(encoder: Encoder, replicas: &[Vec<(String, Tensor<1>)>]) -> Encoder {
    let sums = sum_by_path(replicas.iter());
    let count = replicas.len() as f64;
    map_named(encoder, None, |p| {
        sums.get(p.path)
            .map(|s| s.clone().div_scalar(count).to_device(&p.value.device()))
    })
}

/// The element-wise sum, per path, of the replicas' tensors.
fn sum_by_path<'a>(
    replicas: impl Iterator<Item = &'a Vec<(String, Tensor<1>)>>,
) -> HashMap<String, Tensor<1>> {
    let mut sums: HashMap<String, Tensor<1>> = HashMap::new();
    for (path, t) in replicas.flatten() {
        match sums.get_mut(path) {
            Some(s) => *s = s.clone() + t.clone(),
            None => {
                sums.insert(path.clone(), t.clone());
            }
        }
    }
    sums
}

/// Registers the gradient summed at each parameter's path under `module`'s own `ParamId`s, in
/// the parameter's shape, as `GradientsParams::from_grads` would have for `module` itself.
fn gradients_for<M: Module>(
    module: &M,
    mut by_path: HashMap<String, Tensor<1>>,
) -> GradientsParams {
    struct Register<'a> {
        path: Vec<String>,
        by_path: &'a mut HashMap<String, Tensor<1>>,
        out: GradientsParams,
    }
    impl ModuleVisitor for Register<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.by_path.remove(&self.path.join(".")) {
                let dims = param.val().dims();
                self.out.register::<D>(param.id, g.reshape(dims));
            }
        }
    }
    let mut v = Register {
        path: Vec::new(),
        by_path: &mut by_path,
        out: GradientsParams::new(),
    };
    module.visit(&mut v);
    v.out
}
