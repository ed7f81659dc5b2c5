//! The one error shape every endpoint answers with:
//! `{"error":{"code":"<machine code>","message":"<sentence for people>"}}`.
//!
//! Capabilities return [`ApiError`]; the edge turns it into an HTTP response. Messages are
//! written for the caller and never carry secrets, tokens or stack traces.

use crate::config::ConfigError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Methods a 405 answer lists in its `Allow` header.
    pub allow: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), allow: None }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        ApiError {
            allow: Some(allow.clone()),
            ..Self::new(405, "method_not_allowed", format!("{method} is not allowed on {path}; use {allow}"))
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The JSON body, `{"error":{"code","message"}}`.
    pub fn body(&self) -> String {
        let body = Body { error: Inner { code: self.code, message: &self.message } };
        // Serializing two strings cannot fail; keep a literal fallback so no path can panic.
        serde_json::to_string(&body).unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"error"}}"#.into())
    }
}

impl From<ConfigError> for ApiError {
    fn from(err: ConfigError) -> Self {
        Self::new(500, "misconfigured", err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape_and_escapes_text() {
        let err = ApiError::not_found("No route for GET /a\"b");
        let value: serde_json::Value = serde_json::from_str(&err.body()).unwrap();
        assert_eq!(value, serde_json::json!({"error": {"code": "not_found", "message": "No route for GET /a\"b"}}));
    }

    #[test]
    fn configuration_errors_become_misconfigured_500s() {
        let err: ApiError =
            ConfigError { variable: "META_TOKEN_ENCRYPTION_KEY", problem: "must be base64 of 32 bytes".into() }.into();
        assert_eq!(err.status, 500);
        assert_eq!(err.code, "misconfigured");
        assert_eq!(err.message, "META_TOKEN_ENCRYPTION_KEY must be base64 of 32 bytes");
    }

    #[test]
    fn method_not_allowed_lists_the_allowed_methods() {
        let err = ApiError::method_not_allowed("POST", "/api/health", &["GET"]);
        assert_eq!(err.status, 405);
        assert_eq!(err.allow.as_deref(), Some("GET"));
    }
}
