//! The pre-training loop and what it needs: configuration, checkpoints, metrics, kNN monitor.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod diagnose;
pub mod knn;
pub mod metrics;
pub mod plot;
pub mod pretrain;
pub mod pretrain_v3;
pub mod progress;
mod run;

pub use config::PretrainConfig;
pub use pretrain::{pretrain, PretrainOptions, PretrainSummary};
