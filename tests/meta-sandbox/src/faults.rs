//! How an armed fault answers: a Graph error, a non-Graph HTTP error page, or status 200 with a
//! body cut off part-way (the client never gets a complete answer). Hangs are waited out by the
//! recorder, which also decides when the real action happens.

use crate::world::Fault;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// The hang of a `hang` fault that gives no `hang_ms`: past any sensible client timeout.
pub const DEFAULT_HANG_MS: u64 = 120_000;

pub fn error_answer(fault: &Fault, token: Option<&str>) -> Response {
    let status = StatusCode::from_u16(fault.status.unwrap_or(400)).unwrap_or(StatusCode::BAD_REQUEST);
    let error = if fault.error.is_null() {
        json!({"message": "An unknown error has occurred.", "type": "OAuthException", "code": 1})
    } else {
        fault.error.clone()
    };
    // `{access_token}` in a fault's text echoes the call's token, as some Graph errors do.
    let echoed = error.to_string().replace("{access_token}", token.unwrap_or(""));
    let error: Value = serde_json::from_str(&echoed).unwrap_or(error);
    (status, Json(json!({ "error": error }))).into_response()
}

/// What a proxy or load balancer in front of Graph answers: not JSON at all.
pub fn http_answer(fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status.unwrap_or(503)).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let reason = status.canonical_reason().unwrap_or("Error");
    (status, Html(format!("<html><head><title>{reason}</title></head><body><h1>{reason}</h1></body></html>"))).into_response()
}

/// Status 200 and the start of a JSON body, then a failing body stream: the server drops the
/// connection mid-answer, as when a connection dies after Graph acted.
pub fn dropped_answer() -> Response {
    use futures::StreamExt;
    let start = futures::stream::iter([Ok(Bytes::from_static(b"{\"id\":\""))]);
    let failure = futures::stream::once(async {
        // A pause first, so the status line and headers are flushed before the cut: the client
        // sees an answer begin and break, not a connection refused.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "meta-sandbox: connection dropped by a fault"))
    });
    let mut response = Response::new(Body::from_stream(start.chain(failure)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Headers given as JSON: strings as they are, anything else as its compact JSON (so
/// `{"X-App-Usage": {"call_count": 95}}` works). An invalid name or value is an error.
pub fn header_map(headers: &Map<String, Value>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name: {name}"))?;
        let value = HeaderValue::from_str(&text).map_err(|_| format!("invalid value for header {name}"))?;
        map.insert(name, value);
    }
    Ok(map)
}
