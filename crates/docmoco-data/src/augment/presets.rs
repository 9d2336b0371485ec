//! Augmentation configs: plain data, written into the run's `config.toml`.
//!
//! MoCo versions differ in their augmentations only by values and order, so a preset is a
//! constructor that fills an [`AugmentConfig`]; nothing else branches on the version.
//! Horizontal flip stays in every preset with `p = 0` (see [`super::flip`] for why
//! documents must not be mirrored) so it is visible and can be switched on from the config.
//!
//! ```toml
//! size = 224
//! [geometry]
//! kind = "random_resized_crop"
//! scale = [0.2, 1.0]
//! ratio = [0.75, 1.3333333333333333]
//! [[ops]]
//! op = "color_jitter"
//! p = 0.8
//! brightness = 0.4
//! # ...
//! ```

use serde::{Deserialize, Serialize};

use super::normalize::Normalize;

/// The first, geometric step: page (u8) to a `size x size` float image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GeometryConfig {
    /// torchvision `RandomResizedCrop(size, scale, ratio)`, bilinear with antialias.
    RandomResizedCrop {
        /// Crop area as a fraction of the page area.
        scale: [f64; 2],
        /// Crop aspect ratio `w / h`, sampled log-uniformly.
        ratio: [f64; 2],
        /// Ink-aware crops: redraw (up to 10 times) a crop whose fraction of ink (non-paper) pixels is
        /// below this, keeping the inkiest; `None` = torchvision's plain crop. Page margins
        /// are blank, and two blank crops of one page are a positive pair with nothing to learn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_ink: Option<f64>,
    },
    /// Whole page to `size x size`, squashed or (with `pad`) letterboxed on white.
    ResizeToSquare { pad: bool },
    /// `Resize(resize)` on the shorter side, then `CenterCrop(size)`.
    ResizeCenterCrop { resize: u32 },
}

/// A photometric op on the float image, applied in list order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpConfig {
    /// `RandomApply([ColorJitter(brightness, contrast, saturation, hue)], p)`.
    ColorJitter {
        p: f64,
        brightness: f64,
        contrast: f64,
        saturation: f64,
        hue: f64,
    },
    /// `RandomGrayscale(p)`.
    Grayscale { p: f64 },
    /// `RandomApply([GaussianBlur(sigma uniform in sigma)], p)`.
    GaussianBlur { p: f64, sigma: [f64; 2] },
    /// `RandomApply([Solarize(threshold)], p)`.
    Solarize { p: f64, threshold: f64 },
    /// `RandomHorizontalFlip(p)`; 0 for documents.
    HorizontalFlip { p: f64 },
}

/// One view's augmentation: geometry, photometric ops, normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Output side in pixels (views are square).
    pub size: u32,
    pub geometry: GeometryConfig,
    #[serde(default)]
    pub ops: Vec<OpConfig>,
    /// `None` leaves values in [0, 1].
    #[serde(default)]
    pub normalize: Option<Normalize>,
}

/// torchvision's default ratio range for `RandomResizedCrop`.
const RATIO: [f64; 2] = [3.0 / 4.0, 4.0 / 3.0];
/// MoCo v2's blur sigma range (SimCLR's).
const BLUR_SIGMA: [f64; 2] = [0.1, 2.0];

fn rrc(min_scale: f64) -> GeometryConfig {
    GeometryConfig::RandomResizedCrop {
        scale: [min_scale, 1.0],
        ratio: RATIO,
        min_ink: None,
    }
}

fn no_flip() -> OpConfig {
    OpConfig::HorizontalFlip { p: 0.0 }
}

impl AugmentConfig {
    /// MoCo v1 (`main_moco.py` without `--aug-plus`): RRC(0.2-1) -> grayscale 0.2 ->
    /// ColorJitter(0.4, 0.4, 0.4, 0.4) always -> (flip off) -> ImageNet normalisation.
    pub fn moco_v1(size: u32) -> Self {
        AugmentConfig {
            size,
            geometry: rrc(0.2),
            ops: vec![
                OpConfig::Grayscale { p: 0.2 },
                OpConfig::ColorJitter {
                    p: 1.0,
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.4,
                    hue: 0.4,
                },
                no_flip(),
            ],
            normalize: Some(Normalize::default()),
        }
    }

    /// MoCo v2 "aug+": RRC(0.2-1) -> ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8 -> grayscale 0.2
    /// -> blur sigma in [0.1, 2] p 0.5 -> (flip off) -> ImageNet normalisation.
    pub fn moco_v2(size: u32) -> Self {
        Self::v2_shape(size, (0.4, 0.1), 0.2)
    }

    /// Documents ("doc"): RRC(0.2-1) -> brightness/contrast jitter (0.4, 0.4) p 0.8, no hue
    /// or saturation (pages are black on white; colour shifts teach nothing about them) ->
    /// grayscale always (the scanner-independent view of a page) -> blur sigma in [0.1, 2]
    /// p 0.5 (scan softness) -> (flip off) -> ImageNet normalisation.
    pub fn doc(size: u32) -> Self {
        Self::v2_shape(size, (0.0, 0.0), 1.0)
    }

    /// The "aug+" sequence with the colour part as a parameter: jitter `(saturation, hue)` and
    /// the grayscale probability; brightness/contrast 0.4 at p 0.8 and blur p 0.5 as in v2.
    fn v2_shape(size: u32, (saturation, hue): (f64, f64), grayscale_p: f64) -> Self {
        AugmentConfig {
            size,
            geometry: rrc(0.2),
            ops: vec![
                OpConfig::ColorJitter {
                    p: 0.8,
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation,
                    hue,
                },
                OpConfig::Grayscale { p: grayscale_p },
                OpConfig::GaussianBlur {
                    p: 0.5,
                    sigma: BLUR_SIGMA,
                },
                no_flip(),
            ],
            normalize: Some(Normalize::default()),
        }
    }

    /// MoCo v3 view shared part; the views differ only in blur and solarize probability.
    fn moco_v3(size: u32, blur_p: f64, solarize_p: f64) -> Self {
        AugmentConfig {
            size,
            geometry: rrc(0.08),
            ops: vec![
                OpConfig::ColorJitter {
                    p: 0.8,
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.2,
                    hue: 0.1,
                },
                OpConfig::Grayscale { p: 0.2 },
                OpConfig::GaussianBlur {
                    p: blur_p,
                    sigma: BLUR_SIGMA,
                },
                OpConfig::Solarize {
                    p: solarize_p,
                    threshold: 0.5,
                },
                no_flip(),
            ],
            normalize: Some(Normalize::default()),
        }
    }

    /// MoCo v3 first view (BYOL's asymmetric recipe): RRC crop_min 0.08, jitter
    /// (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, blur p 1.0, no solarize.
    pub fn moco_v3_view1(size: u32) -> Self {
        Self::moco_v3(size, 1.0, 0.0)
    }

    /// MoCo v3 second view: as view 1 but blur p 0.1 and solarize p 0.2.
    pub fn moco_v3_view2(size: u32) -> Self {
        Self::moco_v3(size, 0.1, 0.2)
    }

    /// Evaluation (kNN monitor, linear probe, fine-tune eval): whole page squashed to
    /// `size x size`, then ImageNet normalisation. Deterministic.
    pub fn eval(size: u32) -> Self {
        AugmentConfig {
            size,
            geometry: GeometryConfig::ResizeToSquare { pad: false },
            ops: Vec::new(),
            normalize: Some(Normalize::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_round_trip_through_toml() {
        for cfg in [
            AugmentConfig::moco_v1(64),
            AugmentConfig::moco_v2(224),
            AugmentConfig::doc(96),
            AugmentConfig::moco_v3_view1(96),
            AugmentConfig::moco_v3_view2(96),
            AugmentConfig::eval(128),
        ] {
            let text = toml::to_string(&cfg).unwrap();
            let back: AugmentConfig = toml::from_str(&text).unwrap();
            assert_eq!(back, cfg, "{text}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = "size = 8\n[geometry]\nkind = \"resize_to_square\"\npad = true\nfoo = 1\n";
        assert!(toml::from_str::<AugmentConfig>(text).is_err());
    }
}
