//! Meta publishing service: publishes a content platform's scheduled posts to Facebook Pages
//! and Instagram Business accounts from a Cloudflare Worker.
//!
//! Data walks one way: the **edge** (`edge`, wasm-only: HTTP routes and the Cron Trigger)
//! calls a **capability** (`health`, `publish`, ...), which uses the **core** (`config`,
//! `routes`, `api_error`, `log`, `vault`: sealed tokens) and the **store** (Supabase tables
//! through PostgREST).
//! Everything but `edge` compiles natively, so `cargo test` exercises it on the host and
//! `tests/stack` runs it against the real local database.

pub mod api_error;
pub mod bearer;
pub mod clock;
pub mod config;
pub mod connect;
pub mod cors;
pub mod deletion;
pub mod graph;
pub mod health;
pub mod log;
pub mod ops;
pub mod publish;
pub mod routes;
pub mod signed_request;
pub mod store;
pub mod token_health;
pub mod vault;

#[cfg(target_arch = "wasm32")]
mod edge;
