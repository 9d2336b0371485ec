//! Vision Transformer (Dosovitskiy et al. 2021) as MoCo v3 uses it (moco-v3 `vits.py`, built on
//! timm's `VisionTransformer`): patch embedding, class token, **fixed** 2-D sin-cos position
//! embedding, pre-norm blocks, final LayerNorm, class-token output.
//!
//! MoCo v3's choices, each with its reason (Chen, Xie, He 2021):
//! - the position embedding is fixed sin-cos, not learned — slightly better in their study;
//! - xavier-uniform init, with the `qkv` layer's fan computed as if q, k and v were three
//!   separate `dim → dim` layers (`√(6/(out/3 + in))`), so its scale matches the others;
//! - the patch projection is initialised uniform like a linear layer over `3·p·p` inputs and can
//!   be frozen (`stop_grad_patch_embed`, "random patch projection", §5): the gradient spikes that
//!   destabilise ViT training start in this first layer.
//!
//! Parameter paths follow timm (`blocks.0.attn.qkv.weight`, LayerNorm `gamma`/`beta` aside).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

/// Configuration of a [`Vit`].
#[derive(Config, Debug)]
pub struct VitConfig {
    /// Input side in pixels (square images).
    #[config(default = 224)]
    pub image_size: usize,
    #[config(default = 16)]
    pub patch_size: usize,
    /// Token width (192 tiny, 384 small, 768 base); a multiple of 4 for the sin-cos embedding.
    pub dim: usize,
    /// Number of blocks.
    pub depth: usize,
    pub heads: usize,
    #[config(default = 4.0)]
    pub mlp_ratio: f64,
    /// Freeze the random patch projection (MoCo v3's stability trick).
    #[config(default = false)]
    pub stop_grad_patch_embed: bool,
}

impl VitConfig {
    /// ViT-Tiny: 192-d, 12 blocks, 3 heads.
    pub fn vit_tiny() -> Self {
        Self::new(192, 12, 3)
    }
    /// ViT-Small as in MoCo v3: 384-d, 12 blocks, **12** heads (timm's has 6).
    pub fn vit_small() -> Self {
        Self::new(384, 12, 12)
    }
    /// ViT-Base: 768-d, 12 blocks, 12 heads.
    pub fn vit_base() -> Self {
        Self::new(768, 12, 12)
    }

    /// A preset by name (`vit_tiny`, `vit_small`, `vit_base`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "vit_tiny" => Some(Self::vit_tiny()),
            "vit_small" => Some(Self::vit_small()),
            "vit_base" => Some(Self::vit_base()),
            _ => None,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    pub fn feature_dim(&self) -> usize {
        self.dim
    }

    /// Checks the shape constraints, naming the one that fails.
    pub fn check(&self) -> Result<(), String> {
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return Err(format!(
                "image size {} is not a multiple of the patch size {}",
                self.image_size, self.patch_size
            ));
        }
        if self.dim == 0 || !self.dim.is_multiple_of(4) {
            return Err(format!(
                "dim {} is not a multiple of 4 (2-D sin-cos)",
                self.dim
            ));
        }
        if self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(format!(
                "dim {} is not divisible by {} heads",
                self.dim, self.heads
            ));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Vit {
        let (d, p) = (self.dim, self.patch_size);
        let hidden = (d as f64 * self.mlp_ratio) as usize;
        let mut proj = Conv2dConfig::new([3, d], [p, p])
            .with_stride([p, p])
            .init(device);
        let val = (6.0 / (3 * p * p + d) as f64).sqrt();
        proj.weight = Param::from_tensor(Tensor::random(
            [d, 3, p, p],
            Distribution::Uniform(-val, val),
            device,
        ));
        proj.bias = Some(Param::from_tensor(Tensor::zeros([d], device)));
        let blocks = (0..self.depth)
            .map(|_| VitBlock {
                norm1: layer_norm(d, device),
                attn: Attention {
                    qkv: xavier_linear(d, 3 * d, true, device),
                    proj: xavier_linear(d, d, false, device),
                    heads: self.heads,
                },
                norm2: layer_norm(d, device),
                mlp: Mlp {
                    fc1: xavier_linear(d, hidden, false, device),
                    fc2: xavier_linear(hidden, d, false, device),
                },
            })
            .collect();
        let grid = self.grid();
        let pos = sincos_position_embedding(grid, grid, d, 10000.0);
        Vit {
            patch_embed: PatchEmbed { proj },
            cls_token: Param::from_tensor(Tensor::random(
                [1, 1, d],
                Distribution::Normal(0.0, 1e-6),
                device,
            )),
            pos_embed: Param::from_tensor(Tensor::from_data(
                TensorData::new(pos, [1, grid * grid + 1, d]),
                device,
            ))
            .set_require_grad(false),
            blocks,
            norm: layer_norm(d, device),
            stop_grad_patch_embed: self.stop_grad_patch_embed,
        }
    }
}

fn layer_norm(d: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d).with_epsilon(1e-6).init(device)
}

/// A Linear with xavier-uniform weight and zero bias; `qkv` uses the per-projection fan.
fn xavier_linear(input: usize, output: usize, qkv: bool, device: &Device) -> Linear {
    let fan_out = if qkv { output / 3 } else { output };
    let val = (6.0 / (fan_out + input) as f64).sqrt();
    Linear {
        weight: Param::from_tensor(Tensor::random(
            [input, output],
            Distribution::Uniform(-val, val),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([output], device))),
    }
}

/// The fixed 2-D sin-cos embedding of moco-v3 (`build_2d_sincos_position_embedding`), with a zero
/// row for the class token first: `[sin(a·ω), cos(a·ω), sin(b·ω), cos(b·ω)]`,
/// `ω_i = T^(−i/(dim/4))`. As in the reference, the grid comes from `meshgrid(arange(w),
/// arange(h))` (matrix indexing), so token `t` of the row-major patch sequence gets
/// `a = t / h` (its row on a square grid) and `b = t % h`.
///
/// Returns `(1 + h·w) · dim` values, row-major.
pub fn sincos_position_embedding(h: usize, w: usize, dim: usize, temperature: f64) -> Vec<f32> {
    let quarter = dim / 4;
    let omega: Vec<f32> = (0..quarter)
        .map(|i| {
            let e = i as f32 / quarter as f32;
            1.0 / (temperature as f32).powf(e)
        })
        .collect();
    let mut out = vec![0f32; dim]; // class token
    for t in 0..h * w {
        let (a, b) = ((t / h) as f32, (t % h) as f32);
        for f in [f32::sin, f32::cos] {
            out.extend(omega.iter().map(|o| f(a * o)));
        }
        for f in [f32::sin, f32::cos] {
            out.extend(omega.iter().map(|o| f(b * o)));
        }
    }
    out
}

/// Non-overlapping patches, linearly projected (a conv with kernel = stride = patch).
#[derive(Module, Debug)]
pub struct PatchEmbed {
    pub proj: Conv2d,
}

/// Multi-head self-attention with one `qkv` projection.
#[derive(Module, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    pub heads: usize,
}

impl Attention {
    /// # Shapes
    /// - `[B, N, C]` → `[B, N, C]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, n, c] = x.dims();
        let hd = c / self.heads;
        let qkv = self
            .qkv
            .forward(x)
            .reshape([b, n, 3, self.heads, hd])
            .permute([2, 0, 3, 1, 4]); // 3 x B x H x N x hd
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b, self.heads, n, hd]);
        let (q, k, v) = (part(0), part(1), part(2));
        let attn = softmax(
            q.matmul(k.swap_dims(2, 3))
                .mul_scalar((hd as f64).powf(-0.5)),
            3,
        ); // B x H x N x N
        let out = attn.matmul(v).swap_dims(1, 2).reshape([b, n, c]);
        self.proj.forward(out)
    }
}

/// `fc1 → GELU → fc2`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

/// Pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
#[derive(Module, Debug)]
pub struct VitBlock {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl VitBlock {
    /// # Shapes
    /// - `[B, N, C]` → `[B, N, C]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        let h = self.mlp.fc1.forward(self.norm2.forward(x.clone()));
        x + self.mlp.fc2.forward(gelu(h))
    }
}

/// The ViT backbone (no classification head: MoCo replaces it by the projector).
#[derive(Module, Debug)]
pub struct Vit {
    pub patch_embed: PatchEmbed,
    pub cls_token: Param<Tensor<3>>,
    /// Fixed, never trained (detached in `forward`).
    pub pos_embed: Param<Tensor<3>>,
    pub blocks: Vec<VitBlock>,
    pub norm: LayerNorm,
    pub stop_grad_patch_embed: bool,
}

impl Vit {
    /// All tokens after the final LayerNorm.
    ///
    /// # Shapes
    /// - `[B, 3, H, W]` → `[B, 1 + (H/p)(W/p), dim]`
    pub fn forward_tokens(&self, x: Tensor<4>) -> Tensor<3> {
        let x = self.patch_embed.proj.forward(x); // B x C x h x w

        // The input image has no gradient, so detaching the projection's output freezes its
        // weight and bias exactly (no gradient reaches them, no optimiser touches them).
        let x = if self.stop_grad_patch_embed {
            x.detach()
        } else {
            x
        };
        let [b, c, h, w] = x.dims();
        let x = x.reshape([b, c, h * w]).swap_dims(1, 2); // B x N x C
        let cls = self.cls_token.val().expand([b, 1, c]);
        let x = Tensor::cat(vec![cls, x], 1);
        let pos = self.pos_embed.val().detach().expand([b, h * w + 1, c]);
        let mut x = x + pos;
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.norm.forward(x)
    }

    /// Token width (the feature dimension).
    pub fn dim(&self) -> usize {
        self.cls_token.val().dims()[2]
    }

    /// Patches per side the position embedding is made for.
    pub fn grid(&self) -> usize {
        let tokens = self.pos_embed.val().dims()[1];
        ((tokens - 1) as f64).sqrt().round() as usize
    }

    /// The same network for inputs of `grid x grid` patches. The position embedding is a
    /// fixed function of the grid, not learnt, so a pre-trained ViT serves any input size
    /// that is a multiple of its patch — a downstream task need not keep the 64 px of a small
    /// pre-training run.
    pub fn with_grid(mut self, grid: usize) -> Self {
        let dim = self.dim();
        let device = self.cls_token.val().device();
        let pos = sincos_position_embedding(grid, grid, dim, 10000.0);
        self.pos_embed = Param::from_tensor(Tensor::from_data(
            TensorData::new(pos, [1, grid * grid + 1, dim]),
            &device,
        ))
        .set_require_grad(false);
        self
    }

    /// The class token's output: the image representation.
    ///
    /// # Shapes
    /// - `[B, 3, H, W]` → `[B, dim]`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let tokens = self.forward_tokens(x);
        let [b, _, c] = tokens.dims();
        tokens.slice([0..b, 0..1]).reshape([b, c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> VitConfig {
        VitConfig::new(48, 2, 4)
            .with_image_size(32)
            .with_patch_size(8)
    }

    #[test]
    fn shapes_and_presets() {
        let dev = Device::flex();
        let vit = tiny().init(&dev);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &dev);
        assert_eq!(vit.forward_tokens(x.clone()).dims(), [2, 17, 48]);
        assert_eq!(vit.forward_features(x).dims(), [2, 48]);
        assert_eq!(VitConfig::vit_small().heads, 12);
        assert!(VitConfig::new(50, 1, 5).check().is_err());
        assert!(tiny().with_image_size(30).check().is_err());
    }

    #[test]
    fn a_new_grid_is_the_embedding_of_that_size() {
        let dev = Device::flex();
        let vit = tiny().init(&dev).with_grid(8);
        assert_eq!(vit.grid(), 8);
        let direct = tiny().with_image_size(64).init(&dev);
        let (a, b) = (vit.pos_embed.val(), direct.pos_embed.val());
        assert_eq!(a.dims(), [1, 65, 48]);
        let diff: f32 = (a - b).abs().max().into_scalar();
        assert_eq!(diff, 0.0);
        let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &dev);
        assert_eq!(vit.forward_features(x).dims(), [1, 48]);
    }

    #[test]
    fn qkv_init_uses_the_per_projection_fan() {
        let dev = Device::flex();
        let vit = tiny().init(&dev);
        let max = |t: Tensor<2>| t.abs().max().into_scalar::<f32>() as f64;
        let qkv = max(vit.blocks[0].attn.qkv.weight.val());
        let proj = max(vit.blocks[0].attn.proj.weight.val());
        // Both bounded by √(6/(48 + 48)) = 0.25, and close to it (576 and 2304 draws).
        assert!(qkv <= 0.25 && qkv > 0.24, "{qkv}");
        assert!(proj <= 0.25 && proj > 0.24, "{proj}");
    }

    #[test]
    fn frozen_patch_embedding_gets_no_gradient() {
        let dev = Device::flex().autodiff();
        for frozen in [false, true] {
            let vit = crate::model::params::initialize(
                tiny().with_stop_grad_patch_embed(frozen).init(&dev),
            );
            let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &dev);
            let grads = vit.forward_features(x).sum().backward();
            let g = vit.patch_embed.proj.weight.val().grad(&grads);
            assert_eq!(g.is_some(), !frozen);
            assert!(vit.pos_embed.val().grad(&grads).is_none(), "fixed");
            assert!(vit.cls_token.val().grad(&grads).is_some());
        }
    }
}
