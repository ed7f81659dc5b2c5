//! Structured log lines: one JSON object per event, `{"event": ..., ...fields}`.
//!
//! The edge prints them with `console.log`, which Workers Logs indexes. Callers pass only ids,
//! counts and codes: never tokens, secrets or the text of users' posts.

use serde_json::{Map, Value};

/// Renders one log line. `fields` that are not a JSON object are stored under `"detail"`.
pub fn line(event: &str, fields: Value) -> String {
    let mut object = Map::new();
    object.insert("event".into(), Value::String(event.into()));
    match fields {
        Value::Object(map) => object.extend(map),
        Value::Null => {}
        other => {
            object.insert("detail".into(), other);
        }
    }
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_is_one_json_object_with_the_event_first() {
        let text = line("publish_pass", json!({"claimed": 0, "note": "a\nb"}));
        assert!(!text.contains('\n'));
        assert!(text.starts_with(r#"{"event":"publish_pass""#));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["claimed"], 0);
    }
}
