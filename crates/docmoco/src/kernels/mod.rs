//! Compute kernels docmoco supplies to burn through its backend-extension mechanism, where
//! burn's own are the bottleneck (docs/performance.md): convolution, batch norm, max pooling
//! and the parameter updates on the CPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use burn::backend::DispatchDevice;
use burn::tensor::{Bytes, DType, Shape, Tensor};
use burn_flex::{FlexTensor, Layout};

pub mod batch_norm;
pub mod batch_norm_cpu;
pub mod conv2d;
pub mod conv_cpu;
pub mod conv_direct;
pub mod conv_taps;
pub mod deconv2d;
pub mod matmul;
pub mod max_pool;
pub mod max_pool_cpu;
pub mod param_update;

/// Runs `f` on a worker thread of rayon's global pool, the pool docmoco's kernels and burn's
/// CPU backend split their work over: every command of the CLI runs this way.
///
/// Why: called from a thread outside the pool, each parallel operation (several per layer) is
/// handed to the pool and the caller sleeps until it is done — a cross-thread wake-up per
/// operation, and one core's worth of threads idle meanwhile. From a worker, the same
/// operation is split by work stealing and the calling thread computes its share. Measured
/// (alternating runs, docs/performance.md): MoCo step +3–7%, DBNet training step +40%, DBNet
/// page inference +10–40%. The environment variable `DOCMOCO_OFF_POOL` (any value but `0`)
/// keeps the caller's thread, to measure the difference. Results are the same bit for bit.
///
/// The pool's threads get the main thread's usual 8 MiB stack (rayon's default is 2 MiB), as
/// `f` now runs the whole program; a pool built before the first call is used as it is.
pub fn on_compute_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: std::sync::Once = std::sync::Once::new();
    let off = std::env::var_os("DOCMOCO_OFF_POOL").is_some_and(|v| v != "0");
    if off || rayon::current_thread_index().is_some() {
        return f();
    }
    POOL.call_once(|| {
        // An error means the global pool already exists: then it is used as it is.
        let _ = rayon::ThreadPoolBuilder::new()
            .stack_size(8 << 20)
            .build_global();
    });
    rayon::scope(|_| f())
}

/// The output positions `o < out` (along one axis) whose input index `o·stride + offset` lies
/// in `0..size`, as a range (the input index grows with `o`): a convolution tap or a pooling
/// window reads the zero padding, or nothing, everywhere else.
pub(crate) fn outputs_reading(
    out: usize,
    size: usize,
    stride: usize,
    offset: isize,
) -> std::ops::Range<usize> {
    let (s, size) = (stride as isize, size as isize);
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let hi = if offset >= size {
        0
    } else {
        (size - 1 - offset) / s + 1
    };
    let lo = lo.clamp(0, out as isize);
    lo as usize..hi.clamp(lo, out as isize) as usize
}

/// Set by [`use_burn_kernels`]; starts as the environment variable `DOCMOCO_BURN_CONV` (any value
/// but `0`), which routes every operation docmoco has a kernel for back to burn's, to compare
/// them, and originally to replay runs recorded before docmoco had its own kernels bit for bit
/// (which, with the portable build, session 13 found no longer holds for the demo: README).
static BURN_KERNELS: LazyLock<AtomicBool> = LazyLock::new(|| {
    AtomicBool::new(std::env::var_os("DOCMOCO_BURN_CONV").is_some_and(|v| v != "0"))
});

/// Run every convolution, batch norm, max pool and parameter update with burn's own kernels
/// (process-wide), e.g. to measure the difference (`docmoco bench ... --burn-conv`). Results differ from docmoco's
/// kernels in float rounding only, but training is chaotic: a run's numbers move as a whole.
pub fn use_burn_kernels(yes: bool) {
    BURN_KERNELS.store(yes, Ordering::Relaxed);
}

/// Whether [`use_burn_kernels`] is on.
pub fn burn_kernels() -> bool {
    BURN_KERNELS.load(Ordering::Relaxed)
}

/// Whether docmoco's CPU kernels take `x`: f32 on the CPU backend (`flex`), unless
/// [`use_burn_kernels`] is on.
pub(crate) fn takes<const D: usize>(x: &Tensor<D>) -> bool {
    !burn_kernels()
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Runs `f` on the tensor's f32 values in row-major order (copying only a strided tensor).
pub(crate) fn f32s<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    let dense;
    let t = if t.layout().is_contiguous() {
        t
    } else {
        dense = t.to_contiguous();
        &dense
    };
    let (start, end) = t.layout().contiguous_offsets().expect("contiguous");
    f(&t.storage::<f32>()[start..end])
}

/// A contiguous f32 tensor of `shape` holding `values`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape.into()),
        DType::F32,
    )
}

/// `t` as a contiguous f32 tensor whose buffer nobody else holds, so that a kernel may overwrite
/// it ([`f32s_mut`]): `t` itself when it already is one (burn hands over a tensor it no longer
/// needs), else a copy.
pub(crate) fn into_owned_f32(t: FlexTensor) -> FlexTensor {
    let numel = t.layout().shape().num_elements();
    let whole =
        t.layout().contiguous_offsets() == Some((0, numel)) && t.storage::<f32>().len() == numel;
    if t.is_unique() && whole {
        t
    } else {
        let shape = t.layout().shape().clone();
        tensor(f32s(&t, <[f32]>::to_vec), shape)
    }
}

/// The values of a tensor made by [`into_owned_f32`], to overwrite.
pub(crate) fn f32s_mut(t: &mut FlexTensor) -> &mut [f32] {
    t.try_storage_mut::<f32>()
        .expect("into_owned_f32 returns an unshared tensor")
}
