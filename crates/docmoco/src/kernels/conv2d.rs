//! `conv2d` for docmoco's models: burn's convolution everywhere, except on the CPU backend
//! (`flex`, f32, groups = 1), where docmoco's im2col kernels ([`super::conv_cpu`]) run the
//! forward pass and both gradients.
//!
//! The kernels reach burn through its backend-extension mechanism (`#[backend_extension]`): the
//! trait [`CpuConv`] is implemented for `Flex` (the forward kernel) and for `Autodiff<Flex>`,
//! where a hand-written backward node calls the gradient kernels. burn's autodiff graph,
//! checkpointing and optimisers see an ordinary operation. Models keep burn's `Conv2d` module
//! (same parameters, same checkpoints); only the call changes: [`forward`] instead of
//! `Conv2d::forward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::conv_cpu::{self, ConvGeometry};
use super::{f32s, takes, tensor};

/// `conv.forward(x)`, through docmoco's CPU kernels where they apply.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    // docmoco's models pad explicitly; `Same` (size-dependent) stays with burn.
    let ((top, bottom), (left, right)) = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    if !applies(&x, &options) {
        return conv2d(x, weight, bias, options);
    }
    let y = Tensor::<4>::from_dispatch(<burn::backend::Dispatch as CpuConv>::cpu_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            y + b.reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// docmoco's kernels cover f32 convolutions without groups and with symmetric padding on the
/// CPU backend; everything else goes to burn.
fn applies(x: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    takes(x) && options.groups == 1 && !options.is_asymmetric()
}

/// A 2-D convolution without bias, `[N, C, H, W] * [C_out, C, kh, kw]`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuConv: Backend {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

impl CpuConv for Flex {
    fn cpu_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        match geometry(&x, &weight, &options) {
            Some(g) => {
                let y = f32s(&x, |x| f32s(&weight, |w| conv_cpu::forward(x, w, &g)));
                tensor(y, [g.batch, g.c_out, g.h_out, g.w_out])
            }
            None => Flex::conv2d(x, weight, None, options),
        }
    }
}

impl<C: CheckpointStrategy> CpuConv for Autodiff<Flex, C> {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match CpuConv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y =
                    Flex::cpu_conv2d(x.into_primitive(), weight.into_primitive(), options.clone());
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cpu_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }
}

/// The backward node: both gradients from one pass over the output gradient.
#[derive(Debug)]
struct CpuConv2dBackward;

impl Backward<Flex, 2> for CpuConv2dBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let (dx, dw) = match geometry(&x, &weight, &options) {
            Some(g) => {
                let (dx, dw) = f32s(&x, |xs| {
                    f32s(&weight, |ws| {
                        f32s(&dy, |dys| {
                            conv_cpu::backward(
                                xs,
                                ws,
                                dys,
                                &g,
                                node_x.is_some(),
                                node_weight.is_some(),
                            )
                        })
                    })
                });
                (
                    dx.map(|d| tensor(d, [g.batch, g.c_in, g.h, g.w])),
                    dw.map(|d| tensor(d, [g.c_out, g.c_in, g.kh, g.kw])),
                )
            }
            None => (
                node_x.is_some().then(|| {
                    Flex::conv2d_x_backward(x.clone(), weight.clone(), dy.clone(), options.clone())
                }),
                node_weight
                    .is_some()
                    .then(|| Flex::conv2d_weight_backward(x, weight, dy, options)),
            ),
        };
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, dw);
        }
    }
}

/// The convolution's geometry when docmoco's kernels can run it (f32, no groups, symmetric
/// padding, shapes that agree); `None` sends it to burn.
fn geometry(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32
        || weight.dtype() != DType::F32
        || options.groups != 1
        || options.is_asymmetric()
    {
        return None;
    }
    let dims = |t: &FlexTensor| -> Option<[usize; 4]> {
        let shape = t.layout().shape();
        (shape.num_dims() == 4).then(|| shape.dims::<4>())
    };
    ConvGeometry::new(
        dims(x)?,
        dims(weight)?,
        options.stride,
        options.padding_begin(),
        options.dilation,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::use_burn_kernels;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output and all three gradients equal burn's own convolution's, through the autodiff
    /// graph (the loss weights every output element differently, so a transposed or shifted
    /// gradient cannot pass).
    #[test]
    fn matches_burn_conv2d_forward_and_gradients() {
        let device = Device::flex().autodiff();
        for (i, (cin, cout, k, stride, pad, bias, size)) in [
            (3, 8, 7, 2, 3, false, 19),
            (8, 8, 3, 1, 1, true, 9),
            (8, 16, 1, 2, 0, false, 9),
        ]
        .into_iter()
        .enumerate()
        {
            device.seed(i as u64);
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random(
                [3, cin, size, size],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            let r = Tensor::<4>::random(
                conv.forward(x.clone()).dims(),
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |burn: bool| {
                use_burn_kernels(burn);
                let y = forward(&conv, x.clone());
                use_burn_kernels(false);
                let loss = (y.clone() * r.clone()).sum();
                let grads = loss.backward();
                let bias_grad = conv
                    .bias
                    .as_ref()
                    .map(|b| b.val().grad(&grads).unwrap().into_data());
                (
                    y.into_data(),
                    x.grad(&grads).unwrap().into_data(),
                    conv.weight.val().grad(&grads).unwrap().into_data(),
                    bias_grad,
                )
            };
            let ours = run(false);
            let theirs = run(true);
            // Sums of a few hundred unit-size terms in another order: absolute error ~1e-6.
            let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-5);
            ours.0.assert_approx_eq::<f32>(&theirs.0, tol);
            ours.1.assert_approx_eq::<f32>(&theirs.1, tol);
            ours.2.assert_approx_eq::<f32>(&theirs.2, tol);
            if let (Some(a), Some(b)) = (ours.3, theirs.3) {
                a.assert_approx_eq::<f32>(&b, tol);
            }
        }
    }
}
