//! Text-line detection (DBNet) on a (pre-trained) ResNet backbone.
//!
//! * [`model`]: FPN neck, probability/threshold heads, differentiable binarisation.
//! * [`loss`]: balanced BCE with hard-negative mining, dice, masked L1.
//! * [`export`]: the detector's weights in the reference DBNet state-dict layout.
//! * [`config`]: the run configuration (`RUN_DIR/config.toml`).
//! * [`train`]: `finetune-det`, checkpointed and resumable.
//! * [`infer`]: detecting pages and scoring a folder with the ICDAR 2015 protocol.
//! * [`compare`]: the init-vs-init table (recall / precision / F1).
//!
//! Everything that does not need the framework — labels, augmentation, post-processing and
//! the ICDAR 2015 evaluation — lives in the `docmoco-det` crate.

pub mod compare;
pub mod config;
pub mod export;
pub mod infer;
pub mod loss;
pub mod model;
pub mod train;
