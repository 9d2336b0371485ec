//! Transposed convolutions whose stride equals their kernel (DBNet's ×2 upsampling heads) as one
//! matrix product plus a depth-to-space shuffle, on every backend.
//!
//! With stride = kernel, no padding and no dilation, the kernel windows of neighbouring input
//! pixels do not overlap: output pixel `(kh·i + a, kw·j + b)` of channel `o` is
//! `bias[o] + Σ_c x[c, i, j] · W[c, o, a, b]` and nothing else. So the layer is the product
//! `Wᵀ · x` (`[C_out·kh·kw, C_in] · [C_in, H·W]` per image), whose rows are then interleaved
//! into the larger plane. burn's generic transposed convolution runs it instead as a scatter
//! over every (input pixel, kernel tap), and its gradients as convolutions: on the CPU the
//! heads' two deconvolutions were the largest item of DBNet's training step after the backbone
//! (docs/performance.md). Written with burn's tensor operations, autodiff derives the
//! gradients (two products and the inverse shuffle), and the same code serves the GPU backends.

use burn::nn::conv::ConvTranspose2d;
use burn::tensor::Tensor;

use super::burn_kernels;

/// `layer.forward(x)`, as a product and a shuffle where the layer's windows do not overlap
/// (stride = kernel, no padding, no dilation, one group); burn's own kernel otherwise, or when
/// [`super::use_burn_kernels`] is on.
///
/// # Shapes
/// - input `[N, C_in, H, W]` → output `[N, C_out, kh·H, kw·W]`
pub fn forward(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if burn_kernels() || !windows_tile(layer) {
        return layer.forward(x);
    }
    let [n, c_in, h, w] = x.dims();
    let [_, c_out, kh, kw] = layer.weight.dims();
    // Wᵀ: one row per (output channel, tap), the order the shuffle below expects.
    let wt = layer
        .weight
        .val()
        .reshape([c_in, c_out * kh * kw])
        .transpose()
        .unsqueeze::<3>();
    let taps = wt.matmul(x.reshape([n, c_in, h * w]));
    let y = taps
        .reshape([n, c_out, kh, kw, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, c_out, h * kh, w * kw]);
    match &layer.bias {
        Some(b) => y + b.val().reshape([1, c_out, 1, 1]),
        None => y,
    }
}

/// Whether the layer's kernel windows tile the output exactly (no overlap, no gap, no crop).
fn windows_tile(layer: &ConvTranspose2d) -> bool {
    layer.stride == layer.kernel_size
        && layer.padding == [0, 0]
        && layer.padding_out == [0, 0]
        && layer.dilation == [1, 1]
        && layer.groups == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::ConvTranspose2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output and the gradients of input, weight and bias equal those of burn's own
    /// `ConvTranspose2d::forward`, for square and rectangular kernels, with and without bias;
    /// the loss weights every output differently.
    #[test]
    fn matches_burns_transposed_convolution_and_its_gradients() {
        let device = Device::flex().autodiff();
        for (i, (k, bias)) in [([2, 2], true), ([2, 3], false), ([1, 1], true)]
            .into_iter()
            .enumerate()
        {
            device.seed(i as u64);
            let layer = ConvTranspose2dConfig::new([3, 4], k)
                .with_stride(k)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, 3, 5, 6], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let r = Tensor::<4>::random(
                [2, 4, 5 * k[0], 6 * k[1]],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |y: Tensor<4>| {
                let grads = (y.clone() * r.clone()).sum().backward();
                let dw = layer.weight.grad(&grads).unwrap().into_data();
                let db = layer
                    .bias
                    .as_ref()
                    .map(|b| b.grad(&grads).unwrap().into_data());
                (y.into_data(), x.grad(&grads).unwrap().into_data(), dw, db)
            };
            let ours = run(forward(&layer, x.clone()));
            let theirs = run(layer.forward(x.clone()));
            let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
            ours.0.assert_approx_eq::<f32>(&theirs.0, tol);
            ours.1.assert_approx_eq::<f32>(&theirs.1, tol);
            ours.2.assert_approx_eq::<f32>(&theirs.2, tol);
            assert_eq!(ours.3.is_some(), bias);
            if let (Some(a), Some(b)) = (ours.3, theirs.3) {
                a.assert_approx_eq::<f32>(&b, tol);
            }
        }
    }

    /// Layers whose windows overlap or leave gaps go to burn's kernel unchanged.
    #[test]
    fn other_geometries_fall_back_to_burn() {
        let device = Device::flex();
        let overlapping = ConvTranspose2dConfig::new([2, 3], [3, 3])
            .with_stride([2, 2])
            .init(&device);
        let padded = ConvTranspose2dConfig::new([2, 3], [2, 2])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(&device);
        assert!(!windows_tile(&overlapping) && !windows_tile(&padded));
        let x = Tensor::<4>::random([1, 2, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(
            forward(&overlapping, x.clone()).into_data(),
            overlapping.forward(x).into_data()
        );
    }
}
