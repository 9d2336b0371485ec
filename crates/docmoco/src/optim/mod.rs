//! Optimisers and learning-rate schedules.

pub mod schedule;
pub mod sgd;

pub use schedule::{LrSchedule, ScheduleConfig};
pub use sgd::{Sgd, SgdParams};
