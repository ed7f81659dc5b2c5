//! Connecting a workspace's Facebook and Instagram: who may (`access`), the OAuth flow with
//! discovery (`oauth`), and reading, choosing defaults and disconnecting (`manage`).

pub mod access;
pub mod manage;
pub mod oauth;
