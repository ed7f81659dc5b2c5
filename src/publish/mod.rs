//! Publishing scheduled posts to Facebook Pages and Instagram.
//!
//! - `content`: what a job posts (its version-1 payload, the API's job request), checked once.
//! - `jobs`: the job API (queue, view, list, cancel); `image_check` looks at an Instagram image
//!   before a job is accepted, as Meta will fetch it.
//! - `pass`: one run over the due `publish_jobs` (Cron Trigger or `POST /api/publish/meta-due`):
//!   `plan` decides what each target needs before Meta is called, `facebook` and `instagram`
//!   publish one target (the Instagram container lifecycle lives there), `outcome` turns results
//!   into retries and job states, `record` into attempt-log rows, and `context` holds what the
//!   concurrent jobs of a pass share.

pub mod content;
pub mod context;
pub mod explain;
pub mod facebook;
pub mod image_check;
pub mod instagram;
pub mod jobs;
pub mod outcome;
pub mod pass;
pub mod plan;
pub mod record;
