//! Batch normalisation for docmoco's models (`model::SplitBatchNorm`): burn's `batch_norm_train`
//! and `batch_norm` everywhere, except on the CPU backend (`flex`, f32), where
//! [`super::batch_norm_cpu`] runs the training mode (forward pass and gradients) and the
//! evaluation mode.
//!
//! Same mechanism as [`super::conv2d`]: a backend extension implemented for `Flex` and for
//! `Autodiff<Flex>`. The training-mode backward node mirrors burn's own (the output is tracked
//! for the input, `gamma` and `beta`; the returned statistics are detached); the evaluation
//! mode leaves tracked inputs to burn's differentiable composition. `DOCMOCO_BURN_CONV=1`
//! ([`super::use_burn_kernels`]) sends it back to burn, like the convolutions.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::AutodiffBackend;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::tensor::module::{
    batch_norm as burn_batch_norm, batch_norm_train as burn_batch_norm_train, BatchNormTrainOutput,
};
use burn::tensor::{DType, Shape, Tensor};
use burn_flex::FlexTensor;

use super::batch_norm_cpu::{self, BnShape, BnStats};
use super::{f32s, f32s_mut, into_owned_f32, takes, tensor};

/// `batch_norm_train(x, gamma, beta, epsilon)`: output, batch mean and biased batch variance
/// (detached), through docmoco's CPU kernel where it applies.
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrainOutput<D> {
    if !takes(&x) || D < 2 {
        return burn_batch_norm_train(x, gamma, beta, epsilon);
    }
    let (y, mean, variance) = <burn::backend::Dispatch as CpuBatchNorm>::cpu_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    BatchNormTrainOutput {
        output: Tensor::from_dispatch(y),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}

/// `batch_norm(x, gamma, beta, mean, variance, epsilon)` with given (running) statistics — the
/// evaluation mode — in one pass on the CPU instead of burn's four broadcast passes.
pub fn batch_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    variance: Tensor<1>,
    epsilon: f64,
) -> Tensor<D> {
    if !takes(&x) || D < 2 {
        return burn_batch_norm(x, gamma, beta, mean, variance, epsilon);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuBatchNorm>::cpu_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        mean.into_dispatch(),
        variance.into_dispatch(),
        epsilon,
    ))
}

/// Batch normalisation on the CPU.
#[backend_extension(Flex, Autodiff)]
pub trait CpuBatchNorm: Backend {
    /// With the batch's statistics: `(output, mean, biased variance)`.
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// With given statistics (evaluation mode).
    fn cpu_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

impl CpuBatchNorm for Flex {
    fn cpu_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let Some(s) = applies(&x, &gamma, &beta) else {
            let r = Flex::batch_norm_train(x, gamma, beta, epsilon);
            return (r.output, r.mean, r.variance);
        };
        let mut y = into_owned_f32(x);
        let stats = f32s(&gamma, |g| {
            f32s(&beta, |b| {
                batch_norm_cpu::forward_in_place(f32s_mut(&mut y), g, b, s, epsilon)
            })
        });
        (
            y,
            tensor(stats.mean, Shape::new([s.channels])),
            tensor(stats.variance, Shape::new([s.channels])),
        )
    }

    fn cpu_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let s = applies(&x, &gamma, &beta).filter(|_| applies_to_stats(&mean, &variance, &gamma));
        let Some(s) = s else {
            return Flex::batch_norm(x, gamma, beta, mean, variance, epsilon);
        };
        let stats = BnStats {
            mean: f32s(&mean, <[f32]>::to_vec),
            variance: f32s(&variance, <[f32]>::to_vec),
        };
        let mut y = into_owned_f32(x);
        f32s(&gamma, |g| {
            f32s(&beta, |b| {
                batch_norm_cpu::inference_in_place(f32s_mut(&mut y), g, b, &stats, s, epsilon)
            })
        });
        y
    }
}

/// Statistics of the parameters' shape, in f32.
fn applies_to_stats(mean: &FlexTensor, variance: &FlexTensor, gamma: &FlexTensor) -> bool {
    let shape = gamma.layout().shape().to_vec();
    [mean, variance]
        .iter()
        .all(|t| t.dtype() == DType::F32 && t.layout().shape().to_vec() == shape)
}

/// The `[N, C, L]` view when docmoco's kernel runs the op (f32 everywhere, `[C]` parameters).
fn applies(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor) -> Option<BnShape> {
    let f32 = [x, gamma, beta].iter().all(|t| t.dtype() == DType::F32);
    let s = BnShape::of(&x.layout().shape().to_vec())?;
    let channels = |t: &FlexTensor| t.layout().shape().to_vec() == [s.channels];
    (f32 && channels(gamma) && channels(beta)).then_some(s)
}

impl<C: CheckpointStrategy> CpuBatchNorm for Autodiff<Flex, C> {
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        match CpuBatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (y, mean, variance) = Flex::cpu_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let state = (
                    x_state,
                    gamma_state,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                );
                (
                    prep.finish(state, y),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) = Flex::cpu_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (
                    prep.finish(y),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
        }
    }

    fn cpu_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        // Evaluation mode rarely needs gradients (the fine-tune trains in training mode);
        // when it does, burn's composition differentiates it.
        if [&x, &gamma, &beta, &mean, &variance]
            .iter()
            .any(|t| t.is_tracked())
        {
            return <Self as ModuleOps<Self>>::batch_norm(x, gamma, beta, mean, variance, epsilon);
        }
        Self::from_inner(Flex::cpu_batch_norm(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            epsilon,
        ))
    }
}

/// The backward node: the three gradients from one reduction and one element-wise pass.
#[derive(Debug)]
struct CpuBatchNormBackward;

impl Backward<Flex, 3> for CpuBatchNormBackward {
    type State = (NodeId, NodeId, FlexTensor, FlexTensor, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x_state, gamma_state, mean, variance, epsilon) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
        let dims = x.layout().shape().to_vec();
        let s = BnShape::of(&dims).expect("batch norm input of rank >= 2");
        let stats = BnStats {
            mean: f32s(&mean, <[f32]>::to_vec),
            variance: f32s(&variance, <[f32]>::to_vec),
        };
        let mut dx = into_owned_f32(dy);
        let (dgamma, dbeta) = f32s(&x, |xs| {
            f32s(&gamma, |g| {
                batch_norm_cpu::backward_in_place(xs, g, &stats, f32s_mut(&mut dx), s, epsilon)
            })
        });
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, Shape::new([s.channels])));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, Shape::new([s.channels])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::use_burn_kernels;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output, statistics and the three gradients equal burn's `batch_norm_train`'s, through
    /// the autodiff graph (the loss weights every output element differently).
    #[test]
    fn matches_burn_batch_norm_train_forward_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let x = Tensor::<4>::random([4, 6, 5, 7], Distribution::Normal(0.5, 2.0), &device)
            .require_grad();
        let gamma =
            Tensor::<1>::random([6], Distribution::Normal(1.0, 0.3), &device).require_grad();
        let beta = Tensor::<1>::random([6], Distribution::Normal(0.0, 0.3), &device).require_grad();
        let r = Tensor::<4>::random([4, 6, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        let run = |burn: bool| {
            use_burn_kernels(burn);
            let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
            use_burn_kernels(false);
            let grads = (out.output.clone() * r.clone()).sum().backward();
            [
                out.output.into_data(),
                out.mean.into_data(),
                out.variance.into_data(),
                x.grad(&grads).unwrap().into_data(),
                gamma.grad(&grads).unwrap().into_data(),
                beta.grad(&grads).unwrap().into_data(),
            ]
        };
        let ours = run(false);
        let theirs = run(true);
        let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-5);
        for (a, b) in ours.iter().zip(&theirs) {
            a.assert_approx_eq::<f32>(b, tol);
        }
    }

    /// Evaluation mode equals burn's `batch_norm` on the plain CPU device (docmoco's kernel)
    /// and on an autodiff device with a tracked input (burn's composition, gradient included).
    #[test]
    fn evaluation_mode_matches_burn_batch_norm() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            device.seed(5);
            let normal = |dims: [usize; 1], mean: f64| {
                Tensor::<1>::random(dims, Distribution::Normal(mean, 0.3), &device)
            };
            let x = Tensor::<4>::random([3, 5, 4, 6], Distribution::Normal(0.5, 2.0), &device);
            let (gamma, beta, mean) = (normal([5], 1.0), normal([5], 0.0), normal([5], 0.5));
            let variance = normal([5], 0.0).abs() + 0.5;
            let run = |burn: bool, x: Tensor<4>| {
                use_burn_kernels(burn);
                let y = batch_norm(
                    x,
                    gamma.clone(),
                    beta.clone(),
                    mean.clone(),
                    variance.clone(),
                    1e-5,
                );
                use_burn_kernels(false);
                y
            };
            let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
            run(false, x.clone())
                .into_data()
                .assert_approx_eq::<f32>(&run(true, x.clone()).into_data(), tol);
            if device.is_autodiff() {
                let x = x.require_grad();
                let grads = run(false, x.clone()).sum().backward();
                let dx = x.grad(&grads).expect("gradient through evaluation-mode BN");
                // d(sum)/dx = gamma / sqrt(var + eps), per channel.
                let want = (gamma.clone() / (variance.clone() + 1e-5).sqrt())
                    .reshape([1, 5, 1, 1])
                    .expand([3, 5, 4, 6]);
                dx.into_data()
                    .assert_approx_eq::<f32>(&want.inner().into_data(), tol);
            }
        }
    }
}
