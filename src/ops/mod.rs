//! The operators' tools (`Authorization: Bearer OPERATOR_TOKEN`): jobs by status across
//! workspaces with what went wrong, retrying a job's failed or in-review targets, connection
//! health, and the configuration self-check (`doctor`). Nothing here returns a token.

pub mod doctor;
pub mod jobs;
