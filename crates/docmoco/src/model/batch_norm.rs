//! Batch normalisation with the semantics MoCo needs and burn's stock `BatchNorm` lacks.
//!
//! Three differences from `burn::nn::BatchNorm`, each load-bearing for MoCo:
//! - **Mode is explicit.** Stock BatchNorm uses batch statistics only on an autodiff device;
//!   MoCo's key encoder runs *without gradients* yet in *train mode* (batch statistics), exactly
//!   as `encoder_k` under `torch.no_grad()` in the reference. Here the `training` flag alone
//!   decides, whatever the device.
//! - **Split statistics (SplitBatchNorm).** Shuffle-BN needs BN statistics computed over
//!   sub-batches, as on several GPUs. On one device we compute them over `splits` groups of the
//!   batch, the trick of the official MoCo CIFAR demo: the batch `[N, C, ..]` is viewed as
//!   `[N/S, S*C, ..]`, so sample `n` falls in split `n % S`.
//! - **PyTorch running statistics.** The running variance is updated with the *unbiased* batch
//!   variance (`n/(n-1)`), as `torch.nn.BatchNorm2d` does; burn uses the biased one.
//!
//! Field names (`weight`, `bias`, `running_mean`, `running_var`) are PyTorch's, so torchvision
//! state dicts load without renaming.

use burn::config::Config;
use burn::module::{Flag, Module, Param, RunningState};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`SplitBatchNorm`].
#[derive(Config, Debug)]
pub struct SplitBatchNormConfig {
    /// Number of channels `C`.
    pub num_features: usize,
    /// Number of sub-batches whose statistics are computed separately (1 = plain BN).
    #[config(default = 1)]
    pub splits: usize,
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// PyTorch convention: `running = (1 - momentum) * running + momentum * batch`.
    #[config(default = 0.1)]
    pub momentum: f64,
    /// `false` gives a BN without learnable scale/shift (MoCo v3's last projector BN).
    #[config(default = true)]
    pub affine: bool,
}

/// Batch normalisation over dimension 1 with explicit train/eval mode and split statistics.
#[derive(Module, Debug)]
pub struct SplitBatchNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    /// Batch statistics when enabled; running statistics otherwise. `Module::valid` disables it.
    pub training: Param<Flag>,
    pub splits: usize,
    pub momentum: f64,
    pub epsilon: f64,
    pub affine: bool,
}

impl SplitBatchNormConfig {
    pub fn init(&self, device: &Device) -> SplitBatchNorm {
        let c = self.num_features;
        let mut weight = Param::from_tensor(Tensor::ones([c], device));
        let mut bias = Param::from_tensor(Tensor::zeros([c], device));
        if !self.affine {
            weight = weight.set_require_grad(false);
            bias = bias.set_require_grad(false);
        }
        SplitBatchNorm {
            weight,
            bias,
            running_mean: RunningState::new(Tensor::zeros([c], device)),
            running_var: RunningState::new(Tensor::ones([c], device)),
            training: Param::from_bool(true),
            splits: self.splits.max(1),
            momentum: self.momentum,
            epsilon: self.epsilon,
            affine: self.affine,
        }
    }
}

impl SplitBatchNorm {
    /// Whether batch statistics are used.
    pub fn is_training(&self) -> bool {
        self.training.is_enabled()
    }

    /// Returns the layer with `splits` sub-batches (1 = ordinary BN).
    pub fn with_splits(mut self, splits: usize) -> Self {
        self.splits = splits.max(1);
        self
    }

    /// # Shapes
    /// - input: `[N, C, ...]`; in training mode `N` must be a multiple of `splits`
    ///   (otherwise the statistics are taken over the whole batch).
    /// - output: same as input.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if self.is_training() {
            self.forward_train(input)
        } else {
            self.forward_eval(input)
        }
    }

    fn affine_params(&self) -> (Tensor<1>, Tensor<1>) {
        if self.affine {
            (self.weight.val(), self.bias.val())
        } else {
            (self.weight.val().detach(), self.bias.val().detach())
        }
    }

    fn forward_eval<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let device = input.device();
        let (weight, bias) = self.affine_params();
        crate::kernels::batch_norm::batch_norm(
            input,
            weight,
            bias,
            self.running_mean.value().to_device(&device),
            self.running_var.value().to_device(&device),
            self.epsilon,
        )
    }

    fn forward_train<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let (n, c) = (dims[0], dims[1]);
        let splits = if self.splits > 1 && n % self.splits == 0 {
            self.splits
        } else {
            1
        };
        let (weight, bias) = self.affine_params();
        // View [N, C, ..] as [N/S, S*C, ..]: channel s*C + c of the view holds channel c of the
        // samples n with n % S == s, so one BN call computes per-split statistics.
        let mut view_dims = dims;
        view_dims[0] = n / splits;
        view_dims[1] = c * splits;
        let x = input.reshape(view_dims);
        let result = crate::kernels::batch_norm::batch_norm_train(
            x,
            weight.repeat_dim(0, splits),
            bias.repeat_dim(0, splits),
            self.epsilon,
        );
        let output = result.output.reshape(dims);

        // Per-split statistics are averaged back to C channels, as the demo's SplitBatchNorm
        // does with `running_mean.view(S, C).mean(0)`.
        let count: usize = (n / splits) * dims[2..].iter().product::<usize>();
        let unbias = if count > 1 {
            count as f64 / (count as f64 - 1.0)
        } else {
            1.0
        };
        let mean = result
            .mean
            .detach()
            .reshape([splits, c])
            .mean_dim(0)
            .reshape([c]);
        let var = result
            .variance
            .detach()
            .mul_scalar(unbias)
            .reshape([splits, c])
            .mean_dim(0)
            .reshape([c]);
        let device = mean.device();
        let m = self.momentum;
        let running_mean = self
            .running_mean
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(mean.mul_scalar(m));
        let running_var = self
            .running_var
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(var.mul_scalar(m));
        self.running_mean.update(running_mean.detach());
        self.running_var.update(running_var.detach());
        // burn's RunningState publishes an update lazily (per-thread values are merged on the
        // next read); merge now so that visitors — checkpointing, EMA — see the new values.
        let _ = self.running_mean.value_sync();
        let _ = self.running_var.value_sync();
        output
    }
}
