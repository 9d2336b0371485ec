//! 2-D convolution on the CPU as im2col + one matrix product, forward and both gradients.
//!
//! This is the layout PyTorch's CPU convolution uses (`cols = im2col(x)`, `y = W · cols`), and
//! its point is the *weight* gradient: `dW = dY · colsᵀ` is one large, well-shaped matrix
//! product whose reduction runs over every output position of the batch. burn's generic
//! backward instead runs the weight gradient as a convolution of the input by the output
//! gradient, which on the CPU becomes one thin product per input channel (nine rows for a 3×3
//! kernel) and was 5x slower than PyTorch's (docs/performance.md).
//!
//! Layouts: `x` is NCHW, `w` is `[C_out, C_in, kh, kw]`, `y` is NCHW; `cols` is
//! `[C_in·kh·kw, columns]`, row-major, one column per output position of a [`Chunk`] of the
//! output (image-major), so that the buffers stay bounded and are reused between calls.
//! Everything is `f32`, contiguous, groups = 1.

use std::ops::Range;

use rayon::prelude::*;

use super::conv_direct;
use super::conv_taps;
use super::matmul::{product as matmul, Threads};
use super::outputs_reading;

/// Shapes and options of one convolution, with its output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvGeometry {
    /// `None` when the kernel (dilated) does not fit in the padded input.
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Option<Self> {
        let [batch, c_in, h, w] = x;
        let [c_out, wc_in, kh, kw] = weight;
        let out = |size: usize, k: usize, s: usize, p: usize, d: usize| {
            let span = d * (k - 1) + 1;
            (size + 2 * p >= span && s > 0).then(|| (size + 2 * p - span) / s + 1)
        };
        if wc_in != c_in || kh == 0 || kw == 0 {
            return None;
        }
        Some(Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            padding,
            dilation,
            h_out: out(h, kh, stride[0], padding[0], dilation[0])?,
            w_out: out(w, kw, stride[1], padding[1], dilation[1])?,
        })
    }

    /// Rows of `cols`: one per (input channel, kernel row, kernel column).
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions of one image.
    pub fn positions(&self) -> usize {
        self.h_out * self.w_out
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }

    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.positions()
    }

    pub fn weight_len(&self) -> usize {
        self.c_out * self.k()
    }

    /// Input offsets of kernel tap `(i, j)`: input row = `oh·sh + off_h`, column likewise.
    fn offsets(&self, i: usize, j: usize) -> (isize, isize) {
        (
            (i * self.dilation[0]) as isize - self.padding[0] as isize,
            (j * self.dilation[1]) as isize - self.padding[1] as isize,
        )
    }
}

/// A piece of the convolution's output: some images, and within them some output rows (all of
/// them unless one image alone is too large for a chunk). Its im2col matrix has
/// `images.len() · rows.len() · W_out` columns, image-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub images: Range<usize>,
    pub rows: Range<usize>,
}

impl Chunk {
    /// Output positions of one image in this chunk.
    fn span(&self, g: &ConvGeometry) -> usize {
        self.rows.len() * g.w_out
    }

    fn columns(&self, g: &ConvGeometry) -> usize {
        self.images.len() * self.span(g)
    }
}

/// `cols = im2col(x)` for the chunk's columns. Rows are filled in parallel; padding reads as
/// zero.
pub fn im2col(x: &[f32], g: &ConvGeometry, chunk: &Chunk, cols: &mut [f32]) {
    im2col_with(x, g, chunk, cols, true);
}

/// [`im2col`], on the calling thread alone unless `parallel`.
fn im2col_with(x: &[f32], g: &ConvGeometry, chunk: &Chunk, cols: &mut [f32], parallel: bool) {
    assert_eq!(x.len(), g.x_len());
    let columns = chunk.columns(g);
    assert_eq!(cols.len(), g.k() * columns);
    let (span, plane, taps) = (chunk.span(g), g.h * g.w, g.kh * g.kw);
    let tap_ranges = tap_ranges(g);
    let masks = small_plane_masks(g, chunk, &tap_ranges);
    let fill = |(row, out): (usize, &mut [f32])| {
        let (c, tap) = (row / taps, row % taps);
        let (off_h, off_w, rows_ok, cols_ok) = &tap_ranges[tap];
        for (local, n) in chunk.images.clone().enumerate() {
            let src = &x[(n * g.c_in + c) * plane..][..plane];
            let dst = &mut out[local * span..][..span];
            if let Some(masks) = &masks {
                masks[tap].copy(src, dst);
                continue;
            }
            if g.stride == [1, 1] && g.w_out == g.w {
                shifted_plane(src, g, chunk, (*off_h, *off_w), (rows_ok, cols_ok), dst);
                continue;
            }
            for (r, oh) in chunk.rows.clone().enumerate() {
                let line = &mut dst[r * g.w_out..][..g.w_out];
                if !rows_ok.contains(&oh) || cols_ok.is_empty() {
                    line.fill(0.0);
                    continue;
                }
                let ih = (oh * g.stride[0]) as isize + off_h;
                let src_line = &src[ih as usize * g.w..][..g.w];
                line[..cols_ok.start].fill(0.0);
                line[cols_ok.end..].fill(0.0);
                if g.stride[1] == 1 {
                    let start = (cols_ok.start as isize + off_w) as usize;
                    line[cols_ok.clone()].copy_from_slice(&src_line[start..][..cols_ok.len()]);
                } else {
                    let first = ((cols_ok.start * g.stride[1]) as isize + off_w) as usize;
                    gather_every(&src_line[first..], g.stride[1], &mut line[cols_ok.clone()]);
                }
            }
        }
    };
    for_each_chunk(cols, columns, parallel, fill);
}

/// `f((i, chunk))` for every `size`-long chunk of `data`: in parallel, or on the calling thread
/// alone for the image-parallel passes, which already run one task per core.
fn for_each_chunk<F>(data: &mut [f32], size: usize, parallel: bool, f: F)
where
    F: Fn((usize, &mut [f32])) + Sync + Send,
{
    if parallel {
        data.par_chunks_mut(size).enumerate().for_each(f);
    } else {
        data.chunks_mut(size).enumerate().for_each(f);
    }
}

/// `dst[i] = src[i · stride]`. Stride 2 (ResNet's stem and downsampling layers) is written as
/// a walk over pairs, which the compiler turns into vector loads and shuffles; `step_by` stayed
/// one scalar copy per value.
fn gather_every(src: &[f32], stride: usize, dst: &mut [f32]) {
    if stride == 2 {
        let pairs = src.chunks_exact(2);
        let paired = pairs.len().min(dst.len());
        for (d, p) in dst.iter_mut().zip(pairs) {
            *d = p[0];
        }
        if let Some(last) = dst.get_mut(paired) {
            *last = src[2 * paired];
        }
        return;
    }
    for (d, s) in dst.iter_mut().zip(src.iter().step_by(stride)) {
        *d = *s;
    }
}

/// Widest output line (px) for which convolutions take [`TapMask`]s.
const MASKED_LINE_MAX: usize = 16;

/// One kernel tap of a convolution with small output planes, over one image's share of a chunk:
/// which input value each output position `p` reads, and `keep[p]`, all ones where that is a
/// pixel and zero where it is the padding.
///
/// Why: on the last stages' planes (2×2 to 16×16 px) the line-by-line paths spend their time
/// starting short fills and copies, a few per line (ResNet-18's last stage at 64 px: 0.9 ms of
/// im2col and 1.4 ms of col2im per convolution for 2.4 MB of columns). With the reads tabled once
/// per call and the padding applied by a bitwise AND, each plane is one branch-free loop.
#[derive(Clone, Debug)]
struct TapMask {
    reads: Reads,
    keep: Vec<u32>,
}

/// Where the positions of a [`TapMask`] read.
#[derive(Clone, Debug)]
enum Reads {
    /// Input `p + shift` (stride 1, output lines as wide as the input's): contiguous runs the
    /// compiler vectorises.
    Shift(isize),
    /// Input `index[p]` (strided convolutions); 0 where `keep[p]` is 0.
    Table(Vec<u32>),
}

/// The [`TapMask`] of every kernel tap for the chunk, when the output lines are short enough.
fn small_plane_masks(g: &ConvGeometry, chunk: &Chunk, taps: &[TapRange]) -> Option<Vec<TapMask>> {
    if g.w_out > MASKED_LINE_MAX {
        return None;
    }
    let shifted = g.stride == [1, 1] && g.w_out == g.w;
    let positions = || {
        chunk
            .rows
            .clone()
            .flat_map(|oh| (0..g.w_out).map(move |ow| (oh, ow)))
    };
    let masks = taps.iter().map(|(off_h, off_w, rows_ok, cols_ok)| {
        let reads = |&(oh, ow): &(usize, usize)| rows_ok.contains(&oh) && cols_ok.contains(&ow);
        let keep = positions()
            .map(|p| if reads(&p) { u32::MAX } else { 0 })
            .collect();
        let reads = if shifted {
            let first = (chunk.rows.start * g.w) as isize;
            Reads::Shift(first + off_h * g.w as isize + off_w)
        } else {
            let index = positions().map(|p| {
                if !reads(&p) {
                    return 0;
                }
                let ih = (p.0 * g.stride[0]) as isize + off_h;
                let iw = (p.1 * g.stride[1]) as isize + off_w;
                (ih as usize * g.w + iw as usize) as u32
            });
            Reads::Table(index.collect())
        };
        TapMask { reads, keep }
    });
    Some(masks.collect())
}

impl TapMask {
    /// Positions `p` whose input `p + shift` lies inside a plane of `len` values (the others
    /// are all padding).
    fn inside(&self, shift: isize, len: usize) -> Range<usize> {
        let lo = (-shift).clamp(0, self.keep.len() as isize);
        let hi = (len as isize - shift).clamp(lo, self.keep.len() as isize);
        lo as usize..hi as usize
    }

    /// `dst[p] = plane[read(p)]` where kept, else 0 (im2col of one plane).
    fn copy(&self, plane: &[f32], dst: &mut [f32]) {
        let masked = |s: f32, k: u32| f32::from_bits(s.to_bits() & k);
        match &self.reads {
            Reads::Shift(shift) => {
                let inside = self.inside(*shift, plane.len());
                if inside.is_empty() {
                    dst.fill(0.0);
                    return;
                }
                dst[..inside.start].fill(0.0);
                dst[inside.end..].fill(0.0);
                let from = (inside.start as isize + shift) as usize;
                let src = &plane[from..][..inside.len()];
                let keep = &self.keep[inside.clone()];
                for ((d, s), k) in dst[inside].iter_mut().zip(src).zip(keep) {
                    *d = masked(*s, *k);
                }
            }
            Reads::Table(index) => {
                for ((d, i), k) in dst.iter_mut().zip(index).zip(&self.keep) {
                    *d = masked(plane[*i as usize], *k);
                }
            }
        }
    }

    /// `plane[read(p)] += values[p]` where kept (col2im of one plane, the adjoint of
    /// [`TapMask::copy`]; a tap reads each pixel at most once).
    fn add(&self, values: &[f32], plane: &mut [f32]) {
        let masked = |s: f32, k: u32| f32::from_bits(s.to_bits() & k);
        match &self.reads {
            Reads::Shift(shift) => {
                let inside = self.inside(*shift, plane.len());
                if inside.is_empty() {
                    return;
                }
                let from = (inside.start as isize + shift) as usize;
                let dst = &mut plane[from..][..inside.len()];
                let keep = &self.keep[inside.clone()];
                for ((d, s), k) in dst.iter_mut().zip(&values[inside]).zip(keep) {
                    *d += masked(*s, *k);
                }
            }
            Reads::Table(index) => {
                for ((s, i), k) in values.iter().zip(index).zip(&self.keep) {
                    plane[*i as usize] += masked(*s, *k);
                }
            }
        }
    }
}

/// im2col's fast path for a stride-1 convolution whose output rows are as wide as the input's
/// (every "same" 3×3 convolution): the valid output rows of a kernel tap are the input plane
/// shifted by `(off_h, off_w)`, so they are one contiguous copy; only the `|off_w|` columns that
/// wrapped around the row ends, and rows that fall in the padding, are then zeroed. With feature
/// maps of 3–24 pixels per row, one copy per line cost more in call overhead than in copying.
fn shifted_plane(
    src: &[f32],
    g: &ConvGeometry,
    chunk: &Chunk,
    (off_h, off_w): (isize, isize),
    (rows_ok, cols_ok): (&Range<usize>, &Range<usize>),
    dst: &mut [f32],
) {
    let w = g.w;
    let first = chunk.rows.start.max(rows_ok.start).min(chunk.rows.end);
    let last = chunk.rows.end.min(rows_ok.end).max(first);
    let local = |oh: usize| (oh - chunk.rows.start) * w;
    dst[..local(first)].fill(0.0);
    dst[local(last)..].fill(0.0);
    if first == last {
        return;
    }
    if cols_ok.is_empty() {
        // The tap only ever sees the padding (kernel wider than the input).
        dst[local(first)..local(last)].fill(0.0);
        return;
    }
    // Output element (oh, ow) reads input ((oh + off_h)·w + ow + off_w): one shift for the block.
    let shift = off_h * w as isize + off_w;
    let (mut start, end) = (local(first), local(last));
    let mut from = (first * w) as isize + shift;
    if from < 0 {
        // Only the first row's wrapped-around columns, zeroed below.
        start += (-from) as usize;
        from = 0;
    }
    let len = (end - start).min(src.len() - from as usize);
    dst[start..start + len].copy_from_slice(&src[from as usize..][..len]);
    for line in dst[local(first)..end].chunks_exact_mut(w) {
        for v in &mut line[..cols_ok.start] {
            *v = 0.0;
        }
        for v in &mut line[cols_ok.end..] {
            *v = 0.0;
        }
    }
}

/// One kernel tap's input offsets and the output rows and columns that read the input (the
/// rest read the zero padding).
type TapRange = (isize, isize, Range<usize>, Range<usize>);

/// [`TapRange`] of every kernel tap, computed once per call rather than per output row (at
/// 64 px the last stages' rows are 2–4 pixels wide, and the integer divisions cost more than
/// the copying).
fn tap_ranges(g: &ConvGeometry) -> Vec<TapRange> {
    (0..g.kh * g.kw)
        .map(|tap| {
            let (off_h, off_w) = g.offsets(tap / g.kw, tap % g.kw);
            let rows_ok = outputs_reading(g.h_out, g.h, g.stride[0], off_h);
            let cols_ok = outputs_reading(g.w_out, g.w, g.stride[1], off_w);
            (off_h, off_w, rows_ok, cols_ok)
        })
        .collect()
}

/// Runs `fill(image, oh, block)` (in parallel unless told not to) for every block of a transposed im2col matrix
/// ([`im2col_t`]'s layout): the `W_out` lines of `kp` values of output row `oh` of the chunk's
/// `image`-th image.
fn row_blocks(
    cols_t: &mut [f32],
    g: &ConvGeometry,
    (chunk, parallel): (&Chunk, bool),
    kp: usize,
    fill: impl Fn(usize, usize, &mut [f32]) + Sync + Send,
) {
    let rows = chunk.rows.len();
    for_each_chunk(cols_t, g.w_out * kp, parallel, |(block, out)| {
        fill(block / rows, chunk.rows.start + block % rows, out)
    });
}

/// Rows of [`im2col_t`]'s matrix: `K` rounded up to 16 floats, one AVX-512 register.
pub fn padded_k(g: &ConvGeometry) -> usize {
    g.k().next_multiple_of(16)
}

/// `colsT = im2col(x)ᵀ` for the chunk, one row of [`padded_k`] values per output position
/// (zero beyond `K`): the layout of the weight-gradient product `dW = dY · colsᵀ`.
///
/// Why a second layout: that product reduces over the output positions, so `gemm` would pack
/// `cols` into runs along `K` before multiplying, a gather across as many rows as its
/// micro-kernel is tall. Here `K` is already the contiguous axis, the product reads the matrix
/// in place, and with `K` a multiple of the register width it stays on AVX-512 even for
/// narrow layers (docs/performance.md, "Choosing the kernel per product"). Each task fills the
/// rows of one output row of one image: one position's row at a time, or, with fewer channels
/// than kernel taps, one matrix row at a time ([`tap_major_block`]).
pub fn im2col_t(x: &[f32], g: &ConvGeometry, chunk: &Chunk, cols_t: &mut [f32]) {
    im2col_t_with(x, g, (chunk, true), cols_t);
}

/// [`im2col_t`], on the calling thread alone unless `parallel`.
fn im2col_t_with(x: &[f32], g: &ConvGeometry, chunk: (&Chunk, bool), cols_t: &mut [f32]) {
    let (chunk, parallel) = chunk;
    assert_eq!(x.len(), g.x_len());
    let (kp, plane, taps) = (padded_k(g), g.h * g.w, g.kh * g.kw);
    assert_eq!(cols_t.len(), kp * chunk.columns(g));
    let tap_ranges = tap_ranges(g);
    row_blocks(cols_t, g, (chunk, parallel), kp, |local, oh, out| {
        let n = chunk.images.start + local;
        let image = &x[n * g.c_in * plane..][..g.c_in * plane];
        if g.c_in < taps {
            tap_major_block(image, g, oh, kp, &tap_ranges, out);
            return;
        }
        for (ow, line) in out.chunks_exact_mut(kp).enumerate() {
            line[g.k()..].fill(0.0);
            for (tap, (off_h, off_w, rows_ok, cols_ok)) in tap_ranges.iter().enumerate() {
                // Row t = c·taps + tap of the line: one value per input channel.
                let column = line[tap..].iter_mut().step_by(taps).take(g.c_in);
                if !rows_ok.contains(&oh) || !cols_ok.contains(&ow) {
                    column.for_each(|v| *v = 0.0);
                    continue;
                }
                let ih = ((oh * g.stride[0]) as isize + off_h) as usize;
                let iw = ((ow * g.stride[1]) as isize + off_w) as usize;
                let pixels = image[ih * g.w + iw..].iter().step_by(plane);
                column.zip(pixels).for_each(|(v, p)| *v = *p);
            }
        }
    });
}

/// One output row's block of [`im2col_t`] filled one matrix row `t = c·taps + tap` at a time:
/// a strided walk down the block per (channel, tap), the valid columns read along the input
/// line. Why: with fewer channels than taps (the 7×7 stem's 3 channels) the position-major
/// loop spends its time starting 3-element gathers, 49 per position; here each of the 147
/// walks covers a whole output row. With many channels the position-major loop is faster (it
/// writes each line once, in order), so [`im2col_t`] keeps it there.
fn tap_major_block(
    image: &[f32],
    g: &ConvGeometry,
    oh: usize,
    kp: usize,
    tap_ranges: &[TapRange],
    out: &mut [f32],
) {
    let (taps, plane) = (tap_ranges.len(), g.h * g.w);
    for line in out.chunks_exact_mut(kp) {
        line[g.k()..].fill(0.0);
    }
    for c in 0..g.c_in {
        for (tap, (off_h, off_w, rows_ok, cols_ok)) in tap_ranges.iter().enumerate() {
            let mut column = out[c * taps + tap..].iter_mut().step_by(kp);
            if !rows_ok.contains(&oh) || cols_ok.is_empty() {
                column.for_each(|v| *v = 0.0);
                continue;
            }
            let ih = ((oh * g.stride[0]) as isize + off_h) as usize;
            let src_line = &image[c * plane + ih * g.w..][..g.w];
            let first = ((cols_ok.start * g.stride[1]) as isize + off_w) as usize;
            let pixels = src_line[first..].iter().step_by(g.stride[1]);
            column.by_ref().take(cols_ok.start).for_each(|v| *v = 0.0);
            column
                .by_ref()
                .take(cols_ok.len())
                .zip(pixels)
                .for_each(|(v, p)| *v = *p);
            column.for_each(|v| *v = 0.0);
        }
    }
}

/// Whether the weight gradient takes the channels-last route ([`im2col_t_channels_last`]):
/// with at least as many channels as kernel taps (ResNet's stage convolutions, 1×1 ones
/// included), where [`im2col_t`] would gather each line's values one channel plane apart, and
/// with at least twice as many output positions as output channels. The route saves work per
/// im2col value (`positions × K`) but costs one pass over the weight gradient (`C_out × K`) to
/// put its columns back: measured at 64 px, ResNet-18's last stage (128 positions, 512
/// channels) lost 30% on that pass, the others gained 5–25%.
fn channels_last(g: &ConvGeometry) -> bool {
    g.c_in >= g.kh * g.kw && g.batch * g.positions() >= 2 * g.c_out
}

/// The chunk's images of `x` (NCHW) as `[image][pixel][channel]`, in parallel over blocks of
/// pixels (a chunk of DBNet's 256 px crops holds one image, so one task per image left a core
/// idle), each block transposed in 4×4 tiles.
fn to_channels_last(x: &[f32], g: &ConvGeometry, chunk: (&Chunk, bool), copy: &mut [f32]) {
    const PIXELS: usize = 256;
    let (chunk, parallel) = chunk;
    let (plane, c) = (g.h * g.w, g.c_in);
    for_each_chunk(copy, plane * c, parallel, |(local, dst)| {
        let n = chunk.images.start + local;
        let image = &x[n * c * plane..][..c * plane];
        for_each_chunk(dst, PIXELS * c, parallel, |(b, dst)| {
            transpose(image, (c, plane), b * PIXELS, dst)
        });
    });
}

/// `dst[p][r] = src[r][first + p]` for the `dst.len() / rows` columns from `first` of the
/// row-major `src` (`rows × cols`): a block of a matrix transpose.
fn transpose(src: &[f32], (rows, cols): (usize, usize), first: usize, dst: &mut [f32]) {
    let width = dst.len() / rows;
    let (full_r, full_p) = (rows / 4 * 4, width / 4 * 4);
    for p in (0..full_p).step_by(4) {
        for r in (0..full_r).step_by(4) {
            let at = |i: usize| r * cols + i * cols + first + p;
            let tile = [at(0), at(1), at(2), at(3)].map(|o| {
                let v: [f32; 4] = src[o..o + 4].try_into().unwrap();
                v
            });
            for (i, row) in transpose4(tile).iter().enumerate() {
                dst[(p + i) * rows + r..][..4].copy_from_slice(row);
            }
        }
        for r in full_r..rows {
            for i in 0..4 {
                dst[(p + i) * rows + r] = src[r * cols + first + p + i];
            }
        }
    }
    for p in full_p..width {
        for r in 0..rows {
            dst[p * rows + r] = src[r * cols + first + p];
        }
    }
}

/// A 4×4 transpose (SSE shuffles on x86-64, where they are part of the baseline).
#[inline(always)]
fn transpose4(m: [[f32; 4]; 4]) -> [[f32; 4]; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE is part of x86-64's baseline; loads and stores go through arrays of 4.
        unsafe {
            let [a, b, c, d] = m.map(|r| _mm_loadu_ps(r.as_ptr()));
            let (t0, t1) = (_mm_unpacklo_ps(a, b), _mm_unpacklo_ps(c, d));
            let (t2, t3) = (_mm_unpackhi_ps(a, b), _mm_unpackhi_ps(c, d));
            let out = [
                _mm_movelh_ps(t0, t1),
                _mm_movehl_ps(t1, t0),
                _mm_movelh_ps(t2, t3),
                _mm_movehl_ps(t3, t2),
            ];
            out.map(|v| {
                let mut r = [0.0; 4];
                _mm_storeu_ps(r.as_mut_ptr(), v);
                r
            })
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::array::from_fn(|i| std::array::from_fn(|j| m[j][i]))
    }
}

/// [`im2col_t`] from the channels-last copy of the chunk's images ([`to_channels_last`]), with
/// each line's values ordered `tap·C + c` instead of `c·taps + tap`: a kernel tap's values
/// for one output position are then one contiguous run of `C` floats in the copy and in the
/// line, so each line is `taps` block copies instead of `K` single-value gathers. The weight
/// gradient's product sums over the positions as before, the same floats in the same order, so
/// only its columns come out permuted ([`backward`] puts them back).
fn im2col_t_channels_last(
    copy: &[f32],
    g: &ConvGeometry,
    chunk: (&Chunk, bool),
    cols_t: &mut [f32],
) {
    let (chunk, parallel) = chunk;
    let (kp, c) = (padded_k(g), g.c_in);
    assert_eq!(copy.len(), chunk.images.len() * g.h * g.w * c);
    assert_eq!(cols_t.len(), kp * chunk.columns(g));
    let tap_ranges = tap_ranges(g);
    row_blocks(cols_t, g, (chunk, parallel), kp, |local, oh, out| {
        let image = &copy[local * g.h * g.w * c..][..g.h * g.w * c];
        for (ow, line) in out.chunks_exact_mut(kp).enumerate() {
            line[g.k()..].fill(0.0);
            for (run, (off_h, off_w, rows_ok, cols_ok)) in line.chunks_exact_mut(c).zip(&tap_ranges)
            {
                if !rows_ok.contains(&oh) || !cols_ok.contains(&ow) {
                    run.fill(0.0);
                    continue;
                }
                let ih = ((oh * g.stride[0]) as isize + off_h) as usize;
                let iw = ((ow * g.stride[1]) as isize + off_w) as usize;
                run.copy_from_slice(&image[(ih * g.w + iw) * c..][..c]);
            }
        }
    });
}

/// `dx += col2im(dcols)` for the chunk: every column's values added back to the input pixels
/// it was read from. Each (image, channel) plane is summed by one task, so no two tasks write
/// the same pixel; chunks of one image's rows overlap at their borders, hence `+=`. `dcols` is
/// scratch: the stride-1 "same" path zeroes the values that read the padding first.
pub fn col2im(dcols: &mut [f32], g: &ConvGeometry, chunk: &Chunk, dx: &mut [f32]) {
    assert_eq!(dx.len(), g.x_len());
    let plane = g.h * g.w;
    let planes = &mut dx[chunk.images.start * g.c_in * plane..chunk.images.end * g.c_in * plane];
    col2im_with(dcols, g, (chunk, true), planes);
}

/// [`col2im`] into `planes`, the input gradient of the chunk's images alone, on the calling
/// thread alone unless `parallel`.
fn col2im_with(dcols: &mut [f32], g: &ConvGeometry, chunk: (&Chunk, bool), planes: &mut [f32]) {
    let (chunk, parallel) = chunk;
    assert_eq!(planes.len(), chunk.images.len() * g.c_in * g.h * g.w);
    let columns = chunk.columns(g);
    assert_eq!(dcols.len(), g.k() * columns);
    let (span, plane, taps) = (chunk.span(g), g.h * g.w, g.kh * g.kw);
    let tap_ranges = tap_ranges(g);
    let masks = small_plane_masks(g, chunk, &tap_ranges);
    let shifted = g.stride == [1, 1] && g.w_out == g.w;
    if shifted && masks.is_none() {
        zero_wrapped_columns(dcols, g, columns, parallel);
    }
    let dcols = &*dcols;
    for_each_chunk(planes, plane, parallel, |(nc, dst)| {
        let (local, c) = (nc / g.c_in, nc % g.c_in);
        for (tap, (off_h, off_w, rows_ok, cols_ok)) in tap_ranges.iter().enumerate() {
            let (off_h, off_w) = (*off_h, *off_w);
            let src = &dcols[(c * taps + tap) * columns + local * span..][..span];
            if cols_ok.is_empty() {
                continue; // the tap only ever saw the padding
            }
            if let Some(masks) = &masks {
                masks[tap].add(src, dst);
                continue;
            }
            if shifted {
                add_shifted_plane(src, g, chunk, (off_h, off_w), rows_ok, dst);
                continue;
            }
            for (r, oh) in chunk.rows.clone().enumerate() {
                if !rows_ok.contains(&oh) {
                    continue;
                }
                let ih = ((oh * g.stride[0]) as isize + off_h) as usize;
                let line = &mut dst[ih * g.w..][..g.w];
                let src_line = &src[r * g.w_out..][..g.w_out];
                if g.stride[1] == 1 {
                    // Contiguous on both sides: a loop the compiler vectorises.
                    let start = (cols_ok.start as isize + off_w) as usize;
                    let line = &mut line[start..][..cols_ok.len()];
                    for (d, s) in line.iter_mut().zip(&src_line[cols_ok.clone()]) {
                        *d += *s;
                    }
                } else {
                    for ow in cols_ok.clone() {
                        line[((ow * g.stride[1]) as isize + off_w) as usize] += src_line[ow];
                    }
                }
            }
        }
    });
}

/// Zeroes, in every row of a stride-1 "same" convolution's `dcols`, the values of the output
/// columns whose tap reads the padding (`|off_w|` at one end of each output line), so that
/// [`add_shifted_plane`] can add whole blocks: those values land on a neighbouring line's
/// pixels, and adding zero there changes nothing.
fn zero_wrapped_columns(dcols: &mut [f32], g: &ConvGeometry, columns: usize, parallel: bool) {
    let taps = g.kh * g.kw;
    for_each_chunk(dcols, columns, parallel, |(row, values)| {
        let tap = row % taps;
        let (_, off_w) = g.offsets(tap / g.kw, tap % g.kw);
        let cols_ok = outputs_reading(g.w_out, g.w, 1, off_w);
        if cols_ok.len() == g.w_out {
            return; // the tap reads no padding along the lines (every 1×1 convolution)
        }
        for line in values.chunks_exact_mut(g.w_out) {
            line[..cols_ok.start].fill(0.0);
            line[cols_ok.end..].fill(0.0);
        }
    });
}

/// col2im's fast path, the adjoint of [`shifted_plane`]: with stride 1 and output lines as
/// wide as the input's, a tap's valid output rows add to the input plane shifted by
/// `(off_h, off_w)`, one contiguous block instead of one short line per output row (3–28
/// pixels at 112 px). The wrapped-around values were zeroed by [`zero_wrapped_columns`].
fn add_shifted_plane(
    src: &[f32],
    g: &ConvGeometry,
    chunk: &Chunk,
    (off_h, off_w): (isize, isize),
    rows_ok: &Range<usize>,
    dst: &mut [f32],
) {
    let w = g.w;
    let first = chunk.rows.start.max(rows_ok.start).min(chunk.rows.end);
    let last = chunk.rows.end.min(rows_ok.end).max(first);
    if first == last {
        return;
    }
    let local = |oh: usize| (oh - chunk.rows.start) * w;
    let (mut start, end) = (local(first), local(last));
    // Output (oh, ow) adds to input ((oh + off_h)·w + ow + off_w).
    let mut to = (first * w) as isize + off_h * w as isize + off_w;
    if to < 0 {
        // Only the first line's wrapped-around (zeroed) values.
        start += (-to) as usize;
        to = 0;
    }
    let len = (end - start).min(dst.len() - to as usize);
    let dst = &mut dst[to as usize..][..len];
    for (d, s) in dst.iter_mut().zip(&src[start..start + len]) {
        *d += *s;
    }
}

/// The chunk of an NCHW output (or output gradient) → `[C_out, columns]`, one matrix row per
/// output channel.
fn gather_channels(src: &[f32], g: &ConvGeometry, chunk: &Chunk, dst: &mut [f32]) {
    let (p, span, columns) = (g.positions(), chunk.span(g), chunk.columns(g));
    let first = chunk.rows.start * g.w_out;
    dst.par_chunks_mut(columns)
        .enumerate()
        .for_each(|(co, row)| {
            for (local, n) in chunk.images.clone().enumerate() {
                row[local * span..][..span]
                    .copy_from_slice(&src[(n * g.c_out + co) * p + first..][..span]);
            }
        });
}

/// `[C_out, columns]` → the chunk's place in the NCHW output.
fn scatter_channels(src: &[f32], g: &ConvGeometry, chunk: &Chunk, dst: &mut [f32]) {
    let (p, span, columns) = (g.positions(), chunk.span(g), chunk.columns(g));
    let first = chunk.rows.start * g.w_out;
    let images = &mut dst[chunk.images.start * g.c_out * p..chunk.images.end * g.c_out * p];
    images
        .par_chunks_mut(g.c_out * p)
        .enumerate()
        .for_each(|(local, image)| {
            for co in 0..g.c_out {
                image[co * p + first..][..span]
                    .copy_from_slice(&src[co * columns + local * span..][..span]);
            }
        });
}

/// im2col values per chunk: 4 MB, so that a chunk's columns, which its matrix product reads
/// right after im2col wrote them, are still in the cache (this machine: 1 MB L2 per core, a
/// shared 32 MB L3), and the scratch buffers stay small enough to be kept between calls (fresh
/// 50 MB buffers cost more in page faults than the copy itself). Measured against 16 MB chunks
/// in alternating runs (docs/performance.md, session 9): training step +5–6% at 64 and 112 px,
/// +10–17% for the ×0.25 network, DBNet inference +15%, peak RSS at 112 px 690 → 480–690 MB;
/// 8 MB chunks gained less, 2 MB no more, 1 MB was slower at 112 px.
///
/// The portable build (`--no-default-features`) keeps the 16 MB chunks it had: the weight
/// gradient is summed chunk by chunk, so the chunk size is part of its float summation order,
/// and that build exists to replay runs recorded before session 8 bit for bit.
#[cfg(feature = "avx512")]
const CHUNK_FLOATS: usize = 1 << 20;
#[cfg(not(feature = "avx512"))]
const CHUNK_FLOATS: usize = 1 << 22;

/// The convolution cut into chunks of at most `limit` im2col values (at least one output row):
/// whole images while one fits, else bands of one image's output rows.
fn chunks(g: &ConvGeometry, limit: usize) -> Vec<Chunk> {
    let per_image = g.k() * g.positions();
    if per_image <= limit {
        let per = (limit / per_image.max(1)).clamp(1, g.batch.max(1));
        return (0..g.batch)
            .step_by(per)
            .map(|n| Chunk {
                images: n..(n + per).min(g.batch),
                rows: 0..g.h_out,
            })
            .collect();
    }
    let per = (limit / (g.k() * g.w_out).max(1)).max(1);
    (0..g.batch)
        .flat_map(|n| {
            (0..g.h_out).step_by(per).map(move |oh| Chunk {
                images: n..n + 1,
                rows: oh..(oh + per).min(g.h_out),
            })
        })
        .collect()
}

thread_local! {
    /// Reused im2col columns and channel-first rows of the calling thread.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
}

/// Runs `f(cols, rows)` with the thread's scratch buffers, grown to `cols` and `rows` floats.
fn with_scratch<R>(cols: usize, rows: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        // Taken already: this thread is a rayon worker that picked up a second convolution
        // while waiting inside the first. Rare; it gets buffers of its own.
        let Ok(mut guard) = cell.try_borrow_mut() else {
            return f(&mut vec![0.0; cols], &mut vec![0.0; rows]);
        };
        let (c, r) = &mut *guard;
        if c.len() < cols {
            c.resize(cols, 0.0);
        }
        if r.len() < rows {
            r.resize(rows, 0.0);
        }
        f(&mut c[..cols], &mut r[..rows])
    })
}

/// Columns of the largest of the chunks.
fn max_columns(g: &ConvGeometry, chunks: &[Chunk]) -> usize {
    chunks.iter().map(|c| c.columns(g)).max().unwrap_or(0)
}

/// `y = conv(x, w)` (no bias), NCHW.
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    if conv_direct::fits(g) {
        return conv_direct::forward(x, w, g);
    }
    if image_parallel(g) {
        return forward_image_parallel(x, w, g, NARROW_CHUNK_FLOATS);
    }
    if by_taps(g) {
        return conv_taps::forward(x, w, g);
    }
    forward_in_chunks(x, w, g, CHUNK_FLOATS)
}

fn forward_in_chunks(x: &[f32], w: &[f32], g: &ConvGeometry, limit: usize) -> Vec<f32> {
    assert_eq!(x.len(), g.x_len());
    assert_eq!(w.len(), g.weight_len());
    let mut y = vec![0.0; g.y_len()];
    let chunks = chunks(g, limit);
    let columns = max_columns(g, &chunks);
    with_scratch(g.k() * columns, g.c_out * columns, |cols, rows| {
        for chunk in &chunks {
            let columns = chunk.columns(g);
            let (cols, rows) = (&mut cols[..g.k() * columns], &mut rows[..g.c_out * columns]);
            im2col(x, g, chunk, cols);
            output_product(g, w, (cols, columns), (rows, columns), Threads::Pool);
            scatter_channels(rows, g, chunk, &mut y);
        }
    });
    y
}

/// Output channels up to which a convolution's forward pass takes [`forward_image_parallel`].
const NARROW_MAX: usize = 32;

/// im2col values per band in [`forward_image_parallel`]: 256 KB, well inside a core's L2.
const NARROW_CHUNK_FLOATS: usize = 1 << 16;

/// Whether the forward pass runs one image per task ([`forward_image_parallel`]): narrow layers
/// (at most [`NARROW_MAX`] output channels) with at least one image per thread. The portable
/// build keeps the shared-chunk path, whose float summation order it exists to replay.
fn image_parallel(g: &ConvGeometry) -> bool {
    cfg!(feature = "avx512") && g.c_out <= NARROW_MAX && g.batch >= rayon::current_num_threads()
}

/// The forward pass of a narrow convolution, one image per task, each image in bands of output
/// rows whose im2col columns stay in the core's L2 and whose product writes straight into the
/// image's output planes (`[C_out, band]` at row stride `H_out·W_out`).
///
/// Why: with few output channels the product does little per im2col value (16 multiply-adds
/// for DBNet's 16-channel layers), so the shared path's cost was moving its 4 MB chunks of
/// columns through the L3 cache twice, once written by im2col and once read by the product, with
/// both cores taking turns on each chunk. PyTorch ran those layers 3x faster (DBNet's backbone
/// at 256 px, docs/performance.md).
fn forward_image_parallel(x: &[f32], w: &[f32], g: &ConvGeometry, limit: usize) -> Vec<f32> {
    let mut y = vec![0.0; g.y_len()];
    let positions = g.positions();
    let rows_per_band = (limit / (g.k() * g.w_out).max(1)).clamp(1, g.h_out.max(1));
    let columns = rows_per_band * g.w_out;
    y.par_chunks_mut(g.c_out * positions)
        .enumerate()
        .for_each(|(n, y)| {
            with_scratch(g.k() * columns, 0, |cols, _| {
                for first in (0..g.h_out).step_by(rows_per_band) {
                    let chunk = Chunk {
                        images: n..n + 1,
                        rows: first..(first + rows_per_band).min(g.h_out),
                    };
                    let columns = chunk.columns(g);
                    let cols = &mut cols[..g.k() * columns];
                    im2col_with(x, g, &chunk, cols, false);
                    let y = &mut y[first * g.w_out..];
                    output_product(g, w, (cols, columns), (y, positions), Threads::Caller);
                }
            });
        });
    y
}

/// Output positions per plane up to which a stride-1 convolution's forward pass and input
/// gradient run as one product per tap ([`conv_taps`]). Measured per layer with `docmoco bench
/// conv` (docs/performance.md, session 14): 4×4 and 7×7 planes (ResNet-18's last stages at 112
/// px) 1.3–1.6x faster, 2×2 planes 2.3x, 8×8 ones 1.05–1.15x; 14×14 planes neither gain nor
/// lose, 28×28 ones lose (with 64 channels the products' reduction is short).
const TAPS_PLANE_MAX: usize = 64;

/// Whether a convolution's forward pass and input gradient take [`conv_taps`]: stride 1, a
/// kernel larger than 1×1, at most [`TAPS_PLANE_MAX`] output positions per plane (the
/// environment variable `DOCMOCO_TAPS_PLANE` sets that limit, `0` turns the path off, to
/// measure the difference). The portable build keeps im2col, whose float summation order it
/// exists to replay.
fn by_taps(g: &ConvGeometry) -> bool {
    static MAX: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        let set = std::env::var("DOCMOCO_TAPS_PLANE").ok();
        set.and_then(|v| v.parse().ok()).unwrap_or(TAPS_PLANE_MAX)
    });
    cfg!(feature = "avx512") && conv_taps::fits(g) && g.kh * g.kw > 1 && g.positions() <= *MAX
}

/// `y = W · cols` for a chunk of `columns` output positions: `y` holds one row per output
/// channel, `row_stride` apart (the chunk's width for a scratch matrix, `H_out·W_out` when
/// written straight into an image's output planes).
fn output_product(
    g: &ConvGeometry,
    w: &[f32],
    (cols, columns): (&[f32], usize),
    (y, row_stride): (&mut [f32], usize),
    threads: Threads,
) {
    let shape = (g.c_out, columns, g.k());
    let (cs, ys) = ((1, columns as isize), (1, row_stride as isize));
    matmul(
        shape,
        y,
        ys,
        false,
        w,
        (1, g.k() as isize),
        cols,
        cs,
        threads,
    );
}

/// `dw (+)= dY · colsT` over a chunk: `dw` is `[C_out, padded K]`, accumulated into when the
/// flag says so; `dy` has one row per output channel, `row_stride` apart; `cols_t` is
/// [`im2col_t`]'s matrix of the chunk (its row count gives the chunk's columns).
fn weight_grad_product(
    g: &ConvGeometry,
    (dw, accumulate): (&mut [f32], bool),
    (dy, row_stride): (&[f32], usize),
    cols_t: &[f32],
    threads: Threads,
) {
    let kp = padded_k(g);
    let shape = (g.c_out, kp, cols_t.len() / kp);
    let (ks, ds) = ((1, kp as isize), (1, row_stride as isize));
    matmul(shape, dw, ks, accumulate, dy, ds, cols_t, ks, threads);
}

/// `cols = Wᵀ · dY` over a chunk (the columns col2im adds back): `dy` as in
/// [`weight_grad_product`], `cols` is `[K, columns]`.
fn input_grad_product(
    g: &ConvGeometry,
    w: &[f32],
    (dy, row_stride): (&[f32], usize),
    cols: &mut [f32],
    threads: Threads,
) {
    let columns = cols.len() / g.k();
    let shape = (g.k(), columns, g.c_out);
    let (cs, ds) = ((1, columns as isize), (1, row_stride as isize));
    matmul(
        shape,
        cols,
        cs,
        false,
        w,
        (g.k() as isize, 1),
        dy,
        ds,
        threads,
    );
}

/// Gradients of a convolution for the output gradient `dy`: `(dx, dw)`, each computed only when
/// asked for. `dw = dY · im2col(x)ᵀ` accumulates over the chunks; `dx = col2im(Wᵀ · dY)`.
pub fn backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    if conv_direct::grad_fits(g) && want_dw {
        let dw = conv_direct::weight_grad(x, dy, g);
        let dx = if want_dx {
            backward(x, w, dy, g, true, false).0
        } else {
            None
        };
        return (dx, Some(dw));
    }
    if conv_direct::input_grad_fits(g) && want_dx {
        let dx = conv_direct::input_grad(w, dy, g);
        // Wider than the direct weight gradient takes: im2col's, when asked for.
        let dw = want_dw
            .then(|| backward(x, w, dy, g, false, true).1)
            .flatten();
        return (Some(dx), dw);
    }
    if image_parallel(g) {
        return backward_image_parallel(x, w, dy, g, [want_dx, want_dw], NARROW_CHUNK_FLOATS);
    }
    if by_taps(g) && want_dx {
        let dx = conv_taps::input_grad(w, dy, g);
        // im2col only for the weight gradient, and only when it is asked for (its chunk loop
        // would otherwise still gather the output gradient for nothing).
        let dw = want_dw
            .then(|| backward_in_chunks(x, w, dy, g, [false, true], CHUNK_FLOATS).1)
            .flatten();
        return (Some(dx), dw);
    }
    backward_in_chunks(x, w, dy, g, [want_dx, want_dw], CHUNK_FLOATS)
}

/// The gradients of a narrow convolution (see [`forward_image_parallel`]), one image per task in
/// L2-sized bands of output rows: each task reads its output gradient in place (`[C_out, band]`
/// at row stride `H_out·W_out`), adds into its own image's input gradient, and sums a weight
/// gradient of its own; those are added in image order, so the result does not depend on
/// which thread ran which image.
fn backward_image_parallel(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    [want_dx, want_dw]: [bool; 2],
    limit: usize,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    assert_eq!(x.len(), g.x_len());
    assert_eq!(w.len(), g.weight_len());
    assert_eq!(dy.len(), g.y_len());
    let (kp, positions, image_len) = (padded_k(g), g.positions(), g.c_in * g.h * g.w);
    let last = channels_last(g) && want_dw;
    let rows_per_band = (limit / (kp * g.w_out).max(1)).clamp(1, g.h_out.max(1));
    let columns = rows_per_band * g.w_out;
    let copy_len = if last { image_len } else { 0 };
    let mut dx = want_dx.then(|| vec![0.0; g.x_len()]);
    // One task per image: its input-gradient planes (when asked for) and its weight gradient.
    let image = |n: usize, mut dx: Option<&mut [f32]>| -> Option<Vec<f32>> {
        let mut dw = want_dw.then(|| vec![0.0; g.c_out * kp]);
        with_scratch(kp * columns + copy_len, 0, |scratch, _| {
            let (cols, copy) = scratch.split_at_mut(kp * columns);
            let whole = Chunk {
                images: n..n + 1,
                rows: 0..g.h_out,
            };
            if last {
                to_channels_last(x, g, (&whole, false), copy);
            }
            for (band, first) in (0..g.h_out).step_by(rows_per_band).enumerate() {
                let chunk = Chunk {
                    images: n..n + 1,
                    rows: first..(first + rows_per_band).min(g.h_out),
                };
                let columns = chunk.columns(g);
                let dy = &dy[n * g.c_out * positions + first * g.w_out..];
                if let Some(dw) = dw.as_mut() {
                    let cols_t = &mut cols[..kp * columns];
                    if last {
                        im2col_t_channels_last(copy, g, (&chunk, false), cols_t);
                    } else {
                        im2col_t_with(x, g, (&chunk, false), cols_t);
                    }
                    let dy = (dy, positions);
                    weight_grad_product(g, (dw, band > 0), dy, cols_t, Threads::Caller);
                }
                if let Some(dx) = dx.as_deref_mut() {
                    let cols = &mut cols[..g.k() * columns];
                    input_grad_product(g, w, (dy, positions), cols, Threads::Caller);
                    col2im_with(cols, g, (&chunk, false), dx);
                }
            }
        });
        dw
    };
    let partial: Vec<Option<Vec<f32>>> = match dx.as_mut() {
        Some(dx) => dx
            .par_chunks_mut(image_len)
            .enumerate()
            .map(|(n, dx)| image(n, Some(dx)))
            .collect(),
        None => (0..g.batch)
            .into_par_iter()
            .map(|n| image(n, None))
            .collect(),
    };
    let dw = want_dw.then(|| {
        let mut sum = vec![0.0; g.c_out * kp];
        for part in partial.iter().flatten() {
            sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        }
        weight_layout(sum, g)
    });
    (dx, dw)
}

fn backward_in_chunks(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    [want_dx, want_dw]: [bool; 2],
    limit: usize,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    assert_eq!(x.len(), g.x_len());
    assert_eq!(w.len(), g.weight_len());
    assert_eq!(dy.len(), g.y_len());
    let mut dx = want_dx.then(|| vec![0.0; g.x_len()]);
    // dW over the padded K of `im2col_t` (the same buffer when K needs no padding).
    let kp = padded_k(g);
    let mut dw = want_dw.then(|| vec![0.0; g.c_out * kp]);
    let chunks = chunks(g, limit);
    let columns = max_columns(g, &chunks);
    // The channels-last copy of a chunk's images lives behind the columns in the same buffer.
    let last = channels_last(g);
    let images = chunks.iter().map(|c| c.images.len()).max().unwrap_or(0);
    let copy_len = if last && want_dw {
        images * g.c_in * g.h * g.w
    } else {
        0
    };
    with_scratch(kp * columns + copy_len, g.c_out * columns, |cols, rows| {
        for (i, chunk) in chunks.iter().enumerate() {
            let columns = chunk.columns(g);
            let rows = &mut rows[..g.c_out * columns];
            gather_channels(dy, g, chunk, rows);
            if let Some(dw) = dw.as_mut() {
                let (cols_t, copy) = cols.split_at_mut(cols.len() - copy_len);
                let cols_t = &mut cols_t[..kp * columns];
                if last {
                    let copy = &mut copy[..chunk.images.len() * g.c_in * g.h * g.w];
                    to_channels_last(x, g, (chunk, true), copy);
                    im2col_t_channels_last(copy, g, (chunk, true), cols_t);
                } else {
                    im2col_t(x, g, chunk, cols_t);
                }
                weight_grad_product(g, (dw, i > 0), (rows, columns), cols_t, Threads::Pool);
            }
            if let Some(dx) = dx.as_mut() {
                let cols = &mut cols[..g.k() * columns];
                input_grad_product(g, w, (rows, columns), cols, Threads::Pool);
                col2im(cols, g, chunk, dx);
            }
        }
    });
    (dx, dw.map(|dw| weight_layout(dw, g)))
}

/// The weight gradient as computed over [`padded_k`] columns, in the order of the route taken
/// ([`channels_last`] or not), → the weight's `[C_out, C_in, kh, kw]`.
fn weight_layout(mut dw: Vec<f32>, g: &ConvGeometry) -> Vec<f32> {
    let kp = padded_k(g);
    {
        if channels_last(g) {
            // Columns `tap·C + c` of `im2col_t_channels_last` back to the weight's `c·taps + tap`.
            let taps = g.kh * g.kw;
            let mut out = vec![0.0; g.weight_len()];
            out.par_chunks_mut(g.k())
                .zip(dw.par_chunks(kp))
                .for_each(|(row, src)| {
                    for (tap, run) in src[..g.k()].chunks_exact(g.c_in).enumerate() {
                        let column = row[tap..].iter_mut().step_by(taps);
                        column.zip(run).for_each(|(v, p)| *v = *p);
                    }
                });
            return out;
        }
        if kp != g.k() {
            // Drop the padding columns: row `co` moves from `co·kp` to `co·K`.
            for co in 0..g.c_out {
                dw.copy_within(co * kp..co * kp + g.k(), co * g.k());
            }
            dw.truncate(g.weight_len());
        }
        dw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// The definition, one multiply-add at a time: y[n,o,a,b] = Σ w[o,c,i,j]·x[n,c,a·s+i·d−p, …].
    fn direct(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut y = vec![0.0f64; g.y_len()];
        for n in 0..g.batch {
            for o in 0..g.c_out {
                for a in 0..g.h_out {
                    for b in 0..g.w_out {
                        let mut s = 0.0f64;
                        for c in 0..g.c_in {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let ih = (a * g.stride[0] + i * g.dilation[0]) as isize
                                        - g.padding[0] as isize;
                                    let iw = (b * g.stride[1] + j * g.dilation[1]) as isize
                                        - g.padding[1] as isize;
                                    if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * g.c_in + c) * g.h + ih as usize) * g.w
                                        + iw as usize];
                                    let wv = w[((o * g.c_in + c) * g.kh + i) * g.kw + j];
                                    s += (xv * wv) as f64;
                                }
                            }
                        }
                        y[((n * g.c_out + o) * g.h_out + a) * g.w_out + b] = s;
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn geometries() -> Vec<ConvGeometry> {
        let g = |x, w, s, p, d| ConvGeometry::new(x, w, s, p, d).unwrap();
        vec![
            g([2, 3, 9, 7], [4, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
            g([2, 3, 11, 10], [5, 3, 7, 7], [2, 2], [3, 3], [1, 1]),
            g([3, 4, 8, 8], [6, 4, 1, 1], [2, 2], [0, 0], [1, 1]),
            g([1, 2, 9, 9], [3, 2, 3, 2], [2, 1], [0, 2], [2, 1]),
            g([2, 2, 4, 4], [3, 2, 3, 3], [3, 3], [1, 1], [1, 1]),
            // Stride-1 "same" convolutions (im2col's shifted-plane path), one dilated, one 1×1.
            g([2, 3, 6, 5], [2, 3, 3, 3], [1, 1], [2, 2], [2, 2]),
            g([2, 3, 5, 4], [2, 3, 1, 1], [1, 1], [0, 0], [1, 1]),
            // At least as many channels as taps: the weight gradient's channels-last route.
            g([2, 10, 6, 5], [3, 10, 3, 3], [1, 1], [1, 1], [1, 1]),
            g([2, 12, 7, 7], [4, 12, 3, 3], [2, 2], [1, 1], [1, 1]),
            // Padding wider than the input: some taps see no input at all.
            g([1, 2, 2, 2], [2, 2, 7, 7], [1, 1], [3, 3], [1, 1]),
            g([1, 1, 3, 2], [1, 1, 5, 5], [2, 2], [2, 2], [1, 1]),
            // Output lines wider than `MASKED_LINE_MAX`: the line-by-line paths.
            g([2, 3, 4, 19], [2, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
            g([1, 2, 5, 20], [2, 2, 3, 3], [1, 1], [2, 2], [2, 2]),
            g([2, 3, 3, 18], [4, 3, 1, 1], [1, 1], [0, 0], [1, 1]),
            g([1, 2, 5, 37], [3, 2, 3, 3], [2, 2], [1, 1], [1, 1]),
            g([1, 3, 7, 40], [2, 3, 7, 7], [2, 2], [3, 3], [1, 1]),
        ]
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    #[test]
    fn chunks_tile_the_output_within_the_limit() {
        let g = ConvGeometry::new([3, 2, 9, 9], [4, 2, 3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
        let per_image = g.k() * g.positions();
        let whole: Vec<_> = chunks(&g, 2 * per_image)
            .iter()
            .map(|c| c.images.clone())
            .collect();
        assert_eq!(whole, vec![0..2, 2..3]);
        let bands = chunks(&g, 4 * g.k() * g.w_out);
        assert_eq!(bands.len(), 3 * 3); // 9 rows in bands of 4, 4, 1, for each image
        assert_eq!(
            bands[2],
            Chunk {
                images: 0..1,
                rows: 8..9
            }
        );
        assert!(bands
            .iter()
            .all(|c| c.columns(&g) * g.k() <= 4 * g.k() * g.w_out));
    }

    /// A convolution started while this thread's buffers are in use (a rayon worker stealing a
    /// second one) computes the same result with buffers of its own.
    #[test]
    fn nested_calls_do_not_share_the_buffers() {
        let g = geometries()[0];
        let x = random(g.x_len(), 1);
        let w = random(g.weight_len(), 2);
        let alone = forward(&x, &w, &g);
        let nested = with_scratch(1, 1, |_, _| forward(&x, &w, &g));
        assert_eq!(nested, alone);
    }

    /// `im2col_t` is `im2col` transposed, zero-padded to `padded_k`, for every geometry and for
    /// chunks of whole images and of single output rows.
    #[test]
    fn transposed_columns_are_the_columns_transposed() {
        assert_transposed_layout(im2col_t, |_, t| t);
    }

    /// The channels-last route holds the same values as `im2col`, each line ordered
    /// `tap·C + c`, zero-padded to `padded_k`.
    #[test]
    fn channels_last_columns_are_the_columns_transposed_and_permuted() {
        let via_copy = |x: &[f32], g: &ConvGeometry, chunk: &Chunk, cols_t: &mut [f32]| {
            let mut copy = vec![f32::NAN; chunk.images.len() * g.c_in * g.h * g.w];
            to_channels_last(x, g, (chunk, true), &mut copy);
            im2col_t_channels_last(&copy, g, (chunk, true), cols_t);
        };
        assert_transposed_layout(via_copy, |g, t| {
            let (tap, c) = (t / g.c_in, t % g.c_in);
            c * g.kh * g.kw + tap
        });
    }

    /// For every geometry, chunks of whole images and of single output rows: `fill` writes
    /// `im2col` transposed, line value `t < K` being `im2col`'s row `row_of(g, t)`, zero beyond.
    fn assert_transposed_layout(
        fill: impl Fn(&[f32], &ConvGeometry, &Chunk, &mut [f32]),
        row_of: impl Fn(&ConvGeometry, usize) -> usize,
    ) {
        for (s, g) in geometries().iter().enumerate() {
            let x = random(g.x_len(), s as u64);
            for chunk in chunks(g, CHUNK_FLOATS).into_iter().chain(chunks(g, 1)) {
                let columns = chunk.columns(g);
                let mut cols = vec![f32::NAN; g.k() * columns];
                im2col(&x, g, &chunk, &mut cols);
                let kp = padded_k(g);
                let mut cols_t = vec![f32::NAN; kp * columns];
                fill(&x, g, &chunk, &mut cols_t);
                for p in 0..columns {
                    for t in 0..kp {
                        let want = if t < g.k() {
                            cols[row_of(g, t) * columns + p]
                        } else {
                            0.0
                        };
                        assert_eq!(cols_t[p * kp + t], want, "{g:?} {chunk:?} p={p} t={t}");
                    }
                }
            }
        }
    }

    #[test]
    fn output_size_follows_the_convolution_formula() {
        let g = ConvGeometry::new([1, 1, 112, 112], [1, 1, 7, 7], [2, 2], [3, 3], [1, 1]);
        assert_eq!(g.map(|g| (g.h_out, g.w_out)), Some((56, 56)));
        let g = ConvGeometry::new([1, 1, 7, 7], [1, 1, 3, 3], [2, 2], [1, 1], [1, 1]);
        assert_eq!(g.map(|g| (g.h_out, g.w_out)), Some((4, 4)));
        assert!(ConvGeometry::new([1, 1, 2, 2], [1, 1, 5, 5], [1, 1], [0, 0], [1, 1]).is_none());
        assert!(ConvGeometry::new([1, 2, 8, 8], [1, 3, 3, 3], [1, 1], [1, 1], [1, 1]).is_none());
    }

    #[test]
    fn forward_matches_the_definition() {
        for (s, g) in geometries().iter().enumerate() {
            let x = random(g.x_len(), s as u64);
            let w = random(g.weight_len(), 100 + s as u64);
            let y = direct(&x, &w, g);
            assert_close(&forward(&x, &w, g), &y, &format!("y {g:?}"));
            // One image per chunk: the chunks must tile the batch.
            assert_close(
                &forward_in_chunks(&x, &w, g, 1),
                &y,
                &format!("y, chunked {g:?}"),
            );
            // One image per task, in bands of one output row and as whole images.
            for limit in [1, g.k() * g.positions()] {
                assert_close(
                    &forward_image_parallel(&x, &w, g, limit),
                    &y,
                    &format!("y, image-parallel, bands of {limit} {g:?}"),
                );
            }
            if conv_direct::fits(g) {
                let what = format!("y, stem kernel {g:?}");
                assert_close(&conv_direct::forward(&x, &w, g), &y, &what);
            }
            if conv_taps::fits(g) {
                let what = format!("y, by taps {g:?}");
                assert_close(&conv_taps::forward(&x, &w, g), &y, &what);
            }
        }
    }

    /// The stem kernels (forward, weight gradient) on stems of several shapes: two blocks of output channels (the second
    /// partial), output rows not a multiple of 16, one and three input channels, bands of rows.
    #[test]
    fn stem_kernel_matches_im2col() {
        let g = |x, w, p| ConvGeometry::new(x, w, [2, 2], p, [1, 1]).unwrap();
        let stems = [
            g([3, 3, 29, 66], [20, 3, 7, 7], [3, 3]),
            g([2, 1, 40, 33], [16, 1, 7, 7], [3, 3]),
            g([1, 3, 9, 64], [5, 3, 3, 3], [1, 1]),
            g([8, 4, 31, 32], [33, 4, 5, 5], [2, 2]),
        ];
        for (s, g) in stems.iter().enumerate() {
            if !conv_direct::fits(g) {
                return; // no AVX-512 here: the kernel is never used
            }
            let x = random(g.x_len(), 600 + s as u64);
            let w = random(g.weight_len(), 700 + s as u64);
            let want = forward_in_chunks(&x, &w, g, CHUNK_FLOATS);
            assert_close(&conv_direct::forward(&x, &w, g), &want, &format!("y {g:?}"));
            if !conv_direct::grad_fits(g) {
                continue;
            }
            let dy = random(g.y_len(), 800 + s as u64);
            let (_, want) = backward_in_chunks(&x, &w, &dy, g, [false, true], CHUNK_FLOATS);
            let dw = conv_direct::weight_grad(&x, &dy, g);
            assert_close(&dw, &want.unwrap(), &format!("dw {g:?}"));
        }
    }

    /// The stride-1 direct kernels (forward, weight gradient, input gradient) against im2col:
    /// output rows not a multiple of 16, one, two and three blocks of output channels (the last
    /// partial), input gradients of 70 channels (five blocks, the last partial), kernels 3, 5
    /// and 7 wide, unequal and zero padding, a kernel taller than wide; run on three threads,
    /// so that the bands and the weight gradient's tasks split images unevenly. The weight
    /// gradient kernel is checked on the 40-channel layer too, which `conv_cpu` leaves to
    /// im2col.
    #[test]
    fn stride_one_direct_kernels_match_im2col() {
        let g = |x, w, p| ConvGeometry::new(x, w, [1, 1], p, [1, 1]).unwrap();
        let layers = [
            g([2, 5, 17, 19], [16, 5, 3, 3], [1, 1]),
            g([5, 70, 9, 33], [20, 70, 3, 3], [1, 1]),
            g([1, 3, 8, 16], [32, 3, 5, 5], [2, 2]),
            g([2, 4, 12, 21], [7, 4, 7, 7], [3, 3]),
            g([2, 6, 10, 18], [5, 6, 3, 3], [0, 1]),
            g([3, 2, 7, 20], [9, 2, 3, 3], [0, 0]),
            g([2, 3, 9, 17], [4, 3, 5, 3], [2, 1]),
            g([2, 6, 5, 18], [40, 6, 3, 3], [1, 1]),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (s, g) in layers.iter().enumerate() {
            if !conv_direct::input_grad_fits(g) {
                assert_eq!(s, 0, "{g:?} should take the direct kernels");
                return; // no AVX-512 here: the kernels are never used
            }
            assert!(conv_direct::fits(g));
            assert_eq!(conv_direct::grad_fits(g), g.c_out <= 32, "{g:?}");
            let x = random(g.x_len(), 900 + s as u64);
            let w = random(g.weight_len(), 1000 + s as u64);
            let dy = random(g.y_len(), 1100 + s as u64);
            let want_y = forward_in_chunks(&x, &w, g, CHUNK_FLOATS);
            let (want_dx, want_dw) = backward_in_chunks(&x, &w, &dy, g, [true, true], CHUNK_FLOATS);
            let (y, dx, dw) = pool.install(|| {
                (
                    conv_direct::forward(&x, &w, g),
                    conv_direct::input_grad(&w, &dy, g),
                    conv_direct::weight_grad(&x, &dy, g),
                )
            });
            let (want_dx, want_dw) = (want_dx.unwrap(), want_dw.unwrap());
            assert_close(&y, &want_y, &format!("y {g:?}"));
            assert_close(&dx, &want_dx, &format!("dx {g:?}"));
            assert_close(&dw, &want_dw, &format!("dw {g:?}"));
            // Through `backward`, both gradients asked for: each route returns both.
            let (dx, dw) = backward(&x, &w, &dy, g, true, true);
            assert_close(&dx.unwrap(), &want_dx, &format!("dx, backward {g:?}"));
            assert_close(&dw.unwrap(), &want_dw, &format!("dw, backward {g:?}"));
        }
    }

    /// Layers wide enough that the tap path splits its rows over several tasks (three threads:
    /// blocks of 32, 32 and the rest) give what the im2col path gives.
    #[test]
    fn taps_split_over_tasks_match_im2col() {
        let g = |x, w, p, d| ConvGeometry::new(x, w, [1, 1], p, d).unwrap();
        let wide = [
            g([3, 70, 5, 4], [66, 70, 3, 3], [1, 1], [1, 1]),
            g([2, 33, 6, 7], [65, 33, 3, 3], [2, 2], [2, 2]),
            g([2, 40, 3, 3], [34, 40, 5, 3], [2, 0], [1, 1]),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (s, g) in wide.iter().enumerate() {
            let x = random(g.x_len(), 300 + s as u64);
            let w = random(g.weight_len(), 400 + s as u64);
            let r = random(g.y_len(), 500 + s as u64);
            let want_y = forward_in_chunks(&x, &w, g, CHUNK_FLOATS);
            let (want_dx, _) = backward_in_chunks(&x, &w, &r, g, [true, false], CHUNK_FLOATS);
            let (y, dx) = pool.install(|| {
                let y = conv_taps::forward(&x, &w, g);
                (y, conv_taps::input_grad(&w, &r, g))
            });
            assert_close(&y, &want_y, &format!("y {g:?}"));
            assert_close(&dx, &want_dx.unwrap(), &format!("dx {g:?}"));
        }
    }

    /// Gradients of L = Σ y·r for a fixed random r are exact adjoints: ⟨dx, e⟩ = ⟨r, conv(e, w)⟩.
    /// Checked entry by entry against the definition applied to unit inputs.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward() {
        for (s, g) in geometries().iter().enumerate() {
            let x = random(g.x_len(), s as u64);
            let w = random(g.weight_len(), 100 + s as u64);
            let r = random(g.y_len(), 200 + s as u64);
            let (dx, dw) = backward(&x, &w, &r, g, true, true);
            let (dx, dw) = (dx.unwrap(), dw.unwrap());
            // Chunks of one output row, and of one whole image: dw accumulates over the
            // chunks, dx sums the overlapping bands.
            for limit in [1, g.k() * g.positions()] {
                let (dx1, dw1) = backward_in_chunks(&x, &w, &r, g, [true, true], limit);
                assert_close(&dx1.unwrap(), &dx, &format!("dx, chunks of {limit} {g:?}"));
                assert_close(&dw1.unwrap(), &dw, &format!("dw, chunks of {limit} {g:?}"));
                let (dx2, dw2) = backward_image_parallel(&x, &w, &r, g, [true, true], limit);
                let what = format!("image-parallel, bands of {limit} {g:?}");
                assert_close(&dx2.unwrap(), &dx, &format!("dx, {what}"));
                assert_close(&dw2.unwrap(), &dw, &format!("dw, {what}"));
                let (dx3, none) = backward_image_parallel(&x, &w, &r, g, [true, false], limit);
                assert_close(&dx3.unwrap(), &dx, &format!("dx alone, {what}"));
                assert!(none.is_none());
                let (none, dw3) = backward_image_parallel(&x, &w, &r, g, [false, true], limit);
                assert_close(&dw3.unwrap(), &dw, &format!("dw alone, {what}"));
                assert!(none.is_none());
            }
            if conv_taps::fits(g) {
                let dx4 = conv_taps::input_grad(&w, &r, g);
                assert_close(&dx4, &dx, &format!("dx, by taps {g:?}"));
            }
            let (only_dx, none) = backward(&x, &w, &r, g, true, false);
            assert!(none.is_none() && only_dx.is_some());
            let dot = |y: Vec<f32>| y.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum::<f64>();
            // Entry e of a gradient: ⟨r, conv(…)⟩ with the e-th unit vector in place of w or x.
            let by_units = |len: usize, conv: &dyn Fn(&[f32]) -> Vec<f32>| -> Vec<f32> {
                (0..len)
                    .map(|e| {
                        let mut unit = vec![0.0; len];
                        unit[e] = 1.0;
                        dot(conv(&unit)) as f32
                    })
                    .collect()
            };
            let dw_ref = by_units(g.weight_len(), &|unit| direct(&x, unit, g));
            assert_close(&dw, &dw_ref, &format!("dw {g:?}"));
            let dx_ref = by_units(g.x_len(), &|unit| direct(unit, &w, g));
            assert_close(&dx, &dx_ref, &format!("dx {g:?}"));
        }
    }
}
