//! Two independent views per page: MoCo's query and key.
//!
//! `TwoCropsTransform` in the reference applies one transform twice; MoCo v3 (after BYOL)
//! uses two different pipelines, so both are stored. Each view draws from its own stream
//! ([`crate::rng::view_rng`] with view 0 or 1): the views are independent, and a view does
//! not change when the other pipeline's config changes — unless `min_overlap` asks for the
//! key's crop to be drawn next to the query's (a document lever: see
//! [`super::RandomResizedCrop::crop_near`]).

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::pipeline::Pipeline;
use super::presets::AugmentConfig;
use super::random_resized_crop::Anchor;
use crate::rng::view_rng;
use crate::DataError;

/// Both views' configs, as written into a run config (`[augment.query]`, `[augment.key]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoViewsConfig {
    pub query: AugmentConfig,
    pub key: AugmentConfig,
    /// The key's crop shares at least this fraction of the smaller crop's area with the
    /// query's crop; `None`: independent crops, as in the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_overlap: Option<f64>,
}

impl TwoViewsConfig {
    /// The same config for both views.
    pub fn symmetric(config: AugmentConfig) -> Self {
        TwoViewsConfig {
            query: config.clone(),
            key: config,
            min_overlap: None,
        }
    }

    /// MoCo v1: [`AugmentConfig::moco_v1`] twice.
    pub fn moco_v1(size: u32) -> Self {
        Self::symmetric(AugmentConfig::moco_v1(size))
    }

    /// MoCo v2: [`AugmentConfig::moco_v2`] twice.
    pub fn moco_v2(size: u32) -> Self {
        Self::symmetric(AugmentConfig::moco_v2(size))
    }

    /// MoCo v3: the asymmetric BYOL pair (view 1 as query, view 2 as key; the symmetrised
    /// loss uses both orders anyway).
    pub fn moco_v3(size: u32) -> Self {
        TwoViewsConfig {
            query: AugmentConfig::moco_v3_view1(size),
            key: AugmentConfig::moco_v3_view2(size),
            min_overlap: None,
        }
    }
}

/// The query and key pipelines.
#[derive(Debug, Clone)]
pub struct TwoViews {
    pub query: Pipeline,
    pub key: Pipeline,
    /// See [`TwoViewsConfig::min_overlap`].
    pub min_overlap: Option<f64>,
}

impl TwoViews {
    /// The same pipeline for both views (MoCo v1/v2).
    pub fn symmetric(pipeline: Pipeline) -> Self {
        TwoViews {
            query: pipeline.clone(),
            key: pipeline,
            min_overlap: None,
        }
    }

    /// Two pipelines (MoCo v3); they must produce the same view size so they batch alike.
    pub fn asymmetric(query: Pipeline, key: Pipeline) -> Result<Self, DataError> {
        if query.output_size() != key.output_size() {
            return Err(DataError::Config {
                field: "size".into(),
                message: format!(
                    "query and key views differ in size ({:?} vs {:?})",
                    query.output_size(),
                    key.output_size()
                ),
            });
        }
        Ok(TwoViews {
            query,
            key,
            min_overlap: None,
        })
    }

    /// Validates and builds both pipelines.
    pub fn from_config(config: &TwoViewsConfig) -> Result<Self, DataError> {
        let mut views = Self::asymmetric(
            Pipeline::from_config(&config.query)?,
            Pipeline::from_config(&config.key)?,
        )?;
        if let Some(m) = config.min_overlap {
            let field = "min_overlap";
            if !(m > 0.0 && m <= 1.0) {
                let message = format!("{m} must be in (0, 1]");
                return Err(DataError::Config {
                    field: field.into(),
                    message,
                });
            }
            if !(views.query.crops_randomly() && views.key.crops_randomly()) {
                let message = "needs random crops for both views".to_string();
                return Err(DataError::Config {
                    field: field.into(),
                    message,
                });
            }
            views.min_overlap = Some(m);
        }
        Ok(views)
    }

    /// Both views of sample `index` in `epoch`, into two output slots.
    pub fn apply_into(
        &self,
        page: &RgbImage,
        (seed, epoch, index): (u64, u64, u64),
        query: &mut [f32],
        key: &mut [f32],
    ) {
        let mut rng = view_rng(seed, epoch, index, 0);
        let crop = self.query.apply_into_near(page, None, &mut rng, query);
        let anchor = crop
            .zip(self.min_overlap)
            .map(|(rect, min_overlap)| Anchor { rect, min_overlap });
        self.key
            .apply_into_near(page, anchor, &mut view_rng(seed, epoch, index, 1), key);
    }

    /// Both views of sample `index` in `epoch`, as `(query, key)`.
    pub fn apply(
        &self,
        page: &RgbImage,
        seed: u64,
        epoch: u64,
        index: u64,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut q = vec![0f32; self.query.output_len()];
        let mut k = vec![0f32; self.key.output_len()];
        self.apply_into(page, (seed, epoch, index), &mut q, &mut k);
        (q, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;

    #[test]
    fn views_are_independent_and_reproducible() {
        let page = RgbImage::from_fn(40, 60, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 4) as u8, 90])
        });
        let v = TwoViews::asymmetric(
            Pipeline::from_config(&AugmentConfig::moco_v3_view1(16)).unwrap(),
            Pipeline::from_config(&AugmentConfig::moco_v3_view2(16)).unwrap(),
        )
        .unwrap();
        let (q, k) = v.apply(&page, 7, 0, 3);
        assert_ne!(q, k);
        assert_eq!((q.clone(), k), v.apply(&page, 7, 0, 3));
        assert_ne!(q, v.apply(&page, 7, 1, 3).0);
        let cfg = TwoViewsConfig::moco_v3(16);
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(toml::from_str::<TwoViewsConfig>(&text).unwrap(), cfg);
        let from_cfg = TwoViews::from_config(&cfg).unwrap();
        assert_eq!(from_cfg.apply(&page, 7, 0, 3), v.apply(&page, 7, 0, 3));
        let bad = Pipeline::from_config(&AugmentConfig::eval(8)).unwrap();
        assert!(TwoViews::asymmetric(v.query.clone(), bad).is_err());
    }

    /// The crops of `page`'s two views, read back from where each view's marker lands.
    #[test]
    fn min_overlap_draws_the_key_next_to_the_query_and_is_validated() {
        // Every pixel encodes its position, so a view's top-left value gives its crop's corner.
        let page = RgbImage::from_fn(200, 200, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let mut view = AugmentConfig::moco_v2(8);
        view.ops.clear();
        view.normalize = None;
        if let crate::augment::GeometryConfig::RandomResizedCrop { scale, .. } = &mut view.geometry
        {
            *scale = [0.04, 0.05];
        }
        let mut cfg = TwoViewsConfig::symmetric(view.clone());
        let free = TwoViews::from_config(&cfg).unwrap();
        cfg.min_overlap = Some(0.5);
        let near = TwoViews::from_config(&cfg).unwrap();
        let corner = |v: &[f32]| (v[0] * 255.0, v[64] * 255.0);
        let (mut close_free, mut close_near) = (0, 0);
        for i in 0..200 {
            let (qf, kf) = free.apply(&page, 3, 0, i);
            let (qn, kn) = near.apply(&page, 3, 0, i);
            // The query is the same view with or without the option.
            assert_eq!(qf, qn);
            let dist = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).abs().max((a.1 - b.1).abs());
            // Crops are about 40-45 px wide: corners within 25 px share over half the area.
            close_free += usize::from(dist(corner(&qf), corner(&kf)) < 25.0);
            close_near += usize::from(dist(corner(&qn), corner(&kn)) < 25.0);
        }
        assert!(close_free < 40, "{close_free}");
        assert!(close_near > 190, "{close_near}");
        for bad in [0.0, 1.5, f64::NAN] {
            cfg.min_overlap = Some(bad);
            assert!(TwoViews::from_config(&cfg).is_err(), "{bad}");
        }
        let mut whole = TwoViewsConfig::symmetric(AugmentConfig::eval(8));
        whole.min_overlap = Some(0.5);
        assert!(TwoViews::from_config(&whole).is_err());
    }
}
