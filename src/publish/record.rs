//! What a pass writes for one target: its attempt-log rows (one per Graph step) and the
//! columns of `publish_job_targets` to change, derived from the target's [`Outcome`].

use super::outcome::Outcome;
use crate::clock::rfc3339_millis;
use crate::graph::GraphError;
use crate::store::jobs::{Attempt, ClaimedTargetState, Target, TargetStatus};
use serde_json::{json, Map, Value};

pub struct TargetRecord {
    pub job_id: String,
    pub target: Target,
    attempt_number: i32,
    pub attempts: Vec<Attempt>,
    /// Columns set along the way (destination, container), merged into the final change.
    columns: Map<String, Value>,
    /// Whether a Graph call that counts as a try was made for this target in this pass.
    pub tried: bool,
}

impl TargetRecord {
    pub fn new(job_id: &str, target: Target, attempt_number: i32) -> TargetRecord {
        TargetRecord {
            job_id: job_id.into(),
            target,
            attempt_number: attempt_number.max(1),
            attempts: Vec::new(),
            columns: Map::new(),
            tried: false,
        }
    }

    pub fn set(&mut self, column: &str, value: impl Into<Value>) {
        self.columns.insert(column.into(), value.into());
    }

    /// The attempt rows so far, made to fit their columns (Graph's texts and ids are not
    /// bounded), leaving none behind.
    pub fn take_attempts(&mut self) -> Vec<Attempt> {
        let mut rows = std::mem::take(&mut self.attempts);
        for row in &mut rows {
            row.error_message = row.error_message.take().map(|text| bounded(&text, 1000));
            row.error_reason = row.error_reason.take().map(|text| bounded(&text, 100));
            row.external_id = row.external_id.take().filter(|id| id.len() <= 100);
            row.permalink = row.permalink.take().filter(|link| link.len() <= 2000);
            row.container_id =
                row.container_id.take().filter(|id| !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()));
            row.graph_error_code = row.graph_error_code.filter(|code| i32::try_from(*code).is_ok());
            row.graph_error_subcode = row.graph_error_subcode.filter(|code| i32::try_from(*code).is_ok());
            row.graph_http_status = row.graph_http_status.filter(|status| (100..=599).contains(status));
        }
        rows
    }

    /// The expired-container count set in this pass, if any.
    pub fn expired(&self) -> Option<i32> {
        self.columns.get("expired_containers").and_then(Value::as_i64).map(|n| n as i32)
    }

    /// Appends one step to the attempt log and returns it for the caller to fill in ids.
    pub fn step(&mut self, step: &'static str, started_ms: f64, finished_ms: f64, outcome: &'static str) -> &mut Attempt {
        self.attempts.push(Attempt {
            job_id: self.job_id.clone(),
            target: self.target,
            attempt_number: self.attempt_number,
            step: step.into(),
            started_at: rfc3339_millis(started_ms),
            finished_at: rfc3339_millis(finished_ms.max(started_ms)),
            outcome: outcome.into(),
            graph_http_status: None,
            graph_error_code: None,
            graph_error_subcode: None,
            fbtrace_id: None,
            error_reason: None,
            error_message: None,
            container_id: None,
            external_id: None,
            permalink: None,
        });
        self.attempts.last_mut().expect("just pushed")
    }

    /// A step that Graph answered with an error.
    pub fn graph_failure(&mut self, step: &'static str, started_ms: f64, finished_ms: f64, err: &GraphError, outcome: &Outcome) {
        let row = self.step(step, started_ms, finished_ms, log_outcome(outcome));
        row.graph_http_status = (err.http_status >= 100).then_some(i32::from(err.http_status));
        row.graph_error_code = err.code;
        row.graph_error_subcode = err.subcode;
        row.fbtrace_id = err.fbtrace_id.clone();
        let (reason, message) = reason_of(outcome);
        row.error_reason = reason.map(str::to_string);
        row.error_message = Some(message.unwrap_or_else(|| err.message.clone()));
    }

    /// The target columns to write for `outcome` (a JSON object with `job_id` and `target`), or
    /// `None` when nothing changes.
    pub fn change(&self, outcome: &Outcome, state: &ClaimedTargetState, now_ms: f64) -> Option<Value> {
        let mut change = self.columns.clone();
        if self.tried {
            change.insert("attempts".into(), json!(state.attempts + 1));
        }
        let mut set = |key: &str, value: Value| {
            change.insert(key.into(), value);
        };
        match outcome {
            Outcome::Settled(_) => return None,
            Outcome::NotReached => {}
            Outcome::Published { external_id, permalink } => {
                set("status", json!("published"));
                set("external_id", json!(external_id));
                set("permalink", json!(permalink));
                set("published_at", json!(rfc3339_millis(now_ms)));
                set("send_started_at", Value::Null);
                set("last_error_reason", Value::Null);
                set("last_error_message", Value::Null);
            }
            Outcome::InProgress => {}
            Outcome::Retry { reason, message, .. } => {
                set("send_started_at", Value::Null);
                set("last_error_reason", json!(reason));
                set("last_error_message", json!(bounded(message, 1000)));
            }
            Outcome::Failed { reason, message } => {
                set("status", json!("failed"));
                set("send_started_at", Value::Null);
                set("last_error_reason", json!(reason));
                set("last_error_message", json!(bounded(message, 1000)));
            }
            Outcome::NeedsReview { reason, message } => {
                // send_started_at stays: it tells the reviewer when the unanswered send began.
                set("status", json!("needs_review"));
                set("last_error_reason", json!(reason));
                set("last_error_message", json!(bounded(message, 1000)));
            }
        }
        // A target whose container was created keeps its status for retries: nothing is reset.
        if change.is_empty() {
            return None;
        }
        change.insert("job_id".into(), json!(self.job_id));
        change.insert("target".into(), json!(self.target));
        Some(Value::Object(change))
    }
}

fn bounded(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The attempt log's `outcome` for a step that ended the target's pass with `outcome`.
pub fn log_outcome(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Published { .. } | Outcome::Settled(TargetStatus::Published) => "published",
        Outcome::InProgress => "in_progress",
        Outcome::Retry { .. } | Outcome::NotReached => "retry_scheduled",
        Outcome::Failed { .. } | Outcome::Settled(TargetStatus::Failed | TargetStatus::Cancelled) => "failed",
        Outcome::NeedsReview { .. } | Outcome::Settled(TargetStatus::NeedsReview) => "needs_review",
        Outcome::Settled(TargetStatus::Pending | TargetStatus::ContainerCreated) => "ok",
    }
}

fn reason_of(outcome: &Outcome) -> (Option<&'static str>, Option<String>) {
    match outcome {
        Outcome::Retry { reason, message, .. }
        | Outcome::Failed { reason, message }
        | Outcome::NeedsReview { reason, message } => (Some(reason), Some(message.clone())),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(attempts: i32) -> ClaimedTargetState {
        ClaimedTargetState {
            status: TargetStatus::Pending,
            destination_id: None,
            container_id: None,
            container_created_at: None,
            external_id: None,
            attempts,
            send_started_at: None,
            expired_containers: 0,
        }
    }

    #[test]
    fn published_clears_the_write_ahead_mark_and_counts_the_try() {
        let mut record = TargetRecord::new("j", Target::Facebook, 2);
        record.tried = true;
        record.set("destination_id", "101");
        let outcome = Outcome::Published { external_id: "101_9".into(), permalink: None };
        let change = record.change(&outcome, &state(1), 1_000.0).unwrap();
        assert_eq!(change["status"], "published");
        assert_eq!(change["attempts"], 2);
        assert_eq!(change["send_started_at"], Value::Null);
        assert_eq!(change["destination_id"], "101");
        assert_eq!(change["published_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!((change["job_id"].as_str(), change["target"].as_str()), (Some("j"), Some("facebook")));
    }

    #[test]
    fn settled_and_untouched_targets_write_nothing() {
        let record = TargetRecord::new("j", Target::Instagram, 1);
        assert!(record.change(&Outcome::Settled(TargetStatus::Published), &state(0), 0.0).is_none());
        assert!(record.change(&Outcome::NotReached, &state(0), 0.0).is_none());
        assert!(record.change(&Outcome::InProgress, &state(0), 0.0).is_none());
    }

    #[test]
    fn review_keeps_the_mark_and_failure_logs_graph_details() {
        let mut record = TargetRecord::new("j", Target::Facebook, 1);
        let review = Outcome::review("outcome_unknown", "maybe live");
        let change = record.change(&review, &state(0), 0.0).unwrap();
        assert!(change.get("send_started_at").is_none());
        let err =
            GraphError::from_response(400, r#"{"error":{"message":"bad","code":100,"error_subcode":33,"fbtrace_id":"T1"}}"#);
        let failed = Outcome::failed("graph_error", "bad");
        record.graph_failure("feed", 1000.0, 1500.0, &err, &failed);
        let row = &record.attempts[0];
        assert_eq!((row.graph_http_status, row.graph_error_code, row.graph_error_subcode), (Some(400), Some(100), Some(33)));
        assert_eq!((row.fbtrace_id.as_deref(), row.outcome.as_str()), (Some("T1"), "failed"));
        assert_eq!(row.error_reason.as_deref(), Some("graph_error"));
        assert_eq!((row.started_at.as_str(), row.finished_at.as_str()), ("1970-01-01T00:00:01.000Z", "1970-01-01T00:00:01.500Z"));
    }
}
