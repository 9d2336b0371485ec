//! Antialiased bilinear resampling with PyTorch's exact weights, fused with cropping.
//!
//! torchvision's `F.resized_crop(img, top, left, h, w, size, BILINEAR, antialias=True)` on a
//! float tensor calls `interpolate(..., mode="bilinear", antialias=True, align_corners=False)`
//! on the crop, which is PIL's separable triangle filter: when shrinking by a factor `s`, the
//! filter is stretched to a support of `s` input pixels on each side, so every input pixel
//! contributes (no aliasing of thin text strokes). Weights are renormalised at the crop
//! border, which is why cropping first and resizing second is *not* the same as resizing the
//! whole page and cropping later: the crop border acts as the image border.
//!
//! Documents are large elongated pages and the crops are small, so the crop is never copied:
//! the horizontal pass reads the crop rows straight from the page and writes only the output
//! columns, the vertical pass reads that small buffer. Cost is
//! `O(crop_h * out_w * taps_h + out_h * out_w * taps_v)`, independent of the page size.

/// A rectangle in pixel coordinates (`top`/`left` inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Rect {
    /// The rectangle `(0, 0, height, width)`.
    pub fn full(height: usize, width: usize) -> Self {
        Rect {
            top: 0,
            left: 0,
            height,
            width,
        }
    }
}

/// Per-output-pixel filter taps along one axis.
#[derive(Debug, Clone)]
pub(crate) struct AxisWeights {
    /// First input index of each output pixel.
    start: Vec<usize>,
    /// Offsets into `weights` (length `out + 1`).
    offset: Vec<usize>,
    weights: Vec<f32>,
}

impl AxisWeights {
    fn taps(&self, i: usize) -> (usize, &[f32]) {
        (
            self.start[i],
            &self.weights[self.offset[i]..self.offset[i + 1]],
        )
    }
}

/// The bilinear ("triangle") kernel of PyTorch's `aa_filter`.
fn triangle(x: f32) -> f32 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Weights for resizing `in_size` pixels to `out_size`, as PyTorch's `_compute_weights_aa`
/// computes them for float tensors (f32 arithmetic, same truncations).
pub(crate) fn aa_bilinear_weights(in_size: usize, out_size: usize) -> AxisWeights {
    let mut start = Vec::with_capacity(out_size);
    let mut offset = Vec::with_capacity(out_size + 1);
    let mut weights = Vec::new();
    offset.push(0);
    if in_size == out_size {
        // PyTorch skips the pass; the formula below would give the same identity taps.
        for i in 0..out_size {
            start.push(i);
            weights.push(1.0);
            offset.push(weights.len());
        }
        return AxisWeights {
            start,
            offset,
            weights,
        };
    }
    // Mixed precision mirrors the C++: `scale`, `support`, `center` and `invscale` are
    // stored as float, while `+ 0.5` promotes the intermediate expressions to double.
    let scale = in_size as f32 / out_size as f32;
    // interp_size = 2 for bilinear: support = (interp_size / 2) * scale when shrinking.
    let (support, invscale) = if scale >= 1.0 {
        (scale, (1.0 / scale as f64) as f32)
    } else {
        (1.0f32, 1.0f32)
    };
    for i in 0..out_size {
        let center = (scale as f64 * (i as f64 + 0.5)) as f32;
        // `as i64` truncates toward zero, exactly like the C++ static_cast.
        let xmin = ((center as f64 - support as f64 + 0.5) as i64).max(0);
        let xmax = ((center as f64 + support as f64 + 0.5) as i64).min(in_size as i64);
        let first = weights.len();
        let mut total = 0f32;
        for j in xmin..xmax.max(xmin) {
            let x = ((j as f64 - center as f64 + 0.5) * invscale as f64) as f32;
            let w = triangle(x);
            weights.push(w);
            total += w;
        }
        if total != 0.0 {
            for w in &mut weights[first..] {
                *w /= total;
            }
        }
        start.push(xmin as usize);
        offset.push(weights.len());
    }
    AxisWeights {
        start,
        offset,
        weights,
    }
}

/// A source image that can take a weighted sum along a row.
pub(crate) trait Source {
    /// `sum_k taps[k] * pixel(y, x0 + k)` per channel, accumulated in tap order.
    fn dot_row(&self, y: usize, x0: usize, taps: &[f32]) -> [f32; 3];
}

/// `u8 / 255` for every byte: the exact floats `ToTensor` produces, without a division.
static U8_TO_UNIT: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as f32 / 255.0;
        i += 1;
    }
    t
};

/// An interleaved RGB8 buffer of width `w`, read as floats in [0, 1].
pub(crate) struct Rgb8Source<'a> {
    pub raw: &'a [u8],
    pub w: usize,
}

impl Source for Rgb8Source<'_> {
    #[inline]
    fn dot_row(&self, y: usize, x0: usize, taps: &[f32]) -> [f32; 3] {
        let start = (y * self.w + x0) * 3;
        let px = &self.raw[start..start + 3 * taps.len()];
        let mut acc = [0f32; 3];
        for (p, &wt) in px.chunks_exact(3).zip(taps) {
            acc[0] += U8_TO_UNIT[p[0] as usize] * wt;
            acc[1] += U8_TO_UNIT[p[1] as usize] * wt;
            acc[2] += U8_TO_UNIT[p[2] as usize] * wt;
        }
        acc
    }
}

/// A 3-plane CHW float buffer of width `w` and `plane = h * w`.
pub(crate) struct ChwSource<'a> {
    pub data: &'a [f32],
    pub w: usize,
    pub plane: usize,
}

impl Source for ChwSource<'_> {
    #[inline]
    fn dot_row(&self, y: usize, x0: usize, taps: &[f32]) -> [f32; 3] {
        let mut acc = [0f32; 3];
        for (c, a) in acc.iter_mut().enumerate() {
            let start = c * self.plane + y * self.w + x0;
            let row = &self.data[start..start + taps.len()];
            for (&v, &wt) in row.iter().zip(taps) {
                *a += v * wt;
            }
        }
        acc
    }
}

/// Where the resampled pixels go: the output buffer is CHW with 3 planes of
/// `height * width`, and the computed window lands at `(top, left)` in it.
pub(crate) struct Dest<'a> {
    pub data: &'a mut [f32],
    pub height: usize,
    pub width: usize,
    pub top: usize,
    pub left: usize,
}

/// Resizes `crop` of a source image to `resized` = `(height, width)` and writes the pixels
/// of `window` (a rectangle of the resized image) into `dest`.
///
/// Computing only a window is exact: each output pixel depends only on its own taps, so
/// this is how `Resize` followed by `CenterCrop` runs in one pass.
pub(crate) fn resample_into<S: Source>(
    src: &S,
    crop: Rect,
    resized: (usize, usize),
    window: Rect,
    dest: Dest<'_>,
) {
    let (rh, rw) = resized;
    debug_assert!(window.top + window.height <= rh && window.left + window.width <= rw);
    debug_assert!(dest.data.len() >= 3 * dest.height * dest.width);
    if window.height == 0 || window.width == 0 {
        return;
    }
    let wx = aa_bilinear_weights(crop.width, rw);
    let wy = aa_bilinear_weights(crop.height, rh);

    // Rows of the crop the vertical taps of this window read.
    let (y0, _) = wy.taps(window.top);
    let (yl, tl) = wy.taps(window.top + window.height - 1);
    let y1 = (yl + tl.len()).max(y0 + 1);
    let rows = y1 - y0;
    let ow = window.width;

    // Horizontal pass: tmp[c][r][ox] for the needed crop rows.
    let mut tmp = vec![0f32; 3 * rows * ow];
    let plane = rows * ow;
    for r in 0..rows {
        let y = crop.top + y0 + r;
        for ox in 0..ow {
            let (x0, taps) = wx.taps(window.left + ox);
            let acc = src.dot_row(y, crop.left + x0, taps);
            for (c, v) in acc.iter().enumerate() {
                tmp[c * plane + r * ow + ox] = *v;
            }
        }
    }

    // Vertical pass into the destination.
    let dplane = dest.height * dest.width;
    for oy in 0..window.height {
        let (ys, taps) = wy.taps(window.top + oy);
        let row0 = ys - y0;
        for c in 0..3 {
            let src = &tmp[c * plane..(c + 1) * plane];
            let base = c * dplane + (dest.top + oy) * dest.width + dest.left;
            let out = &mut dest.data[base..base + ow];
            out.fill(0.0);
            for (k, &w) in taps.iter().enumerate() {
                let line = &src[(row0 + k) * ow..(row0 + k + 1) * ow];
                for (o, &v) in out.iter_mut().zip(line) {
                    *o += v * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_stay_in_range() {
        for (i, o) in [(100, 7), (7, 100), (56, 40), (40, 40), (3, 1), (1, 5)] {
            let w = aa_bilinear_weights(i, o);
            for k in 0..o {
                let (s, taps) = w.taps(k);
                assert!(s + taps.len() <= i, "{i}->{o} tap {k}");
                let sum: f32 = taps.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{i}->{o} tap {k}: {sum}");
            }
        }
    }

    #[test]
    fn constant_image_stays_constant_and_window_matches_full() {
        let (h, w) = (13usize, 29usize);
        let data: Vec<f32> = (0..3 * h * w).map(|i| (i % 17) as f32 / 16.0).collect();
        let px = ChwSource {
            data: &data,
            w,
            plane: h * w,
        };
        let crop = Rect {
            top: 2,
            left: 3,
            height: 9,
            width: 20,
        };
        let mut full = vec![0f32; 3 * 5 * 7];
        let dest = Dest {
            data: &mut full,
            height: 5,
            width: 7,
            top: 0,
            left: 0,
        };
        resample_into(&px, crop, (5, 7), Rect::full(5, 7), dest);
        let mut part = vec![0f32; 3 * 3 * 4];
        let win = Rect {
            top: 1,
            left: 2,
            height: 3,
            width: 4,
        };
        let dest = Dest {
            data: &mut part,
            height: 3,
            width: 4,
            top: 0,
            left: 0,
        };
        resample_into(&px, crop, (5, 7), win, dest);
        for c in 0..3 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(part[c * 12 + y * 4 + x], full[c * 35 + (y + 1) * 7 + x + 2]);
                }
            }
        }
        let ones = vec![0.5f32; 3 * h * w];
        let mut out = vec![0f32; 3 * 4 * 4];
        let dest = Dest {
            data: &mut out,
            height: 4,
            width: 4,
            top: 0,
            left: 0,
        };
        resample_into(
            &ChwSource {
                data: &ones,
                w,
                plane: h * w,
            },
            crop,
            (4, 4),
            Rect::full(4, 4),
            dest,
        );
        assert!(out.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
