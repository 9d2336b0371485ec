//! Strided convolutions with very few input channels (a stem: RGB or grey pages in, 7×7
//! stride 2) as direct AVX-512 kernels: the forward pass and the weight gradient (a stem needs
//! no input gradient; asked for one, `conv_cpu` computes it by im2col).
//!
//! Why: with 3 input channels im2col makes 147 values per output position, each used by only
//! `C_out` multiply-adds (16 for the ×0.25 networks), so the stem was bound by writing and
//! reading its columns: `bench conv` had it at 1.7–2x PyTorch's time on `moco-v2-doc`'s network
//! and 2–2.5x on DBNet's crops (docs/performance.md). Here no columns are written: the forward
//! pass loads each input vector once per tap and multiplies it into 16 output channels held in
//! registers; the weight gradient holds a tile of 4 output channels × a kernel row's taps in
//! registers and reads the output gradient in place.
//!
//! Layout: each band of output rows first splits the padded input rows it reads into even and
//! odd columns, so that the 16 inputs a tap reads for 16 consecutive outputs (stride 2) are one
//! contiguous load. The forward pass transposes the weights to `[C_in][kh][kw][C_out]`,
//! zero-padded to a multiple of 16 output channels, so each tap's 16 weights are consecutive.
//! Sums run in f32 FMAs in a fixed order (the forward pass over channel, kernel row, kernel
//! column; the weight gradient per task in image order, the tasks in order, the 16 lanes last).

use rayon::prelude::*;

use super::conv_cpu::ConvGeometry;

/// Output channels computed together (one AVX-512 register of outputs per channel).
const BLOCK: usize = 16;

/// Whether the forward kernel computes `g`: the `avx512` build on a CPU with AVX-512, at most
/// 4 input channels, stride 2, no dilation, output rows of at least 16, and not turned off by
/// the environment variable `DOCMOCO_STEM_KERNEL=0` (to measure the difference; im2col then).
pub fn fits(g: &ConvGeometry) -> bool {
    static OFF: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        std::env::var_os("DOCMOCO_STEM_KERNEL").is_some_and(|v| v == "0")
    });
    cfg!(all(target_arch = "x86_64", feature = "avx512"))
        && !*OFF
        && available()
        && g.c_in <= 4
        && g.stride == [2, 2]
        && g.dilation == [1, 1]
        && g.w_out >= BLOCK
}

fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Columns of one phase (even or odd) of a padded input row: every column the outputs read,
/// rounded up so that the last block of 16 outputs may load whole vectors.
fn phase_len(g: &ConvGeometry) -> usize {
    g.w_out.next_multiple_of(BLOCK) + g.kw / 2
}

/// `y = conv(x, w)` (no bias), NCHW; `g` must [`fits`].
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(fits(g));
    assert_eq!(x.len(), g.x_len());
    assert_eq!(w.len(), g.weight_len());
    let blocks = g.c_out.div_ceil(BLOCK);
    let taps = g.c_in * g.kh * g.kw;
    // [C_in·kh·kw][blocks·16]: each tap's weights for 16 consecutive output channels.
    let mut wt = vec![0.0f32; taps * blocks * BLOCK];
    for co in 0..g.c_out {
        for t in 0..taps {
            wt[t * blocks * BLOCK + co] = w[co * taps + t];
        }
    }
    let mut y = vec![0.0; g.y_len()];
    let positions = g.positions();
    // Bands of output rows: about 8 tasks per thread over the batch, for balance.
    let tasks = (rayon::current_num_threads() * 8).div_ceil(g.batch.max(1));
    let rows = g.h_out.div_ceil(tasks.max(1)).max(1);
    y.par_chunks_mut(positions * g.c_out)
        .enumerate()
        .for_each(|(n, y)| {
            let image = &x[n * g.c_in * g.h * g.w..(n + 1) * g.c_in * g.h * g.w];
            let bands: Vec<_> = (0..g.h_out).step_by(rows).collect();
            // Each band writes its own rows of every output plane.
            let y = SyncPtr(y.as_mut_ptr());
            bands.into_par_iter().for_each(|first| {
                let last = (first + rows).min(g.h_out);
                let y = &y;
                band(image, &wt, g, first..last, |co, oh, ow, values| {
                    // SAFETY: inside this image's planes, and the bands are disjoint rows.
                    let at = unsafe { y.0.add((co * g.h_out + oh) * g.w_out + ow) };
                    let dst = unsafe { std::slice::from_raw_parts_mut(at, values.len()) };
                    dst.copy_from_slice(values);
                });
            });
        });
    y
}

/// A raw pointer the bands of one image share; each writes only its own output rows.
struct SyncPtr(*mut f32);
unsafe impl Sync for SyncPtr {}

/// The input rows that output rows `oh_range` of one image read, padded, as
/// `[C_in][band input row][phase][phase_len]` (even padded columns, then odd ones; zero where
/// the padding is), and the number of band input rows.
fn split_phases(
    image: &[f32],
    g: &ConvGeometry,
    oh_range: &std::ops::Range<usize>,
) -> (Vec<f32>, usize) {
    let plen = phase_len(g);
    let in_rows = (oh_range.len() - 1) * 2 + g.kh;
    let mut phases = vec![0.0f32; g.c_in * in_rows * 2 * plen];
    let first_ih = (oh_range.start * 2) as isize - g.padding[0] as isize;
    let last_read = 2 * (g.w_out - 1) + g.kw;
    for ci in 0..g.c_in {
        for r in 0..in_rows {
            let ih = first_ih + r as isize;
            if ih < 0 || ih >= g.h as isize {
                continue;
            }
            let src = &image[(ci * g.h + ih as usize) * g.w..][..g.w];
            let dst = &mut phases[(ci * in_rows + r) * 2 * plen..][..2 * plen];
            for (iw, &v) in src.iter().enumerate() {
                // Padded column iw + p: phase (iw + p) % 2, index (iw + p) / 2. Columns no
                // output reads stay zero: the lanes past a row's last output read them, and
                // the weight gradient multiplies them by zeros (a non-finite pixel there would
                // otherwise make a NaN).
                let c = iw + g.padding[1];
                if c < last_read {
                    dst[(c % 2) * plen + c / 2] = v;
                }
            }
        }
    }
    (phases, in_rows)
}

/// Output rows `oh_range` of one image: splits the input rows they read into phases, then
/// runs the kernel, handing each run of output values to `store(co, oh, first ow, values)`.
fn band(
    image: &[f32],
    wt: &[f32],
    g: &ConvGeometry,
    oh_range: std::ops::Range<usize>,
    store: impl Fn(usize, usize, usize, &[f32]),
) {
    let (phases, in_rows) = split_phases(image, g, &oh_range);
    let plen = phase_len(g);
    #[cfg(target_arch = "x86_64")]
    {
        let blocks = g.c_out.div_ceil(BLOCK);
        let mut out = [[0.0f32; BLOCK]; BLOCK];
        for oh in oh_range.clone() {
            let r0 = (oh - oh_range.start) * 2;
            for ow0 in (0..g.w_out).step_by(BLOCK) {
                for b in 0..blocks {
                    // SAFETY: `fits` checked AVX-512; the loads stay inside `phases` (plen
                    // covers ow0 + 15 + kw / 2) and `wt` (blocks·16 per tap).
                    unsafe { block16(&phases, wt, g, (r0, in_rows, plen), (ow0, b), &mut out) };
                    let lanes = BLOCK.min(g.w_out - ow0);
                    for (c, row) in out.iter().enumerate() {
                        let co = b * BLOCK + c;
                        if co < g.c_out {
                            store(co, oh, ow0, &row[..lanes]);
                        }
                    }
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (wt, store);
        unreachable!("fits() is false off x86-64");
    }
}

/// 16 outputs (consecutive columns from `ow0`) × 16 output channels (block `b`) of one output
/// row whose input rows start at band row `r0`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block16(
    phases: &[f32],
    wt: &[f32],
    g: &ConvGeometry,
    (r0, in_rows, plen): (usize, usize, usize),
    (ow0, b): (usize, usize),
    out: &mut [[f32; BLOCK]; BLOCK],
) {
    use std::arch::x86_64::*;
    let stride = g.c_out.div_ceil(BLOCK) * BLOCK;
    let mut acc = [_mm512_setzero_ps(); BLOCK];
    for ci in 0..g.c_in {
        for i in 0..g.kh {
            let row = &phases[(ci * in_rows + r0 + i) * 2 * plen..][..2 * plen];
            for j in 0..g.kw {
                let start = (j % 2) * plen + ow0 + j / 2;
                let xv = unsafe { _mm512_loadu_ps(row[start..start + BLOCK].as_ptr()) };
                let t = (ci * g.kh + i) * g.kw + j;
                let ws = &wt[t * stride + b * BLOCK..][..BLOCK];
                for (a, &wv) in acc.iter_mut().zip(ws) {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(wv), xv, *a);
                }
            }
        }
    }
    for (row, a) in out.iter_mut().zip(acc) {
        unsafe { _mm512_storeu_ps(row.as_mut_ptr(), a) };
    }
}

/// Output rows per band of the weight gradient: the band's output gradient and input rows
/// stay in L2 while every (channel, kernel row) tile sweeps them (8 was the fastest of 2, 4
/// and 8 on `moco-v2-doc`'s stem).
const GRAD_ROWS: usize = 8;

/// Output channels per register tile of the weight gradient: 4 channels × `kw` taps of
/// accumulators (28 for a 7×7 kernel), each output-gradient vector used for `kw` taps.
const TILE: usize = 4;

/// Whether [`weight_grad`] computes `g`: [`fits`], with a kernel 3, 5 or 7 wide.
pub fn grad_fits(g: &ConvGeometry) -> bool {
    fits(g) && matches!(g.kw, 3 | 5 | 7)
}

/// The weight gradient `dW = Σ dY ⊗ x` over the batch, `[C_out, C_in, kh, kw]`; `g` must
/// [`grad_fits`].
///
/// Each task sums its images into 16-lane accumulators per (channel, kernel row, output
/// channel, kernel column); the tasks' sums are added in task order and the lanes last, so the
/// result does not depend on the thread schedule.
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(grad_fits(g));
    assert_eq!(x.len(), g.x_len());
    assert_eq!(dy.len(), g.y_len());
    let co_pad = g.c_out.next_multiple_of(BLOCK);
    let acc_len = g.c_in * g.kh * co_pad * g.kw * BLOCK;
    let tasks = (rayon::current_num_threads() * 4).min(g.batch.max(1));
    let per_task = g.batch.div_ceil(tasks.max(1)).max(1);
    let partial: Vec<Vec<f32>> = (0..g.batch)
        .step_by(per_task)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first| {
            let mut acc = vec![0.0f32; acc_len];
            for n in first..(first + per_task).min(g.batch) {
                let image = &x[n * g.c_in * g.h * g.w..(n + 1) * g.c_in * g.h * g.w];
                let dy = &dy[n * g.c_out * g.positions()..(n + 1) * g.c_out * g.positions()];
                image_weight_grad(image, dy, g, &mut acc);
            }
            acc
        })
        .collect();
    let mut sum = vec![0.0f32; acc_len];
    for part in &partial {
        sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
    }
    // [ci][kh][co][kw][lane] → [co][ci][kh][kw].
    let mut dw = vec![0.0f32; g.weight_len()];
    for ci in 0..g.c_in {
        for i in 0..g.kh {
            for co in 0..g.c_out {
                for j in 0..g.kw {
                    let at = (((ci * g.kh + i) * co_pad + co) * g.kw + j) * BLOCK;
                    dw[((co * g.c_in + ci) * g.kh + i) * g.kw + j] =
                        sum[at..at + BLOCK].iter().sum();
                }
            }
        }
    }
    dw
}

/// Adds one image's products into `acc` (`[C_in][kh][C_out padded][kw][lane]`).
fn image_weight_grad(image: &[f32], dy: &[f32], g: &ConvGeometry, acc: &mut [f32]) {
    let co_pad = g.c_out.next_multiple_of(BLOCK);
    let plen = phase_len(g);
    for first in (0..g.h_out).step_by(GRAD_ROWS) {
        let oh_range = first..(first + GRAD_ROWS).min(g.h_out);
        let rows = oh_range.len();
        let (phases, in_rows) = split_phases(image, g, &oh_range);
        #[cfg(target_arch = "x86_64")]
        for ci in 0..g.c_in {
            for i in 0..g.kh {
                for co0 in (0..g.c_out).step_by(TILE) {
                    let tile = g.kw * TILE * BLOCK;
                    let at = ((ci * g.kh + i) * co_pad + co0) * g.kw * BLOCK;
                    let acc = &mut acc[at..at + tile];
                    let x = (&phases[..], (ci * in_rows + i, plen));
                    let dy = (dy, (co0, first, rows));
                    // SAFETY: `grad_fits` checked AVX-512 (the kernel's width is dispatched
                    // here); the kernel asserts its operands' extents.
                    unsafe {
                        match g.kw {
                            3 => grad_tile::<3>(x, dy, g, acc),
                            5 => grad_tile::<5>(x, dy, g, acc),
                            _ => grad_tile::<7>(x, dy, g, acc),
                        }
                    }
                }
            }
        }
    }
}

/// `acc[c][j][lane] += Σ_rows,blocks dY[co0 + c][oh][block + lane] · x_j[row][block + lane]`
/// for output channels `co0..co0 + 4` (those past the last add nothing) and the `KW` taps of
/// one (channel, kernel row), over output rows `oh = first + row`: tap `j` reads phase row
/// `first_row + 2·row`, phase `j % 2`, from column `j / 2`. The output gradient is read in
/// place, its last block of each row masked (the lanes past the row add zero).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn grad_tile<const KW: usize>(
    (phases, (first_row, plen)): (&[f32], (usize, usize)),
    (dy, (co0, first, rows)): (&[f32], (usize, usize, usize)),
    g: &ConvGeometry,
    acc: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert_eq!(acc.len(), TILE * KW * BLOCK);
    let channels = TILE.min(g.c_out - co0);
    let plane = g.h_out * g.w_out;
    assert!(dy.len() >= (co0 + channels) * plane && first + rows <= g.h_out);
    assert!(phases.len() >= (first_row + 2 * (rows - 1)) * 2 * plen + 2 * plen);
    assert!(plen >= g.w_out.next_multiple_of(BLOCK) + KW / 2);
    let mut a = [[_mm512_setzero_ps(); KW]; TILE];
    for (c, a) in a.iter_mut().enumerate() {
        for (j, a) in a.iter_mut().enumerate() {
            *a = unsafe { _mm512_loadu_ps(acc.as_ptr().add((c * KW + j) * BLOCK)) };
        }
    }
    let dy = dy[co0 * plane..].as_ptr();
    let tail = g.w_out % BLOCK;
    for r in 0..rows {
        // SAFETY (the loads): rows of `2·plen` phases and of `w_out` output-gradient values
        // (the last block masked), inside the extents asserted above.
        let x_row = unsafe { phases.as_ptr().add((first_row + 2 * r) * 2 * plen) };
        let dy_row = unsafe { dy.add((first + r) * g.w_out) };
        for ow0 in (0..g.w_out).step_by(BLOCK) {
            let mask: __mmask16 = if ow0 + BLOCK <= g.w_out {
                !0
            } else {
                (1 << tail) - 1
            };
            let d: [__m512; TILE] = std::array::from_fn(|c| {
                if c < channels {
                    unsafe { _mm512_maskz_loadu_ps(mask, dy_row.add(c * plane + ow0)) }
                } else {
                    _mm512_setzero_ps()
                }
            });
            for j in 0..KW {
                let xv = unsafe { _mm512_loadu_ps(x_row.add((j % 2) * plen + j / 2 + ow0)) };
                for (a, d) in a.iter_mut().zip(&d) {
                    a[j] = _mm512_fmadd_ps(*d, xv, a[j]);
                }
            }
        }
    }
    for (c, a) in a.iter().enumerate() {
        for (j, a) in a.iter().enumerate() {
            unsafe { _mm512_storeu_ps(acc.as_mut_ptr().add((c * KW + j) * BLOCK), *a) };
        }
    }
}
