//! One publish pass: claim due jobs, publish each target, record outcomes, and summarise.
//!
//! The claiming and publishing steps arrive with the data model and publish capabilities;
//! until then a pass claims nothing and reports an all-zero summary.

use crate::store::Store;
use serde::Serialize;

/// What a pass did, as logged by the cron trigger and returned by the HTTP trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassSummary {
    pub claimed: u32,
    pub published: u32,
    pub in_progress: u32,
    pub retry_scheduled: u32,
    pub failed: u32,
    pub needs_review: u32,
    /// Filled in by the caller, which owns the clock.
    pub duration_ms: u64,
}

pub async fn run(_store: &Store) -> PassSummary {
    PassSummary::default()
}
