//! Two independent views per page: MoCo's query and key.
//!
//! `TwoCropsTransform` in the reference applies one transform twice; MoCo v3 (after BYOL)
//! uses two different pipelines, so both are stored. Each view draws from its own stream
//! ([`crate::rng::view_rng`] with view 0 or 1): the views are independent, and a view does
//! not change when the other pipeline's config changes.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::pipeline::Pipeline;
use super::presets::AugmentConfig;
use crate::rng::view_rng;
use crate::DataError;

/// Both views' configs, as written into a run config (`[augment.query]`, `[augment.key]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoViewsConfig {
    pub query: AugmentConfig,
    pub key: AugmentConfig,
}

impl TwoViewsConfig {
    /// The same config for both views.
    pub fn symmetric(config: AugmentConfig) -> Self {
        TwoViewsConfig {
            query: config.clone(),
            key: config,
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
        }
    }
}

/// The query and key pipelines.
#[derive(Debug, Clone)]
pub struct TwoViews {
    pub query: Pipeline,
    pub key: Pipeline,
}

impl TwoViews {
    /// The same pipeline for both views (MoCo v1/v2).
    pub fn symmetric(pipeline: Pipeline) -> Self {
        TwoViews {
            query: pipeline.clone(),
            key: pipeline,
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
        Ok(TwoViews { query, key })
    }

    /// Validates and builds both pipelines.
    pub fn from_config(config: &TwoViewsConfig) -> Result<Self, DataError> {
        Self::asymmetric(
            Pipeline::from_config(&config.query)?,
            Pipeline::from_config(&config.key)?,
        )
    }

    /// Both views of sample `index` in `epoch`, into two output slots.
    pub fn apply_into(
        &self,
        page: &RgbImage,
        (seed, epoch, index): (u64, u64, u64),
        query: &mut [f32],
        key: &mut [f32],
    ) {
        self.query
            .apply_into(page, &mut view_rng(seed, epoch, index, 0), query);
        self.key
            .apply_into(page, &mut view_rng(seed, epoch, index, 1), key);
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
}
