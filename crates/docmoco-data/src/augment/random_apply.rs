//! `RandomApply(p)`: run an op with probability `p`.
//!
//! MoCo v2's "aug+" applies colour jitter with p = 0.8 and blur with p = 0.5; v3 makes the
//! two views asymmetric only through these probabilities (blur 1.0 / 0.1, solarize 0 / 0.2).

use rand::Rng;

use super::ChwImage;

/// An op that draws its own random parameters.
pub trait RandomOp {
    fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R);
}

/// Applies `op` with probability `p` (p >= 1 always, p <= 0 never).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomApply<T> {
    pub p: f64,
    pub op: T,
}

impl<T: RandomOp> RandomApply<T> {
    pub fn new(p: f64, op: T) -> Self {
        RandomApply { p, op }
    }

    pub fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R) {
        // One draw whatever `p` is, so changing `p` does not shift the other ops' draws.
        if rng.gen::<f64>() < self.p {
            self.op.apply(img, rng);
        }
    }
}
