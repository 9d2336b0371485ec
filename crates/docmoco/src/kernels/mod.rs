//! Compute kernels docmoco supplies to burn through its backend-extension mechanism, where
//! burn's own are the bottleneck (docs/performance.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

pub mod batch_norm;
pub mod batch_norm_cpu;
pub mod conv2d;
pub mod conv_cpu;

/// Set by [`use_burn_kernels`]; starts as the environment variable `DOCMOCO_BURN_CONV` (any value
/// but `0`), which makes every command compute exactly what docmoco computed before it had its
/// own kernels: the same float summation order, so runs recorded then replay bit for bit.
static BURN_KERNELS: LazyLock<AtomicBool> = LazyLock::new(|| {
    AtomicBool::new(std::env::var_os("DOCMOCO_BURN_CONV").is_some_and(|v| v != "0"))
});

/// Run every convolution and batch norm with burn's own kernels (process-wide), e.g. to
/// measure the difference (`docmoco bench ... --burn-conv`). Results differ from docmoco's
/// kernels in float rounding only, but training is chaotic: a run's numbers move as a whole.
pub fn use_burn_kernels(yes: bool) {
    BURN_KERNELS.store(yes, Ordering::Relaxed);
}

/// Whether [`use_burn_kernels`] is on.
pub fn burn_kernels() -> bool {
    BURN_KERNELS.load(Ordering::Relaxed)
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
