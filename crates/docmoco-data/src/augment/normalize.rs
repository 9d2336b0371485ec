//! `Normalize { mean, std }`: the last step, per-channel standardisation.

use serde::{Deserialize, Serialize};

use super::ChwImage;

/// ImageNet channel means, kept so ImageNet-initialised baselines see the same input scale.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// `F.normalize`: `(x - mean[c]) / std[c]`, in f32 like torchvision's float tensors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize {
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }
}

impl Normalize {
    pub fn apply(&self, img: &mut ChwImage) {
        let n = img.plane_len();
        for (c, plane) in img.data.chunks_exact_mut(n.max(1)).enumerate().take(3) {
            let (m, s) = (self.mean[c] as f32, self.std[c] as f32);
            for v in plane {
                *v = (*v - m) / s;
            }
        }
    }
}
