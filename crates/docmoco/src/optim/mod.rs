//! Optimisers and learning-rate schedules.

pub mod adamw;
pub mod choice;
pub mod lars;
pub mod schedule;
pub mod sgd;

pub use adamw::{AdamW, AdamWParams};
pub use choice::{AnyOptimizer, OptimizerKind};
pub use lars::{Lars, LarsParams};
pub use schedule::{LrSchedule, ScheduleConfig};
pub use sgd::{Sgd, SgdParams};
