//! The f32 matrix products of docmoco's CPU kernels, with the micro-kernel family (AVX2 + FMA
//! or AVX-512) chosen per product instead of once per process.
//!
//! Why: the `gemm` crate picks one family for the whole process. On an AVX-512 CPU its AVX-512
//! kernels run a convolution's forward and input-gradient products 1.7–2x faster than its AVX2
//! ones, but the weight-gradient product of a narrow layer (few output channels, a reduction
//! over every output position of the batch) 2–4x *slower*: the operand it packs is gathered
//! from 64 rows at once instead of 16 (docs/performance.md, "Choosing the kernel per
//! product"). Taking each family where it wins is what makes the AVX-512 build faster on every
//! workload measured, narrow networks and DBNet included.
//!
//! Both families are `gemm`'s own micro-kernels and blocking (`gemm_common`'s generic driver,
//! the one `gemm::gemm` calls), so results equal `gemm::gemm`'s with the same family bit for
//! bit. The AVX-512 family exists only in a build with the feature `avx512` (the default) and is
//! used only when the CPU has it; `DOCMOCO_MATMUL=avx2` keeps docmoco's products on AVX2 (to
//! measure the difference in one binary).

use std::sync::LazyLock;

use gemm::Parallelism;

/// A micro-kernel family of `gemm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 256-bit FMA kernels (x86-64-v3), or `gemm`'s own choice off x86.
    Avx2,
    /// 512-bit kernels (x86-64-v4).
    Avx512,
}

/// The widest family this build and this CPU offer, unless `DOCMOCO_MATMUL=avx2`.
pub fn widest() -> Isa {
    static WIDEST: LazyLock<Isa> = LazyLock::new(|| {
        let forced = std::env::var("DOCMOCO_MATMUL").is_ok_and(|v| v == "avx2");
        if !forced && avx512::available() {
            Isa::Avx512
        } else {
            Isa::Avx2
        }
    });
    *WIDEST
}

/// The family for a product in `gemm`'s convention (after [`product`]'s normalisation): AVX-512
/// unless its left operand must be packed (rows not at unit stride) *and* its destination has
/// fewer than 64 columns. Packing gathers one value from each of a micro-tile's rows per step,
/// 64 rows for AVX-512 against 16 for AVX2, and with few columns to reuse the packed values
/// that gather is the product's cost: the weight-gradient products of layers with 16 or 32
/// output channels ran at 14–35 GFLOP/s on AVX-512 against 39–114 on AVX2; from 64 channels on
/// AVX-512 ties or wins, and products whose left operand is read in place gain 1.7–2x. Since
/// the weight gradient reads `im2col_t` in place, every product of the convolution kernels takes
/// the first arm; the second keeps any packed, thin product off the slow path.
fn family_for(a: &Args) -> Isa {
    match widest() {
        Isa::Avx512 if a.lhs.2 == 1 || a.n >= 64 => Isa::Avx512,
        _ => Isa::Avx2,
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (`+=` when `accumulate`), each operand given by its
/// (column stride, row stride), on the family [`family_for`] picks for this layout.
///
/// Like `gemm::gemm`, a row-major destination is computed as the transposed product (the
/// micro-kernels write columns); strides must not be negative.
/// Which threads a [`product`] may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The whole pool (large products are split across it).
    Pool,
    /// The calling thread alone: for callers that already run one product per core (the
    /// narrow convolutions' image-parallel passes).
    Caller,
}

#[allow(clippy::too_many_arguments)]
pub fn product(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (isize, isize),
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
    threads: Threads,
) {
    let strides = [dst_strides, lhs_strides, rhs_strides];
    assert!(
        strides.iter().all(|&(c, r)| c >= 0 && r >= 0),
        "negative strides"
    );
    // The last element each operand addresses lies inside its slice.
    let covers = |len: usize, (rows, cols): (usize, usize), (c, r): (isize, isize)| {
        rows == 0 || cols == 0 || (rows - 1) * (r as usize) + (cols - 1) * (c as usize) < len
    };
    assert!(
        covers(dst.len(), (m, n), dst_strides)
            && covers(lhs.len(), (m, k), lhs_strides)
            && covers(rhs.len(), (k, n), rhs_strides),
        "an operand's strides address beyond its slice"
    );
    let parallelism =
        if threads == Threads::Pool && m * n * k >= 1 << 18 && rayon::current_num_threads() > 1 {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        };
    let transpose = dst_strides.0.abs() < dst_strides.1.abs();
    let args = if transpose {
        Args {
            m: n,
            n: m,
            k,
            dst: (dst.as_mut_ptr(), dst_strides.1, dst_strides.0),
            lhs: (rhs.as_ptr(), rhs_strides.1, rhs_strides.0),
            rhs: (lhs.as_ptr(), lhs_strides.1, lhs_strides.0),
            accumulate,
            parallelism,
        }
    } else {
        Args {
            m,
            n,
            k,
            dst: (dst.as_mut_ptr(), dst_strides.0, dst_strides.1),
            lhs: (lhs.as_ptr(), lhs_strides.0, lhs_strides.1),
            rhs: (rhs.as_ptr(), rhs_strides.0, rhs_strides.1),
            accumulate,
            parallelism,
        }
    };
    // SAFETY: the lengths asserted above cover what the (non-negative) strides address, and the
    // callers' `dst` is a `&mut` slice, so it is not aliased by `lhs` or `rhs`.
    unsafe { run(family_for(&args), &args) }
}

unsafe fn run(isa: Isa, args: &Args) {
    unsafe {
        match isa {
            Isa::Avx512 => avx512::run(args),
            Isa::Avx2 => avx2::run(args),
        }
    }
}

/// One product in `gemm`'s column-major convention: pointers with (column, row) strides.
struct Args {
    m: usize,
    n: usize,
    k: usize,
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
    accumulate: bool,
    parallelism: Parallelism,
}

/// `$f(prefix…, the product's 18 arguments in `gemm`'s order, suffix…, parallelism)`: the
/// argument list `gemm::gemm` and `gemm_common`'s driver share (the driver takes its SIMD token
/// first and its micro-kernels before the parallelism), written once.
macro_rules! call_gemm {
    ($f:expr, [$($pre:expr),*], $a:expr, [$($post:expr),*]) => {{
        let a: &Args = $a;
        $f(
            $($pre,)*
            a.m,
            a.n,
            a.k,
            a.dst.0,
            a.dst.1,
            a.dst.2,
            a.accumulate,
            a.lhs.0,
            a.lhs.1,
            a.lhs.2,
            a.rhs.0,
            a.rhs.1,
            a.rhs.2,
            if a.accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            $($post,)*
            a.parallelism,
        )
    }};
}

/// Calls `gemm_common`'s driver with the micro-kernels of one `gemm_f32` family module, whose
/// registers hold `$lanes` floats (the module keeps that constant private).
macro_rules! drive {
    ($simd:ty, $kernels:path, $lanes:literal, $args:expr) => {{
        use $kernels as ukr;
        let simd = <$simd as gemm_common::simd::MixedSimd<f32, f32, f32, f32>>::try_new()
            .expect("the CPU has the family's instructions (checked by the caller)");
        call_gemm!(
            gemm_common::gemm::gemm_basic_generic::<
                _,
                f32,
                $lanes,
                { ukr::MR_DIV_N * $lanes },
                { ukr::NR },
                { ukr::MR_DIV_N },
                { ukr::H_M },
                { ukr::H_N },
            >,
            [simd],
            $args,
            [|x, y, z| x * y + z, &ukr::UKR, &ukr::H_UKR, false]
        )
    }};
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Args;

    pub(super) unsafe fn run(a: &Args) {
        if is_x86_feature_detected!("fma") {
            unsafe { drive!(gemm_common::simd::V3, gemm_f32::microkernel::fma::f32, 8, a) }
        } else {
            unsafe { super::portable(a) }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    pub(super) unsafe fn run(a: &super::Args) {
        unsafe { super::portable(a) }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "avx512"))]
mod avx512 {
    use super::Args;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f")
    }

    pub(super) unsafe fn run(a: &Args) {
        unsafe {
            drive!(
                gemm_common::simd::V4,
                gemm_f32::microkernel::avx512f::f32,
                16,
                a
            )
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "avx512")))]
mod avx512 {
    pub(super) fn available() -> bool {
        false
    }

    pub(super) unsafe fn run(a: &super::Args) {
        unsafe { super::avx2::run(a) }
    }
}

/// `gemm::gemm`, whatever family it picked for this process: off x86-64, or on an x86-64 CPU
/// without FMA.
unsafe fn portable(a: &Args) {
    unsafe { call_gemm!(gemm::gemm, [], a, []) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dst = lhs · rhs` by definition, row-major.
    fn reference(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| lhs[i * k + p] * rhs[p * n + j]).sum();
            }
        }
        out
    }

    /// Both families, whichever [`family_for`] would pick, give the exact product of small
    /// integers (exact in f32), in the layouts docmoco's kernels use. The AVX-512 family only
    /// where the CPU has it: on an AVX2-only CPU (session 10's machine) its instructions fault,
    /// and [`widest`] never picks it there.
    #[test]
    fn both_families_compute_the_product() {
        let (m, n, k) = (70, 33, 150);
        let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let want = reference(m, n, k, &lhs, &rhs);
        let families = [Isa::Avx2, Isa::Avx512];
        for isa in families
            .into_iter()
            .filter(|&f| f == Isa::Avx2 || avx512::available())
        {
            // Column-major destination, row-major operands: (column stride, row stride).
            let mut dst = vec![0.0f32; m * n];
            let args = Args {
                m,
                n,
                k,
                dst: (dst.as_mut_ptr(), m as isize, 1),
                lhs: (lhs.as_ptr(), 1, k as isize),
                rhs: (rhs.as_ptr(), 1, n as isize),
                accumulate: false,
                parallelism: Parallelism::None,
            };
            unsafe { run(isa, &args) };
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(dst[j * m + i], want[i * n + j], "{isa:?} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn products_match_the_definition_in_every_layout() {
        for &(m, n, k) in &[(3, 5, 7), (64, 147, 300), (16, 200, 90), (130, 70, 64)] {
            let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
            let want = reference(m, n, k, &lhs, &rhs);
            // Row-major destination (computed transposed inside) and column-major destination.
            let mut row = vec![0.0; m * n];
            product(
                (m, n, k),
                &mut row,
                (1, n as isize),
                false,
                &lhs,
                (1, k as isize),
                &rhs,
                (1, n as isize),
                Threads::Pool,
            );
            assert_eq!(row, want, "{m}x{n}x{k} row-major");
            let mut col = vec![0.0; m * n];
            product(
                (m, n, k),
                &mut col,
                (m as isize, 1),
                false,
                &lhs,
                (1, k as isize),
                &rhs,
                (1, n as isize),
                Threads::Pool,
            );
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(col[j * m + i], want[i * n + j], "{m}x{n}x{k} column-major");
                }
            }
            // Accumulation adds to what is there.
            product(
                (m, n, k),
                &mut row,
                (1, n as isize),
                true,
                &lhs,
                (1, k as isize),
                &rhs,
                (1, n as isize),
                Threads::Caller,
            );
            assert_eq!(
                row,
                want.iter().map(|v| 2.0 * v).collect::<Vec<_>>(),
                "{m}x{n}x{k} +="
            );
        }
    }
}
