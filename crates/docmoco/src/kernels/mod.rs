//! Compute kernels docmoco supplies to burn through its backend-extension mechanism, where
//! burn's own are the bottleneck (docs/performance.md).

pub mod batch_norm;
pub mod batch_norm_cpu;
pub mod conv2d;
pub mod conv_cpu;
