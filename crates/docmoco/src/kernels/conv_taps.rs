//! Stride-1 convolutions on small planes as one matrix product per kernel tap, on an
//! image-innermost layout: the forward pass and the input gradient.
//!
//! Why: im2col multiplies every tap by every output position, the zero padding included. On
//! the small planes of a network's last stages that padding is a large part of the work: a 3×3
//! tap reads it at 31% of the positions of a 4×4 plane (ResNet-18's last stage at 112 px), 18%
//! of a 7×7 one and 56% of a 2×2 one (64 px). Each tap of a stride-1 convolution adds
//! `W_tap · x` shifted by a constant, so the convolution is also `Σ_tap W_tap · shift(x)`, and
//! each shift needs only the positions where the tap reads the image. In a layout where the
//! batch is the innermost axis (`[C][H][W][N]`), those positions are whole runs of an input
//! row, `len·N` consecutive values for every channel: a strided view of the input, so the
//! products read it in place and nothing is copied into columns. The products have the
//! channels as their reduction (`K = C_in`), which `gemm` also runs closer to the CPU's peak
//! than im2col's `K = 9·C_in` (docs/performance.md, session 14).
//!
//! Layouts: `x`, `y` and their gradients are NCHW at the boundary and `[C][H][W][N]` inside;
//! `w` is `[C_out, C_in, kh, kw]`. Each output (or input-gradient) row block belongs to one
//! task and receives its products in a fixed order, so the results do not depend on the
//! thread schedule.

use rayon::prelude::*;

use super::conv_cpu::ConvGeometry;
use super::matmul::{product as matmul, Threads};
use super::outputs_reading;

/// Whether this path can compute the convolution: stride 1 (any padding, dilation, kernel).
pub fn fits(g: &ConvGeometry) -> bool {
    g.stride == [1, 1]
}

/// One run of a tap: `len` consecutive output positions from `y` (flattened `oh·W_out + ow`)
/// that read the `len` consecutive input positions from `x` (flattened `ih·W + iw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    tap: usize,
    y: usize,
    x: usize,
    len: usize,
}

/// Every tap's runs, tap by tap: the tap's valid output rows as one run when they are whole
/// rows of both planes (the centre column of a "same" convolution), else one run per row.
fn runs(g: &ConvGeometry) -> Vec<Run> {
    let mut out = Vec::new();
    for i in 0..g.kh {
        let dh = (i * g.dilation[0]) as isize - g.padding[0] as isize;
        let rows = outputs_reading(g.h_out, g.h, 1, dh);
        for j in 0..g.kw {
            let dw = (j * g.dilation[1]) as isize - g.padding[1] as isize;
            let cols = outputs_reading(g.w_out, g.w, 1, dw);
            if rows.is_empty() || cols.is_empty() {
                continue;
            }
            let tap = i * g.kw + j;
            let x_at = |oh: usize, ow: usize| {
                (oh as isize + dh) as usize * g.w + (ow as isize + dw) as usize
            };
            if cols.len() == g.w_out && g.w_out == g.w {
                out.push(Run {
                    tap,
                    y: rows.start * g.w_out,
                    x: x_at(rows.start, 0),
                    len: rows.len() * g.w_out,
                });
            } else {
                out.extend(rows.clone().map(|oh| Run {
                    tap,
                    y: oh * g.w_out + cols.start,
                    x: x_at(oh, cols.start),
                    len: cols.len(),
                }));
            }
        }
    }
    out
}

/// `[N][C][P]` → `[C][P][N]`.
fn to_image_innermost(src: &[f32], (n, c, p): (usize, usize, usize)) -> Vec<f32> {
    let mut dst = vec![0.0; src.len()];
    dst.par_chunks_mut(p * n).enumerate().for_each(|(ch, dst)| {
        for (image, src) in src.chunks_exact(c * p).enumerate() {
            let plane = &src[ch * p..(ch + 1) * p];
            for (pos, &v) in plane.iter().enumerate() {
                dst[pos * n + image] = v;
            }
        }
    });
    dst
}

/// `[C][P][N]` → `[N][C][P]`.
fn from_image_innermost(src: &[f32], (n, c, p): (usize, usize, usize)) -> Vec<f32> {
    let mut dst = vec![0.0; src.len()];
    dst.par_chunks_mut(c * p)
        .enumerate()
        .for_each(|(image, dst)| {
            for (plane, src) in dst.chunks_exact_mut(p).zip(src.chunks_exact(p * n)) {
                for (v, s) in plane.iter_mut().zip(src[image..].iter().step_by(n)) {
                    *v = *s;
                }
            }
        });
    dst
}

/// Rows of a `rows`-row destination per task: an even share per thread, at least 32 rows (the
/// products stay large enough to run near the kernel's peak).
fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads).max(32).min(rows.max(1))
}

/// Adds each run's product into the destination: `dst[·, at(run)…] += W_tap · src[·, at(run)…]`
/// over `reduce` rows of the source, for every run. The destination's rows (planes of
/// `dst_plane` values) are split into blocks, one task each; a block's rows select the rows of
/// `W_tap` starting `w_row` values apart. The forward pass and the input gradient differ only
/// in these roles (which side is read, how `W_tap` is strided).
fn tap_products(
    runs: &[Run],
    n: usize,
    (dst, dst_plane, dst_at): (&mut [f32], usize, fn(&Run) -> usize),
    (src, src_plane, src_at): (&[f32], usize, fn(&Run) -> usize),
    (w, w_row, w_strides, reduce): (&[f32], usize, (isize, isize), usize),
) {
    let block = rows_per_task(dst.len() / dst_plane.max(1));
    dst.par_chunks_mut(block * dst_plane.max(1))
        .enumerate()
        .for_each(|(b, dst)| {
            let rows = dst.len() / dst_plane;
            let w = &w[b * block * w_row..];
            for r in runs {
                matmul(
                    (rows, r.len * n, reduce),
                    &mut dst[dst_at(r) * n..],
                    (1, dst_plane as isize),
                    true,
                    &w[r.tap..],
                    w_strides,
                    &src[src_at(r) * n..],
                    (1, src_plane as isize),
                    Threads::Caller,
                );
            }
        });
}

/// `y = conv(x, w)` (no bias), NCHW; `g` must [`fits`].
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    pass(g, w, x, Pass::Forward)
}

/// The input gradient for the output gradient `dy`, NCHW: `dx = Σ_tap W_tapᵀ · shift⁻¹(dY)`;
/// `g` must [`fits`].
///
/// The weight gradient stays with im2col (`conv_cpu`): its products per tap, measured, ran no
/// faster than im2col's one product at 512 channels and 2x slower at 64 (session 14).
pub fn input_grad(w: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    pass(g, w, dy, Pass::InputGrad)
}

/// Which way a [`pass`] runs: input → output with `W_tap`, or output gradient → input gradient
/// with `W_tapᵀ`.
#[derive(Clone, Copy)]
enum Pass {
    Forward,
    InputGrad,
}

/// One pass by taps: `src` (NCHW) to image-innermost, the products, the result back to NCHW.
fn pass(g: &ConvGeometry, w: &[f32], src: &[f32], pass: Pass) -> Vec<f32> {
    assert!(fits(g));
    assert_eq!(w.len(), g.weight_len());
    let n = g.batch;
    let (taps, k) = (g.kh * g.kw, g.k() as isize);
    // (channels, plane) of the input side and of the output side.
    let (input, output) = ((g.c_in, g.h * g.w), (g.c_out, g.positions()));
    let x_at: fn(&Run) -> usize = |r| r.x;
    let y_at: fn(&Run) -> usize = |r| r.y;
    // Source and destination sides, their run offsets, and W_tap's (row step, strides).
    let ((src_c, src_p), src_at, (dst_c, dst_p), dst_at, w_row, w_strides) = match pass {
        Pass::Forward => (input, x_at, output, y_at, g.k(), (taps as isize, k)),
        Pass::InputGrad => (output, y_at, input, x_at, taps, (k, taps as isize)),
    };
    assert_eq!(src.len(), n * src_c * src_p);
    let st = to_image_innermost(src, (n, src_c, src_p));
    let mut dt = vec![0.0; n * dst_c * dst_p];
    tap_products(
        &runs(g),
        n,
        (&mut dt, dst_p * n, dst_at),
        (&st, src_p * n, src_at),
        (w, w_row, w_strides, src_c),
    );
    from_image_innermost(&dt, (n, dst_c, dst_p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_each_tap_s_valid_outputs_once() {
        // 4×4 plane, 3×3 kernel, padding 1: 100 of the 144 tap × position pairs read the image.
        let g = ConvGeometry::new([1, 1, 4, 4], [1, 1, 3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
        let runs = runs(&g);
        assert_eq!(runs.iter().map(|r| r.len).sum::<usize>(), 100);
        // The centre column's taps are whole rows, one run each; the others one run per row.
        assert_eq!(runs.iter().filter(|r| r.tap % 3 == 1).count(), 3);
        assert_eq!(runs.len(), 3 + 2 * (3 + 4 + 3));
        let centre = runs.iter().find(|r| r.tap == 4).unwrap();
        assert_eq!((centre.y, centre.x, centre.len), (0, 0, 16));
        let top_left = runs.iter().find(|r| r.tap == 0).unwrap();
        assert_eq!((top_left.y, top_left.x, top_left.len), (5, 0, 3));
    }

    #[test]
    fn image_innermost_round_trips() {
        let (n, c, p) = (3, 4, 5);
        let src: Vec<f32> = (0..n * c * p).map(|v| v as f32).collect();
        let t = to_image_innermost(&src, (n, c, p));
        // [C][P][N]: channel 1, position 2, image 2 is NCHW's (2, 1, 2).
        assert_eq!(t[(p + 2) * n + 2], src[(2 * c + 1) * p + 2]);
        assert_eq!(from_image_innermost(&t, (n, c, p)), src);
    }
}
