//! Publishing scheduled posts to Facebook Pages and Instagram.
//!
//! `pass` is one run over the due `publish_jobs`, started by the Cron Trigger or by
//! `POST /api/publish/meta-due`.

pub mod pass;
