//! A validated [`AugmentConfig`], ready to run.
//!
//! Validation happens once here so the hot path has no error handling: a bad value in a
//! run config fails at start-up with the field's name, not in a worker thread mid-epoch.

use image::RgbImage;
use rand::Rng;

use super::color_jitter::ColorJitter;
use super::flip::HorizontalFlip;
use super::gaussian_blur::GaussianBlur;
use super::grayscale::RandomGrayscale;
use super::normalize::Normalize;
use super::presets::{AugmentConfig, GeometryConfig, OpConfig};
use super::random_apply::RandomApply;
use super::random_resized_crop::{Anchor, RandomResizedCrop};
use super::resize::{ResizeCenterCrop, ResizeToSquare};
use super::solarize::Solarize;
use super::ChwImage;
use crate::resample::Rect;
use crate::DataError;

#[derive(Debug, Clone)]
enum Geometry {
    RandomResizedCrop(RandomResizedCrop),
    ResizeToSquare(ResizeToSquare),
    ResizeCenterCrop(ResizeCenterCrop),
}

#[derive(Debug, Clone)]
enum Op {
    ColorJitter(RandomApply<ColorJitter>),
    Grayscale(RandomGrayscale),
    GaussianBlur(RandomApply<GaussianBlur>),
    Solarize(RandomApply<Solarize>),
    HorizontalFlip(HorizontalFlip),
}

/// A runnable augmentation pipeline producing `3 x size x size` normalised floats.
#[derive(Debug, Clone)]
pub struct Pipeline {
    config: AugmentConfig,
    geometry: Geometry,
    ops: Vec<Op>,
    normalize: Option<Normalize>,
}

fn check(ok: bool, field: &str, message: &str) -> Result<(), DataError> {
    if ok {
        Ok(())
    } else {
        Err(DataError::Config {
            field: field.to_string(),
            message: message.to_string(),
        })
    }
}

fn check_p(p: f64, field: &str) -> Result<(), DataError> {
    check(
        (0.0..=1.0).contains(&p),
        field,
        "probability must be in [0, 1]",
    )
}

fn check_range(r: [f64; 2], field: &str) -> Result<(), DataError> {
    check(
        r[0].is_finite() && r[1].is_finite() && 0.0 < r[0] && r[0] <= r[1],
        field,
        "range must satisfy 0 < min <= max",
    )
}

impl Pipeline {
    /// Validates `config` and builds the ops.
    pub fn from_config(config: &AugmentConfig) -> Result<Self, DataError> {
        let size = config.size as usize;
        check(size > 0, "size", "must be at least 1")?;
        let geometry = match &config.geometry {
            GeometryConfig::RandomResizedCrop {
                scale,
                ratio,
                min_ink,
            } => {
                check_range(*scale, "geometry.scale")?;
                check(scale[1] <= 1.0, "geometry.scale", "max must be <= 1")?;
                check_range(*ratio, "geometry.ratio")?;
                if let Some(ink) = min_ink {
                    check(
                        (0.0..1.0).contains(ink),
                        "geometry.min_ink",
                        "must be in [0, 1)",
                    )?;
                }
                Geometry::RandomResizedCrop(RandomResizedCrop {
                    size,
                    scale: (scale[0], scale[1]),
                    ratio: (ratio[0], ratio[1]),
                    min_ink: *min_ink,
                })
            }
            GeometryConfig::ResizeToSquare { pad } => {
                Geometry::ResizeToSquare(ResizeToSquare { size, pad: *pad })
            }
            GeometryConfig::ResizeCenterCrop { resize } => {
                check(
                    *resize as usize >= size,
                    "geometry.resize",
                    "must be >= size (the centre crop must fit)",
                )?;
                Geometry::ResizeCenterCrop(ResizeCenterCrop {
                    resize: *resize as usize,
                    size,
                })
            }
        };
        let mut ops = Vec::with_capacity(config.ops.len());
        for (i, op) in config.ops.iter().enumerate() {
            let f = |name: &str| format!("ops[{i}].{name}");
            ops.push(match op {
                OpConfig::ColorJitter {
                    p,
                    brightness,
                    contrast,
                    saturation,
                    hue,
                } => {
                    check_p(*p, &f("p"))?;
                    for (v, name) in [
                        (brightness, "brightness"),
                        (contrast, "contrast"),
                        (saturation, "saturation"),
                    ] {
                        check(v.is_finite() && *v >= 0.0, &f(name), "must be >= 0")?;
                    }
                    check((0.0..=0.5).contains(hue), &f("hue"), "must be in [0, 0.5]")?;
                    let cj = ColorJitter {
                        brightness: *brightness,
                        contrast: *contrast,
                        saturation: *saturation,
                        hue: *hue,
                    };
                    Op::ColorJitter(RandomApply::new(*p, cj))
                }
                OpConfig::Grayscale { p } => {
                    check_p(*p, &f("p"))?;
                    Op::Grayscale(RandomGrayscale { p: *p })
                }
                OpConfig::GaussianBlur { p, sigma } => {
                    check_p(*p, &f("p"))?;
                    check_range(*sigma, &f("sigma"))?;
                    check(sigma[1] <= 64.0, &f("sigma"), "must be <= 64 pixels")?;
                    let blur = GaussianBlur {
                        sigma: (sigma[0], sigma[1]),
                    };
                    Op::GaussianBlur(RandomApply::new(*p, blur))
                }
                OpConfig::Solarize { p, threshold } => {
                    check_p(*p, &f("p"))?;
                    check(threshold.is_finite(), &f("threshold"), "must be finite")?;
                    let s = Solarize {
                        threshold: *threshold as f32,
                    };
                    Op::Solarize(RandomApply::new(*p, s))
                }
                OpConfig::HorizontalFlip { p } => {
                    check_p(*p, &f("p"))?;
                    Op::HorizontalFlip(HorizontalFlip { p: *p })
                }
            });
        }
        if let Some(n) = &config.normalize {
            for c in 0..3 {
                check(n.mean[c].is_finite(), "normalize.mean", "must be finite")?;
                check(
                    n.std[c].is_finite() && n.std[c] > 0.0,
                    "normalize.std",
                    "must be > 0",
                )?;
            }
        }
        Ok(Pipeline {
            config: config.clone(),
            geometry,
            ops,
            normalize: config.normalize,
        })
    }

    /// The config this pipeline was built from.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Output `(height, width)`.
    pub fn output_size(&self) -> (usize, usize) {
        let s = self.config.size as usize;
        (s, s)
    }

    /// Number of floats per view: `3 * height * width`.
    pub fn output_len(&self) -> usize {
        let (h, w) = self.output_size();
        3 * h * w
    }

    /// Geometry and photometric ops, without normalisation (values in [0, 1]); for
    /// looking at augmented views with [`ChwImage::to_rgb8`].
    pub fn apply_unnormalized<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        self.apply_unnormalized_near(page, None, rng).0
    }

    /// [`Self::apply_unnormalized`] with the random crop drawn next to `anchor` (when both
    /// are there); also returns the random crop, if the geometry is one.
    fn apply_unnormalized_near<R: Rng + ?Sized>(
        &self,
        page: &RgbImage,
        anchor: Option<Anchor>,
        rng: &mut R,
    ) -> (ChwImage, Option<Rect>) {
        let (mut img, crop) = match &self.geometry {
            Geometry::RandomResizedCrop(g) => {
                let (img, crop) = g.apply_near(page, anchor, rng);
                (img, Some(crop))
            }
            Geometry::ResizeToSquare(g) => (g.apply(page), None),
            Geometry::ResizeCenterCrop(g) => (g.apply(page), None),
        };
        for op in &self.ops {
            match op {
                Op::ColorJitter(o) => o.apply(&mut img, rng),
                Op::Grayscale(o) => o.apply(&mut img, rng),
                Op::GaussianBlur(o) => o.apply(&mut img, rng),
                Op::Solarize(o) => o.apply(&mut img, rng),
                Op::HorizontalFlip(o) => o.apply(&mut img, rng),
            }
        }
        (img, crop)
    }

    /// Whether the geometry is a random crop (the only one a view can be drawn next to).
    pub fn crops_randomly(&self) -> bool {
        matches!(self.geometry, Geometry::RandomResizedCrop(_))
    }

    /// The full pipeline as a CHW image.
    pub fn apply_image<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> ChwImage {
        self.apply_image_near(page, None, rng).0
    }

    /// [`Self::apply_image`] with the random crop drawn next to `anchor`; also the crop.
    fn apply_image_near<R: Rng + ?Sized>(
        &self,
        page: &RgbImage,
        anchor: Option<Anchor>,
        rng: &mut R,
    ) -> (ChwImage, Option<Rect>) {
        let (mut img, crop) = self.apply_unnormalized_near(page, anchor, rng);
        if let Some(n) = &self.normalize {
            n.apply(&mut img);
        }
        (img, crop)
    }

    /// The full pipeline: `3 * size * size` floats, CHW.
    pub fn apply<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R) -> Vec<f32> {
        self.apply_image(page, rng).data
    }

    /// Writes the view into `out` (length [`Self::output_len`]), e.g. a slot of a batch.
    pub fn apply_into<R: Rng + ?Sized>(&self, page: &RgbImage, rng: &mut R, out: &mut [f32]) {
        self.apply_into_near(page, None, rng, out);
    }

    /// [`Self::apply_into`] with the random crop drawn next to `anchor`; returns the crop.
    pub fn apply_into_near<R: Rng + ?Sized>(
        &self,
        page: &RgbImage,
        anchor: Option<Anchor>,
        rng: &mut R,
        out: &mut [f32],
    ) -> Option<Rect> {
        let (img, crop) = self.apply_image_near(page, anchor, rng);
        let n = out.len().min(img.data.len());
        out[..n].copy_from_slice(&img.data[..n]);
        crop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn page() -> RgbImage {
        RgbImage::from_fn(37, 53, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        })
    }

    #[test]
    fn every_preset_produces_finite_views_of_the_right_size() {
        for cfg in [
            AugmentConfig::moco_v1(16),
            AugmentConfig::moco_v2(16),
            AugmentConfig::moco_v3_view1(16),
            AugmentConfig::moco_v3_view2(16),
            AugmentConfig::eval(16),
        ] {
            let p = Pipeline::from_config(&cfg).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for _ in 0..5 {
                let v = p.apply(&page(), &mut rng);
                assert_eq!(v.len(), 3 * 16 * 16);
                assert!(v.iter().all(|x| x.is_finite()));
            }
        }
    }

    #[test]
    fn same_rng_same_view() {
        let p = Pipeline::from_config(&AugmentConfig::moco_v2(12)).unwrap();
        let a = p.apply(&page(), &mut ChaCha8Rng::seed_from_u64(9));
        let b = p.apply(&page(), &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut cfg = AugmentConfig::moco_v2(12);
        cfg.ops[2] = OpConfig::GaussianBlur {
            p: 1.5,
            sigma: [0.1, 2.0],
        };
        let e = Pipeline::from_config(&cfg).unwrap_err();
        assert!(e.to_string().contains("ops[2].p"), "{e}");
        let mut cfg = AugmentConfig::eval(12);
        cfg.size = 0;
        assert!(Pipeline::from_config(&cfg).is_err());
    }
}
