//! Self-supervised methods: the MoCo family and the pieces it is made of.

pub mod info_nce;
pub mod moco;
pub mod momentum;
pub mod queue;
pub mod shuffle_bn;

pub use moco::{Moco, MocoOutput, MocoParams};
pub use queue::KeyQueue;
