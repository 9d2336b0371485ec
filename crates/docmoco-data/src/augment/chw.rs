//! The float image every photometric op works on.
//!
//! After the geometric step (crop + resize) the image is small, so ops work on separate
//! float planes in the tensor layout the model eats (CHW, values in [0, 1] until
//! normalisation): torchvision's tensor functions are defined on exactly this, which is what
//! makes bit-for-bit parity tests possible.

use image::RgbImage;

/// A 3-channel image as three `height * width` float planes (R, G, B), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ChwImage {
    pub height: usize,
    pub width: usize,
    /// `3 * height * width` values, channel-major.
    pub data: Vec<f32>,
}

impl ChwImage {
    /// An image filled with one value (white = 1.0 before normalisation).
    pub fn filled(height: usize, width: usize, value: f32) -> Self {
        ChwImage {
            height,
            width,
            data: vec![value; 3 * height * width],
        }
    }

    /// Number of pixels in one plane.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// The three planes, mutably, for ops that mix channels.
    pub fn planes_mut(&mut self) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let n = self.plane_len();
        let (r, gb) = self.data.split_at_mut(n);
        let (g, b) = gb.split_at_mut(n);
        (r, g, b)
    }

    /// Converts an 8-bit page to floats in [0, 1] (`ToTensor` semantics).
    pub fn from_rgb8(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let n = w * h;
        let mut data = vec![0f32; 3 * n];
        for (i, p) in img.as_raw().chunks_exact(3).enumerate() {
            data[i] = p[0] as f32 / 255.0;
            data[n + i] = p[1] as f32 / 255.0;
            data[2 * n + i] = p[2] as f32 / 255.0;
        }
        ChwImage {
            height: h,
            width: w,
            data,
        }
    }

    /// Converts back to 8 bits (clamped, rounded) to look at augmented views.
    pub fn to_rgb8(&self) -> RgbImage {
        let n = self.plane_len();
        let mut raw = Vec::with_capacity(3 * n);
        for i in 0..n {
            for c in 0..3 {
                raw.push((self.data[c * n + i].clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        // The buffer length matches by construction; fall back to black on the impossible.
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .unwrap_or_else(|| RgbImage::new(self.width as u32, self.height as u32))
    }
}
