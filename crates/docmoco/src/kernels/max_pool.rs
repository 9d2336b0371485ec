//! `max_pool2d` for docmoco's models: burn's everywhere, except on the CPU backend (`flex`,
//! f32, symmetric padding, no dilation, floor rounding), where [`super::max_pool_cpu`] runs the
//! forward pass and the gradient.
//!
//! Same mechanism as [`super::conv2d`]: a backend extension implemented for `Flex` and for
//! `Autodiff<Flex>`. The backward node keeps only the argmax of each output (`u32`, within its
//! plane) and the geometry, not the input (burn's node keeps both). Models keep burn's
//! `MaxPool2d` module; only the call changes: [`forward`] instead of `MaxPool2d::forward`.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::nn::pool::MaxPool2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::max_pool_cpu::{self, PoolGeometry};
use super::{f32s, takes, tensor};

/// `pool.forward(x)`, through docmoco's CPU kernel where it applies.
pub fn forward(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let symmetric = match pool.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        PaddingConfig2d::Valid => Some([0, 0]),
        _ => None,
    };
    let Some(padding) = symmetric else {
        return pool.forward(x);
    };
    let geometry = PoolGeometry::new(x.dims(), pool.kernel_size, pool.stride, padding);
    if !takes(&x) || pool.dilation != [1, 1] || pool.ceil_mode || geometry.is_none() {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuMaxPool>::cpu_max_pool2d(
        x.into_dispatch(),
        pool.kernel_size,
        pool.stride,
        padding,
    ))
}

/// A 2-D max pool with symmetric padding, no dilation, floor rounding.
#[backend_extension(Flex, Autodiff)]
pub trait CpuMaxPool: Backend {
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
}

/// The geometry when the kernel runs the pool (f32, a valid window); `None` sends it to burn.
fn geometry(
    x: &FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Option<PoolGeometry> {
    let shape = x.layout().shape();
    if x.dtype() != DType::F32 || shape.num_dims() != 4 {
        return None;
    }
    PoolGeometry::new(shape.dims::<4>(), kernel, stride, padding)
}

/// The pooled tensor and, when asked, the argmax of each output.
fn pool(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    with_indices: bool,
) -> (FlexTensor, Option<(PoolGeometry, Vec<u32>)>) {
    let Some(g) = geometry(&x, kernel, stride, padding) else {
        let y = Flex::max_pool2d(x, kernel, stride, padding, [1, 1], false);
        return (y, None);
    };
    let (y, indices) = f32s(&x, |xs| max_pool_cpu::forward(xs, &g, with_indices));
    let y = tensor(y, [g.batch, g.channels, g.h_out, g.w_out]);
    (y, indices.map(|i| (g, i)))
}

impl CpuMaxPool for Flex {
    fn cpu_max_pool2d(
        x: FlexTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        pool(x, kernel, stride, padding, false).0
    }
}

impl<C: CheckpointStrategy> CpuMaxPool for Autodiff<Flex, C> {
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match CpuMaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, argmax) = pool(x.into_primitive(), kernel, stride, padding, true);
                let (g, indices) = argmax.expect("geometry checked by `forward`");
                prep.finish(Argmax(g, Arc::new(indices)), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(pool(x.into_primitive(), kernel, stride, padding, false).0)
            }
        }
    }
}

/// The backward node's state: the geometry and each output's argmax.
#[derive(Clone)]
struct Argmax(PoolGeometry, Arc<Vec<u32>>);

impl std::fmt::Debug for Argmax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Argmax({:?}, {} indices)", self.0, self.1.len())
    }
}

/// The backward node: each output gradient added at its argmax.
#[derive(Debug)]
struct CpuMaxPoolBackward;

impl Backward<Flex, 1> for CpuMaxPoolBackward {
    type State = Argmax;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Argmax(g, indices) = ops.state;
        if let Some(node) = node_x {
            let dx = f32s(&dy, |dys| max_pool_cpu::backward(dys, &indices, &g));
            grads.register::<Flex>(node.id, tensor(dx, [g.batch, g.channels, g.h, g.w]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::use_burn_kernels;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output and input gradient equal burn's `MaxPool2d`'s through the autodiff graph, for the
    /// ResNet stem's pool and a non-overlapping one; the loss weights every output differently.
    #[test]
    fn matches_burn_max_pool2d_forward_and_gradient() {
        let device = Device::flex().autodiff();
        for (i, (k, s, p, size)) in [(3, 2, 1, 13), (2, 2, 0, 8), (3, 1, 1, 6)]
            .into_iter()
            .enumerate()
        {
            device.seed(i as u64);
            let pool = MaxPool2dConfig::new([k, k])
                .with_strides([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init();
            let x =
                Tensor::<4>::random([2, 3, size, size], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
            let r = Tensor::<4>::random(
                pool.forward(x.clone()).dims(),
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |burn: bool| {
                use_burn_kernels(burn);
                let y = forward(&pool, x.clone());
                use_burn_kernels(false);
                let grads = (y.clone() * r.clone()).sum().backward();
                (y.into_data(), x.grad(&grads).unwrap().into_data())
            };
            let (ours, theirs) = (run(false), run(true));
            let tol = Tolerance::<f32>::rel_abs(1e-6, 1e-7);
            ours.0.assert_approx_eq::<f32>(&theirs.0, tol);
            ours.1.assert_approx_eq::<f32>(&theirs.1, tol);
        }
    }

    /// Without autodiff (the key encoder, evaluation) the same values come out.
    #[test]
    fn plain_device_matches_burn() {
        let device = Device::flex();
        device.seed(4);
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let x = Tensor::<4>::random([2, 4, 10, 9], Distribution::Normal(0.0, 1.0), &device);
        let ours = forward(&pool, x.clone()).into_data();
        use_burn_kernels(true);
        let theirs = forward(&pool, x).into_data();
        use_burn_kernels(false);
        assert_eq!(ours, theirs);
    }
}
