//! Indicator values over time: how they are derived from merged submissions and LSG entries,
//! plan versus fact, the annual resident survey, and the LSG scorecard.

pub mod acc;
pub mod facts;
pub mod period;
pub mod plan;
pub mod project;
pub mod rule;
pub mod scorecard;
pub mod stats;
pub mod survey;
pub mod tables;

pub use period::{Period, PeriodKind};
pub use rule::{Func, Rule};
