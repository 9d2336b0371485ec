//! docmoco: MoCo v1/v2/v3 self-supervised pre-training of vision backbones on document images.
//!
//! The crate mirrors the architecture: [`model`] (backbones, heads) → [`ssl`] (the MoCo
//! method) → [`optim`] → [`train`] (the loop, checkpoints, monitors). Data loading and
//! augmentation live in the framework-free `docmoco-data` crate.
//!
//! All code is backend-agnostic: burn 0.22 picks the backend through the [`burn::tensor::Device`];
//! see [`device`].

pub mod bench;
pub mod device;
pub mod kernels;
pub mod model;
pub mod optim;
pub mod ssl;
pub mod tasks;
pub mod train;
