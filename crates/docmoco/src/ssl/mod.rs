//! Self-supervised methods: the MoCo family and the pieces it is made of.

pub mod data_parallel;
pub mod diagnostics;
pub mod info_nce;
pub mod moco;
pub mod moco_v3;
pub mod momentum;
pub mod queue;
pub mod shuffle_bn;

pub use moco::{Moco, MocoOutput, MocoParams};
pub use moco_v3::{MocoV3, MocoV3Params};
pub use queue::KeyQueue;
