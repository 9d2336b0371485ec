//! Framework-free text-line detection (DBNet family): everything around the network.
//!
//! Nothing here depends on the deep-learning framework; maps are plain `Vec<f32>`.
