//! Picking the compute device.
//!
//! The default is burn's pure-Rust CPU backend `flex` (multi-threaded with its `rayon` feature,
//! SIMD kernels with `simd`). GPU backends are cargo features of this crate, off by default,
//! because some of them download toolchains at build time.

use burn::tensor::Device;

/// The plain (non-autodiff) device named by `name`: `cpu`/`flex` (default), `wgpu` when
/// built with the `wgpu` feature, `cuda` (or `cuda:N`) when built with `cuda`.
pub fn select(name: &str) -> Result<Device, String> {
    match name {
        "" | "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" | "gpu" => Ok(Device::wgpu(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "cuda")]
        other if other.starts_with("cuda:") => other[5..]
            .parse::<usize>()
            .map(Device::cuda)
            .map_err(|_| format!("bad GPU index in `{other}` (cuda:0, cuda:1, ...)")),
        other => Err(format!(
            "unknown device `{other}` (available: {})",
            available().join(", ")
        )),
    }
}

/// The device names this build accepts.
pub fn available() -> Vec<&'static str> {
    let mut names = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// The devices of a run: `devices` when it names any (data parallelism), else `device`.
pub fn select_all(device: &str, devices: &[String]) -> Result<Vec<Device>, String> {
    if devices.is_empty() {
        return Ok(vec![select(device)?]);
    }
    devices.iter().map(|d| select(d)).collect()
}
