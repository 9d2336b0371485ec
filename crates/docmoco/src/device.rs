//! Picking the compute device.
//!
//! The default is burn's pure-Rust CPU backend `flex` (multi-threaded with its `rayon` feature,
//! SIMD kernels with `simd`). GPU backends are cargo features of this crate, off by default,
//! because some of them download toolchains at build time.

use burn::tensor::Device;

/// The plain (non-autodiff) device named by `name`: `cpu`/`flex` (default), or `wgpu` when
/// built with the `wgpu` feature.
pub fn select(name: &str) -> Result<Device, String> {
    match name {
        "" | "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" | "gpu" => Ok(Device::wgpu(Default::default())),
        other => Err(format!(
            "unknown device `{other}` (available: cpu{})",
            if cfg!(feature = "wgpu") { ", wgpu" } else { "" }
        )),
    }
}
