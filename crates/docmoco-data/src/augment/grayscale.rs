//! `RandomGrayscale`: drop colour, keep three channels.
//!
//! MoCo uses it so the encoder cannot solve the pretext task from colour histograms alone.
//! Weights are torchvision's `_rgb_to_grayscale` (0.2989, 0.587, 0.114: ITU-R 601 with the
//! red weight torchvision truncated), so parity with PyTorch is exact.

use rand::Rng;

use super::ChwImage;

/// Luma weights of torchvision's `rgb_to_grayscale`.
pub const LUMA: [f32; 3] = [0.2989, 0.587, 0.114];

/// Luma of one pixel, in torchvision's evaluation order.
#[inline]
pub fn luma(r: f32, g: f32, b: f32) -> f32 {
    LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
}

/// `F.rgb_to_grayscale(img, num_output_channels=3)`: the luma replicated to 3 planes.
pub fn rgb_to_grayscale(img: &mut ChwImage) {
    let (r, g, b) = img.planes_mut();
    for i in 0..r.len() {
        let l = luma(r[i], g[i], b[i]);
        r[i] = l;
        g[i] = l;
        b[i] = l;
    }
}

/// Converts to grayscale with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomGrayscale {
    pub p: f64,
}

impl RandomGrayscale {
    pub fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R) {
        if rng.gen::<f64>() < self.p {
            rgb_to_grayscale(img);
        }
    }
}
