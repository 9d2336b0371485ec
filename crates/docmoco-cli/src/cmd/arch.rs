//! The backbone-shape flags every downstream command takes (`--arch`, `--width-mult`,
//! `--small-stem`): by default the shape comes from the init (the MoCo run's config or the
//! weights file); each flag replaces one part of it.

use anyhow::{Context, Result};
use clap::Args;
use docmoco::model::ResNetArch;
use docmoco::tasks::init::ArchOverrides;

#[derive(Args, Debug, Clone, Default)]
pub struct ArchArgs {
    /// Backbone depth (default: from the init — the MoCo run's config or the weights' shapes).
    #[arg(long)]
    pub arch: Option<String>,
    /// Width multiplier (default: from the init; 0.25 for random without a MoCo run).
    #[arg(long)]
    pub width_mult: Option<f64>,
    /// 3x3 stride-1 stem without max-pool (default: from the init).
    #[arg(long)]
    pub small_stem: Option<bool>,
}

pub fn parse_arch(name: &str) -> Result<ResNetArch> {
    ResNetArch::parse(name).with_context(|| {
        format!("invalid value for `--arch`: `{name}` (expected resnet18, resnet34 or resnet50)")
    })
}

impl ArchArgs {
    pub fn overrides(&self) -> Result<ArchOverrides> {
        Ok(ArchOverrides {
            arch: self.arch.as_deref().map(parse_arch).transpose()?,
            width_mult: self.width_mult,
            small_stem: self.small_stem,
        })
    }
}
