//! `RandomSolarize`: invert pixels above a threshold.
//!
//! MoCo v3 (after BYOL) solarises the second view with p = 0.2: a strong, cheap photometric
//! change that keeps edges, hence text strokes, intact.

use rand::Rng;

use super::{random_apply::RandomOp, ChwImage};

/// `F.solarize` on floats: `where(x >= threshold, 1 - x, x)`.
pub fn solarize(img: &mut ChwImage, threshold: f32) {
    for v in &mut img.data {
        if *v >= threshold {
            *v = 1.0 - *v;
        }
    }
}

/// Solarisation at a fixed threshold (0.5 = PIL's 128 on 8-bit images).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solarize {
    pub threshold: f32,
}

impl RandomOp for Solarize {
    fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, _rng: &mut R) {
        solarize(img, self.threshold);
    }
}
