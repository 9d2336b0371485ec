//! 2-D max pooling on f32 slices (NCHW), forward and gradient, one task per (image, channel)
//! plane.
//!
//! Why: burn's CPU backend runs every 2-D max pool through its generic 3-D kernel (a depth of
//! one), recomputing the window's valid range per output and writing an `i64` index per output;
//! the ResNet stem's pool (3×3, stride 2, on 64 channels at a quarter of the input size) took
//! 7% of a MoCo step at 112 px (docs/performance.md, session 12). Here the windows are clipped
//! once per call, each output row is computed tap by tap ([`pool_row`]), and the index of the
//! maximum is a `u32` within its plane.
//!
//! Semantics are PyTorch's (`max_pool2d_with_indices`): padding never wins (it is outside the
//! window, not a value), the first maximum in row-major window order wins a tie, and a NaN wins
//! over every number (the last NaN of the window), so NaN propagates.

use std::ops::Range;

use rayon::prelude::*;

/// Shapes and options of one max pool (dilation 1, floor rounding), with its output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub h_out: usize,
    pub w_out: usize,
}

impl PoolGeometry {
    /// `None` when the window (or its padding) does not make sense: an empty kernel or stride,
    /// padding over half the kernel (PyTorch refuses it: a window could hold only padding), or
    /// a kernel larger than the padded input.
    pub fn new(
        x: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<Self> {
        let [batch, channels, h, w] = x;
        let out = |size: usize, k: usize, s: usize, p: usize| {
            (k > 0 && s > 0 && 2 * p <= k && size + 2 * p >= k).then(|| (size + 2 * p - k) / s + 1)
        };
        Some(Self {
            batch,
            channels,
            h,
            w,
            kernel,
            stride,
            padding,
            h_out: out(h, kernel[0], stride[0], padding[0])?,
            w_out: out(w, kernel[1], stride[1], padding[1])?,
        })
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.channels * self.h * self.w
    }

    pub fn y_len(&self) -> usize {
        self.batch * self.channels * self.h_out * self.w_out
    }

    /// The input rows (or columns) in output row (column) `o`'s window, along axis `axis`.
    fn window(&self, axis: usize, o: usize) -> Range<usize> {
        let size = [self.h, self.w][axis];
        let start = (o * self.stride[axis]) as isize - self.padding[axis] as isize;
        let end = (start + self.kernel[axis] as isize).min(size as isize);
        start.max(0) as usize..end.max(0) as usize
    }

    /// The windows of every output row and column, computed once per call.
    fn windows(&self) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
        (
            (0..self.h_out).map(|o| self.window(0, o)).collect(),
            (0..self.w_out).map(|o| self.window(1, o)).collect(),
        )
    }
}

/// Outputs computed together by [`pool_row`]: one AVX register.
const LANES: usize = 8;

/// Scratch for one plane: the window's input lines, padded and split into phases.
struct Lines {
    /// Floats per phase: every output column's taps plus a whole block of [`LANES`] past the
    /// last output, so that a block always reads `LANES` values.
    per_phase: usize,
    /// `kernel[0]` lines of `stride` phases each.
    values: Vec<f32>,
    /// Where tap `j`'s run starts in a line: phase `j mod s`, offset `j div s`.
    taps: Vec<usize>,
}

impl Lines {
    fn new(g: &PoolGeometry) -> Self {
        let s = g.stride[1];
        let per_phase = g.w_out.next_multiple_of(LANES) + g.kernel[1].div_ceil(s);
        let values = vec![f32::NEG_INFINITY; g.kernel[0] * s * per_phase];
        let taps = (0..g.kernel[1])
            .map(|j| j % s * per_phase + j / s)
            .collect();
        Self {
            per_phase,
            values,
            taps,
        }
    }

    /// Line `slot` ← input line `line`, padded with −∞ (which never wins: it is not greater
    /// than the running maximum's −∞ start, nor NaN) and split into phases: phase `r` holds the
    /// padded columns `r, r + s, r + 2s, …`, so that tap `j` of consecutive outputs is a
    /// contiguous run of phase `j mod s`, starting at `j div s`. Only the line's own columns
    /// are written; the padding keeps the −∞ it was created with.
    fn load(&mut self, g: &PoolGeometry, slot: usize, line: &[f32]) {
        let s = g.stride[1];
        let phases = &mut self.values[slot * s * self.per_phase..][..s * self.per_phase];
        for (phase, run) in phases.chunks_exact_mut(self.per_phase).enumerate() {
            // Line columns `c` with `(c + padding) mod s = phase`, from the first such one.
            let first = (phase + s - g.padding[1] % s) % s;
            let at = (first + g.padding[1]) / s;
            for (dst, &v) in run[at..]
                .iter_mut()
                .zip(line[first.min(line.len())..].iter().step_by(s))
            {
                *dst = v;
            }
        }
    }

    /// Tap `j`'s values of line `slot` for the outputs `block..block + LANES`.
    fn tap(&self, g: &PoolGeometry, slot: usize, j: usize, block: usize) -> &[f32; LANES] {
        let start = slot * g.stride[1] * self.per_phase + self.taps[j] + block;
        self.values[start..start + LANES]
            .try_into()
            .expect("LANES values")
    }
}

/// One output row of a plane: `out[ow]` the maximum of window `(rows, cols[ow])`, and with
/// `idx` its index in the plane (see the module's doc for ties and NaN).
///
/// Outputs go [`LANES`] at a time, their running maxima and indices held in registers across
/// the window's taps, each tap read as a contiguous run of padded, phase-split lines
/// ([`Lines`]), the winner chosen by compares and blends ([`block_max_avx2`]). Which value
/// wins is data: a loop over strided input compiled to a branch on it, mispredicted about every
/// other time, and the baseline's SSE2 code spilled the lanes and branched per lane. Measured
/// on the stem's pool at 112 px (`[32, 64, 56, 56]`, 2 threads, random values), with indices:
/// strided loop 26–28 ms, this 7.9 ms; PyTorch 2.15: 25 ms (its gradient 36 ms, [`backward`]
/// 2.5 ms).
fn pool_row(
    plane: &[f32],
    g: &PoolGeometry,
    (rows, cols): (&Range<usize>, &[Range<usize>]),
    (out, mut idx): (&mut [f32], Option<&mut [u32]>),
    lines: &mut Lines,
    simd: bool,
) {
    for (slot, ih) in rows.clone().enumerate() {
        lines.load(g, slot, &plane[ih * g.w..][..g.w]);
    }
    for block in (0..g.w_out).step_by(LANES) {
        let n = LANES.min(g.w_out - block);
        // Each output starts at its window's first pixel, so that a window of −∞ points there.
        let mut start = [0u32; LANES];
        for (a, c) in start.iter_mut().zip(&cols[block..block + n]) {
            *a = (rows.start * g.w + c.start) as u32;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `simd` is only set when the CPU has AVX2 (`forward`).
        let (best, at) = if simd {
            unsafe { block_max_avx2(lines, g, rows, block, start) }
        } else {
            block_max(lines, g, rows, block, start)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (best, at) = block_max(lines, g, rows, block, start);
        out[block..block + n].copy_from_slice(&best[..n]);
        if let Some(idx) = idx.as_deref_mut() {
            idx[block..block + n].copy_from_slice(&at[..n]);
        }
    }
}

/// Input column of the first lane of `block` at tap `(ih, j)`: lane `l` reads `first + l·s`
/// (outside the line only where the padding's −∞ is read, which never wins).
fn first_column(g: &PoolGeometry, ih: usize, j: usize, block: usize) -> isize {
    (ih * g.w + block * g.stride[1] + j) as isize - g.padding[1] as isize
}

/// The maxima and their indices of the outputs `block..block + LANES`, from `start`
/// (the definition, one lane at a time; [`block_max_avx2`] computes the same).
fn block_max(
    lines: &Lines,
    g: &PoolGeometry,
    rows: &Range<usize>,
    block: usize,
    mut at: [u32; LANES],
) -> ([f32; LANES], [u32; LANES]) {
    let mut best = [f32::NEG_INFINITY; LANES];
    for (slot, ih) in rows.clone().enumerate() {
        for j in 0..g.kernel[1] {
            let values = lines.tap(g, slot, j, block);
            let first = first_column(g, ih, j, block);
            for l in 0..LANES {
                let v = values[l];
                if v > best[l] || v.is_nan() {
                    best[l] = v;
                    at[l] = (first + (l * g.stride[1]) as isize) as u32;
                }
            }
        }
    }
    (best, at)
}

/// [`block_max`] on AVX2: the lanes in two registers, the winner picked by a compare and a
/// blend.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_max_avx2(
    lines: &Lines,
    g: &PoolGeometry,
    rows: &Range<usize>,
    block: usize,
    start: [u32; LANES],
) -> ([f32; LANES], [u32; LANES]) {
    use std::arch::x86_64::*;
    let mut best = _mm256_set1_ps(f32::NEG_INFINITY);
    // SAFETY (the loads and stores below): arrays of LANES = 8 32-bit values, unaligned access.
    let mut at = unsafe { _mm256_loadu_si256(start.as_ptr().cast()) };
    let s = g.stride[1] as i32;
    let lane_offsets = _mm256_setr_epi32(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
    for (slot, ih) in rows.clone().enumerate() {
        for j in 0..g.kernel[1] {
            let v = unsafe { _mm256_loadu_ps(lines.tap(g, slot, j, block).as_ptr()) };
            let first = _mm256_set1_epi32(first_column(g, ih, j, block) as i32);
            let column = _mm256_castsi256_ps(_mm256_add_epi32(first, lane_offsets));
            let greater = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
            let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
            let wins = _mm256_or_ps(greater, nan);
            best = _mm256_blendv_ps(best, v, wins);
            at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(at), column, wins));
        }
    }
    let (mut b, mut a) = ([0.0f32; LANES], [0u32; LANES]);
    unsafe {
        _mm256_storeu_ps(b.as_mut_ptr(), best);
        _mm256_storeu_si256(a.as_mut_ptr().cast(), at);
    }
    (b, a)
}

/// `y = max_pool(x)`, and with `indices` each output's argmax within its (image, channel)
/// plane, for the gradient.
pub fn forward(x: &[f32], g: &PoolGeometry, with_indices: bool) -> (Vec<f32>, Option<Vec<u32>>) {
    #[cfg(target_arch = "x86_64")]
    let simd = is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = false;
    forward_with(x, g, with_indices, simd)
}

/// [`forward`], on AVX2 or not (`simd`, which the CPU must have).
fn forward_with(
    x: &[f32],
    g: &PoolGeometry,
    with_indices: bool,
    simd: bool,
) -> (Vec<f32>, Option<Vec<u32>>) {
    assert_eq!(x.len(), g.x_len(), "max pool input size");
    let (plane, out_plane) = (g.h * g.w, g.h_out * g.w_out);
    let (rows, cols) = g.windows();
    let mut y = vec![0.0; g.y_len()];
    let mut indices = with_indices.then(|| vec![0u32; g.y_len()]);
    let planes = x
        .par_chunks(plane.max(1))
        .zip(y.par_chunks_mut(out_plane.max(1)));
    let pool = |src: &[f32], out: &mut [f32], mut idx: Option<&mut [u32]>| {
        let mut lines = Lines::new(g);
        for (oh, r) in rows.iter().enumerate() {
            let out = &mut out[oh * g.w_out..][..g.w_out];
            let idx = idx
                .as_deref_mut()
                .map(|i| &mut i[oh * g.w_out..][..g.w_out]);
            pool_row(src, g, (r, &cols), (out, idx), &mut lines, simd);
        }
    };
    match indices.as_mut() {
        Some(indices) => planes
            .zip(indices.par_chunks_mut(out_plane.max(1)))
            .for_each(|((src, out), idx)| pool(src, out, Some(idx))),
        None => planes.for_each(|(src, out)| pool(src, out, None)),
    }
    (y, indices)
}

/// The input gradient: each output's gradient added to the input pixel its maximum came from.
pub fn backward(dy: &[f32], indices: &[u32], g: &PoolGeometry) -> Vec<f32> {
    assert_eq!(dy.len(), g.y_len(), "max pool output gradient size");
    assert_eq!(indices.len(), g.y_len(), "max pool indices");
    let (plane, out_plane) = (g.h * g.w, g.h_out * g.w_out);
    let mut dx = vec![0.0; g.x_len()];
    dx.par_chunks_mut(plane.max(1))
        .zip(dy.par_chunks(out_plane.max(1)))
        .zip(indices.par_chunks(out_plane.max(1)))
        .for_each(|((dst, grad), idx)| {
            for (&d, &i) in grad.iter().zip(idx) {
                dst[i as usize] += d;
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// The definition, one output at a time with explicit padding checks.
    fn reference(x: &[f32], g: &PoolGeometry) -> (Vec<f32>, Vec<u32>) {
        let (mut y, mut idx) = (Vec::new(), Vec::new());
        for nc in 0..g.batch * g.channels {
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    let (mut best, mut at) = (f32::NEG_INFINITY, None);
                    for i in 0..g.kernel[0] {
                        for j in 0..g.kernel[1] {
                            let ih = (oh * g.stride[0] + i) as isize - g.padding[0] as isize;
                            let iw = (ow * g.stride[1] + j) as isize - g.padding[1] as isize;
                            if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
                                continue;
                            }
                            let p = ih as usize * g.w + iw as usize;
                            let v = x[nc * g.h * g.w + p];
                            if at.is_none() || v > best || v.is_nan() {
                                (best, at) = (v, Some(p as u32));
                            }
                        }
                    }
                    y.push(best);
                    idx.push(at.expect("a window holds at least one pixel"));
                }
            }
        }
        (y, idx)
    }

    #[test]
    fn matches_the_definition_with_ties_and_padding() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for (x, kernel, stride, padding) in [
            ([2, 3, 11, 11], [3, 3], [2, 2], [1, 1]),
            ([1, 2, 8, 7], [2, 2], [2, 2], [0, 0]),
            ([2, 1, 9, 6], [3, 2], [1, 2], [1, 1]),
            ([1, 1, 5, 5], [5, 5], [1, 1], [2, 2]),
            ([2, 2, 7, 40], [3, 3], [2, 2], [1, 1]),
            ([1, 2, 10, 29], [3, 4], [3, 3], [1, 2]),
        ] {
            let g = PoolGeometry::new(x, kernel, stride, padding).unwrap();
            // Small integers: many ties, so the tie rule is exercised.
            let xs: Vec<f32> = (0..g.x_len())
                .map(|_| rng.gen_range(-3..3) as f32)
                .collect();
            let (want_y, want_idx) = reference(&xs, &g);
            for simd in [false, true].into_iter().filter(|&simd| !simd || avx2()) {
                let (y, idx) = forward_with(&xs, &g, true, simd);
                assert_eq!(y, want_y, "{x:?} simd {simd}");
                assert_eq!(idx.unwrap(), want_idx, "{x:?} simd {simd}");
                assert_eq!(forward_with(&xs, &g, false, simd).0, want_y);
            }
        }
    }

    #[test]
    fn nan_propagates_and_negative_infinity_is_a_value() {
        let g = PoolGeometry::new([1, 1, 2, 4], [2, 2], [2, 2], [0, 0]).unwrap();
        let x = [
            1.0,
            f32::NAN,
            -f32::INFINITY,
            -f32::INFINITY,
            5.0,
            2.0,
            -f32::INFINITY,
            -f32::INFINITY,
        ];
        for simd in [false, true].into_iter().filter(|&simd| !simd || avx2()) {
            let (y, idx) = forward_with(&x, &g, true, simd);
            assert!(y[0].is_nan());
            assert_eq!(y[1], f32::NEG_INFINITY);
            // The NaN's index; an all -inf window points at its first pixel.
            assert_eq!(idx.unwrap(), vec![1, 2], "simd {simd}");
        }
    }

    /// The gradient is the adjoint of the forward pass: `<dy, pool(x)>` is linear in the
    /// selected pixels, so `dx` must put each `dy` on its argmax (overlapping windows add).
    #[test]
    fn gradient_lands_on_the_argmax_and_overlaps_add() {
        let g = PoolGeometry::new([1, 1, 5, 5], [3, 3], [1, 1], [1, 1]).unwrap();
        let mut x = vec![0.0; 25];
        x[12] = 10.0; // the centre is every window's maximum that contains it
        let (_, idx) = forward(&x, &g, true);
        let dy: Vec<f32> = (0..25).map(|i| i as f32).collect();
        let dx = backward(&dy, &idx.unwrap(), &g);
        let want_centre: f32 = [6, 7, 8, 11, 12, 13, 16, 17, 18]
            .iter()
            .map(|&i| i as f32)
            .sum();
        assert_eq!(dx[12], want_centre);
        assert_eq!(dx.iter().sum::<f32>(), dy.iter().sum::<f32>());
    }

    #[test]
    fn refuses_geometries_pytorch_refuses() {
        assert!(PoolGeometry::new([1, 1, 4, 4], [2, 2], [2, 2], [2, 2]).is_none());
        assert!(PoolGeometry::new([1, 1, 2, 2], [5, 5], [1, 1], [1, 1]).is_none());
        assert!(PoolGeometry::new([1, 1, 4, 4], [2, 2], [0, 2], [0, 0]).is_none());
    }
}
