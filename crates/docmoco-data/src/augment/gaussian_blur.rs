//! `GaussianBlur` with a random sigma, as MoCo v2's aug+ (sigma uniform in [0.1, 2.0]).
//!
//! MoCo blurs with PIL's `GaussianBlur(radius=sigma)`; torchvision's `F.gaussian_blur` needs
//! an explicit kernel size. The size here is derived from sigma as `2 * ceil(3 * sigma) + 1`,
//! which covers +-3 sigma (99.7 % of the mass), so small sigmas stay cheap and large ones
//! are not truncated. The kernel is torchvision's (`exp(-x^2 / 2 sigma^2)` on integer
//! offsets, normalised) with reflect padding; it is applied as two 1-D passes, which is the
//! same 2-D kernel (an outer product) up to float rounding. On images smaller than the
//! kernel the half-width is capped at `side - 1` per axis, where reflect padding is defined.

use rand::Rng;

use super::{random_apply::RandomOp, ChwImage};

/// Kernel size MoCo's sigma maps to: `2 * ceil(3 * sigma) + 1`.
pub fn kernel_size_for(sigma: f64) -> usize {
    2 * (3.0 * sigma).ceil().max(0.0) as usize + 1
}

/// torchvision's `_get_gaussian_kernel1d` (f32).
pub fn gaussian_kernel1d(kernel_size: usize, sigma: f32) -> Vec<f32> {
    let half = (kernel_size as f32 - 1.0) * 0.5;
    let pdf: Vec<f32> = (0..kernel_size)
        .map(|i| {
            let x = (i as f32 - half) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    let sum: f32 = pdf.iter().sum();
    pdf.into_iter().map(|v| v / sum).collect()
}

/// Index into `0..n` with reflect padding (`torch.nn.functional.pad(mode="reflect")`,
/// edge pixel not repeated), folded as often as needed.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    if m < n as isize {
        m as usize
    } else {
        (period - m) as usize
    }
}

/// Horizontal pass: each row is reflect-padded once, then convolved.
fn convolve_rows(img: &mut ChwImage, kernel: &[f32]) {
    let w = img.width;
    let half = kernel.len() / 2;
    let mut padded = vec![0f32; w + 2 * half];
    let mut out = vec![0f32; w];
    for row in img.data.chunks_exact_mut(w) {
        for (i, p) in padded.iter_mut().enumerate() {
            *p = row[reflect(i as isize - half as isize, w)];
        }
        for (x, o) in out.iter_mut().enumerate() {
            let mut acc = 0f32;
            for (&v, &kv) in padded[x..x + kernel.len()].iter().zip(kernel) {
                acc += v * kv;
            }
            *o = acc;
        }
        row.copy_from_slice(&out);
    }
}

/// Vertical pass: whole rows scaled and added (vectorises), in kernel order.
fn convolve_cols(img: &mut ChwImage, kernel: &[f32]) {
    let (h, w) = (img.height, img.width);
    let half = kernel.len() as isize / 2;
    let n = h * w;
    let mut out = vec![0f32; img.data.len()];
    for c in 0..3 {
        let src = &img.data[c * n..(c + 1) * n];
        for y in 0..h {
            let dst = &mut out[c * n + y * w..c * n + (y + 1) * w];
            for (k, &kv) in kernel.iter().enumerate() {
                let sy = reflect(y as isize + k as isize - half, h);
                for (o, &v) in dst.iter_mut().zip(&src[sy * w..(sy + 1) * w]) {
                    *o += v * kv;
                }
            }
        }
    }
    img.data = out;
}

/// `F.gaussian_blur(img, [kernel_size, kernel_size], [sigma, sigma])` (odd kernel size).
pub fn gaussian_blur(img: &mut ChwImage, kernel_size: usize, sigma: f32) {
    if img.height == 0 || img.width == 0 {
        return;
    }
    let half = kernel_size / 2;
    let kx = gaussian_kernel1d(2 * half.min(img.width - 1) + 1, sigma);
    let ky = gaussian_kernel1d(2 * half.min(img.height - 1) + 1, sigma);
    convolve_rows(img, &kx);
    convolve_cols(img, &ky);
}

/// Gaussian blur with sigma drawn uniformly from `sigma`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianBlur {
    pub sigma: (f64, f64),
}

impl RandomOp for GaussianBlur {
    fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R) {
        let (lo, hi) = self.sigma;
        let sigma = lo + (hi - lo) * rng.gen::<f64>();
        if sigma > 0.0 {
            gaussian_blur(img, kernel_size_for(sigma), sigma as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_torch_padding() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    }

    #[test]
    fn blur_keeps_constants_and_mass() {
        let mut img = ChwImage::filled(5, 9, 0.25);
        gaussian_blur(&mut img, kernel_size_for(2.0), 2.0);
        assert!(img.data.iter().all(|v| (v - 0.25).abs() < 1e-6));
        assert_eq!(kernel_size_for(0.1), 3);
        assert_eq!(kernel_size_for(2.0), 13);
        let k = gaussian_kernel1d(13, 2.0);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
