//! Graph API errors: the `{"error":{...}}` body parsed into [`GraphError`] and classified into
//! what the service should do about it (see the table in README "Graph errors").
//!
//! Messages from Graph are kept for operators, with anything shaped like an access token
//! redacted first: some Graph messages echo the token they were given.

use super::usage::Usage;
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status of the answer; 0 when no answer came (network failure).
    pub http_status: u16,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    /// Graph's `type`, e.g. `OAuthException`.
    pub kind: Option<String>,
    pub is_transient: bool,
    pub fbtrace_id: Option<String>,
    /// Graph's `message`, redacted.
    pub message: String,
    /// `error_user_title` / `error_user_msg`, meant for the person, when Graph gives them.
    pub user_title: Option<String>,
    pub user_message: Option<String>,
    /// Rate-limit usage sent with the answer.
    pub usage: Usage,
}

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token is invalid or expired: reconnect, never retry.
    TokenInvalid,
    /// A permission is missing or was removed: reconnect asking for it again.
    PermissionMissing,
    /// Rate limited or blocked for now: back off.
    Throttled,
    /// Temporary on Meta's side: bounded retry.
    Transient,
    /// Instagram media is still being processed: check again later.
    MediaNotReady,
    /// Meta could not download the media: limited retry, then fail naming the URL.
    MediaFetchFailed,
    /// The content or action was refused (size, ratio, caption, duplicate, policy): fail.
    ContentRejected,
    /// The app lacks access for this user (App Review, roles): fail with an explanation.
    AppAccess,
    /// No answer at all: the outcome of a write is unknown.
    Network,
    /// Anything else: fail with Graph's message.
    Other,
}

impl GraphError {
    /// An error for a request that got no usable answer.
    pub fn network(message: impl Into<String>) -> GraphError {
        GraphError {
            http_status: 0,
            code: None,
            subcode: None,
            kind: None,
            is_transient: true,
            fbtrace_id: None,
            message: redact(&message.into()),
            user_title: None,
            user_message: None,
            usage: Usage::default(),
        }
    }

    /// A call that got no answer within `after`: its outcome is unknown.
    pub fn timeout(after: std::time::Duration) -> GraphError {
        GraphError::network(format!("the Graph API did not answer within {} s", after.as_secs()))
    }

    pub fn with_usage(mut self, usage: Usage) -> GraphError {
        self.usage = usage;
        self
    }

    /// Parses a non-success answer. A body that is not Graph-shaped still yields an error,
    /// classified by the HTTP status.
    pub fn from_response(http_status: u16, body: &str) -> GraphError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            message: Option<String>,
            #[serde(rename = "type")]
            kind: Option<String>,
            code: Option<i64>,
            error_subcode: Option<i64>,
            error_user_title: Option<String>,
            error_user_msg: Option<String>,
            fbtrace_id: Option<String>,
            is_transient: Option<bool>,
        }
        match serde_json::from_str::<Envelope>(body) {
            Ok(Envelope { error }) => GraphError {
                http_status,
                code: error.code,
                subcode: error.error_subcode,
                kind: error.kind,
                is_transient: error.is_transient.unwrap_or(false),
                fbtrace_id: error.fbtrace_id.map(|id| bounded(&id, 100)),
                message: redact(&error.message.unwrap_or_default()),
                user_title: error.error_user_title.map(|text| redact(&text)),
                user_message: error.error_user_msg.map(|text| redact(&text)),
                usage: Usage::default(),
            },
            Err(_) => GraphError {
                http_status,
                code: None,
                subcode: None,
                kind: None,
                is_transient: false,
                fbtrace_id: None,
                message: format!("unexpected answer from Graph (HTTP {http_status})"),
                user_title: None,
                user_message: None,
                usage: Usage::default(),
            },
        }
    }

    pub fn class(&self) -> ErrorClass {
        let subcode = self.subcode.unwrap_or(0);
        match (self.code, subcode) {
            (None, _) if self.http_status == 0 => ErrorClass::Network,
            (Some(190 | 102), _) | (_, 458 | 459 | 460 | 463 | 464 | 467 | 492) => ErrorClass::TokenInvalid,
            (Some(9007), _) | (_, 2207027) => ErrorClass::MediaNotReady,
            (Some(9004), _) | (_, 2207052 | 2207003) => ErrorClass::MediaFetchFailed,
            (_, 2207042 | 2207051) => ErrorClass::Throttled,
            (_, 2207009 | 2207004 | 2207010) => ErrorClass::ContentRejected,
            (Some(4 | 17 | 32 | 613 | 341), _) | (Some(80000..=80014), _) => ErrorClass::Throttled,
            (Some(506 | 368), _) => ErrorClass::ContentRejected,
            (Some(10), _) | (Some(200..=299), _) => ErrorClass::PermissionMissing,
            // Subcode 33: "Unsupported get request ... missing permissions" (an object out of reach).
            (Some(100), 33) => ErrorClass::PermissionMissing,
            (Some(100), _) if self.message.contains("Unsupported request") => ErrorClass::AppAccess,
            (Some(1 | 2), _) => ErrorClass::Transient,
            _ if self.is_transient || self.http_status >= 500 => ErrorClass::Transient,
            _ => ErrorClass::Other,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph error")?;
        if let Some(code) = self.code {
            write!(f, " {code}")?;
            if let Some(subcode) = self.subcode {
                write!(f, "/{subcode}")?;
            }
        }
        write!(f, " (HTTP {}): {}", self.http_status, self.message)?;
        if let Some(trace) = &self.fbtrace_id {
            write!(f, " [fbtrace_id {trace}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

impl GraphError {
    /// Removes exact secrets the caller knows (the token of the call, the app secret) from
    /// every text Graph sent, on top of the shape-based redaction.
    pub fn scrubbed(mut self, secrets: &[&str]) -> GraphError {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            for text in [Some(&mut self.message), self.user_title.as_mut(), self.user_message.as_mut()].into_iter().flatten() {
                *text = text.replace(secret, "[redacted]");
            }
        }
        self
    }
}

fn bounded(text: &str, max_chars: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

/// Replaces anything that looks like a Meta access token (`EAA` followed by a long run of
/// token characters, or any run of 40+ such characters) with `[redacted]`, and bounds the text.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1000));
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 40 || (run.starts_with("EAA") && run.len() >= 20) {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    bounded(&out, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64, subcode: Option<i64>, message: &str, transient: bool, status: u16) -> GraphError {
        let mut body = serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code,
                                                    "fbtrace_id": "AbC123", "is_transient": transient}});
        if let Some(subcode) = subcode {
            body["error"]["error_subcode"] = subcode.into();
        }
        GraphError::from_response(status, &body.to_string())
    }

    #[test]
    fn parses_every_field() {
        let body = r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,
            "error_subcode":463,"error_user_title":"Session expired","error_user_msg":"Log in again",
            "fbtrace_id":"AX1","is_transient":false}}"#;
        let err = GraphError::from_response(400, body);
        assert_eq!(err.code, Some(190));
        assert_eq!(err.subcode, Some(463));
        assert_eq!(err.kind.as_deref(), Some("OAuthException"));
        assert_eq!(err.fbtrace_id.as_deref(), Some("AX1"));
        assert_eq!(err.user_title.as_deref(), Some("Session expired"));
        assert_eq!(err.class(), ErrorClass::TokenInvalid);
        assert_eq!(err.to_string(), "Graph error 190/463 (HTTP 400): Invalid OAuth access token. [fbtrace_id AX1]");
    }

    #[test]
    fn classification_follows_the_reference_table() {
        let cases = [
            (error(190, None, "x", false, 400), ErrorClass::TokenInvalid),
            (error(102, None, "x", false, 400), ErrorClass::TokenInvalid),
            (error(100, Some(460), "x", false, 400), ErrorClass::TokenInvalid),
            (error(10, None, "x", false, 403), ErrorClass::PermissionMissing),
            (
                error(200, None, "(#200) Unpublished posts must be posted to a page as the page itself", false, 403),
                ErrorClass::PermissionMissing,
            ),
            (error(4, None, "x", true, 400), ErrorClass::Throttled),
            (error(613, None, "x", false, 400), ErrorClass::Throttled),
            (error(80001, None, "x", false, 400), ErrorClass::Throttled),
            (error(9, Some(2207042), "x", false, 400), ErrorClass::Throttled),
            (error(1, None, "x", false, 500), ErrorClass::Transient),
            (error(2, None, "x", true, 503), ErrorClass::Transient),
            (error(9007, Some(2207027), "x", false, 400), ErrorClass::MediaNotReady),
            (error(9004, Some(2207052), "x", false, 400), ErrorClass::MediaFetchFailed),
            (error(36003, Some(2207009), "x", false, 400), ErrorClass::ContentRejected),
            (error(506, None, "Duplicate status message", false, 400), ErrorClass::ContentRejected),
            (error(368, None, "blocked", false, 400), ErrorClass::ContentRejected),
            (error(100, None, "Unsupported request - method type: post", false, 400), ErrorClass::AppAccess),
            (error(100, None, "Invalid parameter", false, 400), ErrorClass::Other),
            (
                error(100, Some(33), "Unsupported get request. Object with ID '1' does not exist", false, 400),
                ErrorClass::PermissionMissing,
            ),
            (error(999, None, "x", true, 400), ErrorClass::Transient),
            (GraphError::from_response(502, "<html>Bad gateway</html>"), ErrorClass::Transient),
            (GraphError::network("connection reset"), ErrorClass::Network),
        ];
        for (err, class) in cases {
            assert_eq!(err.class(), class, "{err}");
        }
    }

    #[test]
    fn tokens_in_messages_are_redacted() {
        // Built at run time so the source holds nothing shaped like a real token.
        let token = &format!("EAA{}", "Fake0Token".repeat(5));
        let err = error(190, None, &format!("Malformed access token {token}."), false, 400);
        assert!(!err.message.contains(token.as_str()), "{}", err.message);
        assert!(err.message.contains("Malformed access token [redacted]."));
        assert!(!err.to_string().contains(token.as_str()));
        assert_eq!(redact("short words stay"), "short words stay");
        let scrubbed = error(190, None, "bad token SBXlong000001x123456789 for app 1|secretvalue", false, 400)
            .scrubbed(&["SBXlong000001x123456789", "secretvalue"]);
        assert_eq!(scrubbed.message, "bad token [redacted] for app 1|[redacted]");
        let long = "x".repeat(5000);
        assert!(redact(&format!("a {long}")).len() < 20);
    }
}
