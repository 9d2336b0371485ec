//! Downstream tasks on top of a (pre-trained) backbone: the reason to pre-train at all.
//!
//! * [`init`]: the `--init random | moco:RUN_DIR | torchvision:FILE` choice shared by every
//!   task, resolved to a ResNet with loaded weights.
//! * [`classify`]: document-image classification — linear probe, fine-tuning, evaluation,
//!   prediction and the init-vs-init comparison table.
//! * [`detect`]: text-line detection (DBNet) — training, post-processing, ICDAR evaluation.
//! * [`embed`]: the representation used directly — embedding index, search, near-duplicates,
//!   k-means clusters.
//! * [`report`]: a self-contained HTML page of a run.

pub mod classify;
pub mod detect;
pub mod embed;
pub mod init;
pub mod report;
