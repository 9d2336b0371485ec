//! Optimisers and learning-rate schedules.

pub mod choice;
pub mod schedule;
pub mod sgd;

pub use choice::{AnyOptimizer, OptimizerKind};
pub use schedule::{LrSchedule, ScheduleConfig};
pub use sgd::{Sgd, SgdParams};
