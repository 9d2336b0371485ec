//! The backbone-shape flags every downstream command takes (`--arch`, `--width-mult`,
//! `--small-stem`, `--patch-size`): by default the shape comes from the init (the MoCo run's
//! config or the weights file); each flag replaces one part of it.

use anyhow::{Context, Result};
use clap::Args;
use docmoco::model::ResNetArch;
use docmoco::tasks::init::ArchOverrides;
use docmoco::train::config::VitParams;

#[derive(Args, Debug, Clone, Default)]
pub struct ArchArgs {
    /// Backbone: resnet18, resnet34, resnet50, vit_tiny, vit_small, vit_base (default: from
    /// the init — the MoCo run's config or the weights' shapes).
    #[arg(long)]
    pub arch: Option<String>,
    /// ViT patch size (default: the run's, 16 for a ViT preset).
    #[arg(long)]
    pub patch_size: Option<usize>,
    /// Width multiplier (default: from the init; 0.25 for random without a MoCo run).
    #[arg(long)]
    pub width_mult: Option<f64>,
    /// 3x3 stride-1 stem without max-pool (default: from the init).
    #[arg(long)]
    pub small_stem: Option<bool>,
}

pub fn parse_arch(name: &str) -> Result<ResNetArch> {
    ResNetArch::parse(name).with_context(|| {
        format!("invalid value for `--arch`: `{name}` (expected resnet18, resnet34, resnet50, vit_tiny, vit_small or vit_base)")
    })
}

impl ArchArgs {
    pub fn overrides(&self) -> Result<ArchOverrides> {
        let (mut arch, mut vit) = (None, None);
        if let Some(name) = self.arch.as_deref() {
            match VitParams::preset(name) {
                Some(v) => vit = Some(v),
                None => arch = Some(parse_arch(name)?),
            }
        }
        Ok(ArchOverrides {
            arch,
            vit,
            patch_size: self.patch_size,
            width_mult: self.width_mult,
            small_stem: self.small_stem,
        })
    }
}
