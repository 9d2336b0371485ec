//! Batches as plain buffers, so any framework can wrap them without a copy of the logic.

/// `n` views of `3 x height x width`, NCHW, normalised floats.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `n * 3 * height * width` values, NCHW.
    pub images: Vec<f32>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
    /// One label per image; empty when the dataset is unlabelled.
    pub labels: Vec<usize>,
    /// Dataset index (position in the [`crate::PageCache`]) of each image.
    pub indices: Vec<usize>,
}

impl Batch {
    /// `[n, 3, height, width]`, the tensor shape to build.
    pub fn shape(&self) -> [usize; 4] {
        [self.n, 3, self.height, self.width]
    }

    /// The `3 * height * width` values of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let len = 3 * self.height * self.width;
        &self.images[i * len..(i + 1) * len]
    }
}

/// The two views of the same pages: MoCo's query (`im_q`) and key (`im_k`) batches.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoViewBatch {
    pub query: Batch,
    pub key: Batch,
}
