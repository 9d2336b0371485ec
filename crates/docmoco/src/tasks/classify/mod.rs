//! Document-image classification downstream of pre-training.
//!
//! The question pre-training must answer is whether it helps a real task. The reference
//! deployment fine-tuned a ResNet-18 for 3-class document classification from ImageNet and
//! from MoCo weights (+3.7% for MoCo); this module runs that comparison on any ImageFolder:
//!
//! * [`probe`]: linear probe on the frozen backbone (`main_lincls.py` protocol);
//! * [`finetune`]: full fine-tuning with document augmentation and early stopping;
//! * [`metrics`], [`report`], [`confusion_png`]: accuracy, per-class P/R/F1, confusion matrix;
//! * [`predict`]: classify new pages with a trained run;
//! * [`compare`]: the init-vs-init table over seeds.

pub mod augment;
pub mod compare;
pub mod config;
pub mod confusion_png;
pub mod data;
pub mod finetune;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod probe;
pub mod report;
pub mod run;

pub use compare::{compare, CompareConfig, Comparison};
pub use config::{ClassifyConfig, Mode, Resize};
pub use finetune::finetune;
pub use predict::{predict, Prediction};
pub use probe::linear_probe;
pub use run::ClassifyOptions;
