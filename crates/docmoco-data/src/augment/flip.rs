//! `RandomHorizontalFlip`, off by default for documents.
//!
//! MoCo flips natural images with p = 0.5 because a mirrored dog is still a dog. A mirrored
//! page is not a document any more: text direction, the left margin and reading order carry
//! meaning, and the encoder should not be taught to ignore them. The presets therefore keep
//! the op with p = 0, visible in the run config, so an experiment can turn it back on.

use rand::Rng;

use super::ChwImage;

/// Mirrors every row.
pub fn hflip(img: &mut ChwImage) {
    let w = img.width;
    if w == 0 {
        return;
    }
    for row in img.data.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Flips with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizontalFlip {
    pub p: f64,
}

impl HorizontalFlip {
    pub fn apply<R: Rng + ?Sized>(&self, img: &mut ChwImage, rng: &mut R) {
        if rng.gen::<f64>() < self.p {
            hflip(img);
        }
    }
}
