//! The per-step parameter updates, fused into one pass on the CPU: SGD with momentum
//! ([`crate::optim::Sgd`]) and the key encoder's momentum update ([`crate::ssl::momentum`]).
//!
//! Why: written with burn's element-wise ops, the SGD step is six passes over each parameter
//! (`wd·θ`, `+ g`, `μ·b`, `+ d`, `lr·b`, `θ −`), several of them into fresh buffers because the
//! parameter and the momentum buffer are shared with the module and the optimiser state; the
//! momentum update three more. With 12M parameters that was 3.8% of a MoCo step at 64 px
//! (docs/performance.md, session 12). Here each is one pass, and the momentum buffer is
//! updated in place when nobody else holds it (the optimiser's state does not share it).
//!
//! The same f32 operations run in the same order as burn's ops (each scalar rounded to f32
//! first, no fused multiply-add), so the results are identical bit for bit (tested through
//! `Sgd::step` and `momentum_update`, against burn's ops with `use_burn_kernels`).

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::AutodiffBackend;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{f32s, f32s_mut, into_owned_f32, takes, tensor};

/// Values per parallel task (a parameter tensor has up to 2.4M: ResNet-18's last 3×3
/// convolutions). Writing the outputs straight into fresh memory (`collect_into_vec`, no
/// zeroing) measured slower than these zeroed chunks.
const PIECE: usize = 1 << 15;

/// Whether the fused kernels run an update of these tensors (f32 on the CPU backend, one
/// shape); callers keep burn's ops for everything else.
pub fn applies(tensors: &[&Tensor<1>]) -> bool {
    tensors
        .iter()
        .all(|t| takes(*t) && t.dims() == tensors[0].dims())
}

/// One SGD step with momentum (PyTorch's rule, dampening 0): `d = g + wd·θ` (just `g` when
/// `wd = 0`), `b' = μ·b + d`, `θ' = θ − lr·b'`; returns `(θ', b')`. Only where [`applies`].
pub fn sgd_momentum_step(
    theta: Tensor<1>,
    grad: Tensor<1>,
    buffer: Tensor<1>,
    hyper: [f64; 3],
) -> (Tensor<1>, Tensor<1>) {
    assert!(
        applies(&[&theta, &grad, &buffer]),
        "fused SGD step on unsupported tensors"
    );
    let (theta, b) = <burn::backend::Dispatch as CpuParamUpdate>::cpu_sgd_momentum_step(
        theta.into_dispatch(),
        grad.into_dispatch(),
        buffer.into_dispatch(),
        hyper,
    );
    (Tensor::from_dispatch(theta), Tensor::from_dispatch(b))
}

/// The momentum (EMA) update `m·θ_k + (1 − m)·θ_q` of one key-encoder parameter. Only where
/// [`applies`].
pub fn momentum_update(key: Tensor<1>, query: Tensor<1>, m: f64) -> Tensor<1> {
    assert!(
        applies(&[&key, &query]),
        "fused momentum update on unsupported tensors"
    );
    Tensor::from_dispatch(
        <burn::backend::Dispatch as CpuParamUpdate>::cpu_momentum_update(
            key.into_dispatch(),
            query.into_dispatch(),
            m,
        ),
    )
}

/// The fused updates on the CPU backend.
#[backend_extension(Flex, Autodiff)]
pub trait CpuParamUpdate: Backend {
    fn cpu_sgd_momentum_step(
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        buffer: FloatTensor<Self>,
        hyper: [f64; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    fn cpu_momentum_update(
        key: FloatTensor<Self>,
        query: FloatTensor<Self>,
        m: f64,
    ) -> FloatTensor<Self>;
}

impl CpuParamUpdate for Flex {
    fn cpu_sgd_momentum_step(
        theta: FlexTensor,
        grad: FlexTensor,
        buffer: FlexTensor,
        [momentum, weight_decay, lr]: [f64; 3],
    ) -> (FlexTensor, FlexTensor) {
        debug_assert!([&theta, &grad, &buffer]
            .iter()
            .all(|t| t.dtype() == DType::F32));
        let (mu, wd, lr) = (momentum as f32, weight_decay as f32, lr as f32);
        let shape = theta.layout().shape().clone();
        let mut b = into_owned_f32(buffer);
        let new_theta = f32s(&theta, |th| {
            f32s(&grad, |g| {
                let mut out = vec![0.0; th.len()];
                let pieces = th.par_chunks(PIECE).zip(g.par_chunks(PIECE));
                let pieces = pieces.zip(f32s_mut(&mut b).par_chunks_mut(PIECE));
                pieces
                    .zip(out.par_chunks_mut(PIECE))
                    .for_each(|(((th, g), bs), out)| {
                        for (((&t, &g), b), o) in th.iter().zip(g).zip(bs).zip(out) {
                            let d = if weight_decay != 0.0 { g + t * wd } else { g };
                            *b = *b * mu + d;
                            *o = t - *b * lr;
                        }
                    });
                out
            })
        });
        (tensor(new_theta, shape), b)
    }

    fn cpu_momentum_update(key: FlexTensor, query: FlexTensor, m: f64) -> FlexTensor {
        let (keep, take) = (m as f32, (1.0 - m) as f32);
        let mut k = into_owned_f32(key);
        f32s(&query, |q| {
            let pieces = f32s_mut(&mut k)
                .par_chunks_mut(PIECE)
                .zip(q.par_chunks(PIECE));
            pieces.for_each(|(ks, qs)| {
                for (k, &q) in ks.iter_mut().zip(qs) {
                    *k = *k * keep + q * take;
                }
            });
        });
        k
    }
}

/// Parameters are updated off the autodiff graph; on an autodiff device the inner tensors are
/// updated and wrapped again.
impl<C: CheckpointStrategy> CpuParamUpdate for Autodiff<Flex, C> {
    fn cpu_sgd_momentum_step(
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        buffer: FloatTensor<Self>,
        hyper: [f64; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (t, b) = Flex::cpu_sgd_momentum_step(
            theta.into_primitive(),
            grad.into_primitive(),
            buffer.into_primitive(),
            hyper,
        );
        (Self::from_inner(t), Self::from_inner(b))
    }

    fn cpu_momentum_update(
        key: FloatTensor<Self>,
        query: FloatTensor<Self>,
        m: f64,
    ) -> FloatTensor<Self> {
        Self::from_inner(Flex::cpu_momentum_update(
            key.into_primitive(),
            query.into_primitive(),
            m,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::use_burn_kernels;
    use crate::optim::{Sgd, SgdParams};
    use crate::ssl::momentum::momentum_update;
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Distribution, Tensor};

    /// Three SGD steps (the first creates the momentum buffers; burn's ops run it) and a
    /// momentum update give the same bits through the fused kernels as through burn's ops
    /// (`use_burn_kernels`), with and without weight decay.
    #[test]
    fn fused_updates_equal_burns_ops_bit_for_bit() {
        let device = Device::flex().autodiff();
        device.seed(11);
        let p0 = Tensor::<2>::random([33, 17], Distribution::Normal(0.0, 1.0), &device);
        let grads: Vec<Tensor<2>> = (0..3)
            .map(|_| Tensor::random([33, 17], Distribution::Normal(0.0, 1.0), &device))
            .collect();
        for (momentum, weight_decay, lr) in [(0.9, 1e-4, 0.03), (0.9, 0.0, 0.5), (0.99, 5e-4, 1.7)]
        {
            let run = |burn: bool| {
                use_burn_kernels(burn);
                let mut sgd = Sgd::new(SgdParams {
                    momentum,
                    weight_decay,
                });
                let mut p = Param::from_tensor(p0.clone());
                for g in &grads {
                    let mut gp = GradientsParams::new();
                    gp.register(p.id, g.clone());
                    p = sgd.step(p, gp, lr);
                }
                use_burn_kernels(false);
                p.val().into_data()
            };
            assert_eq!(
                run(false),
                run(true),
                "μ {momentum} wd {weight_decay} lr {lr}"
            );
        }
        let key = Param::from_tensor(p0.clone().inner());
        let query = Param::from_tensor(grads[0].clone());
        for m in [0.999, 0.99, 0.5] {
            use_burn_kernels(true);
            let theirs = momentum_update(key.clone(), &query, m).val().into_data();
            use_burn_kernels(false);
            let ours = momentum_update(key.clone(), &query, m).val().into_data();
            assert_eq!(ours, theirs, "m = {m}");
        }
    }
}
