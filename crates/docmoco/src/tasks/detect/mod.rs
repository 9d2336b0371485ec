//! Text-line detection (DBNet) on a (pre-trained) ResNet backbone.
//!
//! * [`model`]: FPN neck, probability/threshold heads, differentiable binarisation.
//! * [`loss`]: balanced BCE with hard-negative mining, dice, masked L1.
//! * [`export`]: the detector's weights in the reference DBNet state-dict layout.
//!
//! Everything that does not need the framework — labels, augmentation, post-processing and
//! the ICDAR 2015 evaluation — lives in the `docmoco-det` crate.

pub mod export;
pub mod loss;
pub mod model;
