//! Direct AVX-512 convolution kernels: for stems (very few input channels, stride 2) and
//! stride-1 layers with rows of at least 16 outputs, the forward pass; for stride-1 layers, the
//! input gradient; for stems and narrow stride-1 layers (few output channels on large planes:
//! DBNet's neck and heads, the ×0.25 backbones' first stages), the weight gradient.
//!
//! Why: im2col makes `C_in·kh·kw` values per output position, and each is used by only `C_out`
//! multiply-adds: 16 for DBNet's 64→16 3×3 neck and head convolutions. Those layers were bound
//! by writing and reading their columns, not by arithmetic. Measured against PyTorch's oneDNN
//! (`docs/performance.md`): the stem at 1.7–2.5x its time (session 14), DBNet's 64×64-plane
//! neck 1.5x, its 32×32 one 1.8–2.4x (session 15). Here nothing is expanded: the forward pass
//! loads each input vector once per tap and multiplies it into 16 output channels held in
//! registers; the weight gradient holds a tile of 4 output channels × a kernel row's taps in
//! registers and reads the output gradient in place; a stride-1 input gradient is the forward
//! kernel run on the output gradient with the kernel flipped and transposed.
//!
//! Layout: each band of output rows first copies the padded input rows it reads, as `S` phases
//! per row for stride `S` (stride 2: even columns, then odd ones), so that the 16 inputs a tap
//! reads for 16 consecutive outputs are one contiguous load. The forward pass transposes the
//! weights to `[C_in][kh][kw][C_out]`, zero-padded to a multiple of 16 output channels, so each
//! tap's 16 weights are consecutive. Sums run in f32 FMAs in a fixed order (the forward pass
//! over channel, kernel row, kernel column; the weight gradient per task in image order, the
//! tasks in order, the 16 lanes last). The weight gradient runs one task per thread, so its
//! rounding depends on the size of the thread pool (not on the schedule).

use std::cell::RefCell;
use std::sync::LazyLock;

use rayon::prelude::*;

use super::conv_cpu::ConvGeometry;

/// Output channels computed together (one AVX-512 register of outputs per channel).
const BLOCK: usize = 16;

/// Output channels up to which a stride-1 convolution's weight gradient takes [`weight_grad`].
/// Its tasks hold 16 lanes of accumulators per weight (`C_in·kh·kw·C_out·16` floats, 2.4 MB for
/// 64 → 64 channels), which for wider layers outgrow the L2 cache: measured slower than
/// im2col from 64 output channels (ResNet-18's stage 2 at 224 px 40 against 21 ms).
const WEIGHT_GRAD_MAX_OUT: usize = 32;

/// Whether the environment variable `name` is `0` (a kernel turned off, to measure it).
fn off(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "0")
}

/// What the kernels can compute: the `avx512` build on a CPU with AVX-512, stride 1 or 2 (the
/// same on both axes), no dilation, output rows of at least 16.
fn computable(g: &ConvGeometry) -> bool {
    cfg!(all(target_arch = "x86_64", feature = "avx512"))
        && available()
        && matches!(g.stride, [1, 1] | [2, 2])
        && g.dilation == [1, 1]
        && g.w_out >= BLOCK
}

/// A stem: at most 4 input channels, stride 2. `DOCMOCO_STEM_KERNEL=0` turns these off.
fn stem(g: &ConvGeometry) -> bool {
    static OFF: LazyLock<bool> = LazyLock::new(|| off("DOCMOCO_STEM_KERNEL"));
    computable(g) && !*OFF && g.c_in <= 4 && g.stride == [2, 2]
}

/// A stride-1 convolution with a 3, 5 or 7 wide kernel, padding smaller than the kernel and
/// input rows of at least 16 (so that its input gradient, a convolution whose output rows are
/// the input's, is computable too). `DOCMOCO_DIRECT_KERNEL=0` turns these off (im2col then).
fn stride_one(g: &ConvGeometry) -> bool {
    static OFF: LazyLock<bool> = LazyLock::new(|| off("DOCMOCO_DIRECT_KERNEL"));
    computable(g)
        && !*OFF
        && g.stride == [1, 1]
        && matches!(g.kw, 3 | 5 | 7)
        && g.padding[0] < g.kh
        && g.padding[1] < g.kw
        && g.w >= BLOCK
}

/// Whether [`forward`] computes `g` for `conv_cpu`: a stem or a stride-1 layer.
///
/// Measured against im2col (2 threads, ms): DBNet's 64 → 16 neck on 64×64 planes 3.0–3.4
/// against 6.4–6.9; ResNet-18's stage 1 at 64 px 2.9 against 3.4, at 224 px 21–24 against
/// 24–26, stage 2 at 224 px 21 against 24.5–25.6; at 112 px (28-wide rows, whose second block
/// of 16 outputs is one quarter padding) level, 10.3–11.0 against 10.9–11.0.
pub fn fits(g: &ConvGeometry) -> bool {
    stem(g) || stride_one(g)
}

/// Whether `conv_cpu` takes [`weight_grad`] for `g`: a stem with a kernel 3, 5 or 7 wide, or a
/// stride-1 layer with at most [`WEIGHT_GRAD_MAX_OUT`] output channels.
pub fn grad_fits(g: &ConvGeometry) -> bool {
    (stem(g) && matches!(g.kw, 3 | 5 | 7)) || (stride_one(g) && g.c_out <= WEIGHT_GRAD_MAX_OUT)
}

/// Whether [`input_grad`] computes `g`: a stride-1 layer (a stem's input gradient is never
/// asked for in training; asked for one, `conv_cpu` computes it by im2col). Measured against
/// im2col: DBNet's 64×64-plane neck 3.1–3.5 against 6.9–7.4 ms, ResNet-18's stage 1 at 64 px
/// 2.9 against 3.7, at 112 px 10.1–10.5 against 11.9–12.6.
pub fn input_grad_fits(g: &ConvGeometry) -> bool {
    stride_one(g)
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

/// Columns of one phase of a padded input row: every column the outputs read, rounded up so
/// that the last block of 16 outputs may load whole vectors.
fn phase_len(g: &ConvGeometry) -> usize {
    g.w_out.next_multiple_of(BLOCK) + (g.kw - 1) / g.stride[1]
}

/// Input rows a band of `rows` output rows reads.
fn band_input_rows(g: &ConvGeometry, rows: usize) -> usize {
    (rows - 1) * g.stride[0] + g.kh
}

/// Floats of a band's phase copy up to which bands grow: 256 KB, so that the copy stays in a
/// core's L2 while every output row of the band reads it `kh` times.
const BAND_FLOATS: usize = 1 << 16;

thread_local! {
    /// The calling thread's phase copy, reused from band to band.
    static PHASES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the phase copy of the input rows that output rows `oh_range` of one image read
/// (see [`split_phases`]), in the thread's reused buffer.
fn with_phases<R>(
    image: &[f32],
    g: &ConvGeometry,
    oh_range: &std::ops::Range<usize>,
    f: impl FnOnce(&[f32], usize) -> R,
) -> R {
    let in_rows = band_input_rows(g, oh_range.len());
    let len = g.c_in * in_rows * g.stride[1] * phase_len(g);
    PHASES.with(|cell| {
        // Taken already (a rayon worker that picked up a second band while waiting inside
        // the first): a buffer of its own.
        let mut own = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let buf = match guard.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut own,
        };
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let phases = &mut buf[..len];
        split_phases(image, g, oh_range, phases);
        f(phases, in_rows)
    })
}

/// Writes the input rows that output rows `oh_range` of one image read, padded, as
/// `[C_in][band input row][phase][phase_len]` (for stride 2 the even padded columns, then the
/// odd ones), zero where the padding is.
fn split_phases(
    image: &[f32],
    g: &ConvGeometry,
    oh_range: &std::ops::Range<usize>,
    phases: &mut [f32],
) {
    let (s, plen) = (g.stride[1], phase_len(g));
    debug_assert!(matches!(s, 1 | 2), "computable() admits strides 1 and 2");
    let in_rows = band_input_rows(g, oh_range.len());
    let first_ih = (oh_range.start * g.stride[0]) as isize - g.padding[0] as isize;
    // Padded columns any output reads. Columns past them stay zero: the lanes past a row's
    // last output read them, and the weight gradient multiplies them by zeros (a non-finite
    // pixel there would otherwise make a NaN).
    let last_read = s * (g.w_out - 1) + g.kw;
    let pad = g.padding[1];
    for (row, dst) in phases.chunks_exact_mut(s * plen).enumerate() {
        let (ci, r) = (row / in_rows, row % in_rows);
        let ih = first_ih + r as isize;
        if ih < 0 || ih >= g.h as isize {
            dst.fill(0.0);
            continue;
        }
        let src = &image[(ci * g.h + ih as usize) * g.w..][..g.w];
        // Input columns inside the read span: iw + pad < last_read.
        let used = &src[..g.w.min(last_read.saturating_sub(pad))];
        if s == 1 {
            dst[..pad].fill(0.0);
            dst[pad..pad + used.len()].copy_from_slice(used);
            dst[pad + used.len()..].fill(0.0);
        } else {
            dst.fill(0.0);
            let (even, odd) = dst.split_at_mut(plen);
            deinterleave(used, pad, even, odd);
        }
    }
}

/// Padded columns `c = iw + pad` of `src` into `even[c / 2]` or `odd[c / 2]`: one element to
/// align when `pad` is odd, then pairs (a loop the compiler turns into vector shuffles; a
/// division per element by the runtime stride had made the stem's phase copy as slow as its
/// products on DBNet's crops), then an unpaired last element.
fn deinterleave(src: &[f32], pad: usize, even: &mut [f32], odd: &mut [f32]) {
    let mut src = src;
    if pad % 2 == 1 {
        if let Some((&first, rest)) = src.split_first() {
            odd[pad / 2] = first;
            src = rest;
        }
    }
    let base = pad.div_ceil(2);
    let pairs = src.chunks_exact(2);
    let last = pairs.remainder().first().copied();
    let n = pairs.len();
    let lanes = even[base..base + n]
        .iter_mut()
        .zip(&mut odd[base..base + n]);
    for ((e, o), p) in lanes.zip(pairs) {
        *e = p[0];
        *o = p[1];
    }
    if let Some(v) = last {
        even[base + n] = v;
    }
}

/// `y = conv(x, w)` (no bias), NCHW; `g` must be a stem or a stride-1 layer ([`fits`]), or
/// the transposed geometry of a stride-1 layer's input gradient.
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(computable(g));
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
    // Bands of output rows: about 8 tasks per thread over the batch, for balance, and no more
    // rows than keep the band's phase copy within `BAND_FLOATS`.
    let tasks = (rayon::current_num_threads() * 8).div_ceil(g.batch.max(1));
    let per_row = g.c_in * g.stride[0] * g.stride[1] * phase_len(g);
    let fit = (BAND_FLOATS / per_row.max(1)).max(1);
    let rows = g.h_out.div_ceil(tasks.max(1)).clamp(1, fit);
    y.par_chunks_mut(positions * g.c_out)
        .enumerate()
        .for_each(|(n, y)| {
            let image = &x[n * g.c_in * g.h * g.w..(n + 1) * g.c_in * g.h * g.w];
            let bands: Vec<_> = (0..g.h_out).step_by(rows).collect();
            // Each band writes its own rows of every output plane.
            let y = SyncPtr(y.as_mut_ptr());
            bands.into_par_iter().for_each(|first| {
                let last = (first + rows).min(g.h_out);
                // SAFETY: `y` holds this image's `C_out` planes, and the bands' rows are
                // disjoint.
                unsafe { band(image, &wt, g, first..last, &y) };
            });
        });
    y
}

/// The input gradient of a stride-1 layer ([`input_grad_fits`]) for the output
/// gradient `dy`, NCHW: the convolution of `dy` with the kernel flipped and its channel axes
/// swapped, padded by `k − 1 − p` (each input position gathers the outputs that read it).
pub fn input_grad(w: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(input_grad_fits(g));
    let (kh, kw) = (g.kh, g.kw);
    let gt = ConvGeometry::new(
        [g.batch, g.c_out, g.h_out, g.w_out],
        [g.c_in, g.c_out, kh, kw],
        [1, 1],
        [kh - 1 - g.padding[0], kw - 1 - g.padding[1]],
        [1, 1],
    )
    .expect("a stride-1 convolution's transpose fits its output");
    assert_eq!((gt.h_out, gt.w_out), (g.h, g.w));
    // wt[ci][co][i][j] = w[co][ci][kh − 1 − i][kw − 1 − j].
    let mut wt = vec![0.0f32; w.len()];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            for t in 0..kh * kw {
                wt[((ci * g.c_out + co) * kh * kw) + t] =
                    w[((co * g.c_in + ci) * kh * kw) + kh * kw - 1 - t];
            }
        }
    }
    forward(dy, &wt, &gt)
}

/// A raw pointer the bands of one image share; each writes only its own output rows.
struct SyncPtr(*mut f32);
unsafe impl Sync for SyncPtr {}

/// Output rows `oh_range` of one image: copies the input rows they read into phases, then
/// runs the kernel, which stores each block of outputs straight into the image's planes.
///
/// # Safety
/// `y` points to this image's `C_out` output planes, and no other thread writes rows
/// `oh_range` of them meanwhile.
unsafe fn band(
    image: &[f32],
    wt: &[f32],
    g: &ConvGeometry,
    oh_range: std::ops::Range<usize>,
    y: &SyncPtr,
) {
    with_phases(image, g, &oh_range, |phases, in_rows| {
        #[cfg(target_arch = "x86_64")]
        {
            let blocks = g.c_out.div_ceil(BLOCK);
            for oh in oh_range.clone() {
                let r0 = (oh - oh_range.start) * g.stride[0];
                for ow0 in (0..g.w_out).step_by(BLOCK) {
                    for b in 0..blocks {
                        let at = (r0, in_rows, ow0, b);
                        // Output channel b·16, row oh, column ow0.
                        let offset = (b * BLOCK * g.h_out + oh) * g.w_out + ow0;
                        // SAFETY: `computable` checked AVX-512; the loads stay inside `phases`
                        // (a phase covers ow0 + 15 + (kw − 1) / s) and `wt` (blocks·16 per
                        // tap); the stores inside this image's planes (the caller's
                        // contract), masked to the row's and the channels' ends.
                        unsafe {
                            let dst = y.0.add(offset);
                            match g.stride[1] {
                                1 => block16::<1>(phases, wt, g, at, dst),
                                _ => block16::<2>(phases, wt, g, at, dst),
                            }
                        };
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (phases, in_rows, wt, y);
            unreachable!("computable() is false off x86-64");
        }
    })
}

/// 16 outputs (consecutive columns from `ow0`) × 16 output channels (block `b`) of one output
/// row whose input rows start at band row `r0`, for stride `S`, stored at `dst` (channel `c`
/// of the block at `dst + c·H_out·W_out`; the columns past the row's end and the channels
/// past `C_out` are not written).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block16<const S: usize>(
    phases: &[f32],
    wt: &[f32],
    g: &ConvGeometry,
    (r0, in_rows, ow0, b): (usize, usize, usize, usize),
    dst: *mut f32,
) {
    use std::arch::x86_64::*;
    let plen = phase_len(g);
    let stride = g.c_out.div_ceil(BLOCK) * BLOCK;
    let mut acc = [_mm512_setzero_ps(); BLOCK];
    for ci in 0..g.c_in {
        for i in 0..g.kh {
            let row = &phases[(ci * in_rows + r0 + i) * S * plen..][..S * plen];
            for j in 0..g.kw {
                let start = (j % S) * plen + ow0 + j / S;
                let xv = unsafe { _mm512_loadu_ps(row[start..start + BLOCK].as_ptr()) };
                let t = (ci * g.kh + i) * g.kw + j;
                let ws = &wt[t * stride + b * BLOCK..][..BLOCK];
                for (a, &wv) in acc.iter_mut().zip(ws) {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(wv), xv, *a);
                }
            }
        }
    }
    let lanes = BLOCK.min(g.w_out - ow0);
    let mask: __mmask16 = if lanes == BLOCK { !0 } else { (1 << lanes) - 1 };
    let plane = g.h_out * g.w_out;
    let channels = BLOCK.min(g.c_out - b * BLOCK);
    // Whole blocks store unmasked: on Zen 4 a masked 512-bit store, even with every lane set,
    // made DBNet's neck forward pass 1.6–2.4x slower (3.1 → 5.2–7.7 ms).
    for (c, a) in acc.iter().enumerate().take(channels) {
        // SAFETY: the caller's contract (see the doc comment).
        unsafe {
            if lanes == BLOCK {
                _mm512_storeu_ps(dst.add(c * plane), *a);
            } else {
                _mm512_mask_storeu_ps(dst.add(c * plane), mask, *a);
            }
        }
    }
}

/// Output positions per band of the weight gradient (rounded up to whole rows): each register
/// tile sweeps the band once between loading and storing its accumulators, and a stem's band
/// copies `kh − 2` input rows more than its outputs' share. Measured: 1024 against 512, stems
/// 4–16% faster (`moco-v2-doc`'s 5.0–5.3 against 6.0 ms), the stride-1 layers level; with 8
/// rows of 16 (the earlier fixed 8 rows), DBNet's 16×16 neck layer spent its time loading and
/// storing accumulators.
const GRAD_POSITIONS: usize = 1024;

/// Output rows per band of the weight gradient: [`GRAD_POSITIONS`], within [`BAND_FLOATS`] of
/// phase copy (the band's output gradient and input rows stay in L2 while every (channel,
/// kernel row) tile sweeps them).
fn grad_rows(g: &ConvGeometry) -> usize {
    let rows = GRAD_POSITIONS.div_ceil(g.w_out.next_multiple_of(BLOCK));
    let per_row = g.c_in * g.stride[0] * g.stride[1] * phase_len(g);
    rows.min(BAND_FLOATS / per_row.max(1)).max(1)
}

/// Output channels per register tile of the weight gradient: 4 channels × `kw` taps of
/// accumulators, each output-gradient vector used for `kw` taps. A 4 × 7 tile (with its 4
/// output-gradient vectors and the input vector) needs 33 of the 32 registers and spills one,
/// yet measured 3–4% faster than 3 × 7 tiles on a 16-channel stem (and 2% slower on a
/// 64-channel one).
const TILE: usize = 4;

/// The weight gradient `dW = Σ dY ⊗ x` over the batch, `[C_out, C_in, kh, kw]`; `g` must
/// [`grad_fits`].
///
/// Each task sums its images into 16-lane accumulators per (channel, kernel row, output
/// channel, kernel column); the tasks' sums are added in task order and the lanes last, so the
/// result does not depend on the thread schedule.
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(computable(g) && matches!(g.kw, 3 | 5 | 7));
    assert_eq!(x.len(), g.x_len());
    assert_eq!(dy.len(), g.y_len());
    let co_pad = g.c_out.next_multiple_of(TILE);
    let acc_len = g.c_in * g.kh * co_pad * g.kw * BLOCK;
    // One task per thread: every task zeroes, fills and hands back accumulators 16 times the
    // weight gradient's size, whose sum is serial (more tasks made small planes 2x slower).
    let tasks = rayon::current_num_threads().min(g.batch.max(1));
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
    let co_pad = g.c_out.next_multiple_of(TILE);
    let plen = phase_len(g);
    let band_rows = grad_rows(g);
    for first in (0..g.h_out).step_by(band_rows) {
        let oh_range = first..(first + band_rows).min(g.h_out);
        let rows = oh_range.len();
        with_phases(image, g, &oh_range, |phases, in_rows| {
            #[cfg(target_arch = "x86_64")]
            // Output channels outermost: a tile's output gradient (4 channels of the band) stays
            // in L1 while the channels and kernel rows sweep it.
            for co0 in (0..g.c_out).step_by(TILE) {
                for ci in 0..g.c_in {
                    for i in 0..g.kh {
                        let len = g.kw * TILE * BLOCK;
                        let at = ((ci * g.kh + i) * co_pad + co0) * g.kw * BLOCK;
                        let acc = &mut acc[at..at + len];
                        let x = (phases, (ci * in_rows + i, plen));
                        let dy = (dy, (co0, first, rows));
                        // SAFETY: `weight_grad` checked AVX-512 (the kernel's stride and width
                        // are dispatched here); the kernel asserts its operands' extents.
                        unsafe {
                            match (g.stride[1], g.kw) {
                                (1, 3) => grad_tile::<1, 3>(x, dy, g, acc),
                                (1, 5) => grad_tile::<1, 5>(x, dy, g, acc),
                                (1, _) => grad_tile::<1, 7>(x, dy, g, acc),
                                (_, 3) => grad_tile::<2, 3>(x, dy, g, acc),
                                (_, 5) => grad_tile::<2, 5>(x, dy, g, acc),
                                _ => grad_tile::<2, 7>(x, dy, g, acc),
                            }
                        }
                    }
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = (phases, in_rows, co_pad, plen, rows, &acc);
                unreachable!("computable() is false off x86-64");
            }
        });
    }
}

/// `acc[c][j][lane] += Σ_rows,blocks dY[co0 + c][oh][block + lane] · x_j[row][block + lane]`
/// for output channels `co0..co0 + 4` (those past the last add nothing) and the `KW` taps of
/// one (channel, kernel row), over output rows `oh = first + row`: tap `j` reads phase row
/// `first_row + S·row`, phase `j % S`, from column `j / S`. The output gradient is read in
/// place, its last block of each row masked (the lanes past the row add zero).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn grad_tile<const S: usize, const KW: usize>(
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
    assert!(phases.len() >= (first_row + S * (rows - 1)) * S * plen + S * plen);
    assert!(plen >= g.w_out.next_multiple_of(BLOCK) + (KW - 1) / S);
    let mut a = [[_mm512_setzero_ps(); KW]; TILE];
    for (c, a) in a.iter_mut().enumerate() {
        for (j, a) in a.iter_mut().enumerate() {
            *a = unsafe { _mm512_loadu_ps(acc.as_ptr().add((c * KW + j) * BLOCK)) };
        }
    }
    let dy = dy[co0 * plane..].as_ptr();
    let tail = g.w_out % BLOCK;
    for r in 0..rows {
        // SAFETY (the loads): rows of `S·plen` phases and of `w_out` output-gradient values
        // (the last block masked), inside the extents asserted above.
        let x_row = unsafe { phases.as_ptr().add((first_row + S * r) * S * plen) };
        let dy_row = unsafe { dy.add((first + r) * g.w_out) };
        for ow0 in (0..g.w_out).step_by(BLOCK) {
            let mask: __mmask16 = if ow0 + BLOCK <= g.w_out {
                !0
            } else {
                (1 << tail) - 1
            };
            // Channels past the last repeat it (no branch in the loop): their accumulators,
            // in the padding of the output-channel axis, are never read. Whole blocks load
            // unmasked (DBNet's stem weight gradient on Zen 4: 4.1–4.3 → 3.5–3.6 ms).
            let d: [__m512; TILE] = std::array::from_fn(|c| {
                let c = c.min(channels - 1);
                let at = unsafe { dy_row.add(c * plane + ow0) };
                if mask == !0 {
                    unsafe { _mm512_loadu_ps(at) }
                } else {
                    unsafe { _mm512_maskz_loadu_ps(mask, at) }
                }
            });
            for j in 0..KW {
                let xv = unsafe { _mm512_loadu_ps(x_row.add((j % S) * plen + j / S + ow0)) };
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
